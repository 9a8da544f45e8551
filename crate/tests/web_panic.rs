//! A Rust panic in headless Chromium (DESIGN.md §5), through the `testPanic()` export of the
//! `test-panic` feature: the panic is logged with its message and location, the call pending
//! when it struck rejects instead of hanging, and every later call rejects with `INTERNAL`
//! and one fixed message, instead of running on memory the abort left inconsistent.
//! One test in its own binary: the panic poisons the whole wasm instance.
#![cfg(target_arch = "wasm32")]

#[path = "common/js.rs"]
mod js_values;

use js_sys::{Array, Function, Promise, Reflect};
use js_values::{js, ok, text};
use serde_json::json;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;
use wasm_ln::wasm::{LightningNode, POISONED_MESSAGE};

wasm_bindgen_test_configure!(run_in_browser);

/// Esplora where nothing listens: the node runs without syncing.
const NOWHERE: &str = "http://127.0.0.1:9";

fn config() -> JsValue {
    js(json!({ "network": "regtest", "esploraUrl": NOWHERE, "storage": { "kind": "memory" } }))
}

/// Checks `err` is the poisoned instance's `LnError`.
fn assert_poisoned(err: &JsValue, what: &str) {
    assert_eq!(text(err, "name"), "LnError", "{what}: {err:?}");
    assert_eq!(text(err, "code"), "INTERNAL", "{what}: {err:?}");
    assert_eq!(text(err, "message"), POISONED_MESSAGE, "{what}");
}

async fn rejected(p: Promise, what: &str) -> JsValue {
    match JsFuture::from(p).await {
        Ok(v) => panic!("{what} resolved after the panic: {v:?}"),
        Err(e) => e,
    }
}

/// Replaces `console.error` with a function that also records each line; returns the
/// lines and the original function.
fn capture_console_error() -> (Array, JsValue) {
    let console = Reflect::get(&js_sys::global(), &"console".into()).expect("console");
    let original = Reflect::get(&console, &"error".into()).expect("console.error");
    let lines = Array::new();
    let make = Function::new_with_args(
        "lines, original",
        "return function (...args) { lines.push(args.map(String).join(' ')); \
         return original.apply(this, args); };",
    );
    let capture = make
        .call2(&JsValue::UNDEFINED, &lines, &original)
        .expect("capture");
    Reflect::set(&console, &"error".into(), &capture).expect("set console.error");
    (lines, original)
}

#[wasm_bindgen_test]
async fn a_panic_is_logged_and_every_later_call_rejects_with_internal() {
    let node = LightningNode::create(config()).await.expect("create");
    ok(node.get_info()).await;
    // A call that is still pending when the panic strikes: there is no event to wait for.
    let waiting = node.next_event();

    let (lines, original) = capture_console_error();
    let panicked = rejected(
        wasm_ln::wasm::test_panic("a bug in the node, on purpose".into()),
        "testPanic",
    )
    .await;
    let console = Reflect::get(&js_sys::global(), &"console".into()).expect("console");
    Reflect::set(&console, &"error".into(), &original).expect("restore console.error");
    assert_poisoned(&panicked, "the panicking call");
    assert_poisoned(&rejected(waiting, "nextEvent").await, "the pending call");

    // Reported through the log: the message and where it panicked.
    let lines: Vec<String> = lines.iter().filter_map(|l| l.as_string()).collect();
    let report = lines
        .iter()
        .find(|l| l.contains("a bug in the node, on purpose"))
        .unwrap_or_else(|| panic!("no report of the panic in console.error: {lines:?}"));
    assert!(report.contains("wasm_ln::panic"), "{report}");
    assert!(
        report.contains("src/wasm/panic.rs:"),
        "its location: {report}"
    );

    // Every later call, on this node or not, is refused before any of the node's code runs.
    assert_poisoned(&rejected(node.get_info(), "getInfo").await, "getInfo");
    assert_poisoned(&rejected(node.sync(), "sync").await, "sync");
    let args = js(json!({ "address": "bcrt1qnothing", "amountSat": 1 }));
    assert_poisoned(
        &rejected(node.onchain_send(args), "onchainSend").await,
        "onchainSend",
    );
    assert_poisoned(
        &rejected(node.event_handled("1".into()), "eventHandled").await,
        "eventHandled",
    );
    assert_poisoned(&node.node_id_js().expect_err("nodeId"), "nodeId");
    assert_poisoned(
        &rejected(LightningNode::create_js(config()), "create").await,
        "create",
    );
    assert_poisoned(
        &wasm_ln::wasm::decode_invoice("lnbcrt1").expect_err("decodeInvoice"),
        "decodeInvoice",
    );
    assert_poisoned(
        &wasm_ln::wasm::version_js().expect_err("version"),
        "version",
    );
    assert_poisoned(&rejected(node.stop(), "stop").await, "stop");
}
