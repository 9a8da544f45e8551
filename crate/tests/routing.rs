//! Payments through the public graph (#16 items 2 and 3): our node has private channels to
//! the LSP only, and pays nodes behind it over announced channels it learnt by P2P gossip or
//! from a Rapid Gossip Sync snapshot; several parts when no channel of ours can carry the
//! payment alone; `NO_ROUTE` with its reason otherwise (`FEE_TOO_HIGH` above `maxFeeMsat`).
//!
//! Topology ([`TestNetwork`]): us ⇢ LSP → merchant → carol (⇢ private, → announced, opened
//! by the left side; LSP→merchant 1,000,000 sat, merchant→carol 500,000 sat). ldk-node caps
//! the HTLCs in flight on a channel it accepted at 10 % of its value (100 % on the LSP, an
//! LSPS2 service), so amounts to carol stay below 50,000 sat and to the merchant below
//! 100,000 sat.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use regtest_esplora::network::TestNetwork;
use regtest_esplora::peer::{peer_exe, Chain, Peer};
use regtest_esplora::RegtestEsplora;
use serde_json::Value;
use wasm_ln::io::{
    read_optional, DynStore, MemoryStore, SCORER_PERSISTENCE_KEY,
    SCORER_PERSISTENCE_PRIMARY_NAMESPACE, SCORER_PERSISTENCE_SECONDARY_NAMESPACE,
};
use wasm_ln::{Node, PaymentDirection, PaymentStatus};

use common::native::*;
use common::{wait_until, WAIT};

/// Valid BIP39 mnemonics (test vectors) for nodes beside the one on [`MNEMONIC`].
const MNEMONIC_2: &str =
    "legal winner thank year wave sausage worth useful legal winner thank yellow";
const MNEMONIC_3: &str =
    "letter advice cage absurd amount doctor acoustic avoid letter advice cage above";

/// [`TestNetwork`] (an LSP, a merchant and carol behind it, announced channels in the LSP's
/// graph) on its chain.
struct Net {
    esplora: RegtestEsplora,
    net: TestNetwork,
}

impl std::ops::Deref for Net {
    type Target = TestNetwork;
    fn deref(&self) -> &TestNetwork {
        &self.net
    }
}

impl Net {
    async fn start() -> Net {
        let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
        let net = TestNetwork::start(&peer_exe(), &esplora).await;
        Net { esplora, net }
    }

    /// The forwarding fee `from` charges on its announced channel to `to` for `amount_msat`.
    async fn fee(&self, from: &Peer, to: &Peer, amount_msat: u64) -> u64 {
        let graph = self.lsp.get("/graph").await;
        let channel = graph["channels"]
            .as_array()
            .expect("channels")
            .iter()
            .find(|c| {
                (c["node_one"] == from.node_id.as_str() && c["node_two"] == to.node_id.as_str())
                    || (c["node_two"] == from.node_id.as_str()
                        && c["node_one"] == to.node_id.as_str())
            })
            .unwrap_or_else(|| panic!("no channel {} -> {}: {graph}", from.name, to.name))
            .clone();
        let dir: &Value = if channel["node_one"] == from.node_id.as_str() {
            &channel["one_to_two"]
        } else {
            &channel["two_to_one"]
        };
        let base = dir["fee_base_msat"].as_u64().expect("base fee");
        let ppm = dir["fee_proportional_millionths"].as_u64().expect("ppm");
        base + amount_msat * ppm / 1_000_000
    }
}

/// A funded node on its own memory store, started; `None`: P2P gossip (regtest's default).
async fn our_node(net: &Net, mnemonic: &str, rgs_url: Option<&str>) -> (Node, Arc<DynStore>) {
    let store: Arc<DynStore> = Arc::new(MemoryStore::new());
    let mut b = builder(&net.esplora, Arc::clone(&store));
    b.set_mnemonic(mnemonic, "");
    if let Some(url) = rgs_url {
        b.set_gossip_source_rgs(url);
    }
    let node = b.build().await.expect("build");
    node.start().expect("start");
    (node, store)
}

async fn stored_scorer(store: &DynStore) -> Option<Vec<u8>> {
    read_optional(
        store,
        SCORER_PERSISTENCE_PRIMARY_NAMESPACE,
        SCORER_PERSISTENCE_SECONDARY_NAMESPACE,
        SCORER_PERSISTENCE_KEY,
    )
    .await
    .expect("read the scorer")
}

/// Waits until the node's graph holds the LSP's two announced channels.
async fn wait_graph(node: &Node, what: &str) {
    wait_until(node, what, |n| n.graph_info().channels >= 2).await;
}

/// Pays `payee` `msat` through the graph; checks the fee is what the route's channels charge
/// (`expected_fee`) and that the payee got the payment.
async fn pay_through(node: &Node, payee: &Peer, msat: u64, expected_fee: u64) {
    let invoice = peer_invoice(payee, Some(msat), 600).await;
    let paid = node
        .bolt11_payment()
        .send(&invoice, None, None)
        .await
        .unwrap_or_else(|e| panic!("paying {}: {e}", payee.name));
    assert_eq!(paid.status, PaymentStatus::Succeeded);
    assert_eq!(
        paid.fee_paid_msat,
        Some(expected_fee),
        "the fee of {msat} msat to {}",
        payee.name
    );
    let got = payee.get(&format!("/payments/{}", paid.payment_hash)).await;
    assert_eq!(got["status"], "succeeded", "{got}");
    assert_eq!(got["amount_msat"], msat, "{got}");
}

#[test]
fn pays_across_two_and_three_hops() {
    run(async {
        let began = Instant::now();
        let net = Net::start().await;
        println!("network ready in {:?}", began.elapsed());

        // P2P gossip from the LSP, learnt when we connect to open our channel.
        let (node, store) = our_node(&net, MNEMONIC, None).await;
        assert_eq!(node.graph_info().channels, 0);
        fund(&net.esplora, &node, 400_000).await;
        open_channel_of(&net.esplora, &node, &net.lsp, 200_000, 0).await;
        wait_graph(&node, "the graph by P2P gossip").await;
        let info = node.status().graph;
        assert!(info.nodes >= 3 && info.rgs_synced_at.is_none(), "{info:?}");

        let scorer_before = stored_scorer(&*store).await;
        let to_merchant = 20_000_000;
        let fee = net.fee(&net.lsp, &net.merchant, to_merchant).await;
        pay_through(&node, &net.merchant, to_merchant, fee).await;
        let to_carol = 10_000_000;
        let merchant_fee = net.fee(&net.merchant, &net.carol, to_carol).await;
        let lsp_fee = net
            .fee(&net.lsp, &net.merchant, to_carol + merchant_fee)
            .await;
        pay_through(&node, &net.carol, to_carol, lsp_fee + merchant_fee).await;
        // The background processor fed the results to the scorer and wrote it.
        let deadline = Instant::now() + WAIT;
        while stored_scorer(&*store).await == scorer_before {
            assert!(
                Instant::now() < deadline,
                "the scorer was not written again"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        println!("P2P part done in {:?}", began.elapsed());

        // A node with the LSP configured dials it on start, channel or not, and so has the
        // graph before its first payment or JIT receive.
        let store3: Arc<DynStore> = Arc::new(MemoryStore::new());
        let mut b = builder(&net.esplora, store3);
        b.set_mnemonic(MNEMONIC_3, "");
        b.set_lsp(net.lsp_uri());
        let node3 = b.build().await.expect("build");
        node3.start().expect("start");
        wait_graph(&node3, "the graph from the LSP dialled on start").await;
        node3.stop().await.expect("stop");

        // A second node learns the graph from the LSP's RGS snapshot only: its gossip handler
        // ignores peers' gossip, and the graph is there before it connects to anyone.
        let rgs_url = net.rgs_url();
        let (node2, store2) = our_node(&net, MNEMONIC_2, Some(&rgs_url)).await;
        wait_until(&node2, "the graph from the RGS snapshot", |n| {
            let g = n.graph_info();
            g.channels >= 2 && g.rgs_synced_at.is_some()
        })
        .await;
        assert!(node2.list_peers().is_empty());
        let graph = node2.graph_info();
        assert!(graph.nodes >= 3, "{graph:?}");
        fund(&net.esplora, &node2, 400_000).await;
        open_channel_of(&net.esplora, &node2, &net.lsp, 200_000, 0).await;
        let fee = net.fee(&net.lsp, &net.merchant, to_merchant).await;
        pay_through(&node2, &net.merchant, to_merchant, fee).await;
        let merchant_fee = net.fee(&net.merchant, &net.carol, to_carol).await;
        let lsp_fee = net
            .fee(&net.lsp, &net.merchant, to_carol + merchant_fee)
            .await;
        pay_through(&node2, &net.carol, to_carol, lsp_fee + merchant_fee).await;

        // The graph is stored (the background processor writes it on stop) and read back; a
        // snapshot server that does not answer is only a warning.
        node2.stop().await.expect("stop");
        drop(node2);
        let mut b = builder(&net.esplora, Arc::clone(&store2));
        b.set_mnemonic(MNEMONIC_2, "")
            .set_gossip_source_rgs(format!("http://127.0.0.1:{}/", closed_port()));
        let again = b.build().await.expect("build again");
        assert_eq!(again.graph_info(), graph, "the graph read back");
        again.start().expect("start");
        tokio::time::sleep(Duration::from_secs(1)).await;
        let status = again.status();
        assert!(
            status.is_running && status.fatal_error.is_none(),
            "{status:?}"
        );
        assert_eq!(status.graph, graph);
        println!("RGS part done in {:?}", began.elapsed());
    })
}

#[test]
fn multi_path_payment() {
    run(async {
        let net = Net::start().await;
        let (node, _store) = our_node(&net, MNEMONIC, None).await;
        // Two channels and their anchor reserves.
        fund(&net.esplora, &node, 300_000).await;
        let (first, _) = open_channel_of(&net.esplora, &node, &net.lsp, 60_000, 0).await;
        let (second, _) = open_channel_of(&net.esplora, &node, &net.lsp, 50_000, 0).await;
        wait_graph(&node, "the graph by P2P gossip").await;

        let channels = node.list_channels();
        let limit = |id: &str| {
            channels
                .iter()
                .find(|c| c.channel_id == id)
                .map(|c| c.next_outbound_htlc_limit_msat)
                .expect("our channel")
        };
        let (big, small) = (
            limit(&first).max(limit(&second)),
            limit(&first).min(limit(&second)),
        );
        // More than either channel can send in one HTLC, less than both together (and than
        // the 100,000 sat the merchant lets in flight on its channel from the LSP).
        let amount = (big + small / 2) / 1000 * 1000;
        assert!(amount > big && amount < big + small && amount < 100_000_000);
        let outbound = |n: &Node| -> Vec<u64> {
            let mut v: Vec<(String, u64)> = n
                .list_channels()
                .into_iter()
                .map(|c| (c.channel_id, c.outbound_capacity_msat))
                .collect();
            v.sort();
            v.into_iter().map(|(_, o)| o).collect()
        };
        let before = outbound(&node);

        let invoice = peer_invoice(&net.merchant, Some(amount), 600).await;
        let paid = node
            .bolt11_payment()
            .send(&invoice, None, None)
            .await
            .expect("a payment larger than any one channel");
        let got = net
            .merchant
            .get(&format!("/payments/{}", paid.payment_hash))
            .await;
        assert_eq!(got["amount_msat"], amount, "{got}");
        // Both channels carried a part: each sent something, and the LSP's per-HTLC base
        // fee was paid once per part.
        let after = outbound(&node);
        assert!(
            before.iter().zip(&after).all(|(b, a)| a < b),
            "outbound before {before:?}, after {after:?}"
        );
        let base = net.fee(&net.lsp, &net.merchant, 0).await;
        let fee = paid.fee_paid_msat.expect("fee");
        assert!(fee >= 2 * base, "fee {fee} for parts of base fee {base}");
        println!("{amount} msat in parts over channels of {big} and {small} msat, fee {fee}");
    })
}

#[test]
fn no_route() {
    run(async {
        let net = Net::start().await;
        let (node, _store) = our_node(&net, MNEMONIC, None).await;
        fund(&net.esplora, &node, 400_000).await;
        open_channel_of(&net.esplora, &node, &net.lsp, 200_000, 0).await;
        wait_graph(&node, "the graph by P2P gossip").await;
        let balances = node.balances();
        let no_route = |e: wasm_ln::Error, why: &str| {
            println!("{e}");
            assert_eq!(e.code(), "NO_ROUTE", "{e}");
            assert!(e.to_string().contains(why), "{e}");
        };
        // Nothing stored as succeeded: the record says why it failed.
        let failed = |node: &Node, invoice: &str| {
            let hash = wasm_ln::payment::bolt11::decode_invoice(invoice)
                .expect("decode")
                .payment_hash;
            let p = node.payment(&hash).expect("the attempt is recorded");
            assert_eq!(
                (p.direction, p.status),
                (PaymentDirection::Outbound, PaymentStatus::Failed)
            );
            assert!(p.failure_reason.is_some_and(|r| !r.is_empty()));
        };

        // A node nobody knows: no channels, so its invoice has no route hints.
        let dave = Peer::spawn_with_args(
            &peer_exe(),
            "dave",
            Chain::Esplora(net.esplora.esplora_url()),
            &["--alias", "dave"],
        );
        let invoice = peer_invoice(&dave, Some(1_000_000), 600).await;
        let e = node
            .bolt11_payment()
            .send(&invoice, None, None)
            .await
            .expect_err("paid a node outside the graph");
        no_route(e, "not in the graph");
        failed(&node, &invoice);

        // Carol is in the graph, but the route costs more than we allow.
        let to_carol = 10_000_000;
        let merchant_fee = net.fee(&net.merchant, &net.carol, to_carol).await;
        let fee = net
            .fee(&net.lsp, &net.merchant, to_carol + merchant_fee)
            .await
            + merchant_fee;
        assert!(fee > 0);
        let invoice = peer_invoice(&net.carol, Some(to_carol), 600).await;
        let e = node
            .bolt11_payment()
            .send(&invoice, None, Some(fee - 1))
            .await
            .expect_err("paid above the fee limit");
        println!("{e}");
        assert_eq!(e.code(), "FEE_TOO_HIGH", "{e}");
        assert!(e.to_string().contains(&format!("costs {fee} msat")), "{e}");
        failed(&node, &invoice);

        // More than the path can carry (carol lets 50,000 sat in flight from the merchant),
        // though our channel could send it.
        let invoice = peer_invoice(&net.carol, Some(150_000_000), 600).await;
        let e = node
            .bolt11_payment()
            .send(&invoice, None, None)
            .await
            .expect_err("paid more than the path carries");
        no_route(e, "enough capacity");
        failed(&node, &invoice);

        assert_eq!(node.balances(), balances, "nothing left the node");
        assert!(node
            .list_payments()
            .iter()
            .all(|p| p.status != PaymentStatus::Succeeded));

        // The limit is the fee itself: at exactly the route's fee it goes through.
        let invoice = peer_invoice(&net.carol, Some(to_carol), 600).await;
        let paid = node
            .bolt11_payment()
            .send(&invoice, None, Some(fee))
            .await
            .expect("a payment at the fee limit");
        assert_eq!(paid.fee_paid_msat, Some(fee));
    })
}

/// A snapshot LDK refuses is a warning (as is a server that does not answer, in
/// `pays_across_two_and_three_hops`): the node runs on and asks again next round.
#[test]
fn rgs_failures_are_warnings() {
    run(async {
        use std::io::{Read, Write};
        let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
        // A server on its own thread: the node's thread must not block.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/snapshot/", listener.local_addr().expect("addr"));
        let requests = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let seen = Arc::clone(&requests);
        std::thread::spawn(move || {
            // Not a snapshot (the next round is an hour away).
            let answer = "HTTP/1.1 200 OK\r\ncontent-length: 7\r\nconnection: close\r\n\r\ngarbage";
            let Ok((mut s, _)) = listener.accept() else {
                return;
            };
            let mut buf = vec![0; 4096];
            let n = s.read(&mut buf).unwrap_or(0);
            let line = String::from_utf8_lossy(&buf[..n])
                .lines()
                .next()
                .unwrap_or_default()
                .to_string();
            seen.lock().expect("lock").push(line);
            let _ = s.write_all(answer.as_bytes());
        });
        let mut b = builder(&esplora, Arc::new(MemoryStore::new()));
        b.set_gossip_source_rgs(&url);
        let node = b.build().await.expect("build");
        node.start().expect("start");
        let deadline = Instant::now() + WAIT;
        while requests.lock().expect("lock").is_empty() {
            assert!(Instant::now() < deadline, "no snapshot request");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // No snapshot applied yet: the first query asks for everything since 0.
        assert_eq!(
            requests.lock().expect("lock")[0],
            "GET /snapshot/0 HTTP/1.1"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let status = node.status();
        assert!(
            status.is_running && status.fatal_error.is_none(),
            "{status:?}"
        );
        assert_eq!(status.graph.channels, 0);
        assert_eq!(status.graph.rgs_synced_at, None);
        node.stop().await.expect("stop");
    })
}
