//! Native 1-hop payment latency: our node pays 100 BOLT11 invoices of a real ldk-node peer
//! (tests/peer, a debug build: `cargo build -p peer` first) over loopback TCP, on regtest
//! behind regtest-esplora. Prints the median, p90, min and max of `Bolt11Payment::send` (from
//! the call to the preimage). Run:
//! `WASM_LN_PEER_EXE=$CARGO_TARGET_DIR/debug/peer cargo bench -p wasm-ln --bench pay_latency`
//! (the bench profile builds into `release/`, the peer is a debug build). Figures only, no
//! assertion on time.

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use regtest_esplora::peer::{peer_exe, wait_mempool, Chain, Peer};
    use regtest_esplora::{regtest_address, RegtestEsplora};
    use serde_json::json;
    use wasm_ln::io::MemoryStore;
    use wasm_ln::{Builder, Event, LogLevel, Network, Node};

    const PAYMENTS: usize = 100;
    const AMOUNT_MSAT: u64 = 1_000_000;

    async fn until(node: &Node, what: &str, ok: impl Fn(&Node) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !ok(node) {
            assert!(Instant::now() < deadline, "{what}");
            let _ = node.sync().await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn bench() {
        let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
        let peer = Peer::spawn(&peer_exe(), "peer", Chain::Esplora(esplora.esplora_url()));
        let mut builder = Builder::new();
        builder
            .set_network(Network::Regtest)
            .set_esplora_url(esplora.esplora_url())
            .set_store(Arc::new(MemoryStore::new()))
            .set_log_level(LogLevel::Warn)
            .set_sync_interval(Duration::from_millis(250));
        let node = builder.build().await.expect("build");
        node.start().expect("start");
        let addr = node.onchain().new_address().await.expect("address");
        let addr = regtest_address(&addr.to_string()).expect("address");
        esplora
            .faucet_pay(&addr, 1_000_000, true)
            .await
            .expect("faucet");
        until(&node, "funded", |n| n.onchain().balance().confirmed_sat > 0).await;
        node.open_channel(&peer.uri(), 500_000, 0)
            .await
            .expect("open");
        loop {
            let pending = node.wait_next_event().await;
            node.event_handled(pending.id).await.expect("handled");
            let event = pending.event;
            if let Event::ChannelPending { funding_txo, .. } = event {
                let txid = funding_txo
                    .split(':')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                wait_mempool(&esplora, Some(&txid)).await;
                break;
            }
        }
        esplora.mine(6).await.expect("mine");
        until(&node, "channel usable", |n| {
            n.list_channels().iter().any(|c| c.is_usable)
        })
        .await;

        let mut times = Vec::with_capacity(PAYMENTS);
        for i in 0..PAYMENTS {
            let body = json!({
                "amount_msat": AMOUNT_MSAT,
                "description": format!("bench {i}"),
                "expiry_secs": 600,
            });
            let inv = peer.post("/invoice", body).await;
            let inv = inv["invoice"].as_str().expect("invoice").to_string();
            let start = Instant::now();
            node.bolt11_payment()
                .send(&inv, None, None)
                .await
                .expect("pay");
            times.push(start.elapsed());
            while let Some(pending) = node.next_event() {
                node.event_handled(pending.id).await.expect("handled");
            }
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "1-hop payment latency (native, {PAYMENTS} payments of {} sat, loopback TCP, ldk-node peer): \
             median {:.1} ms, p90 {:.1} ms, min {:.1} ms, max {:.1} ms",
            AMOUNT_MSAT / 1000,
            ms(times[PAYMENTS / 2]),
            ms(times[PAYMENTS * 9 / 10]),
            ms(times[0]),
            ms(times[PAYMENTS - 1]),
        );
        node.stop().await.expect("stop");
    }

    pub fn main() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        tokio::task::LocalSet::new().block_on(&rt, bench());
    }
}

fn main() {
    #[cfg(not(target_arch = "wasm32"))]
    native::main();
}
