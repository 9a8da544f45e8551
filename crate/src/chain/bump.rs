//! Fee bumping for anchor channels: the BDK wallet as LDK's [`WalletSource`], so LDK's
//! `BumpTransactionEventHandler` can attach a child paying for our commitment transaction
//! (CPFP through its anchor) and fund our zero-fee HTLC transactions from the wallet's
//! confirmed coins.
//!
//! # The on-chain reserve
//!
//! An anchor channel's commitment transaction pays only a minimal fee; when it must confirm
//! (we force-close, or the peer vanished with HTLCs pending) the fee comes from the wallet. So
//! the node keeps [`ANCHOR_RESERVE_PER_CHANNEL_SAT`] on-chain per anchor channel: opening one
//! and on-chain sends refuse to go below it ([`crate::Error::InsufficientFunds`], naming the
//! reserve), and `send_all` leaves it behind. We keep ldk-node's figure, 25,000 sat: at
//! 25 sat/vB it pays for a commitment carrying ten HTLCs (about 710 vB) and the child that
//! bumps it, and at 100 sat/vB still for a commitment without HTLCs, which is what a wallet
//! closing a channel usually has. A reserve grows with HTLC count and fee rates; a bigger one
//! would lock more of a small browser wallet than it holds.

use std::sync::Arc;

use lightning::events::bump_transaction::{Utxo, WalletSource};
use lightning::util::async_poll::AsyncResult;

use crate::bitcoin::hashes::Hash as _;
use crate::bitcoin::psbt::Psbt;
use crate::bitcoin::{ScriptBuf, Transaction, WPubkeyHash};
use crate::chain::wallet::OnchainWallet;
use crate::io::DynStore;
use crate::runtime;

/// Sats kept on-chain per anchor channel for fee bumping (see the module doc).
pub const ANCHOR_RESERVE_PER_CHANNEL_SAT: u64 = 25_000;

/// The wallet, seen by LDK's coin selection.
pub struct BumpWalletSource {
    wallet: Arc<OnchainWallet<DynStore>>,
}

impl BumpWalletSource {
    pub fn new(wallet: Arc<OnchainWallet<DynStore>>) -> Self {
        BumpWalletSource { wallet }
    }
}

impl WalletSource for BumpWalletSource {
    fn list_confirmed_utxos<'a>(&'a self) -> AsyncResult<'a, Vec<Utxo>, ()> {
        // Our descriptors are BIP84: every output is P2WPKH (the witness program is the hash).
        let utxos = self
            .wallet
            .confirmed_utxos()
            .into_iter()
            .filter_map(|(outpoint, txout)| {
                let hash = txout
                    .script_pubkey
                    .is_p2wpkh()
                    .then(|| WPubkeyHash::from_slice(&txout.script_pubkey.as_bytes()[2..22]).ok())
                    .flatten()?;
                Some(Utxo::new_v0_p2wpkh(outpoint, txout.value, &hash))
            })
            .collect();
        Box::pin(core::future::ready(Ok(utxos)))
    }

    fn get_change_script<'a>(&'a self) -> AsyncResult<'a, ScriptBuf, ()> {
        Box::pin(async move {
            self.wallet.change_script().await.map_err(|e| {
                runtime::log_warn(&format!("no change address for a fee bump: {e}"));
            })
        })
    }

    fn sign_psbt<'a>(&'a self, psbt: Psbt) -> AsyncResult<'a, Transaction, ()> {
        let tx = self.wallet.sign_foreign_psbt(psbt).map_err(|e| {
            runtime::log_warn(&format!("signing a fee bump: {e}"));
        });
        Box::pin(core::future::ready(tx))
    }
}
