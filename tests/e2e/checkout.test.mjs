// <ln-checkout> and the shop page (www/shop.html, built against the packed tarball like the
// demo wallet) in Debian's Chromium, on the test network with an LSP (lib/network.mjs,
// `topology: "lsp"`): the shop's /peer/* is the merchant's control API, its /rgs/ the LSP's RGS
// snapshots. One network and one browser profile for the file; each page's nodes live in memory.
//
//   checkout_imports_without_a_dom   import("wasm-ln/checkout") in plain Node: loads, defines nothing
//   checkout_plain_page_loads_no_wasm  the no-bundler page: the element works, no node downloaded
//   expired_and_bad_invoice          an invoice expiring in 2 s (expired once, buttons disabled,
//                                    QR dimmed), one expiring while a payment is in flight
//                                    (expired only once that fails), a malformed one, a mainnet one on a regtest page,
//                                    one without an amount (no pay button); `error` stays on the
//                                    element (never reaches window's error listeners)
//   wrong_preimage_and_webln_errors  stand-in WebLN wallets that decline, fail, vanish, throw a
//                                    foreign code, lie (`unverified`: nothing payable any more),
//                                    say "pending" (`pending`); markPaid with a wrong preimage:
//                                    typed errors, never paid; markPaid of the right one still
//                                    pays a `pending` checkout; keyboard only
//   mark_paid_once                   two concurrent markPaid: one `paid`; a wrong preimage after
//                                    `paid`: an error, no second `paid`; a page without WebCrypto
//                                    still verifies (the JS SHA-256)
//   checkout_pays_merchant           the page's embedded node (funded by a JIT receive) pays the
//                                    merchant's invoice through the LSP; `paid` with a checked
//                                    preimage; the merchant has it; light and dark screenshots
//   checkout_lightning_address       the shop's Lightning-address checkout pays the merchant's
//                                    address with a comment, shows the success action; a bad
//                                    description hash and an amount out of bounds are refused
//   held_payment_outlives_expiry     the merchant holds the HTLC of a 20 s hold invoice past its
//                                    expiry: no `expired` while paying; the element re-parented
//                                    and a new invoice set meanwhile change nothing; the claim
//                                    fires `paid` once, then the new invoice shows
//   checkout_via_webln               a second node injected as window.webln pays; a checkout above
//                                    its per-payment budget is BUDGET_EXCEEDED and pays nothing
//   bitcoin_connect_pays             Bitcoin Connect's payment modal pays through that provider
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import { SCREENSHOTS, launchPersistent, recordConsole, screenshot, until } from "./lib/browser.mjs";
import { buildDemo } from "./lib/demo.mjs";
import { lsps2FeeMsat } from "./lib/network.mjs";
import { plainSite } from "./lib/plain.mjs";
import { serveDemo, startDemo } from "./lib/serve.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const DIST = path.join(ROOT, "www/dist");
const FUND_MSAT = 50_000_000;
/** shop.ts's products and the injected provider's per-payment budget. */
const BEANS_SAT = 2_100;
const GRINDER_SAT = 25_000;
const WEBLN_MSAT_PER_PAYMENT = 20_000_000;

/** BOLT 11's first example (mainnet, payment hash 0001…0102): valid, and never payable here. */
const MAINNET_INVOICE =
  "lnbc1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpl2pkx2ctnv5sxxmmwwd5kgetjypeh2ursdae8g6twvus8g6rfwvs8qun0dfjkxaq9qrsgq357wnc5r2ueh7ck6q93dj32dlqnls087fxdwk8qakdyafkq3yap9us6v52vjjsrvywa6rt52cm9r9zqt8r2t7mlcwspyetp5h2tztugp9lfyql";

let net;
let server;
let demo;
let ctx;
let profile;
const log = [];
/** The ?webln=1 page, funded by checkout_via_webln, used again by bitcoin_connect_pays. */
let weblnPage;

const sha256 = (hex) => createHash("sha256").update(Buffer.from(hex, "hex")).digest("hex");

describe("<ln-checkout> and the shop page", () => {
  before(async () => {
    buildDemo(ROOT);
    // The pages' nodes take the LSP's graph from its RGS snapshots, same-origin.
    demo = await startDemo({ root: DIST, config: { rgsUrl: "/rgs/" } });
    ({ net, server } = demo);
    profile = fs.mkdtempSync(path.join(os.tmpdir(), "wasm-ln-checkout-"));
    ctx = await launchPersistent(profile);
    await ctx.grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.url });
  });

  after(async () => {
    for (const page of ctx?.pages() ?? []) {
      await page
        .evaluate(async () => {
          for (const n of [window.shop?.node, window.shop?.weblnNode]) await n?.stop().catch(() => {});
        })
        .catch(() => {});
    }
    await ctx?.close().catch(() => {});
    if (profile) fs.rmSync(profile, { recursive: true, force: true });
    await demo?.stop();
  });

  test("checkout_imports_without_a_dom", () => {
    // The tarball installed as a dependency of a plain Node project, imported by name.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "wasm-ln-ssr-"));
    try {
      const tarball = fs.readdirSync(path.join(ROOT, "pkg")).find((f) => /^wasm-ln-.*\.tgz$/.test(f));
      assert.ok(tarball, "pkg/wasm-ln-*.tgz");
      const pkgDir = path.join(dir, "node_modules/wasm-ln");
      fs.mkdirSync(pkgDir, { recursive: true });
      execFileSync("tar", ["-xzf", path.join(ROOT, "pkg", tarball), "-C", pkgDir, "--strip-components=1"]);
      fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ type: "module", private: true }));
      fs.writeFileSync(
        path.join(dir, "ssr.mjs"),
        `const before = new Set(Object.getOwnPropertyNames(globalThis));
const m = await import("wasm-ln/checkout");
console.log(JSON.stringify({
  exports: Object.keys(m).sort(),
  classType: typeof m.LnCheckout,
  newGlobals: Object.getOwnPropertyNames(globalThis).filter((k) => !before.has(k)),
  dom: [typeof window, typeof document, typeof HTMLElement, typeof customElements],
}));`,
      );
      const out = JSON.parse(execFileSync(process.execPath, ["ssr.mjs"], { cwd: dir, encoding: "utf8" }).trim());
      assert.deepEqual(out.dom, ["undefined", "undefined", "undefined", "undefined"], "plain Node has no DOM");
      assert.deepEqual(out.exports, ["LnCheckout"]);
      assert.equal(out.classType, "function");
      assert.deepEqual(out.newGlobals, [], "importing it defined no global");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("checkout_plain_page_loads_no_wasm", async () => {
    // The README's no-bundler example: the unpacked tarball and a <script type="module">; the
    // element works, and nothing of the node (its glue, its 9 MB wasm) is downloaded.
    const site = plainSite("wasm-ln-checkout-plain-");
    const { invoice } = await net.merchant.call("POST", "/invoice", { amount_msat: 21_000_000, description: "plain page" });
    fs.writeFileSync(
      path.join(site, "checkout.html"),
      `<!doctype html><html lang="en"><meta charset="utf-8"><title>plain checkout</title>
<script type="module" src="./package/checkout.js"></script>
<ln-checkout network="regtest" theme="dark" invoice="${invoice}"></ln-checkout>`,
    );
    const plain = await serveDemo({ root: site, config: {} });
    const page = await ctx.newPage();
    const requests = [];
    page.on("request", (r) => requests.push(new URL(r.url()).pathname));
    try {
      await page.goto(`${plain.url}/checkout.html`);
      const shown = await until(
        "the plain page's checkout",
        () =>
          page.evaluate(() => {
            const c = document.querySelector("ln-checkout");
            const amount = c?.shadowRoot?.querySelector("[part=amount]");
            return c?.state === "ready" && amount && !amount.hidden ? amount.textContent.trim() : null;
          }),
        { page, log, allowError: true, timeoutMs: 30_000 },
      );
      assert.equal(shown, "21,000 sat");
      const loaded = requests.filter((p) => p.startsWith("/package/")).map((p) => p.slice("/package/".length)).sort();
      assert.deepEqual(loaded, ["checkout.js", "errors.js", "invoice.js", "lnurl.js", "vendor/base.js", "vendor/bolt11.js", "vendor/qr.js", "vendor/sha2.js"]);
    } finally {
      await page.close();
      await plain.close();
      fs.rmSync(site, { recursive: true, force: true });
    }
  });

  test("expired_and_bad_invoice", async () => {
    const page = await openShop("");
    try {
      // A stand-in WebLN provider, so that the checkout shows its pay button (never pressed here).
      await page.evaluate(() => {
        window.webln = { enable: async () => {}, sendPayment: async () => ({ preimage: "" }) };
        // `error` is the element's own event: a page's global error reporter must not see it.
        window.windowErrors = [];
        window.addEventListener("error", (e) => window.windowErrors.push(e.detail?.code ?? String(e.message)));
      });

      // Malformed.
      await setInvoice(page, "lnbcrt1notaninvoice");
      let s = await waitCheckout(page, (s) => s.state === "error", "the malformed invoice refused");
      assert.equal(s.code, "INVALID_INVOICE");
      assert.match(s.text, /not a valid BOLT11 invoice/);
      assertAlert(s);
      assert.equal(s.qrShown, false, "no QR for a malformed invoice");
      assert.deepEqual(await lastEvent(page, "error"), { code: "INVALID_INVOICE", message: s.text });

      // Valid, but mainnet, on a regtest page.
      await setInvoice(page, MAINNET_INVOICE);
      s = await waitCheckout(page, (s) => s.state === "error" && s.code === "WRONG_NETWORK", "the mainnet invoice refused");
      assert.match(s.text, /Bitcoin mainnet.*regtest/);
      assertAlert(s);
      assert.equal(s.qrShown, false);
      assert.equal((await lastEvent(page, "error")).code, "WRONG_NETWORK");
      assert.deepEqual(await page.evaluate(() => window.windowErrors), [], "no error event reached window");

      // No amount: neither the node nor the provider path can pay it; the status says so.
      const { invoice: anyAmount } = await net.merchant.call("POST", "/invoice", { description: "any amount", expiry_secs: 600 });
      await setInvoice(page, anyAmount);
      s = await waitCheckout(page, (s) => s.state === "ready" && s.amount === "Any amount", "the amount-less invoice");
      assert.equal(s.weblnButton.hidden, true, "no pay button for an amount-less invoice");
      assert.match(s.text, /no amount/i);
      assert.ok(s.qrShown, "its QR is shown: a wallet that asks for the amount can pay it");

      // The merchant's invoice that expires 2 s after it was made.
      const { invoice, payment_hash: hash } = await net.merchant.call("POST", "/invoice", {
        amount_msat: 1_000_000,
        description: "expires at once",
        expiry_secs: 2,
      });
      const eventsBefore = await events(page, "expired");
      await setInvoice(page, invoice);
      await waitCheckout(page, (s) => s.state === "ready" || s.state === "expired", "the invoice shown");
      s = await waitCheckout(page, (s) => s.state === "expired", "the invoice to expire", 10_000);
      assert.match(s.text, /expired/i);
      assertAlert(s);
      assert.equal(s.weblnButton.hidden, false, "the pay button stays visible…");
      assert.equal(s.weblnButton.disabled, true, "…disabled");
      assert.equal(s.copyDisabled, true, "copy disabled");
      assert.equal(s.qrDim, true, "the QR dimmed");
      await new Promise((r) => setTimeout(r, 2500));
      const expired = (await events(page, "expired")).slice(eventsBefore.length);
      assert.equal(expired.length, 1, `expired fired once: ${JSON.stringify(expired)}`);
      assert.equal(expired[0].paymentHash, hash);

      // A payment still in flight at the expiry that then fails: `expired` then, not before.
      const { invoice: short, payment_hash: shortHash } = await net.merchant.call("POST", "/invoice", {
        amount_msat: 1_000_000,
        description: "fails late",
        expiry_secs: 4,
      });
      const madeAt = Date.now();
      await page.evaluate(() => {
        window.webln = {
          enable: async () => {},
          sendPayment: () => new Promise((_, reject) => setTimeout(() => reject(new Error("no route to the recipient")), 6000)),
        };
      });
      await setInvoice(page, short);
      await waitCheckout(page, (s) => s.state === "ready" && !s.weblnButton.hidden, "the short-lived invoice");
      await page.click("ln-checkout [part=webln-button]");
      await new Promise((r) => setTimeout(r, Math.max(0, madeAt + 5000 - Date.now())));
      s = await checkout(page);
      assert.equal(s.state, "paying", `past the expiry, still paying: ${JSON.stringify(s)}`);
      assert.equal((await events(page, "expired")).length, eventsBefore.length + 1, "no expired while paying");
      s = await waitCheckout(page, (s) => s.state === "expired", "expired once the attempt failed", 15_000);
      assertAlert(s);
      const late = (await events(page, "expired")).slice(eventsBefore.length + 1);
      assert.deepEqual(late, [{ paymentHash: shortHash }]);
      assert.equal((await lastEvent(page, "error")).code, "PAYMENT_FAILED");
    } finally {
      await page.close();
    }
  });

  test("wrong_preimage_and_webln_errors", async () => {
    // Stand-in WebLN providers (one whose user says no, one that fails, one that vanishes, one
    // with a foreign error code, a wallet that lies, one that cannot tell) and markPaid with a
    // wrong preimage: never `paid`, each a typed error in words.
    const page = await openShop("");
    try {
      const { invoice, payment_hash: hash } = await net.merchant.call("POST", "/invoice", {
        amount_msat: 3_000_000,
        description: "never paid",
        expiry_secs: 600,
      });
      const provider = async (behaviour) =>
        page.evaluate((b) => {
          window.webln = {
            enable: async () => {},
            sendPayment: async () => {
              if (b === "lies") return { preimage: "11".repeat(32) };
              if (b === "declines") throw new Error("User rejected the payment");
              if (b === "foreign") throw Object.assign(new Error("route hint unusable"), { code: "ROUTE_ERR_42" });
              if (b === "foreign-cancel") throw Object.assign(new Error("closed by user"), { code: "USER_CANCELLED" });
              if (b === "pending") throw Object.assign(new Error("the payment is still in flight"), { code: "PAYMENT_PENDING" });
              throw new Error("no route to the recipient");
            },
          };
        }, behaviour);
      await provider("declines");
      await setInvoice(page, invoice);
      let s = await waitCheckout(page, (s) => s.state === "ready" && !s.weblnButton.hidden, "the checkout with the WebLN button");

      // Keyboard only: Tab to the WebLN button, Enter.
      await page.focus("ln-checkout [part=copy-button]");
      await page.keyboard.press("Enter");
      await until("Copied (keyboard)", async () => (await checkout(page)).copied === "Copied", { page, log });
      await page.keyboard.press("Tab");
      assert.equal(await page.evaluate(() => window.shop.checkout.shadowRoot.activeElement?.getAttribute("part")), "webln-button");
      await page.keyboard.press("Enter");
      s = await waitCheckout(page, (s) => s.state === "ready" && s.code === "PERMISSION_DENIED", "the user's refusal");
      assert.match(s.text, /declined.*User rejected/);
      assertAlert(s);
      assert.equal(s.weblnButton.disabled, false, "the invoice stays payable");

      await provider("fails");
      await page.click("ln-checkout [part=webln-button]");
      s = await waitCheckout(page, (s) => s.code === "PAYMENT_FAILED" && /no route/.test(s.text), "a plain Error");

      // A foreign provider's own code: PAYMENT_FAILED, or PERMISSION_DENIED when it is the user's.
      await provider("foreign");
      await page.click("ln-checkout [part=webln-button]");
      s = await waitCheckout(page, (s) => s.state === "ready" && /route hint unusable/.test(s.text), "a foreign code");
      assert.equal(s.code, "PAYMENT_FAILED");
      await provider("foreign-cancel");
      await page.click("ln-checkout [part=webln-button]");
      s = await waitCheckout(page, (s) => s.state === "ready" && /closed by user/.test(s.text), "a foreign cancel code");
      assert.equal(s.code, "PERMISSION_DENIED");

      // The provider gone by the click: nothing was sent.
      await page.evaluate(() => delete window.webln);
      await page.click("ln-checkout [part=webln-button]");
      s = await waitCheckout(page, (s) => s.state === "ready" && /no browser wallet/i.test(s.text), "the vanished provider");
      assert.equal(s.code, "PAYMENT_FAILED");
      assert.equal(s.weblnButton.hidden, true, "its button gone");

      // The wallet says it paid, with a preimage of another payment: not proven, not payable again.
      await provider("lies");
      await page.evaluate(() => window.dispatchEvent(new Event("webln:ready")));
      await waitCheckout(page, (s) => !s.weblnButton.hidden && !s.weblnButton.disabled, "the provider back");
      await page.click("ln-checkout [part=webln-button]");
      s = await waitCheckout(page, (s) => s.state === "unverified", "the lying wallet's answer");
      assert.match(s.text, /preimage that does not match/);
      assert.equal(s.code, "PAYMENT_PENDING");
      assertAlert(s);
      assert.equal(s.weblnButton.hidden, true, "nothing payable: another wallet would pay again");

      const marked = await page.evaluate(() =>
        window.shop.checkout.markPaid("22".repeat(32)).then(
          () => "resolved",
          (e) => e.code,
        ),
      );
      assert.equal(marked, "PAYMENT_FAILED", "markPaid with a wrong preimage rejects");
      assert.equal((await checkout(page)).state, "unverified", "and changes nothing");
      assert.deepEqual(
        (await events(page, "error")).map((e) => e.code),
        ["PERMISSION_DENIED", "PAYMENT_FAILED", "PAYMENT_FAILED", "PERMISSION_DENIED", "PAYMENT_FAILED", "PAYMENT_PENDING", "PAYMENT_FAILED"],
      );
      assert.deepEqual(await events(page, "paid"), [], "never paid");
      const theirs = await net.merchant.call("GET", `/payments/${hash}`).catch((e) => e);
      assert.ok(theirs instanceof Error || theirs.status !== "succeeded", JSON.stringify(theirs));

      // A provider that cannot tell the outcome: `pending`, nothing payable; the shop's backend
      // later saw it paid (markPaid): paid.
      const preimage = randomBytes(32).toString("hex");
      const { invoice: held } = await net.merchant.call("POST", "/invoice", {
        amount_msat: 3_000_000,
        description: "outcome unknown",
        expiry_secs: 600,
        payment_hash: sha256(preimage),
      });
      await provider("pending");
      await setInvoice(page, held);
      await waitCheckout(page, (s) => s.state === "ready" && !s.weblnButton.hidden, "the second checkout");
      await page.click("ln-checkout [part=webln-button]");
      s = await waitCheckout(page, (s) => s.state === "pending", "the pending answer");
      assert.equal(s.code, "PAYMENT_PENDING");
      assert.equal(s.weblnButton.hidden, true, "nothing payable while the outcome is unknown");
      await page.evaluate((p) => window.shop.checkout.markPaid(p), preimage);
      const paid = await waitEvent(page, "paid");
      assert.equal(paid.paymentHash, sha256(preimage));
      assert.equal(paid.via, "external");
    } finally {
      await page.close();
    }
  });

  test("mark_paid_once", async () => {
    const page = await openShop("");
    try {
      const held = async (description) => {
        const preimage = randomBytes(32).toString("hex");
        const { invoice } = await net.merchant.call("POST", "/invoice", {
          amount_msat: 4_000_000,
          description,
          expiry_secs: 600,
          payment_hash: sha256(preimage),
        });
        return { invoice, preimage, hash: sha256(preimage) };
      };
      // Bitcoin Connect's onPaid and the shop's backend poll, at once.
      let inv = await held("paid elsewhere");
      await setInvoice(page, inv.invoice);
      await waitCheckout(page, (s) => s.state === "ready", "the invoice shown");
      const settled = await page.evaluate(
        (p) =>
          Promise.allSettled([window.shop.checkout.markPaid(p), window.shop.checkout.markPaid(p.toUpperCase())]).then((r) =>
            r.map((x) => x.status),
          ),
        inv.preimage,
      );
      assert.deepEqual(settled, ["fulfilled", "fulfilled"]);
      await new Promise((r) => setTimeout(r, 500));
      let paid = await events(page, "paid");
      assert.equal(paid.length, 1, `paid fired once: ${JSON.stringify(paid)}`);
      assert.equal(paid[0].paymentHash, inv.hash);

      // Already paid: a wrong preimage is still refused, and nothing fires `paid` again.
      const wrong = await page.evaluate(() => window.shop.checkout.markPaid("33".repeat(32)).then(() => "resolved", (e) => e.code));
      assert.equal(wrong, "PAYMENT_FAILED");
      assert.equal((await lastEvent(page, "error"))?.code, "PAYMENT_FAILED");
      assert.equal((await checkout(page)).state, "paid");
      assert.equal((await events(page, "paid")).length, 1);

      // A page without WebCrypto (http, not localhost): the preimage is still checked.
      await page.evaluate(() => Object.defineProperty(Crypto.prototype, "subtle", { get: () => undefined, configurable: true }));
      assert.equal(await page.evaluate(() => crypto.subtle), undefined);
      inv = await held("no WebCrypto");
      await setInvoice(page, inv.invoice);
      await waitCheckout(page, (s) => s.state === "ready", "the second invoice");
      const res = await page.evaluate((p) => window.shop.checkout.markPaid(p).then(() => "resolved", (e) => `${e.code}: ${e.message}`), inv.preimage);
      assert.equal(res, "resolved");
      paid = await events(page, "paid");
      assert.equal(paid.length, 2);
      assert.equal(paid[1].paymentHash, inv.hash);
    } finally {
      await page.close();
    }
  });

  test("checkout_pays_merchant", async () => {
    const page = await openShop("?wallet=1");
    await until("#wallet-status running", async () => (await attr(page, "#wallet-status", "data-state")) === "running", {
      page,
      log,
      timeoutMs: 120_000,
    });
    const funded = await page.evaluate(() => window.shop.fund("wallet"));
    assert.equal(funded.amountMsat, FUND_MSAT - lsps2FeeMsat(FUND_MSAT), "funded through a JIT channel");
    await waitGraph(page, "node");
    const channels = await page.evaluate(() => window.shop.node.listChannels());
    assert.deepEqual(channels.map((c) => c.counterpartyNodeId), [net.lsp.nodeId], "its one channel is the LSP's: 2 hops to the merchant");

    await page.click("button.buy[data-sku=beans]");
    let s = await waitCheckout(page, (s) => s.state === "ready" && !s.nodeButton.hidden, "the checkout with its node button");
    assert.equal(s.amount, "2,100 sat");
    assert.match(s.description, /Espresso beans/);
    assert.match(s.countdown, /^Expires in 1[45]:\d\d$/);
    assert.ok(s.qrShown, "QR shown");
    assert.equal(s.weblnButton.hidden, true, "no WebLN button without window.webln");
    const hash = await page.evaluate(() => window.shop.checkout.paymentHash);
    assert.match(hash, /^[0-9a-f]{64}$/);

    // Copy: the Clipboard API (granted), and the visible status.
    await page.click("ln-checkout [part=copy-button]");
    await until("Copied", async () => (await checkout(page)).copied === "Copied", { page, log });
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), await page.evaluate(() => window.shop.checkout.invoice));

    // Screenshots, light and dark (theme="auto" follows the system).
    await shots(page, "checkout-ready");

    await page.click("ln-checkout [part=node-button]");
    const paid = await waitEvent(page, "paid");
    assert.equal(paid.paymentHash, hash);
    assert.equal(sha256(paid.preimage), hash, "SHA-256(preimage) = payment hash");
    assert.equal(paid.via, "node");
    s = await checkout(page);
    assert.equal(s.state, "paid");
    assert.match(s.text, /Paid/);
    assertAnnounced(s);
    assert.equal(s.nodeButton.hidden, true, "nothing left to pay");
    assert.equal(
      await page.evaluate(() => window.shop.checkout.shadowRoot.activeElement?.getAttribute("part")),
      "status",
      "the pressed button is gone: focus moved to the status",
    );
    const theirs = await net.merchant.call("GET", `/payments/${hash}`);
    assert.equal(theirs.status, "succeeded", JSON.stringify(theirs));
    assert.equal(theirs.direction, "inbound");
    assert.equal(theirs.amount_msat, BEANS_SAT * 1000);
    await shots(page, "checkout-paid");
  });

  test("checkout_lightning_address", async () => {
    const page = ctx.pages().find((p) => p.url().includes("wallet=1"));
    assert.ok(page, "checkout_pays_merchant's page");
    const address = net.merchant.lightningAddress("shop");
    const before = await events(page, "paid");

    // With a comment (LUD-12); the success action (LUD-09) shown after.
    await page.fill("#ln-address", address);
    await page.fill("#ln-amount", "1234");
    await page.fill("#ln-comment", "for the beans");
    await page.click("#pay-address");
    let s = await waitCheckout(page, (s) => s.state === "ready" && !s.nodeButton.hidden, "the address's invoice");
    assert.equal(s.amount, "1,234 sat");
    const hash = await page.evaluate(() => window.shop.checkout.paymentHash);
    await page.click("ln-checkout [part=node-button]");
    const paid = await waitEvent(page, "paid", before.length);
    assert.equal(sha256(paid.preimage), hash);
    s = await waitCheckout(page, (s) => /Thanks! shop got 1234 sat/.test(s.text), "the success action's message");
    const records = await (await fetch(`${net.merchant.httpUrl}/lnurlp/shop/payments`)).json();
    const rec = records.find((r) => r.payment_hash === hash);
    assert.equal(rec?.comment, "for the beans", JSON.stringify(records));
    assert.equal((await net.merchant.call("GET", `/payments/${hash}`)).status, "succeeded");

    // The service's invoice commits to another description hash: refused, nothing paid.
    await page.evaluate((a) => window.shop.payAddress(a, 1000), net.merchant.lightningAddress("badhash"));
    s = await waitCheckout(page, (s) => s.state === "error", "the bad-hash invoice refused");
    assert.equal(s.code, "INVOICE_MISMATCH", s.text);
    assertAlert(s);
    assert.equal(s.nodeButton.hidden, true, "nothing to pay");

    // Above the service's maxSendable (1,000,000 sat).
    await page.evaluate((a) => window.shop.payAddress(a, 2_000_000), address);
    s = await waitCheckout(page, (s) => s.state === "error" && s.code === "AMOUNT_OUT_OF_RANGE", "the amount refused");
    assertAlert(s);
  });

  test("held_payment_outlives_expiry", async () => {
    // The merchant holds the HTLC (a hold invoice) until after the invoice's expiry: the payment
    // is in flight, so no `expired`; then it claims, and `paid` fires for that invoice.
    const page = ctx.pages().find((p) => p.url().includes("wallet=1"));
    assert.ok(page, "checkout_pays_merchant's page");
    const preimage = randomBytes(32).toString("hex");
    const hash = sha256(preimage);
    const amountMsat = 1_500_000;
    const expirySecs = 20;
    const madeAt = Date.now();
    const { invoice } = await net.merchant.call("POST", "/invoice", {
      amount_msat: amountMsat,
      description: "held past its expiry",
      expiry_secs: expirySecs,
      payment_hash: hash,
    });
    const { invoice: next, payment_hash: nextHash } = await net.merchant.call("POST", "/invoice", {
      amount_msat: 1_000_000,
      description: "the next order",
      expiry_secs: 600,
    });
    const paidBefore = (await events(page, "paid")).length;
    const expiredBefore = (await events(page, "expired")).length;
    // A shop that answers `expired` with a new invoice: had it fired, the payment's `paid` was lost.
    await page.evaluate((n) => {
      window.renewOnExpiry = () => window.shop.showInvoice(n, "A new invoice.");
      window.shop.checkout.addEventListener("expired", window.renewOnExpiry);
    }, next);
    try {
      await setInvoice(page, invoice);
      await waitCheckout(page, (s) => s.state === "ready" && !s.nodeButton.hidden && s.amount === "1,500 sat", "the hold invoice");
      await page.click("ln-checkout [part=node-button]");
      await waitCheckout(page, (s) => s.state === "paying", "paying");
      await until(
        "the merchant to hold the HTLC",
        async () => {
          const ev = await net.merchant.call("GET", "/events/next?timeout_ms=1000").catch(() => null);
          return ev?.type === "PaymentClaimable" && ev.payment_hash === hash ? ev : null;
        },
        { page, log, timeoutMs: 60_000, intervalMs: 10 },
      );

      // Moved in the DOM meanwhile (a page re-rendering its layout): the same payment goes on.
      await page.evaluate(() => {
        const c = window.shop.checkout;
        const [parent, after] = [c.parentNode, c.nextSibling];
        document.body.append(c);
        parent.insertBefore(c, after);
      });
      await new Promise((r) => setTimeout(r, 300));
      let s = await checkout(page);
      assert.equal(s.state, "paying", `re-parented, still paying: ${JSON.stringify(s)}`);
      assert.equal(await page.evaluate(() => window.shop.checkout.paymentHash), hash);

      // Past the expiry: still paying, no `expired`.
      const wait = madeAt + (expirySecs + 3) * 1000 - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      s = await checkout(page);
      assert.equal(s.state, "paying", `still paying after the expiry: ${JSON.stringify(s)}`);
      assert.equal((await events(page, "expired")).length, expiredBefore, "no expired while the payment is in flight");

      // A new invoice set while paying waits for the attempt.
      await setInvoice(page, next);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(await page.evaluate(() => window.shop.checkout.paymentHash), hash, "the reload waits");

      await net.merchant.call("POST", "/claim", { payment_hash: hash, preimage, amount_msat: amountMsat });
      const paid = await waitEvent(page, "paid", paidBefore);
      assert.equal(paid.paymentHash, hash);
      assert.equal(paid.preimage, preimage);
      assert.equal(paid.via, "node");
      s = await waitCheckout(page, (s) => s.state === "ready" && s.amount === "1,000 sat", "then the new invoice");
      assert.equal(await page.evaluate(() => window.shop.checkout.paymentHash), nextHash);
      await new Promise((r) => setTimeout(r, 500));
      assert.equal((await events(page, "paid")).length, paidBefore + 1, "paid once");
      assert.equal((await events(page, "expired")).length, expiredBefore, "never expired");
      assert.equal((await net.merchant.call("GET", `/payments/${hash}`)).status, "succeeded");
    } finally {
      await page.evaluate(() => window.shop.checkout.removeEventListener("expired", window.renewOnExpiry)).catch(() => {});
    }
  });

  test("checkout_via_webln", async () => {
    weblnPage = await openShop("?webln=1");
    const page = weblnPage;
    await until("#webln-status running", async () => (await attr(page, "#webln-status", "data-state")) === "running", {
      page,
      log,
      timeoutMs: 120_000,
    });
    assert.equal(await page.evaluate(() => typeof window.webln?.sendPayment), "function", "window.webln injected");
    await page.evaluate(() => window.shop.fund("webln"));
    await waitGraph(page, "weblnNode");

    await page.click("button.buy[data-sku=beans]");
    let s = await waitCheckout(page, (s) => s.state === "ready" && !s.weblnButton.hidden, "the checkout with its WebLN button");
    assert.equal(s.nodeButton.hidden, true, "no node button: the page has no node of its own");
    const hash = await page.evaluate(() => window.shop.checkout.paymentHash);
    await page.click("ln-checkout [part=webln-button]");
    const paid = await waitEvent(page, "paid");
    assert.equal(paid.via, "webln");
    assert.equal(sha256(paid.preimage), hash);
    assert.equal((await net.merchant.call("GET", `/payments/${hash}`)).status, "succeeded");

    // 25,000 sat, above the provider's 20,000 sat a payment (the node has ~47,000).
    assert.ok(GRINDER_SAT * 1000 > WEBLN_MSAT_PER_PAYMENT);
    const errorsBefore = (await events(page, "error")).length;
    await page.click("button.buy[data-sku=grinder]");
    await waitCheckout(page, (s) => s.state === "ready" && s.amount === "25,000 sat", "the grinder's checkout");
    const grinderHash = await page.evaluate(() => window.shop.checkout.paymentHash);
    await page.click("ln-checkout [part=webln-button]");
    s = await waitCheckout(page, (s) => s.code === "BUDGET_EXCEEDED", "the budget refusal");
    assertAlert(s);
    const errs = (await events(page, "error")).slice(errorsBefore);
    assert.deepEqual(errs.map((e) => e.code), ["BUDGET_EXCEEDED"]);
    assert.equal(s.weblnButton.disabled, false, "the invoice stays payable another way");
    await new Promise((r) => setTimeout(r, 1000));
    const got = await net.merchant.call("GET", `/payments/${grinderHash}`).catch((e) => e);
    assert.ok(got instanceof Error ? got.status === 404 : got.status !== "succeeded", `the merchant got nothing: ${JSON.stringify(got)}`);
  });

  test("bitcoin_connect_pays", async () => {
    const page = weblnPage;
    assert.ok(page, "checkout_via_webln's page");
    const paidBefore = (await events(page, "paid")).length;
    await page.click("button.buy[data-sku=beans]");
    await waitCheckout(page, (s) => s.state === "ready" && s.amount === "2,100 sat", "a new checkout");
    const hash = await page.evaluate(() => window.shop.checkout.paymentHash);

    await page.click("#bc-pay");
    // Bitcoin Connect's modal, in its shadow DOM (Playwright's locators pierce open shadow roots):
    // "Connect Wallet to Pay", then its "Browser Extensions" connector (listed because
    // window.webln is there; it calls enable() and getInfo()), then "Confirm Payment" (sendPayment).
    try {
      await page.getByText("Connect Wallet to Pay").first().click({ timeout: 30_000 });
      await page.locator("bc-extension-connector").first().click({ timeout: 30_000 });
    } catch (e) {
      await screenshot(page, "bitcoin-connect-stuck");
      throw e;
    }
    await page.getByText("Confirm Payment").first().click({ timeout: 30_000 });
    await page.getByText("Paid!").first().waitFor({ timeout: 60_000 });
    await screenshot(page, "bitcoin-connect-paid");
    const bcPaid = await page.evaluate(() => window.shop.bcPaid);
    assert.equal(bcPaid.length, 1);
    assert.equal(sha256(bcPaid[0].preimage), hash, "Bitcoin Connect's preimage is the invoice's");
    assert.equal((await net.merchant.call("GET", `/payments/${hash}`)).status, "succeeded", "the merchant received it");
    // The shop handed Bitcoin Connect's preimage to the checkout (markPaid): checked, then paid.
    const paid = await waitEvent(page, "paid", paidBefore);
    assert.equal(paid.via, "external");
    assert.equal(paid.paymentHash, hash);
  });
});

/** The shop page (`query` e.g. "?wallet=1"), once it says it is ready. */
async function openShop(query) {
  const page = await ctx.newPage();
  recordConsole(page, log, `[shop${query}]`);
  await page.goto(`${server.url}/shop.html${query}`);
  await until("the shop to be ready", async () => (await attr(page, "#shop-status", "data-state")) === "ready", {
    page,
    log,
    timeoutMs: 180_000,
  });
  return page;
}

const attr = (page, selector, name) => page.$eval(selector, (el, n) => el.getAttribute(n), name).catch(() => null);

/** The shop's checkout of `invoice` (shop.ts's showInvoice). */
async function setInvoice(page, invoice) {
  await page.evaluate((inv) => window.shop.showInvoice(inv, "An invoice from the test."), invoice);
}

/** What the checkout shows, read from its shadow root. */
function checkout(page) {
  return page.evaluate(() => {
    const c = window.shop.checkout;
    const r = c.shadowRoot;
    const q = (p) => r.querySelector(`[part=${p}]`);
    const button = (p) => ({ hidden: q(p).hidden, disabled: q(p).disabled });
    const status = q("status");
    return {
      state: c.state,
      code: status.dataset.code ?? null,
      text: status.textContent.trim(),
      role: status.getAttribute("role"),
      live: status.getAttribute("aria-live"),
      visible: status.checkVisibility() && status.getBoundingClientRect().height > 0,
      amount: q("amount").hidden ? null : q("amount").textContent.trim(),
      description: q("description").textContent.trim(),
      countdown: r.querySelector(".clock").textContent.trim(),
      qrShown: !q("qr").hidden && !!q("qr").querySelector("svg path"),
      qrDim: q("qr").classList.contains("dim"),
      copied: r.querySelector("#copied").textContent.trim(),
      copyDisabled: q("copy-button").disabled,
      nodeButton: button("node-button"),
      weblnButton: button("webln-button"),
    };
  });
}

async function waitCheckout(page, pred, what, timeoutMs = 60_000) {
  let last;
  try {
    return await until(
      what,
      async () => {
        last = await checkout(page);
        return pred(last) ? last : null;
      },
      { page, log, allowError: true, timeoutMs },
    );
  } catch (e) {
    throw new Error(`${e.message}\nthe checkout: ${JSON.stringify(last)}`);
  }
}

/** A message in the status region: visible, and in a polite live region (progress, paid). */
function assertAnnounced(s) {
  assert.equal(s.role, "status");
  assert.equal(s.live, "polite");
  assert.ok(s.visible, "the message is visible");
  assert.ok(s.text.length > 4, `a message in words: ${JSON.stringify(s.text)}`);
}

/** A failure in the status region: visible, and assertive (`role="alert"`). */
function assertAlert(s) {
  assert.equal(s.role, "alert");
  assert.equal(s.live, "assertive");
  assert.ok(s.visible, "the message is visible");
  assert.ok(s.text.length > 10, `a message in words: ${JSON.stringify(s.text)}`);
}

const events = (page, type) => page.evaluate((t) => window.shop.events.filter((e) => e.type === t).map((e) => e.detail), type);
const lastEvent = async (page, type) => (await events(page, type)).at(-1);

/** The checkout's `type` event after the first `skip` ones; fails at once on an `error` event. */
async function waitEvent(page, type, skip = 0) {
  const errorsBefore = (await events(page, "error")).length;
  return until(
    `the checkout's ${type} event`,
    async () => {
      const errs = (await events(page, "error")).slice(errorsBefore);
      if (errs.length && type !== "error") {
        throw Object.assign(new Error(`error event instead: ${JSON.stringify(errs)}`), { fatal: true });
      }
      return (await events(page, type))[skip] ?? null;
    },
    { page, log, timeoutMs: 90_000 },
  );
}

/** Waits for the LSP topology's channels in the graph of `window.shop[key]` (RGS, then gossip). */
async function waitGraph(page, key) {
  await until(
    `the ${key}'s graph`,
    async () => (await page.evaluate(async (k) => (await window.shop[k].getInfo()).graph, key))?.channels >= 2,
    { page, log, timeoutMs: 60_000, intervalMs: 500 },
  );
}

/** Full-page and element screenshots of the checkout, light then dark. */
async function shots(page, name) {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  for (const scheme of ["light", "dark"]) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.locator("ln-checkout").screenshot({ path: path.join(SCREENSHOTS, `${name}-${scheme}.png`) }).catch(() => {});
    await screenshot(page, `shop-${name}-${scheme}`);
  }
  await page.emulateMedia({ colorScheme: null });
}
