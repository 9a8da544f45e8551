//! wasm-bindgen bindings: the JavaScript face of the crate. Only conversions live here;
//! behaviour lives in the portable modules so it is tested natively too.

use wasm_bindgen::prelude::*;

use crate::{Error, Network};

/// The crate version (`getInfo().version` in JavaScript).
#[wasm_bindgen]
pub fn version() -> String {
    crate::VERSION.to_string()
}

/// Checks a network name and returns it in canonical form; throws an `LnError` with code
/// `INVALID_CONFIG` for anything else.
#[wasm_bindgen(js_name = parseNetwork)]
pub fn parse_network(name: &str) -> Result<String, JsValue> {
    name.parse::<Network>()
        .map(|n| n.as_str().to_string())
        .map_err(to_js_error)
}

/// Turns an [`Error`] into the JavaScript error the TypeScript wrapper rethrows as `LnError`:
/// a real `Error` (so it has a stack) named `LnError`, with a stable `code` property.
pub fn to_js_error(err: Error) -> JsValue {
    let js = js_sys::Error::new(&err.to_string());
    js.set_name("LnError");
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(
        &js,
        &JsValue::from_str("code"),
        &JsValue::from_str(err.code()),
    );
    js.into()
}
