//! LDK's and our log lines, at or above a level the builder sets
//! ([`crate::Builder::set_log_level`]); `runtime::write_log` writes them (the browser console,
//! or stderr natively).

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
    crate::runtime::write_log(level, module, msg);
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
