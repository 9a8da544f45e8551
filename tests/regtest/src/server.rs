//! The HTTP server: Esplora's REST API and the `/regtest/` controls.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bitcoin::consensus::encode::serialize;
use bitcoin::hashes::sha256;
use bitcoin::{Address, Amount, BlockHash, Network, OutPoint, Txid};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::bitcoind::Bitcoind;
use crate::faucet::Faucet;
use crate::index::{
    script_hash, Index, TxLoc, BLOCKS_PER_PAGE, CHAIN_TXS_PER_PAGE, MAX_MEMPOOL_TXS,
};
use crate::rpc::{read_cookie, BitcoindRpc, RpcError};
use crate::{Config, Fault, FaultKind, RpcInfo};

/// The default fee-estimate table (confirmation target → sat/vB).
pub fn default_fee_estimates() -> BTreeMap<u16, f64> {
    [
        (1, 20.0),
        (2, 15.0),
        (3, 10.0),
        (6, 5.0),
        (144, 1.0),
        (1008, 1.0),
    ]
    .into_iter()
    .collect()
}

#[derive(Default)]
struct Counts {
    total: u64,
    paths: BTreeMap<String, u64>,
    routes: BTreeMap<String, u64>,
}

pub(crate) struct AppState {
    rpc: BitcoindRpc,
    rpc_info: RpcInfo,
    index: tokio::sync::Mutex<Index>,
    fees: Mutex<BTreeMap<u16, f64>>,
    counts: Mutex<Counts>,
    faucet: Faucet,
    faucet_lock: tokio::sync::Mutex<()>,
    invalidated: Mutex<Vec<BlockHash>>,
    faults: Mutex<Vec<Fault>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the server reports once it is up.
pub(crate) struct Ready {
    pub url: String,
    pub rpc_info: RpcInfo,
    pub faucet_address: Address,
}

// ---- errors and responses ----

pub(crate) struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, [(header::CONTENT_TYPE, "text/plain")], self.1).into_response()
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))
    }
}

impl From<RpcError> for ApiError {
    fn from(e: RpcError) -> Self {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

fn not_found(msg: &str) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, msg.to_string())
}

type R = Result<Response, ApiError>;

fn text(s: impl ToString) -> Response {
    ([(header::CONTENT_TYPE, "text/plain")], s.to_string()).into_response()
}

fn binary(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
}

fn json_resp(v: Value) -> Response {
    Json(v).into_response()
}

fn parse<T: FromStr>(s: &str, what: &str) -> Result<T, ApiError> {
    s.parse().map_err(|_| bad(format!("Invalid {what}")))
}

fn parse_address(s: &str) -> Result<Address, ApiError> {
    Address::from_str(s)
        .map_err(|e| bad(format!("Invalid Bitcoin address: {e}")))?
        .require_network(Network::Regtest)
        .map_err(|e| bad(format!("Invalid Bitcoin address: {e}")))
}

impl AppState {
    async fn synced(&self) -> Result<tokio::sync::MutexGuard<'_, Index>, ApiError> {
        let mut index = self.index.lock().await;
        index.sync(&self.rpc).await?;
        Ok(index)
    }

    async fn generate(&self, n: u32, address: &Address) -> Result<Vec<BlockHash>, ApiError> {
        let mut tries = 0u32;
        let result = loop {
            match self
                .rpc
                .call::<Vec<BlockHash>>("generatetoaddress", json!([n, address.to_string()]))
                .await
            {
                Ok(hashes) => break Ok(hashes),
                // After invalidateblock, a new block with the same parent, content and
                // timestamp as an invalidated one *is* that (invalid) block. Block times on a
                // fast regtest chain run ahead of the clock (≥ median time past + 1), so move
                // bitcoind's clock past every block we know of, mine, and reset it.
                Err(e) if e.message.contains("not accepted") && tries < 3 => {
                    tries += 1;
                    let t = self.index.lock().await.max_block_time() + tries;
                    if let Err(e) = self.rpc.call_value("setmocktime", json!([t])).await {
                        break Err(e);
                    }
                }
                Err(e) => break Err(e),
            }
        };
        if tries > 0 {
            self.rpc.call_value("setmocktime", json!([0])).await?;
        }
        Ok(result?)
    }
}

type S = State<Arc<AppState>>;

// ---- Esplora: blocks ----

async fn tip_height(State(s): S) -> R {
    Ok(text(s.synced().await?.tip_height()))
}

async fn tip_hash(State(s): S) -> R {
    let idx = s.synced().await?;
    idx.tip_hash()
        .map(text)
        .ok_or_else(|| not_found("Block not found"))
}

async fn block_height(State(s): S, Path(h): Path<String>) -> R {
    let h: u32 = parse(&h, "height")?;
    let idx = s.synced().await?;
    idx.block_hash_at(h)
        .map(text)
        .ok_or_else(|| not_found("Block not found"))
}

async fn blocks_page(s: &AppState, start: Option<u32>) -> R {
    let idx = s.synced().await?;
    let start = start.unwrap_or(idx.tip_height()).min(idx.tip_height());
    let mut out = Vec::new();
    let mut h = i64::from(start);
    while h >= 0 && out.len() < BLOCKS_PER_PAGE {
        if let Some(v) = idx.block_hash_at(h as u32).and_then(|b| idx.block_json(&b)) {
            out.push(v);
        }
        h -= 1;
    }
    Ok(json_resp(json!(out)))
}

async fn blocks(State(s): S) -> R {
    blocks_page(&s, None).await
}

async fn blocks_from(State(s): S, Path(h): Path<String>) -> R {
    let h: u32 = parse(&h, "height")?;
    blocks_page(&s, Some(h)).await
}

async fn block(State(s): S, Path(hash): Path<String>) -> R {
    let hash: BlockHash = parse(&hash, "block hash")?;
    let idx = s.synced().await?;
    idx.block_json(&hash)
        .map(json_resp)
        .ok_or_else(|| not_found("Block not found"))
}

async fn block_header(State(s): S, Path(hash): Path<String>) -> R {
    let hash: BlockHash = parse(&hash, "block hash")?;
    let idx = s.synced().await?;
    let block = idx
        .block(&hash)
        .ok_or_else(|| not_found("Block not found"))?;
    Ok(text(bitcoin::consensus::encode::serialize_hex(
        &block.header,
    )))
}

async fn block_status(State(s): S, Path(hash): Path<String>) -> R {
    let hash: BlockHash = parse(&hash, "block hash")?;
    let idx = s.synced().await?;
    Ok(json_resp(idx.block_status_json(&hash)))
}

async fn block_raw(State(s): S, Path(hash): Path<String>) -> R {
    let hash: BlockHash = parse(&hash, "block hash")?;
    let idx = s.synced().await?;
    let block = idx
        .block(&hash)
        .ok_or_else(|| not_found("Block not found"))?;
    Ok(binary(serialize(block.as_ref())))
}

async fn block_txids(State(s): S, Path(hash): Path<String>) -> R {
    let hash: BlockHash = parse(&hash, "block hash")?;
    let idx = s.synced().await?;
    let txids = idx
        .block_txids(&hash)
        .ok_or_else(|| not_found("Block not found"))?;
    Ok(json_resp(json!(txids)))
}

async fn block_txid(State(s): S, Path((hash, i)): Path<(String, String)>) -> R {
    let hash: BlockHash = parse(&hash, "block hash")?;
    let i: usize = parse(&i, "index")?;
    let idx = s.synced().await?;
    let txids = idx
        .block_txids(&hash)
        .ok_or_else(|| not_found("Block not found"))?;
    txids
        .get(i)
        .map(text)
        .ok_or_else(|| not_found("Transaction not found"))
}

async fn block_txs_page(s: &AppState, hash: &str, start: usize) -> R {
    let hash: BlockHash = parse(hash, "block hash")?;
    if start % CHAIN_TXS_PER_PAGE != 0 {
        return Err(bad(format!(
            "start index must be a multipication of {CHAIN_TXS_PER_PAGE}"
        )));
    }
    let idx = s.synced().await?;
    let block = idx
        .block(&hash)
        .ok_or_else(|| not_found("Block not found"))?;
    let loc = idx
        .block_txids(&hash)
        .and_then(|t| t.first())
        .and_then(|t| idx.loc(t));
    let in_chain = idx.in_best_chain(&hash);
    let out: Vec<Value> = block
        .txdata
        .iter()
        .enumerate()
        .skip(start)
        .take(CHAIN_TXS_PER_PAGE)
        .map(|(pos, tx)| {
            let l = match loc {
                Some(TxLoc::Confirmed { height, .. }) if in_chain => {
                    Some(TxLoc::Confirmed { height, pos })
                }
                _ => None,
            };
            idx.tx_json(tx, l)
        })
        .collect();
    Ok(json_resp(json!(out)))
}

async fn block_txs(State(s): S, Path(hash): Path<String>) -> R {
    block_txs_page(&s, &hash, 0).await
}

async fn block_txs_from(State(s): S, Path((hash, start)): Path<(String, String)>) -> R {
    let start: usize = parse(&start, "start index")?;
    block_txs_page(&s, &hash, start).await
}

// ---- Esplora: transactions ----

fn txid_param(t: &str) -> Result<Txid, ApiError> {
    parse(t, "txid")
}

async fn tx(State(s): S, Path(t): Path<String>) -> R {
    let txid = txid_param(&t)?;
    let idx = s.synced().await?;
    idx.txid_json(&txid)
        .map(json_resp)
        .ok_or_else(|| not_found("Transaction not found"))
}

async fn tx_hex(State(s): S, Path(t): Path<String>) -> R {
    let txid = txid_param(&t)?;
    let idx = s.synced().await?;
    let (tx, _) = idx
        .tx(&txid)
        .ok_or_else(|| not_found("Transaction not found"))?;
    Ok(text(bitcoin::consensus::encode::serialize_hex(tx.as_ref())))
}

async fn tx_raw(State(s): S, Path(t): Path<String>) -> R {
    let txid = txid_param(&t)?;
    let idx = s.synced().await?;
    let (tx, _) = idx
        .tx(&txid)
        .ok_or_else(|| not_found("Transaction not found"))?;
    Ok(binary(serialize(tx.as_ref())))
}

async fn tx_status(State(s): S, Path(t): Path<String>) -> R {
    let txid = txid_param(&t)?;
    let idx = s.synced().await?;
    Ok(json_resp(idx.status_json(idx.loc(&txid))))
}

async fn tx_merkle_proof(State(s): S, Path(t): Path<String>) -> R {
    let txid = txid_param(&t)?;
    let idx = s.synced().await?;
    idx.merkle_proof_json(&txid)
        .map(json_resp)
        .ok_or_else(|| not_found("Transaction not found or is unconfirmed"))
}

async fn tx_merkleblock_proof(State(s): S, Path(t): Path<String>) -> R {
    let txid = txid_param(&t)?;
    let idx = s.synced().await?;
    idx.merkle_block_hex(&txid)
        .map(text)
        .ok_or_else(|| not_found("Transaction not found or is unconfirmed"))
}

async fn tx_outspend(State(s): S, Path((t, vout)): Path<(String, String)>) -> R {
    let txid = txid_param(&t)?;
    let vout: u32 = parse(&vout, "output index")?;
    let idx = s.synced().await?;
    let (tx, _) = idx
        .tx(&txid)
        .ok_or_else(|| not_found("Transaction not found"))?;
    if vout as usize >= tx.output.len() {
        return Err(not_found("Output not found"));
    }
    Ok(json_resp(idx.outspend_json(&OutPoint::new(txid, vout))))
}

async fn tx_outspends(State(s): S, Path(t): Path<String>) -> R {
    let txid = txid_param(&t)?;
    let idx = s.synced().await?;
    let (tx, _) = idx
        .tx(&txid)
        .ok_or_else(|| not_found("Transaction not found"))?;
    let out: Vec<Value> = (0..tx.output.len() as u32)
        .map(|vout| idx.outspend_json(&OutPoint::new(txid, vout)))
        .collect();
    Ok(json_resp(json!(out)))
}

fn rpc_rejection(method: &str, e: &RpcError) -> ApiError {
    if e.code == RpcError::TRANSPORT {
        return ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    }
    let detail = json!({"code": e.code, "message": e.message});
    bad(format!("{method} RPC error: {detail}"))
}

async fn post_tx(State(s): S, body: Bytes) -> R {
    let hex = String::from_utf8_lossy(&body).trim().to_string();
    match s.rpc.call::<Txid>("sendrawtransaction", json!([hex])).await {
        Ok(txid) => {
            drop(s.synced().await?);
            Ok(text(txid))
        }
        Err(e) => Err(rpc_rejection("sendrawtransaction", &e)),
    }
}

#[derive(Deserialize)]
struct PackageQuery {
    maxfeerate: Option<f64>,
    maxburnamount: Option<f64>,
}

async fn post_package(State(s): S, Query(q): Query<PackageQuery>, body: Bytes) -> R {
    let txs: Vec<String> =
        serde_json::from_slice(&body).map_err(|e| bad(format!("Invalid package: {e}")))?;
    let mut params = vec![json!(txs)];
    if q.maxfeerate.is_some() || q.maxburnamount.is_some() {
        params.push(json!(q.maxfeerate.unwrap_or(0.10)));
    }
    if let Some(burn) = q.maxburnamount {
        params.push(json!(burn));
    }
    match s
        .rpc
        .call_value("submitpackage", Value::Array(params))
        .await
    {
        Ok(v) => {
            drop(s.synced().await?);
            Ok(json_resp(v))
        }
        Err(e) => Err(rpc_rejection("submitpackage", &e)),
    }
}

// ---- Esplora: scripthash / address ----

fn scripthash_param(h: &str) -> Result<sha256::Hash, ApiError> {
    if h.len() != 64 {
        return Err(bad("Invalid scripthash"));
    }
    parse(h, "scripthash")
}

async fn sh_stats(s: &AppState, sh: sha256::Hash, address: Option<String>) -> R {
    let idx = s.synced().await?;
    let mut v = idx.stats_json(&sh);
    match address {
        Some(a) => v["address"] = json!(a),
        None => v["scripthash"] = json!(sh.to_string()),
    }
    Ok(json_resp(v))
}

async fn sh_txs(s: &AppState, sh: sha256::Hash) -> R {
    let idx = s.synced().await?;
    let (mempool, confirmed) = idx.history(&sh);
    let out: Vec<Value> = mempool
        .iter()
        .take(MAX_MEMPOOL_TXS)
        .chain(confirmed.iter().take(CHAIN_TXS_PER_PAGE))
        .filter_map(|t| idx.txid_json(t))
        .collect();
    Ok(json_resp(json!(out)))
}

async fn sh_txs_chain(s: &AppState, sh: sha256::Hash, last_seen: Option<Txid>) -> R {
    let idx = s.synced().await?;
    let (_, confirmed) = idx.history(&sh);
    let start = match last_seen {
        None => 0,
        Some(last) => match confirmed.iter().position(|t| *t == last) {
            Some(p) => p + 1,
            None => confirmed.len(),
        },
    };
    let out: Vec<Value> = confirmed
        .iter()
        .skip(start)
        .take(CHAIN_TXS_PER_PAGE)
        .filter_map(|t| idx.txid_json(t))
        .collect();
    Ok(json_resp(json!(out)))
}

async fn sh_txs_mempool(s: &AppState, sh: sha256::Hash) -> R {
    let idx = s.synced().await?;
    let (mempool, _) = idx.history(&sh);
    let out: Vec<Value> = mempool
        .iter()
        .take(MAX_MEMPOOL_TXS)
        .filter_map(|t| idx.txid_json(t))
        .collect();
    Ok(json_resp(json!(out)))
}

async fn sh_utxo(s: &AppState, sh: sha256::Hash) -> R {
    let idx = s.synced().await?;
    let out: Vec<Value> = idx.utxos(&sh).iter().map(|u| idx.utxo_json(u)).collect();
    Ok(json_resp(json!(out)))
}

async fn scripthash(State(s): S, Path(h): Path<String>) -> R {
    sh_stats(&s, scripthash_param(&h)?, None).await
}
async fn scripthash_txs(State(s): S, Path(h): Path<String>) -> R {
    sh_txs(&s, scripthash_param(&h)?).await
}
async fn scripthash_txs_chain(State(s): S, Path(h): Path<String>) -> R {
    sh_txs_chain(&s, scripthash_param(&h)?, None).await
}
async fn scripthash_txs_chain_from(State(s): S, Path((h, last)): Path<(String, String)>) -> R {
    sh_txs_chain(&s, scripthash_param(&h)?, Some(txid_param(&last)?)).await
}
async fn scripthash_txs_mempool(State(s): S, Path(h): Path<String>) -> R {
    sh_txs_mempool(&s, scripthash_param(&h)?).await
}
async fn scripthash_utxo(State(s): S, Path(h): Path<String>) -> R {
    sh_utxo(&s, scripthash_param(&h)?).await
}

fn address_sh(a: &str) -> Result<sha256::Hash, ApiError> {
    Ok(script_hash(&parse_address(a)?.script_pubkey()))
}

async fn address(State(s): S, Path(a): Path<String>) -> R {
    sh_stats(&s, address_sh(&a)?, Some(a)).await
}
async fn address_txs(State(s): S, Path(a): Path<String>) -> R {
    sh_txs(&s, address_sh(&a)?).await
}
async fn address_txs_chain(State(s): S, Path(a): Path<String>) -> R {
    sh_txs_chain(&s, address_sh(&a)?, None).await
}
async fn address_txs_chain_from(State(s): S, Path((a, last)): Path<(String, String)>) -> R {
    sh_txs_chain(&s, address_sh(&a)?, Some(txid_param(&last)?)).await
}
async fn address_txs_mempool(State(s): S, Path(a): Path<String>) -> R {
    sh_txs_mempool(&s, address_sh(&a)?).await
}
async fn address_utxo(State(s): S, Path(a): Path<String>) -> R {
    sh_utxo(&s, address_sh(&a)?).await
}

// ---- Esplora: fees and mempool ----

async fn fee_estimates(State(s): S) -> R {
    let fees = lock(&s.fees).clone();
    let map: serde_json::Map<String, Value> = fees
        .into_iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    Ok(json_resp(Value::Object(map)))
}

async fn mempool(State(s): S) -> R {
    let idx = s.synced().await?;
    let (mut vsize, mut fee) = (0u64, 0u64);
    let txids = idx.mempool_txids();
    for t in &txids {
        if let Some((tx, _)) = idx.tx(t) {
            vsize += tx.vsize() as u64;
            fee += idx.fee(tx);
        }
    }
    Ok(json_resp(json!({
        "count": txids.len(),
        "vsize": vsize,
        "total_fee": fee,
        "fee_histogram": [],
    })))
}

async fn mempool_txids(State(s): S) -> R {
    let idx = s.synced().await?;
    Ok(json_resp(json!(idx.mempool_txids())))
}

async fn mempool_recent(State(s): S) -> R {
    let idx = s.synced().await?;
    let out: Vec<Value> = idx
        .mempool_txids()
        .iter()
        .rev()
        .take(10)
        .filter_map(|t| idx.tx(t))
        .map(|(tx, _)| {
            json!({
                "txid": tx.compute_txid(),
                "fee": idx.fee(tx),
                "vsize": tx.vsize(),
                "value": tx.output.iter().map(|o| o.value.to_sat()).sum::<u64>(),
            })
        })
        .collect();
    Ok(json_resp(json!(out)))
}

// ---- /regtest/ controls ----

#[derive(Deserialize)]
struct MineReq {
    #[serde(default = "one")]
    blocks: u32,
    address: Option<String>,
}

fn one() -> u32 {
    1
}

async fn ctl_mine(State(s): S, Json(req): Json<MineReq>) -> R {
    let address = match &req.address {
        Some(a) => parse_address(a)?,
        None => s.faucet.address().clone(),
    };
    let hashes = s.generate(req.blocks, &address).await?;
    let idx = s.synced().await?;
    Ok(json_resp(json!({
        "hashes": hashes,
        "height": idx.tip_height(),
        "tip": idx.tip_hash(),
    })))
}

#[derive(Deserialize)]
struct FaucetReq {
    address: String,
    amount_sat: u64,
    #[serde(default)]
    confirm: bool,
    fee_rate_sat_vb: Option<f64>,
}

async fn ctl_faucet(State(s): S, Json(req): Json<FaucetReq>) -> R {
    let dest = parse_address(&req.address)?;
    let _guard = s.faucet_lock.lock().await;
    let tx = {
        let idx = s.synced().await?;
        let tip = idx.tip_height();
        let utxos: Vec<_> = idx
            .utxos(&script_hash(&s.faucet.script_pubkey()))
            .into_iter()
            .filter(|u| Faucet::spendable(u, tip))
            .collect();
        s.faucet
            .build(
                utxos,
                &dest,
                Amount::from_sat(req.amount_sat),
                req.fee_rate_sat_vb.unwrap_or(2.0),
            )
            .map_err(|e| bad(e.to_string()))?
    };
    let hex = bitcoin::consensus::encode::serialize_hex(&tx);
    let txid: Txid = s
        .rpc
        .call("sendrawtransaction", json!([hex]))
        .await
        .map_err(|e| rpc_rejection("sendrawtransaction", &e))?;
    let fee = s.synced().await?.fee(&tx);
    let mut v = json!({"txid": txid, "fee_sat": fee});
    if req.confirm {
        let hashes = s.generate(1, s.faucet.address()).await?;
        drop(s.synced().await?);
        v["block_hash"] = json!(hashes.first());
    }
    Ok(json_resp(v))
}

async fn ctl_faucet_info(State(s): S) -> R {
    let idx = s.synced().await?;
    let tip = idx.tip_height();
    let (mut spendable, mut immature) = (0u64, 0u64);
    for u in idx.utxos(&script_hash(&s.faucet.script_pubkey())) {
        if Faucet::spendable(&u, tip) {
            spendable += u.txout.value.to_sat();
        } else {
            immature += u.txout.value.to_sat();
        }
    }
    Ok(json_resp(json!({
        "address": s.faucet.address().to_string(),
        "spendable_sat": spendable,
        "immature_sat": immature,
    })))
}

#[derive(Deserialize)]
struct ReorgReq {
    #[serde(default = "one")]
    depth: u32,
}

async fn ctl_reorg(State(s): S, Json(req): Json<ReorgReq>) -> R {
    let tip = s.synced().await?.tip_height();
    if req.depth == 0 || req.depth > tip {
        return Err(bad(format!("depth must be in 1..={tip}")));
    }
    let height = tip - req.depth + 1;
    let hash: BlockHash = s.rpc.call("getblockhash", json!([height])).await?;
    s.rpc
        .call_value("invalidateblock", json!([hash]))
        .await
        .map_err(|e| rpc_rejection("invalidateblock", &e))?;
    lock(&s.invalidated).push(hash);
    let idx = s.synced().await?;
    Ok(json_resp(json!({
        "invalidated": hash,
        "height": idx.tip_height(),
        "tip": idx.tip_hash(),
    })))
}

#[derive(Deserialize, Default)]
struct ReconsiderReq {
    hash: Option<BlockHash>,
}

async fn ctl_reconsider(State(s): S, body: Bytes) -> R {
    let req: ReconsiderReq = if body.iter().all(u8::is_ascii_whitespace) {
        ReconsiderReq::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| bad(format!("Invalid request: {e}")))?
    };
    let hashes: Vec<BlockHash> = match req.hash {
        Some(h) => {
            lock(&s.invalidated).retain(|x| *x != h);
            vec![h]
        }
        None => std::mem::take(&mut *lock(&s.invalidated)),
    };
    for h in &hashes {
        s.rpc
            .call_value("reconsiderblock", json!([h]))
            .await
            .map_err(|e| rpc_rejection("reconsiderblock", &e))?;
    }
    let idx = s.synced().await?;
    Ok(json_resp(json!({
        "reconsidered": hashes,
        "height": idx.tip_height(),
        "tip": idx.tip_hash(),
    })))
}

async fn ctl_get_fees(State(s): S) -> R {
    Ok(json_resp(json!(lock(&s.fees).clone())))
}

async fn ctl_set_fees(State(s): S, Json(table): Json<BTreeMap<String, f64>>) -> R {
    let mut parsed = BTreeMap::new();
    for (k, v) in table {
        let k: u16 = parse(&k, "confirmation target")?;
        parsed.insert(k, v);
    }
    *lock(&s.fees) = parsed.clone();
    Ok(json_resp(json!(parsed)))
}

fn counts_json(c: &Counts) -> Value {
    json!({"total": c.total, "paths": c.paths, "routes": c.routes})
}

async fn ctl_requests(State(s): S) -> R {
    Ok(json_resp(counts_json(&lock(&s.counts))))
}

async fn ctl_requests_reset(State(s): S) -> R {
    let mut c = lock(&s.counts);
    let before = counts_json(&c);
    *c = Counts::default();
    Ok(json_resp(before))
}

async fn ctl_rpc(State(s): S) -> R {
    Ok(json_resp(json!(s.rpc_info)))
}

async fn ctl_tip(State(s): S) -> R {
    let idx = s.synced().await?;
    Ok(json_resp(
        json!({"height": idx.tip_height(), "hash": idx.tip_hash()}),
    ))
}

async fn ctl_faults(State(s): S) -> R {
    Ok(json_resp(json!(lock(&s.faults).clone())))
}

async fn ctl_add_fault(State(s): S, Json(mut fault): Json<Fault>) -> R {
    if fault.count == 0 {
        return Err(bad("count must be at least 1"));
    }
    fault.method = fault.method.map(|m| m.to_ascii_uppercase());
    let mut faults = lock(&s.faults);
    faults.push(fault);
    Ok(json_resp(json!(faults.clone())))
}

async fn ctl_clear_faults(State(s): S) -> R {
    Ok(json_resp(json!(std::mem::take(&mut *lock(&s.faults)))))
}

/// The first armed fault matching `req`, counted down (and disarmed at zero).
fn take_fault(s: &AppState, req: &Request) -> Option<FaultKind> {
    let path = req.uri().path();
    if path == "/regtest" || path.starts_with("/regtest/") {
        return None;
    }
    let mut faults = lock(&s.faults);
    let i = faults.iter().position(|f| {
        path.starts_with(&f.path_prefix)
            && f.method
                .as_deref()
                .is_none_or(|m| m == req.method().as_str())
    })?;
    let kind = faults[i].kind.clone();
    faults[i].count -= 1;
    if faults[i].count == 0 {
        faults.remove(i);
    }
    Some(kind)
}

/// Answers a request as its armed [`Fault`] says (see the crate docs), else passes it on.
async fn inject_faults(State(s): S, req: Request, next: Next) -> Response {
    let Some(kind) = take_fault(&s, &req) else {
        return next.run(req).await;
    };
    match kind {
        FaultKind::Status {
            status,
            retry_after,
        } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut resp = (
                status,
                [(header::CONTENT_TYPE, "text/plain")],
                format!("injected fault: {status}"),
            )
                .into_response();
            if let Some(secs) = retry_after {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
            }
            resp
        }
        FaultKind::Truncated => {
            let (mut parts, body) = next.run(req).await.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let cut = bytes.slice(..bytes.len() / 2);
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, axum::body::Body::from(cut))
        }
        FaultKind::Garbage => json_resp(json!({
            "garbage": [1, 2, 3],
            "confirmed": "perhaps",
            "block_height": -1,
        })),
        FaultKind::Stall { ms } => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            next.run(req).await
        }
        FaultKind::Drop => {
            let body = match axum::body::to_bytes(req.into_body(), usize::MAX).await {
                Ok(b) => b,
                Err(e) => return bad(format!("Invalid body: {e}")).into_response(),
            };
            let hex = String::from_utf8_lossy(&body).trim().to_string();
            match bitcoin::consensus::encode::deserialize_hex::<bitcoin::Transaction>(&hex) {
                Ok(tx) => text(tx.compute_txid()),
                Err(e) => bad(format!("Invalid transaction: {e}")).into_response(),
            }
        }
    }
}

async fn count_requests(State(s): S, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path != "/regtest" && !path.starts_with("/regtest/") {
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map(|m| m.as_str().to_string())
            .unwrap_or_else(|| "(unmatched)".to_string());
        let mut c = lock(&s.counts);
        c.total += 1;
        *c.paths.entry(path.to_string()).or_default() += 1;
        *c.routes.entry(route).or_default() += 1;
    }
    next.run(req).await
}

/// CORS as a public Esplora answers it (`Access-Control-Allow-Origin: *`), so that a node in a
/// browser page, served from another origin, can use this server. Preflights are answered
/// here, before routing and counting: a browser sends them for JSON POSTs, not the node's
/// own requests.
async fn cors(req: Request, next: Next) -> Response {
    let mut resp = if req.method() == axum::http::Method::OPTIONS {
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            header::HeaderValue::from_static("GET, POST, DELETE"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            header::HeaderValue::from_static("content-type"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            header::HeaderValue::from_static("600"),
        );
        r
    } else {
        next.run(req).await
    };
    resp.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::HeaderValue::from_static("*"),
    );
    resp
}

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/blocks/tip/height", get(tip_height))
        .route("/blocks/tip/hash", get(tip_hash))
        .route("/blocks", get(blocks))
        .route("/blocks/{start}", get(blocks_from))
        .route("/block-height/{h}", get(block_height))
        .route("/block/{hash}", get(block))
        .route("/block/{hash}/header", get(block_header))
        .route("/block/{hash}/status", get(block_status))
        .route("/block/{hash}/raw", get(block_raw))
        .route("/block/{hash}/txids", get(block_txids))
        .route("/block/{hash}/txid/{i}", get(block_txid))
        .route("/block/{hash}/txs", get(block_txs))
        .route("/block/{hash}/txs/{start}", get(block_txs_from))
        .route("/tx", post(post_tx))
        .route("/txs/package", post(post_package))
        .route("/tx/{txid}", get(tx))
        .route("/tx/{txid}/hex", get(tx_hex))
        .route("/tx/{txid}/raw", get(tx_raw))
        .route("/tx/{txid}/status", get(tx_status))
        .route("/tx/{txid}/merkle-proof", get(tx_merkle_proof))
        .route("/tx/{txid}/merkleblock-proof", get(tx_merkleblock_proof))
        .route("/tx/{txid}/outspend/{vout}", get(tx_outspend))
        .route("/tx/{txid}/outspends", get(tx_outspends))
        .route("/scripthash/{h}", get(scripthash))
        .route("/scripthash/{h}/txs", get(scripthash_txs))
        .route("/scripthash/{h}/txs/chain", get(scripthash_txs_chain))
        .route(
            "/scripthash/{h}/txs/chain/{last}",
            get(scripthash_txs_chain_from),
        )
        .route("/scripthash/{h}/txs/mempool", get(scripthash_txs_mempool))
        .route("/scripthash/{h}/utxo", get(scripthash_utxo))
        .route("/address/{a}", get(address))
        .route("/address/{a}/txs", get(address_txs))
        .route("/address/{a}/txs/chain", get(address_txs_chain))
        .route("/address/{a}/txs/chain/{last}", get(address_txs_chain_from))
        .route("/address/{a}/txs/mempool", get(address_txs_mempool))
        .route("/address/{a}/utxo", get(address_utxo))
        .route("/fee-estimates", get(fee_estimates))
        .route("/mempool", get(mempool))
        .route("/mempool/txids", get(mempool_txids))
        .route("/mempool/recent", get(mempool_recent))
        .route("/regtest/mine", post(ctl_mine))
        .route("/regtest/faucet", post(ctl_faucet).get(ctl_faucet_info))
        .route("/regtest/reorg", post(ctl_reorg))
        .route("/regtest/reconsider", post(ctl_reconsider))
        .route(
            "/regtest/fee-estimates",
            get(ctl_get_fees).post(ctl_set_fees),
        )
        .route(
            "/regtest/requests",
            get(ctl_requests).delete(ctl_requests_reset),
        )
        .route("/regtest/requests/reset", post(ctl_requests_reset))
        .route("/regtest/rpc", get(ctl_rpc))
        .route("/regtest/tip", get(ctl_tip))
        .route(
            "/regtest/faults",
            get(ctl_faults).post(ctl_add_fault).delete(ctl_clear_faults),
        )
        .fallback(|| async { ApiError(StatusCode::NOT_FOUND, "Not found".into()) })
        // Inside the counter: a faulted request is counted like any other.
        .layer(middleware::from_fn_with_state(state.clone(), inject_faults))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .layer(middleware::from_fn(cors))
        .with_state(state)
}

async fn wait_rpc_ready(rpc: &BitcoindRpc, bitcoind: &Bitcoind) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match rpc.call_value("getblockchaininfo", json!([])).await {
            Ok(_) => return Ok(()),
            Err(e) => {
                if let Some(status) = bitcoind.exit_status() {
                    anyhow::bail!("bitcoind exited ({status}) during startup: {e}");
                }
                if Instant::now() > deadline {
                    anyhow::bail!("bitcoind RPC not ready after 60 s: {e}");
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn setup(
    bitcoind: &Bitcoind,
    config: &Config,
) -> anyhow::Result<(tokio::net::TcpListener, Arc<AppState>, Ready)> {
    let cookie_file = bitcoind.cookie_file();
    let (user, password) = read_cookie(&cookie_file)?;
    let rpc = BitcoindRpc::new(bitcoind.rpc_url(), user.clone(), password.clone());
    wait_rpc_ready(&rpc, bitcoind).await?;
    let faucet = Faucet::new()?;
    let height: u32 = rpc.call("getblockcount", json!([])).await?;
    if height < config.initial_blocks {
        let _: Vec<BlockHash> = rpc
            .call(
                "generatetoaddress",
                json!([config.initial_blocks - height, faucet.address().to_string()]),
            )
            .await?;
    }
    let rpc_info = RpcInfo {
        url: bitcoind.rpc_url(),
        user,
        password,
        cookie_file,
        datadir: bitcoind.datadir().to_path_buf(),
        rpc_port: bitcoind.rpc_port(),
        p2p_port: bitcoind.p2p_port(),
    };
    let mut index = Index::default();
    index.sync(&rpc).await?;
    let listen = config
        .listen
        .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("binding {listen}: {e}"))?;
    let url = format!("http://{}", listener.local_addr()?);
    let faucet_address = faucet.address().clone();
    let state = Arc::new(AppState {
        rpc,
        rpc_info: rpc_info.clone(),
        index: tokio::sync::Mutex::new(index),
        fees: Mutex::new(
            config
                .fee_estimates
                .clone()
                .unwrap_or_else(default_fee_estimates),
        ),
        counts: Mutex::new(Counts::default()),
        faucet,
        faucet_lock: tokio::sync::Mutex::new(()),
        invalidated: Mutex::new(Vec::new()),
        faults: Mutex::new(Vec::new()),
    });
    Ok((
        listener,
        state,
        Ready {
            url,
            rpc_info,
            faucet_address,
        },
    ))
}

/// Sets up the index and serves until `shutdown` fires (or its sender is dropped).
pub(crate) async fn run(
    bitcoind: &Bitcoind,
    config: &Config,
    ready: tokio::sync::oneshot::Sender<anyhow::Result<Ready>>,
    shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    let (listener, state) = match setup(bitcoind, config).await {
        Ok((listener, state, info)) => {
            if ready.send(Ok(info)).is_err() {
                return;
            }
            (listener, state)
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let app = router(state);
    tokio::select! {
        r = axum::serve(listener, app) => {
            if let Err(e) = r {
                eprintln!("regtest-esplora: server error: {e}");
            }
        }
        _ = shutdown => {}
    }
}
