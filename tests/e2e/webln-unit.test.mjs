// The WebLN provider's own logic (crate/js/src/webln.ts) in Node, over a scripted node (no
// browser, no wasm): the built modules in pkg/ (pkg-scripts/build.sh). What its budget ledger
// does when storage fails, lies or is asynchronous, how long a reservation lasts, what it
// counts, and what each method asks and hands the node. webln.test.mjs runs it on a real node.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import path from "node:path";
import { describe, test } from "node:test";
import { pathToFileURL } from "node:url";

import { ROOT } from "./lib/plain.mjs";

const pkg = (f) => import(pathToFileURL(path.join(ROOT, "pkg", f)).href);
const { createWebLnProvider } = await pkg("webln.js");
const { LnError } = await pkg("errors.js");
const { readInvoice } = await pkg("invoice.js");
const { bech32 } = await pkg("vendor/base.js");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const randomHash = () => crypto.randomBytes(32).toString("hex");

/** 5-bit words of `n` in `len` words, big-endian. */
function intWords(n, len) {
  const w = [];
  for (let i = len - 1; i >= 0; i--) w.push(Math.floor(n / 32 ** i) % 32);
  return w;
}
const field = (tag, words) => ["qpzry9x8gf2tvdw0s3jn54khce6mua7l".indexOf(tag), ...intWords(words.length, 2), ...words];

/** A regtest invoice readInvoice accepts (its signature is zeros: the scripted node does not
 *  check it). */
function fakeInvoice(amountMsat, paymentHash = randomHash()) {
  const words = [
    ...intWords(Math.floor(Date.now() / 1000), 7),
    ...field("p", bech32.toWords(Buffer.from(paymentHash, "hex"))),
    ...field("d", bech32.toWords(Buffer.from("test"))),
    ...new Array(104).fill(0),
  ];
  return bech32.encode(`lnbcrt${amountMsat * 10}p`, words, false);
}

/** A node as the provider uses it. Payments succeed at once with `fee` msat, unless
 *  `outcome(payment)` says otherwise (it may wait, throw, or leave fields out). */
function scriptedNode() {
  const node = {
    nodeId: `02${"11".repeat(32)}`,
    payments: [],
    calls: [],
    fee: 0,
    outcome: null,
    async getInfo() {
      return { network: "regtest", nodeId: node.nodeId, version: "0.1.0" };
    },
    async listPayments() {
      return node.payments.map((p) => ({ ...p }));
    },
    async payment(id) {
      const p = node.payments.find((x) => x.id === id);
      return p ? { ...p } : null;
    },
    async listChannels() {
      return [];
    },
    bolt11: {
      async send(a) {
        node.calls.push(["send", a]);
        const inv = readInvoice(a.invoice);
        // As the node: one record per hash, a payment made or in flight is not made again.
        if (node.payments.some((p) => p.paymentHash === inv.paymentHash && p.status !== "failed")) {
          throw new LnError("PAYMENT_FAILED", "this invoice was already paid or is being paid (Succeeded)");
        }
        return node.pay("bolt11", inv.paymentHash, inv.amountMsat, a.invoice);
      },
      async receive(a) {
        node.calls.push(["receive", a]);
        const hash = randomHash();
        const invoice = fakeInvoice(a.amountMsat ?? 1000, hash);
        node.payments.push({ id: hash, kind: "bolt11", direction: "inbound", status: "pending", paymentHash: hash, amountMsat: a.amountMsat ?? null, invoice, preimage: null, createdAt: Math.floor(Date.now() / 1000) });
        return { invoice, paymentHash: hash, expiresAt: 0, viaJitChannel: false, feeMsat: 0 };
      },
    },
    async keysend(a) {
      node.calls.push(["keysend", a]);
      return node.pay("spontaneous", randomHash(), a.amountMsat, null);
    },
    async pay(kind, hash, amountMsat, invoice) {
      const p = { id: hash, kind, direction: "outbound", status: "pending", amountMsat, feePaidMsat: null, paymentHash: hash, preimage: null, invoice, createdAt: Math.floor(Date.now() / 1000) };
      node.payments.push(p);
      if (node.outcome) return node.outcome(p);
      Object.assign(p, { status: "succeeded", feePaidMsat: node.fee, preimage: "00".repeat(32) });
      return { ...p };
    },
    async signMessage() {
      return "signature";
    },
    async verifyMessage() {
      return { valid: false, pubkey: null };
    },
  };
  return node;
}

/** Storage in a Map; `failGet` / `failSet` make it throw; `async` answers in promises. */
function memoryStorage({ async = false } = {}) {
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
}

const BUDGET = { maxPaymentMsat: 5_000_000, maxPeriodMsat: 8_000_000, periodSecs: 3600 };

async function provider(node, options = {}) {
  const p = createWebLnProvider(node, { origin: "https://shop.example", budget: BUDGET, maxFeeMsat: () => 0, ...options });
  await p.enable();
  return p;
}

/** Rejects with an LnError of `code` (its message matching `re`, when given). */
async function rejectsWith(p, code, re) {
  await assert.rejects(p, (e) => {
    assert.equal(e.code, code, e.message);
    if (re) assert.match(e.message, re);
    return true;
  });
}

const sends = (node) => node.calls.filter(([m]) => m === "send" || m === "keysend").length;

describe("webln.ts: the budget ledger", () => {
  test("budget options: maxPaymentMsat, maxPeriodMsat, periodSecs; another key is INVALID_CONFIG", async () => {
    const node = scriptedNode();
    assert.throws(
      () => createWebLnProvider(node, { budget: { msatPerPayment: 1, msatPerDay: 10 }, storage: null }),
      (e) => e.code === "INVALID_CONFIG" && /budget\.msatPerPayment is not a budget option/.test(e.message),
    );
    const p = await provider(node, { storage: null, budget: { maxPaymentMsat: 1_000_000 } });
    await rejectsWith(p.sendPayment(fakeInvoice(1_001_000)), "BUDGET_EXCEEDED", /limit of 1,000 sat per payment/);
    await p.sendPayment(fakeInvoice(1_000_000));
  });

  test("a write that fails does not reset the budget: memory holds", async () => {
    const node = scriptedNode();
    const storage = memoryStorage();
    storage.failSet = true;
    const p = await provider(node, { storage });
    await p.sendPayment(fakeInvoice(5_000_000));
    await rejectsWith(p.sendPayment(fakeInvoice(4_000_000)), "BUDGET_EXCEEDED", /5,000 sat spent/);
    assert.equal(sends(node), 1);
  });

  test("a read that fails or finds garbage uses memory; a ledger never read refuses", async () => {
    const node = scriptedNode();
    const storage = memoryStorage();
    const p = await provider(node, { storage });
    await p.sendPayment(fakeInvoice(5_000_000));
    storage.failGet = true;
    await rejectsWith(p.sendPayment(fakeInvoice(4_000_000)), "BUDGET_EXCEEDED");
    storage.failGet = false;
    for (const [, key] of [...storage.map].entries()) storage.map.set(key[0], "{not json");
    await rejectsWith(p.sendPayment(fakeInvoice(4_000_000)), "BUDGET_EXCEEDED");
    storage.map.clear(); // another page wiped it: this provider still knows
    await rejectsWith(p.sendPayment(fakeInvoice(4_000_000)), "BUDGET_EXCEEDED");
    assert.equal(sends(node), 1);

    // A fresh provider (a reload) whose storage cannot be read: no budget to check, no payment.
    const broken = memoryStorage();
    broken.failGet = true;
    const q = await provider(node, { storage: broken });
    await rejectsWith(q.sendPayment(fakeInvoice(1_000)), "STORAGE_UNAVAILABLE", /cannot be read.*nothing was sent/);
    broken.failGet = false;
    broken.map.set(`wasm-ln:webln-budget:${node.nodeId}:https://shop.example`, "[oops");
    await rejectsWith(q.sendPayment(fakeInvoice(1_000)), "STORAGE_UNAVAILABLE");
    assert.equal(sends(node), 1);
  });

  test("entries not well formed are ignored, a negative amount does not make room", async () => {
    const node = scriptedNode();
    const storage = memoryStorage();
    const now = Date.now();
    storage.map.set(
      `wasm-ln:webln-budget:${node.nodeId}:https://shop.example`,
      `[{"at":${now},"msat":5000000},{"at":${now},"msat":-1000000000000},{"at":"soon","msat":1},{"at":1e400,"msat":1},{"at":${now},"msat":1e400}]`,
    );
    const p = await provider(node, { storage });
    await rejectsWith(p.sendPayment(fakeInvoice(4_000_000)), "BUDGET_EXCEEDED", /5,000 sat spent/);
    await p.sendPayment(fakeInvoice(3_000_000));
  });

  test("a reservation in flight never ages out; settled, it keeps its time", async () => {
    const node = scriptedNode();
    let finish;
    node.outcome = (p) =>
      new Promise((resolve) => {
        finish = () => resolve({ ...Object.assign(p, { status: "succeeded", feePaidMsat: 0, preimage: "00".repeat(32) }) });
      });
    const p = await provider(node, { storage: memoryStorage(), budget: { ...BUDGET, periodSecs: 1 } });
    const first = p.sendPayment(fakeInvoice(5_000_000));
    await sleep(1_300); // older than the period, still in flight
    node.outcome = null;
    await rejectsWith(p.sendPayment(fakeInvoice(4_000_000)), "BUDGET_EXCEEDED", /5,000 sat spent or in flight/);
    finish();
    await first;
    // Paid, counted at the time it was reserved (over a second ago): out of the window now.
    await p.sendPayment(fakeInvoice(4_000_000));
  });

  test("one left pending stays counted until the node says it resolved", async () => {
    const node = scriptedNode();
    node.outcome = () => {
      throw new LnError("PAYMENT_PENDING", "the node stopped while the payment was in flight");
    };
    const storage = memoryStorage();
    const p = await provider(node, { storage, budget: { ...BUDGET, periodSecs: 1 } });
    await rejectsWith(p.sendPayment(fakeInvoice(5_000_000)), "PAYMENT_PENDING");
    node.outcome = null;
    await sleep(1_300);
    // A reload: another provider over the same storage sees the reservation too.
    const q = await provider(node, { storage, budget: { ...BUDGET, periodSecs: 1 } });
    await rejectsWith(q.sendPayment(fakeInvoice(4_000_000)), "BUDGET_EXCEEDED");
    await rejectsWith(p.sendPayment(fakeInvoice(4_000_000)), "BUDGET_EXCEEDED");
    node.payments.find((x) => x.direction === "outbound").status = "failed";
    await q.sendPayment(fakeInvoice(4_000_000));
  });

  test("asynchronous storage: read before each payment, two at once cannot both pass, a reload counts", async () => {
    const node = scriptedNode();
    const storage = memoryStorage({ async: true });
    const p = await provider(node, { storage });
    const both = await Promise.allSettled([p.sendPayment(fakeInvoice(5_000_000)), p.sendPayment(fakeInvoice(5_000_000))]);
    assert.deepEqual(both.map((r) => r.status).sort(), ["fulfilled", "rejected"], JSON.stringify(both));
    assert.equal(both.find((r) => r.status === "rejected").reason.code, "BUDGET_EXCEEDED");
    const q = await provider(node, { storage });
    await rejectsWith(q.sendPayment(fakeInvoice(4_000_000)), "BUDGET_EXCEEDED", /5,000 sat spent/);
    await q.sendPayment(fakeInvoice(3_000_000));
    assert.equal(sends(node), 2);
  });

  test("counted: the reserved amount and maximum fee when the node leaves them out", async () => {
    const node = scriptedNode();
    node.outcome = (p) => ({ ...Object.assign(p, { status: "succeeded", preimage: "00".repeat(32) }), amountMsat: null, feePaidMsat: null });
    const p = await provider(node, { storage: memoryStorage(), maxFeeMsat: () => 1_000_000 });
    await p.sendPayment(fakeInvoice(3_000_000));
    // 3,000 + 1,000 counted (not 3,000): 3,500 + 1,000 more passes 8,000.
    await rejectsWith(p.sendPayment(fakeInvoice(3_500_000)), "BUDGET_EXCEEDED", /4,000 sat spent/);
  });

  test("an invoice paid already (by another origin) is refused and not charged to this one", async () => {
    const node = scriptedNode();
    const invoice = fakeInvoice(5_000_000);
    const other = await provider(node, { storage: memoryStorage(), origin: "https://other.example" });
    await other.sendPayment(invoice);
    const p = await provider(node, { storage: memoryStorage() });
    await rejectsWith(p.sendPayment(invoice), "PAYMENT_FAILED", /already paid/);
    await p.sendPayment(fakeInvoice(5_000_000));
    await p.sendPayment(fakeInvoice(3_000_000));
  });
});

describe("webln.ts: what the methods ask and hand the node", () => {
  test("keysend hands the node its fee limit, the one reserved", async () => {
    const node = scriptedNode();
    const p = await provider(node, { storage: null, maxFeeMsat: (a) => Math.floor(a / 100) + 7 });
    await p.keysend({ destination: `03${"22".repeat(32)}`, amount: 2000 });
    assert.deepEqual(node.calls.at(-1), ["keysend", { nodeId: `03${"22".repeat(32)}`, amountMsat: 2_000_000, maxFeeMsat: 20_007 }]);
  });

  test("makeInvoice asks allow, takes no JIT fee unless told, caps the memo at 639 bytes", async () => {
    const node = scriptedNode();
    const asked = [];
    let answer = true;
    const p = await provider(node, { storage: null, allow: (r) => (asked.push(r), answer) });
    await p.makeInvoice({ amount: 21, defaultMemo: "tip" });
    assert.deepEqual(asked.at(-1), { origin: "https://shop.example", method: "makeInvoice", amountMsat: 21_000, description: "tip", maxFeeMsat: 0 });
    assert.deepEqual(node.calls.at(-1), ["receive", { amountMsat: 21_000, description: "tip", maxFeeMsat: 0 }]);
    await p.makeInvoice({ defaultMemo: "é".repeat(319) + "x" }); // 639 bytes
    await rejectsWith(p.makeInvoice({ defaultMemo: "é".repeat(320) }), "INVALID_CONFIG", /640 bytes/);
    answer = false;
    const before = node.calls.length;
    await rejectsWith(p.makeInvoice(5), "PERMISSION_DENIED");
    assert.equal(node.calls.length, before, "no invoice made");
    const q = await provider(node, { storage: null, makeInvoiceMaxFeeMsat: 5_000 });
    await q.makeInvoice(5);
    assert.equal(node.calls.at(-1)[1].maxFeeMsat, 5_000);
  });

  test("lookupInvoice: only invoices this origin made, never a payment of the node", async () => {
    const node = scriptedNode();
    const storage = memoryStorage();
    const a = await provider(node, { storage });
    const b = await provider(node, { storage, origin: "https://b.example" });
    const { paymentRequest } = await a.makeInvoice(10);
    assert.deepEqual(await a.lookupInvoice({ paymentRequest }), { paymentRequest, paid: false });
    await rejectsWith(b.lookupInvoice({ paymentRequest }), "INVALID_INVOICE", /this site made no invoice/);
    // A reload of the origin still finds it (kept beside the ledger).
    const a2 = await provider(node, { storage });
    assert.equal((await a2.lookupInvoice({ paymentRequest })).paid, false);
    const paid = fakeInvoice(1_000);
    await a.sendPayment(paid);
    await rejectsWith(a.lookupInvoice({ paymentRequest: paid }), "INVALID_INVOICE");
  });

  test("signMessage needs allow or allowSignMessage; verifyMessage fails with INVALID_SIGNATURE", async () => {
    const node = scriptedNode();
    const p = await provider(node, { storage: null });
    await rejectsWith(p.signMessage("log me in"), "PERMISSION_DENIED", /allowSignMessage/);
    const q = await provider(node, { storage: null, allowSignMessage: true });
    assert.deepEqual(await q.signMessage("hi"), { message: "hi", signature: "signature" });
    const r = await provider(node, { storage: null, allow: (req) => req.method !== "signMessage" });
    await rejectsWith(r.signMessage("hi"), "PERMISSION_DENIED");
    await rejectsWith(p.verifyMessage("garbage", "hi"), "INVALID_SIGNATURE", /malformed/);
  });

  test("enable() called twice at once asks once", async () => {
    const node = scriptedNode();
    let asked = 0;
    const p = createWebLnProvider(node, { storage: null, allow: async () => (asked++, await sleep(20), true) });
    await Promise.all([p.enable(), p.enable(), p.enable()]);
    assert.equal(asked, 1);
    assert.equal(await p.isEnabled(), true);
  });
});
