//! `wasm-ln-proxy` binary: parse flags/env, set up logging and the runtime, serve until
//! SIGTERM or Ctrl-C, then shut down gracefully.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use wasm_ln_proxy::config::{Config, LogFormat};

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn main() -> ExitCode {
    let config = Config::parse();
    init_logging(config.log_format);
    if let Err(e) = config.validate() {
        eprintln!("wasm-ln-proxy: {e}");
        return ExitCode::from(2);
    }
    let runtime = if config.worker_threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if config.worker_threads > 1 {
            b.worker_threads(config.worker_threads);
        }
        b.enable_all().build()
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("wasm-ln-proxy: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async {
        let proxy = match wasm_ln_proxy::start(config).await {
            Ok(p) => p,
            Err(e) => {
                eprintln!("wasm-ln-proxy: {e}");
                return ExitCode::FAILURE;
            }
        };
        shutdown_signal().await;
        tracing::info!("signal received");
        proxy.shutdown();
        proxy.wait().await;
        ExitCode::SUCCESS
    });
    // Dropping the runtime would wait for every blocking task, including a getaddrinfo call
    // stuck on a slow DNS server; do not let that hold up the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}
