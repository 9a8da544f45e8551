// demo_wallet_flow: the demo wallet (www/dist) as a person uses it, on the LSP network
// (startNetwork({ topology: "lsp" })): create a wallet with a passphrase, receive 60,000 sat
// through a JIT channel (the fee shown before the invoice exists is what the LSP withholds),
// pay the merchant's Lightning address with a comment (its success action shown, the comment
// reaches the merchant), an unknown outcome (PAYMENT_PENDING after the payment left) offers no
// second try, reload and unlock, the history right; a bad send input is a sentence.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import { launchPersistent, recordConsole, screenshot, until } from "./lib/browser.mjs";
import {
  acknowledgeWords,
  attr,
  buildDemo,
  createInvoice,
  load,
  nodeCall,
  openWithRetries,
  sendFromPage,
  startWallet,
  text,
} from "./lib/demo.mjs";
import { lsps2FeeMsat } from "./lib/network.mjs";
import { startDemo } from "./lib/serve.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const PASSPHRASE = "demo wallet e2e passphrase";
const RECEIVE_SAT = 60_000;
const SEND_SAT = 21_000;
const COMMENT = "thanks for the beans";

let net;
let server;
let demo;

describe("demo wallet", () => {
  before(async () => {
    buildDemo(ROOT);
    demo = await startDemo({ root: path.join(ROOT, "www/dist") });
    ({ net, server } = demo);
  });

  after(async () => {
    await demo?.stop();
  });

  test("demo_wallet_flow", async () => {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), "wasm-ln-e2e-demo-wallet-"));
    const ctx = await launchPersistent(profile);
    try {
      await flow(ctx);
    } finally {
      await ctx.close().catch(() => {});
      fs.rmSync(profile, { recursive: true, force: true });
    }
  });
});

async function flow(ctx) {
  const log = [];
  const t0 = Date.now();
  const step = (s) => console.log(`# demo_wallet_flow: ${s} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  const shot = (page, name) => screenshot(page, `demo-wallet-${name}`);
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  await page.context().grantPermissions(["clipboard-read", "clipboard-write"]);
  recordConsole(page, log, "page");
  await load(page, `${server.url}/`, { log });

  // Create: the words once, "I wrote them down", then the wallet.
  await startWallet(page, { passphrase: PASSPHRASE, action: "create", log });
  const words = await acknowledgeWords(page, { log });
  assert.ok([12, 24].includes(words.length), `${words.length} words`);
  assert.equal(await text(page, "#mnemonic"), "", "the words are gone once acknowledged");
  const nodeId = await until("#node-id", async () => {
    const t = await text(page, "#node-id");
    return /^0[23][0-9a-f]{64}$/.test(t) && t;
  }, { page, log });
  step(`created ${nodeId}`);

  // Receive 60,000 sat: the quote first (a JIT channel: the LSP's fee), then the invoice.
  const { quote, invoice } = await createInvoice(page, { amountSat: RECEIVE_SAT, description: "coffee beans", log });
  const expectedFeeMsat = lsps2FeeMsat(RECEIVE_SAT * 1000);
  assert.equal(quote.viaJit, true, `quote: ${quote.text}`);
  assert.equal(quote.feeMsat, expectedFeeMsat, `quote: ${quote.text}`);
  assert.match(quote.text, /first payment opens a channel/i);
  assert.match(quote.text, new RegExp(`keeps ${(expectedFeeMsat / 1000).toLocaleString("en-US")} sat`));
  assert.ok(await page.isVisible("#invoice-qr svg[role=img]"), "the invoice's QR code");
  await page.click("#invoice-copy");
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), invoice, "the copy button copies the invoice");
  await shot(page, "01-invoice");
  step(`invoice shown, quoted fee ${quote.feeMsat} msat`);

  // The merchant pays the invoice it read from the page.
  await net.merchant.call("POST", "/pay", { invoice });
  const received = await until('#invoice-status to say "Received"', async () => {
    if ((await attr(page, "#invoice-status", "data-state")) !== "received") return null;
    return {
      amountMsat: Number(await attr(page, "#invoice-status", "data-amount-msat")),
      feeMsat: Number(await attr(page, "#invoice-status", "data-fee-msat")),
      text: await text(page, "#invoice-status"),
    };
  }, { page, log, timeoutMs: 120_000 });
  // What the LSP withheld is the fee shown before the invoice existed.
  assert.equal(received.feeMsat, quote.feeMsat, received.text);
  assert.equal(received.amountMsat, RECEIVE_SAT * 1000 - quote.feeMsat, received.text);
  assert.match(received.text, /^Received 59,000 sat/);
  const ours = (await nodeCall(page, "listPayments")).find((p) => p.invoice === invoice);
  assert.equal(ours.feeMsat, quote.feeMsat, "the node's record of the LSP's fee");
  await page.click("#receive-close");
  const lightningMsat = await until("#lightning-balance to show the payment", async () => {
    const msat = Number(await attr(page, "#lightning-balance", "data-msat"));
    return msat > 0 ? msat : null;
  }, { page, log, timeoutMs: 60_000 });
  assert.equal(lightningMsat, received.amountMsat, "the Lightning balance is what arrived");
  assert.equal(await text(page, "#lightning-balance"), "59,000 sat");
  await shot(page, "02-received");
  step(`received ${received.amountMsat} msat, the LSP kept ${received.feeMsat} msat`);

  // Send to the merchant's Lightning address, with a comment: the success action is shown,
  // the merchant's LNURL server got the comment.
  const address = net.merchant.lightningAddress("shop");
  await page.fill("#send-input", `lightning:${address}`);
  await page.click("#send-next");
  await until("the Lightning address's review", () => page.isVisible("#send-comment"), { page, log, errorBefore: "" });
  assert.equal(await attr(page, "#send-summary", "data-kind"), "lnurl");
  const bounds = await text(page, "#send-review-bounds");
  assert.match(bounds, /1 sat to 1,000,000 sat/, bounds);
  await page.click("#send-cancel");
  const sent = await sendFromPage(page, address, { amountSat: SEND_SAT, comment: COMMENT, log });
  assert.match(sent.successAction, new RegExp(`Thanks! shop got ${SEND_SAT} sat`), `success action: ${sent.successAction}`);
  const theirs = await net.merchant.call("GET", "/lnurlp/shop/payments");
  const record = theirs.find((r) => r.payment_hash === sent.paymentHash);
  assert.ok(record, `the merchant's LNURL payments: ${JSON.stringify(theirs)}`);
  assert.equal(record.comment, COMMENT);
  assert.equal(record.amount_msat, SEND_SAT * 1000);
  await until("the merchant to have been paid", async () => (await net.merchant.call("GET", "/lnurlp/shop/payments")).find((r) => r.payment_hash === sent.paymentHash)?.paid, { timeoutMs: 30_000 });
  await shot(page, "03-sent");
  step(`paid ${address}: "${sent.successAction}"`);

  // An unknown outcome: the node says PAYMENT_PENDING (it stopped mid-payment) after the money
  // left. The dialog must not say "Not paid" nor offer the review again: a second try would
  // fetch a new invoice from the service and pay twice. The history tells the outcome.
  await page.evaluate(() => {
    const lnurl = window.demo.node.lnurl;
    const real = lnurl.pay;
    lnurl.pay = async (args) => {
      lnurl.pay = real;
      await real(args);
      const LnError = (await window.demo.node.bolt11.send({ invoice: "nonsense" }).catch((e) => e)).constructor;
      throw new LnError("PAYMENT_PENDING", "the node stopped while the payment was in flight");
    };
  });
  await page.fill("#send-input", address);
  await page.click("#send-next");
  await until("the send review dialog", () => page.isVisible("#send-confirm"), { page, log, errorBefore: "" });
  await page.fill("#send-amount", "1000");
  await page.click("#send-confirm");
  const unknown = await until("#send-result to say pending", async () => {
    const status = (await attr(page, "#send-result", "data-status")) ?? "";
    return status !== "pending" && status !== "" && { status, text: await text(page, "#send-result") };
  }, { page, log, allowError: true });
  assert.equal(unknown.status, "unknown", unknown.text);
  assert.match(unknown.text, /do not pay again/);
  assert.equal(await page.isVisible("#send-confirm"), false, "no second try from the dialog");
  await page.click("#send-close");
  step(`unknown outcome: "${unknown.text}"`);

  // A bad input is a sentence at the field, not a code.
  await page.fill("#send-input", "this is not a payment request");
  await page.click("#send-next");
  const bad = await until("#send-input-error", async () => (await page.isVisible("#send-input-error")) && text(page, "#send-input-error"), { page, log, errorBefore: "" });
  assert.equal(await attr(page, "#send-input-error", "data-code"), "INVALID_LNURL");
  assert.match(bad, /^That is not an invoice, a Lightning address or an LNURL/, bad);
  assert.doesNotMatch(bad, /[A-Z]{3,}_[A-Z]+|Error|at \w+ \(/, "no code, no stack");
  assert.equal(await attr(page, "#send-input", "aria-invalid"), "true");
  assert.equal(await page.isVisible("#send-dialog"), false, "nothing to confirm");
  step(`bad input: "${bad}"`);

  // Reload: unlock with the passphrase; the history has both payments with their amounts.
  await page.reload();
  await until("the reloaded page's config", async () => (await text(page, "#network")) !== "", { page, log, allowError: true });
  assert.match(await text(page, "#onboarding-hint"), /holds a wallet/);
  await openWithRetries(page, { passphrase: PASSPHRASE, log });
  await until("#node-id to show the same node", async () => (await text(page, "#node-id")) === nodeId, { page, log });
  const rows = await until("both payments in the history", async () => {
    const r = await page.$$eval("#payments tr[data-payment-id]", (trs) =>
      trs.map((tr) => ({
        direction: tr.dataset.direction,
        status: tr.dataset.status,
        amountMsat: Number(tr.dataset.amountMsat),
        feeMsat: tr.dataset.feeMsat === "" ? null : Number(tr.dataset.feeMsat),
        cells: [...tr.cells].map((td) => td.textContent.trim()),
      })),
    );
    return r.filter((x) => x.status === "succeeded").length === 3 ? r : null;
  }, { page, log, timeoutMs: 60_000 });
  const inbound = rows.find((r) => r.direction === "inbound");
  const outbound = rows.find((r) => r.direction === "outbound" && r.amountMsat === SEND_SAT * 1000);
  // The payment whose outcome the dialog did not know: paid once, newest.
  const unknownRow = rows.find((r) => r.direction === "outbound" && r.amountMsat === 1_000_000);
  assert.deepEqual([rows.indexOf(unknownRow), unknownRow.status], [0, "succeeded"]);
  assert.equal(rows.filter((r) => r.amountMsat === 1_000_000).length, 1, "paid once");
  assert.equal(inbound.amountMsat, RECEIVE_SAT * 1000 - quote.feeMsat);
  assert.equal(inbound.feeMsat, quote.feeMsat);
  assert.deepEqual(inbound.cells.slice(1, 4), ["Received", "coffee beans", "+59,000 sat"]);
  assert.equal(outbound.amountMsat, SEND_SAT * 1000);
  assert.deepEqual(outbound.cells.slice(1, 4), ["Sent", `To ${address}: “${COMMENT}”`, "−21,000 sat"]);
  assert.equal(rows.indexOf(outbound), 1, "newest first");
  await shot(page, "04-history-after-reload");
  step("reloaded: the history has every payment");
}
