//! Storage faults against the real thing (bitcoind behind regtest-esplora, an ldk-node peer):
//! a node cut off its storage mid-flow, as a killed tab is, and a store that refuses monitor
//! writes for a while, as an exhausted quota does (#14 item 7 and `crash_at_every_write`).
#![cfg(not(target_arch = "wasm32"))]
// Stores are `!Send` without LDK's `std` (DESIGN.md §6); the tests run on one thread.
#![allow(clippy::arc_with_non_send_sync)]

mod common;

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::native::*;
use common::{wait_until, wait_usable, Snapshot, WAIT};
use regtest_esplora::peer::{peer_exe, wait_mempool, Chain, Peer};
use regtest_esplora::RegtestEsplora;
use serde_json::{json, Value};
use wasm_ln::chain::esplora::EsploraChainSource;
use wasm_ln::io::{DynStore, FencedStore, MemoryStore};
use wasm_ln::{Event, Node, PaymentDirection, PaymentStatus};

/// We pay the peer this (below its 10 % in-flight cap on our 500,000 sat channel).
const OUT_MSAT: u64 = 30_000_000;
/// The peer pays us this.
const IN_MSAT: u64 = 10_000_000;

/// Acknowledges every queued event: a restarted node delivers again what its predecessor
/// never acknowledged, and the helpers must not take a stale event for a new one.
async fn drain_events(node: &Node) {
    while let Some(e) = node.next_event() {
        node.event_handled(e.id).await.expect("event_handled");
    }
}

/// Where one run of the flow got to (filled in before each step's first write).
#[derive(Debug, Default)]
struct Flow {
    channel_id: String,
    funding_txo: String,
    /// The peer's invoice we pay.
    out_hash: Option<String>,
    /// Our invoice the peer pays, and the peer's payment id.
    /// Set before the peer is asked to pay: a cut may drop the flow while the request is
    /// under way, and the peer may pay all the same.
    in_hash: Option<String>,
    /// `close_channel` was called.
    closing: bool,
}

/// A payment to the peer, one from the peer, a cooperative close: the flow under test. An
/// error is the test's failure unless the node was cut off meanwhile.
async fn run_flow(node: &Node, peer: &Peer, flow: &RefCell<Flow>) -> Result<(), String> {
    let inv = peer
        .post(
            "/invoice",
            json!({"description": "crash", "amount_msat": OUT_MSAT, "expiry_secs": 3600}),
        )
        .await;
    flow.borrow_mut().out_hash = Some(inv["payment_hash"].as_str().expect("hash").into());
    let paid = node
        .bolt11_payment()
        .send(inv["invoice"].as_str().expect("invoice"), None, None)
        .await
        .map_err(|e| format!("pay the peer: {e}"))?;
    assert_eq!(paid.status, PaymentStatus::Succeeded);
    pay_in(node, peer, flow).await?;
    close(node, flow).await;
    Ok(())
}

async fn pay_in(node: &Node, peer: &Peer, flow: &RefCell<Flow>) -> Result<(), String> {
    wait_inbound(node, IN_MSAT).await;
    let ours = node
        .bolt11_payment()
        .receive(IN_MSAT, "crash", 3600)
        .await
        .map_err(|e| format!("invoice: {e}"))?;
    flow.borrow_mut().in_hash = Some(ours.payment_hash.clone());
    peer.post("/pay", json!({"invoice": ours.invoice})).await;
    wait_until(node, "payment from the peer", |n| {
        n.payment(&ours.payment_hash).map(|p| p.status) == Some(PaymentStatus::Succeeded)
    })
    .await;
    Ok(())
}

async fn close(node: &Node, flow: &RefCell<Flow>) {
    let channel_id = flow.borrow().channel_id.clone();
    flow.borrow_mut().closing = true;
    if let Err(e) = node.close_channel(&channel_id).await {
        // Already shutting down (the close was under way when the previous node went).
        println!("close_channel: {e}");
    }
    wait_until(node, "channel closed", |n| {
        !n.list_channels().iter().any(|c| c.channel_id == channel_id)
    })
    .await;
}

/// The status the peer gives payment `id`, or the inbound payment of `hash`, once final.
async fn peer_final_status(peer: &Peer, pick: impl Fn(&Value) -> bool) -> Option<String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let payments = peer.get("/payments").await;
        let found = payments
            .as_array()
            .expect("payments")
            .iter()
            .find(|p| pick(p))
            .map(|p| p["status"].as_str().expect("status").to_string());
        match found.as_deref() {
            Some("pending") if Instant::now() < deadline => {}
            _ => return found,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The status the peer gives the first payment `pick` accepts, now.
async fn peer_status(peer: &Peer, pick: impl Fn(&Value) -> bool) -> Option<String> {
    let payments = peer.get("/payments").await;
    payments
        .as_array()
        .expect("payments")
        .iter()
        .find(|p| pick(p))
        .map(|p| p["status"].as_str().expect("status").to_string())
}

/// Our record of the payment of `hash` in `direction`, once final (`None`: none was made).
async fn our_final_status(
    node: &Node,
    hash: &str,
    direction: PaymentDirection,
) -> Option<PaymentStatus> {
    let deadline = Instant::now() + WAIT;
    loop {
        let status = node
            .list_payments()
            .into_iter()
            .find(|p| p.payment_hash == hash && p.direction == direction)
            .map(|p| p.status);
        if status != Some(PaymentStatus::Pending) || Instant::now() > deadline {
            return status;
        }
        let _ = node.sync().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Finishes the flow on a (maybe restarted) node and checks that every sat is accounted
/// for: each payment settled the same way on both sides, and the cooperative close paid us
/// the channel less what we paid, plus what we were paid, less the closing fee, to the sat.
/// `base` is the wallet's confirmed balance with the channel open.
async fn finish_and_check(
    esplora: &RegtestEsplora,
    node: &Node,
    peer: &Peer,
    flow: &RefCell<Flow>,
    base: u64,
    what: &str,
) {
    let channel_id = flow.borrow().channel_id.clone();
    let listed = |n: &Node| n.list_channels().iter().any(|c| c.channel_id == channel_id);
    if !flow.borrow().closing {
        // The channel is still there: no force close.
        assert!(
            listed(node),
            "{what}: the channel is gone after the restart: {:?}",
            node.list_channels()
        );
    }
    // It comes back to life (or a shutdown under way completes once the peer is back).
    wait_until(node, "channel usable again, or closed", |n| {
        n.list_channels()
            .iter()
            .all(|c| c.channel_id != channel_id || c.is_usable)
    })
    .await;
    // The payment to the peer: finished or failed, the same on both sides.
    let out_hash = flow.borrow().out_hash.clone();
    let mut out_ok = false;
    if let Some(hash) = &out_hash {
        let ours = our_final_status(node, hash, PaymentDirection::Outbound).await;
        let is_ours = |p: &Value| p["direction"] == "inbound" && p["payment_hash"] == hash.as_str();
        let theirs = if ours == Some(PaymentStatus::Succeeded) {
            peer_final_status(peer, is_ours).await
        } else {
            // Failed (or never sent): the invoice stays unpaid at the peer.
            peer_status(peer, is_ours).await
        };
        println!("{what}: payment to the peer: ours {ours:?}, theirs {theirs:?}");
        assert_ne!(ours, Some(PaymentStatus::Pending), "{what}: stays pending");
        out_ok = theirs.as_deref() == Some("succeeded");
        assert_eq!(
            out_ok,
            ours == Some(PaymentStatus::Succeeded),
            "{what}: we and the peer disagree on the payment"
        );
    }
    if !out_ok && !flow.borrow().closing {
        // It failed cleanly: the flow goes on with a new one.
        let paid = pay_peer(node, peer, OUT_MSAT).await;
        assert_eq!(paid.status, PaymentStatus::Succeeded);
        out_ok = true;
    }
    let in_hash = flow.borrow().in_hash.clone();
    // The peer's payment of our invoice, once it has recorded it (a request the cut dropped
    // may still be handled a moment later).
    let peer_paying = |hash: &str| {
        let hash = hash.to_string();
        move |p: &Value| p["payment_hash"] == hash.as_str() && p["direction"] == "outbound"
    };
    let mut theirs_seen = false;
    if let Some(hash) = &in_hash {
        let deadline = Instant::now() + Duration::from_secs(3);
        while !theirs_seen && Instant::now() < deadline {
            theirs_seen = peer_status(peer, peer_paying(hash)).await.is_some();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let in_ok = match &in_hash {
        // The cut dropped the request before the peer saw it: nothing was paid.
        Some(_) if !theirs_seen && !flow.borrow().closing => {
            pay_in(node, peer, flow).await.expect("pay_in");
            true
        }
        Some(_) if !theirs_seen => false,
        Some(hash) => {
            let theirs = peer_final_status(peer, peer_paying(hash)).await;
            let ours = our_final_status(node, hash, PaymentDirection::Inbound).await;
            println!("{what}: payment from the peer: ours {ours:?}, theirs {theirs:?}");
            let ok = theirs.as_deref() == Some("succeeded");
            assert_eq!(
                ok,
                ours == Some(PaymentStatus::Succeeded),
                "{what}: we and the peer disagree on the payment to us"
            );
            ok
        }
        None if !flow.borrow().closing => {
            pay_in(node, peer, flow).await.expect("pay_in");
            true
        }
        None => false,
    };
    if node
        .list_channels()
        .iter()
        .any(|c| c.channel_id == channel_id)
    {
        close(node, flow).await;
    }
    wait_mempool(esplora, None).await;
    esplora.mine(6).await.expect("mine");
    let funding = flow.borrow().funding_txo.clone();
    let (close_txid, close_fee) = spender_fee(esplora, &funding).await;
    let chain = EsploraChainSource::new(esplora.esplora_url()).expect("client");
    let tx = chain
        .client()
        .get_tx(&close_txid)
        .await
        .expect("closing tx")
        .expect("known");
    // A cooperative close: no relative lock, no commitment number in the sequence.
    assert_eq!(
        tx.input[0].sequence.0, 0xFFFF_FFFF,
        "{what}: the channel was force-closed: {tx:?}"
    );
    let ours_sat =
        CHANNEL - if out_ok { OUT_MSAT / 1000 } else { 0 } + if in_ok { IN_MSAT / 1000 } else { 0 };
    let mut outputs: Vec<u64> = tx.output.iter().map(|o| o.value.to_sat()).collect();
    outputs.sort_unstable();
    let mut expected = vec![ours_sat - close_fee, CHANNEL - ours_sat];
    expected.sort_unstable();
    assert_eq!(
        outputs, expected,
        "{what}: closing outputs (fee {close_fee})"
    );
    wait_until(node, "close settles in the wallet", |n| {
        n.onchain().balance().confirmed_sat == base + ours_sat - close_fee
    })
    .await;
}

/// Waits until the fence closed by itself.
async fn fenced(fence: &FencedStore) {
    while !fence.is_closed() {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Opens a channel on `node` and returns the flow's starting point and the wallet's
/// confirmed balance with the channel open.
async fn open(esplora: &RegtestEsplora, node: &Node, peer: &Peer) -> (RefCell<Flow>, u64) {
    drain_events(node).await;
    let before = node.onchain().balance().confirmed_sat;
    let (channel_id, open_fee) = open_channel(esplora, node, peer, 0).await;
    let funding_txo = node
        .list_channels()
        .into_iter()
        .find(|c| c.channel_id == channel_id)
        .and_then(|c| c.funding_txo)
        .expect("funding");
    let base = before - CHANNEL - open_fee;
    wait_until(node, "change confirmed", |n| {
        n.onchain().balance().confirmed_sat == base
    })
    .await;
    let flow = Flow {
        channel_id,
        funding_txo,
        ..Flow::default()
    };
    (RefCell::new(flow), base)
}

/// Cut after every fourth write by default: the flow writes about 55 times (each monitor
/// update, the channel manager before and after it, payment records, events) and a cut costs
/// about 4 s (a new channel, the flow, a restart, the close), so every write would take about
/// 4 minutes of a CI budget of 20 for everything. A stride of 4 still lands before, between
/// and after monitor updates in every step (the writes repeat with period 2 or 3), and keeps
/// the channels this peer sees under 20: its fee floor follows bitcoind's estimator, which
/// our closes push up, and around the 20th channel it refused our commitment fee. Every write
/// passed, in runs of at most 20 cuts: `CRASH_AT_EVERY=1` (or `CRASH_AT=23,24,26`).
fn crash_points(writes: u64) -> Vec<u64> {
    if let Ok(list) = std::env::var("CRASH_AT") {
        return list
            .split(',')
            .filter(|n| !n.trim().is_empty())
            .map(|n| n.trim().parse().expect("CRASH_AT: numbers"))
            .collect();
    }
    let step = std::env::var("CRASH_AT_EVERY")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4u64);
    (1..=writes).step_by(step.max(1) as usize).collect()
}

#[test]
fn crash_at_every_write() {
    run(async {
        let started = Instant::now();
        let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
        // One fee rate for every target. The peer takes its fee floor from bitcoind's
        // estimator, which starts answering after a few hundred blocks of our transactions;
        // with the default table our commitments (5 sat/vB) fell below it at the 24th channel
        // and the peer force-closed at open.
        let flat = [1, 2, 3, 6, 12, 144, 1008]
            .map(|target| (target, 12.0))
            .into();
        esplora.set_fee_estimates(&flat).await.expect("fee table");
        let peer = Peer::spawn(&peer_exe(), "peer", Chain::Esplora(esplora.esplora_url()));
        // The storage that outlives every node; each node writes through its own fence.
        let disk: Arc<DynStore> = Arc::new(MemoryStore::new());
        let mut fence = Arc::new(FencedStore::new(Arc::clone(&disk)));
        let mut node = start(&esplora, Arc::clone(&fence) as Arc<DynStore>).await;
        fund(&esplora, &node, 2 * FUND).await;

        // Count the flow's writes once, uncut.
        let (flow, base) = open(&esplora, &node, &peer).await;
        fence.start_recording();
        run_flow(&node, &peer, &flow).await.expect("uncut flow");
        let log = fence.take_recording();
        finish_and_check(&esplora, &node, &peer, &flow, base, "uncut").await;
        println!("the flow writes {} times:", log.len());
        for (i, w) in log.iter().enumerate() {
            println!("  {:>3} {w}", i + 1);
        }
        let points = crash_points(log.len() as u64);
        println!(
            "counted in {:.1} s; cutting after writes {points:?}",
            started.elapsed().as_secs_f64()
        );

        for n in points {
            let t = Instant::now();
            let what = format!("cut after write {n}");
            let (flow, base) = open(&esplora, &node, &peer).await;
            fence.close_after(n);
            let cut = tokio::select! {
                // The node may see its store closed (a failed write) before this test does.
                r = run_flow(&node, &peer, &flow) => match r {
                    Err(_) if fence.is_closed() => true,
                    r => {
                        r.unwrap_or_else(|e| panic!("{what}: {e}"));
                        false
                    }
                },
                () = fenced(&fence) => true,
            };
            if cut {
                // The tab is gone: nothing of this node runs on.
                drop(node);
                tokio::time::sleep(Duration::from_millis(100)).await;
                fence = Arc::new(FencedStore::new(Arc::clone(&disk)));
                node = start(&esplora, Arc::clone(&fence) as Arc<DynStore>).await;
            }
            // Not cut (the flow wrote less this time): no cut in the next run either.
            fence.set_closed(false);
            println!("{what}: {flow:?}");
            finish_and_check(&esplora, &node, &peer, &flow, base, &what).await;
            println!("{what}: done in {:.1} s", t.elapsed().as_secs_f64());
        }
        println!(
            "crash_at_every_write took {:.1} s",
            started.elapsed().as_secs_f64()
        );
        node.stop().await.expect("stop");
    });
}

#[test]
fn failed_monitor_write_pauses_payments_until_it_succeeds() {
    run(async {
        let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
        let peer = Peer::spawn(&peer_exe(), "peer", Chain::Esplora(esplora.esplora_url()));
        let disk: Arc<DynStore> = Arc::new(MemoryStore::new());
        let fence = Arc::new(FencedStore::new(Arc::clone(&disk)));
        let node = start(&esplora, Arc::clone(&fence) as Arc<DynStore>).await;
        fund(&esplora, &node, FUND).await;
        let (channel_id, _) = open_channel(&esplora, &node, &peer, 0).await;
        assert_eq!(node.status().degraded, None);

        // The quota is exhausted for channel state: the payment's first monitor update fails.
        fence.set_failing_namespaces(&["monitors", "monitor_updates"]);
        let inv = peer
            .post(
                "/invoice",
                json!({"description": "quota", "amount_msat": OUT_MSAT, "expiry_secs": 3600}),
            )
            .await;
        let hash = inv["payment_hash"].as_str().expect("hash").to_string();
        let bolt11 = node.bolt11_payment();
        let pay = bolt11.send(inv["invoice"].as_str().expect("invoice"), None, None);
        let check =
            async {
                let ev = wait_event(&node, "StorageDegraded", |e| {
                    matches!(e, Event::StorageDegraded { .. })
                })
                .await;
                println!("{ev:?}");
                let why = node.status().degraded.expect("status().degraded");
                assert!(why.contains("monitor"), "{why}");
                // New payments and channels are refused with a typed error meanwhile.
                let err = node
                    .spontaneous_payment()
                    .send(&peer.node_id, 1_000_000, None)
                    .await
                    .unwrap_err();
                assert_eq!(err.code(), "STORAGE_UNAVAILABLE", "{err}");
                let inv2 = peer_invoice(&peer, Some(1_000_000), 600).await;
                let err = node
                    .bolt11_payment()
                    .send(&inv2, None, None)
                    .await
                    .unwrap_err();
                assert_eq!(err.code(), "STORAGE_UNAVAILABLE", "{err}");
                let err = node
                    .open_channel(&peer.uri(), 100_000, 0)
                    .await
                    .unwrap_err();
                assert_eq!(err.code(), "STORAGE_UNAVAILABLE", "{err}");
                // The channel is paused: nothing reached the peer while the update is not saved.
                tokio::time::sleep(Duration::from_secs(2)).await;
                let theirs = peer.get("/payments").await;
                assert!(
                    !theirs.as_array().expect("payments").iter().any(|p| {
                        p["payment_hash"] == hash.as_str() && p["status"] == "succeeded"
                    }),
                    "paid before the update was saved: {theirs}"
                );
                assert!(node.status().degraded.is_some());
                // The store takes writes again: the retry goes through, the channel resumes.
                fence.set_failing_namespaces(&[]);
                wait_event(&node, "StorageRecovered", |e| {
                    matches!(e, Event::StorageRecovered {})
                })
                .await;
            };
        let (paid, ()) = tokio::join!(pay, check);
        let paid = paid.expect("the paused payment completes");
        assert_eq!(paid.status, PaymentStatus::Succeeded);
        assert_eq!(node.status().degraded, None);
        let theirs = peer_final_status(&peer, |p| {
            p["direction"] == "inbound" && p["payment_hash"] == hash.as_str()
        })
        .await;
        assert_eq!(theirs.as_deref(), Some("succeeded"));

        // Nothing was lost: a node rebuilt on the store has the channel with the new balance
        // and pays again.
        drain_events(&node).await;
        node.stop().await.expect("stop");
        let before = Snapshot::of(&node);
        drop(node);
        let node = start(&esplora, Arc::new(FencedStore::new(Arc::clone(&disk)))).await;
        assert_eq!(Snapshot::of(&node), before);
        wait_usable(&node, "usable after restart", &channel_id).await;
        let paid = node
            .spontaneous_payment()
            .send(&peer.node_id, 1_000_000, None)
            .await
            .expect("pay after restart");
        assert_eq!(paid.status, PaymentStatus::Succeeded);
        node.stop().await.expect("stop");
    });
}
