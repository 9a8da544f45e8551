//! The in-memory index: bitcoind's active chain and mempool, with scripthash history and
//! outspends, followed incrementally (new blocks, reorgs, mempool changes).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use anyhow::{bail, Context};
use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::hashes::{sha256, sha256d, Hash, HashEngine};
use bitcoin::{Address, Block, BlockHash, Network, OutPoint, Script, Transaction, TxOut, Txid};
use serde_json::{json, Value};

use crate::rpc::BitcoindRpc;

/// Esplora's page sizes.
pub const CHAIN_TXS_PER_PAGE: usize = 25;
/// Mempool transactions listed first by `/scripthash/:h/txs`.
pub const MAX_MEMPOOL_TXS: usize = 50;
/// Blocks listed by `/blocks`.
pub const BLOCKS_PER_PAGE: usize = 10;

/// Esplora's script hash: SHA256 of the scriptPubKey (not reversed).
pub fn script_hash(script: &Script) -> sha256::Hash {
    sha256::Hash::hash(script.as_bytes())
}

struct BlockEntry {
    block: Arc<Block>,
    height: u32,
    size: usize,
    weight: u64,
    txids: Vec<Txid>,
}

/// Where a live transaction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxLoc {
    /// In the active chain.
    Confirmed {
        /// Block height.
        height: u32,
        /// Position in the block.
        pos: usize,
    },
    /// In bitcoind's mempool; `seq` orders by first seen.
    Mempool {
        /// First-seen order.
        seq: u64,
    },
}

/// An unspent output of a script.
#[derive(Clone, Debug)]
pub struct IndexedUtxo {
    /// The outpoint.
    pub outpoint: OutPoint,
    /// The output.
    pub txout: TxOut,
    /// Where the funding transaction is.
    pub loc: TxLoc,
    /// Whether the funding transaction is a coinbase.
    pub is_coinbase: bool,
}

/// The index. See the module documentation.
#[derive(Default)]
pub struct Index {
    blocks: HashMap<BlockHash, BlockEntry>,
    chain: Vec<BlockHash>,
    txs: HashMap<Txid, Arc<Transaction>>,
    mempool: HashMap<Txid, u64>,
    seq: u64,
    // Derived from chain + mempool by `rebuild`.
    loc: HashMap<Txid, TxLoc>,
    spends: HashMap<OutPoint, (Txid, u32)>,
    history: HashMap<sha256::Hash, Vec<Txid>>,
}

async fn fetch_block(rpc: &BitcoindRpc, hash: &BlockHash) -> anyhow::Result<Block> {
    let hex: String = rpc.call("getblock", json!([hash, 0])).await?;
    deserialize_hex(&hex).with_context(|| format!("decoding block {hash}"))
}

impl Index {
    /// Brings the index up to date with bitcoind: one `getbestblockhash` + `getrawmempool`
    /// when nothing changed; on a new tip, walks back to the fork point and re-indexes.
    pub async fn sync(&mut self, rpc: &BitcoindRpc) -> anyhow::Result<()> {
        let mut changed = false;
        for _ in 0..10 {
            let best: BlockHash = rpc.call("getbestblockhash", json!([])).await?;
            if self.chain.last() != Some(&best) {
                self.sync_chain(rpc, best).await?;
                changed = true;
            }
            let txids: Vec<Txid> = rpc.call("getrawmempool", json!([])).await?;
            if txids.len() != self.mempool.len()
                || txids.iter().any(|t| !self.mempool.contains_key(t))
            {
                self.sync_mempool(rpc, &txids).await?;
                changed = true;
            }
            if !changed {
                break;
            }
            // A block found between the two calls would leave its transactions nowhere.
            let again: BlockHash = rpc.call("getbestblockhash", json!([])).await?;
            if again == best {
                break;
            }
        }
        if changed {
            self.rebuild();
        }
        Ok(())
    }

    async fn sync_chain(&mut self, rpc: &BitcoindRpc, best: BlockHash) -> anyhow::Result<()> {
        let mut new: Vec<(BlockHash, Arc<Block>)> = Vec::new();
        let mut hash = best;
        let fork: Option<u32> = loop {
            if let Some(entry) = self.blocks.get(&hash) {
                if self.chain.get(entry.height as usize) == Some(&hash) {
                    break Some(entry.height);
                }
            }
            let block = match self.blocks.get(&hash) {
                Some(entry) => entry.block.clone(),
                None => Arc::new(fetch_block(rpc, &hash).await?),
            };
            let prev = block.header.prev_blockhash;
            new.push((hash, block));
            if prev == BlockHash::all_zeros() {
                break None;
            }
            hash = prev;
            if new.len() > 1_000_000 {
                bail!("chain walk did not end");
            }
        };
        let start = fork.map_or(0, |h| h + 1);
        self.chain.truncate(start as usize);
        for (i, (hash, block)) in new.into_iter().rev().enumerate() {
            let height = start + i as u32;
            if !self.blocks.contains_key(&hash) {
                let mut txids = Vec::with_capacity(block.txdata.len());
                for tx in &block.txdata {
                    let txid = tx.compute_txid();
                    txids.push(txid);
                    self.txs.entry(txid).or_insert_with(|| Arc::new(tx.clone()));
                }
                let entry = BlockEntry {
                    size: block.total_size(),
                    weight: block.weight().to_wu(),
                    txids,
                    height,
                    block,
                };
                self.blocks.insert(hash, entry);
            }
            self.chain.push(hash);
        }
        Ok(())
    }

    async fn sync_mempool(&mut self, rpc: &BitcoindRpc, txids: &[Txid]) -> anyhow::Result<()> {
        let live: HashSet<Txid> = txids.iter().copied().collect();
        self.mempool.retain(|t, _| live.contains(t));
        for txid in txids {
            if self.mempool.contains_key(txid) {
                continue;
            }
            if !self.txs.contains_key(txid) {
                match rpc
                    .call::<String>("getrawtransaction", json!([txid, false]))
                    .await
                {
                    Ok(hex) => {
                        let tx: Transaction = deserialize_hex(&hex)
                            .with_context(|| format!("decoding transaction {txid}"))?;
                        self.txs.insert(*txid, Arc::new(tx));
                    }
                    // Left the mempool meanwhile.
                    Err(e) if e.code == -5 => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            self.seq += 1;
            self.mempool.insert(*txid, self.seq);
        }
        Ok(())
    }

    fn rebuild(&mut self) {
        self.loc.clear();
        self.spends.clear();
        self.history.clear();
        let confirmed: Vec<(u32, Vec<Txid>)> = self
            .chain
            .iter()
            .enumerate()
            .filter_map(|(h, hash)| self.blocks.get(hash).map(|e| (h as u32, e.txids.clone())))
            .collect();
        for (height, txids) in confirmed {
            for (pos, txid) in txids.into_iter().enumerate() {
                self.index_tx(txid, TxLoc::Confirmed { height, pos });
            }
        }
        let mut mempool: Vec<(u64, Txid)> = self
            .mempool
            .iter()
            .filter(|(t, _)| !self.loc.contains_key(*t))
            .map(|(t, s)| (*s, *t))
            .collect();
        mempool.sort();
        for (seq, txid) in mempool {
            self.index_tx(txid, TxLoc::Mempool { seq });
        }
    }

    fn index_tx(&mut self, txid: Txid, loc: TxLoc) {
        let Some(tx) = self.txs.get(&txid).cloned() else {
            return;
        };
        self.loc.insert(txid, loc);
        let mut hashes = Vec::new();
        if !tx.is_coinbase() {
            for (vin, input) in tx.input.iter().enumerate() {
                self.spends
                    .insert(input.previous_output, (txid, vin as u32));
                if let Some(prev) = self.prevout(&input.previous_output) {
                    hashes.push(script_hash(&prev.script_pubkey));
                }
            }
        }
        for output in &tx.output {
            hashes.push(script_hash(&output.script_pubkey));
        }
        hashes.sort();
        hashes.dedup();
        for h in hashes {
            self.history.entry(h).or_default().push(txid);
        }
    }

    // ---- queries ----

    /// The tip height.
    pub fn tip_height(&self) -> u32 {
        self.chain.len().saturating_sub(1) as u32
    }

    /// The tip hash.
    pub fn tip_hash(&self) -> Option<BlockHash> {
        self.chain.last().copied()
    }

    /// The latest header time of any block the index knows (active or stale).
    pub fn max_block_time(&self) -> u32 {
        self.blocks
            .values()
            .map(|e| e.block.header.time)
            .max()
            .unwrap_or(0)
    }

    /// The active chain's block at `height`.
    pub fn block_hash_at(&self, height: u32) -> Option<BlockHash> {
        self.chain.get(height as usize).copied()
    }

    /// A block known to the index (active or stale).
    pub fn block(&self, hash: &BlockHash) -> Option<&Arc<Block>> {
        self.blocks.get(hash).map(|e| &e.block)
    }

    /// The txids of a block known to the index.
    pub fn block_txids(&self, hash: &BlockHash) -> Option<&[Txid]> {
        self.blocks.get(hash).map(|e| e.txids.as_slice())
    }

    /// Whether `hash` is in the active chain.
    pub fn in_best_chain(&self, hash: &BlockHash) -> bool {
        self.blocks
            .get(hash)
            .is_some_and(|e| self.chain.get(e.height as usize) == Some(hash))
    }

    /// A live (confirmed or mempool) transaction.
    pub fn tx(&self, txid: &Txid) -> Option<(&Arc<Transaction>, TxLoc)> {
        let loc = *self.loc.get(txid)?;
        Some((self.txs.get(txid)?, loc))
    }

    /// Where a live transaction is.
    pub fn loc(&self, txid: &Txid) -> Option<TxLoc> {
        self.loc.get(txid).copied()
    }

    /// The output spent by `outpoint`, from any transaction ever seen.
    pub fn prevout(&self, outpoint: &OutPoint) -> Option<&TxOut> {
        self.txs
            .get(&outpoint.txid)?
            .output
            .get(outpoint.vout as usize)
    }

    /// The live spender of `outpoint`: (txid, input index).
    pub fn spender(&self, outpoint: &OutPoint) -> Option<(Txid, u32)> {
        self.spends.get(outpoint).copied()
    }

    /// Mempool txids, oldest first.
    pub fn mempool_txids(&self) -> Vec<Txid> {
        let mut v: Vec<(u64, Txid)> = self
            .loc
            .iter()
            .filter_map(|(t, l)| match l {
                TxLoc::Mempool { seq } => Some((*seq, *t)),
                TxLoc::Confirmed { .. } => None,
            })
            .collect();
        v.sort();
        v.into_iter().map(|(_, t)| t).collect()
    }

    /// The fee of a transaction whose prevouts are known (0 for a coinbase).
    pub fn fee(&self, tx: &Transaction) -> u64 {
        if tx.is_coinbase() {
            return 0;
        }
        let inputs: u64 = tx
            .input
            .iter()
            .filter_map(|i| self.prevout(&i.previous_output))
            .map(|o| o.value.to_sat())
            .sum();
        let outputs: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
        inputs.saturating_sub(outputs)
    }

    /// A script's history: (mempool newest first, confirmed newest first).
    pub fn history(&self, sh: &sha256::Hash) -> (Vec<Txid>, Vec<Txid>) {
        let mut mempool = Vec::new();
        let mut confirmed = Vec::new();
        if let Some(txids) = self.history.get(sh) {
            for txid in txids.iter().rev() {
                match self.loc.get(txid) {
                    Some(TxLoc::Mempool { .. }) => mempool.push(*txid),
                    Some(TxLoc::Confirmed { .. }) => confirmed.push(*txid),
                    None => {}
                }
            }
        }
        (mempool, confirmed)
    }

    /// A script's unspent outputs (outputs spent by a mempool transaction excluded).
    pub fn utxos(&self, sh: &sha256::Hash) -> Vec<IndexedUtxo> {
        let mut out = Vec::new();
        let Some(txids) = self.history.get(sh) else {
            return out;
        };
        for txid in txids {
            let (Some(tx), Some(loc)) = (self.txs.get(txid), self.loc.get(txid)) else {
                continue;
            };
            for (vout, o) in tx.output.iter().enumerate() {
                let outpoint = OutPoint::new(*txid, vout as u32);
                if script_hash(&o.script_pubkey) == *sh && !self.spends.contains_key(&outpoint) {
                    out.push(IndexedUtxo {
                        outpoint,
                        txout: o.clone(),
                        loc: *loc,
                        is_coinbase: tx.is_coinbase(),
                    });
                }
            }
        }
        out
    }

    // ---- Esplora JSON ----

    /// `TxStatus` JSON.
    pub fn status_json(&self, loc: Option<TxLoc>) -> Value {
        match loc {
            Some(TxLoc::Confirmed { height, .. }) => {
                match self
                    .chain
                    .get(height as usize)
                    .and_then(|h| self.blocks.get(h).map(|e| (h, e)))
                {
                    Some((hash, entry)) => json!({
                        "confirmed": true,
                        "block_height": height,
                        "block_hash": hash,
                        "block_time": entry.block.header.time,
                    }),
                    None => json!({"confirmed": false}),
                }
            }
            _ => json!({"confirmed": false}),
        }
    }

    /// Esplora's transaction JSON.
    pub fn tx_json(&self, tx: &Transaction, loc: Option<TxLoc>) -> Value {
        let vin: Vec<Value> = tx
            .input
            .iter()
            .map(|input| {
                let prevout = if tx.is_coinbase() {
                    None
                } else {
                    self.prevout(&input.previous_output)
                };
                let mut v = json!({
                    "txid": input.previous_output.txid,
                    "vout": input.previous_output.vout,
                    "prevout": prevout.map(txout_json),
                    "scriptsig": input.script_sig.to_hex_string(),
                    "scriptsig_asm": input.script_sig.to_asm_string(),
                    "is_coinbase": tx.is_coinbase(),
                    "sequence": input.sequence.0,
                });
                if !input.witness.is_empty() {
                    let witness: Vec<String> = input
                        .witness
                        .iter()
                        .map(|w| w.iter().map(|b| format!("{b:02x}")).collect())
                        .collect();
                    v["witness"] = json!(witness);
                }
                if let Some(prev) = prevout {
                    let spk = &prev.script_pubkey;
                    if spk.is_p2sh() {
                        if let Some(Ok(bitcoin::script::Instruction::PushBytes(push))) =
                            input.script_sig.instructions().last()
                        {
                            let redeem = Script::from_bytes(push.as_bytes());
                            v["inner_redeemscript_asm"] = json!(redeem.to_asm_string());
                            if redeem.is_p2wsh() {
                                if let Some(ws) = input.witness.last() {
                                    v["inner_witnessscript_asm"] =
                                        json!(Script::from_bytes(ws).to_asm_string());
                                }
                            }
                        }
                    } else if spk.is_p2wsh() {
                        if let Some(ws) = input.witness.last() {
                            v["inner_witnessscript_asm"] =
                                json!(Script::from_bytes(ws).to_asm_string());
                        }
                    }
                }
                v
            })
            .collect();
        let vout: Vec<Value> = tx.output.iter().map(txout_json).collect();
        json!({
            "txid": tx.compute_txid(),
            "version": tx.version.0,
            "locktime": tx.lock_time.to_consensus_u32(),
            "vin": vin,
            "vout": vout,
            "size": tx.total_size(),
            "weight": tx.weight().to_wu(),
            "fee": self.fee(tx),
            "status": self.status_json(loc),
        })
    }

    /// Esplora's transaction JSON for a live txid.
    pub fn txid_json(&self, txid: &Txid) -> Option<Value> {
        let (tx, loc) = self.tx(txid)?;
        Some(self.tx_json(tx, Some(loc)))
    }

    fn median_time_past(&self, hash: &BlockHash) -> u32 {
        let mut times = Vec::with_capacity(11);
        let mut cur = Some(*hash);
        while let Some(h) = cur {
            if times.len() == 11 {
                break;
            }
            match self.blocks.get(&h) {
                Some(e) => {
                    times.push(e.block.header.time);
                    cur = if e.height == 0 {
                        None
                    } else {
                        Some(e.block.header.prev_blockhash)
                    };
                }
                None => break,
            }
        }
        times.sort_unstable();
        times.get(times.len() / 2).copied().unwrap_or(0)
    }

    /// Esplora's block JSON (`BlockInfo`).
    pub fn block_json(&self, hash: &BlockHash) -> Option<Value> {
        let e = self.blocks.get(hash)?;
        let h = &e.block.header;
        Some(json!({
            "id": hash,
            "height": e.height,
            "version": h.version.to_consensus(),
            "timestamp": h.time,
            "tx_count": e.txids.len(),
            "size": e.size,
            "weight": e.weight,
            "merkle_root": h.merkle_root,
            "previousblockhash": if e.height == 0 { Value::Null } else { json!(h.prev_blockhash) },
            "mediantime": self.median_time_past(hash),
            "nonce": h.nonce,
            "bits": h.bits.to_consensus(),
            "difficulty": h.difficulty_float(),
        }))
    }

    /// Esplora's block status JSON.
    pub fn block_status_json(&self, hash: &BlockHash) -> Value {
        match self.blocks.get(hash) {
            Some(e) if self.in_best_chain(hash) => {
                let mut v = json!({"in_best_chain": true, "height": e.height});
                if let Some(next) = self.chain.get(e.height as usize + 1) {
                    v["next_best"] = json!(next);
                }
                v
            }
            _ => json!({"in_best_chain": false}),
        }
    }

    /// Esplora's `/tx/:txid/merkle-proof`, for a confirmed transaction.
    pub fn merkle_proof_json(&self, txid: &Txid) -> Option<Value> {
        let TxLoc::Confirmed { height, pos } = self.loc(txid)? else {
            return None;
        };
        let hash = self.chain.get(height as usize)?;
        let txids = &self.blocks.get(hash)?.txids;
        Some(json!({
            "block_height": height,
            "merkle": merkle_branch(txids, pos),
            "pos": pos,
        }))
    }

    /// `/tx/:txid/merkleblock-proof`: a hex `MerkleBlock` as `gettxoutproof` returns.
    pub fn merkle_block_hex(&self, txid: &Txid) -> Option<String> {
        let TxLoc::Confirmed { height, .. } = self.loc(txid)? else {
            return None;
        };
        let hash = self.chain.get(height as usize)?;
        let block = &self.blocks.get(hash)?.block;
        let mb = bitcoin::MerkleBlock::from_block_with_predicate(block, |t| t == txid);
        Some(serialize_hex(&mb))
    }

    /// Esplora's outspend JSON.
    pub fn outspend_json(&self, outpoint: &OutPoint) -> Value {
        match self.spender(outpoint) {
            Some((txid, vin)) => json!({
                "spent": true,
                "txid": txid,
                "vin": vin,
                "status": self.status_json(self.loc(&txid)),
            }),
            None => json!({"spent": false}),
        }
    }

    /// Esplora's UTXO JSON.
    pub fn utxo_json(&self, u: &IndexedUtxo) -> Value {
        json!({
            "txid": u.outpoint.txid,
            "vout": u.outpoint.vout,
            "status": self.status_json(Some(u.loc)),
            "value": u.txout.value.to_sat(),
        })
    }

    /// Esplora's `{chain_stats, mempool_stats}` for a script.
    pub fn stats_json(&self, sh: &sha256::Hash) -> Value {
        let mut stats = [[0u64; 5]; 2]; // funded count, funded sum, spent count, spent sum, tx count
        if let Some(txids) = self.history.get(sh) {
            for txid in txids {
                let (Some(tx), Some(loc)) = (self.txs.get(txid), self.loc.get(txid)) else {
                    continue;
                };
                let s = &mut stats[usize::from(matches!(loc, TxLoc::Mempool { .. }))];
                s[4] += 1;
                for o in &tx.output {
                    if script_hash(&o.script_pubkey) == *sh {
                        s[0] += 1;
                        s[1] += o.value.to_sat();
                    }
                }
                if !tx.is_coinbase() {
                    for i in &tx.input {
                        if let Some(prev) = self.prevout(&i.previous_output) {
                            if script_hash(&prev.script_pubkey) == *sh {
                                s[2] += 1;
                                s[3] += prev.value.to_sat();
                            }
                        }
                    }
                }
            }
        }
        let j = |s: &[u64; 5]| {
            json!({
                "funded_txo_count": s[0],
                "funded_txo_sum": s[1],
                "spent_txo_count": s[2],
                "spent_txo_sum": s[3],
                "tx_count": s[4],
            })
        };
        json!({"chain_stats": j(&stats[0]), "mempool_stats": j(&stats[1])})
    }
}

/// Esplora's output JSON.
pub fn txout_json(o: &TxOut) -> Value {
    let spk = &o.script_pubkey;
    let mut v = json!({
        "scriptpubkey": spk.to_hex_string(),
        "scriptpubkey_asm": spk.to_asm_string(),
        "scriptpubkey_type": script_type(spk),
        "value": o.value.to_sat(),
    });
    if let Ok(addr) = Address::from_script(spk, Network::Regtest) {
        v["scriptpubkey_address"] = json!(addr.to_string());
    }
    v
}

/// Esplora's `scriptpubkey_type`.
pub fn script_type(spk: &Script) -> &'static str {
    if spk.is_empty() {
        "empty"
    } else if spk.is_op_return() {
        "op_return"
    } else if spk.is_p2pk() {
        "p2pk"
    } else if spk.is_p2pkh() {
        "p2pkh"
    } else if spk.is_p2sh() {
        "p2sh"
    } else if spk.is_p2wpkh() {
        "v0_p2wpkh"
    } else if spk.is_p2wsh() {
        "v0_p2wsh"
    } else if spk.is_p2tr() {
        "v1_p2tr"
    } else if spk.as_bytes() == [0x51, 0x02, 0x4e, 0x73] {
        "anchor"
    } else if spk.is_multisig() {
        "multisig"
    } else {
        "unknown"
    }
}

/// The merkle branch of the transaction at `pos` (hashes in Esplora's display order).
pub fn merkle_branch(txids: &[Txid], mut pos: usize) -> Vec<Txid> {
    let mut level: Vec<sha256d::Hash> = txids.iter().map(|t| t.to_raw_hash()).collect();
    let mut branch = Vec::new();
    while level.len() > 1 {
        if level.len() % 2 == 1 {
            if let Some(last) = level.last().copied() {
                level.push(last);
            }
        }
        branch.push(Txid::from_raw_hash(level[pos ^ 1]));
        level = level
            .chunks(2)
            .map(|pair| {
                let mut engine = sha256d::Hash::engine();
                engine.input(pair[0].as_byte_array());
                engine.input(pair[1].as_byte_array());
                sha256d::Hash::from_engine(engine)
            })
            .collect();
        pos /= 2;
    }
    branch
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::ScriptBuf;

    fn root_from_branch(txid: Txid, branch: &[Txid], mut pos: usize) -> sha256d::Hash {
        let mut cur = txid.to_raw_hash();
        for sibling in branch {
            let mut e = sha256d::Hash::engine();
            let (l, r) = if pos % 2 == 0 {
                (cur, sibling.to_raw_hash())
            } else {
                (sibling.to_raw_hash(), cur)
            };
            e.input(l.as_byte_array());
            e.input(r.as_byte_array());
            cur = sha256d::Hash::from_engine(e);
            pos /= 2;
        }
        cur
    }

    #[test]
    fn merkle_branches_lead_to_the_block_merkle_root() {
        for n in 1..=13u8 {
            let txids: Vec<Txid> = (0..n)
                .map(|i| Txid::from_raw_hash(sha256d::Hash::hash(&[n, i])))
                .collect();
            let root = bitcoin::merkle_tree::calculate_root(txids.iter().map(|t| t.to_raw_hash()))
                .expect("non-empty");
            for (pos, txid) in txids.iter().enumerate() {
                let branch = merkle_branch(&txids, pos);
                assert_eq!(
                    root_from_branch(*txid, &branch, pos),
                    root,
                    "n={n} pos={pos}"
                );
            }
        }
    }

    #[test]
    fn script_types_match_esplora() {
        let p2a = ScriptBuf::from_bytes(vec![0x51, 0x02, 0x4e, 0x73]);
        assert_eq!(script_type(&p2a), "anchor");
        assert_eq!(script_type(&ScriptBuf::new()), "empty");
        let op_return = ScriptBuf::new_op_return([1u8, 2, 3]);
        assert_eq!(script_type(&op_return), "op_return");
        let wsh = ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::all_zeros());
        assert_eq!(script_type(&wsh), "v0_p2wsh");
    }
}
