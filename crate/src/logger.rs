//! LDK's and our log lines: to the browser console or natively to stderr, at or above a level
//! the builder sets ([`crate::Builder::set_log_level`]).

use lightning::util::logger::{Level, Logger, Record};

pub use lightning::util::logger::Level as LogLevel;

/// Writes log records at or above its level.
#[derive(Debug)]
pub struct NodeLogger {
    level: Level,
}

impl NodeLogger {
    /// A logger for records at `level` and above.
    pub fn new(level: Level) -> Self {
        NodeLogger { level }
    }

    /// Logs one of our own lines at `level`.
    pub fn log_line(&self, level: Level, msg: &str) {
        if level >= self.level {
            write_line(level, "wasm_ln", msg);
        }
    }
}

fn write_line(level: Level, module: &str, msg: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        let line = wasm_bindgen::JsValue::from_str(&format!("[{level} {module}] {msg}"));
        match level {
            Level::Error => web_sys::console::error_1(&line),
            Level::Warn => web_sys::console::warn_1(&line),
            Level::Info => web_sys::console::info_1(&line),
            _ => web_sys::console::debug_1(&line),
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let t = crate::runtime::now();
        eprintln!(
            "{}.{:03} {level:<5} [{module}] {msg}",
            t.as_secs(),
            t.subsec_millis()
        );
    }
}

impl Logger for NodeLogger {
    fn log(&self, record: Record) {
        if record.level >= self.level {
            write_line(record.level, record.module_path, &record.args.to_string());
        }
    }
}

/// Logs one of our lines through a [`NodeLogger`] with `format!` arguments.
macro_rules! log_at {
    ($logger:expr, $level:ident, $($arg:tt)*) => {
        $logger.log_line(lightning::util::logger::Level::$level, &format!($($arg)*))
    };
}
pub(crate) use log_at;
