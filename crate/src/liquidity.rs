//! The LSPS2 client: inbound liquidity through just-in-time channels from the configured LSP
//! (DESIGN.md §1 "Inbound liquidity").
//!
//! `lightning-liquidity`'s [`LiquidityManager`] runs without `std`, on our clock
//! ([`LiquidityClock`]), with the LSPS2 client only. It exists only when an LSP is configured;
//! the peer manager's custom message handler is [`LspMessageHandler`] either way (it ignores
//! every custom message without an LSP). The background processor persists the manager and
//! sends its queued messages; a supervised task ([`spawn_event_task`]) hands its events
//! (`OpeningParametersReady`, `InvoiceParametersReady` and their failures) to the request
//! waiting for them, which gives up after [`LSP_REQUEST_TIMEOUT`].
//!
//! A JIT receive ([`crate::payment::Bolt11Payment::receive_via_jit_channel`]):
//! 1. connect to the LSP (on demand, at its configured address);
//! 2. `lsps2.get_info`: the LSP's menu of opening fees; the cheapest offer valid for the
//!    amount and our channel settings, and for the invoice's whole expiry if one is, is
//!    chosen ([`cheapest_offer`]) and checked against the caller's limit
//!    ([`default_max_fee_msat`]) before anything is stored. The invoice never outlives the
//!    offer (bLIP-52: its timestamp plus expiry must not pass `valid_until`): when no offer
//!    lasts as long as asked, the invoice's expiry is shortened ([`jit_invoice_expiry`]) and
//!    the real one returned;
//! 3. `lsps2.buy`: the LSP answers with an intercept short channel id and a CLTV delta
//!    (at most [`MAX_LSP_CLTV_EXPIRY_DELTA`]), which the invoice names as its route hint;
//! 4. when paid, the LSP opens a zero-conf channel to us (accepted from the LSP only, with
//!    `accept_underpaying_htlcs`; legacy, not anchors, while the wallet lacks the on-chain
//!    reserve of an anchor channel: event_handler.rs), forwards the payment less its fee, and
//!    the event handler claims it only if what the LSP withheld is at most the quote stored
//!    with the payment.

#![allow(clippy::arc_with_non_send_sync)]

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_channel::oneshot;
use lightning::ln::msgs::{DecodeError, Init, LightningError, SocketAddress};
use lightning::ln::peer_handler::CustomMessageHandler;
use lightning::ln::wire::CustomMessageReader;
use lightning::util::ser::LengthLimitedRead;
use lightning_liquidity::events::LiquidityEvent;
use lightning_liquidity::lsps0::ser::{LSPSRequestId, LSPSResponseError, RawLSPSMessage};
use lightning_liquidity::lsps2::event::LSPS2ClientEvent;
use lightning_liquidity::lsps2::msgs::LSPS2OpeningFeeParams;
use lightning_types::features::{InitFeatures, NodeFeatures};

use lightning::sign::KeysManager;
use lightning_liquidity::lsps2::client::LSPS2ClientConfig;
use lightning_liquidity::LiquidityClientConfig;

use crate::bitcoin::secp256k1::PublicKey;
use crate::io::DynStore;
use crate::logger::{log_at, NodeLogger};
use crate::node::NodeInner;
use crate::types::{ChainSource, ChannelManager, LiquidityClock, LiquidityManager};
use crate::{BuildError, Error};

/// How long we wait for the LSP to answer one request (`get_info`, `buy`) before the call
/// fails with `PEER_UNREACHABLE`. A connected LSP answers in milliseconds; ten seconds covers
/// a slow proxy without leaving the caller waiting for nothing.
pub const LSP_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Seconds of an LSP offer's validity our JIT invoice leaves unused: the `buy` round trip
/// (at most [`LSP_REQUEST_TIMEOUT`]) and clocks that disagree a little.
pub const JIT_OFFER_MARGIN_SECS: u64 = 60;

/// The shortest JIT invoice we hand out: an offer that would leave less is skipped.
pub const MIN_JIT_EXPIRY_SECS: u32 = 60;

/// The largest CLTV delta we let the LSP ask for its hop to us. LDK payers refuse routes
/// whose CLTV deltas add up to more than 1,008 blocks by default
/// (`DEFAULT_MAX_TOTAL_CLTV_EXPIRY_DELTA`; other implementations allow 2,016): the invoice's
/// final 146 blocks plus the LSP's delta must leave room for the payer's hops to the LSP
/// (here 288 blocks), else the invoice is unpayable, and a long delta would lock the payer's
/// funds for as long if the payment got stuck. LSPs ask for 72 to 144.
pub const MAX_LSP_CLTV_EXPIRY_DELTA: u32 = 1008
    - crate::payment::bolt11::FINAL_CLTV_EXPIRY_DELTA as u32
    - JIT_EXTRA_FINAL_CLTV_DELTA as u32
    - 288;

/// LSPS2 asks the client for 2 blocks of final CLTV delta more than its usual: the LSP's
/// forward over the new channel may take a block or two (bLIP-52).
pub const JIT_EXTRA_FINAL_CLTV_DELTA: u16 = 2;

/// LSPS2's error code for a token the LSP does not know (bLIP-52).
const LSPS2_UNRECOGNIZED_OR_STALE_TOKEN: i32 = 200;

/// Our default limit on the LSP's fee for a JIT channel, when the caller gives none: 5,000 sat
/// plus 1 % of the amount, and never more than half of it.
///
/// Why a default at all: `receive` turns to a JIT channel by itself when our channels cannot
/// take the amount, so a caller who never thought of fees could otherwise hand an LSP any
/// fee it quotes. Phoenix's default policy is similar (at most 5,000 sat and at most 50 % of
/// the amount, `LiquidityPolicy.Auto`); ldk-node and the Breez SDK take any quote unless the
/// caller limits it, and leave showing it to the app. 5,000 sat is what opening a channel
/// costs on-chain in a busy mempool; 1 % is a common proportional fee (the LSPS2 default of
/// ldk-node's service); a fee above half the payment is never what a wallet user expects.
pub fn default_max_fee_msat(amount_msat: u64) -> u64 {
    let limit = 5_000_000u64.saturating_add(amount_msat / 100);
    limit.min(amount_msat / 2)
}

/// The opening fee of `params` for a payment of `amount_msat`:
/// `max(min_fee_msat, amount × proportional / 1,000,000)`, rounded up (LSPS2's formula);
/// `None` on overflow.
pub fn opening_fee_msat(amount_msat: u64, params: &LSPS2OpeningFeeParams) -> Option<u64> {
    lightning_liquidity::lsps2::utils::compute_opening_fee(
        amount_msat,
        params.min_fee_msat,
        u64::from(params.proportional),
    )
}

/// The offer of the LSP's menu we buy, and what it means for the invoice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JitOffer {
    /// Its opening fee for the amount.
    pub fee_msat: u64,
    pub params: LSPS2OpeningFeeParams,
    /// The invoice's expiry it allows: the one asked, or less if the offer ends sooner.
    pub expiry_secs: u32,
}

/// The Unix time an offer ends.
pub fn valid_until_secs(p: &LSPS2OpeningFeeParams) -> u64 {
    u64::try_from(p.valid_until.0.timestamp()).unwrap_or(0)
}

/// The expiry of a JIT invoice stamped at `now_secs` that was asked for `expiry_secs`, for
/// an offer valid until `valid_until_secs`: the invoice must not outlive the offer
/// (bLIP-52), less [`JIT_OFFER_MARGIN_SECS`]. 0 when nothing is left.
pub fn jit_invoice_expiry(valid_until_secs: u64, now_secs: u64, expiry_secs: u32) -> u32 {
    let left = valid_until_secs
        .saturating_sub(now_secs)
        .saturating_sub(JIT_OFFER_MARGIN_SECS);
    expiry_secs.min(u32::try_from(left).unwrap_or(u32::MAX))
}

/// The offer of the LSP's `menu` to buy for a payment of `amount_msat` with an invoice valid
/// `expiry_secs` from `now_secs`: the cheapest of those valid for the invoice's whole expiry;
/// if none is, the cheapest of the others, with the invoice's expiry shortened to what it
/// allows ([`jit_invoice_expiry`]). Offers whose payment sizes exclude the amount, that would
/// leave an invoice shorter than [`MIN_JIT_EXPIRY_SECS`] (expired, or about to), whose
/// channel would let us ask the LSP to wait longer than it accepts (`our_to_self_delay`),
/// or whose fee is not below the amount (nothing would arrive) are skipped.
/// `NO_INBOUND_CAPACITY` says why none is left.
pub fn cheapest_offer(
    menu: &[LSPS2OpeningFeeParams],
    amount_msat: u64,
    now_secs: u64,
    expiry_secs: u32,
    our_to_self_delay: u16,
) -> Result<JitOffer, Error> {
    if menu.is_empty() {
        return Err(Error::NoInboundCapacity(
            "the LSP offers no JIT channel (empty fee menu)".into(),
        ));
    }
    let mut why = Vec::new();
    // Ordered by: shortens the invoice, then fee.
    let mut best: Option<(bool, u64, u32, &LSPS2OpeningFeeParams)> = None;
    for p in menu {
        match offer_fee(p, amount_msat, now_secs, expiry_secs, our_to_self_delay) {
            Ok((fee, expiry)) => {
                let key = (expiry < expiry_secs, fee);
                if best.is_none_or(|(s, f, _, _)| key < (s, f)) {
                    best = Some((key.0, fee, expiry, p));
                }
            }
            Err(e) => why.push(e),
        }
    }
    best.map(|(_, fee_msat, expiry_secs, p)| JitOffer {
        fee_msat,
        params: p.clone(),
        expiry_secs,
    })
    .ok_or_else(|| {
        Error::NoInboundCapacity(format!(
            "no JIT channel offer of the LSP suits {amount_msat} msat: {}",
            why.join("; ")
        ))
    })
}

/// The fee of one offer for `amount_msat` and the invoice expiry it allows, or why it does
/// not suit (see [`cheapest_offer`]).
fn offer_fee(
    p: &LSPS2OpeningFeeParams,
    amount_msat: u64,
    now_secs: u64,
    expiry_secs: u32,
    our_to_self_delay: u16,
) -> Result<(u64, u32), String> {
    if amount_msat < p.min_payment_size_msat || amount_msat > p.max_payment_size_msat {
        return Err(format!(
            "{amount_msat} msat is outside {}..={} msat",
            p.min_payment_size_msat, p.max_payment_size_msat
        ));
    }
    let expiry = jit_invoice_expiry(valid_until_secs(p), now_secs, expiry_secs);
    if expiry < expiry_secs.min(MIN_JIT_EXPIRY_SECS) {
        return Err(format!(
            "offer expired or expires too soon, at {}",
            p.valid_until.to_rfc3339()
        ));
    }
    if u32::from(our_to_self_delay) > p.max_client_to_self_delay {
        return Err(format!(
            "our to_self_delay {our_to_self_delay} exceeds the LSP's {}",
            p.max_client_to_self_delay
        ));
    }
    let fee = opening_fee_msat(amount_msat, p).ok_or("fee overflows")?;
    if fee >= amount_msat {
        return Err(format!("fee {fee} msat is not below the amount"));
    }
    Ok((fee, expiry))
}

/// The LSP's CLTV delta for its hop to us, checked against [`MAX_LSP_CLTV_EXPIRY_DELTA`].
fn lsp_cltv_expiry_delta(delta: u32) -> Result<u16, Error> {
    if delta > MAX_LSP_CLTV_EXPIRY_DELTA {
        return Err(Error::NoInboundCapacity(format!(
            "the LSP asks for a CLTV delta of {delta} blocks, more than the \
             {MAX_LSP_CLTV_EXPIRY_DELTA} payers can route through or we let a payment wait"
        )));
    }
    u16::try_from(delta).map_err(|_| Error::Internal(format!("CLTV delta {delta}")))
}

/// The LSP's answer to one request.
#[derive(Clone, Debug)]
enum Answer {
    Menu(Vec<LSPS2OpeningFeeParams>),
    Invoice {
        intercept_scid: u64,
        cltv_expiry_delta: u32,
    },
    Refused(LSPSResponseError),
}

/// What the LSP said to buy a JIT channel with: the invoice's route hint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct JitHint {
    pub lsp_node_id: PublicKey,
    pub intercept_scid: u64,
    pub cltv_expiry_delta: u16,
    /// The fee quoted: the most the LSP may withhold from the payment.
    pub fee_msat: u64,
    /// Unix time the offer bought ends: the invoice must expire by then.
    pub valid_until: u64,
}

/// The LSPS2 client of the configured LSP.
pub(crate) struct LspClient {
    pub node_id: PublicKey,
    pub address: SocketAddress,
    token: Option<String>,
    pub manager: Arc<LiquidityManager>,
    /// Requests waiting for their answer, by id: where to hand it.
    pending: Mutex<HashMap<LSPSRequestId, oneshot::Sender<Answer>>>,
}

impl LspClient {
    /// A liquidity manager with the LSPS2 client only, on our clock, over the node's store
    /// (it keeps its pending events there).
    pub async fn build(
        node_id: PublicKey,
        address: SocketAddress,
        token: Option<String>,
        keys: Arc<KeysManager>,
        channel_manager: Arc<ChannelManager>,
        chain: Arc<ChainSource>,
        store: Arc<DynStore>,
    ) -> Result<Self, BuildError> {
        let client = LiquidityClientConfig {
            lsps1_client_config: None,
            lsps2_client_config: Some(LSPS2ClientConfig::default()),
            lsps5_client_config: None,
        };
        let manager = LiquidityManager::new_with_custom_time_provider(
            Arc::clone(&keys),
            keys,
            channel_manager,
            chain,
            // No chain source: a client watches nothing.
            None,
            None,
            store,
            None,
            Some(client),
            Arc::new(LiquidityClock),
        )
        .await
        .map_err(|e| BuildError::StorageUnavailable(format!("liquidity manager: {e}")))?;
        Ok(LspClient {
            node_id,
            address,
            token,
            manager: Arc::new(manager),
            pending: Mutex::new(HashMap::new()),
        })
    }

    fn pending(&self) -> MutexGuard<'_, HashMap<LSPSRequestId, oneshot::Sender<Answer>>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands an answer to the request waiting for it; `false` if none waits (it timed out).
    fn answer(&self, id: &LSPSRequestId, answer: Answer) -> bool {
        match self.pending().remove(id) {
            Some(waiting) => waiting.send(answer).is_ok(),
            None => false,
        }
    }

    /// Waits for the answer to request `id` (woken when it comes), at most
    /// [`LSP_REQUEST_TIMEOUT`], or until the node stops.
    async fn wait(
        &self,
        inner: &NodeInner,
        id: LSPSRequestId,
        answer: oneshot::Receiver<Answer>,
        what: &str,
    ) -> Result<Answer, Error> {
        let give_up =
            crate::node::stoppable_sleep(Arc::clone(&inner.stopping), LSP_REQUEST_TIMEOUT);
        let result = match crate::node::first_of(answer, give_up).await {
            Some(Ok(answer)) => Ok(answer),
            // Its sender is dropped only once answered, or by `wait` itself.
            Some(Err(oneshot::Canceled)) => {
                Err(Error::Internal(format!("the {what} request was dropped")))
            }
            None if inner.stopping.load(Ordering::Acquire) => Err(Error::NodeStopped),
            None => Err(Error::PeerUnreachable(format!(
                "the LSP {} did not answer our {what} request within {}s",
                self.node_id,
                LSP_REQUEST_TIMEOUT.as_secs()
            ))),
        };
        self.pending().remove(&id);
        result
    }

    fn lsps2(
        &self,
    ) -> Result<
        &lightning_liquidity::lsps2::client::LSPS2ClientHandler<
            Arc<lightning::sign::KeysManager>,
            Arc<crate::io::DynStore>,
        >,
        Error,
    > {
        self.manager
            .lsps2_client_handler()
            .ok_or_else(|| Error::Internal("the liquidity manager has no LSPS2 client".into()))
    }

    /// The LSP's menu of opening fees (`lsps2.get_info`).
    pub async fn opening_fee_menu(
        &self,
        inner: &NodeInner,
    ) -> Result<Vec<LSPS2OpeningFeeParams>, Error> {
        let (tx, rx) = oneshot::channel();
        let id = {
            // Registered before the background processor can send the request.
            let mut pending = self.pending();
            let id = self
                .lsps2()?
                .request_opening_params(self.node_id, self.token.clone());
            pending.insert(id.clone(), tx);
            id
        };
        match self.wait(inner, id, rx, "fee menu").await? {
            Answer::Menu(menu) => Ok(menu),
            Answer::Refused(e) => Err(refusal("get_info", e)),
            other => Err(Error::Internal(format!(
                "the LSP answered get_info with {other:?}"
            ))),
        }
    }

    /// Buys a JIT channel for a payment of `amount_msat` at `params` (`lsps2.buy`): the
    /// invoice's route hint.
    pub async fn buy(
        &self,
        inner: &NodeInner,
        amount_msat: u64,
        params: LSPS2OpeningFeeParams,
        fee_msat: u64,
    ) -> Result<JitHint, Error> {
        let valid_until = valid_until_secs(&params);
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut pending = self.pending();
            let id = self
                .lsps2()?
                .select_opening_params(self.node_id, Some(amount_msat), params)
                .map_err(|e| Error::Internal(format!("LSPS2 buy request: {e:?}")))?;
            pending.insert(id.clone(), tx);
            id
        };
        match self.wait(inner, id, rx, "buy").await? {
            Answer::Invoice {
                intercept_scid,
                cltv_expiry_delta,
            } => Ok(JitHint {
                lsp_node_id: self.node_id,
                intercept_scid,
                cltv_expiry_delta: lsp_cltv_expiry_delta(cltv_expiry_delta)?,
                fee_msat,
                valid_until,
            }),
            Answer::Refused(e) => Err(refusal("buy", e)),
            other => Err(Error::Internal(format!(
                "the LSP answered buy with {other:?}"
            ))),
        }
    }

    /// Hands one liquidity event to the request waiting for it.
    fn handle_event(&self, logger: &NodeLogger, event: LiquidityEvent) {
        let (id, from, answer) = match event {
            LiquidityEvent::LSPS2Client(LSPS2ClientEvent::OpeningParametersReady {
                request_id,
                counterparty_node_id,
                opening_fee_params_menu,
            }) => (
                request_id,
                counterparty_node_id,
                Answer::Menu(opening_fee_params_menu),
            ),
            LiquidityEvent::LSPS2Client(LSPS2ClientEvent::InvoiceParametersReady {
                request_id,
                counterparty_node_id,
                intercept_scid,
                cltv_expiry_delta,
                ..
            }) => (
                request_id,
                counterparty_node_id,
                Answer::Invoice {
                    intercept_scid,
                    cltv_expiry_delta,
                },
            ),
            LiquidityEvent::LSPS2Client(LSPS2ClientEvent::GetInfoFailed {
                request_id,
                counterparty_node_id,
                error,
            })
            | LiquidityEvent::LSPS2Client(LSPS2ClientEvent::BuyRequestFailed {
                request_id,
                counterparty_node_id,
                error,
            }) => (request_id, counterparty_node_id, Answer::Refused(error)),
            other => {
                log_at!(logger, Debug, "liquidity event not acted on: {other:?}");
                return;
            }
        };
        if from != self.node_id {
            log_at!(
                logger,
                Warn,
                "liquidity answer from {from}, not our LSP: ignored"
            );
            return;
        }
        if !self.answer(&id, answer) {
            log_at!(
                logger,
                Warn,
                "the LSP answered request {id:?} after we stopped waiting"
            );
        }
    }
}

/// An LSP's error answer as our error: a token it does not know is our configuration's
/// fault; anything else means no channel from it now.
fn refusal(what: &str, e: LSPSResponseError) -> Error {
    let text = format!(
        "the LSP refused our {what} request: {} (code {})",
        e.message, e.code
    );
    if e.code == LSPS2_UNRECOGNIZED_OR_STALE_TOKEN {
        Error::InvalidConfig(format!("{text}: check the LSP token"))
    } else {
        Error::NoInboundCapacity(text)
    }
}

/// Handles the liquidity manager's events while the node runs.
pub(crate) fn spawn_event_task(inner: &Arc<NodeInner>) {
    let Some(lsp) = inner.lsp.as_ref().map(Arc::clone) else {
        return;
    };
    let node = Arc::clone(inner);
    inner.supervisor.spawn("liquidity events", async move {
        loop {
            // Woken by a new event; the timeout only lets the loop see `stop`.
            match crate::chain::esplora::with_timeout(
                Duration::from_millis(200),
                lsp.manager.next_event_async(),
            )
            .await
            {
                Some(event) => lsp.handle_event(&node.logger, event),
                None if node.stopping.load(Ordering::Acquire) => break,
                None => {}
            }
        }
    });
}

/// The peer manager's custom message handler: the liquidity manager when an LSP is
/// configured, else one that ignores every custom message (as LDK's `IgnoringMessageHandler`).
pub struct LspMessageHandler(pub(crate) Option<Arc<LiquidityManager>>);

impl CustomMessageReader for LspMessageHandler {
    type CustomMessage = RawLSPSMessage;

    fn read<R: LengthLimitedRead>(
        &self,
        message_type: u16,
        buffer: &mut R,
    ) -> Result<Option<RawLSPSMessage>, DecodeError> {
        match &self.0 {
            Some(m) => m.read(message_type, buffer),
            None => Ok(None),
        }
    }
}

impl CustomMessageHandler for LspMessageHandler {
    fn handle_custom_message(
        &self,
        msg: RawLSPSMessage,
        sender_node_id: PublicKey,
    ) -> Result<(), LightningError> {
        match &self.0 {
            Some(m) => m.handle_custom_message(msg, sender_node_id),
            // Never read without a manager.
            None => Ok(()),
        }
    }

    fn get_and_clear_pending_msg(&self) -> Vec<(PublicKey, RawLSPSMessage)> {
        match &self.0 {
            Some(m) => m.get_and_clear_pending_msg(),
            None => Vec::new(),
        }
    }

    fn peer_disconnected(&self, their_node_id: PublicKey) {
        if let Some(m) = &self.0 {
            m.peer_disconnected(their_node_id)
        }
    }

    fn peer_connected(
        &self,
        their_node_id: PublicKey,
        msg: &Init,
        inbound: bool,
    ) -> Result<(), ()> {
        match &self.0 {
            Some(m) => m.peer_connected(their_node_id, msg, inbound),
            None => Ok(()),
        }
    }

    fn provided_node_features(&self) -> NodeFeatures {
        match &self.0 {
            Some(m) => m.provided_node_features(),
            None => NodeFeatures::empty(),
        }
    }

    fn provided_init_features(&self, their_node_id: PublicKey) -> InitFeatures {
        match &self.0 {
            Some(m) => m.provided_init_features(their_node_id),
            None => InitFeatures::empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lightning_liquidity::lsps0::ser::LSPSDateTime;

    const NOW: u64 = 1_800_000_000;

    fn offer(min_fee_msat: u64, ppm: u32, min: u64, max: u64) -> LSPS2OpeningFeeParams {
        LSPS2OpeningFeeParams {
            min_fee_msat,
            proportional: ppm,
            valid_until: LSPSDateTime::new_from_duration_since_epoch(Duration::from_secs(
                NOW + 3600,
            )),
            min_lifetime: 144,
            max_client_to_self_delay: 2016,
            min_payment_size_msat: min,
            max_payment_size_msat: max,
            promise: "p".into(),
        }
    }

    #[test]
    fn the_fee_is_the_larger_of_minimum_and_proportional_rounded_up() {
        let o = offer(1_000_000, 10_000, 0, u64::MAX);
        // 1 % of 50,000 sat is 500 sat: the 1,000 sat minimum wins.
        assert_eq!(opening_fee_msat(50_000_000, &o), Some(1_000_000));
        assert_eq!(opening_fee_msat(200_000_000, &o), Some(2_000_000));
        // Rounded up to the msat.
        let o = offer(0, 3, 0, u64::MAX);
        assert_eq!(opening_fee_msat(1_000_001, &o), Some(4));
    }

    #[test]
    fn the_cheapest_valid_offer_is_chosen() {
        let menu = [
            offer(2_000_000, 1_000, 0, u64::MAX),
            offer(1_000_000, 10_000, 0, u64::MAX),
            // Cheapest, but not for this amount.
            offer(0, 0, 100_000_000, u64::MAX),
        ];
        let o = cheapest_offer(&menu, 50_000_000, NOW, 600, 1008).unwrap();
        assert_eq!(o.fee_msat, 1_000_000);
        assert_eq!(o.params.min_fee_msat, 1_000_000);
        assert_eq!(o.expiry_secs, 600);
        let o = cheapest_offer(&menu, 100_000_000, NOW, 600, 1008).unwrap();
        assert_eq!(o.fee_msat, 0);
    }

    fn valid_for(mut o: LSPS2OpeningFeeParams, secs: u64) -> LSPS2OpeningFeeParams {
        o.valid_until =
            LSPSDateTime::new_from_duration_since_epoch(Duration::from_secs(NOW + secs));
        o
    }

    /// bLIP-52: a JIT invoice must expire by its offer's `valid_until`.
    #[test]
    fn the_invoice_never_outlives_the_offer() {
        // A cheap offer valid 10 minutes, a dearer one valid 2 hours; an invoice for an hour
        // takes the dearer one whole rather than the cheap one shortened.
        let cheap_short = valid_for(offer(1_000_000, 0, 0, u64::MAX), 600);
        let dear_long = valid_for(offer(2_000_000, 0, 0, u64::MAX), 7_200);
        let menu = [cheap_short.clone(), dear_long.clone()];
        let o = cheapest_offer(&menu, 50_000_000, NOW, 3_600, 1008).unwrap();
        assert_eq!((o.fee_msat, o.expiry_secs), (2_000_000, 3_600));
        // For a 5-minute invoice both last: the cheap one.
        let o = cheapest_offer(&menu, 50_000_000, NOW, 300, 1008).unwrap();
        assert_eq!((o.fee_msat, o.expiry_secs), (1_000_000, 300));
        // Nothing lasts a day: the cheapest, the invoice cut to its offer less the margin.
        let o = cheapest_offer(&menu, 50_000_000, NOW, 86_400, 1008).unwrap();
        assert_eq!(o.fee_msat, 1_000_000);
        assert_eq!(u64::from(o.expiry_secs), 600 - JIT_OFFER_MARGIN_SECS);
        // An offer that would leave under a minute of invoice is skipped.
        let ending = valid_for(offer(0, 0, 0, u64::MAX), JIT_OFFER_MARGIN_SECS + 30);
        let o = cheapest_offer(&[ending.clone(), dear_long], 50_000_000, NOW, 600, 1008);
        assert_eq!(o.unwrap().fee_msat, 2_000_000);
        let e = cheapest_offer(&[ending], 50_000_000, NOW, 600, 1008).unwrap_err();
        assert!(e.to_string().contains("too soon"), "{e}");

        assert_eq!(jit_invoice_expiry(NOW + 3_600, NOW, 600), 600);
        assert_eq!(jit_invoice_expiry(NOW + 600, NOW, 3_600), 540);
        assert_eq!(jit_invoice_expiry(NOW + 30, NOW, 600), 0);
        assert_eq!(jit_invoice_expiry(NOW - 30, NOW, 600), 0);
        assert_eq!(jit_invoice_expiry(u64::MAX, NOW, u32::MAX), u32::MAX);
    }

    #[test]
    fn the_lsp_cltv_delta_is_capped() {
        assert_eq!(lsp_cltv_expiry_delta(144).unwrap(), 144);
        assert_eq!(MAX_LSP_CLTV_EXPIRY_DELTA, 574);
        assert!(lsp_cltv_expiry_delta(MAX_LSP_CLTV_EXPIRY_DELTA).is_ok());
        for delta in [MAX_LSP_CLTV_EXPIRY_DELTA + 1, 2016, 70_000] {
            let e = lsp_cltv_expiry_delta(delta).unwrap_err();
            assert_eq!(e.code(), "NO_INBOUND_CAPACITY", "{e}");
        }
    }

    #[test]
    fn unusable_offers_are_refused_with_the_reason() {
        let e = cheapest_offer(&[], 1_000, NOW, 600, 1008).unwrap_err();
        assert_eq!(e.code(), "NO_INBOUND_CAPACITY");
        let small = [offer(0, 0, 0, 10_000)];
        let e = cheapest_offer(&small, 20_000, NOW, 600, 1008).unwrap_err();
        assert!(e.to_string().contains("outside"), "{e}");
        let mut expired = offer(0, 0, 0, u64::MAX);
        expired.valid_until = LSPSDateTime::new_from_duration_since_epoch(Duration::from_secs(NOW));
        let e = cheapest_offer(&[expired], 20_000, NOW, 600, 1008).unwrap_err();
        assert!(e.to_string().contains("expired"), "{e}");
        let mut strict = offer(0, 0, 0, u64::MAX);
        strict.max_client_to_self_delay = 144;
        let e = cheapest_offer(&[strict], 20_000, NOW, 600, 1008).unwrap_err();
        assert!(e.to_string().contains("to_self_delay"), "{e}");
        // A fee that eats the whole payment.
        let e =
            cheapest_offer(&[offer(20_000, 0, 0, u64::MAX)], 20_000, NOW, 600, 1008).unwrap_err();
        assert!(e.to_string().contains("not below"), "{e}");
    }

    #[test]
    fn the_default_fee_limit() {
        // 50,000 sat: 5,000 + 500 sat.
        assert_eq!(default_max_fee_msat(50_000_000), 5_500_000);
        // 4,000 sat: at most half.
        assert_eq!(default_max_fee_msat(4_000_000), 2_000_000);
    }

    #[test]
    fn an_unknown_token_is_a_configuration_error() {
        let e = refusal(
            "get_info",
            LSPSResponseError {
                code: LSPS2_UNRECOGNIZED_OR_STALE_TOKEN,
                message: "unrecognized token".into(),
                data: None,
            },
        );
        assert_eq!(e.code(), "INVALID_CONFIG");
        let e = refusal(
            "buy",
            LSPSResponseError {
                code: 201,
                message: "invalid params".into(),
                data: None,
            },
        );
        assert_eq!(e.code(), "NO_INBOUND_CAPACITY");
    }
}
