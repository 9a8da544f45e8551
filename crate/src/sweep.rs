//! The [`OutputSpender`] behind the node's `OutputSweeper`: LDK's [`KeysManager`] signs, but
//! the sweep is assembled here, without `KeysManager::spend_spendable_outputs`.
//!
//! Why (#14 item 12): that function ends with a debug assertion that LDK's weight estimate
//! overshoots the signed transaction by at most 3 weight units per input. The estimate for a
//! delayed (`to_self_delay`) output assumes the delay takes a 3-byte push in the witness
//! script; a counterparty that asks for 16 blocks or fewer (Core Lightning does on test
//! networks) makes it a single opcode, 2 bytes shorter, and a signature with a low R is 1 byte
//! shorter again. Every other sweep of such an output then panics in a debug build: the
//! panic killed the background processor, so nothing was swept, and after a restart the
//! same sweep (now batched with newer outputs) panicked again. A release build skips the
//! assertion and sweeps, paying a few sats more fee than needed. Here the transaction is
//! built and signed with LDK's own public steps, and only the check that matters for money
//! is kept: the signed transaction is no heavier than the weight its fee was computed for.

use std::sync::Arc;

use lightning::sign::{KeysManager, OutputSpender, SpendableOutputDescriptor};

use crate::bitcoin::absolute::LockTime;
use crate::bitcoin::secp256k1::{All, Secp256k1};
use crate::bitcoin::{ScriptBuf, Transaction, TxOut};
use crate::logger::{log_at, NodeLogger};

/// Builds and signs the sweeps of the node's spendable outputs.
pub struct NodeOutputSpender {
    keys: Arc<KeysManager>,
    logger: Arc<NodeLogger>,
}

impl NodeOutputSpender {
    /// Signs with `keys`.
    pub fn new(keys: Arc<KeysManager>, logger: Arc<NodeLogger>) -> Self {
        NodeOutputSpender { keys, logger }
    }
}

impl OutputSpender for NodeOutputSpender {
    fn spend_spendable_outputs(
        &self,
        descriptors: &[&SpendableOutputDescriptor],
        outputs: Vec<TxOut>,
        change_destination_script: ScriptBuf,
        feerate_sat_per_1000_weight: u32,
        locktime: Option<LockTime>,
        secp_ctx: &Secp256k1<All>,
    ) -> Result<Transaction, ()> {
        let (psbt, max_weight) = SpendableOutputDescriptor::create_spendable_outputs_psbt(
            secp_ctx,
            descriptors,
            outputs,
            change_destination_script,
            feerate_sat_per_1000_weight,
            locktime,
        )?;
        let psbt = self
            .keys
            .sign_spendable_outputs_psbt(descriptors, psbt, secp_ctx)?;
        let tx = psbt.extract_tx_unchecked_fee_rate();
        let weight = tx.weight().to_wu();
        if weight > max_weight {
            // Its fee would be short of the rate asked for: better no sweep now (the sweeper
            // tries again with the next block) than one that may never confirm.
            log_at!(
                self.logger,
                Error,
                "sweep {} weighs {weight} WU, more than the {max_weight} WU its fee is for",
                tx.compute_txid()
            );
            return Err(());
        }
        Ok(tx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitcoin::hashes::Hash;
    use crate::bitcoin::secp256k1::{PublicKey, SecretKey};
    use crate::bitcoin::{Amount, Txid, WPubkeyHash};
    use lightning::chain::transaction::OutPoint;
    use lightning::ln::chan_utils::get_revokeable_redeemscript;
    use lightning::ln::channel_keys::{DelayedPaymentKey, RevocationKey};
    use lightning::sign::{ChannelSigner, DelayedPaymentOutputDescriptor};

    fn point(i: u8) -> PublicKey {
        let secret = SecretKey::from_slice(&[i; 32]).expect("valid secret");
        PublicKey::from_secret_key(&Secp256k1::new(), &secret)
    }

    /// Our `to_local` output of a force close (or an HTLC transaction's output), as the
    /// channel monitor describes it, with the counterparty's `to_self_delay` of `delay`.
    fn delayed_output(keys: &KeysManager, i: u8, delay: u16) -> SpendableOutputDescriptor {
        let secp = Secp256k1::new();
        let basepoint = keys
            .derive_channel_keys(&[i; 32])
            .pubkeys(&secp)
            .delayed_payment_basepoint;
        let delayed_key = DelayedPaymentKey::from_basepoint(&secp, &basepoint, &point(i));
        let revocation_key = RevocationKey(point(i.wrapping_add(100)));
        let script = get_revokeable_redeemscript(&revocation_key, delay, &delayed_key);
        SpendableOutputDescriptor::DelayedPaymentOutput(DelayedPaymentOutputDescriptor {
            outpoint: OutPoint {
                txid: Txid::from_byte_array([i; 32]),
                index: 0,
            },
            per_commitment_point: point(i),
            to_self_delay: delay,
            output: TxOut {
                value: Amount::from_sat(259_095),
                script_pubkey: ScriptBuf::new_p2wsh(&script.wscript_hash()),
            },
            revocation_pubkey: revocation_key,
            channel_keys_id: [i; 32],
            channel_value_satoshis: 500_000,
            channel_transaction_parameters: None,
        })
    }

    fn change() -> ScriptBuf {
        ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([3; 20]))
    }

    /// A counterparty's `to_self_delay` of 16 blocks or fewer: LDK's own
    /// `spend_spendable_outputs` panics (debug builds) on about every other such sweep; ours
    /// signs every one, with the delay as the input's sequence and a fee that covers it.
    #[test]
    fn short_to_self_delay_sweeps_without_panicking() {
        let keys = Arc::new(KeysManager::new(&[7; 32], 1, 2, true));
        let spender = NodeOutputSpender::new(
            Arc::clone(&keys),
            Arc::new(NodeLogger::new(lightning::util::logger::Level::Warn)),
        );
        let secp = Secp256k1::new();
        let mut ldk_panics = 0;
        for delay in [1u16, 6, 16, 17, 144, 2016] {
            for i in 1..=20u8 {
                let d = delayed_output(&keys, i, delay);
                let tx = spender
                    .spend_spendable_outputs(&[&d], vec![], change(), 253, None, &secp)
                    .expect("sweep");
                assert_eq!(tx.input.len(), 1);
                assert_eq!(tx.input[0].sequence.0, u32::from(delay));
                assert_eq!(tx.input[0].witness.len(), 3);
                assert_eq!(tx.output.len(), 1);
                assert_eq!(tx.output[0].script_pubkey, change());
                let fee = 259_095 - tx.output[0].value.to_sat();
                assert!(fee >= 253 * tx.weight().to_wu() / 1000, "fee {fee} too low");

                // (Until the first panic: each prints its message.)
                if delay <= 16 && ldk_panics == 0 {
                    let ldk = std::panic::catch_unwind(|| {
                        keys.spend_spendable_outputs(&[&d], vec![], change(), 253, None, &secp)
                    });
                    if ldk.is_err() {
                        ldk_panics += 1;
                    }
                }
            }
        }
        // The reason this module exists (LDK's assertion is compiled in debug builds only).
        if cfg!(debug_assertions) {
            assert!(
                ldk_panics > 0,
                "LDK's spend_spendable_outputs no longer panics"
            );
        }
    }
}
