//! Browser tests: run in headless Chromium by `wasm-bindgen-test-runner`
//! (`pkg-scripts/test.sh`). They check that what must work in a browser does: the JS error
//! shape, the clock, randomness, and LDK without `std` (whose `std` clock would panic here).
#![cfg(target_arch = "wasm32")]

use lightning::sign::{KeysManager, NodeSigner, Recipient};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn version_is_the_crate_version() {
    assert_eq!(wasm_ln::wasm::version(), env!("CARGO_PKG_VERSION"));
}

#[wasm_bindgen_test]
fn network_names_parse_and_bad_ones_throw_ln_error() {
    assert_eq!(wasm_ln::wasm::parse_network("signet").unwrap(), "signet");
    let err = wasm_ln::wasm::parse_network("mainnet").unwrap_err();
    let err: js_sys::Error = err.into();
    assert_eq!(String::from(err.name()), "LnError");
    let code = js_sys::Reflect::get(&err, &JsValue::from_str("code")).unwrap();
    assert_eq!(code.as_string().as_deref(), Some("INVALID_CONFIG"));
    assert!(String::from(err.message()).contains("mainnet"));
}

#[wasm_bindgen_test]
fn clock_is_the_browser_clock() {
    let ours = wasm_ln::runtime::now().as_millis() as f64;
    let js = js_sys::Date::now();
    assert!(
        (ours - js).abs() < 5_000.0,
        "runtime::now {ours} vs Date.now {js}"
    );
}

#[wasm_bindgen_test]
fn randomness_comes_from_the_browser() {
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    getrandom::getrandom(&mut a).unwrap();
    getrandom::getrandom(&mut b).unwrap();
    assert_ne!(a, [0u8; 32]);
    assert_ne!(a, b);
}

#[wasm_bindgen_test]
fn ldk_keys_manager_runs_without_std() {
    // Explicit time, as the node will pass it: LDK never reads a clock in this build.
    let now = wasm_ln::runtime::now();
    let seed = [7u8; 32];
    let keys = KeysManager::new(&seed, now.as_secs(), now.subsec_nanos(), true);
    let id = keys.get_node_id(Recipient::Node).unwrap();
    // Same seed, same node id, whatever the time: the node id is what restores a wallet.
    let again = KeysManager::new(&seed, 1, 2, true)
        .get_node_id(Recipient::Node)
        .unwrap();
    assert_eq!(id, again);
    assert_eq!(id.serialize().len(), 33);
}
