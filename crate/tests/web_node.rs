//! Browser end-to-end tests of the whole node in headless Chromium, on IndexedDB, reading the
//! chain from regtest-esplora over `fetch` and reaching a real ldk-node (`tests/peer`) through
//! `wasm-ln-proxy`: once through the Rust `Node` the native tests drive, once through
//! `LightningNode`, the class JavaScript uses.
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
#[path = "common/js.rs"]
mod js_values;

use std::sync::Arc;
use std::time::Duration;

use common::{wait_until, wait_usable, Snapshot, WAIT};
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
            node.event_handled(ev.id).await.expect("event_handled");
            let ev = ev.event;
            if pred(&ev) {
                return ev;
            }
            continue;
        }
        assert!(runtime::now() < deadline, "no {what} event within {WAIT:?}");
        runtime::sleep(Duration::from_millis(50)).await;
    }
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
    wait_usable(&node, "channel usable", &channel_id).await;

    // Pay the peer (keysend: no invoice needed from its control API).
    let paid = node
        .spontaneous_payment()
        .send(peer_id, 10_000_000, None)
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
    wait_usable(&node, "channel usable", &channel_id).await;
    let again = node
        .spontaneous_payment()
        .send(peer_id, 5_000_000, None)
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

mod js_class {
    //! The same journey through `LightningNode`, the class JavaScript sees: plain objects in
    //! and out, events from `nextEvent`, the seed sealed with a passphrase, the Web Locks.

    use super::js_values::{get, js, ok, text};
    use super::*;
    use js_sys::Array;
    use wasm_bindgen::JsValue;
    use wasm_bindgen_futures::JsFuture;
    use wasm_ln::wasm::LightningNode;

    /// Takes events until one of type `kind`, acknowledging each.
    async fn event(node: &LightningNode, kind: &str) -> JsValue {
        loop {
            let ev = ok(node.next_event()).await;
            ok(node.event_handled(get(&ev, "id"))).await;
            if text(&ev, "type") == kind {
                return ev;
            }
        }
    }

    async fn usable(node: &LightningNode, channel_id: &str) {
        let deadline = runtime::now() + WAIT;
        loop {
            let channels = Array::from(&ok(node.list_channels()).await);
            if channels
                .iter()
                .any(|c| text(&c, "channelId") == channel_id && get(&c, "isUsable").is_truthy())
            {
                return;
            }
            assert!(runtime::now() < deadline, "channel {channel_id} not usable");
            runtime::sleep(Duration::from_millis(100)).await;
        }
    }

    #[wasm_bindgen_test]
    async fn the_js_class_opens_pays_reloads_and_pays_again() {
        let (peer_id, _) = PEER.split_once('@').expect("id@host:port");
        let config = js(json!({
            "network": "regtest",
            "esploraUrl": ESPLORA_URL,
            "proxyUrl": PROXY_URL,
            "storage": { "kind": "indexeddb", "name": format!("wasm-ln-e2e-class-{}", runtime::now().as_millis()) },
            "seed": { "passphrase": "e2e passphrase" },
            "syncIntervalSecs": 1,
        }));
        let node = LightningNode::create(config.clone()).await.expect("create");
        let address = ok(node.new_address()).await.as_string().expect("address");
        control(
            "faucet",
            json!({ "address": address, "amount_sat": FUND, "confirm": true }),
        )
        .await;
        let deadline = runtime::now() + WAIT;
        while get(&ok(node.onchain_balance()).await, "confirmedSat").as_f64() != Some(FUND as f64) {
            assert!(runtime::now() < deadline, "not funded");
            ok(node.sync()).await;
            runtime::sleep(Duration::from_millis(100)).await;
        }
        let opened = ok(node.open_channel(js(json!({ "peer": PEER, "amountSat": CHANNEL })))).await;
        let pending = event(&node, "channelPending").await;
        assert_eq!(
            text(&pending, "userChannelId"),
            text(&opened, "userChannelId")
        );
        let channel_id = text(&pending, "channelId");
        let txid = text(&pending, "fundingTxo")
            .split(':')
            .next()
            .expect("txid")
            .to_string();
        while !esplora_has(&format!("/tx/{txid}")).await {
            assert!(
                runtime::now() < deadline + WAIT,
                "funding {txid} not broadcast"
            );
            runtime::sleep(Duration::from_millis(100)).await;
        }
        mine(6).await;
        event(&node, "channelReady").await;
        usable(&node, &channel_id).await;
        let paid =
            ok(node.keysend(js(json!({ "nodeId": peer_id, "amountMsat": 7_000_000 })))).await;
        assert_eq!(text(&paid, "status"), "succeeded");

        // A second instance while this one runs: refused, whatever the page does.
        let second = LightningNode::open(config.clone())
            .await
            .err()
            .expect("locked");
        assert_eq!(text(&second, "code"), "NODE_LOCKED");

        // A reload: stop, then open with the passphrase alone. The payment's event was not
        // acknowledged: a stopped node still shows it but cannot mark it handled (that would
        // write), and the reopened node delivers it again.
        ok(node.stop()).await;
        let unhandled = ok(node.next_event()).await;
        assert_eq!(text(&unhandled, "type"), "paymentSucceeded");
        assert_eq!(text(&unhandled, "paymentId"), text(&paid, "id"));
        let refused = JsFuture::from(node.event_handled(get(&unhandled, "id")))
            .await
            .expect_err("stopped");
        assert_eq!(text(&refused, "code"), "NODE_STOPPED");
        drop(node);
        let node = LightningNode::open(config).await.expect("open");
        let again = ok(node.next_event()).await;
        assert_eq!(text(&again, "paymentId"), text(&paid, "id"));
        // The same event keeps its id across the reload; acknowledged by it, once only.
        assert_eq!(text(&again, "id"), text(&unhandled, "id"));
        ok(node.event_handled(get(&again, "id"))).await;
        let stale = JsFuture::from(node.event_handled(get(&again, "id")))
            .await
            .expect_err("acknowledged twice");
        assert_eq!(text(&stale, "code"), "UNKNOWN_EVENT");
        let channels = Array::from(&ok(node.list_channels()).await);
        assert_eq!(channels.length(), 1);
        let payments = Array::from(&ok(node.list_payments(None)).await);
        assert_eq!(payments.length(), 1);
        usable(&node, &channel_id).await;
        let again =
            ok(node.keysend(js(json!({ "nodeId": peer_id, "amountMsat": 3_000_000 })))).await;
        assert_eq!(text(&again, "status"), "succeeded");
        let succeeded = ok(node.list_payments(Some(js(json!({ "status": "succeeded" }))))).await;
        assert_eq!(Array::from(&succeeded).length(), 2);
        ok(node.stop()).await;
    }
}
