// Chromium through playwright-core, and bounded waits that fail with what the page shows.
// Debian's Chromium is used as is: `npx playwright install` downloads nothing here.
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

// Root needs --no-sandbox; the rest keeps Chromium off the network (only loopback works here).
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export const LOGS = process.env.WASM_LN_TEST_LOGS ?? "/tmp";
export const SCREENSHOTS = path.join(LOGS, "screenshots");

/** A persistent context, so IndexedDB (and the wallet in it) survives page reloads. */
export async function launchPersistent(userDataDir) {
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM_EXE ?? "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
  });
}

/** Keeps the page's console and errors (the worker's too) for failure messages. */
export function recordConsole(page, lines, tag) {
  const push = (s) => {
    lines.push(`${tag} ${s}`);
    if (lines.length > 400) lines.shift();
  };
  page.on("console", (m) => push(`[${m.type()}] ${m.text()}`));
  page.on("pageerror", (e) => push(`[pageerror] ${e.stack ?? e.message}`));
  page.on("worker", (w) => w.on("console", (m) => push(`[worker ${m.type()}] ${m.text()}`)));
}

/** What the demo page says about itself: #status's state and #error's code and text. */
export async function pageState(page) {
  if (page.isClosed()) return { state: "closed", code: null, error: "" };
  return page
    .evaluate(() => {
      const err = document.querySelector("#error");
      const status = document.querySelector("#status");
      return {
        state: status?.getAttribute("data-state") ?? null,
        code: err?.getAttribute("data-code") || null,
        error: (err?.textContent ?? "").trim(),
      };
    })
    .catch((e) => ({ state: "unreadable", code: null, error: String(e) }));
}

export async function screenshot(page, name) {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true }).catch(() => {});
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `check` (async, returns a truthy value when done) until `timeoutMs`. Fails at once if
 * `page`'s #error shows a message other than `errorBefore` (unless `allowError`) or `check`
 * throws a `fatal()` error; on timeout, with #error, #status and the last console lines: a
 * stuck wait must say why.
 */
export async function until(what, check, { page, timeoutMs = 60_000, intervalMs = 250, allowError = false, log = [], errorBefore } = {}) {
  const started = Date.now();
  // Right after a click on a demo action (which clears #error first), pass errorBefore: "",
  // or an error shown before this first look would pass for an old one.
  errorBefore ??= page ? (await pageState(page)).error : "";
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (e) {
      if (e?.fatal) throw new Error(`${what}: ${e.message}\n${tail(log)}`);
      last = e; // e.g. a page mid-navigation: try again
    }
    if (page && !allowError) {
      const s = await pageState(page);
      if (s.error && s.error !== errorBefore) {
        throw new Error(`${what}: the page shows an error: [${s.code}] ${s.error}\n${tail(log)}`);
      }
    }
    if (Date.now() - started > timeoutMs) {
      const s = page ? await pageState(page) : {};
      throw new Error(
        `timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}` +
          (page ? `; #status=${s.state} #error=[${s.code}] ${JSON.stringify(s.error)}` : "") +
          (last instanceof Error ? `; last error: ${last.message}` : "") +
          `\n${tail(log)}`,
      );
    }
    await sleep(intervalMs);
  }
}

/** An error that ends an `until` at once instead of being retried. */
export function fatal(message) {
  return Object.assign(new Error(message), { fatal: true });
}

function tail(log) {
  return log.length ? `last console lines:\n  ${log.slice(-30).join("\n  ")}` : "";
}
