//! The test network for node tests: three `peer` processes (tests/peer, ldk-node) on the
//! regtest chain of a [`RegtestEsplora`], with announced channels and a gossip graph.
//!
//! ```text
//!  (our node) ··· LSP ══ 1,000,000 sat ══ merchant ══ 500,000 sat ══ carol
//!                  (LSPS2 service;        (400,000 sat     (200,000 sat
//!                   RGS server)            on its side)     on its side)
//! ```
//!
//! - **lsp** (alias `lsp`): `--lsps2` (JIT channels with the peer's default terms: 1 % fee,
//!   1,000 sat minimum, no token, 1,000 to 1,000,000 sat payments), 20,000,000 sat on-chain for
//!   JIT channels. Its gossip graph is served as a Rapid Gossip Sync snapshot at
//!   [`TestNetwork::rgs_url`] (always a full snapshot) and as JSON at `GET /graph`.
//! - **merchant** (alias `merchant`): an announced channel from the LSP (1,000,000 sat, 400,000
//!   sat pushed to the merchant, so it can pay through the LSP), 2,000,000 sat on-chain.
//! - **carol** (alias `carol`): behind the merchant (announced channel of 500,000 sat opened by
//!   the merchant, 200,000 sat pushed to carol), 1,000,000 sat on-chain.
//!
//! [`TestNetwork::start`] returns once both channels are usable (their `ChannelPending` and
//! `ChannelReady` events consumed) and the LSP's graph holds both with both directions'
//! updates. Every peer dies with the test (see [`Peer`]); needs the `peer` binary
//! (`cargo build -p peer`).

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::peer::{wait_mempool, Chain, Peer, WAIT};
use crate::{regtest_address, RegtestEsplora};

/// The LSP → merchant channel.
pub const LSP_MERCHANT_SAT: u64 = 1_000_000;
/// What the LSP pushes to the merchant in it.
pub const LSP_MERCHANT_PUSH_MSAT: u64 = 400_000_000;
/// The merchant → carol channel.
pub const MERCHANT_CAROL_SAT: u64 = 500_000;
/// What the merchant pushes to carol in it.
pub const MERCHANT_CAROL_PUSH_MSAT: u64 = 200_000_000;
/// The LSP's on-chain funds (JIT channels come out of them).
pub const LSP_ONCHAIN_SAT: u64 = 20_000_000;
/// The merchant's on-chain funds before it opens its channel to carol.
pub const MERCHANT_ONCHAIN_SAT: u64 = 2_000_000;
/// Carol's on-chain funds (ldk-node accepts an anchor channel only with a reserve on-chain).
pub const CAROL_ONCHAIN_SAT: u64 = 1_000_000;
/// Confirmations mined on the funding transactions (LDK announces channels at 6).
pub const ANNOUNCE_CONFIRMATIONS: u32 = 6;

/// The running test network; see the module docs.
pub struct TestNetwork {
    /// The LSP (LSPS2 service, RGS server).
    pub lsp: Peer,
    /// The merchant, the LSP's channel partner.
    pub merchant: Peer,
    /// Carol, behind the merchant.
    pub carol: Peer,
}

/// The short channel id of `peer`'s channel with `counterparty`, once it is usable.
fn usable_scid(channels: &Value, counterparty: &str) -> Option<u64> {
    channels.as_array()?.iter().find_map(|c| {
        (c["counterparty_node_id"] == counterparty && c["is_usable"] == true)
            .then(|| c["short_channel_id"].as_u64())
            .flatten()
    })
}

/// Whether `graph` (a peer's `GET /graph`) has the channel `scid` with both directions.
fn has_both_directions(graph: &Value, scid: u64) -> bool {
    graph["channels"].as_array().is_some_and(|cs| {
        cs.iter().any(|c| {
            c["short_channel_id"] == scid
                && !c["one_to_two"].is_null()
                && !c["two_to_one"].is_null()
        })
    })
}

async fn fund(esplora: &RegtestEsplora, peer: &Peer, sats: u64) {
    let address = peer.post("/address", json!({})).await["address"]
        .as_str()
        .expect("address")
        .to_string();
    let address = regtest_address(&address).expect("regtest address");
    esplora
        .faucet_pay(&address, sats, false)
        .await
        .unwrap_or_else(|e| panic!("funding {}: {e}", peer.name));
}

/// `opener` opens an announced channel to `to`; returns the funding txid.
async fn open_announced(opener: &Peer, to: &Peer, sats: u64, push_msat: u64) -> String {
    opener
        .post(
            "/channels",
            json!({
                "node_id": to.node_id,
                "address": to.p2p_address,
                "amount_sat": sats,
                "push_msat": push_msat,
                "announce": true,
            }),
        )
        .await;
    // The opener may see another channel's ChannelPending first (the merchant: the LSP's).
    loop {
        let pending = opener.wait_event("ChannelPending").await;
        if pending["counterparty_node_id"] == to.node_id {
            return pending["funding_txid"]
                .as_str()
                .expect("funding_txid")
                .to_string();
        }
    }
}

impl TestNetwork {
    /// Starts the LSP, the merchant and carol (the `peer` binary `peer_exe`) on `esplora`'s
    /// chain, funds them, opens and announces the two channels; see the module docs.
    pub async fn start(peer_exe: &Path, esplora: &RegtestEsplora) -> TestNetwork {
        Self::start_with_lsp_args(peer_exe, esplora, &[]).await
    }

    /// [`TestNetwork::start`] with more flags for the LSP (e.g. `["--lsps2-token", "T"]`).
    pub async fn start_with_lsp_args(
        peer_exe: &Path,
        esplora: &RegtestEsplora,
        lsp_args: &[&str],
    ) -> TestNetwork {
        let chain = Chain::Rpc(esplora.rpc_info());
        let mut args = vec!["--alias", "lsp", "--lsps2"];
        args.extend_from_slice(lsp_args);
        // On this thread: each peer dies with the thread that spawned it (PR_SET_PDEATHSIG).
        let lsp = Peer::spawn_with_args(peer_exe, "lsp", chain, &args);
        let merchant = Peer::spawn_with_args(peer_exe, "merchant", chain, &["--alias", "merchant"]);
        let carol = Peer::spawn_with_args(peer_exe, "carol", chain, &["--alias", "carol"]);
        let net = TestNetwork {
            lsp,
            merchant,
            carol,
        };

        // One block confirms the three fundings.
        fund(esplora, &net.lsp, LSP_ONCHAIN_SAT).await;
        fund(esplora, &net.merchant, MERCHANT_ONCHAIN_SAT).await;
        fund(esplora, &net.carol, CAROL_ONCHAIN_SAT).await;
        esplora.mine(1).await.expect("mine");
        for (peer, sats) in [
            (&net.lsp, LSP_ONCHAIN_SAT),
            (&net.merchant, MERCHANT_ONCHAIN_SAT),
            (&net.carol, CAROL_ONCHAIN_SAT),
        ] {
            peer.wait_balances("funded", |b| {
                b["spendable_onchain_sat"].as_u64().unwrap_or(0) >= sats
            })
            .await;
        }

        // Both channels in one go: both fundings confirm in the same blocks.
        let a = open_announced(
            &net.lsp,
            &net.merchant,
            LSP_MERCHANT_SAT,
            LSP_MERCHANT_PUSH_MSAT,
        )
        .await;
        let b = open_announced(
            &net.merchant,
            &net.carol,
            MERCHANT_CAROL_SAT,
            MERCHANT_CAROL_PUSH_MSAT,
        )
        .await;
        wait_mempool(esplora, Some(&a)).await;
        wait_mempool(esplora, Some(&b)).await;
        esplora
            .mine(ANNOUNCE_CONFIRMATIONS)
            .await
            .expect("mine the fundings");

        // Drain the channel events so tests start with clean queues: the merchant sees both
        // channels (its own ChannelPending was consumed by `open_announced`).
        net.lsp.wait_event("ChannelReady").await;
        net.merchant.wait_event("ChannelReady").await;
        net.merchant.wait_event("ChannelReady").await;
        net.carol.wait_event("ChannelReady").await;

        let deadline = Instant::now() + WAIT;
        let scids = loop {
            let m = net.merchant.get("/channels").await;
            if let (Some(x), Some(y)) = (
                usable_scid(&m, &net.lsp.node_id),
                usable_scid(&m, &net.carol.node_id),
            ) {
                break [x, y];
            }
            assert!(Instant::now() < deadline, "channels not usable: {m}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        // A peer sends its `announcement_signatures` only on a block connected after the
        // sixth confirmation: while the graph is incomplete, a block a second lets them out.
        let mut last_block = Instant::now();
        loop {
            let graph = net.lsp.get("/graph").await;
            if scids.iter().all(|s| has_both_directions(&graph, *s)) {
                break;
            }
            if last_block.elapsed() >= Duration::from_secs(1) {
                esplora.mine(1).await.expect("mine");
                last_block = Instant::now();
            }
            assert!(
                Instant::now() < deadline,
                "the LSP's graph lacks channels {scids:?} in both directions: {graph}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        net
    }

    /// The LSP's node id (hex).
    pub fn lsp_id(&self) -> String {
        self.lsp.node_id.clone()
    }

    /// The LSP's Lightning address, `127.0.0.1:port` (same as [`TestNetwork::lsp_p2p`]).
    pub fn lsp_address(&self) -> String {
        self.lsp_p2p()
    }

    /// The LSP's Lightning address, `127.0.0.1:port`.
    pub fn lsp_p2p(&self) -> String {
        self.lsp.p2p_address.clone()
    }

    /// `node_id@127.0.0.1:port` of the LSP.
    pub fn lsp_uri(&self) -> String {
        self.lsp.uri()
    }

    /// The LSP's RGS server: `http://127.0.0.1:port/rgs/snapshot/` (LDK clients append their
    /// last sync's timestamp; the answer is always a full snapshot).
    pub fn rgs_url(&self) -> String {
        format!("{}/rgs/snapshot/", self.lsp.url)
    }
}
