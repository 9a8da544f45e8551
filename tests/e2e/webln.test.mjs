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
//
// Then each test a provider of its own origin (its own ledger) on the same node, storage faults
// injected through the `storage` option (a Map that throws or holds garbage, localStorage behind
// promises), payments kept in flight by the merchant's hold invoices:
//
//   webln_budget_options              a misspelt budget key is INVALID_CONFIG; maxPaymentMsat alone
//   webln_ledger_write_fails          writes throwing: the provider's memory still counts
//   webln_ledger_read_fails           reads throwing, garbage, wiped: memory counts; a provider
//                                     that never read its ledger refuses (STORAGE_UNAVAILABLE)
//   webln_ledger_malformed_entries    a negative or infinite entry makes no room
//   webln_reservation_in_flight       held past the period: still counted; settled: counted from
//                                     when it was reserved, not when it settled
//   webln_reservation_left_pending    the node stopped mid-payment (PAYMENT_PENDING), the page
//                                     reloaded: counted while the node says pending, not after
//   webln_ledger_async_storage        two payments at once: one passes; a reload counts it; a
//                                     slow write does not land over a later reservation
//   webln_counted_as_paid             the ledger counts the amount + fee the node reports
//   webln_paid_already_other_origin   an invoice another origin paid: refused, not charged
//   webln_keysend_fee_limit           below the LSP's fee: FEE_TOO_HIGH, nothing charged; at it: paid
//   webln_make_invoice_permission_and_fee  allow asked, memo ≤ 639 bytes, no JIT fee unless
//                                     makeInvoiceMaxFeeMsat allows it
//   webln_lookup_invoice_per_origin   only the origin's own invoices, after a reload too
//   webln_sign_message_opt_in         allow or allowSignMessage; INVALID_SIGNATURE
//   webln_enable_asks_once            three enable() at once ask once
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { after, before, describe, test } from "node:test";

import { until } from "./lib/browser.mjs";
import { attempt, fundedPage } from "./lib/funded.mjs";
import { lsps2FeeMsat } from "./lib/network.mjs";

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

/** Pays a fresh merchant invoice through the provider (`window.provs[name]`, else `window.p`)
 *  and checks the preimage. */
async function sendOk(amountMsat, name) {
  const { invoice, payment_hash: hash } = await merchantInvoice(amountMsat);
  const r = name ? await pcall(name, "sendPayment", invoice) : await call("sendPayment", invoice);
  assert.ok(r.ok, `sendPayment ${amountMsat}: ${JSON.stringify(r)}`);
  assert.equal(sha256(r.value.preimage), hash, "the preimage's SHA-256 is the payment hash");
  assert.equal((await merchantReceived(hash)).amount_msat, amountMsat);
  return r.value;
}

/** sendPayment of a fresh merchant invoice (through `window.provs[name]`, else `window.p`) must
 *  fail with `code`, with nothing sent. */
async function sendRefused(amountMsat, re, name, code = "BUDGET_EXCEEDED") {
  const { invoice, payment_hash: hash } = await merchantInvoice(amountMsat);
  const theirsBefore = await merchantPayments();
  const r = name ? await pcall(name, "sendPayment", invoice) : await call("sendPayment", invoice);
  assert.deepEqual([r.ok, r.code], [false, code], JSON.stringify(r));
  assert.match(r.message, re);
  assert.match(r.message, /nothing was sent/);
  const ours = await env.inPage(() => window.nodes.wallet.listPayments());
  assert.ok(!ours.some((p) => p.paymentHash === hash), "our node never tried the payment");
  assert.deepEqual(await merchantPayments(), theirsBefore, "the merchant's payment list is unchanged");
}

// ---- Providers of their own origins (their own ledgers), for the budget's and the methods'
// own checks: storage that fails or lies is fault injection on the `storage` option; the node,
// the payments and the merchant are real.

/** Installs the page's helpers (again after a reload): `window.provs` (providers by name),
 *  `window.storages` (ledger storages by name), `window.flights` (payments in flight, settled
 *  to `{ ok, value | code, message }`), `window.asks` (what each `allow` was asked). */
const installHelpers = () =>
  env.inPage(() => {
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    window.provs = {};
    window.storages = {};
    window.flights = {};
    window.asks = {};
    window.answers = {};
    /** A ledger storage in a Map: `failGet` / `failSet` make it throw, `async` answers in
     *  promises a few ms late. */
    window.memoryStorage = ({ async = false } = {}) => {
      const s = {
        map: new Map(),
        failGet: false,
        failSet: false,
        getItem(k) {
          if (s.failGet) throw new Error("SecurityError: storage refused");
          const v = s.map.get(k) ?? null;
          return async ? sleep(5).then(() => v) : v;
        },
        setItem(k, v) {
          if (s.failSet) throw new Error("QuotaExceededError");
          if (!async) return void s.map.set(k, v);
          return sleep(5).then(() => void s.map.set(k, v));
        },
      };
      return s;
    };
    /** localStorage behind promises answering a few ms late, as an extension's chrome.storage;
     *  the next write takes `slowNext` ms when set. */
    window.asyncLocalStorage = () => {
      const s = {
        slowNext: 0,
        getItem: async (k) => (await sleep(5), localStorage.getItem(k)),
        async setItem(k, v) {
          const ms = s.slowNext || 5;
          s.slowNext = 0;
          await sleep(ms);
          localStorage.setItem(k, v);
        },
      };
      return s;
    };
    window.settle = (p) => p.then((value) => ({ ok: true, value }), (e) => ({ ok: false, code: e?.code ?? null, message: String(e?.message ?? e) }));
  });

const originOf = (name) => `https://${name}.example`;

/** `window.provs[name]`, enabled: a provider of the page's node for `originOf(name)` with
 *  BUDGET. `o.storage` names a `window.storages` entry (`null`: memory only; absent:
 *  localStorage); `o.feeMsat` is a fixed routing-fee limit; `o.ask: true` installs an `allow`
 *  that records each request in `window.asks[name]` and answers `window.answers[name] ?? true`;
 *  other keys are options as they are. */
async function provider(name, o = {}) {
  const r = await attempt(
    env,
    async ([name, origin, o]) => {
      const { storage, feeMsat, ask, ...rest } = o;
      const options = { origin, ...rest };
      if (storage !== undefined) options.storage = storage === null ? null : window.storages[storage];
      if (feeMsat !== undefined) options.maxFeeMsat = () => feeMsat;
      if (ask) {
        window.asks[name] = [];
        options.allow = (req) => (window.asks[name].push(req), window.answers[name] ?? true);
      }
      const p = window.nodes.wallet.webln(options);
      await p.enable();
      window.provs[name] = p;
    },
    [name, originOf(name), { budget: BUDGET, ...o }],
  );
  assert.ok(r.ok, `provider ${name}: ${JSON.stringify(r)}`);
}

/** `window.provs[name].<method>(...args)` as `{ ok, value }` or `{ ok: false, code, message }`. */
const pcall = (name, method, ...args) => attempt(env, ([n, m, a]) => window.provs[n][m](...a), [name, method, args]);

/** Expects `{ ok: false, code }` (and a message matching `re`). */
function failed(r, code, re) {
  assert.deepEqual([r.ok, r.code], [false, code], JSON.stringify(r));
  if (re) assert.match(r.message, re);
}

/** The ledger `name`'s provider keeps in `window.storages[storage]` (or localStorage). */
const ledgerOf = (name, storage) =>
  env.inPage(
    ([key, storage]) => {
      const raw = storage ? (window.storages[storage].map.get(key) ?? null) : localStorage.getItem(key);
      const { entries } = JSON.parse(raw ?? '{"entries":[]}');
      return { entries, msat: entries.reduce((s, e) => s + e.msat, 0), reserved: entries.filter((e) => !e.paid).length };
    },
    [`wasm-ln:webln-budget:${nodeId}:${originOf(name)}`, storage],
  );

/** Our node's payments. */
const ourPayments = () => env.inPage(() => window.nodes.wallet.listPayments());
const outboundCount = async () => (await ourPayments()).filter((p) => p.direction === "outbound").length;

/** A hold invoice of the merchant: it keeps the payment in flight until `/claim`. */
async function holdInvoice(amountMsat) {
  const preimage = crypto.randomBytes(32).toString("hex");
  const hash = sha256(preimage);
  const { invoice } = await env.net.merchant.call("POST", "/invoice", { amount_msat: amountMsat, description: "held", payment_hash: hash });
  return { invoice, hash, preimage };
}

/** Waits for the merchant's PaymentClaimable of `hash` (the HTLC arrived and is held). */
async function merchantHolds(hash) {
  for (let i = 0; i < 60; i++) {
    const ev = await env.net.merchant.call("GET", "/events/next?timeout_ms=1000").catch(() => null);
    if (ev?.type === "PaymentClaimable" && ev.payment_hash === hash) return ev;
  }
  assert.fail(`the merchant never held ${hash}`);
}

const claim = (held, ev) =>
  env.net.merchant.call("POST", "/claim", { payment_hash: held.hash, preimage: held.preimage, amount_msat: ev.claimable_amount_msat });

/** Starts `window.provs[name].sendPayment(invoice)` in the page as `window.flights[key]`. */
const startPayment = (name, key, invoice) =>
  env.inPage(([n, k, inv]) => void (window.flights[k] = window.settle(window.provs[n].sendPayment(inv))), [name, key, invoice]);
const flight = (key) => env.inPage((k) => window.flights[k], key);

/** The LSP's fee to forward `amountMsat` to the merchant, from its channel update. */
async function lspFeeMsat(amountMsat) {
  const [lsp, merchant] = [env.net.lsp.nodeId, env.net.merchant.nodeId];
  const { channels } = await env.net.lsp.call("GET", "/graph");
  const ch = channels.find((c) => [c.node_one, c.node_two].sort().join() === [lsp, merchant].sort().join());
  const u = ch.node_one === lsp ? ch.one_to_two : ch.two_to_one;
  return u.fee_base_msat + Math.floor((amountMsat * u.fee_proportional_millionths) / 1_000_000);
}

/** Reloads the page and opens the node again (its channel usable); the helpers again. */
async function reopen() {
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
  await installHelpers();
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe("the WebLN provider in Chromium", () => {
  before(async () => {
    env = await fundedPage("webln", log);
    // Enough for every test's payments (about 65,000 sat in all); not more than the 100,000 sat
    // (10 % of its channel to the LSP) the merchant may have in flight.
    nodeId = await env.fundedNode("wallet", 90_000_000);
    await installHelpers();
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
    await reopen();
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

  // ---- The budget's ledger. BUDGET: 5,000 sat a payment, 8,000 sat an hour. ----

  test("webln_budget_options", async () => {
    // A misspelt limit is refused, not silently replaced by the default.
    const bad = await attempt(env, () => void window.nodes.wallet.webln({ budget: { msatPerPayment: 1, msatPerDay: 10 }, storage: null }));
    failed(bad, "INVALID_CONFIG", /budget\.msatPerPayment is not a budget option/);
    await provider("options", { storage: null, budget: { maxPaymentMsat: 1_000_000 } });
    await sendRefused(1_001_000, /limit of 1,000 sat per payment/, "options");
    await sendOk(1_000_000, "options");
  });

  test("webln_ledger_write_fails", async () => {
    // Writes throw (storage full or refused): the provider's memory still counts the payment.
    await env.inPage(() => {
      window.storages.wf = window.memoryStorage();
      window.storages.wf.failSet = true;
    });
    await provider("wf", { storage: "wf" });
    const sent = await outboundCount();
    await sendOk(5_000_000, "wf");
    await sendRefused(4_000_000, /\(5,0\d\d(\.\d+)? sat spent or in flight\)/, "wf");
    assert.equal(await outboundCount(), sent + 1);
    assert.equal(await env.inPage(() => window.storages.wf.map.size), 0, "nothing was ever written");
  });

  test("webln_ledger_read_fails", async () => {
    await env.inPage(() => (window.storages.rf = window.memoryStorage()));
    await provider("rf", { storage: "rf" });
    const sent = await outboundCount();
    await sendOk(5_000_000, "rf");
    // Reads throw, then find garbage, then nothing (another page wiped it): memory holds.
    await env.inPage(() => (window.storages.rf.failGet = true));
    await sendRefused(4_000_000, /5,0\d\d(\.\d+)? sat spent/, "rf");
    await env.inPage(() => {
      const s = window.storages.rf;
      s.failGet = false;
      for (const k of s.map.keys()) s.map.set(k, "{not json");
    });
    await sendRefused(4_000_000, /5,0\d\d(\.\d+)? sat spent/, "rf");
    await env.inPage(() => window.storages.rf.map.clear());
    await sendRefused(4_000_000, /5,0\d\d(\.\d+)? sat spent/, "rf");

    // A fresh provider (a reload) whose storage cannot be read: no budget to check, no payment.
    await env.inPage(() => {
      window.storages.broken = window.memoryStorage();
      window.storages.broken.failGet = true;
    });
    await provider("rf", { storage: "broken" });
    await sendRefused(1_000_000, /cannot be read.*nothing was sent/, "rf", "STORAGE_UNAVAILABLE");
    await env.inPage((key) => {
      const s = window.storages.broken;
      s.failGet = false;
      s.map.set(key, "[oops");
    }, `wasm-ln:webln-budget:${nodeId}:${originOf("rf")}`);
    await sendRefused(1_000_000, /cannot be read/, "rf", "STORAGE_UNAVAILABLE");
    assert.equal(await outboundCount(), sent + 1);
  });

  test("webln_ledger_malformed_entries", async () => {
    // A negative amount must not make room; an entry not a finite number is dropped.
    const now = Date.now();
    await env.inPage(
      ([key, raw]) => {
        window.storages.mal = window.memoryStorage();
        window.storages.mal.map.set(key, raw);
      },
      [
        `wasm-ln:webln-budget:${nodeId}:${originOf("mal")}`,
        `[{"at":${now},"msat":5000000},{"at":${now},"msat":-1000000000000},{"at":"soon","msat":1},{"at":1e400,"msat":1},{"at":${now},"msat":1e400}]`,
      ],
    );
    await provider("mal", { storage: "mal", feeMsat: 10_000 });
    await sendRefused(4_000_000, /\(5,000 sat spent or in flight\)/, "mal");
    await sendOk(2_900_000, "mal"); // 5,000 + 2,900 + 10 sat of fees: within 8,000
  });

  test("webln_reservation_in_flight", async () => {
    // A payment the merchant holds past the period stays counted; once claimed it is outside
    // the window (counted at the time it was reserved).
    const periodSecs = 3;
    const budget = { ...BUDGET, periodSecs };
    await env.inPage(() => (window.storages.fl = window.memoryStorage()));
    await provider("fl", { storage: "fl", budget });
    const held = await holdInvoice(5_000_000);
    const start = Date.now();
    await startPayment("fl", "held", held.invoice);
    const ev = await merchantHolds(held.hash);
    await sleep(Math.max(0, start + periodSecs * 1000 + 300 - Date.now()));
    // 5,000 sat + the 60 sat fee limit reserved, older than the period, still in flight.
    await sendRefused(4_000_000, /\(5,060 sat spent or in flight\)/, "fl");
    await claim(held, ev);
    const paid = await flight("held");
    assert.ok(paid.ok, JSON.stringify(paid));
    assert.equal(sha256(paid.value.preimage), held.hash);
    await sendOk(4_000_000, "fl");

    // Settled within the period, it counts from when it was reserved, not from when it settled:
    // claimed 1.5 s after, it leaves the window 1.5 s before a count from the claim would.
    await env.inPage(() => (window.storages.fl2 = window.memoryStorage()));
    await provider("fl2", { storage: "fl2", budget });
    const held2 = await holdInvoice(5_000_000);
    const start2 = Date.now();
    await startPayment("fl2", "held2", held2.invoice);
    const ev2 = await merchantHolds(held2.hash);
    await sleep(Math.max(0, start2 + 1_500 - Date.now()));
    const claimedAt = Date.now();
    await claim(held2, ev2);
    assert.ok((await flight("held2")).ok);
    const [entry] = (await ledgerOf("fl2", "fl2")).entries;
    assert.ok(entry.paid && entry.at >= start2 && entry.at < start2 + 500, `counted at its reservation's time: ${JSON.stringify(entry)} (start ${start2})`);
    await sleep(Math.max(0, entry.at + periodSecs * 1000 + 300 - Date.now()));
    assert.ok(Date.now() + 500 < claimedAt + periodSecs * 1000, "counted from the claim, it would still be in the window");
    await sendOk(4_000_000, "fl2");
  });

  test("webln_reservation_left_pending", async () => {
    // The node stops while the merchant holds the payment (PAYMENT_PENDING), the page reloads;
    // past the period the reservation in localStorage stays counted while the node says the
    // payment is pending, and stops counting once it resolved.
    const periodSecs = 2;
    const budget = { ...BUDGET, periodSecs };
    await provider("left", { budget });
    const held = await holdInvoice(5_000_000);
    await startPayment("left", "left", held.invoice);
    const ev = await merchantHolds(held.hash);
    await env.inPage(() => window.nodes.wallet.stop());
    failed(await flight("left"), "PAYMENT_PENDING");
    const kept = await ledgerOf("left");
    assert.equal(kept.entries.length, 1);
    assert.deepEqual([kept.entries[0].paid, kept.entries[0].sent, kept.entries[0].hash], [undefined, true, held.hash]);

    await reopen();
    await sleep(Math.max(0, kept.entries[0].at + periodSecs * 1000 + 300 - Date.now()));
    assert.equal((await env.inPage((h) => window.nodes.wallet.payment(h), held.hash))?.status, "pending");
    await provider("left", { budget });
    await sendRefused(4_000_000, /\(5,060 sat spent or in flight\)/, "left");
    await claim(held, ev);
    await until(
      "our node sees the held payment succeed",
      async () => (await env.inPage((h) => window.nodes.wallet.payment(h), held.hash))?.status === "succeeded",
      { timeoutMs: 30_000, intervalMs: 200, log },
    );
    await sendOk(4_000_000, "left");
  });

  test("webln_ledger_async_storage", async () => {
    // Asynchronous storage (localStorage behind promises): two payments at once cannot both
    // pass; another provider over it (a reload) counts what the first paid.
    await env.inPage(() => (window.storages.as = window.asyncLocalStorage()));
    await provider("as", { storage: "as" });
    const sent = await outboundCount();
    const [a, b] = await Promise.all([merchantInvoice(5_000_000), merchantInvoice(5_000_000)]);
    const both = await env.inPage(
      ([a, b]) => Promise.all([window.settle(window.provs.as.sendPayment(a)), window.settle(window.provs.as.sendPayment(b))]),
      [a.invoice, b.invoice],
    );
    assert.deepEqual(both.map((r) => r.ok).sort(), [false, true], JSON.stringify(both));
    assert.equal(both.find((r) => !r.ok).code, "BUDGET_EXCEEDED");
    await provider("as", { storage: "as" });
    await sendRefused(4_000_000, /5,0\d\d(\.\d+)? sat spent/, "as");
    await sendOk(2_900_000, "as");
    assert.equal(await outboundCount(), sent + 2);

    // Writes land in order: an earlier write that is slow (makeInvoice's) must not land over a
    // reservation made after it, or a reload would not count a payment waiting on `allow`.
    await env.inPage(() => (window.storages.as2 = window.asyncLocalStorage()));
    await provider("as2", { storage: "as2", ask: true });
    const { invoice } = await merchantInvoice(5_000_000);
    await env.inPage(async (invoice) => {
      const s = window.storages.as2;
      s.slowNext = 300;
      window.flights.as2Invoice = window.settle(window.provs.as2.makeInvoice(10));
      for (let i = 0; i < 500 && s.slowNext !== 0; i++) await new Promise((r) => setTimeout(r, 2));
      // The user has not answered yet for this payment.
      window.answers.as2 = new Promise((r) => (window.answerAs2 = r));
      window.flights.as2Pay = window.settle(window.provs.as2.sendPayment(invoice));
    }, invoice);
    assert.ok((await flight("as2Invoice")).ok);
    await until("the payment waits on allow", () => env.inPage(() => window.asks.as2.some((r) => r.method === "sendPayment")), {
      timeoutMs: 5_000,
      intervalMs: 20,
      log,
    });
    await provider("as2q", { storage: "as2", origin: originOf("as2") });
    await sendRefused(4_000_000, /\(5,060 sat spent or in flight\)/, "as2q");
    await env.inPage(() => window.answerAs2(false));
    failed(await flight("as2Pay"), "PERMISSION_DENIED");
  });

  test("webln_counted_as_paid", async () => {
    // The node reports a paid payment's amount and fee (it never leaves them out once it
    // succeeded): the ledger counts exactly those, not the fee limit reserved.
    await env.inPage(() => (window.storages.cnt = window.memoryStorage()));
    await provider("cnt", { storage: "cnt" });
    const { preimage } = await sendOk(3_000_000, "cnt");
    const ours = (await ourPayments()).find((p) => p.direction === "outbound" && p.preimage === preimage);
    assert.equal(ours.amountMsat, 3_000_000);
    assert.equal(ours.feePaidMsat, await lspFeeMsat(3_000_000), "the LSP's fee, 2 hops");
    const { entries } = await ledgerOf("cnt", "cnt");
    assert.deepEqual(entries.map((e) => [e.msat, e.paid]), [[ours.amountMsat + ours.feePaidMsat, true]]);
    assert.ok(ours.feePaidMsat < 40_000, "below the 40 sat limit reserved");
  });

  test("webln_paid_already_other_origin", async () => {
    // An invoice another origin paid: refused before this origin's budget is charged.
    await env.inPage(() => {
      window.storages.other = window.memoryStorage();
      window.storages.paid = window.memoryStorage();
    });
    await provider("other", { storage: "other" });
    await provider("paid", { storage: "paid" });
    const { invoice } = await merchantInvoice(5_000_000);
    assert.ok((await pcall("other", "sendPayment", invoice)).ok);
    const sent = await outboundCount();
    const again = await pcall("paid", "sendPayment", invoice);
    assert.deepEqual([again.ok, again.code], [false, "PAYMENT_FAILED"], JSON.stringify(again));
    assert.deepEqual((await ledgerOf("paid", "paid")).entries, [], "nothing charged to this origin");
    assert.match(again.message, /already paid.*nothing was sent/);
    assert.equal(await outboundCount(), sent, "not paid again");
    await sendOk(5_000_000, "paid");
    await sendOk(2_900_000, "paid");
  });

  // ---- What the methods ask and hand the node. ----

  test("webln_keysend_fee_limit", async () => {
    // Keysend to the merchant through the LSP (2 hops): the node keeps to the provider's fee
    // limit; one below the LSP's fee is FEE_TOO_HIGH with nothing charged.
    const fee = await lspFeeMsat(1_000_000);
    assert.ok(fee > 0, `the LSP charges a fee: ${fee}`);
    const theirs = await merchantPayments();
    await env.inPage(() => (window.storages.ks = window.memoryStorage()));
    await provider("ks", { storage: "ks", feeMsat: fee - 1 });
    const dear = await pcall("ks", "keysend", { destination: env.net.merchant.nodeId, amount: 1000 });
    failed(dear, "FEE_TOO_HIGH", new RegExp(`costs ${fee} msat in fees, above the limit of ${fee - 1} msat`));
    assert.deepEqual((await ledgerOf("ks", "ks")).entries, [], "nothing charged");
    assert.deepEqual(await merchantPayments(), theirs, "the merchant got nothing");
    await provider("ks", { storage: "ks", feeMsat: fee });
    const ks = await pcall("ks", "keysend", { destination: env.net.merchant.nodeId, amount: 1000 });
    assert.ok(ks.ok, JSON.stringify(ks));
    const hash = sha256(ks.value.preimage);
    assert.equal((await merchantReceived(hash)).amount_msat, 1_000_000);
    const ours = (await ourPayments()).find((p) => p.paymentHash === hash);
    assert.deepEqual([ours.kind, ours.feePaidMsat], ["spontaneous", fee]);
    assert.deepEqual((await ledgerOf("ks", "ks")).entries.map((e) => e.msat), [1_000_000 + fee]);
  });

  test("webln_make_invoice_permission_and_fee", async () => {
    const inbound = async () => (await ourPayments()).filter((p) => p.direction === "inbound").length;
    const read = (inv) => env.inPage((inv) => window.wasmLn.readInvoice(inv), inv);
    await provider("mk", { storage: null, ask: true });
    const tip = await pcall("mk", "makeInvoice", { amount: 21, defaultMemo: "tip" });
    assert.ok(tip.ok, JSON.stringify(tip));
    assert.deepEqual(await env.inPage(() => window.asks.mk.at(-1)), {
      origin: originOf("mk"),
      method: "makeInvoice",
      amountMsat: 21_000,
      description: "tip",
      maxFeeMsat: 0,
    });
    const t = await read(tip.value.paymentRequest);
    assert.deepEqual([t.amountMsat, t.description], [21_000, "tip"]);
    // BOLT 11's description holds 639 bytes.
    const memo = "é".repeat(319) + "x";
    const long = await pcall("mk", "makeInvoice", { amount: 1, defaultMemo: memo });
    assert.ok(long.ok, JSON.stringify(long));
    assert.equal((await read(long.value.paymentRequest)).description, memo);
    failed(await pcall("mk", "makeInvoice", { amount: 1, defaultMemo: "é".repeat(320) }), "INVALID_CONFIG", /640 bytes/);
    // Declined: no invoice made.
    let before = await inbound();
    await env.inPage(() => (window.answers.mk = false));
    failed(await pcall("mk", "makeInvoice", 5), "PERMISSION_DENIED");
    assert.equal(await inbound(), before, "no invoice made");
    await env.inPage(() => (window.answers.mk = true));
    // More than our channel can take needs a JIT channel: with no fee allowed (the default) a
    // typed refusal, no invoice; with makeInvoiceMaxFeeMsat the node makes the JIT invoice.
    const bigMsat = 200_000_000;
    failed(await pcall("mk", "makeInvoice", bigMsat / 1000), "FEE_TOO_HIGH", /above the limit of 0 msat/);
    assert.equal(await inbound(), before, "no invoice made");
    const jitFee = lsps2FeeMsat(bigMsat);
    await provider("mk", { storage: null, ask: true, makeInvoiceMaxFeeMsat: jitFee });
    const jit = await pcall("mk", "makeInvoice", bigMsat / 1000);
    assert.ok(jit.ok, JSON.stringify(jit));
    assert.equal(await env.inPage(() => window.asks.mk.at(-1).maxFeeMsat), jitFee);
    const j = await read(jit.value.paymentRequest);
    assert.equal(j.amountMsat, bigMsat);
    assert.equal(await inbound(), before + 1);
  });

  test("webln_lookup_invoice_per_origin", async () => {
    await env.inPage(() => (window.storages.lk = window.memoryStorage()));
    await provider("la", { storage: "lk" });
    await provider("lb", { storage: "lk" });
    const made = await pcall("la", "makeInvoice", 10);
    assert.ok(made.ok, JSON.stringify(made));
    const { paymentRequest } = made.value;
    assert.deepEqual((await pcall("la", "lookupInvoice", { paymentRequest })).value, { paymentRequest, paid: false });
    failed(await pcall("lb", "lookupInvoice", { paymentRequest }), "INVALID_INVOICE", /this site made no invoice/);
    // A reload of the origin still finds it (kept beside the ledger).
    await provider("la", { storage: "lk" });
    assert.equal((await pcall("la", "lookupInvoice", { paymentRequest })).value?.paid, false);
    // A payment the node made is not an invoice of the origin's, though the node has its hash.
    const { invoice } = await merchantInvoice(1_000_000);
    assert.ok((await pcall("la", "sendPayment", invoice)).ok);
    failed(await pcall("la", "lookupInvoice", { paymentRequest: invoice }), "INVALID_INVOICE");
  });

  test("webln_sign_message_opt_in", async () => {
    await provider("sg", { storage: null });
    failed(await pcall("sg", "signMessage", "log me in"), "PERMISSION_DENIED", /allowSignMessage/);
    await provider("sg2", { storage: null, allowSignMessage: true });
    const signed = await pcall("sg2", "signMessage", "hi");
    assert.ok(signed.ok, JSON.stringify(signed));
    assert.equal(signed.value.message, "hi");
    const check = await env.net.merchant.call("POST", "/verify", { message: "hi", signature: signed.value.signature, pubkey: nodeId });
    assert.equal(check.valid, true, "ldk-node verifies it");
    await provider("sg3", { storage: null, ask: true });
    await env.inPage(() => (window.answers.sg3 = false));
    failed(await pcall("sg3", "signMessage", "hi"), "PERMISSION_DENIED", /signMessage was declined/);
    failed(await pcall("sg", "verifyMessage", "garbage", "hi"), "INVALID_SIGNATURE", /malformed/);
    failed(await pcall("sg", "verifyMessage", signed.value.signature, "hi!"), "INVALID_SIGNATURE", /not by a node this wallet knows/);
  });

  test("webln_enable_asks_once", async () => {
    const r = await env.inPage(async () => {
      let asked = 0;
      const p = window.nodes.wallet.webln({
        origin: "https://once.example",
        storage: null,
        allow: async () => (asked++, await new Promise((r) => setTimeout(r, 20)), true),
      });
      await Promise.all([p.enable(), p.enable(), p.enable()]);
      return { asked, enabled: await p.isEnabled() };
    });
    assert.deepEqual(r, { asked: 1, enabled: true });
  });
});
