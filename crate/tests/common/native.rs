//! Native node-test helpers (`node.rs` and the fault tests): a current-thread runtime in a
//! `LocalSet`, a node builder on regtest-esplora, and the steps every test repeats (fund,
//! open a channel, wait for an event, an invoice from the peer).
#![allow(dead_code)] // each test binary uses its own subset

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use regtest_esplora::peer::{peer_exe, wait_mempool, Chain, Peer};
use regtest_esplora::{regtest_address, RegtestEsplora};
use serde_json::json;
use wasm_ln::bitcoin::Txid;
use wasm_ln::chain::esplora::EsploraChainSource;
use wasm_ln::io::{DynStore, MemoryStore};
use wasm_ln::{Builder, Event, LogLevel, Network, Node, PaymentDetails};

use super::{wait_until, wait_usable, WAIT};

pub const MNEMONIC: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
pub const FUND: u64 = 1_000_000;
pub const CHANNEL: u64 = 500_000;

/// A node id nobody runs here.
pub const UNKNOWN_PEER: &str = "02eec7245d6b7d2ccb30380bfbe2a3648cd7a942653f5aa340edcea1f283686619";

/// A loopback port nothing listens on.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

pub fn run<F: Future>(f: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    tokio::task::LocalSet::new().block_on(&rt, f)
}

pub fn log_level() -> LogLevel {
    match std::env::var("WASM_LN_TEST_LOG").as_deref() {
        Ok("trace") => LogLevel::Trace,
        Ok("debug") => LogLevel::Debug,
        Ok("info") => LogLevel::Info,
        _ => LogLevel::Warn,
    }
}

pub fn builder(esplora: &RegtestEsplora, store: Arc<DynStore>) -> Builder {
    let mut b = Builder::new();
    b.set_network(Network::Regtest)
        .set_esplora_url(esplora.esplora_url())
        .set_store(store)
        .set_mnemonic(MNEMONIC, "")
        .set_log_level(log_level())
        .set_sync_interval(Duration::from_millis(250));
    b
}

pub async fn start(esplora: &RegtestEsplora, store: Arc<DynStore>) -> Node {
    let node = builder(esplora, store).build().await.expect("build");
    node.start().expect("start");
    node
}

/// Waits for an event matching `pred` (acknowledging it and every event before it).
pub async fn wait_event(node: &Node, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ev = tokio::time::timeout(left, node.wait_next_event())
            .await
            .unwrap_or_else(|_| panic!("no {what} event within {WAIT:?}"));
        node.event_handled(ev.id).await.expect("event_handled");
        let ev = ev.event;
        if pred(&ev) {
            return ev;
        }
        println!("skipping event {ev:?}");
    }
}

pub async fn fund(esplora: &RegtestEsplora, node: &Node, sats: u64) {
    let before = node.onchain().balance().confirmed_sat;
    let addr = node.onchain().new_address().await.expect("address");
    let addr = regtest_address(&addr.to_string()).expect("regtest address");
    esplora.faucet_pay(&addr, sats, true).await.expect("faucet");
    wait_until(node, "funding", |n| {
        n.onchain().balance().confirmed_sat == before + sats
    })
    .await;
}

/// bitcoind behind regtest-esplora, an ldk-node peer, and our node on a memory store with
/// [`FUND`] sat confirmed: where most tests start.
pub async fn funded_node_and_peer() -> (RegtestEsplora, Peer, Node) {
    let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
    let peer = Peer::spawn(&peer_exe(), "peer", Chain::Esplora(esplora.esplora_url()));
    let node = start(&esplora, Arc::new(MemoryStore::new())).await;
    fund(&esplora, &node, FUND).await;
    (esplora, peer, node)
}

/// Gives `peer` the on-chain reserve ldk-node keeps per anchor channel (25,000 sat), once:
/// without it, it refuses our anchor channels and LDK falls back to a legacy one.
pub async fn fund_peer_reserve(esplora: &RegtestEsplora, peer: &Peer) {
    let b = peer.balances().await;
    let spendable = b["spendable_onchain_sat"].as_u64().unwrap_or(0);
    let reserve = b["anchor_reserve_sat"].as_u64().unwrap_or(0);
    if spendable >= reserve + 50_000 {
        return;
    }
    fund_peer(esplora, peer, 200_000).await;
}

/// A new on-chain address of the peer's wallet.
pub async fn peer_address(peer: &Peer) -> String {
    peer.post("/address", json!({})).await["address"]
        .as_str()
        .expect("peer address")
        .to_string()
}

/// Pays `sats` to the peer's wallet, confirmed, and waits until it can spend them.
pub async fn fund_peer(esplora: &RegtestEsplora, peer: &Peer, sats: u64) {
    let before = peer.balances().await["spendable_onchain_sat"]
        .as_u64()
        .unwrap_or(0);
    let addr = regtest_address(&peer_address(peer).await).expect("regtest address");
    esplora
        .faucet_pay(&addr, sats, true)
        .await
        .expect("fund the peer");
    peer.wait_balances("the peer's funds", |b| {
        b["spendable_onchain_sat"].as_u64().unwrap_or(0) >= before + sats
    })
    .await;
}

/// Opens a channel of [`CHANNEL`] sat to `peer` and waits until it is usable; returns its id
/// and the open fee.
pub async fn open_channel(
    esplora: &RegtestEsplora,
    node: &Node,
    peer: &Peer,
    push_msat: u64,
) -> (String, u64) {
    open_channel_of(esplora, node, peer, CHANNEL, push_msat).await
}

/// [`open_channel`] of `sats`.
pub async fn open_channel_of(
    esplora: &RegtestEsplora,
    node: &Node,
    peer: &Peer,
    sats: u64,
    push_msat: u64,
) -> (String, u64) {
    fund_peer_reserve(esplora, peer).await;
    let before = node.onchain().balance().spendable_sat;
    let ucid = node
        .open_channel(&peer.uri(), sats, push_msat)
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
    let open_fee = before - sats - after;
    assert!(open_fee > 0 && open_fee < 5_000, "open fee {open_fee}");
    esplora.mine(6).await.expect("mine");
    let ready = wait_event(node, "ChannelReady", |e| {
        matches!(e, Event::ChannelReady { .. })
    })
    .await;
    let Event::ChannelReady { channel_id, .. } = ready else {
        unreachable!()
    };
    wait_usable(node, "channel usable", &channel_id).await;
    (channel_id, open_fee)
}

pub async fn peer_invoice(peer: &Peer, amount_msat: Option<u64>, expiry_secs: u64) -> String {
    let mut body = json!({"description": "from the peer", "expiry_secs": expiry_secs});
    if let Some(a) = amount_msat {
        body["amount_msat"] = json!(a);
    }
    let v = peer.post("/invoice", body).await;
    v["invoice"].as_str().expect("invoice").to_string()
}

/// Pays the peer a fresh invoice of `msat`; the payment, settled.
pub async fn pay_peer(node: &Node, peer: &Peer, msat: u64) -> PaymentDetails {
    let inv = peer_invoice(peer, Some(msat), 600).await;
    node.bolt11_payment()
        .send(&inv, None, None)
        .await
        .expect("pay the peer")
}

/// Waits until the peer's side of our channels can pay us `msat` (a payment we just made
/// is fully removed from the commitments only a moment after it succeeded).
pub async fn wait_inbound(node: &Node, msat: u64) {
    wait_until(node, "inbound capacity", |n| {
        n.list_channels()
            .iter()
            .any(|c| c.inbound_capacity_msat >= msat)
    })
    .await;
}

pub async fn received(node: &Node, amount_msat: u64) {
    wait_event(
        node,
        "PaymentReceived",
        |e| matches!(e, Event::PaymentReceived { amount_msat: a, .. } if *a == amount_msat),
    )
    .await;
}

/// The transaction spending `outpoint` (`txid:vout`) and its fee, from Esplora.
pub async fn spender_fee(esplora: &RegtestEsplora, outpoint: &str) -> (Txid, u64) {
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

/// Mines until the wallet's confirmed balance grows from `before` by a sweep of `ours` less
/// its fees.
pub async fn wait_swept(esplora: &RegtestEsplora, node: &Node, before: u64, ours: u64) {
    let deadline = Instant::now() + WAIT;
    while node.onchain().balance().confirmed_sat == before {
        assert!(Instant::now() < deadline, "no sweep: {:?}", node.balances());
        let _ = node.sync().await;
        esplora.mine(1).await.expect("mine");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let swept = node.onchain().balance().confirmed_sat - before;
    assert!(
        swept < ours && swept > ours - 10_000,
        "swept {swept} of {ours}"
    );
}
