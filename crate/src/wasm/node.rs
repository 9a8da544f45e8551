//! `LightningNode`: the [`Node`] as a JavaScript class. One config object in, plain objects
//! out (camelCase, amounts as numbers named `…Sat(s)` or `…Msat`), every failure an
//! `LnError` with a stable `code`. Async methods return Promises.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use js_sys::{Promise, Reflect};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::lock::WebLock;
use super::panic::{enter, guarded, guarded_payment};
use super::{from_js, to_js, to_js_error};
use crate::config::NodeConfig;
use crate::io::{self, DynStore, IndexedDbStore, MemoryStore};
use crate::{keys, seed, Error, Event, EventId, Node, NodeStatus, PaymentStatus};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
export type Network = "bitcoin" | "testnet" | "signet" | "regtest";
export interface NodeConfig {
  network: Network;
  esploraUrl: string;
  proxyUrl?: string;
  /** The LSP of JIT channels (LSPS2): `token` if it gave one. */
  lsp?: { nodeId: string; address: string; token?: string };
  /** Memory storage loses everything, channels' funds included, when the page goes: on
   *  "bitcoin" it needs `ephemeral: true`. */
  storage: { kind: "indexeddb"; name?: string } | { kind: "memory"; ephemeral?: boolean };
  seed?: { mnemonic?: string; bip39Passphrase?: string; passphrase?: string; storePlaintext?: boolean };
  logLevel?: "error" | "warn" | "info" | "debug" | "trace";
  syncIntervalSecs?: number;
  /** Blocks a counterparty must wait for its own funds after it force-closes, on channels
   *  opened from now on: how long this node may stay offline and still punish a peer that
   *  broadcast a revoked commitment. Default 1008 (a week); 144 to 2016. A peer asking us to
   *  wait more than 2016 blocks for ours is refused. Our invoices ask for a final CLTV delta
   *  of 144 blocks. */
  ourToSelfDelay?: number;
  /** Anchor channels (default true): a commitment's fee is paid from the wallet when it is
   *  broadcast, so the wallet keeps 25,000 sat on-chain per anchor channel (see
   *  `Balances.onchainReserveSat`). `false` opens legacy channels from now on. */
  anchorChannels?: boolean;
  /** Where the public channel graph comes from: a URL, Rapid Gossip Sync snapshots from it
   *  (`{rgsUrl}{timestamp}`, LDK's format) on start and hourly; `null`, BOLT 7 gossip from the
   *  connected peers (LDK without `std` asks each for all of it: fine for small graphs; on
   *  bitcoin `INVALID_CONFIG`, tens of MB each way per connection there);
   *  absent, the network's default: LDK's public RGS servers on bitcoin and testnet
   *  (`https://rapidsync.lightningdevkit.org/snapshot/`, `…/testnet/snapshot/`), P2P on signet
   *  and regtest. A full mainnet P2P sync is tens of MB, an RGS snapshot about 2 MB. */
  rgsUrl?: string | null;
}
/** The public channel graph payments are routed through. */
export interface GraphInfo {
  nodes: number; channels: number;
  /** Unix time (seconds) the last applied RGS snapshot is current to; null before the first
   *  one, and with P2P gossip. */
  rgsSyncedAt: number | null;
}
export interface NodeInfo {
  isRunning: boolean; nodeId: string; network: Network; blockHeight: number; blockHash: string;
  syncedAt: number | null; peers: number; channels: number;
  degraded: string | null; fatalError: string | null;
  graph: GraphInfo;
  storagePersisted: boolean | null; version: string;
  /** Where create/open spent its time, ms: locks and storage, seed (decryption), reading the
   *  node's state, starting its tasks, and the total. */
  startupMs: { storage: number; seed: number; build: number; start: number; total: number };
}
export interface WalletBalance { confirmedSat: number; unconfirmedSat: number; immatureSat: number; spendableSat: number; }
export interface PeerDetails { nodeId: string; address: string | null; connected: boolean; persisted: boolean; }
export interface ChannelDetails {
  channelId: string; userChannelId: string; counterpartyNodeId: string; fundingTxo: string | null;
  capacitySat: number; outboundCapacityMsat: number; inboundCapacityMsat: number;
  /** The most one payment part can send over it now (the peer may cap what is in flight
   *  below the outbound capacity; larger payments are split over several channels). */
  nextOutboundHtlcLimitMsat: number;
  isReady: boolean; isUsable: boolean; isOutbound: boolean;
  confirmations: number | null; confirmationsRequired: number | null;
  /** Anchor outputs: the commitment's fee is paid from the wallet when it is broadcast. */
  anchors: boolean;
}
export interface ClaimableBalance { channelId: string | null; amountSat: number; kind: string; availableAtHeight: number | null; }
export interface Balances {
  onchain: WalletBalance; lightningMsat: number; claimable: ClaimableBalance[];
  /** Of `onchain.spendableSat`, what is kept to bump the fees of anchor channels (25,000 sat
   *  each): sends and channel opens leave it. */
  onchainReserveSat: number;
}
export type PaymentStatus = "pending" | "succeeded" | "failed";
export interface PaymentDetails {
  id: string; kind: "bolt11" | "bolt12" | "spontaneous"; direction: "inbound" | "outbound"; status: PaymentStatus;
  amountMsat: number | null; feePaidMsat: number | null; paymentHash: string;
  preimage: string | null; invoice: string | null; failureReason: string | null;
  /** A payment to a hold invoice that waits for `bolt11.settle`: what claiming it brings. */
  claimableAmountMsat: number | null;
  /** Received through a JIT channel: the LSP's opening fee, withheld (`amountMsat` is what
   *  arrived). `null` for other payments. */
  feeMsat: number | null;
  /** A JIT invoice: the LSP's quote, the most it may withhold (more is failed back). */
  lspFeeLimitMsat: number | null;
  createdAt: number; updatedAt: number;
}
/** What `bolt11.receive` would do for an amount now (`bolt11.receiveQuote`). */
export interface ReceiveQuote {
  /** Paid through a JIT channel the LSP opens when the payment arrives. */
  viaJitChannel: boolean;
  /** The LSP's opening fee, withheld from the payment (0 without a JIT channel). */
  feeMsat: number;
  /** Unix time (seconds) the LSP's offer ends; null without a JIT channel. */
  expiresAt: number | null;
}
/** What a node-message signature says (`verifyMessage`). */
export interface MessageVerification {
  /** The signature is well formed and recovers to a node this node knows (itself, a peer, a
   *  channel counterparty, a node of the graph): LND's `verifymessage` meaning. */
  valid: boolean;
  /** The node id the signature recovers to over this message, hex; null when malformed. Over
   *  a tampered message it is some other key: compare it with the signer you expect. */
  pubkey: string | null;
}
export interface ReceivedInvoice {
  invoice: string; paymentHash: string;
  /** Unix time (seconds) it expires: a JIT invoice's may come sooner than the expiry asked,
   *  as it never outlives the LSP's offer. */
  expiresAt: number;
  /** Paid through a JIT channel the LSP opens when the payment arrives. */
  viaJitChannel: boolean;
  /** The LSP's fee for that channel, withheld from the payment (0 without one). */
  feeMsat: number;
}
export interface DecodedHop {
  nodeId: string; shortChannelId: string; feeBaseMsat: number; feeProportionalMillionths: number; cltvExpiryDelta: number;
}
export interface DecodedInvoice {
  network: Network | null; amountMsat: number | null; description: string | null; descriptionHash: string | null;
  paymentHash: string; payee: string; createdAt: number; expiresAt: number; minFinalCltvExpiryDelta: number;
  routeHints: DecodedHop[][]; features: string | null;
}
/** An event, with `id`: what `eventHandled` takes (unique for the node, never reused; compare
 *  it only for equality). */
export type LnEvent =
  | { id: string; type: "channelPending"; channelId: string; userChannelId: string; counterpartyNodeId: string; fundingTxo: string }
  | { id: string; type: "channelReady"; channelId: string; userChannelId: string; counterpartyNodeId: string }
  | { id: string; type: "channelClosed"; channelId: string; userChannelId: string; counterpartyNodeId: string | null; reason: string }
  /** `amountMsat` arrived; `feeMsat` is what the LSP withheld for a JIT channel (0 otherwise). */
  | { id: string; type: "paymentReceived"; paymentId: string; paymentHash: string; amountMsat: number; feeMsat: number }
  | { id: string; type: "paymentSucceeded"; paymentId: string; paymentHash: string; preimage: string; feePaidMsat: number | null }
  /** A payment to a hold invoice waits: `bolt11.settle` it before `claimDeadline` (a height). */
  | { id: string; type: "paymentClaimable"; paymentId: string; paymentHash: string; claimableAmountMsat: number; claimDeadline: number | null }
  | { id: string; type: "paymentFailed"; paymentId: string; paymentHash: string | null; reason: string }
  /** Channel state could not be saved (quota, aborted transaction): the channels concerned
   *  are paused, new payments and channels are refused with STORAGE_UNAVAILABLE, and the
   *  write is retried until it succeeds (`getInfo().degraded` says why meanwhile). */
  | { id: string; type: "storageDegraded"; reason: string }
  /** Channel state is saved again: paused channels resume. */
  | { id: string; type: "storageRecovered" };

"#;

/// A Lightning node in this page or worker.
#[wasm_bindgen]
pub struct LightningNode {
    node: Rc<Node>,
    mnemonic: Option<String>,
    storage_persisted: Rc<Cell<Option<bool>>>,
    startup: StartupTimings,
    // Held while the node may run; released (dropped) only after a clean `stop`.
    locks: Rc<std::cell::RefCell<Vec<WebLock>>>,
}

/// `getInfo()`: the node's status, plus what only the browser layer knows.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Info {
    #[serde(flatten)]
    status: NodeStatus,
    storage_persisted: Option<bool>,
    version: &'static str,
    startup_ms: StartupTimings,
}

/// Where `create`/`open` spent its time, in milliseconds (`getInfo().startupMs`): what a
/// slow start is made of (bench.sh prints it).
#[derive(Clone, Copy, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct StartupTimings {
    /// Web Locks and opening IndexedDB.
    storage: f64,
    /// Reading the seed (decrypting it: the passphrase's Argon2id).
    seed: f64,
    /// Reading and deserialising the node's state (channel manager, monitors, wallet, graph).
    build: f64,
    /// Starting the node's tasks.
    start: f64,
    /// All of `create`/`open` after the wasm was loaded.
    total: f64,
}

/// Milliseconds since `*mark`, moving the mark to now.
fn lap(mark: &mut f64) -> f64 {
    let now = now_ms();
    let took = now - *mark;
    *mark = now;
    took
}

/// `performance.now()` where there is one (pages and workers), else `Date.now()`.
fn now_ms() -> f64 {
    js_sys::Reflect::get(&js_sys::global(), &"performance".into())
        .ok()
        .and_then(|p| {
            let now: js_sys::Function = js_sys::Reflect::get(&p, &"now".into())
                .ok()?
                .dyn_into()
                .ok()?;
            now.call0(&p).ok()?.as_f64()
        })
        .unwrap_or_else(js_sys::Date::now)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OpenChannelArgs {
    peer: String,
    amount_sat: u64,
    #[serde(default)]
    push_msat: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CloseChannelArgs {
    channel_id: String,
    #[serde(default)]
    force: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ReceiveArgs {
    #[serde(default)]
    amount_msat: Option<u64>,
    #[serde(default)]
    description: String,
    #[serde(default = "default_expiry")]
    expiry_secs: u32,
    /// The limit on a JIT channel's fee (default: `liquidity::default_max_fee_msat`).
    #[serde(default)]
    max_fee_msat: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JitReceiveArgs {
    amount_msat: u64,
    #[serde(default)]
    description: String,
    #[serde(default = "default_expiry")]
    expiry_secs: u32,
    #[serde(default)]
    max_fee_msat: Option<u64>,
}

fn default_expiry() -> u32 {
    3600
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ReceiveForHashArgs {
    amount_msat: u64,
    payment_hash: String,
    #[serde(default)]
    description: String,
    #[serde(default = "default_expiry")]
    expiry_secs: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ClaimForHashArgs {
    payment_hash: String,
    /// Claims with it; without, fails the payment back.
    #[serde(default)]
    preimage: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SendArgs {
    invoice: String,
    #[serde(default)]
    amount_msat: Option<u64>,
    #[serde(default)]
    max_fee_msat: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct QuoteArgs {
    amount_msat: u64,
    #[serde(default = "default_expiry")]
    expiry_secs: u32,
    #[serde(default)]
    max_fee_msat: Option<u64>,
}

#[derive(Serialize)]
struct MessageVerificationJs {
    valid: bool,
    pubkey: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KeysendArgs {
    node_id: String,
    amount_msat: u64,
    /// Decimal TLV type → hex value.
    #[serde(default)]
    custom_records: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    max_fee_msat: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OnchainSendArgs {
    address: String,
    amount_sat: u64,
    #[serde(default)]
    fee_rate_sat_per_vb: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SendAllArgs {
    address: String,
    #[serde(default)]
    fee_rate_sat_per_vb: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ListPaymentsArgs {
    #[serde(default)]
    status: Option<PaymentStatus>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OpenedChannel {
    user_channel_id: String,
}

/// An event as JavaScript sees it: its id (a string: ids are not amounts to add) beside the
/// event's own fields.
#[derive(Serialize)]
struct JsEvent {
    id: String,
    #[serde(flatten)]
    event: Event,
}

/// Create a node (`opening == false`) or open one (`true`).
async fn build(config: JsValue, opening: bool) -> Result<LightningNode, Error> {
    let began = now_ms();
    // `from_js` drops nulls, but `rgsUrl: null` (P2P gossip) differs from no `rgsUrl`.
    let rgs_null = Reflect::get(&config, &"rgsUrl".into()).is_ok_and(|v| v.is_null());
    let mut config: NodeConfig = from_js(config)?;
    if rgs_null {
        config.rgs_url = Some(None);
    }
    let builder = config.builder()?;
    let mut locks = Vec::new();
    let mut startup = StartupTimings::default();
    match build_locked(&config, builder, opening, &mut locks, &mut startup).await {
        Ok((node, mnemonic, storage_persisted)) => {
            let node = Rc::new(node);
            super::pagehide::persist_on_pagehide(&node);
            Ok(LightningNode {
                node,
                mnemonic,
                storage_persisted,
                startup: StartupTimings {
                    total: now_ms() - began,
                    ..startup
                },
                locks: Rc::new(std::cell::RefCell::new(locks)),
            })
        }
        Err(e) => {
            // Nothing runs: let the caller (or another tab) retry at once.
            release_all(locks).await;
            Err(e)
        }
    }
}

async fn take_lock(name: String, locks: &mut Vec<WebLock>) -> Result<(), Error> {
    let lock = WebLock::try_acquire(&name)
        .await?
        .ok_or(Error::NodeLocked)?;
    locks.push(lock);
    Ok(())
}

async fn release_all(locks: Vec<WebLock>) {
    for lock in locks {
        lock.release().await;
    }
}

/// Under the storage's lock: the seed, then under the node's lock too: build and start.
/// Returns the node, the mnemonic it generated, and the storage persistence answer.
async fn build_locked(
    config: &NodeConfig,
    builder: crate::Builder,
    opening: bool,
    locks: &mut Vec<WebLock>,
    startup: &mut StartupTimings,
) -> Result<(Node, Option<String>, Rc<Cell<Option<bool>>>), Error> {
    let began = now_ms();
    let db = config.storage.indexeddb_name();
    let (store, storage_persisted): (Arc<DynStore>, _) = match db {
        Some(name) => {
            take_lock(format!("wasm-ln:db:{name}"), locks).await?;
            let store = IndexedDbStore::open(name).await?;
            (Arc::new(store), request_persistent_storage())
        }
        None => (Arc::new(MemoryStore::new()), Rc::new(Cell::new(None))),
    };
    let shown = db.unwrap_or("memory");
    let holds = io::holds_node(&*store).await?;
    if opening && !holds {
        return Err(Error::InvalidConfig(format!(
            "no node in storage {shown:?}: create it with LightningNode.create"
        )));
    }
    if !opening && holds {
        return Err(Error::InvalidConfig(format!(
            "storage {shown:?} already holds a node: open it with LightningNode.open \
             (nothing was overwritten)"
        )));
    }
    startup.storage = now_ms() - began;
    let started = start_node(config, builder, opening, Arc::clone(&store), locks, startup).await;
    if started.is_err() && !opening {
        // Nothing of a node that never ran may block the next attempt (or strand a seed
        // whose words the caller never saw).
        let _ = io::forget_unused_node(&*store).await;
    }
    let (node, mnemonic) = started?;
    Ok((node, mnemonic, storage_persisted))
}

/// The seed, the node's own lock, then build and start on `store`.
async fn start_node(
    config: &NodeConfig,
    mut builder: crate::Builder,
    opening: bool,
    store: Arc<DynStore>,
    locks: &mut Vec<WebLock>,
    startup: &mut StartupTimings,
) -> Result<(Node, Option<String>), Error> {
    let mut mark = now_ms();
    let (secret, generated) = config.seed.resolve(&*store, opening).await?;
    // The same node on other storage (restored in another tab) is locked too.
    let node_id = keys::node_id(&secret.to_seed())?;
    take_lock(format!("wasm-ln:node:{}:{node_id}", config.network), locks).await?;
    let words = secret.mnemonic.to_string();
    if !opening {
        if let Some(protection) = config.seed.protection()? {
            seed::store_sealed(&*store, seed::seal(&secret, protection)?).await?;
        }
    }
    builder
        .set_mnemonic(words.as_str(), secret.bip39_passphrase.as_str())
        .set_store(store);
    startup.seed = lap(&mut mark);
    let node = builder.build().await.map_err(Error::from)?;
    startup.build = lap(&mut mark);
    node.start()?;
    startup.start = lap(&mut mark);
    Ok((node, generated.then_some(words)))
}

/// Asks the browser not to evict this origin's storage under pressure (`navigator.storage
/// .persist()`), in the background: a browser may ask the user first, and nothing should
/// wait on that. The answer lands in the cell (`None` until then, or without the API).
fn request_persistent_storage() -> Rc<Cell<Option<bool>>> {
    let answer = Rc::new(Cell::new(None));
    let promise = (|| -> Option<Promise> {
        let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).ok()?;
        let storage = Reflect::get(&navigator, &"storage".into()).ok()?;
        let persist: js_sys::Function = Reflect::get(&storage, &"persist".into())
            .ok()?
            .dyn_into()
            .ok()?;
        persist.call0(&storage).ok()?.dyn_into().ok()
    })();
    if let Some(promise) = promise {
        let cell = Rc::clone(&answer);
        wasm_bindgen_futures::spawn_local(async move {
            cell.set(JsFuture::from(promise).await.ok().and_then(|v| v.as_bool()));
        });
    }
    answer
}

/// Runs `f` on the node as a Promise of its serialised result.
fn promise<T, F>(node: &Rc<Node>, f: impl FnOnce(Rc<Node>) -> F) -> Promise
where
    T: Serialize,
    F: core::future::Future<Output = Result<T, Error>> + 'static,
{
    run(node, f, false)
}

/// [`promise`], or for a payment ([`super::panic::guarded_payment`]).
fn run<T, F>(node: &Rc<Node>, f: impl FnOnce(Rc<Node>) -> F, payment: bool) -> Promise
where
    T: Serialize,
    F: core::future::Future<Output = Result<T, Error>> + 'static,
{
    // Before any of the node's code, even building the future.
    if let Err(e) = enter() {
        return Promise::reject(&e);
    }
    let fut = f(Rc::clone(node));
    let fut = async move { to_js(&fut.await.map_err(to_js_error)?) };
    if payment {
        guarded_payment(fut)
    } else {
        guarded(fut)
    }
}

/// Like [`promise`], with the call's argument object parsed first.
fn promise_with<A, T, F>(
    node: &Rc<Node>,
    args: JsValue,
    f: impl FnOnce(Rc<Node>, A) -> F,
) -> Promise
where
    A: serde::de::DeserializeOwned,
    T: Serialize,
    F: core::future::Future<Output = Result<T, Error>> + 'static,
{
    run_with(node, args, f, false)
}

/// [`promise_with`] for a payment: a panic while it is in flight rejects it with
/// `PAYMENT_PENDING` (it may still complete), not `INTERNAL`.
fn payment_with<A, T, F>(
    node: &Rc<Node>,
    args: JsValue,
    f: impl FnOnce(Rc<Node>, A) -> F,
) -> Promise
where
    A: serde::de::DeserializeOwned,
    T: Serialize,
    F: core::future::Future<Output = Result<T, Error>> + 'static,
{
    run_with(node, args, f, true)
}

fn run_with<A, T, F>(
    node: &Rc<Node>,
    args: JsValue,
    f: impl FnOnce(Rc<Node>, A) -> F,
    payment: bool,
) -> Promise
where
    A: serde::de::DeserializeOwned,
    T: Serialize,
    F: core::future::Future<Output = Result<T, Error>> + 'static,
{
    if let Err(e) = enter() {
        return Promise::reject(&e);
    }
    match from_js::<A>(args) {
        Ok(args) => run(node, |n| f(n, args), payment),
        Err(e) => Promise::reject(&to_js_error(e)),
    }
}

impl Drop for LightningNode {
    /// `free()` without a clean `stop()`: the node may still be winding down in a pending
    /// call, so its locks stay held until the page or worker goes.
    fn drop(&mut self) {
        for lock in self.locks.borrow_mut().drain(..) {
            core::mem::forget(lock);
        }
    }
}

/// The Rust face of the constructors and accessors (the browser tests call these); the
/// JavaScript ones below wrap them, refused after a panic.
impl LightningNode {
    /// Creates a new node in empty storage and starts it: with `seed.mnemonic` it restores
    /// that wallet, without one it generates a mnemonic ([`LightningNode::mnemonic`]). The
    /// seed is stored encrypted with `seed.passphrase`, readable with `seed.storePlaintext`,
    /// else not at all. Refused when the storage already holds a node, and with
    /// `NODE_LOCKED` while this node or storage is in use in another tab or worker.
    pub async fn create(config: JsValue) -> Result<LightningNode, JsValue> {
        build(config, false).await.map_err(to_js_error)
    }

    /// Opens the node kept in `config.storage` and starts it, with `seed.mnemonic`, or the
    /// stored seed (`seed.passphrase` if it is encrypted: `WRONG_PASSPHRASE` when wrong).
    pub async fn open(config: JsValue) -> Result<LightningNode, JsValue> {
        build(config, true).await.map_err(to_js_error)
    }

    /// The mnemonic `create` generated, once; `None` afterwards and for restored or opened
    /// nodes.
    pub fn mnemonic(&mut self) -> Option<String> {
        self.mnemonic.take()
    }

    /// Our node id, hex.
    pub fn node_id(&self) -> String {
        self.node.node_id().to_string()
    }
}

#[wasm_bindgen]
impl LightningNode {
    /// Creates a new node in empty storage and starts it: with `seed.mnemonic` it restores
    /// that wallet, without one it generates a mnemonic ([`LightningNode::mnemonic`]). The
    /// seed is stored encrypted with `seed.passphrase`, readable with `seed.storePlaintext`,
    /// else not at all. Refused when the storage already holds a node, and with
    /// `NODE_LOCKED` while this node or storage is in use in another tab or worker.
    #[wasm_bindgen(js_name = create, unchecked_return_type = "Promise<LightningNode>")]
    pub fn create_js(
        #[wasm_bindgen(unchecked_param_type = "NodeConfig")] config: JsValue,
    ) -> Promise {
        guarded(async move { LightningNode::create(config).await.map(JsValue::from) })
    }

    /// Opens the node kept in `config.storage` and starts it, with `seed.mnemonic`, or the
    /// stored seed (`seed.passphrase` if it is encrypted: `WRONG_PASSPHRASE` when wrong).
    #[wasm_bindgen(js_name = open, unchecked_return_type = "Promise<LightningNode>")]
    pub fn open_js(
        #[wasm_bindgen(unchecked_param_type = "NodeConfig")] config: JsValue,
    ) -> Promise {
        guarded(async move { LightningNode::open(config).await.map(JsValue::from) })
    }

    /// The mnemonic `create` generated, once; `undefined` afterwards and for restored or
    /// opened nodes. Show it to the user to write down: the stored copy (if any) is lost with
    /// the browser's storage.
    #[wasm_bindgen(js_name = mnemonic)]
    pub fn mnemonic_js(&mut self) -> Result<Option<String>, JsValue> {
        enter()?;
        Ok(self.mnemonic())
    }

    /// Our node id, hex.
    #[wasm_bindgen(getter, js_name = nodeId)]
    pub fn node_id_js(&self) -> Result<String, JsValue> {
        enter()?;
        Ok(self.node_id())
    }

    #[wasm_bindgen(js_name = getInfo, unchecked_return_type = "Promise<NodeInfo>")]
    pub fn get_info(&self) -> Promise {
        let storage_persisted = self.storage_persisted.get();
        let startup_ms = self.startup;
        promise(&self.node, move |n| async move {
            Ok(Info {
                status: n.status(),
                storage_persisted,
                version: crate::VERSION,
                startup_ms,
            })
        })
    }

    /// Syncs with the chain now (it also runs in the background).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn sync(&self) -> Promise {
        promise(&self.node, |n| async move { n.sync().await })
    }

    #[wasm_bindgen(js_name = newAddress, unchecked_return_type = "Promise<string>")]
    pub fn new_address(&self) -> Promise {
        promise(&self.node, |n| async move {
            Ok(n.onchain().new_address().await?.to_string())
        })
    }

    #[wasm_bindgen(js_name = onchainBalance, unchecked_return_type = "Promise<WalletBalance>")]
    pub fn onchain_balance(&self) -> Promise {
        promise(&self.node, |n| async move { Ok(n.onchain().balance()) })
    }

    /// Pays `amountSat` to `address`; resolves with the txid.
    #[wasm_bindgen(js_name = onchainSend, unchecked_return_type = "Promise<string>")]
    pub fn onchain_send(
        &self,
        #[wasm_bindgen(
            unchecked_param_type = "{ address: string; amountSat: number; feeRateSatPerVb?: number }"
        )]
        args: JsValue,
    ) -> Promise {
        promise_with(&self.node, args, |n, a: OnchainSendArgs| async move {
            let txid = n
                .onchain()
                .send_to_address(&a.address, a.amount_sat, a.fee_rate_sat_per_vb)
                .await?;
            Ok(txid.to_string())
        })
    }

    /// Sends every spendable coin to `address`; resolves with the txid.
    #[wasm_bindgen(js_name = onchainSendAll, unchecked_return_type = "Promise<string>")]
    pub fn onchain_send_all(
        &self,
        #[wasm_bindgen(unchecked_param_type = "{ address: string; feeRateSatPerVb?: number }")]
        args: JsValue,
    ) -> Promise {
        promise_with(&self.node, args, |n, a: SendAllArgs| async move {
            let txid = n
                .onchain()
                .send_all(&a.address, a.fee_rate_sat_per_vb)
                .await?;
            Ok(txid.to_string())
        })
    }

    /// Connects to `nodeId@host:port` through the proxy; with `persist` the node also
    /// reconnects to it after restarts.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn connect(&self, peer: String, persist: Option<bool>) -> Promise {
        promise(&self.node, move |n| async move {
            n.connect(&peer, persist.unwrap_or(false)).await
        })
    }

    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn disconnect(&self, node_id: String) -> Promise {
        promise(
            &self.node,
            move |n| async move { n.disconnect(&node_id).await },
        )
    }

    #[wasm_bindgen(js_name = listPeers, unchecked_return_type = "Promise<PeerDetails[]>")]
    pub fn list_peers(&self) -> Promise {
        promise(&self.node, |n| async move { Ok(n.list_peers()) })
    }

    /// Opens a channel of `amountSat` to `peer` (`nodeId@host:port`); resolves once the
    /// funding is negotiated, with our id for the channel (events tell the rest).
    #[wasm_bindgen(js_name = openChannel, unchecked_return_type = "Promise<{ userChannelId: string }>")]
    pub fn open_channel(
        &self,
        #[wasm_bindgen(
            unchecked_param_type = "{ peer: string; amountSat: number; pushMsat?: number }"
        )]
        args: JsValue,
    ) -> Promise {
        promise_with(&self.node, args, |n, a: OpenChannelArgs| async move {
            let user_channel_id = n.open_channel(&a.peer, a.amount_sat, a.push_msat).await?;
            Ok(OpenedChannel { user_channel_id })
        })
    }

    #[wasm_bindgen(js_name = listChannels, unchecked_return_type = "Promise<ChannelDetails[]>")]
    pub fn list_channels(&self) -> Promise {
        promise(&self.node, |n| async move { Ok(n.list_channels()) })
    }

    /// Closes a channel cooperatively, or with `force` unilaterally (funds come back after
    /// a delay: see `balances().claimable`).
    #[wasm_bindgen(js_name = closeChannel, unchecked_return_type = "Promise<void>")]
    pub fn close_channel(
        &self,
        #[wasm_bindgen(unchecked_param_type = "{ channelId: string; force?: boolean }")]
        args: JsValue,
    ) -> Promise {
        promise_with(&self.node, args, |n, a: CloseChannelArgs| async move {
            if a.force {
                n.force_close_channel(&a.channel_id).await
            } else {
                n.close_channel(&a.channel_id).await
            }
        })
    }

    #[wasm_bindgen(unchecked_return_type = "Promise<Balances>")]
    pub fn balances(&self) -> Promise {
        promise(&self.node, |n| async move { Ok(n.balances()) })
    }

    /// A BOLT11 invoice; without `amountMsat` the payer chooses the amount. With an amount
    /// our channels cannot take, a JIT channel from the LSP when one is configured (its fee
    /// at most `maxFeeMsat`), else `NO_INBOUND_CAPACITY`.
    #[wasm_bindgen(js_name = bolt11Receive, unchecked_return_type = "Promise<ReceivedInvoice>")]
    pub fn bolt11_receive(
        &self,
        #[wasm_bindgen(
            unchecked_param_type = "{ amountMsat?: number; description?: string; expirySecs?: number; maxFeeMsat?: number }"
        )]
        args: JsValue,
    ) -> Promise {
        promise_with(&self.node, args, |n, a: ReceiveArgs| async move {
            let pay = n.bolt11_payment();
            match a.amount_msat {
                Some(msat) => {
                    pay.receive_with_max_fee(msat, &a.description, a.expiry_secs, a.max_fee_msat)
                        .await
                }
                None => {
                    pay.receive_variable_amount(&a.description, a.expiry_secs)
                        .await
                }
            }
        })
    }

    /// What `bolt11Receive` would do for `amountMsat` now, with no invoice made and nothing
    /// bought or stored: our channels take it (`viaJitChannel: false`, `feeMsat: 0`,
    /// `expiresAt: null`), or a JIT channel at the LSP's current cheapest suitable offer (its
    /// fee, and the Unix time the offer ends). Same errors as `bolt11Receive`.
    #[wasm_bindgen(js_name = bolt11ReceiveQuote, unchecked_return_type = "Promise<ReceiveQuote>")]
    pub fn bolt11_receive_quote(
        &self,
        #[wasm_bindgen(
            unchecked_param_type = "{ amountMsat: number; expirySecs?: number; maxFeeMsat?: number }"
        )]
        args: JsValue,
    ) -> Promise {
        promise_with(&self.node, args, |n, a: QuoteArgs| async move {
            n.bolt11_payment()
                .receive_quote(a.amount_msat, a.expiry_secs, a.max_fee_msat)
                .await
        })
    }

    /// An invoice paid through a JIT channel from the configured LSP (LSPS2), its fee
    /// withheld from the payment: `FEE_TOO_HIGH` when the LSP's quote exceeds `maxFeeMsat`
    /// (default 5,000 sat + 1 %, at most half the amount), before anything is stored.
    #[wasm_bindgen(js_name = bolt11ReceiveViaJitChannel, unchecked_return_type = "Promise<ReceivedInvoice>")]
    pub fn bolt11_receive_via_jit_channel(
        &self,
        #[wasm_bindgen(
            unchecked_param_type = "{ amountMsat: number; description?: string; expirySecs?: number; maxFeeMsat?: number }"
        )]
        args: JsValue,
    ) -> Promise {
        promise_with(&self.node, args, |n, a: JitReceiveArgs| async move {
            n.bolt11_payment()
                .receive_via_jit_channel(
                    a.amount_msat,
                    &a.description,
                    a.expiry_secs,
                    a.max_fee_msat,
                )
                .await
        })
    }

    /// A hold invoice for `paymentHash`: a payment to it waits (`paymentClaimable`) for
    /// `bolt11Settle`.
    #[wasm_bindgen(js_name = bolt11ReceiveForHash, unchecked_return_type = "Promise<ReceivedInvoice>")]
    pub fn bolt11_receive_for_hash(
        &self,
        #[wasm_bindgen(
            unchecked_param_type = "{ amountMsat: number; paymentHash: string; description?: string; expirySecs?: number }"
        )]
        args: JsValue,
    ) -> Promise {
        promise_with(&self.node, args, |n, a: ReceiveForHashArgs| async move {
            n.bolt11_payment()
                .receive_for_hash(
                    a.amount_msat,
                    &a.description,
                    a.expiry_secs,
                    &a.payment_hash,
                )
                .await
        })
    }

    /// Settles a payment waiting on a hold invoice: claims it with `preimage`, or fails it
    /// back without one.
    #[wasm_bindgen(js_name = bolt11Settle, unchecked_return_type = "Promise<void>")]
    pub fn bolt11_settle(
        &self,
        #[wasm_bindgen(unchecked_param_type = "{ paymentHash: string; preimage?: string }")]
        args: JsValue,
    ) -> Promise {
        promise_with(&self.node, args, |n, a: ClaimForHashArgs| async move {
            let pay = n.bolt11_payment();
            match a.preimage {
                Some(preimage) => pay.claim_for_hash(&a.payment_hash, &preimage).await,
                None => pay.fail_for_hash(&a.payment_hash).await,
            }
        })
    }

    /// Pays a BOLT11 invoice; settles when the payment does (succeeded, or an `LnError`).
    #[wasm_bindgen(js_name = bolt11Send, unchecked_return_type = "Promise<PaymentDetails>")]
    pub fn bolt11_send(
        &self,
        #[wasm_bindgen(
            unchecked_param_type = "{ invoice: string; amountMsat?: number; maxFeeMsat?: number }"
        )]
        args: JsValue,
    ) -> Promise {
        payment_with(&self.node, args, |n, a: SendArgs| async move {
            n.bolt11_payment()
                .send(&a.invoice, a.amount_msat, a.max_fee_msat)
                .await
        })
    }

    /// Pays `amountMsat` to `nodeId` without an invoice (keysend), with `customRecords` in
    /// the payee's onion: decimal TLV types (at least 65536) to hex values, else
    /// `INVALID_CONFIG`. `maxFeeMsat` caps routing fees (default 1 % + 50 sat): no route
    /// within it is `FEE_TOO_HIGH`, nothing sent.
    #[wasm_bindgen(unchecked_return_type = "Promise<PaymentDetails>")]
    pub fn keysend(
        &self,
        #[wasm_bindgen(
            unchecked_param_type = "{ nodeId: string; amountMsat: number; customRecords?: Record<string, string>; maxFeeMsat?: number }"
        )]
        args: JsValue,
    ) -> Promise {
        payment_with(&self.node, args, |n, a: KeysendArgs| async move {
            let records = crate::payment::spontaneous::parse_custom_records(
                a.custom_records
                    .iter()
                    .flatten()
                    .map(|(t, v)| (t.as_str(), v.as_str())),
            )?;
            n.spontaneous_payment()
                .send_with_custom_records(&a.node_id, a.amount_msat, records, a.max_fee_msat)
                .await
        })
    }

    /// Signs `message` (its UTF-8 bytes) with the node key, in the format of LND's and Core
    /// Lightning's `signmessage` (zbase32).
    #[wasm_bindgen(js_name = signMessage, unchecked_return_type = "Promise<string>")]
    pub fn sign_message(&self, message: String) -> Promise {
        promise(&self.node, move |n| async move {
            n.sign_message(message.as_bytes())
        })
    }

    /// The key a node-message signature over `message` recovers to (`pubkey`, null when the
    /// signature is malformed) and whether it is a node this node knows (`valid`, LND's
    /// `verifymessage` meaning).
    #[wasm_bindgen(
        js_name = verifyMessage,
        unchecked_return_type = "Promise<MessageVerification>"
    )]
    pub fn verify_message(&self, message: String, signature: String) -> Promise {
        promise(&self.node, move |n| async move {
            let v = n.verify_message(message.as_bytes(), &signature)?;
            Ok(MessageVerificationJs {
                valid: v.valid,
                pubkey: v.pubkey.map(|k| k.to_string()),
            })
        })
    }

    #[wasm_bindgen(js_name = listPayments, unchecked_return_type = "Promise<PaymentDetails[]>")]
    pub fn list_payments(
        &self,
        #[wasm_bindgen(unchecked_param_type = "{ status?: PaymentStatus }")] args: Option<JsValue>,
    ) -> Promise {
        let args = args
            .filter(|a| !a.is_undefined())
            .unwrap_or_else(|| js_sys::Object::new().into());
        promise_with(&self.node, args, |n, a: ListPaymentsArgs| async move {
            let mut list = n.list_payments();
            if let Some(status) = a.status {
                list.retain(|p| p.status == status);
            }
            Ok(list)
        })
    }

    /// One payment by id, or `null`.
    #[wasm_bindgen(unchecked_return_type = "Promise<PaymentDetails | null>")]
    pub fn payment(&self, id: String) -> Promise {
        promise(&self.node, move |n| async move { Ok(n.payment(&id)) })
    }

    /// The oldest event not yet handled, waiting for one if there is none, with its `id`.
    /// It is delivered again (also after a reload) until `eventHandled(id)`. Rejects with
    /// `NODE_STOPPED` once the node stops.
    #[wasm_bindgen(js_name = nextEvent, unchecked_return_type = "Promise<LnEvent>")]
    pub fn next_event(&self) -> Promise {
        promise(&self.node, |n| async move {
            loop {
                if let Some(pending) = n.next_event() {
                    return Ok(JsEvent {
                        id: pending.id.to_string(),
                        event: pending.event,
                    });
                }
                // Once stopped, no event will come: say so rather than wait forever.
                n.inner.check_not_stopped()?;
                crate::runtime::sleep(core::time::Duration::from_millis(25)).await;
            }
        })
    }

    /// Marks event `id` (from `nextEvent()`) as handled, durably. Rejects with
    /// `UNKNOWN_EVENT` for any other id than the oldest pending event's: one already handled
    /// (by another consumer?), not delivered yet, or never issued.
    #[wasm_bindgen(js_name = eventHandled, unchecked_return_type = "Promise<void>")]
    pub fn event_handled(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] id: JsValue,
    ) -> Promise {
        promise(&self.node, move |n| async move {
            let id: EventId = id
                .as_string()
                .ok_or_else(|| Error::UnknownEvent(format!("not an event id: {id:?}")))?
                .parse()?;
            n.event_handled(id).await
        })
    }

    /// Stops the node: ends its tasks, disconnects peers, writes its state, then releases
    /// its locks so another tab may open it. If the final write does not finish the locks
    /// stay held; call `stop()` again.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn stop(&self) -> Promise {
        let locks = Rc::clone(&self.locks);
        promise(&self.node, move |n| async move {
            n.stop().await?;
            let held: Vec<WebLock> = locks.borrow_mut().drain(..).collect();
            release_all(held).await;
            Ok(())
        })
    }
}
