//! `rgs-snapshot synthetic --nodes 15000 --channels 50000 --seed 1 --network bitcoin --out FILE
//! [--timestamp UNIX_SECS]`: writes the RGS snapshot of [`rgs_snapshot::synthetic`]'s graph
//! (defaults: those values; `--network regtest` for the regtest chain hash; the timestamp
//! defaults to now, as LDK refuses snapshots over two weeks old). Prints the graph's counts and
//! the snapshot's size on stderr.

use std::process::exit;
use std::time::{SystemTime, UNIX_EPOCH};

fn usage() -> ! {
    eprintln!(
        "usage: rgs-snapshot synthetic [--nodes N] [--channels N] [--seed N] \
         [--network bitcoin|regtest] [--timestamp UNIX_SECS] --out FILE"
    );
    exit(2);
}

fn number<T: std::str::FromStr>(flag: &str, v: Option<String>) -> T {
    v.and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        eprintln!("rgs-snapshot: {flag} needs a number");
        usage()
    })
}

fn main() {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() != Some("synthetic") {
        usage();
    }
    let (mut nodes, mut channels, mut seed) = (15_000usize, 50_000usize, 1u64);
    let mut chain_hash = rgs_snapshot::BITCOIN_CHAIN_HASH;
    let mut out = None;
    let mut timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--nodes" => nodes = number(&flag, args.next()),
            "--channels" => channels = number(&flag, args.next()),
            "--seed" => seed = number(&flag, args.next()),
            "--timestamp" => timestamp = number(&flag, args.next()),
            "--network" => {
                chain_hash = match args.next().as_deref() {
                    Some("bitcoin") => rgs_snapshot::BITCOIN_CHAIN_HASH,
                    Some("regtest") => rgs_snapshot::REGTEST_CHAIN_HASH,
                    _ => usage(),
                }
            }
            "--out" => out = args.next(),
            _ => usage(),
        }
    }
    let Some(out) = out else { usage() };
    let graph = rgs_snapshot::synthetic(chain_hash, nodes, channels, seed);
    let bytes = rgs_snapshot::encode(&graph, timestamp);
    if let Err(e) = std::fs::write(&out, &bytes) {
        eprintln!("rgs-snapshot: writing {out}: {e}");
        exit(1);
    }
    eprintln!(
        "rgs-snapshot: {nodes} nodes, {} channels, {} bytes -> {out}",
        graph.channels.len(),
        bytes.len()
    );
}
