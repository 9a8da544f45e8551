//! Force closes under faults (#14): a sweep after a force close with an HTLC still on the
//! commitment, a peer that broadcasts a revoked commitment, and a background task that dies.
//! Against bitcoind behind regtest-esplora and the ldk-node peer (build it first with
//! `cargo build -p peer`).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::native::*;
use common::{wait_usable, WAIT};
use lightning::util::async_poll::AsyncResult;
use regtest_esplora::peer::{
    mempool_txids, peer_exe, wait_mempool, wait_mempool_settled, Chain, Peer,
};
use regtest_esplora::RegtestEsplora;
use serde_json::json;
use wasm_ln::bitcoin::{Transaction, Txid};
use wasm_ln::chain::esplora::EsploraChainSource;
use wasm_ln::io::{
    DynStore, FilesystemStore, KVStore, MemoryStore, BDK_WALLET_CHANGESET_KEY,
    BDK_WALLET_PERSISTENCE_PRIMARY_NAMESPACE, CHANNEL_MANAGER_PERSISTENCE_KEY,
    CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
};
use wasm_ln::Node;

/// A store directory removed when the test ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("wasm-ln-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }

    fn store(&self) -> Arc<DynStore> {
        Arc::new(FilesystemStore::new(&self.0).expect("store"))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn chain(esplora: &RegtestEsplora) -> EsploraChainSource {
    EsploraChainSource::new(esplora.esplora_url()).expect("client")
}

async fn tx(esplora: &RegtestEsplora, txid: &Txid) -> Transaction {
    chain(esplora)
        .client()
        .get_tx(txid)
        .await
        .expect("tx")
        .expect("known tx")
}

/// The confirmed transaction spending `txid:vout`, and its fee.
async fn spender(esplora: &RegtestEsplora, txid: &Txid, vout: usize) -> (Txid, u64) {
    spender_fee(esplora, &format!("{txid}:{vout}")).await
}

/// The commitment transaction that closed the channel funded by `funding` (`txid:vout`),
/// and its fee.
async fn commitment(esplora: &RegtestEsplora, funding: &str) -> (Transaction, u64) {
    let (txid, fee) = spender_fee(esplora, funding).await;
    (tx(esplora, &txid).await, fee)
}

/// Mines a block at a time (syncing the node) until `done` holds.
async fn mine_until(
    esplora: &RegtestEsplora,
    node: &Node,
    what: &str,
    done: impl Fn(&Node) -> bool,
) {
    let deadline = Instant::now() + WAIT;
    loop {
        let _ = node.sync().await;
        if done(node) {
            return;
        }
        assert!(
            node.status().fatal_error.is_none(),
            "{what}: the node failed: {:?}",
            node.status()
        );
        assert!(
            Instant::now() < deadline,
            "{what}: balances {:?}",
            node.balances()
        );
        esplora.mine(1).await.expect("mine");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// An anchor channel's commitment carries two anchor outputs of 330 sat, paid by the funder
/// (us); nobody sweeps the peer's, and ours only when it pays for our own commitment.
const ANCHOR_SAT: u64 = 330;

/// Our output of a force-closed channel's commitment, its vout and value: every sat of the
/// channel is on the commitment, and ours (the largest output) is the channel less the
/// `paid` sat that went to the peer (its output, or still the HTLC's), the fee we paid as
/// funder and the two anchors.
fn our_output(commit: &Transaction, commit_fee: u64, paid: u64) -> (usize, u64) {
    let total: u64 = commit.output.iter().map(|o| o.value.to_sat()).sum();
    assert_eq!(total + commit_fee, CHANNEL);
    let (vout, ours) = commit
        .output
        .iter()
        .enumerate()
        .max_by_key(|(_, o)| o.value)
        .map(|(i, o)| (i, o.value.to_sat()))
        .expect("outputs");
    assert_eq!(ours, CHANNEL - paid - commit_fee - 2 * ANCHOR_SAT);
    (vout, ours)
}

/// Mines until our output of `commit` is swept and nothing is left to claim; the wallet then
/// holds `before` plus that output less the sweep's fee, to the sat.
async fn assert_swept(
    esplora: &RegtestEsplora,
    node: &Node,
    what: &str,
    commit: &Transaction,
    (vout, ours): (usize, u64),
    before: u64,
) {
    mine_until(esplora, node, what, |n| {
        n.onchain().balance().confirmed_sat > before && n.balances().claimable.is_empty()
    })
    .await;
    let (_, sweep_fee) = spender(esplora, &commit.compute_txid(), vout).await;
    assert_eq!(
        node.onchain().balance().confirmed_sat,
        before + ours - sweep_fee,
        "{what}: every sat of our output back, less the sweep's fee ({sweep_fee})"
    );
}

/// Mines until the mempool is empty and the wallet has synced every block, twice a second
/// apart: a CPFP child is signed by the wallet but only enters its balance once a sync finds
/// it, and it may go out after the block that confirms its commitment (CI once counted the
/// balance before the wallet saw the child, and missed its fee at the end).
async fn settle(esplora: &RegtestEsplora, node: &Node) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + WAIT;
    let mut quiet = 0;
    while quiet < 2 {
        assert!(Instant::now() < deadline, "the mempool never emptied");
        tokio::time::sleep(Duration::from_secs(1)).await;
        let _ = node.sync().await;
        if mempool_txids(&http, esplora).await.is_empty()
            && node.onchain().balance().unconfirmed_sat == 0
        {
            quiet += 1;
        } else {
            quiet = 0;
            esplora.mine(1).await.expect("mine");
        }
    }
}

fn funding_of(node: &Node, channel_id: &str) -> String {
    node.list_channels()
        .into_iter()
        .find(|c| c.channel_id == channel_id)
        .and_then(|c| c.funding_txo)
        .expect("funding outpoint")
}

/// The peer's `user_channel_id` for the channel funded by `funding` (`txid:vout`).
async fn peer_channel(peer: &Peer, funding: &str) -> serde_json::Value {
    let (txid, vout) = funding.split_once(':').expect("outpoint");
    let channels = peer.get("/channels").await;
    channels
        .as_array()
        .expect("channels")
        .iter()
        .find(|c| c["funding_txid"] == txid && c["funding_vout"].as_u64() == vout.parse().ok())
        .unwrap_or_else(|| panic!("the peer has no channel {funding}: {channels}"))
        ["user_channel_id"]
        .clone()
}

/// #14 item 12. We pay and force-close at once, while the payment's HTLC may still be on our
/// commitment: our output comes back to the wallet to the sat (the commitment's and the
/// sweep's fees aside). Then the peer force-closes a second channel while we are stopped,
/// and after a restart those funds come back too.
#[test]
fn force_close_right_after_payment() {
    run(async {
        let started = Instant::now();
        let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
        let peer = Peer::spawn(&peer_exe(), "peer", Chain::Esplora(esplora.esplora_url()));
        let dir = TempDir::new("fc-after-payment");
        let node = start(&esplora, dir.store()).await;
        fund(&esplora, &node, FUND).await;

        // 1. Pay, and force-close at once.
        const PAID: u64 = 40_000;
        let (channel_id, _) = open_channel(&esplora, &node, &peer, 0).await;
        let funding = funding_of(&node, &channel_id);
        pay_peer(&node, &peer, PAID * 1000).await;
        node.force_close_channel(&channel_id)
            .await
            .expect("force close");
        // The commitment, and the child paying its fee if LDK adds one.
        wait_mempool_settled(&esplora).await;
        esplora.mine(1).await.expect("mine");
        let (commit, commit_fee) = commitment(&esplora, &funding).await;
        // The wallet paid for the commitment (CPFP through our anchor): count from after it.
        settle(&esplora, &node).await;
        let before = node.onchain().balance().confirmed_sat;
        println!(
            "our commitment: {} outputs {:?}",
            commit.compute_txid(),
            commit
                .output
                .iter()
                .map(|o| o.value.to_sat())
                .collect::<Vec<_>>()
        );
        let ours = our_output(&commit, commit_fee, PAID);
        // Our output waits for the peer's to_self_delay, then is swept.
        assert_swept(&esplora, &node, "our output swept", &commit, ours, before).await;

        // 2. The peer force-closes a second channel while we are stopped.
        let (channel_id, _) = open_channel(&esplora, &node, &peer, 0).await;
        let funding = funding_of(&node, &channel_id);
        pay_peer(&node, &peer, PAID * 1000).await;
        let ucid = peer_channel(&peer, &funding).await;
        let our_id = node.node_id().to_string();
        let before_restart = node.onchain().balance().confirmed_sat;
        node.stop().await.expect("stop");
        drop(node);
        peer.post(
            "/channels/close",
            json!({"user_channel_id": ucid, "counterparty_node_id": our_id, "force": true}),
        )
        .await;
        wait_mempool(&esplora, None).await;
        esplora.mine(1).await.expect("mine");
        let node = start(&esplora, dir.store()).await;
        let (commit, commit_fee) = commitment(&esplora, &funding).await;
        let ours = our_output(&commit, commit_fee, PAID);
        assert_swept(
            &esplora,
            &node,
            "the peer's close swept",
            &commit,
            ours,
            before_restart,
        )
        .await;
        assert!(node.status().fatal_error.is_none(), "{:?}", node.status());
        println!(
            "force_close_right_after_payment took {:.1} s",
            started.elapsed().as_secs_f64()
        );
        node.stop().await.expect("stop");
    });
}

/// #14, proof under faults: the peer is restarted on an old copy of its storage and
/// force-closes, broadcasting a commitment we revoked since. Our node (offline meanwhile, as a
/// browser node mostly is) punishes it when it starts: the justice transaction takes the
/// peer's output, our own output is swept, and the whole channel comes back to our wallet,
/// to the sat, less the commitment's, the justice transaction's and the sweep's fees.
#[test]
fn breach_is_punished() {
    run(async {
        let started = Instant::now();
        let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
        let mut peer = Peer::spawn(&peer_exe(), "peer", Chain::Esplora(esplora.esplora_url()));
        let dir = TempDir::new("breach");
        let node = start(&esplora, dir.store()).await;
        fund(&esplora, &node, FUND).await;
        let (channel_id, _) = open_channel(&esplora, &node, &peer, 0).await;
        let funding = funding_of(&node, &channel_id);

        // The peer gets 135,000 sat (each payment below its 10 % in-flight limit).
        const STEP: u64 = 45_000;
        // (Inbound capacity: the peer's side less its 1 % reserve.)
        for k in 1..=3 {
            pay_peer(&node, &peer, STEP * 1000).await;
            wait_inbound(&node, (k * STEP - 5_000) * 1000).await;
        }
        let revoked_peer_sat = 3 * STEP;
        // Let the last commitment update finish on both sides before the copy.
        tokio::time::sleep(Duration::from_secs(1)).await;
        peer.stop();
        let old_state = peer.snapshot();
        peer.start();

        // Balance moves both ways on the new state: the peer pays us 90,000, we pay 10,000.
        wait_usable(&node, "reconnected to the peer", &channel_id).await;
        for _ in 0..2 {
            let ours = node
                .bolt11_payment()
                .receive(STEP * 1000, "back", 600)
                .await
                .expect("invoice");
            peer.post("/pay", json!({ "invoice": ours.invoice })).await;
            received(&node, STEP * 1000).await;
        }
        pay_peer(&node, &peer, 10_000_000).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let ucid = peer_channel(&peer, &funding).await;
        let our_id = node.node_id().to_string();
        node.stop().await.expect("stop");
        let before = node.onchain().balance().confirmed_sat;
        drop(node);

        // The peer comes back on the old state and force-closes: it broadcasts the commitment
        // that gave it 135,000 sat, which we have revoked.
        peer.stop();
        peer.restore(&old_state);
        peer.start();
        peer.post(
            "/channels/close",
            json!({"user_channel_id": ucid, "counterparty_node_id": our_id, "force": true}),
        )
        .await;
        wait_mempool(&esplora, None).await;
        esplora.mine(1).await.expect("mine");
        let (commit, commit_fee) = commitment(&esplora, &funding).await;
        let values: Vec<u64> = commit.output.iter().map(|o| o.value.to_sat()).collect();
        println!(
            "the revoked commitment {}: outputs {values:?}",
            commit.compute_txid()
        );
        assert_eq!(values.iter().sum::<u64>() + commit_fee, CHANNEL);
        assert!(
            values.contains(&revoked_peer_sat),
            "the old state's outputs: {values:?}"
        );

        // We start: the justice transaction and the sweep bring everything home.
        let node = start(&esplora, dir.store()).await;
        let outputs = commit.output.len();
        let txid = commit.compute_txid();
        let deadline = Instant::now() + WAIT;
        let mut fees;
        'settle: loop {
            let _ = node.sync().await;
            assert!(node.status().fatal_error.is_none(), "{:?}", node.status());
            assert!(
                Instant::now() < deadline,
                "not settled: {:?}",
                node.balances()
            );
            if node.balances().claimable.is_empty() {
                let chain = chain(&esplora);
                fees = 0;
                for vout in 0..outputs {
                    if commit.output[vout].value.to_sat() == ANCHOR_SAT {
                        continue; // anchors: nobody needs to spend them
                    }
                    let status = chain
                        .client()
                        .get_output_status(&txid, vout as u64)
                        .await
                        .expect("outspend");
                    match status.and_then(|s| s.status.filter(|s| s.confirmed).and(s.txid)) {
                        Some(_) => fees += spender(&esplora, &txid, vout).await.1,
                        None => {
                            esplora.mine(1).await.expect("mine");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            continue 'settle;
                        }
                    }
                }
                if node.onchain().balance().confirmed_sat
                    == before + CHANNEL - commit_fee - 2 * ANCHOR_SAT - fees
                {
                    break;
                }
            }
            esplora.mine(1).await.expect("mine");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let gained = node.onchain().balance().confirmed_sat - before;
        println!(
            "breach punished: {gained} sat back of the {CHANNEL} sat channel; commitment fee \
             {commit_fee}, justice and sweep fees {fees}; took {:.1} s",
            started.elapsed().as_secs_f64()
        );
        assert_eq!(gained, CHANNEL - commit_fee - 2 * ANCHOR_SAT - fees);
        assert_eq!(node.balances().lightning_msat, 0);
        node.stop().await.expect("stop");
    });
}

/// A store that panics on the first write of one key once armed: a stand-in for any bug
/// that panics inside one of the node's background tasks.
struct PanickyStore {
    inner: MemoryStore,
    key: (&'static str, &'static str),
    armed: AtomicBool,
}

impl KVStore for PanickyStore {
    fn read(
        &self,
        p: &str,
        s: &str,
        k: &str,
    ) -> AsyncResult<'static, Vec<u8>, lightning::io::Error> {
        KVStore::read(&self.inner, p, s, k)
    }

    fn write(
        &self,
        p: &str,
        s: &str,
        k: &str,
        buf: Vec<u8>,
    ) -> AsyncResult<'static, (), lightning::io::Error> {
        if (p, k) == self.key && self.armed.swap(false, Ordering::AcqRel) {
            panic!("test: the disk caught fire writing {p}/{k}");
        }
        KVStore::write(&self.inner, p, s, k, buf)
    }

    fn remove(
        &self,
        p: &str,
        s: &str,
        k: &str,
        lazy: bool,
    ) -> AsyncResult<'static, (), lightning::io::Error> {
        KVStore::remove(&self.inner, p, s, k, lazy)
    }

    fn list(&self, p: &str, s: &str) -> AsyncResult<'static, Vec<String>, lightning::io::Error> {
        KVStore::list(&self.inner, p, s)
    }
}

/// #14 item 12: a background task that panics (natively tokio ends only that task) stops the
/// node with an error: `status().fatal_error` names the task and the panic, and every later
/// call fails with `INTERNAL`. Without supervision the node went on half alive: no
/// background processor (no persistence, no sweeps), nothing reported.
#[test]
fn a_panicking_background_task_stops_the_node() {
    run(async {
        let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
        for (key, task) in [
            (
                (
                    CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
                    CHANNEL_MANAGER_PERSISTENCE_KEY,
                ),
                "background processor",
            ),
            (
                (
                    BDK_WALLET_PERSISTENCE_PRIMARY_NAMESPACE,
                    BDK_WALLET_CHANGESET_KEY,
                ),
                "sync loop",
            ),
        ] {
            let store = Arc::new(PanickyStore {
                inner: MemoryStore::new(),
                key,
                armed: AtomicBool::new(false),
            });
            let node = builder(&esplora, Arc::clone(&store) as Arc<DynStore>)
                .build()
                .await
                .expect("build");
            store.armed.store(true, Ordering::Release);
            node.start().expect("start");
            // The first sync moves the chain tip: the wallet and the channel manager are
            // written, and one of them panics.
            let deadline = Instant::now() + WAIT;
            while node.status().fatal_error.is_none() {
                assert!(
                    Instant::now() < deadline,
                    "{task}: the panic went unnoticed: {:?}",
                    node.status()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let why = node.status().fatal_error.expect("fatal error");
            println!("{task}: {why}");
            assert!(why.contains(task), "{why}");
            assert!(why.contains("the disk caught fire"), "{why}");
            let err = node.sync().await.unwrap_err();
            assert_eq!(err.code(), "INTERNAL", "{err}");
            assert!(err.to_string().contains("caught fire"), "{err}");
            let err = node
                .bolt11_payment()
                .receive(1_000, "after the panic", 600)
                .await
                .unwrap_err();
            assert_eq!(err.code(), "INTERNAL", "{err}");
            let _ = node.stop().await;
        }
    });
}
