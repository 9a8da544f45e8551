//! [`Node`]: the running Lightning node. Build one with [`crate::Builder`].
//!
//! The node runs on one thread: the browser's event loop, or natively a tokio `LocalSet`
//! (LDK without `std` is `!Sync`). [`Node::start`] spawns its background tasks there: LDK's
//! background processor (events, persistence, timers), a chain and wallet sync every
//! `sync_interval`, reconnection to the peers we have channels with, and, when the graph comes
//! from Rapid Gossip Sync, a snapshot fetch on start and every hour, else (P2P gossip) the
//! graph's persistence (graph.rs).

// See builder.rs: LDK's `Arc`s hold `!Send` objects on our one thread.
#![allow(clippy::arc_with_non_send_sync)]

use std::cell::RefCell;
use std::collections::HashSet;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use lightning::chain::channelmonitor::Balance;
use lightning::chain::Confirm;
use lightning::ln::types::ChannelId;
use lightning::sign::KeysManager;
use lightning::util::errors::APIError;
use lightning::util::sweep::OutputSpendStatus;
use lightning_background_processor::process_events_async;
use serde::{Deserialize, Serialize};

use crate::bitcoin::hex::DisplayHex;
use crate::bitcoin::secp256k1::PublicKey;
use crate::bitcoin::Txid;
use crate::chain::esplora::{with_timeout, SyncStats};
use crate::chain::wallet::WalletBalance;
use crate::event::{EventId, EventQueue, PendingEvent};
use crate::graph::{Gossip, GraphInfo};
use crate::io::{DynStore, FencedStore};
use crate::logger::{log_at, NodeLogger};
use crate::message::MessageVerification;
use crate::payment::{
    Bolt11Payment, OnchainPayment, PaymentDetails, PaymentStore, SpontaneousPayment,
};
use crate::peer_store::{PeerRecord, PeerStore};
use crate::seed::Mnemonic;
use crate::types::{
    BumpHandler, ChainMonitor, ChainSource, ChannelManager, Graph, OnionMessenger, PeerManager,
    Router, ScorerCell, Sweeper, Wallet,
};
use crate::{net, runtime, Error, Network};

/// How long `connect` waits for the TCP/WebSocket connection and the handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the node tries to reconnect to peers it has channels with.
const RECONNECT_INTERVAL: Duration = Duration::from_secs(5);
/// How often reconnection checks whether the first sync is done.
const CHAIN_READY_POLL: Duration = Duration::from_millis(100);
/// How long `close_channel` waits for a channel update being written before it gives up.
const CLOSE_WAIT: Duration = Duration::from_secs(5);
/// How often the storage watch looks for a change of the storage's health.
const STORAGE_WATCH_INTERVAL: Duration = Duration::from_millis(200);
/// How long a wallet sync may take in all (a full scan is some 50 requests).
const WALLET_SYNC_TIMEOUT: Duration = Duration::from_secs(120);
/// How long `stop` waits for the background processor's final persistence.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `stop` waits for the loops and dials in progress: longer than a dial can take.
const LOOPS_STOP_TIMEOUT: Duration = Duration::from_secs(CONNECT_TIMEOUT.as_secs() + 5);

/// What the builder decided, kept by the node.
#[derive(Clone, Debug)]
pub(crate) struct NodeConfig {
    pub network: Network,
    // Read by the browser transport only.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub proxy_url: Option<String>,
    pub lsp: Option<(PublicKey, lightning::ln::msgs::SocketAddress)>,
    pub sync_interval: Duration,
    /// Whether we negotiate anchor channels (`Builder::set_anchor_channels`).
    pub anchor_channels: bool,
    /// The delay we ask a counterparty to wait (`Builder::set_our_to_self_delay`); an LSP's
    /// JIT channel offer must accept it.
    pub our_to_self_delay: u16,
}

/// Everything the node is made of, shared by its handles and background tasks.
pub(crate) struct NodeInner {
    pub config: NodeConfig,
    pub node_id: PublicKey,
    pub generated_mnemonic: RefCell<Option<Mnemonic>>,
    pub logger: Arc<NodeLogger>,
    pub store: Arc<DynStore>,
    pub keys: Arc<KeysManager>,
    pub chain: Arc<ChainSource>,
    pub wallet: Arc<Wallet>,
    pub chain_monitor: Arc<ChainMonitor>,
    pub channel_manager: Arc<ChannelManager>,
    pub onion_messenger: Arc<OnionMessenger>,
    pub peer_manager: Arc<PeerManager>,
    /// The LSPS2 client, when an LSP is configured (liquidity.rs).
    pub lsp: Option<Arc<crate::liquidity::LspClient>>,
    /// The public channel graph, and where it is learnt from (graph.rs).
    pub graph: Arc<Graph>,
    pub gossip: Gossip,
    /// The router the channel manager pays with (NO_ROUTE's reasons ask it again).
    pub router: Arc<Router>,
    pub scorer: Arc<ScorerCell>,
    pub sweeper: Arc<Sweeper>,
    pub bump_handler: Arc<BumpHandler>,
    pub payments: Arc<PaymentStore>,
    pub events: Arc<EventQueue>,
    pub peers: Arc<PeerStore>,
    /// Set while started.
    pub running: AtomicBool,
    /// Set by `stop`: the sync and reconnect loops end, no new work is accepted.
    pub stopping: Arc<AtomicBool>,
    /// The store everything writes through, closed once `stop` has written the last state.
    pub store_fence: Arc<FencedStore>,
    /// Set by `stop` once every peer is disconnected: the background processor writes the
    /// channel manager one last time and ends.
    pub bp_stop: Arc<AtomicBool>,
    /// Sync and reconnect loops still running.
    pub tasks: Arc<AtomicU64>,
    /// The background processor, while it runs (0 or 1).
    pub bp_tasks: Arc<AtomicU64>,
    /// Unix time of the last successful sync (0: never).
    pub last_sync: AtomicU64,
    /// Set by the first successful sync since start: fees are known and LDK has seen the
    /// tip, so peers may be talked to (LDK must be synced before anything else).
    pub chain_ready: AtomicBool,
    /// Whether every channel monitor write reached the store ([`NodeStatus::degraded`]).
    pub storage_health: Arc<crate::io::StorageHealth>,
    /// The store channel monitors are written through (io/gate.rs).
    pub monitor_gate: Arc<crate::io::MonitorGate>,
    /// See [`NodeStatus::fatal_error`]; set once by [`NodeInner::fail`].
    pub fatal_error: RefCell<Option<String>>,
    /// Every background task of the node runs under it: a task that panics stops the node.
    pub supervisor: Supervisor,
}

impl NodeInner {
    pub fn check_running(&self) -> Result<(), Error> {
        self.check_not_failed()?;
        if self.running.load(Ordering::Acquire) && !self.stopping.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err(Error::NodeStopped)
        }
    }

    /// Refuses once `stop` has begun (or the node was dropped); a node built but not yet
    /// started passes. For calls that write the store: after `stop` another instance (a new
    /// tab) may own it.
    pub fn check_not_stopped(&self) -> Result<(), Error> {
        self.check_not_failed()?;
        if self.stopping.load(Ordering::Acquire) {
            Err(Error::NodeStopped)
        } else {
            Ok(())
        }
    }

    /// `STORAGE_UNAVAILABLE` while a channel monitor write keeps failing: a new payment or
    /// channel would only queue more updates that cannot be made durable, and nothing is
    /// acknowledged to a peer before it is.
    pub fn check_storage(&self) -> Result<(), Error> {
        match self.storage_health.failure() {
            Some(why) => Err(Error::StorageUnavailable(format!(
                "channel state cannot be saved ({why}): new payments wait until it can"
            ))),
            None => Ok(()),
        }
    }

    /// What the wallet keeps on-chain to bump the fees of our anchor channels, counting
    /// `extra` more of them (an anchor channel being opened or accepted). Channels with the
    /// LSP count too: the reserve pays for our own force close, whoever the peer is. A closed
    /// anchor channel counts until nothing of it is left to claim on-chain: its commitment
    /// may still need a fee bump, and its HTLC transactions always take wallet coins.
    pub fn anchor_reserve(&self, extra: u64) -> crate::bitcoin::Amount {
        let channels = self.channel_manager.list_channels();
        let open_ids: HashSet<ChannelId> = channels.iter().map(|c| c.channel_id).collect();
        let open = channels.iter().filter(|c| has_anchors(c)).count() as u64;
        let closing = self
            .chain_monitor
            .list_monitors()
            .into_iter()
            .filter(|id| !open_ids.contains(id))
            .filter_map(|id| self.chain_monitor.get_monitor(id).ok())
            .filter(|m| {
                m.channel_type_features()
                    .supports_anchors_zero_fee_htlc_tx()
                    && !m.get_claimable_balances().is_empty()
            })
            .count() as u64;
        crate::bitcoin::Amount::from_sat(
            (open + closing + extra) * crate::chain::bump::ANCHOR_RESERVE_PER_CHANNEL_SAT,
        )
    }

    /// `INTERNAL` once the node stopped by itself ([`NodeInner::fail`]).
    pub fn check_not_failed(&self) -> Result<(), Error> {
        match &*self.fatal_error.borrow() {
            Some(why) => Err(Error::Internal(format!(
                "the node stopped after an internal error ({why}); reload the page"
            ))),
            None => Ok(()),
        }
    }

    /// Stops the node after a failure it cannot carry on from (a background task died, a
    /// panic): logged, kept for `status()`, and every later call fails with `INTERNAL`. The
    /// first reason is kept.
    pub fn fail(&self, why: impl Into<String>) {
        let why = why.into();
        log_at!(self.logger, Error, "the node stops: {why}");
        self.fatal_error.borrow_mut().get_or_insert(why);
        self.halt();
    }

    /// Ends peer traffic and tells the background tasks to end, without waiting: what
    /// `stop` does first, `Drop` and a failed background processor do alone. Peers go
    /// before the processor's last write, so no channel update lands after it (a manager
    /// older than its monitors would force-close the channel on the next start).
    fn halt(&self) {
        self.stopping.store(true, Ordering::Release);
        self.chain.halt();
        self.peer_manager.disconnect_all_peers();
        self.bp_stop.store(true, Ordering::Release);
    }

    /// Syncs LDK once if that never succeeded since start: before the first connection,
    /// so LDK negotiates with real fee rates and the current tip. (Not the wallet: a
    /// failing wallet scan must not keep the node from its channels.)
    async fn ensure_chain_ready(&self) -> Result<(), Error> {
        if self.chain_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        sync_ldk(self).await.map(|_| ())
    }
}

/// A connected (or remembered) peer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerDetails {
    /// The peer's node id, hex.
    pub node_id: String,
    /// Its address, when known.
    pub address: Option<String>,
    /// Whether a connection is up.
    pub connected: bool,
    /// Whether the node reconnects to it (we have a channel with it, or connected with
    /// `persist`).
    pub persisted: bool,
}

/// One channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelDetails {
    /// The channel id, hex (temporary until the funding transaction exists).
    pub channel_id: String,
    /// Our id for the channel (what `open_channel` returned), hex.
    pub user_channel_id: String,
    /// The peer.
    pub counterparty_node_id: String,
    /// The funding output, `txid:vout`.
    pub funding_txo: Option<String>,
    /// Channel size.
    pub capacity_sat: u64,
    /// What we could send now (our balance minus reserves).
    pub outbound_capacity_msat: u64,
    /// The most one payment part can send over it now (the peer may cap what is in flight
    /// below the outbound capacity; larger payments are split over several channels).
    pub next_outbound_htlc_limit_msat: u64,
    /// What we could receive now.
    pub inbound_capacity_msat: u64,
    /// Funding confirmed and `channel_ready` exchanged.
    pub is_ready: bool,
    /// Ready and the peer connected: payments can flow.
    pub is_usable: bool,
    /// We opened it.
    pub is_outbound: bool,
    /// Confirmations of the funding transaction.
    pub confirmations: Option<u32>,
    /// Confirmations required before it is ready.
    pub confirmations_required: Option<u32>,
    /// Whether it has anchor outputs (its commitment's fee is paid from the wallet when it is
    /// broadcast); `false` for a legacy channel or while still being negotiated.
    pub anchors: bool,
}

/// Funds that are not (yet) spendable on-chain: in channels, or on their way back from a
/// closed channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimableBalance {
    /// The channel it comes from, hex.
    pub channel_id: Option<String>,
    /// Amount.
    pub amount_sat: u64,
    /// What state it is in: `awaitingConfirmations`, `contentious`, `htlcTimeout`,
    /// `htlcPreimage`, `revokedOutput`, or `sweepPending` (being swept to the wallet).
    pub kind: String,
    /// The height from which it is ours on-chain (or is swept), when known.
    pub available_at_height: Option<u32>,
}

/// All the node's balances.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Balances {
    /// The on-chain wallet.
    pub onchain: WalletBalance,
    /// Our side of open channels, less the commitment transaction fee when we opened the
    /// channel (what a force close would return before its sweep fees), in msat.
    pub lightning_msat: u64,
    /// Funds on their way back from closed channels.
    pub claimable: Vec<ClaimableBalance>,
    /// Of `onchain.spendable_sat`, what is kept to bump the fees of anchor channels
    /// ([`crate::chain::bump::ANCHOR_RESERVE_PER_CHANNEL_SAT`] each): sends and channel opens
    /// leave it.
    pub onchain_reserve_sat: u64,
}

/// The node's state at a glance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// Whether it is started.
    pub is_running: bool,
    /// Our node id, hex.
    pub node_id: String,
    /// The network.
    pub network: Network,
    /// Height of the best block LDK knows.
    pub block_height: u32,
    /// Its hash.
    pub block_hash: String,
    /// Unix time of the last successful sync.
    pub synced_at: Option<u64>,
    /// Connected peers.
    pub peers: usize,
    /// Channels (any state).
    pub channels: usize,
    /// Why the node works only in part, while it lasts: a store write that keeps failing
    /// (new payments are refused until it succeeds).
    pub degraded: Option<String>,
    /// Why the node stopped by itself (a background task died, a panic): every later call
    /// fails with `INTERNAL`; reload to run it again.
    pub fatal_error: Option<String>,
    /// The public channel graph payments are routed through.
    pub graph: GraphInfo,
}

/// The Lightning node.
pub struct Node {
    pub(crate) inner: Arc<NodeInner>,
}

impl core::fmt::Debug for Node {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Node")
            .field("node_id", &self.inner.node_id)
            .field("network", &self.inner.config.network)
            .finish_non_exhaustive()
    }
}

/// Whether a channel has anchor outputs (`false` while its type is still being negotiated).
fn has_anchors(c: &lightning::ln::channel_state::ChannelDetails) -> bool {
    c.channel_type
        .as_ref()
        .is_some_and(|t| t.supports_anchors_zero_fee_htlc_tx())
}

pub(crate) fn hex_channel_id(id: &ChannelId) -> String {
    id.0.as_hex().to_string()
}

pub(crate) fn parse_channel_id(s: &str) -> Result<ChannelId, Error> {
    let bytes = <[u8; 32] as crate::bitcoin::hex::FromHex>::from_hex(s)
        .map_err(|_| Error::UnknownChannel(format!("not a channel id: {s:?}")))?;
    Ok(ChannelId(bytes))
}

pub(crate) fn map_api_error(e: APIError) -> Error {
    match e {
        APIError::APIMisuseError { err } => Error::InvalidConfig(err),
        APIError::FeeRateTooHigh { err, .. } => Error::FeeTooHigh(err),
        APIError::InvalidRoute { err } => Error::NoRoute(err),
        APIError::ChannelUnavailable { err } => Error::UnknownChannel(err),
        APIError::MonitorUpdateInProgress => {
            Error::StorageUnavailable("a channel update is still being written".into())
        }
        APIError::IncompatibleShutdownScript { script } => {
            Error::Internal(format!("incompatible shutdown script {script}"))
        }
    }
}

/// A sleeper for the background processor: waits `d` but wakes early, with `true`, once the
/// node is stopping.
pub(crate) fn stoppable_sleep(
    stopping: Arc<AtomicBool>,
    d: Duration,
) -> core::pin::Pin<Box<dyn core::future::Future<Output = bool>>> {
    Box::pin(async move {
        let start = runtime::now();
        loop {
            if stopping.load(Ordering::Acquire) {
                return true;
            }
            let left = d.saturating_sub(runtime::now().saturating_sub(start));
            if left.is_zero() {
                return false;
            }
            runtime::sleep(left.min(Duration::from_millis(50))).await;
        }
    })
}

/// `fut`'s output, or `None` when `other` finished first (`fut` is dropped).
pub(crate) async fn first_of<F: Future, G: Future>(fut: F, other: G) -> Option<F::Output> {
    let mut fut = core::pin::pin!(fut);
    let mut other = core::pin::pin!(other);
    core::future::poll_fn(|cx| {
        if let core::task::Poll::Ready(v) = fut.as_mut().poll(cx) {
            return core::task::Poll::Ready(Some(v));
        }
        other.as_mut().poll(cx).map(|_| None)
    })
    .await
}

/// Waits until `tasks` is 0, at most `timeout`; whether it got there.
async fn wait_tasks(inner: &NodeInner, tasks: &AtomicU64, timeout: Duration, what: &str) -> bool {
    let start = runtime::now();
    while tasks.load(Ordering::Acquire) > 0 {
        if runtime::now().saturating_sub(start) > timeout {
            log_at!(inner.logger, Warn, "{what} did not stop within {timeout:?}");
            return false;
        }
        runtime::sleep(Duration::from_millis(10)).await;
    }
    true
}

/// Counts a background task while it runs.
struct TaskGuard(Arc<AtomicU64>);

impl TaskGuard {
    fn new(tasks: &Arc<AtomicU64>) -> Self {
        tasks.fetch_add(1, Ordering::AcqRel);
        TaskGuard(Arc::clone(tasks))
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Watches the node's background tasks (#14 item 12). Natively a panic ends only the task
/// it happens in (tokio catches it): the node would go on half alive, with, say, no
/// background processor and so no persistence and no sweeps, and nobody told. A task
/// spawned through the supervisor (or from inside such a task, or within
/// [`Supervisor::scope`]) that panics stops the node instead ([`NodeInner::fail`]):
/// `status().fatal_error` says why and every later call fails with `INTERNAL`. In the
/// browser a panic aborts the whole instance; the panic hook reports that.
#[derive(Clone, Default)]
pub(crate) struct Supervisor(Rc<RefCell<SupervisorState>>);

#[derive(Default)]
struct SupervisorState {
    node: Weak<NodeInner>,
    /// A panic before the node existed (a task spawned while building it).
    early: Option<String>,
}

impl Supervisor {
    /// Reports to `node` from now on (and what failed before).
    pub fn attach(&self, node: &Arc<NodeInner>) {
        let early = {
            let mut state = self.0.borrow_mut();
            state.node = Arc::downgrade(node);
            state.early.take()
        };
        if let Some(why) = early {
            node.fail(why);
        }
    }

    /// The panic handler of the task `task`.
    pub fn handler(&self, task: &'static str) -> runtime::PanicHandler {
        let supervisor = self.clone();
        Rc::new(move |message| supervisor.task_died(task, message))
    }

    /// Runs `fut` in the background, supervised.
    pub fn spawn<F: Future<Output = ()> + 'static>(&self, task: &'static str, fut: F) {
        runtime::spawn_local_supervised(fut, self.handler(task));
    }

    /// Awaits `fut`, supervising what it spawns (a connection's driver, say).
    pub async fn scope<F: Future>(&self, task: &'static str, fut: F) -> F::Output {
        runtime::with_panic_handler(self.handler(task), fut).await
    }

    fn task_died(&self, task: &str, message: String) {
        let why = format!("the background task `{task}` panicked: {message}");
        let node = self.0.borrow().node.upgrade();
        match node {
            Some(node) => node.fail(why),
            None => {
                runtime::log_warn(&why);
                self.0.borrow_mut().early.get_or_insert(why);
            }
        }
    }
}

impl Node {
    pub(crate) fn from_inner(inner: NodeInner) -> Self {
        let inner = Arc::new(inner);
        inner.supervisor.attach(&inner);
        Node { inner }
    }

    /// Our node id.
    pub fn node_id(&self) -> PublicKey {
        self.inner.node_id
    }

    /// The network.
    pub fn network(&self) -> Network {
        self.inner.config.network
    }

    /// The mnemonic the builder generated, once: later calls (and nodes restored from a
    /// mnemonic) return `None`. Write it down; it is not stored.
    pub fn take_generated_mnemonic(&self) -> Option<Mnemonic> {
        self.inner.generated_mnemonic.borrow_mut().take()
    }

    /// Signs `message` with the node key, as LND's `signmessage` and Core Lightning's
    /// `signmessage` do (zbase32, see [`crate::message`]); anyone can check it against our
    /// node id. The key stays in the `KeysManager`.
    pub fn sign_message(&self, message: &[u8]) -> Result<String, Error> {
        use lightning::sign::NodeSigner;
        self.inner
            .keys
            .sign_message(message)
            .map_err(|()| Error::Internal("the node key could not sign".into()))
    }

    /// Checks a node-message signature ([`crate::message`]): the key it recovers to over
    /// `message`, and whether that is a node we know (ourselves, a peer, a channel
    /// counterparty or a node of the graph), which is what LND's `verifymessage` calls valid.
    /// A malformed signature is `valid: false, pubkey: None`, not an error. To check a given
    /// signer, compare `pubkey` with it (or use [`crate::message::verify_message`]).
    pub fn verify_message(
        &self,
        message: &[u8],
        signature: &str,
    ) -> Result<MessageVerification, Error> {
        let Some(pubkey) = crate::message::recover_signer(message, signature) else {
            return Ok(MessageVerification {
                valid: false,
                pubkey: None,
            });
        };
        Ok(MessageVerification {
            valid: self.knows_node(&pubkey),
            pubkey: Some(pubkey),
        })
    }

    /// Whether `id` is us, a peer (connected or remembered), a channel counterparty or a
    /// node of the graph.
    fn knows_node(&self, id: &PublicKey) -> bool {
        let inner = &self.inner;
        let hex = id.to_string();
        *id == inner.node_id
            || inner.peer_manager.peer_by_node_id(id).is_some()
            || inner.peers.list().iter().any(|p| p.node_id == hex)
            || inner
                .channel_manager
                .list_channels()
                .iter()
                .any(|c| c.counterparty.node_id == *id)
            || inner
                .graph
                .read_only()
                .node(&lightning::routing::gossip::NodeId::from_pubkey(id))
                .is_some()
    }

    /// The LSP the builder was given.
    pub fn lsp(&self) -> Option<(PublicKey, lightning::ln::msgs::SocketAddress)> {
        self.inner.config.lsp.clone()
    }

    /// Starts the background tasks. Natively it must be called inside a tokio `LocalSet`.
    /// Starting a running node, or one stopped before, is an error. Peers are contacted
    /// only after a first successful sync (fee rates and tip known): until Esplora answers,
    /// `connect` and `open_channel` fail with `CHAIN_SOURCE_UNAVAILABLE`.
    pub fn start(&self) -> Result<(), Error> {
        let inner = &self.inner;
        if inner.stopping.load(Ordering::Acquire) {
            return Err(Error::NodeStopped);
        }
        if inner.running.swap(true, Ordering::AcqRel) {
            return Err(Error::InvalidConfig("the node is already running".into()));
        }
        self.spawn_background_processor();
        self.spawn_sync_loop();
        self.spawn_reconnect_loop();
        self.spawn_storage_watch();
        crate::liquidity::spawn_event_task(inner);
        if inner.gossip.is_rgs() {
            self.spawn_rgs_loop();
        } else {
            self.spawn_graph_persist_loop();
        }
        log_at!(
            inner.logger,
            Info,
            "node {} started on {}",
            inner.node_id,
            inner.config.network
        );
        Ok(())
    }

    fn spawn_background_processor(&self) {
        let inner = Arc::clone(&self.inner);
        let guard = TaskGuard::new(&inner.bp_tasks);
        let supervisor = inner.supervisor.clone();
        supervisor.spawn("background processor", async move {
            let _guard = guard;
            let handler_inner = Arc::clone(&inner);
            let stopping = Arc::clone(&inner.bp_stop);
            let result = process_events_async(
                Arc::clone(&inner.store),
                move |event| {
                    let inner = Arc::clone(&handler_inner);
                    async move { inner.handle_ldk_event(event).await }
                },
                Arc::clone(&inner.chain_monitor),
                Arc::clone(&inner.channel_manager),
                Some(Arc::clone(&inner.onion_messenger)),
                // With RGS, prunes the graph and persists it (hourly, and on stop); nothing
                // with P2P gossip, whose graph LDK's pruning would damage (graph.rs).
                inner.gossip.background_sync(),
                Arc::clone(&inner.peer_manager),
                inner.lsp.as_ref().map(|l| Arc::clone(&l.manager)),
                Some(Arc::clone(&inner.sweeper)),
                Arc::clone(&inner.logger),
                Some(Arc::clone(&inner.scorer)),
                move |d| stoppable_sleep(Arc::clone(&stopping), d),
                // Not "mobile": it disconnects every peer when a 100 ms sleep took over a
                // second, which a hidden tab's throttled timers do all the time. Dead
                // connections are found by pings and the transport's close events instead.
                false,
                || Some(runtime::now()),
            )
            .await;
            if let Err(e) = result {
                // The channel manager can no longer be written: no channel may move on.
                inner.fail(format!("background processing failed: {e}"));
                inner.running.store(false, Ordering::Release);
            }
        });
    }

    fn spawn_sync_loop(&self) {
        let inner = Arc::clone(&self.inner);
        let guard = TaskGuard::new(&inner.tasks);
        let supervisor = inner.supervisor.clone();
        supervisor.spawn("sync loop", async move {
            let _guard = guard;
            loop {
                if let Err(e) = sync_inner(&inner).await {
                    log_at!(inner.logger, Warn, "background sync failed: {e}");
                }
                if stoppable_sleep(Arc::clone(&inner.stopping), inner.config.sync_interval).await {
                    break;
                }
            }
        });
    }

    fn spawn_reconnect_loop(&self) {
        let inner = Arc::clone(&self.inner);
        let guard = TaskGuard::new(&inner.tasks);
        let supervisor = inner.supervisor.clone();
        supervisor.spawn("reconnect loop", async move {
            let _guard = guard;
            loop {
                // Not before the first sync (the sync loop runs it at once).
                if !inner.chain_ready.load(Ordering::Acquire) {
                    if stoppable_sleep(Arc::clone(&inner.stopping), CHAIN_READY_POLL).await {
                        break;
                    }
                    continue;
                }
                let mut targets: Vec<_> = inner
                    .peers
                    .list()
                    .iter()
                    .filter_map(|r| net::parse_peer(&format!("{}@{}", r.node_id, r.address)).ok())
                    .collect();
                // The LSP too, channel or not: it is where a fresh wallet's P2P gossip (the
                // routing graph) and its JIT channels come from.
                if let Some((lsp_id, lsp_addr)) = inner.config.lsp.clone() {
                    if !targets.iter().any(|(id, _)| *id == lsp_id) {
                        targets.push((lsp_id, lsp_addr));
                    }
                }
                for (node_id, addr) in targets {
                    if inner.stopping.load(Ordering::Acquire) {
                        break;
                    }
                    if inner.peer_manager.peer_by_node_id(&node_id).is_some() {
                        continue;
                    }
                    if let Err(e) = connect_inner(&inner, node_id, &addr).await {
                        log_at!(inner.logger, Debug, "reconnecting to {node_id}: {e}");
                    }
                }
                if stoppable_sleep(Arc::clone(&inner.stopping), RECONNECT_INTERVAL).await {
                    break;
                }
            }
        });
    }

    /// Fetches and applies the Rapid Gossip Sync delta on start and then every
    /// [`crate::graph::RGS_INTERVAL`]; a failure is logged and tried again next round.
    fn spawn_rgs_loop(&self) {
        let inner = Arc::clone(&self.inner);
        let guard = TaskGuard::new(&inner.tasks);
        let supervisor = inner.supervisor.clone();
        supervisor.spawn("rapid gossip sync", async move {
            let _guard = guard;
            loop {
                // Raced with `stop`, which must not wait for a download.
                let round = crate::graph::rgs_sync(
                    &inner.gossip,
                    &inner.graph,
                    &inner.logger,
                    &inner.stopping,
                );
                let stopped = stoppable_sleep(Arc::clone(&inner.stopping), Duration::MAX);
                match first_of(round, stopped).await {
                    Some(Err(e)) => log_at!(inner.logger, Warn, "rapid gossip sync failed: {e}"),
                    Some(Ok(_)) => {}
                    None => break,
                }
                let interval = crate::graph::RGS_INTERVAL;
                if stoppable_sleep(Arc::clone(&inner.stopping), interval).await {
                    break;
                }
            }
        });
    }

    /// Writes the P2P graph a minute after start, then hourly, and once more on stop: what
    /// the background processor does with an RGS graph (graph.rs says why not this one).
    fn spawn_graph_persist_loop(&self) {
        let inner = Arc::clone(&self.inner);
        let guard = TaskGuard::new(&inner.tasks);
        let supervisor = inner.supervisor.clone();
        supervisor.spawn("graph persistence", async move {
            let _guard = guard;
            let mut wait = crate::graph::P2P_GRAPH_FIRST_PERSIST;
            loop {
                let stopped = stoppable_sleep(Arc::clone(&inner.stopping), wait).await;
                crate::graph::persist_graph(&*inner.store, &inner.graph, &inner.logger).await;
                if stopped {
                    break;
                }
                wait = crate::graph::P2P_GRAPH_PERSIST_INTERVAL;
            }
        });
    }

    /// Turns changes of [`crate::io::StorageHealth`] into events: `StorageDegraded` when a
    /// channel monitor write starts failing, `StorageRecovered` once it went through. An
    /// event that cannot be stored (the store fails everywhere) is tried again.
    fn spawn_storage_watch(&self) {
        let inner = Arc::clone(&self.inner);
        let guard = TaskGuard::new(&inner.tasks);
        runtime::spawn_local(async move {
            let _guard = guard;
            // Whether the application was told the storage is degraded.
            let mut announced = false;
            let mut seen = u64::MAX;
            loop {
                let changes = inner.storage_health.changes();
                let failure = inner.storage_health.failure();
                let event = match (&failure, announced) {
                    (Some(reason), false) => Some(crate::Event::StorageDegraded {
                        reason: reason.clone(),
                    }),
                    (None, true) => Some(crate::Event::StorageRecovered {}),
                    _ => None,
                };
                if changes != seen {
                    match &failure {
                        Some(why) => log_at!(inner.logger, Error, "storage degraded: {why}"),
                        None if seen != u64::MAX => {
                            log_at!(inner.logger, Info, "storage recovered")
                        }
                        None => {}
                    }
                    seen = changes;
                }
                if let Some(event) = event {
                    match inner.events.push(event).await {
                        Ok(_) => announced = !announced,
                        Err(e) => log_at!(inner.logger, Warn, "queueing a storage event: {e}"),
                    }
                }
                if stoppable_sleep(Arc::clone(&inner.stopping), STORAGE_WATCH_INTERVAL).await {
                    break;
                }
            }
        });
    }

    /// Saves what can be saved now: the channel manager, and one more try of every channel
    /// monitor write still waiting. For the browser's `pagehide` (the tab may be killed
    /// next): the write is issued before this returns, so it is under way even if nothing
    /// awaits it. The future fails with `STORAGE_UNAVAILABLE` when the manager could not be
    /// written.
    pub fn persist(&self) -> impl core::future::Future<Output = Result<(), Error>> + 'static {
        use lightning::util::ser::Writeable;
        let inner = &self.inner;
        let issued = inner.check_not_stopped().map(|()| {
            inner.monitor_gate.retry_now();
            inner.store.write(
                crate::io::CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
                crate::io::CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
                crate::io::CHANNEL_MANAGER_PERSISTENCE_KEY,
                inner.channel_manager.encode(),
            )
        });
        async move { issued?.await.map_err(Error::from) }
    }

    /// Stops the node: refuses new work, ends the sync and reconnect loops and the dials
    /// in progress, disconnects every peer, and only then lets the background processor
    /// write the channel manager one last time. A stopped node cannot be started again;
    /// build a new one on the same store, once `stop` returned `Ok`: a
    /// `STORAGE_UNAVAILABLE` error means the last write has not finished yet (call `stop`
    /// again to keep waiting).
    pub async fn stop(&self) -> Result<(), Error> {
        let inner = &self.inner;
        if !inner.running.load(Ordering::Acquire) {
            return Err(Error::NodeStopped);
        }
        inner.stopping.store(true, Ordering::Release);
        // From here no chain data reaches LDK: a sync still fetching drops its results.
        inner.chain.halt();
        // A sync stuck on a slow Esplora may outlast this; it can no longer change LDK, and
        // its writes fail once the store is closed below.
        wait_tasks(
            inner,
            &inner.tasks,
            LOOPS_STOP_TIMEOUT,
            "the sync and reconnect loops",
        )
        .await;
        // Whatever connected meanwhile is cut here too.
        inner.halt();
        if !wait_tasks(
            inner,
            &inner.bp_tasks,
            STOP_TIMEOUT,
            "the background processor",
        )
        .await
        {
            return Err(Error::StorageUnavailable(format!(
                "the channel manager's last write did not finish within {STOP_TIMEOUT:?}: \
                 call stop again, and build no other node on this store before it succeeds"
            )));
        }
        // The last state is written: from now on the storage may belong to another instance
        // (the caller releases its lock), so nothing of this one may write there again.
        inner.store_fence.set_closed(true);
        inner.running.store(false, Ordering::Release);
        log_at!(inner.logger, Info, "node {} stopped", inner.node_id);
        Ok(())
    }

    /// Brings LDK, the sweeper and the wallet up to the chain tip now (the started node also
    /// does it every `sync_interval`). One Esplora request when no block came and no address
    /// was handed out since the last sync: the wallet sees unconfirmed payments only to
    /// addresses handed out since the last sync, the rest with the next block.
    pub async fn sync(&self) -> Result<(), Error> {
        self.inner.check_not_stopped()?;
        sync_inner(&self.inner).await
    }

    /// The node's state at a glance.
    pub fn status(&self) -> NodeStatus {
        let inner = &self.inner;
        let best = inner.channel_manager.current_best_block();
        let synced = inner.last_sync.load(Ordering::Acquire);
        NodeStatus {
            is_running: inner.running.load(Ordering::Acquire),
            node_id: inner.node_id.to_string(),
            network: inner.config.network,
            block_height: best.height,
            block_hash: best.block_hash.to_string(),
            synced_at: (synced > 0).then_some(synced),
            peers: inner.peer_manager.list_peers().len(),
            channels: inner.channel_manager.list_channels().len(),
            degraded: inner.storage_health.failure(),
            fatal_error: inner.fatal_error.borrow().clone(),
            graph: GraphInfo::of(&inner.graph),
        }
    }

    /// The public channel graph at a glance (also in [`Node::status`]).
    pub fn graph_info(&self) -> GraphInfo {
        GraphInfo::of(&self.inner.graph)
    }

    /// The on-chain wallet.
    pub fn onchain(&self) -> OnchainPayment {
        OnchainPayment::new(Arc::clone(&self.inner))
    }

    /// BOLT11 invoices: receive and pay.
    pub fn bolt11_payment(&self) -> Bolt11Payment {
        Bolt11Payment::new(Arc::clone(&self.inner))
    }

    /// Keysend payments.
    pub fn spontaneous_payment(&self) -> SpontaneousPayment {
        SpontaneousPayment::new(Arc::clone(&self.inner))
    }

    /// Connects to `peer` (`node_id@host:port`) and waits for the handshake. With `persist`
    /// the node remembers it and reconnects after restarts (peers we open channels with are
    /// always remembered).
    pub async fn connect(&self, peer: &str, persist: bool) -> Result<(), Error> {
        self.inner.check_running()?;
        let (node_id, addr) = net::parse_peer(peer)?;
        connect_inner(&self.inner, node_id, &addr).await?;
        if persist {
            self.inner
                .peers
                .upsert(PeerRecord {
                    node_id: node_id.to_string(),
                    address: addr.to_string(),
                })
                .await?;
        }
        Ok(())
    }

    /// Disconnects `node_id` and forgets it (no reconnection), unless we have channels with
    /// it: then it is only disconnected, and reconnected later.
    pub async fn disconnect(&self, node_id: &str) -> Result<(), Error> {
        self.inner.check_not_stopped()?;
        let id = net::parse_node_id(node_id)?;
        let has_channels = !self
            .inner
            .channel_manager
            .list_channels_with_counterparty(&id)
            .is_empty();
        if !has_channels {
            self.inner.peers.remove(&id.to_string()).await?;
        }
        self.inner.peer_manager.disconnect_by_node_id(id);
        Ok(())
    }

    /// Connected and remembered peers.
    pub fn list_peers(&self) -> Vec<PeerDetails> {
        let inner = &self.inner;
        let mut out: Vec<PeerDetails> = inner
            .peers
            .list()
            .into_iter()
            .map(|r| PeerDetails {
                connected: net::parse_node_id(&r.node_id)
                    .ok()
                    .and_then(|id| inner.peer_manager.peer_by_node_id(&id))
                    .is_some(),
                node_id: r.node_id,
                address: Some(r.address),
                persisted: true,
            })
            .collect();
        for peer in inner.peer_manager.list_peers() {
            let id = peer.counterparty_node_id.to_string();
            if !out.iter().any(|p| p.node_id == id) {
                out.push(PeerDetails {
                    node_id: id,
                    address: peer.socket_address.map(|a| a.to_string()),
                    connected: true,
                    persisted: false,
                });
            }
        }
        out
    }

    /// Opens a channel of `amount_sat` to `peer` (`node_id@host:port`; connected first if
    /// needed), pushing `push_msat` to it, funded from the on-chain wallet. Returns our id for
    /// the channel (`ChannelDetails::user_channel_id`); `ChannelPending` and `ChannelReady`
    /// events follow.
    pub async fn open_channel(
        &self,
        peer: &str,
        amount_sat: u64,
        push_msat: u64,
    ) -> Result<String, Error> {
        let inner = &self.inner;
        inner.check_running()?;
        inner.check_storage()?;
        let (node_id, addr) = net::parse_peer(peer)?;
        if push_msat > amount_sat.saturating_mul(1000) {
            return Err(Error::InvalidConfig(format!(
                "push_msat {push_msat} exceeds the channel's {amount_sat} sat"
            )));
        }
        inner.ensure_chain_ready().await?;
        let fee_rate = crate::event_handler::wallet_fee_rate(&*inner.chain);
        // Counted as an anchor channel when we ask for one, whatever the peer supports.
        let reserve = inner.anchor_reserve(u64::from(inner.config.anchor_channels));
        inner
            .wallet
            .check_can_pay(amount_sat, fee_rate, reserve)
            .map_err(|e| match e {
                Error::InsufficientFunds(m) => Error::InsufficientFunds(format!(
                    "the wallet cannot fund {amount_sat} sat: {m}"
                )),
                other => other,
            })?;
        if inner.peer_manager.peer_by_node_id(&node_id).is_none() {
            connect_inner(inner, node_id, &addr).await?;
        }
        let user_channel_id = u128::from_be_bytes(
            lightning::sign::EntropySource::get_secure_random_bytes(&*inner.keys)[..16]
                .try_into()
                .map_err(|_| Error::Internal("random bytes".into()))?,
        );
        // `stop` may have begun during the awaits above.
        inner.check_running()?;
        // Remember the peer first: once the channel is opening, an error here would invite
        // the caller to open a second one.
        let peer_id = node_id.to_string();
        let was_remembered = inner.peers.get(&peer_id).is_some();
        inner
            .peers
            .upsert(PeerRecord {
                node_id: peer_id.clone(),
                address: addr.to_string(),
            })
            .await?;
        if let Err(e) = inner.channel_manager.create_channel(
            node_id,
            amount_sat,
            push_msat,
            user_channel_id,
            None,
            None,
        ) {
            if !was_remembered {
                if let Err(e) = inner.peers.remove(&peer_id).await {
                    log_at!(inner.logger, Warn, "forgetting peer {peer_id}: {e}");
                }
            }
            return Err(match e {
                APIError::APIMisuseError { err } => Error::InvalidConfig(err),
                APIError::ChannelUnavailable { err } => Error::PeerUnreachable(err),
                other => map_api_error(other),
            });
        }
        log_at!(
            inner.logger,
            Info,
            "opening a {amount_sat} sat channel to {node_id}"
        );
        Ok(format!("{user_channel_id:032x}"))
    }

    /// Every channel, in any state.
    pub fn list_channels(&self) -> Vec<ChannelDetails> {
        self.inner
            .channel_manager
            .list_channels()
            .into_iter()
            .map(|c| ChannelDetails {
                channel_id: hex_channel_id(&c.channel_id),
                user_channel_id: format!("{:032x}", c.user_channel_id),
                counterparty_node_id: c.counterparty.node_id.to_string(),
                funding_txo: c.funding_txo.map(|o| format!("{}:{}", o.txid, o.index)),
                capacity_sat: c.channel_value_satoshis,
                outbound_capacity_msat: c.outbound_capacity_msat,
                next_outbound_htlc_limit_msat: c.next_outbound_htlc_limit_msat,
                inbound_capacity_msat: c.inbound_capacity_msat,
                is_ready: c.is_channel_ready,
                is_usable: c.is_usable,
                is_outbound: c.is_outbound,
                confirmations: c.confirmations,
                confirmations_required: c.confirmations_required,
                anchors: has_anchors(&c),
            })
            .collect()
    }

    fn find_channel(&self, channel_id: &str) -> Result<(ChannelId, PublicKey), Error> {
        let id = parse_channel_id(channel_id)?;
        self.inner
            .channel_manager
            .list_channels()
            .into_iter()
            .find(|c| c.channel_id == id)
            .map(|c| (id, c.counterparty.node_id))
            .ok_or_else(|| Error::UnknownChannel(format!("no open channel {channel_id}")))
    }

    /// Closes a channel cooperatively (the peer must be connected); a `ChannelClosed` event
    /// follows and the funds appear in the on-chain wallet once the closing transaction
    /// confirms.
    pub async fn close_channel(&self, channel_id: &str) -> Result<(), Error> {
        self.inner.check_running()?;
        let (id, counterparty) = self.find_channel(channel_id)?;
        // LDK refuses to begin a shutdown while a monitor update is being written (right
        // after a payment): wait for it a little.
        let start = runtime::now();
        loop {
            match self.inner.channel_manager.close_channel(&id, &counterparty) {
                Err(APIError::ChannelUnavailable { .. })
                    if runtime::now().saturating_sub(start) < CLOSE_WAIT
                        && self
                            .inner
                            .peer_manager
                            .peer_by_node_id(&counterparty)
                            .is_some() =>
                {
                    runtime::sleep(Duration::from_millis(50)).await;
                    self.inner.check_running()?;
                }
                other => return other.map_err(map_api_error),
            }
        }
    }

    /// Force-closes a channel: broadcasts our latest commitment transaction. Our funds come
    /// back to the wallet after the peer's `to_self_delay` (see [`Node::balances`]).
    pub async fn force_close_channel(&self, channel_id: &str) -> Result<(), Error> {
        self.inner.check_running()?;
        let (id, counterparty) = self.find_channel(channel_id)?;
        self.inner
            .channel_manager
            .force_close_broadcasting_latest_txn(&id, &counterparty, "closed by the user".into())
            .map_err(map_api_error)
    }

    /// Every payment, oldest first.
    pub fn list_payments(&self) -> Vec<PaymentDetails> {
        self.inner.payments.list()
    }

    /// One payment by id.
    pub fn payment(&self, payment_id: &str) -> Option<PaymentDetails> {
        self.inner.payments.get(payment_id)
    }

    /// On-chain, lightning and claimable balances.
    pub fn balances(&self) -> Balances {
        let inner = &self.inner;
        let mut lightning_msat = 0;
        let mut claimable = Vec::new();
        for balance in inner.chain_monitor.get_claimable_balances(&[]) {
            let (kind, height) = match &balance {
                Balance::ClaimableOnChannelClose { .. } => {
                    lightning_msat += balance.claimable_amount_satoshis() * 1000;
                    continue;
                }
                Balance::ClaimableAwaitingConfirmations {
                    confirmation_height,
                    ..
                } => ("awaitingConfirmations", Some(*confirmation_height)),
                Balance::ContentiousClaimable { timeout_height, .. } => {
                    ("contentious", Some(*timeout_height))
                }
                Balance::MaybeTimeoutClaimableHTLC {
                    claimable_height, ..
                } => ("htlcTimeout", Some(*claimable_height)),
                Balance::MaybePreimageClaimableHTLC { expiry_height, .. } => {
                    ("htlcPreimage", Some(*expiry_height))
                }
                Balance::CounterpartyRevokedOutputClaimable { .. } => ("revokedOutput", None),
            };
            // LDK counts an HTLC that may come back as 0 (its payment tracks it); what may
            // come back is the HTLC's amount, as ldk-node shows it.
            let amount_sat = match &balance {
                Balance::MaybeTimeoutClaimableHTLC {
                    amount_satoshis, ..
                }
                | Balance::MaybePreimageClaimableHTLC {
                    amount_satoshis, ..
                } => *amount_satoshis,
                other => other.claimable_amount_satoshis(),
            };
            claimable.push(ClaimableBalance {
                channel_id: None,
                amount_sat,
                kind: kind.into(),
                available_at_height: height,
            });
        }
        for output in inner.sweeper.tracked_spendable_outputs() {
            let height = match &output.status {
                OutputSpendStatus::PendingInitialBroadcast {
                    delayed_until_height,
                } => *delayed_until_height,
                OutputSpendStatus::PendingFirstConfirmation { .. } => None,
                // The sweep confirmed: the wallet holds its output (LDK keeps tracking it for
                // a few thousand blocks more, for reorgs).
                OutputSpendStatus::PendingThresholdConfirmations { .. } => continue,
            };
            let amount_sat = match &output.descriptor {
                lightning::sign::SpendableOutputDescriptor::StaticOutput { output, .. } => {
                    output.value.to_sat()
                }
                lightning::sign::SpendableOutputDescriptor::DelayedPaymentOutput(d) => {
                    d.output.value.to_sat()
                }
                lightning::sign::SpendableOutputDescriptor::StaticPaymentOutput(d) => {
                    d.output.value.to_sat()
                }
            };
            claimable.push(ClaimableBalance {
                channel_id: output.channel_id.as_ref().map(hex_channel_id),
                amount_sat,
                kind: "sweepPending".into(),
                available_at_height: height,
            });
        }
        Balances {
            onchain: inner.wallet.balance(),
            lightning_msat,
            claimable,
            onchain_reserve_sat: inner.anchor_reserve(0).to_sat(),
        }
    }

    /// The oldest event not yet handled, if any, with the id that acknowledges it.
    pub fn next_event(&self) -> Option<PendingEvent> {
        self.inner.events.next()
    }

    /// Waits for the next event not yet handled.
    pub async fn wait_next_event(&self) -> PendingEvent {
        self.inner.events.wait_next().await
    }

    /// Marks event `id` (from [`Node::next_event`]) as handled, durably: it is not delivered
    /// again. `UNKNOWN_EVENT` for any id but the oldest pending event's, e.g. one another
    /// consumer already acknowledged.
    pub async fn event_handled(&self, id: EventId) -> Result<(), Error> {
        // Once stopped, the next instance delivers the event again instead.
        self.inner.check_not_stopped()?;
        self.inner.events.handled(id).await
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // Background tasks hold their own reference: cut the peers and tell them to end (the
        // background processor still writes the channel manager last).
        self.inner.halt();
    }
}

/// Brings LDK's chain view (channel manager, chain monitor, sweeper) to the tip, fees
/// included; from then on peers may be contacted.
async fn sync_ldk(inner: &NodeInner) -> Result<SyncStats, Error> {
    let confirmables: [&dyn Confirm; 3] = [
        &*inner.channel_manager,
        &*inner.chain_monitor,
        &*inner.sweeper,
    ];
    let stats = inner.chain.sync(&confirmables).await?;
    inner.chain_ready.store(true, Ordering::Release);
    Ok(stats)
}

/// Syncs LDK's chain view, then the wallet; on a new tip (and the first sync after start)
/// broadcasts again what is still unconfirmed, before the wallet syncs.
pub(crate) async fn sync_inner(inner: &NodeInner) -> Result<(), Error> {
    let stats = sync_ldk(inner).await?;
    if stats.new_tip {
        rebroadcast(inner).await;
    }
    // Monitors of closed channels with nothing left to claim for LDK's ARCHIVAL_DELAY_BLOCKS
    // (4032) move to the archive namespace, so stored data and sync work stop growing (as
    // ldk-node). The first call after a monitor's balances empty starts that count, so it
    // runs after every sync, not only on a new tip (a sync can take a tip and then fail).
    // Cheap: no I/O unless a monitor changes state.
    inner
        .chain_monitor
        .archive_fully_resolved_channel_monitors();
    // The wallet only changes with a new block, except for a payment to an address handed
    // out since the last sync (seen in the mempool): an idle sync stays one request.
    if stats.changed || inner.wallet.needs_sync() {
        // Each request is bounded natively; in the browser only this bounds a stalled server.
        let synced = with_timeout(WALLET_SYNC_TIMEOUT, inner.wallet.sync(inner.chain.client()))
            .await
            .unwrap_or_else(|| {
                Err(Error::ChainSourceUnavailable(format!(
                    "the wallet sync took longer than {WALLET_SYNC_TIMEOUT:?}"
                )))
            });
        if let Err(e) = synced {
            // Again at the next sync, not only after the next block.
            inner.wallet.request_sync();
            return Err(e);
        }
    }
    inner
        .last_sync
        .store(runtime::now().as_secs(), Ordering::Release);
    Ok(())
}

/// Broadcasts again what is ours and not confirmed (#14 item 4): the wallet's unconfirmed
/// transactions (sends, funding, sweeps) and the funding transactions of our channels
/// (a broadcast Esplora accepted may never have reached the network), then LDK's pending
/// claims. Once per new tip, so a reorg costs one `POST /tx` per such transaction, not a
/// storm. A refusal is expected (a transaction confirmed since the wallet last looked) and
/// only logged.
async fn rebroadcast(inner: &NodeInner) {
    // Fundings with a monitor (the peer signed our first commitment: before, a broadcast
    // funding would lock the coins) of channels still open or opening (one LDK discarded,
    // closed before it was broadcast for good, would put our coins in a dead channel).
    let watched: HashSet<ChannelId> = inner.chain_monitor.list_monitors().into_iter().collect();
    let funding: HashSet<Txid> = inner
        .channel_manager
        .list_channels()
        .into_iter()
        .filter(|c| watched.contains(&c.channel_id))
        .filter_map(|c| c.funding_txo.map(|o| o.txid))
        .collect();
    for tx in inner.wallet.transactions_to_rebroadcast(&funding) {
        if inner.stopping.load(Ordering::Acquire) {
            return;
        }
        let txid = tx.compute_txid();
        match inner.chain.broadcast(&tx).await {
            Ok(()) => log_at!(inner.logger, Debug, "broadcast {txid} again"),
            Err(e) => log_at!(inner.logger, Debug, "broadcasting {txid} again: {e}"),
        }
    }
    inner.chain_monitor.rebroadcast_pending_claims();
}

/// Connects to a peer through the platform's transport (TCP natively, the WebSocket proxy in
/// the browser) and waits for the handshake.
pub(crate) async fn connect_inner(
    inner: &NodeInner,
    node_id: PublicKey,
    addr: &lightning::ln::msgs::SocketAddress,
) -> Result<(), Error> {
    if inner.peer_manager.peer_by_node_id(&node_id).is_some() {
        return Ok(());
    }
    if node_id == inner.node_id {
        return Err(Error::PeerUnreachable("cannot connect to ourselves".into()));
    }
    inner.check_running()?;
    // Counted with the loops: `stop` waits for dials before it disconnects everyone.
    let _guard = TaskGuard::new(&inner.tasks);
    inner.ensure_chain_ready().await?;
    // The connection's driver task is supervised too.
    inner
        .supervisor
        .scope(
            "peer connection",
            net::connect(
                Arc::clone(&inner.peer_manager),
                node_id,
                addr,
                inner.config.proxy_url.as_deref(),
                CONNECT_TIMEOUT,
            ),
        )
        .await?;
    // `stop` may have cut the peers while we were dialling: no traffic after it.
    if inner.stopping.load(Ordering::Acquire) {
        inner.peer_manager.disconnect_by_node_id(node_id);
        return Err(Error::NodeStopped);
    }
    Ok(())
}
