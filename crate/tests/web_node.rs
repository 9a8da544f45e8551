//! Browser end-to-end test of the whole node: the same `Node` the native tests drive, built in
//! headless Chromium on IndexedDB, reading the chain from regtest-esplora over `fetch` and
//! reaching a real ldk-node (`tests/peer`) through `wasm-ln-proxy`.
//!
//! Built only with the `e2e` feature, by `pkg-scripts/test.sh` (suite
//! `test-wasm-ln-chromium-e2e`), which starts the three servers and passes at compile time:
//! - `WASM_LN_TEST_ESPLORA_URL`: regtest-esplora, `http://127.0.0.1:PORT` (its `/regtest/*`
//!   controls mine blocks and pay from the faucet);
//! - `WASM_LN_TEST_PROXY_URL` and `WASM_LN_TEST_PEER`, as for `web_transport`.
//!
//! A missing variable is a compile error, so the test cannot pass without running.
#![cfg(target_arch = "wasm32")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{wait_until, Snapshot, WAIT};
use serde_json::json;
use wasm_bindgen_test::*;
use wasm_ln::io::{DynStore, IndexedDbStore};
use wasm_ln::{runtime, Builder, Event, LogLevel, Network, Node, PaymentStatus};

wasm_bindgen_test_configure!(run_in_browser);

const ESPLORA_URL: &str = env!("WASM_LN_TEST_ESPLORA_URL");
const PROXY_URL: &str = env!("WASM_LN_TEST_PROXY_URL");
const PEER: &str = env!("WASM_LN_TEST_PEER");

const FUND: u64 = 1_000_000;
const CHANNEL: u64 = 200_000;

/// A regtest-esplora control call (`/regtest/...`), from the page.
async fn control(path: &str, body: serde_json::Value) -> serde_json::Value {
    let resp = reqwest::Client::new()
        .post(format!("{ESPLORA_URL}/regtest/{path}"))
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.expect("json")
}

/// Whether an Esplora GET of `path` answers 200.
async fn esplora_has(path: &str) -> bool {
    reqwest::get(format!("{ESPLORA_URL}{path}"))
        .await
        .is_ok_and(|r| r.status().is_success())
}

async fn mine(blocks: u32) {
    control("mine", json!({ "blocks": blocks })).await;
}

fn builder(store: Arc<DynStore>, mnemonic: &str) -> Builder {
    let mut b = Builder::new();
    b.set_network(Network::Regtest)
        .set_esplora_url(ESPLORA_URL)
        .set_proxy_url(PROXY_URL)
        .set_store(store)
        .set_log_level(LogLevel::Warn)
        .set_sync_interval(Duration::from_millis(250));
    if !mnemonic.is_empty() {
        b.set_mnemonic(mnemonic, "");
    }
    b
}

/// Waits for an event matching `pred`, acknowledging it and every event before it.
async fn wait_event(node: &Node, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
    let deadline = runtime::now() + WAIT;
    loop {
        if let Some(ev) = node.next_event() {
            node.event_handled().await.expect("event_handled");
            if pred(&ev) {
                return ev;
            }
            continue;
        }
        assert!(runtime::now() < deadline, "no {what} event within {WAIT:?}");
        runtime::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_usable(node: &Node, channel_id: &str) {
    wait_until(node, "channel usable", |n| {
        n.list_channels()
            .iter()
            .any(|c| c.channel_id == channel_id && c.is_usable)
    })
    .await;
}

#[wasm_bindgen_test]
async fn a_node_in_the_browser_opens_pays_restarts_and_closes() {
    let (peer_id, _) = PEER
        .split_once('@')
        .expect("WASM_LN_TEST_PEER is id@host:port");
    let db = format!("wasm-ln-e2e-node-{}", runtime::now().as_millis());
    let store: Arc<DynStore> = Arc::new(IndexedDbStore::open(&db).await.expect("IndexedDB"));

    // A new wallet: the mnemonic comes from the browser's randomness.
    let node = builder(Arc::clone(&store), "")
        .build()
        .await
        .expect("build");
    let mnemonic = node
        .take_generated_mnemonic()
        .expect("a generated mnemonic")
        .to_string();
    node.start().expect("start");

    // Fund it from the faucet.
    let address = node.onchain().new_address().await.expect("address");
    control(
        "faucet",
        json!({ "address": address.to_string(), "amount_sat": FUND, "confirm": true }),
    )
    .await;
    wait_until(&node, "funding", |n| {
        n.onchain().balance().confirmed_sat == FUND
    })
    .await;

    // Open a channel through the proxy and wait until it can carry payments.
    let user_channel_id = node
        .open_channel(PEER, CHANNEL, 0)
        .await
        .expect("open_channel");
    let pending = wait_event(&node, "ChannelPending", |e| {
        matches!(e, Event::ChannelPending { .. })
    })
    .await;
    let Event::ChannelPending {
        channel_id,
        user_channel_id: ucid,
        counterparty_node_id,
        funding_txo,
    } = pending
    else {
        unreachable!()
    };
    assert_eq!(ucid, user_channel_id);
    assert_eq!(counterparty_node_id, peer_id);
    // The funding transaction reaches the mempool through our Esplora broadcast.
    let txid = funding_txo.split(':').next().expect("txid");
    let deadline = runtime::now() + WAIT;
    while !esplora_has(&format!("/tx/{txid}")).await {
        assert!(runtime::now() < deadline, "funding {txid} not broadcast");
        runtime::sleep(Duration::from_millis(100)).await;
    }
    mine(6).await;
    wait_event(&node, "ChannelReady", |e| {
        matches!(e, Event::ChannelReady { .. })
    })
    .await;
    wait_usable(&node, &channel_id).await;

    // Pay the peer (keysend: no invoice needed from its control API).
    let paid = node
        .spontaneous_payment()
        .send(peer_id, 10_000_000)
        .await
        .expect("keysend");
    assert_eq!(paid.status, PaymentStatus::Succeeded);
    assert_eq!(paid.amount_msat, Some(10_000_000));

    // Stop, and build a new node on the same database (a page reload).
    node.stop().await.expect("stop");
    let before = Snapshot::of(&node);
    drop(node);
    let store: Arc<DynStore> = Arc::new(IndexedDbStore::open(&db).await.expect("reopen"));
    let node = builder(store, &mnemonic).build().await.expect("rebuild");
    assert!(node.take_generated_mnemonic().is_none());
    assert_eq!(Snapshot::of(&node), before);
    node.start().expect("restart");
    // It reconnects through the proxy by itself and pays again.
    wait_usable(&node, &channel_id).await;
    let again = node
        .spontaneous_payment()
        .send(peer_id, 5_000_000)
        .await
        .expect("keysend after restart");
    assert_eq!(again.status, PaymentStatus::Succeeded);
    assert_eq!(node.list_payments().len(), 2);

    // Cooperative close: our side comes back on-chain.
    let before = node.onchain().balance().confirmed_sat;
    node.close_channel(&channel_id).await.expect("close");
    wait_event(&node, "ChannelClosed", |e| {
        matches!(e, Event::ChannelClosed { .. })
    })
    .await;
    mine(6).await;
    wait_until(&node, "close settles", |n| {
        n.list_channels().is_empty()
            && n.balances().lightning_msat == 0
            && n.onchain().balance().confirmed_sat > before + CHANNEL - 15_000 - 10_000
    })
    .await;
    node.stop().await.expect("stop");
}
