//! Our Esplora chain source for LDK (DESIGN.md §1): [`Filter`] registrations, a sync that
//! drives LDK's [`Confirm`] interface, fee estimates ([`FeeEstimator`]) and broadcasting
//! ([`BroadcasterInterface`]), over `esplora-client`'s async client with our
//! [`EsploraSleeper`] (a browser timer in wasm, tokio natively).
//!
//! A sync with no new block and no new registration costs exactly one request
//! (`GET /blocks/tip/hash`, DESIGN.md §4). With a new tip it:
//!
//! 1. checks that every confirmed transaction LDK cares about ([`Confirm::get_relevant_txids`],
//!    plus those this source confirmed itself in the last [`ANTI_REORG_DELAY`] blocks) is still
//!    in a best-chain block (one `/block/:hash/status` per distinct block), and reports the
//!    others with [`Confirm::transaction_unconfirmed`];
//! 2. reports the new tip with [`Confirm::best_block_updated`] and refreshes the fee table;
//! 3. looks up every watched transaction (`/tx/:txid/status`) and every watched output
//!    (`/tx/:txid/outspend/:vout`); a confirmed one is reported with
//!    [`Confirm::transactions_confirmed`] only after its Merkle proof was checked against its
//!    block header (and the header against its hash, the transaction against its txid);
//! 4. re-reads the tip: if it moved, the round starts again (at most [`MAX_ROUNDS`] rounds).
//!
//! Confirmed transactions stop being polled; a reorg puts them back.
//!
//! # A failing Esplora
//!
//! Every request of the sync, and every broadcast, ends within [`REQUEST_TIMEOUT`] on both
//! targets (esplora-client sets its timeout natively only: in the browser a stalled server
//! would hang the sync for good). An answer 429/500/502/503/504 is retried, at most
//! [`MAX_ATTEMPTS`] times in all, after the server's `Retry-After` (whole seconds) or an
//! exponential back-off from 250 ms. A `Retry-After` longer than [`MAX_INLINE_RETRY_WAIT`]
//! is not waited out inside the call: the call fails, and every request fails at once,
//! without reaching the server, until that time has passed (at most [`MAX_RETRY_AFTER`]).
//! A body that does not decode is a failed call. Every failure is
//! [`Error::ChainSourceUnavailable`]; what LDK was told stays consistent, and the next sync
//! redoes the rest.
//!
//! No lock is ever held
//! across an `.await` or while LDK is called (LDK registers outputs from inside
//! `transactions_confirmed`, and a `std` mutex re-entered on wasm32 panics).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use esplora_client::{AsyncClient, MerkleProof};
use lightning::chain::chaininterface::{
    BroadcasterInterface, ConfirmationTarget, FeeEstimator, FEERATE_FLOOR_SATS_PER_KW,
};
use lightning::chain::channelmonitor::ANTI_REORG_DELAY;
use lightning::chain::{Confirm, Filter, WatchedOutput};

use crate::bitcoin::block::Header;
use crate::bitcoin::hashes::{sha256d, Hash, HashEngine};
use crate::bitcoin::{BlockHash, OutPoint, Script, Transaction, TxMerkleNode, Txid};
use crate::runtime::{self, EsploraSleeper};
use crate::Error;

/// How many times one [`EsploraChainSource::sync`] restarts when the tip moves under it (or
/// new registrations arrive from LDK's callbacks) before giving up for this call.
pub const MAX_ROUNDS: u32 = 5;

/// Fee rates above this (sat/vB) in Esplora's table are treated as garbage. Bitcoin's fee
/// market has never come near it; a rate this high would spend a large part of a payment.
pub const MAX_SANE_SAT_PER_VB: f64 = 10_000.0;

/// How long one Esplora request (answer and body) may take, on both targets.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Attempts of one request that Esplora answers with a retryable status (429, 5xx).
pub const MAX_ATTEMPTS: u32 = 4;
/// The first back-off between attempts without `Retry-After`; it doubles each time.
const BASE_BACKOFF: Duration = Duration::from_millis(250);
/// The longest `Retry-After` a call waits out itself; a longer one fails the call.
pub const MAX_INLINE_RETRY_WAIT: Duration = Duration::from_secs(5);
/// The longest a `Retry-After` holds every request back: a broken or hostile server must
/// not silence the node's chain view for hours.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// The `esplora-client` type we use: async, with our browser/tokio sleeper.
pub type EsploraClient = AsyncClient<EsploraSleeper>;

impl From<esplora_client::Error> for Error {
    fn from(e: esplora_client::Error) -> Self {
        Error::ChainSourceUnavailable(format!("esplora: {e}"))
    }
}

/// What one [`EsploraChainSource::sync`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncStats {
    /// The tip height after the sync.
    pub tip_height: u32,
    /// The tip after the sync.
    pub tip_hash: BlockHash,
    /// Whether anything was done (`false`: same tip, no new registrations: one request).
    pub changed: bool,
    /// Transactions reported with `transactions_confirmed`.
    pub confirmed: usize,
    /// Transactions reported with `transaction_unconfirmed`.
    pub unconfirmed: usize,
    /// Sync rounds run (a moving tip restarts a round).
    pub rounds: u32,
    /// LDK was given a tip it had not seen from this source (also the first sync after
    /// start): the moment to broadcast again what is still unconfirmed.
    pub new_tip: bool,
}

/// A transaction found confirmed, with its verified position.
#[derive(Debug)]
struct ConfirmedTx {
    txid: Txid,
    tx: Transaction,
    header: Header,
    height: u32,
    pos: usize,
}

/// Why a round stopped.
enum RoundError {
    /// The chain changed while we were reading it: start the round again.
    Inconsistent,
    /// The server failed or lied.
    Fatal(Error),
}

impl From<Error> for RoundError {
    fn from(e: Error) -> Self {
        RoundError::Fatal(e)
    }
}

fn garbage(msg: String) -> RoundError {
    RoundError::Fatal(Error::ChainSourceUnavailable(msg))
}

fn unavailable(msg: String) -> Error {
    Error::ChainSourceUnavailable(format!("esplora: {msg}"))
}

/// `fut`'s output, or `None` when `d` passed first (`fut` is dropped: reqwest aborts the
/// request, a `fetch` in the browser too).
pub(crate) async fn with_timeout<F: Future>(d: Duration, fut: F) -> Option<F::Output> {
    let mut fut = core::pin::pin!(fut);
    let mut timer = core::pin::pin!(runtime::sleep(d));
    core::future::poll_fn(|cx| {
        if let core::task::Poll::Ready(v) = fut.as_mut().poll(cx) {
            return core::task::Poll::Ready(Some(v));
        }
        timer.as_mut().poll(cx).map(|()| None)
    })
    .await
}

async fn broadcast_with_timeout(
    client: &EsploraClient,
    tx: &Transaction,
) -> Result<(), esplora_client::Error> {
    match with_timeout(REQUEST_TIMEOUT, client.broadcast(tx)).await {
        Some(r) => r,
        None => Err(esplora_client::Error::HttpResponse {
            // What a gateway says when the server behind it did not answer in time.
            status: 504,
            message: format!("no answer within {REQUEST_TIMEOUT:?}"),
        }),
    }
}

#[derive(Default)]
struct State {
    /// Registered, not (or no longer) confirmed.
    watched_txs: HashSet<Txid>,
    /// Registered outputs whose spend has not been seen confirmed.
    watched_outputs: HashMap<OutPoint, WatchedOutput>,
    /// Outputs whose spender we confirmed: (spender, its height, the output), until
    /// `ANTI_REORG_DELAY` deep; a reorg of the spender watches the output again.
    spent_outputs: Vec<(Txid, u32, WatchedOutput)>,
    /// Transactions we reported confirmed: (txid, height, block), until `ANTI_REORG_DELAY` deep.
    recent: Vec<(Txid, u32, BlockHash)>,
    /// Bumped by every registration.
    registrations: u64,
    /// `registrations` when the last sync finished.
    synced_registrations: u64,
    last_tip: Option<(BlockHash, u32)>,
    /// A sync failed or was cut short: the next one does the full work even at the same tip.
    pending: bool,
}

/// The chain source: an Esplora client plus what LDK asked us to watch.
pub struct EsploraChainSource {
    client: EsploraClient,
    state: Mutex<State>,
    fees: Mutex<Option<FeeTable>>,
    syncing: AtomicBool,
    // Set by `halt`: results still arriving are dropped, not handed to LDK.
    halted: AtomicBool,
    /// `runtime::now()` before which no request is sent: a long `Retry-After`.
    hold_off_until: Mutex<Duration>,
}

impl std::fmt::Debug for EsploraChainSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EsploraChainSource")
            .field("url", &self.client.url())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // No code panics while holding these locks; if one ever did, the data is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Releases the one-sync-at-a-time flag when dropped.
struct SyncGuard<'a>(&'a AtomicBool);

impl Drop for SyncGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl EsploraChainSource {
    /// A chain source for the Esplora API at `url` (e.g. `https://blockstream.info/api`).
    pub fn new(url: &str) -> Result<Self, Error> {
        let url = url.trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Error::InvalidConfig(format!(
                "Esplora URL must be http(s): {url:?}"
            )));
        }
        let client = esplora_client::Builder::new(url)
            // Native only (esplora-client sets none in the browser): bdk_esplora's requests.
            .timeout(REQUEST_TIMEOUT.as_secs())
            .max_retries(4)
            .build_async_with_sleeper::<EsploraSleeper>()
            .map_err(|e| Error::InvalidConfig(format!("Esplora client: {e}")))?;
        Ok(Self::from_client(client))
    }

    /// A chain source over an existing client.
    pub fn from_client(client: EsploraClient) -> Self {
        EsploraChainSource {
            client,
            state: Mutex::new(State::default()),
            fees: Mutex::new(None),
            syncing: AtomicBool::new(false),
            halted: AtomicBool::new(false),
            hold_off_until: Mutex::new(Duration::ZERO),
        }
    }

    /// The underlying client.
    pub fn client(&self) -> &EsploraClient {
        &self.client
    }

    /// The tip of the last completed sync.
    pub fn last_synced_tip(&self) -> Option<(BlockHash, u32)> {
        lock(&self.state).last_tip
    }

    /// Fetches `/fee-estimates` now (a sync with a new tip does it too).
    pub async fn update_fee_estimates(&self) -> Result<(), Error> {
        let raw = self.fee_estimates().await?;
        *lock(&self.fees) = Some(FeeTable::from_esplora(&raw));
        Ok(())
    }

    async fn acquire(&self) -> SyncGuard<'_> {
        // One sync at a time; a second caller waits (single-threaded in the browser, so a
        // poll on a timer, not a lock held across awaits).
        while self
            .syncing
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            runtime::sleep(Duration::from_millis(20)).await;
        }
        SyncGuard(&self.syncing)
    }

    /// Stops handing chain data to LDK, for good: a sync in flight drops what it fetched
    /// and fails with [`Error::NodeStopped`]. A stopping node calls it: once its storage may
    /// belong to another instance, a block applied here could make this one broadcast a
    /// commitment the other has since revoked.
    pub fn halt(&self) {
        self.halted.store(true, Ordering::Release);
    }

    fn check_halted(&self) -> Result<(), RoundError> {
        if self.halted.load(Ordering::Acquire) {
            Err(RoundError::Fatal(Error::NodeStopped))
        } else {
            Ok(())
        }
    }

    /// Brings `confirmables` (LDK's `ChannelManager`, `ChainMonitor`, `OutputSweeper`…) up to
    /// the chain's tip. Costs one request when the tip did not move and nothing new was
    /// registered. Any failure is [`Error::ChainSourceUnavailable`] ([`Error::NodeStopped`]
    /// after [`Self::halt`]); what was already reported to LDK stays consistent and the next
    /// sync redoes the rest.
    pub async fn sync(&self, confirmables: &[&dyn Confirm]) -> Result<SyncStats, Error> {
        if self.halted.load(Ordering::Acquire) {
            return Err(Error::NodeStopped);
        }
        let _guard = self.acquire().await;
        let mut tip = self.tip_hash().await?;
        let mut stats = SyncStats {
            tip_height: 0,
            tip_hash: tip,
            changed: false,
            confirmed: 0,
            unconfirmed: 0,
            rounds: 0,
            new_tip: false,
        };
        for _ in 0..MAX_ROUNDS {
            let (registrations, synced_registrations, last_tip, pending) = {
                let s = lock(&self.state);
                (
                    s.registrations,
                    s.synced_registrations,
                    s.last_tip,
                    s.pending,
                )
            };
            let tip_is_new = last_tip.map(|(h, _)| h) != Some(tip);
            if !tip_is_new && !pending && registrations == synced_registrations {
                stats.tip_hash = tip;
                stats.tip_height = last_tip.map(|(_, h)| h).unwrap_or_default();
                return Ok(stats);
            }
            stats.changed = true;
            stats.rounds += 1;
            lock(&self.state).pending = true;
            match self
                .round(confirmables, tip, tip_is_new, registrations, &mut stats)
                .await
            {
                Ok(next_tip) => {
                    stats.new_tip |=
                        tip_is_new && lock(&self.state).last_tip.map(|(h, _)| h) == Some(tip);
                    tip = next_tip
                }
                Err(RoundError::Inconsistent) => {
                    tip = self.tip_hash().await?;
                }
                Err(RoundError::Fatal(e)) => return Err(e),
            }
        }
        Err(Error::ChainSourceUnavailable(format!(
            "the chain kept changing during {MAX_ROUNDS} sync rounds; try again"
        )))
    }

    /// One round at `tip`; returns the tip read at its end (a different one means "again").
    async fn round(
        &self,
        confirmables: &[&dyn Confirm],
        tip: BlockHash,
        tip_is_new: bool,
        registrations: u64,
        stats: &mut SyncStats,
    ) -> Result<BlockHash, RoundError> {
        let mut headers: HashMap<BlockHash, Header> = HashMap::new();
        if tip_is_new {
            // 1. Reorged-out transactions.
            let mut candidates: BTreeMap<Txid, Option<BlockHash>> = BTreeMap::new();
            for c in confirmables {
                for (txid, _height, hash) in c.get_relevant_txids() {
                    candidates.insert(txid, hash);
                }
            }
            for (txid, _, hash) in lock(&self.state).recent.iter() {
                candidates.entry(*txid).or_insert(Some(*hash));
            }
            let mut in_best: HashMap<BlockHash, bool> = HashMap::new();
            let mut unconfirmed = Vec::new();
            for (txid, hash) in candidates {
                let still_confirmed = match hash {
                    Some(hash) => match in_best.get(&hash) {
                        Some(b) => *b,
                        None => {
                            let b = self.block_status(&hash).await?.in_best_chain;
                            in_best.insert(hash, b);
                            b
                        }
                    },
                    // LDK tracks the block of everything since 0.0.113; without it, ask.
                    None => self.tx_status(&txid).await?.confirmed,
                };
                if !still_confirmed {
                    unconfirmed.push(txid);
                }
            }

            // 2. The new tip.
            let header = self.header(&tip).await?;
            let status = self.block_status(&tip).await?;
            let height = match (status.in_best_chain, status.height) {
                (true, Some(h)) => h,
                _ => return Err(RoundError::Inconsistent),
            };
            let fees = self.fee_estimates().await?;
            *lock(&self.fees) = Some(FeeTable::from_esplora(&fees));

            self.check_halted()?;
            {
                let mut s = lock(&self.state);
                for txid in &unconfirmed {
                    s.recent.retain(|(t, _, _)| t != txid);
                    if let Some(i) = s.spent_outputs.iter().position(|(t, _, _)| t == txid) {
                        let (_, _, output) = s.spent_outputs.swap_remove(i);
                        s.watched_outputs
                            .insert(output.outpoint.into_bitcoin_outpoint(), output);
                    }
                    // Watch it again: it may confirm in the new chain.
                    s.watched_txs.insert(*txid);
                }
            }
            for txid in &unconfirmed {
                for c in confirmables {
                    c.transaction_unconfirmed(txid);
                }
            }
            stats.unconfirmed += unconfirmed.len();
            for c in confirmables {
                c.best_block_updated(&header, height);
            }
            {
                let mut s = lock(&self.state);
                let deep = |h: u32| height >= h + ANTI_REORG_DELAY - 1;
                s.recent.retain(|(_, h, _)| !deep(*h));
                s.spent_outputs.retain(|(_, h, _)| !deep(*h));
            }
            headers.insert(tip, header);
            stats.tip_height = height;
        }
        stats.tip_hash = tip;

        // 3. Watched transactions and outputs.
        let (txids, outputs): (Vec<Txid>, Vec<OutPoint>) = {
            let s = lock(&self.state);
            (
                s.watched_txs.iter().copied().collect(),
                s.watched_outputs.keys().copied().collect(),
            )
        };
        let mut found: Vec<ConfirmedTx> = Vec::new();
        let mut seen: HashSet<Txid> = HashSet::new();
        for txid in txids {
            let status = self.tx_status(&txid).await?;
            if let (true, Some(hash), Some(height)) =
                (status.confirmed, status.block_hash, status.block_height)
            {
                if let Some(ctx) = self.verified_tx(txid, hash, height, &mut headers).await? {
                    seen.insert(txid);
                    found.push(ctx);
                }
            }
        }
        for outpoint in outputs {
            let Some(os) = self
                .get_json::<esplora_client::OutputStatus>(&format!(
                    "/tx/{}/outspend/{}",
                    outpoint.txid, outpoint.vout
                ))
                .await?
            else {
                continue;
            };
            let (Some(spender), Some(status)) = (os.txid, os.status) else {
                continue;
            };
            if seen.contains(&spender) {
                if status.confirmed {
                    continue;
                }
                return Err(RoundError::Inconsistent);
            }
            if let (true, Some(hash), Some(height)) =
                (status.confirmed, status.block_hash, status.block_height)
            {
                if let Some(ctx) = self
                    .verified_tx(spender, hash, height, &mut headers)
                    .await?
                {
                    seen.insert(spender);
                    found.push(ctx);
                }
            }
        }
        found.sort_by(|a, b| a.height.cmp(&b.height).then(a.pos.cmp(&b.pos)));

        // 4. Did the chain move meanwhile?
        let now_tip = self.tip_hash().await?;
        if now_tip != tip {
            return Ok(now_tip);
        }
        self.check_halted()?;
        for ctx in &found {
            for c in confirmables {
                c.transactions_confirmed(&ctx.header, &[(ctx.pos, &ctx.tx)], ctx.height);
            }
        }
        stats.confirmed += found.len();
        let mut s = lock(&self.state);
        for ctx in &found {
            s.watched_txs.remove(&ctx.txid);
            s.recent
                .push((ctx.txid, ctx.height, ctx.header.block_hash()));
            for input in &ctx.tx.input {
                if let Some(output) = s.watched_outputs.remove(&input.previous_output) {
                    s.spent_outputs.push((ctx.txid, ctx.height, output));
                }
            }
        }
        if tip_is_new {
            s.last_tip = Some((tip, stats.tip_height));
        } else if let Some((_, h)) = s.last_tip {
            stats.tip_height = h;
        }
        s.synced_registrations = registrations;
        s.pending = false;
        Ok(tip)
    }

    /// `/tx/:txid/status`; an unknown transaction is unconfirmed.
    async fn tx_status(&self, txid: &Txid) -> Result<esplora_client::TxStatus, Error> {
        Ok(self
            .get_json(&format!("/tx/{txid}/status"))
            .await?
            .unwrap_or(esplora_client::TxStatus {
                confirmed: false,
                block_height: None,
                block_hash: None,
                block_time: None,
            }))
    }

    /// `/blocks/tip/hash`.
    async fn tip_hash(&self) -> Result<BlockHash, Error> {
        let body = self
            .get("/blocks/tip/hash")
            .await?
            .ok_or_else(|| unavailable("/blocks/tip/hash: not found".into()))?;
        core::str::from_utf8(&body)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| unavailable("/blocks/tip/hash: not a block hash".into()))
    }

    /// `/block/:hash/status`; an unknown block is not in the best chain.
    async fn block_status(&self, hash: &BlockHash) -> Result<esplora_client::BlockStatus, Error> {
        Ok(self
            .get_json(&format!("/block/{hash}/status"))
            .await?
            .unwrap_or(esplora_client::BlockStatus {
                in_best_chain: false,
                height: None,
                next_best: None,
            }))
    }

    /// `/block/:hash/header`, checked to hash to `hash`.
    async fn header(&self, hash: &BlockHash) -> Result<Header, Error> {
        let path = format!("/block/{hash}/header");
        let body = self
            .get(&path)
            .await?
            .ok_or_else(|| unavailable(format!("{path}: not found")))?;
        let header: Header = core::str::from_utf8(&body)
            .ok()
            .and_then(|s| crate::bitcoin::consensus::encode::deserialize_hex(s.trim()).ok())
            .ok_or_else(|| unavailable(format!("{path}: not a block header")))?;
        if header.block_hash() != *hash {
            return Err(unavailable(format!(
                "header of block {hash} does not hash to it"
            )));
        }
        Ok(header)
    }

    /// `/fee-estimates`.
    async fn fee_estimates(&self) -> Result<HashMap<u16, f64>, Error> {
        self.get_json("/fee-estimates")
            .await?
            .ok_or_else(|| unavailable("/fee-estimates: not found".into()))
    }

    /// `/tx/:txid/raw`, checked against `txid` by the caller.
    async fn raw_tx(&self, txid: &Txid) -> Result<Option<Transaction>, Error> {
        let path = format!("/tx/{txid}/raw");
        match self.get(&path).await? {
            None => Ok(None),
            Some(body) => crate::bitcoin::consensus::deserialize(&body)
                .map(Some)
                .map_err(|e| unavailable(format!("{path}: not a transaction: {e}"))),
        }
    }

    /// `GET path` decoded as JSON; `None` on 404.
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Option<T>, Error> {
        match self.get(path).await? {
            None => Ok(None),
            Some(body) => serde_json::from_slice(&body)
                .map(Some)
                .map_err(|e| unavailable(format!("{path}: undecodable answer: {e}"))),
        }
    }

    /// `GET path`: the body of a 2xx answer, `None` on 404. Retries and time limits as the
    /// module docs say.
    async fn get(&self, path: &str) -> Result<Option<Vec<u8>>, Error> {
        let url = format!("{}{}", self.client.url(), path);
        let mut backoff = BASE_BACKOFF;
        let mut attempt = 1;
        loop {
            self.check_hold_off()?;
            let answer = with_timeout(REQUEST_TIMEOUT, async {
                let resp = self.client.client().get(&url).send().await?;
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let body = resp.bytes().await?;
                Ok::<_, reqwest::Error>((status, retry_after, body))
            })
            .await;
            let (status, retry_after, body) = match answer {
                None => {
                    return Err(unavailable(format!(
                        "{path}: no answer within {REQUEST_TIMEOUT:?}"
                    )))
                }
                Some(Err(e)) => return Err(unavailable(format!("{path}: {e}"))),
                Some(Ok(a)) => a,
            };
            match status {
                200..=299 => return Ok(Some(body.to_vec())),
                404 => return Ok(None),
                _ => {}
            }
            let why = format!(
                "{path}: HTTP {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            );
            let retryable = matches!(status, 429 | 500 | 502 | 503 | 504);
            let wait = retry_after.unwrap_or(backoff).min(MAX_RETRY_AFTER);
            if retry_after.is_some_and(|w| w > MAX_INLINE_RETRY_WAIT)
                || (retryable && attempt >= MAX_ATTEMPTS && retry_after.is_some())
            {
                self.hold_off(wait);
                return Err(unavailable(format!(
                    "{why} (Esplora asks to wait {}s: no request before then)",
                    wait.as_secs()
                )));
            }
            if !retryable || attempt >= MAX_ATTEMPTS {
                return Err(unavailable(why));
            }
            runtime::log_warn(&format!("{why}; retrying in {wait:?}"));
            runtime::sleep(wait).await;
            backoff = backoff.saturating_mul(2);
            attempt += 1;
        }
    }

    fn hold_off(&self, d: Duration) {
        let until = runtime::now() + d.min(MAX_RETRY_AFTER);
        let mut h = lock(&self.hold_off_until);
        *h = (*h).max(until);
    }

    fn check_hold_off(&self) -> Result<(), Error> {
        let until = *lock(&self.hold_off_until);
        let now = runtime::now();
        if now < until {
            return Err(unavailable(format!(
                "Esplora asked us to wait (Retry-After); next request in {}s",
                (until - now).as_secs() + 1
            )));
        }
        Ok(())
    }

    /// `POST /tx`, within [`REQUEST_TIMEOUT`] (no retry: a broadcast is repeated by the
    /// node's rebroadcast instead). Esplora's own error passes through, so a caller can tell
    /// a rejection (4xx) from no answer.
    pub async fn broadcast(&self, tx: &Transaction) -> Result<(), esplora_client::Error> {
        broadcast_with_timeout(&self.client, tx).await
    }

    /// The transaction `txid`, said confirmed in block `hash` at `height`, with its position
    /// proven against that block's header. `None` for a 64-byte transaction (a Merkle-tree
    /// ambiguity: never reported).
    async fn verified_tx(
        &self,
        txid: Txid,
        hash: BlockHash,
        height: u32,
        headers: &mut HashMap<BlockHash, Header>,
    ) -> Result<Option<ConfirmedTx>, RoundError> {
        let Some(proof) = self
            .get_json::<MerkleProof>(&format!("/tx/{txid}/merkle-proof"))
            .await?
        else {
            return Err(RoundError::Inconsistent);
        };
        if proof.block_height != height {
            return Err(RoundError::Inconsistent);
        }
        let header = match headers.get(&hash) {
            Some(h) => *h,
            None => {
                let h = self.header(&hash).await?;
                headers.insert(hash, h);
                h
            }
        };
        if merkle_root(&txid, &proof) != Some(header.merkle_root) {
            return Err(garbage(format!(
                "Merkle proof of {txid} does not match block {hash}"
            )));
        }
        let Some(tx) = self.raw_tx(&txid).await? else {
            return Err(RoundError::Inconsistent);
        };
        if tx.compute_txid() != txid {
            return Err(garbage(format!("transaction {txid} does not hash to it")));
        }
        if tx.total_size() == 64 {
            runtime::log_warn(&format!("ignoring 64-byte transaction {txid}"));
            return Ok(None);
        }
        Ok(Some(ConfirmedTx {
            txid,
            tx,
            header,
            height,
            pos: proof.pos,
        }))
    }
}

/// The Merkle root that `proof` (Esplora's `/tx/:txid/merkle-proof`: siblings deepest first,
/// `pos` the leaf index) gives for `txid`; `None` when `pos` does not fit the branch length.
pub fn merkle_root(txid: &Txid, proof: &MerkleProof) -> Option<TxMerkleNode> {
    if proof.merkle.len() >= usize::BITS as usize {
        return None;
    }
    if proof.pos >> proof.merkle.len() != 0 {
        return None;
    }
    let mut cur = txid.to_raw_hash();
    let mut pos = proof.pos;
    for sibling in &proof.merkle {
        let mut engine = sha256d::Hash::engine();
        if pos & 1 == 0 {
            engine.input(cur.as_byte_array());
            engine.input(sibling.as_byte_array());
        } else {
            engine.input(sibling.as_byte_array());
            engine.input(cur.as_byte_array());
        }
        cur = sha256d::Hash::from_engine(engine);
        pos >>= 1;
    }
    Some(TxMerkleNode::from_raw_hash(cur))
}

impl Filter for EsploraChainSource {
    fn register_tx(&self, txid: &Txid, _script_pubkey: &Script) {
        let mut s = lock(&self.state);
        if s.watched_txs.insert(*txid) {
            s.registrations += 1;
        }
    }

    fn register_output(&self, output: WatchedOutput) {
        let mut s = lock(&self.state);
        let outpoint = output.outpoint.into_bitcoin_outpoint();
        if s.spent_outputs
            .iter()
            .any(|(_, _, o)| o.outpoint.into_bitcoin_outpoint() == outpoint)
        {
            return;
        }
        if s.watched_outputs.insert(outpoint, output).is_none() {
            s.registrations += 1;
        }
    }
}

/// Fee rates in sat/kW per confirmation target, from Esplora's `/fee-estimates`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeeTable {
    /// (blocks, sat/kW), ascending by blocks.
    rates: Vec<(u16, u32)>,
}

/// The block target we ask Esplora for, per LDK target (as ldk-node does).
pub fn target_blocks(target: ConfirmationTarget) -> u16 {
    match target {
        ConfirmationTarget::MaximumFeeEstimate => 1,
        ConfirmationTarget::UrgentOnChainSweep => 6,
        ConfirmationTarget::MinAllowedAnchorChannelRemoteFee => 1008,
        ConfirmationTarget::MinAllowedNonAnchorChannelRemoteFee => 144,
        ConfirmationTarget::AnchorChannelFee => 1008,
        ConfirmationTarget::NonAnchorChannelFee => 12,
        ConfirmationTarget::ChannelCloseMinimum => 144,
        ConfirmationTarget::OutputSpendingFee => 12,
    }
}

/// Before the first fee table arrives (sat/kW): middling rates, never the floor for what must
/// confirm.
pub fn fallback_sat_per_kw(target: ConfirmationTarget) -> u32 {
    match target {
        ConfirmationTarget::MaximumFeeEstimate => 12_500,
        ConfirmationTarget::UrgentOnChainSweep => 5_000,
        ConfirmationTarget::MinAllowedAnchorChannelRemoteFee => FEERATE_FLOOR_SATS_PER_KW,
        ConfirmationTarget::MinAllowedNonAnchorChannelRemoteFee => FEERATE_FLOOR_SATS_PER_KW,
        ConfirmationTarget::AnchorChannelFee => 500,
        ConfirmationTarget::NonAnchorChannelFee => 2_500,
        ConfirmationTarget::ChannelCloseMinimum => FEERATE_FLOOR_SATS_PER_KW,
        ConfirmationTarget::OutputSpendingFee => 2_500,
    }
}

impl FeeTable {
    /// From Esplora's table (target blocks → sat/vB). Entries that are not a number, negative
    /// or above [`MAX_SANE_SAT_PER_VB`] are garbage and dropped: a broken or hostile chain
    /// source must not set our fees. 1 sat/vB = 250 sat/kW.
    pub fn from_esplora<S: std::hash::BuildHasher>(raw: &HashMap<u16, f64, S>) -> Self {
        let mut rates: Vec<(u16, u32)> = raw
            .iter()
            .filter(|(_, v)| v.is_finite() && (0.0..=MAX_SANE_SAT_PER_VB).contains(*v))
            // In range: at most 2.5M sat/kW, so the conversion cannot overflow.
            .map(|(k, v)| (*k, (v * 250.0).ceil() as u32))
            .collect();
        rates.sort_unstable();
        FeeTable { rates }
    }

    /// The rate (sat/kW, ≥ 253) for `target`: Esplora's rate for the largest block target not
    /// above ours (the next faster one when none is), minus a 250 sat/kW tolerance for the
    /// minimum we accept from a peer.
    pub fn sat_per_kw(&self, target: ConfirmationTarget) -> u32 {
        let blocks = target_blocks(target);
        let rate = self
            .rates
            .iter()
            .rev()
            .find(|(k, _)| *k <= blocks)
            .or_else(|| self.rates.first())
            .map(|(_, r)| *r);
        let Some(rate) = rate else {
            return fallback_sat_per_kw(target);
        };
        let rate = match target {
            ConfirmationTarget::MinAllowedAnchorChannelRemoteFee
            | ConfirmationTarget::MinAllowedNonAnchorChannelRemoteFee => rate.saturating_sub(250),
            _ => rate,
        };
        rate.max(FEERATE_FLOOR_SATS_PER_KW)
    }
}

impl FeeEstimator for EsploraChainSource {
    fn get_est_sat_per_1000_weight(&self, target: ConfirmationTarget) -> u32 {
        match &*lock(&self.fees) {
            Some(table) => table.sat_per_kw(target),
            None => fallback_sat_per_kw(target),
        }
    }
}

impl BroadcasterInterface for EsploraChainSource {
    /// `POST /tx` each transaction in order (parents first), in the background; a rejection is
    /// logged (LDK rebroadcasts its claims, the node the wallet's transactions, until they
    /// confirm).
    fn broadcast_transactions(&self, txs: &[&Transaction]) {
        let client = self.client.clone();
        let txs: Vec<Transaction> = txs.iter().map(|tx| (*tx).clone()).collect();
        runtime::spawn(async move {
            for tx in txs {
                if let Err(e) = broadcast_with_timeout(&client, &tx).await {
                    runtime::log_warn(&format!("broadcast of {} rejected: {e}", tx.compute_txid()));
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fee_mapping_uses_the_table_with_floors() {
        let raw: HashMap<u16, f64> = [
            (1, 20.0),
            (2, 15.0),
            (6, 10.0),
            (12, 5.5),
            (144, 2.0),
            (504, 1.0),
            (1008, 1.0),
        ]
        .into_iter()
        .collect();
        let t = FeeTable::from_esplora(&raw);
        use ConfirmationTarget::*;
        assert_eq!(t.sat_per_kw(MaximumFeeEstimate), 5_000);
        assert_eq!(t.sat_per_kw(UrgentOnChainSweep), 2_500);
        assert_eq!(t.sat_per_kw(NonAnchorChannelFee), 1_375);
        assert_eq!(t.sat_per_kw(OutputSpendingFee), 1_375);
        assert_eq!(t.sat_per_kw(ChannelCloseMinimum), 500);
        // 1 sat/vB = 250 sat/kW: below the floor.
        assert_eq!(t.sat_per_kw(AnchorChannelFee), FEERATE_FLOOR_SATS_PER_KW);
        assert_eq!(t.sat_per_kw(MinAllowedNonAnchorChannelRemoteFee), 253);
        assert_eq!(t.sat_per_kw(MinAllowedAnchorChannelRemoteFee), 253);

        // A sparse table: the next faster target answers; garbage is dropped.
        let raw: HashMap<u16, f64> = [(3, 40.0), (25, f64::NAN), (30, -1.0), (200, 1e30)]
            .into_iter()
            .collect();
        let t = FeeTable::from_esplora(&raw);
        assert_eq!(t.sat_per_kw(MaximumFeeEstimate), 10_000);
        assert_eq!(t.sat_per_kw(NonAnchorChannelFee), 10_000);
        assert_eq!(t.sat_per_kw(ChannelCloseMinimum), 10_000);
        // 1e30 sat/vB was dropped: the 1008-block target falls back to the 3-block rate.
        assert_eq!(t.sat_per_kw(AnchorChannelFee), 10_000);
        // The ceiling itself is accepted; just above it is garbage.
        let edge: HashMap<u16, f64> = [(1, MAX_SANE_SAT_PER_VB), (2, MAX_SANE_SAT_PER_VB + 1.0)]
            .into_iter()
            .collect();
        let t = FeeTable::from_esplora(&edge);
        assert_eq!(t.sat_per_kw(MaximumFeeEstimate), 2_500_000);
        assert_eq!(t.sat_per_kw(UrgentOnChainSweep), 2_500_000);

        // Empty: the fallbacks, all at or above the floor.
        let t = FeeTable::from_esplora(&HashMap::<u16, f64>::new());
        for target in [
            MaximumFeeEstimate,
            UrgentOnChainSweep,
            MinAllowedAnchorChannelRemoteFee,
            MinAllowedNonAnchorChannelRemoteFee,
            AnchorChannelFee,
            NonAnchorChannelFee,
            ChannelCloseMinimum,
            OutputSpendingFee,
        ] {
            assert_eq!(t.sat_per_kw(target), fallback_sat_per_kw(target));
            assert!(t.sat_per_kw(target) >= FEERATE_FLOOR_SATS_PER_KW);
        }
    }

    #[test]
    fn merkle_root_of_a_proof() {
        let leaf = |b: u8| Txid::from_byte_array([b; 32]);
        let node = |a: &sha256d::Hash, b: &sha256d::Hash| {
            let mut e = sha256d::Hash::engine();
            e.input(a.as_byte_array());
            e.input(b.as_byte_array());
            sha256d::Hash::from_engine(e)
        };
        let [a, b, c, d] = [1, 2, 3, 4].map(leaf);
        let ab = node(&a.to_raw_hash(), &b.to_raw_hash());
        let cd = node(&c.to_raw_hash(), &d.to_raw_hash());
        let root = TxMerkleNode::from_raw_hash(node(&ab, &cd));
        let proof = MerkleProof {
            block_height: 1,
            merkle: vec![d, Txid::from_raw_hash(ab)],
            pos: 2,
        };
        assert_eq!(merkle_root(&c, &proof), Some(root));
        let wrong_pos = MerkleProof { pos: 3, ..proof };
        assert_ne!(merkle_root(&c, &wrong_pos), Some(root));
        let too_far = MerkleProof {
            pos: 4,
            ..wrong_pos
        };
        assert_eq!(merkle_root(&c, &too_far), None);
    }
}
