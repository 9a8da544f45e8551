//! A force close of an anchor channel with HTLCs pending in both directions (#14, "proof
//! under faults"): the wallet pays for the commitment (CPFP) and for our zero-fee HTLC
//! transactions. Our two payments the peer holds time out back to us (HTLC-timeout); the
//! payment the peer made to our hold invoice we claim on-chain with our preimage
//! (HTLC-success). Every sat is accounted for.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::time::{Duration, Instant};

use common::native::*;
use common::{wait_until, WAIT};
use regtest_esplora::peer::wait_mempool_settled;
use serde_json::json;
use wasm_ln::bitcoin::hashes::{sha256, Hash as _};
use wasm_ln::bitcoin::hex::DisplayHex;
use wasm_ln::chain::bump::ANCHOR_RESERVE_PER_CHANNEL_SAT;
use wasm_ln::{Event, PaymentStatus};

/// Two of them stay below the 10 % of the channel ldk-node lets us have in flight.
const HTLC_MSAT: u64 = 20_000_000;

#[test]
fn force_close_with_htlcs_in_flight() {
    run(async {
        let (esplora, peer, node) = funded_node_and_peer().await;
        let (channel_id, _) = open_channel(&esplora, &node, &peer, 0).await;
        assert!(node.list_channels().iter().all(|c| c.anchors));
        // Room for the peer to pay us: a settled payment to it first.
        const SETTLED_MSAT: u64 = 45_000_000;
        pay_peer(&node, &peer, SETTLED_MSAT).await;
        wait_inbound(&node, HTLC_MSAT).await;

        // The peer pays our hold invoice: its HTLC waits on our commitment for our preimage.
        let our_preimage = [9u8; 32];
        let our_hash = sha256::Hash::hash(&our_preimage)
            .to_byte_array()
            .to_lower_hex_string();
        let held = node
            .bolt11_payment()
            .receive_for_hash(HTLC_MSAT, "held", 3600, &our_hash)
            .await
            .expect("hold invoice");
        peer.post("/pay", json!({ "invoice": held.invoice })).await;
        wait_event(&node, "PaymentClaimable", |e| {
            matches!(e, Event::PaymentClaimable { payment_hash, claimable_amount_msat, .. }
                if *payment_hash == our_hash && *claimable_amount_msat == HTLC_MSAT)
        })
        .await;

        // Two payments to hold invoices of the peer, which never settles them.
        let mut pays = Vec::new();
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
        }
        wait_until(&node, "three HTLCs on the commitment", |n| {
            let htlcs = n.balances().claimable;
            let kinds = |k: &str| {
                htlcs
                    .iter()
                    .filter(|c| c.kind == k && c.amount_sat == HTLC_MSAT / 1000)
                    .count()
            };
            htlcs.len() == 3 && kinds("htlcTimeout") == 2 && kinds("htlcPreimage") == 1
        })
        .await;

        // A second coin: the CPFP of the commitment and the HTLC-success transaction are
        // funded at the same moment, and LDK's coin selection gives a wallet of one coin to
        // one of them only (the other conflicts and waits for the next block).
        fund(&esplora, &node, 100_000).await;
        // We force-close with both HTLCs pending: the commitment goes out with a child that
        // pays its fee from the wallet.
        let wallet_before = node.onchain().balance().confirmed_sat;
        node.force_close_channel(&channel_id)
            .await
            .expect("force close");
        // We take the peer's payment on-chain with our preimage (an HTLC-success
        // transaction, its fee from the wallet). Before the commitment confirms: given after,
        // LDK 0.2.7 registers the two HTLC-timeout claims a second time and trips its own
        // debug assertion (onchaintx.rs:887, rust-lightning#4572; a release build only
        // broadcasts a conflicting duplicate).
        node.bolt11_payment()
            .claim_for_hash(&our_hash, &our_preimage.to_lower_hex_string())
            .await
            .expect("claim");
        wait_event(&node, "ChannelClosed", |e| {
            matches!(e, Event::ChannelClosed { .. })
        })
        .await;
        // The commitment, and the child paying its fee if LDK adds one.
        wait_mempool_settled(&esplora).await;
        esplora.mine(1).await.expect("mine");
        // The wallet pays: the child of the commitment (mined with it), and once the
        // commitment is in, the fee of our HTLC-success transaction.
        let wallet_total = |n: &wasm_ln::Node| {
            let b = n.onchain().balance();
            b.confirmed_sat + b.unconfirmed_sat
        };
        wait_until(&node, "the wallet paid for the commitment", |n| {
            wallet_total(n) < wallet_before
        })
        .await;
        let cpfp_fee = wallet_before - wallet_total(&node);
        // The channel is gone from the list, but its HTLC transactions still need wallet
        // coins: the reserve stays until nothing of it is left to claim.
        assert!(node.list_channels().is_empty());
        assert_eq!(
            node.balances().onchain_reserve_sat,
            ANCHOR_RESERVE_PER_CHANNEL_SAT
        );
        println!("fee bumps so far cost {cpfp_fee} sat");
        assert!(cpfp_fee < 10_000, "{cpfp_fee}");

        // Ours expire: our HTLC-timeout transactions (zero-fee, their fee from the wallet)
        // take them back, and after the peer's to_self_delay they are swept to the wallet.
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

        for pay in pays {
            // Failed; LDK's retry after the timeout finds no channel left, hence the code.
            let err = pay.await.expect("task").expect_err("the HTLC timed out");
            assert!(
                ["PAYMENT_FAILED", "NO_ROUTE"].contains(&err.code()),
                "{err}"
            );
        }

        let received = node.payment(&our_hash).expect("our hold invoice's payment");
        assert_eq!(received.status, PaymentStatus::Succeeded, "{received:?}");
        assert_eq!(received.amount_msat, Some(HTLC_MSAT));

        // Every sat: the wallet got the channel back less the settled payment, plus what we
        // claimed, less on-chain fees (the commitment's own, its CPFP, the HTLC
        // transactions' and the sweeps').
        let back = node.onchain().balance().confirmed_sat - (wallet_before - cpfp_fee);
        // (`back` counts what came back after the first bumps; the later bumps and sweeps are
        // among the fees it lacks.)
        let expected = CHANNEL - SETTLED_MSAT / 1000 + HTLC_MSAT / 1000;
        println!("back on-chain: {back} of {expected} sat");
        assert!(
            back < expected && back > expected - 15_000,
            "{back} of {expected}"
        );
        assert!(node.balances().claimable.is_empty());
        assert_eq!(node.balances().onchain_reserve_sat, 0);
        node.stop().await.expect("stop");
    });
}

/// Hold invoices off-chain: nothing to settle before the payment arrives; a waiting payment
/// failed back reaches its payer as a failure; one claimed with the wrong preimage is refused
/// and changes nothing, with the right one it is received; one left alone is given back at
/// its claim deadline, and the invoice is failed.
#[test]
fn hold_invoice_settles_or_fails_back() {
    run(async {
        let (esplora, peer, node) = funded_node_and_peer().await;
        open_channel(&esplora, &node, &peer, 0).await;
        pay_peer(&node, &peer, 45_000_000).await;
        wait_inbound(&node, HTLC_MSAT).await;

        let held = |byte: u8| {
            let preimage = [byte; 32];
            let hash = sha256::Hash::hash(&preimage)
                .to_byte_array()
                .to_lower_hex_string();
            (hash, preimage.to_lower_hex_string())
        };
        let pay = node.bolt11_payment();
        for (i, (hash, preimage)) in [held(5), held(6), held(8)].into_iter().enumerate() {
            let inv = pay
                .receive_for_hash(10_000_000, "held", 600, &hash)
                .await
                .expect("hold invoice");
            let err = pay
                .receive_for_hash(10_000_000, "again", 600, &hash)
                .await
                .expect_err("a second invoice for one hash");
            assert_eq!(err.code(), "INVALID_CONFIG", "{err}");
            let err = pay
                .claim_for_hash(&hash, &preimage)
                .await
                .expect_err("settled before any payment arrived");
            assert_eq!(err.code(), "INVALID_CONFIG", "{err}");
            peer.post("/pay", json!({ "invoice": inv.invoice })).await;
            let claimable = wait_event(&node, "PaymentClaimable", |e| {
                matches!(e, Event::PaymentClaimable { payment_hash, .. } if *payment_hash == hash)
            })
            .await;
            let Event::PaymentClaimable { claim_deadline, .. } = claimable else {
                unreachable!()
            };
            assert_eq!(
                node.payment(&hash).expect("record").claimable_amount_msat,
                Some(10_000_000)
            );
            if i == 2 {
                // Left alone: at its claim deadline LDK gives it back.
                let deadline = claim_deadline.expect("a claim deadline");
                let tip = node.status().block_height;
                esplora
                    .mine(deadline.saturating_sub(tip) + 1)
                    .await
                    .expect("mine");
                wait_until(&node, "the hold invoice failed at its deadline", |n| {
                    n.payment(&hash)
                        .is_some_and(|p| p.status == PaymentStatus::Failed)
                })
                .await;
                peer.wait_event("PaymentFailed").await;
                let record = node.payment(&hash).expect("record");
                assert_eq!(record.claimable_amount_msat, None);
                let err = pay
                    .claim_for_hash(&hash, &preimage)
                    .await
                    .expect_err("settled after its deadline");
                assert_eq!(err.code(), "INVALID_CONFIG", "{err}");
                assert!(node.list_channels().iter().all(|c| c.is_usable));
            } else if i == 0 {
                pay.fail_for_hash(&hash).await.expect("fail back");
                peer.wait_event("PaymentFailed").await;
                let record = node.payment(&hash).expect("record");
                assert_eq!(record.status, PaymentStatus::Failed, "{record:?}");
            } else {
                let err = pay
                    .claim_for_hash(&hash, &held(7).1)
                    .await
                    .expect_err("claimed with another preimage");
                assert_eq!(err.code(), "INVALID_CONFIG", "{err}");
                assert_eq!(
                    node.payment(&hash).expect("record").status,
                    PaymentStatus::Pending
                );
                pay.claim_for_hash(&hash, &preimage).await.expect("claim");
                received(&node, 10_000_000).await;
                peer.wait_event("PaymentSuccessful").await;
                let record = node.payment(&hash).expect("record");
                assert_eq!(record.status, PaymentStatus::Succeeded, "{record:?}");
                assert_eq!(record.preimage.as_deref(), Some(preimage.as_str()));
            }
        }
        node.stop().await.expect("stop");
    });
}
