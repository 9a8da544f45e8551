//! [`Builder`] → [`Node`]: checks the configuration, derives the keys from the mnemonic,
//! opens the store (refusing one that belongs to another network or seed) and wires LDK and
//! BDK together.
//!
//! # Monitor persistence
//!
//! Channel monitors are written through LDK's `MonitorUpdatingPersisterAsync` behind
//! `ChainMonitor::new_async_beta` (DESIGN.md §1 "Storage"). Each monitor update is issued to
//! the store synchronously, inside LDK's call, so writes keep their order; LDK reports it
//! `InProgress` and only acknowledges it to the peer after the write's future resolved (the
//! store committed it). A failed write leaves the channel paused, never acknowledged. We chose
//! LDK's persister over our own `Persist` because it also keeps monitor updates as small
//! update records between full writes, which matters for IndexedDB's write cost, and its
//! completion path is LDK's own, exercised by LDK's tests.
//!
//! Two things LDK's persister does not do are done by the store it writes through,
//! [`MonitorGate`] (io/gate.rs): a monitor write reaches the store only after a channel
//! manager that knows its update (a manager older than a monitor force-closes the channel on
//! restart, which a tab killed between the two writes would otherwise cause), and a failed
//! write is retried until it succeeds instead of being dropped (LDK 0.2 only logs it and the
//! channel stays paused until a restart), with the node degraded meanwhile.

// LDK's objects are shared through `Arc`s as its type parameters expect; without `std` some
// are `!Send`, and the node runs on one thread (the browser's, or a tokio `LocalSet`).
#![allow(clippy::arc_with_non_send_sync)]

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::Duration;

use lightning::chain::BestBlock;
use lightning::ln::channelmanager::{ChainParameters, ChannelManagerReadArgs};
use lightning::ln::peer_handler::{IgnoringMessageHandler, MessageHandler};
use lightning::routing::scoring::{
    ProbabilisticScoringDecayParameters, ProbabilisticScoringFeeParameters,
};
use lightning::sign::{EntropySource, NodeSigner, Recipient};
use lightning::util::config::UserConfig;
use lightning::util::persist::{
    KVStore, CHANNEL_MANAGER_PERSISTENCE_KEY, CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
    CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE, NETWORK_GRAPH_PERSISTENCE_KEY,
    NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE, NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE,
    OUTPUT_SWEEPER_PERSISTENCE_KEY, OUTPUT_SWEEPER_PERSISTENCE_PRIMARY_NAMESPACE,
    OUTPUT_SWEEPER_PERSISTENCE_SECONDARY_NAMESPACE, SCORER_PERSISTENCE_KEY,
    SCORER_PERSISTENCE_PRIMARY_NAMESPACE, SCORER_PERSISTENCE_SECONDARY_NAMESPACE,
};
use lightning::util::ser::{ReadableArgs, Writeable};

use crate::chain::bump::BumpWalletSource;
use crate::chain::esplora::EsploraChainSource;
use crate::chain::wallet::OnchainWallet;
use crate::event::EventQueue;
use crate::graph::{Gossip, GossipSource};
use crate::io::{
    DynStore, FencedStore, GatedStore, MemoryStore, MonitorGate, NodeMetadata, StorageHealth,
    NODE_METADATA_KEY, NODE_METADATA_PRIMARY_NAMESPACE, NODE_METADATA_SECONDARY_NAMESPACE,
};
use crate::logger::{log_at, LogLevel, NodeLogger};
use crate::node::{Node, NodeConfig, NodeInner, Supervisor};
use crate::payment::PaymentStore;
use crate::peer_store::PeerStore;
use crate::seed;
use crate::signer::WalletSignerProvider;
use crate::sweep::NodeOutputSpender;
use crate::types::{
    BumpHandler, BumpWallet, ChainMonitor, ChannelManager, Graph, LocalSpawner, MessageRouter,
    OnionMessenger, PeerManager, Persister, Router, Scorer, ScorerCell, Sweeper,
};
use crate::{keys, runtime, Error, Network};

/// Monitor updates kept as separate records before the full monitor is rewritten.
const MAX_PENDING_MONITOR_UPDATES: u64 = 100;

/// How many blocks a counterparty must wait after broadcasting its own commitment before it
/// can spend its balance, by default: a week. That is how long this node may stay closed and
/// still punish a revoked commitment (a browser node is offline most of the time).
pub const DEFAULT_OUR_TO_SELF_DELAY: u16 = 1008;
/// The shortest delay we ask for (LDK refuses less: `BREAKDOWN_TIMEOUT`, a day).
pub const MIN_OUR_TO_SELF_DELAY: u16 = 144;
/// The longest delay on either side: we ask for no more, and refuse a counterparty that asks
/// us to wait longer for our own funds (two weeks, LDK's `MAX_LOCAL_BREAKDOWN_TIMEOUT`).
pub const MAX_TO_SELF_DELAY: u16 = 2016;

/// Why [`Builder::build`] failed. Each maps to an [`Error`] code with `From`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildError {
    /// No Esplora URL was set, or it is not `http(s)://`.
    InvalidEsploraUrl(String),
    /// The proxy URL is not `ws(s)://`.
    InvalidProxyUrl(String),
    /// The mnemonic is not a valid BIP39 mnemonic (unknown word, bad checksum, ...).
    InvalidMnemonic(String),
    /// The LSP is not `node_id@host:port`.
    InvalidLsp(String),
    /// The Rapid Gossip Sync URL is not `http(s)://`.
    InvalidRgsUrl(String),
    /// P2P gossip was asked for on `bitcoin`: without `std`, LDK downloads every peer's
    /// whole graph on each connection and uploads ours to any peer that asks, tens of MB
    /// each way, and checks none of it against the chain. Use an RGS URL.
    P2pGossipOnMainnet,
    /// `our_to_self_delay` is outside [`MIN_OUR_TO_SELF_DELAY`]..=[`MAX_TO_SELF_DELAY`].
    InvalidToSelfDelay(u16),
    /// No network was set: there is no default, a wrong guess would be costly either way.
    NoNetwork,
    /// A node on `bitcoin` kept only in memory loses its channels, and the funds in them,
    /// when it is dropped: give a store, or say so with [`Builder::set_ephemeral`].
    MemoryStoreOnMainnet,
    /// The store holds a node of another network.
    WrongNetwork(String),
    /// The store holds the node of another seed.
    ForeignStore(String),
    /// The store could not be read or written, or holds corrupt data.
    StorageUnavailable(String),
    /// A bug: LDK refused what we built.
    Internal(String),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::InvalidEsploraUrl(m) => write!(f, "invalid Esplora URL: {m}"),
            BuildError::InvalidProxyUrl(m) => write!(f, "invalid proxy URL: {m}"),
            BuildError::InvalidMnemonic(m) => write!(f, "invalid mnemonic: {m}"),
            BuildError::InvalidLsp(m) => write!(f, "invalid LSP: {m}"),
            BuildError::InvalidRgsUrl(m) => write!(f, "invalid RGS URL: {m}"),
            BuildError::P2pGossipOnMainnet => write!(
                f,
                "P2P gossip is not available on bitcoin: this node (LDK without std) would \
                 download every peer's whole graph on each connection and upload its own to \
                 any peer that asks, tens of MB each way, unchecked against the chain; give an \
                 RGS URL (rgsUrl), or leave it to the default, LDK's RGS server"
            ),
            BuildError::InvalidToSelfDelay(d) => write!(
                f,
                "our to_self_delay must be {MIN_OUR_TO_SELF_DELAY} to {MAX_TO_SELF_DELAY} blocks, not {d}"
            ),
            BuildError::NoNetwork => write!(f, "no network was set"),
            BuildError::MemoryStoreOnMainnet => write!(
                f,
                "a bitcoin node kept in memory loses its channels' funds when it goes: \
                 give a store, or ask for an ephemeral node explicitly"
            ),
            BuildError::WrongNetwork(m) => write!(f, "wrong network: {m}"),
            BuildError::ForeignStore(m) => write!(f, "the store belongs to another node: {m}"),
            BuildError::StorageUnavailable(m) => write!(f, "storage unavailable: {m}"),
            BuildError::Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl std::error::Error for BuildError {}

impl From<BuildError> for Error {
    fn from(e: BuildError) -> Self {
        match e {
            BuildError::WrongNetwork(m) => Error::WrongNetwork(m),
            BuildError::StorageUnavailable(m) => Error::StorageUnavailable(m),
            BuildError::Internal(m) => Error::Internal(m),
            other => Error::InvalidConfig(other.to_string()),
        }
    }
}

impl BuildError {
    /// The stable error code ([`Error::code`]) this maps to.
    pub fn code(&self) -> &'static str {
        Error::from(self.clone()).code()
    }
}

fn storage(what: &str) -> impl Fn(lightning::io::Error) -> BuildError + '_ {
    move |e| BuildError::StorageUnavailable(format!("{what}: {e}"))
}

fn corrupt(what: &str) -> impl Fn(lightning::ln::msgs::DecodeError) -> BuildError + '_ {
    move |e| BuildError::StorageUnavailable(format!("stored {what} is corrupt: {e:?}"))
}

/// The seed a node starts from.
#[derive(Clone, Debug)]
enum SeedSource {
    Generate,
    Mnemonic(String),
}

/// Configures and builds a [`Node`].
///
/// ```no_run
/// # async fn run() -> Result<(), wasm_ln::Error> {
/// use wasm_ln::{Builder, Network};
///
/// let mut builder = Builder::new();
/// builder
///     .set_network(Network::Regtest)
///     .set_esplora_url("http://127.0.0.1:3002")
///     .set_mnemonic("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about", "");
/// let node = builder.build().await?;
/// node.start()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Builder {
    network: Option<Network>,
    esplora_url: Option<String>,
    proxy_url: Option<String>,
    lsp: Option<String>,
    lsp_token: Option<String>,
    store: Option<Arc<DynStore>>,
    ephemeral: bool,
    our_to_self_delay: u16,
    anchor_channels: bool,
    seed: SeedSource,
    passphrase: String,
    log_level: LogLevel,
    sync_interval: Duration,
    /// `None`: the network's default ([`GossipSource::default_for`]).
    gossip_source: Option<GossipSource>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No mnemonic or passphrase in logs.
        f.debug_struct("Builder")
            .field("network", &self.network)
            .field("esplora_url", &self.esplora_url)
            .field("proxy_url", &self.proxy_url)
            .field("lsp", &self.lsp)
            .field("gossip_source", &self.gossip_source)
            .finish_non_exhaustive()
    }
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// Defaults: no network (setting one is required), an in-memory store (refused on
    /// `bitcoin` unless [`Builder::set_ephemeral`]), a new mnemonic, log level `Info`, a
    /// background sync every 30 s.
    pub fn new() -> Self {
        Builder {
            network: None,
            esplora_url: None,
            proxy_url: None,
            lsp: None,
            lsp_token: None,
            store: None,
            ephemeral: false,
            our_to_self_delay: DEFAULT_OUR_TO_SELF_DELAY,
            anchor_channels: true,
            seed: SeedSource::Generate,
            passphrase: String::new(),
            log_level: LogLevel::Info,
            sync_interval: Duration::from_secs(30),
            gossip_source: None,
        }
    }

    /// The network.
    pub fn set_network(&mut self, network: Network) -> &mut Self {
        self.network = Some(network);
        self
    }

    /// The Esplora API (`https://…/api`); required.
    pub fn set_esplora_url(&mut self, url: impl Into<String>) -> &mut Self {
        self.esplora_url = Some(url.into());
        self
    }

    /// The WebSocket-to-TCP proxy (`wss://…`) the browser reaches peers through. Native
    /// builds connect over TCP directly and only check its form.
    pub fn set_proxy_url(&mut self, url: impl Into<String>) -> &mut Self {
        self.proxy_url = Some(url.into());
        self
    }

    /// The LSP, `node_id@host:port`: the peer JIT channels are bought from (LSPS2,
    /// [`crate::payment::Bolt11Payment::receive_via_jit_channel`]), the only peer whose
    /// zero-conf channels are accepted. Connected on demand.
    pub fn set_lsp(&mut self, lsp: impl Into<String>) -> &mut Self {
        self.lsp = Some(lsp.into());
        self
    }

    /// The token the LSP gave us (an API key or coupon), sent with every LSPS2 request.
    pub fn set_lsp_token(&mut self, token: impl Into<String>) -> &mut Self {
        self.lsp_token = Some(token.into());
        self
    }

    /// The store the node keeps its state in (default: memory, lost on drop).
    pub fn set_store(&mut self, store: Arc<DynStore>) -> &mut Self {
        self.store = Some(store);
        self
    }

    /// Allows the default in-memory store on `bitcoin`: everything, channels included, is
    /// lost when the node goes. For throwaway nodes that never hold money; other networks
    /// need no such flag.
    pub fn set_ephemeral(&mut self, ephemeral: bool) -> &mut Self {
        self.ephemeral = ephemeral;
        self
    }

    /// Restore from a BIP39 mnemonic (with its optional BIP39 passphrase) instead of
    /// generating one.
    pub fn set_mnemonic(
        &mut self,
        words: impl Into<String>,
        passphrase: impl Into<String>,
    ) -> &mut Self {
        self.seed = SeedSource::Mnemonic(words.into());
        self.passphrase = passphrase.into();
        self
    }

    /// How many blocks a counterparty must wait for its own funds after it force-closes, on
    /// channels opened from now on ([`DEFAULT_OUR_TO_SELF_DELAY`], a week): the longest this
    /// node may stay offline and still punish a peer that broadcast a revoked commitment.
    /// [`MIN_OUR_TO_SELF_DELAY`]..=[`MAX_TO_SELF_DELAY`]. A peer asking us to wait longer than
    /// [`MAX_TO_SELF_DELAY`] for ours is refused.
    pub fn set_our_to_self_delay(&mut self, blocks: u16) -> &mut Self {
        self.our_to_self_delay = blocks;
        self
    }

    /// Whether channels use anchor outputs (`option_anchors_zero_fee_htlc_tx`; default on,
    /// as every current implementation prefers): the commitment transaction's fee is paid
    /// when it is broadcast, from the wallet, at the fee rate of that day, instead of being
    /// guessed when the channel last moved. The wallet then keeps
    /// [`crate::chain::bump::ANCHOR_RESERVE_PER_CHANNEL_SAT`] per anchor channel on-chain.
    /// Off, new channels are legacy ones (no reserve; a commitment may be stuck if fees rise);
    /// channels already open keep their type either way.
    pub fn set_anchor_channels(&mut self, anchors: bool) -> &mut Self {
        self.anchor_channels = anchors;
        self
    }

    /// Learn the public channel graph by BOLT 7 gossip from the peers we connect to (the
    /// default on signet and regtest). Without `std`, LDK asks each peer for all of its gossip
    /// on every connection and sends ours to any peer that asks: fine for small graphs, tens
    /// of MB each way on mainnet, so `build` refuses it on `bitcoin`
    /// ([`BuildError::P2pGossipOnMainnet`], `INVALID_CONFIG`): use an RGS URL there. The P2P
    /// graph is not pruned (see `graph.rs`).
    pub fn set_gossip_source_p2p(&mut self) -> &mut Self {
        self.gossip_source = Some(GossipSource::P2p);
        self
    }

    /// Learn the public channel graph from Rapid Gossip Sync snapshots at `url` (the snapshot
    /// timestamp is appended: `https://rapidsync.lightningdevkit.org/snapshot/` serves
    /// `…/snapshot/<timestamp>`): on start, then every hour. The default on bitcoin and testnet
    /// (LDK's public servers, [`crate::graph::RGS_URL_BITCOIN`]); see `graph.rs` for why.
    pub fn set_gossip_source_rgs(&mut self, url: impl Into<String>) -> &mut Self {
        self.gossip_source = Some(GossipSource::Rgs(url.into()));
        self
    }

    /// The lowest level logged.
    pub fn set_log_level(&mut self, level: LogLevel) -> &mut Self {
        self.log_level = level;
        self
    }

    /// How often the started node syncs the chain and wallet in the background.
    pub fn set_sync_interval(&mut self, interval: Duration) -> &mut Self {
        self.sync_interval = interval;
        self
    }

    /// Builds the node: checks everything, reads the store, wires LDK. The node is stopped;
    /// [`Node::start`] runs it.
    pub async fn build(&self) -> Result<Node, BuildError> {
        let network = self.network.ok_or(BuildError::NoNetwork)?;
        if !(MIN_OUR_TO_SELF_DELAY..=MAX_TO_SELF_DELAY).contains(&self.our_to_self_delay) {
            return Err(BuildError::InvalidToSelfDelay(self.our_to_self_delay));
        }
        if network == Network::Bitcoin && self.store.is_none() && !self.ephemeral {
            return Err(BuildError::MemoryStoreOnMainnet);
        }
        let esplora_url = self
            .esplora_url
            .as_deref()
            .ok_or_else(|| BuildError::InvalidEsploraUrl("no Esplora URL was set".into()))?;
        let chain = Arc::new(
            EsploraChainSource::new(esplora_url)
                .map_err(|e| BuildError::InvalidEsploraUrl(e.to_string()))?,
        );
        if let Some(proxy) = &self.proxy_url {
            if !(proxy.starts_with("ws://") || proxy.starts_with("wss://")) {
                return Err(BuildError::InvalidProxyUrl(format!(
                    "must be ws:// or wss://: {proxy:?}"
                )));
            }
        }
        let gossip_source = self
            .gossip_source
            .clone()
            .unwrap_or_else(|| GossipSource::default_for(network));
        match &gossip_source {
            GossipSource::Rgs(url) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(BuildError::InvalidRgsUrl(format!(
                        "must be http:// or https://: {url:?}"
                    )));
                }
            }
            GossipSource::P2p if network == Network::Bitcoin => {
                return Err(BuildError::P2pGossipOnMainnet)
            }
            GossipSource::P2p => {}
        }
        let lsp = match &self.lsp {
            Some(s) => {
                Some(crate::net::parse_peer(s).map_err(|e| BuildError::InvalidLsp(e.to_string()))?)
            }
            None => None,
        };
        let (mnemonic, generated) = match &self.seed {
            SeedSource::Generate => (
                seed::generate_mnemonic().map_err(|e| BuildError::Internal(e.to_string()))?,
                true,
            ),
            SeedSource::Mnemonic(words) => (
                seed::parse_mnemonic(words)
                    .map_err(|e| BuildError::InvalidMnemonic(e.to_string()))?,
                false,
            ),
        };
        let bip39_seed = mnemonic.to_seed(&self.passphrase);
        let keys = Arc::new(
            keys::keys_manager(&bip39_seed).map_err(|e| BuildError::Internal(e.to_string()))?,
        );
        let node_id = keys
            .get_node_id(Recipient::Node)
            .map_err(|()| BuildError::Internal("no node id".into()))?;
        let given: Arc<DynStore> = match &self.store {
            Some(s) => Arc::clone(s),
            None => Arc::new(MemoryStore::new()),
        };
        // Everything writes through the fence `stop` closes (io/fenced.rs).
        let fence = Arc::new(FencedStore::new(given));
        let store: Arc<DynStore> = Arc::clone(&fence) as Arc<DynStore>;
        check_or_claim_store(&*store, NodeMetadata { network, node_id }).await?;

        let logger = Arc::new(NodeLogger::new(self.log_level));
        let wallet = Arc::new(
            OnchainWallet::open(Arc::clone(&store), &bip39_seed, network)
                .await
                .map_err(|e| match e {
                    Error::WrongNetwork(m) => BuildError::WrongNetwork(m),
                    Error::InvalidConfig(m) => BuildError::ForeignStore(m),
                    other => BuildError::StorageUnavailable(other.to_string()),
                })?,
        );
        let signer = Arc::new(WalletSignerProvider::new(
            Arc::clone(&keys),
            Arc::clone(&wallet),
            Arc::clone(&logger),
        ));

        // Monitor writes go through the gate: after the manager, retried until written.
        let supervisor = Supervisor::default();
        let storage_health = Arc::new(StorageHealth::default());
        let monitor_gate = MonitorGate::new(Arc::clone(&fence), Arc::clone(&storage_health));
        let persister = Persister::new(
            Arc::new(GatedStore(Arc::clone(&monitor_gate))) as Arc<DynStore>,
            LocalSpawner::new(supervisor.clone()),
            Arc::clone(&logger),
            MAX_PENDING_MONITOR_UPDATES,
            Arc::clone(&keys),
            Arc::clone(&signer),
            Arc::clone(&chain),
            Arc::clone(&chain),
        );
        let monitors = persister
            .read_all_channel_monitors_with_updates()
            .await
            .map_err(storage("channel monitors"))?;
        if let Err(e) = persister.cleanup_stale_updates(true).await {
            logger.log_line(
                LogLevel::Warn,
                &format!("cleaning up stale monitor updates: {e}"),
            );
        }
        let chain_monitor: Arc<ChainMonitor> = Arc::new(ChainMonitor::new_async_beta(
            Some(Arc::clone(&chain)),
            Arc::clone(&chain),
            Arc::clone(&logger),
            Arc::clone(&chain),
            persister,
            Arc::clone(&keys),
            keys.get_peer_storage_key(),
        ));

        // The graph and the scorer are caches (gossip and payments rebuild them): one that
        // cannot be read is logged and started afresh, not a node that cannot start.
        let btc_network = network.to_bitcoin();
        let stored_graph = read_optional(
            &*store,
            NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE,
            NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE,
            NETWORK_GRAPH_PERSISTENCE_KEY,
        )
        .await?
        .and_then(|bytes| {
            Graph::read(&mut &bytes[..], Arc::clone(&logger))
                .map_err(|e| {
                    logger.log_line(
                        LogLevel::Warn,
                        &format!("the stored network graph is corrupt ({e:?}): starting empty"),
                    )
                })
                .ok()
        });
        let graph =
            Arc::new(stored_graph.unwrap_or_else(|| Graph::new(btc_network, Arc::clone(&logger))));
        let gossip = Gossip::new(&gossip_source, &graph, &logger);
        let decay = ProbabilisticScoringDecayParameters::default();
        let stored_scorer = read_optional(
            &*store,
            SCORER_PERSISTENCE_PRIMARY_NAMESPACE,
            SCORER_PERSISTENCE_SECONDARY_NAMESPACE,
            SCORER_PERSISTENCE_KEY,
        )
        .await?
        .and_then(|bytes| {
            Scorer::read(
                &mut &bytes[..],
                (decay, Arc::clone(&graph), Arc::clone(&logger)),
            )
            .map_err(|e| {
                logger.log_line(
                    LogLevel::Warn,
                    &format!("the stored scorer is corrupt ({e:?}): starting afresh"),
                )
            })
            .ok()
        });
        let scorer = Arc::new(ScorerCell(std::cell::RefCell::new(
            stored_scorer
                .unwrap_or_else(|| Scorer::new(decay, Arc::clone(&graph), Arc::clone(&logger))),
        )));
        let router = Arc::new(Router::new(
            Arc::clone(&graph),
            Arc::clone(&logger),
            Arc::clone(&keys),
            Arc::clone(&scorer),
            ProbabilisticScoringFeeParameters::default(),
        ));
        let message_router = Arc::new(MessageRouter::new(Arc::clone(&graph), Arc::clone(&keys)));

        let config = user_config(self.our_to_self_delay, self.anchor_channels);
        let stored_manager = read_optional(
            &*store,
            CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
            CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
            CHANNEL_MANAGER_PERSISTENCE_KEY,
        )
        .await?;
        let channel_manager: Arc<ChannelManager> = match stored_manager {
            Some(bytes) => {
                let args = ChannelManagerReadArgs::new(
                    Arc::clone(&keys),
                    Arc::clone(&keys),
                    Arc::clone(&signer),
                    Arc::clone(&chain),
                    Arc::clone(&chain_monitor),
                    Arc::clone(&chain),
                    Arc::clone(&router),
                    Arc::clone(&message_router),
                    Arc::clone(&logger),
                    config,
                    monitors.iter().map(|(_, m)| m).collect(),
                );
                let (_, manager) =
                    <(lightning::bitcoin::BlockHash, ChannelManager)>::read(&mut &bytes[..], args)
                        .map_err(corrupt("channel manager"))?;
                Arc::new(manager)
            }
            None => {
                if !monitors.is_empty() {
                    return Err(BuildError::StorageUnavailable(
                        "the store has channel monitors but no channel manager".into(),
                    ));
                }
                let now = runtime::now().as_secs();
                Arc::new(ChannelManager::new(
                    Arc::clone(&chain),
                    Arc::clone(&chain_monitor),
                    Arc::clone(&chain),
                    Arc::clone(&router),
                    Arc::clone(&message_router),
                    Arc::clone(&logger),
                    Arc::clone(&keys),
                    Arc::clone(&keys),
                    Arc::clone(&signer),
                    config,
                    ChainParameters {
                        network: btc_network,
                        best_block: BestBlock::from_network(btc_network),
                    },
                    u32::try_from(now).unwrap_or(u32::MAX),
                ))
            }
        };
        let encode_from = Arc::downgrade(&channel_manager);
        let alive = Arc::downgrade(&channel_manager);
        monitor_gate.set_manager(
            Box::new(move || encode_from.upgrade().map(|cm| cm.encode())),
            Box::new(move || alive.strong_count() > 0),
        );
        for (_, monitor) in monitors {
            let channel_id = monitor.channel_id();
            chain_monitor
                .load_existing_monitor(channel_id, monitor)
                .map_err(|()| {
                    BuildError::Internal(format!("LDK refused the stored monitor of {channel_id}"))
                })?;
        }

        // Not `KeysManager` itself: see sweep.rs (#14 item 12).
        let spender = Arc::new(NodeOutputSpender::new(
            Arc::clone(&keys),
            Arc::clone(&logger),
        ));
        let sweeper = Arc::new(
            match read_optional(
                &*store,
                OUTPUT_SWEEPER_PERSISTENCE_PRIMARY_NAMESPACE,
                OUTPUT_SWEEPER_PERSISTENCE_SECONDARY_NAMESPACE,
                OUTPUT_SWEEPER_PERSISTENCE_KEY,
            )
            .await?
            {
                Some(bytes) => {
                    let (_, sweeper) = <(BestBlock, Sweeper)>::read(
                        &mut &bytes[..],
                        (
                            Arc::clone(&chain),
                            Arc::clone(&chain),
                            Some(Arc::clone(&chain)),
                            Arc::clone(&spender),
                            Arc::clone(&wallet),
                            Arc::clone(&store),
                            Arc::clone(&logger),
                        ),
                    )
                    .map_err(corrupt("output sweeper"))?;
                    sweeper
                }
                None => Sweeper::new(
                    channel_manager.current_best_block(),
                    Arc::clone(&chain),
                    Arc::clone(&chain),
                    Some(Arc::clone(&chain)),
                    Arc::clone(&spender),
                    Arc::clone(&wallet),
                    Arc::clone(&store),
                    Arc::clone(&logger),
                ),
            },
        );

        let bump_handler = Arc::new(BumpHandler::new(
            Arc::clone(&chain),
            Arc::new(BumpWallet::new(
                Arc::new(BumpWalletSource::new(Arc::clone(&wallet))),
                Arc::clone(&logger),
            )),
            Arc::clone(&signer),
            Arc::clone(&logger),
        ));

        let onion_messenger = Arc::new(OnionMessenger::new(
            Arc::clone(&keys),
            Arc::clone(&keys),
            Arc::clone(&logger),
            Arc::clone(&channel_manager),
            Arc::clone(&message_router),
            Arc::clone(&channel_manager),
            Arc::clone(&channel_manager),
            IgnoringMessageHandler {},
            IgnoringMessageHandler {},
        ));
        let lsp_client = match &lsp {
            Some((id, address)) => Some(Arc::new(
                crate::liquidity::LspClient::build(
                    *id,
                    address.clone(),
                    self.lsp_token.clone(),
                    Arc::clone(&keys),
                    Arc::clone(&channel_manager),
                    Arc::clone(&chain),
                    Arc::clone(&store),
                )
                .await?,
            )),
            None => None,
        };
        let peer_manager = Arc::new(PeerManager::new(
            MessageHandler {
                chan_handler: Arc::clone(&channel_manager),
                route_handler: gossip.route_handler(),
                onion_message_handler: Arc::clone(&onion_messenger),
                custom_message_handler: Arc::new(crate::liquidity::LspMessageHandler(
                    lsp_client.as_ref().map(|l| Arc::clone(&l.manager)),
                )),
                send_only_message_handler: Arc::clone(&chain_monitor),
            },
            u32::try_from(runtime::now().as_secs()).unwrap_or(u32::MAX),
            &keys.get_secure_random_bytes(),
            Arc::clone(&logger),
            Arc::clone(&keys),
        ));

        let payments = Arc::new(
            PaymentStore::load(Arc::clone(&store))
                .await
                .map_err(|e| BuildError::StorageUnavailable(e.to_string()))?,
        );
        let events = Arc::new(
            EventQueue::load(Arc::clone(&store))
                .await
                .map_err(|e| BuildError::StorageUnavailable(e.to_string()))?,
        );
        let peers = Arc::new(
            PeerStore::load(Arc::clone(&store))
                .await
                .map_err(|e| BuildError::StorageUnavailable(e.to_string()))?,
        );

        let node = Node::from_inner(NodeInner {
            config: NodeConfig {
                network,
                proxy_url: self.proxy_url.clone(),
                lsp,
                sync_interval: self.sync_interval,
                anchor_channels: self.anchor_channels,
                our_to_self_delay: self.our_to_self_delay,
            },
            node_id,
            generated_mnemonic: std::cell::RefCell::new(generated.then_some(mnemonic)),
            logger,
            store,
            keys,
            chain,
            wallet,
            chain_monitor,
            channel_manager,
            onion_messenger,
            peer_manager,
            lsp: lsp_client,
            graph,
            gossip,
            router,
            scorer,
            sweeper,
            bump_handler,
            payments,
            events,
            peers,
            running: AtomicBool::new(false),
            stopping: Arc::new(AtomicBool::new(false)),
            store_fence: fence,
            bp_stop: Arc::new(AtomicBool::new(false)),
            tasks: Arc::new(AtomicU64::new(0)),
            bp_tasks: Arc::new(AtomicU64::new(0)),
            last_sync: AtomicU64::new(0),
            chain_ready: AtomicBool::new(false),
            storage_health,
            monitor_gate,
            fatal_error: std::cell::RefCell::new(None),
            supervisor,
        });
        // A full store must not keep the user from their channels: the records stay
        // Pending and the next build tries again.
        if let Err(e) = crate::payment::bolt11::fail_unknown_pending(&node.inner).await {
            log_at!(
                node.inner.logger,
                Warn,
                "failing payments LDK does not know: {e}"
            );
        }
        Ok(node)
    }
}

/// Our channel policy for a node that is offline most of the time and cannot be dialled:
/// - private channels only: we announce none, and refuse a peer's public one
///   (`force_announced_channel_preference`); a browser node routes nothing;
/// - inbound channels are accepted by hand (`event_handler.rs`, `OpenChannelRequest`): anchor
///   ones only with their on-chain reserve, zero-conf ones only from our LSP;
/// - anchor outputs (unless turned off): fees are paid when a commitment is broadcast;
/// - the to_self_delays of the crate doc, and the in-flight limit below.
fn user_config(our_to_self_delay: u16, anchor_channels: bool) -> UserConfig {
    let mut config = UserConfig::default();
    config.channel_handshake_config.our_to_self_delay = our_to_self_delay;
    config.channel_handshake_limits.their_to_self_delay = MAX_TO_SELF_DELAY;
    config.channel_handshake_config.announce_for_forwarding = false;
    config
        .channel_handshake_config
        .negotiate_anchors_zero_fee_htlc_tx = anchor_channels;
    config
        .channel_handshake_limits
        .force_announced_channel_preference = true;
    config.accept_forwards_to_priv_channels = false;
    config.manually_accept_inbound_channels = true;
    // LDK lets a peer have only 10 % of a channel in flight towards us by default: that guards
    // a routing node's liquidity against HTLCs parked by strangers. We route nothing, so every
    // HTLC towards us pays one of our invoices and is claimed or failed as soon as it arrives;
    // the cap would only keep us from receiving what the channel holds for us (a 400,000 sat
    // channel took 40,000 sat a payment). What stays exposed is an HTLC claimed just before we
    // go offline, which the final CLTV delta of our invoices covers. Negotiated at open: older
    // channels keep their cap.
    config
        .channel_handshake_config
        .max_inbound_htlc_value_in_flight_percent_of_channel = 100;
    config
}

async fn read_optional(
    store: &DynStore,
    primary: &str,
    secondary: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, BuildError> {
    crate::io::read_optional(store, primary, secondary, key)
        .await
        .map_err(|e| {
            BuildError::StorageUnavailable(format!("reading {primary}/{secondary}/{key}: {e}"))
        })
}

/// Reads the store's node metadata and refuses a store of another network or seed; a store
/// without metadata must hold no channel state and is claimed by writing ours.
async fn check_or_claim_store(store: &DynStore, ours: NodeMetadata) -> Result<(), BuildError> {
    let stored = read_optional(
        store,
        NODE_METADATA_PRIMARY_NAMESPACE,
        NODE_METADATA_SECONDARY_NAMESPACE,
        NODE_METADATA_KEY,
    )
    .await?;
    match stored {
        Some(bytes) => {
            let theirs = NodeMetadata::decode(&bytes)
                .map_err(|e| BuildError::StorageUnavailable(e.to_string()))?;
            theirs.check(&ours).map_err(|e| match e {
                Error::WrongNetwork(m) => BuildError::WrongNetwork(m),
                other => BuildError::ForeignStore(other.to_string()),
            })
        }
        None => {
            if crate::io::holds_channel_manager(store)
                .await
                .map_err(storage("reading the channel manager"))?
            {
                return Err(BuildError::ForeignStore(
                    "the store holds a channel manager but no node metadata".into(),
                ));
            }
            KVStore::write(
                store,
                NODE_METADATA_PRIMARY_NAMESPACE,
                NODE_METADATA_SECONDARY_NAMESPACE,
                NODE_METADATA_KEY,
                ours.encode(),
            )
            .await
            .map_err(storage("writing node metadata"))
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    const ABANDON: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

    fn builder() -> Builder {
        let mut b = Builder::new();
        b.set_esplora_url("http://127.0.0.1:9")
            .set_mnemonic(ABANDON, "")
            .set_log_level(LogLevel::Error);
        b
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_network_is_required_and_memory_on_bitcoin_must_be_asked_for() {
        tokio::task::LocalSet::new()
            .run_until(async {
                let mut b = builder();
                let Err(e) = b.build().await else {
                    panic!("built without a network")
                };
                assert!(matches!(e, BuildError::NoNetwork), "{e}");
                assert_eq!(e.code(), "INVALID_CONFIG");

                b.set_network(Network::Bitcoin);
                let Err(e) = b.build().await else {
                    panic!("built a bitcoin node in memory")
                };
                assert!(matches!(e, BuildError::MemoryStoreOnMainnet), "{e}");
                assert_eq!(e.code(), "INVALID_CONFIG");
                b.set_ephemeral(true);
                assert!(b.build().await.is_ok(), "ephemeral, as asked");

                // A store of its own needs no flag; other networks need none either.
                let mut b = builder();
                b.set_network(Network::Bitcoin)
                    .set_store(Arc::new(MemoryStore::new()));
                assert!(b.build().await.is_ok());
                let mut b = builder();
                b.set_network(Network::Regtest);
                assert!(b.build().await.is_ok());
            })
            .await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn gossip_source_per_network_unless_set() {
        tokio::task::LocalSet::new()
            .run_until(async {
                for (network, rgs) in [
                    (Network::Bitcoin, true),
                    (Network::Testnet, true),
                    (Network::Signet, false),
                    (Network::Regtest, false),
                ] {
                    let mut b = builder();
                    b.set_network(network).set_ephemeral(true);
                    let node = b.build().await.expect("build");
                    assert_eq!(node.inner.gossip.is_rgs(), rgs, "{network}");
                    b.set_gossip_source_p2p();
                    if network != Network::Bitcoin {
                        assert!(!b.build().await.expect("build").inner.gossip.is_rgs());
                    }
                    b.set_gossip_source_rgs("http://127.0.0.1:9/snapshot");
                    assert!(b.build().await.expect("build").inner.gossip.is_rgs());
                }
                // P2P gossip on mainnet: tens of MB each way per connection, unchecked.
                let mut b = builder();
                b.set_network(Network::Bitcoin)
                    .set_ephemeral(true)
                    .set_gossip_source_p2p();
                let Err(e) = b.build().await else {
                    panic!("built a bitcoin node with P2P gossip")
                };
                assert_eq!(e.code(), "INVALID_CONFIG");
                assert!(e.to_string().contains("RGS"), "{e}");
                // The same from a JavaScript config's `rgsUrl: null`.
                let config: crate::config::NodeConfig = serde_json::from_str(
                    r#"{"network":"bitcoin","esploraUrl":"http://127.0.0.1:9",
                        "storage":{"kind":"memory","ephemeral":true},"rgsUrl":null}"#,
                )
                .expect("config");
                let mut b = config.builder().expect("builder");
                // The store is the wasm layer's (`storage`).
                b.set_ephemeral(true);
                let Err(e) = b.build().await else {
                    panic!("built a bitcoin node with rgsUrl: null")
                };
                assert_eq!(e.code(), "INVALID_CONFIG");
                assert!(e.to_string().contains("rgsUrl"), "{e}");
                let mut b = builder();
                b.set_network(Network::Regtest)
                    .set_gossip_source_rgs("ftp://r/");
                let Err(e) = b.build().await else {
                    panic!("built with an ftp RGS URL")
                };
                assert!(matches!(e, BuildError::InvalidRgsUrl(_)), "{e}");
                assert_eq!(e.code(), "INVALID_CONFIG");
            })
            .await;
    }

    /// The stored graph and scorer are caches: garbage under their keys is logged and
    /// replaced by empty ones, never a node that cannot start.
    #[tokio::test(flavor = "current_thread")]
    async fn a_corrupt_graph_or_scorer_starts_empty() {
        tokio::task::LocalSet::new()
            .run_until(async {
                for (primary, secondary, key) in [
                    (
                        NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE,
                        NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE,
                        NETWORK_GRAPH_PERSISTENCE_KEY,
                    ),
                    (
                        SCORER_PERSISTENCE_PRIMARY_NAMESPACE,
                        SCORER_PERSISTENCE_SECONDARY_NAMESPACE,
                        SCORER_PERSISTENCE_KEY,
                    ),
                ] {
                    let store: Arc<DynStore> = Arc::new(MemoryStore::new());
                    KVStore::write(&*store, primary, secondary, key, vec![0xff; 100])
                        .await
                        .expect("write");
                    let mut b = builder();
                    b.set_network(Network::Regtest)
                        .set_store(Arc::clone(&store));
                    let node = b
                        .build()
                        .await
                        .expect("a corrupt cache must not stop the node");
                    assert_eq!(node.graph_info().channels, 0, "{key}");
                }
            })
            .await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn our_to_self_delay_is_bounded() {
        tokio::task::LocalSet::new()
            .run_until(async {
                for (blocks, ok) in [(143, false), (144, true), (2016, true), (2017, false)] {
                    let mut b = builder();
                    b.set_network(Network::Regtest)
                        .set_our_to_self_delay(blocks);
                    match b.build().await {
                        Ok(_) => assert!(ok, "{blocks} accepted"),
                        Err(e) => {
                            assert!(!ok, "{blocks}: {e}");
                            assert_eq!(e.code(), "INVALID_CONFIG");
                        }
                    }
                }
            })
            .await;
    }
}
