//! The concrete LDK types the node is made of. LDK's `Simple*` aliases need `std`, so they
//! are written out here, once: every object is behind an `Arc`, the store is [`DynStore`], the
//! chain source is also the fee estimator and the broadcaster, and the channel keys come from
//! [`WalletSignerProvider`].

use std::sync::Arc;

use lightning::chain::chainmonitor;
use lightning::ln::msgs::RoutingMessageHandler;
use lightning::ln::peer_handler::IgnoringMessageHandler;
use lightning::routing::gossip;
use lightning::routing::router::DefaultRouter;
use lightning::routing::utxo::UtxoLookup;
use std::cell::{Ref, RefCell, RefMut};

use lightning::routing::scoring::{
    LockableScore, ProbabilisticScorer, ProbabilisticScoringFeeParameters,
};
use lightning::sign::{InMemorySigner, KeysManager};
use lightning::util::native_async::FutureSpawner;
use lightning::util::persist::MonitorUpdatingPersisterAsync;
use lightning::util::ser::{Writeable, Writer};
use lightning::util::sweep::OutputSweeper;

use crate::chain::esplora::EsploraChainSource;
use crate::chain::wallet::OnchainWallet;
use crate::io::DynStore;
use crate::logger::NodeLogger;
use crate::net::transport::Descriptor;
use crate::node::Supervisor;
use crate::runtime;
use crate::signer::WalletSignerProvider;
use crate::sweep::NodeOutputSpender;

/// Runs LDK's background futures (monitor writes) on this thread's event loop, supervised
/// by the node (a panic in one stops the node).
#[derive(Clone)]
pub struct LocalSpawner(Supervisor);

impl LocalSpawner {
    pub(crate) fn new(supervisor: Supervisor) -> Self {
        LocalSpawner(supervisor)
    }
}

impl FutureSpawner for LocalSpawner {
    fn spawn<
        T: core::future::Future<Output = ()> + lightning::util::async_poll::MaybeSend + 'static,
    >(
        &self,
        future: T,
    ) {
        self.0.spawn("monitor persistence", future)
    }
}

/// The chain source: Esplora, also fee estimator, broadcaster and `Filter`.
pub type ChainSource = EsploraChainSource;
/// The on-chain wallet over the node's store.
pub type Wallet = OnchainWallet<DynStore>;

/// Monitor persistence: LDK's asynchronous, update-logging persister (see `builder.rs`).
pub type Persister = MonitorUpdatingPersisterAsync<
    Arc<DynStore>,
    LocalSpawner,
    Arc<NodeLogger>,
    Arc<KeysManager>,
    Arc<WalletSignerProvider>,
    Arc<ChainSource>,
    Arc<ChainSource>,
>;

/// The persister type `ChainMonitor::new_async_beta` wraps [`Persister`] in.
pub type AsyncPersister = chainmonitor::AsyncPersister<
    Arc<DynStore>,
    LocalSpawner,
    Arc<NodeLogger>,
    Arc<KeysManager>,
    Arc<WalletSignerProvider>,
    Arc<ChainSource>,
    Arc<ChainSource>,
>;

/// Watches the chain for every channel and persists their monitors.
pub type ChainMonitor = chainmonitor::ChainMonitor<
    InMemorySigner,
    Arc<ChainSource>,
    Arc<ChainSource>,
    Arc<ChainSource>,
    Arc<NodeLogger>,
    AsyncPersister,
    Arc<KeysManager>,
>;

/// The public channel graph, filled by P2P gossip or Rapid Gossip Sync (graph.rs).
pub type Graph = gossip::NetworkGraph<Arc<NodeLogger>>;

/// BOLT 7 gossip from connected peers (not checked against the chain: no UTXO lookup).
pub type P2PGossipSync = gossip::P2PGossipSync<Arc<Graph>, Arc<dyn UtxoLookup>, Arc<NodeLogger>>;

/// Rapid Gossip Sync snapshots (applied with our clock: `update_network_graph_no_std`).
pub type RapidGossipSync =
    lightning_rapid_gossip_sync::RapidGossipSync<Arc<Graph>, Arc<NodeLogger>>;

/// What the background processor prunes and persists the graph through.
pub type GossipSync = lightning_background_processor::GossipSync<
    Arc<P2PGossipSync>,
    Arc<RapidGossipSync>,
    Arc<Graph>,
    Arc<dyn UtxoLookup>,
    Arc<NodeLogger>,
>;

/// Payment-path scoring.
pub type Scorer = ProbabilisticScorer<Arc<Graph>, Arc<NodeLogger>>;

/// The scorer behind a `RefCell`: the router reads it, the background processor updates and
/// writes it, never at the same time on our one thread. (LDK's own lockable wrappers are
/// `std`- or bindings-only.)
pub struct ScorerCell(pub RefCell<Scorer>);

impl<'a> LockableScore<'a> for ScorerCell {
    type ScoreUpdate = Scorer;
    type ScoreLookUp = Scorer;
    type WriteLocked = RefMut<'a, Scorer>;
    type ReadLocked = Ref<'a, Scorer>;

    fn read_lock(&'a self) -> Self::ReadLocked {
        self.0.borrow()
    }

    fn write_lock(&'a self) -> Self::WriteLocked {
        self.0.borrow_mut()
    }
}

impl Writeable for ScorerCell {
    fn write<W: Writer>(&self, w: &mut W) -> Result<(), lightning::io::Error> {
        self.0.borrow().write(w)
    }
}

/// Finds payment routes.
pub type Router = DefaultRouter<
    Arc<Graph>,
    Arc<NodeLogger>,
    Arc<KeysManager>,
    Arc<ScorerCell>,
    ProbabilisticScoringFeeParameters,
    Scorer,
>;

/// Finds onion-message paths.
pub type MessageRouter = lightning::onion_message::messenger::DefaultMessageRouter<
    Arc<Graph>,
    Arc<NodeLogger>,
    Arc<KeysManager>,
>;

/// The channel state machine.
pub type ChannelManager = lightning::ln::channelmanager::ChannelManager<
    Arc<ChainMonitor>,
    Arc<ChainSource>,
    Arc<KeysManager>,
    Arc<KeysManager>,
    Arc<WalletSignerProvider>,
    Arc<ChainSource>,
    Arc<Router>,
    Arc<MessageRouter>,
    Arc<NodeLogger>,
>;

/// Onion messages (offers and async payments later; required by the peer manager).
pub type OnionMessenger = lightning::onion_message::messenger::OnionMessenger<
    Arc<KeysManager>,
    Arc<KeysManager>,
    Arc<NodeLogger>,
    Arc<ChannelManager>,
    Arc<MessageRouter>,
    Arc<ChannelManager>,
    Arc<ChannelManager>,
    IgnoringMessageHandler,
    IgnoringMessageHandler,
>;

/// Peer connections over our transport (`net::transport`). The route handler is the
/// [`P2PGossipSync`] with P2P gossip, an `IgnoringMessageHandler` with RGS (graph.rs).
/// Custom messages are LSPS messages, handled when an LSP is configured (liquidity.rs).
pub type PeerManager = lightning::ln::peer_handler::PeerManager<
    Descriptor,
    Arc<ChannelManager>,
    Arc<dyn RoutingMessageHandler>,
    Arc<OnionMessenger>,
    Arc<NodeLogger>,
    Arc<crate::liquidity::LspMessageHandler>,
    Arc<KeysManager>,
    Arc<ChainMonitor>,
>;

/// Sweeps what closed channels leave us into the on-chain wallet.
pub type Sweeper = OutputSweeper<
    Arc<ChainSource>,
    Arc<Wallet>,
    Arc<ChainSource>,
    Arc<ChainSource>,
    Arc<DynStore>,
    Arc<NodeLogger>,
    Arc<NodeOutputSpender>,
>;

/// LDK's coin selection over the wallet, for fee bumps.
pub type BumpWallet = lightning::events::bump_transaction::Wallet<
    Arc<crate::chain::bump::BumpWalletSource>,
    Arc<NodeLogger>,
>;

/// Pays for anchor channels' commitment and HTLC transactions from the wallet.
pub type BumpHandler = lightning::events::bump_transaction::BumpTransactionEventHandler<
    Arc<ChainSource>,
    Arc<BumpWallet>,
    Arc<WalletSignerProvider>,
    Arc<NodeLogger>,
>;

/// `lightning-liquidity`'s clock: ours.
#[derive(Clone, Copy, Debug, Default)]
pub struct LiquidityClock;

impl lightning_liquidity::utils::time::TimeProvider for LiquidityClock {
    fn duration_since_epoch(&self) -> core::time::Duration {
        runtime::now()
    }
}

/// The LSPS client: LSPS2 JIT channels from the configured LSP (liquidity.rs).
pub type LiquidityManager = lightning_liquidity::LiquidityManager<
    Arc<KeysManager>,
    Arc<KeysManager>,
    Arc<ChannelManager>,
    Arc<ChainSource>,
    Arc<DynStore>,
    Arc<LiquidityClock>,
    Arc<ChainSource>,
>;
