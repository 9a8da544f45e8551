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
//! learns to avoid them; the LSP we connect to is trusted more than that anyway.

// See builder.rs: LDK's `Arc`s hold `!Send` objects on our one thread.
#![allow(clippy::arc_with_non_send_sync)]

use std::sync::Arc;
use std::time::Duration;

use lightning::ln::msgs::RoutingMessageHandler;
use lightning::ln::peer_handler::IgnoringMessageHandler;
use lightning::routing::router::Router as _;
use lightning::routing::router::{PaymentParameters, RouteParameters};
use lightning::routing::utxo::UtxoLookup;
use lightning_invoice::Bolt11Invoice;
use serde::{Deserialize, Serialize};

use crate::chain::esplora::with_timeout;
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

    /// What the background processor prunes and persists.
    pub fn background_sync(&self) -> GossipSync {
        match self {
            Gossip::P2p(sync) => GossipSync::P2P(Arc::clone(sync)),
            Gossip::Rapid { sync, .. } => GossipSync::Rapid(Arc::clone(sync)),
        }
    }

    pub fn is_rgs(&self) -> bool {
        matches!(self, Gossip::Rapid { .. })
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
    let payee = invoice.recover_payee_pub_key();
    let info = GraphInfo::of(&inner.graph);
    let in_graph = inner
        .graph
        .read_only()
        .node(&lightning::routing::gossip::NodeId::from_pubkey(&payee))
        .is_some();
    let has_hints = !invoice.route_hints().is_empty();
    let direct = inner
        .channel_manager
        .list_usable_channels()
        .iter()
        .any(|c| c.counterparty.node_id == payee);
    if !in_graph && !has_hints && !direct {
        let mut why = format!(
            "the payee {payee} is not in the graph ({} nodes, {} channels) and the invoice has no route hints",
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
    // The parameters `pay_for_bolt11_invoice` builds (`RouteParametersConfig::default()`
    // leaves the payment parameters' defaults as they are); without a limit of ours, LDK's
    // default one (1 % + 50 sat).
    let params = RouteParameters::from_payment_params_and_value(
        PaymentParameters::from_bolt11_invoice(invoice),
        amount_msat,
    );
    let limit = max_fee_msat.or(params.max_total_routing_fee_msat);
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
