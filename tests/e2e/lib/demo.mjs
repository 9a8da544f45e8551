// Driving the demo page (www/) through its stable element ids: one function a user action, so
// the test reads as the flow it checks.
import { execFileSync } from "node:child_process";
import path from "node:path";
import { fatal, until, pageState } from "./browser.mjs";

/**
 * The demo page against the packed tarball (www/ does not list wasm-ln): test.sh builds the
 * tarball but not the page. pkg-scripts/build-demo.sh rebuilds whichever is stale, as demo.sh
 * does.
 */
export function buildDemo(root) {
  try {
    execFileSync(path.join(root, "pkg-scripts/build-demo.sh"), { stdio: ["ignore", "pipe", "pipe"], timeout: 900_000 });
  } catch (e) {
    throw new Error(`pkg-scripts/build-demo.sh failed:\n${e.stdout}\n${e.stderr}`);
  }
}

/** Loads the page and waits for its /config.json (it fills #network then): only then can it start a node. */
export async function load(page, url, { log } = {}) {
  await page.goto(url);
  await until("the page to load its config (#network)", async () => (await text(page, "#network")) !== "", { page, log, allowError: true });
}

/** Fills the passphrase and presses #create or #open; resolves once #status says running. */
export async function startWallet(page, { passphrase, action, log, timeoutMs = 120_000 }) {
  await page.fill("#passphrase", passphrase);
  await page.click(action === "create" ? "#create" : "#open");
  await until(`the node to run after #${action}`, async () => (await pageState(page)).state === "running", {
    page,
    log,
    timeoutMs,
    errorBefore: "",
  });
}

/**
 * #open, again until it works: another page's Web Lock goes when that page does, but not
 * necessarily at the instant Playwright's close() returns.
 */
export async function openWithRetries(page, { passphrase, log, attempts = 10 }) {
  let last;
  for (let i = 0; i < attempts; i++) {
    await page.fill("#passphrase", passphrase);
    await page.click("#open");
    last = await until(
      "#open to either run the node or fail",
      async () => {
        const s = await pageState(page);
        if (s.state === "running") return s;
        if (s.error && s.state !== "starting") return s;
        return null;
      },
      { page, log, allowError: true, timeoutMs: 120_000 },
    );
    if (last.state === "running") return i + 1;
    if (last.code !== "NODE_LOCKED") throw new Error(`#open failed: [${last.code}] ${last.error}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`still NODE_LOCKED after ${attempts} attempts: ${last.error}`);
}

/**
 * After #create: reads the recovery words (#mnemonic), ticks "I wrote them down"
 * (#mnemonic-ack) and continues to the wallet (#mnemonic-done). Returns the words.
 */
export async function acknowledgeWords(page, { log } = {}) {
  const words = await until("#mnemonic to show the words", async () => {
    const w = (await text(page, "#mnemonic")).split(/\s+/).filter(Boolean);
    return w.length >= 12 ? w : null;
  }, { page, log });
  await page.check("#mnemonic-ack");
  await page.click("#mnemonic-done");
  await until("#wallet to show", () => page.isVisible("#wallet"), { page, log });
  return words;
}

/** Opens the closed <details> around `selector` (the channel form, the on-chain receive). */
export const reveal = (page, selector) =>
  page.$eval(selector, (el) => {
    for (let d = el.closest("details"); d; d = d.parentElement?.closest("details")) d.open = true;
  });

/**
 * Pays `target` (an invoice, a Lightning address or an LNURL) through #send-input →
 * #send-next → the review dialog (#send-amount and #send-comment for an LNURL) →
 * #send-confirm; waits for #send-result to say succeeded, then closes the dialog. Returns
 * #send-result's data-payment-hash and the success action's text.
 */
export async function sendFromPage(page, target, { amountSat, comment, log, timeoutMs = 120_000 } = {}) {
  await page.fill("#send-input", target);
  await page.click("#send-next");
  await until("the send review dialog", () => page.isVisible("#send-confirm"), { page, log, errorBefore: "" });
  if (amountSat !== undefined) await page.fill("#send-amount", String(amountSat));
  if (comment !== undefined) await page.fill("#send-comment", comment);
  await page.click("#send-confirm");
  await until("#send-result to show success", async () => {
    const status = (await attr(page, "#send-result", "data-status")) ?? "";
    if (status === "failed") throw fatal(`#send-result: ${await text(page, "#send-result")} ${await text(page, "#send-dialog .dialog-error")}`);
    return status === "succeeded";
  }, { page, log, errorBefore: "", timeoutMs });
  const paymentHash = await attr(page, "#send-result", "data-payment-hash");
  const successAction = await text(page, "#send-success-action .success-text");
  await page.click("#send-close");
  return { paymentHash, successAction };
}

/**
 * Receive: #invoice-amount and #invoice-description, #create-invoice → the quote
 * (#receive-quote, its data-fee-msat) → #receive-confirm → the invoice (#invoice-out). The
 * dialog stays open (#invoice-status says "Received"; #receive-close closes it).
 */
export async function createInvoice(page, { amountSat, description, log }) {
  await page.fill("#invoice-amount", String(amountSat));
  await page.fill("#invoice-description", description);
  await page.click("#create-invoice");
  const quote = await until("the receive quote", async () => {
    if (!(await page.isVisible("#receive-confirm"))) return null;
    return { text: await text(page, "#receive-quote"), feeMsat: Number(await attr(page, "#receive-quote", "data-fee-msat")), viaJit: (await attr(page, "#receive-quote", "data-via-jit")) === "true" };
  }, { page, log, errorBefore: "" });
  await page.click("#receive-confirm");
  const invoice = await until("#invoice-out", async () => {
    const t = await text(page, "#invoice-out");
    return t.startsWith("lnbcrt") ? t : null;
  }, { page, log, errorBefore: "" });
  return { quote, invoice };
}

export const attr = (page, selector, name) =>
  page.$eval(selector, (el, n) => el.getAttribute(n), name).catch(() => null);

export const text = (page, selector) =>
  page
    .$eval(selector, (el) =>
      (el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement ? el.value : el.textContent ?? "").trim(),
    )
    .catch(() => "");

export async function onchainSat(page) {
  return Number((await attr(page, "#onchain-balance", "data-sat")) ?? NaN);
}

/** The rows of #channels: [{id, ready, usable}]. */
export async function channels(page) {
  return page.$$eval("#channels [data-channel-id]", (rows) =>
    rows.map((r) => ({
      id: r.getAttribute("data-channel-id"),
      ready: r.getAttribute("data-ready") === "true",
      usable: r.getAttribute("data-usable") === "true",
    })),
  );
}

/** The rows of #payments: [{id, status, direction}]. */
export async function payments(page) {
  return page.$$eval("#payments [data-payment-id]", (rows) =>
    rows.map((r) => ({
      id: r.getAttribute("data-payment-id"),
      status: (r.getAttribute("data-status") ?? "").toLowerCase(),
      direction: (r.getAttribute("data-direction") ?? "").toLowerCase(),
    })),
  );
}

/** Calls the node behind the page (window.demo.node, in the page or proxied to its worker):
 * `nodeCall(page, "onchain.balance")`. */
export const nodeCall = (page, method, ...args) =>
  page.evaluate(
    async ([m, a]) => {
      const names = m.split(".");
      let self = window.demo.node;
      for (const n of names.slice(0, -1)) self = self[n];
      return self[names.at(-1)](...a);
    },
    [method, args],
  );
