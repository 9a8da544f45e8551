// Starts the regtest network (esplora + bitcoind, a funded peer, the proxy) and serves the built
// demo page with its /config.json, until Ctrl-C. Used by pkg-scripts/demo.sh.
//   node tests/e2e/lib/demo-server.mjs [--root www/dist] [--port 5173] [--target-dir DIR]
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startNetwork } from "./network.mjs";
import { demoConfig, serveDemo } from "./serve.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    root: { type: "string", default: path.join(here, "../../../www/dist") },
    port: { type: "string", default: process.env.DEMO_PORT ?? "0" },
    "target-dir": { type: "string" },
  },
});

console.log("demo: starting bitcoind + regtest-esplora, the peer and the proxy…");
const net = await startNetwork({ targetDir: args["target-dir"] });
let server;
try {
  server = await serveDemo({
    root: args.root,
    config: demoConfig(net),
    peerControlUrl: net.peer.controlUrl,
    port: Number(args.port),
  });
} catch (e) {
  await net.stop();
  throw e;
}

console.log(`
  demo page   ${server.url}/        (?worker=1 runs the node in a Worker)
  esplora     ${net.esploraUrl}     (POST /regtest/mine, /regtest/faucet)
  proxy       ${net.proxyUrl}
  peer        ${net.peer.uri}
  peer API    ${net.peer.controlUrl}

Ctrl-C stops everything.`);

let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  console.log("\ndemo: stopping…");
  await server.close();
  await net.stop();
  process.exit(0);
}
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
