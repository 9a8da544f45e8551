//! The channel policy of a node that is offline most of the time and cannot be dialled
//! (#14 items 1 and 2), against a real ldk-node peer: which inbound channels we accept, that
//! their peer is remembered, and the on-chain reserve anchor channels keep.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::native::*;
use common::{wait_until, WAIT};
use regtest_esplora::peer::{peer_exe, wait_mempool, Chain, Peer};
use regtest_esplora::RegtestEsplora;
use serde_json::{json, Value};
use wasm_ln::chain::bump::ANCHOR_RESERVE_PER_CHANNEL_SAT;
use wasm_ln::io::{DynStore, MemoryStore};
use wasm_ln::{Event, Node};

/// The peer opens a channel of `sats` to `node` over the node's connection.
async fn peer_opens(peer: &Peer, node: &Node, sats: u64, announce: bool) -> Value {
    peer.post(
        "/channels",
        json!({ "node_id": node.node_id().to_string(), "address": "127.0.0.1:9",
                "amount_sat": sats, "announce": announce }),
    )
    .await
}

/// The peer's channels with `node`.
async fn peer_channels(peer: &Peer, node: &Node) -> Vec<Value> {
    let id = node.node_id().to_string();
    peer.get("/channels")
        .await
        .as_array()
        .expect("channels")
        .iter()
        .filter(|c| c["counterparty_node_id"] == id.as_str())
        .cloned()
        .collect()
}

#[test]
fn inbound_channels_private_only_and_their_peer_remembered() {
    run(async {
        let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
        let peer = Peer::spawn(&peer_exe(), "peer", Chain::Esplora(esplora.esplora_url()));
        fund_peer(&esplora, &peer, 2_000_000).await;
        let store: Arc<DynStore> = Arc::new(MemoryStore::new());
        let node = start(&esplora, Arc::clone(&store)).await;
        // Connected, not remembered: a browser node is reached only on connections it made.
        node.connect(&peer.uri(), false).await.expect("connect");
        assert!(node.list_peers().iter().all(|p| !p.persisted));

        // A public channel is refused: it would announce a node nobody can reach.
        peer_opens(&peer, &node, 300_000, true).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // The refusal reaches the peer, which forgets the channel.
            let theirs = peer_channels(&peer, &node).await;
            if theirs.is_empty() && Instant::now() > deadline - Duration::from_secs(8) {
                break;
            }
            assert!(Instant::now() < deadline, "still opening: {theirs:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(
            node.list_channels().is_empty(),
            "{:?}",
            node.list_channels()
        );

        // Without on-chain funds for its reserve, an anchor channel is refused, and the peer
        // falls back to a legacy channel, which we accept.
        assert_eq!(node.onchain().balance().spendable_sat, 0);
        peer_opens(&peer, &node, 300_000, false).await;
        wait_event(&node, "ChannelPending", |e| {
            matches!(e, Event::ChannelPending { .. })
        })
        .await;
        let ch = node.list_channels().pop().expect("the channel");
        assert!(!ch.is_outbound && !ch.anchors, "{ch:?}");
        assert_eq!(node.balances().onchain_reserve_sat, 0);

        // Its peer is remembered, so a restarted node dials it again.
        let remembered = node
            .list_peers()
            .into_iter()
            .find(|p| p.node_id == peer.node_id)
            .expect("the peer");
        assert!(remembered.persisted, "{remembered:?}");
        wait_mempool(&esplora, None).await;
        esplora.mine(6).await.expect("mine");
        wait_until(&node, "the channel usable", |n| {
            n.list_channels().iter().any(|c| c.is_usable)
        })
        .await;
        node.stop().await.expect("stop");
        drop(node);
        let node = start(&esplora, Arc::clone(&store)).await;
        wait_until(&node, "reconnected after a restart", |n| {
            n.list_channels().iter().any(|c| c.is_usable)
        })
        .await;

        // With the reserve in the wallet, the next inbound channel has anchors.
        fund(&esplora, &node, 100_000).await;
        peer_opens(&peer, &node, 300_000, false).await;
        let deadline = Instant::now() + WAIT;
        while !node.list_channels().iter().any(|c| c.anchors) {
            assert!(Instant::now() < deadline, "{:?}", node.list_channels());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(
            node.balances().onchain_reserve_sat,
            ANCHOR_RESERVE_PER_CHANNEL_SAT
        );
        node.stop().await.expect("stop");
    });
}

#[test]
fn anchor_reserve_is_kept_by_opens_and_sends() {
    run(async {
        let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
        let peer = Peer::spawn(&peer_exe(), "peer", Chain::Esplora(esplora.esplora_url()));
        let node = start(&esplora, Arc::new(MemoryStore::new())).await;
        fund(&esplora, &node, 100_000).await;
        fund_peer_reserve(&esplora, &peer).await;

        // 80,000 of 100,000 would leave less than the reserve of the channel itself.
        let err = node
            .open_channel(&peer.uri(), 80_000, 0)
            .await
            .expect_err("opened without its reserve");
        assert_eq!(err.code(), "INSUFFICIENT_FUNDS", "{err}");
        assert!(err.to_string().contains("reserve"), "{err}");
        assert!(node.list_channels().is_empty());

        // 60,000 leaves it.
        let (channel_id, _) = open_channel_of(&esplora, &node, &peer, 60_000, 0).await;
        assert!(
            node.list_channels()
                .iter()
                .any(|c| c.channel_id == channel_id && c.anchors),
            "{:?}",
            node.list_channels()
        );
        assert_eq!(
            node.balances().onchain_reserve_sat,
            ANCHOR_RESERVE_PER_CHANNEL_SAT
        );
        let spendable = node.onchain().balance().spendable_sat;
        assert!(spendable > ANCHOR_RESERVE_PER_CHANNEL_SAT, "{spendable}");
        let address = peer_address(&peer).await;

        // A send that would dig into the reserve is refused, and changes nothing.
        let err = node
            .onchain()
            .send_to_address(&address, spendable - ANCHOR_RESERVE_PER_CHANNEL_SAT, None)
            .await
            .expect_err("sent the reserve");
        assert_eq!(err.code(), "INSUFFICIENT_FUNDS", "{err}");
        assert!(err.to_string().contains("reserve"), "{err}");
        assert_eq!(node.onchain().balance().spendable_sat, spendable);

        // One that leaves it goes through.
        node.onchain()
            .send_to_address(&address, 5_000, None)
            .await
            .expect("a send above the reserve");
        // Send-all sends everything but the reserve, which stays in the wallet.
        node.onchain()
            .send_all(&address, None)
            .await
            .expect("send all");
        assert_eq!(
            node.onchain().balance().spendable_sat,
            ANCHOR_RESERVE_PER_CHANNEL_SAT,
            "{:?}",
            node.onchain().balance()
        );
        node.stop().await.expect("stop");
    });
}

#[test]
fn legacy_channels_on_request() {
    run(async {
        let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
        let peer = Peer::spawn(&peer_exe(), "peer", Chain::Esplora(esplora.esplora_url()));
        let mut b = builder(&esplora, Arc::new(MemoryStore::new()));
        b.set_anchor_channels(false);
        let node = b.build().await.expect("build");
        node.start().expect("start");
        fund(&esplora, &node, 100_000).await;
        // No reserve: all but the fee may go into the channel.
        let (channel_id, _) = open_channel_of(&esplora, &node, &peer, 90_000, 0).await;
        let ch = node
            .list_channels()
            .into_iter()
            .find(|c| c.channel_id == channel_id)
            .expect("the channel");
        assert!(!ch.anchors, "{ch:?}");
        assert_eq!(node.balances().onchain_reserve_sat, 0);
        node.stop().await.expect("stop");
    });
}
