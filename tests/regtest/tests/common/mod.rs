//! Shared helpers: keys, signing with rust-bitcoin, esplora-client.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use bitcoin::hashes::Hash;
use bitcoin::key::rand::thread_rng;
use bitcoin::script::Builder;
use bitcoin::secp256k1::{All, Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::transaction::Version;
use bitcoin::{
    absolute, Address, Amount, CompressedPublicKey, Network, OutPoint, ScriptBuf, Sequence,
    Transaction, TxIn, TxOut, Txid, Witness,
};
use esplora_client::AsyncClient;
use regtest_esplora::{Config, RegtestEsplora};

pub async fn start() -> RegtestEsplora {
    RegtestEsplora::start()
        .await
        .expect("start regtest-esplora")
}

pub async fn start_with(config: Config) -> RegtestEsplora {
    RegtestEsplora::start_with(config)
        .await
        .expect("start regtest-esplora")
}

pub fn client(es: &RegtestEsplora) -> AsyncClient {
    esplora_client::Builder::new(es.esplora_url())
        .build_async()
        .expect("esplora client")
}

/// A P2WPKH key.
pub struct Key {
    pub secp: Secp256k1<All>,
    pub secret: SecretKey,
    pub pubkey: CompressedPublicKey,
    pub address: Address,
}

impl Key {
    pub fn new() -> Self {
        let secp = Secp256k1::new();
        let (secret, pk) = secp.generate_keypair(&mut thread_rng());
        let pubkey = CompressedPublicKey(pk);
        let address = Address::p2wpkh(&pubkey, Network::Regtest);
        Key {
            secp,
            secret,
            pubkey,
            address,
        }
    }

    pub fn spk(&self) -> ScriptBuf {
        self.address.script_pubkey()
    }

    pub fn sign_ecdsa(&self, sighash: [u8; 32]) -> bitcoin::ecdsa::Signature {
        let msg = Message::from_digest(sighash);
        bitcoin::ecdsa::Signature {
            signature: self.secp.sign_ecdsa(&msg, &self.secret),
            sighash_type: EcdsaSighashType::All,
        }
    }

    /// Spends P2WPKH `prevouts` (all this key's) to `outputs`, signed.
    pub fn spend(&self, prevouts: &[(OutPoint, TxOut)], outputs: Vec<TxOut>) -> Transaction {
        self.spend_with(
            prevouts,
            outputs,
            absolute::LockTime::ZERO,
            Sequence::ENABLE_RBF_NO_LOCKTIME,
        )
    }

    pub fn spend_with(
        &self,
        prevouts: &[(OutPoint, TxOut)],
        outputs: Vec<TxOut>,
        lock_time: absolute::LockTime,
        sequence: Sequence,
    ) -> Transaction {
        let mut tx = unsigned(
            prevouts.iter().map(|(o, _)| *o).collect(),
            outputs,
            lock_time,
            sequence,
        );
        let spk = self.spk();
        let sigs: Vec<_> = {
            let mut cache = SighashCache::new(&tx);
            prevouts
                .iter()
                .enumerate()
                .map(|(i, (_, prev))| {
                    let h = cache
                        .p2wpkh_signature_hash(i, &spk, prev.value, EcdsaSighashType::All)
                        .unwrap();
                    self.sign_ecdsa(h.to_byte_array())
                })
                .collect()
        };
        for (input, sig) in tx.input.iter_mut().zip(sigs) {
            input.witness = Witness::p2wpkh(&sig, &self.pubkey.0);
        }
        tx
    }

    /// Spends one P2WSH output whose witness script needs only this key's signature.
    pub fn spend_p2wsh(
        &self,
        prevout: (OutPoint, TxOut),
        witness_script: &ScriptBuf,
        outputs: Vec<TxOut>,
        lock_time: absolute::LockTime,
        sequence: Sequence,
        version: Version,
    ) -> Transaction {
        let mut tx = unsigned(vec![prevout.0], outputs, lock_time, sequence);
        tx.version = version;
        let h = SighashCache::new(&tx)
            .p2wsh_signature_hash(0, witness_script, prevout.1.value, EcdsaSighashType::All)
            .unwrap();
        let sig = self.sign_ecdsa(h.to_byte_array());
        let mut w = Witness::new();
        w.push(sig.to_vec());
        w.push(witness_script.as_bytes());
        tx.input[0].witness = w;
        tx
    }

    /// `<n> OP_CLTV/OP_CSV OP_DROP <pk> OP_CHECKSIG`.
    pub fn timelocked_script(&self, n: i64, csv: bool) -> ScriptBuf {
        use bitcoin::opcodes::all::*;
        Builder::new()
            .push_int(n)
            .push_opcode(if csv { OP_CSV } else { OP_CLTV })
            .push_opcode(OP_DROP)
            .push_slice(self.pubkey.to_bytes())
            .push_opcode(OP_CHECKSIG)
            .into_script()
    }
}

pub fn unsigned(
    inputs: Vec<OutPoint>,
    outputs: Vec<TxOut>,
    lock_time: absolute::LockTime,
    sequence: Sequence,
) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time,
        input: inputs
            .into_iter()
            .map(|previous_output| TxIn {
                previous_output,
                script_sig: ScriptBuf::new(),
                sequence,
                witness: Witness::new(),
            })
            .collect(),
        output: outputs,
    }
}

pub fn pay(address: &Address, sats: u64) -> TxOut {
    TxOut {
        value: Amount::from_sat(sats),
        script_pubkey: address.script_pubkey(),
    }
}

/// The output of `txid` paying `spk`, as esplora reports it.
pub async fn find_output(client: &AsyncClient, txid: &Txid, spk: &ScriptBuf) -> (OutPoint, TxOut) {
    let tx = client.get_tx_no_opt(txid).await.expect("get_tx");
    let vout = tx
        .output
        .iter()
        .position(|o| &o.script_pubkey == spk)
        .expect("output to script");
    (OutPoint::new(*txid, vout as u32), tx.output[vout].clone())
}

/// The HTTP status and message of a failed esplora-client call.
pub fn http_error(e: esplora_client::Error) -> (u16, String) {
    match e {
        esplora_client::Error::HttpResponse { status, message } => (status, message),
        other => panic!("expected an HTTP error, got {other:?}"),
    }
}

/// Polls `f` until it returns true (bounded).
pub async fn wait_until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
