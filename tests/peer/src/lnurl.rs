//! The merchant's LNURL-pay server ([LUD-06], Lightning addresses [LUD-16], success actions
//! [LUD-09]/[LUD-10], comments [LUD-12]): every peer serves it on its control API's port, so the
//! test network's nodes have Lightning addresses `user@127.0.0.1:PORT`.
//!
//! Every user exists. A few names misbehave on purpose, so a client's checks can be tested:
//! `badhash` (the invoice commits to another description hash), `badamount` (the invoice asks
//! for 1 sat more than requested), `urlaction` (a `url` success action), `aesaction` (an `aes`
//! success action: the message encrypted with the payment preimage).
//!
//! Browser wallets fetch these cross-origin, so every answer carries
//! `Access-Control-Allow-Origin: *` and `OPTIONS` preflights are answered (LUD-01).
//!
//! [LUD-06]: https://github.com/lnurl/luds/blob/luds/06.md
//! [LUD-16]: https://github.com/lnurl/luds/blob/luds/16.md
//! [LUD-09]: https://github.com/lnurl/luds/blob/luds/09.md
//! [LUD-10]: https://github.com/lnurl/luds/blob/luds/10.md
//! [LUD-12]: https://github.com/lnurl/luds/blob/luds/12.md

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aes::cipher::{block_padding::Pkcs7, BlockEncryptMut, KeyIvInit};
use axum::extract::{Path, Query};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use base64::Engine as _;
use ldk_node::bitcoin::hashes::{sha256, Hash as _};
use ldk_node::lightning::ln::channelmanager::PaymentId;
use ldk_node::lightning_invoice::{Bolt11InvoiceDescription, Sha256};
use ldk_node::payment::{PaymentKind, PaymentStatus};
use serde_json::{json, Value};

use crate::api::{hex, State};

/// The amounts the server accepts, msat (LUD-06 `minSendable`/`maxSendable`).
pub const MIN_SENDABLE_MSAT: u64 = 1_000;
pub const MAX_SENDABLE_MSAT: u64 = 1_000_000_000;
/// The longest comment accepted (LUD-12 `commentAllowed`), in characters.
pub const COMMENT_ALLOWED: usize = 140;
/// How long the callback's invoices stay valid.
const INVOICE_EXPIRY_SECS: u32 = 3600;

/// One callback answered with an invoice: what `/lnurlp/{user}/payments` lists.
#[derive(Clone)]
pub struct Record {
    user: String,
    payment_hash: [u8; 32],
    amount_msat: u64,
    comment: Option<String>,
}

/// The invoices the server made, in order.
pub type Records = Arc<Mutex<Vec<Record>>>;

/// The LNURL routes (merged into the control API's router, which adds the state).
pub fn router() -> Router {
    Router::new()
        .route(
            "/.well-known/lnurlp/{user}",
            get(well_known).options(preflight),
        )
        .route("/lnurlp/{user}/callback", get(callback).options(preflight))
        .route("/lnurlp/{user}/payments", get(payments).options(preflight))
        .route("/lnurlp/{user}/receipt", get(receipt).options(preflight))
        .layer(axum::middleware::map_response(cors))
}

async fn cors(mut res: Response) -> Response {
    res.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    res
}

async fn preflight() -> Response {
    (
        StatusCode::NO_CONTENT,
        [
            (header::ACCESS_CONTROL_ALLOW_METHODS, "GET, OPTIONS"),
            (header::ACCESS_CONTROL_ALLOW_HEADERS, "*"),
            (header::ACCESS_CONTROL_MAX_AGE, "600"),
        ],
    )
        .into_response()
}

/// LUD-06's error answer (HTTP 200).
fn lnurl_error(reason: impl Into<String>) -> Response {
    Json(json!({ "status": "ERROR", "reason": reason.into() })).into_response()
}

/// The `Host` the client used: the server's URLs and identifiers are built from it, so they
/// are what the client can reach.
fn host(headers: &HeaderMap) -> Result<String, String> {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .ok_or_else(|| "no Host header".to_string())
}

/// LUD-16 user names: `a-z0-9-_.`.
fn check_user(user: &str) -> Result<(), String> {
    if !user.is_empty()
        && user.len() <= 64
        && user
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
    {
        Ok(())
    } else {
        Err(format!("no such user {user:?}"))
    }
}

/// The metadata string (LUD-06): the invoice's description hash is its SHA-256, so it is built
/// once here and used byte for byte.
pub fn metadata(user: &str, host: &str) -> String {
    json!([
        [
            "text/plain",
            format!("Pay {user} on the wasm-ln test network")
        ],
        ["text/identifier", format!("{user}@{host}")],
    ])
    .to_string()
}

async fn well_known(Path(user): Path<String>, headers: HeaderMap) -> Response {
    let host = match host(&headers).and_then(|h| check_user(&user).map(|()| h)) {
        Ok(h) => h,
        Err(e) => return lnurl_error(e),
    };
    Json(json!({
        "tag": "payRequest",
        "callback": format!("http://{host}/lnurlp/{user}/callback"),
        "minSendable": MIN_SENDABLE_MSAT,
        "maxSendable": MAX_SENDABLE_MSAT,
        "metadata": metadata(&user, &host),
        "commentAllowed": COMMENT_ALLOWED,
    }))
    .into_response()
}

async fn callback(
    Extension(s): Extension<State>,
    Path(user): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let host = match host(&headers).and_then(|h| check_user(&user).map(|()| h)) {
        Ok(h) => h,
        Err(e) => return lnurl_error(e),
    };
    let Some(amount) = q.get("amount") else {
        return lnurl_error("amount (msat) is required");
    };
    let Ok(amount) = amount.parse::<u64>() else {
        return lnurl_error(format!("amount {amount:?} is not a whole number of msat"));
    };
    if !(MIN_SENDABLE_MSAT..=MAX_SENDABLE_MSAT).contains(&amount) {
        return lnurl_error(format!(
            "amount {amount} msat is outside {MIN_SENDABLE_MSAT}..={MAX_SENDABLE_MSAT} msat"
        ));
    }
    let comment = q.get("comment").filter(|c| !c.is_empty()).cloned();
    if let Some(c) = &comment {
        let n = c.chars().count();
        if n > COMMENT_ALLOWED {
            return lnurl_error(format!(
                "comment of {n} characters is longer than {COMMENT_ALLOWED}"
            ));
        }
    }

    let meta = metadata(&user, &host);
    let committed = match user.as_str() {
        // Any other hash: the client must refuse the invoice.
        "badhash" => sha256::Hash::hash(format!("{meta} (not the metadata)").as_bytes()),
        _ => sha256::Hash::hash(meta.as_bytes()),
    };
    let invoice_msat = match user.as_str() {
        "badamount" => amount + 1_000,
        _ => amount,
    };
    let description = Bolt11InvoiceDescription::Hash(Sha256(committed));
    let made = s
        .blocking(move |n| {
            n.bolt11_payment()
                .receive(invoice_msat, &description, INVOICE_EXPIRY_SECS)
        })
        .await;
    let invoice = match made {
        Ok(Ok(inv)) => inv,
        Ok(Err(e)) => return lnurl_error(format!("could not make an invoice: {e}")),
        Err(e) => return e.into_response(),
    };
    let payment_hash = invoice.payment_hash().to_byte_array();
    if let Ok(mut records) = s.lnurl.lock() {
        records.push(Record {
            user: user.clone(),
            payment_hash,
            amount_msat: amount,
            comment,
        });
    }

    let message = format!("Thanks! {user} got {} sat", amount / 1000);
    let success_action = match user.as_str() {
        "urlaction" => json!({
            "tag": "url",
            "description": "Your receipt",
            "url": format!("http://{host}/lnurlp/urlaction/receipt"),
        }),
        "aesaction" => {
            // ldk-node knows an auto-claimed invoice's preimage from the start.
            let preimage = s
                .node()
                .payment(&PaymentId(payment_hash))
                .and_then(|p| match p.kind {
                    PaymentKind::Bolt11 { preimage, .. } => preimage,
                    _ => None,
                });
            let Some(preimage) = preimage else {
                return lnurl_error("the invoice's preimage is unknown");
            };
            aes_action(&preimage.0, &payment_hash, &message)
        }
        _ => json!({ "tag": "message", "message": message }),
    };
    Json(json!({
        "pr": invoice.to_string(),
        "routes": [],
        "successAction": success_action,
    }))
    .into_response()
}

/// LUD-10: `message` encrypted with AES-256-CBC (PKCS#7 padding) under the preimage; the IV is
/// derived from the payment hash (unique per invoice), base64 both.
pub fn aes_action(preimage: &[u8; 32], payment_hash: &[u8; 32], message: &str) -> Value {
    let iv_hash = sha256::Hash::hash(&[b"lnurl-aes-iv".as_slice(), payment_hash].concat());
    let mut iv = [0u8; 16];
    iv.copy_from_slice(&iv_hash.to_byte_array()[..16]);
    let ciphertext = cbc::Encryptor::<aes::Aes256>::new(preimage.into(), &iv.into())
        .encrypt_padded_vec_mut::<Pkcs7>(message.as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD;
    json!({
        "tag": "aes",
        "description": "Your message, decrypted with the payment's preimage",
        "ciphertext": b64.encode(ciphertext),
        "iv": b64.encode(iv),
    })
}

/// The invoices made for `user`, oldest first, and whether each was paid.
async fn payments(Extension(s): Extension<State>, Path(user): Path<String>) -> Response {
    let records: Vec<Record> = match s.lnurl.lock() {
        Ok(r) => r.iter().filter(|r| r.user == user).cloned().collect(),
        Err(_) => Vec::new(),
    };
    let list: Vec<Value> = records
        .iter()
        .map(|r| {
            let paid = s
                .node()
                .payment(&PaymentId(r.payment_hash))
                .is_some_and(|p| p.status == PaymentStatus::Succeeded);
            json!({
                "payment_hash": hex(&r.payment_hash),
                "amount_msat": r.amount_msat,
                "comment": r.comment,
                "paid": paid,
            })
        })
        .collect();
    Json(Value::Array(list)).into_response()
}

/// The page `urlaction`'s success action points at.
async fn receipt(Path(user): Path<String>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("Receipt from {user} on the wasm-ln test network\n"),
    )
        .into_response()
}
