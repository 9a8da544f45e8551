// screenshots_and_accessibility: the demo wallet in a few states (new; the receive dialog with
// its quote and with its invoice; funded, with history) and the shop page with <ln-checkout>
// showing a merchant invoice, each in light and dark (page.emulateMedia): a screenshot of each
// in $WASM_LN_TEST_LOGS/screenshots/ (default /tmp), and an axe-core check (WCAG 2.0/2.1 A and
// AA rules; axe walks open shadow roots, so the checkout's inside too) that fails on any
// serious or critical violation, listing them all.
import assert from "node:assert/strict";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import { launchPersistent, recordConsole, screenshot, SCREENSHOTS, until } from "./lib/browser.mjs";
import { acknowledgeWords, attr, buildDemo, createInvoice, load, startWallet } from "./lib/demo.mjs";
import { startDemo } from "./lib/serve.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const AXE = createRequire(import.meta.url).resolve("axe-core/axe.min.js");
const WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];
const SCHEMES = ["light", "dark"];

let net;
let server;
let demo;

describe("screenshots and accessibility", () => {
  before(async () => {
    buildDemo(ROOT);
    demo = await startDemo({ root: path.join(ROOT, "www/dist") });
    ({ net, server } = demo);
  });

  after(async () => {
    await demo?.stop();
  });

  test("screenshots_and_accessibility", async () => {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), "wasm-ln-e2e-a11y-"));
    const ctx = await launchPersistent(profile);
    const log = [];
    const found = []; // every serious or critical violation, of every state
    const checked = [];
    try {
      const page = ctx.pages()[0] ?? (await ctx.newPage());
      recordConsole(page, log, "page");
      const check = async (state) => {
        for (const scheme of SCHEMES) {
          const name = `a11y-${state}-${scheme}`;
          await page.emulateMedia({ colorScheme: scheme });
          await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
          await screenshot(page, name);
          const violations = await axe(page);
          checked.push(`${name}: ${violations.length} violation(s)`);
          for (const v of violations) {
            if (v.impact === "serious" || v.impact === "critical") found.push({ page: name, ...v });
          }
        }
      };

      // The wallet, new.
      await load(page, `${server.url}/`, { log });
      await check("wallet-new");

      // The receive dialog: the quote, then the invoice with its QR.
      await startWallet(page, { passphrase: "a11y passphrase", action: "create", log });
      await check("wallet-words");
      await acknowledgeWords(page, { log });
      await page.fill("#invoice-amount", "60000");
      await page.fill("#invoice-description", "coffee beans");
      await page.click("#create-invoice");
      await until("the quote", () => page.isVisible("#receive-confirm"), { page, log, errorBefore: "" });
      await check("wallet-receive-quote");
      await page.click("#receive-cancel");
      const { invoice } = await createInvoice(page, { amountSat: 60_000, description: "coffee beans", log });
      await check("wallet-receive-invoice");

      // Funded, with history: the merchant pays; then a send-input error shown too.
      await net.merchant.call("POST", "/pay", { invoice });
      await until("Received", async () => (await attr(page, "#invoice-status", "data-state")) === "received", { page, log, timeoutMs: 120_000 });
      await check("wallet-received");
      await page.click("#receive-close");
      await until("the history row", async () => (await page.$$("#payments tr[data-status=succeeded]")).length > 0, { page, log });
      await page.fill("#send-input", "not a payment request");
      await page.click("#send-next");
      await until("#send-input-error", () => page.isVisible("#send-input-error"), { page, log, errorBefore: "" });
      await check("wallet-funded");

      // The shop: a product's merchant invoice in <ln-checkout>.
      await page.goto(`${server.url}/shop.html`);
      await until("the shop to open", async () => (await attr(page, "#shop-status", "data-state")) === "ready", { page, log, allowError: true });
      await page.click("button.buy[data-sku=beans]");
      await until("<ln-checkout> to show the invoice", () => page.$eval("#checkout", (el) => el.state === "ready"), { page, log, allowError: true, timeoutMs: 30_000 });
      await check("shop-checkout");
    } finally {
      await ctx.close().catch(() => {});
      fs.rmSync(profile, { recursive: true, force: true });
    }
    console.log(`# screenshots in ${SCREENSHOTS}\n# ${checked.join("\n# ")}`);
    assert.deepEqual(
      found.map((v) => `${v.page}: [${v.impact}] ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`),
      [],
      `serious or critical accessibility violations:\n${found
        .map((v) => `- ${v.page}: [${v.impact}] ${v.id}: ${v.help}\n${v.nodes.map((n) => `    ${n.target.join(" ")}: ${n.failureSummary?.replace(/\n/g, " ")}`).join("\n")}`)
        .join("\n")}`,
    );
  });
});

/** axe-core's violations of the WCAG 2 A/AA rules on the page as it is now. */
async function axe(page) {
  if (!(await page.evaluate(() => typeof window.axe !== "undefined"))) await page.addScriptTag({ path: AXE });
  return page.evaluate(async (tags) => {
    const r = await window.axe.run(document, { runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target.map(String), failureSummary: n.failureSummary })),
    }));
  }, WCAG_TAGS);
}
