//! `peer`: a real [ldk-node](https://docs.rs/ldk-node/0.7.1) (LDK 0.2) Lightning node as a
//! separate process, driven through a small JSON HTTP control API. Our node's native
//! integration tests, the browser e2e and the demo use it as the counterparty.
//!
//! It is never a dependency of `wasm-ln`: ldk-node turns on `lightning/std` and Cargo would
//! unify that into the browser node's build (DESIGN.md §3). Build it alone (`cargo build -p
//! peer`).
//!
//! ```text
//! peer --bitcoind-rpc-url http://127.0.0.1:PORT --bitcoind-rpc-user U --bitcoind-rpc-password P
//!      | --regtest-esplora http://127.0.0.1:3002      (RPC info from GET /regtest/rpc)
//!      [--listen 127.0.0.1:0] [--control 127.0.0.1:0] [--storage-dir DIR] [--seed-hex HEX]
//!      [--alias NAME] [--exit-on-stdin-close]
//!      [--lsps2 [--lsps2-fee-ppm 10000] [--lsps2-min-fee-msat 1000000] [--lsps2-token T]
//!               [--lsps2-over-provisioning-ppm 100000]]
//!      [--lsps2-client NODE_ID@HOST:PORT [--lsps2-client-token T]]
//! ```
//!
//! | flag | meaning |
//! |---|---|
//! | `--alias NAME` | node alias (default `wasm-ln-peer`); with the listening address, which is also announced, it lets the node open and accept announced channels |
//! | `--lsps2` | act as an [LSPS2](https://github.com/lightning/blips/blob/master/blip-0052.md) LSP (ldk-node's service, alpha): JIT channels for clients that pay it an opening fee; ldk-node then intercepts HTLCs to its intercept SCIDs and forwards to private channels. The LSP opens the JIT channel from its on-chain funds (fund it first: channel amount + 25,000 sat anchor reserve) and broadcasts the funding at once (`client_trusts_lsp = false`: LSP trusts client), so the client must accept it as a 0-conf channel |
//! | `--lsps2-fee-ppm N` | opening fee, proportional part (default 10,000 = 1 %) |
//! | `--lsps2-min-fee-msat N` | opening fee, minimum (default 1,000,000) |
//! | `--lsps2-token T` | only clients sending this token are served (default: any) |
//! | `--lsps2-over-provisioning-ppm N` | the JIT channel is this much larger than the forwarded amount (default 100,000 = 10 %) |
//! | `--lsps2-client NODE_ID@HOST:PORT` | use that LSPS2 LSP (ldk-node's client; the LSP is trusted for 0-conf channels): `POST /invoice` with `jit: true` asks it for a JIT channel. An ldk-node client still needs 25,000 sat on-chain (anchor reserve) to accept the channel |
//! | `--lsps2-client-token T` | the token the LSP asks for |
//!
//! Fixed LSPS2 terms: payments of 1,000,000 to 1,000,000,000 msat, `max_client_to_self_delay`
//! 2016 blocks, `min_channel_lifetime` 100 blocks, the service advertised in the node's
//! announcement. The JIT channel forwards at zero fee (ldk-node's choice).
//!
//! Once the node runs it prints one JSON line to stdout:
//! `{"node_id", "p2p_address", "control_url"}`. It stops the node cleanly (`Node::stop`) and
//! exits on SIGTERM/SIGINT, `POST /stop`, and (with `--exit-on-stdin-close`) when its stdin
//! closes; if that takes more than 15 s it exits anyway (status 2). Without `--storage-dir` it
//! keeps its state in a temporary directory removed on exit.
//!
//! Chain source: bitcoind RPC only (polled every 2 s by ldk-node; it also verifies channel
//! announcements against the chain, so the graph knows capacities). Gossip: P2P with its
//! peers (ldk-node's default), nothing outside loopback. On regtest ldk-node falls back to 1 sat/vB when `estimatesmartfee`
//! has no data.
//!
//! # Control API (JSON; errors are 4xx/5xx with `{"error": "..."}`)
//!
//! | method | path | body | answer |
//! |---|---|---|---|
//! | GET | `/info` | | `{node_id, p2p_address, control_url, network, block_height, block_hash, channels, peers: [{node_id, address, is_connected, is_persisted}]}` |
//! | POST | `/address` | | `{address}` (new on-chain address) |
//! | GET | `/balances` | | `{onchain_total_sat, spendable_onchain_sat, anchor_reserve_sat, lightning_sat, lightning_claimable: [{type, channel_id, counterparty_node_id, amount_sat}], pending_sweeps: [{type, channel_id, amount_sat}]}` |
//! | POST | `/sync` | | `{}` after `sync_wallets` |
//! | POST | `/connect` | `{node_id, address, persist?: true}` | `{}` |
//! | POST | `/channels` | `{node_id, address, amount_sat, push_msat?, announce?: false}` | `{user_channel_id}` |
//! | GET | `/channels` | | `[{channel_id, user_channel_id, counterparty_node_id, capacity_sat, outbound_msat, inbound_msat, is_outbound, is_channel_ready, is_usable, is_announced, confirmations, confirmations_required, force_close_spend_delay, funding_txid, funding_vout, short_channel_id}]` |
//! | POST | `/channels/close` | `{user_channel_id, counterparty_node_id, force?: false}` | `{}` |
//! | POST | `/invoice` | `{amount_msat?, description?: "", expiry_secs?: 3600, payment_hash?, jit?: false, max_lsp_fee_msat?}` (no amount: variable; a hash: a hold invoice, settled by `/claim`; `jit`: through a JIT channel of the `--lsps2-client` LSP, its fee capped at `max_lsp_fee_msat` (a variable amount: at `max_lsp_fee_msat` ppm), not with a hash) | `{invoice, payment_hash}` |
//! | POST | `/claim` | `{payment_hash, preimage?, amount_msat?}` (settle a hold invoice; no preimage: fail it) | `{}` |
//! | POST | `/pay` | `{invoice, amount_msat?}` (amount for variable-amount invoices) | `{payment_id}` once sent |
//! | POST | `/keysend` | `{node_id, amount_msat}` | `{payment_id}` |
//! | GET | `/payments` | | `[{id, kind, direction, status, amount_msat, fee_paid_msat, payment_hash, preimage, txid, updated_at}]` |
//! | GET | `/payments/{id}` | | one payment (404 if unknown) |
//! | GET | `/events/next?timeout_ms=N` | | the next event `{type, ...}` (marked handled), or 204 after N ms (default 0) |
//! | GET | `/graph` | | `{nodes: [hex node id], channels: [{short_channel_id, node_one, node_two, capacity_sat (null if unknown), one_to_two, two_to_one}]}`, each direction `null` or `{enabled, last_update, cltv_expiry_delta, htlc_minimum_msat, htlc_maximum_msat, fee_base_msat, fee_proportional_millionths}` (the node's view of the gossip graph) |
//! | GET | `/rgs/snapshot/{timestamp}` | | `application/octet-stream`: a Rapid Gossip Sync snapshot (LDK's format, version 1, written by `rgs-snapshot`, tests/rgs) of the node's current graph: this is the test network's RGS server. Always a full snapshot of every announced channel and every direction with an update, whatever the timestamp (clients append their last sync's); its `latest_seen_timestamp` is now (the regtest chain hash) |
//! | POST | `/sign` | `{message}` | `{signature}`: ldk-node's `sign_message` (LND's `signmessage` format, zbase32) |
//! | POST | `/verify` | `{message, signature, pubkey}` | `{valid}`: ldk-node's `verify_signature` |
//! | POST | `/stop` | | `{}`, then the node stops and the process exits |
//!
//! # LNURL-pay server and Lightning addresses (`src/lnurl.rs`)
//!
//! On the same port, with `Access-Control-Allow-Origin: *` and `OPTIONS` preflights answered:
//! every user `U` has the Lightning address `U@HOST` (HOST: the request's `Host`, e.g.
//! `127.0.0.1:PORT`).
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/.well-known/lnurlp/{user}` | LUD-06 `{tag: "payRequest", callback: "http://HOST/lnurlp/{user}/callback", minSendable: 1000, maxSendable: 1000000000, metadata, commentAllowed: 140}`; `metadata` is `[["text/plain","Pay {user} on the wasm-ln test network"],["text/identifier","{user}@HOST"]]` |
//! | GET | `/lnurlp/{user}/callback?amount=MSAT[&comment=…]` | `{pr, routes: [], successAction: {tag: "message", message: "Thanks! {user} got N sat"}}`: an invoice for exactly `amount` msat whose description hash is the SHA-256 of `metadata`; a missing or out-of-range amount or a comment over 140 characters: `{status: "ERROR", reason}` (HTTP 200, LUD-06) |
//! | GET | `/lnurlp/{user}/payments` | `[{payment_hash, amount_msat, comment, paid}]`: the callbacks' invoices for that user, oldest first |
//! | GET | `/lnurlp/{user}/receipt` | a text page (the `urlaction` user's success action) |
//!
//! Users that misbehave on purpose: `badhash` (the invoice commits to another description
//! hash), `badamount` (the invoice is for `amount` + 1,000 msat), `urlaction` (success action
//! `{tag: "url", description: "Your receipt", url: "http://HOST/lnurlp/urlaction/receipt"}`),
//! `aesaction` (LUD-10 `{tag: "aes", description, ciphertext, iv}`: the message encrypted with
//! AES-256-CBC, PKCS#7 padding, under the payment preimage; base64). User names: `a-z0-9-_.`.
//!
//! `PaymentReceived` events carry `custom_records: [{type, value}]` (keysend TLVs; value hex).
//!
//! `user_channel_id` is a decimal string (a `u128`); ids, hashes and preimages are lowercase hex.
//! Event types: `ChannelPending`, `ChannelReady`, `ChannelClosed`, `PaymentReceived`,
//! `PaymentSuccessful`, `PaymentFailed`, `PaymentClaimable`, `PaymentForwarded`,
//! `SplicePending`, `SpliceFailed`.

mod api;
mod lnurl;

use std::io::Write;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Parser;
use ldk_node::bitcoin::hashes::{sha512, Hash};
use ldk_node::bitcoin::secp256k1::PublicKey;
use ldk_node::bitcoin::Network;
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::liquidity::LSPS2ServiceConfig;
use ldk_node::Builder;
use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

/// How long a clean shutdown may take before the process exits anyway.
const SHUTDOWN_WATCHDOG: std::time::Duration = std::time::Duration::from_secs(15);

/// A real ldk-node Lightning node with an HTTP control API (test counterparty).
#[derive(Parser, Debug)]
#[command(name = "peer", version)]
struct Args {
    /// bitcoind RPC URL (`http://127.0.0.1:PORT`).
    #[arg(long, requires_all = ["bitcoind_rpc_user", "bitcoind_rpc_password"])]
    bitcoind_rpc_url: Option<String>,
    /// bitcoind RPC user.
    #[arg(long)]
    bitcoind_rpc_user: Option<String>,
    /// bitcoind RPC password.
    #[arg(long)]
    bitcoind_rpc_password: Option<String>,
    /// A regtest-esplora server to read bitcoind's RPC info from (`GET /regtest/rpc`), instead
    /// of the `--bitcoind-rpc-*` options.
    #[arg(long, conflicts_with = "bitcoind_rpc_url")]
    regtest_esplora: Option<String>,
    /// Lightning P2P listening address (port 0: a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// HTTP control API address (port 0: a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    control: SocketAddr,
    /// Storage directory (kept); default: a temporary directory removed on exit.
    #[arg(long)]
    storage_dir: Option<PathBuf>,
    /// Wallet seed in hex: 128 hex chars (64 bytes, used as is) or 64 hex chars (32 bytes,
    /// expanded with SHA-512). Default: random (in the storage directory).
    #[arg(long)]
    seed_hex: Option<String>,
    /// Node alias (needed for announced channels).
    #[arg(long, default_value = "wasm-ln-peer")]
    alias: String,
    /// Exit (cleanly) when stdin reaches EOF, i.e. when the parent process goes away.
    #[arg(long)]
    exit_on_stdin_close: bool,
    /// Act as an LSPS2 LSP (JIT channels).
    #[arg(long)]
    lsps2: bool,
    /// LSPS2 opening fee, parts per million of the payment.
    #[arg(long, default_value_t = 10_000, requires = "lsps2")]
    lsps2_fee_ppm: u32,
    /// LSPS2 minimum opening fee, msat.
    #[arg(long, default_value_t = 1_000_000, requires = "lsps2")]
    lsps2_min_fee_msat: u64,
    /// LSPS2 token clients must send (default: none required).
    #[arg(long, requires = "lsps2")]
    lsps2_token: Option<String>,
    /// LSPS2 channel over-provisioning, parts per million of the forwarded amount.
    #[arg(long, default_value_t = 100_000, requires = "lsps2")]
    lsps2_over_provisioning_ppm: u32,
    /// An LSPS2 LSP to buy JIT channels from (`node_id@host:port`).
    #[arg(long)]
    lsps2_client: Option<String>,
    /// The token that LSP asks for.
    #[arg(long, requires = "lsps2_client")]
    lsps2_client_token: Option<String>,
}

/// LSPS2 payment size limits and channel terms (fixed; see the crate docs).
const LSPS2_MIN_PAYMENT_MSAT: u64 = 1_000_000;
const LSPS2_MAX_PAYMENT_MSAT: u64 = 1_000_000_000;
/// wasm-ln asks for a 1008-block `to_self_delay`; allow up to two weeks.
const LSPS2_MAX_CLIENT_TO_SELF_DELAY: u32 = 2016;
const LSPS2_MIN_CHANNEL_LIFETIME: u32 = 100;

fn lsps2_config(args: &Args) -> LSPS2ServiceConfig {
    LSPS2ServiceConfig {
        require_token: args.lsps2_token.clone(),
        advertise_service: true,
        channel_opening_fee_ppm: args.lsps2_fee_ppm,
        channel_over_provisioning_ppm: args.lsps2_over_provisioning_ppm,
        min_channel_opening_fee_msat: args.lsps2_min_fee_msat,
        min_channel_lifetime: LSPS2_MIN_CHANNEL_LIFETIME,
        max_client_to_self_delay: LSPS2_MAX_CLIENT_TO_SELF_DELAY,
        min_payment_size_msat: LSPS2_MIN_PAYMENT_MSAT,
        max_payment_size_msat: LSPS2_MAX_PAYMENT_MSAT,
        // LSP trusts client: the funding goes out at once, the client may claim right away.
        client_trusts_lsp: false,
    }
}

#[derive(Deserialize)]
struct RpcInfo {
    url: String,
    user: String,
    password: String,
}

struct Rpc {
    host: String,
    port: u16,
    user: String,
    password: String,
}

async fn resolve_rpc(args: &Args) -> anyhow::Result<Rpc> {
    let info = match (&args.bitcoind_rpc_url, &args.regtest_esplora) {
        (Some(url), _) => RpcInfo {
            url: url.clone(),
            user: args.bitcoind_rpc_user.clone().unwrap_or_default(),
            password: args.bitcoind_rpc_password.clone().unwrap_or_default(),
        },
        (None, Some(esplora)) => {
            let url = format!("{}/regtest/rpc", esplora.trim_end_matches('/'));
            reqwest::get(&url)
                .await
                .with_context(|| format!("GET {url}"))?
                .error_for_status()?
                .json::<RpcInfo>()
                .await
                .with_context(|| format!("decoding {url}"))?
        }
        (None, None) => bail!("give --bitcoind-rpc-url/--bitcoind-rpc-user/--bitcoind-rpc-password or --regtest-esplora"),
    };
    let url =
        reqwest::Url::parse(&info.url).with_context(|| format!("bad RPC URL {}", info.url))?;
    let host = url.host_str().context("RPC URL without host")?.to_string();
    let port = url
        .port_or_known_default()
        .context("RPC URL without port")?;
    Ok(Rpc {
        host,
        port,
        user: info.user,
        password: info.password,
    })
}

fn parse_seed(hex: &str) -> anyhow::Result<[u8; 64]> {
    let bytes = api::hex_decode(hex.trim()).context("--seed-hex is not hex")?;
    match bytes.len() {
        64 => {
            let mut seed = [0u8; 64];
            seed.copy_from_slice(&bytes);
            Ok(seed)
        }
        32 => Ok(sha512::Hash::hash(&bytes).to_byte_array()),
        n => bail!("--seed-hex must be 32 or 64 bytes, got {n}"),
    }
}

/// ldk-node binds the address it is given and cannot report a kernel-chosen port, so port 0
/// becomes a free port picked here.
fn concrete_listen_addr(addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    if addr.port() != 0 {
        return Ok(addr);
    }
    let listener = StdTcpListener::bind(addr).with_context(|| format!("binding {addr}"))?;
    Ok(listener.local_addr()?)
}

fn main() {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("peer: error: tokio runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(run(args));
    // A blocking stdin read (`--exit-on-stdin-close`) never returns by itself: do not wait for
    // it (dropping the runtime would).
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    if let Err(e) = result {
        eprintln!("peer: error: {e:#}");
        std::process::exit(1);
    }
    std::process::exit(0);
}

async fn run(args: Args) -> anyhow::Result<()> {
    let rpc = resolve_rpc(&args).await?;

    let temp_dir = match &args.storage_dir {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("wasm-ln-peer-")
                .tempdir()
                .context("creating a temporary storage directory")?,
        ),
    };
    let storage_dir = match (&args.storage_dir, &temp_dir) {
        (Some(dir), _) => dir.clone(),
        (None, Some(t)) => t.path().to_path_buf(),
        (None, None) => bail!("no storage directory"),
    };
    std::fs::create_dir_all(&storage_dir)
        .with_context(|| format!("creating {}", storage_dir.display()))?;

    let p2p_addr = concrete_listen_addr(args.listen)?;
    let p2p_socket_addr = SocketAddress::from(p2p_addr);

    let mut builder = Builder::new();
    builder
        .set_runtime(tokio::runtime::Handle::current())
        .set_network(Network::Regtest)
        .set_storage_dir_path(storage_dir.to_string_lossy().into_owned())
        .set_chain_source_bitcoind_rpc(rpc.host, rpc.port, rpc.user, rpc.password);
    builder
        .set_listening_addresses(vec![p2p_socket_addr.clone()])
        .map_err(|e| anyhow::anyhow!("listening address: {e:?}"))?;
    // Announced in the node announcement (ldk-node would fall back to the listening addresses;
    // said explicitly so the announced channels' node is reachable where it listens).
    builder
        .set_announcement_addresses(vec![p2p_socket_addr])
        .map_err(|e| anyhow::anyhow!("announcement address: {e:?}"))?;
    if args.lsps2 {
        builder.set_liquidity_provider_lsps2(lsps2_config(&args));
    }
    if let Some(uri) = &args.lsps2_client {
        let (id, addr) = uri
            .split_once('@')
            .context("--lsps2-client must be node_id@host:port")?;
        let id = PublicKey::from_str(id).context("--lsps2-client: bad node id")?;
        let addr = SocketAddress::from_str(addr)
            .map_err(|e| anyhow::anyhow!("--lsps2-client: bad address: {e:?}"))?;
        builder.set_liquidity_source_lsps2(id, addr, args.lsps2_client_token.clone());
    }
    builder
        .set_node_alias(args.alias.clone())
        .map_err(|e| anyhow::anyhow!("alias: {e:?}"))?;
    if let Some(hex) = &args.seed_hex {
        builder.set_entropy_seed_bytes(parse_seed(hex)?);
    }

    let node = tokio::task::spawn_blocking(move || -> anyhow::Result<Arc<ldk_node::Node>> {
        let node = Arc::new(
            builder
                .build()
                .map_err(|e| anyhow::anyhow!("building the node: {e:?}"))?,
        );
        node.start()
            .map_err(|e| anyhow::anyhow!("starting the node: {e:?}"))?;
        Ok(node)
    })
    .await
    .context("node start task")??;

    let control = tokio::net::TcpListener::bind(args.control)
        .await
        .with_context(|| format!("binding the control API on {}", args.control))?;
    let control_url = format!("http://{}", control.local_addr()?);

    let (stop_tx, mut stop_rx) = watch::channel(false);
    let state = api::State::new(
        Arc::clone(&node),
        p2p_addr.to_string(),
        control_url.clone(),
        stop_tx.clone(),
    );
    let app = api::router(state);

    {
        let line = json!({
            "node_id": node.node_id().to_string(),
            "p2p_address": p2p_addr.to_string(),
            "control_url": control_url,
        });
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()?;
    }

    spawn_stop_triggers(stop_tx, args.exit_on_stdin_close)?;
    {
        // Whatever hangs during shutdown (a connection that stays open, a node that does not
        // stop because bitcoind is gone), the process still goes away.
        let mut stopping = stop_rx.clone();
        tokio::spawn(async move {
            if stopping.wait_for(|stop| *stop).await.is_ok() {
                std::thread::spawn(|| {
                    std::thread::sleep(SHUTDOWN_WATCHDOG);
                    eprintln!("peer: shutdown took over {SHUTDOWN_WATCHDOG:?}, exiting");
                    std::process::exit(2);
                });
            }
        });
    }

    let server = axum::serve(control, app).with_graceful_shutdown(async move {
        let _ = stop_rx.wait_for(|stop| *stop).await;
    });
    let served = server.await;

    let stopped = tokio::task::spawn_blocking(move || node.stop()).await;
    if let Some(t) = temp_dir {
        let _ = t.close();
    }
    served.context("control API server")?;
    match stopped {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => bail!("stopping the node: {e:?}"),
        Err(e) => bail!("stop task: {e}"),
    }
}

fn spawn_stop_triggers(stop: watch::Sender<bool>, stdin_close: bool) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let on_signal = stop.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        let _ = on_signal.send(true);
    });
    if stdin_close {
        tokio::spawn(async move {
            let mut stdin = tokio::io::stdin();
            let mut buf = [0u8; 256];
            loop {
                match stdin.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            let _ = stop.send(true);
        });
    }
    Ok(())
}
