//! The faucet: a P2WPKH key the server holds; mining "to the faucet" pays its coinbase there.

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{All, Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::transaction::Version;
use bitcoin::{
    absolute, Address, Amount, CompressedPublicKey, Network, ScriptBuf, Sequence, Transaction,
    TxIn, TxOut, Witness,
};

use crate::index::{IndexedUtxo, TxLoc};

/// Coinbase outputs are spendable once they have this many confirmations.
pub const COINBASE_MATURITY: u32 = 100;

/// The faucet key.
pub struct Faucet {
    secp: Secp256k1<All>,
    secret: SecretKey,
    pubkey: CompressedPublicKey,
    address: Address,
}

impl Faucet {
    /// The deterministic faucet (the same key on every run, so a reused datadir's coins stay
    /// spendable). Regtest only.
    pub fn new() -> anyhow::Result<Self> {
        let secp = Secp256k1::new();
        let seed = sha256::Hash::hash(b"regtest-esplora faucet key v1");
        let secret = SecretKey::from_slice(seed.as_byte_array())?;
        let pubkey = CompressedPublicKey(secret.public_key(&secp));
        let address = Address::p2wpkh(&pubkey, Network::Regtest);
        Ok(Faucet {
            secp,
            secret,
            pubkey,
            address,
        })
    }

    /// The faucet's address.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The faucet's scriptPubKey.
    pub fn script_pubkey(&self) -> ScriptBuf {
        self.address.script_pubkey()
    }

    /// Whether the faucet may spend `u` with the chain tip at `tip_height`: mature coinbase
    /// (≥ 100 confirmations) or any non-coinbase output, confirmed or not.
    pub fn spendable(u: &IndexedUtxo, tip_height: u32) -> bool {
        if !u.is_coinbase {
            return true;
        }
        match u.loc {
            TxLoc::Confirmed { height, .. } => tip_height + 1 - height >= COINBASE_MATURITY,
            TxLoc::Mempool { .. } => false,
        }
    }

    /// Builds and signs a transaction paying `amount` to `dest` from `utxos` (already filtered
    /// to spendable ones), with change back to the faucet. Prefers confirmed coins, largest
    /// first.
    pub fn build(
        &self,
        mut utxos: Vec<IndexedUtxo>,
        dest: &Address,
        amount: Amount,
        fee_rate_sat_vb: f64,
    ) -> anyhow::Result<Transaction> {
        utxos.sort_by_key(|u| {
            (
                matches!(u.loc, TxLoc::Mempool { .. }),
                std::cmp::Reverse(u.txout.value),
            )
        });
        let available: Amount = utxos.iter().map(|u| u.txout.value).sum();
        let change_spk = self.script_pubkey();
        let mut tx = Transaction {
            version: Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: Vec::new(),
            output: vec![TxOut {
                value: amount,
                script_pubkey: dest.script_pubkey(),
            }],
        };
        let mut chosen: Vec<TxOut> = Vec::new();
        let mut total = Amount::ZERO;
        let dummy = {
            let mut w = Witness::new();
            w.push([0u8; 72]);
            w.push([0u8; 33]);
            w
        };
        let fee_for = |tx: &Transaction| -> Amount {
            Amount::from_sat((tx.vsize() as f64 * fee_rate_sat_vb).ceil() as u64)
        };
        let mut iter = utxos.into_iter();
        loop {
            // Fee with a change output.
            let mut with_change = tx.clone();
            with_change.output.push(TxOut {
                value: Amount::ZERO,
                script_pubkey: change_spk.clone(),
            });
            let fee_change = fee_for(&with_change);
            let fee_plain = fee_for(&tx);
            if !tx.input.is_empty() && total >= amount + fee_plain {
                let change = total - amount - fee_change.min(total - amount);
                if total >= amount + fee_change && change >= Amount::from_sat(1000) {
                    tx.output.push(TxOut {
                        value: total - amount - fee_change,
                        script_pubkey: change_spk.clone(),
                    });
                }
                break;
            }
            match iter.next() {
                Some(u) => {
                    tx.input.push(TxIn {
                        previous_output: u.outpoint,
                        script_sig: ScriptBuf::new(),
                        sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                        witness: dummy.clone(),
                    });
                    total += u.txout.value;
                    chosen.push(u.txout);
                }
                None => anyhow::bail!(
                    "faucet: insufficient mature funds: {} sat spendable (mature coinbase or change), {} sat + fee needed; mine more blocks to the faucet",
                    available.to_sat(),
                    amount.to_sat()
                ),
            }
        }
        let spk = self.script_pubkey();
        let mut sigs = Vec::with_capacity(chosen.len());
        {
            let mut cache = SighashCache::new(&tx);
            for (i, prev) in chosen.iter().enumerate() {
                let sighash =
                    cache.p2wpkh_signature_hash(i, &spk, prev.value, EcdsaSighashType::All)?;
                let msg = Message::from(sighash);
                let signature = self.secp.sign_ecdsa(&msg, &self.secret);
                sigs.push(bitcoin::ecdsa::Signature {
                    signature,
                    sighash_type: EcdsaSighashType::All,
                });
            }
        }
        for (input, sig) in tx.input.iter_mut().zip(sigs) {
            input.witness = Witness::p2wpkh(&sig, &self.pubkey.0);
        }
        Ok(tx)
    }
}
