// The figures DESIGN.md §4 budgets, measured on this machine and printed as ONE markdown table
// (progress goes to stderr). Figures only: nothing here asserts a timing. Run through
// pkg-scripts/bench.sh, which builds what this needs and the native bench first:
//
//   node tests/e2e/bench.mjs [--native-output FILE] [--payments 50] [--heap-payments 1000] [--loads 10]
//                            [--jit-runs 5] [--rgs-snapshot FILE]
//
// The browser node runs in this page (not a Worker) of Debian's Chromium, importing the package
// straight from pkg/ (no bundler), against the same regtest network and ldk-node peer as the e2e,
// plus the LSP topology (network.mjs) for the JIT receive. The RGS row applies the snapshot
// FILE (`rgs-snapshot synthetic ... --network regtest`, made by bench.sh) served from a tiny
// loopback HTTP server.
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import zlib from "node:zlib";

import { launchPersistent, until } from "./lib/browser.mjs";
import { startNetwork } from "./lib/network.mjs";
import { serveDemo } from "./lib/serve.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
const PKG = path.join(ROOT, "pkg");
const TARGET = process.env.CARGO_TARGET_DIR || path.join(os.homedir(), ".cache/wasm-ln/target");
const { values: opt } = parseArgs({
  options: {
    "native-output": { type: "string" },
    payments: { type: "string", default: "50" },
    "heap-payments": { type: "string", default: "1000" },
    loads: { type: "string", default: "10" },
    "jit-runs": { type: "string", default: "5" },
    "rgs-snapshot": { type: "string" },
  },
});
const JIT_RUNS = Number(opt["jit-runs"]);
const PAYMENTS = Number(opt.payments);
const HEAP_PAYMENTS = Number(opt["heap-payments"]);
const LOADS = Number(opt.loads);
const PASSPHRASE = "bench passphrase";
const say = (s) => process.stderr.write(`bench: ${s}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// --- statistics --------------------------------------------------------------------------------
const sorted = (xs) => [...xs].sort((a, b) => a - b);
const quantile = (xs, q) => sorted(xs)[Math.min(xs.length - 1, Math.floor(xs.length * q))];
const median = (xs) => quantile(xs, 0.5);
const ms = (x) => (x === undefined || Number.isNaN(x) ? "n/a" : `${x.toFixed(1)} ms`);
const mb = (bytes) => `${(bytes / 1e6).toFixed(2)} MB`;

// --- wasm size as served -----------------------------------------------------------------------
function wasmSizes() {
  const wasm = fs.readFileSync(path.join(PKG, "wasm_ln_bg.wasm"));
  const gzip = zlib.gzipSync(wasm, { level: 9 }).length;
  // brotli -q 11 with the CLI's default window (24 bits); zlib's default is 22.
  const brotli = zlib.brotliCompressSync(wasm, {
    params: {
      [zlib.constants.BROTLI_PARAM_QUALITY]: 11,
      [zlib.constants.BROTLI_PARAM_LGWIN]: 24,
      [zlib.constants.BROTLI_PARAM_SIZE_HINT]: wasm.length,
    },
  }).length;
  return { raw: wasm.length, gzip, brotli };
}

// --- the browser node --------------------------------------------------------------------------
/** Calls `fn(arg)` in the page, where `window.ln` is the package and `window.node` the node. */
const inPage = (page, fn, arg) => page.evaluate(fn, arg);

/**
 * Runs `fn(page)` on the bench page in a fresh persistent Chromium profile, with the package
 * imported as `window.ln`; the browser is closed and the profile removed afterwards.
 */
async function withBenchPage(serverUrl, name, fn) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), `wasm-ln-bench-${name}-`));
  const ctx = await launchPersistent(profile);
  try {
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    page.on("pageerror", (e) => say(`pageerror: ${e.message}`));
    await page.goto(`${serverUrl}/bench.html`);
    await inPage(page, async () => {
      window.ln = await import("/pkg/index.js");
    });
    return await fn(page);
  } finally {
    await ctx.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

async function browserFigures(net, serverUrl) {
  return withBenchPage(serverUrl, "profile", async (page) => {
    const out = {};
    const config = {
      network: "regtest",
      esploraUrl: net.esploraUrl,
      proxyUrl: net.proxyUrl,
      storage: { kind: "indexeddb", name: "bench" },
      seed: { passphrase: PASSPHRASE },
    };
    await inPage(page, async (cfg) => {
      window.node = await window.ln.LightningNode.create(cfg);
    }, config);

    // Fund, open 1,000,000 sat to the peer, wait until usable.
    const address = await inPage(page, () => window.node.onchain.newAddress());
    await net.control("faucet", { address, amount_sat: 2_000_000, confirm: true });
    await until("the bench node's funds", () => inPage(page, async () => {
      await window.node.sync();
      return (await window.node.onchain.balance()).spendableSat > 0;
    }), { timeoutMs: 120_000, intervalMs: 500 });
    await inPage(page, (peer) => window.node.openChannel({ peer, amountSat: 1_000_000 }), net.peer.uri);
    await mempoolNonEmpty(net);
    await net.mine(6);
    await until("the bench channel to be usable", () => inPage(page, async () => {
      await window.node.sync();
      return (await window.node.listChannels()).some((c) => c.isUsable);
    }), { timeoutMs: 180_000, intervalMs: 1000 });
    say("browser node: channel usable");

    // 1-hop payment latency: bolt11.send from call to resolve (it resolves on success).
    const times = [];
    for (let i = -2; i < PAYMENTS; i++) {
      const { invoice } = await net.peerCall("POST", "/invoice", { amount_msat: 1_000_000, description: `bench ${i}` });
      const t = await inPage(page, async (inv) => {
        const t0 = performance.now();
        await window.node.bolt11.send({ invoice: inv });
        return performance.now() - t0;
      }, invoice);
      if (i >= 0) times.push(t); // the first two warm up routes and connections
    }
    out.pay = { median: median(times), p90: quantile(times, 0.9), n: times.length };
    say(`browser pay: median ${ms(out.pay.median)}, p90 ${ms(out.pay.p90)}`);

    // Esplora requests of one sync with no new block (min of 3: a background sync may overlap).
    await inPage(page, () => window.node.sync());
    let best;
    for (let i = 0; i < 3; i++) {
      await net.control("requests/reset");
      await inPage(page, () => window.node.sync());
      const counts = await (await fetch(`${net.esploraUrl}/regtest/requests`)).json();
      if (!best || counts.total < best.total) best = counts;
    }
    out.idleSync = best;

    // Cold start: the wallet opened from IndexedDB in a fresh page load, tip unchanged.
    await inPage(page, () => window.node.stop());
    out.cold = await coldStarts(page, config, LOADS);
    say(`cold start: ${JSON.stringify(out.cold)}`);
    // The last node opened stays up; ready is not reconnected: wait for the channel.
    await until("the channel usable again", () => inPage(page, async () => (await window.node.listChannels()).some((c) => c.isUsable)), {
      timeoutMs: 60_000,
      intervalMs: 250,
    });

    // Peak JS heap while the node makes HEAP_PAYMENTS keysends of 1 sat (1 channel, then
    // HEAP_PAYMENTS + PAYMENTS payments in its store). CDP's JSHeapUsedSize, sampled.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Performance.enable");
    let peak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const got = await cdp.send("Performance.getMetrics").catch(() => null); // the page may be going
        if (!got) break;
        peak = Math.max(peak, got.metrics.find((m) => m.name === "JSHeapUsedSize")?.value ?? 0);
        await sleep(200);
      }
    })();
    const started = Date.now();
    for (let done = 0; done < HEAP_PAYMENTS; done += 100) {
      await inPage(page, async ([nodeId, n]) => {
        for (let i = 0; i < n; i++) await window.node.keysend({ nodeId, amountMsat: 1_000 });
      }, [net.peer.nodeId, Math.min(100, HEAP_PAYMENTS - done)]);
      say(`keysends: ${Math.min(done + 100, HEAP_PAYMENTS)}/${HEAP_PAYMENTS}`);
    }
    const count = await inPage(page, async () => (await window.node.listPayments()).length);
    sampling = false;
    await sampler;
    out.heap = { peak, payments: count, seconds: (Date.now() - started) / 1000 };
    await inPage(page, () => window.node.stop());
    // The same cold start with that history in the store.
    out.coldHistory = { ...(await coldStarts(page, config, Math.min(LOADS, 5))), payments: count };
    say(`cold start with ${count} payments: ${JSON.stringify(out.coldHistory)}`);
    await inPage(page, () => window.node.stop());
    return out;
  });
}

/**
 * Median of `loads` cold starts: each a fresh page load that imports the package, instantiates
 * the wasm and opens the wallet from IndexedDB. The last node opened is left running.
 */
async function coldStarts(page, config, loads) {
  const runs = [];
  for (let i = 0; i < loads; i++) {
    await page.reload();
    runs.push(
      await inPage(page, async (cfg) => {
        const t0 = performance.now();
        window.ln = await import("/pkg/index.js");
        const t1 = performance.now();
        await window.ln.initWasm();
        const t2 = performance.now();
        window.node = await window.ln.LightningNode.open(cfg);
        const t3 = performance.now();
        // Inside `open`: locks + IndexedDB, seed (Argon2id), reading the state, starting.
        const s = (await window.node.getInfo()).startupMs;
        return {
          total: t3 - t0, importJs: t1 - t0, initWasm: t2 - t1, open: t3 - t2,
          storage: s.storage, seed: s.seed, build: s.build, start: s.start,
        };
      }, config),
    );
    if (i < loads - 1) await inPage(page, () => window.node.stop());
  }
  const pick = (k) => median(runs.map((l) => l[k]));
  return Object.fromEntries(["total", "importJs", "initWasm", "open", "storage", "seed", "build", "start"].map((k) => [k, pick(k)]));
}

async function mempoolNonEmpty(net) {
  await until("a transaction in the mempool", async () => {
    const ids = await (await fetch(`${net.esploraUrl}/mempool/txids`)).json();
    return ids.length > 0;
  }, { timeoutMs: 60_000 });
}

// --- first receive through an LSPS2 JIT channel, in Chromium -----------------------------------
/**
 * JIT_RUNS fresh nodes (IndexedDB, LSP configured, no funds, no channel), one at a time: each
 * calls `bolt11.receiveViaJitChannel` for 50,000 sat once connected to the LSP, the merchant
 * pays the invoice (2 hops: merchant → LSP → a new zero-conf channel), and we time from the call
 * to the node's `paymentReceived` event (both read with the page's performance.now()).
 */
async function jitFigures(net, serverUrl) {
  const runs = [];
  await withBenchPage(serverUrl, "jit", async (page) => {
    for (let i = 0; i < JIT_RUNS; i++) {
      const config = {
        network: "regtest",
        esploraUrl: net.esploraUrl,
        proxyUrl: net.proxyUrl,
        lsp: net.lspConfig,
        storage: { kind: "indexeddb", name: `bench-jit-${i}` },
        seed: { passphrase: PASSPHRASE },
      };
      await inPage(page, async (cfg) => {
        window.node = await window.ln.LightningNode.create(cfg);
        window.got = null;
        window.node.on("paymentReceived", (ev) => {
          window.got ??= { at: performance.now(), amountMsat: ev.amountMsat };
        });
      }, config);
      // Connected to the LSP first: the figure is the JIT flow, not the WebSocket's setup.
      await inPage(page, (lsp) => window.node.connect(`${lsp.nodeId}@${lsp.address}`), net.lspConfig);
      const quote = await inPage(page, async (amountMsat) => {
        const t0 = performance.now();
        const q = await window.node.bolt11.receiveViaJitChannel({ amountMsat, description: "bench jit" });
        window.t0 = t0;
        return { ...q, quoteMs: performance.now() - t0 };
      }, 50_000_000);
      await net.merchant.call("POST", "/pay", { invoice: quote.invoice });
      const got = await until("the JIT payment received", () => inPage(page, () => window.got && { ...window.got, t0: window.t0 }), {
        timeoutMs: 60_000,
        intervalMs: 20,
      });
      runs.push({ total: got.at - got.t0, quote: quote.quoteMs, feeMsat: quote.feeMsat, amountMsat: got.amountMsat });
      say(`jit receive ${i + 1}/${JIT_RUNS}: ${ms(got.at - got.t0)} (quote ${ms(quote.quoteMs)})`);
      await inPage(page, () => window.node.stop());
    }
  });
  return {
    median: runs.length ? median(runs.map((r) => r.total)) : undefined,
    max: Math.max(...runs.map((r) => r.total)),
    quote: median(runs.map((r) => r.quote)),
    feeMsat: runs[0]?.feeMsat,
    n: runs.length,
  };
}

// --- a mainnet-size RGS snapshot applied in Chromium ---------------------------------------------
/** Serves `bytes` for every GET (any path: the node appends its last sync's timestamp), with CORS. */
async function serveSnapshot(bytes) {
  const requests = [];
  const server = http.createServer((req, res) => {
    requests.push(req.url);
    res.writeHead(200, {
      "content-type": "application/octet-stream",
      "content-length": bytes.length,
      "access-control-allow-origin": "*",
    });
    res.end(req.method === "HEAD" ? undefined : bytes);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/snapshot/`,
    requests,
    close: () => new Promise((resolve) => (server.close(() => resolve()), server.closeAllConnections?.())),
  };
}

/**
 * A fresh node (regtest, the snapshot made for regtest's chain hash; IndexedDB) with `rgsUrl`
 * at the snapshot: the time from `create()` until its graph info has the snapshot's channels and
 * an `rgsSyncedAt` (polled every 10 ms: create + first fetch + decode + apply), the fetch itself
 * from the page's Resource Timing, and the IndexedDB usage it adds (navigator.storage.estimate(),
 * after the node stopped) next to a node without a graph in the same profile.
 */
async function rgsFigures(net, serverUrl, file) {
  const bytes = fs.readFileSync(file);
  const snap = await serveSnapshot(bytes);
  try {
    return await withBenchPage(serverUrl, "rgs", async (page) => {
      await inPage(page, async () => {
        await window.ln.initWasm();
        window.graphOf = async (node) => (await node.getInfo()).graph;
        window.usage = async () => (await navigator.storage.estimate()).usage;
      });
      const base = { network: "regtest", esploraUrl: net.esploraUrl, seed: { passphrase: PASSPHRASE } };
      // The same node without a graph: what a node's state alone takes.
      const plain = await inPage(page, async (cfg) => {
        const before = await window.usage();
        const node = await window.ln.LightningNode.create(cfg);
        await new Promise((r) => setTimeout(r, 2000));
        await node.stop();
        return (await window.usage()) - before;
      }, { ...base, storage: { kind: "indexeddb", name: "bench-plain" } });
      const got = await inPage(page, async (cfg) => {
        const before = await window.usage();
        const t0 = performance.now();
        const node = await window.ln.LightningNode.create(cfg);
        const created = performance.now() - t0;
        let g;
        const deadline = t0 + 120_000;
        for (;;) {
          g = await window.graphOf(node);
          if (g?.rgsSyncedAt && g.channels > 0) break;
          if (performance.now() > deadline) throw new Error(`no RGS graph within 120 s: ${JSON.stringify(g)}`);
          await new Promise((r) => setTimeout(r, 10));
        }
        const applied = performance.now() - t0;
        const fetchEntry = performance.getEntriesByType("resource").find((e) => e.name.includes("/snapshot/"));
        // Let the background persistence write the graph, then stop (which flushes).
        await new Promise((r) => setTimeout(r, 3000));
        await node.stop();
        return {
          created, applied, graph: g,
          fetch: fetchEntry && { start: fetchEntry.startTime - t0, end: fetchEntry.responseEnd - t0 },
          stored: (await window.usage()) - before,
        };
      }, { ...base, storage: { kind: "indexeddb", name: "bench-rgs" }, rgsUrl: snap.url });
      say(`rgs: ${JSON.stringify(got)}; plain node ${plain} B; requests ${JSON.stringify(snap.requests)}`);
      return { ...got, plain, size: bytes.length, gzip: zlib.gzipSync(bytes, { level: 9 }).length };
    });
  } finally {
    await snap.close();
  }
}

// --- ldk-node -> ldk-node, natively --------------------------------------------------------------
/** A second ldk-node `peer` process; it exits when our end of its stdin closes. */
async function spawnPeer(esploraUrl) {
  const child = spawn(path.join(TARGET, "debug/peer"), ["--regtest-esplora", esploraUrl, "--exit-on-stdin-close"], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const info = await new Promise((resolve, reject) => {
    let buf = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (c) => {
      buf += c;
      const line = buf.split("\n").find((l) => l.trim().startsWith("{"));
      if (line) resolve(JSON.parse(line));
    });
    child.once("exit", (code) => reject(new Error(`second peer exited (${code}) before it was ready`)));
  });
  const base = info.control_url.replace(/\/$/, "");
  const call = async (method, p, body) => {
    const res = await fetch(base + p, {
      method,
      headers: body ? { "content-type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const data = await res.json().catch(() => null);
    if (!res.ok) throw new Error(`second peer ${method} ${p}: ${res.status} ${JSON.stringify(data)}`);
    return data;
  };
  const stop = async () => {
    child.stdin.end();
    const exited = new Promise((r) => child.once("exit", r));
    if ((await Promise.race([exited, sleep(20_000).then(() => "late")])) === "late") child.kill("SIGKILL");
  };
  return { info, call, stop };
}

async function ldkNodeFigures(net) {
  const payer = await spawnPeer(net.esploraUrl);
  try {
    const { address } = await payer.call("POST", "/address");
    await net.control("faucet", { address, amount_sat: 2_000_000, confirm: true });
    await until("the second peer's funds", async () => {
      await payer.call("POST", "/sync");
      return (await payer.call("GET", "/balances")).spendable_onchain_sat > 0;
    }, { timeoutMs: 120_000, intervalMs: 500 });
    const [host, port] = [net.peer.uri.split("@")[1].split(":")[0], net.peer.uri.split(":").pop()];
    await payer.call("POST", "/channels", { node_id: net.peer.nodeId, address: `${host}:${port}`, amount_sat: 1_000_000 });
    await mempoolNonEmpty(net);
    await net.mine(6);
    await until("the ldk-node channel to be usable", async () => {
      await payer.call("POST", "/sync");
      await net.peerCall("POST", "/sync");
      return (await payer.call("GET", "/channels")).some((c) => c.is_usable);
    }, { timeoutMs: 180_000, intervalMs: 1000 });
    say("ldk-node -> ldk-node: channel usable");

    const times = [];
    for (let i = -2; i < PAYMENTS; i++) {
      const { invoice } = await net.peerCall("POST", "/invoice", { amount_msat: 1_000_000, description: `ldk ${i}` });
      const t0 = performance.now();
      const { payment_id: id } = await payer.call("POST", "/pay", { invoice });
      // Tight polling: its granularity (a loopback HTTP round trip) is far below a payment's.
      for (;;) {
        const p = await payer.call("GET", `/payments/${id}`);
        if (p.status === "succeeded") break;
        if (p.status === "failed") throw new Error(`ldk-node payment ${id} failed`);
        if (performance.now() - t0 > 60_000) throw new Error(`ldk-node payment ${id} pending for 60 s`);
      }
      if (i >= 0) times.push(performance.now() - t0);
    }
    return { median: median(times), p90: quantile(times, 0.9), n: times.length };
  } finally {
    await payer.stop();
  }
}

/** `cargo bench -p wasm-ln --bench pay_latency`'s line (crate/benches/pay_latency.rs). */
function nativeFigures() {
  if (!opt["native-output"]) return null;
  const text = fs.readFileSync(opt["native-output"], "utf8");
  const m = /1-hop payment latency \(native, (\d+) payments[^)]*\): median ([\d.]+) ms, p90 ([\d.]+) ms/.exec(text);
  if (!m) {
    say(`no latency line in ${opt["native-output"]}`);
    return null;
  }
  return { n: Number(m[1]), median: Number(m[2]), p90: Number(m[3]) };
}

/** `cargo bench -p wasm-ln --bench graph`'s lines (crate/benches/graph.rs), if in the output. */
function graphFigures() {
  if (!opt["native-output"]) return null;
  const text = fs.readFileSync(opt["native-output"], "utf8");
  const size = /RGS snapshot \((\d+) nodes, (\d+) channels[^)]*\): (\d+) bytes raw/.exec(text);
  const apply = /RGS apply into an empty NetworkGraph \([^)]*\): min ([\d.]+) ms, median ([\d.]+) ms/.exec(text);
  const stored = /NetworkGraph serialized \([^)]*\): (\d+) bytes/.exec(text);
  const route = /route finding \([^)]*\): median ([\d.]+) ms, p90 ([\d.]+) ms, max ([\d.]+) ms, found (\d+)\/(\d+)/.exec(text);
  if (!size || !apply || !stored || !route) {
    say(`no graph bench lines in ${opt["native-output"]}`);
    return null;
  }
  return {
    nodes: Number(size[1]),
    channels: Number(size[2]),
    snapshot: Number(size[3]),
    applyMin: Number(apply[1]),
    applyMedian: Number(apply[2]),
    stored: Number(stored[1]),
    routeMedian: Number(route[1]),
    routeP90: Number(route[2]),
    found: `${route[4]}/${route[5]}`,
  };
}

// --- main --------------------------------------------------------------------------------------
const sizes = wasmSizes();
say(`wasm: ${JSON.stringify(sizes)}`);
const native = nativeFigures();

// A page with nothing on it but the package at /pkg/ (a symlink to pkg/): no bundler, no demo.
const site = fs.mkdtempSync(path.join(os.tmpdir(), "wasm-ln-bench-site-"));
fs.symlinkSync(PKG, path.join(site, "pkg"));
fs.writeFileSync(path.join(site, "bench.html"), "<!doctype html><meta charset=utf-8><title>wasm-ln bench</title>\n");

// The plain peer and the LSP topology (the LSP, the merchant, carol) for the JIT receive.
const net = await startNetwork({ targetDir: TARGET, topology: "lsp" });
let server;
let browser;
let ldk;
let jit;
let rgs;
try {
  server = await serveDemo({ root: site, config: {}, peerControlUrl: net.peer.controlUrl });
  browser = await browserFigures(net, server.url);
  ldk = await ldkNodeFigures(net);
  jit = await jitFigures(net, server.url).catch((e) => (say(`jit receive failed: ${e.stack ?? e}`), null));
  if (opt["rgs-snapshot"]) {
    rgs = await rgsFigures(net, server.url, opt["rgs-snapshot"]).catch((e) => (say(`rgs failed: ${e.stack ?? e}`), null));
  } else {
    say("no --rgs-snapshot: the RGS row says n/a (pkg-scripts/bench.sh makes one)");
  }
} finally {
  await server?.close();
  await net.stop();
  fs.rmSync(site, { recursive: true, force: true });
}

const ratio = (a, b) => (a && b ? `${(a / b).toFixed(2)}×` : "n/a");
const pay = (p) => (p ? `median ${ms(p.median)}, p90 ${ms(p.p90)} (${p.n} payments)` : "n/a (run pkg-scripts/bench.sh)");
const paths = Object.entries(browser.idleSync.paths ?? {}).map(([p, n]) => `${p} ×${n}`).join(", ");
const rows = [
  ["`wasm_ln_bg.wasm` raw", `${mb(sizes.raw)} (${sizes.raw} B)`, "≤ 4 MB"],
  ["… gzip -9", `${mb(sizes.gzip)} (${sizes.gzip} B)`, "≤ 1.3 MB"],
  ["… brotli -q 11", `${mb(sizes.brotli)} (${sizes.brotli} B)`, "≤ 1.0 MB"],
  [
    `cold start to ready, Chromium (open from IndexedDB, tip unchanged, median of ${LOADS} loads)`,
    `${ms(browser.cold.total)} = import JS ${ms(browser.cold.importJs)} + instantiate wasm ${ms(browser.cold.initWasm)} + open ${ms(browser.cold.open)} ` +
      `(locks+IndexedDB ${ms(browser.cold.storage)}, seed/Argon2id ${ms(browser.cold.seed)}, read+deserialize ${ms(browser.cold.build)}, start ${ms(browser.cold.start)}; ` +
      `first sync runs after ready, in the background)`,
    "≤ 300 ms",
  ],
  [
    `… the same with ${browser.coldHistory.payments} payments stored (median of ${Math.min(LOADS, 5)})`,
    `${ms(browser.coldHistory.total)} (open ${ms(browser.coldHistory.open)}: read+deserialize ${ms(browser.coldHistory.build)})`,
    "—",
  ],
  ["pay 1 hop, Chromium via the WS proxy (`bolt11.send`)", pay(browser.pay), "≤ 2× ldk-node"],
  ["pay 1 hop, our node native (`cargo bench --bench pay_latency`)", pay(native), "—"],
  ["pay 1 hop, ldk-node → ldk-node (`/pay` until succeeded)", pay(ldk), "—"],
  ["Chromium ÷ our native (median)", ratio(browser.pay.median, native?.median), "—"],
  ["Chromium ÷ ldk-node (median)", ratio(browser.pay.median, ldk.median), "≤ 2×"],
  ["Esplora requests, sync with no new block", `${browser.idleSync.total} (${paths || "none"})`, "1"],
  [
    `peak JS heap (CDP JSHeapUsedSize), 1 channel, ${browser.heap.payments} payments`,
    `${mb(browser.heap.peak)} (${HEAP_PAYMENTS} keysends in ${browser.heap.seconds.toFixed(0)} s)`,
    "—",
  ],
  [
    `first receive via LSPS2 JIT, Chromium: \`receiveViaJitChannel\` (50,000 sat) → \`paymentReceived\` (fresh node on IndexedDB, connected to the LSP; merchant → LSP → new zero-conf channel; ${jit?.n ?? 0} runs)`,
    jit?.n ? `median ${ms(jit.median)}, max ${ms(jit.max)} (of which the quote/invoice ${ms(jit.quote)}; fee ${jit.feeMsat} msat)` : "n/a (failed: see stderr)",
    "≤ 3 s",
  ],
  [
    rgs
      ? `RGS apply, Chromium: mainnet-size snapshot (${mb(rgs.size)}, ${mb(rgs.gzip)} gzip; ${rgs.graph.nodes} nodes, ${rgs.graph.channels} channels) from \`create()\` to the graph applied`
      : "RGS apply, Chromium (mainnet-size synthetic snapshot)",
    rgs
      ? `${ms(rgs.applied)} = create ${ms(rgs.created)} + first fetch (loopback, ${rgs.fetch ? `${ms(rgs.fetch.start)}–${ms(rgs.fetch.end)}` : "not seen"}) + decode/apply${rgs.fetch ? ` ${ms(rgs.applied - rgs.fetch.end)} after the response (polled every 10 ms)` : ""}`
      : `n/a (${opt["rgs-snapshot"] ? "failed: see stderr" : "no --rgs-snapshot"})`,
    "≤ 1 s (apply)",
  ],
  [
    "… the graph's stored size (IndexedDB usage added by the node with the graph, after stop)",
    rgs ? `${mb(rgs.stored)} (a node without a graph: ${mb(rgs.plain)})` : "n/a",
    "—",
  ],
];
const graph = graphFigures();
const graphSize = graph ? `${graph.nodes} nodes, ${graph.channels} channels` : "";
rows.push(
  [
    `RGS snapshot, synthetic mainnet-sized graph (${graphSize || "`cargo bench --bench graph`"}), raw`,
    graph ? `${mb(graph.snapshot)} (${graph.snapshot} B)` : "n/a",
    "—",
  ],
  [
    "RGS apply into an empty graph, native (`cargo bench --bench graph`)",
    graph ? `median ${ms(graph.applyMedian)}, min ${ms(graph.applyMin)}` : "n/a",
    "< 1 s",
  ],
  ["routing graph serialized (what the node stores)", graph ? `${mb(graph.stored)} (${graph.stored} B)` : "n/a", "—"],
  [
    "find_route + ProbabilisticScorer on it, native (50 random payees)",
    graph ? `median ${ms(graph.routeMedian)}, p90 ${ms(graph.routeP90)}, found ${graph.found}` : "n/a",
    "—",
  ],
);
console.log("| figure | measured | budget |\n|---|---|---|");
for (const r of rows) console.log(`| ${r.join(" | ")} |`);
process.exit(0); // nothing of ours may keep the table's caller waiting (all children are stopped)
