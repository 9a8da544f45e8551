// The demo wallet page (www/dist, built against the packed wasm-ln tarball) in Debian's
// Chromium, one real flow against a real regtest network and ldk-node peer, once with the node
// in the page and once in a Worker (`?worker=1`), each in its own browser profile (so its own
// IndexedDB wallet). The profile is persistent so the wallet survives reloads, like a user's.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import { launchPersistent, pageState, recordConsole, screenshot, until } from "./lib/browser.mjs";
import {
  acknowledgeWords,
  attr,
  buildDemo,
  channels,
  createInvoice,
  load,
  nodeCall,
  onchainSat,
  openWithRetries,
  payments,
  reveal,
  sendFromPage,
  startWallet,
  text,
} from "./lib/demo.mjs";
import { startNetwork } from "./lib/network.mjs";
import { demoConfig, serveDemo } from "./lib/serve.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const DIST = path.join(ROOT, "www/dist");
const CHANNEL_SAT = 200_000;
const PASSPHRASE = "correct horse battery staple";

let net;
let server;

describe("demo wallet page", () => {
  before(async () => {
    buildDemo(ROOT);
    net = await startNetwork({ targetDir: process.env.CARGO_TARGET_DIR });
    server = await serveDemo({
      root: DIST,
      config: demoConfig(net),
      peerControlUrl: net.peer.controlUrl,
    });
  });

  after(async () => {
    await server?.close();
    await net?.stop();
  });

  for (const mode of ["page", "worker"]) {
    test(`create, fund, open, pay, receive, reload, lock, close (${mode})`, async () => {
      const profile = fs.mkdtempSync(path.join(os.tmpdir(), `wasm-ln-e2e-${mode}-`));
      const ctx = await launchPersistent(profile);
      try {
        await walletFlow(ctx, mode);
      } finally {
        await ctx.close().catch(() => {});
        fs.rmSync(profile, { recursive: true, force: true });
      }
    });
  }
});

async function walletFlow(ctx, mode) {
  const url = `${server.url}/${mode === "worker" ? "?worker=1" : ""}`;
  const log = [];
  const shot = (page, step) => screenshot(page, `${mode}-${step}`);
  const step = (s) => console.log(`# ${mode}: ${s} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  const t0 = Date.now();

  let page = ctx.pages()[0] ?? (await ctx.newPage());
  recordConsole(page, log, "tab1");
  await load(page, url, { log });

  // Create: a new wallet sealed with the passphrase; its words are shown once.
  await startWallet(page, { passphrase: PASSPHRASE, action: "create", log });
  const words = await acknowledgeWords(page, { log });
  assert.ok([12, 24].includes(words.length), `mnemonic has ${words.length} words`);
  const nodeId = await until("#node-id", async () => /^0[23][0-9a-f]{64}$/.test(await text(page, "#node-id")) && text(page, "#node-id"), { page, log });
  await shot(page, "01-created");
  step(`created ${nodeId}`);

  // Fund: the demo's faucet button (1,000,000 sat, confirmed).
  await page.click("#fund");
  const funded = await until("#onchain-balance to show the faucet's coins", async () => {
    const sat = await onchainSat(page);
    return sat >= 900_000 ? sat : null;
  }, { page, log, errorBefore: "", timeoutMs: 120_000 });
  await shot(page, "02-funded");
  step(`funded: ${funded} sat`);

  // Open 200,000 sat to the peer, mine until both sides see it ready.
  await reveal(page, "#peer-uri");
  await page.fill("#peer-uri", net.peer.uri);
  await page.fill("#channel-amount", String(CHANNEL_SAT));
  await page.click("#open-channel");
  // The id is temporary until the funding transaction exists: take it once that is broadcast.
  const channel = await until("the funding transaction to be broadcast", async () => {
    const c = (await nodeCall(page, "listChannels")).find((x) => x.counterpartyNodeId === net.peer.nodeId);
    if (!c?.fundingTxo) return null;
    const res = await fetch(`${net.esploraUrl}/tx/${c.fundingTxo.split(":")[0]}`);
    return res.ok ? { id: c.channelId } : null;
  }, { page, log, errorBefore: "", timeoutMs: 60_000 });
  await until("the channel's row in #channels", async () => (await channels(page)).some((r) => r.id === channel.id), { page, log });
  await page.click("#mine-6"); // mines, then syncs the node (its background sync is every 30 s)
  let polls = 0;
  await until("the channel to be ready and usable", async () => {
    const c = (await channels(page)).find((r) => r.id === channel.id);
    if (c?.ready && c?.usable) return true;
    if (++polls % 5 === 0) await nodeCall(page, "sync").catch(() => {}); // the peer's channel_ready may come later
    return false;
  }, { page, log, errorBefore: "", timeoutMs: 180_000, intervalMs: 1000 });
  const [details] = await nodeCall(page, "listChannels");
  assert.equal(details.capacitySat, CHANNEL_SAT);
  await shot(page, "03-channel-ready");
  step(`channel ${channel.id} ready`);

  // Pay the peer: an invoice from its API, pasted and paid in the page.
  const paid1 = await payPeer(page, log, { viaButton: false });
  await shot(page, "04-paid-peer");
  step(`paid the peer ${paid1.paymentHash}`);

  // Receive from the peer: our invoice, paid by the peer (#peer-pays).
  // Half of what the peer can send us now (it only has what we paid it, less its reserve).
  const inbound = (await nodeCall(page, "listChannels")).find((c) => c.channelId === channel.id).inboundCapacityMsat;
  const receiveSat = Math.floor(inbound / 2000);
  assert.ok(receiveSat > 0, `inbound capacity ${inbound} msat`);
  const { quote, invoice } = await createInvoice(page, { amountSat: receiveSat, description: `e2e ${mode}`, log });
  assert.equal(quote.feeMsat, 0, `a channel with room costs nothing to receive on: ${quote.text}`);
  await page.click("#peer-pays");
  const received = await until("the inbound payment to succeed", async () => {
    const p = (await nodeCall(page, "listPayments")).find((x) => x.invoice === invoice);
    if (p?.status !== "succeeded") return null;
    const row = (await payments(page)).find((r) => r.id === p.id);
    return row?.status === "succeeded" && row?.direction === "inbound" ? p : null;
  }, { page, log, errorBefore: "", timeoutMs: 120_000 });
  assert.equal(received.amountMsat, receiveSat * 1000);
  await until('#invoice-status to say "Received"', async () => (await attr(page, "#invoice-status", "data-state")) === "received", { page, log });
  await page.click("#receive-close");
  await shot(page, "05-received");
  step("received from the peer");

  const historyBefore = (await payments(page)).map((r) => r.id).sort();
  assert.ok(historyBefore.length >= 2, `payment history: ${historyBefore}`);

  // Reload: the node comes back from IndexedDB with the passphrase alone.
  await page.reload();
  await until("the reloaded page's config", async () => (await text(page, "#network")) !== "", { page, log, allowError: true });
  await openWithRetries(page, { passphrase: PASSPHRASE, log });
  await until("#node-id to show the same node", async () => (await text(page, "#node-id")) === nodeId, { page, log });
  await until("the same channel, usable again", async () => {
    const c = (await channels(page)).find((r) => r.id === channel.id);
    return c?.usable;
  }, { page, log, timeoutMs: 120_000 });
  await until("the same payment history", async () => {
    const ids = new Set((await payments(page)).map((r) => r.id));
    return historyBefore.every((id) => ids.has(id));
  }, { page, log, timeoutMs: 30_000 });
  await shot(page, "06-reopened");
  step("reopened from IndexedDB");

  const paid2 = await payPeer(page, log, { viaButton: true });
  await shot(page, "07-paid-again");
  step(`paid again ${paid2.paymentHash}`);

  // A second tab on the same origin cannot run the same wallet while the first holds it.
  const page2 = await ctx.newPage();
  recordConsole(page2, log, "tab2");
  await load(page2, url, { log });
  await page2.fill("#passphrase", PASSPHRASE);
  await page2.click("#open");
  await until('#error[data-code="NODE_LOCKED"] in the second tab', async () => (await pageState(page2)).code === "NODE_LOCKED", {
    page: page2,
    log,
    allowError: true,
    timeoutMs: 60_000,
  });
  assert.notEqual((await pageState(page2)).state, "running");
  await shot(page2, "08-locked");
  step("second tab: NODE_LOCKED");

  // The first tab goes, and with it its Web Lock: the second tab can open the wallet now.
  await page.close();
  page = page2;
  const attempts = await openWithRetries(page, { passphrase: PASSPHRASE, log });
  await until("the channel usable in the second tab", async () => {
    const c = (await channels(page)).find((r) => r.id === channel.id);
    return c?.usable;
  }, { page, log, timeoutMs: 120_000 });
  await shot(page, "09-second-tab");
  step(`second tab opened the wallet (attempt ${attempts})`);

  // Cooperative close: the on-chain balance grows by about the channel's local balance.
  const before = await nodeCall(page, "balances");
  const localSat = Math.floor(before.lightningMsat / 1000);
  const onchainBefore = before.onchain.spendableSat;
  assert.ok(localSat > 0, `local balance ${before.lightningMsat} msat`);
  // A closing transaction is ~200 vB; the commitment fee and anchors come back to the funder.
  // Allow 1000 vB at the highest rate the fee table offers, plus two anchors.
  const fees = await (await fetch(`${net.esploraUrl}/fee-estimates`)).json();
  const maxRate = Math.max(1, ...Object.values(fees).map(Number));
  const tolerance = Math.ceil(maxRate * 1000) + 2 * 330;
  await page.click(`#channels [data-channel-id="${channel.id}"] .close-channel`);
  await mempoolNonEmpty("the closing transaction");
  await page.click("#mine"); // one block, then the node syncs
  polls = 0;
  const grown = await until("the on-chain balance to include the closed channel", async () => {
    const sat = await onchainSat(page);
    if (sat - onchainBefore >= localSat - tolerance) return sat - onchainBefore;
    if (++polls % 5 === 0) await nodeCall(page, "sync").catch(() => {});
    return null;
  }, { page, log, errorBefore: "", timeoutMs: 120_000, intervalMs: 1000 });
  assert.ok(
    Math.abs(grown - localSat) <= tolerance,
    `on-chain grew by ${grown} sat; local balance was ${localSat} sat (tolerance ${tolerance})`,
  );
  await shot(page, "10-closed");
  step(`closed: on-chain +${grown} sat for a local balance of ${localSat} sat`);
}

/**
 * Pays a fresh peer invoice from the page (#peer-invoice fills #send-input, or we paste one
 * from the peer's API) through the send dialog, then checks our record and the peer's.
 */
async function payPeer(page, log, { viaButton }) {
  let invoice;
  if (viaButton) {
    await page.fill("#send-input", "");
    await page.click("#peer-invoice");
    invoice = await until("#send-input to hold the peer's invoice", async () => {
      const t = await text(page, "#send-input");
      return t.startsWith("lnbcrt") ? t : null;
    }, { page, log, errorBefore: "" });
  } else {
    ({ invoice } = await net.peerCall("POST", "/invoice", { amount_msat: 10_000_000, description: "e2e pay" }));
  }
  await sendFromPage(page, invoice, { log });
  const ours = (await nodeCall(page, "listPayments")).find((p) => p.invoice === invoice);
  assert.equal(ours?.status, "succeeded", `our record: ${JSON.stringify(ours)}`);
  assert.equal(ours.direction, "outbound");
  await until("the peer to record the payment as inbound, succeeded", async () => {
    const theirs = await net.peerCall("GET", "/payments");
    return theirs.some((p) => p.payment_hash === ours.paymentHash && p.direction === "inbound" && p.status === "succeeded");
  }, { page, log, timeoutMs: 30_000 });
  return ours;
}

/** Waits until Esplora's mempool holds a transaction: mining before it arrives confirms nothing. */
async function mempoolNonEmpty(what) {
  await until(`${what} in the mempool`, async () => {
    const ids = await (await fetch(`${net.esploraUrl}/mempool/txids`)).json();
    return ids.length > 0;
  }, { timeoutMs: 60_000 });
}
