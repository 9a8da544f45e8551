//! Plain-value helpers for the browser tests of `LightningNode` (`web_api.rs`, `web_node.rs`):
//! JSON in as JavaScript objects, fields and settled promises out.

use js_sys::{Promise, Reflect};
use serde::Serialize;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

/// A JSON value as the plain JavaScript object a page would pass.
pub fn js(v: serde_json::Value) -> JsValue {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .expect("to js")
}

pub fn get(v: &JsValue, field: &str) -> JsValue {
    Reflect::get(v, &field.into()).expect(field)
}

/// A string field; panics naming the field if it is not one.
pub fn text(v: &JsValue, field: &str) -> String {
    get(v, field)
        .as_string()
        .unwrap_or_else(|| panic!("{field}: {v:?}"))
}

/// What `p` resolves to; panics with the rejection.
pub async fn ok(p: Promise) -> JsValue {
    JsFuture::from(p)
        .await
        .unwrap_or_else(|e| panic!("rejected: {e:?}"))
}
