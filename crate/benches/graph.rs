//! Native figures for the routing graph at mainnet size, on a synthetic graph of 15,000 nodes
//! and 50,000 channels (`rgs_snapshot::synthetic`, seed 1: power-law degrees, mainnet-like
//! fees and limits): the Rapid Gossip Sync snapshot's size, the time LDK takes to apply it into
//! an empty `NetworkGraph` (`update_network_graph_no_std`, the node's call), the graph's
//! serialized size (what the node stores), and `find_route` with a default
//! `ProbabilisticScorer` (no history) from a well-connected node (the 50th by degree, as an
//! LSP would be) to 50 random payees, 10,000 sat each, multi-path allowed. Run:
//! `cargo bench -p wasm-ln --bench graph`. Prints one line per figure; asserts no timing.

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::collections::HashMap;
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    use lightning::bitcoin::secp256k1::PublicKey;
    use lightning::bitcoin::Network;
    use lightning::routing::gossip::NetworkGraph;
    use lightning::routing::router::{find_route, PaymentParameters, RouteParameters};
    use lightning::routing::scoring::{
        ProbabilisticScorer, ProbabilisticScoringDecayParameters, ProbabilisticScoringFeeParameters,
    };
    use lightning::types::features::Bolt11InvoiceFeatures;
    use lightning::util::logger::{Logger, Record};
    use lightning::util::ser::Writeable;
    use lightning_rapid_gossip_sync::RapidGossipSync;

    const NODES: usize = 15_000;
    const CHANNELS: usize = 50_000;
    const SEED: u64 = 1;
    const APPLY_RUNS: usize = 5;
    const PAYEES: usize = 50;
    const AMOUNT_MSAT: u64 = 10_000_000;
    const FINAL_CLTV: u32 = 40;

    struct NoLog;
    impl Logger for NoLog {
        fn log(&self, _record: Record) {}
    }
    static LOG: NoLog = NoLog;

    fn ms(d: Duration) -> f64 {
        d.as_secs_f64() * 1000.0
    }

    pub fn main() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("time")
            .as_secs();
        let graph =
            rgs_snapshot::synthetic(rgs_snapshot::BITCOIN_CHAIN_HASH, NODES, CHANNELS, SEED);
        let snapshot = rgs_snapshot::encode(&graph, now as u32);
        println!(
            "RGS snapshot ({NODES} nodes, {CHANNELS} channels, synthetic seed {SEED}): {} bytes raw",
            snapshot.len()
        );

        let mut applied = None;
        let mut times = Vec::new();
        for _ in 0..APPLY_RUNS {
            let ng = NetworkGraph::new(Network::Bitcoin, &LOG);
            let start = Instant::now();
            RapidGossipSync::new(&ng, &LOG)
                .update_network_graph_no_std(&snapshot, Some(now))
                .expect("apply");
            times.push(start.elapsed());
            applied = Some(ng);
        }
        times.sort();
        println!(
            "RGS apply into an empty NetworkGraph (native, {NODES} nodes, {CHANNELS} channels, \
             {APPLY_RUNS} runs): min {:.1} ms, median {:.1} ms",
            ms(times[0]),
            ms(times[APPLY_RUNS / 2]),
        );
        let ng = applied.expect("a graph");
        {
            let ro = ng.read_only();
            assert_eq!(ro.channels().len(), CHANNELS);
            assert_eq!(ro.nodes().len(), NODES);
        }
        println!(
            "NetworkGraph serialized (what the node stores): {} bytes",
            ng.encode().len()
        );

        // The payer: the 50th node by degree; payees: random others (deterministic).
        let mut degree: HashMap<[u8; 33], usize> = HashMap::new();
        for c in &graph.channels {
            *degree.entry(c.node_one).or_default() += 1;
            *degree.entry(c.node_two).or_default() += 1;
        }
        let mut by_degree: Vec<([u8; 33], usize)> = degree.into_iter().collect();
        by_degree.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let (payer_id, payer_degree) = by_degree[49];
        let payer = PublicKey::from_slice(&payer_id).expect("payer key");
        let mut ids: Vec<[u8; 33]> = by_degree.iter().map(|(id, _)| *id).collect();
        ids.sort();
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let mut payees = Vec::with_capacity(PAYEES);
        while payees.len() < PAYEES {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let id = ids[(x % ids.len() as u64) as usize];
            if id != payer_id {
                payees.push(PublicKey::from_slice(&id).expect("payee key"));
            }
        }

        let scorer =
            ProbabilisticScorer::new(ProbabilisticScoringDecayParameters::default(), &ng, &LOG);
        let score_params = ProbabilisticScoringFeeParameters::default();
        let mut features = Bolt11InvoiceFeatures::empty();
        features.set_variable_length_onion_required();
        features.set_payment_secret_required();
        features.set_basic_mpp_optional();
        let mut times = Vec::with_capacity(PAYEES);
        let mut found = 0;
        let mut hops = 0;
        for (i, payee) in payees.iter().enumerate() {
            let params = PaymentParameters::from_node_id(*payee, FINAL_CLTV)
                .with_bolt11_features(features.clone())
                .expect("features");
            let route_params = RouteParameters::from_payment_params_and_value(params, AMOUNT_MSAT);
            let seed = [i as u8; 32];
            let start = Instant::now();
            let route = find_route(
                &payer,
                &route_params,
                &ng,
                None,
                &LOG,
                &scorer,
                &score_params,
                &seed,
            );
            times.push(start.elapsed());
            if let Ok(route) = route {
                found += 1;
                hops += route.paths.iter().map(|p| p.hops.len()).max().unwrap_or(0);
            }
        }
        times.sort();
        println!(
            "route finding (native, find_route + ProbabilisticScorer, {NODES} nodes, {CHANNELS} \
             channels, payer of degree {payer_degree}, {PAYEES} random payees, {} sat): median \
             {:.1} ms, p90 {:.1} ms, max {:.1} ms, found {found}/{PAYEES} (mean longest path {:.1} hops)",
            AMOUNT_MSAT / 1000,
            ms(times[PAYEES / 2]),
            ms(times[PAYEES * 9 / 10]),
            ms(times[PAYEES - 1]),
            hops as f64 / found.max(1) as f64,
        );
    }
}

fn main() {
    #[cfg(not(target_arch = "wasm32"))]
    native::main();
}
