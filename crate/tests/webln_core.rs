//! What the WebLN provider needs from the core, against a real ldk-node peer (tests/peer;
//! build it first with `cargo build -p peer`): node message signing in the format LND, Core
//! Lightning and ldk-node share, and keysend with custom records.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::sync::Arc;

use common::native::*;
use regtest_esplora::network::TestNetwork;
use regtest_esplora::peer::{peer_exe, Chain, Peer};
use regtest_esplora::RegtestEsplora;
use serde_json::json;
use wasm_ln::io::MemoryStore;
use wasm_ln::message::{recover_signer, verify_message};
use wasm_ln::MessageVerification;

/// Core Lightning's published `checkmessage` vector (tests/test_misc.py; LDK's tests use it
/// too).
const CLN_MESSAGE: &str = "is this compatible?";
const CLN_SIGNATURE: &str = "rbgfioj114mh48d8egqx8o9qxqw4fmhe8jbeeabdioxnjk8z3t1ma1hu1fiswpakgucwwzwo6ofycffbsqusqdimugbh41n1g698hr9t";
const CLN_PUBKEY: &str = "02b80cabdf82638aac86948e4c06e82064f547768dcef977677b9ea931ea75bab5";

/// Flips one zbase32 character of `sig` (at `at`) to another of the alphabet.
fn tamper(sig: &str, at: usize) -> String {
    let mut chars: Vec<char> = sig.chars().collect();
    chars[at] = if chars[at] == 'y' { 'b' } else { 'y' };
    chars.into_iter().collect()
}

#[test]
fn signed_messages_verify_across_implementations() {
    run(async {
        let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
        let peer = Peer::spawn(&peer_exe(), "peer", Chain::Esplora(esplora.esplora_url()));
        let node = start(&esplora, Arc::new(MemoryStore::new())).await;
        let me = node.node_id();
        let message = "héllo from wasm-ln ⚡ (UTF-8)";

        // Ours verifies at ldk-node, and only over the same message.
        let sig = node.sign_message(message.as_bytes()).expect("sign");
        let verify_at_peer = |message: &str, signature: &str| {
            let body =
                json!({"message": message, "signature": signature, "pubkey": me.to_string()});
            let peer = &peer;
            async move { peer.post("/verify", body).await["valid"].clone() }
        };
        assert_eq!(verify_at_peer(message, &sig).await, true);
        assert_eq!(
            verify_at_peer("héllo from wasm-ln ⚡ (UTF-9)", &sig).await,
            false
        );
        assert_eq!(verify_at_peer(message, &tamper(&sig, 20)).await, false);
        // Ours verifies at ours: it is us, a known node.
        assert_eq!(
            node.verify_message(message.as_bytes(), &sig)
                .expect("verify"),
            MessageVerification {
                valid: true,
                pubkey: Some(me)
            }
        );

        // ldk-node's recovers to its node id at ours; valid once it is a node we know.
        let signed = peer.post("/sign", json!({"message": message})).await;
        let peer_sig = signed["signature"].as_str().expect("signature").to_string();
        let peer_id = peer.node_id.parse().expect("peer id");
        let before = node
            .verify_message(message.as_bytes(), &peer_sig)
            .expect("verify");
        assert_eq!(before.pubkey, Some(peer_id));
        assert!(!before.valid, "not a node we know yet: {before:?}");
        assert!(verify_message(message.as_bytes(), &peer_sig, &peer_id));
        node.sync().await.expect("sync");
        node.connect(&peer.uri(), false).await.expect("connect");
        let after = node
            .verify_message(message.as_bytes(), &peer_sig)
            .expect("verify");
        assert_eq!(
            after,
            MessageVerification {
                valid: true,
                pubkey: Some(peer_id)
            }
        );

        // A tampered message or signature: some other key, or none.
        let other = node
            .verify_message(b"something else", &peer_sig)
            .expect("verify");
        assert!(!other.valid && other.pubkey != Some(peer_id), "{other:?}");
        for at in [0, 1, 30, 103] {
            let v = node
                .verify_message(message.as_bytes(), &tamper(&peer_sig, at))
                .expect("verify");
            assert!(!v.valid && v.pubkey != Some(peer_id), "at {at}: {v:?}");
        }
        // Garbage is `valid: false` with no key, not an error.
        for garbage in ["", "hello", "!!!", &peer_sig[..50], "0OIl"] {
            assert_eq!(
                node.verify_message(message.as_bytes(), garbage)
                    .expect("verify"),
                MessageVerification {
                    valid: false,
                    pubkey: None
                },
                "{garbage:?}"
            );
        }

        // Core Lightning's published vector: its key recovers (unknown here, so not valid),
        // and the free function checks it against that key.
        let cln = CLN_PUBKEY.parse().expect("key");
        let v = node
            .verify_message(CLN_MESSAGE.as_bytes(), CLN_SIGNATURE)
            .expect("verify");
        assert_eq!(v.pubkey, Some(cln));
        assert!(!v.valid);
        assert!(verify_message(CLN_MESSAGE.as_bytes(), CLN_SIGNATURE, &cln));
        assert_eq!(
            recover_signer(CLN_MESSAGE.as_bytes(), CLN_SIGNATURE),
            Some(cln)
        );
        // ldk-node agrees on it too.
        let at_peer = peer
            .post(
                "/verify",
                json!({"message": CLN_MESSAGE, "signature": CLN_SIGNATURE, "pubkey": CLN_PUBKEY}),
            )
            .await;
        assert_eq!(at_peer["valid"], true);

        node.stop().await.expect("stop");
    });
}

#[test]
fn keysend_custom_records_reach_the_payee() {
    run(async {
        let (esplora, peer, node) = funded_node_and_peer().await;
        open_channel(&esplora, &node, &peer, 0).await;
        let payments = || node.list_payments().len();

        // A boostagram (podcasting 2.0, type 7629169) and another odd type: ldk-node fails back
        // unknown even types (below).
        let boost = br#"{"action":"boost","value_msat_total":21000,"message":"great show"}"#;
        let records = wasm_ln::payment::spontaneous::parse_custom_records([
            ("7629169", hex(boost).as_str()),
            ("696969", "6869"),
        ])
        .expect("records");
        let sent = node
            .spontaneous_payment()
            .send_with_custom_records(&peer.node_id, 21_000, records, None)
            .await
            .expect("keysend");
        assert_eq!(sent.status, wasm_ln::PaymentStatus::Succeeded);
        let got = peer.wait_event("PaymentReceived").await;
        assert_eq!(got["amount_msat"], 21_000);
        assert_eq!(got["payment_hash"], sent.payment_hash.as_str());
        assert_eq!(
            got["custom_records"],
            // In type order, as TLVs travel.
            json!([
                {"type": 696_969, "value": "6869"},
                {"type": 7_629_169, "value": hex(boost)},
            ]),
            "{got}"
        );
        let before = payments();

        // Refused before anything is sent or stored.
        for (t, v) in [
            ("65535", "00"),
            ("5482373484", "00"),
            ("70000", "xyz"),
            ("0x11170", "00"),
        ] {
            let e =
                wasm_ln::payment::spontaneous::parse_custom_records([(t, v)]).expect_err("refused");
            assert_eq!(e.code(), "INVALID_CONFIG", "{t} {v}: {e}");
        }
        let e = node
            .spontaneous_payment()
            .send_with_custom_records(&peer.node_id, 1_000, vec![(1_000, vec![1])], None)
            .await
            .expect_err("a protocol type");
        assert_eq!(e.code(), "INVALID_CONFIG", "{e}");
        assert_eq!(payments(), before);

        // An even type the payee does not know (WhatSat's message type): it fails the payment
        // back ("it's OK to be odd"); more than the onion holds: refused by LDK.
        let e = node
            .spontaneous_payment()
            .send_with_custom_records(&peer.node_id, 1_000, vec![(34_349_334, vec![1])], None)
            .await
            .expect_err("an unknown even type");
        assert_eq!(e.code(), "PAYMENT_FAILED", "{e}");
        let e = node
            .spontaneous_payment()
            .send_with_custom_records(&peer.node_id, 1_000, vec![(65_537, vec![7; 1_400])], None)
            .await
            .expect_err("too large");
        assert_eq!(e.code(), "PAYMENT_FAILED", "{e}");
        assert!(e.to_string().contains("too large"), "{e}");
        node.stop().await.expect("stop");
    });
}

/// A keysend's fee limit (the WebLN provider's budget reserves it): through the LSP to the
/// merchant (us ⇢ LSP → merchant), a limit below the LSP's forwarding fee is `FEE_TOO_HIGH`
/// with nothing sent; at the fee, paid. Without the limit LDK allows 1 % + 50 sat.
#[test]
fn keysend_fee_limit() {
    run(async {
        let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
        let net = TestNetwork::start(&peer_exe(), &esplora).await;
        let node = start(&esplora, Arc::new(MemoryStore::new())).await;
        fund(&esplora, &node, 400_000).await;
        open_channel_of(&esplora, &node, &net.lsp, 200_000, 0).await;
        common::wait_until(&node, "the graph by P2P gossip", |n| {
            n.graph_info().channels >= 2
        })
        .await;

        let amount = 20_000_000;
        let fee = lsp_fee(&net, amount).await;
        assert!(fee > 0, "the LSP charges for forwarding");
        let balance = node.balances().lightning_msat;
        let e = node
            .spontaneous_payment()
            .send(&net.merchant.node_id, amount, Some(fee - 1))
            .await
            .expect_err("paid above the fee limit");
        assert_eq!(e.code(), "FEE_TOO_HIGH", "{e}");
        assert!(e.to_string().contains(&format!("costs {fee} msat")), "{e}");
        let p = node.list_payments();
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].status, wasm_ln::PaymentStatus::Failed);
        assert_eq!(node.balances().lightning_msat, balance, "nothing left");

        let paid = node
            .spontaneous_payment()
            .send_with_custom_records(&net.merchant.node_id, amount, Vec::new(), Some(fee))
            .await
            .expect("keysend within the limit");
        assert_eq!(paid.status, wasm_ln::PaymentStatus::Succeeded);
        assert_eq!(paid.fee_paid_msat, Some(fee));
        let got = net.merchant.wait_event("PaymentReceived").await;
        assert_eq!(got["amount_msat"], amount);
        node.stop().await.expect("stop");
    });
}

/// The LSP's forwarding fee on its announced channel to the merchant for `amount_msat`.
async fn lsp_fee(net: &TestNetwork, amount_msat: u64) -> u64 {
    let graph = net.lsp.get("/graph").await;
    let (lsp, merchant) = (net.lsp.node_id.as_str(), net.merchant.node_id.as_str());
    let channel = graph["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .find(|c| {
            (c["node_one"] == lsp && c["node_two"] == merchant)
                || (c["node_two"] == lsp && c["node_one"] == merchant)
        })
        .unwrap_or_else(|| panic!("no LSP -> merchant channel: {graph}"))
        .clone();
    let dir = if channel["node_one"] == lsp {
        &channel["one_to_two"]
    } else {
        &channel["two_to_one"]
    };
    dir["fee_base_msat"].as_u64().expect("base fee")
        + amount_msat * dir["fee_proportional_millionths"].as_u64().expect("ppm") / 1_000_000
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
