// The WebLN provider (`node.webln(options)`, #17) in Chromium, against a real node of the
// packed package in a plain page (funded by the merchant through a JIT channel) and the
// merchant of the LSP test network:
//
//   webln_provider  NOT_ENABLED before enable(); allow refusing is PERMISSION_DENIED; getInfo
//                   and getBalance; makeInvoice's number, string and object forms (and out of
//                   range); sendPayment's preimage hashes to the invoice's hash; a payment over
//                   maxPaymentMsat and one over the period's budget are BUDGET_EXCEEDED with
//                   nothing sent; the period's spending survives a reload (localStorage);
//                   lookupInvoice before and after the merchant pays; signMessage checked by the
//                   merchant (ldk-node) and verifyMessage of the merchant's; keysend to the
//                   merchant with a custom record it receives; lnurl() to its Lightning address
//                   with the amount from `confirm`.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { after, before, describe, test } from "node:test";

import { until } from "./lib/browser.mjs";
import { attempt, fundedPage } from "./lib/funded.mjs";

const log = [];
let env;
let nodeId;

const sha256 = (hex) => crypto.createHash("sha256").update(Buffer.from(hex, "hex")).digest("hex");

/** The provider's options in the page: the budget and an `allow` that records what it is asked
 *  and refuses while `window.refuse` is set. */
const BUDGET = { maxPaymentMsat: 5_000_000, maxPeriodMsat: 8_000_000, periodSecs: 3600 };
const ORIGIN = "https://shop.example";

/** Makes `window.p`, the provider of `window.nodes.wallet` for ORIGIN. */
const makeProvider = () =>
  env.inPage(
    ([budget, origin]) => {
      window.asked = [];
      window.p = window.nodes.wallet.webln({
        origin,
        budget,
        allow: (r) => {
          window.asked.push({ method: r.method, origin: r.origin, amountMsat: r.amountMsat ?? null });
          return !window.refuse;
        },
        confirm: ({ payRequest }) => ({ amountMsat: payRequest.minSendableMsat * 1000, comment: "via webln" }),
      });
    },
    [BUDGET, ORIGIN],
  );

/** `window.p.<method>(...args)` as `{ ok, value }` or `{ ok: false, code, message }`. */
const call = (method, ...args) => attempt(env, ([m, a]) => window.p[m](...a), [method, args]);

/** The provider's ledger for ORIGIN in localStorage: msat counted, reservations in flight. */
const ledger = () =>
  env.inPage(
    ([nodeId, origin]) => {
      const { entries } = JSON.parse(localStorage.getItem(`wasm-ln:webln-budget:${nodeId}:${origin}`) ?? '{"entries":[]}');
      return { msat: entries.reduce((s, e) => s + e.msat, 0), reserved: entries.filter((e) => !e.paid).length };
    },
    [nodeId, ORIGIN],
  );

/** A merchant invoice of `amountMsat`: `{ invoice, payment_hash }`. */
const merchantInvoice = (amountMsat, description = "webln test") =>
  env.net.merchant.call("POST", "/invoice", { amount_msat: amountMsat, description });

const merchantPayments = () => env.net.merchant.call("GET", "/payments");

async function merchantReceived(hash) {
  return until(
    `the merchant receives ${hash.slice(0, 8)}…`,
    async () => (await merchantPayments()).find((p) => p.payment_hash === hash && p.direction === "inbound" && p.status === "succeeded"),
    { timeoutMs: 30_000, intervalMs: 200, log },
  );
}

/** Pays a fresh merchant invoice through the provider and checks the preimage. */
async function sendOk(amountMsat) {
  const { invoice, payment_hash: hash } = await merchantInvoice(amountMsat);
  const r = await call("sendPayment", invoice);
  assert.ok(r.ok, `sendPayment ${amountMsat}: ${JSON.stringify(r)}`);
  assert.equal(sha256(r.value.preimage), hash, "the preimage's SHA-256 is the payment hash");
  assert.equal((await merchantReceived(hash)).amount_msat, amountMsat);
  return r.value;
}

/** sendPayment of a fresh merchant invoice must be BUDGET_EXCEEDED, with nothing sent. */
async function sendRefused(amountMsat, re) {
  const { invoice, payment_hash: hash } = await merchantInvoice(amountMsat);
  const theirsBefore = await merchantPayments();
  const r = await call("sendPayment", invoice);
  assert.deepEqual([r.ok, r.code], [false, "BUDGET_EXCEEDED"], JSON.stringify(r));
  assert.match(r.message, re);
  assert.match(r.message, /nothing was sent/);
  const ours = await env.inPage(() => window.nodes.wallet.listPayments());
  assert.ok(!ours.some((p) => p.paymentHash === hash), "our node never tried the payment");
  assert.deepEqual(await merchantPayments(), theirsBefore, "the merchant's payment list is unchanged");
}

describe("the WebLN provider in Chromium", () => {
  before(async () => {
    env = await fundedPage("webln", log);
    nodeId = await env.fundedNode("wallet");
  });

  after(async () => {
    await env?.close();
  });

  test("webln_provider", async () => {
    await makeProvider();

    // Nothing before enable(), and enable() asks allow.
    assert.deepEqual(await call("isEnabled"), { ok: true, value: false });
    for (const [m, args] of [["getInfo", []], ["getBalance", []], ["makeInvoice", [1000]], ["sendPayment", ["lnbcrt1"]], ["signMessage", ["x"]]]) {
      const r = await call(m, ...args);
      assert.deepEqual([r.ok, r.code], [false, "NOT_ENABLED"], `${m}: ${JSON.stringify(r)}`);
    }
    await env.inPage(() => (window.refuse = true));
    const refused = await call("enable");
    assert.deepEqual([refused.ok, refused.code], [false, "PERMISSION_DENIED"], JSON.stringify(refused));
    assert.match(refused.message, /https:\/\/shop.example may not use this wallet/);
    assert.deepEqual(await call("isEnabled"), { ok: true, value: false });
    await env.inPage(() => (window.refuse = false));
    assert.ok((await call("enable")).ok);
    assert.deepEqual(await call("isEnabled"), { ok: true, value: true });
    assert.deepEqual(await env.inPage(() => window.asked.map((a) => `${a.method} ${a.origin}`)), [
      `enable ${ORIGIN}`,
      `enable ${ORIGIN}`,
    ]);

    // getInfo and getBalance.
    const info = (await call("getInfo")).value;
    assert.deepEqual(info.node, { alias: "wasm-ln", pubkey: nodeId });
    assert.deepEqual(info.supports, ["lightning"]);
    for (const m of ["getInfo", "getBalance", "makeInvoice", "sendPayment", "keysend", "lookupInvoice", "signMessage", "verifyMessage", "lnurl"]) {
      assert.ok(info.methods.includes(m), `methods has ${m}: ${info.methods}`);
    }
    assert.match(info.version, /^wasm-ln\/\d+\.\d+\.\d+/);
    const spendableSat = await env.inPage(async () =>
      Math.floor((await window.nodes.wallet.listChannels()).filter((c) => c.isUsable).reduce((s, c) => s + c.outboundCapacityMsat, 0) / 1000),
    );
    assert.ok(spendableSat > 50_000, `funded: ${spendableSat}`);
    assert.deepEqual((await call("getBalance")).value, { balance: spendableSat, currency: "sats" });

    // sendPayment, then the budget: 5,000 sat per payment, 8,000 sat (fees included) an hour.
    await sendOk(3_000_000);
    assert.deepEqual(await env.inPage(() => window.asked.at(-1)), { method: "sendPayment", origin: ORIGIN, amountMsat: 3_000_000 });
    await sendRefused(5_001_000, /over this site's limit of 5,000 sat per payment/);
    // 3,000 sat + its fee spent; 4,950 sat + up to 59.5 sat of fees would pass 8,000.
    await sendRefused(4_950_000, /would take this site's spending over 8,000 sat per 1 h/);
    // A payment the user declines is PERMISSION_DENIED, and its reservation is released.
    await env.inPage(() => (window.refuse = true));
    const declined = await call("sendPayment", (await merchantInvoice(4_000_000)).invoice);
    assert.deepEqual([declined.ok, declined.code], [false, "PERMISSION_DENIED"], JSON.stringify(declined));
    await env.inPage(() => (window.refuse = false));
    const spent = await ledger();
    assert.equal(spent.reserved, 0, `the declined payment's reservation was released: ${JSON.stringify(spent)}`);
    assert.ok(spent.msat >= 3_000_000 && spent.msat < 3_020_000, `3,000 sat and its fee: ${JSON.stringify(spent)}`);

    // A reload does not reset the period: the ledger is in localStorage.
    await env.page.reload();
    await env.page.waitForFunction(() => document.title === "ready");
    await env.inPage(async (config) => {
      window.nodes = { wallet: await window.wasmLn.LightningNode.open(config) };
    }, env.configs.wallet);
    await until(
      "the reopened node's channel is usable",
      async () => (await env.inPage(() => window.nodes.wallet.listChannels())).some((c) => c.isUsable),
      { timeoutMs: 30_000, intervalMs: 200, log },
    );
    assert.deepEqual(await ledger(), spent, "the ledger survived the reload");
    await makeProvider();
    assert.ok((await call("enable")).ok);
    await sendRefused(4_950_000, /would take this site's spending over 8,000 sat/);
    await sendOk(100_000);

    // makeInvoice: a number or string of sat, or the object form.
    const amountOf = async (args) => {
      const r = await call("makeInvoice", args);
      assert.ok(r.ok, `makeInvoice ${JSON.stringify(args)}: ${JSON.stringify(r)}`);
      return env.inPage((inv) => window.wasmLn.readInvoice(inv), r.value.paymentRequest);
    };
    assert.equal((await amountOf(1234)).amountMsat, 1_234_000);
    assert.equal((await amountOf("2345")).amountMsat, 2_345_000);
    const memo = await amountOf({ amount: 1000, defaultMemo: "a memo" });
    assert.deepEqual([memo.amountMsat, memo.description], [1_000_000, "a memo"]);
    assert.equal((await amountOf({ defaultAmount: 100, minimumAmount: 50, maximumAmount: 200 })).amountMsat, 100_000);
    assert.equal((await amountOf({})).amountMsat, null, "no amount: the payer chooses");
    for (const [args, code] of [[{ amount: 10, minimumAmount: 50 }, "AMOUNT_OUT_OF_RANGE"], [{ amount: 300, maximumAmount: 200 }, "AMOUNT_OUT_OF_RANGE"], ["12.5", "INVALID_CONFIG"]]) {
      const r = await call("makeInvoice", args);
      assert.deepEqual([r.ok, r.code], [false, code], `${JSON.stringify(args)}: ${JSON.stringify(r)}`);
    }

    // lookupInvoice, before and after the merchant pays.
    const { paymentRequest } = (await call("makeInvoice", 1500)).value;
    const hash = (await env.inPage((inv) => window.wasmLn.readInvoice(inv), paymentRequest)).paymentHash;
    assert.deepEqual((await call("lookupInvoice", { paymentRequest })).value, { paymentRequest, paid: false });
    await env.net.merchant.call("POST", "/pay", { invoice: paymentRequest });
    const looked = await until(
      "lookupInvoice says paid",
      async () => {
        const r = await call("lookupInvoice", { paymentHash: hash });
        return r.ok && r.value.paid ? r.value : null;
      },
      { timeoutMs: 30_000, intervalMs: 200, log },
    );
    assert.equal(looked.paymentRequest, paymentRequest);
    assert.equal(sha256(looked.preimage), hash);
    const unknown = await call("lookupInvoice", { paymentHash: "00".repeat(32) });
    assert.deepEqual([unknown.ok, unknown.code], [false, "INVALID_INVOICE"]);

    // signMessage: ldk-node (the merchant) verifies it; verifyMessage checks the merchant's.
    const message = "wasm-ln webln test ✓";
    const signed = await call("signMessage", message);
    assert.ok(signed.ok, JSON.stringify(signed));
    assert.equal(signed.value.message, message);
    assert.equal(await env.inPage(() => window.asked.at(-1).method), "signMessage");
    const theirCheck = await env.net.merchant.call("POST", "/verify", { message, signature: signed.value.signature, pubkey: nodeId });
    assert.equal(theirCheck.valid, true, "ldk-node verifies our signature");
    assert.ok((await call("verifyMessage", signed.value.signature, message)).ok, "our own signature");
    const { signature: theirs } = await env.net.merchant.call("POST", "/sign", { message });
    assert.ok((await call("verifyMessage", theirs, message)).ok, "the merchant's signature (a node of our graph)");
    const tampered = await call("verifyMessage", theirs, `${message}!`);
    assert.equal(tampered.ok, false, "over another message the signature recovers to an unknown key");

    // keysend to the merchant, with a custom record (WebLN's values are text; the onion's bytes
    // are its UTF-8).
    const boost = "hello ✓";
    const ks = await call("keysend", { destination: env.net.merchant.nodeId, amount: 1000, customRecords: { 696969: boost } });
    assert.ok(ks.ok, JSON.stringify(ks));
    const ksHash = sha256(ks.value.preimage);
    assert.equal((await merchantReceived(ksHash)).amount_msat, 1_000_000);
    let received;
    for (let i = 0; i < 200 && !received; i++) {
      const ev = await env.net.merchant.call("GET", "/events/next?timeout_ms=1000").catch(() => null);
      if (ev?.type === "PaymentReceived" && ev.payment_hash === ksHash) received = ev;
    }
    assert.ok(received, "the merchant's PaymentReceived event for the keysend");
    assert.deepEqual(received.custom_records, [{ type: 696969, value: Buffer.from(boost).toString("hex") }]);
    const badType = await call("keysend", { destination: env.net.merchant.nodeId, amount: 1, customRecords: { 100: "x" } });
    assert.deepEqual([badType.ok, badType.code], [false, "INVALID_CONFIG"], JSON.stringify(badType));

    // lnurl(): the merchant's Lightning address, the amount from `confirm` (1 sat × 1000).
    const ln = await call("lnurl", env.net.merchant.lightningAddress("shop"));
    assert.ok(ln.ok, JSON.stringify(ln));
    assert.equal(ln.value.status, "OK");
    assert.deepEqual(ln.value.successAction, { tag: "message", message: "Thanks! shop got 1000 sat" });
    const record = (await env.net.merchant.call("GET", "/lnurlp/shop/payments")).find((r) => r.payment_hash === sha256(ln.value.preimage));
    assert.equal(record?.comment, "via webln");

    // Spent now: 3,000 + 100 + 1,000 + 1,000 sat and fees; a 4,000 sat payment would pass 8,000.
    await sendRefused(2_900_000, /would take this site's spending over 8,000 sat/);

    // on/off: accepted, never fired for one node.
    await env.inPage(() => {
      const f = () => {};
      window.p.on("accountChanged", f);
      window.p.off("accountChanged", f);
    });
  });
});
