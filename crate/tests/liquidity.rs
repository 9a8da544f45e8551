//! First receive through an LSPS2 JIT channel (#16 items 4 and 5), against a real ldk-node
//! LSP (`peer --lsps2`: 1 % or at least 1,000 sat, payments of 1,000 sat to 1,000,000 sat)
//! and a merchant (ldk-node) with an announced channel from the LSP (the test network,
//! `regtest_esplora::network`), which pays our brand-new node.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::native::*;
use common::wait_until;
use regtest_esplora::network::TestNetwork;
use regtest_esplora::peer::{peer_exe, Chain, Peer};
use regtest_esplora::RegtestEsplora;
use serde_json::json;
use wasm_ln::io::MemoryStore;
use wasm_ln::{Event, Node, PaymentDirection, PaymentStatus};

/// A mnemonic of its own: the LSP must not know our node from another test's run.
const FRESH: &str = "legal winner thank year wave sausage worth useful legal winner thank yellow";

/// The LSP's quote for a payment of `msat`: `max(1,000 sat, 1 %)` (the peer's defaults).
fn quote(msat: u64) -> u64 {
    (msat / 100).max(1_000_000)
}

async fn network() -> (RegtestEsplora, TestNetwork) {
    let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
    let net = TestNetwork::start(&peer_exe(), &esplora).await;
    (esplora, net)
}

async fn fresh_node(esplora: &RegtestEsplora, lsp: Option<String>) -> Node {
    let mut b = builder(esplora, Arc::new(MemoryStore::new()));
    b.set_mnemonic(FRESH, "");
    if let Some(lsp) = lsp {
        b.set_lsp(lsp);
    }
    let node = b.build().await.expect("build");
    node.start().expect("start");
    node
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// The merchant pays `invoice` (its `/pay` returns once sent).
async fn merchant_pays(merchant: &Peer, invoice: &str) {
    merchant.post("/pay", json!({ "invoice": invoice })).await;
}

#[test]
fn fresh_wallet_first_receive() {
    run(async {
        let (esplora, net) = network().await;
        let node = fresh_node(&esplora, Some(net.lsp_uri())).await;
        assert!(node.list_channels().is_empty());
        assert_eq!(node.onchain().balance().confirmed_sat, 0);

        let amount = 50_000_000;
        // The quote first (what a wallet shows before the invoice): it buys and stores nothing.
        let asked_at = now();
        let q = node
            .bolt11_payment()
            .receive_quote(amount, 600, None)
            .await
            .expect("quote");
        assert!(q.via_jit_channel, "{q:?}");
        assert_eq!(q.fee_msat, quote(amount), "{q:?}");
        let offer_ends = q.expires_at.expect("the offer's end");
        // ldk-node's LSPS2 offers last a day.
        assert!(
            offer_ends + 120 > asked_at + 86_400 && offer_ends <= now() + 86_400,
            "{q:?}"
        );
        assert!(node.list_payments().is_empty());
        assert!(node.list_peers().iter().all(|p| !p.persisted));
        let started = Instant::now();
        let inv = node
            .bolt11_payment()
            .receive_via_jit_channel(amount, "first receive", 600, None)
            .await
            .expect("JIT invoice");
        assert_eq!(inv.fee_msat, q.fee_msat, "the invoice's fee is the quote's");
        let quoted = started.elapsed();
        assert!(inv.via_jit_channel);
        assert_eq!(inv.fee_msat, quote(amount), "the fee is the LSP's quote");
        let record = node.payment(&inv.payment_hash).expect("recorded");
        assert_eq!(record.lsp_fee_limit_msat, Some(inv.fee_msat));
        assert_eq!(record.amount_msat, Some(amount));

        merchant_pays(&net.merchant, &inv.invoice).await;
        let ev = wait_event(&node, "PaymentReceived", |e| {
            matches!(e, Event::PaymentReceived { .. })
        })
        .await;
        let elapsed = started.elapsed();
        println!(
            "JIT receive: invoice after {quoted:?}, PaymentReceived after {elapsed:?} \
             (budget 3 s on loopback; the node started just before: LDK's background \
             processor makes its first HTLC processing wait 2 s)"
        );
        let Event::PaymentReceived {
            amount_msat,
            fee_msat,
            ..
        } = ev
        else {
            unreachable!()
        };
        assert_eq!(fee_msat, inv.fee_msat);
        assert_eq!(fee_msat, q.fee_msat, "the LSP withheld what the quote said");
        assert_eq!(amount_msat, amount - inv.fee_msat);

        let p = node.payment(&inv.payment_hash).expect("payment");
        assert_eq!(p.status, PaymentStatus::Succeeded);
        assert_eq!(p.direction, PaymentDirection::Inbound);
        assert_eq!(p.amount_msat, Some(amount - inv.fee_msat));
        assert_eq!(p.fee_msat, Some(inv.fee_msat));
        assert_eq!(node.list_payments().len(), 1);

        // The new channel: from the LSP, zero-conf, ours the payment less the fee.
        let channels = node.list_channels();
        assert_eq!(channels.len(), 1, "{channels:?}");
        let ch = &channels[0];
        assert!(!ch.is_outbound && ch.is_usable);
        assert_eq!(ch.counterparty_node_id, net.lsp_id().as_str());
        // Legacy: a coinless wallet could not pay the fees of an anchor channel's
        // HTLC-success transaction nor CPFP its commitment, so it refused the LSP's anchor
        // channel and the LSP tried again without anchors.
        assert!(!ch.anchors, "{ch:?}");
        let b = node.balances();
        // Our side of the channel, less nothing: the LSP opened it and pays its fees.
        assert_eq!(b.lightning_msat / 1000, (amount - inv.fee_msat) / 1000);
        assert_eq!(b.onchain.confirmed_sat + b.onchain.unconfirmed_sat, 0);

        // Paid back over the new channel, through the LSP, to the merchant: a route through
        // the graph learnt by gossip from the LSP (the merchant's channel is announced).
        wait_until(&node, "the LSP's gossip", |n| {
            n.status().graph.channels >= 2
        })
        .await;
        let back = 20_000_000;
        // The claim's commitment update ends a moment after `PaymentReceived`.
        wait_until(&node, "outbound capacity", |n| {
            n.list_channels()
                .iter()
                .any(|c| c.outbound_capacity_msat >= back)
        })
        .await;
        let inv_back = peer_invoice(&net.merchant, Some(back), 600).await;
        let paid = node
            .bolt11_payment()
            .send(&inv_back, None, None)
            .await
            .expect("pay the merchant back");
        assert_eq!(paid.status, PaymentStatus::Succeeded);
        net.merchant.wait_event("PaymentReceived").await;
        assert_eq!(node.list_payments().len(), 2);

        // `receive` turns to a JIT channel by itself when the channel cannot take the amount
        // (and takes the channel when it can); the quote says so beforehand.
        let q_small = node
            .bolt11_payment()
            .receive_quote(5_000_000, 600, None)
            .await
            .expect("quote");
        assert_eq!(
            q_small,
            wasm_ln::payment::ReceiveQuote {
                via_jit_channel: false,
                fee_msat: 0,
                expires_at: None
            }
        );
        let q_big = node
            .bolt11_payment()
            .receive_quote(100_000_000, 600, None)
            .await
            .expect("quote");
        assert!(
            q_big.via_jit_channel && q_big.fee_msat == quote(100_000_000),
            "{q_big:?}"
        );
        assert_eq!(node.list_payments().len(), 2, "a quote stores nothing");
        let small = node
            .bolt11_payment()
            .receive(5_000_000, "fits", 600)
            .await
            .expect("receive");
        assert!(!small.via_jit_channel);
        assert_eq!(small.fee_msat, 0);
        let started = Instant::now();
        let big = node
            .bolt11_payment()
            .receive(100_000_000, "needs a channel", 600)
            .await
            .expect("receive via JIT");
        assert!(big.via_jit_channel);
        assert_eq!(big.fee_msat, q_big.fee_msat);
        merchant_pays(&net.merchant, &big.invoice).await;
        received(&node, 100_000_000 - big.fee_msat).await;
        println!(
            "second JIT receive (node running for a while): PaymentReceived after {:?}",
            started.elapsed()
        );
        wait_until(&node, "two channels", |n| n.list_channels().len() == 2).await;
        node.stop().await.expect("stop");
    });
}

#[test]
fn jit_quote_too_expensive() {
    run(async {
        let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
        let lsp = Peer::spawn_with_args(
            &peer_exe(),
            "lsp",
            Chain::Esplora(esplora.esplora_url()),
            &["--lsps2"],
        );
        let node = fresh_node(&esplora, Some(lsp.uri())).await;
        let amount = 50_000_000;
        let limit = quote(amount) - 1;
        let e = node
            .bolt11_payment()
            .receive_via_jit_channel(amount, "too dear", 600, Some(limit))
            .await
            .expect_err("a quote above the limit");
        assert_eq!(e.code(), "FEE_TOO_HIGH", "{e}");
        let text = e.to_string();
        assert!(
            text.contains(&quote(amount).to_string()) && text.contains(&limit.to_string()),
            "{text}"
        );
        // The quote refuses it the same way.
        let e = node
            .bolt11_payment()
            .receive_quote(amount, 600, Some(limit))
            .await
            .expect_err("a quote above the limit");
        assert_eq!(e.code(), "FEE_TOO_HIGH", "{e}");
        // Through `receive` too, with its limit.
        let e = node
            .bolt11_payment()
            .receive_with_max_fee(amount, "too dear", 600, Some(limit))
            .await
            .expect_err("a quote above the limit");
        assert_eq!(e.code(), "FEE_TOO_HIGH", "{e}");
        assert!(
            node.list_payments().is_empty(),
            "{:?}",
            node.list_payments()
        );
        // Nothing was bought: the LSP was only asked for its fees.
        assert!(node.list_peers().iter().all(|p| !p.persisted));
        // A limit that the quote meets goes through.
        let ok = node
            .bolt11_payment()
            .receive_via_jit_channel(amount, "fine", 600, Some(quote(amount)))
            .await
            .expect("at the limit");
        assert_eq!(ok.fee_msat, quote(amount));
        assert_eq!(node.list_payments().len(), 1);

        // The LSP's offers last a day (ldk-node's LSPS2 service): an invoice asked for two
        // days expires with the offer, less a minute's margin, and says so (bLIP-52).
        let asked = 2 * 86_400;
        let before = now();
        let long = node
            .bolt11_payment()
            .receive_via_jit_channel(amount, "two days", asked, None)
            .await
            .expect("JIT invoice");
        let decoded = wasm_ln::payment::bolt11::decode_invoice(&long.invoice).expect("decode");
        assert_eq!(decoded.expires_at, long.expires_at);
        let offer_ends = before + 86_400;
        assert!(
            // JIT_OFFER_MARGIN_SECS
            long.expires_at <= offer_ends - 60 && long.expires_at + 120 > offer_ends,
            "expires at {}, the offer ends about {offer_ends}",
            long.expires_at
        );
        // The invoice asks the payer for 146 blocks of final CLTV delta (LSPS2's 2 extra).
        assert_eq!(decoded.min_final_cltv_expiry_delta, 146);
        node.stop().await.expect("stop");
    });
}

#[test]
fn no_inbound_without_lsp() {
    run(async {
        let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
        let node = fresh_node(&esplora, None).await;
        let e = node
            .bolt11_payment()
            .receive(50_000_000, "no channel", 600)
            .await
            .expect_err("no inbound capacity");
        assert_eq!(e.code(), "NO_INBOUND_CAPACITY", "{e}");
        let e = node
            .bolt11_payment()
            .receive_quote(50_000_000, 600, None)
            .await
            .expect_err("no inbound capacity");
        assert_eq!(e.code(), "NO_INBOUND_CAPACITY", "{e}");
        let e = node
            .bolt11_payment()
            .receive_via_jit_channel(50_000_000, "no LSP", 600, None)
            .await
            .expect_err("no LSP");
        assert_eq!(e.code(), "INVALID_CONFIG", "{e}");
        assert!(node.list_payments().is_empty());
        node.stop().await.expect("stop");
    });
}

#[test]
fn an_lsp_that_does_not_answer() {
    run(async {
        let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
        // An ldk-node without the LSPS2 service ignores LSPS messages (an odd message type).
        let mute = Peer::spawn(&peer_exe(), "mute", Chain::Esplora(esplora.esplora_url()));
        let node = fresh_node(&esplora, Some(mute.uri())).await;
        let started = Instant::now();
        let e = node
            .bolt11_payment()
            .receive_via_jit_channel(50_000_000, "nobody home", 600, None)
            .await
            .expect_err("no answer");
        let waited = started.elapsed();
        assert_eq!(e.code(), "PEER_UNREACHABLE", "{e}");
        assert!(e.to_string().contains("did not answer"), "{e}");
        assert!(
            waited >= wasm_ln::liquidity::LSP_REQUEST_TIMEOUT
                && waited < wasm_ln::liquidity::LSP_REQUEST_TIMEOUT * 2,
            "{waited:?}"
        );
        // An LSP nobody listens for: refused at once.
        let mut b = builder(&esplora, Arc::new(MemoryStore::new()));
        b.set_mnemonic(FRESH, "")
            .set_lsp(format!("{}@127.0.0.1:{}", mute.node_id, closed_port()));
        let offline = b.build().await.expect("build");
        offline.start().expect("start");
        let e = offline
            .bolt11_payment()
            .receive(50_000_000, "offline LSP", 600)
            .await
            .expect_err("LSP offline");
        assert_eq!(e.code(), "PEER_UNREACHABLE", "{e}");
        assert!(node.list_payments().is_empty() && offline.list_payments().is_empty());
        node.stop().await.expect("stop");
        offline.stop().await.expect("stop");
    });
}
