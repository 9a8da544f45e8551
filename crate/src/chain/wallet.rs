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
//! # Scripts handed to LDK
//!
//! LDK asks for scripts to pay us on-chain: a destination and a shutdown script per channel
//! ([`crate::signer::WalletSignerProvider`], synchronous calls) and a change script for each
//! sweep ([`ChangeDestinationSource`], asynchronous). All of them are the lowest **unused**
//! internal (change) address, the one BDK's own transactions take for change too
//! ([`Wallet::next_unused_address`]): asking again does not reveal a new index until a
//! transaction pays to it, so no number of requests (channel opens the peer refuses, sweeps
//! retried) pushes the used addresses past the [`STOP_GAP`] of a restore's full scan.
//!
//! No script is handed out before the store durably holds its index (otherwise a reload
//! would not watch it: later syncs look at revealed addresses only). The asynchronous path
//! reveals, writes, waits, then answers. The synchronous one cannot wait on an IndexedDB
//! write, so the wallet keeps a **reserve**: every write that leaves no unused change address
//! revealed reveals the next one in that same write ([`OnchainWallet::open`] does it too), and
//! the synchronous call only hands out an address whose index a completed write holds. Should
//! there be none (a write failed or is still in flight), it writes now and answers only if
//! that write completes at once (synchronous stores: memory, filesystem); otherwise it fails,
//! LDK refuses that channel, and the write completes in the background for the next request.
//!
//! # Sync
//!
//! The first [`OnchainWallet::sync`] of a wallet whose chain is still at genesis (new, or
//! restored from the mnemonic alone) is a full scan with a gap limit of [`STOP_GAP`]; later
//! ones sync the revealed scripts only. Time comes from [`runtime::now`] (the `*_at` request
//! builders), never from `SystemTime`.
//!
//! No lock is held across an `.await`.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bdk_esplora::EsploraAsyncExt;
use bdk_wallet::chain::{DescriptorExt, DescriptorId, Merge};
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
    /// The internal keychain's descriptor, the key of its index in `changeset`.
    internal: DescriptorId,
}

/// A write of the aggregate changeset, issued (in call order) and not yet awaited.
struct Write {
    done: AsyncResult<'static, (), io::Error>,
    /// The last revealed internal index the written changeset holds.
    internal_index: Option<u32>,
}

/// The highest internal (change) index a completed write holds, plus one (0: none): only
/// addresses below it are handed to LDK.
#[derive(Clone, Default)]
struct DurableIndex(Arc<AtomicU32>);

impl DurableIndex {
    fn covers(&self, index: u32) -> bool {
        index < self.0.load(Ordering::Acquire)
    }

    fn record(&self, written: Option<u32>) {
        if let Some(i) = written {
            self.0.fetch_max(i.saturating_add(1), Ordering::AcqRel);
        }
    }
}

/// The node's on-chain wallet.
pub struct OnchainWallet<K: KVStore + ?Sized> {
    inner: Mutex<Inner>,
    /// An address was handed out since the last sync: the next sync looks for payments to it
    /// even if no block came.
    revealed_since_sync: AtomicBool,
    /// See [`DurableIndex`].
    durable_change: DurableIndex,
    /// Coins a fee bump of LDK's spends (a CPFP child, an HTLC transaction), with the tip
    /// height when it was signed: BDK does not see the bump until a sync finds it, and a send
    /// meanwhile must not take the same coins. Released once spent, or after
    /// [`BUMP_LOCK_BLOCKS`] (LDK then bumps again, with a fresh selection).
    bump_locked: Mutex<std::collections::HashMap<crate::bitcoin::OutPoint, u32>>,
    /// Transactions this wallet made and no sync has seen in Esplora yet, with when they were
    /// made. A sync that does not find one would mark it evicted and give its coins back to
    /// the balance, though it may be on its way: a channel funding waits for the peer's
    /// signature before LDK broadcasts it, and a broadcast races the sync. A send in that
    /// window would double-spend it. So a sync drops no such eviction, for
    /// [`FRESH_TX_PROTECTION_SECS`] at most (a broadcast that really never went out is sent
    /// again on the next tip, see [`Self::transactions_to_rebroadcast`]).
    fresh: Mutex<std::collections::HashMap<crate::bitcoin::Txid, u64>>,
    store: Arc<K>,
    network: Network,
}

/// How long coins a fee bump took stay out of the wallet's own transactions.
const BUMP_LOCK_BLOCKS: u32 = 6;

/// How long a sync may not evict a transaction the wallet just made ([`OnchainWallet`]'s
/// `fresh`): long enough for a peer to sign a funding and a broadcast to land.
const FRESH_TX_PROTECTION_SECS: u64 = 600;

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
                    .map(|wallet| Inner {
                        internal: wallet
                            .public_descriptor(KeychainKind::Internal)
                            .descriptor_id(),
                        wallet,
                        changeset,
                    })
            }
            None => None,
        };
        let durable_change = DurableIndex::default();
        let mut inner = match loaded {
            Some(inner) => {
                // What is loaded is stored.
                durable_change.record(inner.wallet.derivation_index(KeychainKind::Internal));
                inner
            }
            None => {
                let wallet = Wallet::create(external, internal)
                    .network(network.to_bitcoin())
                    .create_wallet_no_persist()?;
                Inner {
                    internal: wallet
                        .public_descriptor(KeychainKind::Internal)
                        .descriptor_id(),
                    wallet,
                    changeset: ChangeSet::default(),
                }
            }
        };
        // A new wallet is written here, with its first change address as the reserve; a
        // stored one whose change addresses are all used gets a new reserve.
        let write = stage(&mut inner, &*store)?;
        let wallet = OnchainWallet {
            inner: Mutex::new(inner),
            revealed_since_sync: AtomicBool::new(false),
            durable_change,
            bump_locked: Mutex::new(std::collections::HashMap::new()),
            fresh: Mutex::new(std::collections::HashMap::new()),
            store,
            network,
        };
        wallet.complete(write).await?;
        Ok(wallet)
    }

    /// Waits for `write` and records the change index it made durable.
    async fn complete(&self, write: Option<Write>) -> Result<(), Error> {
        if let Some(write) = write {
            write.done.await.map_err(storage)?;
            self.durable_change.record(write.internal_index);
        }
        Ok(())
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
        self.complete(write).await?;
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

    /// The lowest unused change address, and the write that makes its index durable when
    /// no completed write holds it yet (`None`: it is durable already).
    fn unused_change(&self) -> Result<(ScriptBuf, u32, Option<Write>), Error> {
        let mut inner = self.lock();
        let info = inner.wallet.next_unused_address(KeychainKind::Internal);
        let script = info.address.script_pubkey();
        if self.durable_change.covers(info.index) {
            // What `next_unused_address` may have staged waits for the next write.
            return Ok((script, info.index, None));
        }
        // The aggregate, even when nothing new was staged: an earlier write of this index
        // may have failed.
        if let Some(staged) = inner.wallet.take_staged() {
            inner.changeset.merge(staged);
        }
        let write = write_aggregate(&inner, &*self.store)?;
        Ok((script, info.index, Some(write)))
    }

    /// The script for LDK's synchronous requests (a channel's destination and shutdown
    /// scripts, [`crate::signer::WalletSignerProvider`]): the lowest unused change address,
    /// whose index the store already holds (see the module docs). When no completed write
    /// holds it, the write is issued now; if it does not complete at once this fails
    /// ([`Error::StorageUnavailable`]) and the write completes in the background.
    pub fn change_script_now(&self) -> Result<ScriptBuf, Error> {
        let (script, index, write) = self.unused_change()?;
        let Some(Write {
            mut done,
            internal_index,
        }) = write
        else {
            return Ok(script);
        };
        let waker = core::task::Waker::noop();
        let mut cx = core::task::Context::from_waker(waker);
        match done.as_mut().poll(&mut cx) {
            core::task::Poll::Ready(Ok(())) => self.durable_change.record(internal_index),
            core::task::Poll::Ready(Err(e)) => return Err(storage(e)),
            core::task::Poll::Pending => {
                let durable = self.durable_change.clone();
                runtime::spawn_local(async move {
                    match done.await {
                        Ok(()) => durable.record(internal_index),
                        Err(e) => {
                            runtime::log_warn(&format!("recording a change address failed: {e}"))
                        }
                    }
                });
                return Err(Error::StorageUnavailable(
                    "the wallet's change address is still being stored; try again".into(),
                ));
            }
        }
        if self.durable_change.covers(index) {
            Ok(script)
        } else {
            Err(Error::Internal(format!(
                "change address {index} is not in the written wallet"
            )))
        }
    }

    /// The lowest unused change address, for asynchronous requests (LDK's sweeps,
    /// [`ChangeDestinationSource`]): returned once the store holds its index; an error if that
    /// write fails.
    pub async fn change_script(&self) -> Result<ScriptBuf, Error> {
        let (script, index, write) = self.unused_change()?;
        self.complete(write).await?;
        if self.durable_change.covers(index) {
            Ok(script)
        } else {
            Err(Error::Internal(format!(
                "change address {index} is not in the written wallet"
            )))
        }
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
            let locked = self.bump_locked(&inner.wallet);
            let mut builder = inner.wallet.build_tx();
            builder.fee_rate(fee_rate).unspendable(locked);
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
                    // The change index it revealed stays staged, for the next write.
                    inner.wallet.cancel_tx(&psbt.unsigned_tx);
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
            let now = runtime::now().as_secs();
            inner.wallet.apply_unconfirmed_txs([(tx.clone(), now)]);
            self.fresh_txs().insert(tx.compute_txid(), now);
            (tx, stage(&mut inner, &*self.store)?)
        };
        self.complete(write).await?;
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
        let locked = self.bump_locked(&inner.wallet);
        let mut builder = inner.wallet.build_tx();
        builder
            .fee_rate(fee_rate)
            .unspendable(locked)
            .add_recipient(script, amount);
        let psbt = builder.finish()?;
        // Give back the change address the dry run used. A change index it revealed stays
        // staged and goes out with the next write (dropping it would leave the index revealed
        // in memory but in no changeset).
        inner.wallet.cancel_tx(&psbt.unsigned_tx);
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
        let inner = self.lock();
        inner
            .wallet
            .sign(&mut psbt, options)
            .map_err(|e| Error::Internal(format!("signing a fee bump: {e}")))?;
        let tx = psbt.extract_tx_unchecked_fee_rate();
        let height = inner.wallet.latest_checkpoint().height();
        let mut locked = self
            .bump_locked
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for input in &tx.input {
            if inner.wallet.get_utxo(input.previous_output).is_some() {
                locked.insert(input.previous_output, height);
            }
        }
        Ok(tx)
    }

    /// The coins fee bumps hold ([`OnchainWallet::bump_locked`]'s field), dropping those spent
    /// or held long enough.
    fn bump_locked(&self, wallet: &Wallet) -> Vec<crate::bitcoin::OutPoint> {
        let tip = wallet.latest_checkpoint().height();
        let mut locked = self
            .bump_locked
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        locked.retain(|outpoint, at| {
            tip < at.saturating_add(BUMP_LOCK_BLOCKS) && wallet.get_utxo(*outpoint).is_some()
        });
        locked.keys().copied().collect()
    }

    fn fresh_txs(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<crate::bitcoin::Txid, u64>> {
        self.fresh.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `update` without the evictions of the wallet's fresh transactions (see `fresh`), which
    /// stop being fresh once a sync sees them or their protection, counted from `now` (the
    /// sync's start), has run out.
    fn keep_fresh(&self, mut update: Update, now: u64) -> Update {
        let mut fresh = self.fresh_txs();
        let seen: std::collections::HashSet<_> = update
            .tx_update
            .seen_ats
            .iter()
            .map(|(txid, _)| *txid)
            .chain(update.tx_update.anchors.iter().map(|(_, txid)| *txid))
            .collect();
        fresh.retain(|txid, made| {
            !seen.contains(txid) && now < made.saturating_add(FRESH_TX_PROTECTION_SECS)
        });
        update
            .tx_update
            .evicted_ats
            .retain(|(txid, _)| !fresh.contains_key(txid));
        update
    }

    /// Forgets a transaction from [`Self::create_transaction`] that was never broadcast (LDK
    /// refused the funding transaction): its inputs are spendable again.
    pub async fn cancel_transaction(&self, tx: &Transaction) -> Result<(), Error> {
        let write = {
            let mut inner = self.lock();
            inner.wallet.cancel_tx(tx);
            self.fresh_txs().remove(&tx.compute_txid());
            // The eviction time must follow the time the transaction was seen.
            let now = runtime::now().as_secs() + 1;
            inner.wallet.apply_evicted_txs([(tx.compute_txid(), now)]);
            stage(&mut inner, &*self.store)?
        };
        self.complete(write).await
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
        let update = self.keep_fresh(update, now);
        let write = {
            let mut inner = self.lock();
            inner.wallet.apply_update(update)?;
            stage(&mut inner, &*self.store)?
        };
        self.complete(write).await?;
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
/// aggregate (`None`: nothing changed). A change that leaves no unused change address
/// revealed reveals the next one in the same write: the reserve LDK's synchronous requests
/// draw on (module docs). Called under the lock so writes are issued in the order of the
/// changes (our stores order writes by call, DESIGN.md §6); completed after it
/// ([`OnchainWallet::complete`]).
fn stage<K: KVStore + ?Sized>(inner: &mut Inner, store: &K) -> Result<Option<Write>, Error> {
    if inner
        .wallet
        .list_unused_addresses(KeychainKind::Internal)
        .next()
        .is_none()
    {
        inner.wallet.next_unused_address(KeychainKind::Internal);
    }
    let Some(staged) = inner.wallet.take_staged() else {
        return Ok(None);
    };
    if staged.is_empty() {
        return Ok(None);
    }
    inner.changeset.merge(staged);
    write_aggregate(inner, store).map(Some)
}

/// Starts writing the aggregate changeset.
fn write_aggregate<K: KVStore + ?Sized>(inner: &Inner, store: &K) -> Result<Write, Error> {
    let bytes = serde_json::to_vec(&inner.changeset)
        .map_err(|e| Error::Internal(format!("serialising the wallet changeset: {e}")))?;
    Ok(Write {
        done: store.write(
            BDK_WALLET_PERSISTENCE_PRIMARY_NAMESPACE,
            BDK_WALLET_PERSISTENCE_SECONDARY_NAMESPACE,
            BDK_WALLET_CHANGESET_KEY,
            bytes,
        ),
        internal_index: inner
            .changeset
            .indexer
            .last_revealed
            .get(&inner.internal)
            .copied(),
    })
}

impl<K: KVStore + ?Sized + 'static> ChangeDestinationSource for OnchainWallet<K> {
    /// The lowest unused change address for LDK's sweeps, once stored
    /// ([`OnchainWallet::change_script`]).
    fn get_change_destination_script<'a>(&'a self) -> AsyncResult<'a, ScriptBuf, ()> {
        Box::pin(async move {
            self.change_script().await.map_err(|e| {
                runtime::log_warn(&format!("no change address for a sweep: {e}"));
            })
        })
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
// Stores are !Send without LDK's `std` (DESIGN.md §6); these tests are single-threaded.
#[allow(clippy::arc_with_non_send_sync)]
mod tests {
    use super::*;
    use crate::bitcoin::{absolute, transaction, OutPoint, TxIn, TxOut};
    use crate::io::test_utils::{block_on, FullStore};
    use crate::io::MemoryStore;

    const ABANDON: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

    fn seed() -> [u8; 64] {
        *crate::seed::parse_mnemonic(ABANDON).unwrap().to_seed("")
    }

    /// The ABANDON wallet on regtest, opened from `store`.
    fn open<K: KVStore + ?Sized + 'static>(store: Arc<K>) -> OnchainWallet<K> {
        block_on(OnchainWallet::open(store, &seed(), Network::Regtest)).unwrap()
    }

    /// The last internal (change) index revealed.
    fn change_index<K: KVStore + ?Sized + 'static>(wallet: &OnchainWallet<K>) -> Option<u32> {
        wallet
            .lock()
            .wallet
            .derivation_index(KeychainKind::Internal)
    }

    /// Marks `script` used, as a payment to it seen in a sync would, without writing.
    fn pay_to(wallet: &OnchainWallet<impl KVStore + ?Sized + 'static>, script: &ScriptBuf) {
        let tx = Transaction {
            version: transaction::Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::new(
                    <crate::bitcoin::Txid as crate::bitcoin::hashes::Hash>::all_zeros(),
                    7,
                ),
                ..TxIn::default()
            }],
            output: vec![TxOut {
                value: Amount::from_sat(10_000),
                script_pubkey: script.clone(),
            }],
        };
        wallet
            .lock()
            .wallet
            .apply_unconfirmed_txs([(tx, runtime::now().as_secs())]);
    }

    #[test]
    fn requests_reuse_the_unused_change_address_and_it_is_stored() {
        let store = Arc::new(MemoryStore::new());
        let wallet = open(store.clone());
        let first = wallet.change_script_now().unwrap();
        for _ in 0..40 {
            assert_eq!(wallet.change_script_now().unwrap(), first);
            assert_eq!(block_on(wallet.change_script()).unwrap(), first);
        }
        assert_eq!(change_index(&wallet), Some(0));
        // Once paid, the next one; both indices are in the store.
        pay_to(&wallet, &first);
        let second = block_on(wallet.change_script()).unwrap();
        assert_ne!(second, first);
        let reloaded = open(store);
        assert_eq!(change_index(&reloaded), Some(1));
    }

    #[test]
    fn no_change_script_is_handed_out_before_it_is_stored() {
        let store = Arc::new(FullStore::default());
        let wallet = open(store.clone());
        // The reserve written at open serves even while the store refuses writes.
        store.set_full(true);
        let reserve = wallet.change_script_now().unwrap();
        // Used up, with no new one stored: refused, on both paths.
        pay_to(&wallet, &reserve);
        let e = wallet.change_script_now().unwrap_err();
        assert_eq!(e.code(), "STORAGE_UNAVAILABLE", "{e}");
        let e = block_on(wallet.change_script()).unwrap_err();
        assert_eq!(e.code(), "STORAGE_UNAVAILABLE", "{e}");
        // The write that failed is issued again once the store works.
        store.set_full(false);
        let next = wallet.change_script_now().unwrap();
        assert_ne!(next, reserve);
        assert_eq!(wallet.change_script_now().unwrap(), next);
        let reloaded = open(store);
        assert_eq!(change_index(&reloaded), Some(1));
    }
}
