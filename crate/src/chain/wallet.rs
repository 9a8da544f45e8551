//! The on-chain wallet (DESIGN.md §1): a BDK [`Wallet`] in memory over the BIP84 descriptors
//! of the node's seed ([`crate::keys::bip84_descriptors`]), synced through Esplora with
//! `bdk_esplora`, its state kept in our [`KVStore`].
//!
//! # Persistence
//!
//! The wallet's whole BDK [`ChangeSet`] (descriptors, network, chain, transactions, revealed
//! indices), aggregated, is stored as JSON at
//! [`BDK_WALLET_PERSISTENCE_PRIMARY_NAMESPACE`]/[`BDK_WALLET_PERSISTENCE_SECONDARY_NAMESPACE`]/
//! [`BDK_WALLET_CHANGESET_KEY`]. Every change (a revealed address, a sync) rewrites it, and
//! the call that made the change returns only after the write completed. On open a stored
//! changeset is loaded, and refused when it belongs to another network
//! ([`Error::WrongNetwork`]) or other descriptors, another seed ([`Error::InvalidConfig`]).
//!
//! # Sync
//!
//! The first [`OnchainWallet::sync`] of a wallet whose chain is still at genesis (new, or
//! restored from the mnemonic alone) is a full scan with a gap limit of [`STOP_GAP`]; later
//! ones sync the revealed scripts only. Time comes from [`runtime::now`] (the `*_at` request
//! builders), never from `SystemTime`.
//!
//! No lock is held across an `.await`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bdk_esplora::EsploraAsyncExt;
use bdk_wallet::chain::Merge;
use bdk_wallet::error::CreateTxError;
use bdk_wallet::{ChangeSet, KeychainKind, LoadError, LoadMismatch, SignOptions, Update, Wallet};
use lightning::io;
use lightning::sign::ChangeDestinationSource;
use lightning::util::async_poll::AsyncResult;
use lightning::util::persist::KVStore;

use crate::bitcoin::psbt::Psbt;
use crate::bitcoin::{Address, Amount, FeeRate, ScriptBuf, Transaction};
use crate::chain::esplora::EsploraClient;
use crate::io::{
    read_optional, BDK_WALLET_CHANGESET_KEY, BDK_WALLET_PERSISTENCE_PRIMARY_NAMESPACE,
    BDK_WALLET_PERSISTENCE_SECONDARY_NAMESPACE,
};
use crate::{keys, runtime, Error, Network};

/// The gap limit of a full scan: how many unused addresses in a row end it.
pub const STOP_GAP: usize = 20;
/// Esplora requests a sync runs at once.
pub const PARALLEL_REQUESTS: usize = 4;

impl From<Box<esplora_client::Error>> for Error {
    fn from(e: Box<esplora_client::Error>) -> Self {
        Error::from(*e)
    }
}

impl From<bdk_wallet::chain::local_chain::CannotConnectError> for Error {
    fn from(e: bdk_wallet::chain::local_chain::CannotConnectError) -> Self {
        // The chain moved under the sync (a reorg): the next sync starts afresh.
        Error::ChainSourceUnavailable(format!("wallet sync raced a chain change: {e}"))
    }
}

impl From<LoadError> for Error {
    fn from(e: LoadError) -> Self {
        match e {
            LoadError::Mismatch(LoadMismatch::Network { loaded, expected }) => Error::WrongNetwork(
                format!("the stored wallet is on {loaded}, this node runs on {expected}"),
            ),
            LoadError::Mismatch(m @ LoadMismatch::Descriptor { .. }) => {
                Error::InvalidConfig(format!("the stored wallet belongs to another seed: {m}"))
            }
            LoadError::Mismatch(m @ LoadMismatch::Genesis { .. }) => {
                Error::WrongNetwork(format!("the stored wallet is on another chain: {m}"))
            }
            other => Error::StorageUnavailable(format!("stored wallet is corrupt: {other}")),
        }
    }
}

impl From<CreateTxError> for Error {
    fn from(e: CreateTxError) -> Self {
        match e {
            CreateTxError::CoinSelection(e) => Error::InsufficientFunds(e.to_string()),
            CreateTxError::NoUtxosSelected => Error::InsufficientFunds("no spendable coins".into()),
            CreateTxError::OutputBelowDustLimit(_) => {
                Error::InsufficientFunds(format!("the amount is below the dust limit: {e}"))
            }
            other => Error::Internal(format!("building a transaction: {other}")),
        }
    }
}

impl From<bdk_wallet::descriptor::DescriptorError> for Error {
    fn from(e: bdk_wallet::descriptor::DescriptorError) -> Self {
        Error::Internal(format!("wallet descriptor: {e}"))
    }
}

/// On-chain balance in satoshis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WalletBalance {
    /// In confirmed transactions (mature).
    pub confirmed_sat: u64,
    /// In unconfirmed transactions: our own change (trusted) and incoming (untrusted).
    pub unconfirmed_sat: u64,
    /// Coinbase outputs not yet mature.
    pub immature_sat: u64,
    /// What a new transaction may spend: confirmed plus our own unconfirmed change.
    pub spendable_sat: u64,
}

/// What a [`OnchainWallet::sync`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalletSyncKind {
    /// Scanned each keychain until [`STOP_GAP`] unused addresses (first sync, or a restore).
    FullScan,
    /// Synced the revealed addresses only.
    Revealed,
}

struct Inner {
    wallet: Wallet,
    /// Everything persisted so far plus what was staged since: what the store holds after the
    /// next write.
    changeset: ChangeSet,
}

/// The node's on-chain wallet.
pub struct OnchainWallet<K: KVStore + ?Sized> {
    inner: Mutex<Inner>,
    /// An address was handed out since the last sync: the next sync looks for payments to it
    /// even if no block came.
    revealed_since_sync: AtomicBool,
    store: Arc<K>,
    network: Network,
}

impl<K: KVStore + ?Sized> core::fmt::Debug for OnchainWallet<K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OnchainWallet")
            .field("network", &self.network)
            .finish_non_exhaustive()
    }
}

fn storage(e: io::Error) -> Error {
    Error::StorageUnavailable(format!("wallet changeset: {e}"))
}

impl<K: KVStore + ?Sized + 'static> OnchainWallet<K> {
    /// Opens the wallet of `bip39_seed` on `network`: loads it from `store`, or creates it
    /// there (and writes it) when the store has none.
    pub async fn open(
        store: Arc<K>,
        bip39_seed: &[u8; 64],
        network: Network,
    ) -> Result<Self, Error> {
        let (external, internal) = keys::bip84_descriptors(bip39_seed, network)?;
        let stored = read_optional(
            &*store,
            BDK_WALLET_PERSISTENCE_PRIMARY_NAMESPACE,
            BDK_WALLET_PERSISTENCE_SECONDARY_NAMESPACE,
            BDK_WALLET_CHANGESET_KEY,
        )
        .await
        .map_err(storage)?;
        let loaded = match stored {
            Some(bytes) => {
                let changeset: ChangeSet = serde_json::from_slice(&bytes).map_err(|e| {
                    Error::StorageUnavailable(format!("stored wallet is corrupt: {e}"))
                })?;
                Wallet::load()
                    .descriptor(KeychainKind::External, Some(external.clone()))
                    .descriptor(KeychainKind::Internal, Some(internal.clone()))
                    .extract_keys()
                    .check_network(network.to_bitcoin())
                    .load_wallet_no_persist(changeset.clone())?
                    .map(|wallet| Inner { wallet, changeset })
            }
            None => None,
        };
        let (inner, write) = match loaded {
            Some(inner) => (inner, None),
            None => {
                let wallet = Wallet::create(external, internal)
                    .network(network.to_bitcoin())
                    .create_wallet_no_persist()?;
                let mut inner = Inner {
                    wallet,
                    changeset: ChangeSet::default(),
                };
                let write = stage(&mut inner, &*store)?;
                (inner, write)
            }
        };
        if let Some(write) = write {
            write.await.map_err(storage)?;
        }
        Ok(OnchainWallet {
            inner: Mutex::new(inner),
            revealed_since_sync: AtomicBool::new(false),
            store,
            network,
        })
    }

    /// The network.
    pub fn network(&self) -> Network {
        self.network
    }

    /// The lock is never held across an `.await`; a panic while held leaves BDK's state as
    /// it was before the call, so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new receiving address (the next unused BIP84 index), persisted before it is returned
    /// so it is watched after a restart.
    pub async fn new_address(&self) -> Result<Address, Error> {
        let (address, write) = {
            let mut inner = self.lock();
            let info = inner.wallet.reveal_next_address(KeychainKind::External);
            (info.address, stage(&mut inner, &*self.store)?)
        };
        self.revealed_since_sync.store(true, Ordering::Release);
        if let Some(write) = write {
            write.await.map_err(storage)?;
        }
        Ok(address)
    }

    /// The balance as of the last sync.
    pub fn balance(&self) -> WalletBalance {
        let b = self.lock().wallet.balance();
        WalletBalance {
            confirmed_sat: b.confirmed.to_sat(),
            unconfirmed_sat: (b.trusted_pending + b.untrusted_pending).to_sat(),
            immature_sat: b.immature.to_sat(),
            spendable_sat: b.trusted_spendable().to_sat(),
        }
    }

    /// A fresh change script (the next internal BIP84 address) for LDK: cooperative-close
    /// payouts and swept outputs land in this wallet. Its index is written to the store
    /// before this returns when the store writes synchronously, and otherwise issued now and
    /// completed in the background (LDK asks from synchronous code); a lost index is found
    /// again by a full scan on restore.
    pub fn next_change_script(&self) -> Result<ScriptBuf, Error> {
        let (script, write) = {
            let mut inner = self.lock();
            let info = inner.wallet.reveal_next_address(KeychainKind::Internal);
            (
                info.address.script_pubkey(),
                stage(&mut inner, &*self.store)?,
            )
        };
        if let Some(write) = write {
            runtime::spawn_local(async move {
                if let Err(e) = write.await {
                    runtime::log_warn(&format!("persisting a change address failed: {e}"));
                }
            });
        }
        Ok(script)
    }

    /// Builds and signs a transaction paying `amount` to `script` (or, with `amount` `None`,
    /// everything the wallet can spend) at `fee_rate`, leaving at least `reserve` spendable
    /// (with `amount` `None`, `reserve` goes to a change output of ours). The transaction is
    /// recorded as ours and unconfirmed, and persisted, before it is returned: its inputs are
    /// never spent twice and the balance shows it at once. The caller broadcasts it (or hands
    /// it to LDK).
    pub async fn create_transaction(
        &self,
        script: ScriptBuf,
        amount: Option<Amount>,
        fee_rate: FeeRate,
        reserve: Amount,
    ) -> Result<Transaction, Error> {
        let (tx, write) = {
            let mut inner = self.lock();
            let spendable = inner.wallet.balance().trusted_spendable();
            let keep_to = (amount.is_none() && reserve > Amount::ZERO).then(|| {
                inner
                    .wallet
                    .next_unused_address(KeychainKind::Internal)
                    .script_pubkey()
            });
            let mut builder = inner.wallet.build_tx();
            builder.fee_rate(fee_rate);
            match (amount, keep_to) {
                (Some(amount), _) => {
                    builder.add_recipient(script, amount);
                }
                (None, Some(keep_to)) => {
                    builder
                        .drain_wallet()
                        .add_recipient(keep_to, reserve)
                        .drain_to(script);
                }
                (None, None) => {
                    builder.drain_wallet().drain_to(script);
                }
            }
            let mut psbt = builder.finish()?;
            if let Some(amount) = amount {
                let fee = psbt.fee().unwrap_or(Amount::ZERO);
                if spendable < amount + fee + reserve {
                    inner.wallet.cancel_tx(&psbt.unsigned_tx);
                    let _ = inner.wallet.take_staged();
                    return Err(reserve_error(spendable, amount + fee, reserve));
                }
            }
            let finalized = inner
                .wallet
                .sign(&mut psbt, SignOptions::default())
                .map_err(|e| Error::Internal(format!("signing a wallet transaction: {e}")))?;
            if !finalized {
                return Err(Error::Internal(
                    "a wallet transaction could not be fully signed".into(),
                ));
            }
            let tx = psbt
                .extract_tx()
                .map_err(|e| Error::Internal(format!("extracting a wallet transaction: {e}")))?;
            inner
                .wallet
                .apply_unconfirmed_txs([(tx.clone(), runtime::now().as_secs())]);
            (tx, stage(&mut inner, &*self.store)?)
        };
        if let Some(write) = write {
            write.await.map_err(storage)?;
        }
        Ok(tx)
    }

    /// Whether the wallet could pay `amount_sat` to a P2WSH output (a channel's funding
    /// output) at `fee_rate` now and keep `reserve` spendable: [`Error::InsufficientFunds`]
    /// if not. Nothing is changed.
    pub fn check_can_pay(
        &self,
        amount_sat: u64,
        fee_rate: FeeRate,
        reserve: Amount,
    ) -> Result<(), Error> {
        let mut inner = self.lock();
        let spendable = inner.wallet.balance().trusted_spendable();
        // A placeholder P2WSH script of the funding output's size.
        let script = ScriptBuf::new_p2wsh(
            &<crate::bitcoin::WScriptHash as crate::bitcoin::hashes::Hash>::all_zeros(),
        );
        let amount = Amount::from_sat(amount_sat);
        let mut builder = inner.wallet.build_tx();
        builder.fee_rate(fee_rate).add_recipient(script, amount);
        let psbt = builder.finish()?;
        // Give back the change address the dry run used.
        inner.wallet.cancel_tx(&psbt.unsigned_tx);
        // Drop what the dry run staged: only a change index nobody saw.
        let _ = inner.wallet.take_staged();
        let fee = psbt.fee().unwrap_or(Amount::ZERO);
        if spendable < amount + fee + reserve {
            return Err(reserve_error(spendable, amount + fee, reserve));
        }
        Ok(())
    }

    /// The wallet's confirmed unspent outputs, for LDK's fee-bump coin selection.
    pub fn confirmed_utxos(&self) -> Vec<(crate::bitcoin::OutPoint, crate::bitcoin::TxOut)> {
        self.lock()
            .wallet
            .list_unspent()
            .filter(|u| u.chain_position.is_confirmed())
            .map(|u| (u.outpoint, u.txout))
            .collect()
    }

    /// Signs the inputs of `psbt` that are the wallet's (LDK's fee bumps also spend an
    /// anchor or HTLC output, which LDK signs itself) and returns the transaction.
    pub fn sign_foreign_psbt(&self, mut psbt: Psbt) -> Result<Transaction, Error> {
        let options = SignOptions {
            // LDK gives each input's previous output (`witness_utxo`), not whole transactions.
            trust_witness_utxo: true,
            ..SignOptions::default()
        };
        // Not finalised as a whole: LDK signs its own input afterwards.
        self.lock()
            .wallet
            .sign(&mut psbt, options)
            .map_err(|e| Error::Internal(format!("signing a fee bump: {e}")))?;
        Ok(psbt.extract_tx_unchecked_fee_rate())
    }

    /// Forgets a transaction from [`Self::create_transaction`] that was never broadcast (LDK
    /// refused the funding transaction): its inputs are spendable again.
    pub async fn cancel_transaction(&self, tx: &Transaction) -> Result<(), Error> {
        let write = {
            let mut inner = self.lock();
            inner.wallet.cancel_tx(tx);
            // The eviction time must follow the time the transaction was seen.
            let now = runtime::now().as_secs() + 1;
            inner.wallet.apply_evicted_txs([(tx.compute_txid(), now)]);
            stage(&mut inner, &*self.store)?
        };
        if let Some(write) = write {
            write.await.map_err(storage)?;
        }
        Ok(())
    }

    /// The fee `tx` paid, when every input is the wallet's.
    pub fn fee_of(&self, tx: &Transaction) -> Option<Amount> {
        self.lock().wallet.calculate_fee(tx).ok()
    }

    /// What to broadcast again, parents first: the wallet's transactions that are not
    /// confirmed (its sends, sweeps to it, payments to it seen unconfirmed), plus those of
    /// `funding` (funding transactions LDK has broadcast) that it holds and does not see
    /// confirmed, even when a sync dropped them as evicted (a broadcast that never reached
    /// the network). A transaction with a P2WSH output that is not the wallet's is left out
    /// unless in `funding`: it may fund a channel whose peer has not signed our first
    /// commitment yet, and broadcasting it would lock the coins.
    pub fn transactions_to_rebroadcast(
        &self,
        funding: &std::collections::HashSet<crate::bitcoin::Txid>,
    ) -> Vec<Transaction> {
        let inner = self.lock();
        let wallet = &inner.wallet;
        let mut confirmed = std::collections::HashSet::new();
        let mut out: Vec<Transaction> = Vec::new();
        for c in wallet.transactions() {
            let txid = c.tx_node.txid;
            if c.chain_position.is_confirmed() {
                confirmed.insert(txid);
                continue;
            }
            let tx = c.tx_node.tx.as_ref();
            let may_fund = tx
                .output
                .iter()
                .any(|o| o.script_pubkey.is_p2wsh() && !wallet.is_mine(o.script_pubkey.clone()));
            if !may_fund || funding.contains(&txid) {
                out.push(tx.clone());
            }
        }
        for txid in funding {
            if confirmed.contains(txid) || out.iter().any(|t| t.compute_txid() == *txid) {
                continue;
            }
            if let Some(tx) = wallet.tx_graph().get_tx(*txid) {
                out.push(tx.as_ref().clone());
            }
        }
        parents_first(out)
    }

    /// Makes the next [`Self::needs_sync`] true: a sync that failed is tried again without
    /// waiting for a block.
    pub fn request_sync(&self) {
        self.revealed_since_sync.store(true, Ordering::Release);
    }

    /// Whether a sync would find anything without a new block: the wallet was never synced,
    /// or an address was handed out since the last sync.
    pub fn needs_sync(&self) -> bool {
        self.revealed_since_sync.load(Ordering::Acquire)
            || self.lock().wallet.latest_checkpoint().height() == 0
    }

    /// Brings the wallet up to date with Esplora and persists the result before returning:
    /// a full scan the first time (see the module docs), the revealed addresses afterwards.
    pub async fn sync(&self, client: &EsploraClient) -> Result<WalletSyncKind, Error> {
        let now = runtime::now().as_secs();
        self.revealed_since_sync.store(false, Ordering::Release);
        enum Request {
            Full(bdk_wallet::chain::spk_client::FullScanRequest<KeychainKind>),
            Revealed(bdk_wallet::chain::spk_client::SyncRequest<(KeychainKind, u32)>),
        }
        let request = {
            let inner = self.lock();
            if inner.wallet.latest_checkpoint().height() == 0 {
                Request::Full(inner.wallet.start_full_scan_at(now).build())
            } else {
                Request::Revealed(inner.wallet.start_sync_with_revealed_spks_at(now).build())
            }
        };
        let (kind, update): (WalletSyncKind, Update) = match request {
            Request::Full(r) => (
                WalletSyncKind::FullScan,
                client
                    .full_scan(r, STOP_GAP, PARALLEL_REQUESTS)
                    .await?
                    .into(),
            ),
            Request::Revealed(r) => (
                WalletSyncKind::Revealed,
                client.sync(r, PARALLEL_REQUESTS).await?.into(),
            ),
        };
        let write = {
            let mut inner = self.lock();
            inner.wallet.apply_update(update)?;
            stage(&mut inner, &*self.store)?
        };
        if let Some(write) = write {
            write.await.map_err(storage)?;
        }
        Ok(kind)
    }
}

/// Spending `needed` would leave less than `reserve` of `spendable`.
fn reserve_error(spendable: Amount, needed: Amount, reserve: Amount) -> Error {
    if reserve == Amount::ZERO {
        return Error::InsufficientFunds(format!(
            "{} sat needed with the fee, {} sat spendable",
            needed.to_sat(),
            spendable.to_sat()
        ));
    }
    Error::InsufficientFunds(format!(
        "{} sat needed with the fee, {} sat spendable, of which {} sat are the on-chain \
         reserve kept to bump the fees of anchor channels",
        needed.to_sat(),
        spendable.to_sat(),
        reserve.to_sat()
    ))
}

/// `txs` ordered so that a transaction comes after every one of `txs` it spends.
fn parents_first(mut txs: Vec<Transaction>) -> Vec<Transaction> {
    let mut out = Vec::with_capacity(txs.len());
    while !txs.is_empty() {
        let pending: std::collections::HashSet<_> = txs.iter().map(|t| t.compute_txid()).collect();
        let (ready, rest): (Vec<_>, Vec<_>) = txs.into_iter().partition(|t| {
            t.input
                .iter()
                .all(|i| !pending.contains(&i.previous_output.txid))
        });
        if ready.is_empty() {
            // A cycle cannot exist between valid transactions; keep what is left as is.
            out.extend(rest);
            break;
        }
        out.extend(ready);
        txs = rest;
    }
    out
}

/// Merges what the wallet staged into the aggregate changeset and starts writing the
/// aggregate (`None`: nothing changed). Called under the lock so writes are issued in the
/// order of the changes (our stores order writes by call, DESIGN.md §6); awaited after it.
fn stage<K: KVStore + ?Sized>(
    inner: &mut Inner,
    store: &K,
) -> Result<Option<AsyncResult<'static, (), io::Error>>, Error> {
    let Some(staged) = inner.wallet.take_staged() else {
        return Ok(None);
    };
    if staged.is_empty() {
        return Ok(None);
    }
    inner.changeset.merge(staged);
    let bytes = serde_json::to_vec(&inner.changeset)
        .map_err(|e| Error::Internal(format!("serialising the wallet changeset: {e}")))?;
    Ok(Some(store.write(
        BDK_WALLET_PERSISTENCE_PRIMARY_NAMESPACE,
        BDK_WALLET_PERSISTENCE_SECONDARY_NAMESPACE,
        BDK_WALLET_CHANGESET_KEY,
        bytes,
    )))
}

impl<K: KVStore + ?Sized + 'static> ChangeDestinationSource for OnchainWallet<K> {
    /// A fresh internal address for LDK's sweeps ([`OnchainWallet::next_change_script`]).
    fn get_change_destination_script<'a>(&'a self) -> AsyncResult<'a, ScriptBuf, ()> {
        let script = self.next_change_script().map_err(|e| {
            runtime::log_warn(&format!("no change address for a sweep: {e}"));
        });
        Box::pin(core::future::ready(script))
    }
}
