//! LDK reads what `rgs-snapshot` (tests/rgs) writes: snapshots applied with
//! `RapidGossipSync::update_network_graph_no_std` (the no-std call the node makes) into an
//! empty `NetworkGraph` hold every channel, direction, fee and node we encoded. Native only
//! (the encoder is a native test fixture).

#![cfg(not(target_arch = "wasm32"))]

use std::time::{SystemTime, UNIX_EPOCH};

use lightning::bitcoin::Network;
use lightning::routing::gossip::{ChannelUpdateInfo, NetworkGraph, NodeId};
use lightning::util::logger::{Logger, Record};
use lightning_rapid_gossip_sync::RapidGossipSync;
use rgs_snapshot::{Channel, ChannelUpdate, Graph, BITCOIN_CHAIN_HASH, REGTEST_CHAIN_HASH};

struct NoLog;

impl Logger for NoLog {
    fn log(&self, _record: Record) {}
}

fn now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time")
        .as_secs() as u32
}

/// `graph` encoded and applied into an empty graph of `network`.
fn apply(network: Network, graph: &Graph) -> NetworkGraph<&'static NoLog> {
    static LOG: NoLog = NoLog;
    let bytes = rgs_snapshot::encode(graph, now());
    let ng = NetworkGraph::new(network, &LOG);
    let rgs = RapidGossipSync::new(&ng, &LOG);
    let ts = rgs
        .update_network_graph_no_std(&bytes, Some(now() as u64))
        .expect("LDK applies the snapshot");
    assert!(ts >= now() - 60);
    ng
}

fn same(ours: &Option<ChannelUpdate>, ldk: &Option<ChannelUpdateInfo>, what: &str) {
    match (ours, ldk) {
        (None, None) => {}
        (Some(o), Some(l)) => {
            assert_eq!(o.enabled, l.enabled, "{what}: enabled");
            assert_eq!(o.cltv_expiry_delta, l.cltv_expiry_delta, "{what}: cltv");
            assert_eq!(o.htlc_minimum_msat, l.htlc_minimum_msat, "{what}: htlc min");
            assert_eq!(o.htlc_maximum_msat, l.htlc_maximum_msat, "{what}: htlc max");
            assert_eq!(o.fee_base_msat, l.fees.base_msat, "{what}: fee base");
            assert_eq!(
                o.fee_proportional_millionths, l.fees.proportional_millionths,
                "{what}: fee ppm"
            );
        }
        _ => panic!("{what}: ours {ours:?}, LDK's {ldk:?}"),
    }
}

/// Every channel of `graph` (normalised: `node_one < node_two`) is in `ng` as encoded.
fn check(graph: &Graph, ng: &NetworkGraph<&NoLog>) {
    let ro = ng.read_only();
    assert_eq!(ro.channels().len(), graph.channels.len());
    let mut nodes = std::collections::HashSet::new();
    for c in &graph.channels {
        let (n1, n2, d12, d21) = if c.node_one < c.node_two {
            (c.node_one, c.node_two, &c.one_to_two, &c.two_to_one)
        } else {
            (c.node_two, c.node_one, &c.two_to_one, &c.one_to_two)
        };
        let info = ro
            .channels()
            .get(&c.short_channel_id)
            .unwrap_or_else(|| panic!("channel {} missing", c.short_channel_id));
        assert_eq!(info.node_one, NodeId::from_slice(&n1).expect("id"));
        assert_eq!(info.node_two, NodeId::from_slice(&n2).expect("id"));
        let what = format!("{} 1->2", c.short_channel_id);
        same(d12, &info.one_to_two, &what);
        let what = format!("{} 2->1", c.short_channel_id);
        same(d21, &info.two_to_one, &what);
        nodes.extend([n1, n2]);
    }
    assert_eq!(ro.nodes().len(), nodes.len());
    for n in nodes {
        assert!(ro
            .nodes()
            .contains_key(&NodeId::from_slice(&n).expect("id")));
    }
}

fn key(i: u8) -> [u8; 33] {
    // Small valid keys: the synthetic generator's first ones.
    rgs_snapshot::synthetic(REGTEST_CHAIN_HASH, 4, 3, 9).channels[..]
        .iter()
        .flat_map(|c| [c.node_one, c.node_two])
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .nth(i as usize)
        .expect("key")
}

#[test]
fn ldk_reads_a_small_snapshot_channel_by_channel() {
    let (a, b, c, d) = (key(0), key(1), key(2), key(3));
    let u = |cltv, min, max, base, ppm, enabled| ChannelUpdate {
        enabled,
        cltv_expiry_delta: cltv,
        htlc_minimum_msat: min,
        htlc_maximum_msat: max,
        fee_base_msat: base,
        fee_proportional_millionths: ppm,
    };
    let graph = Graph {
        chain_hash: REGTEST_CHAIN_HASH,
        channels: vec![
            Channel {
                short_channel_id: 150 << 40 | 1 << 16,
                node_one: a,
                node_two: b,
                one_to_two: Some(u(144, 1000, 990_000_000, 1000, 100, true)),
                // Only one field off the defaults each (the encoder's field bits one by one).
                two_to_one: Some(u(144, 1000, 990_000_000, 0, 100, true)),
            },
            // Given with the ends the wrong way round: the encoder swaps them.
            Channel {
                short_channel_id: 151 << 40 | 2 << 16 | 1,
                node_one: d,
                node_two: b,
                one_to_two: Some(u(40, 1, 5_000_000, 7, 2500, true)),
                two_to_one: None,
            },
            Channel {
                short_channel_id: 90_000 << 40,
                node_one: c,
                node_two: d,
                one_to_two: Some(u(144, 1000, 990_000_000, 1000, 100, false)),
                two_to_one: Some(u(80, 0, u64::from(u32::MAX) * 10, 5000, 0, true)),
            },
            Channel {
                short_channel_id: 90_001 << 40,
                node_one: a,
                node_two: c,
                one_to_two: Some(u(144, 1000, 990_000_000, 1000, 1, true)),
                two_to_one: Some(u(144, 1000, 990_000_001, 1000, 100, true)),
            },
            Channel {
                short_channel_id: 90_002 << 40,
                node_one: b,
                node_two: c,
                one_to_two: Some(u(144, 999, 990_000_000, 1000, 100, true)),
                two_to_one: Some(u(145, 1000, 990_000_000, 1000, 100, true)),
            },
            Channel {
                short_channel_id: 90_003 << 40,
                node_one: a,
                node_two: d,
                one_to_two: None,
                two_to_one: None,
            },
        ],
    };
    let ng = apply(Network::Regtest, &graph);
    check(&graph, &ng);

    // Another chain's snapshot is refused.
    let mut mainnet = graph.clone();
    mainnet.chain_hash = BITCOIN_CHAIN_HASH;
    let bytes = rgs_snapshot::encode(&mainnet, now());
    let ng = NetworkGraph::new(Network::Regtest, &NoLog);
    let rgs = RapidGossipSync::new(&ng, &NoLog);
    assert!(rgs
        .update_network_graph_no_std(&bytes, Some(now() as u64))
        .is_err());
}

#[test]
fn ldk_reads_a_mainnet_sized_synthetic_snapshot() {
    let graph = rgs_snapshot::synthetic(BITCOIN_CHAIN_HASH, 15_000, 50_000, 1);
    let ng = apply(Network::Bitcoin, &graph);
    let ro = ng.read_only();
    assert_eq!(ro.channels().len(), 50_000);
    assert_eq!(ro.nodes().len(), 15_000);
    drop(ro);
    check(&graph, &ng);
}

/// The test network's RGS server (its LSP's `GET /rgs/snapshot/{timestamp}`) serves a snapshot
/// LDK applies into exactly the LSP's gossip graph: both announced channels, both directions,
/// fees and limits as the LSP's `GET /graph` shows them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_network_serves_the_lsp_graph_as_rgs() {
    use regtest_esplora::network::TestNetwork;
    use regtest_esplora::peer::peer_exe;
    use regtest_esplora::RegtestEsplora;

    let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
    let started = std::time::Instant::now();
    let net = TestNetwork::start(&peer_exe(), &esplora).await;
    println!("TestNetwork::start took {:?}", started.elapsed());

    let graph = net.lsp.get("/graph").await;
    let channels = graph["channels"].as_array().expect("channels");
    assert_eq!(channels.len(), 2, "{graph}");
    let mut ids = vec![
        net.lsp_id(),
        net.merchant.node_id.clone(),
        net.carol.node_id.clone(),
    ];
    ids.sort();
    assert_eq!(graph["nodes"], serde_json::json!(ids));
    assert!(net.lsp_uri().ends_with(&net.lsp_p2p()));

    let url = format!("{}{}", net.rgs_url(), 0);
    let resp = reqwest::get(&url).await.expect("GET snapshot");
    assert!(resp.status().is_success(), "{url}: {}", resp.status());
    let bytes = resp.bytes().await.expect("snapshot");
    static LOG: NoLog = NoLog;
    let ng = NetworkGraph::new(Network::Regtest, &LOG);
    RapidGossipSync::new(&ng, &LOG)
        .update_network_graph_no_std(&bytes, Some(now() as u64))
        .expect("LDK applies the LSP's snapshot");
    let ro = ng.read_only();
    assert_eq!(ro.channels().len(), 2);
    assert_eq!(ro.nodes().len(), 3);
    let hex = |id: &NodeId| {
        id.as_slice()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    for c in channels {
        let scid = c["short_channel_id"].as_u64().expect("scid");
        let info = ro.channels().get(&scid).expect("channel in the RGS graph");
        assert_eq!(c["node_one"], hex(&info.node_one));
        assert_eq!(c["node_two"], hex(&info.node_two));
        for (dir, ldk) in [
            ("one_to_two", &info.one_to_two),
            ("two_to_one", &info.two_to_one),
        ] {
            let want = &c[dir];
            let got = ldk.as_ref().expect("direction in the RGS graph");
            assert_eq!(want["enabled"], got.enabled, "{scid} {dir}");
            assert_eq!(want["cltv_expiry_delta"], got.cltv_expiry_delta);
            assert_eq!(want["htlc_minimum_msat"], got.htlc_minimum_msat);
            assert_eq!(want["htlc_maximum_msat"], got.htlc_maximum_msat);
            assert_eq!(want["fee_base_msat"], got.fees.base_msat);
            assert_eq!(
                want["fee_proportional_millionths"],
                got.fees.proportional_millionths
            );
        }
    }
}
