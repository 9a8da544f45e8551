// Driving the demo page (www/) through its stable element ids: one function a user action, so
// the test reads as the flow it checks.
import { until, pageState } from "./browser.mjs";

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
