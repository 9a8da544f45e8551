// The LNURL client and invoice reader of the package (crate/js/src/lnurl.ts, invoice.ts) as pure
// functions, in Node (no browser, no wasm): the built modules in pkg/ (pkg-scripts/build.sh),
// against a tiny loopback LNURL service of this file's own for what needs a server. The real
// merchant's service is lnurl.test.mjs's.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import http from "node:http";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { pathToFileURL } from "node:url";

import { ROOT } from "./lib/plain.mjs";

const pkg = (f) => import(pathToFileURL(path.join(ROOT, "pkg", f)).href);
const { lnurlToUrl, lightningAddressUrl, resolvePayRequest, requestInvoice, openSuccessAction, checkPayAmount } =
  await pkg("lnurl.js");
const { readInvoice, checkInvoice } = await pkg("invoice.js");
const { bech32 } = await pkg("vendor/base.js");

/** Rejects with an LnError of `code` (and a message matching `re`, when given). */
async function rejectsWith(p, code, re) {
  await assert.rejects(p, (e) => {
    assert.equal(e.name, "LnError", String(e));
    assert.equal(e.code, code, e.message);
    if (re) assert.match(e.message, re);
    return true;
  });
}

// BOLT11's own test vectors (signed by its example key).
const COFFEE =
  "lnbc2500u1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5xysxxatsyp3k7enxv4jsxqzpu9qrsgquk0rl77nj30yxdy8j9vdx85fkpmdla2087ne0xh8nhedh8w27kyke0lp53ut353s06fv3qfegext0eh0ymjpf39tuven09sam30g4vgpfna3rh";
const HASHED =
  "lnbc20m1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqhp58yjmdan79s6qqdhdzgynm4zwqd5d7xmw5fk98klysy043l2ahrqs9qrsgq7ea976txfraylvgzuxs8kgcw23ezlrszfnh8r6qtfpr6cxga50aj6txm9rxrydzd06dfeawfk6swupvz4erwnyutnjq7x39ymw6j38gp7ynn44";
const VECTOR_HASH = "0001020304050607080900010203040506070809000102030405060708090102";

/** 5-bit words of `n` in `len` words, big-endian. */
function intWords(n, len) {
  const w = [];
  for (let i = len - 1; i >= 0; i--) w.push(Math.floor(n / 32 ** i) % 32);
  return w;
}

/** A tagged field of BOLT11: tag letter (as a bech32 character), length, data words. */
function field(tag, words) {
  return ["qpzry9x8gf2tvdw0s3jn54khce6mua7l".indexOf(tag), ...intWords(words.length, 2), ...words];
}

/**
 * An invoice readInvoice accepts (it does not check signatures: this one's is zeros), for the
 * LNURL checks: regtest, `amountMsat` (in pico-BTC: 10 p = 1 msat), a description hash.
 */
function fakeInvoice({ amountMsat, descriptionHash, paymentHash = "ab".repeat(32), createdAt = Math.floor(Date.now() / 1000) }) {
  const hrp = `lnbcrt${amountMsat * 10}p`;
  const words = [
    ...intWords(createdAt, 7),
    ...field("p", bech32.toWords(Buffer.from(paymentHash, "hex"))),
    ...field("h", bech32.toWords(Buffer.from(descriptionHash, "hex"))),
    ...new Array(104).fill(0),
  ];
  return bech32.encode(hrp, words, false);
}

const sha256 = (s) => crypto.createHash("sha256").update(s).digest("hex");

describe("invoice.ts: readInvoice and checkInvoice", () => {
  test("reads BOLT11's vectors, any case, with lightning:", () => {
    const s = readInvoice(COFFEE);
    assert.deepEqual(s, {
      network: "bitcoin",
      amountMsat: 250_000_000,
      description: "1 cup coffee",
      descriptionHash: null,
      paymentHash: VECTOR_HASH,
      createdAt: 1496314658,
      expiresAt: 1496314658 + 60,
    });
    assert.deepEqual(readInvoice(`LIGHTNING:${COFFEE.toUpperCase()}`), s);
    const h = readInvoice(HASHED);
    assert.equal(h.descriptionHash, "3925b6f67e2c340036ed12093dd44e0368df1b6ea26c53dbe4811f58fd5db8c1");
    assert.equal(h.description, null);
    assert.equal(h.amountMsat, 2_000_000_000);
    assert.equal(h.expiresAt, 1496314658 + 3600, "no expiry field: an hour");
    const r = readInvoice(fakeInvoice({ amountMsat: 1234, descriptionHash: "00".repeat(32) }));
    assert.equal(r.network, "regtest");
    assert.equal(r.amountMsat, 1234);
  });

  test("malformed invoices are INVALID_INVOICE", () => {
    for (const bad of ["", "lnbc1", "hello", COFFEE.slice(0, -1), `${COFFEE.slice(0, 20)}${COFFEE.slice(20).toUpperCase()}`]) {
      assert.throws(() => readInvoice(bad), (e) => e.code === "INVALID_INVOICE", bad);
    }
  });

  test("checkInvoice: wrong network and expiry in words", () => {
    assert.throws(
      () => checkInvoice(COFFEE, { network: "regtest", now: 1496314658 }),
      (e) => e.code === "WRONG_NETWORK" && e.message === "this invoice is for Bitcoin mainnet, this wallet is on regtest",
    );
    assert.equal(checkInvoice(COFFEE, { network: "bitcoin", now: 1496314658 + 59 }).amountMsat, 250_000_000);
    assert.throws(
      () => checkInvoice(COFFEE, { now: 1496314658 + 90 }),
      (e) => e.code === "INVOICE_EXPIRED" && /expired 30 s ago/.test(e.message),
    );
  });
});

describe("lnurl.ts: targets", () => {
  // LUD-01's example.
  const LUD01 =
    "LNURL1DP68GURN8GHJ7UM9WFMXJCM99E3K7MF0V9CXJ0M385EKVCENXC6R2C35XVUKXEFCV5MKVV34X5EKZD3EV56NYD3HXQURZEPEXEJXXEPNXSCRVWFNV9NXZCN9XQ6XYEFHVGCXXCMYXYMNSERXFQ5FNS";
  const LUD01_URL = "https://service.com/api?q=3fc3645b439ce8e7f2553a69e5267081d96dcd340693afabe04be7b0ccd178df";

  test("LUD-01: the spec's example, any case, with lightning:, and as a fallback URL", () => {
    assert.equal(lnurlToUrl(LUD01).href, LUD01_URL);
    assert.equal(lnurlToUrl(LUD01.toLowerCase()).href, LUD01_URL);
    assert.equal(lnurlToUrl(`lightning:${LUD01}`).href, LUD01_URL);
    assert.equal(lnurlToUrl(`https://example.com/pay?lightning=${LUD01}`).href, LUD01_URL);
    assert.throws(() => lnurlToUrl(`${LUD01.slice(0, -1)}Q`), (e) => e.code === "INVALID_LNURL");
  });

  test("LUD-16: Lightning addresses", () => {
    assert.equal(lightningAddressUrl("satoshi@example.com").href, "https://example.com/.well-known/lnurlp/satoshi");
    assert.equal(lnurlToUrl("Satoshi@Example.com").href, "https://example.com/.well-known/lnurlp/satoshi");
    assert.equal(lnurlToUrl("shop@127.0.0.1:8080").href, "http://127.0.0.1:8080/.well-known/lnurlp/shop");
    assert.equal(lnurlToUrl("shop@localhost:3000").href, "http://localhost:3000/.well-known/lnurlp/shop");
    assert.equal(lnurlToUrl("shop@[::1]:3000").href, "http://[::1]:3000/.well-known/lnurlp/shop");
    assert.equal(lnurlToUrl("a.b-c_d+e@example.com:8443").href, "https://example.com:8443/.well-known/lnurlp/a.b-c_d+e");
    for (const bad of ["@example.com", "a b@example.com", "x@", "x@example.com/path", "x@u:p@example.com"]) {
      assert.throws(() => lnurlToUrl(bad), (e) => e.code === "INVALID_LNURL", bad);
    }
  });

  test("LUD-17 lnurlp://, and http only to loopback", () => {
    assert.equal(lnurlToUrl("lnurlp://example.com/p/1").href, "https://example.com/p/1");
    assert.equal(lnurlToUrl("LNURLP://127.0.0.1:9000/p").href, "http://127.0.0.1:9000/p");
    assert.equal(lnurlToUrl("http://127.0.0.2:9000/p").href, "http://127.0.0.2:9000/p");
    assert.throws(() => lnurlToUrl("lnurlw://example.com/w"), (e) => e.code === "INVALID_LNURL" && /not a pay request/.test(e.message));
    for (const insecure of [
      "http://example.com/.well-known/lnurlp/x",
      "http://128.0.0.1/x",
      "http://localhost.example.com/x",
      bech32.encode("lnurl", bech32.toWords(Buffer.from("http://example.com/lnurl")), false),
      "ftp://example.com/x",
    ]) {
      assert.throws(() => lnurlToUrl(insecure), (e) => e.code === "INVALID_LNURL", insecure);
    }
  });
});

/** The loopback LNURL service: `routes[path](url) → [status, body]`, requests counted. */
let server;
let base;
let routes = {};
const hits = [];

describe("lnurl.ts: against a loopback service", () => {
  const metadata = JSON.stringify([["text/plain", "a test"], ["text/identifier", "shop@test"]]);
  const payRequest = (over = {}) => ({
    tag: "payRequest",
    callback: `${base}/cb`,
    minSendable: 1_000,
    maxSendable: 5_000_000,
    metadata,
    commentAllowed: 10,
    ...over,
  });

  before(async () => {
    server = http.createServer((req, res) => {
      const url = new URL(req.url, "http://x");
      hits.push(url.pathname + url.search);
      const route = routes[url.pathname];
      if (!route) {
        res.writeHead(404).end("no");
        return;
      }
      const [status, body, type = "application/json"] = route(url);
      if (status === 0) return; // never answers
      res.writeHead(status, { "content-type": type }).end(typeof body === "string" ? body : JSON.stringify(body));
    });
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${server.address().port}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  test("resolvePayRequest reads the request and its metadata", async () => {
    routes = { "/.well-known/lnurlp/shop": () => [200, payRequest()] };
    const req = await resolvePayRequest(`shop@127.0.0.1:${server.address().port}`);
    assert.deepEqual(req, {
      url: `${base}/.well-known/lnurlp/shop`,
      domain: `127.0.0.1:${server.address().port}`,
      callback: `${base}/cb`,
      minSendableMsat: 1_000,
      maxSendableMsat: 5_000_000,
      metadata,
      description: "a test",
      // The service's text/identifier (shop@test) is not the address resolved: left out.
      commentAllowed: 10,
    });
    // Kept when it is the address resolved, case aside; never from an LNURL (no address).
    const address = `Shop@127.0.0.1:${server.address().port}`;
    const own = JSON.stringify([["text/plain", "a test"], ["text/identifier", address.toUpperCase()]]);
    routes["/.well-known/lnurlp/shop"] = () => [200, payRequest({ metadata: own })];
    assert.equal((await resolvePayRequest(address)).identifier, address.toUpperCase());
    routes["/p"] = () => [200, payRequest({ metadata: own })];
    assert.equal((await resolvePayRequest(`${base}/p`)).identifier, undefined);
  });

  test("redirects are refused; an answer over 64 KiB is LNURL_FAILED", async () => {
    // A redirect could downgrade https to http: none is followed (this one stays on loopback,
    // which would pass the final URL's check).
    routes = { "/moved": () => [302, "", "text/plain"], "/p": () => [200, payRequest()] };
    const moving = http.createServer((req, res) => res.writeHead(302, { location: `${base}/p` }).end());
    await new Promise((r) => moving.listen(0, "127.0.0.1", r));
    try {
      await rejectsWith(resolvePayRequest(`http://127.0.0.1:${moving.address().port}/p`), "LNURL_FAILED", /redirects are refused/);
    } finally {
      moving.closeAllConnections();
      await new Promise((r) => moving.close(r));
    }
    routes = { "/big": () => [200, payRequest({ padding: "x".repeat(70 * 1024) })] };
    await rejectsWith(resolvePayRequest(`${base}/big`), "LNURL_FAILED", /over 64 KiB/);
    // Without a content-length (chunked), the stream is cut at the cap.
    const chunked = http.createServer((req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write(`{"tag":"payRequest","padding":"`);
      for (let i = 0; i < 80; i++) res.write("x".repeat(1024));
      res.end(`"}`);
    });
    await new Promise((r) => chunked.listen(0, "127.0.0.1", r));
    try {
      await rejectsWith(resolvePayRequest(`http://127.0.0.1:${chunked.address().port}/p`), "LNURL_FAILED", /over 64 KiB/);
    } finally {
      chunked.closeAllConnections();
      await new Promise((r) => chunked.close(r));
    }
  });

  test("service failures are LNURL_FAILED, insecure callbacks INVALID_LNURL", async () => {
    const cases = [
      [() => [200, { status: "ERROR", reason: "the shop is closed" }], "LNURL_FAILED", /the shop is closed/],
      [() => [500, "oops", "text/plain"], "LNURL_FAILED", /HTTP 500/],
      [() => [200, "<html>", "text/html"], "LNURL_FAILED", /JSON/],
      [() => [200, payRequest({ tag: "withdrawRequest" })], "LNURL_FAILED", /withdrawRequest, not a payRequest/],
      [() => [200, payRequest({ metadata: undefined })], "LNURL_FAILED", /metadata/],
      [() => [200, payRequest({ metadata: "[]" })], "LNURL_FAILED", /text\/plain/],
      [() => [200, payRequest({ minSendable: 10, maxSendable: 5 })], "LNURL_FAILED", /bounds/],
      [() => [200, payRequest({ callback: "http://example.com/cb" })], "INVALID_LNURL", /plain http/],
    ];
    for (const [route, code, re] of cases) {
      routes = { "/p": route };
      await rejectsWith(resolvePayRequest(`${base}/p`), code, re);
    }
    await rejectsWith(resolvePayRequest(`${base}/nothing-here`), "LNURL_FAILED", /HTTP 404/);
    routes = { "/slow": () => [0] };
    const t0 = Date.now();
    await rejectsWith(resolvePayRequest(`${base}/slow`, { timeoutMs: 300 }), "LNURL_FAILED", /did not answer within 0.3 s/);
    assert.ok(Date.now() - t0 < 3_000, "the timeout bounds the wait");
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    await rejectsWith(resolvePayRequest(`${base}/slow`, { signal: ac.signal }), "LNURL_FAILED", /cancelled/);
  });

  test("requestInvoice: bounds and comment length checked before asking", async () => {
    routes = { "/p": () => [200, payRequest()] };
    const req = await resolvePayRequest(`${base}/p`);
    const before = hits.length;
    await rejectsWith(requestInvoice(req, { amountMsat: 999 }), "AMOUNT_OUT_OF_RANGE", /takes 1 sat to 5,000 sat, not 0.999 sat/);
    await rejectsWith(requestInvoice(req, { amountMsat: 5_000_001 }), "AMOUNT_OUT_OF_RANGE");
    await rejectsWith(requestInvoice(req, { amountMsat: 2_000, comment: "12345678901" }), "INVALID_LNURL", /up to 10 characters, this one has 11/);
    await rejectsWith(requestInvoice({ ...req, commentAllowed: 0 }, { amountMsat: 2_000, comment: "hi" }), "INVALID_LNURL", /no comment/);
    await rejectsWith(requestInvoice(req, { amountMsat: 1.5 }), "INVALID_CONFIG");
    assert.equal(hits.length, before, "nothing was asked of the service");
    // Ten characters of four UTF-16 units each are ten characters.
    assert.doesNotThrow(() => checkPayAmount(req, 2_000, "😀".repeat(10)));
  });

  test("requestInvoice: the invoice must commit to the metadata and be for the amount", async () => {
    routes = { "/p": () => [200, payRequest()] };
    const req = await resolvePayRequest(`${base}/p`);
    let answer;
    routes["/cb"] = (url) => [200, answer(Number(url.searchParams.get("amount")), url.searchParams.get("comment"))];

    answer = (amountMsat) => ({ pr: fakeInvoice({ amountMsat, descriptionHash: sha256(metadata) }), successAction: { tag: "message", message: "thanks" } });
    const ok = await requestInvoice(req, { amountMsat: 2_000, comment: "hi there" });
    assert.equal(readInvoice(ok.invoice).amountMsat, 2_000);
    assert.deepEqual(ok.successAction, { tag: "message", message: "thanks" });
    assert.equal(hits.at(-1), "/cb?amount=2000&comment=hi+there");

    answer = (amountMsat) => ({ pr: fakeInvoice({ amountMsat, descriptionHash: sha256(`${metadata} `) }) });
    await rejectsWith(requestInvoice(req, { amountMsat: 2_000 }), "INVOICE_MISMATCH", /does not commit to the pay request's metadata/);
    answer = (amountMsat) => ({ pr: fakeInvoice({ amountMsat: amountMsat + 1_000, descriptionHash: sha256(metadata) }) });
    await rejectsWith(requestInvoice(req, { amountMsat: 2_000 }), "INVOICE_MISMATCH", /is for 3 sat, not the 2 sat asked/);
    answer = () => ({ status: "ERROR", reason: "out of stock" });
    await rejectsWith(requestInvoice(req, { amountMsat: 2_000 }), "LNURL_FAILED", /out of stock/);
    answer = () => ({ routes: [] });
    await rejectsWith(requestInvoice(req, { amountMsat: 2_000 }), "LNURL_FAILED", /no invoice/);

    // LUD-09: a success action we cannot show, or a url elsewhere than the callback's domain,
    // is refused before anything is paid.
    const withAction = (successAction) => (amountMsat) => ({ pr: fakeInvoice({ amountMsat, descriptionHash: sha256(metadata) }), successAction });
    answer = withAction({ tag: "url", description: "receipt", url: "https://evil.example/r" });
    await rejectsWith(requestInvoice(req, { amountMsat: 2_000 }), "LNURL_FAILED", /not on the service's 127.0.0.1/);
    answer = withAction({ tag: "url", description: "receipt", url: "javascript:alert(1)" });
    await rejectsWith(requestInvoice(req, { amountMsat: 2_000 }), "LNURL_FAILED", /not http/);
    answer = withAction({ tag: "video", url: "x" });
    await rejectsWith(requestInvoice(req, { amountMsat: 2_000 }), "LNURL_FAILED", /cannot show/);
    // http only because this callback is itself http to loopback.
    answer = withAction({ tag: "url", description: "receipt", url: `${base}/receipt/1` });
    const url = await requestInvoice(req, { amountMsat: 2_000 });
    assert.deepEqual(await openSuccessAction(url.successAction, "00".repeat(32)), { tag: "url", description: "receipt", url: `${base}/receipt/1` });
  });
});

describe("lnurl.ts: an https service (fetch stubbed)", () => {
  test("a url success action is https when the callback is: http on its host is refused", async () => {
    const metadata = JSON.stringify([["text/plain", "x"]]);
    const req = {
      url: "https://pay.example/p", domain: "pay.example", callback: "https://pay.example/cb",
      minSendableMsat: 1_000, maxSendableMsat: 5_000_000, metadata, description: "x", commentAllowed: 0,
    };
    const real = globalThis.fetch;
    let action;
    globalThis.fetch = async (url) => {
      const amountMsat = Number(new URL(url).searchParams.get("amount"));
      const body = { pr: fakeInvoice({ amountMsat, descriptionHash: sha256(metadata) }), successAction: action };
      return new Response(JSON.stringify(body), { status: 200, headers: { "content-type": "application/json" } });
    };
    try {
      action = { tag: "url", description: "receipt", url: "http://pay.example/r" };
      await rejectsWith(requestInvoice(req, { amountMsat: 2_000 }), "LNURL_FAILED", /not https/);
      action = { tag: "url", description: "receipt", url: "https://pay.example/r" };
      assert.equal((await requestInvoice(req, { amountMsat: 2_000 })).successAction.url, "https://pay.example/r");
    } finally {
      globalThis.fetch = real;
    }
  });
});

describe("lnurl.ts: LUD-10 aes success actions", () => {
  // A fixed vector, made once with the openssl CLI (and Node's crypto agrees), AES-256-CBC with PKCS#7 padding as
  // LUD-10 specifies: key = the preimage.
  const PREIMAGE = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20";
  const IV = "AAECAwQFBgcICQoLDA0ODw==";
  const PLAINTEXT = "Your code: 4321 ✓";

  test("decrypts with the preimage; the wrong preimage is LNURL_FAILED", async () => {
    const cipher = crypto.createCipheriv("aes-256-cbc", Buffer.from(PREIMAGE, "hex"), Buffer.from(IV, "base64"));
    const ciphertext = Buffer.concat([cipher.update(PLAINTEXT, "utf8"), cipher.final()]).toString("base64");
    assert.equal(ciphertext, "m5tcu1dTtx6WEkHIGfgdMkIE1DypUDE37K1xfp6SUdE=", "the vector");
    const action = { tag: "aes", description: "Here is your code", ciphertext, iv: IV };
    assert.deepEqual(await openSuccessAction(action, PREIMAGE), { tag: "aes", description: "Here is your code", plaintext: PLAINTEXT });
    await rejectsWith(openSuccessAction(action, "ff".repeat(32)), "LNURL_FAILED", /did not decrypt/);
    await rejectsWith(openSuccessAction({ ...action, iv: "AAAA" }, PREIMAGE), "LNURL_FAILED");
    assert.deepEqual(await openSuccessAction({ tag: "message", message: "hi" }, PREIMAGE), { tag: "message", message: "hi" });
  });
});
