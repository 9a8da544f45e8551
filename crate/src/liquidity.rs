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
//!    amount and our channel settings is chosen ([`cheapest_offer`]) and checked against the
//!    caller's limit ([`default_max_fee_msat`]) before anything is stored;
//! 3. `lsps2.buy`: the LSP answers with an intercept short channel id and a CLTV delta, which
//!    the invoice names as its route hint;
//! 4. when paid, the LSP opens a zero-conf channel to us (accepted from the LSP only, with
//!    `accept_underpaying_htlcs`), forwards the payment less its fee, and the event handler
//!    claims it only if what the LSP withheld is at most the quote stored with the payment.

#![allow(clippy::arc_with_non_send_sync)]

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

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
use crate::{runtime, BuildError, Error};

/// How long we wait for the LSP to answer one request (`get_info`, `buy`) before the call
/// fails with `PEER_UNREACHABLE`. A connected LSP answers in milliseconds; ten seconds covers
/// a slow proxy without leaving the caller waiting for nothing.
pub const LSP_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How often a waiting request looks whether its answer came.
const ANSWER_POLL: Duration = Duration::from_millis(5);

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

/// The cheapest offer of the LSP's `menu` for a payment of `amount_msat`, with its fee:
/// offers whose payment sizes exclude the amount, that are no longer valid at `now_secs` (or
/// would expire within a minute, while we buy), whose channel would let us ask the LSP to
/// wait longer than it accepts (`our_to_self_delay`), or whose fee is not below the amount
/// (nothing would arrive) are skipped. `NO_INBOUND_CAPACITY` says why none is left.
pub fn cheapest_offer(
    menu: &[LSPS2OpeningFeeParams],
    amount_msat: u64,
    now_secs: u64,
    our_to_self_delay: u16,
) -> Result<(u64, LSPS2OpeningFeeParams), Error> {
    if menu.is_empty() {
        return Err(Error::NoInboundCapacity(
            "the LSP offers no JIT channel (empty fee menu)".into(),
        ));
    }
    let mut why = Vec::new();
    let mut best: Option<(u64, &LSPS2OpeningFeeParams)> = None;
    for p in menu {
        match offer_fee(p, amount_msat, now_secs, our_to_self_delay) {
            Ok(fee) if best.is_none_or(|(b, _)| fee < b) => best = Some((fee, p)),
            Ok(_) => {}
            Err(e) => why.push(e),
        }
    }
    best.map(|(fee, p)| (fee, p.clone())).ok_or_else(|| {
        Error::NoInboundCapacity(format!(
            "no JIT channel offer of the LSP suits {amount_msat} msat: {}",
            why.join("; ")
        ))
    })
}

/// The fee of one offer for `amount_msat`, or why it does not suit (see [`cheapest_offer`]).
fn offer_fee(
    p: &LSPS2OpeningFeeParams,
    amount_msat: u64,
    now_secs: u64,
    our_to_self_delay: u16,
) -> Result<u64, String> {
    if amount_msat < p.min_payment_size_msat || amount_msat > p.max_payment_size_msat {
        return Err(format!(
            "{amount_msat} msat is outside {}..={} msat",
            p.min_payment_size_msat, p.max_payment_size_msat
        ));
    }
    let valid_until = u64::try_from(p.valid_until.0.timestamp()).unwrap_or(0);
    if valid_until <= now_secs.saturating_add(60) {
        return Err(format!("offer expired at {}", p.valid_until.to_rfc3339()));
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
    Ok(fee)
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
}

/// The LSPS2 client of the configured LSP.
pub(crate) struct LspClient {
    pub node_id: PublicKey,
    pub address: SocketAddress,
    token: Option<String>,
    pub manager: Arc<LiquidityManager>,
    /// Requests sent, by id: `None` until the LSP answered.
    pending: Mutex<HashMap<LSPSRequestId, Option<Answer>>>,
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

    fn pending(&self) -> MutexGuard<'_, HashMap<LSPSRequestId, Option<Answer>>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands an answer to the request waiting for it; `false` if none waits (it timed out).
    fn answer(&self, id: &LSPSRequestId, answer: Answer) -> bool {
        match self.pending().get_mut(id) {
            Some(slot) => {
                *slot = Some(answer);
                true
            }
            None => false,
        }
    }

    /// Waits for the answer to request `id`, at most [`LSP_REQUEST_TIMEOUT`].
    async fn wait(
        &self,
        inner: &NodeInner,
        id: LSPSRequestId,
        what: &str,
    ) -> Result<Answer, Error> {
        let start = runtime::now();
        let result = loop {
            if let Some(answer) = self.pending().get_mut(&id).and_then(Option::take) {
                break Ok(answer);
            }
            if inner.stopping.load(Ordering::Acquire) {
                break Err(Error::NodeStopped);
            }
            if runtime::now().saturating_sub(start) >= LSP_REQUEST_TIMEOUT {
                break Err(Error::PeerUnreachable(format!(
                    "the LSP {} did not answer our {what} request within {}s",
                    self.node_id,
                    LSP_REQUEST_TIMEOUT.as_secs()
                )));
            }
            runtime::sleep(ANSWER_POLL).await;
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
        let id = {
            // Registered before the background processor can send the request.
            let mut pending = self.pending();
            let id = self
                .lsps2()?
                .request_opening_params(self.node_id, self.token.clone());
            pending.insert(id.clone(), None);
            id
        };
        match self.wait(inner, id, "fee menu").await? {
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
        let id = {
            let mut pending = self.pending();
            let id = self
                .lsps2()?
                .select_opening_params(self.node_id, Some(amount_msat), params)
                .map_err(|e| Error::Internal(format!("LSPS2 buy request: {e:?}")))?;
            pending.insert(id.clone(), None);
            id
        };
        match self.wait(inner, id, "buy").await? {
            Answer::Invoice {
                intercept_scid,
                cltv_expiry_delta,
            } => Ok(JitHint {
                lsp_node_id: self.node_id,
                intercept_scid,
                cltv_expiry_delta: u16::try_from(cltv_expiry_delta).map_err(|_| {
                    Error::NoInboundCapacity(format!(
                        "the LSP asks for a CLTV delta of {cltv_expiry_delta} blocks"
                    ))
                })?,
                fee_msat,
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
        let (fee, p) = cheapest_offer(&menu, 50_000_000, NOW, 1008).unwrap();
        assert_eq!(fee, 1_000_000);
        assert_eq!(p.min_fee_msat, 1_000_000);
        let (fee, _) = cheapest_offer(&menu, 100_000_000, NOW, 1008).unwrap();
        assert_eq!(fee, 0);
    }

    #[test]
    fn unusable_offers_are_refused_with_the_reason() {
        let e = cheapest_offer(&[], 1_000, NOW, 1008).unwrap_err();
        assert_eq!(e.code(), "NO_INBOUND_CAPACITY");
        let small = [offer(0, 0, 0, 10_000)];
        let e = cheapest_offer(&small, 20_000, NOW, 1008).unwrap_err();
        assert!(e.to_string().contains("outside"), "{e}");
        let mut expired = offer(0, 0, 0, u64::MAX);
        expired.valid_until = LSPSDateTime::new_from_duration_since_epoch(Duration::from_secs(NOW));
        let e = cheapest_offer(&[expired], 20_000, NOW, 1008).unwrap_err();
        assert!(e.to_string().contains("expired"), "{e}");
        let mut strict = offer(0, 0, 0, u64::MAX);
        strict.max_client_to_self_delay = 144;
        let e = cheapest_offer(&[strict], 20_000, NOW, 1008).unwrap_err();
        assert!(e.to_string().contains("to_self_delay"), "{e}");
        // A fee that eats the whole payment.
        let e = cheapest_offer(&[offer(20_000, 0, 0, u64::MAX)], 20_000, NOW, 1008).unwrap_err();
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
