//! Browser tests of the IndexedDB store (`io/indexeddb.rs`), in headless Chromium. Each test
//! uses its own database and deletes it at the end.
#![cfg(target_arch = "wasm32")]

use lightning::io::ErrorKind;
use lightning::util::persist::KVStore;
use wasm_bindgen_test::*;
use wasm_ln::io::test_utils::do_test_store;
use wasm_ln::io::IndexedDbStore;

wasm_bindgen_test_configure!(run_in_browser);

/// A database name no other test (or earlier run) uses.
fn unique_name(test: &str) -> String {
    format!(
        "wasm-ln-test-{test}-{}-{}",
        js_sys::Date::now() as u64,
        (js_sys::Math::random() * 1e9) as u64
    )
}

#[wasm_bindgen_test]
async fn indexeddb_store_passes_the_kvstore_suite() {
    let name = unique_name("suite");
    let store = IndexedDbStore::open(&name).await.unwrap();
    do_test_store(&store).await.unwrap();
    // Again on the now-used database: the suite cleans up after itself.
    do_test_store(&store).await.unwrap();
    drop(store);
    IndexedDbStore::delete(&name).await.unwrap();
}

#[wasm_bindgen_test]
async fn indexeddb_data_survives_close_and_reopen() {
    let name = unique_name("reopen");
    let store = IndexedDbStore::open(&name).await.unwrap();
    store
        .write("monitors", "", "chan_1", vec![1, 2, 3])
        .await
        .unwrap();
    store.write("", "", "manager", vec![9; 1000]).await.unwrap();
    store.write("gone", "", "k", vec![5]).await.unwrap();
    store.remove("gone", "", "k", false).await.unwrap();
    // A write whose future is never awaited before the store is dropped still lands: it was
    // issued in the call, and closing waits for pending transactions.
    let unawaited = store.write("monitors", "", "chan_2", vec![4]);
    drop(unawaited);
    drop(store);

    let store = IndexedDbStore::open(&name).await.unwrap();
    assert_eq!(
        store.read("monitors", "", "chan_1").await.unwrap(),
        [1, 2, 3]
    );
    assert_eq!(store.read("monitors", "", "chan_2").await.unwrap(), [4]);
    assert_eq!(store.read("", "", "manager").await.unwrap(), vec![9; 1000]);
    assert_eq!(
        store.read("gone", "", "k").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let mut keys = store.list("monitors", "").await.unwrap();
    keys.sort();
    assert_eq!(keys, ["chan_1", "chan_2"]);
    drop(store);
    IndexedDbStore::delete(&name).await.unwrap();
}

#[wasm_bindgen_test]
async fn indexeddb_writes_keep_call_order_when_awaited_in_reverse() {
    let name = unique_name("order");
    let store = IndexedDbStore::open(&name).await.unwrap();
    // Big then small values: a later, smaller write must not be overtaken by an earlier one.
    let futures: Vec<_> = (0..20u32)
        .map(|i| {
            let len = if i % 2 == 0 { 200_000 } else { 10 };
            store.write("order", "", "k", vec![i as u8; len])
        })
        .collect();
    // A read issued after the writes sees the last one, before any write is awaited.
    let read = store.read("order", "", "k");
    for f in futures.into_iter().rev() {
        f.await.unwrap();
    }
    assert_eq!(read.await.unwrap(), vec![19u8; 10]);
    // Remove then write, awaited in reverse.
    let remove = store.remove("order", "", "k", false);
    let write = store.write("order", "", "k", vec![7]);
    write.await.unwrap();
    remove.await.unwrap();
    assert_eq!(store.read("order", "", "k").await.unwrap(), [7]);
    drop(store);
    IndexedDbStore::delete(&name).await.unwrap();
}

#[wasm_bindgen_test]
async fn indexeddb_list_returns_only_the_exact_namespace() {
    let name = unique_name("list");
    let store = IndexedDbStore::open(&name).await.unwrap();
    for (p, s, k) in [
        ("a", "", "k1"),
        ("a", "", "k2"),
        ("a", "b", "k3"),
        ("a", "bc", "k4"),
        ("ab", "", "k5"),
        ("a_", "", "k6"),
        ("A", "", "k7"),
        ("", "", "root"),
        ("b", "a", "k8"),
    ] {
        store.write(p, s, k, vec![1]).await.unwrap();
    }
    let list = |p: &'static str, s: &'static str| {
        let fut = store.list(p, s);
        async move {
            let mut keys = fut.await.unwrap();
            keys.sort();
            keys
        }
    };
    assert_eq!(list("a", "").await, ["k1", "k2"]);
    assert_eq!(list("a", "b").await, ["k3"]);
    assert_eq!(list("a", "bc").await, ["k4"]);
    assert_eq!(list("ab", "").await, ["k5"]);
    assert_eq!(list("a_", "").await, ["k6"]);
    assert_eq!(list("A", "").await, ["k7"]);
    assert_eq!(list("", "").await, ["root"]);
    assert_eq!(list("b", "a").await, ["k8"]);
    assert!(list("b", "").await.is_empty());
    assert!(list("a", "x").await.is_empty());
    assert!(list("nothing", "").await.is_empty());
    drop(store);
    IndexedDbStore::delete(&name).await.unwrap();
}

#[wasm_bindgen_test]
async fn indexeddb_missing_is_storage_unavailable() {
    // A global scope without `indexedDB` (tests run concurrently: leave the real one alone).
    let global = js_sys::Object::new();
    let err = IndexedDbStore::open_in(&global, &unique_name("missing"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "STORAGE_UNAVAILABLE", "{err}");
    assert!(err.to_string().contains("IndexedDB"), "{err}");
}

#[wasm_bindgen_test]
async fn indexeddb_writes_use_strict_durability() {
    // Wrap IDBDatabase.prototype.transaction to record each readwrite transaction's
    // `durability` as the browser reports it (it only records: other tests are unaffected).
    js_sys::Function::new_no_args(
        r#"
        const proto = IDBDatabase.prototype;
        if (!proto.__wasmlnOriginalTransaction) {
            proto.__wasmlnOriginalTransaction = proto.transaction;
            globalThis.__wasmlnDurabilities = [];
            proto.transaction = function (...args) {
                const tx = proto.__wasmlnOriginalTransaction.apply(this, args);
                if (tx.mode === "readwrite") globalThis.__wasmlnDurabilities.push(tx.durability);
                return tx;
            };
        }
        "#,
    )
    .call0(&wasm_bindgen::JsValue::UNDEFINED)
    .unwrap();
    let name = unique_name("strict");
    let store = IndexedDbStore::open(&name).await.unwrap();
    store.write("strict", "", "k", vec![1]).await.unwrap();
    store.remove("strict", "", "k", false).await.unwrap();
    drop(store);
    IndexedDbStore::delete(&name).await.unwrap();
    let seen = js_sys::Reflect::get(&js_sys::global(), &"__wasmlnDurabilities".into()).unwrap();
    let seen: Vec<Option<String>> = js_sys::Array::from(&seen)
        .iter()
        .map(|d| d.as_string())
        .collect();
    assert!(seen.len() >= 2, "{seen:?}");
    assert!(
        seen.iter().all(|d| d.as_deref() == Some("strict")),
        "{seen:?}"
    );
}
