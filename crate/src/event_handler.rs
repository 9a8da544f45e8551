//! LDK's events, handled inside the node: funding transactions from the wallet, claiming
//! received payments, recording payment outcomes, handing closed-channel outputs to the
//! sweeper, and queueing the application's [`Event`]s. A handler that cannot store its result
//! returns `ReplayEvent`, so LDK hands the event over again rather than lose it.

use std::sync::Arc;

use lightning::chain::chaininterface::{ConfirmationTarget, FeeEstimator};
use lightning::events::{
    Event as LdkEvent, FundingInfo, HTLCHandlingFailureType, PaymentFailureReason, PaymentPurpose,
    ReplayEvent,
};
use lightning::ln::channelmanager::PaymentId;

use crate::bitcoin::hex::DisplayHex;
use crate::bitcoin::{Amount, FeeRate};
use crate::event::Event;
use crate::logger::log_at;
use crate::node::{connect_inner, hex_channel_id, NodeInner};
use crate::payment::{
    inbound_id, judge_incoming, Incoming, PaymentDetails, PaymentDirection, PaymentKind,
    PaymentStatus,
};
use crate::runtime;

/// Words for a failure reason; `route not found` is what `NoRoute` errors match.
pub(crate) fn failure_reason_text(reason: Option<PaymentFailureReason>) -> String {
    match reason {
        Some(PaymentFailureReason::RouteNotFound) => "route not found".into(),
        Some(PaymentFailureReason::RecipientRejected) => "the recipient rejected it".into(),
        Some(PaymentFailureReason::RetriesExhausted) => "retries exhausted".into(),
        Some(PaymentFailureReason::PaymentExpired) => "the payment expired".into(),
        Some(PaymentFailureReason::UserAbandoned) => "abandoned".into(),
        Some(other) => format!("{other:?}"),
        None => "unknown".into(),
    }
}

impl NodeInner {
    pub(crate) async fn handle_ldk_event(
        self: &Arc<Self>,
        event: LdkEvent,
    ) -> Result<(), ReplayEvent> {
        crate::graph::apply_network_update(&self.gossip, &self.graph, &event);
        match event {
            LdkEvent::FundingGenerationReady {
                temporary_channel_id,
                counterparty_node_id,
                channel_value_satoshis,
                output_script,
                ..
            } => {
                let fee_rate = wallet_fee_rate(&*self.chain);
                let tx = match self
                    .wallet
                    .create_transaction(
                        output_script,
                        Some(Amount::from_sat(channel_value_satoshis)),
                        fee_rate,
                        // `open_channel` checked the reserve; funding must not fail on it.
                        Amount::ZERO,
                    )
                    .await
                {
                    Ok(tx) => tx,
                    Err(e) => {
                        log_at!(
                            self.logger,
                            Error,
                            "cannot fund channel {temporary_channel_id}: {e}"
                        );
                        let _ = self.channel_manager.force_close_broadcasting_latest_txn(
                            &temporary_channel_id,
                            &counterparty_node_id,
                            "funding failed".into(),
                        );
                        return Ok(());
                    }
                };
                if let Err(e) = self.channel_manager.funding_transaction_generated(
                    temporary_channel_id,
                    counterparty_node_id,
                    tx.clone(),
                ) {
                    log_at!(
                        self.logger,
                        Error,
                        "LDK refused our funding transaction: {e:?}"
                    );
                    if let Err(e) = self.wallet.cancel_transaction(&tx).await {
                        log_at!(
                            self.logger,
                            Warn,
                            "forgetting the refused funding transaction: {e}"
                        );
                    }
                }
            }
            LdkEvent::PaymentClaimable {
                payment_hash,
                purpose,
                amount_msat,
                claim_deadline,
                counterparty_skimmed_fee_msat,
                ..
            } => {
                let id = payment_hash.0.as_hex().to_string();
                let record = self.payments.get(&id);
                // LDK forgets a payment once claimed: a second payment of a paid invoice
                // would be claimed again, silently, unless we refuse it.
                if let Incoming::Refuse(why) = judge_incoming(record.as_ref()) {
                    log_at!(
                        self.logger,
                        Warn,
                        "failing back incoming payment {payment_hash} of {amount_msat} msat: {why}"
                    );
                    self.channel_manager.fail_htlc_backwards(&payment_hash);
                    return Ok(());
                }
                // Only the LSP's channel lets a peer withhold part of a payment, and only as
                // much as it quoted for the JIT channel.
                if let Some(why) = skim_refusal(
                    amount_msat,
                    counterparty_skimmed_fee_msat,
                    record.as_ref().and_then(|p| p.lsp_fee_limit_msat),
                    record.as_ref().and_then(|p| p.amount_msat),
                ) {
                    // Only this payment is refused: the invoice stays payable (its record
                    // Pending), and the payer may try again, through the LSP or otherwise.
                    log_at!(
                        self.logger,
                        Warn,
                        "failing back incoming payment {payment_hash} of {amount_msat} msat, \
                         the invoice stays payable: {why}"
                    );
                    self.channel_manager.fail_htlc_backwards(&payment_hash);
                    return Ok(());
                }
                // A hold invoice still waiting; one failed back already is failed again.
                let held = self.payments.get(&id).is_some_and(|p| {
                    p.direction == PaymentDirection::Inbound && p.status == PaymentStatus::Pending
                });
                match purpose.preimage() {
                    Some(preimage) => self.channel_manager.claim_funds(preimage),
                    // A hold invoice: the caller has the preimage, and decides.
                    None if held => {
                        self.payments
                            .update(&id, |p| p.claimable_amount_msat = Some(amount_msat))
                            .await
                            .map_err(|e| self.replay(e))?;
                        self.queue(Event::PaymentClaimable {
                            payment_id: id.clone(),
                            payment_hash: id.clone(),
                            claimable_amount_msat: amount_msat,
                            claim_deadline,
                        })
                        .await?;
                    }
                    None => {
                        log_at!(
                            self.logger,
                            Warn,
                            "no preimage for incoming payment {payment_hash}: failing it"
                        );
                        self.channel_manager.fail_htlc_backwards(&payment_hash);
                    }
                }
            }
            LdkEvent::PaymentClaimed {
                payment_hash,
                amount_msat,
                purpose,
                htlcs,
                ..
            } => {
                // What the LSP withheld (a JIT channel's opening fee), checked when claimable.
                let skimmed: u64 = htlcs.iter().map(|h| h.counterparty_skimmed_fee_msat).sum();
                let fee_msat = (skimmed > 0).then_some(skimmed);
                let hash = payment_hash.0.as_hex().to_string();
                // Never the record of a payment we sent (claimed before we could refuse it).
                let id = inbound_id(&payment_hash.0, self.payments.get(&hash).as_ref());
                let preimage = purpose.preimage().map(|p| p.0.as_hex().to_string());
                let kind = payment_kind(&purpose);
                if self.already_reported(&id, PaymentStatus::Succeeded) {
                    return Ok(());
                }
                // The event first: a stored final status means its event is queued.
                self.queue(Event::PaymentReceived {
                    payment_id: id.clone(),
                    payment_hash: hash.clone(),
                    amount_msat,
                    fee_msat: skimmed,
                })
                .await?;
                let now = runtime::now().as_secs();
                let details = match self.payments.get(&id) {
                    Some(mut p) => {
                        p.status = PaymentStatus::Succeeded;
                        p.claimable_amount_msat = None;
                        p.amount_msat = Some(amount_msat);
                        p.fee_msat = fee_msat.or(p.lsp_fee_limit_msat.map(|_| 0));
                        // A hold invoice's purpose has no preimage: `claim_for_hash` stored it.
                        p.preimage = preimage.or(p.preimage.take());
                        p
                    }
                    None => PaymentDetails {
                        status: PaymentStatus::Succeeded,
                        preimage,
                        fee_msat,
                        ..PaymentDetails::pending(
                            id.clone(),
                            kind,
                            PaymentDirection::Inbound,
                            hash,
                            Some(amount_msat),
                            now,
                        )
                    },
                };
                self.payments
                    .upsert(details)
                    .await
                    .map_err(|e| self.replay(e))?;
            }
            LdkEvent::PaymentSent {
                payment_id,
                payment_preimage,
                payment_hash,
                fee_paid_msat,
                ..
            } => {
                let id = payment_id
                    .map(|PaymentId(id)| id.as_hex().to_string())
                    .unwrap_or_else(|| payment_hash.0.as_hex().to_string());
                let preimage = payment_preimage.0.as_hex().to_string();
                if self.already_reported(&id, PaymentStatus::Succeeded) {
                    return Ok(());
                }
                self.queue(Event::PaymentSuccessful {
                    payment_id: id.clone(),
                    payment_hash: payment_hash.0.as_hex().to_string(),
                    preimage: preimage.clone(),
                    fee_paid_msat,
                })
                .await?;
                let updated = self
                    .payments
                    .update(&id, |p| {
                        p.status = PaymentStatus::Succeeded;
                        p.preimage = Some(preimage.clone());
                        p.fee_paid_msat = fee_paid_msat;
                    })
                    .await
                    .map_err(|e| self.replay(e))?;
                if updated.is_none() {
                    log_at!(
                        self.logger,
                        Warn,
                        "payment {id} succeeded but was never recorded"
                    );
                }
            }
            LdkEvent::PaymentFailed {
                payment_id,
                payment_hash,
                reason,
            } => {
                let id = payment_id.0.as_hex().to_string();
                let text = failure_reason_text(reason);
                if self.already_reported(&id, PaymentStatus::Failed) {
                    return Ok(());
                }
                self.queue(Event::PaymentFailed {
                    payment_id: id.clone(),
                    payment_hash: payment_hash.map(|h| h.0.as_hex().to_string()),
                    reason: text.clone(),
                })
                .await?;
                self.payments
                    .update(&id, |p| {
                        p.status = PaymentStatus::Failed;
                        p.failure_reason = Some(text.clone());
                    })
                    .await
                    .map_err(|e| self.replay(e))?;
            }
            LdkEvent::SpendableOutputs {
                outputs,
                channel_id,
            } => {
                // Static outputs already pay to the wallet (`WalletSignerProvider`).
                if self
                    .sweeper
                    .track_spendable_outputs(outputs, channel_id, true, None)
                    .await
                    .is_err()
                {
                    log_at!(
                        self.logger,
                        Error,
                        "the sweeper could not store outputs to sweep"
                    );
                    return Err(ReplayEvent());
                }
            }
            LdkEvent::ChannelPending {
                channel_id,
                counterparty_node_id,
                funding_txo,
                user_channel_id,
                ..
            } => {
                log_at!(
                    self.logger,
                    Info,
                    "channel {channel_id} pending, funding {funding_txo}"
                );
                self.remember_channel_peer(counterparty_node_id).await?;
                self.queue(Event::ChannelPending {
                    channel_id: hex_channel_id(&channel_id),
                    user_channel_id: format!("{user_channel_id:032x}"),
                    counterparty_node_id: counterparty_node_id.to_string(),
                    funding_txo: format!("{}:{}", funding_txo.txid, funding_txo.vout),
                })
                .await?;
            }
            LdkEvent::ChannelReady {
                channel_id,
                counterparty_node_id,
                user_channel_id,
                ..
            } => {
                log_at!(self.logger, Info, "channel {channel_id} ready");
                self.queue(Event::ChannelReady {
                    channel_id: hex_channel_id(&channel_id),
                    user_channel_id: format!("{user_channel_id:032x}"),
                    counterparty_node_id: counterparty_node_id.to_string(),
                })
                .await?;
            }
            LdkEvent::ChannelClosed {
                channel_id,
                counterparty_node_id,
                reason,
                user_channel_id,
                ..
            } => {
                log_at!(self.logger, Info, "channel {channel_id} closed: {reason}");
                self.queue(Event::ChannelClosed {
                    channel_id: hex_channel_id(&channel_id),
                    user_channel_id: format!("{user_channel_id:032x}"),
                    counterparty_node_id: counterparty_node_id.map(|n| n.to_string()),
                    reason: reason.to_string(),
                })
                .await?;
            }
            LdkEvent::DiscardFunding { funding_info, .. } => {
                if let FundingInfo::Tx { transaction } = funding_info {
                    if let Err(e) = self.wallet.cancel_transaction(&transaction).await {
                        log_at!(
                            self.logger,
                            Warn,
                            "forgetting a discarded funding transaction: {e}"
                        );
                    }
                }
            }
            LdkEvent::ConnectionNeeded { node_id, addresses } => {
                let inner = Arc::clone(self);
                self.supervisor.spawn("connection needed", async move {
                    for addr in addresses {
                        if connect_inner(&inner, node_id, &addr).await.is_ok() {
                            break;
                        }
                    }
                });
            }
            LdkEvent::HTLCHandlingFailed {
                failure_type: HTLCHandlingFailureType::Receive { payment_hash },
                ..
            } => {
                // A payment we received was given back. For a hold invoice that was waiting,
                // LDK gave up on it (its claim deadline came): the invoice is failed.
                let id = payment_hash.0.as_hex().to_string();
                let waiting = self.payments.get(&id).is_some_and(|p| {
                    p.status == PaymentStatus::Pending && p.claimable_amount_msat.is_some()
                });
                if waiting {
                    log_at!(
                        self.logger,
                        Warn,
                        "hold invoice {id} was not settled before its claim deadline: failed"
                    );
                    self.payments
                        .update(&id, |p| {
                            p.status = PaymentStatus::Failed;
                            p.claimable_amount_msat = None;
                            p.failure_reason = Some("not settled before its claim deadline".into());
                        })
                        .await
                        .map_err(|e| self.replay(e))?;
                }
            }
            LdkEvent::BumpTransaction(event) => {
                // CPFP of our commitment, or our HTLC transactions, paid from the wallet's
                // confirmed coins (chain/bump.rs). LDK asks again on later blocks if the
                // transaction does not confirm.
                self.bump_handler.handle_event(&event).await;
            }
            LdkEvent::OpenChannelRequest {
                temporary_channel_id,
                counterparty_node_id,
                funding_satoshis,
                channel_type,
                is_announced,
                ..
            } => self.accept_or_reject_channel(
                temporary_channel_id,
                counterparty_node_id,
                funding_satoshis,
                &channel_type,
                is_announced,
            ),
            other => {
                log_at!(self.logger, Debug, "LDK event not acted on: {other:?}");
            }
        }
        Ok(())
    }

    /// Our policy for channels a peer opens to us: private ones only (a browser node routes
    /// nothing, and a public channel would announce a node nobody can reach); an anchor
    /// channel only while the wallet holds its on-chain reserve, from our LSP too (a wallet
    /// without coins starts with a legacy JIT channel: LDK's funder falls back to one when
    /// we refuse anchors); zero-conf from the LSP only (a zero-conf channel is trusted not
    /// to be double-spent). Every channel of the LSP is
    /// accepted zero-conf (LDK's funder takes our `minimum_depth` of 0 whatever the channel
    /// type: a JIT channel must carry its payment at once), with [`lsp_channel_overrides`].
    fn accept_or_reject_channel(
        &self,
        temporary_channel_id: lightning::ln::types::ChannelId,
        counterparty_node_id: crate::bitcoin::secp256k1::PublicKey,
        funding_satoshis: u64,
        channel_type: &lightning::types::features::ChannelTypeFeatures,
        is_announced: bool,
    ) {
        let from_lsp = self
            .config
            .lsp
            .as_ref()
            .is_some_and(|(id, _)| *id == counterparty_node_id);
        let refusal = inbound_channel_refusal(&InboundChannel {
            is_announced,
            anchors: channel_type.requires_anchors_zero_fee_htlc_tx(),
            zero_conf: channel_type.requires_zero_conf(),
            from_lsp,
            spendable_sat: self.wallet.balance().spendable_sat,
            reserve_sat: self.anchor_reserve(1).to_sat(),
        });
        if let Some(why) = refusal {
            log_at!(
                self.logger,
                Warn,
                "refusing a {funding_satoshis} sat channel from {counterparty_node_id}: {why}"
            );
            let _ = self.channel_manager.force_close_broadcasting_latest_txn(
                &temporary_channel_id,
                &counterparty_node_id,
                format!("refused: {why}"),
            );
            return;
        }
        let user_channel_id = u128::from_be_bytes(
            lightning::sign::EntropySource::get_secure_random_bytes(&*self.keys)[..16]
                .try_into()
                .unwrap_or([0; 16]),
        );
        // The LSP's channels are zero-conf (a JIT channel carries the payment that made the
        // LSP open it, at once), may carry HTLCs short of what the payer sent (the LSP
        // withholds its opening fee: `PaymentClaimable` checks it against the quote), and may
        // have all of their value in flight to us (the whole payment is one HTLC).
        let accepted = if from_lsp {
            self.channel_manager
                .accept_inbound_channel_from_trusted_peer_0conf(
                    &temporary_channel_id,
                    &counterparty_node_id,
                    user_channel_id,
                    Some(lsp_channel_overrides()),
                )
        } else {
            self.channel_manager.accept_inbound_channel(
                &temporary_channel_id,
                &counterparty_node_id,
                user_channel_id,
                None,
            )
        };
        match accepted {
            Ok(()) => log_at!(
                self.logger,
                Info,
                "accepted a {funding_satoshis} sat channel from {counterparty_node_id}"
            ),
            Err(e) => log_at!(
                self.logger,
                Warn,
                "accepting a channel from {counterparty_node_id} failed: {e:?}"
            ),
        }
    }

    /// Remembers the peer of a new channel, so the node dials it after a restart: a browser
    /// cannot be dialled, so a peer that opened a channel to us reached us on a connection we
    /// made, whose address we keep.
    async fn remember_channel_peer(
        &self,
        node_id: crate::bitcoin::secp256k1::PublicKey,
    ) -> Result<(), ReplayEvent> {
        let id = node_id.to_string();
        if self.peers.get(&id).is_some() {
            return Ok(());
        }
        let Some(address) = self
            .peer_manager
            .peer_by_node_id(&node_id)
            .and_then(|p| p.socket_address)
        else {
            log_at!(
                self.logger,
                Warn,
                "no address to remember for channel peer {id}: it must dial us"
            );
            return Ok(());
        };
        let record = crate::peer_store::PeerRecord {
            node_id: id.clone(),
            address: address.to_string(),
        };
        self.peers.upsert(record).await.map_err(|e| self.replay(e))
    }

    /// Whether payment `id` is stored with the `outcome` an LDK event reports: the event
    /// is a replay (LDK had not persisted that it was handled), and its application event
    /// is already queued, so it is not queued again.
    fn already_reported(&self, id: &str, outcome: PaymentStatus) -> bool {
        let reported = self.payments.get(id).is_some_and(|p| p.status == outcome);
        if reported {
            log_at!(
                self.logger,
                Debug,
                "payment {id} already recorded as {outcome:?}: not reported again"
            );
        }
        reported
    }

    async fn queue(&self, event: Event) -> Result<(), ReplayEvent> {
        // Replayed after its event was stored but its payment status was not: still
        // waiting in the queue, it is not queued twice.
        if self.events.contains(&event) {
            return Ok(());
        }
        self.events
            .push(event)
            .await
            .map(|_| ())
            .map_err(|e| self.replay(e))
    }

    fn replay(&self, e: crate::Error) -> ReplayEvent {
        log_at!(
            self.logger,
            Error,
            "storing an event's result failed, LDK will replay it: {e}"
        );
        ReplayEvent()
    }
}

/// The kind of a received payment, by what LDK says it paid.
fn payment_kind(purpose: &PaymentPurpose) -> PaymentKind {
    // No wildcard: a new purpose in LDK must be named here.
    match purpose {
        PaymentPurpose::Bolt11InvoicePayment { .. } => PaymentKind::Bolt11,
        PaymentPurpose::Bolt12OfferPayment { .. } | PaymentPurpose::Bolt12RefundPayment { .. } => {
            PaymentKind::Bolt12
        }
        PaymentPurpose::SpontaneousPayment(_) => PaymentKind::Spontaneous,
    }
}

/// The settings of a channel the LSP opens to us, over our defaults (builder.rs).
fn lsp_channel_overrides() -> lightning::util::config::ChannelConfigOverrides {
    use lightning::util::config::{
        ChannelConfigOverrides, ChannelConfigUpdate, ChannelHandshakeConfigUpdate,
    };
    ChannelConfigOverrides {
        handshake_overrides: Some(ChannelHandshakeConfigUpdate {
            max_inbound_htlc_value_in_flight_percent_of_channel: Some(100),
            ..Default::default()
        }),
        update_overrides: Some(ChannelConfigUpdate {
            accept_underpaying_htlcs: Some(true),
            ..Default::default()
        }),
    }
}

/// Why an incoming payment of which a peer withheld `skimmed_msat` (LDK's
/// `counterparty_skimmed_fee_msat`; `amount_msat` arrived) must be failed back, or `None`:
/// only a JIT invoice's payment may be short, by at most the LSP's quote (`limit_msat`), and
/// what arrived plus what was withheld must cover the invoice (`invoice_msat`).
fn skim_refusal(
    amount_msat: u64,
    skimmed_msat: u64,
    limit_msat: Option<u64>,
    invoice_msat: Option<u64>,
) -> Option<String> {
    let limit = limit_msat.unwrap_or(0);
    if skimmed_msat > limit {
        return Some(format!(
            "the LSP withheld {skimmed_msat} msat, more than the {limit} msat it quoted"
        ));
    }
    match invoice_msat {
        Some(asked) if amount_msat.saturating_add(skimmed_msat) < asked => Some(format!(
            "{amount_msat} msat arrived and {skimmed_msat} msat were withheld: the invoice \
             asks {asked} msat"
        )),
        _ => None,
    }
}

/// What our policy looks at in a channel a peer opens to us.
#[derive(Clone, Copy, Debug)]
struct InboundChannel {
    is_announced: bool,
    anchors: bool,
    zero_conf: bool,
    from_lsp: bool,
    spendable_sat: u64,
    /// The reserve with this channel counted.
    reserve_sat: u64,
}

/// Why we refuse an inbound channel, or `None` to accept it. Each rule stands alone: a
/// channel that passes one is still checked by the others.
fn inbound_channel_refusal(c: &InboundChannel) -> Option<String> {
    if c.is_announced {
        return Some("a public channel (this node announces none)".into());
    }
    if c.zero_conf && !c.from_lsp {
        return Some("a zero-conf channel from a peer that is not our LSP".into());
    }
    // The LSP too: a wallet without coins can neither CPFP an anchor channel's commitment
    // nor pay the fee of its zero-fee HTLC-success transactions, so once the channel is no
    // longer zero-conf-young the LSP could let our HTLCs time out on-chain. Refused, LDK on
    // the LSP's side opens the same channel again without anchors (legacy,
    // `static_remote_key`, whose commitment pays its own fee), which we take zero-conf.
    // ldk-node waives the reserve only for peers its user lists (`trusted_peers_no_reserve`).
    if c.anchors && c.spendable_sat < c.reserve_sat {
        return Some(format!(
            "an anchor channel needs {} sat on-chain to bump its fees, the wallet has {} sat",
            c.reserve_sat, c.spendable_sat
        ));
    }
    None
}

/// The fee rate for funding and wallet transactions: LDK's non-urgent on-chain target.
pub(crate) fn wallet_fee_rate<F: FeeEstimator + ?Sized>(fees: &F) -> FeeRate {
    let sat_per_kw = fees.get_est_sat_per_1000_weight(ConfirmationTarget::OutputSpendingFee);
    FeeRate::from_sat_per_kwu(u64::from(sat_per_kw))
}

#[cfg(test)]
mod tests {
    use lightning::blinded_path::payment::Bolt12RefundContext;
    use lightning::events::PaymentPurpose;
    use lightning::types::payment::{PaymentPreimage, PaymentSecret};

    use super::{inbound_channel_refusal, payment_kind, skim_refusal, InboundChannel};

    #[test]
    fn only_a_jit_payment_may_be_short_by_the_quote() {
        // An ordinary payment: nothing may be withheld.
        assert_eq!(skim_refusal(50_000, 0, None, Some(50_000)), None);
        assert!(skim_refusal(49_999, 1, None, Some(50_000)).is_some());
        // A JIT payment: up to the quote.
        assert_eq!(skim_refusal(49_000, 1_000, Some(1_000), Some(50_000)), None);
        assert_eq!(skim_refusal(49_500, 500, Some(1_000), Some(50_000)), None);
        assert!(skim_refusal(48_999, 1_001, Some(1_000), Some(50_000))
            .is_some_and(|why| why.contains("more than the 1000 msat")));
        // Short of the invoice even with what was withheld.
        assert!(skim_refusal(48_000, 1_000, Some(1_000), Some(50_000))
            .is_some_and(|why| why.contains("asks 50000")));
    }
    use crate::payment::PaymentKind;

    #[test]
    fn bolt12_payments_are_not_labelled_bolt11() {
        let preimage = Some(PaymentPreimage([1; 32]));
        let secret = PaymentSecret([2; 32]);
        let cases = [
            (
                PaymentPurpose::Bolt11InvoicePayment {
                    payment_preimage: preimage,
                    payment_secret: secret,
                },
                PaymentKind::Bolt11,
            ),
            (
                PaymentPurpose::Bolt12RefundPayment {
                    payment_preimage: preimage,
                    payment_secret: secret,
                    payment_context: Bolt12RefundContext {},
                },
                PaymentKind::Bolt12,
            ),
            (
                PaymentPurpose::SpontaneousPayment(PaymentPreimage([3; 32])),
                PaymentKind::Spontaneous,
            ),
        ];
        for (purpose, kind) in cases {
            assert_eq!(payment_kind(&purpose), kind, "{purpose:?}");
        }
        assert_eq!(
            serde_json::to_string(&PaymentKind::Bolt12).unwrap(),
            "\"bolt12\""
        );
    }

    #[test]
    fn inbound_channel_policy() {
        let ok = InboundChannel {
            is_announced: false,
            anchors: true,
            zero_conf: false,
            from_lsp: false,
            spendable_sat: 30_000,
            reserve_sat: 25_000,
        };
        assert_eq!(inbound_channel_refusal(&ok), None);
        let public = InboundChannel {
            is_announced: true,
            ..ok
        };
        assert!(inbound_channel_refusal(&public).is_some());
        // A stranger's zero-conf channel is refused even when the anchor reserve is there
        // (a review found the rules chained, the first passing one skipping the rest).
        let zero_conf = InboundChannel {
            zero_conf: true,
            ..ok
        };
        assert!(inbound_channel_refusal(&zero_conf).is_some_and(|why| why.contains("zero-conf")));
        let from_lsp = InboundChannel {
            zero_conf: true,
            from_lsp: true,
            ..ok
        };
        assert_eq!(inbound_channel_refusal(&from_lsp), None);
        // Not even the LSP's anchor channel without the reserve (its legacy retry is taken).
        let lsp_poor = InboundChannel {
            spendable_sat: 0,
            ..from_lsp
        };
        assert!(inbound_channel_refusal(&lsp_poor).is_some_and(|why| why.contains("25000 sat")));
        let lsp_legacy = InboundChannel {
            anchors: false,
            ..lsp_poor
        };
        assert_eq!(inbound_channel_refusal(&lsp_legacy), None);
        let poor = InboundChannel {
            spendable_sat: 24_999,
            ..ok
        };
        assert!(inbound_channel_refusal(&poor).is_some_and(|why| why.contains("25000 sat")));
        let legacy = InboundChannel {
            anchors: false,
            ..poor
        };
        assert_eq!(inbound_channel_refusal(&legacy), None);
    }
}
