//! The JavaScript face, `LightningNode`, in headless Chromium: creation and opening, the
//! single-instance Web Lock, typed `LnError`s for bad input. No server is needed: Esplora
//! points at a loopback port where nothing listens, so the node runs but never syncs.
#![cfg(target_arch = "wasm32")]

#[path = "common/js.rs"]
mod js_values;

use js_values::{get, js, ok, text};
use serde_json::json;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;
use wasm_ln::wasm::{LightningNode, WebLock};

wasm_bindgen_test_configure!(run_in_browser);

const ABANDON: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
/// A valid mnemonic (the tests run one after another in one page; each stops its nodes).
const ZOO: &str = "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo wrong";
/// Twelve words, bad checksum.
const BAD_CHECKSUM: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon";
const NOWHERE: &str = "http://127.0.0.1:9";

/// A database name no other test (or earlier run) used.
fn unique(test: &str) -> String {
    format!("wasm-ln-api-{test}-{}", js_sys::Date::now())
}

fn config(storage: serde_json::Value, mnemonic: Option<&str>) -> JsValue {
    let mut c = json!({ "network": "regtest", "esploraUrl": NOWHERE, "storage": storage });
    if let Some(m) = mnemonic {
        c["seed"] = json!({ "mnemonic": m });
    }
    js(c)
}

fn code(err: &JsValue) -> String {
    assert_eq!(text(err, "name"), "LnError", "{err:?}");
    text(err, "code")
}

async fn err(p: js_sys::Promise) -> String {
    code(&JsFuture::from(p).await.expect_err("rejected"))
}

#[wasm_bindgen_test]
async fn create_generates_a_mnemonic_shown_once_and_runs() {
    let mut node = LightningNode::create(config(json!({ "kind": "memory" }), None))
        .await
        .expect("create");
    let words = node.mnemonic().expect("a generated mnemonic");
    assert_eq!(words.split(' ').count(), 24);
    assert_eq!(node.mnemonic(), None, "shown only once");
    let info = ok(node.get_info()).await;
    assert_eq!(get(&info, "nodeId").as_string(), Some(node.node_id()));
    assert_eq!(
        get(&info, "network").as_string().as_deref(),
        Some("regtest")
    );
    assert_eq!(get(&info, "isRunning").as_bool(), Some(true));
    assert_eq!(
        get(&info, "version").as_string().as_deref(),
        Some(wasm_ln::VERSION)
    );
    assert!(get(&info, "syncedAt").is_null(), "nothing to sync from");
    let address = ok(node.new_address()).await.as_string().expect("address");
    assert!(address.starts_with("bcrt1q"), "{address}");
    let balance = ok(node.onchain_balance()).await;
    assert_eq!(get(&balance, "spendableSat").as_f64(), Some(0.0));
    assert_eq!(
        js_sys::Array::from(&ok(node.list_channels()).await).length(),
        0
    );
    // Peers wait for a first sync (fee rates, tip): a typed error, not a hang.
    let peer = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798@127.0.0.1:9735";
    assert_eq!(
        err(node.connect(peer.into(), None)).await,
        "CHAIN_SOURCE_UNAVAILABLE"
    );
    ok(node.stop()).await;
    assert_eq!(err(node.new_address()).await, "NODE_STOPPED");
    assert_eq!(err(node.stop()).await, "NODE_STOPPED");
}

/// `rgsUrl`: a URL (Rapid Gossip Sync), `null` (P2P gossip) or absent (the network's
/// default); `getInfo().graph` says what the graph holds.
#[wasm_bindgen_test]
async fn rgs_url_is_a_url_null_or_absent() {
    for rgs in [
        Some(json!(null)),
        Some(json!("http://127.0.0.1:9/snapshot/")),
        None,
    ] {
        let mut c =
            json!({ "network": "regtest", "esploraUrl": NOWHERE, "storage": { "kind": "memory" } });
        if let Some(rgs) = &rgs {
            c["rgsUrl"] = rgs.clone();
        }
        let node = LightningNode::create(js(c)).await.expect("create");
        let graph = get(&ok(node.get_info()).await, "graph");
        assert_eq!(get(&graph, "nodes").as_f64(), Some(0.0), "{rgs:?}");
        assert_eq!(get(&graph, "channels").as_f64(), Some(0.0), "{rgs:?}");
        assert!(get(&graph, "rgsSyncedAt").is_null(), "{rgs:?}");
        ok(node.stop()).await;
    }
    for bad in [json!(5), json!("ftp://r/"), json!({ "url": "http://r/" })] {
        let c = json!({ "network": "regtest", "esploraUrl": NOWHERE,
                        "storage": { "kind": "memory" }, "rgsUrl": bad });
        let e = LightningNode::create(js(c)).await.err().expect("refused");
        assert_eq!(code(&e), "INVALID_CONFIG", "{bad}");
    }
}

#[wasm_bindgen_test]
async fn bad_config_is_an_invalid_config_error() {
    let memory = json!({ "kind": "memory" });
    let cases = [
        js(json!({ "network": "mainnet", "esploraUrl": NOWHERE, "storage": memory })),
        js(json!({ "network": "regtest", "esploraUrl": "ftp://x", "storage": memory })),
        js(json!({ "network": "regtest", "storage": memory })),
        js(
            json!({ "network": "regtest", "esploraUrl": NOWHERE, "storage": memory, "rgsUrl": "x" }),
        ),
        js(json!({ "network": "regtest", "esploraUrl": NOWHERE, "storage": { "kind": "disk" } })),
        js(
            json!({ "network": "regtest", "esploraUrl": NOWHERE, "storage": memory, "proxyUrl": "http://p" }),
        ),
        config(memory.clone(), Some(BAD_CHECKSUM)),
        JsValue::from_str("regtest"),
        JsValue::UNDEFINED,
    ];
    for c in cases {
        let shown = format!("{c:?}");
        let e = match LightningNode::create(c).await {
            Ok(n) => panic!("accepted {shown}: {}", n.node_id()),
            Err(e) => e,
        };
        assert_eq!(code(&e), "INVALID_CONFIG", "{shown}");
    }
    // The message says what is wrong.
    let e = LightningNode::create(js(
        json!({ "network": "regtest", "esploraUrl": NOWHERE, "storage": memory, "esploraURL": "x" }),
    ))
    .await
    .err()
    .expect("refused");
    let message = text(&e, "message");
    assert!(message.contains("esploraURL"), "{message}");
}

#[wasm_bindgen_test]
async fn method_arguments_are_checked() {
    let node = LightningNode::create(config(json!({ "kind": "memory" }), Some(ZOO)))
        .await
        .expect("create");
    let bad = [
        node.open_channel(js(json!({ "peer": "x" }))),
        node.open_channel(js(json!({ "peer": "x", "amountSat": -5 }))),
        node.bolt11_send(js(json!({ "invoice": 5 }))),
        node.keysend(js(
            json!({ "nodeId": "02", "amountMsat": 1, "extra": true }),
        )),
        node.close_channel(JsValue::NULL),
        node.list_payments(Some(js(json!({ "status": "done" })))),
    ];
    for p in bad {
        assert_eq!(err(p).await, "INVALID_CONFIG");
    }
    assert_eq!(
        err(node.bolt11_send(js(json!({ "invoice": "lnbc1nonsense" })))).await,
        "INVALID_INVOICE"
    );
    assert_eq!(
        err(node.close_channel(js(json!({ "channelId": "ab".repeat(32) })))).await,
        "UNKNOWN_CHANNEL"
    );
    let all = ok(node.list_payments(None)).await;
    assert_eq!(js_sys::Array::from(&all).length(), 0);
    ok(node.stop()).await;
}

#[wasm_bindgen_test]
async fn one_node_runs_once_and_storage_is_never_overwritten() {
    let db = unique("lock");
    let indexeddb = json!({ "kind": "indexeddb", "name": db });
    // `open` needs a node in storage, and the seed (it is not stored).
    let e = LightningNode::open(config(indexeddb.clone(), Some(ABANDON)))
        .await
        .err()
        .expect("empty storage");
    assert_eq!(code(&e), "INVALID_CONFIG");
    let node = LightningNode::create(config(indexeddb.clone(), Some(ABANDON)))
        .await
        .expect("create");
    let id = node.node_id();

    // While it runs: its storage is locked, and so is the same node on other storage.
    let e = LightningNode::open(config(indexeddb.clone(), Some(ABANDON)))
        .await
        .err()
        .expect("locked");
    assert_eq!(code(&e), "NODE_LOCKED");
    for c in [
        config(indexeddb.clone(), Some(ZOO)),
        config(
            json!({ "kind": "indexeddb", "name": unique("other") }),
            Some(ABANDON),
        ),
        config(json!({ "kind": "memory" }), Some(ABANDON)),
    ] {
        let e = LightningNode::create(c).await.err().expect("locked");
        assert_eq!(code(&e), "NODE_LOCKED");
    }
    // The lock is the origin's, not this page's: a worker cannot take it either.
    let name = format!("wasm-ln:db:{db}");
    assert!(!worker_can_take(&name).await, "a worker took {name}");

    // Stopped, it can be opened again: same node, nothing overwritten.
    ok(node.stop()).await;
    assert!(worker_can_take(&name).await, "released after stop");
    let e = LightningNode::create(config(indexeddb.clone(), Some(ABANDON)))
        .await
        .err()
        .expect("storage holds a node");
    assert_eq!(code(&e), "INVALID_CONFIG");
    let e = LightningNode::open(config(indexeddb.clone(), None))
        .await
        .err()
        .expect("no mnemonic");
    assert_eq!(code(&e), "INVALID_CONFIG");
    let e = LightningNode::open(config(indexeddb.clone(), Some(ZOO)))
        .await
        .err()
        .expect("another seed's storage");
    assert_eq!(code(&e), "INVALID_CONFIG");
    let again = LightningNode::open(config(indexeddb, Some(ABANDON)))
        .await
        .expect("open");
    assert_eq!(again.node_id(), id);
    ok(again.stop()).await;
}

#[wasm_bindgen_test]
async fn a_lock_is_exclusive_until_dropped() {
    let name = unique("weblock");
    let held = WebLock::try_acquire(&name)
        .await
        .expect("api")
        .expect("free");
    assert!(WebLock::try_acquire(&name).await.expect("api").is_none());
    drop(held);
    // The release settles the browser's promise; the lock is free right after.
    let mut free = None;
    for _ in 0..50 {
        free = WebLock::try_acquire(&name).await.expect("api");
        if free.is_some() {
            break;
        }
        wasm_ln::runtime::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(free.is_some(), "not released");
}

/// Whether a dedicated worker (another context of this origin) can take the Web Lock `name`.
async fn worker_can_take(name: &str) -> bool {
    let src = format!(
        // Answers once the lock is released again (`request` settles after its callback), so
        // the caller's next acquisition does not race the worker's release.
        "navigator.locks.request({name:?}, {{ ifAvailable: true }}, async (l) => l !== null).then(postMessage);"
    );
    let parts = js_sys::Array::of1(&JsValue::from_str(&src));
    let props = web_sys::BlobPropertyBag::new();
    props.set_type("text/javascript");
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &props).expect("blob");
    let url = web_sys::Url::create_object_url_with_blob(&blob).expect("url");
    let worker = web_sys::Worker::new(&url).expect("worker");
    let answer = js_sys::Promise::new(&mut |resolve, reject| {
        let on_message =
            wasm_bindgen::closure::Closure::once_into_js(move |e: web_sys::MessageEvent| {
                let _ = resolve.call1(&JsValue::NULL, &e.data());
            });
        worker.set_onmessage(Some(on_message.unchecked_ref()));
        let on_error = wasm_bindgen::closure::Closure::once_into_js(move |e: JsValue| {
            let _ = reject.call1(&JsValue::NULL, &e);
        });
        worker.set_onerror(Some(on_error.unchecked_ref()));
    });
    let taken = JsFuture::from(answer).await.expect("worker answered");
    worker.terminate();
    taken.as_bool().expect("a boolean")
}

#[wasm_bindgen_test]
async fn the_seed_is_stored_encrypted_only_when_asked() {
    let with_seed = |storage: &serde_json::Value, seed: serde_json::Value| {
        js(json!({ "network": "regtest", "esploraUrl": NOWHERE, "storage": storage, "seed": seed }))
    };
    // With a passphrase: stored encrypted, and `open` needs only the passphrase.
    let db = unique("sealed");
    let sealed_db = json!({ "kind": "indexeddb", "name": db });
    let mut node = LightningNode::create(with_seed(
        &sealed_db,
        json!({ "passphrase": "correct horse" }),
    ))
    .await
    .expect("create");
    let words = node.mnemonic().expect("generated");
    let id = node.node_id();
    ok(node.stop()).await;
    let raw = wasm_ln::io::IndexedDbStore::open(&db).await.expect("db");
    let sealed = wasm_ln::seed::load_sealed(&raw)
        .await
        .expect("read")
        .expect("stored");
    let first_word = words.split(' ').next().expect("a word");
    assert!(!String::from_utf8_lossy(&sealed).contains(first_word));
    drop(raw);
    for (seed, expected) in [
        (json!({ "passphrase": "wrong horse" }), "WRONG_PASSPHRASE"),
        (json!({}), "INVALID_CONFIG"),
    ] {
        let e = LightningNode::open(with_seed(&sealed_db, seed))
            .await
            .err()
            .expect("refused");
        assert_eq!(code(&e), expected);
    }
    let node = LightningNode::open(with_seed(
        &sealed_db,
        json!({ "passphrase": "correct horse" }),
    ))
    .await
    .expect("open with the passphrase");
    assert_eq!(node.node_id(), id);
    ok(node.stop()).await;

    // Plaintext only on request.
    let plain = json!({ "kind": "indexeddb", "name": unique("plain") });
    let node = LightningNode::create(with_seed(&plain, json!({ "storePlaintext": true })))
        .await
        .expect("create");
    ok(node.stop()).await;
    let node = LightningNode::open(with_seed(&plain, json!({})))
        .await
        .expect("open a plaintext seed");
    ok(node.stop()).await;
    // A passphrase expects a sealed seed: a plaintext one (perhaps planted) is not used.
    let e = LightningNode::open(with_seed(&plain, json!({ "passphrase": "correct horse" })))
        .await
        .err()
        .expect("a plaintext seed opened with a passphrase");
    assert_eq!(code(&e), "SEED_NOT_ENCRYPTED");
    // By default nothing is stored: `open` needs the words.
    let unsaved = json!({ "kind": "indexeddb", "name": unique("unsaved") });
    let node = LightningNode::create(with_seed(&unsaved, json!({})))
        .await
        .expect("create");
    ok(node.stop()).await;
    let e = LightningNode::open(with_seed(&unsaved, json!({})))
        .await
        .err()
        .expect("no stored seed");
    assert_eq!(code(&e), "INVALID_CONFIG");
    let both = json!({ "passphrase": "a", "storePlaintext": true });
    let e = LightningNode::create(with_seed(&json!({ "kind": "memory" }), both))
        .await
        .err()
        .expect("contradictory");
    assert_eq!(code(&e), "INVALID_CONFIG");
}

#[wasm_bindgen_test]
fn decode_invoice_needs_no_node_and_refuses_garbage_with_a_code() {
    use lightning_invoice::{Currency, InvoiceBuilder, PaymentSecret};
    use wasm_ln::bitcoin::hashes::{sha256, Hash};
    use wasm_ln::bitcoin::secp256k1::{Secp256k1, SecretKey};

    let e = wasm_ln::wasm::decode_invoice("lnbcrt1garbage").expect_err("garbage");
    assert_eq!(code(&e), "INVALID_INVOICE");

    let secp = Secp256k1::new();
    let key = SecretKey::from_slice(&[7; 32]).expect("key");
    let inv = InvoiceBuilder::new(Currency::Regtest)
        .description("Coffee".into())
        .payment_hash(sha256::Hash::from_byte_array([3; 32]))
        .payment_secret(PaymentSecret([4; 32]))
        .duration_since_epoch(std::time::Duration::from_secs(1_700_000_000))
        .min_final_cltv_expiry_delta(144)
        .amount_milli_satoshis(21_000)
        .build_signed(|m| secp.sign_ecdsa_recoverable(m, &key))
        .expect("invoice");
    let d = wasm_ln::wasm::decode_invoice(&inv.to_string()).expect("decodes");
    assert_eq!(text(&d, "network"), "regtest");
    assert_eq!(get(&d, "amountMsat").as_f64(), Some(21_000.0));
    assert_eq!(text(&d, "description"), "Coffee");
    assert_eq!(get(&d, "expiresAt").as_f64(), Some(1_700_003_600.0));
    assert_eq!(text(&d, "payee"), key.public_key(&secp).to_string());
}
