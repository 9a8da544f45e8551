//! `regtest-esplora`: an [Esplora](https://github.com/Blockstream/esplora/blob/master/API.md)
//! REST server over a real regtest Bitcoin Core `bitcoind`, with test controls.
//!
//! [`RegtestEsplora::start`] spawns `bitcoind` (regtest, a temporary datadir, free loopback
//! ports, `-txindex`, no peers), mines [`Config::initial_blocks`] blocks to the faucet and
//! serves Esplora's REST API from bitcoind's view on `127.0.0.1`. bitcoind is the truth for
//! chain, mempool, policy and reorgs; the server only indexes what bitcoind says (scripthash →
//! transactions, outspends, block txids), refreshing at the start of every request (one
//! `getbestblockhash` + `getrawmempool` when nothing changed; on a new tip it walks back to the
//! fork point, so a transaction that leaves the chain shows as unconfirmed again, or is gone).
//!
//! bitcoind is stopped when the handle is dropped; on Linux it also gets
//! `PR_SET_PDEATHSIG(SIGKILL)` from the server's own thread, so it dies with the test process
//! even on SIGKILL. The binary (`regtest-esplora --listen 127.0.0.1:PORT`) stops it on
//! Ctrl-C/SIGTERM.
//!
//! The `bitcoind` binary: `$BITCOIND_EXE`, else the newest
//! `${WASM_LN_CACHE:-$HOME/.cache/wasm-ln}/bitcoind/libbitcoinkernel-sys-*/build/bin/bitcoind`
//! (built by `pkg-scripts/bitcoind.sh`).
//!
//! # Esplora endpoints (Esplora's exact JSON and text formats)
//!
//! - `GET /blocks/tip/height`, `/blocks/tip/hash`, `/blocks[/:start_height]`, `/block-height/:h`
//! - `GET /block/:hash` (and `/header`, `/status`, `/raw`, `/txids`, `/txid/:i`,
//!   `/txs[/:start]`)
//! - `GET /tx/:txid` (and `/hex`, `/raw`, `/status`, `/merkle-proof`, `/merkleblock-proof`,
//!   `/outspend/:vout`, `/outspends`)
//! - `POST /tx` (hex body → txid; bitcoind's rejection in an HTTP 400:
//!   `sendrawtransaction RPC error: {"code":-26,"message":"…"}`), `POST /txs/package`
//! - `GET /scripthash/:h` (and `/txs` = up to 50 mempool then 25 confirmed newest first,
//!   `/txs/chain[/:last_seen]` = pages of 25, `/txs/mempool`, `/utxo`); the same under
//!   `/address/:addr`
//! - `GET /fee-estimates` (target → sat/vB, from a settable table), `/mempool`,
//!   `/mempool/txids`, `/mempool/recent`
//!
//! Errors are plain text with a 4xx status (`404 Transaction not found`, …).
//!
//! # Test controls (JSON; not counted as Esplora requests)
//!
//! | method | path | body | answer |
//! |---|---|---|---|
//! | POST | `/regtest/mine` | `{"blocks": n, "address": "bcrt1…"?}` (default: 1 block to the faucet) | `{"hashes", "height", "tip"}` |
//! | POST | `/regtest/faucet` | `{"address", "amount_sat", "confirm": bool?, "fee_rate_sat_vb"?}` | `{"txid", "fee_sat", "block_hash"?}` |
//! | GET | `/regtest/faucet` | | `{"address", "spendable_sat", "immature_sat"}` |
//! | POST | `/regtest/reorg` | `{"depth": n}`: `invalidateblock` on the block n deep (n = 1: the tip) | `{"invalidated", "height", "tip"}` |
//! | POST | `/regtest/reconsider` | `{"hash"?}` (default: every block invalidated so far) | `{"reconsidered", "height", "tip"}` |
//! | GET/POST | `/regtest/fee-estimates` | `{"1": 20.0, "6": 5.0, …}` | the table |
//! | GET | `/regtest/requests` | | `{"total", "paths": {path: n}, "routes": {route: n}}` |
//! | DELETE | `/regtest/requests` (or POST `/regtest/requests/reset`) | | the counts before the reset |
//! | GET | `/regtest/rpc` | | `{"url", "user", "password", "cookie_file", "datadir", "rpc_port", "p2p_port"}` |
//! | GET | `/regtest/tip` | | `{"height", "hash"}` |
//! | POST | `/regtest/faults` | a [`Fault`]: `{"kind": {"status": 429, "retry_after": 2}, "count": 1, "path_prefix": "/tx", "method": "POST"}` | the faults still armed |
//! | GET/DELETE | `/regtest/faults` | | the faults still armed (DELETE: disarms them all) |
//!
//! # Fault injection
//!
//! An armed [`Fault`] answers the next `count` Esplora requests that match its method and
//! path prefix in its own way ([`FaultKind`]): an HTTP error (429 with `Retry-After`, 500…),
//! a truncated or garbage body, a stall, or, for `POST /tx`, an acceptance that never reaches
//! bitcoind (a broadcast lost on its way). Faulted requests are counted like the others. The
//! first armed fault that matches a request applies; it is disarmed after `count` requests.
//!
//! [`network::TestNetwork`] starts the node tests' Lightning network on top: an LSPS2 LSP (also
//! the RGS server), a merchant and carol, with announced channels (`peer` processes).
//!
//! The faucet holds a fixed P2WPKH key; it spends only mature coinbase outputs (≥ 100
//! confirmations) and non-coinbase outputs (its change), confirmed first, largest first.

#![deny(missing_docs)]

pub mod bitcoind;
mod faucet;
pub mod index;
pub mod network;
pub mod peer;
pub mod rpc;
mod server;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{bail, Context};
use bitcoin::{Address, BlockHash, Network, Txid};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub use bitcoind::find_bitcoind;
pub use faucet::COINBASE_MATURITY;
pub use rpc::{BitcoindRpc, RpcError};
pub use server::default_fee_estimates;

/// How to start a [`RegtestEsplora`].
#[derive(Clone, Debug)]
pub struct Config {
    /// Where to serve Esplora (default `127.0.0.1:0`, a free port).
    pub listen: Option<SocketAddr>,
    /// The bitcoind binary (default: [`find_bitcoind`]).
    pub bitcoind_exe: Option<PathBuf>,
    /// Reuse (or create) this datadir and keep it; default: a temporary one, removed on stop.
    pub bitcoind_datadir: Option<PathBuf>,
    /// Mine to the faucet until the chain is at least this high (default 110: 11 mature
    /// coinbase outputs of 50 BTC).
    pub initial_blocks: u32,
    /// The initial fee-estimate table (default [`default_fee_estimates`]).
    pub fee_estimates: Option<BTreeMap<u16, f64>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: None,
            bitcoind_exe: None,
            bitcoind_datadir: None,
            initial_blocks: 110,
            fee_estimates: None,
        }
    }
}

/// bitcoind's RPC endpoint and credentials (for peers that use RPC, e.g. ldk-node).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RpcInfo {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The cookie's user (`__cookie__`).
    pub user: String,
    /// The cookie's password.
    pub password: String,
    /// The cookie file.
    pub cookie_file: PathBuf,
    /// bitcoind's datadir.
    pub datadir: PathBuf,
    /// The RPC port.
    pub rpc_port: u16,
    /// The P2P port (bitcoind does not listen).
    pub p2p_port: u16,
}

/// Per-path counts of Esplora requests since the last reset.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RequestCounts {
    /// All Esplora requests.
    pub total: u64,
    /// By request path (`/blocks/tip/hash`, `/scripthash/<hex>/txs`, …).
    pub paths: BTreeMap<String, u64>,
    /// By route (`/blocks/tip/hash`, `/scripthash/{h}/txs`, …).
    pub routes: BTreeMap<String, u64>,
}

impl RequestCounts {
    /// Requests whose path starts with `prefix` (`""` for all).
    pub fn count(&self, prefix: &str) -> u64 {
        self.paths
            .iter()
            .filter(|(p, _)| p.starts_with(prefix))
            .map(|(_, n)| n)
            .sum()
    }
}

/// How a [`Fault`] answers a request.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// An HTTP error with a plain-text body, and a `Retry-After: <secs>` header when given.
    Status {
        /// The HTTP status (429, 500, 503…).
        status: u16,
        /// `Retry-After`, in seconds.
        retry_after: Option<u64>,
    },
    /// The real answer with its body cut in half (a JSON or hex body that ends mid-way; the
    /// `Content-Length` matches what is sent).
    Truncated,
    /// HTTP 200 with a body that is JSON, but not what the endpoint returns.
    Garbage,
    /// Waits `ms` milliseconds, then answers for real (the client may have given up).
    Stall {
        /// How long to wait.
        ms: u64,
    },
    /// `POST /tx` only: answers the txid as if bitcoind had accepted the transaction, and
    /// never hands it to bitcoind (a broadcast lost on its way to the network).
    Drop,
}

/// A fault armed at the server: see the [crate docs](crate#fault-injection).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Fault {
    /// What the faulted requests get.
    pub kind: FaultKind,
    /// How many requests it applies to (default 1).
    #[serde(default = "one")]
    pub count: u32,
    /// Only requests whose path starts with this (default: any Esplora request).
    #[serde(default)]
    pub path_prefix: String,
    /// Only requests with this HTTP method (`GET`, `POST`; default: any).
    #[serde(default)]
    pub method: Option<String>,
}

fn one() -> u32 {
    1
}

impl Fault {
    /// `kind` for the next request matching `path_prefix` (any method).
    pub fn new(kind: FaultKind, path_prefix: &str) -> Self {
        Fault {
            kind,
            count: 1,
            path_prefix: path_prefix.to_string(),
            method: None,
        }
    }

    /// Applies to the next `count` matching requests.
    pub fn times(mut self, count: u32) -> Self {
        self.count = count;
        self
    }

    /// Applies to `method` requests only.
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// The next `POST /tx` is answered as accepted and never reaches bitcoind.
    pub fn drop_next_broadcast() -> Self {
        Fault::new(FaultKind::Drop, "/tx").method("POST")
    }
}

/// What a faucet payment did.
#[derive(Clone, Debug, Deserialize)]
pub struct FaucetPayment {
    /// The transaction.
    pub txid: Txid,
    /// Its fee.
    pub fee_sat: u64,
    /// The block that confirmed it, when asked to.
    pub block_hash: Option<BlockHash>,
}

/// A running bitcoind + Esplora server. Dropping it stops both (and removes a temporary
/// datadir).
///
/// The server and bitcoind live on a dedicated thread with its own tokio runtime, so the
/// handle works from any runtime (and [`BlockingRegtestEsplora`] from none).
pub struct RegtestEsplora {
    url: String,
    rpc_info: RpcInfo,
    exe: PathBuf,
    faucet_address: Address,
    http: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for RegtestEsplora {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegtestEsplora")
            .field("url", &self.url)
            .field("rpc_url", &self.rpc_info.url)
            .finish()
    }
}

/// Parses a regtest address.
pub fn regtest_address(s: &str) -> anyhow::Result<Address> {
    Ok(Address::from_str(s)?.require_network(Network::Regtest)?)
}

impl RegtestEsplora {
    /// Starts bitcoind and the server with the default [`Config`].
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(Config::default()).await
    }

    /// Starts bitcoind and the server.
    pub async fn start_with(config: Config) -> anyhow::Result<Self> {
        let exe = match &config.bitcoind_exe {
            Some(exe) => exe.clone(),
            None => find_bitcoind()?,
        };
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel();
        let thread_exe = exe.clone();
        // bitcoind is spawned from this thread (PR_SET_PDEATHSIG follows the spawning thread)
        // and lives exactly as long as it.
        let thread = std::thread::Builder::new()
            .name("regtest-esplora".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                        return;
                    }
                };
                let mut bitcoind = match bitcoind::Bitcoind::spawn(
                    &thread_exe,
                    config.bitcoind_datadir.as_deref(),
                ) {
                    Ok(b) => b,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(server::run(&bitcoind, &config, ready_tx, shutdown_rx));
                rt.shutdown_timeout(Duration::from_secs(1));
                let grace = if config.bitcoind_datadir.is_some() {
                    Duration::from_secs(30)
                } else {
                    Duration::from_secs(3)
                };
                bitcoind.stop(grace);
            })
            .context("spawning the regtest-esplora thread")?;
        let ready = match ready_rx.await {
            Ok(Ok(ready)) => ready,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => {
                let _ = thread.join();
                bail!("the regtest-esplora thread ended during startup");
            }
        };
        Ok(RegtestEsplora {
            url: ready.url,
            rpc_info: ready.rpc_info,
            exe,
            faucet_address: ready.faucet_address,
            http: reqwest::Client::new(),
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        })
    }

    /// The Esplora base URL, `http://127.0.0.1:PORT` (no trailing slash).
    pub fn esplora_url(&self) -> &str {
        &self.url
    }

    /// bitcoind's RPC URL.
    pub fn rpc_url(&self) -> &str {
        &self.rpc_info.url
    }

    /// bitcoind's RPC user and password (from the cookie file).
    pub fn rpc_auth(&self) -> (&str, &str) {
        (&self.rpc_info.user, &self.rpc_info.password)
    }

    /// bitcoind's RPC URL, credentials, cookie file and datadir.
    pub fn rpc_info(&self) -> &RpcInfo {
        &self.rpc_info
    }

    /// A JSON-RPC client for bitcoind (for actions the controls do not cover).
    pub fn rpc(&self) -> BitcoindRpc {
        BitcoindRpc::new(
            &self.rpc_info.url,
            &self.rpc_info.user,
            &self.rpc_info.password,
        )
    }

    /// The bitcoind binary in use.
    pub fn bitcoind_exe(&self) -> &Path {
        &self.exe
    }

    /// The faucet's address (coinbase of [`mine`](Self::mine) goes there).
    pub fn faucet_address(&self) -> &Address {
        &self.faucet_address
    }

    async fn control<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<T> {
        let url = format!("{}{}", self.url, path);
        let mut req = self.http.request(method, &url);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("requesting {url}"))?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("{path}: HTTP {status}: {text}");
        }
        serde_json::from_str(&text).with_context(|| format!("{path}: decoding {text}"))
    }

    /// Mines `n` blocks to the faucet; returns their hashes.
    pub async fn mine(&self, n: u32) -> anyhow::Result<Vec<BlockHash>> {
        let v: Value = self
            .control(
                reqwest::Method::POST,
                "/regtest/mine",
                Some(json!({"blocks": n})),
            )
            .await?;
        Ok(serde_json::from_value(v["hashes"].clone())?)
    }

    /// Mines `n` blocks paying the coinbase to `address`.
    pub async fn mine_to(&self, address: &Address, n: u32) -> anyhow::Result<Vec<BlockHash>> {
        let v: Value = self
            .control(
                reqwest::Method::POST,
                "/regtest/mine",
                Some(json!({"blocks": n, "address": address.to_string()})),
            )
            .await?;
        Ok(serde_json::from_value(v["hashes"].clone())?)
    }

    /// Pays `sats` from the faucet to `address` (unconfirmed); returns the txid.
    pub async fn faucet_send(&self, address: &Address, sats: u64) -> anyhow::Result<Txid> {
        Ok(self.faucet_pay(address, sats, false).await?.txid)
    }

    /// Pays `sats` from the faucet to `address`, and mines a block when `confirm`.
    pub async fn faucet_pay(
        &self,
        address: &Address,
        sats: u64,
        confirm: bool,
    ) -> anyhow::Result<FaucetPayment> {
        self.control(
            reqwest::Method::POST,
            "/regtest/faucet",
            Some(json!({"address": address.to_string(), "amount_sat": sats, "confirm": confirm})),
        )
        .await
    }

    /// Invalidates the block `depth` deep (1 = the tip): the chain drops `depth` blocks and
    /// their transactions return to the mempool (coinbases disappear). Mine afterwards for a
    /// competing chain. Returns the invalidated block's hash.
    pub async fn reorg(&self, depth: u32) -> anyhow::Result<BlockHash> {
        let v: Value = self
            .control(
                reqwest::Method::POST,
                "/regtest/reorg",
                Some(json!({"depth": depth})),
            )
            .await?;
        Ok(serde_json::from_value(v["invalidated"].clone())?)
    }

    /// Reconsiders every block invalidated by [`reorg`](Self::reorg) (bitcoind then follows
    /// the most-work chain).
    pub async fn reconsider(&self) -> anyhow::Result<()> {
        let _: Value = self
            .control(
                reqwest::Method::POST,
                "/regtest/reconsider",
                Some(json!({})),
            )
            .await?;
        Ok(())
    }

    /// Replaces the `/fee-estimates` table (confirmation target → sat/vB).
    pub async fn set_fee_estimates(&self, table: &BTreeMap<u16, f64>) -> anyhow::Result<()> {
        let _: Value = self
            .control(
                reqwest::Method::POST,
                "/regtest/fee-estimates",
                Some(json!(table)),
            )
            .await?;
        Ok(())
    }

    /// All Esplora request counts since the last reset.
    pub async fn request_counts(&self) -> anyhow::Result<RequestCounts> {
        self.control(reqwest::Method::GET, "/regtest/requests", None)
            .await
    }

    /// Esplora requests whose path starts with `path_prefix` (`""`: all) since the last reset.
    pub async fn request_count(&self, path_prefix: &str) -> anyhow::Result<u64> {
        Ok(self.request_counts().await?.count(path_prefix))
    }

    /// Resets the request counters.
    pub async fn reset_request_counts(&self) -> anyhow::Result<()> {
        let _: Value = self
            .control(reqwest::Method::POST, "/regtest/requests/reset", None)
            .await?;
        Ok(())
    }

    /// The tip (height, hash), without counting an Esplora request.
    pub async fn tip(&self) -> anyhow::Result<(u32, BlockHash)> {
        let v: Value = self
            .control(reqwest::Method::GET, "/regtest/tip", None)
            .await?;
        Ok((
            serde_json::from_value(v["height"].clone())?,
            serde_json::from_value(v["hash"].clone())?,
        ))
    }

    /// The faucet's spendable balance (mature coinbase + change), in sats.
    pub async fn faucet_balance(&self) -> anyhow::Result<u64> {
        let v: Value = self
            .control(reqwest::Method::GET, "/regtest/faucet", None)
            .await?;
        Ok(serde_json::from_value(v["spendable_sat"].clone())?)
    }

    /// Arms `fault` (see the [crate docs](crate#fault-injection)); returns the faults armed.
    pub async fn inject_fault(&self, fault: &Fault) -> anyhow::Result<Vec<Fault>> {
        self.control(
            reqwest::Method::POST,
            "/regtest/faults",
            Some(serde_json::to_value(fault)?),
        )
        .await
    }

    /// The faults still armed.
    pub async fn faults(&self) -> anyhow::Result<Vec<Fault>> {
        self.control(reqwest::Method::GET, "/regtest/faults", None)
            .await
    }

    /// Disarms every fault; returns those that were still armed.
    pub async fn clear_faults(&self) -> anyhow::Result<Vec<Fault>> {
        self.control(reqwest::Method::DELETE, "/regtest/faults", None)
            .await
    }

    /// Stops the server and bitcoind now (as dropping does).
    pub fn stop(mut self) {
        self.shutdown_now();
    }

    fn shutdown_now(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for RegtestEsplora {
    fn drop(&mut self) {
        self.shutdown_now();
    }
}

/// [`RegtestEsplora`] for synchronous code: each call runs on a private current-thread runtime.
/// Do not call its methods from inside an async runtime.
pub struct BlockingRegtestEsplora {
    inner: RegtestEsplora,
    rt: tokio::runtime::Runtime,
}

impl BlockingRegtestEsplora {
    /// Starts with the default [`Config`].
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with(Config::default())
    }

    /// Starts with `config`.
    pub fn start_with(config: Config) -> anyhow::Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let inner = rt.block_on(RegtestEsplora::start_with(config))?;
        Ok(BlockingRegtestEsplora { inner, rt })
    }

    /// See [`RegtestEsplora::mine`].
    pub fn mine(&self, n: u32) -> anyhow::Result<Vec<BlockHash>> {
        self.rt.block_on(self.inner.mine(n))
    }

    /// See [`RegtestEsplora::mine_to`].
    pub fn mine_to(&self, address: &Address, n: u32) -> anyhow::Result<Vec<BlockHash>> {
        self.rt.block_on(self.inner.mine_to(address, n))
    }

    /// See [`RegtestEsplora::faucet_send`].
    pub fn faucet_send(&self, address: &Address, sats: u64) -> anyhow::Result<Txid> {
        self.rt.block_on(self.inner.faucet_send(address, sats))
    }

    /// See [`RegtestEsplora::faucet_pay`].
    pub fn faucet_pay(
        &self,
        address: &Address,
        sats: u64,
        confirm: bool,
    ) -> anyhow::Result<FaucetPayment> {
        self.rt
            .block_on(self.inner.faucet_pay(address, sats, confirm))
    }

    /// See [`RegtestEsplora::reorg`].
    pub fn reorg(&self, depth: u32) -> anyhow::Result<BlockHash> {
        self.rt.block_on(self.inner.reorg(depth))
    }

    /// See [`RegtestEsplora::reconsider`].
    pub fn reconsider(&self) -> anyhow::Result<()> {
        self.rt.block_on(self.inner.reconsider())
    }

    /// See [`RegtestEsplora::set_fee_estimates`].
    pub fn set_fee_estimates(&self, table: &BTreeMap<u16, f64>) -> anyhow::Result<()> {
        self.rt.block_on(self.inner.set_fee_estimates(table))
    }

    /// See [`RegtestEsplora::request_count`].
    pub fn request_count(&self, path_prefix: &str) -> anyhow::Result<u64> {
        self.rt.block_on(self.inner.request_count(path_prefix))
    }

    /// See [`RegtestEsplora::request_counts`].
    pub fn request_counts(&self) -> anyhow::Result<RequestCounts> {
        self.rt.block_on(self.inner.request_counts())
    }

    /// See [`RegtestEsplora::reset_request_counts`].
    pub fn reset_request_counts(&self) -> anyhow::Result<()> {
        self.rt.block_on(self.inner.reset_request_counts())
    }

    /// See [`RegtestEsplora::tip`].
    pub fn tip(&self) -> anyhow::Result<(u32, BlockHash)> {
        self.rt.block_on(self.inner.tip())
    }
}

impl std::ops::Deref for BlockingRegtestEsplora {
    type Target = RegtestEsplora;
    fn deref(&self) -> &RegtestEsplora {
        &self.inner
    }
}
