// The npm package's own API in Debian's Chromium, loaded the plainest way: the packed tarball
// unpacked beside an HTML page with a `<script type="module">`, no bundler. Against the real
// regtest network and ldk-node peer, in the page and with `worker: true`:
// LnError across the worker boundary, amount checks, decodeInvoice, events() acknowledgement
// and on(), NODE_LOCKED between a worker node and the page.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { launchPersistent, recordConsole } from "./lib/browser.mjs";
import { startNetwork } from "./lib/network.mjs";
import { importPage, plainSite } from "./lib/plain.mjs";
import { serveDemo } from "./lib/serve.mjs";

let net;
let server;
let ctx;
const log = [];

/**
 * The plain site (lib/plain.mjs), plus a copy of the package without its wasm (`dir/moved`),
 * the wasm served elsewhere (`/assets/core.wasm`), and a page that imports that copy
 * (`/moved.html`): the wasm can only be found when given explicitly.
 */
function plainSiteWithMovedWasm() {
  const dir = plainSite();
  fs.cpSync(path.join(dir, "package"), path.join(dir, "moved"), { recursive: true });
  fs.mkdirSync(path.join(dir, "assets"));
  fs.renameSync(path.join(dir, "moved/wasm_ln_bg.wasm"), path.join(dir, "assets/core.wasm"));
  fs.writeFileSync(path.join(dir, "moved.html"), importPage("./moved/index.js"));
  return dir;
}

/** Runs `fn(wasmLn, config, extra)` in a fresh page (`/`, or `at`); returns its result. */
async function inPage(fn, extra = {}, at = "/") {
  const page = await ctx.newPage();
  recordConsole(page, log, "[api]");
  try {
    await page.goto(server.url + at);
    await page.waitForFunction(() => document.title === "ready");
    const config = { network: "regtest", esploraUrl: net.esploraUrl, proxyUrl: net.proxyUrl, logLevel: "warn" };
    return await page.evaluate(
      async ([src, config, extra]) => {
        // eslint-disable-next-line no-new-func
        const f = new Function(`return (${src})`)();
        return f(window.wasmLn, config, extra);
      },
      [fn.toString(), config, extra],
    );
  } finally {
    await page.close();
  }
}

describe("the npm package's API", () => {
  before(async () => {
    net = await startNetwork({ targetDir: process.env.CARGO_TARGET_DIR });
    server = await serveDemo({ root: plainSiteWithMovedWasm(), config: {} });
    ctx = await launchPersistent(fs.mkdtempSync(path.join(os.tmpdir(), "wasm-ln-api-")));
  });

  after(async () => {
    await ctx?.close();
    await server?.close();
    await net?.stop();
  });

  test("decodeInvoice reads a peer's invoice without a node, and refuses garbage", async () => {
    const { invoice } = await net.peerCall("POST", "/invoice", { amount_msat: 21_000, description: "Coffee" });
    const got = await inPage(
      async (ln, _config, { invoice }) => {
        const d = await ln.decodeInvoice(invoice);
        let garbage;
        try {
          await ln.decodeInvoice("lnbcrt1garbage");
        } catch (e) {
          garbage = { isLnError: e instanceof ln.LnError, name: e.name, code: e.code };
        }
        return { d, garbage };
      },
      { invoice },
    );
    assert.equal(got.d.network, "regtest");
    assert.equal(got.d.amountMsat, 21_000);
    assert.equal(got.d.description, "Coffee");
    assert.equal(got.d.payee, net.peer.nodeId);
    assert.ok(got.d.expiresAt > Date.now() / 1000);
    assert.deepEqual(got.garbage, { isLnError: true, name: "LnError", code: "INVALID_INVOICE" });
  });

  for (const worker of [false, true]) {
    const mode = worker ? "worker" : "page";

    test(`bad arguments are typed LnErrors before they reach the node (${mode})`, async () => {
      const got = await inPage(
        async (ln, config, { worker, peer }) => {
          const codeOf = async (p) => {
            try {
              await p;
              return "resolved";
            } catch (e) {
              return `${e instanceof ln.LnError ? "LnError" : "other"}:${e.code}`;
            }
          };
          const out = {};
          out.unknownField = await codeOf(
            ln.LightningNode.create({ ...config, worker, storage: { kind: "memory" }, colour: "red" }),
          );
          const node = await ln.LightningNode.create({ ...config, worker, storage: { kind: "memory" } });
          out.words = node.mnemonic()?.split(" ").length;
          out.again = node.mnemonic() ?? null;
          out.unsafe = await codeOf(node.openChannel({ peer, amountSat: 2 ** 53 }));
          out.fraction = await codeOf(node.openChannel({ peer, amountSat: 1.5 }));
          out.negative = await codeOf(node.keysend({ nodeId: "02" + "11".repeat(32), amountMsat: -1 }));
          out.hugeBigint = await codeOf(node.openChannel({ peer, amountSat: 2n ** 64n }));
          // A bigint that fits gets through to the node, which has no funds.
          const address = await node.onchain.newAddress();
          out.bigint = await codeOf(node.onchain.send({ address, amountSat: 10_000n }));
          out.badInvoice = await codeOf(node.bolt11.send({ invoice: "lnbcrt1garbage" }));
          await node.stop();
          out.afterStop = await codeOf(node.getInfo());
          return out;
        },
        { worker, peer: net.peer.uri },
      );
      assert.deepEqual(got, {
        unknownField: "LnError:INVALID_CONFIG",
        words: 24,
        again: null,
        unsafe: "LnError:INVALID_CONFIG",
        fraction: "LnError:INVALID_CONFIG",
        negative: "LnError:INVALID_CONFIG",
        hugeBigint: "LnError:INVALID_CONFIG",
        bigint: "LnError:INSUFFICIENT_FUNDS",
        badInvoice: "LnError:INVALID_INVOICE",
        afterStop: "LnError:NODE_STOPPED",
      });
    });

    test(`events(): acknowledged only when handled, by a loop moving on or a listener succeeding (${mode})`, async () => {
      const name = `api-events-${mode}-${Date.now()}`;
      // Fund the node and open a channel: that queues a channelPending event.
      const first = await inPage(
        async (ln, config, { worker, name }) => {
          const node = await ln.LightningNode.create({
            ...config, worker, storage: { kind: "indexeddb", name }, seed: { passphrase: "pw" },
          });
          const address = await node.onchain.newAddress();
          await node.stop();
          return { address };
        },
        { worker, name },
      );
      await net.control("faucet", { address: first.address, amount_sat: 500_000, confirm: true });
      const got = await inPage(
        async (ln, config, { worker, name, peer }) => {
          const open = () => ln.LightningNode.open({ ...config, worker, storage: { kind: "indexeddb", name }, seed: { passphrase: "pw" } });
          let node = await open();
          const deadline = Date.now() + 60_000;
          while ((await node.onchain.balance()).spendableSat === 0) {
            if (Date.now() > deadline) throw new Error("funds never showed");
            await node.sync();
            await new Promise((r) => setTimeout(r, 200));
          }
          const heard = [];
          const off = node.on("channelPending", (ev) => heard.push(ev.channelId));
          await node.openChannel({ peer, amountSat: 100_000 });
          // Leave the loop on the first event without finishing with it...
          let seen;
          for await (const ev of node.events()) {
            seen = ev;
            break;
          }
          off();
          // ...so it is still there, in this page and after a restart of the node.
          let again;
          for await (const ev of node.events()) {
            again = ev;
            break;
          }
          await node.stop();
          node = await open();
          // After a restart a listener gets it again; one that throws is retried with the
          // same event, which is acknowledged only once the listener succeeds.
          const tries = [];
          const off2 = node.on("channelPending", (ev) => {
            tries.push(ev.channelId);
            if (tries.length === 1) throw new Error("the app's database is offline");
          });
          const until = Date.now() + 15_000;
          while (tries.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
          await new Promise((r) => setTimeout(r, 300)); // let the acknowledgement land
          off2();
          await node.stop();
          node = await open();
          const it2 = node.events();
          const leftover = await Promise.race([it2.next().then((r) => r.value.type), new Promise((r) => setTimeout(() => r("none"), 1500))]);
          await it2.return();
          await node.stop();
          return { seen, again, tries, leftover, heard };
        },
        { worker, name, peer: net.peer.uri },
      );
      assert.equal(got.seen.type, "channelPending");
      assert.match(got.seen.id, /^\d+$/, "events carry their id");
      assert.deepEqual(got.again, got.seen, "an event left unfinished is delivered again");
      assert.deepEqual(got.tries, [got.seen.channelId, got.seen.channelId], "redelivered after a restart, retried after a throw");
      assert.equal(got.leftover, "none", "once a listener succeeded, it was acknowledged for good");
      assert.ok(got.heard.includes(got.seen.channelId), `on() heard it: ${JSON.stringify(got.heard)}`);
    });
  }

  for (const worker of [false, true]) {
    test(`the wasm given explicitly when it is not beside the package (${worker ? "worker" : "page"})`, async () => {
      const run = (wasmUrl) =>
        inPage(
          async (ln, config, { worker, wasmUrl }) => {
            try {
              const node = await ln.LightningNode.create({ ...config, worker, wasmUrl, storage: { kind: "memory" } });
              const id = node.nodeId;
              await node.stop();
              return /^0[23][0-9a-f]{64}$/.test(id) ? "started" : `bad id ${id}`;
            } catch (e) {
              return `${e instanceof ln.LnError ? "LnError" : "other"}:${e.code}`;
            }
          },
          { worker, wasmUrl },
          "/moved.html",
        );
      // Not beside the JS: without a URL the load fails, as a typed error.
      assert.equal(await run(undefined), "LnError:INTERNAL");
      assert.equal(await run("/assets/core.wasm"), "started");
      assert.equal(await run(new URL("/assets/core.wasm", server.url).href), "started");
    });
  }

  test("a wallet running in a worker is NODE_LOCKED for the page, until it stops", async () => {
    const name = `api-lock-${Date.now()}`;
    const got = await inPage(
      async (ln, config, { name }) => {
        const c = { ...config, storage: { kind: "indexeddb", name }, seed: { passphrase: "pw" } };
        const inWorker = await ln.LightningNode.create({ ...c, worker: true });
        let locked;
        try {
          await ln.LightningNode.open(c);
        } catch (e) {
          locked = `${e instanceof ln.LnError}:${e.code}`;
        }
        let wrong;
        await inWorker.stop();
        try {
          await ln.LightningNode.open({ ...c, seed: { passphrase: "nope" } });
        } catch (e) {
          wrong = `${e instanceof ln.LnError}:${e.code}`;
        }
        const inPage = await ln.LightningNode.open(c);
        const same = inPage.nodeId === inWorker.nodeId;
        await inPage.stop();
        return { locked, wrong, same };
      },
      { name },
    );
    assert.deepEqual(got, { locked: "true:NODE_LOCKED", wrong: "true:WRONG_PASSPHRASE", same: true });
  });
});
