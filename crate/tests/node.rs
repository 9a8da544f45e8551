//! The node against the real thing: bitcoind behind regtest-esplora, and an ldk-node peer
//! process (tests/peer, driven over its HTTP API; build it first with `cargo build -p peer`).
//! LDK without `std` is `!Sync`, so each test runs on a current-thread runtime in a `LocalSet`,
//! as in the browser.
#![cfg(not(target_arch = "wasm32"))]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use regtest_esplora::peer::{peer_exe, wait_mempool, Chain, Peer};
use regtest_esplora::{regtest_address, RegtestEsplora};
use serde_json::json;
use wasm_ln::bitcoin::Txid;
use wasm_ln::chain::esplora::EsploraChainSource;
use wasm_ln::io::{DynStore, MemoryStore};
use wasm_ln::{
    Builder, Event, LogLevel, Network, Node, PaymentDirection, PaymentKind, PaymentStatus,
};

const MNEMONIC: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
const WAIT: Duration = Duration::from_secs(90);
const FUND: u64 = 1_000_000;
const CHANNEL: u64 = 500_000;

fn run<F: Future>(f: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    tokio::task::LocalSet::new().block_on(&rt, f)
}

fn log_level() -> LogLevel {
    match std::env::var("WASM_LN_TEST_LOG").as_deref() {
        Ok("trace") => LogLevel::Trace,
        Ok("debug") => LogLevel::Debug,
        Ok("info") => LogLevel::Info,
        _ => LogLevel::Warn,
    }
}

fn builder(esplora: &RegtestEsplora, store: Arc<DynStore>) -> Builder {
    let mut b = Builder::new();
    b.set_network(Network::Regtest)
        .set_esplora_url(esplora.esplora_url())
        .set_store(store)
        .set_mnemonic(MNEMONIC, "")
        .set_log_level(log_level())
        .set_sync_interval(Duration::from_millis(250));
    b
}

async fn start(esplora: &RegtestEsplora, store: Arc<DynStore>) -> Node {
    let node = builder(esplora, store).build().await.expect("build");
    node.start().expect("start");
    node
}

/// Waits for an event matching `pred` (acknowledging it and every event before it).
async fn wait_event(node: &Node, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ev = tokio::time::timeout(left, node.wait_next_event())
            .await
            .unwrap_or_else(|_| panic!("no {what} event within {WAIT:?}"));
        node.event_handled().await.expect("event_handled");
        if pred(&ev) {
            return ev;
        }
        println!("skipping event {ev:?}");
    }
}

/// Polls `check` (syncing the node first) until it holds.
async fn wait_until(node: &Node, what: &str, check: impl Fn(&Node) -> bool) {
    let deadline = Instant::now() + WAIT;
    loop {
        let _ = node.sync().await;
        if check(node) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: balances {:?}, channels {:?}",
            node.balances(),
            node.list_channels()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn fund(esplora: &RegtestEsplora, node: &Node, sats: u64) {
    let before = node.onchain().balance().confirmed_sat;
    let addr = node.onchain().new_address().await.expect("address");
    let addr = regtest_address(&addr.to_string()).expect("regtest address");
    esplora.faucet_pay(&addr, sats, true).await.expect("faucet");
    wait_until(node, "funding", |n| {
        n.onchain().balance().confirmed_sat == before + sats
    })
    .await;
}

/// Opens a channel to `peer` and waits until it is usable; returns its id and the open fee.
async fn open_channel(
    esplora: &RegtestEsplora,
    node: &Node,
    peer: &Peer,
    push_msat: u64,
) -> (String, u64) {
    let before = node.onchain().balance().spendable_sat;
    let ucid = node
        .open_channel(&peer.uri(), CHANNEL, push_msat)
        .await
        .expect("open_channel");
    let pending = wait_event(node, "ChannelPending", |e| {
        matches!(e, Event::ChannelPending { .. })
    })
    .await;
    let Event::ChannelPending {
        user_channel_id,
        funding_txo,
        ..
    } = pending
    else {
        unreachable!()
    };
    assert_eq!(user_channel_id, ucid);
    let txid = funding_txo.split(':').next().expect("txid").to_string();
    wait_mempool(esplora, Some(&txid)).await;
    let after = node.onchain().balance().spendable_sat;
    let open_fee = before - CHANNEL - after;
    assert!(open_fee > 0 && open_fee < 5_000, "open fee {open_fee}");
    esplora.mine(6).await.expect("mine");
    let ready = wait_event(node, "ChannelReady", |e| {
        matches!(e, Event::ChannelReady { .. })
    })
    .await;
    let Event::ChannelReady { channel_id, .. } = ready else {
        unreachable!()
    };
    wait_until(node, "channel usable", |n| {
        n.list_channels()
            .iter()
            .any(|c| c.channel_id == channel_id && c.is_usable)
    })
    .await;
    (channel_id, open_fee)
}

async fn peer_invoice(peer: &Peer, amount_msat: Option<u64>, expiry_secs: u64) -> String {
    let mut body = json!({"description": "from the peer", "expiry_secs": expiry_secs});
    if let Some(a) = amount_msat {
        body["amount_msat"] = json!(a);
    }
    let v = peer.post("/invoice", body).await;
    v["invoice"].as_str().expect("invoice").to_string()
}

async fn received(node: &Node, amount_msat: u64) {
    wait_event(
        node,
        "PaymentReceived",
        |e| matches!(e, Event::PaymentReceived { amount_msat: a, .. } if *a == amount_msat),
    )
    .await;
}

/// The transaction spending `outpoint` (`txid:vout`) and its fee, from Esplora.
async fn spender_fee(esplora: &RegtestEsplora, outpoint: &str) -> (Txid, u64) {
    let chain = EsploraChainSource::new(esplora.esplora_url()).expect("client");
    let (txid, vout) = outpoint.split_once(':').expect("outpoint");
    let txid: Txid = txid.parse().expect("txid");
    let status = chain
        .client()
        .get_output_status(&txid, vout.parse().expect("vout"))
        .await
        .expect("outspend")
        .expect("known output");
    let spender = status.txid.expect("spent");
    let tx = chain
        .client()
        .get_tx_info(&spender)
        .await
        .expect("tx")
        .expect("known tx");
    (spender, tx.fee)
}

#[test]
fn channel_full_cycle() {
    run(async {
        let started = Instant::now();
        let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
        let peer = Peer::spawn(&peer_exe(), "peer", Chain::Esplora(esplora.esplora_url()));
        let node = start(&esplora, Arc::new(MemoryStore::new())).await;
        fund(&esplora, &node, FUND).await;
        let (channel_id, open_fee) = open_channel(&esplora, &node, &peer, 0).await;
        let ch = &node.list_channels()[0];
        assert_eq!(ch.capacity_sat, CHANNEL);
        assert_eq!(ch.counterparty_node_id, peer.node_id);
        assert!(ch.is_outbound && ch.is_ready);

        // We pay a fixed invoice of the peer.
        let inv = peer_invoice(&peer, Some(20_000_000), 600).await;
        let paid = node
            .bolt11_payment()
            .send(&inv, None, None)
            .await
            .expect("pay");
        assert_eq!(paid.status, PaymentStatus::Succeeded);
        assert_eq!(paid.fee_paid_msat, Some(0), "direct channel");
        assert!(paid.preimage.is_some());
        wait_event(&node, "PaymentSuccessful", |e| {
            matches!(e, Event::PaymentSuccessful { .. })
        })
        .await;
        // Paying it again is refused and changes nothing.
        let err = node
            .bolt11_payment()
            .send(&inv, None, None)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "PAYMENT_FAILED", "{err}");

        // We keysend to the peer.
        let sent = node
            .spontaneous_payment()
            .send(&peer.node_id, 3_000_000)
            .await
            .expect("keysend");
        assert_eq!(sent.kind, PaymentKind::Spontaneous);
        assert_eq!(sent.status, PaymentStatus::Succeeded);

        // The peer pays our invoices (fixed and variable) and keysends to us.
        let ours = node
            .bolt11_payment()
            .receive(5_000_000, "coffee", 3600)
            .await
            .expect("invoice");
        peer.post("/pay", json!({"invoice": ours.invoice})).await;
        received(&node, 5_000_000).await;
        let var = node
            .bolt11_payment()
            .receive_variable_amount("tip", 3600)
            .await
            .expect("variable invoice");
        peer.post(
            "/pay",
            json!({"invoice": var.invoice, "amount_msat": 2_000_000}),
        )
        .await;
        received(&node, 2_000_000).await;
        peer.post(
            "/keysend",
            json!({"node_id": node.node_id().to_string(), "amount_msat": 1_000_000}),
        )
        .await;
        received(&node, 1_000_000).await;

        let payments = node.list_payments();
        assert_eq!(payments.len(), 5, "{payments:#?}");
        for p in &payments {
            assert_eq!(p.status, PaymentStatus::Succeeded, "{p:?}");
            assert!(p.preimage.is_some(), "{p:?}");
            if p.direction == PaymentDirection::Outbound {
                assert_eq!(p.fee_paid_msat, Some(0), "{p:?}");
            }
        }
        let sum = |dir| -> u64 {
            payments
                .iter()
                .filter(|p| p.direction == dir)
                .map(|p| p.amount_msat.unwrap_or(0))
                .sum()
        };
        assert_eq!(sum(PaymentDirection::Outbound), 23_000_000);
        assert_eq!(sum(PaymentDirection::Inbound), 8_000_000);
        assert_eq!(
            node.payment(&ours.payment_hash).expect("by id").kind,
            PaymentKind::Bolt11
        );
        let ours_msat = CHANNEL * 1000 - 23_000_000 + 8_000_000;
        // Our side minus the commitment transaction's fee, which the funder (we) pays.
        let lightning = node.balances().lightning_msat;
        assert!(
            lightning < ours_msat && lightning > ours_msat - 5_000_000,
            "{lightning} vs {ours_msat}"
        );

        // Cooperative close: our side comes back to the wallet minus the closing fee.
        let funding = node.list_channels()[0]
            .funding_txo
            .clone()
            .expect("funding");
        node.close_channel(&channel_id).await.expect("close");
        wait_event(&node, "ChannelClosed", |e| {
            matches!(e, Event::ChannelClosed { .. })
        })
        .await;
        wait_mempool(&esplora, None).await;
        esplora.mine(6).await.expect("mine");
        let (_, close_fee) = spender_fee(&esplora, &funding).await;
        let expected = FUND - open_fee - close_fee - (CHANNEL - ours_msat / 1000);
        wait_until(&node, "close settles", |n| {
            n.onchain().balance().confirmed_sat == expected
        })
        .await;
        let b = node.balances();
        assert_eq!(b.onchain.spendable_sat, expected, "{b:?}");
        assert_eq!(b.lightning_msat, 0);
        assert!(node.list_channels().is_empty());
        println!(
            "open fee {open_fee} sat, close fee {close_fee} sat, final {expected} sat; \
             channel_full_cycle took {:.1} s",
            started.elapsed().as_secs_f64()
        );
        node.stop().await.expect("stop");
    });
}
