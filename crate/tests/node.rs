//! The node against the real thing: bitcoind behind regtest-esplora, and an ldk-node peer
//! process (tests/peer, driven over its HTTP API; build it first with `cargo build -p peer`).
//! LDK without `std` is `!Sync`, so each test runs on a current-thread runtime in a `LocalSet`,
//! as in the browser.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::native::*;
use common::{wait_until, wait_usable, Snapshot, WAIT};
use regtest_esplora::peer::{peer_exe, wait_mempool, wait_mempool_settled, Chain, Peer};
use regtest_esplora::RegtestEsplora;
use serde_json::json;
use wasm_ln::io::{DynStore, FilesystemStore, MemoryStore};
use wasm_ln::{Event, Network, PaymentDetails, PaymentDirection, PaymentKind, PaymentStatus};

#[test]
fn channel_full_cycle() {
    run(async {
        let started = Instant::now();
        let (esplora, peer, node) = funded_node_and_peer().await;
        let (channel_id, open_fee) = open_channel(&esplora, &node, &peer, 0).await;
        let ch = &node.list_channels()[0];
        assert_eq!(ch.capacity_sat, CHANNEL);
        assert_eq!(ch.counterparty_node_id, peer.node_id);
        assert!(ch.is_outbound && ch.is_ready);
        // Anchors by default, and ldk-node accepts them (#14 item 2); the wallet keeps their
        // reserve.
        assert!(ch.anchors, "{ch:?}");
        assert_eq!(
            node.balances().onchain_reserve_sat,
            wasm_ln::chain::bump::ANCHOR_RESERVE_PER_CHANNEL_SAT
        );
        // The peer must wait a week after its own force close: we may be offline that long
        // and still punish a revoked commitment (#14 item 1).
        let theirs = peer.get("/channels").await;
        assert_eq!(
            theirs[0]["force_close_spend_delay"].as_u64(),
            Some(wasm_ln::DEFAULT_OUR_TO_SELF_DELAY.into()),
            "{theirs}"
        );

        // We pay a fixed invoice of the peer.
        let inv = peer_invoice(&peer, Some(20_000_000), 600).await;
        let paid = node
            .bolt11_payment()
            .send(&inv, None, None)
            .await
            .expect("pay");
        assert_eq!(paid.status, PaymentStatus::Succeeded);
        assert_eq!(paid.fee_paid_msat, Some(0), "direct channel");
        assert!(paid.preimage.is_some());
        wait_event(&node, "PaymentSuccessful", |e| {
            matches!(e, Event::PaymentSuccessful { .. })
        })
        .await;
        // Paying it again is refused and changes nothing.
        let err = node
            .bolt11_payment()
            .send(&inv, None, None)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "PAYMENT_FAILED", "{err}");

        // We keysend to the peer.
        let sent = node
            .spontaneous_payment()
            .send(&peer.node_id, 3_000_000, None)
            .await
            .expect("keysend");
        assert_eq!(sent.kind, PaymentKind::Spontaneous);
        assert_eq!(sent.status, PaymentStatus::Succeeded);

        // The peer pays our invoices (fixed and variable) and keysends to us.
        let ours = node
            .bolt11_payment()
            .receive(5_000_000, "coffee", 3600)
            .await
            .expect("invoice");
        // A payer may time our payment out only a day of blocks after it reaches us.
        let decoded = wasm_ln::payment::decode_invoice(&ours.invoice).expect("decodes");
        assert_eq!(decoded.min_final_cltv_expiry_delta, 144);
        wait_inbound(&node, 5_000_000).await;
        peer.post("/pay", json!({"invoice": ours.invoice})).await;
        received(&node, 5_000_000).await;
        let var = node
            .bolt11_payment()
            .receive_variable_amount("tip", 3600)
            .await
            .expect("variable invoice");
        peer.post(
            "/pay",
            json!({"invoice": var.invoice, "amount_msat": 2_000_000}),
        )
        .await;
        received(&node, 2_000_000).await;
        peer.post(
            "/keysend",
            json!({"node_id": node.node_id().to_string(), "amount_msat": 1_000_000}),
        )
        .await;
        received(&node, 1_000_000).await;

        let payments = node.list_payments();
        assert_eq!(payments.len(), 5, "{payments:#?}");
        for p in &payments {
            assert_eq!(p.status, PaymentStatus::Succeeded, "{p:?}");
            assert!(p.preimage.is_some(), "{p:?}");
            if p.direction == PaymentDirection::Outbound {
                assert_eq!(p.fee_paid_msat, Some(0), "{p:?}");
            }
        }
        let sum = |dir| -> u64 {
            payments
                .iter()
                .filter(|p| p.direction == dir)
                .map(|p| p.amount_msat.unwrap_or(0))
                .sum()
        };
        assert_eq!(sum(PaymentDirection::Outbound), 23_000_000);
        assert_eq!(sum(PaymentDirection::Inbound), 8_000_000);
        assert_eq!(
            node.payment(&ours.payment_hash).expect("by id").kind,
            PaymentKind::Bolt11
        );
        let ours_msat = CHANNEL * 1000 - 23_000_000 + 8_000_000;
        // Our side minus the commitment transaction's fee, which the funder (we) pays.
        let lightning = node.balances().lightning_msat;
        assert!(
            lightning < ours_msat && lightning > ours_msat - 5_000_000,
            "{lightning} vs {ours_msat}"
        );

        // Cooperative close: our side comes back to the wallet minus the closing fee.
        let funding = node.list_channels()[0]
            .funding_txo
            .clone()
            .expect("funding");
        node.close_channel(&channel_id).await.expect("close");
        wait_event(&node, "ChannelClosed", |e| {
            matches!(e, Event::ChannelClosed { .. })
        })
        .await;
        wait_mempool(&esplora, None).await;
        esplora.mine(6).await.expect("mine");
        let (_, close_fee) = spender_fee(&esplora, &funding).await;
        let expected = FUND - open_fee - close_fee - (CHANNEL - ours_msat / 1000);
        wait_until(&node, "close settles", |n| {
            n.onchain().balance().confirmed_sat == expected
        })
        .await;
        let b = node.balances();
        assert_eq!(b.onchain.spendable_sat, expected, "{b:?}");
        assert_eq!(b.lightning_msat, 0);
        assert!(node.list_channels().is_empty());

        // On-chain sends: an amount, then everything.
        let faucet = esplora.faucet_address().to_string();
        let txid = node
            .onchain()
            .send_to_address(&faucet, 100_000, Some(2))
            .await
            .expect("send");
        wait_mempool(&esplora, Some(&txid.to_string())).await;
        let left = node.onchain().balance().spendable_sat;
        assert!(
            left < expected - 100_000 && left > expected - 101_000,
            "{left}"
        );
        let txid = node
            .onchain()
            .send_all(&faucet, None)
            .await
            .expect("send all");
        wait_mempool(&esplora, Some(&txid.to_string())).await;
        assert_eq!(node.onchain().balance().spendable_sat, 0);
        println!(
            "open fee {open_fee} sat, close fee {close_fee} sat, final {expected} sat; \
             channel_full_cycle took {:.1} s",
            started.elapsed().as_secs_f64()
        );
        node.stop().await.expect("stop");
    });
}

#[test]
fn force_close_sweeps_funds() {
    run(async {
        let (esplora, peer, node) = funded_node_and_peer().await;

        // 1. We force close: our output waits for the peer's to_self_delay, then the sweeper
        //    moves it into the wallet by itself.
        let (channel_id, _) = open_channel(&esplora, &node, &peer, 0).await;
        // (Below the peer's in-flight limit: 10% of the channel.)
        pay_peer(&node, &peer, 40_000_000).await;
        // Let the HTLC leave the commitment first, or the peer must claim it on-chain.
        wait_inbound(&node, 40_000_000 - 5_000_000).await;
        let before_close = node.onchain().balance().confirmed_sat;
        node.force_close_channel(&channel_id)
            .await
            .expect("force close");
        wait_event(&node, "ChannelClosed", |e| {
            matches!(e, Event::ChannelClosed { .. })
        })
        .await;
        // The commitment, and the child paying its fee if LDK adds one.
        wait_mempool_settled(&esplora).await;
        esplora.mine(1).await.expect("mine");
        // An anchor channel: our commitment went out with a child paying its fee from the
        // wallet (CPFP), mined with it.
        wait_until(&node, "claimable after force close", |n| {
            n.balances()
                .claimable
                .iter()
                .any(|c| c.available_at_height.is_some())
                && n.onchain().balance().unconfirmed_sat == 0
        })
        .await;
        let before = node.onchain().balance().confirmed_sat;
        let bump_fee = before_close.saturating_sub(before);
        assert!(
            bump_fee > 0 && bump_fee < 10_000,
            "the wallet paid for the commitment (CPFP): {before_close} -> {before}"
        );
        let claim = node.balances().claimable;
        println!("claimable after our force close: {claim:?}");
        let delay_height = claim
            .iter()
            .filter_map(|c| c.available_at_height)
            .max()
            .expect("height");
        let tip = node.status().block_height;
        assert!(
            delay_height > tip + 100,
            "to_self_delay: {delay_height} vs tip {tip}"
        );
        // Nothing before the delay.
        assert_eq!(node.onchain().balance().confirmed_sat, before);
        esplora
            .mine(delay_height - tip + 1)
            .await
            .expect("mine past the delay");
        // The sweep is broadcast; confirm it.
        wait_swept(&esplora, &node, before, CHANNEL - 40_000).await;
        let deadline = Instant::now() + WAIT;
        while !node.balances().claimable.is_empty() {
            assert!(
                Instant::now() < deadline,
                "not settled: {:?}",
                node.balances()
            );
            esplora.mine(1).await.expect("mine");
            let _ = node.sync().await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // 2. The peer force closes on us: our output pays to us at once and is swept too.
        let (_channel_id, _) = open_channel(&esplora, &node, &peer, 0).await;
        pay_peer(&node, &peer, 30_000_000).await;
        let before = node.onchain().balance().confirmed_sat;
        let channels = peer.get("/channels").await;
        let ucid = channels
            .as_array()
            .expect("channels")
            .iter()
            .find(|c| c["is_channel_ready"] == true)
            .expect("open channel at the peer")["user_channel_id"]
            .clone();
        peer.post(
            "/channels/close",
            json!({"user_channel_id": ucid, "counterparty_node_id": node.node_id().to_string(), "force": true}),
        )
        .await;
        wait_mempool(&esplora, None).await;
        esplora.mine(1).await.expect("mine");
        wait_event(&node, "ChannelClosed", |e| {
            matches!(e, Event::ChannelClosed { .. })
        })
        .await;
        wait_swept(&esplora, &node, before, CHANNEL - 30_000).await;
        node.stop().await.expect("stop");
    });
}

#[test]
fn restart_keeps_state() {
    run(async {
        let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
        let peer = Peer::spawn(&peer_exe(), "peer", Chain::Esplora(esplora.esplora_url()));
        let dir = std::env::temp_dir().join(format!("wasm-ln-restart-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store: Arc<DynStore> = Arc::new(FilesystemStore::new(&dir).expect("store"));
        let node = start(&esplora, Arc::clone(&store)).await;
        fund(&esplora, &node, FUND).await;
        let (channel_id, _) = open_channel(&esplora, &node, &peer, 0).await;
        pay_peer(&node, &peer, 20_000_000).await;
        // Received, and its event left unacknowledged.
        let ours = node
            .bolt11_payment()
            .receive(4_000_000, "before restart", 3600)
            .await
            .expect("invoice");
        wait_inbound(&node, 4_000_000).await;
        peer.post("/pay", json!({"invoice": ours.invoice})).await;
        let deadline = Instant::now() + WAIT;
        while node.payment(&ours.payment_hash).map(|p| p.status) != Some(PaymentStatus::Succeeded) {
            assert!(Instant::now() < deadline, "payment not received");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let pending_events: Vec<Event> = {
            let mut v = Vec::new();
            // Drain everything before the PaymentReceived event, keep it queued.
            while let Some(e) = node.next_event() {
                if matches!(e.event, Event::PaymentReceived { .. }) {
                    break;
                }
                node.event_handled(e.id).await.expect("handled");
                v.push(e.event);
            }
            v
        };
        println!("handled before restart: {pending_events:?}");
        node.stop().await.expect("stop");
        let before = Snapshot::of(&node);
        assert_eq!(node.stop().await.unwrap_err().code(), "NODE_STOPPED");
        drop(node);

        let node = start(&esplora, Arc::clone(&store)).await;
        assert_eq!(Snapshot::of(&node), before);
        let unacknowledged = node.next_event();
        match unacknowledged.as_ref().map(|p| &p.event) {
            Some(Event::PaymentReceived { amount_msat, .. }) => assert_eq!(*amount_msat, 4_000_000),
            other => panic!("the unacknowledged event is gone: {other:?}"),
        }
        let id = unacknowledged.map(|p| p.id).expect("an event");
        node.event_handled(id).await.expect("handled");
        // Acknowledged once: a second consumer holding the same id cannot acknowledge it
        // again (nor, by mistake, whatever event came after it).
        assert_eq!(
            node.event_handled(id).await.unwrap_err().code(),
            "UNKNOWN_EVENT"
        );
        // It reconnects to the peer by itself and can pay again.
        wait_usable(&node, "reconnected", &channel_id).await;
        let paid = pay_peer(&node, &peer, 1_000_000).await;
        assert_eq!(paid.status, PaymentStatus::Succeeded);
        node.stop().await.expect("stop");
        let _ = std::fs::remove_dir_all(&dir);
    });
}

#[test]
fn idle_sync_costs_one_request() {
    run(async {
        let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
        // Not started: no background sync to count.
        let node = builder(&esplora, Arc::new(MemoryStore::new()))
            .build()
            .await
            .expect("build");
        node.sync().await.expect("first sync");
        let _ = node.onchain().new_address().await.expect("address");
        node.sync().await.expect("sync after a new address");
        esplora.reset_request_counts().await.expect("reset");
        node.sync().await.expect("idle sync");
        let counts = esplora.request_counts().await.expect("counts");
        assert_eq!(counts.total, 1, "{counts:?}");
        assert_eq!(counts.count("/blocks/tip/hash"), 1, "{counts:?}");
        // A new block costs more, and the next idle sync one again.
        esplora.mine(1).await.expect("mine");
        node.sync().await.expect("sync");
        esplora.reset_request_counts().await.expect("reset");
        node.sync().await.expect("idle sync");
        assert_eq!(esplora.request_counts().await.expect("counts").total, 1);
    });
}

/// A BOLT11 invoice signed by a throwaway key: `currency`, created `age` ago, valid `expiry`.
fn foreign_invoice(
    currency: lightning_invoice::Currency,
    age: Duration,
    expiry: Duration,
) -> String {
    use wasm_ln::bitcoin::hashes::{sha256, Hash};
    use wasm_ln::bitcoin::secp256k1::{Secp256k1, SecretKey};
    let secp = Secp256k1::new();
    let key = SecretKey::from_slice(&[0x42; 32]).expect("key");
    let now = wasm_ln::runtime::now();
    lightning_invoice::InvoiceBuilder::new(currency)
        .description("foreign".into())
        .payment_hash(sha256::Hash::hash(b"foreign"))
        .payment_secret(lightning::types::payment::PaymentSecret([7; 32]))
        .duration_since_epoch(now - age)
        .min_final_cltv_expiry_delta(144)
        .expiry_time(expiry)
        .amount_milli_satoshis(1_000)
        .build_signed(|hash| secp.sign_ecdsa_recoverable(hash, &key))
        .expect("invoice")
        .to_string()
}

#[test]
fn bad_input_gets_typed_errors_and_changes_nothing() {
    run(async {
        let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
        let peer = Peer::spawn(&peer_exe(), "peer", Chain::Esplora(esplora.esplora_url()));
        let store: Arc<DynStore> = Arc::new(MemoryStore::new());
        let node = start(&esplora, Arc::clone(&store)).await;
        fund(&esplora, &node, FUND).await;
        let (_, _) = open_channel(&esplora, &node, &peer, 0).await;
        let payments = node.list_payments();
        let channels = node.list_channels();
        let balances = node.balances();
        let peers = node.list_peers();
        let pay = |inv: String| {
            let node = &node;
            async move {
                node.bolt11_payment()
                    .send(&inv, None, None)
                    .await
                    .unwrap_err()
            }
        };
        // Malformed, another network's, expired.
        assert_eq!(pay("lnbcrt1garbage".into()).await.code(), "INVALID_INVOICE");
        assert_eq!(pay(String::new()).await.code(), "INVALID_INVOICE");
        let mainnet = foreign_invoice(
            lightning_invoice::Currency::Bitcoin,
            Duration::ZERO,
            Duration::from_secs(3600),
        );
        assert_eq!(pay(mainnet).await.code(), "WRONG_NETWORK");
        let expired = foreign_invoice(
            lightning_invoice::Currency::Regtest,
            Duration::from_secs(7200),
            Duration::from_secs(60),
        );
        assert_eq!(pay(expired).await.code(), "INVOICE_EXPIRED");
        // Above what the channel can send.
        let big = peer_invoice(&peer, Some(CHANNEL * 1000), 600).await;
        assert_eq!(pay(big).await.code(), "INSUFFICIENT_FUNDS");
        // Our own invoice.
        let own = node
            .bolt11_payment()
            .receive_variable_amount("self", 600)
            .await
            .expect("invoice");
        let payments_with_own = node.list_payments();
        let err = node
            .bolt11_payment()
            .send(&own.invoice, Some(1_000), None)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "INVALID_INVOICE", "{err}");
        // An unreachable peer, a channel to an unknown (unreachable) peer.
        let closed_port = closed_port();
        let err = node
            .connect(&format!("{UNKNOWN_PEER}@127.0.0.1:{closed_port}"), true)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "PEER_UNREACHABLE", "{err}");
        let err = node
            .open_channel(
                &format!("{UNKNOWN_PEER}@127.0.0.1:{closed_port}"),
                100_000,
                0,
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), "PEER_UNREACHABLE", "{err}");
        assert_eq!(
            node.connect("not a peer", false).await.unwrap_err().code(),
            "INVALID_CONFIG"
        );
        // More than the wallet holds.
        let err = node
            .open_channel(&peer.uri(), 10 * FUND, 0)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "INSUFFICIENT_FUNDS", "{err}");
        // Closing a channel that does not exist.
        let err = node.close_channel(&"ab".repeat(32)).await.unwrap_err();
        assert_eq!(err.code(), "UNKNOWN_CHANNEL", "{err}");
        let err = node.force_close_channel("nonsense").await.unwrap_err();
        assert_eq!(err.code(), "UNKNOWN_CHANNEL", "{err}");
        // On-chain: another network's address, more than we have.
        let err = node
            .onchain()
            .send_to_address("bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", 1_000, None)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "WRONG_NETWORK", "{err}");
        let ours = node
            .onchain()
            .new_address()
            .await
            .expect("address")
            .to_string();
        let err = node
            .onchain()
            .send_to_address(&ours, 10 * FUND, None)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "INSUFFICIENT_FUNDS", "{err}");

        // Nothing changed.
        assert_eq!(node.list_payments(), payments_with_own);
        assert_eq!(payments_with_own.len(), payments.len() + 1);
        assert_eq!(node.list_channels().len(), channels.len());
        assert_eq!(node.balances().onchain, balances.onchain);
        assert_eq!(node.list_peers(), peers);
        node.stop().await.expect("stop");
        // A stopped node refuses calls, above all those that write the store: another
        // instance (a new tab) may own it now.
        let err = node.bolt11_payment().receive(1, "x", 60).await.unwrap_err();
        assert_eq!(err.code(), "NODE_STOPPED");
        let faucet = esplora.faucet_address().to_string();
        let refusals = [
            node.onchain().new_address().await.map(|_| ()),
            node.onchain()
                .send_to_address(&faucet, 10_000, None)
                .await
                .map(|_| ()),
            node.onchain().send_all(&faucet, None).await.map(|_| ()),
            node.sync().await,
            node.disconnect(&peer.node_id).await,
            node.event_handled(wasm_ln::EventId(1)).await,
        ];
        for (i, r) in refusals.into_iter().enumerate() {
            assert_eq!(r.unwrap_err().code(), "NODE_STOPPED", "call {i}");
        }
        assert_eq!(node.list_payments(), payments_with_own);
        assert_eq!(node.onchain().balance(), balances.onchain);
        drop(node);

        // Bad configuration: mnemonic, Esplora URL, proxy URL; a store of another network or seed.
        let mut b = builder(&esplora, Arc::new(MemoryStore::new()));
        b.set_mnemonic("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon", "");
        assert_eq!(b.build().await.unwrap_err().code(), "INVALID_CONFIG");
        let mut b = builder(&esplora, Arc::new(MemoryStore::new()));
        b.set_esplora_url("ftp://127.0.0.1:1");
        assert_eq!(b.build().await.unwrap_err().code(), "INVALID_CONFIG");
        let mut b = builder(&esplora, Arc::new(MemoryStore::new()));
        b.set_proxy_url("http://127.0.0.1:1");
        assert_eq!(b.build().await.unwrap_err().code(), "INVALID_CONFIG");
        let mut b = builder(&esplora, Arc::clone(&store));
        b.set_network(Network::Signet);
        assert_eq!(b.build().await.unwrap_err().code(), "WRONG_NETWORK");
        let mut b = builder(&esplora, Arc::clone(&store));
        b.set_mnemonic(
            "legal winner thank year wave sausage worth useful legal winner thank yellow",
            "",
        );
        assert_eq!(b.build().await.unwrap_err().code(), "INVALID_CONFIG");
        // The refused builds left the store as it was: it still opens with its own seed.
        let node = builder(&esplora, store).build().await.expect("reopen");
        assert_eq!(node.list_channels().len(), channels.len());
    });
}

/// A tab killed between recording a payment and LDK taking (or saving) it: LDK never had
/// it, so the next start marks it Failed, once, with an event. Received payments are left
/// alone.
#[test]
fn interrupted_payment_fails_on_restart() {
    run(async {
        let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
        let store: Arc<DynStore> = Arc::new(MemoryStore::new());
        let node = start(&esplora, Arc::clone(&store)).await;
        let invoice = node
            .bolt11_payment()
            .receive_variable_amount("inbound, still open", 3600)
            .await
            .expect("invoice");
        node.stop().await.expect("stop");
        drop(node);
        // What `send` wrote before the tab died.
        let payments = wasm_ln::payment::PaymentStore::load(Arc::clone(&store))
            .await
            .expect("payment store");
        let lost = "11".repeat(32);
        payments
            .upsert(PaymentDetails {
                id: lost.clone(),
                kind: PaymentKind::Bolt11,
                direction: PaymentDirection::Outbound,
                status: PaymentStatus::Pending,
                amount_msat: Some(7_000),
                fee_paid_msat: None,
                payment_hash: lost.clone(),
                preimage: None,
                invoice: None,
                failure_reason: None,
                claimable_amount_msat: None,
                fee_msat: None,
                lsp_fee_limit_msat: None,
                created_at: 1,
                updated_at: 1,
            })
            .await
            .expect("record");

        let node = builder(&esplora, Arc::clone(&store))
            .build()
            .await
            .expect("rebuild");
        let failed = node.payment(&lost).expect("record kept");
        assert_eq!(failed.status, PaymentStatus::Failed);
        assert!(
            failed
                .failure_reason
                .as_deref()
                .is_some_and(|r| r.contains("interrupted")),
            "{failed:?}"
        );
        let failed_event = node.next_event().expect("an event");
        match &failed_event.event {
            Event::PaymentFailed { payment_id, .. } => assert_eq!(*payment_id, lost),
            other => panic!("no PaymentFailed event: {other:?}"),
        }
        node.event_handled(failed_event.id).await.expect("handled");
        assert_eq!(node.next_event(), None);
        let inbound = node.payment(&invoice.payment_hash).expect("inbound record");
        assert_eq!(inbound.status, PaymentStatus::Pending);
        drop(node);

        // Once: a third start changes nothing and queues nothing.
        let node = builder(&esplora, Arc::clone(&store))
            .build()
            .await
            .expect("third build");
        assert_eq!(node.next_event(), None);
        assert_eq!(
            node.payment(&lost).map(|p| p.status),
            Some(PaymentStatus::Failed)
        );
    });
}

/// An on-chain send whose broadcast got no answer (Esplora down): it may have been relayed,
/// so it stays pending and its coins reserved; once Esplora answers, the node broadcasts it
/// again and a block confirms it (#14 item 4). Also: no peer is dialled before a first sync.
#[test]
fn unanswered_broadcast_keeps_coins_until_a_block_decides() {
    run(async {
        let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
        let store: Arc<DynStore> = Arc::new(MemoryStore::new());
        let node = start(&esplora, Arc::clone(&store)).await;
        fund(&esplora, &node, FUND).await;
        node.stop().await.expect("stop");
        drop(node);

        let closed_port = closed_port();
        let mut b = builder(&esplora, Arc::clone(&store));
        b.set_esplora_url(format!("http://127.0.0.1:{closed_port}"));
        let node = b.build().await.expect("build with Esplora down");
        node.start().expect("start with Esplora down");
        // No peer is dialled before a first sync: LDK would negotiate on guessed fees.
        let err = node
            .connect(&format!("{UNKNOWN_PEER}@127.0.0.1:{closed_port}"), false)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "CHAIN_SOURCE_UNAVAILABLE", "{err}");
        let to = esplora.faucet_address().to_string();
        let err = node
            .onchain()
            .send_to_address(&to, 30_000, None)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "CHAIN_SOURCE_UNAVAILABLE", "{err}");
        // The coin is reserved and the send shows as pending: the balance tells the truth
        // whichever way it goes.
        let balance = node.onchain().balance();
        assert_eq!(balance.confirmed_sat, 0, "{balance:?}");
        assert!(balance.spendable_sat < FUND - 30_000, "{balance:?}");
        node.stop().await.expect("stop");
        drop(node);

        // Once Esplora answers, the node broadcasts the pending send again (#14 item 4): a
        // block confirms it, and the balance is what the send left.
        let node = start(&esplora, Arc::clone(&store)).await;
        let deadline = Instant::now() + WAIT;
        loop {
            esplora.mine(1).await.expect("mine");
            let _ = node.sync().await;
            let b = node.onchain().balance();
            if b.confirmed_sat < FUND && b.unconfirmed_sat == 0 {
                assert!(b.confirmed_sat > FUND - 30_000 - 5_000, "{b:?}");
                assert!(b.confirmed_sat < FUND - 30_000, "{b:?}");
                break;
            }
            assert!(Instant::now() < deadline, "the send never confirmed: {b:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        node.stop().await.expect("stop");
    });
}

/// #14 item 11: the ldk-node peer opens a 400,000 sat channel to us (as an LSP or another
/// wallet would) and pays our invoice of 100,000 sat. LDK's default cap on HTLCs in flight
/// towards us (10 % of a channel) let only 40,000 sat through; `receive` promised more.
#[test]
fn receive_over_inbound_channel() {
    run(async {
        const INBOUND: u64 = 400_000;
        const RECEIVE_MSAT: u64 = 100_000_000;
        let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
        let peer = Peer::spawn(&peer_exe(), "peer", Chain::Esplora(esplora.esplora_url()));
        let node = start(&esplora, Arc::new(MemoryStore::new())).await;

        // Fund the peer, which then opens a channel to us over our connection (a browser
        // node cannot be dialled).
        fund_peer(&esplora, &peer, 1_000_000).await;
        node.connect(&peer.uri(), false).await.expect("connect");
        peer.post(
            "/channels",
            json!({ "node_id": node.node_id().to_string(), "address": "127.0.0.1:9",
                    "amount_sat": INBOUND }),
        )
        .await;
        wait_event(&node, "ChannelPending", |e| {
            matches!(e, Event::ChannelPending { .. })
        })
        .await;
        wait_mempool(&esplora, None).await;
        esplora.mine(6).await.expect("mine");
        wait_until(&node, "the inbound channel usable", |n| {
            n.list_channels()
                .iter()
                .any(|c| c.is_usable && !c.is_outbound)
        })
        .await;
        let ch = node
            .list_channels()
            .into_iter()
            .find(|c| !c.is_outbound)
            .expect("ours");
        assert_eq!(ch.capacity_sat, INBOUND);

        // An invoice for a quarter of the channel is paid whole.
        let inv = node
            .bolt11_payment()
            .receive(RECEIVE_MSAT, "a quarter", 3600)
            .await
            .expect("invoice");
        peer.post("/pay", json!({ "invoice": inv.invoice })).await;
        received(&node, RECEIVE_MSAT).await;
        let got = node.payment(&inv.payment_hash).expect("recorded");
        assert_eq!(got.status, PaymentStatus::Succeeded);
        assert_eq!(got.amount_msat, Some(RECEIVE_MSAT));

        // And `receive` refuses what the channel cannot take.
        let ch = node
            .list_channels()
            .into_iter()
            .find(|c| !c.is_outbound)
            .expect("ours");
        let limit = ch.inbound_capacity_msat;
        let err = node
            .bolt11_payment()
            .receive(limit + 1_000, "too much", 3600)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "NO_INBOUND_CAPACITY", "{err}");
        node.stop().await.expect("stop");
    });
}
