//! Real bitcoind, real HTTP, real signatures: regtest-esplora through esplora-client 0.12
//! (async) and bdk_esplora.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bitcoin::hashes::{sha256d, Hash, HashEngine};
use bitcoin::transaction::Version;
use bitcoin::{absolute, Address, Amount, Network, Sequence, TxMerkleNode, TxOut, Txid};
use common::*;
use regtest_esplora::{BlockingRegtestEsplora, Config, RegtestEsplora};
use serde_json::Value;

async fn get_json(es: &RegtestEsplora, path: &str) -> Value {
    reqwest::get(format!("{}{}", es.esplora_url(), path))
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn merkle_root_from_proof(txid: Txid, merkle: &[Txid], mut pos: usize) -> TxMerkleNode {
    let mut cur = txid.to_raw_hash();
    for sibling in merkle {
        let mut e = sha256d::Hash::engine();
        if pos % 2 == 0 {
            e.input(cur.as_byte_array());
            e.input(sibling.as_byte_array());
        } else {
            e.input(sibling.as_byte_array());
            e.input(cur.as_byte_array());
        }
        cur = sha256d::Hash::from_engine(e);
        pos /= 2;
    }
    TxMerkleNode::from_raw_hash(cur)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fund_spend_confirm_and_verify_merkle_proof() {
    let es = start().await;
    let c = client(&es);
    let alice = Key::new();
    let bob = Key::new();
    let height0 = c.get_height().await.unwrap();
    assert_eq!(height0, 110);
    assert_eq!(
        c.get_tip_hash().await.unwrap(),
        c.get_block_hash(height0).await.unwrap()
    );

    // Fund alice from the faucet: unconfirmed, with its prevouts and fee.
    let fund = es.faucet_send(&alice.address, 1_000_000).await.unwrap();
    let status = c.get_tx_status(&fund).await.unwrap();
    assert!(!status.confirmed);
    let info = c.get_tx_info(&fund).await.unwrap().unwrap();
    assert!(info.fee > 0);
    assert!(info
        .vin
        .iter()
        .all(|i| i.prevout.is_some() && !i.is_coinbase));
    assert!(c.get_mempool_txids().await.unwrap().contains(&fund));
    let hist = c.scripthash_txs(&alice.spk(), None).await.unwrap();
    assert_eq!(hist.len(), 1);
    assert_eq!(hist[0].txid, fund);
    assert!(c.get_merkle_proof(&fund).await.unwrap().is_none());
    let utxos = c.get_address_utxos(&alice.address).await.unwrap();
    assert_eq!(utxos.len(), 1);
    assert_eq!(utxos[0].value, Amount::from_sat(1_000_000));
    assert!(!utxos[0].status.confirmed);

    // Confirm; verify the merkle proof against the block header.
    let block = es.mine(1).await.unwrap()[0];
    let status = c.get_tx_status(&fund).await.unwrap();
    assert!(status.confirmed);
    assert_eq!(status.block_hash, Some(block));
    assert_eq!(status.block_height, Some(height0 + 1));
    let proof = c.get_merkle_proof(&fund).await.unwrap().unwrap();
    assert_eq!(proof.block_height, height0 + 1);
    let header = c.get_header_by_hash(&block).await.unwrap();
    assert_eq!(
        merkle_root_from_proof(fund, &proof.merkle, proof.pos),
        header.merkle_root
    );
    assert_eq!(header.block_hash(), block);
    let mb = c.get_merkle_block(&fund).await.unwrap().unwrap();
    let (mut matches, mut indexes) = (vec![], vec![]);
    mb.extract_matches(&mut matches, &mut indexes).unwrap();
    assert_eq!(mb.header, header);
    assert_eq!(matches, vec![fund]);
    // The block through every block endpoint.
    let txids = c.get_block_txids(&block).await.unwrap();
    assert_eq!(txids.len(), 2);
    assert_eq!(txids[proof.pos], fund);
    assert_eq!(
        c.get_txid_at_block_index(&block, proof.pos).await.unwrap(),
        Some(fund)
    );
    assert_eq!(c.get_txid_at_block_index(&block, 9).await.unwrap(), None);
    let raw = c.get_block_by_hash(&block).await.unwrap().unwrap();
    assert_eq!(raw.block_hash(), block);
    let bi = c.get_block_info(&block).await.unwrap();
    assert_eq!((bi.id, bi.height, bi.tx_count), (block, height0 + 1, 2));
    assert_eq!(bi.merkle_root, header.merkle_root);
    assert_eq!(bi.previousblockhash, Some(header.prev_blockhash));
    let bs = c.get_block_status(&block).await.unwrap();
    assert!(bs.in_best_chain);
    assert_eq!(bs.height, Some(height0 + 1));
    assert_eq!(bs.next_best, None);
    let blocks = c.get_block_infos(None).await.unwrap();
    assert_eq!(blocks.len(), 10);
    assert_eq!(blocks[0], bi);
    let btxs = c.get_block_txs(&block, None).await.unwrap();
    assert_eq!(btxs[proof.pos].txid, fund);
    assert!(btxs[0].vin[0].is_coinbase);

    // Alice spends to bob (signed with rust-bitcoin), broadcast through POST /tx.
    let (op, prev) = find_output(&c, &fund, &alice.spk()).await;
    let spend = alice.spend(&[(op, prev)], vec![pay(&bob.address, 999_000)]);
    c.broadcast(&spend).await.unwrap();
    let spend_txid = spend.compute_txid();
    let out = c
        .get_output_status(&fund, op.vout as u64)
        .await
        .unwrap()
        .unwrap();
    assert!(out.spent);
    assert_eq!(out.txid, Some(spend_txid));
    assert_eq!(out.vin, Some(0));
    assert!(!out.status.unwrap().confirmed);
    let info = c.get_tx_info(&spend_txid).await.unwrap().unwrap();
    assert_eq!(info.fee, 1_000);
    assert_eq!(info.vin[0].witness.len(), 2);
    assert_eq!(c.get_tx(&spend_txid).await.unwrap(), Some(spend.clone()));
    let hist = c.scripthash_txs(&alice.spk(), None).await.unwrap();
    assert_eq!(
        hist.iter().map(|t| t.txid).collect::<Vec<_>>(),
        vec![spend_txid, fund],
        "mempool first, then confirmed"
    );
    assert!(c
        .get_address_utxos(&alice.address)
        .await
        .unwrap()
        .is_empty());

    let block2 = es.mine(1).await.unwrap()[0];
    let outspends = c.get_tx_outspends(&fund).await.unwrap();
    assert_eq!(outspends.len(), info_outputs(&c, &fund).await);
    let spent = &outspends[op.vout as usize];
    assert!(spent.spent);
    let st = spent.status.clone().unwrap();
    assert!(st.confirmed);
    assert_eq!(st.block_hash, Some(block2));
    assert!(outspends
        .iter()
        .enumerate()
        .all(|(i, o)| o.spent == (i == op.vout as usize)));
    let bob_utxos = c.get_scripthash_utxos(&bob.spk()).await.unwrap();
    assert_eq!(bob_utxos.len(), 1);
    assert_eq!(bob_utxos[0].txid, spend_txid);
    assert!(bob_utxos[0].status.confirmed);
    let stats = c.get_address_stats(&alice.address).await.unwrap();
    assert_eq!(stats.chain_stats.funded_txo_sum, 1_000_000);
    assert_eq!(stats.chain_stats.spent_txo_sum, 1_000_000);
    assert_eq!(stats.chain_stats.tx_count, 2);
    assert_eq!(
        c.get_block_status(&block).await.unwrap().next_best,
        Some(block2)
    );

    // Esplora's JSON field by field.
    let j = get_json(&es, &format!("/tx/{spend_txid}")).await;
    assert_eq!(j["vin"][0]["prevout"]["scriptpubkey_type"], "v0_p2wpkh");
    assert_eq!(
        j["vin"][0]["prevout"]["scriptpubkey_address"],
        alice.address.to_string()
    );
    assert_eq!(
        j["vout"][0]["scriptpubkey_address"],
        bob.address.to_string()
    );
    assert!(j["vout"][0]["scriptpubkey_asm"]
        .as_str()
        .unwrap()
        .starts_with("OP_0 OP_PUSHBYTES_20 "));
    assert_eq!(j["status"]["block_height"], height0 + 2);
    assert_eq!(j["size"], spend.total_size());
    assert_eq!(j["weight"], spend.weight().to_wu());
    let hex = reqwest::get(format!("{}/tx/{spend_txid}/hex", es.esplora_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(hex, bitcoin::consensus::encode::serialize_hex(&spend));
    let missing = reqwest::get(format!("{}/tx/{}", es.esplora_url(), Txid::all_zeros()))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.text().await.unwrap(), "Transaction not found");
}

async fn info_outputs(c: &esplora_client::AsyncClient, txid: &Txid) -> usize {
    c.get_tx_info(txid).await.unwrap().unwrap().vout.len()
}

/// Funds `key` with a confirmed output of `sats`.
async fn funded(es: &RegtestEsplora, key: &Key, sats: u64) -> (bitcoin::OutPoint, TxOut) {
    let p = es.faucet_pay(&key.address, sats, true).await.unwrap();
    assert!(p.block_hash.is_some());
    find_output(&client(es), &p.txid, &key.spk()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejects_bad_signature_with_bitcoind_reason() {
    let es = start().await;
    let c = client(&es);
    let key = Key::new();
    let (op, prev) = funded(&es, &key, 500_000).await;
    let mut tx = key.spend(&[(op, prev)], vec![pay(&key.address, 499_000)]);
    // Corrupt the signature's s value (still valid DER).
    let mut sig = tx.input[0].witness.to_vec();
    let n = sig[0].len();
    sig[0][n - 3] ^= 0x01;
    tx.input[0].witness = bitcoin::Witness::from_slice(&sig);
    let (status, msg) = http_error(c.broadcast(&tx).await.unwrap_err());
    assert_eq!(status, 400);
    assert!(msg.contains("script-verify-flag-failed"), "{msg}");
    assert!(
        msg.starts_with("sendrawtransaction RPC error: {\"code\":-26"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejects_double_spend_with_bitcoind_reason() {
    let es = start().await;
    let c = client(&es);
    let key = Key::new();
    let other = Key::new();
    // Spent and confirmed: the second spend finds its input missing.
    let (op, prev) = funded(&es, &key, 500_000).await;
    let first = key.spend(&[(op, prev.clone())], vec![pay(&other.address, 499_000)]);
    c.broadcast(&first).await.unwrap();
    es.mine(1).await.unwrap();
    let second = key.spend(&[(op, prev)], vec![pay(&key.address, 498_000)]);
    let (status, msg) = http_error(c.broadcast(&second).await.unwrap_err());
    assert_eq!(status, 400);
    assert!(msg.contains("bad-txns-inputs-missingorspent"), "{msg}");

    // Spent in the mempool: a conflicting spend that pays no more fee is refused.
    let (op, prev) = funded(&es, &key, 500_000).await;
    let a = key.spend(&[(op, prev.clone())], vec![pay(&other.address, 499_000)]);
    c.broadcast(&a).await.unwrap();
    let b = key.spend(&[(op, prev)], vec![pay(&key.address, 499_000)]);
    let (status, msg) = http_error(c.broadcast(&b).await.unwrap_err());
    assert_eq!(status, 400);
    assert!(
        msg.contains("insufficient fee") || msg.contains("txn-mempool-conflict"),
        "{msg}"
    );
    assert!(c
        .get_mempool_txids()
        .await
        .unwrap()
        .contains(&a.compute_txid()));
    assert!(c.get_tx_info(&b.compute_txid()).await.unwrap().is_none());
    // A replacement paying more fee is accepted; the index drops the replaced transaction.
    let funding = c.get_tx_no_opt(&op.txid).await.unwrap();
    let r = key.spend(
        &[(op, funding.output[op.vout as usize].clone())],
        vec![pay(&key.address, 495_000)],
    );
    c.broadcast(&r).await.unwrap();
    assert!(c.get_tx_info(&a.compute_txid()).await.unwrap().is_none());
    let out = c
        .get_output_status(&op.txid, op.vout as u64)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.txid, Some(r.compute_txid()));
    assert!(!c
        .get_mempool_txids()
        .await
        .unwrap()
        .contains(&a.compute_txid()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejects_immature_coinbase_spend_with_bitcoind_reason() {
    let es = start().await;
    let c = client(&es);
    let key = Key::new();
    let block = es.mine_to(&key.address, 1).await.unwrap()[0];
    let coinbase = c.get_txid_at_block_index(&block, 0).await.unwrap().unwrap();
    let (op, prev) = find_output(&c, &coinbase, &key.spk()).await;
    let tx = key.spend(
        &[(op, prev.clone())],
        vec![pay(&key.address, prev.value.to_sat() - 10_000)],
    );
    let (status, msg) = http_error(c.broadcast(&tx).await.unwrap_err());
    assert_eq!(status, 400);
    assert!(
        msg.contains("bad-txns-premature-spend-of-coinbase"),
        "{msg}"
    );
    // 100 confirmations later it is spendable.
    es.mine(99).await.unwrap();
    c.broadcast(&tx).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejects_non_final_cltv_with_bitcoind_reason() {
    let es = start().await;
    let c = client(&es);
    let key = Key::new();
    let tip = c.get_height().await.unwrap();
    let unlock = tip + 4;
    let script = key.timelocked_script(i64::from(unlock), false);
    let addr = Address::p2wsh(&script, Network::Regtest);
    let p = es.faucet_pay(&addr, 300_000, true).await.unwrap();
    let (op, prev) = find_output(&c, &p.txid, &addr.script_pubkey()).await;
    let tx = key.spend_p2wsh(
        (op, prev),
        &script,
        vec![pay(&key.address, 299_000)],
        absolute::LockTime::from_height(unlock).unwrap(),
        Sequence::ENABLE_LOCKTIME_NO_RBF,
        Version::TWO,
    );
    let (status, msg) = http_error(c.broadcast(&tx).await.unwrap_err());
    assert_eq!(status, 400);
    assert!(msg.contains("non-final"), "{msg}");
    let j = get_json(&es, &format!("/tx/{}", p.txid)).await;
    let vout = op.vout as usize;
    assert_eq!(j["vout"][vout]["scriptpubkey_type"], "v0_p2wsh");
    // Once the chain reaches the lock height, the same transaction is accepted.
    es.mine(unlock - c.get_height().await.unwrap())
        .await
        .unwrap();
    c.broadcast(&tx).await.unwrap();
    let j = get_json(&es, &format!("/tx/{}", tx.compute_txid())).await;
    assert!(j["vin"][0]["inner_witnessscript_asm"]
        .as_str()
        .unwrap()
        .contains("OP_CLTV"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejects_unmet_csv_with_bitcoind_reason() {
    let es = start().await;
    let c = client(&es);
    let key = Key::new();
    let delay = 5u16;
    let script = key.timelocked_script(i64::from(delay), true);
    let addr = Address::p2wsh(&script, Network::Regtest);
    let p = es.faucet_pay(&addr, 300_000, true).await.unwrap();
    let (op, prev) = find_output(&c, &p.txid, &addr.script_pubkey()).await;
    let tx = key.spend_p2wsh(
        (op, prev),
        &script,
        vec![pay(&key.address, 299_000)],
        absolute::LockTime::ZERO,
        Sequence::from_height(delay),
        Version::TWO,
    );
    let (status, msg) = http_error(c.broadcast(&tx).await.unwrap_err());
    assert_eq!(status, 400);
    assert!(msg.contains("non-BIP68-final"), "{msg}");
    es.mine(u32::from(delay) - 2).await.unwrap();
    let (_, msg) = http_error(c.broadcast(&tx).await.unwrap_err());
    assert!(msg.contains("non-BIP68-final"), "{msg}");
    es.mine(1).await.unwrap();
    c.broadcast(&tx).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_of_unconfirmed_parent_is_accepted_cpfp() {
    let es = start().await;
    let c = client(&es);
    let key = Key::new();
    let parent = es.faucet_send(&key.address, 400_000).await.unwrap();
    let (op, prev) = find_output(&c, &parent, &key.spk()).await;
    let child = key.spend(&[(op, prev)], vec![pay(&key.address, 380_000)]);
    c.broadcast(&child).await.unwrap();
    let child_txid = child.compute_txid();
    let mempool = c.get_mempool_txids().await.unwrap();
    assert!(mempool.contains(&parent) && mempool.contains(&child_txid));
    let info = c.get_tx_info(&child_txid).await.unwrap().unwrap();
    assert!(!info.status.confirmed);
    assert_eq!(info.fee, 20_000);
    assert_eq!(info.vin[0].txid, parent);
    let mempool_txs = c.get_mempool_scripthash_txs(&key.spk()).await.unwrap();
    assert_eq!(mempool_txs.len(), 2);
    let block = es.mine(1).await.unwrap()[0];
    for txid in [parent, child_txid] {
        assert_eq!(
            c.get_tx_status(&txid).await.unwrap().block_hash,
            Some(block)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn package_of_parent_and_child_via_txs_package() {
    let es = start().await;
    let c = client(&es);
    let key = Key::new();
    let key2 = Key::new();
    let (op, prev) = funded(&es, &key, 200_000).await;
    let parent = key.spend(&[(op, prev)], vec![pay(&key2.address, 199_800)]);
    let pop = bitcoin::OutPoint::new(parent.compute_txid(), 0);
    let child = key2.spend(
        &[(pop, parent.output[0].clone())],
        vec![pay(&key2.address, 190_000)],
    );
    let result = c
        .submit_package(&[parent.clone(), child.clone()], None, None)
        .await
        .unwrap();
    assert_eq!(result.package_msg, "success");
    assert_eq!(result.tx_results.len(), 2);
    let mempool = c.get_mempool_txids().await.unwrap();
    assert!(mempool.contains(&parent.compute_txid()));
    assert!(mempool.contains(&child.compute_txid()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_block_reorg_returns_transactions_to_the_mempool() {
    let es = start().await;
    let c = client(&es);
    let key = Key::new();
    let p = es.faucet_pay(&key.address, 600_000, true).await.unwrap();
    let b1 = p.block_hash.unwrap();
    let b2 = es.mine(1).await.unwrap()[0];
    let height = c.get_height().await.unwrap();
    let coinbase2 = c.get_txid_at_block_index(&b2, 0).await.unwrap().unwrap();
    assert!(c.get_tx_status(&p.txid).await.unwrap().confirmed);

    assert_eq!(es.reorg(2).await.unwrap(), b1);
    assert_eq!(c.get_height().await.unwrap(), height - 2);
    let status = c.get_tx_status(&p.txid).await.unwrap();
    assert!(!status.confirmed, "back to unconfirmed");
    assert!(c.get_mempool_txids().await.unwrap().contains(&p.txid));
    let hist = c.scripthash_txs(&key.spk(), None).await.unwrap();
    assert_eq!(hist.len(), 1);
    assert!(!hist[0].status.confirmed);
    assert!(c.get_merkle_proof(&p.txid).await.unwrap().is_none());
    assert!(
        !c.get_address_utxos(&key.address).await.unwrap()[0]
            .status
            .confirmed
    );
    // The disconnected coinbase is gone; the blocks are no longer in the best chain.
    assert!(c.get_tx_info(&coinbase2).await.unwrap().is_none());
    assert!(!c.get_block_status(&b1).await.unwrap().in_best_chain);
    assert!(!c.get_block_status(&b2).await.unwrap().in_best_chain);
    assert_ne!(c.get_block_hash(height - 1).await.map_err(|_| ()), Ok(b1));

    // A longer competing chain confirms it again, in a different block.
    let new = es.mine(3).await.unwrap();
    assert_eq!(c.get_height().await.unwrap(), height + 1);
    let status = c.get_tx_status(&p.txid).await.unwrap();
    assert!(status.confirmed);
    assert_eq!(status.block_hash, Some(new[0]));
    assert_ne!(new[0], b1);
    let proof = c.get_merkle_proof(&p.txid).await.unwrap().unwrap();
    let header = c.get_header_by_hash(&new[0]).await.unwrap();
    assert_eq!(
        merkle_root_from_proof(p.txid, &proof.merkle, proof.pos),
        header.merkle_root
    );
    // Reconsidering the shorter old branch keeps the longer new chain.
    es.reconsider().await.unwrap();
    assert_eq!(c.get_tip_hash().await.unwrap(), new[2]);
    assert!(!c.get_block_status(&b1).await.unwrap().in_best_chain);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reorg_then_reconsider_restores_the_chain() {
    let es = start().await;
    let c = client(&es);
    let tip = c.get_tip_hash().await.unwrap();
    let height = c.get_height().await.unwrap();
    es.reorg(3).await.unwrap();
    assert_eq!(c.get_height().await.unwrap(), height - 3);
    es.reconsider().await.unwrap();
    assert_eq!(c.get_tip_hash().await.unwrap(), tip);
    assert_eq!(c.get_height().await.unwrap(), height);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faucet_never_hands_out_an_immature_coinbase() {
    // At height 101 only the coinbases of blocks 1 and 2 have 100 confirmations.
    let es = start_with(Config {
        initial_blocks: 101,
        ..Config::default()
    })
    .await;
    let c = client(&es);
    let key = Key::new();
    assert_eq!(es.faucet_balance().await.unwrap(), 100 * 100_000_000);
    let txid = es
        .faucet_send(&key.address, 60 * 100_000_000)
        .await
        .unwrap();
    let tx = c.get_tx_info(&txid).await.unwrap().unwrap();
    let tip = c.get_height().await.unwrap();
    for input in &tx.vin {
        let funding = c.get_tx_info(&input.txid).await.unwrap().unwrap();
        if funding.vin[0].is_coinbase {
            let h = funding.status.block_height.unwrap();
            assert!(tip + 1 - h >= 100, "coinbase from height {h} at tip {tip}");
        }
    }
    // Only ~40 BTC of change is spendable now; 48 more BTC sit in immature coinbases.
    let err = es
        .faucet_send(&key.address, 45 * 100_000_000)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("insufficient mature funds"), "{err}");
    // One more block matures the coinbase of block 3.
    es.mine(1).await.unwrap();
    let txid = es
        .faucet_send(&key.address, 45 * 100_000_000)
        .await
        .unwrap();
    assert!(c.get_tx_info(&txid).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bdk_full_scan_sees_faucet_payments() {
    use bdk_esplora::EsploraAsyncExt;
    use bdk_wallet::{KeychainKind, Wallet};
    let es = start().await;
    let c = client(&es);
    let xprv = bitcoin::bip32::Xpriv::new_master(Network::Regtest, &[7u8; 32]).unwrap();
    let mut wallet = Wallet::create(
        format!("wpkh({xprv}/84'/1'/0'/0/*)"),
        format!("wpkh({xprv}/84'/1'/0'/1/*)"),
    )
    .network(Network::Regtest)
    .create_wallet_no_persist()
    .unwrap();
    let a0 = wallet.reveal_next_address(KeychainKind::External).address;
    let _a1 = wallet.reveal_next_address(KeychainKind::External).address;
    let a2 = wallet.reveal_next_address(KeychainKind::External).address;
    let a7 = wallet.peek_address(KeychainKind::External, 7).address;
    es.faucet_send(&a0, 100_000).await.unwrap();
    es.faucet_send(&a2, 200_000).await.unwrap();
    es.faucet_send(&a7, 300_000).await.unwrap();
    es.mine(1).await.unwrap();
    es.faucet_send(&a0, 50_000).await.unwrap();

    let request = wallet.start_full_scan().build();
    let update = c.full_scan(request, 10, 4).await.unwrap();
    wallet.apply_update(update).unwrap();
    let balance = wallet.balance();
    assert_eq!(balance.confirmed, Amount::from_sat(600_000));
    assert_eq!(balance.total(), Amount::from_sat(650_000));
    assert_eq!(
        wallet.latest_checkpoint().height(),
        c.get_height().await.unwrap()
    );

    // An incremental sync after a new block sees the payment confirmed.
    es.mine(1).await.unwrap();
    let request = wallet.start_sync_with_revealed_spks().build();
    let update = c.sync(request, 4).await.unwrap();
    wallet.apply_update(update).unwrap();
    assert_eq!(wallet.balance().confirmed, Amount::from_sat(650_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_counter_fee_table_and_rpc_info() {
    let es = start().await;
    let c = client(&es);
    es.reset_request_counts().await.unwrap();
    c.get_height().await.unwrap();
    assert_eq!(es.request_count("/blocks/tip/height").await.unwrap(), 1);
    assert_eq!(es.request_count("").await.unwrap(), 1);
    let tip = c.get_tip_hash().await.unwrap();
    c.get_block_status(&tip).await.unwrap();
    es.mine(1).await.unwrap(); // controls are not counted
    let counts = es.request_counts().await.unwrap();
    assert_eq!(counts.total, 3);
    assert_eq!(counts.count("/block/"), 1);
    assert_eq!(counts.routes.get("/block/{hash}/status"), Some(&1));
    es.reset_request_counts().await.unwrap();
    assert_eq!(es.request_count("").await.unwrap(), 0);

    let fees = c.get_fee_estimates().await.unwrap();
    assert_eq!(fees.get(&1), Some(&20.0));
    assert_eq!(fees.get(&144), Some(&1.0));
    let table: BTreeMap<u16, f64> = [(1, 50.5), (6, 12.0), (1008, 2.0)].into_iter().collect();
    es.set_fee_estimates(&table).await.unwrap();
    let fees = c.get_fee_estimates().await.unwrap();
    assert_eq!(fees.len(), 3);
    assert_eq!(fees.get(&1), Some(&50.5));
    assert_eq!(fees.get(&6), Some(&12.0));

    // bitcoind's RPC, as an ldk-node peer would use it; the index follows RPC-side actions.
    let info = es.rpc_info();
    assert!(info.url.starts_with("http://127.0.0.1:"));
    assert_eq!(info.user, "__cookie__");
    let cookie = std::fs::read_to_string(&info.cookie_file).unwrap();
    assert_eq!(cookie.trim(), format!("{}:{}", info.user, info.password));
    let rpc = regtest_esplora::BitcoindRpc::new(&info.url, &info.user, &info.password);
    let count: u32 = rpc
        .call("getblockcount", serde_json::json!([]))
        .await
        .unwrap();
    assert_eq!(count, c.get_height().await.unwrap());
    let key = Key::new();
    let _: Vec<String> = rpc
        .call(
            "generatetoaddress",
            serde_json::json!([2, key.address.to_string()]),
        )
        .await
        .unwrap();
    assert_eq!(c.get_height().await.unwrap(), count + 2);
    assert_eq!(c.scripthash_txs(&key.spk(), None).await.unwrap().len(), 2);
    let j: Value = reqwest::get(format!("{}/regtest/rpc", es.esplora_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(j["url"], info.url);
    assert_eq!(j["password"], info.password);
    assert!(es.bitcoind_exe().is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_cross_origin_requests_like_a_public_esplora() {
    let es = start().await;
    let http = reqwest::Client::new();
    es.reset_request_counts().await.unwrap();
    let origin = "http://127.0.0.1:1";
    // A browser's preflight for a JSON POST to a control endpoint.
    let pre = http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/regtest/mine", es.esplora_url()),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), reqwest::StatusCode::NO_CONTENT);
    let h = pre.headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    assert!(h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
    assert!(h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("content-type"));
    // The API's answers, errors included, carry the header too.
    for (path, status) in [("/blocks/tip/height", 200), ("/tx/nothex", 400)] {
        let r = http
            .get(format!("{}{path}", es.esplora_url()))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{path}");
        assert_eq!(r.headers()["access-control-allow-origin"], "*", "{path}");
    }
    // A preflight is not an Esplora request: the counter only saw the two GETs.
    assert_eq!(es.request_count("").await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripthash_history_pages_of_25() {
    let es = start().await;
    let c = client(&es);
    let key = Key::new();
    // 30 coinbases to one script: 25 newest on the first page, 5 on the next.
    let hashes = es.mine_to(&key.address, 30).await.unwrap();
    let page1 = c.scripthash_txs(&key.spk(), None).await.unwrap();
    assert_eq!(page1.len(), 25);
    let newest = c
        .get_txid_at_block_index(&hashes[29], 0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(page1[0].txid, newest);
    let heights: Vec<u32> = page1
        .iter()
        .map(|t| t.status.block_height.unwrap())
        .collect();
    assert!(heights.windows(2).all(|w| w[0] > w[1]), "newest first");
    let page2 = c
        .scripthash_txs(&key.spk(), Some(page1[24].txid))
        .await
        .unwrap();
    assert_eq!(page2.len(), 5);
    assert!(page2[0].status.block_height.unwrap() < heights[24]);
    let page3 = c
        .scripthash_txs(&key.spk(), Some(page2[4].txid))
        .await
        .unwrap();
    assert!(page3.is_empty());
    let addr_page = c.get_address_txs(&key.address, None).await.unwrap();
    assert_eq!(addr_page.len(), 25);
}

#[test]
fn blocking_api_and_bitcoind_stops_on_drop() {
    let es = BlockingRegtestEsplora::start().unwrap();
    let key = Key::new();
    let (h0, _) = es.tip().unwrap();
    let p = es.faucet_pay(&key.address, 10_000, true).unwrap();
    assert!(p.block_hash.is_some());
    assert_eq!(es.tip().unwrap().0, h0 + 1);
    let datadir = es.rpc_info().datadir.clone();
    let rpc_port = es.rpc_info().rpc_port;
    assert!(datadir.is_dir());
    drop(es);
    assert!(!datadir.exists(), "temporary datadir removed");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", rpc_port)).is_err(),
        "bitcoind's RPC port is closed"
    );
}

#[test]
fn binary_serves_until_sigterm_and_stops_bitcoind() {
    use std::io::BufRead;
    let port = regtest_esplora::bitcoind::free_port().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_regtest-esplora"))
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--initial-blocks",
            "101",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap();
    let info: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(info["esplora_url"], format!("http://127.0.0.1:{port}"));
    let datadir = std::path::PathBuf::from(info["rpc"]["datadir"].as_str().unwrap());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let height = rt.block_on(async {
        reqwest::get(format!("http://127.0.0.1:{port}/blocks/tip/height"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert_eq!(height, "101");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "regtest-esplora did not exit");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    assert!(!datadir.exists(), "temporary datadir removed");
    let rpc_port = info["rpc"]["rpc_port"].as_u64().unwrap() as u16;
    assert!(std::net::TcpStream::connect(("127.0.0.1", rpc_port)).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outspends_follow_a_reorg() {
    let es = start().await;
    let c = client(&es);
    let key = Key::new();
    let other = Key::new();
    let (op, prev) = funded(&es, &key, 500_000).await;
    let spend = key.spend(&[(op, prev)], vec![pay(&other.address, 499_000)]);
    c.broadcast(&spend).await.unwrap();
    let b = es.mine(1).await.unwrap()[0];
    let height = c.get_height().await.unwrap();
    let os = c
        .get_output_status(&op.txid, op.vout.into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(os.txid, Some(spend.compute_txid()));
    assert_eq!(os.status.unwrap().block_hash, Some(b));

    // Reorged out: still spent, by the same transaction, now unconfirmed.
    es.reorg(1).await.unwrap();
    let os = c
        .get_output_status(&op.txid, op.vout.into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(os.txid, Some(spend.compute_txid()));
    assert!(!os.status.unwrap().confirmed);
    assert_eq!(c.get_height().await.unwrap(), height - 1);

    // Mined again on a longer branch: confirmed in the new block at the same height.
    let new = es.mine(2).await.unwrap();
    let os = c
        .get_output_status(&op.txid, op.vout.into())
        .await
        .unwrap()
        .unwrap();
    let status = os.status.unwrap();
    assert_eq!(status.block_hash, Some(new[0]));
    assert_eq!(status.block_height, Some(height));
    assert_eq!(c.get_block_hash(height).await.unwrap(), new[0]);
    let outspends: Value = get_json(&es, &format!("/tx/{}/outspends", op.txid)).await;
    assert_eq!(
        outspends[op.vout as usize]["status"]["block_hash"],
        new[0].to_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_faults_answer_the_next_matching_requests() {
    use regtest_esplora::{Fault, FaultKind};
    let es = start().await;
    let url = es.esplora_url().to_string();
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("{url}{path}")).send();

    // 429 with Retry-After, twice, on one prefix only.
    let f = Fault::new(
        FaultKind::Status {
            status: 429,
            retry_after: Some(7),
        },
        "/blocks/tip",
    )
    .times(2);
    assert_eq!(es.inject_fault(&f).await.unwrap(), vec![f.clone()]);
    assert_eq!(get("/fee-estimates").await.unwrap().status(), 200);
    for _ in 0..2 {
        let r = get("/blocks/tip/hash").await.unwrap();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "7");
    }
    assert_eq!(get("/blocks/tip/hash").await.unwrap().status(), 200);
    assert!(es.faults().await.unwrap().is_empty());

    // A truncated body: half of the real one.
    let full = get("/fee-estimates").await.unwrap().text().await.unwrap();
    es.inject_fault(&Fault::new(FaultKind::Truncated, "/fee-estimates"))
        .await
        .unwrap();
    let cut = get("/fee-estimates").await.unwrap().text().await.unwrap();
    assert_eq!(cut, full[..full.len() / 2]);
    assert!(serde_json::from_str::<Value>(&cut).is_err());

    // Garbage: JSON of the wrong shape, status 200.
    es.inject_fault(&Fault::new(FaultKind::Garbage, "/block/"))
        .await
        .unwrap();
    let r = get("/blocks/tip/height").await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.text().await.unwrap().parse::<u32>().is_ok(),
        "not /block/"
    );
    let hash = get("/blocks/tip/hash").await.unwrap().text().await.unwrap();
    let r = get(&format!("/block/{hash}/status")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.json::<Value>().await.unwrap().get("garbage").is_some());

    // A stall, then the real answer.
    es.inject_fault(&Fault::new(
        FaultKind::Stall { ms: 600 },
        "/blocks/tip/height",
    ))
    .await
    .unwrap();
    let t = Instant::now();
    assert_eq!(get("/blocks/tip/height").await.unwrap().status(), 200);
    assert!(t.elapsed() >= Duration::from_millis(600));

    // A dropped broadcast: the txid comes back, bitcoind never sees it; the next one goes
    // through. Faulted requests are counted.
    let c = client(&es);
    let key = Key::new();
    let (op, prev) = funded(&es, &key, 500_000).await;
    let tx = key.spend(&[(op, prev)], vec![pay(&key.address, 499_000)]);
    es.reset_request_counts().await.unwrap();
    es.inject_fault(&Fault::drop_next_broadcast())
        .await
        .unwrap();
    c.broadcast(&tx).await.unwrap();
    assert!(c.get_tx(&tx.compute_txid()).await.unwrap().is_none());
    assert!(!c
        .get_mempool_txids()
        .await
        .unwrap()
        .contains(&tx.compute_txid()));
    c.broadcast(&tx).await.unwrap();
    assert!(c
        .get_mempool_txids()
        .await
        .unwrap()
        .contains(&tx.compute_txid()));
    assert_eq!(es.request_counts().await.unwrap().routes["/tx"], 2);

    // Method filter, and clearing.
    let f = Fault::new(
        FaultKind::Status {
            status: 500,
            retry_after: None,
        },
        "/",
    )
    .method("POST")
    .times(3);
    es.inject_fault(&f).await.unwrap();
    assert_eq!(get("/blocks/tip/height").await.unwrap().status(), 200);
    assert_eq!(es.clear_faults().await.unwrap(), vec![f]);
    assert!(es.faults().await.unwrap().is_empty());
}
