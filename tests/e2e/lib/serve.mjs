// A tiny static server for the built demo page (www/dist) on a free 127.0.0.1 port:
//   /config.json  the network the page should use ({ network, esploraUrl, proxyUrl, peer })
//   /peer/*       forwarded to the peer's control API, so the page can ask the peer for an
//                 invoice or to pay one (the peer's API has no CORS, and should not need it)
//   /rgs/*        with `rgsUrl`: forwarded to it (the LSP's RGS snapshots, network.mjs), so a
//                 node in the page can use `${url}/rgs/` as its same-origin `rgsUrl`
//   /merchant/*   with `merchantControlUrl`: forwarded to the merchant's control API
//   everything else: files under `root`, index.html for directories.
// node:http only, no dependencies.
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { startNetwork } from "./network.mjs";

const MIME = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".wasm": "application/wasm", // WebAssembly.instantiateStreaming insists on it
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
};

/**
 * The demo page's /config.json for a started network (network.mjs): with the LSP topology it
 * carries `lsp` (a fresh wallet receives through a JIT channel) and the merchant with its
 * Lightning address.
 */
export function demoConfig(net) {
  return {
    network: "regtest",
    esploraUrl: net.esploraUrl,
    proxyUrl: net.proxyUrl,
    ...(net.peer && { peer: { uri: net.peer.uri, nodeId: net.peer.nodeId } }),
    ...(net.lsp && { lsp: { nodeId: net.lsp.nodeId, address: net.lsp.address } }),
    ...(net.merchant && {
      merchant: {
        uri: net.merchant.uri,
        nodeId: net.merchant.nodeId,
        lightningAddress: net.merchant.lightningAddress("shop"),
      },
    }),
  };
}

/**
 * A fresh LSP network (network.mjs: the LSP, the merchant, carol) and the built pages at `root`
 * (www/dist: the wallet at /, the shop at /shop.html) served with `demoConfig` plus `config` (or
 * what `config(net)` returns) as their /config.json; /peer/* and /merchant/* reach the merchant, /rgs/* the LSP's snapshots.
 * What demo.sh runs and what the page tests start. `stop()` ends both.
 */
export async function startDemo({ root, config = {}, port = 0, targetDir }) {
  const net = await startNetwork({ targetDir, topology: "lsp", peer: false });
  try {
    const server = await serveDemo({
      root,
      config: { ...demoConfig(net), ...(typeof config === "function" ? config(net) : config) },
      peerControlUrl: net.merchant.controlUrl,
      merchantControlUrl: net.merchant.controlUrl,
      rgsUrl: net.rgsUrl,
      port,
    });
    return {
      net,
      server,
      stop: async () => {
        await server.close();
        await net.stop();
      },
    };
  } catch (e) {
    await net.stop();
    throw e;
  }
}

export async function serveDemo({ root, config, peerControlUrl, rgsUrl, merchantControlUrl, port = 0 }) {
  root = path.resolve(root);
  // path prefix → upstream base, longest first
  const forwards = [
    ["/peer/", peerControlUrl && `${peerControlUrl.replace(/\/$/, "")}/`, "peer"],
    ["/rgs/", rgsUrl && `${rgsUrl.replace(/\/$/, "")}/`, "rgs"],
    ["/merchant/", merchantControlUrl && `${merchantControlUrl.replace(/\/$/, "")}/`, "merchant"],
  ];

  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, "http://localhost");
      if (url.pathname === "/config.json") {
        return send(res, 200, MIME[".json"], JSON.stringify(config));
      }
      const fwd = forwards.find(([prefix]) => url.pathname.startsWith(prefix));
      if (fwd) return await forward(req, res, url, fwd);
      if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, MIME[".txt"], "method not allowed");
      await serveFile(req, res, url.pathname);
    } catch (e) {
      if (!res.headersSent) send(res, 500, MIME[".txt"], String(e?.message ?? e));
      else res.destroy();
    }
  });

  async function forward(req, res, url, [prefix, base, name]) {
    if (!base) return send(res, 404, MIME[".json"], JSON.stringify({ error: `no ${name}` }));
    const body = req.method === "GET" || req.method === "HEAD" ? undefined : await readBody(req);
    let upstream;
    try {
      upstream = await fetch(base + url.pathname.slice(prefix.length) + url.search, {
        method: req.method,
        headers: body ? { "content-type": "application/json" } : {},
        body,
        signal: AbortSignal.timeout(120_000),
      });
    } catch (e) {
      return send(res, 502, MIME[".json"], JSON.stringify({ error: `${name} unreachable: ${e.message}` }));
    }
    // Bytes, not text: an RGS snapshot is binary.
    const bytes = Buffer.from(await upstream.arrayBuffer());
    send(res, upstream.status, upstream.headers.get("content-type") ?? MIME[".json"], bytes);
  }

  async function serveFile(req, res, pathname) {
    // Resolve inside root only: decodeURIComponent + normalize, then check the prefix.
    let file = path.join(root, path.normalize(decodeURIComponent(pathname)));
    if (file !== root && !file.startsWith(root + path.sep)) return send(res, 403, MIME[".txt"], "forbidden");
    let st = await stat(file).catch(() => null);
    if (st?.isDirectory()) {
      file = path.join(file, "index.html");
      st = await stat(file).catch(() => null);
    }
    if (!st?.isFile()) return send(res, 404, MIME[".txt"], "not found");
    res.writeHead(200, {
      "content-type": MIME[path.extname(file).toLowerCase()] ?? "application/octet-stream",
      "content-length": st.size,
      // Vite's hashed assets could be cached forever; a demo is rebuilt often, keep it simple.
      "cache-control": "no-cache",
    });
    if (req.method === "HEAD") return res.end();
    createReadStream(file).pipe(res);
  }

  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.(); // keep-alive sockets would hold close() open
      }),
  };
}

function send(res, status, type, body) {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
  res.end(body);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (c) => {
      size += c.length;
      if (size > 1 << 20) return reject(new Error("body too large"));
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}
