//! The Esplora chain source against the real fixture (bitcoind regtest + Esplora REST).
#![cfg(not(target_arch = "wasm32"))]

use std::collections::HashMap;
use std::sync::Mutex;

use lightning::chain::transaction::{OutPoint as LdkOutPoint, TransactionData};
use lightning::chain::{Confirm, Filter, WatchedOutput};
use regtest_esplora::RegtestEsplora;
use wasm_ln::bitcoin::block::Header;
use wasm_ln::bitcoin::{Amount, BlockHash, ScriptBuf, Txid};
use wasm_ln::chain::EsploraChainSource;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Event {
    Confirmed {
        txid: Txid,
        height: u32,
        pos: usize,
        block: BlockHash,
    },
    Unconfirmed(Txid),
    Best(BlockHash, u32),
}

/// Records what LDK would be told; answers `get_relevant_txids` from what it saw.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<Event>>,
    confirmed: Mutex<HashMap<Txid, (u32, BlockHash)>>,
}

impl Recorder {
    fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.events.lock().unwrap())
    }
}

impl Confirm for Recorder {
    fn transactions_confirmed(&self, header: &Header, txdata: &TransactionData, height: u32) {
        for (pos, tx) in txdata {
            let txid = tx.compute_txid();
            self.events.lock().unwrap().push(Event::Confirmed {
                txid,
                height,
                pos: *pos,
                block: header.block_hash(),
            });
            self.confirmed
                .lock()
                .unwrap()
                .insert(txid, (height, header.block_hash()));
        }
    }

    fn transaction_unconfirmed(&self, txid: &Txid) {
        self.events.lock().unwrap().push(Event::Unconfirmed(*txid));
        self.confirmed.lock().unwrap().remove(txid);
    }

    fn best_block_updated(&self, header: &Header, height: u32) {
        self.events
            .lock()
            .unwrap()
            .push(Event::Best(header.block_hash(), height));
    }

    fn get_relevant_txids(&self) -> Vec<(Txid, u32, Option<BlockHash>)> {
        self.confirmed
            .lock()
            .unwrap()
            .iter()
            .map(|(t, (h, b))| (*t, *h, Some(*b)))
            .collect()
    }
}

async fn setup() -> (RegtestEsplora, EsploraChainSource, Recorder) {
    let esplora = RegtestEsplora::start().await.expect("fixture");
    let source = EsploraChainSource::new(esplora.esplora_url()).expect("client");
    (esplora, source, Recorder::default())
}

/// A fresh regtest P2WPKH-looking address that nobody watches.
fn some_address() -> wasm_ln::bitcoin::Address {
    regtest_esplora::regtest_address("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080").unwrap()
}

async fn position_in_block(source: &EsploraChainSource, block: &BlockHash, txid: &Txid) -> usize {
    let txids = source.client().get_block_txids(block).await.unwrap();
    txids.iter().position(|t| t == txid).unwrap()
}

#[tokio::test]
async fn idle_sync_costs_one_request() {
    let (esplora, source, rec) = setup().await;
    let first = source.sync(&[&rec]).await.unwrap();
    assert!(first.changed);
    let (height, hash) = esplora.tip().await.unwrap();
    assert_eq!((first.tip_height, first.tip_hash), (height, hash));
    assert_eq!(rec.take(), vec![Event::Best(hash, height)]);

    esplora.reset_request_counts().await.unwrap();
    let second = source.sync(&[&rec]).await.unwrap();
    assert!(!second.changed);
    assert_eq!((second.tip_height, second.tip_hash), (height, hash));
    let counts = esplora.request_counts().await.unwrap();
    assert_eq!(counts.total, 1, "{counts:?}");
    assert_eq!(counts.count("/blocks/tip/hash"), 1, "{counts:?}");
    assert!(rec.take().is_empty());

    // A new block with nothing watched: tip hash, header, status, fees, tip hash again.
    esplora.mine(1).await.unwrap();
    esplora.reset_request_counts().await.unwrap();
    let third = source.sync(&[&rec]).await.unwrap();
    assert_eq!(third.tip_height, height + 1);
    let counts = esplora.request_counts().await.unwrap();
    assert!(counts.total <= 5, "{counts:?}");
}

#[tokio::test]
async fn registered_tx_confirms_with_verified_proof() {
    let (esplora, source, rec) = setup().await;
    source.sync(&[&rec]).await.unwrap();
    rec.take();

    let pay = esplora
        .faucet_pay(&some_address(), 100_000, false)
        .await
        .unwrap();
    source.register_tx(&pay.txid, &ScriptBuf::new());
    // Unconfirmed: nothing to report, but the registration is looked at (not an idle sync).
    let s = source.sync(&[&rec]).await.unwrap();
    assert!(s.changed);
    assert_eq!(s.confirmed, 0);
    assert!(rec.take().is_empty());

    let mined = esplora.mine(1).await.unwrap();
    let (height, tip) = esplora.tip().await.unwrap();
    assert_eq!(mined, vec![tip]);
    let s = source.sync(&[&rec]).await.unwrap();
    assert_eq!(s.confirmed, 1);
    let pos = position_in_block(&source, &tip, &pay.txid).await;
    assert_eq!(pos, 1);
    assert_eq!(
        rec.take(),
        vec![
            Event::Best(tip, height),
            Event::Confirmed {
                txid: pay.txid,
                height,
                pos,
                block: tip
            },
        ]
    );

    // Confirmed transactions are no longer polled: idle again.
    esplora.reset_request_counts().await.unwrap();
    source.sync(&[&rec]).await.unwrap();
    assert_eq!(esplora.request_count("").await.unwrap(), 1);
}

#[tokio::test]
async fn registered_output_spend_is_seen() {
    let (esplora, source, rec) = setup().await;
    // A 60 BTC output to the faucet: larger than any coinbase, so its next payment spends it.
    let big = esplora
        .faucet_pay(esplora.faucet_address(), 6_000_000_000, true)
        .await
        .unwrap();
    let tx = source.client().get_tx_no_opt(&big.txid).await.unwrap();
    let vout = tx
        .output
        .iter()
        .position(|o| o.value == Amount::from_sat(6_000_000_000))
        .unwrap();
    let outpoint = LdkOutPoint {
        txid: big.txid,
        index: vout as u16,
    };
    source.register_output(WatchedOutput {
        block_hash: big.block_hash,
        outpoint,
        script_pubkey: tx.output[vout].script_pubkey.clone(),
    });
    let s = source.sync(&[&rec]).await.unwrap();
    assert_eq!(s.confirmed, 0);
    rec.take();

    let spend = esplora
        .faucet_pay(&some_address(), 50_000, true)
        .await
        .unwrap();
    let spend_tx = source.client().get_tx_no_opt(&spend.txid).await.unwrap();
    assert!(
        spend_tx
            .input
            .iter()
            .any(|i| i.previous_output == outpoint.into_bitcoin_outpoint()),
        "the faucet did not spend the watched output"
    );
    let block = spend.block_hash.unwrap();
    let (height, tip) = esplora.tip().await.unwrap();
    assert_eq!(tip, block);
    let s = source.sync(&[&rec]).await.unwrap();
    assert_eq!(s.confirmed, 1);
    let pos = position_in_block(&source, &block, &spend.txid).await;
    assert_eq!(
        rec.take(),
        vec![
            Event::Best(tip, height),
            Event::Confirmed {
                txid: spend.txid,
                height,
                pos,
                block
            },
        ]
    );
    // The spent output is no longer polled.
    esplora.mine(1).await.unwrap();
    esplora.reset_request_counts().await.unwrap();
    source.sync(&[&rec]).await.unwrap();
    assert_eq!(esplora.request_count("/tx/").await.unwrap(), 0);
}

#[tokio::test]
async fn reorg_unconfirms() {
    let (esplora, source, rec) = setup().await;
    let pay = esplora
        .faucet_pay(&some_address(), 200_000, true)
        .await
        .unwrap();
    source.register_tx(&pay.txid, &ScriptBuf::new());
    let (height, _) = esplora.tip().await.unwrap();
    let s = source.sync(&[&rec]).await.unwrap();
    assert_eq!(s.confirmed, 1);
    rec.take();

    // Drop the tip and the block under it: the payment goes back to the mempool.
    esplora.reorg(2).await.unwrap();
    let (h2, t2) = esplora.tip().await.unwrap();
    assert_eq!(h2, height - 2);
    let s = source.sync(&[&rec]).await.unwrap();
    assert_eq!((s.unconfirmed, s.confirmed), (1, 0));
    assert_eq!(
        rec.take(),
        vec![Event::Unconfirmed(pay.txid), Event::Best(t2, h2)]
    );

    // A competing chain confirms it again.
    esplora.mine(3).await.unwrap();
    let (h3, t3) = esplora.tip().await.unwrap();
    assert_eq!(h3, height + 1);
    let s = source.sync(&[&rec]).await.unwrap();
    assert_eq!(s.confirmed, 1);
    let events = rec.take();
    assert_eq!(events[0], Event::Best(t3, h3));
    match &events[1..] {
        [Event::Confirmed {
            txid,
            height: h,
            pos,
            block,
        }] => {
            assert_eq!(*txid, pay.txid);
            assert_eq!(*h, height - 1);
            assert_eq!(*pos, position_in_block(&source, block, txid).await);
            let st = source.client().get_tx_status(txid).await.unwrap();
            assert_eq!(st.block_hash, Some(*block));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn esplora_down_is_chain_source_unavailable() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let source = EsploraChainSource::new(&format!("http://127.0.0.1:{port}")).unwrap();
    let rec = Recorder::default();
    let err = source.sync(&[&rec]).await.unwrap_err();
    assert_eq!(err.code(), "CHAIN_SOURCE_UNAVAILABLE", "{err}");
    assert!(rec.take().is_empty());

    assert_eq!(
        EsploraChainSource::new("ftp://x").unwrap_err().code(),
        "INVALID_CONFIG"
    );
}

#[tokio::test]
async fn fee_estimates_and_broadcast() {
    use lightning::chain::chaininterface::{
        BroadcasterInterface, ConfirmationTarget, FeeEstimator,
    };
    let (esplora, source, rec) = setup().await;
    let table = [(1u16, 30.0), (6, 12.0), (12, 4.0), (144, 1.5), (1008, 1.0)]
        .into_iter()
        .collect();
    esplora.set_fee_estimates(&table).await.unwrap();
    source.sync(&[&rec]).await.unwrap();
    assert_eq!(
        source.get_est_sat_per_1000_weight(ConfirmationTarget::MaximumFeeEstimate),
        7_500
    );
    assert_eq!(
        source.get_est_sat_per_1000_weight(ConfirmationTarget::NonAnchorChannelFee),
        1_000
    );
    assert_eq!(
        source.get_est_sat_per_1000_weight(ConfirmationTarget::AnchorChannelFee),
        253
    );

    // Broadcast (in the background): re-post a payment already in the mempool (bitcoind
    // accepts an identical one) and wait for the server to see the `POST /tx`.
    let txid = esplora.faucet_send(&some_address(), 10_000).await.unwrap();
    let tx = source.client().get_tx_no_opt(&txid).await.unwrap();
    esplora.reset_request_counts().await.unwrap();
    source.broadcast_transactions(&[&tx]);
    let mut posted = 0;
    for _ in 0..100 {
        posted = esplora.request_count("/tx").await.unwrap();
        if posted > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(posted, 1);
}

/// A one-purpose HTTP server answering canned bodies by path (404 otherwise).
fn serve_canned(routes: HashMap<String, String>) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let request = String::from_utf8_lossy(&buf);
            let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
            let (status, body) = match routes.get(&path) {
                Some(b) => ("200 OK", b.clone()),
                None => ("404 Not Found", "not found".to_string()),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

#[tokio::test]
async fn merkle_proof_mismatch_is_chain_source_unavailable() {
    use wasm_ln::bitcoin::hashes::Hash;
    use wasm_ln::bitcoin::{block, consensus, CompactTarget, TxMerkleNode};
    let header = Header {
        version: block::Version::TWO,
        prev_blockhash: BlockHash::all_zeros(),
        merkle_root: TxMerkleNode::from_byte_array([7; 32]),
        time: 1_700_000_000,
        bits: CompactTarget::from_consensus(0x207fffff),
        nonce: 0,
    };
    let hash = header.block_hash();
    let txid = Txid::from_byte_array([9; 32]);
    let sibling = Txid::from_byte_array([1; 32]);
    let routes: HashMap<String, String> = [
        ("/blocks/tip/hash".to_string(), hash.to_string()),
        (
            format!("/block/{hash}/header"),
            consensus::encode::serialize_hex(&header),
        ),
        (
            format!("/block/{hash}/status"),
            r#"{"in_best_chain":true,"height":5,"next_best":null}"#.to_string(),
        ),
        ("/fee-estimates".to_string(), r#"{"1":2.0}"#.to_string()),
        (
            format!("/tx/{txid}/status"),
            format!(
                r#"{{"confirmed":true,"block_height":5,"block_hash":"{hash}","block_time":1}}"#
            ),
        ),
        (
            format!("/tx/{txid}/merkle-proof"),
            format!(r#"{{"block_height":5,"merkle":["{sibling}"],"pos":0}}"#),
        ),
    ]
    .into_iter()
    .collect();
    let url = serve_canned(routes);
    let source = EsploraChainSource::new(&url).unwrap();
    source.register_tx(&txid, &ScriptBuf::new());
    let rec = Recorder::default();
    let err = source.sync(&[&rec]).await.unwrap_err();
    assert_eq!(err.code(), "CHAIN_SOURCE_UNAVAILABLE", "{err}");
    assert!(err.to_string().contains("Merkle proof"), "{err}");
    // The tip was reported, the unproven transaction was not.
    assert_eq!(rec.take(), vec![Event::Best(hash, 5)]);
}

/// Halts the chain source the moment a sync asks what to check: halfway through.
struct HaltsMidSync<'a> {
    source: &'a EsploraChainSource,
    rec: &'a Recorder,
}

impl Confirm for HaltsMidSync<'_> {
    fn transactions_confirmed(&self, header: &Header, txdata: &TransactionData, height: u32) {
        self.rec.transactions_confirmed(header, txdata, height)
    }
    fn transaction_unconfirmed(&self, txid: &Txid) {
        self.rec.transaction_unconfirmed(txid)
    }
    fn best_block_updated(&self, header: &Header, height: u32) {
        self.rec.best_block_updated(header, height)
    }
    fn get_relevant_txids(&self) -> Vec<(Txid, u32, Option<BlockHash>)> {
        self.source.halt();
        self.rec.get_relevant_txids()
    }
}

#[tokio::test]
async fn a_halted_source_hands_ldk_nothing_more() {
    let (esplora, source, rec) = setup().await;
    source.sync(&[&rec]).await.unwrap();
    rec.take();
    esplora.mine(1).await.unwrap();
    // Halted after the new tip was fetched, before it was applied: dropped.
    let halting = HaltsMidSync {
        source: &source,
        rec: &rec,
    };
    let err = source.sync(&[&halting]).await.unwrap_err();
    assert_eq!(err.code(), "NODE_STOPPED");
    assert!(rec.take().is_empty(), "a halted sync reached LDK");
    // And every later sync fails at once, without a request.
    esplora.reset_request_counts().await.unwrap();
    assert_eq!(
        source.sync(&[&rec]).await.unwrap_err().code(),
        "NODE_STOPPED"
    );
    assert_eq!(esplora.request_counts().await.unwrap().total, 0);
    assert!(rec.take().is_empty());
}
