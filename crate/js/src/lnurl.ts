// LNURL-pay and Lightning addresses, without the wasm core: a checkout page with no node uses
// it as well as `node.lnurl`. What it implements: LUD-01 (bech32 `LNURL1…`), LUD-06
// (payRequest), LUD-09 (successAction message/url), LUD-10 (aes successAction), LUD-12
// (comments), LUD-16 (Lightning addresses), LUD-17 (`lnurlp://`).
//
// Every service URL (the LNURL itself, the callback, a redirect) must be https, or http to a
// loopback host (tests, a wallet's own local service): a pay request fetched over plain http
// from elsewhere could be swapped by anyone on the path, and with it the invoice.

import { bech32, base64 } from "./vendor/base.js";
import { readInvoice } from "./invoice.js";
import { LnError } from "./errors.js";

/** A LNURL-pay service's pay request (LUD-06), as `resolvePayRequest` checked it. */
export interface LnurlPayRequest {
  /** The URL the request was fetched from. */
  url: string;
  /** The host (and port, when not the default) of `url`, to show whom the user pays. */
  domain: string;
  /** Where `requestInvoice` asks for the invoice. */
  callback: string;
  minSendableMsat: number;
  maxSendableMsat: number;
  /** The metadata JSON exactly as served: the invoice's description hash commits to it. */
  metadata: string;
  /** Its `text/plain` entry. */
  description: string;
  /** Its `text/long-desc` entry. */
  longDescription?: string;
  /** Its `image/png;base64` or `image/jpeg;base64` entry, as a `data:` URL. */
  image?: string;
  /** Its `text/identifier` (or `text/email`) entry: the Lightning address it pays (LUD-16); only
   *  when it is the address resolved (case aside), else left out: a service may not name
   *  another payee. */
  identifier?: string;
  /** The longest comment the service takes, in characters (LUD-12); 0: none. */
  commentAllowed: number;
}

/** A success action as the service sent it (LUD-09, LUD-10), checked. */
export type SuccessAction =
  | { tag: "message"; message: string }
  | { tag: "url"; description: string; url: string }
  | { tag: "aes"; description: string; ciphertext: string; iv: string };

/** A success action ready to show: an `aes` one decrypted with the payment's preimage. */
export type OpenedSuccessAction =
  | { tag: "message"; message: string }
  | { tag: "url"; description: string; url: string }
  | { tag: "aes"; description: string; plaintext: string };

export interface LnurlFetchOptions {
  /** Cancels the request (`LNURL_FAILED`). */
  signal?: AbortSignal;
  /** How long the service may take to answer; default 10,000 ms (`LNURL_FAILED` after). */
  timeoutMs?: number;
}

export interface RequestInvoiceOptions extends LnurlFetchOptions {
  /** Within the request's `minSendableMsat`..`maxSendableMsat`. */
  amountMsat: number;
  /** At most `commentAllowed` characters (LUD-12). */
  comment?: string;
}

export interface LnurlInvoice {
  /** A BOLT11 invoice for exactly the amount asked, committing to the request's metadata. */
  invoice: string;
  /** What to show once the payment succeeded (`openSuccessAction`). */
  successAction: SuccessAction | null;
}

const DEFAULT_TIMEOUT_MS = 10_000;
/** LUD-09/10: descriptions and messages are up to 144 characters. */
const MAX_SUCCESS_TEXT = 144;
/** The most an LNURL answer may weigh: a pay request with a picture is a few kB. */
const MAX_BODY_BYTES = 64 * 1024;

function invalid(message: string): LnError {
  return new LnError("INVALID_LNURL", message);
}

function failed(message: string): LnError {
  return new LnError("LNURL_FAILED", message);
}

/** Whether `hostname` (as `URL.hostname` gives it) is this machine. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase();
  return h === "localhost" || h === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** `text` as a URL we may fetch: https, or http to loopback. Else `INVALID_LNURL`. */
function secureUrl(text: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid(`${what} is not a URL: ${text}`);
  }
  if (url.protocol === "https:") return url;
  if (url.protocol === "http:") {
    if (isLoopbackHost(url.hostname)) return url;
    throw invalid(`${what} is plain http to ${url.host}: only https is allowed (http only to this machine)`);
  }
  throw invalid(`${what} is not an https URL: ${text}`);
}

/** LUD-16: the characters a Lightning address's user name may have. */
const ADDRESS_USER = /^[a-z0-9\-_.+]+$/;

/**
 * The URL a pay target points at: a Lightning address `user@domain[:port]` (LUD-16), a
 * bech32 `LNURL1…` (LUD-01, any case), a `lnurlp://` URL (LUD-17), or an https URL (with a
 * `lightning=LNURL1…` parameter, LUD-01's fallback, or itself the pay endpoint); each may have
 * a `lightning:` prefix. Throws `INVALID_LNURL` for anything else, or an insecure URL.
 */
export function lnurlToUrl(target: string): URL {
  if (typeof target !== "string") throw invalid("an LNURL or Lightning address must be a string");
  let t = target.trim();
  if (/^lightning:/i.test(t)) t = t.slice("lightning:".length);
  if (/^lnurl1/i.test(t)) {
    let bytes: Uint8Array;
    try {
      bytes = bech32.decodeToBytes(t, false).bytes;
    } catch (e) {
      throw invalid(`not a valid bech32 LNURL: ${e instanceof Error ? e.message : String(e)}`);
    }
    const url = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
    return secureUrl(url, "the LNURL's URL");
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(t)?.[1]?.toLowerCase();
  if (scheme === "lnurlp") {
    // LUD-17: https, or http for an onion service, which a browser cannot reach; http to
    // loopback for local services.
    const rest = t.slice("lnurlp://".length);
    let host: string;
    try {
      host = new URL(`https://${rest}`).hostname;
    } catch {
      throw invalid(`not a valid lnurlp:// URL: ${t}`);
    }
    return secureUrl(`${isLoopbackHost(host) ? "http" : "https"}://${rest}`, "the LNURL");
  }
  if (scheme === "lnurlw" || scheme === "lnurlc" || scheme === "keyauth") {
    throw invalid(`a ${scheme}:// link is not a pay request (only LNURL-pay is supported)`);
  }
  if (scheme === "https" || scheme === "http") {
    const url = secureUrl(t, "the LNURL");
    const embedded = url.searchParams.get("lightning");
    return embedded && /^lnurl1/i.test(embedded) ? lnurlToUrl(embedded) : url;
  }
  if (scheme === undefined && t.includes("@")) return lightningAddressUrl(t);
  throw invalid(`not an LNURL or a Lightning address: ${target.length > 80 ? `${target.slice(0, 80)}…` : target}`);
}

/**
 * A Lightning address's pay endpoint (LUD-16): `user@domain` → `https://domain/.well-known/lnurlp/user`;
 * `http://` when the domain is loopback (`127.0.0.0/8`, `[::1]`, `localhost`), with its port.
 */
export function lightningAddressUrl(address: string): URL {
  const t = address.trim().toLowerCase();
  const at = t.lastIndexOf("@");
  const user = t.slice(0, at);
  const domain = t.slice(at + 1);
  if (at <= 0 || !ADDRESS_USER.test(user)) {
    throw invalid(`not a Lightning address (user@domain, user of a-z 0-9 - _ . +): ${address}`);
  }
  let host: string;
  try {
    const u = new URL(`https://${domain}`);
    if (u.username || u.password || u.pathname !== "/" || u.search || u.hash || !u.hostname) throw new Error();
    host = u.hostname;
  } catch {
    throw invalid(`the domain of ${address} is not a host name`);
  }
  const scheme = isLoopbackHost(host) ? "http" : "https";
  return new URL(`${scheme}://${domain}/.well-known/lnurlp/${user}`);
}

/** A fetch of `url` answering JSON, with the LNURL error conventions applied. */
async function getJson(url: URL, options: LnurlFetchOptions): Promise<Record<string, unknown>> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const onAbort = () => controller.abort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) controller.abort();
  try {
    let res: Response;
    try {
      // No redirects: each hop would have to be checked (an https service redirecting to
      // http downgrades the request), and fetch shows only where they end.
      res = await fetch(url.href, {
        signal: controller.signal,
        credentials: "omit",
        cache: "no-store",
        redirect: "error",
        headers: { Accept: "application/json" },
      });
    } catch (e) {
      if (timedOut) throw failed(`${url.host} did not answer within ${timeoutMs / 1000} s`);
      if (options.signal?.aborted) throw failed("the LNURL request was cancelled");
      throw failed(`could not reach ${url.host} (redirects are refused): ${e instanceof Error ? e.message : String(e)}`);
    }
    let text: string;
    try {
      text = await readCapped(res, controller);
    } catch (e) {
      if (e instanceof LnError) throw e;
      if (timedOut) throw failed(`${url.host} did not answer within ${timeoutMs / 1000} s`);
      throw failed(`the answer of ${url.host} broke off: ${e instanceof Error ? e.message : String(e)}`);
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    const obj = typeof body === "object" && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : null;
    if (obj && typeof obj.status === "string" && obj.status.toUpperCase() === "ERROR") {
      const reason = typeof obj.reason === "string" && obj.reason ? obj.reason : "no reason given";
      throw failed(`${url.host} refused: ${reason}`);
    }
    if (!res.ok) throw failed(`${url.host} answered HTTP ${res.status}`);
    if (!obj) throw failed(`${url.host} did not answer a JSON object`);
    return obj;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
  }
}

/** The body of `res` as text, at most {@link MAX_BODY_BYTES} (else `LNURL_FAILED`, the
 *  request aborted). */
async function readCapped(res: Response, controller: AbortController): Promise<string> {
  const tooBig = () => failed(`the answer of ${new URL(res.url || "http://x").host} is over ${MAX_BODY_BYTES / 1024} KiB`);
  const declared = Number(res.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) {
    controller.abort();
    throw tooBig();
  }
  if (!res.body) {
    const text = await res.text();
    if (new TextEncoder().encode(text).length > MAX_BODY_BYTES) throw tooBig();
    return text;
  }
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > MAX_BODY_BYTES) {
      controller.abort();
      await reader.cancel().catch(() => undefined);
      throw tooBig();
    }
    chunks.push(value);
  }
  const all = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return new TextDecoder().decode(all);
}

function msatField(obj: Record<string, unknown>, name: string): number {
  const v = obj[name];
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw failed(`the pay request's ${name} is missing or not a whole number of msat`);
  }
  return v;
}

/** The Lightning address `target` is (lowercase), or `null` for another form. */
function addressOf(target: string): string | null {
  let t = target.trim();
  if (/^lightning:/i.test(t)) t = t.slice("lightning:".length);
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(t) || !t.includes("@") ? null : t.toLowerCase();
}

/**
 * Fetches and checks the pay request `target` points at (see `lnurlToUrl` for the forms it
 * takes). Rejects with `INVALID_LNURL` for a target or callback that is not usable or not
 * secure, `LNURL_FAILED` when the service is unreachable, slow (`timeoutMs`, default 10 s),
 * refuses (`{"status":"ERROR"}`, its reason in the message), or answers something that is not
 * a valid pay request.
 */
export async function resolvePayRequest(target: string, options: LnurlFetchOptions = {}): Promise<LnurlPayRequest> {
  const url = lnurlToUrl(target);
  const obj = await getJson(url, options);
  if (obj.tag !== "payRequest") {
    throw failed(`${url.host} answered a ${typeof obj.tag === "string" ? obj.tag : "request with no tag"}, not a payRequest`);
  }
  if (typeof obj.callback !== "string") throw failed("the pay request has no callback");
  const callback = secureUrl(obj.callback, "the pay request's callback");
  const minSendableMsat = msatField(obj, "minSendable");
  const maxSendableMsat = msatField(obj, "maxSendable");
  if (minSendableMsat < 1 || minSendableMsat > maxSendableMsat) {
    throw failed(`the pay request's bounds are not valid: ${minSendableMsat}..${maxSendableMsat} msat`);
  }
  if (typeof obj.metadata !== "string") throw failed("the pay request has no metadata");
  const metadata = obj.metadata;
  let entries: unknown;
  try {
    entries = JSON.parse(metadata);
  } catch {
    entries = undefined;
  }
  if (!Array.isArray(entries)) throw failed("the pay request's metadata is not a JSON array");
  const meta = new Map<string, string>();
  for (const e of entries) {
    if (Array.isArray(e) && typeof e[0] === "string" && typeof e[1] === "string" && !meta.has(e[0])) {
      meta.set(e[0], e[1]);
    }
  }
  const description = meta.get("text/plain");
  if (description === undefined) throw failed("the pay request's metadata has no text/plain description");
  const png = meta.get("image/png;base64");
  const jpeg = meta.get("image/jpeg;base64");
  const commentAllowed = obj.commentAllowed ?? 0;
  if (typeof commentAllowed !== "number" || !Number.isSafeInteger(commentAllowed) || commentAllowed < 0) {
    throw failed("the pay request's commentAllowed is not a whole number");
  }
  const req: LnurlPayRequest = {
    url: url.href,
    domain: url.host,
    callback: callback.href,
    minSendableMsat,
    maxSendableMsat,
    metadata,
    description,
    commentAllowed,
  };
  const longDescription = meta.get("text/long-desc");
  if (longDescription !== undefined) req.longDescription = longDescription;
  if (png !== undefined) req.image = `data:image/png;base64,${png}`;
  else if (jpeg !== undefined) req.image = `data:image/jpeg;base64,${jpeg}`;
  // The service says whose address this is; kept only when it is the address resolved, as
  // wallets show it as the payee (a service may not claim to be someone else).
  const identifier = meta.get("text/identifier") ?? meta.get("text/email");
  const address = addressOf(target);
  if (identifier !== undefined && address !== null && identifier.trim().toLowerCase() === address) {
    req.identifier = identifier;
  }
  return req;
}

/** Characters as a person (and LUD-12 services) count them: code points, not UTF-16 units. */
function charCount(s: string): number {
  return [...s].length;
}

const sats = (msat: number) => `${(msat / 1000).toLocaleString("en-US", { maximumFractionDigits: 3 })} sat`;

/** Checks what `requestInvoice` would send, without sending it. Throws as it does. */
export function checkPayAmount(req: LnurlPayRequest, amountMsat: number, comment?: string): void {
  if (typeof amountMsat !== "number" || !Number.isSafeInteger(amountMsat) || amountMsat <= 0) {
    throw new LnError("INVALID_CONFIG", `amountMsat must be a positive whole number, got ${String(amountMsat)}`);
  }
  if (amountMsat < req.minSendableMsat || amountMsat > req.maxSendableMsat) {
    throw new LnError(
      "AMOUNT_OUT_OF_RANGE",
      `${req.domain} takes ${sats(req.minSendableMsat)} to ${sats(req.maxSendableMsat)}, not ${sats(amountMsat)}`,
    );
  }
  if (comment !== undefined && comment !== "") {
    if (typeof comment !== "string") throw invalid("a comment must be a string");
    const n = charCount(comment);
    if (req.commentAllowed === 0) throw invalid(`${req.domain} takes no comment`);
    if (n > req.commentAllowed) {
      throw invalid(`${req.domain} takes comments of up to ${req.commentAllowed} characters, this one has ${n}`);
    }
  }
}

async function sha256Hex(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

function text144(v: unknown, what: string): string {
  if (typeof v !== "string") throw failed(`the success action has no ${what}`);
  if (charCount(v) > MAX_SUCCESS_TEXT) throw failed(`the success action's ${what} is over ${MAX_SUCCESS_TEXT} characters`);
  return v;
}

/** The service's success action, checked before anything is paid: LUD-09 says not to pay
 *  when it is of a kind we cannot show. */
function parseSuccessAction(v: unknown, callback: URL): SuccessAction | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== "object" || Array.isArray(v)) throw failed("the success action is not an object");
  const a = v as Record<string, unknown>;
  switch (a.tag) {
    case "message":
      return { tag: "message", message: text144(a.message, "message") };
    case "url": {
      const description = text144(a.description, "description");
      if (typeof a.url !== "string") throw failed("the success action has no url");
      let url: URL;
      try {
        url = new URL(a.url);
      } catch {
        throw failed(`the success action's url is not a URL: ${a.url}`);
      }
      // https; http only where the callback itself is plain http to this machine.
      const loopbackHttp = callback.protocol === "http:" && isLoopbackHost(callback.hostname);
      if (url.protocol !== "https:" && !(url.protocol === "http:" && loopbackHttp)) {
        throw failed(`the success action's url is not https: ${a.url}`);
      }
      // LUD-09: the url's domain is the callback's (a service may not send its payers elsewhere).
      if (url.hostname !== callback.hostname) {
        throw failed(`the success action's url is on ${url.hostname}, not on the service's ${callback.hostname}`);
      }
      return { tag: "url", description, url: url.href };
    }
    case "aes": {
      const description = text144(a.description, "description");
      if (typeof a.ciphertext !== "string" || a.ciphertext.length > 4096) {
        throw failed("the success action's ciphertext is missing or over 4 kB");
      }
      if (typeof a.iv !== "string" || a.iv.length !== 24) throw failed("the success action's iv is not 24 base64 characters");
      return { tag: "aes", description, ciphertext: a.ciphertext, iv: a.iv };
    }
    default:
      throw failed(`the success action is of a kind this wallet cannot show (${String(a.tag)}); nothing was paid`);
  }
}

/**
 * Asks the service for an invoice of `amountMsat` (LUD-06), with `comment` (LUD-12). Checked
 * before asking: the amount is within the request's bounds (`AMOUNT_OUT_OF_RANGE`), the
 * comment within `commentAllowed` (`INVALID_LNURL`). Checked after: the invoice's description
 * hash is SHA-256 of the request's metadata and its amount is `amountMsat`
 * (`INVOICE_MISMATCH`), its success action one we can show (`LNURL_FAILED`). Nothing is paid.
 */
export async function requestInvoice(req: LnurlPayRequest, options: RequestInvoiceOptions): Promise<LnurlInvoice> {
  const { amountMsat, comment } = options;
  checkPayAmount(req, amountMsat, comment);
  const callback = secureUrl(req.callback, "the pay request's callback");
  const url = new URL(callback.href);
  url.searchParams.set("amount", String(amountMsat));
  if (comment) url.searchParams.set("comment", comment);
  const obj = await getJson(url, options);
  if (typeof obj.pr !== "string") throw failed(`${url.host} answered no invoice`);
  const invoice = obj.pr;
  let summary;
  try {
    summary = readInvoice(invoice);
  } catch (e) {
    throw failed(`${url.host} answered an invalid invoice: ${(e as Error).message}`);
  }
  const expected = await sha256Hex(req.metadata);
  if (summary.descriptionHash !== expected) {
    throw new LnError(
      "INVOICE_MISMATCH",
      `the invoice from ${url.host} does not commit to the pay request's metadata (its description hash is ${summary.descriptionHash ?? "missing"}); nothing was paid`,
    );
  }
  if (summary.amountMsat !== amountMsat) {
    throw new LnError(
      "INVOICE_MISMATCH",
      `the invoice from ${url.host} is for ${summary.amountMsat === null ? "any amount" : sats(summary.amountMsat)}, not the ${sats(amountMsat)} asked; nothing was paid`,
    );
  }
  return { invoice, successAction: parseSuccessAction(obj.successAction, callback) };
}

function hexToBytes(hex: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * A success action ready to show, after the payment succeeded: an `aes` one (LUD-10) is
 * decrypted (AES-256-CBC, WebCrypto) with `preimage` (hex, the payment's); `message` and `url`
 * ones come back as they are. Rejects with `LNURL_FAILED` when the ciphertext does not decrypt
 * with this preimage, or a url action's url is not http(s).
 */
export async function openSuccessAction(action: SuccessAction, preimage: string): Promise<OpenedSuccessAction> {
  switch (action.tag) {
    case "message":
      return { tag: "message", message: action.message };
    case "url": {
      if (!/^https?:\/\//i.test(action.url)) throw failed(`the success action's url is not http(s): ${action.url}`);
      return { tag: "url", description: action.description, url: action.url };
    }
    case "aes": {
      if (typeof preimage !== "string" || !/^[0-9a-fA-F]{64}$/.test(preimage)) {
        throw new LnError("INVALID_CONFIG", "the preimage must be 64 hex characters");
      }
      let plaintext: string;
      try {
        const iv = base64.decode(action.iv) as Uint8Array<ArrayBuffer>;
        const ciphertext = base64.decode(action.ciphertext) as Uint8Array<ArrayBuffer>;
        if (iv.length !== 16) throw new Error("the iv is not 16 bytes");
        const key = await crypto.subtle.importKey("raw", hexToBytes(preimage), { name: "AES-CBC" }, false, ["decrypt"]);
        // WebCrypto's AES-CBC removes (and checks) the PKCS#7 padding itself.
        const plain = await crypto.subtle.decrypt({ name: "AES-CBC", iv }, key, ciphertext);
        plaintext = new TextDecoder("utf-8", { fatal: true }).decode(plain);
      } catch (e) {
        throw failed(`the success action did not decrypt with this payment's preimage: ${e instanceof Error ? e.message : String(e)}`);
      }
      return { tag: "aes", description: action.description, plaintext };
    }
  }
}
