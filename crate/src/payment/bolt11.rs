//! BOLT11 invoices: receiving (our own invoices, stamped with the wall clock, DESIGN.md §6)
//! and paying.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use lightning::ln::channelmanager::{Bolt11PaymentError, RetryableSendFailure};
use lightning::ln::channelmanager::{
    PaymentId, RecentPaymentDetails, Retry, MIN_FINAL_CLTV_EXPIRY_DELTA,
};
use lightning::routing::router::{RouteHint, RouteHintHop, RouteParametersConfig};
use lightning::sign::{NodeSigner, Recipient};
use lightning::types::payment::PaymentHash;
use lightning::types::routing::RoutingFees;
use lightning_invoice::{Bolt11Invoice, Currency, InvoiceBuilder};
use serde::{Deserialize, Serialize};

use crate::bitcoin::hashes::{sha256, Hash};
use crate::bitcoin::hex::DisplayHex;
use crate::event::Event;
use crate::logger::log_at;
use crate::node::NodeInner;
use crate::payment::{PaymentDetails, PaymentDirection, PaymentKind, PaymentStatus};
use crate::{runtime, Error, Network};

/// How many times LDK retries a failed payment path.
pub const PAYMENT_RETRY_ATTEMPTS: u32 = 3;

/// A new invoice of ours.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceivedInvoice {
    /// The BOLT11 string.
    pub invoice: String,
    /// Its payment hash (also the payment's id), hex.
    pub payment_hash: String,
    /// Unix time it expires.
    pub expires_at: u64,
}

/// The currency prefix of `network`'s invoices.
pub fn currency(network: Network) -> Currency {
    Currency::from(network.to_bitcoin())
}

/// Parses a BOLT11 invoice, checking its signature: [`Error::InvalidInvoice`] otherwise.
pub fn parse_invoice(invoice: &str) -> Result<Bolt11Invoice, Error> {
    Bolt11Invoice::from_str(invoice.trim()).map_err(|e| Error::InvalidInvoice(format!("{e}")))
}

/// Receiving and paying BOLT11 invoices. Get one with [`crate::Node::bolt11_payment`].
pub struct Bolt11Payment {
    inner: Arc<NodeInner>,
}

impl Bolt11Payment {
    pub(crate) fn new(inner: Arc<NodeInner>) -> Self {
        Bolt11Payment { inner }
    }

    /// An invoice for `amount_msat`, valid `expiry_secs`. Refused with
    /// [`Error::NoInboundCapacity`] when our channels cannot receive that much.
    pub async fn receive(
        &self,
        amount_msat: u64,
        description: &str,
        expiry_secs: u32,
    ) -> Result<ReceivedInvoice, Error> {
        self.inner.check_running()?;
        if amount_msat == 0 {
            return Err(Error::InvalidConfig("the amount must be positive".into()));
        }
        let inbound: u64 = self
            .inner
            .channel_manager
            .list_channels()
            .iter()
            // HTLCs we sent that are still being removed will soon be the peer's side (a
            // payment that just succeeded), or ours again.
            .map(|c| {
                c.inbound_capacity_msat
                    + c.pending_outbound_htlcs
                        .iter()
                        .map(|h| h.amount_msat)
                        .sum::<u64>()
            })
            .sum();
        if inbound < amount_msat {
            return Err(Error::NoInboundCapacity(format!(
                "channels can receive {inbound} msat, the invoice asks {amount_msat}"
            )));
        }
        self.create(Some(amount_msat), description, expiry_secs)
            .await
    }

    /// An invoice the payer chooses the amount of.
    pub async fn receive_variable_amount(
        &self,
        description: &str,
        expiry_secs: u32,
    ) -> Result<ReceivedInvoice, Error> {
        self.create(None, description, expiry_secs).await
    }

    async fn create(
        &self,
        amount_msat: Option<u64>,
        description: &str,
        expiry_secs: u32,
    ) -> Result<ReceivedInvoice, Error> {
        let inner = &self.inner;
        inner.check_running()?;
        if expiry_secs == 0 {
            return Err(Error::InvalidConfig("the expiry must be positive".into()));
        }
        let (hash, secret) = inner
            .channel_manager
            .create_inbound_payment(amount_msat, expiry_secs, Some(MIN_FINAL_CLTV_EXPIRY_DELTA))
            .map_err(|()| Error::InvalidConfig("amount or expiry out of range".into()))?;
        let now = runtime::now();
        let mut builder = InvoiceBuilder::new(currency(inner.config.network))
            .description(description.to_string())
            .payment_hash(sha256::Hash::from_byte_array(hash.0))
            .payment_secret(secret)
            .duration_since_epoch(now)
            .min_final_cltv_expiry_delta(MIN_FINAL_CLTV_EXPIRY_DELTA.into())
            .expiry_time(Duration::from_secs(expiry_secs.into()))
            .basic_mpp();
        if let Some(amount) = amount_msat {
            builder = builder.amount_milli_satoshis(amount);
        }
        for hint in self.route_hints() {
            builder = builder.private_route(hint);
        }
        let raw = builder
            .build_raw()
            .map_err(|e| Error::InvalidConfig(format!("invoice: {e}")))?;
        let signature = inner
            .keys
            .sign_invoice(&raw, Recipient::Node)
            .map_err(|()| Error::Internal("signing the invoice failed".into()))?;
        let signed = raw
            .sign::<_, ()>(|_| Ok(signature))
            .map_err(|()| Error::Internal("signing the invoice failed".into()))?;
        let invoice = Bolt11Invoice::from_signed(signed)
            .map_err(|e| Error::Internal(format!("our invoice is invalid: {e}")))?;
        let id = hash.0.as_hex().to_string();
        let created = now.as_secs();
        inner
            .payments
            .upsert(PaymentDetails {
                invoice: Some(invoice.to_string()),
                ..PaymentDetails::pending(
                    id.clone(),
                    PaymentKind::Bolt11,
                    PaymentDirection::Inbound,
                    id.clone(),
                    amount_msat,
                    created,
                )
            })
            .await?;
        Ok(ReceivedInvoice {
            invoice: invoice.to_string(),
            payment_hash: id,
            expires_at: created + u64::from(expiry_secs),
        })
    }

    /// One hint per channel that can receive: the peer's hop to us, with its fees (our
    /// channels are private, so payers only find us through these).
    fn route_hints(&self) -> Vec<RouteHint> {
        self.inner
            .channel_manager
            .list_usable_channels()
            .into_iter()
            .filter_map(|c| {
                let info = c.counterparty.forwarding_info.as_ref()?;
                Some(RouteHint(vec![RouteHintHop {
                    src_node_id: c.counterparty.node_id,
                    short_channel_id: c.get_inbound_payment_scid()?,
                    fees: RoutingFees {
                        base_msat: info.fee_base_msat,
                        proportional_millionths: info.fee_proportional_millionths,
                    },
                    cltv_expiry_delta: info.cltv_expiry_delta,
                    htlc_minimum_msat: c.inbound_htlc_minimum_msat,
                    htlc_maximum_msat: c.inbound_htlc_maximum_msat,
                }]))
            })
            .collect()
    }

    /// Pays `invoice` and waits for the outcome. `amount_msat` is required for an invoice
    /// without an amount (and refused otherwise); `max_fee_msat` caps routing fees. Returns
    /// the succeeded payment, or [`Error::PaymentFailed`] / [`Error::NoRoute`].
    ///
    /// Refused before anything is sent: a malformed invoice ([`Error::InvalidInvoice`]),
    /// another network's ([`Error::WrongNetwork`]), an expired one
    /// ([`Error::InvoiceExpired`]), our own, and an amount above what our channels can send
    /// ([`Error::InsufficientFunds`]).
    pub async fn send(
        &self,
        invoice: &str,
        amount_msat: Option<u64>,
        max_fee_msat: Option<u64>,
    ) -> Result<PaymentDetails, Error> {
        let inner = &self.inner;
        inner.check_running()?;
        let invoice = parse_invoice(invoice)?;
        let network = inner.config.network;
        if invoice.currency() != currency(network) {
            return Err(Error::WrongNetwork(format!(
                "the invoice is for {:?}, this node runs on {network}",
                invoice.currency()
            )));
        }
        if invoice.would_expire(runtime::now()) {
            return Err(Error::InvoiceExpired);
        }
        if invoice.recover_payee_pub_key() == inner.node_id {
            return Err(Error::InvalidInvoice("this is our own invoice".into()));
        }
        let amount = match (invoice.amount_milli_satoshis(), amount_msat) {
            (Some(a), None) => a,
            (None, Some(a)) if a > 0 => a,
            (None, _) => {
                return Err(Error::InvalidInvoice(
                    "the invoice has no amount: give one".into(),
                ))
            }
            (Some(_), Some(_)) => {
                return Err(Error::InvalidInvoice(
                    "the invoice fixes the amount: give none".into(),
                ))
            }
        };
        let sendable: u64 = inner
            .channel_manager
            .list_usable_channels()
            .iter()
            .map(|c| c.next_outbound_htlc_limit_msat)
            .sum();
        if sendable < amount {
            return Err(Error::InsufficientFunds(format!(
                "channels can send {sendable} msat now, the payment needs {amount}"
            )));
        }
        let hash = PaymentHash(invoice.payment_hash().to_byte_array());
        let id = hash.0.as_hex().to_string();
        if let Some(existing) = inner.payments.get(&id) {
            if existing.direction == PaymentDirection::Outbound
                && existing.status != PaymentStatus::Failed
            {
                return Err(Error::PaymentFailed(format!(
                    "this invoice was already paid or is being paid ({:?})",
                    existing.status
                )));
            }
        }
        let config = RouteParametersConfig {
            max_total_routing_fee_msat: max_fee_msat,
            ..RouteParametersConfig::default()
        };
        let record = PaymentDetails {
            invoice: Some(invoice.to_string()),
            ..PaymentDetails::pending(
                id.clone(),
                PaymentKind::Bolt11,
                PaymentDirection::Outbound,
                id,
                Some(amount),
                runtime::now().as_secs(),
            )
        };
        send_recorded(inner, record, || {
            inner
                .channel_manager
                .pay_for_bolt11_invoice(
                    &invoice,
                    PaymentId(hash.0),
                    amount_msat,
                    config,
                    Retry::Attempts(PAYMENT_RETRY_ATTEMPTS),
                )
                .map_err(|e| match e {
                    Bolt11PaymentError::InvalidAmount => {
                        Error::InvalidInvoice("the amount does not suit the invoice".into())
                    }
                    Bolt11PaymentError::SendingFailed(f) => send_failure(f),
                })
        })
        .await
    }
}

/// Stores `record` (an outbound payment, Pending), only then hands the payment to LDK with
/// `send`, and waits for the outcome. The record first: if the tab dies right after LDK took
/// the payment, the next start finds it Pending and asks LDK what became of it. If `stop`
/// began during the write, or LDK refuses, the record is marked Failed (no event: the
/// caller gets the error).
pub(crate) async fn send_recorded(
    inner: &NodeInner,
    record: PaymentDetails,
    send: impl FnOnce() -> Result<(), Error>,
) -> Result<PaymentDetails, Error> {
    let id = record.id.clone();
    inner.payments.upsert(record).await?;
    if let Err(e) = inner.check_running().and_then(|()| send()) {
        let reason = e.to_string();
        if let Err(store_err) = inner
            .payments
            .update(&id, |p| {
                p.status = PaymentStatus::Failed;
                p.failure_reason = Some(reason);
            })
            .await
        {
            // Still Pending on disk: the next start sees LDK never had it and fails it.
            log_at!(
                inner.logger,
                Warn,
                "recording refused payment {id}: {store_err}"
            );
        }
        return Err(e);
    }
    // LDK's events are handled on this thread only after we yield: the outcome updates
    // the record we wrote.
    wait_for_outcome(inner, &id).await
}

/// At build, before any event is handled: outbound payments still Pending that LDK does not
/// know are marked Failed, with a `PaymentFailed` event. Mostly the tab died between our
/// record and LDK taking (or saving) the payment, so nothing left the node; LDK may also have
/// dropped a payment whose `PaymentFailed` it had queued but not yet delivered, hence a
/// reason that claims no more. Returns how many.
pub(crate) async fn fail_unknown_pending(inner: &NodeInner) -> Result<usize, Error> {
    let known: Vec<String> = inner
        .channel_manager
        .list_recent_payments()
        .into_iter()
        .map(|p| match p {
            RecentPaymentDetails::AwaitingInvoice { payment_id }
            | RecentPaymentDetails::Pending { payment_id, .. }
            | RecentPaymentDetails::Fulfilled { payment_id, .. }
            | RecentPaymentDetails::Abandoned { payment_id, .. } => {
                payment_id.0.as_hex().to_string()
            }
        })
        .collect();
    let lost: Vec<PaymentDetails> = inner
        .payments
        .list()
        .into_iter()
        .filter(|p| {
            p.direction == PaymentDirection::Outbound
                && p.status == PaymentStatus::Pending
                && !known.contains(&p.id)
        })
        .collect();
    for p in &lost {
        let reason = "interrupted: unknown to LDK after a restart".to_string();
        log_at!(inner.logger, Warn, "payment {}: {reason}", p.id);
        // The event first, as the event handler does: a stored final status means its
        // event is queued.
        inner
            .events
            .push(Event::PaymentFailed {
                payment_id: p.id.clone(),
                payment_hash: Some(p.payment_hash.clone()),
                reason: reason.clone(),
            })
            .await?;
        inner
            .payments
            .update(&p.id, |p| {
                p.status = PaymentStatus::Failed;
                p.failure_reason = Some(reason);
            })
            .await?;
    }
    Ok(lost.len())
}

pub(crate) fn send_failure(f: RetryableSendFailure) -> Error {
    match f {
        RetryableSendFailure::PaymentExpired => Error::InvoiceExpired,
        RetryableSendFailure::RouteNotFound => Error::NoRoute("no route to the payee".into()),
        RetryableSendFailure::DuplicatePayment => {
            Error::PaymentFailed("a payment with this id is already in flight".into())
        }
        RetryableSendFailure::OnionPacketSizeExceeded => {
            Error::PaymentFailed("the payment's onion is too large".into())
        }
    }
}

/// Waits until the payment `id` succeeded or failed (LDK's events update the store);
/// [`Error::PaymentPending`] if the node stops first.
pub(crate) async fn wait_for_outcome(inner: &NodeInner, id: &str) -> Result<PaymentDetails, Error> {
    loop {
        match inner.payments.get(id) {
            Some(p) if p.status == PaymentStatus::Succeeded => return Ok(p),
            Some(p) if p.status == PaymentStatus::Failed => {
                let reason = p.failure_reason.unwrap_or_default();
                return Err(if reason == "route not found" {
                    Error::NoRoute(reason)
                } else {
                    Error::PaymentFailed(reason)
                });
            }
            Some(_) => {}
            None => return Err(Error::Internal(format!("payment {id} vanished"))),
        }
        if inner.check_running().is_err() {
            // LDK has it: it may still settle. "Stopped" would read as "not sent".
            return Err(Error::PaymentPending(id.to_string()));
        }
        runtime::sleep(Duration::from_millis(10)).await;
    }
}
