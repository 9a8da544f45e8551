//! Money safety of the wallet and of received payments (#14 items 3, 5, 6), against the real
//! fixture: bitcoind behind regtest-esplora and ldk-node peers (build them first with
//! `cargo build -p peer`).
#![cfg(not(target_arch = "wasm32"))]
// LDK without `std` is `!Sync`: everything runs on one thread (`run`).
#![allow(clippy::arc_with_non_send_sync)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::native::*;
use common::{wait_until, WAIT};
use lightning::sign::{ChangeDestinationSource, SignerProvider};
use lightning::util::persist::{
    ARCHIVED_CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
    ARCHIVED_CHANNEL_MONITOR_PERSISTENCE_SECONDARY_NAMESPACE,
    CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE, CHANNEL_MONITOR_PERSISTENCE_SECONDARY_NAMESPACE,
};
use regtest_esplora::peer::{peer_exe, wait_mempool, Chain, Peer};
use regtest_esplora::{regtest_address, RegtestEsplora};
use serde_json::json;
use wasm_ln::bitcoin::{Address, ScriptBuf};
use wasm_ln::chain::OnchainWallet;
use wasm_ln::io::{DynStore, MemoryStore};
use wasm_ln::logger::NodeLogger;
use wasm_ln::signer::WalletSignerProvider;
use wasm_ln::{keys, seed, Event, LogLevel, Network, PaymentDirection, PaymentStatus};

/// 40 scripts asked of the wallet by LDK (channel destination and shutdown scripts through
/// the node's `SignerProvider`, sweep change through `ChangeDestinationSource`), funds sent
/// to the last one, then a node restored from the mnemonic on an empty store finds them: the
/// requests reuse the unused change address instead of revealing 40 new ones, which would
/// put it beyond the restore's gap limit (`STOP_GAP` = 20).
#[test]
fn scripts_found_after_restore() {
    run(async {
        let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
        let bip39_seed = seed::parse_mnemonic(MNEMONIC)
            .expect("mnemonic")
            .to_seed("");
        let store: Arc<DynStore> = Arc::new(MemoryStore::new());
        let wallet = Arc::new(
            OnchainWallet::open(store, &bip39_seed, Network::Regtest)
                .await
                .expect("wallet"),
        );
        let signer = WalletSignerProvider::new(
            Arc::new(keys::keys_manager(&bip39_seed).expect("keys")),
            Arc::clone(&wallet),
            Arc::new(NodeLogger::new(LogLevel::Warn)),
        );
        let mut scripts: Vec<ScriptBuf> = Vec::new();
        for i in 0..40u8 {
            let script = match i % 3 {
                0 => signer.get_destination_script([i; 32]).expect("destination"),
                1 => signer
                    .get_shutdown_scriptpubkey()
                    .expect("shutdown")
                    .into_inner(),
                _ => wallet
                    .get_change_destination_script()
                    .await
                    .expect("sweep change"),
            };
            scripts.push(script);
        }
        let last = scripts.last().expect("40 scripts");
        let address =
            Address::from_script(last, wasm_ln::bitcoin::Network::Regtest).expect("an address");
        let sats = 77_777;
        esplora
            .faucet_pay(
                &regtest_address(&address.to_string()).expect("regtest address"),
                sats,
                true,
            )
            .await
            .expect("faucet");

        // Restored from the words alone.
        let restored = start(&esplora, Arc::new(MemoryStore::new())).await;
        wait_until(&restored, "restored balance", |n| {
            n.onchain().balance().confirmed_sat == sats
        })
        .await;
        restored.stop().await.expect("stop");
    });
}

/// Our invoice paid by one peer, then paid again by a second peer (ldk-node refuses to pay
/// one invoice twice itself, so the second payer is another node): the second payment is
/// failed back, its payer sees it fail, and our balance grows once. Then an invoice whose
/// payment hash is that of the payment we received is refused, and the received record stays
/// as it was (one record per id: paying would have overwritten it).
#[test]
fn second_payment_to_a_paid_invoice_is_failed_back() {
    run(async {
        let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
        let first = Peer::spawn(&peer_exe(), "first", Chain::Esplora(esplora.esplora_url()));
        let second = Peer::spawn(&peer_exe(), "second", Chain::Esplora(esplora.esplora_url()));
        let node = start(&esplora, Arc::new(MemoryStore::new())).await;
        fund(&esplora, &node, 2 * FUND).await;
        let push_msat = 200_000_000;
        open_channel(&esplora, &node, &first, push_msat).await;
        open_channel(&esplora, &node, &second, push_msat).await;
        let before = node.balances().lightning_msat;

        let amount_msat = 30_000_000;
        let ours = node
            .bolt11_payment()
            .receive(amount_msat, "pay me once", 600)
            .await
            .expect("invoice");
        first.post("/pay", json!({"invoice": ours.invoice})).await;
        received(&node, amount_msat).await;
        first.wait_event("PaymentSuccessful").await;

        second.post("/pay", json!({"invoice": ours.invoice})).await;
        let failed = second.wait_event("PaymentFailed").await;
        println!("the second payer saw: {failed}");
        // Nothing more was received, and the record is the first payment's.
        tokio::time::sleep(Duration::from_millis(500)).await;
        while let Some(e) = node.next_event() {
            assert!(
                !matches!(e.event, Event::PaymentReceived { .. }),
                "received twice: {e:?}"
            );
            node.event_handled(e.id).await.expect("handled");
        }
        let record = node.payment(&ours.payment_hash).expect("record");
        assert_eq!(record.direction, PaymentDirection::Inbound);
        assert_eq!(record.status, PaymentStatus::Succeeded);
        assert_eq!(record.amount_msat, Some(amount_msat));
        let deadline = Instant::now() + WAIT;
        while node.balances().lightning_msat != before + amount_msat {
            assert!(Instant::now() < deadline, "{:?}", node.balances());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(node.list_payments().len(), 1, "{:?}", node.list_payments());

        // An invoice (of some other node) with the hash we were paid for.
        let hash: [u8; 32] =
            lightning::bitcoin::hex::FromHex::from_hex(&ours.payment_hash).expect("hash");
        let colliding = invoice_with_hash(hash);
        let err = node
            .bolt11_payment()
            .send(&colliding, None, None)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "INVALID_INVOICE", "{err}");
        assert_eq!(node.payment(&ours.payment_hash), Some(record));
        assert_eq!(node.list_payments().len(), 1);
        node.stop().await.expect("stop");
    });
}

/// A BOLT11 invoice for 1,000 msat with `payment_hash`, signed by a throwaway key.
fn invoice_with_hash(payment_hash: [u8; 32]) -> String {
    use wasm_ln::bitcoin::hashes::{sha256, Hash};
    use wasm_ln::bitcoin::secp256k1::{Secp256k1, SecretKey};
    let secp = Secp256k1::new();
    let key = SecretKey::from_slice(&[0x42; 32]).expect("key");
    lightning_invoice::InvoiceBuilder::new(lightning_invoice::Currency::Regtest)
        .description("same hash".into())
        .payment_hash(sha256::Hash::from_byte_array(payment_hash))
        .payment_secret(lightning::types::payment::PaymentSecret([7; 32]))
        .duration_since_epoch(wasm_ln::runtime::now())
        .min_final_cltv_expiry_delta(144)
        .expiry_time(Duration::from_secs(600))
        .amount_milli_satoshis(1_000)
        .build_signed(|hash| secp.sign_ecdsa_recoverable(hash, &key))
        .expect("invoice")
        .to_string()
}

async fn keys_in(store: &DynStore, primary: &str, secondary: &str) -> Vec<String> {
    store.list(primary, secondary).await.expect("list")
}

/// A channel closed cooperatively: once its monitor has had nothing to claim for LDK's
/// `ARCHIVAL_DELAY_BLOCKS` (4032), the node moves it from the live monitors to the archive,
/// so the store and the chain sync stop carrying it; the node restarts fine without it.
#[test]
fn resolved_monitors_are_archived() {
    run(async {
        let started = Instant::now();
        let esplora = RegtestEsplora::start().await.expect("regtest-esplora");
        let peer = Peer::spawn(&peer_exe(), "peer", Chain::Esplora(esplora.esplora_url()));
        let store: Arc<DynStore> = Arc::new(MemoryStore::new());
        let node = start(&esplora, Arc::clone(&store)).await;
        fund(&esplora, &node, FUND).await;
        let (channel_id, _) = open_channel(&esplora, &node, &peer, 0).await;
        let live = || {
            keys_in(
                &*store,
                CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
                CHANNEL_MONITOR_PERSISTENCE_SECONDARY_NAMESPACE,
            )
        };
        let archived = || {
            keys_in(
                &*store,
                ARCHIVED_CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
                ARCHIVED_CHANNEL_MONITOR_PERSISTENCE_SECONDARY_NAMESPACE,
            )
        };
        let monitor_keys = live().await;
        assert_eq!(monitor_keys.len(), 1);

        node.close_channel(&channel_id).await.expect("close");
        wait_event(&node, "ChannelClosed", |e| {
            matches!(e, Event::ChannelClosed { .. })
        })
        .await;
        wait_mempool(&esplora, None).await;
        // Six confirmations: the monitor has nothing left to claim, and the sync that sees
        // it starts LDK's count.
        esplora.mine(6).await.expect("mine");
        let height = esplora_height(&esplora).await;
        wait_until(&node, "close confirmed", |n| {
            n.status().block_height >= height
                && n.balances().lightning_msat == 0
                && n.balances().claimable.is_empty()
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(live().await, monitor_keys, "not archived before the delay");

        // LDK's delay, in batches (one RPC call for 4032 blocks is slow to answer).
        let mined = Instant::now();
        let mut left: u32 = 4032;
        while left > 0 {
            let n = left.min(1008);
            esplora.mine(n).await.expect("mine");
            left -= n;
        }
        println!(
            "mining 4032 blocks took {:.1} s",
            mined.elapsed().as_secs_f64()
        );
        let synced = Instant::now();
        let deadline = Instant::now() + WAIT;
        while !live().await.is_empty() {
            assert!(Instant::now() < deadline, "monitor not archived");
            let _ = node.sync().await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        println!(
            "archived {:.1} s after the blocks were mined",
            synced.elapsed().as_secs_f64()
        );
        assert_eq!(archived().await, monitor_keys);

        node.stop().await.expect("stop");
        drop(node);
        let node = start(&esplora, Arc::clone(&store)).await;
        node.sync().await.expect("sync after restart");
        assert!(node.list_channels().is_empty());
        assert!(live().await.is_empty());
        node.stop().await.expect("stop");
        println!(
            "resolved_monitors_are_archived took {:.1} s",
            started.elapsed().as_secs_f64()
        );
    });
}

async fn esplora_height(esplora: &RegtestEsplora) -> u32 {
    let chain =
        wasm_ln::chain::esplora::EsploraChainSource::new(esplora.esplora_url()).expect("client");
    chain.client().get_height().await.expect("height")
}
