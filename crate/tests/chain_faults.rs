//! The node's chain under faults (#14): a broadcast lost on its way (rebroadcast), an
//! Esplora that fails in every way it can (`esplora_faults`), and reorgs of a funding and a
//! closing transaction (`reorgs`). bitcoind behind regtest-esplora, whose fault-injection
//! control plays the failing server; an ldk-node peer (build it first: `cargo build -p peer`).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::native::*;
use common::{wait_until, wait_usable, WAIT};
use regtest_esplora::peer::{wait_mempool, Peer};
use regtest_esplora::{Fault, FaultKind, RegtestEsplora};
use wasm_ln::chain::esplora::{MAX_INLINE_RETRY_WAIT, REQUEST_TIMEOUT};
use wasm_ln::io::{DynStore, MemoryStore};
use wasm_ln::{Event, Node, PaymentStatus};

/// `POST /tx` requests since the last reset of the counters.
async fn broadcasts(esplora: &RegtestEsplora) -> u64 {
    let counts = esplora.request_counts().await.expect("counts");
    counts.routes.get("/tx").copied().unwrap_or(0)
}

/// Whether `txid` is in bitcoind's mempool (through Esplora).
async fn in_mempool(esplora: &RegtestEsplora, txid: &str) -> bool {
    let ids: Vec<String> = reqwest::get(format!("{}/mempool/txids", esplora.esplora_url()))
        .await
        .expect("mempool")
        .json()
        .await
        .expect("mempool json");
    ids.iter().any(|t| t == txid)
}

/// Opens a channel whose funding broadcast `fault` spoils, and checks that the node broadcasts
/// it again on the next tip: it confirms, and the channel carries a payment.
async fn open_with_lost_broadcast(
    esplora: &RegtestEsplora,
    node: &Node,
    peer: &Peer,
    fault: Fault,
) {
    esplora.inject_fault(&fault).await.expect("fault");
    let ucid = node
        .open_channel(&peer.uri(), CHANNEL, 0)
        .await
        .expect("open_channel");
    let pending = wait_event(
        node,
        "ChannelPending",
        |e| matches!(e, Event::ChannelPending { user_channel_id, .. } if *user_channel_id == ucid),
    )
    .await;
    let Event::ChannelPending { funding_txo, .. } = pending else {
        unreachable!()
    };
    let txid = funding_txo.split(':').next().expect("txid").to_string();
    // The broadcast was spoilt: bitcoind never saw the funding transaction.
    let deadline = Instant::now() + WAIT;
    while !esplora.faults().await.expect("faults").is_empty() {
        assert!(Instant::now() < deadline, "the funding was never broadcast");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !in_mempool(esplora, &txid).await,
        "{fault:?} let it through"
    );

    // A block without it: the node, syncing the new tip, broadcasts it again.
    esplora.mine(1).await.expect("mine");
    wait_mempool(esplora, Some(&txid)).await;
    esplora.mine(6).await.expect("mine");
    let channel_id = match wait_event(
        node,
        "ChannelReady",
        |e| matches!(e, Event::ChannelReady { user_channel_id, .. } if *user_channel_id == ucid),
    )
    .await
    {
        Event::ChannelReady { channel_id, .. } => channel_id,
        _ => unreachable!(),
    };
    wait_usable(node, "channel usable", &channel_id).await;
    let paid = pay_peer(node, peer, 10_000_000).await;
    assert_eq!(paid.status, PaymentStatus::Succeeded);
}

/// #14 item 4: a channel funding transaction that Esplora accepted but never relayed, and one
/// it refused with a 500, each confirm after the next block, because the node broadcasts its
/// unconfirmed transactions again on every new tip. Without the rebroadcast the funding never
/// reaches bitcoind and `wait_mempool` times out.
#[test]
fn funding_rebroadcast_after_rejection() {
    run(async {
        let started = Instant::now();
        let (esplora, peer, node) = funded_node_and_peer().await;

        open_with_lost_broadcast(&esplora, &node, &peer, Fault::drop_next_broadcast()).await;

        fund(&esplora, &node, FUND).await;
        let refused = Fault::new(
            FaultKind::Status {
                status: 500,
                retry_after: None,
            },
            "/tx",
        )
        .method("POST");
        open_with_lost_broadcast(&esplora, &node, &peer, refused).await;
        assert_eq!(node.list_channels().len(), 2);
        node.stop().await.expect("stop");
        println!(
            "funding_rebroadcast_after_rejection: {:?}",
            started.elapsed()
        );
    });
}

/// A sync that must end within `limit`: never a hang.
async fn sync_within(node: &Node, limit: Duration) -> (Result<(), wasm_ln::Error>, Duration) {
    let t = Instant::now();
    let r = tokio::time::timeout(limit, node.sync())
        .await
        .unwrap_or_else(|_| panic!("sync still running after {limit:?}"));
    (r, t.elapsed())
}

fn assert_unavailable(r: Result<(), wasm_ln::Error>, what: &str) {
    let e = r.expect_err(what);
    assert_eq!(e.code(), "CHAIN_SOURCE_UNAVAILABLE", "{what}: {e}");
}

/// Syncs (and checks it works) once the faults are gone, and that the node is at the tip.
async fn recovers(esplora: &RegtestEsplora, node: &Node, what: &str) {
    esplora.clear_faults().await.expect("clear");
    let (r, _) = sync_within(node, Duration::from_secs(30)).await;
    r.unwrap_or_else(|e| panic!("{what}: no recovery: {e}"));
    let (height, _) = esplora.tip().await.expect("tip");
    assert_eq!(node.status().block_height, height, "{what}");
}

/// #14 `esplora_faults`: 429 with `Retry-After` (short: waited out and retried; long: a typed
/// error at once, and no request before that time), 500/503 (retried, then a typed error),
/// a truncated and a garbage body, a stall longer than the request timeout, on the node's
/// own requests and on the wallet's (bdk_esplora), and on a send's broadcast. Every call
/// ends, in time, with success or `CHAIN_SOURCE_UNAVAILABLE`; the node syncs and its
/// balance is right once Esplora behaves again.
#[test]
fn esplora_faults() {
    run(async {
        let started = Instant::now();
        let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
        let store: Arc<DynStore> = Arc::new(MemoryStore::new());
        // The background loop syncs once at start and then sleeps: each fault below meets
        // the sync this test calls.
        let mut b = builder(&esplora, store);
        b.set_sync_interval(Duration::from_secs(3600));
        let node = b.build().await.expect("build");
        node.start().expect("start");
        fund(&esplora, &node, FUND).await;
        let status = |s: u16, retry_after: Option<u64>| FaultKind::Status {
            status: s,
            retry_after,
        };
        let bound = Duration::from_secs(30);

        // 429, Retry-After 1 s: waited out, then the sync goes on.
        esplora.mine(1).await.expect("mine");
        esplora
            .inject_fault(&Fault::new(status(429, Some(1)), "/blocks/tip/hash"))
            .await
            .expect("fault");
        let (r, took) = sync_within(&node, bound).await;
        r.expect("a short Retry-After is waited out");
        assert!(
            took >= Duration::from_secs(1),
            "Retry-After ignored: {took:?}"
        );
        recovers(&esplora, &node, "429 short").await;

        // 429, Retry-After longer than we wait inline: a typed error at once, and no request
        // reaches Esplora before that time.
        let wait = MAX_INLINE_RETRY_WAIT.as_secs() + 1;
        esplora.mine(1).await.expect("mine");
        esplora
            .inject_fault(&Fault::new(status(429, Some(wait)), "/blocks/tip/hash"))
            .await
            .expect("fault");
        let held_from = Instant::now();
        let (r, took) = sync_within(&node, bound).await;
        assert_unavailable(r, "429 long");
        assert!(took < Duration::from_secs(2), "{took:?}");
        esplora.reset_request_counts().await.expect("reset");
        let (r, _) = sync_within(&node, bound).await;
        assert_unavailable(r, "429 long, held off");
        assert_eq!(esplora.request_count("").await.expect("count"), 0);
        let held = Duration::from_secs(wait) + Duration::from_millis(500);
        tokio::time::sleep(held.saturating_sub(held_from.elapsed())).await;
        recovers(&esplora, &node, "429 long").await;

        // 500 twice on a request in the middle of the sync: retried.
        esplora.mine(1).await.expect("mine");
        esplora
            .inject_fault(&Fault::new(status(500, None), "/fee-estimates").times(2))
            .await
            .expect("fault");
        let (r, _) = sync_within(&node, bound).await;
        r.expect("two 500s are retried");
        recovers(&esplora, &node, "500").await;

        // 503 every time: a typed error after a bounded number of attempts.
        esplora.mine(1).await.expect("mine");
        esplora
            .inject_fault(&Fault::new(status(503, None), "/block/").times(100))
            .await
            .expect("fault");
        let (r, took) = sync_within(&node, bound).await;
        assert_unavailable(r, "503");
        assert!(took < Duration::from_secs(10), "{took:?}");
        recovers(&esplora, &node, "503").await;

        // Truncated and garbage bodies, on the tip, a header and the fee table.
        for (kind, prefix) in [
            (FaultKind::Truncated, "/blocks/tip/hash"),
            (FaultKind::Truncated, "/block/"),
            (FaultKind::Garbage, "/blocks/tip/hash"),
            (FaultKind::Garbage, "/fee-estimates"),
            (FaultKind::Garbage, "/block/"),
        ] {
            esplora.mine(1).await.expect("mine");
            esplora
                .inject_fault(&Fault::new(kind.clone(), prefix))
                .await
                .expect("fault");
            let (r, _) = sync_within(&node, bound).await;
            assert_unavailable(r, &format!("{kind:?} on {prefix}"));
            recovers(&esplora, &node, &format!("{kind:?} on {prefix}")).await;
        }

        // The wallet's requests (bdk_esplora, esplora-client): a truncated body is a typed
        // error, the next sync works.
        esplora.mine(1).await.expect("mine");
        esplora
            .inject_fault(&Fault::new(FaultKind::Truncated, "/scripthash/").times(2))
            .await
            .expect("fault");
        let (r, _) = sync_within(&node, bound).await;
        assert_unavailable(r, "truncated wallet sync");
        // No new block: the failed wallet sync is tried again all the same.
        esplora.reset_request_counts().await.expect("reset");
        recovers(&esplora, &node, "truncated wallet sync").await;
        assert!(esplora.request_count("/scripthash/").await.expect("count") > 0);

        // A stall longer than the request timeout: the sync gives up in time.
        let stall = REQUEST_TIMEOUT + Duration::from_secs(5);
        esplora.mine(1).await.expect("mine");
        esplora
            .inject_fault(&Fault::new(
                FaultKind::Stall {
                    ms: stall.as_millis() as u64,
                },
                "/blocks/tip/hash",
            ))
            .await
            .expect("fault");
        let (r, took) = sync_within(&node, stall + Duration::from_secs(10)).await;
        assert_unavailable(r, "stall");
        assert!(
            took >= REQUEST_TIMEOUT && took < stall,
            "stalled sync took {took:?}"
        );
        recovers(&esplora, &node, "stall").await;

        // A send whose broadcast gets a 500: a typed error, the coins stay reserved, and the
        // node broadcasts it again with the next block.
        const SEND: u64 = 50_000;
        esplora
            .inject_fault(&Fault::new(status(500, None), "/tx").method("POST").times(1))
            .await
            .expect("fault");
        let to = esplora.faucet_address().to_string();
        let err = node
            .onchain()
            .send_to_address(&to, SEND, None)
            .await
            .expect_err("send with a 500 on broadcast");
        assert_eq!(err.code(), "CHAIN_SOURCE_UNAVAILABLE", "{err}");
        assert!(node.onchain().balance().spendable_sat < FUND - SEND);
        esplora.mine(1).await.expect("mine");
        let deadline = Instant::now() + WAIT;
        loop {
            let _ = node.sync().await;
            let b = node.onchain().balance();
            if b.confirmed_sat < FUND - SEND && b.unconfirmed_sat == 0 {
                assert!(b.confirmed_sat > FUND - SEND - 5_000, "{b:?}");
                break;
            }
            assert!(Instant::now() < deadline, "the send never confirmed: {b:?}");
            esplora.mine(1).await.expect("mine");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(node.status().fatal_error.is_none());
        node.stop().await.expect("stop");
        println!("esplora_faults: {:?}", started.elapsed());
    });
}

/// Confirmations of `txid` at Esplora (0: unconfirmed or unknown).
async fn confs(esplora: &RegtestEsplora, txid: &str) -> u32 {
    let v: serde_json::Value = reqwest::get(format!("{}/tx/{txid}/status", esplora.esplora_url()))
        .await
        .expect("status")
        .json()
        .await
        .expect("status json");
    let (tip, _) = esplora.tip().await.expect("tip");
    match v["block_height"].as_u64() {
        Some(h) => tip + 1 - h as u32,
        None => 0,
    }
}

/// Mines until `txid` has `n` confirmations.
async fn mine_to_confs(esplora: &RegtestEsplora, txid: &str, n: u32) {
    for _ in 0..20 {
        if confs(esplora, txid).await >= n {
            return;
        }
        esplora.mine(1).await.expect("mine");
    }
    panic!("{txid} never got {n} confirmations");
}

/// Waits until the node has synced to Esplora's tip.
async fn synced(esplora: &RegtestEsplora, node: &Node) {
    let (_, hash) = esplora.tip().await.expect("tip");
    let hash = hash.to_string();
    wait_until(node, "synced to the tip", |n| n.status().block_hash == hash).await;
}

/// The funding confirmations the node sees for `channel_id` (0 when unconfirmed).
fn funding_confs(node: &Node, channel_id: &str) -> u32 {
    let ch = node
        .list_channels()
        .into_iter()
        .find(|c| c.channel_id == channel_id)
        .expect("the channel is still open");
    ch.confirmations.unwrap_or(0)
}

/// #14 `reorgs`: a funding transaction reorged out at depths 1, 3 and 5 and mined again each
/// time, and a cooperative close reorged out at depths 1, 3 and 6. (A funding transaction is
/// not reorged at depth 6 here: the peer sends `channel_ready` at 6 confirmations, and LDK, on
/// either side, force-closes a ready channel whose funding disappears.) The channel becomes
/// usable after the last re-confirmation, the closing funds come back to the wallet to the
/// sat, and the node sends a bounded number of `POST /tx` through it all.
#[test]
fn reorgs() {
    run(async {
        let started = Instant::now();
        let (esplora, peer, node) = funded_node_and_peer().await;
        let ucid = node
            .open_channel(&peer.uri(), CHANNEL, 0)
            .await
            .expect("open_channel");
        let (channel_id, funding_txo) = match wait_event(&node, "ChannelPending", |e| {
            matches!(e, Event::ChannelPending { .. })
        })
        .await
        {
            Event::ChannelPending {
                channel_id,
                funding_txo,
                ..
            } => (channel_id, funding_txo),
            _ => unreachable!(),
        };
        let funding = funding_txo.split(':').next().expect("txid").to_string();
        wait_mempool(&esplora, Some(&funding)).await;
        esplora.reset_request_counts().await.expect("reset");
        let mut reorgs = 0u64;

        for depth in [1, 3, 5] {
            mine_to_confs(&esplora, &funding, depth).await;
            synced(&esplora, &node).await;
            assert_eq!(funding_confs(&node, &channel_id), depth);
            esplora.reorg(depth).await.expect("reorg");
            reorgs += 1;
            assert!(in_mempool(&esplora, &funding).await, "depth {depth}");
            synced(&esplora, &node).await;
            assert_eq!(funding_confs(&node, &channel_id), 0, "depth {depth}");
            // A longer branch, with the funding transaction in its first block.
            esplora.mine(depth + 1).await.expect("mine");
            assert_eq!(confs(&esplora, &funding).await, depth + 1);
        }
        mine_to_confs(&esplora, &funding, 6).await;
        wait_event(&node, "ChannelReady", |e| {
            matches!(e, Event::ChannelReady { user_channel_id, .. } if *user_channel_id == ucid)
        })
        .await;
        wait_usable(&node, "channel usable", &channel_id).await;
        let paid = pay_peer(&node, &peer, 50_000_000).await;
        assert_eq!(paid.status, PaymentStatus::Succeeded);
        let funding_posts = broadcasts(&esplora).await;

        // The cooperative close, reorged out at depths 1, 3 and 6.
        let onchain_before = node.onchain().balance().confirmed_sat;
        let ours = node.balances().lightning_msat / 1000;
        node.close_channel(&channel_id).await.expect("close");
        wait_event(&node, "ChannelClosed", |e| {
            matches!(e, Event::ChannelClosed { user_channel_id, .. } if *user_channel_id == ucid)
        })
        .await;
        let (closing, _) = spender_fee(&esplora, &funding_txo).await;
        let closing = closing.to_string();
        wait_mempool(&esplora, Some(&closing)).await;
        let mut closed_balance = None;
        for depth in [1, 3, 6] {
            mine_to_confs(&esplora, &closing, depth).await;
            synced(&esplora, &node).await;
            wait_until(&node, "the close confirmed", |n| {
                let b = n.onchain().balance();
                b.confirmed_sat > onchain_before && b.unconfirmed_sat == 0
            })
            .await;
            let confirmed = node.onchain().balance().confirmed_sat;
            assert_eq!(
                *closed_balance.get_or_insert(confirmed),
                confirmed,
                "depth {depth}"
            );
            esplora.reorg(depth).await.expect("reorg");
            reorgs += 1;
            assert!(in_mempool(&esplora, &closing).await, "depth {depth}");
            // (BDK keeps a block above a shorter chain's tip until a longer chain replaces it:
            // the wallet sees the close unconfirmed only once the longer branch below comes,
            // which is how real reorgs arrive.)
            synced(&esplora, &node).await;
            esplora.mine(depth + 1).await.expect("mine");
        }
        // Back for good: the same balance as after the first confirmation, our side of the
        // channel less the closing fee, and nothing left pending.
        mine_to_confs(&esplora, &closing, 6).await;
        let closed_balance = closed_balance.expect("confirmed once");
        wait_until(&node, "the close settled", |n| {
            let b = n.balances();
            b.onchain.confirmed_sat == closed_balance
                && b.onchain.unconfirmed_sat == 0
                && b.claimable.is_empty()
        })
        .await;
        let got = closed_balance - onchain_before;
        assert!(got <= ours && got > ours - 5_000, "got {got} of {ours}");

        let posts = broadcasts(&esplora).await;
        println!(
            "reorgs: {reorgs} reorgs, {posts} POST /tx ({funding_posts} during the funding's), {:?}",
            started.elapsed()
        );
        // A few per reorg (the closing transaction, back in the mempool, is broadcast again
        // on a new tip; so is the funding while the wallet sees it unconfirmed): no storm.
        assert!(
            posts <= 3 * reorgs + 2,
            "{posts} POST /tx for {reorgs} reorgs"
        );
        node.stop().await.expect("stop");
    });
}

/// A transaction the wallet made that a sync does not find in Esplora yet (its broadcast lost,
/// or, for a channel funding, not sent before the peer signs) keeps its coins spent: the sync
/// must not evict it, or the balance would offer its coins again and a send could double-spend
/// it. (Seen as `breach_is_punished`'s open fee underflowing when a sync ran between a
/// funding's creation and its broadcast.) The next tip broadcasts it again and it confirms.
#[test]
fn a_sync_before_the_broadcast_lands_keeps_the_coins_spent() {
    run(async {
        let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
        let node = start(&esplora, Arc::new(MemoryStore::new())).await;
        fund(&esplora, &node, FUND).await;
        // Lost twice: the send's broadcast, and its rebroadcast on the next tip.
        esplora
            .inject_fault(&Fault::drop_next_broadcast().times(2))
            .await
            .expect("fault");
        let to = esplora.faucet_address().to_string();
        let txid = node
            .onchain()
            .send_to_address(&to, 30_000, None)
            .await
            .expect("send (Esplora says it took it)")
            .to_string();
        assert!(
            !in_mempool(&esplora, &txid).await,
            "the broadcast was dropped"
        );
        let spent = node.onchain().balance().spendable_sat;
        assert!(spent < FUND - 30_000, "{spent}");
        // A new tip: the node broadcasts the send again (lost too), then syncs the wallet,
        // looking at the send's scripts, where Esplora knows nothing of it.
        esplora.mine(1).await.expect("mine");
        node.sync().await.expect("sync");
        assert!(esplora.faults().await.expect("faults").is_empty());
        assert!(
            !in_mempool(&esplora, &txid).await,
            "the rebroadcast was dropped"
        );
        assert_eq!(
            node.onchain().balance().spendable_sat,
            spent,
            "a sync gave the coins of an unannounced send back"
        );
        esplora.mine(1).await.expect("mine");
        wait_mempool(&esplora, Some(&txid)).await;
        esplora.mine(1).await.expect("mine");
        wait_until(&node, "the send confirmed", |n| {
            n.onchain().balance().confirmed_sat == spent
        })
        .await;
        node.stop().await.expect("stop");
    });
}
