// The local regtest network for the e2e tests, the bench and the demo: regtest-esplora (with
// its bitcoind), one ldk-node `peer` and wasm-ln-proxy, each on a free loopback port, started
// from the debug binaries cargo built (CARGO_TARGET_DIR, default ~/.cache/wasm-ln/target;
// WASM_LN_PEER_EXE overrides the peer binary).
//
//   const net = await startNetwork();
//   net.esploraUrl, net.proxyUrl, net.peer.{nodeId, uri, controlUrl}
//   await net.control("faucet", { address, amount_sat: 1e6, confirm: true });  // POST /regtest/faucet
//   await net.peerCall("POST", "/invoice", { amount_msat: 1000 });              // peer control API
//   await net.mine(6); await net.stop();
//
// With `topology: "lsp"` it also starts the network of issue #16 (the mirror of
// tests/regtest/src/network.rs): an LSP (`peer --lsps2 --alias lsp`), a merchant and carol,
// all funded, with announced channels LSP→merchant (1,000,000 sat, 400,000 pushed) and
// merchant→carol (500,000 sat, 200,000 pushed); it resolves once the LSP's graph has both
// channels with both directions' updates:
//
//   const net = await startNetwork({ topology: "lsp", peer: false });
//   net.lsp / net.merchant / net.carol: { nodeId, uri, address, controlUrl, call(method, path, body),
//     httpUrl, lightningAddress(user = "shop") -> "shop@127.0.0.1:PORT", lnurlpUrl(user) }
//   (every peer serves LNURL-pay and Lightning addresses on its control port: tests/peer/src/lnurl.rs)
//   net.lspConfig   // { nodeId, address }: the node config's `lsp`
//   net.rgsUrl      // the LSP's RGS snapshots of its graph: `${net.rgsUrl}${timestamp}`
//
// Every child dies with us: on stop(), on process exit and on SIGINT/SIGTERM. The peers also
// watch their stdin (--exit-on-stdin-close), so they go even if we are SIGKILLed; bitcoind dies
// with regtest-esplora (PR_SET_PDEATHSIG). Plain Node 20 ESM, no dependencies.
import { spawn } from "node:child_process";
import fs, { existsSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const READY_TIMEOUT_MS = 120_000; // bitcoind start + 110 initial blocks, ldk-node start
const FUND_TIMEOUT_MS = 60_000;
const CHANNELS_TIMEOUT_MS = 120_000; // open, 6 blocks, both sides usable
const GRAPH_TIMEOUT_MS = 120_000; // announcements after 6 confirmations, gossip to the LSP

/** The LSP topology's channels (tests/regtest/src/network.rs): opener, acceptor, sat, pushed msat. */
export const LSP_CHANNELS = [
  { from: "lsp", to: "merchant", amountSat: 1_000_000, pushMsat: 400_000_000 },
  { from: "merchant", to: "carol", amountSat: 500_000, pushMsat: 200_000_000 },
];
/** The LSP's LSPS2 terms (the peer's defaults): fee = max(min, amount × ppm / 10^6). */
export const LSPS2_FEE_PPM = 10_000;
export const LSPS2_MIN_FEE_MSAT = 1_000_000;
/** What the LSPS2 fee for a JIT payment of `amountMsat` is on this network. */
export const lsps2FeeMsat = (amountMsat) => Math.max(LSPS2_MIN_FEE_MSAT, Math.ceil((amountMsat * LSPS2_FEE_PPM) / 1_000_000)) // LSPS2 rounds up;
const STOP_GRACE_MS = 20_000; // the peer's own shutdown watchdog is 15 s

/** Every child any startNetwork() started and not yet reaped, for the exit/signal hooks. */
const live = new Set();
let hooksInstalled = false;

function installHooks() {
  if (hooksInstalled) return;
  hooksInstalled = true;
  // 'exit' handlers must be synchronous: send SIGTERM and let the children clean up on their
  // own (regtest-esplora stops bitcoind and removes its datadir on SIGTERM).
  process.on("exit", () => {
    for (const c of live) killQuiet(c, "SIGTERM");
  });
  for (const [sig, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]]) {
    const onSignal = async () => {
      await Promise.allSettled([...live].map((c) => stopChild(c)));
      // Installing a listener disables Node's default "exit on signal"; restore it unless
      // someone else (a test runner) also listens and decides for itself.
      if (process.listenerCount(sig) === 1) process.exit(code);
    };
    process.on(sig, onSignal);
  }
}

function killQuiet(child, sig) {
  try {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
  } catch {
    /* already gone */
  }
}

/** SIGTERM (and close stdin), wait up to STOP_GRACE_MS, then SIGKILL. */
async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  try {
    child.stdin?.end();
  } catch {
    /* ignore */
  }
  killQuiet(child, "SIGTERM");
  let handle;
  const timer = new Promise((resolve) => (handle = setTimeout(resolve, STOP_GRACE_MS, "timeout")));
  const how = await Promise.race([exited, timer]);
  clearTimeout(handle); // or it would keep the process alive for STOP_GRACE_MS after the stop
  if (how === "timeout") {
    killQuiet(child, "SIGKILL");
    await exited;
  }
}

/** A port the OS just handed out and we released: free unless someone races us for it. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Spawns `bin args`, keeps the last lines of its stderr (for error messages, and echoed with a
 * prefix when `verbose`), and resolves the first stdout line that parses as JSON.
 */
function spawnReady(name, bin, args, { stdin = "ignore", verbose = false, json = true } = {}) {
  // Own process group: a terminal's Ctrl-C reaches only us, and we stop the children in order
  // (peer before bitcoind) instead of all of them dying at once.
  const child = spawn(bin, args, { stdio: [stdin, "pipe", "pipe"], detached: true });
  live.add(child);
  child.once("exit", () => live.delete(child));
  const tail = [];
  const keep = (line) => {
    tail.push(line);
    if (tail.length > 40) tail.shift();
    if (verbose) process.stderr.write(`[${name}] ${line}\n`);
  };
  lines(child.stderr, keep);
  child.stderrTail = () => tail.join("\n");
  const ready = new Promise((resolve, reject) => {
    let done = !json; // without a JSON line to wait for, readiness is the caller's business
    const finish = (fn, v) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      fn(v);
    };
    const timer = json
      ? setTimeout(
          () => finish(reject, new Error(`${name} was not ready within ${READY_TIMEOUT_MS / 1000} s\n${child.stderrTail()}`)),
          READY_TIMEOUT_MS,
        )
      : null;
    // stdout is drained for the whole life of the child, or a full pipe would block it.
    lines(child.stdout, (line) => {
      if (done) return keep(line);
      try {
        finish(resolve, JSON.parse(line));
      } catch {
        keep(line);
      }
    });
    child.once("error", (e) => finish(reject, new Error(`${name}: cannot start ${bin}: ${e.message}`)));
    child.once("exit", (code, sig) =>
      finish(reject, new Error(`${name} exited (${sig ?? code}) before it was ready\n${child.stderrTail()}`)),
    );
  });
  return { child, ready };
}

function lines(stream, onLine) {
  let buf = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk) => {
    buf += chunk;
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
}

async function waitForTcp(port, child, name, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${name} exited before it listened\n${child.stderrTail()}`);
    }
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => (s.destroy(), resolve(true)));
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${name} not listening on ${port} within ${timeoutMs / 1000} s`);
    await sleep(100);
  }
}

/** A JSON HTTP call; throws with the server's `error` (or body) on a non-2xx answer. */
async function jsonCall(method, url, body, what) {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(120_000),
  });
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!res.ok) {
    const msg = (data && typeof data === "object" && data.error) || text || res.statusText;
    const err = new Error(`${what} ${method} ${new URL(url).pathname}: ${res.status} ${msg}`);
    err.status = res.status;
    err.body = data;
    throw err;
  }
  return data;
}

/**
 * Starts regtest-esplora, a funded peer and the proxy. Options: `targetDir` (cargo's target
 * dir), `peerFundingSat` (default 2,000,000), `verbose` (echo the children's stderr),
 * `topology: "lsp"` (also the LSP, the merchant and carol, see the top of this file) and
 * `peer: false` (no plain peer: `net.peer` is null).
 */
export async function startNetwork({
  targetDir,
  peerFundingSat = 2_000_000,
  topology = "peer",
  peer: withPeer = true,
  verbose = !!process.env.WASM_LN_NET_VERBOSE,
} = {}) {
  if (topology !== "peer" && topology !== "lsp") throw new Error(`unknown topology ${JSON.stringify(topology)}`);
  targetDir ??= process.env.CARGO_TARGET_DIR || path.join(os.homedir(), ".cache/wasm-ln/target");
  const bin = (name) => {
    const p = path.join(targetDir, "debug", name);
    if (!existsSync(p)) throw new Error(`${p} is missing: run \`cargo build -p ${name}\` first (one package per invocation)`);
    return p;
  };
  const peerExe = process.env.WASM_LN_PEER_EXE || bin("peer");
  const bins = { esplora: bin("regtest-esplora"), peer: peerExe, proxy: bin("wasm-ln-proxy") };
  installHooks();

  const children = [];
  const stop = async () => {
    // Proxy and peers first (a peer's node needs bitcoind to shut down cleanly), then esplora.
    const [esplora, ...rest] = children;
    await Promise.allSettled(rest.reverse().map(stopChild));
    if (esplora) await stopChild(esplora);
  };

  try {
    const esploraPort = await freePort();
    const e = spawnReady("regtest-esplora", bins.esplora, ["--listen", `127.0.0.1:${esploraPort}`], { verbose });
    children.push(e.child);
    const esploraInfo = await e.ready;
    const esploraUrl = (esploraInfo.esplora_url || `http://127.0.0.1:${esploraPort}`).replace(/\/$/, "");

    const control = (p, body = {}) => jsonCall("POST", `${esploraUrl}/regtest/${p.replace(/^\//, "")}`, body, "regtest-esplora");
    const mine = (n = 1) => control("mine", { blocks: n });

    /** One ldk-node `peer` process; stdin is a pipe we hold: when we die, it closes and the peer exits. */
    const startPeer = async (name, extra = []) => {
      // WASM_LN_PEER_KEEP=DIR: each peer's storage (ldk-node's log: logs/ldk_node.log) in a fresh
      // DIR/<name>-XXXXXX, kept after the run, for debugging.
      if (process.env.WASM_LN_PEER_KEEP) {
        fs.mkdirSync(process.env.WASM_LN_PEER_KEEP, { recursive: true });
        extra = [...extra, "--storage-dir", fs.mkdtempSync(path.join(process.env.WASM_LN_PEER_KEEP, `${name}-`))];
      }
      const p = spawnReady(name, bins.peer, ["--regtest-esplora", esploraUrl, "--exit-on-stdin-close", ...extra], {
        stdin: "pipe",
        verbose,
      });
      children.push(p.child);
      const info = await p.ready;
      const controlUrl = info.control_url.replace(/\/$/, "");
      const port = Number(info.p2p_address.split(":").pop());
      const httpHost = new URL(controlUrl).host;
      return {
        name,
        nodeId: info.node_id,
        address: `127.0.0.1:${port}`,
        uri: `${info.node_id}@127.0.0.1:${port}`,
        port,
        controlUrl,
        // Its LNURL-pay server (same port as the control API, CORS open): the Lightning
        // address `user@127.0.0.1:PORT` and its LUD-16 well-known URL.
        httpUrl: controlUrl,
        lightningAddress: (user = "shop") => `${user}@${httpHost}`,
        lnurlpUrl: (user = "shop") => `${controlUrl}/.well-known/lnurlp/${user}`,
        call: (method, p, body) => jsonCall(method, `${controlUrl}${p.startsWith("/") ? p : `/${p}`}`, body, name),
      };
    };

    const lspTopology = topology === "lsp";
    const [peer, lsp, merchant, carol] = await Promise.all([
      withPeer ? startPeer("peer") : null,
      lspTopology ? startPeer("lsp", ["--alias", "lsp", "--lsps2"]) : null,
      lspTopology ? startPeer("merchant", ["--alias", "merchant"]) : null,
      lspTopology ? startPeer("carol", ["--alias", "carol"]) : null,
    ]);

    // The browser reaches the plain peer and the LSP (only those) through the proxy.
    const proxyPort = await freePort();
    const allow = [peer, lsp].filter(Boolean).flatMap((p) => ["--allow-port", String(p.port)]);
    const x = spawnReady(
      "wasm-ln-proxy",
      bins.proxy,
      ["--listen", `127.0.0.1:${proxyPort}`, "--allow-private", ...allow, "--worker-threads", "1"],
      { verbose, json: false }, // readiness is its TCP port
    );
    children.push(x.child);
    await waitForTcp(proxyPort, x.child, "wasm-ln-proxy");

    // Fund: the plain peer opens channels to the browser node and pays it; the LSP opens its
    // channel to the merchant and the JIT channels (several coins, so JIT opens need not wait for
    // change to confirm); merchant and carol keep the 25,000 sat anchor reserve that ldk-node
    // wants before it accepts an inbound anchor channel.
    const funding = [];
    if (peer && peerFundingSat > 0) funding.push([peer, [peerFundingSat]]);
    if (lspTopology) {
      // The amounts of tests/regtest/src/network.rs (the LSP's 0.2 BTC in 4 coins here).
      funding.push([lsp, [5_000_000, 5_000_000, 5_000_000, 5_000_000]]);
      funding.push([merchant, [2_000_000]]);
      funding.push([carol, [1_000_000]]);
    }
    if (funding.length) {
      for (const [p, amounts] of funding) {
        for (const amount of amounts) {
          const { address } = await p.call("POST", "/address");
          await control("faucet", { address, amount_sat: amount, confirm: true });
        }
      }
      await mine(3);
      await Promise.all(
        funding.map(([p, amounts]) => {
          const want = amounts.reduce((a, b) => a + b, 0);
          return poll(`${p.name} funded with ${want} sat`, FUND_TIMEOUT_MS, 500, async () => {
            await p.call("POST", "/sync").catch(() => {}); // ldk-node also polls every 2 s
            const b = await p.call("GET", "/balances");
            return b.onchain_total_sat >= want ? b : null;
          });
        }),
      );
    }

    if (lspTopology) await openLspChannels({ lsp, merchant, carol }, { esploraUrl, mine });

    return {
      esploraUrl,
      proxyUrl: `ws://127.0.0.1:${proxyPort}`,
      peer: peer && {
        nodeId: peer.nodeId,
        uri: peer.uri,
        controlUrl: peer.controlUrl,
        httpUrl: peer.httpUrl,
        lightningAddress: peer.lightningAddress,
        lnurlpUrl: peer.lnurlpUrl,
      },
      lsp,
      merchant,
      carol,
      lspConfig: lsp && { nodeId: lsp.nodeId, address: lsp.address },
      rgsUrl: lsp && `${lsp.controlUrl}/rgs/snapshot/`,
      control,
      peerCall: peer ? peer.call : () => Promise.reject(new Error("this network has no plain peer")),
      mine,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Polls `check` (async; truthy = done) every `intervalMs` for at most `timeoutMs`. */
async function poll(what, timeoutMs, intervalMs, check) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const got = await check();
      if (got) return got;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? `: ${last.message}` : ""}`);
    }
    await sleep(intervalMs);
  }
}

/**
 * Opens LSP_CHANNELS (announced), mines 6 blocks (the announcement depth), waits until both
 * sides of each find it usable and the LSP's graph (GET /graph) has both channels with an update
 * from each end. Then one more block, and another every 5 s until the graph is complete: LDK
 * sends announcement_signatures on a new block once it has seen 6 confirmations, and a
 * counterparty that saw the sixth block later (ldk-node polls bitcoind every 2 s) waits for the
 * next one (measured: the graph stayed incomplete for 20 s without it).
 */
async function openLspChannels(peers, { esploraUrl, mine }) {
  for (const c of LSP_CHANNELS) {
    const [from, to] = [peers[c.from], peers[c.to]];
    await from.call("POST", "/channels", {
      node_id: to.nodeId,
      address: to.address,
      amount_sat: c.amountSat,
      push_msat: c.pushMsat,
      announce: true,
    });
  }
  await poll("the two funding transactions in the mempool", 30_000, 200, async () => {
    const ids = await (await fetch(`${esploraUrl}/mempool/txids`)).json();
    return ids.length >= LSP_CHANNELS.length;
  });
  await mine(6);
  await poll("the LSP topology's channels usable on both sides", CHANNELS_TIMEOUT_MS, 500, async () => {
    for (const c of LSP_CHANNELS) {
      for (const [me, other] of [[c.from, c.to], [c.to, c.from]]) {
        const list = await peers[me].call("GET", "/channels");
        if (!list.some((ch) => ch.counterparty_node_id === peers[other].nodeId && ch.is_usable)) return false;
      }
    }
    return true;
  });
  await mine(1);
  let lastMine = Date.now();
  await poll("both channels, both directions, in the LSP's graph", GRAPH_TIMEOUT_MS, 500, async () => {
    if (Date.now() - lastMine > 5_000) {
      lastMine = Date.now();
      await mine(1);
    }
    const graph = await peers.lsp.call("GET", "/graph");
    return LSP_CHANNELS.every((c) => {
      const ends = [peers[c.from].nodeId, peers[c.to].nodeId].sort();
      return graph.channels.some(
        (ch) => [ch.node_one, ch.node_two].sort().join() === ends.join() && ch.one_to_two && ch.two_to_one,
      );
    });
  });
}
