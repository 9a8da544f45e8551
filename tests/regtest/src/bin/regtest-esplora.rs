//! `regtest-esplora`: serve Esplora's REST API over a regtest bitcoind until Ctrl-C/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use regtest_esplora::{Config, RegtestEsplora};

/// Esplora REST server over a regtest bitcoind, with /regtest/ test controls.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Address to serve Esplora on.
    #[arg(long, default_value = "127.0.0.1:3002")]
    listen: SocketAddr,
    /// Reuse (or create) this bitcoind datadir and keep it (default: a temporary one).
    #[arg(long)]
    bitcoind_datadir: Option<PathBuf>,
    /// Mine to the faucet until the chain is at least this high.
    #[arg(long, default_value_t = 110)]
    initial_blocks: u32,
    /// The bitcoind binary (default: $BITCOIND_EXE or the one pkg-scripts/bitcoind.sh built).
    #[arg(long)]
    bitcoind_exe: Option<PathBuf>,
}

async fn wait_for_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut hup = signal(SignalKind::hangup())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
            _ = hup.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = Config {
        listen: Some(args.listen),
        bitcoind_exe: args.bitcoind_exe,
        bitcoind_datadir: args.bitcoind_datadir,
        initial_blocks: args.initial_blocks,
        fee_estimates: None,
    };
    let server = RegtestEsplora::start_with(config).await?;
    let info = serde_json::json!({
        "esplora_url": server.esplora_url(),
        "faucet_address": server.faucet_address().to_string(),
        "bitcoind_exe": server.bitcoind_exe(),
        "rpc": server.rpc_info(),
    });
    println!("{info}");
    eprintln!(
        "regtest-esplora: serving Esplora on {} (bitcoind RPC {}); Ctrl-C to stop",
        server.esplora_url(),
        server.rpc_url()
    );
    wait_for_signal().await?;
    eprintln!("regtest-esplora: stopping bitcoind");
    server.stop();
    Ok(())
}
