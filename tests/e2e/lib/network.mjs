// The local regtest network for the e2e tests, the bench and the demo: regtest-esplora (with
// its bitcoind), one ldk-node `peer` and wasm-ln-proxy, each on a free loopback port, started
// from the debug binaries cargo built (CARGO_TARGET_DIR, default ~/.cache/wasm-ln/target).
//
//   const net = await startNetwork();
//   net.esploraUrl, net.proxyUrl, net.peer.{nodeId, uri, controlUrl}
//   await net.control("faucet", { address, amount_sat: 1e6, confirm: true });  // POST /regtest/faucet
//   await net.peerCall("POST", "/invoice", { amount_msat: 1000 });              // peer control API
//   await net.mine(6); await net.stop();
//
// Every child dies with us: on stop(), on process exit and on SIGINT/SIGTERM. The peer also
// watches its stdin (--exit-on-stdin-close), so it goes even if we are SIGKILLed; bitcoind dies
// with regtest-esplora (PR_SET_PDEATHSIG). Plain Node 20 ESM, no dependencies.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const READY_TIMEOUT_MS = 120_000; // bitcoind start + 110 initial blocks, ldk-node start
const FUND_TIMEOUT_MS = 60_000;
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
  const timer = new Promise((resolve) => setTimeout(resolve, STOP_GRACE_MS, "timeout"));
  if ((await Promise.race([exited, timer])) === "timeout") {
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
 * dir), `peerFundingSat` (default 2,000,000), `verbose` (echo the children's stderr).
 */
export async function startNetwork({ targetDir, peerFundingSat = 2_000_000, verbose = !!process.env.WASM_LN_NET_VERBOSE } = {}) {
  targetDir ??= process.env.CARGO_TARGET_DIR || path.join(os.homedir(), ".cache/wasm-ln/target");
  const bin = (name) => {
    const p = path.join(targetDir, "debug", name);
    if (!existsSync(p)) throw new Error(`${p} is missing: run \`cargo build -p ${name}\` first (one package per invocation)`);
    return p;
  };
  const bins = { esplora: bin("regtest-esplora"), peer: bin("peer"), proxy: bin("wasm-ln-proxy") };
  installHooks();

  const children = [];
  const stop = async () => {
    // Proxy and peer first (the peer's node needs bitcoind to shut down cleanly), then esplora.
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

    // stdin is a pipe we hold: when this process dies, the pipe closes and the peer exits.
    const p = spawnReady("peer", bins.peer, ["--regtest-esplora", esploraUrl, "--exit-on-stdin-close"], {
      stdin: "pipe",
      verbose,
    });
    children.push(p.child);
    const peerInfo = await p.ready;
    const controlUrl = peerInfo.control_url.replace(/\/$/, "");
    const peerPort = Number(peerInfo.p2p_address.split(":").pop());

    const proxyPort = await freePort();
    const x = spawnReady(
      "wasm-ln-proxy",
      bins.proxy,
      ["--listen", `127.0.0.1:${proxyPort}`, "--allow-private", "--allow-port", String(peerPort), "--worker-threads", "1"],
      { verbose, json: false }, // readiness is its TCP port
    );
    children.push(x.child);
    await waitForTcp(proxyPort, x.child, "wasm-ln-proxy");

    const control = (p, body = {}) => jsonCall("POST", `${esploraUrl}/regtest/${p.replace(/^\//, "")}`, body, "regtest-esplora");
    const peerCall = (method, p, body) => jsonCall(method, `${controlUrl}${p.startsWith("/") ? p : `/${p}`}`, body, "peer");
    const mine = (n = 1) => control("mine", { blocks: n });

    // Fund the peer so it can open channels to the browser node and pay it.
    if (peerFundingSat > 0) {
      const { address } = await peerCall("POST", "/address");
      await control("faucet", { address, amount_sat: peerFundingSat, confirm: true });
      await mine(3);
      const deadline = Date.now() + FUND_TIMEOUT_MS;
      for (;;) {
        await peerCall("POST", "/sync").catch(() => {}); // ldk-node also polls every 2 s
        const b = await peerCall("GET", "/balances");
        if (b.spendable_onchain_sat > 0) break;
        if (Date.now() > deadline) throw new Error(`peer not funded within ${FUND_TIMEOUT_MS / 1000} s: ${JSON.stringify(b)}`);
        await sleep(500);
      }
    }

    return {
      esploraUrl,
      proxyUrl: `ws://127.0.0.1:${proxyPort}`,
      peer: { nodeId: peerInfo.node_id, uri: `${peerInfo.node_id}@127.0.0.1:${peerPort}`, controlUrl },
      control,
      peerCall,
      mine,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
