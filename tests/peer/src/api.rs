//! The HTTP control API (see the crate docs for the table of endpoints).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use ldk_node::bitcoin::hashes::Hash as _;
use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::lightning::ln::channelmanager::PaymentId;
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::lightning::routing::gossip::ChannelUpdateInfo;
use ldk_node::lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescription, Description};
use ldk_node::lightning_types::payment::{PaymentHash, PaymentPreimage};
use ldk_node::payment::{
    ConfirmationStatus, PaymentDetails, PaymentDirection, PaymentKind, PaymentStatus,
};
use ldk_node::{Event, LightningBalance, Node, NodeError, PendingSweepBalance, UserChannelId};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::{watch, Mutex};

/// Shared state of the handlers.
#[derive(Clone)]
pub struct State {
    node: Arc<Node>,
    p2p_address: String,
    control_url: String,
    stop: watch::Sender<bool>,
    /// Serialises `/events/next` so one event is never handed to two callers.
    events: Arc<Mutex<()>>,
    /// The invoices the LNURL-pay server made.
    pub lnurl: crate::lnurl::Records,
}

impl State {
    /// The state for a running node.
    pub fn new(
        node: Arc<Node>,
        p2p_address: String,
        control_url: String,
        stop: watch::Sender<bool>,
    ) -> Self {
        State {
            node,
            p2p_address,
            control_url,
            stop,
            events: Arc::new(Mutex::new(())),
            lnurl: Default::default(),
        }
    }

    /// The node.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Runs a (possibly blocking) node call off the async workers.
    pub async fn blocking<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Node) -> T + Send + 'static,
    {
        blocking(self, f).await
    }
}

/// The control API's routes.
pub fn router(state: State) -> Router {
    Router::new()
        .route("/info", get(info))
        .route("/address", post(new_address))
        .route("/balances", get(balances))
        .route("/sync", post(sync))
        .route("/connect", post(connect))
        .route("/channels", get(list_channels).post(open_channel))
        .route("/channels/close", post(close_channel))
        .route("/invoice", post(invoice))
        .route("/pay", post(pay))
        .route("/claim", post(claim))
        .route("/keysend", post(keysend))
        .route("/payments", get(list_payments))
        .route("/payments/{id}", get(get_payment))
        .route("/events/next", get(next_event))
        .route("/graph", get(graph))
        .route("/rgs/snapshot/{timestamp}", get(rgs_snapshot))
        .route("/sign", post(sign))
        .route("/verify", post(verify))
        .route("/stop", post(stop))
        .merge(crate::lnurl::router())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such endpoint") })
        .layer(Extension(state))
}

/// An error answer: `{"error": "..."}` with a status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn node(context: &str, e: NodeError) -> Self {
        let name = format!("{e:?}");
        // ldk-node's `Invalid*` errors are about what the caller sent.
        let status = if name.starts_with("Invalid") {
            StatusCode::BAD_REQUEST
        } else if matches!(e, NodeError::NotRunning) {
            StatusCode::SERVICE_UNAVAILABLE
        } else if matches!(
            e,
            NodeError::InsufficientFunds | NodeError::DuplicatePayment
        ) {
            StatusCode::CONFLICT
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        Self::new(status, format!("{context}: {e} ({name})"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

type ApiResult = Result<Json<Value>, ApiError>;

fn body<T: DeserializeOwned>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(v)| v)
        .map_err(|e| ApiError::bad_request(format!("bad request body: {}", e.body_text())))
}

/// Runs a (possibly blocking) node call off the async workers.
async fn blocking<T, F>(state: &State, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Node) -> T + Send + 'static,
{
    let node = Arc::clone(&state.node);
    tokio::task::spawn_blocking(move || f(&node))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("task: {e}")))
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Decodes hex (either case); `None` when malformed.
pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect()
}

fn parse_node_id(s: &str) -> Result<PublicKey, ApiError> {
    PublicKey::from_str(s).map_err(|e| ApiError::bad_request(format!("invalid node_id: {e}")))
}

fn parse_socket_address(s: &str) -> Result<SocketAddress, ApiError> {
    SocketAddress::from_str(s)
        .map_err(|e| ApiError::bad_request(format!("invalid address {s:?}: {e:?}")))
}

fn parse_user_channel_id(s: &str) -> Result<UserChannelId, ApiError> {
    s.parse::<u128>()
        .map(UserChannelId)
        .map_err(|e| ApiError::bad_request(format!("invalid user_channel_id: {e}")))
}

// ---- info, wallet ----

async fn info(Extension(s): Extension<State>) -> ApiResult {
    let node = &s.node;
    let status = node.status();
    let peers: Vec<Value> = node
        .list_peers()
        .into_iter()
        .map(|p| {
            json!({
                "node_id": p.node_id.to_string(),
                "address": p.address.to_string(),
                "is_connected": p.is_connected,
                "is_persisted": p.is_persisted,
            })
        })
        .collect();
    Ok(Json(json!({
        "node_id": node.node_id().to_string(),
        "p2p_address": s.p2p_address,
        "control_url": s.control_url,
        "network": node.config().network.to_string(),
        "block_height": status.current_best_block.height,
        "block_hash": status.current_best_block.block_hash.to_string(),
        "channels": node.list_channels().len(),
        "peers": peers,
    })))
}

async fn new_address(Extension(s): Extension<State>) -> ApiResult {
    let address = blocking(&s, |n| n.onchain_payment().new_address())
        .await?
        .map_err(|e| ApiError::node("new address", e))?;
    Ok(Json(json!({ "address": address.to_string() })))
}

fn lightning_balance_json(b: &LightningBalance) -> Value {
    let (kind, channel_id, counterparty, amount) = match b {
        LightningBalance::ClaimableOnChannelClose {
            channel_id,
            counterparty_node_id,
            amount_satoshis,
            ..
        } => (
            "ClaimableOnChannelClose",
            channel_id,
            counterparty_node_id,
            amount_satoshis,
        ),
        LightningBalance::ClaimableAwaitingConfirmations {
            channel_id,
            counterparty_node_id,
            amount_satoshis,
            ..
        } => (
            "ClaimableAwaitingConfirmations",
            channel_id,
            counterparty_node_id,
            amount_satoshis,
        ),
        LightningBalance::ContentiousClaimable {
            channel_id,
            counterparty_node_id,
            amount_satoshis,
            ..
        } => (
            "ContentiousClaimable",
            channel_id,
            counterparty_node_id,
            amount_satoshis,
        ),
        LightningBalance::MaybeTimeoutClaimableHTLC {
            channel_id,
            counterparty_node_id,
            amount_satoshis,
            ..
        } => (
            "MaybeTimeoutClaimableHTLC",
            channel_id,
            counterparty_node_id,
            amount_satoshis,
        ),
        LightningBalance::MaybePreimageClaimableHTLC {
            channel_id,
            counterparty_node_id,
            amount_satoshis,
            ..
        } => (
            "MaybePreimageClaimableHTLC",
            channel_id,
            counterparty_node_id,
            amount_satoshis,
        ),
        LightningBalance::CounterpartyRevokedOutputClaimable {
            channel_id,
            counterparty_node_id,
            amount_satoshis,
        } => (
            "CounterpartyRevokedOutputClaimable",
            channel_id,
            counterparty_node_id,
            amount_satoshis,
        ),
    };
    json!({
        "type": kind,
        "channel_id": channel_id.to_string(),
        "counterparty_node_id": counterparty.to_string(),
        "amount_sat": amount,
    })
}

fn pending_sweep_json(b: &PendingSweepBalance) -> Value {
    let (kind, channel_id, amount) = match b {
        PendingSweepBalance::PendingBroadcast {
            channel_id,
            amount_satoshis,
        } => ("PendingBroadcast", channel_id, amount_satoshis),
        PendingSweepBalance::BroadcastAwaitingConfirmation {
            channel_id,
            amount_satoshis,
            ..
        } => ("BroadcastAwaitingConfirmation", channel_id, amount_satoshis),
        PendingSweepBalance::AwaitingThresholdConfirmations {
            channel_id,
            amount_satoshis,
            ..
        } => (
            "AwaitingThresholdConfirmations",
            channel_id,
            amount_satoshis,
        ),
    };
    json!({
        "type": kind,
        "channel_id": channel_id.map(|c| c.to_string()),
        "amount_sat": amount,
    })
}

async fn balances(Extension(s): Extension<State>) -> ApiResult {
    let b = blocking(&s, |n| n.list_balances()).await?;
    Ok(Json(json!({
        "onchain_total_sat": b.total_onchain_balance_sats,
        "spendable_onchain_sat": b.spendable_onchain_balance_sats,
        "anchor_reserve_sat": b.total_anchor_channels_reserve_sats,
        "lightning_sat": b.total_lightning_balance_sats,
        "lightning_claimable": b.lightning_balances.iter().map(lightning_balance_json).collect::<Vec<_>>(),
        "pending_sweeps": b.pending_balances_from_channel_closures.iter().map(pending_sweep_json).collect::<Vec<_>>(),
    })))
}

async fn sync(Extension(s): Extension<State>) -> ApiResult {
    blocking(&s, |n| n.sync_wallets())
        .await?
        .map_err(|e| ApiError::node("sync", e))?;
    Ok(Json(json!({})))
}

// ---- peers, channels ----

#[derive(Deserialize)]
struct ConnectReq {
    node_id: String,
    address: String,
    persist: Option<bool>,
}

async fn connect(
    Extension(s): Extension<State>,
    req: Result<Json<ConnectReq>, JsonRejection>,
) -> ApiResult {
    let req = body(req)?;
    let node_id = parse_node_id(&req.node_id)?;
    let address = parse_socket_address(&req.address)?;
    let persist = req.persist.unwrap_or(true);
    blocking(&s, move |n| n.connect(node_id, address, persist))
        .await?
        .map_err(|e| ApiError::node("connect", e))?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct OpenReq {
    node_id: String,
    address: String,
    amount_sat: u64,
    push_msat: Option<u64>,
    announce: Option<bool>,
}

async fn open_channel(
    Extension(s): Extension<State>,
    req: Result<Json<OpenReq>, JsonRejection>,
) -> ApiResult {
    let req = body(req)?;
    let node_id = parse_node_id(&req.node_id)?;
    let address = parse_socket_address(&req.address)?;
    let (amount, push) = (req.amount_sat, req.push_msat);
    let announce = req.announce.unwrap_or(false);
    let id = blocking(&s, move |n| {
        if announce {
            n.open_announced_channel(node_id, address, amount, push, None)
        } else {
            n.open_channel(node_id, address, amount, push, None)
        }
    })
    .await?
    .map_err(|e| ApiError::node("open channel", e))?;
    Ok(Json(json!({ "user_channel_id": id.0.to_string() })))
}

async fn list_channels(Extension(s): Extension<State>) -> ApiResult {
    let channels: Vec<Value> = s
        .node
        .list_channels()
        .into_iter()
        .map(|c| {
            json!({
                "channel_id": c.channel_id.to_string(),
                "user_channel_id": c.user_channel_id.0.to_string(),
                "counterparty_node_id": c.counterparty_node_id.to_string(),
                "capacity_sat": c.channel_value_sats,
                "outbound_msat": c.outbound_capacity_msat,
                "inbound_msat": c.inbound_capacity_msat,
                "is_outbound": c.is_outbound,
                "is_channel_ready": c.is_channel_ready,
                "is_usable": c.is_usable,
                "is_announced": c.is_announced,
                "confirmations": c.confirmations,
                "confirmations_required": c.confirmations_required,
                "force_close_spend_delay": c.force_close_spend_delay,
                "funding_txid": c.funding_txo.map(|o| o.txid.to_string()),
                "funding_vout": c.funding_txo.map(|o| o.vout),
                "short_channel_id": c.short_channel_id,
            })
        })
        .collect();
    Ok(Json(Value::Array(channels)))
}

#[derive(Deserialize)]
struct CloseReq {
    user_channel_id: String,
    counterparty_node_id: String,
    force: Option<bool>,
}

async fn close_channel(
    Extension(s): Extension<State>,
    req: Result<Json<CloseReq>, JsonRejection>,
) -> ApiResult {
    let req = body(req)?;
    let id = parse_user_channel_id(&req.user_channel_id)?;
    let counterparty = parse_node_id(&req.counterparty_node_id)?;
    let force = req.force.unwrap_or(false);
    blocking(&s, move |n| {
        if force {
            n.force_close_channel(&id, counterparty, None)
        } else {
            n.close_channel(&id, counterparty)
        }
    })
    .await?
    .map_err(|e| ApiError::node("close channel", e))?;
    Ok(Json(json!({})))
}

// ---- payments ----

#[derive(Deserialize)]
struct InvoiceReq {
    amount_msat: Option<u64>,
    description: Option<String>,
    expiry_secs: Option<u32>,
    /// A hold invoice for this hash (hex): the payment waits for `/claim` or `/fail`.
    payment_hash: Option<String>,
    /// Through a JIT channel of the `--lsps2-client` LSP.
    jit: Option<bool>,
    /// The most the LSP may take (msat; for a variable amount: ppm).
    max_lsp_fee_msat: Option<u64>,
}

async fn invoice(
    Extension(s): Extension<State>,
    req: Result<Json<InvoiceReq>, JsonRejection>,
) -> ApiResult {
    let req = body(req)?;
    let description = Description::new(req.description.unwrap_or_default())
        .map_err(|e| ApiError::bad_request(format!("invalid description: {e}")))?;
    let description = Bolt11InvoiceDescription::Direct(description);
    let expiry = req.expiry_secs.unwrap_or(3600);
    let amount = req.amount_msat;
    let hold = req.payment_hash.as_deref().map(parse_hash).transpose()?;
    let max_fee = req.max_lsp_fee_msat;
    if req.jit.unwrap_or(false) {
        if hold.is_some() {
            return Err(ApiError::bad_request(
                "jit invoices cannot be hold invoices here",
            ));
        }
        let invoice = blocking(&s, move |n| match amount {
            Some(msat) => {
                n.bolt11_payment()
                    .receive_via_jit_channel(msat, &description, expiry, max_fee)
            }
            None => n.bolt11_payment().receive_variable_amount_via_jit_channel(
                &description,
                expiry,
                max_fee,
            ),
        })
        .await?
        .map_err(|e| ApiError::node("create JIT invoice", e))?;
        return Ok(Json(json!({
            "invoice": invoice.to_string(),
            "payment_hash": hex(invoice.payment_hash().as_byte_array()),
        })));
    }
    let invoice = blocking(&s, move |n| match (amount, hold) {
        (Some(msat), Some(hash)) => {
            n.bolt11_payment()
                .receive_for_hash(msat, &description, expiry, hash)
        }
        (None, Some(_)) => Err(NodeError::InvalidAmount),
        (Some(msat), None) => n.bolt11_payment().receive(msat, &description, expiry),
        (None, None) => n
            .bolt11_payment()
            .receive_variable_amount(&description, expiry),
    })
    .await?
    .map_err(|e| ApiError::node("create invoice", e))?;
    Ok(Json(json!({
        "invoice": invoice.to_string(),
        "payment_hash": hex(invoice.payment_hash().as_byte_array()),
    })))
}

fn parse_32(what: &str, s: &str) -> Result<[u8; 32], ApiError> {
    hex_decode(s)
        .ok_or_else(|| ApiError::bad_request(format!("{what} is not hex")))?
        .try_into()
        .map_err(|_| ApiError::bad_request(format!("{what} is not 32 bytes")))
}

fn parse_hash(s: &str) -> Result<PaymentHash, ApiError> {
    parse_32("payment_hash", s).map(PaymentHash)
}

#[derive(Deserialize)]
struct ClaimReq {
    payment_hash: String,
    /// With a preimage: claim the held payment; without: fail it back.
    preimage: Option<String>,
    amount_msat: Option<u64>,
}

/// Settles a payment to a hold invoice (`/invoice` with `payment_hash`).
async fn claim(
    Extension(s): Extension<State>,
    req: Result<Json<ClaimReq>, JsonRejection>,
) -> ApiResult {
    let req = body(req)?;
    let hash = parse_hash(&req.payment_hash)?;
    let preimage = req
        .preimage
        .as_deref()
        .map(|p| parse_32("preimage", p).map(PaymentPreimage))
        .transpose()?;
    let amount = req.amount_msat.unwrap_or(0);
    blocking(&s, move |n| match preimage {
        Some(preimage) => n.bolt11_payment().claim_for_hash(hash, amount, preimage),
        None => n.bolt11_payment().fail_for_hash(hash),
    })
    .await?
    .map_err(|e| ApiError::node("claim", e))?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct PayReq {
    invoice: String,
    amount_msat: Option<u64>,
}

async fn pay(
    Extension(s): Extension<State>,
    req: Result<Json<PayReq>, JsonRejection>,
) -> ApiResult {
    let req = body(req)?;
    let invoice = Bolt11Invoice::from_str(req.invoice.trim())
        .map_err(|e| ApiError::bad_request(format!("invalid invoice: {e}")))?;
    let amount = req.amount_msat;
    let id = blocking(&s, move |n| match amount {
        Some(msat) => n.bolt11_payment().send_using_amount(&invoice, msat, None),
        None => n.bolt11_payment().send(&invoice, None),
    })
    .await?
    .map_err(|e| ApiError::node("pay", e))?;
    Ok(Json(json!({ "payment_id": hex(&id.0) })))
}

#[derive(Deserialize)]
struct KeysendReq {
    node_id: String,
    amount_msat: u64,
}

async fn keysend(
    Extension(s): Extension<State>,
    req: Result<Json<KeysendReq>, JsonRejection>,
) -> ApiResult {
    let req = body(req)?;
    let node_id = parse_node_id(&req.node_id)?;
    let amount = req.amount_msat;
    let id = blocking(&s, move |n| {
        n.spontaneous_payment().send(amount, node_id, None)
    })
    .await?
    .map_err(|e| ApiError::node("keysend", e))?;
    Ok(Json(json!({ "payment_id": hex(&id.0) })))
}

/// The kind-specific parts of a payment.
struct KindFields {
    kind: &'static str,
    hash: Option<[u8; 32]>,
    preimage: Option<[u8; 32]>,
    txid: Option<String>,
    confirmed: Option<bool>,
}

impl KindFields {
    fn lightning(kind: &'static str, hash: Option<[u8; 32]>, preimage: Option<[u8; 32]>) -> Self {
        KindFields {
            kind,
            hash,
            preimage,
            txid: None,
            confirmed: None,
        }
    }
}

fn payment_json(p: &PaymentDetails) -> Value {
    let KindFields {
        kind,
        hash,
        preimage,
        txid,
        confirmed,
    } = match &p.kind {
        PaymentKind::Onchain { txid, status } => KindFields {
            kind: "onchain",
            hash: None,
            preimage: None,
            txid: Some(txid.to_string()),
            confirmed: Some(matches!(status, ConfirmationStatus::Confirmed { .. })),
        },
        PaymentKind::Bolt11 { hash, preimage, .. } => {
            KindFields::lightning("bolt11", Some(hash.0), preimage.map(|p| p.0))
        }
        PaymentKind::Bolt11Jit { hash, preimage, .. } => {
            KindFields::lightning("bolt11_jit", Some(hash.0), preimage.map(|p| p.0))
        }
        PaymentKind::Bolt12Offer { hash, preimage, .. } => {
            KindFields::lightning("bolt12_offer", hash.map(|h| h.0), preimage.map(|p| p.0))
        }
        PaymentKind::Bolt12Refund { hash, preimage, .. } => {
            KindFields::lightning("bolt12_refund", hash.map(|h| h.0), preimage.map(|p| p.0))
        }
        PaymentKind::Spontaneous { hash, preimage } => {
            KindFields::lightning("spontaneous", Some(hash.0), preimage.map(|p| p.0))
        }
    };
    json!({
        "id": hex(&p.id.0),
        "kind": kind,
        "direction": match p.direction {
            PaymentDirection::Inbound => "inbound",
            PaymentDirection::Outbound => "outbound",
        },
        "status": match p.status {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::Failed => "failed",
        },
        "amount_msat": p.amount_msat,
        "fee_paid_msat": p.fee_paid_msat,
        "payment_hash": hash.map(|h| hex(&h)),
        "preimage": preimage.map(|p| hex(&p)),
        "txid": txid,
        "confirmed": confirmed,
        "updated_at": p.latest_update_timestamp,
    })
}

async fn list_payments(Extension(s): Extension<State>) -> ApiResult {
    let payments = blocking(&s, |n| n.list_payments()).await?;
    Ok(Json(Value::Array(
        payments.iter().map(payment_json).collect(),
    )))
}

async fn get_payment(Extension(s): Extension<State>, Path(id): Path<String>) -> ApiResult {
    let bytes: [u8; 32] = hex_decode(&id)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ApiError::bad_request("payment id must be 32 bytes of hex"))?;
    let p = blocking(&s, move |n| n.payment(&PaymentId(bytes)))
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "unknown payment"))?;
    Ok(Json(payment_json(&p)))
}

// ---- events ----

fn event_json(e: &Event) -> Value {
    let opt_hex = |b: Option<[u8; 32]>| b.map(|b| hex(&b));
    match e {
        Event::PaymentSuccessful {
            payment_id,
            payment_hash,
            payment_preimage,
            fee_paid_msat,
        } => json!({
            "type": "PaymentSuccessful",
            "payment_id": opt_hex(payment_id.map(|i| i.0)),
            "payment_hash": hex(&payment_hash.0),
            "payment_preimage": opt_hex(payment_preimage.map(|p| p.0)),
            "fee_paid_msat": fee_paid_msat,
        }),
        Event::PaymentFailed {
            payment_id,
            payment_hash,
            reason,
        } => json!({
            "type": "PaymentFailed",
            "payment_id": opt_hex(payment_id.map(|i| i.0)),
            "payment_hash": opt_hex(payment_hash.map(|h| h.0)),
            "reason": reason.map(|r| format!("{r:?}")),
        }),
        Event::PaymentReceived {
            payment_id,
            payment_hash,
            amount_msat,
            custom_records,
        } => json!({
            "type": "PaymentReceived",
            "payment_id": opt_hex(payment_id.map(|i| i.0)),
            "payment_hash": hex(&payment_hash.0),
            "amount_msat": amount_msat,
            "custom_records": custom_records
                .iter()
                .map(|r| json!({ "type": r.type_num, "value": hex(&r.value) }))
                .collect::<Vec<_>>(),
        }),
        Event::PaymentForwarded {
            prev_channel_id,
            next_channel_id,
            total_fee_earned_msat,
            outbound_amount_forwarded_msat,
            ..
        } => json!({
            "type": "PaymentForwarded",
            "prev_channel_id": prev_channel_id.to_string(),
            "next_channel_id": next_channel_id.to_string(),
            "total_fee_earned_msat": total_fee_earned_msat,
            "outbound_amount_forwarded_msat": outbound_amount_forwarded_msat,
        }),
        Event::PaymentClaimable {
            payment_id,
            payment_hash,
            claimable_amount_msat,
            claim_deadline,
            ..
        } => json!({
            "type": "PaymentClaimable",
            "payment_id": hex(&payment_id.0),
            "payment_hash": hex(&payment_hash.0),
            "claimable_amount_msat": claimable_amount_msat,
            "claim_deadline": claim_deadline,
        }),
        Event::ChannelPending {
            channel_id,
            user_channel_id,
            former_temporary_channel_id,
            counterparty_node_id,
            funding_txo,
        } => json!({
            "type": "ChannelPending",
            "channel_id": channel_id.to_string(),
            "user_channel_id": user_channel_id.0.to_string(),
            "former_temporary_channel_id": former_temporary_channel_id.to_string(),
            "counterparty_node_id": counterparty_node_id.to_string(),
            "funding_txid": funding_txo.txid.to_string(),
            "funding_vout": funding_txo.vout,
        }),
        Event::ChannelReady {
            channel_id,
            user_channel_id,
            counterparty_node_id,
            funding_txo,
        } => json!({
            "type": "ChannelReady",
            "channel_id": channel_id.to_string(),
            "user_channel_id": user_channel_id.0.to_string(),
            "counterparty_node_id": counterparty_node_id.map(|n| n.to_string()),
            "funding_txid": funding_txo.map(|o| o.txid.to_string()),
            "funding_vout": funding_txo.map(|o| o.vout),
        }),
        Event::ChannelClosed {
            channel_id,
            user_channel_id,
            counterparty_node_id,
            reason,
        } => json!({
            "type": "ChannelClosed",
            "channel_id": channel_id.to_string(),
            "user_channel_id": user_channel_id.0.to_string(),
            "counterparty_node_id": counterparty_node_id.map(|n| n.to_string()),
            "reason": reason.as_ref().map(|r| r.to_string()),
        }),
        Event::SplicePending {
            channel_id,
            user_channel_id,
            counterparty_node_id,
            new_funding_txo,
        } => json!({
            "type": "SplicePending",
            "channel_id": channel_id.to_string(),
            "user_channel_id": user_channel_id.0.to_string(),
            "counterparty_node_id": counterparty_node_id.to_string(),
            "funding_txid": new_funding_txo.txid.to_string(),
            "funding_vout": new_funding_txo.vout,
        }),
        Event::SpliceFailed {
            channel_id,
            user_channel_id,
            counterparty_node_id,
            abandoned_funding_txo,
        } => json!({
            "type": "SpliceFailed",
            "channel_id": channel_id.to_string(),
            "user_channel_id": user_channel_id.0.to_string(),
            "counterparty_node_id": counterparty_node_id.to_string(),
            "abandoned_funding_txid": abandoned_funding_txo.map(|o| o.txid.to_string()),
        }),
    }
}

#[derive(Deserialize)]
struct EventQuery {
    timeout_ms: Option<u64>,
}

async fn next_event(
    Extension(s): Extension<State>,
    Query(q): Query<EventQuery>,
) -> Result<Response, ApiError> {
    let _guard = s.events.lock().await;
    let timeout = Duration::from_millis(q.timeout_ms.unwrap_or(0).min(600_000));
    let event = match s.node.next_event() {
        Some(e) => e,
        None => match tokio::time::timeout(timeout, s.node.next_event_async()).await {
            Ok(e) => e,
            Err(_) => return Ok(StatusCode::NO_CONTENT.into_response()),
        },
    };
    let value = event_json(&event);
    blocking(&s, |n| n.event_handled())
        .await?
        .map_err(|e| ApiError::node("event_handled", e))?;
    Ok(Json(value).into_response())
}

// ---- graph ----

fn update_json(u: Option<&ChannelUpdateInfo>) -> Value {
    match u {
        None => Value::Null,
        Some(u) => json!({
            "enabled": u.enabled,
            "last_update": u.last_update,
            "cltv_expiry_delta": u.cltv_expiry_delta,
            "htlc_minimum_msat": u.htlc_minimum_msat,
            "htlc_maximum_msat": u.htlc_maximum_msat,
            "fee_base_msat": u.fees.base_msat,
            "fee_proportional_millionths": u.fees.proportional_millionths,
        }),
    }
}

/// The node's gossip graph: every node and every channel with both directions.
async fn graph(Extension(s): Extension<State>) -> ApiResult {
    let graph = s.node.network_graph();
    let mut nodes: Vec<String> = graph
        .list_nodes()
        .iter()
        .map(|n| hex(n.as_slice()))
        .collect();
    nodes.sort();
    let mut scids = graph.list_channels();
    scids.sort_unstable();
    let channels: Vec<Value> = scids
        .into_iter()
        .filter_map(|scid| graph.channel(scid).map(|c| (scid, c)))
        .map(|(scid, c)| {
            json!({
                "short_channel_id": scid,
                "node_one": hex(c.node_one.as_slice()),
                "node_two": hex(c.node_two.as_slice()),
                "capacity_sat": c.capacity_sats,
                "one_to_two": update_json(c.one_to_two.as_ref()),
                "two_to_one": update_json(c.two_to_one.as_ref()),
            })
        })
        .collect();
    Ok(Json(json!({ "nodes": nodes, "channels": channels })))
}

fn rgs_update(u: Option<&ChannelUpdateInfo>) -> Option<rgs_snapshot::ChannelUpdate> {
    u.map(|u| rgs_snapshot::ChannelUpdate {
        enabled: u.enabled,
        cltv_expiry_delta: u.cltv_expiry_delta,
        htlc_minimum_msat: u.htlc_minimum_msat,
        htlc_maximum_msat: u.htlc_maximum_msat,
        fee_base_msat: u.fees.base_msat,
        fee_proportional_millionths: u.fees.proportional_millionths,
    })
}

/// A full Rapid Gossip Sync snapshot of the node's graph, as of now; the client's last sync
/// timestamp (the path's last segment) is ignored.
async fn rgs_snapshot(
    Extension(s): Extension<State>,
    Path(_timestamp): Path<String>,
) -> Result<Response, ApiError> {
    let graph = s.node.network_graph();
    let channels = graph
        .list_channels()
        .into_iter()
        .filter_map(|scid| graph.channel(scid).map(|c| (scid, c)))
        .filter_map(|(scid, c)| {
            Some(rgs_snapshot::Channel {
                short_channel_id: scid,
                node_one: c.node_one.as_slice().try_into().ok()?,
                node_two: c.node_two.as_slice().try_into().ok()?,
                one_to_two: rgs_update(c.one_to_two.as_ref()),
                two_to_one: rgs_update(c.two_to_one.as_ref()),
            })
        })
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0);
    let bytes = rgs_snapshot::encode(
        &rgs_snapshot::Graph {
            chain_hash: rgs_snapshot::REGTEST_CHAIN_HASH,
            channels,
        },
        now,
    );
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/octet-stream")],
        bytes,
    )
        .into_response())
}

// ---- node message signing ----

#[derive(Deserialize)]
struct SignReq {
    message: String,
}

/// Signs `message` with the node key (LND's `signmessage` format: zbase32).
async fn sign(
    Extension(s): Extension<State>,
    req: Result<Json<SignReq>, JsonRejection>,
) -> ApiResult {
    let req = body(req)?;
    let signature = s.node.sign_message(req.message.as_bytes());
    Ok(Json(json!({ "signature": signature })))
}

#[derive(Deserialize)]
struct VerifyReq {
    message: String,
    signature: String,
    pubkey: String,
}

/// Whether `signature` is `pubkey`'s over `message`.
async fn verify(
    Extension(s): Extension<State>,
    req: Result<Json<VerifyReq>, JsonRejection>,
) -> ApiResult {
    let req = body(req)?;
    let pubkey = parse_node_id(&req.pubkey)?;
    let valid = s
        .node
        .verify_signature(req.message.as_bytes(), &req.signature, &pubkey);
    Ok(Json(json!({ "valid": valid })))
}

async fn stop(Extension(s): Extension<State>) -> ApiResult {
    let _ = s.stop.send(true);
    Ok(Json(json!({})))
}
