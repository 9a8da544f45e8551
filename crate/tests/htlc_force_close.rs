//! A force close of an anchor channel with HTLCs still on the commitment (#14, "proof under
//! faults"): the wallet pays for the commitment (CPFP) and for our zero-fee HTLC-timeout
//! transaction, one HTLC the peer claims on-chain with its preimage (the success path: our
//! payment succeeds), the other times out back to us, and every sat is accounted for.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::native::*;
use common::{wait_until, WAIT};
use regtest_esplora::peer::{peer_exe, wait_mempool, Chain, Peer};
use regtest_esplora::RegtestEsplora;
use serde_json::json;
use wasm_ln::bitcoin::hashes::{sha256, Hash as _};
use wasm_ln::bitcoin::hex::DisplayHex;
use wasm_ln::io::MemoryStore;
use wasm_ln::{Event, PaymentStatus};

/// Two of them stay below the 10 % of the channel ldk-node lets us have in flight.
const HTLC_MSAT: u64 = 20_000_000;

#[test]
fn force_close_with_htlcs_in_flight() {
    run(async {
        let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
        let peer = Peer::spawn(&peer_exe(), "peer", Chain::Esplora(esplora.esplora_url()));
        let node = start(&esplora, Arc::new(MemoryStore::new())).await;
        fund(&esplora, &node, FUND).await;
        let (channel_id, _) = open_channel(&esplora, &node, &peer, 0).await;
        assert!(node.list_channels().iter().all(|c| c.anchors));

        // Two payments to hold invoices of the peer: it holds both HTLCs.
        let mut pays = Vec::new();
        let mut hashes = Vec::new();
        for byte in [1u8, 2] {
            let preimage = [byte; 32];
            let hash = sha256::Hash::hash(&preimage)
                .to_byte_array()
                .to_lower_hex_string();
            let inv = peer
                .post(
                    "/invoice",
                    json!({"amount_msat": HTLC_MSAT, "payment_hash": hash, "expiry_secs": 3600}),
                )
                .await["invoice"]
                .as_str()
                .expect("invoice")
                .to_string();
            let pay = node.bolt11_payment();
            pays.push(tokio::task::spawn_local(async move {
                pay.send(&inv, None, None).await
            }));
            hashes.push((hash, preimage.to_lower_hex_string()));
        }
        wait_until(&node, "both HTLCs on the commitment", |n| {
            let htlcs = n.balances().claimable;
            htlcs.len() == 2
                && htlcs
                    .iter()
                    .all(|c| c.kind == "htlcTimeout" && c.amount_sat == HTLC_MSAT / 1000)
        })
        .await;

        // We force-close with both HTLCs pending: the commitment goes out with a child that
        // pays its fee from the wallet.
        let wallet_before = node.onchain().balance().confirmed_sat;
        node.force_close_channel(&channel_id)
            .await
            .expect("force close");
        wait_event(&node, "ChannelClosed", |e| {
            matches!(e, Event::ChannelClosed { .. })
        })
        .await;
        wait_mempool(&esplora, None).await;
        esplora.mine(1).await.expect("mine");
        wait_until(&node, "commitment and its CPFP child confirmed", |n| {
            n.onchain().balance().unconfirmed_sat == 0
                && n.onchain().balance().confirmed_sat < wallet_before
        })
        .await;
        let cpfp_fee = wallet_before - node.onchain().balance().confirmed_sat;
        println!("CPFP of the commitment cost {cpfp_fee} sat");
        assert!(cpfp_fee < 10_000, "{cpfp_fee}");

        // The peer claims the first HTLC on-chain with its preimage: our payment succeeded.
        let (hash1, preimage1) = &hashes[0];
        peer.post(
            "/claim",
            json!({"payment_hash": hash1, "preimage": preimage1, "amount_msat": HTLC_MSAT}),
        )
        .await;
        // The second one expires: our HTLC-timeout transaction (zero-fee, its fee from the
        // wallet) takes it back, and after the peer's to_self_delay it is swept to the wallet.
        let deadline = Instant::now() + 3 * WAIT;
        loop {
            let _ = node.sync().await;
            let b = node.balances();
            let settled = b.claimable.is_empty() && b.lightning_msat == 0;
            if settled && node.onchain().balance().unconfirmed_sat == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "not settled: {b:?}");
            esplora.mine(6).await.expect("mine");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        let first = pays.remove(0).await.expect("task");
        let second = pays.remove(0).await.expect("task");
        let first = first.expect("the peer claimed the first HTLC on-chain");
        assert_eq!(first.status, PaymentStatus::Succeeded);
        assert_eq!(first.preimage.as_deref(), Some(preimage1.as_str()));
        // Failed; LDK's retry after the timeout finds no channel left, hence the code.
        let err = second.expect_err("the second HTLC timed out");
        assert!(
            ["PAYMENT_FAILED", "NO_ROUTE"].contains(&err.code()),
            "{err}"
        );

        // Every sat: the wallet got the channel back less the claimed HTLC, less on-chain
        // fees (the commitment's own, its CPFP, the HTLC-timeout's and the sweeps').
        let back = node.onchain().balance().confirmed_sat - (wallet_before - cpfp_fee);
        let expected = CHANNEL - HTLC_MSAT / 1000;
        println!("back on-chain: {back} of {expected} sat");
        assert!(
            back < expected && back > expected - 15_000,
            "{back} of {expected}"
        );
        assert!(node.balances().claimable.is_empty());
        node.stop().await.expect("stop");
    });
}
