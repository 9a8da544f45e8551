// Issue #16 in Chromium through the proxy: the test network with an LSP (lib/network.mjs,
// `topology: "lsp"`: LSP → merchant → carol, announced channels) and nodes of the packed npm
// package in a plain page (lib/plain.mjs), on IndexedDB. One network and one page for the file:
// the first test's node (a JIT channel to the LSP, graph by P2P gossip) is the second's payer.
//
//   first_receive_via_jit_chromium  a brand-new node, no funds, receives from the merchant
//                                   through an LSPS2 JIT channel, then pays the merchant back
//   two_hop_payment_chromium        that node pays the merchant (2 hops) and carol (3 hops);
//                                   a second node with only an RGS snapshot for a graph pays too
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { launchPersistent, recordConsole, until } from "./lib/browser.mjs";
import { LSP_CHANNELS, lsps2FeeMsat, startNetwork } from "./lib/network.mjs";
import { plainSite } from "./lib/plain.mjs";
import { serveDemo } from "./lib/serve.mjs";

const JIT_MSAT = 50_000_000; // 50,000 sat
const PASSPHRASE = "network test";

let net;
let server;
let ctx;
let profile;
let page;
const log = [];
/** What the first test leaves for the second: its node is `window.nodes.gossip` in `page`. */
let jitNode;

/** Runs `fn(arg)` in the test page (where `window.wasmLn` is the package). */
const inPage = (fn, arg) => page.evaluate(fn, arg);

/** The node config for one in-page node named `name`. */
function nodeConfig(name, extra = {}) {
  return {
    network: "regtest",
    esploraUrl: net.esploraUrl,
    proxyUrl: net.proxyUrl,
    lsp: net.lspConfig,
    storage: { kind: "indexeddb", name },
    seed: { passphrase: PASSPHRASE },
    logLevel: "warn",
    ...extra,
  };
}

/**
 * Creates a node in the page as `window.nodes[key]`, recording its paymentReceived events in
 * `window.received[key]`. Returns its node id.
 */
async function createNode(key, config) {
  return inPage(
    async ([key, config]) => {
      window.nodes ??= {};
      window.received ??= {};
      const node = await window.wasmLn.LightningNode.create(config);
      window.nodes[key] = node;
      window.received[key] = [];
      node.on("paymentReceived", (ev) => window.received[key].push({ ...ev, at: performance.now() }));
      return node.nodeId;
    },
    [key, config],
  );
}

/** The node's graph info: `getInfo().graph`, `{ nodes, channels, rgsSyncedAt }`. */
const graphInfo = (key) => inPage(async (key) => (await window.nodes[key].getInfo()).graph, key);

/** Waits until `key`'s graph has at least the LSP topology's two announced channels. */
async function waitGraph(key, what) {
  return until(
    `${what}: the LSP topology's channels in the node's graph`,
    async () => {
      const g = await graphInfo(key);
      return g && g.channels >= LSP_CHANNELS.length ? g : null;
    },
    { timeoutMs: 60_000, intervalMs: 500, log },
  );
}

/** A ldk-node's (merchant's, carol's) payment with this hash, once it has one that succeeded. */
async function peerPayment(peer, paymentHash, direction) {
  return until(
    `${peer.name}'s ${direction} payment ${paymentHash.slice(0, 8)}… to succeed`,
    async () => {
      const list = await peer.call("GET", "/payments");
      return list.find((p) => p.payment_hash === paymentHash && p.direction === direction && p.status === "succeeded");
    },
    { timeoutMs: 60_000, intervalMs: 250, log },
  );
}

/**
 * `key`'s node receives `amountMsat` from the merchant through a JIT channel: returns the quote,
 * the paymentReceived event and the time from the receiveViaJitChannel call to the event.
 */
async function jitReceive(key, amountMsat, description) {
  const quote = await inPage(
    async ([key, amountMsat, description]) => {
      window.jitStarted = performance.now();
      return window.nodes[key].bolt11.receiveViaJitChannel({ amountMsat, description });
    },
    [key, amountMsat, description],
  );
  const { payment_id: paymentId } = await net.merchant.call("POST", "/pay", { invoice: quote.invoice });
  const event = await until(
    `${key}: paymentReceived for the JIT invoice (merchant payment ${paymentId})`,
    async () => {
      const got = await inPage(([key, hash]) => window.received[key].find((e) => e.paymentHash === hash), [key, quote.paymentHash]);
      if (got) return got;
      const p = await net.merchant.call("GET", `/payments/${paymentId}`).catch(() => null);
      if (p?.status === "failed") throw Object.assign(new Error(`the merchant's payment failed: ${JSON.stringify(p)}`), { fatal: true });
      return null;
    },
    { timeoutMs: 60_000, intervalMs: 100, log },
  );
  const started = await inPage(() => window.jitStarted);
  return { quote, event, ms: event.at - started };
}

/** `key`'s node pays `peer` `amountMsat` through an invoice; returns our payment details. */
async function payPeer(key, peer, amountMsat, description) {
  const { invoice, payment_hash: hash } = await peer.call("POST", "/invoice", { amount_msat: amountMsat, description });
  const sent = await inPage(([key, invoice]) => window.nodes[key].bolt11.send({ invoice }), [key, invoice]);
  assert.equal(sent.status, "succeeded", `${key} → ${peer.name}: ${JSON.stringify(sent)}`);
  assert.equal(sent.paymentHash, hash);
  const theirs = await peerPayment(peer, hash, "inbound");
  assert.equal(theirs.amount_msat, amountMsat, `${peer.name} received the amount`);
  return sent;
}

const balances = (key) => inPage((key) => window.nodes[key].balances(), key);

describe("the test network with an LSP, in Chromium", () => {
  before(async () => {
    net = await startNetwork({ targetDir: process.env.CARGO_TARGET_DIR, topology: "lsp", peer: false });
    // The LSP's RGS snapshots through the page's own origin (the peer's API sends no CORS).
    server = await serveDemo({ root: plainSite("wasm-ln-network-"), config: {}, rgsUrl: net.rgsUrl });
    profile = fs.mkdtempSync(path.join(os.tmpdir(), "wasm-ln-network-profile-"));
    ctx = await launchPersistent(profile);
    page = await ctx.newPage();
    recordConsole(page, log, "[network]");
    await page.goto(server.url + "/");
    await page.waitForFunction(() => document.title === "ready");
  });

  after(async () => {
    await page
      ?.evaluate(async () => {
        for (const n of Object.values(window.nodes ?? {})) await n.stop().catch(() => {});
      })
      .catch(() => {});
    await ctx?.close().catch(() => {});
    if (profile) fs.rmSync(profile, { recursive: true, force: true });
    await server?.close();
    await net?.stop();
  });

  test("first_receive_via_jit_chromium", async () => {
    const nodeId = await createNode("gossip", nodeConfig(`jit-${Date.now()}`));
    const fresh = await inPage(async () => {
      const n = window.nodes.gossip;
      return { balances: await n.balances(), channels: (await n.listChannels()).length, payments: (await n.listPayments()).length };
    });
    assert.equal(fresh.balances.onchain.confirmedSat + fresh.balances.onchain.unconfirmedSat, 0, "no on-chain funds");
    assert.equal(fresh.balances.lightningMsat, 0);
    assert.equal(fresh.channels, 0, "no channel");
    assert.equal(fresh.payments, 0);

    // The fee a wallet shows before the invoice exists (bolt11.receiveQuote): nothing stored.
    const fee = lsps2FeeMsat(JIT_MSAT);
    const before = await inPage(async (amountMsat) => {
      const n = window.nodes.gossip;
      return { q: await n.bolt11.receiveQuote({ amountMsat }), payments: (await n.listPayments()).length };
    }, JIT_MSAT);
    assert.deepEqual([before.q.viaJitChannel, before.q.feeMsat, before.payments], [true, fee, 0], JSON.stringify(before));
    assert.ok(before.q.expiresAt > Date.now() / 1000, JSON.stringify(before.q));

    const { quote, event, ms } = await jitReceive("gossip", JIT_MSAT, "first receive");
    assert.equal(quote.viaJitChannel, true, JSON.stringify(quote));
    assert.equal(quote.feeMsat, fee, "the quote is the LSP's terms: max(1,000,000, 1 %)");
    assert.equal(event.amountMsat, JIT_MSAT - fee, "the payment arrives with the quoted fee deducted");
    assert.equal(event.feeMsat, fee, "the event says what the LSP withheld");
    console.log(`# receiveViaJitChannel → paymentReceived: ${ms.toFixed(0)} ms`);

    const after = await inPage(async () => {
      const n = window.nodes.gossip;
      return { balances: await n.balances(), channels: await n.listChannels(), payments: await n.listPayments() };
    });
    assert.equal(after.channels.length, 1, JSON.stringify(after.channels));
    const [ch] = after.channels;
    assert.equal(ch.counterpartyNodeId, net.lsp.nodeId, "the JIT channel is the LSP's");
    assert.equal(ch.isOutbound, false);
    assert.ok(ch.isUsable, "the zero-conf channel is usable before any block");
    assert.equal(after.balances.lightningMsat, JIT_MSAT - fee);
    assert.equal(after.balances.onchain.confirmedSat + after.balances.onchain.unconfirmedSat, 0, "still nothing on-chain");
    assert.equal(after.payments.length, 1, JSON.stringify(after.payments));
    const [p] = after.payments;
    assert.deepEqual(
      { direction: p.direction, status: p.status, paymentHash: p.paymentHash, amountMsat: p.amountMsat, feeMsat: p.feeMsat },
      { direction: "inbound", status: "succeeded", paymentHash: quote.paymentHash, amountMsat: JIT_MSAT - fee, feeMsat: fee },
    );
    const merchantSide = await peerPayment(net.merchant, quote.paymentHash, "outbound");
    assert.equal(merchantSide.amount_msat, JIT_MSAT, "the merchant paid the invoice's amount");

    // Node message signing in the browser, checked by ldk-node both ways (signMessage/verifyMessage).
    const msg = "signed in Chromium ⚡";
    const ours = await inPage((m) => window.nodes.gossip.signMessage(m), msg);
    const atLsp = await net.lsp.call("POST", "/verify", { message: msg, signature: ours, pubkey: nodeId });
    assert.equal(atLsp.valid, true, "ldk-node verifies our signature");
    const { signature: theirs } = await net.lsp.call("POST", "/sign", { message: msg });
    const verified = await inPage(([m, s]) => window.nodes.gossip.verifyMessage(m, s), [msg, theirs]);
    assert.deepEqual(verified, { valid: true, pubkey: net.lsp.nodeId }, "the LSP, a channel counterparty, signed it");

    // Back to the merchant: 2 hops through the LSP, the LSP → merchant hop from P2P gossip.
    const graph = await waitGraph("gossip", "gossip node");
    assert.equal(graph.rgsSyncedAt ?? null, null, "no RGS configured: the graph came by gossip");
    const back = await payPeer("gossip", net.merchant, 10_000_000, "pay back");
    const left = await balances("gossip");
    const spent = 10_000_000 + (back.feePaidMsat ?? 0);
    // lightningMsat counts whole sats (what a close would pay out).
    assert.ok(Math.abs(left.lightningMsat - (JIT_MSAT - fee - spent)) < 1000, `balance after paying back: ${JSON.stringify(left)}, fee ${back.feePaidMsat}`);

    // Keysend with custom records (WebLN keysend's customRecords) to the LSP; a protocol type is refused.
    const ks = await inPage(
      (lsp) => window.nodes.gossip.keysend({ nodeId: lsp, amountMsat: 1_000_000, customRecords: { "696969": "6869", "7629169": "7b7d" } }),
      net.lsp.nodeId,
    );
    assert.equal(ks.status, "succeeded", JSON.stringify(ks));
    const refused = await inPage(
      (lsp) => window.nodes.gossip.keysend({ nodeId: lsp, amountMsat: 1_000, customRecords: { "100": "00" } }).then(() => null, (e) => e.code),
      net.lsp.nodeId,
    );
    assert.equal(refused, "INVALID_CONFIG");
    jitNode = { nodeId };
  });

  test("two_hop_payment_chromium", async () => {
    assert.ok(jitNode, "needs first_receive_via_jit_chromium's node (its channel to the LSP)");
    // Through the LSP to the merchant (2 hops), and on to carol behind the merchant (3 hops).
    const toMerchant = await payPeer("gossip", net.merchant, 5_000_000, "2 hops");
    const toCarol = await payPeer("gossip", net.carol, 3_000_000, "3 hops");
    assert.ok(toCarol.feePaidMsat >= toMerchant.feePaidMsat, `a longer route costs no less: ${toMerchant.feePaidMsat} vs ${toCarol.feePaidMsat}`);
    const payments = await inPage(() => window.nodes.gossip.listPayments());
    for (const sent of [toMerchant, toCarol]) {
      assert.ok(payments.some((p) => p.paymentHash === sent.paymentHash && p.direction === "outbound" && p.status === "succeeded"));
    }

    // A second node whose graph comes only from the LSP's RGS snapshot (gossip off with an rgsUrl):
    // a JIT receive gives it a channel, then it pays carol, 3 hops away.
    await createNode("rgs", nodeConfig(`rgs-${Date.now()}`, { rgsUrl: `${server.url}/rgs/` }));
    const graph = await waitGraph("rgs", "RGS node");
    assert.ok(graph.rgsSyncedAt, `the graph came from the snapshot: ${JSON.stringify(graph)}`);
    // 50,000 sat again: for 20,000 the LSP's JIT channel (10 % over the amount) could not carry
    // the forward (its reserve, commitment fee and anchors eat the margin) and it failed the HTLC.
    const { quote } = await jitReceive("rgs", JIT_MSAT, "rgs node's first receive");
    assert.equal(quote.viaJitChannel, true);
    await payPeer("rgs", net.carol, 2_000_000, "3 hops from RGS");
    await payPeer("rgs", net.merchant, 2_000_000, "2 hops from RGS");
  });
});
