//! `rgs-snapshot`: a small encoder of [Rapid Gossip Sync] snapshots, the format LDK's
//! `lightning_rapid_gossip_sync::RapidGossipSync::update_network_graph_no_std` reads, and a
//! generator of synthetic, mainnet-like graphs to encode.
//!
//! LDK's own RGS server needs Postgres and a node watching mainnet gossip; the tests and
//! benches need a snapshot of a regtest graph (the test network's LSP serves one, built from
//! its ldk-node graph: tests/peer `GET /rgs/snapshot/{timestamp}`) or of a mainnet-sized graph
//! (`synthetic`, and the `rgs-snapshot synthetic` binary for the browser bench).
//!
//! It writes format version 1, always a *full* snapshot (every channel's announcement, every
//! direction's update in full, relative to the snapshot's defaults):
//!
//! ```text
//! "LDK" 0x01 | chain hash (32) | latest_seen_timestamp (u32) |
//! node count (u32) | node ids (33 each) |
//! announcement count (u32) | per channel, by ascending scid:
//!     features (u16 length 0) | scid delta (BigSize) | node_one index, node_two index (BigSize)
//! update count (u32) | if any: default cltv_expiry_delta (u16), htlc_minimum_msat (u64),
//!     fee_base_msat (u32), fee_proportional_millionths (u32), htlc_maximum_msat (u64) |
//! per direction, by ascending scid then direction:
//!     scid delta (BigSize, 0 for a channel's second direction) | flags (u8) | the fields that
//!     differ from the defaults, in the order above
//! ```
//!
//! Update flags: bit 0 direction (0: from `node_one`), bit 1 disabled, bit 2 htlc_maximum_msat
//! follows, 3 fee_proportional_millionths, 4 fee_base_msat, 5 htlc_minimum_msat, 6
//! cltv_expiry_delta; bit 7 (incremental) is never set. The defaults are each field's most
//! common value, so most updates carry a field or two. Integers are big-endian; BigSize is
//! BOLT 1's canonical encoding.
//!
//! LDK backdates what it applies by a week from `latest_seen_timestamp` and refuses snapshots
//! whose `latest_seen_timestamp` is more than two weeks older than the time it is given: pass
//! the current time.
//!
//! No dependency on `lightning`: this crate is a dev-dependency of `wasm-ln`, whose tree must
//! never enable `lightning/std`. That LDK reads what it writes is tested in wasm-ln's
//! `crate/tests/rgs_snapshot.rs`.
//!
//! [Rapid Gossip Sync]: https://docs.rs/lightning-rapid-gossip-sync

#![deny(missing_docs)]

use std::collections::{BTreeMap, HashMap, HashSet};

/// Bitcoin mainnet's chain hash (its genesis block hash, in LDK's `ChainHash` byte order, i.e.
/// the hash's internal order: the displayed hex reversed).
pub const BITCOIN_CHAIN_HASH: [u8; 32] = [
    0x6f, 0xe2, 0x8c, 0x0a, 0xb6, 0xf1, 0xb3, 0x72, 0xc1, 0xa6, 0xa2, 0x46, 0xae, 0x63, 0xf7, 0x4f,
    0x93, 0x1e, 0x83, 0x65, 0xe1, 0x5a, 0x08, 0x9c, 0x68, 0xd6, 0x19, 0x00, 0x00, 0x00, 0x00, 0x00,
];

/// Regtest's chain hash (same byte order as [`BITCOIN_CHAIN_HASH`]).
pub const REGTEST_CHAIN_HASH: [u8; 32] = [
    0x06, 0x22, 0x6e, 0x46, 0x11, 0x1a, 0x0b, 0x59, 0xca, 0xaf, 0x12, 0x60, 0x43, 0xeb, 0x5b, 0xbf,
    0x28, 0xc3, 0x4f, 0x3a, 0x5e, 0x33, 0x2a, 0x1f, 0xc7, 0xb2, 0xb7, 0x3c, 0xf1, 0x88, 0x91, 0x0f,
];

/// The RGS format's prefix; the fourth byte is the version.
const PREFIX: [u8; 3] = *b"LDK";
const VERSION: u8 = 1;

const FLAG_DIRECTION: u8 = 1;
const FLAG_DISABLED: u8 = 1 << 1;
const FLAG_HTLC_MAX: u8 = 1 << 2;
const FLAG_FEE_PROPORTIONAL: u8 = 1 << 3;
const FLAG_FEE_BASE: u8 = 1 << 4;
const FLAG_HTLC_MIN: u8 = 1 << 5;
const FLAG_CLTV: u8 = 1 << 6;

/// One direction of a channel: what its `channel_update` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelUpdate {
    /// Whether the direction can be used (the update's `disable` bit clear).
    pub enabled: bool,
    /// CLTV delta the forwarding node asks for.
    pub cltv_expiry_delta: u16,
    /// Smallest HTLC it forwards.
    pub htlc_minimum_msat: u64,
    /// Largest HTLC it forwards.
    pub htlc_maximum_msat: u64,
    /// Base forwarding fee.
    pub fee_base_msat: u32,
    /// Proportional forwarding fee.
    pub fee_proportional_millionths: u32,
}

/// A public channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channel {
    /// Its short channel id (`block height << 40 | tx index << 16 | output`).
    pub short_channel_id: u64,
    /// One end's node id (compressed public key). BOLT 7's `node_1` is the lexicographically
    /// smaller id; [`encode`] swaps ends and directions when the caller's order differs.
    pub node_one: [u8; 33],
    /// The other end's node id.
    pub node_two: [u8; 33],
    /// The update of the direction from `node_one` to `node_two`, if any.
    pub one_to_two: Option<ChannelUpdate>,
    /// The update of the direction from `node_two` to `node_one`, if any.
    pub two_to_one: Option<ChannelUpdate>,
}

/// A graph to snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Graph {
    /// The chain it belongs to ([`BITCOIN_CHAIN_HASH`], [`REGTEST_CHAIN_HASH`], …); LDK refuses
    /// a snapshot of another chain than its graph's.
    pub chain_hash: [u8; 32],
    /// Its channels (any order; a short channel id given twice keeps its first channel).
    pub channels: Vec<Channel>,
}

/// BOLT 1 BigSize, canonical (what LDK's reader accepts).
fn write_bigsize(out: &mut Vec<u8>, v: u64) {
    if v < 0xfd {
        out.push(v as u8);
    } else if v <= 0xffff {
        out.push(0xfd);
        out.extend_from_slice(&(v as u16).to_be_bytes());
    } else if v <= 0xffff_ffff {
        out.push(0xfe);
        out.extend_from_slice(&(v as u32).to_be_bytes());
    } else {
        out.push(0xff);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// The most common value (the smallest among equally common ones, so the output is
/// deterministic); `None` if there is none.
fn mode<T: Ord + Copy>(values: impl Iterator<Item = T>) -> Option<T> {
    let mut counts: BTreeMap<T, usize> = BTreeMap::new();
    for v in values {
        *counts.entry(v).or_default() += 1;
    }
    let mut best: Option<(T, usize)> = None;
    for (v, n) in counts {
        if best.is_none_or(|(_, m)| n > m) {
            best = Some((v, n));
        }
    }
    best.map(|(v, _)| v)
}

/// Encodes `graph` as a full RGS snapshot (format version 1, see the crate docs) that says it
/// holds gossip up to `latest_seen_timestamp` (UNIX seconds; pass the current time).
///
/// Channels whose `node_one` is greater than `node_two` are written with the ends (and their
/// directions) swapped, so `node_one` is BOLT 7's `node_1` as LDK expects; a short channel id
/// given twice keeps its first channel.
pub fn encode(graph: &Graph, latest_seen_timestamp: u32) -> Vec<u8> {
    // Normalised (node_1 < node_2), one channel per scid, by ascending scid.
    let mut seen = HashSet::new();
    let mut channels: Vec<Channel> = graph
        .channels
        .iter()
        .filter(|c| seen.insert(c.short_channel_id))
        .map(|c| {
            if c.node_one <= c.node_two {
                c.clone()
            } else {
                Channel {
                    short_channel_id: c.short_channel_id,
                    node_one: c.node_two,
                    node_two: c.node_one,
                    one_to_two: c.two_to_one.clone(),
                    two_to_one: c.one_to_two.clone(),
                }
            }
        })
        .collect();
    channels.sort_by_key(|c| c.short_channel_id);

    let mut node_ids: Vec<[u8; 33]> = Vec::new();
    let mut index: HashMap<[u8; 33], u64> = HashMap::new();
    for c in &channels {
        for id in [c.node_one, c.node_two] {
            index.entry(id).or_insert_with(|| {
                node_ids.push(id);
                (node_ids.len() - 1) as u64
            });
        }
    }

    let updates: Vec<(u64, u8, &ChannelUpdate)> = channels
        .iter()
        .flat_map(|c| {
            [(0u8, &c.one_to_two), (FLAG_DIRECTION, &c.two_to_one)]
                .into_iter()
                .filter_map(move |(dir, u)| u.as_ref().map(|u| (c.short_channel_id, dir, u)))
        })
        .collect();

    let mut out = Vec::with_capacity(64 + node_ids.len() * 33 + channels.len() * 40);
    out.extend_from_slice(&PREFIX);
    out.push(VERSION);
    out.extend_from_slice(&graph.chain_hash);
    out.extend_from_slice(&latest_seen_timestamp.to_be_bytes());

    out.extend_from_slice(&(node_ids.len() as u32).to_be_bytes());
    for id in &node_ids {
        out.extend_from_slice(id);
    }

    out.extend_from_slice(&(channels.len() as u32).to_be_bytes());
    let mut previous_scid = 0;
    for c in &channels {
        // No channel features (none are defined for announcements today).
        out.extend_from_slice(&0u16.to_be_bytes());
        write_bigsize(&mut out, c.short_channel_id - previous_scid);
        previous_scid = c.short_channel_id;
        write_bigsize(&mut out, index[&c.node_one]);
        write_bigsize(&mut out, index[&c.node_two]);
    }

    out.extend_from_slice(&(updates.len() as u32).to_be_bytes());
    if updates.is_empty() {
        // LDK stops reading here: no defaults.
        return out;
    }
    let cltv = mode(updates.iter().map(|u| u.2.cltv_expiry_delta)).unwrap_or(0);
    let htlc_min = mode(updates.iter().map(|u| u.2.htlc_minimum_msat)).unwrap_or(0);
    let fee_base = mode(updates.iter().map(|u| u.2.fee_base_msat)).unwrap_or(0);
    let fee_prop = mode(updates.iter().map(|u| u.2.fee_proportional_millionths)).unwrap_or(0);
    let htlc_max = mode(updates.iter().map(|u| u.2.htlc_maximum_msat)).unwrap_or(0);
    out.extend_from_slice(&cltv.to_be_bytes());
    out.extend_from_slice(&htlc_min.to_be_bytes());
    out.extend_from_slice(&fee_base.to_be_bytes());
    out.extend_from_slice(&fee_prop.to_be_bytes());
    out.extend_from_slice(&htlc_max.to_be_bytes());

    let mut previous_scid = 0;
    for (scid, direction, u) in updates {
        write_bigsize(&mut out, scid - previous_scid);
        previous_scid = scid;
        let mut flags = direction;
        if !u.enabled {
            flags |= FLAG_DISABLED;
        }
        let mut fields = Vec::new();
        if u.cltv_expiry_delta != cltv {
            flags |= FLAG_CLTV;
            fields.extend_from_slice(&u.cltv_expiry_delta.to_be_bytes());
        }
        if u.htlc_minimum_msat != htlc_min {
            flags |= FLAG_HTLC_MIN;
            fields.extend_from_slice(&u.htlc_minimum_msat.to_be_bytes());
        }
        if u.fee_base_msat != fee_base {
            flags |= FLAG_FEE_BASE;
            fields.extend_from_slice(&u.fee_base_msat.to_be_bytes());
        }
        if u.fee_proportional_millionths != fee_prop {
            flags |= FLAG_FEE_PROPORTIONAL;
            fields.extend_from_slice(&u.fee_proportional_millionths.to_be_bytes());
        }
        if u.htlc_maximum_msat != htlc_max {
            flags |= FLAG_HTLC_MAX;
            fields.extend_from_slice(&u.htlc_maximum_msat.to_be_bytes());
        }
        out.push(flags);
        out.extend_from_slice(&fields);
    }
    out
}

/// SplitMix64: small, fast, deterministic (the graphs must be the same on every machine).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Log-uniform in [lo, hi].
    fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        (lo.ln() + self.unit() * (hi.ln() - lo.ln())).exp()
    }

    /// Picks a value by weight (weights in percent, summing to 100); the last arm otherwise.
    fn pick<T: Copy>(&mut self, arms: &[(u32, T)]) -> T {
        let mut r = self.below(100) as u32;
        for &(w, v) in arms {
            if r < w {
                return v;
            }
            r -= w;
        }
        arms[arms.len() - 1].1
    }
}

/// `nodes` distinct valid compressed public keys: random x coordinates with a random parity
/// byte, keeping those that are on the curve (about half).
fn node_ids(rng: &mut Rng, nodes: usize) -> Vec<[u8; 33]> {
    let mut ids = Vec::with_capacity(nodes);
    let mut seen = HashSet::with_capacity(nodes);
    while ids.len() < nodes {
        let mut id = [0u8; 33];
        id[0] = 2 + (rng.next() & 1) as u8;
        for chunk in id[1..].chunks_mut(8) {
            chunk.copy_from_slice(&rng.next().to_le_bytes()[..chunk.len()]);
        }
        if secp256k1::PublicKey::from_slice(&id).is_ok() && seen.insert(id) {
            ids.push(id);
        }
    }
    ids
}

/// A direction's update, with mainnet-like values for a channel of `capacity_sat`.
fn synthetic_update(rng: &mut Rng, capacity_sat: u64) -> ChannelUpdate {
    let cltv_expiry_delta = match rng.pick(&[
        (40, 144u16),
        (20, 40),
        (12, 80),
        (10, 34),
        (5, 18),
        (5, 72),
        (8, 0),
    ]) {
        0 => 20 + rng.below(180) as u16,
        v => v,
    };
    let htlc_minimum_msat = match rng.pick(&[(50, 1000u64), (40, 1), (10, 0)]) {
        0 => rng.below(10_000),
        v => v,
    };
    let fee_base_msat = match rng.pick(&[(45, 1000u32), (35, 0), (10, 1), (10, u32::MAX)]) {
        u32::MAX => rng.below(5000) as u32,
        v => v,
    };
    let fee_proportional_millionths =
        match rng.pick(&[(15, 1u32), (5, 0), (10, 100), (5, 500), (65, u32::MAX)]) {
            u32::MAX => rng.log_uniform(1.0, 3000.0) as u32,
            v => v,
        };
    let capacity_msat = capacity_sat * 1000;
    let htlc_maximum_msat = match rng.pick(&[(70, 99u64), (20, 100), (10, 0)]) {
        0 => capacity_msat / (2 + rng.below(20)),
        pct => capacity_msat / 100 * pct,
    }
    .max(htlc_minimum_msat);
    ChannelUpdate {
        enabled: rng.below(100) >= 4,
        cltv_expiry_delta,
        htlc_minimum_msat,
        htlc_maximum_msat,
        fee_base_msat,
        fee_proportional_millionths,
    }
}

/// A deterministic mainnet-like graph of `nodes` nodes and `channels` channels from `seed`.
///
/// Node ids are valid public keys. The channels first join every node to one already there
/// (so the graph is connected when `channels >= nodes - 1`; with fewer, the first `channels`
/// of those), then link random pairs; ends are drawn with power-law weights (Chung-Lu), so a
/// few hubs have thousands of channels and most nodes one or two, as on mainnet. Short channel
/// ids are unique (heights 500,000 to 880,000); capacities are log-uniform from 20,000 sat to
/// 10 BTC; 3 % of directions have no update and 4 % of the others are disabled; fees, CLTV
/// deltas and HTLC limits follow mainnet's common values (1,000 msat + a log-uniform ppm, 144
/// or 40 blocks, `htlc_maximum_msat` 99 % of the capacity, …). `node_one < node_two` holds.
pub fn synthetic(chain_hash: [u8; 32], nodes: usize, channels: usize, seed: u64) -> Graph {
    let mut rng = Rng(seed ^ 0x5247_5320_736e_6170);
    let ids = node_ids(&mut rng, nodes);
    // Chung-Lu: node i gets weight (i + 1)^-0.9 and channel ends are drawn in proportion to
    // weight, which gives a power-law degree distribution (exponent ~2.1, as measured on
    // mainnet). `cumulative[i]` is the weight of nodes 0..=i.
    let mut cumulative = Vec::with_capacity(nodes);
    let mut total = 0.0f64;
    for i in 0..nodes {
        total += ((i + 1) as f64).powf(-0.9);
        cumulative.push(total);
    }
    // A node among the first `n`, in proportion to weight.
    let weighted = |rng: &mut Rng, n: usize| -> usize {
        let x = rng.unit() * cumulative[n - 1];
        cumulative[..n].partition_point(|&c| c <= x).min(n - 1)
    };
    let mut pairs: Vec<(usize, usize)> = Vec::with_capacity(channels);
    for new in 1..nodes {
        if pairs.len() == channels {
            break;
        }
        pairs.push((new, weighted(&mut rng, new)));
    }
    while pairs.len() < channels && nodes >= 2 {
        let (a, b) = (weighted(&mut rng, nodes), weighted(&mut rng, nodes));
        if a != b {
            pairs.push((a, b));
        }
    }

    let mut scids = HashSet::with_capacity(channels);
    let mut out = Vec::with_capacity(channels);
    for (a, b) in pairs {
        let scid = loop {
            let height = 500_000 + rng.below(380_000);
            let scid = height << 40 | rng.below(3000) << 16 | rng.below(2);
            if scids.insert(scid) {
                break scid;
            }
        };
        let capacity_sat = rng.log_uniform(20_000.0, 1_000_000_000.0) as u64;
        let mut direction =
            || (rng.below(100) >= 3).then(|| synthetic_update(&mut rng, capacity_sat));
        let (one_to_two, two_to_one) = (direction(), direction());
        let (node_one, node_two) = if ids[a] < ids[b] {
            (ids[a], ids[b])
        } else {
            (ids[b], ids[a])
        };
        out.push(Channel {
            short_channel_id: scid,
            node_one,
            node_two,
            one_to_two,
            two_to_one,
        });
    }
    Graph {
        chain_hash,
        channels: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader of what [`encode`] writes (the parts the tests look at).
    struct Decoded {
        chain_hash: [u8; 32],
        timestamp: u32,
        nodes: Vec<[u8; 33]>,
        /// scid, node_one index, node_two index.
        announcements: Vec<(u64, u64, u64)>,
        /// scid, flags, the full update.
        updates: Vec<(u64, u8, ChannelUpdate)>,
    }

    struct Reader<'a>(&'a [u8]);

    impl Reader<'_> {
        fn take(&mut self, n: usize) -> &[u8] {
            let (a, b) = self.0.split_at(n);
            self.0 = b;
            a
        }
        fn u8(&mut self) -> u8 {
            self.take(1)[0]
        }
        fn u16(&mut self) -> u16 {
            u16::from_be_bytes(self.take(2).try_into().unwrap())
        }
        fn u32(&mut self) -> u32 {
            u32::from_be_bytes(self.take(4).try_into().unwrap())
        }
        fn u64(&mut self) -> u64 {
            u64::from_be_bytes(self.take(8).try_into().unwrap())
        }
        fn bigsize(&mut self) -> u64 {
            match self.u8() {
                0xfd => self.u16() as u64,
                0xfe => self.u32() as u64,
                0xff => self.u64(),
                b => b as u64,
            }
        }
    }

    fn decode(bytes: &[u8]) -> Decoded {
        let mut r = Reader(bytes);
        assert_eq!(r.take(4), b"LDK\x01");
        let chain_hash = r.take(32).try_into().unwrap();
        let timestamp = r.u32();
        let nodes = (0..r.u32())
            .map(|_| r.take(33).try_into().unwrap())
            .collect();
        let mut scid = 0;
        let announcements = (0..r.u32())
            .map(|_| {
                assert_eq!(r.u16(), 0, "features");
                scid += r.bigsize();
                (scid, r.bigsize(), r.bigsize())
            })
            .collect();
        let count = r.u32();
        let mut updates = Vec::new();
        if count > 0 {
            let d = ChannelUpdate {
                enabled: true,
                cltv_expiry_delta: r.u16(),
                htlc_minimum_msat: r.u64(),
                fee_base_msat: r.u32(),
                fee_proportional_millionths: r.u32(),
                htlc_maximum_msat: r.u64(),
            };
            let mut scid = 0;
            for _ in 0..count {
                scid += r.bigsize();
                let flags = r.u8();
                assert_eq!(flags & 0x80, 0, "never incremental");
                let mut u = d.clone();
                u.enabled = flags & FLAG_DISABLED == 0;
                if flags & FLAG_CLTV != 0 {
                    u.cltv_expiry_delta = r.u16();
                }
                if flags & FLAG_HTLC_MIN != 0 {
                    u.htlc_minimum_msat = r.u64();
                }
                if flags & FLAG_FEE_BASE != 0 {
                    u.fee_base_msat = r.u32();
                }
                if flags & FLAG_FEE_PROPORTIONAL != 0 {
                    u.fee_proportional_millionths = r.u32();
                }
                if flags & FLAG_HTLC_MAX != 0 {
                    u.htlc_maximum_msat = r.u64();
                }
                updates.push((scid, flags, u));
            }
        }
        assert!(r.0.is_empty(), "{} trailing bytes", r.0.len());
        Decoded {
            chain_hash,
            timestamp,
            nodes,
            announcements,
            updates,
        }
    }

    fn update(fee_base_msat: u32, enabled: bool) -> ChannelUpdate {
        ChannelUpdate {
            enabled,
            cltv_expiry_delta: 144,
            htlc_minimum_msat: 1000,
            htlc_maximum_msat: 990_000_000,
            fee_base_msat,
            fee_proportional_millionths: 100,
        }
    }

    #[test]
    fn bigsize_is_canonical() {
        for (v, want) in [
            (0u64, vec![0u8]),
            (0xfc, vec![0xfc]),
            (0xfd, vec![0xfd, 0, 0xfd]),
            (0xffff, vec![0xfd, 0xff, 0xff]),
            (0x10000, vec![0xfe, 0, 1, 0, 0]),
            (0x1_0000_0000, vec![0xff, 0, 0, 0, 1, 0, 0, 0, 0]),
        ] {
            let mut out = Vec::new();
            write_bigsize(&mut out, v);
            assert_eq!(out, want, "{v:#x}");
        }
    }

    #[test]
    fn empty_graph_stops_after_the_update_count() {
        let bytes = encode(
            &Graph {
                chain_hash: REGTEST_CHAIN_HASH,
                channels: vec![],
            },
            7,
        );
        let mut want = b"LDK\x01".to_vec();
        want.extend_from_slice(&REGTEST_CHAIN_HASH);
        want.extend_from_slice(&[0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes, want);
    }

    #[test]
    fn encodes_sorted_normalised_channels_and_updates_against_defaults() {
        let a = [2u8; 33];
        let b = [3u8; 33];
        let c = {
            let mut c = [2u8; 33];
            c[1] = 9;
            c
        };
        let odd = ChannelUpdate {
            cltv_expiry_delta: 40,
            htlc_minimum_msat: 1,
            htlc_maximum_msat: 5_000,
            fee_base_msat: 7,
            fee_proportional_millionths: 1,
            enabled: true,
        };
        let graph = Graph {
            chain_hash: BITCOIN_CHAIN_HASH,
            channels: vec![
                // Given in the wrong order: b > c, so ends and directions swap.
                Channel {
                    short_channel_id: 900 << 40,
                    node_one: b,
                    node_two: c,
                    one_to_two: Some(odd.clone()),
                    two_to_one: None,
                },
                Channel {
                    short_channel_id: 800 << 40 | 5 << 16 | 1,
                    node_one: a,
                    node_two: b,
                    one_to_two: Some(update(1000, true)),
                    two_to_one: Some(update(1000, false)),
                },
                // A duplicate scid: dropped.
                Channel {
                    short_channel_id: 900 << 40,
                    node_one: a,
                    node_two: c,
                    one_to_two: None,
                    two_to_one: None,
                },
            ],
        };
        let d = decode(&encode(&graph, 1_700_000_000));
        assert_eq!(d.chain_hash, BITCOIN_CHAIN_HASH);
        assert_eq!(d.timestamp, 1_700_000_000);
        assert_eq!(d.nodes, vec![a, b, c]);
        assert_eq!(
            d.announcements,
            vec![(800 << 40 | 5 << 16 | 1, 0, 1), (900 << 40, 2, 1)]
        );
        assert_eq!(
            d.updates,
            vec![
                (800 << 40 | 5 << 16 | 1, 0, update(1000, true)),
                (
                    800 << 40 | 5 << 16 | 1,
                    FLAG_DIRECTION | FLAG_DISABLED,
                    update(1000, false)
                ),
                (
                    900 << 40,
                    // b -> c was given as one_to_two; with c < b it is node_2 -> node_1.
                    FLAG_DIRECTION
                        | FLAG_CLTV
                        | FLAG_HTLC_MIN
                        | FLAG_FEE_BASE
                        | FLAG_FEE_PROPORTIONAL
                        | FLAG_HTLC_MAX,
                    odd
                ),
            ]
        );
    }

    #[test]
    fn synthetic_is_deterministic_connected_and_valid() {
        let g = synthetic(BITCOIN_CHAIN_HASH, 2000, 7000, 1);
        assert_eq!(g, synthetic(BITCOIN_CHAIN_HASH, 2000, 7000, 1));
        assert_ne!(g, synthetic(BITCOIN_CHAIN_HASH, 2000, 7000, 2));
        assert_eq!(g.channels.len(), 7000);
        let scids: HashSet<u64> = g.channels.iter().map(|c| c.short_channel_id).collect();
        assert_eq!(scids.len(), 7000, "unique scids");

        let mut index: HashMap<[u8; 33], usize> = HashMap::new();
        for c in &g.channels {
            assert!(c.node_one < c.node_two);
            for id in [c.node_one, c.node_two] {
                let n = index.len();
                index.entry(id).or_insert(n);
            }
            for u in [&c.one_to_two, &c.two_to_one].into_iter().flatten() {
                assert!(u.htlc_minimum_msat <= u.htlc_maximum_msat);
                assert!(u.htlc_maximum_msat <= 1_000_000_000 * 1000);
            }
        }
        assert_eq!(index.len(), 2000, "every node has a channel");
        for id in index.keys() {
            secp256k1::PublicKey::from_slice(id).expect("valid key");
        }

        // Connected: union-find over the channels.
        let mut parent: Vec<usize> = (0..index.len()).collect();
        fn root(p: &mut [usize], mut x: usize) -> usize {
            while p[x] != x {
                p[x] = p[p[x]];
                x = p[x];
            }
            x
        }
        let mut degree = vec![0usize; index.len()];
        for c in &g.channels {
            let (a, b) = (index[&c.node_one], index[&c.node_two]);
            degree[a] += 1;
            degree[b] += 1;
            let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
            parent[ra] = rb;
        }
        let r = root(&mut parent, 0);
        assert!(
            (0..index.len()).all(|x| root(&mut parent, x) == r),
            "connected"
        );

        // Heavy-tailed: hubs with hundreds of channels, most nodes with few.
        degree.sort_unstable();
        let median = degree[degree.len() / 2];
        let max = degree[degree.len() - 1];
        println!("degrees: median {median}, max {max}");
        assert!(median <= 3, "median degree {median}");
        assert!(max >= 100, "max degree {max}");

        let d = decode(&encode(&g, 1));
        assert_eq!(d.nodes.len(), 2000);
        assert_eq!(d.announcements.len(), 7000);
        let directions = g
            .channels
            .iter()
            .map(|c| c.one_to_two.is_some() as usize + c.two_to_one.is_some() as usize)
            .sum::<usize>();
        assert_eq!(d.updates.len(), directions);
    }

    #[test]
    fn chain_hashes_are_the_genesis_hashes_reversed() {
        let hex = |h: &[u8; 32]| {
            h.iter()
                .rev()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        assert_eq!(
            hex(&BITCOIN_CHAIN_HASH),
            "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
        );
        assert_eq!(
            hex(&REGTEST_CHAIN_HASH),
            "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
        );
    }
}
