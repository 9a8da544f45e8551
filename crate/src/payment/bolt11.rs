//! BOLT11 invoices: receiving (our own invoices, stamped with the wall clock, DESIGN.md §6)
//! and paying.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use lightning::ln::channelmanager::{Bolt11PaymentError, RetryableSendFailure};
use lightning::ln::channelmanager::{PaymentId, RecentPaymentDetails, Retry};
use lightning::routing::router::{RouteHint, RouteHintHop, RouteParametersConfig};
use lightning::sign::{NodeSigner, Recipient};
use lightning::types::payment::PaymentHash;
use lightning::types::routing::RoutingFees;
use lightning_invoice::{Bolt11Invoice, Currency, InvoiceBuilder};
use serde::{Deserialize, Serialize};

use crate::bitcoin::hashes::{sha256, Hash};
use crate::bitcoin::hex::DisplayHex;
use crate::event::Event;
use crate::liquidity::{jit_invoice_expiry, JitHint, JIT_EXTRA_FINAL_CLTV_DELTA};
use crate::logger::log_at;
use crate::node::NodeInner;
use crate::payment::{PaymentDetails, PaymentDirection, PaymentKind, PaymentStatus};
use crate::{runtime, Error, Network};

/// The CLTV delta our invoices ask for on the last hop: a day of blocks. A payment to us can
/// be timed out by the payer only that long after it reaches us, and a node that is closed
/// most of the time needs that long to come back and claim it on-chain (LDK's minimum is 24).
pub const FINAL_CLTV_EXPIRY_DELTA: u16 = 144;

/// How many times LDK retries a failed payment path.
pub const PAYMENT_RETRY_ATTEMPTS: u32 = 3;

/// What [`Bolt11Payment::receive`] would do for an amount now, without making an invoice
/// ([`Bolt11Payment::receive_quote`]): a wallet shows the JIT fee before the user asks for
/// the invoice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiveQuote {
    /// The invoice would be paid through a JIT channel the LSP opens when the payment arrives.
    pub via_jit_channel: bool,
    /// The LSP's opening fee it would withhold (0 without a JIT channel).
    pub fee_msat: u64,
    /// Unix time the LSP's offer ends (the fee holds until then); `None` without a JIT channel.
    pub expires_at: Option<u64>,
}

/// A new invoice of ours.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceivedInvoice {
    /// The BOLT11 string.
    pub invoice: String,
    /// Its payment hash (also the payment's id), hex.
    pub payment_hash: String,
    /// Unix time it expires: a JIT invoice's may come sooner than asked, when the LSP's
    /// offer ends sooner.
    pub expires_at: u64,
    /// Whether it is paid through a JIT channel the LSP opens when the payment arrives.
    #[serde(default)]
    pub via_jit_channel: bool,
    /// The LSP's fee for that channel, withheld from the payment (0 without a JIT channel).
    #[serde(default)]
    pub fee_msat: u64,
}

/// The currency prefix of `network`'s invoices.
pub fn currency(network: Network) -> Currency {
    Currency::from(network.to_bitcoin())
}

/// Parses a BOLT11 invoice, checking its signature: [`Error::InvalidInvoice`] otherwise.
pub fn parse_invoice(invoice: &str) -> Result<Bolt11Invoice, Error> {
    Bolt11Invoice::from_str(invoice.trim()).map_err(|e| Error::InvalidInvoice(format!("{e}")))
}

/// What a BOLT11 invoice says, checked (signature) but not judged (expiry, network): the
/// caller decides. `decodeInvoice()` in JavaScript.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecodedInvoice {
    /// The network its currency prefix names, `None` for one we do not run on.
    pub network: Option<Network>,
    /// The amount asked for; `None` lets the payer choose.
    pub amount_msat: Option<u64>,
    /// The description, when given in clear (not as a hash).
    pub description: Option<String>,
    /// The SHA-256 of the description, hex, when given as a hash (LNURL-pay).
    pub description_hash: Option<String>,
    /// Hex.
    pub payment_hash: String,
    /// The payee's node id, hex.
    pub payee: String,
    /// Unix time it was created.
    pub created_at: u64,
    /// Unix time it expires.
    pub expires_at: u64,
    /// The CLTV delta the payee asks for its final hop.
    pub min_final_cltv_expiry_delta: u64,
    /// Private route hints: each a list of hops (node id, short channel id).
    pub route_hints: Vec<Vec<DecodedHop>>,
    /// The invoice's feature bits, as LDK names them (`Display` of its features).
    pub features: Option<String>,
}

/// One hop of a route hint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecodedHop {
    /// The hop's node id, hex.
    pub node_id: String,
    /// `BLOCKxTXxOUT`.
    pub short_channel_id: String,
    /// Base fee, msat.
    pub fee_base_msat: u32,
    /// Proportional fee, millionths.
    pub fee_proportional_millionths: u32,
    /// CLTV delta.
    pub cltv_expiry_delta: u16,
}

/// Decodes a BOLT11 invoice without a node: [`Error::InvalidInvoice`] when malformed or
/// badly signed.
pub fn decode_invoice(invoice: &str) -> Result<DecodedInvoice, Error> {
    use lightning_invoice::Bolt11InvoiceDescriptionRef;
    let inv = parse_invoice(invoice)?;
    let network = Network::ALL
        .into_iter()
        .find(|n| currency(*n) == inv.currency());
    let (description, description_hash) = match inv.description() {
        Bolt11InvoiceDescriptionRef::Direct(d) => (Some(d.to_string()), None),
        Bolt11InvoiceDescriptionRef::Hash(h) => (None, Some(h.0.to_string())),
    };
    let scid = |id: u64| format!("{}x{}x{}", id >> 40, (id >> 16) & 0xff_ffff, id & 0xffff);
    let route_hints = inv
        .route_hints()
        .iter()
        .map(|hint| {
            hint.0
                .iter()
                .map(|h| DecodedHop {
                    node_id: h.src_node_id.to_string(),
                    short_channel_id: scid(h.short_channel_id),
                    fee_base_msat: h.fees.base_msat,
                    fee_proportional_millionths: h.fees.proportional_millionths,
                    cltv_expiry_delta: h.cltv_expiry_delta,
                })
                .collect()
        })
        .collect();
    let created = inv.duration_since_epoch();
    Ok(DecodedInvoice {
        network,
        amount_msat: inv.amount_milli_satoshis(),
        description,
        description_hash,
        payment_hash: inv.payment_hash().to_string(),
        payee: inv.recover_payee_pub_key().to_string(),
        created_at: created.as_secs(),
        expires_at: created.saturating_add(inv.expiry_time()).as_secs(),
        min_final_cltv_expiry_delta: inv.min_final_cltv_expiry_delta(),
        route_hints,
        features: inv.features().map(|f| f.to_string()),
    })
}

/// 32 bytes from 64 hex digits, or [`Error::InvalidConfig`] naming `what`.
fn parse_32(what: &str, hex: &str) -> Result<[u8; 32], Error> {
    <[u8; 32] as crate::bitcoin::hex::FromHex>::from_hex(hex)
        .map_err(|e| Error::InvalidConfig(format!("{what} is not 32 bytes of hex: {e}")))
}

/// Receiving and paying BOLT11 invoices. Get one with [`crate::Node::bolt11_payment`].
pub struct Bolt11Payment {
    inner: Arc<NodeInner>,
}

impl Bolt11Payment {
    pub(crate) fn new(inner: Arc<NodeInner>) -> Self {
        Bolt11Payment { inner }
    }

    /// An invoice for `amount_msat`, valid `expiry_secs`: [`Self::receive_with_max_fee`]
    /// with the default fee limit.
    pub async fn receive(
        &self,
        amount_msat: u64,
        description: &str,
        expiry_secs: u32,
    ) -> Result<ReceivedInvoice, Error> {
        self.receive_with_max_fee(amount_msat, description, expiry_secs, None)
            .await
    }

    /// An invoice for `amount_msat`, valid `expiry_secs`, over what suits: our channels when
    /// they can receive the amount (no fee); else, when an LSP is configured, a JIT channel
    /// ([`Self::receive_via_jit_channel`], whose fee must not exceed `max_fee_msat`, by
    /// default [`crate::liquidity::default_max_fee_msat`]); else
    /// [`Error::NoInboundCapacity`]. The result says which (`via_jit_channel`, `fee_msat`).
    pub async fn receive_with_max_fee(
        &self,
        amount_msat: u64,
        description: &str,
        expiry_secs: u32,
        max_fee_msat: Option<u64>,
    ) -> Result<ReceivedInvoice, Error> {
        self.inner.check_running()?;
        if amount_msat == 0 {
            return Err(Error::InvalidConfig("the amount must be positive".into()));
        }
        match self.check_inbound(amount_msat) {
            Ok(()) => {
                self.create(Some(amount_msat), description, expiry_secs, None, None)
                    .await
            }
            Err(e) if self.inner.lsp.is_none() => Err(e),
            Err(_) => {
                self.receive_via_jit_channel(amount_msat, description, expiry_secs, max_fee_msat)
                    .await
            }
        }
    }

    /// An invoice for `amount_msat` paid through a JIT channel (LSPS2): the LSP opens a
    /// channel to us when the payment arrives and withholds its opening fee from it, so
    /// `amount_msat − fee_msat` arrives. Works with no channel and no coins at all.
    ///
    /// The LSP (connected first, at its configured address) quotes its fee; the cheapest
    /// offer for this amount is taken ([`crate::liquidity::cheapest_offer`]), among those
    /// valid for the whole `expiry_secs` if any is; the invoice never outlives the offer, so
    /// it may expire sooner than asked (`expires_at` says when). A quote above
    /// `max_fee_msat` (default [`crate::liquidity::default_max_fee_msat`]: 5,000 sat + 1 %,
    /// at most half the amount) is refused with [`Error::FeeTooHigh`] before anything is
    /// bought or stored. The quote is kept with the invoice's payment: an LSP that withholds
    /// more is failed back.
    ///
    /// Errors: [`Error::InvalidConfig`] without an LSP (see `Builder::set_lsp`) or when the
    /// LSP does not know our token; [`Error::PeerUnreachable`] when the LSP cannot be
    /// reached or does not answer within [`crate::liquidity::LSP_REQUEST_TIMEOUT`];
    /// [`Error::NoInboundCapacity`] when no offer suits the amount or the LSP refuses.
    pub async fn receive_via_jit_channel(
        &self,
        amount_msat: u64,
        description: &str,
        expiry_secs: u32,
        max_fee_msat: Option<u64>,
    ) -> Result<ReceivedInvoice, Error> {
        let inner = &self.inner;
        inner.check_running()?;
        inner.check_storage()?;
        if amount_msat == 0 {
            return Err(Error::InvalidConfig("the amount must be positive".into()));
        }
        if expiry_secs == 0 {
            return Err(Error::InvalidConfig("the expiry must be positive".into()));
        }
        let (
            lsp,
            crate::liquidity::JitOffer {
                fee_msat,
                params,
                expiry_secs,
            },
        ) = self
            .jit_offer(amount_msat, expiry_secs, max_fee_msat)
            .await?;
        let hint = lsp.buy(inner, amount_msat, params, fee_msat).await?;
        let invoice = self
            .create(
                Some(amount_msat),
                description,
                expiry_secs,
                None,
                Some(hint),
            )
            .await?;
        // The LSP opens the channel over our connection: keep it up (the reconnect loop)
        // until then; the channel's peer is remembered anyway once it exists, and the
        // reconnect loop dials the configured LSP regardless. So a failed write only costs
        // that: the invoice, bought and stored, is returned all the same.
        if let Err(e) = inner
            .peers
            .upsert(crate::peer_store::PeerRecord {
                node_id: lsp.node_id.to_string(),
                address: lsp.address.to_string(),
            })
            .await
        {
            log_at!(inner.logger, Warn, "remembering the LSP as a peer: {e}");
        }
        log_at!(
            inner.logger,
            Info,
            "JIT invoice {} for {amount_msat} msat, LSP fee {fee_msat} msat",
            invoice.payment_hash
        );
        Ok(invoice)
    }

    /// The LSP's offer a JIT invoice for `amount_msat` valid `expiry_secs` would buy: its
    /// cheapest suitable one ([`crate::liquidity::cheapest_offer`]), within `max_fee_msat`
    /// (default [`crate::liquidity::default_max_fee_msat`]) or [`Error::FeeTooHigh`].
    /// Connects to the LSP and asks for its fee menu; buys and stores nothing.
    async fn jit_offer(
        &self,
        amount_msat: u64,
        expiry_secs: u32,
        max_fee_msat: Option<u64>,
    ) -> Result<(&crate::liquidity::LspClient, crate::liquidity::JitOffer), Error> {
        let inner = &self.inner;
        let lsp = inner.lsp.as_deref().ok_or_else(|| {
            Error::InvalidConfig("no LSP is configured: JIT channels need one".into())
        })?;
        crate::node::connect_inner(inner, lsp.node_id, &lsp.address).await?;
        let menu = lsp.opening_fee_menu(inner).await?;
        let offer = crate::liquidity::cheapest_offer(
            &menu,
            amount_msat,
            runtime::now().as_secs(),
            expiry_secs,
            inner.config.our_to_self_delay,
        )?;
        let limit =
            max_fee_msat.unwrap_or_else(|| crate::liquidity::default_max_fee_msat(amount_msat));
        if offer.fee_msat > limit {
            return Err(Error::FeeTooHigh(format!(
                "the LSP asks {} msat to open a channel for {amount_msat} msat, \
                 above the limit of {limit} msat",
                offer.fee_msat
            )));
        }
        Ok((lsp, offer))
    }

    /// What [`Self::receive_with_max_fee`] would do for `amount_msat` now, with no invoice
    /// made and nothing bought or stored: our channels can take it (`via_jit_channel: false`,
    /// no fee), or the LSP's offer it would buy (its fee and when the offer ends; the LSP is
    /// connected and asked for its current fee menu), with the same errors:
    /// [`Error::NoInboundCapacity`] without enough inbound capacity and without an LSP (or
    /// when no offer suits), [`Error::FeeTooHigh`] above `max_fee_msat` (default
    /// [`crate::liquidity::default_max_fee_msat`]), [`Error::PeerUnreachable`] when the LSP
    /// does not answer. `expiry_secs` is the invoice's (the offer must cover it if one can).
    /// The LSP may change its menu before the invoice is made: the invoice's `fee_msat` is
    /// the one that counts.
    pub async fn receive_quote(
        &self,
        amount_msat: u64,
        expiry_secs: u32,
        max_fee_msat: Option<u64>,
    ) -> Result<ReceiveQuote, Error> {
        self.inner.check_running()?;
        if amount_msat == 0 {
            return Err(Error::InvalidConfig("the amount must be positive".into()));
        }
        if expiry_secs == 0 {
            return Err(Error::InvalidConfig("the expiry must be positive".into()));
        }
        match self.check_inbound(amount_msat) {
            Ok(()) => Ok(ReceiveQuote {
                via_jit_channel: false,
                fee_msat: 0,
                expires_at: None,
            }),
            Err(e) if self.inner.lsp.is_none() => Err(e),
            Err(_) => {
                let (_, offer) = self
                    .jit_offer(amount_msat, expiry_secs, max_fee_msat)
                    .await?;
                Ok(ReceiveQuote {
                    via_jit_channel: true,
                    fee_msat: offer.fee_msat,
                    expires_at: Some(crate::liquidity::valid_until_secs(&offer.params)),
                })
            }
        }
    }

    /// An invoice the payer chooses the amount of.
    pub async fn receive_variable_amount(
        &self,
        description: &str,
        expiry_secs: u32,
    ) -> Result<ReceivedInvoice, Error> {
        self.create(None, description, expiry_secs, None, None)
            .await
    }

    /// A hold invoice for `payment_hash` (hex), whose preimage only the caller knows: a
    /// payment to it waits (an [`Event::PaymentClaimable`]) until
    /// [`Self::claim_for_hash`] takes it or [`Self::fail_for_hash`] returns it, which must
    /// happen before its claim deadline. For escrow-like flows; a wallet receiving a payment
    /// wants [`Self::receive`].
    pub async fn receive_for_hash(
        &self,
        amount_msat: u64,
        description: &str,
        expiry_secs: u32,
        payment_hash: &str,
    ) -> Result<ReceivedInvoice, Error> {
        self.inner.check_running()?;
        let hash = PaymentHash(parse_32("payment hash", payment_hash)?);
        // Records are kept under lower-case hex.
        let payment_hash = hash.0.as_hex().to_string();
        if amount_msat == 0 {
            return Err(Error::InvalidConfig("the amount must be positive".into()));
        }
        if self.inner.payments.get(&payment_hash).is_some() {
            return Err(Error::InvalidConfig(format!(
                "payment hash {payment_hash} is already in use"
            )));
        }
        self.check_inbound(amount_msat)?;
        self.create(
            Some(amount_msat),
            description,
            expiry_secs,
            Some(hash),
            None,
        )
        .await
    }

    /// Takes a payment waiting on a hold invoice with its `preimage` (hex), after its
    /// [`Event::PaymentClaimable`]; a [`Event::PaymentReceived`] follows.
    /// [`Error::InvalidConfig`] when the preimage is not that of the hash, or no payment to
    /// the invoice waits (none arrived yet, or it was settled, failed back, or given up at
    /// its claim deadline).
    pub async fn claim_for_hash(&self, payment_hash: &str, preimage: &str) -> Result<(), Error> {
        self.inner.check_running()?;
        let hash = parse_32("payment hash", payment_hash)?;
        let payment_hash = &hash.as_hex().to_string();
        let preimage = parse_32("preimage", preimage)?;
        if sha256::Hash::hash(&preimage).to_byte_array() != hash {
            return Err(Error::InvalidConfig(
                "the preimage is not that of the payment hash".into(),
            ));
        }
        self.held(payment_hash)?;
        // Kept first: LDK's claim event of a hold invoice does not carry it.
        self.inner
            .payments
            .update(payment_hash, |p| {
                p.preimage = Some(preimage.as_hex().to_string())
            })
            .await?;
        self.inner
            .channel_manager
            .claim_funds(lightning::types::payment::PaymentPreimage(preimage));
        Ok(())
    }

    /// Returns a payment waiting on a hold invoice to its payer; the invoice is failed.
    pub async fn fail_for_hash(&self, payment_hash: &str) -> Result<(), Error> {
        self.inner.check_running()?;
        let hash = PaymentHash(parse_32("payment hash", payment_hash)?);
        let payment_hash = &hash.0.as_hex().to_string();
        self.held(payment_hash)?;
        self.inner.channel_manager.fail_htlc_backwards(&hash);
        self.inner
            .payments
            .update(payment_hash, |p| {
                p.status = PaymentStatus::Failed;
                p.claimable_amount_msat = None;
                p.failure_reason = Some("failed back by the receiver".into());
            })
            .await?;
        Ok(())
    }

    /// The record of a hold invoice whose payment arrived and waits.
    fn held(&self, payment_hash: &str) -> Result<PaymentDetails, Error> {
        self.inner
            .payments
            .get(payment_hash)
            .filter(|p| {
                p.direction == PaymentDirection::Inbound
                    && p.status == PaymentStatus::Pending
                    && p.claimable_amount_msat.is_some()
            })
            .ok_or_else(|| {
                Error::InvalidConfig(format!("no payment to {payment_hash} waits to be claimed"))
            })
    }

    /// [`Error::NoInboundCapacity`] when our channels cannot receive `amount_msat`.
    fn check_inbound(&self, amount_msat: u64) -> Result<(), Error> {
        let inbound: u64 = self
            .inner
            .channel_manager
            .list_channels()
            .iter()
            // HTLCs we sent that are still being removed will soon be the peer's side (a
            // payment that just succeeded), or ours again.
            .map(|c| {
                let capacity = c.inbound_capacity_msat
                    + c.pending_outbound_htlcs
                        .iter()
                        .map(|h| h.amount_msat)
                        .sum::<u64>();
                // What the channel's own limits let the peer send us, not just its balance.
                capacity.min(c.inbound_htlc_maximum_msat.unwrap_or(u64::MAX))
            })
            .sum();
        if inbound < amount_msat {
            return Err(Error::NoInboundCapacity(format!(
                "channels can receive {inbound} msat, the invoice asks {amount_msat}"
            )));
        }
        Ok(())
    }

    async fn create(
        &self,
        amount_msat: Option<u64>,
        description: &str,
        expiry_secs: u32,
        for_hash: Option<PaymentHash>,
        jit: Option<JitHint>,
    ) -> Result<ReceivedInvoice, Error> {
        let inner = &self.inner;
        inner.check_running()?;
        if expiry_secs == 0 {
            return Err(Error::InvalidConfig("the expiry must be positive".into()));
        }
        let now = runtime::now();
        // A JIT invoice must not outlive the LSP's offer (bLIP-52; the offer was chosen for
        // this expiry, `buy` took a moment since).
        let expiry_secs = match &jit {
            Some(j) => match jit_invoice_expiry(j.valid_until, now.as_secs(), expiry_secs) {
                0 => {
                    return Err(Error::NoInboundCapacity(
                        "the LSP's offer expired while we bought the channel".into(),
                    ))
                }
                e => e,
            },
            None => expiry_secs,
        };
        // LSPS2 asks the client's invoice for 2 blocks more than its usual final delta: the
        // LSP's forward over the new channel may take a block or two. That is slack for the
        // payer to add, not for us to demand: the payment is registered with our usual delta
        // (LDK fails an HTLC with less than the registered delta left), so a block found
        // while the LSP opens the channel does not fail a payment it is about to forward.
        let invoice_cltv_delta = if jit.is_some() {
            FINAL_CLTV_EXPIRY_DELTA + JIT_EXTRA_FINAL_CLTV_DELTA
        } else {
            FINAL_CLTV_EXPIRY_DELTA
        };
        let final_cltv_delta = FINAL_CLTV_EXPIRY_DELTA;
        let out_of_range = |()| Error::InvalidConfig("amount or expiry out of range".into());
        let (hash, secret) = match for_hash {
            Some(hash) => (
                hash,
                inner
                    .channel_manager
                    .create_inbound_payment_for_hash(
                        hash,
                        amount_msat,
                        expiry_secs,
                        Some(final_cltv_delta),
                    )
                    .map_err(out_of_range)?,
            ),
            None => inner
                .channel_manager
                .create_inbound_payment(amount_msat, expiry_secs, Some(final_cltv_delta))
                .map_err(out_of_range)?,
        };
        let mut builder = InvoiceBuilder::new(currency(inner.config.network))
            .description(description.to_string())
            .payment_hash(sha256::Hash::from_byte_array(hash.0))
            .payment_secret(secret)
            .duration_since_epoch(now)
            .min_final_cltv_expiry_delta(invoice_cltv_delta.into())
            .expiry_time(Duration::from_secs(expiry_secs.into()))
            .basic_mpp();
        if let Some(amount) = amount_msat {
            builder = builder.amount_milli_satoshis(amount);
        }
        match &jit {
            // The LSP's intercept scid: only it can take the payment to us (no fee on the
            // hop: the LSP takes its fee from the payment).
            Some(j) => {
                builder = builder.private_route(RouteHint(vec![RouteHintHop {
                    src_node_id: j.lsp_node_id,
                    short_channel_id: j.intercept_scid,
                    fees: RoutingFees {
                        base_msat: 0,
                        proportional_millionths: 0,
                    },
                    cltv_expiry_delta: j.cltv_expiry_delta,
                    htlc_minimum_msat: None,
                    htlc_maximum_msat: None,
                }]))
            }
            None => {
                for hint in self.route_hints() {
                    builder = builder.private_route(hint);
                }
            }
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
                lsp_fee_limit_msat: jit.map(|j| j.fee_msat),
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
            via_jit_channel: jit.is_some(),
            fee_msat: jit.map_or(0, |j| j.fee_msat),
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
    /// the succeeded payment, or [`Error::PaymentFailed`] / [`Error::NoRoute`] (saying why:
    /// the payee is not in the graph, or no path has the capacity) / [`Error::FeeTooHigh`]
    /// (every route costs more than `max_fee_msat`, default 1 % + 50 sat).
    ///
    /// Refused before anything is sent: a malformed invoice ([`Error::InvalidInvoice`]),
    /// another network's ([`Error::WrongNetwork`]), an expired one
    /// ([`Error::InvoiceExpired`]), our own, one whose payment hash is that of a payment to
    /// us ([`Error::InvalidInvoice`]), and an amount above what our channels can send
    /// ([`Error::InsufficientFunds`]).
    pub async fn send(
        &self,
        invoice: &str,
        amount_msat: Option<u64>,
        max_fee_msat: Option<u64>,
    ) -> Result<PaymentDetails, Error> {
        let inner = &self.inner;
        inner.check_running()?;
        inner.check_storage()?;
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
            // Its record is that of a payment to us: paying would overwrite it (one record
            // per id), and buy a preimage we already hold.
            if existing.direction == PaymentDirection::Inbound {
                return Err(Error::InvalidInvoice(
                    "its payment hash is that of a payment to this node".into(),
                ));
            }
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
                    Bolt11PaymentError::SendingFailed(RetryableSendFailure::RouteNotFound) => {
                        crate::graph::no_route_error(inner, &invoice, amount, max_fee_msat)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitcoin::secp256k1::{Secp256k1, SecretKey};
    use lightning::types::payment::PaymentSecret;

    /// A signed regtest invoice from a fixed key, with one route hint.
    fn invoice(amount_msat: Option<u64>, hashed_description: bool) -> (String, String) {
        let secp = Secp256k1::new();
        let key = SecretKey::from_slice(&[7; 32]).unwrap();
        let payee = key.public_key(&secp).to_string();
        let b = InvoiceBuilder::new(Currency::Regtest)
            .payment_hash(sha256::Hash::from_byte_array([3; 32]))
            .payment_secret(PaymentSecret([4; 32]))
            .duration_since_epoch(Duration::from_secs(1_700_000_000))
            .min_final_cltv_expiry_delta(144)
            .expiry_time(Duration::from_secs(600))
            .basic_mpp()
            .private_route(RouteHint(vec![RouteHintHop {
                src_node_id: key.public_key(&secp),
                short_channel_id: (101 << 40) | (2 << 16) | 1,
                fees: RoutingFees {
                    base_msat: 1000,
                    proportional_millionths: 10,
                },
                cltv_expiry_delta: 40,
                htlc_minimum_msat: None,
                htlc_maximum_msat: None,
            }]));
        let b = if let Some(a) = amount_msat {
            b.amount_milli_satoshis(a)
        } else {
            b
        };
        let inv = if hashed_description {
            b.description_hash(sha256::Hash::hash(b"{\"metadata\":1}"))
                .build_signed(|m| secp.sign_ecdsa_recoverable(m, &key))
        } else {
            b.description("Coffee".into())
                .build_signed(|m| secp.sign_ecdsa_recoverable(m, &key))
        };
        (inv.unwrap().to_string(), payee)
    }

    #[test]
    fn decodes_what_an_invoice_says() {
        let (inv, payee) = invoice(Some(21_000), false);
        let d = decode_invoice(&format!("  {inv}\n")).unwrap();
        assert_eq!(d.network, Some(Network::Regtest));
        assert_eq!(d.amount_msat, Some(21_000));
        assert_eq!(d.description.as_deref(), Some("Coffee"));
        assert_eq!(d.description_hash, None);
        assert_eq!(d.payment_hash, "03".repeat(32));
        assert_eq!(d.payee, payee);
        assert_eq!(d.created_at, 1_700_000_000);
        assert_eq!(d.expires_at, 1_700_000_600);
        assert_eq!(d.min_final_cltv_expiry_delta, 144);
        assert_eq!(d.route_hints.len(), 1);
        let hop = &d.route_hints[0][0];
        assert_eq!(hop.short_channel_id, "101x2x1");
        assert_eq!(
            (hop.fee_base_msat, hop.fee_proportional_millionths),
            (1000, 10)
        );
        assert_eq!(hop.cltv_expiry_delta, 40);
        assert!(d.features.is_some());
    }

    #[test]
    fn decodes_a_hashed_description_and_no_amount() {
        let (inv, _) = invoice(None, true);
        let d = decode_invoice(&inv).unwrap();
        assert_eq!(d.amount_msat, None);
        assert_eq!(d.description, None);
        let want = sha256::Hash::hash(b"{\"metadata\":1}");
        assert_eq!(d.description_hash, Some(want.to_string()));
    }

    #[test]
    fn refuses_garbage_and_a_broken_signature() {
        for bad in ["", "lnbcrt1garbage", "bc1qxyz"] {
            assert_eq!(
                decode_invoice(bad).unwrap_err().code(),
                "INVALID_INVOICE",
                "{bad}"
            );
        }
        let (inv, _) = invoice(Some(21_000), false);
        // One character of the signature changed: the checksum fails or the signature does.
        let mut chars: Vec<char> = inv.chars().collect();
        let i = chars.len() - 10;
        chars[i] = if chars[i] == 'q' { 'p' } else { 'q' };
        let tampered: String = chars.into_iter().collect();
        assert_eq!(
            decode_invoice(&tampered).unwrap_err().code(),
            "INVALID_INVOICE"
        );
    }
}
