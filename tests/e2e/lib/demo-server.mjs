// Starts the regtest network of issue #16 (esplora + bitcoind, the LSP, the merchant and carol
// with announced channels LSP→merchant→carol, the proxy) and serves the built pages (www/dist:
// the wallet at /, the shop at /shop.html) with their /config.json, until Ctrl-C. Used by
// pkg-scripts/demo.sh.
//
// The wallet's "peer" is the LSP (open a channel to it and pay anyone in its graph); its /peer/*
// (the peer invoices, the peer pays) and /merchant/* go to the merchant, whose payments reach
// the wallet through the LSP; /config.json carries `lsp`, so a fresh wallet's first receive
// comes through a JIT channel, and the merchant's Lightning address (its LNURL-pay server).
//   node tests/e2e/lib/demo-server.mjs [--root www/dist] [--port 5173] [--target-dir DIR]
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startDemo } from "./serve.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    root: { type: "string", default: path.join(here, "../../../www/dist") },
    port: { type: "string", default: process.env.DEMO_PORT ?? "0" },
    "target-dir": { type: "string" },
  },
});

console.log("demo: starting bitcoind + regtest-esplora, the LSP, the merchant, carol and the proxy…");
const { net, server, stop } = await startDemo({
  root: args.root,
  config: (net) => ({ peer: { uri: net.lsp.uri, nodeId: net.lsp.nodeId } }),
  port: Number(args.port),
  targetDir: args["target-dir"],
});

console.log(`
  wallet      ${server.url}/        (?worker=1 runs the node in a Worker)
  shop        ${server.url}/shop.html   (<ln-checkout>; ?wallet=1 a node in the page, ?webln=1 one as window.webln)
  Lightning address  ${net.merchant.lightningAddress("shop")}   (the merchant's: try it in the wallet's Send)
  esplora     ${net.esploraUrl}     (POST /regtest/mine, /regtest/faucet)
  proxy       ${net.proxyUrl}
  LSP         ${net.lsp.uri}   (the page's peer; LSPS2 JIT channels)
  LSP API     ${net.lsp.controlUrl}   (RGS snapshots: ${server.url}/rgs/<timestamp>)
  merchant    ${net.merchant.uri}   (the page's /peer/*: invoices, payments)
  merchant API ${net.merchant.controlUrl}
  carol       ${net.carol.uri}   (behind the merchant: 3 hops)
  carol API   ${net.carol.controlUrl}

Ctrl-C stops everything.`);

let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  console.log("\ndemo: stopping…");
  await stop();
  process.exit(0);
}
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
