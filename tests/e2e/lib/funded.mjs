// A page with the packed package (lib/plain.mjs) on the LSP test network, and nodes in it
// funded by the merchant through a JIT channel: what lnurl.test.mjs and webln.test.mjs start
// from. `close()` stops the nodes, the browser, the server and the network, and removes the
// profile.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { launchPersistent, recordConsole, until } from "./browser.mjs";
import { LSP_CHANNELS, startNetwork } from "./network.mjs";
import { plainSite } from "./plain.mjs";
import { serveDemo } from "./serve.mjs";

/** 50,000 sat or more: smaller JIT payments fail at ldk-node's LSP (network.test.mjs). */
export const FUND_MSAT = 60_000_000;

export async function fundedPage(name, log) {
  const net = await startNetwork({ targetDir: process.env.CARGO_TARGET_DIR, topology: "lsp", peer: false });
  const env = { net, log };
  try {
    env.site = plainSite(`wasm-ln-${name}-`);
    env.server = await serveDemo({ root: env.site, config: {} });
    env.profile = fs.mkdtempSync(path.join(os.tmpdir(), `wasm-ln-${name}-profile-`));
    env.ctx = await launchPersistent(env.profile);
    env.page = await env.ctx.newPage();
    recordConsole(env.page, log, `[${name}]`);
    await env.page.goto(env.server.url + "/");
    await env.page.waitForFunction(() => document.title === "ready");
  } catch (e) {
    await closeEnv(env);
    throw e;
  }
  env.close = () => closeEnv(env);
  /** Runs `fn(arg)` in the page (`window.wasmLn` is the package, `window.nodes` the nodes). */
  env.inPage = (fn, arg) => env.page.evaluate(fn, arg);
  env.config = (storageName) => ({
    network: "regtest",
    esploraUrl: net.esploraUrl,
    proxyUrl: net.proxyUrl,
    lsp: net.lspConfig,
    storage: { kind: "indexeddb", name: storageName },
    seed: { storePlaintext: true },
    logLevel: "warn",
  });
  /** The config each node was created with (`open` it again after a reload). */
  env.configs = {};
  /** A node in the page as `window.nodes[key]`, funded with `amountMsat` from the merchant
   *  through a JIT channel, its graph holding the LSP topology; `extra` joins its config
   *  (`{ worker: true }`). Returns its node id. */
  env.fundedNode = async (key, amountMsat = FUND_MSAT, extra = {}) => {
    env.configs[key] = { ...env.config(`${name}-${key}-${Date.now()}`), ...extra };
    const nodeId = await env.inPage(
      async ([key, config]) => {
        window.nodes ??= {};
        const node = await window.wasmLn.LightningNode.create(config);
        window.nodes[key] = node;
        return node.nodeId;
      },
      [key, env.configs[key]],
    );
    const quote = await env.inPage(
      ([key, amountMsat]) => window.nodes[key].bolt11.receiveViaJitChannel({ amountMsat, description: "funding" }),
      [key, amountMsat],
    );
    const { payment_id: paymentId } = await net.merchant.call("POST", "/pay", { invoice: quote.invoice });
    await until(
      `${key}: the merchant's JIT payment arrives`,
      async () => {
        const p = await env.inPage(([key, hash]) => window.nodes[key].payment(hash), [key, quote.paymentHash]);
        if (p?.status === "succeeded") return p;
        const theirs = await net.merchant.call("GET", `/payments/${paymentId}`).catch(() => null);
        assert.notEqual(theirs?.status, "failed", `the merchant's JIT payment failed: ${JSON.stringify(theirs)}`);
        return null;
      },
      { timeoutMs: 60_000, intervalMs: 200, log },
    );
    await until(
      `${key}: the LSP topology's channels in the graph`,
      async () => {
        const g = (await env.inPage((key) => window.nodes[key].getInfo(), key)).graph;
        return g.channels >= LSP_CHANNELS.length;
      },
      { timeoutMs: 60_000, intervalMs: 500, log },
    );
    return nodeId;
  };
  return env;
}

async function closeEnv(env) {
  await env.page
    ?.evaluate(async () => {
      for (const n of Object.values(window.nodes ?? {})) await n.stop().catch(() => {});
    })
    .catch(() => {});
  await env.ctx?.close().catch(() => {});
  if (env.profile) fs.rmSync(env.profile, { recursive: true, force: true });
  await env.server?.close();
  if (env.site) fs.rmSync(env.site, { recursive: true, force: true });
  await env.net?.stop();
}

/** Runs `fn(arg)` in the page and returns `{ ok, value }` or `{ ok: false, code, message }`:
 *  an LnError's code does not survive `page.evaluate`'s rejection. */
export async function attempt(env, fn, arg) {
  return env.page.evaluate(
    async ([src, arg]) => {
      try {
        // eslint-disable-next-line no-new-func
        const value = await new Function(`return (${src})`)()(arg);
        return { ok: true, value };
      } catch (e) {
        return { ok: false, code: e?.code ?? null, name: e?.name ?? null, message: String(e?.message ?? e) };
      }
    },
    [fn.toString(), arg],
  );
}
