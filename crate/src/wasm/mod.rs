//! wasm-bindgen bindings: the JavaScript face of the crate. Only conversions live here;
//! behaviour lives in the portable modules so it is tested natively too.

mod lock;
mod node;
mod pagehide;
mod panic;

pub use lock::WebLock;
pub use node::LightningNode;
#[cfg(feature = "test-panic")]
pub use panic::test_panic;
pub use panic::POISONED_MESSAGE;

use wasm_bindgen::prelude::*;

use crate::{Error, Network};

/// The crate version (`getInfo().version` in JavaScript).
pub fn version() -> String {
    crate::VERSION.to_string()
}

/// [`version`] for JavaScript (refused, as every call, after a panic).
#[wasm_bindgen(js_name = version)]
pub fn version_js() -> Result<String, JsValue> {
    panic::enter()?;
    Ok(version())
}

/// Checks a network name and returns it in canonical form; throws an `LnError` with code
/// `INVALID_CONFIG` for anything else.
#[wasm_bindgen(js_name = parseNetwork)]
pub fn parse_network(name: &str) -> Result<String, JsValue> {
    panic::enter()?;
    name.parse::<Network>()
        .map(|n| n.as_str().to_string())
        .map_err(to_js_error)
}

/// Decodes a BOLT11 invoice without a node (`DecodedInvoice`); throws an `LnError` with code
/// `INVALID_INVOICE` when it is malformed or badly signed. Expiry and network are the
/// caller's to judge.
#[wasm_bindgen(js_name = decodeInvoice, unchecked_return_type = "DecodedInvoice")]
pub fn decode_invoice(invoice: &str) -> Result<JsValue, JsValue> {
    panic::enter()?;
    let decoded = crate::payment::decode_invoice(invoice).map_err(to_js_error)?;
    to_js(&decoded)
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

/// Reads a JavaScript argument object into `T`; a wrong shape is `INVALID_CONFIG` with
/// serde's words (which field, what was expected). It goes through a JSON value because
/// serde-wasm-bindgen reads only the fields a struct names: a misspelt option would be
/// dropped silently instead of refused by `deny_unknown_fields`.
pub fn from_js<T: serde::de::DeserializeOwned>(value: JsValue) -> Result<T, Error> {
    let mut json: serde_json::Value = serde_wasm_bindgen::from_value(value)
        .map_err(|e| Error::InvalidConfig(format!("not plain data: {e}")))?;
    drop_nulls(&mut json);
    serde_json::from_value(json).map_err(|e| Error::InvalidConfig(e.to_string()))
}

/// `{ force: undefined }` means "not given" in JavaScript, as an absent field does.
fn drop_nulls(value: &mut serde_json::Value) {
    if let serde_json::Value::Object(map) = value {
        map.retain(|_, v| !v.is_null());
        map.values_mut().for_each(drop_nulls);
    }
}

/// Turns a result into a plain JavaScript value: objects (not `Map`s), `null` for `None`,
/// numbers for amounts (one beyond 2^53 is an `INTERNAL` error rather than a rounded one).
pub fn to_js<T: serde::Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| to_js_error(Error::Internal(format!("result not representable: {e}"))))
}
