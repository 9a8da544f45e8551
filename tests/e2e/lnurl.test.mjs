// LNURL-pay and Lightning addresses (#17) in Chromium: a node of the packed package in a plain
// page, funded by the merchant through a JIT channel, pays the merchant's Lightning address
// (tests/peer/src/lnurl.rs, served on its control port with CORS) through `node.lnurl`:
//
//   lightning_address_pay  shop@127.0.0.1:PORT with a comment (the merchant lists the comment
//                          and the payment), the message success action opened; the same URL as a
//                          bech32 LNURL1…; aes (LUD-10) and url (LUD-09) success actions; a
//                          description hash or an amount that is not the request's
//                          (INVOICE_MISMATCH), amounts out of bounds (AMOUNT_OUT_OF_RANGE) and a
//                          comment too long (INVALID_LNURL), each with the node's payments and
//                          balance unchanged; and from a node in Worker mode.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { pathToFileURL } from "node:url";

import { until } from "./lib/browser.mjs";
import { attempt, fundedPage } from "./lib/funded.mjs";
import { ROOT } from "./lib/plain.mjs";

const { bech32 } = await import(pathToFileURL(path.join(ROOT, "pkg/vendor/base.js")).href);

const log = [];
let env;

/** The merchant's record of the invoice with this hash (`/lnurlp/{user}/payments`), once paid. */
async function merchantRecord(user, paymentHash) {
  return until(
    `the merchant lists ${user}'s payment ${paymentHash.slice(0, 8)}… as paid`,
    async () => {
      const list = await env.net.merchant.call("GET", `/lnurlp/${user}/payments`);
      return list.find((r) => r.payment_hash === paymentHash && r.paid);
    },
    { timeoutMs: 30_000, intervalMs: 200, log },
  );
}

const pay = (args) => attempt(env, (a) => window.nodes.payer.lnurl.pay(a), args);
const state = () =>
  env.inPage(async () => {
    const n = window.nodes.payer;
    const payments = await n.listPayments();
    return { lightningMsat: (await n.balances()).lightningMsat, payments: payments.map((p) => `${p.id}:${p.status}`).sort() };
  });

describe("LNURL-pay and Lightning addresses in Chromium", () => {
  before(async () => {
    env = await fundedPage("lnurl", log);
    await env.fundedNode("payer");
  });

  after(async () => {
    await env?.close();
  });

  test("lightning_address_pay", async () => {
    const address = env.net.merchant.lightningAddress("shop");
    const request = await env.inPage((a) => window.nodes.payer.lnurl.resolve(a), address);
    assert.equal(request.callback, `${env.net.merchant.httpUrl}/lnurlp/shop/callback`);
    assert.equal(request.identifier, address);
    assert.equal(request.commentAllowed, 140);

    // The address, with a comment: the message success action comes back opened.
    const paid = await pay({ target: address, amountMsat: 2_000_000, comment: "order #42, no onions" });
    assert.ok(paid.ok, JSON.stringify(paid));
    const { payment, successAction } = paid.value;
    assert.equal(payment.status, "succeeded");
    assert.equal(payment.amountMsat, 2_000_000);
    assert.deepEqual(successAction, { tag: "message", message: "Thanks! shop got 2000 sat" });
    const record = await merchantRecord("shop", payment.paymentHash);
    assert.equal(record.comment, "order #42, no onions");
    assert.equal(record.amount_msat, 2_000_000);

    // The same endpoint as a bech32 LNURL (upper case, as in a QR code), with lightning:.
    const lnurl = bech32.encode("lnurl", bech32.toWords(new TextEncoder().encode(env.net.merchant.lnurlpUrl("shop"))), false).toUpperCase();
    const viaLnurl = await pay({ target: `lightning:${lnurl}`, amountMsat: 1_000_000 });
    assert.ok(viaLnurl.ok, JSON.stringify(viaLnurl));
    assert.equal((await merchantRecord("shop", viaLnurl.value.payment.paymentHash)).comment, null);

    // LUD-10: an aes success action, decrypted with the payment's preimage in the page.
    const aes = await pay({ target: env.net.merchant.lightningAddress("aesaction"), amountMsat: 1_000_000 });
    assert.ok(aes.ok, JSON.stringify(aes));
    assert.deepEqual(aes.value.successAction, {
      tag: "aes",
      description: "Your message, decrypted with the payment's preimage",
      plaintext: "Thanks! aesaction got 1000 sat",
    });
    // LUD-09: a url success action on the callback's domain.
    const url = await pay({ target: env.net.merchant.lightningAddress("urlaction"), amountMsat: 1_000_000 });
    assert.ok(url.ok, JSON.stringify(url));
    assert.deepEqual(url.value.successAction, {
      tag: "url",
      description: "Your receipt",
      url: `${env.net.merchant.httpUrl}/lnurlp/urlaction/receipt`,
    });

    // Refusals: nothing is paid.
    const before = await state();
    const refusals = [
      [{ target: env.net.merchant.lightningAddress("badhash"), amountMsat: 1_000_000 }, "INVOICE_MISMATCH", /does not commit to the pay request's metadata/],
      [{ target: env.net.merchant.lightningAddress("badamount"), amountMsat: 1_000_000 }, "INVOICE_MISMATCH", /is for 1,001 sat, not the 1,000 sat asked/],
      [{ target: address, amountMsat: 999 }, "AMOUNT_OUT_OF_RANGE", /takes 1 sat to 1,000,000 sat, not 0.999 sat/],
      [{ target: address, amountMsat: 1_000_000_001 }, "AMOUNT_OUT_OF_RANGE", /not 1,000,000.001 sat/],
      [{ target: address, amountMsat: 1_000_000, comment: "x".repeat(141) }, "INVALID_LNURL", /up to 140 characters/],
      [{ target: "shop@127.0.0.1:1", amountMsat: 1_000_000 }, "LNURL_FAILED", /could not reach 127.0.0.1:1/],
    ];
    for (const [args, code, re] of refusals) {
      const r = await pay(args);
      assert.equal(r.ok, false, `${JSON.stringify(args)} was paid: ${JSON.stringify(r)}`);
      assert.equal(r.name, "LnError");
      assert.equal(r.code, code, `${JSON.stringify(args)}: ${r.message}`);
      assert.match(r.message, re);
    }
    assert.deepEqual(await state(), before, "no payment was made and the balance is unchanged");
    const badRecords = await env.net.merchant.call("GET", "/lnurlp/badhash/payments");
    assert.ok(badRecords.length === 1 && !badRecords[0].paid, `the bad invoice was asked for, never paid: ${JSON.stringify(badRecords)}`);

    // Worker mode: the LNURL requests run in the page, the payment in the node's Worker.
    await env.fundedNode("worker", undefined, { worker: true });
    const fromWorker = await attempt(
      env,
      (a) => window.nodes.worker.lnurl.pay({ target: a, amountMsat: 1_500_000, comment: "from a worker" }),
      address,
    );
    assert.ok(fromWorker.ok, JSON.stringify(fromWorker));
    assert.deepEqual(fromWorker.value.successAction, { tag: "message", message: "Thanks! shop got 1500 sat" });
    assert.equal((await merchantRecord("shop", fromWorker.value.payment.paymentHash)).comment, "from a worker");
  });
});
