//! The public channel graph: where it comes from ([`GossipSource`]), what it holds
//! ([`GraphInfo`]), the Rapid Gossip Sync fetch, and why a payment found no route in it.
//!
//! # Gossip source, per network
//!
//! A browser node is offline most of the time and pays for every byte it downloads, often
//! through a proxy. Full P2P gossip of mainnet is tens of MB and, without `std`, LDK asks each
//! peer for all of it from timestamp 0 on every connection (it has no clock to ask for "the
//! last two weeks" only); a Rapid Gossip Sync snapshot of the same graph is about 2 MB and
//! later deltas are small (DESIGN.md §1). So:
//! - `bitcoin`: RGS from LDK's public server, [`RGS_URL_BITCOIN`];
//! - `testnet`: RGS from LDK's testnet server, [`RGS_URL_TESTNET`];
//! - `signet`, `regtest`: P2P gossip from the peers we are connected to. We know of no public
//!   RGS server for them we could name reliably, and their graphs are small enough for a full
//!   P2P sync on each connection.
//!
//! P2P gossip is not checked against the chain (we have no cheap UTXO lookup over Esplora): a
//! peer could announce channels that do not exist. Paths through them fail and the scorer
//! learns to avoid them; the LSP we connect to is trusted more than that anyway. On `bitcoin`
//! P2P gossip is refused outright (`BuildError::P2pGossipOnMainnet`): LDK without `std` would
//! download every peer's whole graph on each connection and upload ours to any peer that
//! asks, tens of MB each way.
//!
//! # The P2P graph is not pruned
//!
//! LDK 0.2 without `std` records a P2P `channel_announcement` as received at time 0, so its
//! pruning (`remove_stale_channels_and_tracking_with_time`, which the background processor
//! runs a minute after start and then hourly) removes every channel still missing one
//! direction's `channel_update` (a channel just announced, or one whose other side never sends
//! one), and then refuses its re-announcement for a week. LDK has no public call that drops
//! only stale updates. So in P2P mode the background processor gets no gossip sync
//! ([`Gossip::background_sync`]: `GossipSync::None`; the peer manager still has the
//! `P2PGossipSync` as its route handler) and the graph is never pruned: the P2P graphs of
//! signet and regtest are small, and a channel that is gone is removed when a payment through
//! it fails (the failure's network update is applied by [`apply_network_update`], which the
//! background processor did with a graph). It is written by [`persist_graph`] on the
//! background processor's cadence instead: a minute after start, hourly, and on stop
//! ([`P2P_GRAPH_FIRST_PERSIST`], [`P2P_GRAPH_PERSIST_INTERVAL`]). The scorer is untouched by
//! this: the background processor still updates, decays and persists it with its own clock
//! (`fetch_time`). Rapid Gossip Sync is unaffected: its announcements carry the snapshot's
//! time, and the background processor prunes and persists that graph as before.

// See builder.rs: LDK's `Arc`s hold `!Send` objects on our one thread.
#![allow(clippy::arc_with_non_send_sync)]

use std::sync::Arc;
use std::time::Duration;

use lightning::events::{Event as LdkEvent, PathFailure};
use lightning::ln::msgs::RoutingMessageHandler;
use lightning::ln::peer_handler::IgnoringMessageHandler;
use lightning::routing::router::Router as _;
use lightning::routing::router::{PaymentParameters, RouteParameters};
use lightning::routing::utxo::UtxoLookup;
use lightning::util::ser::Writeable;
use lightning_invoice::Bolt11Invoice;
use serde::{Deserialize, Serialize};

use crate::bitcoin::secp256k1::PublicKey;
use crate::chain::esplora::with_timeout;
use crate::io::{
    DynStore, NETWORK_GRAPH_PERSISTENCE_KEY, NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE,
    NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE,
};
use crate::logger::{log_at, NodeLogger};
use crate::node::NodeInner;
use crate::types::{GossipSync, Graph, P2PGossipSync, RapidGossipSync};
use crate::{runtime, Error, Network};

/// LDK's public Rapid Gossip Sync server for mainnet (the snapshot's timestamp is appended).
pub const RGS_URL_BITCOIN: &str = "https://rapidsync.lightningdevkit.org/snapshot/";
/// LDK's public Rapid Gossip Sync server for testnet3.
pub const RGS_URL_TESTNET: &str = "https://rapidsync.lightningdevkit.org/testnet/snapshot/";

/// How often a started node fetches the RGS delta since its last snapshot.
pub const RGS_INTERVAL: Duration = Duration::from_secs(60 * 60);
/// How long one RGS download may take (a first mainnet snapshot is some 2 MB).
pub const RGS_FETCH_TIMEOUT: Duration = Duration::from_secs(60);

/// When a started P2P node first writes its graph: once the first peers' gossip is in (the
/// background processor's first prune-and-persist comes as soon).
pub const P2P_GRAPH_FIRST_PERSIST: Duration = Duration::from_secs(60);
/// How often a P2P node writes its graph after that (and once more on stop).
pub const P2P_GRAPH_PERSIST_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// Where the node learns the public channel graph from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GossipSource {
    /// BOLT 7 gossip from the peers we are connected to.
    P2p,
    /// Rapid Gossip Sync snapshots from this URL: `{url}{last_sync_timestamp}` is fetched
    /// (a `/` is added when the URL has none at its end).
    Rgs(String),
}

impl GossipSource {
    /// The default of `network` (see the module docs for why).
    pub fn default_for(network: Network) -> Self {
        match network {
            Network::Bitcoin => GossipSource::Rgs(RGS_URL_BITCOIN.into()),
            Network::Testnet => GossipSource::Rgs(RGS_URL_TESTNET.into()),
            Network::Signet | Network::Regtest => GossipSource::P2p,
        }
    }
}

/// The graph at a glance (`getInfo().graph`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphInfo {
    /// Nodes in the graph.
    pub nodes: usize,
    /// Public channels in the graph.
    pub channels: usize,
    /// Unix time the last applied RGS snapshot is current to (the server's timestamp, kept
    /// with the graph); `None` before the first one or with P2P gossip.
    pub rgs_synced_at: Option<u64>,
}

impl GraphInfo {
    pub(crate) fn of(graph: &Graph) -> Self {
        let view = graph.read_only();
        GraphInfo {
            nodes: view.nodes().len(),
            channels: view.channels().len(),
            rgs_synced_at: graph.get_last_rapid_gossip_sync_timestamp().map(u64::from),
        }
    }
}

/// The gossip machinery of a [`GossipSource`].
pub(crate) enum Gossip {
    P2p(Arc<P2PGossipSync>),
    Rapid {
        sync: Arc<RapidGossipSync>,
        url: String,
        http: reqwest::Client,
    },
}

impl Gossip {
    pub fn new(source: &GossipSource, graph: &Arc<Graph>, logger: &Arc<NodeLogger>) -> Self {
        match source {
            GossipSource::P2p => Gossip::P2p(Arc::new(P2PGossipSync::new(
                Arc::clone(graph),
                None::<Arc<dyn UtxoLookup>>,
                Arc::clone(logger),
            ))),
            GossipSource::Rgs(url) => Gossip::Rapid {
                sync: Arc::new(RapidGossipSync::new(Arc::clone(graph), Arc::clone(logger))),
                url: if url.ends_with('/') {
                    url.clone()
                } else {
                    format!("{url}/")
                },
                http: reqwest::Client::new(),
            },
        }
    }

    /// The peer manager's handler of gossip messages: they are ignored with RGS.
    pub fn route_handler(&self) -> Arc<dyn RoutingMessageHandler> {
        match self {
            Gossip::P2p(sync) => Arc::clone(sync) as Arc<dyn RoutingMessageHandler>,
            Gossip::Rapid { .. } => Arc::new(IgnoringMessageHandler {}),
        }
    }

    /// What the background processor prunes and persists: nothing with P2P gossip (the
    /// module docs say why; [`persist_graph`] writes that graph).
    pub fn background_sync(&self) -> GossipSync {
        match self {
            Gossip::P2p(_) => GossipSync::None,
            Gossip::Rapid { sync, .. } => GossipSync::Rapid(Arc::clone(sync)),
        }
    }

    pub fn is_rgs(&self) -> bool {
        matches!(self, Gossip::Rapid { .. })
    }
}

/// Writes the graph to the store (P2P mode: the background processor does it with RGS); a
/// failure is logged, the graph being a cache that gossip fills again.
pub(crate) async fn persist_graph(store: &DynStore, graph: &Graph, logger: &NodeLogger) {
    let written = store
        .write(
            NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE,
            NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE,
            NETWORK_GRAPH_PERSISTENCE_KEY,
            graph.encode(),
        )
        .await;
    if let Err(e) = written {
        log_at!(logger, Warn, "writing the network graph: {e}");
    }
}

/// What a failed payment path says about a channel (disabled, gone), applied to the graph:
/// the background processor does it when it has the graph, which in P2P mode it has not.
pub(crate) fn apply_network_update(gossip: &Gossip, graph: &Graph, event: &LdkEvent) {
    if gossip.is_rgs() {
        return;
    }
    if let LdkEvent::PaymentPathFailed {
        failure: PathFailure::OnPath {
            network_update: Some(update),
        },
        ..
    } = event
    {
        graph.handle_network_update(update);
    }
}

/// Fetches the RGS delta since the graph's last snapshot and applies it; the new snapshot
/// timestamp. `None` when `stopping` turned true meanwhile (nothing applied). Every failure
/// is a message for the log: the caller tries again next round.
pub(crate) async fn rgs_sync(
    gossip: &Gossip,
    graph: &Graph,
    logger: &NodeLogger,
    stopping: &std::sync::atomic::AtomicBool,
) -> Result<Option<u32>, String> {
    use std::sync::atomic::Ordering;
    let Gossip::Rapid { sync, url, http } = gossip else {
        return Ok(None);
    };
    let since = graph.get_last_rapid_gossip_sync_timestamp().unwrap_or(0);
    let query = format!("{url}{since}");
    let fetched = with_timeout(RGS_FETCH_TIMEOUT, async {
        let resp = http.get(&query).send().await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        Ok::<_, reqwest::Error>((status, body))
    })
    .await;
    let (status, body) = match fetched {
        None => return Err(format!("{query}: no answer within {RGS_FETCH_TIMEOUT:?}")),
        Some(Err(e)) => return Err(format!("{query}: {e}")),
        Some(Ok(a)) => a,
    };
    if !status.is_success() {
        return Err(format!("{query}: HTTP {status}"));
    }
    if stopping.load(Ordering::Acquire) {
        return Ok(None);
    }
    let start = runtime::now();
    let applied = sync
        .update_network_graph_no_std(&body, Some(start.as_secs()))
        .map_err(|e| format!("the snapshot from {query} was refused: {e:?}"))?;
    let took = runtime::now().saturating_sub(start);
    let info = GraphInfo::of(graph);
    log_at!(
        logger,
        Info,
        "applied an RGS snapshot of {} bytes in {} ms: {} nodes, {} channels, current to {applied}",
        body.len(),
        took.as_millis(),
        info.nodes,
        info.channels
    );
    Ok(Some(applied))
}

/// Why LDK found no route for `invoice`: asks the router again with the same parameters and
/// our usable channels, and names what stopped it. [`Error::FeeTooHigh`] when a route exists
/// but costs more than the fee limit (as a JIT channel's quote above `maxFeeMsat` is), else
/// [`Error::NoRoute`]: the payee is not in the graph, or no path has the capacity.
pub(crate) fn no_route_error(
    inner: &NodeInner,
    invoice: &Bolt11Invoice,
    amount_msat: u64,
    max_fee_msat: Option<u64>,
) -> Error {
    // The parameters `pay_for_bolt11_invoice` builds (`RouteParametersConfig::default()`
    // leaves the payment parameters' defaults as they are); without a limit of ours, LDK's
    // default one (1 % + 50 sat).
    let params = RouteParameters::from_payment_params_and_value(
        PaymentParameters::from_bolt11_invoice(invoice),
        amount_msat,
    );
    let params = RouteParameters {
        max_total_routing_fee_msat: max_fee_msat.or(params.max_total_routing_fee_msat),
        ..params
    };
    no_route_error_for(
        inner,
        invoice.recover_payee_pub_key(),
        !invoice.route_hints().is_empty(),
        &params,
    )
}

/// [`no_route_error`] for the route parameters a payment ran with (`params`, its fee limit
/// included): a keysend to `payee`; `has_hints` when the payer gave route hints.
pub(crate) fn no_route_error_for(
    inner: &NodeInner,
    payee: PublicKey,
    has_hints: bool,
    params: &RouteParameters,
) -> Error {
    let amount_msat = params.final_value_msat;
    let info = GraphInfo::of(&inner.graph);
    let in_graph = inner
        .graph
        .read_only()
        .node(&lightning::routing::gossip::NodeId::from_pubkey(&payee))
        .is_some();
    let direct = inner
        .channel_manager
        .list_usable_channels()
        .iter()
        .any(|c| c.counterparty.node_id == payee);
    if !in_graph && !has_hints && !direct {
        let mut why = format!(
            "the payee {payee} is not in the graph ({} nodes, {} channels) and there are no route hints",
            info.nodes, info.channels
        );
        if info.channels == 0 {
            why.push_str(if inner.gossip.is_rgs() {
                ": the graph is empty, its RGS snapshot has not arrived yet"
            } else {
                ": the graph is empty, no peer has sent gossip yet"
            });
        }
        return Error::NoRoute(why);
    }
    let limit = params.max_total_routing_fee_msat;
    // LDK's own router (the same code the payment ran, not a second copy in the bundle),
    // with the HTLCs in flight as it counted them.
    let attempt = |max_fee: Option<u64>| {
        let params = RouteParameters {
            max_total_routing_fee_msat: max_fee,
            ..params.clone()
        };
        let first_hops = inner.channel_manager.list_usable_channels();
        let first_hops: Vec<_> = first_hops.iter().collect();
        inner.router.find_route(
            &inner.node_id,
            &params,
            Some(&first_hops),
            inner.channel_manager.compute_inflight_htlcs(),
        )
    };
    match attempt(limit) {
        // The channels or the graph changed meanwhile.
        Ok(_) => Error::NoRoute("none when sending; try again".into()),
        Err(e) => match attempt(None) {
            Ok(route) if limit.is_some() => Error::FeeTooHigh(format!(
                "the best route found costs {} msat in fees, above the limit of {} msat",
                route.get_total_fees(),
                limit.unwrap_or_default()
            )),
            _ if e.contains("sufficient") || e.contains("more value") => Error::NoRoute(format!(
                "no path with enough capacity for {amount_msat} msat to {payee} ({e})"
            )),
            _ => Error::NoRoute(format!("no path to {payee} in the graph ({e})")),
        },
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use std::sync::Arc;

    use lightning::ln::msgs::{
        ChannelAnnouncement, ChannelUpdate, UnsignedChannelAnnouncement, UnsignedChannelUpdate,
    };
    use lightning::routing::gossip::NodeId;
    use lightning::util::ser::Writeable;
    use lightning_types::features::ChannelFeatures;

    use crate::bitcoin::constants::ChainHash;
    use crate::bitcoin::hashes::{sha256d, Hash};
    use crate::bitcoin::secp256k1::{ecdsa::Signature, Message, PublicKey, Secp256k1, SecretKey};
    use crate::io::{DynStore, MemoryStore};
    use crate::types::GossipSync;
    use crate::{runtime, Builder, LogLevel, Network, Node};

    const ABANDON: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
    const SCID: u64 = 101 << 40 | 1 << 16;

    fn sign<T: Writeable>(contents: &T, key: &SecretKey) -> Signature {
        let hash = sha256d::Hash::hash(&contents.encode());
        Secp256k1::new().sign_ecdsa(&Message::from_digest(hash.to_byte_array()), key)
    }

    /// A signed announcement of a channel between two made-up nodes, and one `channel_update`,
    /// from its first node: the channel is known in one direction only (as a channel whose
    /// other side has not sent its update yet, or never will).
    fn one_way_channel() -> (ChannelAnnouncement, ChannelUpdate) {
        let secp = Secp256k1::new();
        let mut nodes = [
            SecretKey::from_slice(&[7; 32]),
            SecretKey::from_slice(&[8; 32]),
        ]
        .map(|k| k.expect("key"));
        nodes.sort_by_key(|k| PublicKey::from_secret_key(&secp, k).serialize());
        let funding = [9, 10].map(|b| SecretKey::from_slice(&[b; 32]).expect("key"));
        let id = |k: &SecretKey| NodeId::from_pubkey(&PublicKey::from_secret_key(&secp, k));
        let chain_hash = ChainHash::using_genesis_block(crate::bitcoin::Network::Regtest);
        let contents = UnsignedChannelAnnouncement {
            features: ChannelFeatures::empty(),
            chain_hash,
            short_channel_id: SCID,
            node_id_1: id(&nodes[0]),
            node_id_2: id(&nodes[1]),
            bitcoin_key_1: id(&funding[0]),
            bitcoin_key_2: id(&funding[1]),
            excess_data: Vec::new(),
        };
        let announcement = ChannelAnnouncement {
            node_signature_1: sign(&contents, &nodes[0]),
            node_signature_2: sign(&contents, &nodes[1]),
            bitcoin_signature_1: sign(&contents, &funding[0]),
            bitcoin_signature_2: sign(&contents, &funding[1]),
            contents,
        };
        let contents = UnsignedChannelUpdate {
            chain_hash,
            short_channel_id: SCID,
            timestamp: runtime::now().as_secs() as u32,
            message_flags: 1,
            channel_flags: 0,
            cltv_expiry_delta: 40,
            htlc_minimum_msat: 1,
            htlc_maximum_msat: 100_000_000,
            fee_base_msat: 1_000,
            fee_proportional_millionths: 100,
            excess_data: Vec::new(),
        };
        let update = ChannelUpdate {
            signature: sign(&contents, &nodes[0]),
            contents,
        };
        (announcement, update)
    }

    async fn build_node(store: &Arc<DynStore>) -> Node {
        let mut b = Builder::new();
        b.set_esplora_url("http://127.0.0.1:9")
            .set_mnemonic(ABANDON, "")
            .set_log_level(LogLevel::Error)
            .set_network(Network::Regtest)
            .set_store(Arc::clone(store));
        b.build().await.expect("build")
    }

    /// LDK 0.2 without `std` stamps a P2P channel announcement as received at time 0, so its
    /// pruning drops every channel missing one direction's update (and refuses it again for a
    /// week). What the background processor prunes on its timer must leave the P2P graph as
    /// it is, and the graph must still be there after a restart.
    #[tokio::test(flavor = "current_thread")]
    async fn a_p2p_channel_known_one_way_survives_pruning_and_a_restart() {
        tokio::task::LocalSet::new()
            .run_until(async {
                let store: Arc<DynStore> = Arc::new(MemoryStore::new());
                let node = build_node(&store).await;
                let inner = &node.inner;
                assert!(!inner.gossip.is_rgs());
                let (announcement, update) = one_way_channel();
                let handler = inner.gossip.route_handler();
                handler
                    .handle_channel_announcement(None, &announcement)
                    .expect("announcement");
                handler
                    .handle_channel_update(None, &update)
                    .expect("update");
                assert_eq!(node.graph_info().channels, 1);

                // What the background processor does on its prune timer with what it is given.
                let now = runtime::now().as_secs();
                match inner.gossip.background_sync() {
                    GossipSync::P2P(sync) => sync
                        .network_graph()
                        .remove_stale_channels_and_tracking_with_time(now),
                    GossipSync::Rapid(_) => panic!("RGS in P2P mode"),
                    GossipSync::None => {}
                }
                assert_eq!(node.graph_info().channels, 1, "pruned");

                node.start().expect("start");
                node.stop().await.expect("stop");
                drop(node);
                let node = build_node(&store).await;
                assert_eq!(node.graph_info().channels, 1, "lost across a restart");
            })
            .await;
    }
}
