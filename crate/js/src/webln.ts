// The WebLN provider of a node (`node.webln(options)`): the interface pages and wallet
// clients (Bitcoin Connect, Alby's SDKs) already speak, as @webbtc/webln-types types it. An
// extension injects it as `window.webln`; a page may use its own node through it.
//
// What protects the node's funds here: a permission callback (`allow`) asked on `enable()`
// and before each payment or signature, and a spending budget per origin (per payment and per
// period) that no payment above it passes, checked before anything is sent.

import type { WebLNProvider } from "@webbtc/webln-types";
import type { LightningNode } from "./node.js";
import { LnError, toLnError } from "./errors.js";
import { checkInvoice, readInvoice } from "./invoice.js";
import { checkPayAmount, openSuccessAction, requestInvoice, resolvePayRequest } from "./lnurl.js";
import type { LnurlPayRequest, OpenedSuccessAction, SuccessAction } from "./lnurl.js";
import type { Network, PaymentDetails } from "./wasm_ln.js";

/** What the provider asks `allow` about. Amounts in msat. */
export type WebLnPermissionRequest =
  | { origin: string; method: "enable" }
  | {
      origin: string;
      method: "sendPayment";
      invoice: string;
      paymentHash: string;
      amountMsat: number;
      maxFeeMsat: number;
      description: string | null;
    }
  | {
      origin: string;
      method: "keysend";
      destination: string;
      amountMsat: number;
      maxFeeMsat: number;
      customRecords: Record<string, string>;
    }
  | {
      origin: string;
      method: "lnurl";
      payRequest: LnurlPayRequest;
      amountMsat: number;
      maxFeeMsat: number;
      comment: string | null;
    }
  | { origin: string; method: "signMessage"; message: string };

/** What the provider asks `confirm` on `lnurl()`: the user picks the amount (and a comment). */
export interface WebLnLnurlRequest {
  origin: string;
  payRequest: LnurlPayRequest;
}

/** `confirm`'s answer: what to pay, or `null`/`false` to decline (`PERMISSION_DENIED`). */
export interface WebLnLnurlChoice {
  amountMsat: number;
  comment?: string;
}

/** Spending limits for one origin. Amounts in msat. */
export interface WebLnBudget {
  /** The most one payment may send (its amount, without routing fees). Default 10,000 sat. */
  msatPerPayment?: number;
  /** The most the origin's payments may spend, fees included, in any `periodSecs` (a
   *  sliding window). Default 10,000 sat. */
  msatPerPeriod?: number;
  /** Default 86,400 (a day). */
  periodSecs?: number;
}

/** Where the budget's ledger is kept; `localStorage` by default, when there is one. */
export interface WebLnLedgerStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export interface WebLnOptions {
  /** The origin the provider serves: its budget and permission are per origin. Default:
   *  `location.origin` when there is one, else `"null"`. An extension passes the page's. */
  origin?: string;
  /** Asked on `enable()` and before each payment and signature; `false` is
   *  `PERMISSION_DENIED`. Without it, everything within the budget is allowed. */
  allow?: (request: WebLnPermissionRequest) => boolean | Promise<boolean>;
  /** Asked by `lnurl()` for the amount to pay (and a comment). Without it, `lnurl()` pays
   *  only pay requests of one fixed amount. */
  confirm?: (request: WebLnLnurlRequest) => WebLnLnurlChoice | null | false | Promise<WebLnLnurlChoice | null | false>;
  /** See {@link WebLnBudget}; the defaults apply to what is left out. */
  budget?: WebLnBudget;
  /** The most routing fees a payment may cost, for an amount: default 1 % + 10 sat. It is
   *  reserved from the period's budget while the payment is in flight. */
  maxFeeMsat?: (amountMsat: number) => number;
  /** `getInfo().node.alias`; default "wasm-ln". */
  alias?: string;
  /** `getInfo().node.color`, `#rrggbb`. */
  color?: string;
  /** Where the spending ledger is kept (a reload does not reset the period). Default
   *  `localStorage` when the context has one; `null` keeps it in memory only. */
  storage?: WebLnLedgerStorage | null;
}

/** `lnurl()`'s result: `{ status: "OK" }` as WebLN has it, with what was paid. */
export interface WebLnLnurlResponse {
  status: "OK";
  preimage: string;
  successAction: OpenedSuccessAction | null;
}

/** `getInfo()`'s result. */
export interface WebLnInfo {
  node: { alias: string; pubkey: string; color?: string };
  version: string;
  supports: "lightning"[];
  methods: string[];
}

/** The WebLN provider of a node. Every method but `enable`, `isEnabled`, `on` and `off`
 *  rejects with `NOT_ENABLED` before `enable()` succeeded; every failure is an `LnError`. */
export interface WebLnProvider {
  enable(): Promise<void>;
  isEnabled(): Promise<boolean>;
  getInfo(): Promise<WebLnInfo>;
  /** Spendable over Lightning now, in sat (`currency: "sats"`). */
  getBalance(): Promise<{ balance: number; currency: "sats" }>;
  /** A number or string: the amount in sat. The object form: `amount` (or else
   *  `defaultAmount`) in sat within `minimumAmount`..`maximumAmount` (`AMOUNT_OUT_OF_RANGE`),
   *  `defaultMemo` the description; no amount: a variable-amount invoice. */
  makeInvoice(
    args:
      | string
      | number
      | {
          amount?: string | number;
          defaultAmount?: string | number;
          minimumAmount?: string | number;
          maximumAmount?: string | number;
          defaultMemo?: string;
        },
  ): Promise<{ paymentRequest: string }>;
  sendPayment(paymentRequest: string): Promise<{ preimage: string }>;
  /** `amount` in sat; `customRecords`: TLV type (decimal) → value (UTF-8 text). */
  keysend(args: { destination: string; amount: string | number; customRecords?: Record<string, string> }): Promise<{
    preimage: string;
  }>;
  lookupInvoice(args: { paymentHash?: string; paymentRequest?: string }): Promise<{
    paymentRequest: string;
    preimage?: string;
    paid: boolean;
  }>;
  signMessage(message: string): Promise<{ message: string; signature: string }>;
  /** Resolves when `signature` is a valid node signature of `message`, else rejects. */
  verifyMessage(signature: string, message: string): Promise<void>;
  /** Pays a LNURL-pay link or Lightning address, the amount from `confirm`. */
  lnurl(lnurl: string): Promise<WebLnLnurlResponse>;
  /** WebLN's only event, `accountChanged`, never fires: the provider is one node for life. */
  on(eventName: string, listener: () => void): void;
  off(eventName: string, listener: () => void): void;
}

/** Alby Hub's default for a new app connection (which Bitcoin Connect's NWC wallets get) is
 *  10,000 sat a month; ours is 10,000 sat a day, and per payment. */
export const DEFAULT_WEBLN_BUDGET: Required<WebLnBudget> = {
  msatPerPayment: 10_000_000,
  msatPerPeriod: 10_000_000,
  periodSecs: 86_400,
};

/** 1 % + 10 sat: what Alby's tools reserve for fees; LDK's own default is 1 % + 50 sat. */
export function defaultWebLnMaxFeeMsat(amountMsat: number): number {
  return Math.floor(amountMsat / 100) + 10_000;
}

/** The localStorage key of one node's ledger for one origin. */
const LEDGER_KEY_PREFIX = "wasm-ln:webln-budget:";

/** What the provider implements, for `getInfo().methods`. */
const METHODS = [
  "enable", "isEnabled", "getInfo", "getBalance", "makeInvoice", "sendPayment", "keysend",
  "lookupInvoice", "signMessage", "verifyMessage", "lnurl", "on", "off",
];

interface LedgerEntry {
  /** Unix ms. */
  at: number;
  msat: number;
  /** A reservation for a payment in flight: `id` settles or releases it. */
  id?: string;
}

/** One origin's spending in the window: paid (amount + fee) and reserved (in flight). Read
 *  from storage on each use, so another provider of the same node and origin (another tab,
 *  a reload) counts the same payments. Reservations a page left behind (closed mid-payment)
 *  stay counted at their reserved amount until they age out: never less than was spent. */
class Ledger {
  private memory: LedgerEntry[] = [];

  constructor(
    private readonly key: string,
    private readonly storage: WebLnLedgerStorage | null,
    private readonly periodMs: number,
  ) {}

  private load(now: number): LedgerEntry[] {
    let entries = this.memory;
    if (this.storage) {
      try {
        const parsed: unknown = JSON.parse(this.storage.getItem(this.key) ?? "[]");
        entries = Array.isArray(parsed)
          ? parsed.filter(
              (e): e is LedgerEntry =>
                typeof e === "object" && e !== null && typeof e.at === "number" && typeof e.msat === "number",
            )
          : [];
      } catch {
        entries = [];
      }
    }
    return entries.filter((e) => e.at > now - this.periodMs);
  }

  private save(entries: LedgerEntry[]): void {
    this.memory = entries;
    if (!this.storage) return;
    try {
      this.storage.setItem(this.key, JSON.stringify(entries));
    } catch {
      // Storage full or refused: the in-memory ledger still holds within this page.
    }
  }

  spent(now = Date.now()): number {
    return this.load(now).reduce((sum, e) => sum + e.msat, 0);
  }

  reserve(id: string, msat: number, now = Date.now()): void {
    this.save([...this.load(now), { at: now, msat, id }]);
  }

  /** The payment `id` paid `msat` (amount + fee): its reservation becomes that. */
  settle(id: string, msat: number, now = Date.now()): void {
    const entries = this.load(now).filter((e) => e.id !== id);
    this.save([...entries, { at: now, msat }]);
  }

  release(id: string, now = Date.now()): void {
    this.save(this.load(now).filter((e) => e.id !== id));
  }
}

/** A whole number of sat (a number, or a string of digits) as msat; else INVALID_CONFIG. */
function satToMsat(name: string, v: unknown): number {
  const n = typeof v === "string" && /^\s*\d+\s*$/.test(v) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0 || !Number.isSafeInteger(n * 1000)) {
    throw new LnError("INVALID_CONFIG", `${name} must be a whole number of sat, got ${String(v)}`);
  }
  return n * 1000;
}

const sats = (msat: number) => `${(msat / 1000).toLocaleString("en-US", { maximumFractionDigits: 3 })} sat`;

function utf8Hex(s: string): string {
  return Array.from(new TextEncoder().encode(s), (b) => b.toString(16).padStart(2, "0")).join("");
}

class Provider implements WebLnProvider {
  private enabled = false;
  private readonly origin: string;
  private readonly budget: Required<WebLnBudget>;
  private readonly ledger: Ledger;
  private readonly listeners = new Map<string, Set<() => void>>();
  private network: Network | undefined;
  private nextId = 0;

  constructor(
    private readonly node: LightningNode,
    private readonly options: WebLnOptions,
  ) {
    this.origin = options.origin ?? (typeof location !== "undefined" && location.origin ? location.origin : "null");
    const b = options.budget ?? {};
    this.budget = {
      msatPerPayment: b.msatPerPayment ?? DEFAULT_WEBLN_BUDGET.msatPerPayment,
      msatPerPeriod: b.msatPerPeriod ?? DEFAULT_WEBLN_BUDGET.msatPerPeriod,
      periodSecs: b.periodSecs ?? DEFAULT_WEBLN_BUDGET.periodSecs,
    };
    for (const [k, v] of Object.entries(this.budget)) {
      if (typeof v !== "number" || !(v >= 0)) throw new LnError("INVALID_CONFIG", `budget.${k} must be a non-negative number`);
    }
    if (!(this.budget.periodSecs > 0)) throw new LnError("INVALID_CONFIG", "budget.periodSecs must be positive");
    let storage: WebLnLedgerStorage | null = null;
    if (options.storage !== undefined) storage = options.storage;
    else {
      try {
        storage = typeof localStorage !== "undefined" ? localStorage : null;
      } catch {
        storage = null; // a sandboxed frame without storage access
      }
    }
    this.ledger = new Ledger(`${LEDGER_KEY_PREFIX}${node.nodeId}:${this.origin}`, storage, this.budget.periodSecs * 1000);
  }

  private checkEnabled(): void {
    if (!this.enabled) throw new LnError("NOT_ENABLED", "call webln.enable() first");
  }

  private async ask(request: WebLnPermissionRequest): Promise<void> {
    const allow = this.options.allow;
    if (!allow) return;
    let ok: boolean;
    try {
      ok = await allow(request);
    } catch {
      ok = false;
    }
    if (ok !== true) {
      throw new LnError(
        "PERMISSION_DENIED",
        request.method === "enable" ? `${this.origin} may not use this wallet` : `${request.method} was declined for ${this.origin}`,
      );
    }
  }

  private maxFee(amountMsat: number): number {
    const f = (this.options.maxFeeMsat ?? defaultWebLnMaxFeeMsat)(amountMsat);
    if (!Number.isSafeInteger(f) || f < 0) throw new LnError("INVALID_CONFIG", "maxFeeMsat must give a whole number of msat");
    return f;
  }

  /**
   * The budget's check, the permission, then the payment: `amountMsat + maxFeeMsat` is
   * reserved from the period's budget before the permission is asked (so two payments at once
   * cannot both pass), released if the payment fails, and replaced by what was really paid.
   * `send` calls `track(paymentHash)` as soon as it knows the hash, so that a failed call can
   * be checked against what the node did.
   */
  private async pay(
    amountMsat: number,
    maxFeeMsat: number,
    permission: WebLnPermissionRequest,
    send: (track: (paymentHash: string) => void) => Promise<PaymentDetails>,
  ): Promise<PaymentDetails> {
    const { msatPerPayment, msatPerPeriod, periodSecs } = this.budget;
    if (amountMsat > msatPerPayment) {
      throw new LnError(
        "BUDGET_EXCEEDED",
        `${sats(amountMsat)} is over this site's limit of ${sats(msatPerPayment)} per payment; nothing was sent`,
      );
    }
    const spent = this.ledger.spent();
    if (spent + amountMsat + maxFeeMsat > msatPerPeriod) {
      const period = periodSecs % 3600 === 0 ? `${periodSecs / 3600} h` : `${periodSecs} s`;
      throw new LnError(
        "BUDGET_EXCEEDED",
        `${sats(amountMsat)} (+ up to ${sats(maxFeeMsat)} in fees) would take this site's spending over ${sats(msatPerPeriod)} per ${period} (${sats(spent)} spent or in flight); nothing was sent`,
      );
    }
    const id = `${Date.now()}-${Math.random().toString(36).slice(2)}-${this.nextId++}`;
    this.ledger.reserve(id, amountMsat + maxFeeMsat);
    let paymentHash: string | undefined;
    let payment: PaymentDetails;
    try {
      await this.ask(permission);
      payment = await send((h) => (paymentHash = h));
    } catch (e) {
      const err = toLnError(e);
      await this.settleAfterError(id, paymentHash, err);
      throw err;
    }
    this.ledger.settle(id, (payment.amountMsat ?? amountMsat) + (payment.feePaidMsat ?? 0));
    return payment;
  }

  /** After a failed call: what became of the payment decides what the ledger keeps. */
  private async settleAfterError(id: string, paymentHash: string | undefined, err: LnError): Promise<void> {
    // Outcomes that leave a payment possibly in flight: never undercount it.
    const maybeInFlight = err.code === "PAYMENT_PENDING" || err.code === "NODE_STOPPED" || err.code === "INTERNAL";
    if (paymentHash === undefined) {
      if (!maybeInFlight) this.ledger.release(id);
      return;
    }
    try {
      const found = (await this.node.listPayments()).find(
        (p) => p.direction === "outbound" && p.paymentHash === paymentHash,
      );
      if (found?.status === "succeeded") {
        this.ledger.settle(id, (found.amountMsat ?? 0) + (found.feePaidMsat ?? 0));
      } else if (found?.status === "failed" || (!found && !maybeInFlight)) {
        this.ledger.release(id);
      } // pending: stays reserved
    } catch {
      // The node cannot tell (it stopped): keep the reservation, never undercount.
    }
  }

  async enable(): Promise<void> {
    if (this.enabled) return;
    await this.ask({ origin: this.origin, method: "enable" });
    this.enabled = true;
  }

  async isEnabled(): Promise<boolean> {
    return this.enabled;
  }

  async getInfo(): Promise<WebLnInfo> {
    this.checkEnabled();
    const info = await this.node.getInfo();
    this.network = info.network;
    const node: WebLnInfo["node"] = { alias: this.options.alias ?? "wasm-ln", pubkey: info.nodeId };
    if (this.options.color !== undefined) node.color = this.options.color;
    return { node, version: `wasm-ln/${info.version}`, supports: ["lightning"], methods: [...METHODS] };
  }

  async getBalance(): Promise<{ balance: number; currency: "sats" }> {
    this.checkEnabled();
    const channels = await this.node.listChannels();
    const msat = channels.filter((c) => c.isUsable).reduce((sum, c) => sum + c.outboundCapacityMsat, 0);
    return { balance: Math.floor(msat / 1000), currency: "sats" };
  }

  async makeInvoice(args: Parameters<WebLnProvider["makeInvoice"]>[0]): Promise<{ paymentRequest: string }> {
    this.checkEnabled();
    let amountMsat: number | undefined;
    let description = "";
    if (typeof args === "number" || typeof args === "string") {
      amountMsat = satToMsat("amount", args);
    } else if (typeof args === "object" && args !== null) {
      const amount = args.amount ?? args.defaultAmount;
      if (amount !== undefined && amount !== "") amountMsat = satToMsat("amount", amount);
      const min = args.minimumAmount !== undefined ? satToMsat("minimumAmount", args.minimumAmount) : 0;
      const max = args.maximumAmount !== undefined ? satToMsat("maximumAmount", args.maximumAmount) : Infinity;
      if (min > max) throw new LnError("AMOUNT_OUT_OF_RANGE", `minimumAmount ${sats(min)} is above maximumAmount ${sats(max)}`);
      if (amountMsat !== undefined && (amountMsat < min || amountMsat > max)) {
        throw new LnError(
          "AMOUNT_OUT_OF_RANGE",
          `${sats(amountMsat)} is outside ${sats(min)}..${max === Infinity ? "any" : sats(max)}`,
        );
      }
      if (args.defaultMemo !== undefined) description = String(args.defaultMemo);
    } else {
      throw new LnError("INVALID_CONFIG", "makeInvoice takes an amount in sat or an object");
    }
    if (amountMsat === 0) throw new LnError("AMOUNT_OUT_OF_RANGE", "an invoice's amount must be positive");
    const inv = await this.node.bolt11.receive(amountMsat === undefined ? { description } : { amountMsat, description });
    return { paymentRequest: inv.invoice };
  }

  async sendPayment(paymentRequest: string): Promise<{ preimage: string }> {
    this.checkEnabled();
    this.network ??= (await this.node.getInfo()).network;
    const inv = checkInvoice(paymentRequest, { network: this.network });
    if (inv.amountMsat === null) {
      throw new LnError("INVALID_INVOICE", "WebLN's sendPayment cannot pay an invoice without an amount");
    }
    const amountMsat = inv.amountMsat;
    const maxFeeMsat = this.maxFee(amountMsat);
    const payment = await this.pay(
      amountMsat,
      maxFeeMsat,
      {
        origin: this.origin,
        method: "sendPayment",
        invoice: paymentRequest,
        paymentHash: inv.paymentHash,
        amountMsat,
        maxFeeMsat,
        description: inv.description,
      },
      (track) => {
        track(inv.paymentHash);
        return this.node.bolt11.send({ invoice: paymentRequest.trim().replace(/^lightning:/i, "").toLowerCase(), maxFeeMsat });
      },
    );
    return { preimage: preimageOf(payment) };
  }

  async keysend(args: { destination: string; amount: string | number; customRecords?: Record<string, string> }): Promise<{
    preimage: string;
  }> {
    this.checkEnabled();
    if (typeof args !== "object" || args === null || typeof args.destination !== "string") {
      throw new LnError("INVALID_CONFIG", "keysend takes { destination, amount, customRecords? }");
    }
    const amountMsat = satToMsat("amount", args.amount);
    if (amountMsat === 0) throw new LnError("AMOUNT_OUT_OF_RANGE", "a keysend's amount must be positive");
    const customRecords = args.customRecords ?? {};
    if (typeof customRecords !== "object" || customRecords === null) {
      throw new LnError("INVALID_CONFIG", "customRecords maps TLV types to text");
    }
    // WebLN's values are text (a boostagram's JSON); the node takes hex. The node checks the
    // types (decimal, 65536 or more, not reserved): INVALID_CONFIG.
    const hexRecords = Object.fromEntries(Object.entries(customRecords).map(([type, value]) => [type, utf8Hex(String(value))]));
    const maxFeeMsat = this.maxFee(amountMsat);
    const payment = await this.pay(
      amountMsat,
      maxFeeMsat,
      { origin: this.origin, method: "keysend", destination: args.destination, amountMsat, maxFeeMsat, customRecords },
      () =>
        this.node.keysend({
          nodeId: args.destination,
          amountMsat,
          ...(Object.keys(hexRecords).length > 0 ? { customRecords: hexRecords } : {}),
        }),
    );
    return { preimage: preimageOf(payment) };
  }

  async lookupInvoice(args: { paymentHash?: string; paymentRequest?: string }): Promise<{
    paymentRequest: string;
    preimage?: string;
    paid: boolean;
  }> {
    this.checkEnabled();
    let hash = typeof args?.paymentHash === "string" ? args.paymentHash.toLowerCase() : undefined;
    if (hash === undefined && typeof args?.paymentRequest === "string") hash = readInvoice(args.paymentRequest).paymentHash;
    if (hash === undefined || !/^[0-9a-f]{64}$/.test(hash)) {
      throw new LnError("INVALID_CONFIG", "lookupInvoice takes { paymentHash } (64 hex) or { paymentRequest }");
    }
    // Our invoices' payments have their hash as id; a payment we made is found by its hash.
    const payment =
      (await this.node.payment(hash)) ??
      (await this.node.listPayments()).find((p) => p.paymentHash === hash) ??
      null;
    if (!payment) throw new LnError("INVALID_INVOICE", `this node has no invoice with payment hash ${hash}`);
    const paymentRequest = payment.invoice ?? args.paymentRequest ?? "";
    const paid = payment.status === "succeeded";
    return paid && payment.preimage ? { paymentRequest, preimage: payment.preimage, paid } : { paymentRequest, paid };
  }

  async signMessage(message: string): Promise<{ message: string; signature: string }> {
    this.checkEnabled();
    if (typeof message !== "string") throw new LnError("INVALID_CONFIG", "signMessage takes a string");
    await this.ask({ origin: this.origin, method: "signMessage", message });
    return { message, signature: await this.node.signMessage(message) };
  }

  /** LND's `verifymessage` meaning, which WebLN's follows: valid when the signature recovers
   *  to a node this node knows (itself, a peer, a node of its graph). */
  async verifyMessage(signature: string, message: string): Promise<void> {
    this.checkEnabled();
    const { valid, pubkey } = await this.node.verifyMessage(message, signature);
    if (!valid) {
      throw new LnError(
        "INVALID_CONFIG",
        pubkey === null
          ? "the signature is malformed"
          : `the signature is not by a node this wallet knows (it recovers to ${pubkey} over this message)`,
      );
    }
  }

  async lnurl(lnurl: string): Promise<WebLnLnurlResponse> {
    this.checkEnabled();
    const payRequest = await resolvePayRequest(lnurl);
    let choice: WebLnLnurlChoice | null | false;
    if (this.options.confirm) {
      try {
        choice = await this.options.confirm({ origin: this.origin, payRequest });
      } catch {
        choice = null;
      }
    } else if (payRequest.minSendableMsat === payRequest.maxSendableMsat) {
      choice = { amountMsat: payRequest.minSendableMsat };
    } else {
      throw new LnError("PERMISSION_DENIED", "no confirm callback to choose the amount of this LNURL payment");
    }
    if (!choice) throw new LnError("PERMISSION_DENIED", `the payment to ${payRequest.domain} was declined`);
    const { amountMsat, comment } = choice;
    checkPayAmount(payRequest, amountMsat, comment);
    const maxFeeMsat = this.maxFee(amountMsat);
    let successAction: SuccessAction | null = null;
    const payment = await this.pay(
      amountMsat,
      maxFeeMsat,
      { origin: this.origin, method: "lnurl", payRequest, amountMsat, maxFeeMsat, comment: comment ?? null },
      async (track) => {
        const got = await requestInvoice(payRequest, { amountMsat, ...(comment !== undefined ? { comment } : {}) });
        successAction = got.successAction;
        track(readInvoice(got.invoice).paymentHash);
        return this.node.bolt11.send({ invoice: got.invoice, maxFeeMsat });
      },
    );
    const preimage = preimageOf(payment);
    // Paid already: a success action that does not open must not turn that into a failure.
    const action = successAction as SuccessAction | null;
    const opened = action ? await openSuccessAction(action, preimage).catch(() => null) : null;
    return { status: "OK", preimage, successAction: opened };
  }

  on(eventName: string, listener: () => void): void {
    let set = this.listeners.get(eventName);
    if (!set) this.listeners.set(eventName, (set = new Set()));
    set.add(listener);
  }

  off(eventName: string, listener: () => void): void {
    this.listeners.get(eventName)?.delete(listener);
  }
}

function preimageOf(p: PaymentDetails): string {
  if (!p.preimage) throw new LnError("INTERNAL", "the payment succeeded without a preimage");
  return p.preimage;
}

/** `node.webln(options)`. */
export function createWebLnProvider(node: LightningNode, options: WebLnOptions = {}): WebLnProvider {
  const provider = new Provider(node, options);
  // Bound methods: WebLN clients call `const { sendPayment } = window.webln` too.
  const bound: WebLnProvider = {
    enable: provider.enable.bind(provider),
    isEnabled: provider.isEnabled.bind(provider),
    getInfo: provider.getInfo.bind(provider),
    getBalance: provider.getBalance.bind(provider),
    makeInvoice: provider.makeInvoice.bind(provider),
    sendPayment: provider.sendPayment.bind(provider),
    keysend: provider.keysend.bind(provider),
    lookupInvoice: provider.lookupInvoice.bind(provider),
    signMessage: provider.signMessage.bind(provider),
    verifyMessage: provider.verifyMessage.bind(provider),
    lnurl: provider.lnurl.bind(provider),
    on: provider.on.bind(provider),
    off: provider.off.bind(provider),
  };
  return bound;
}

// tsc proves the shape: our provider is a WebLNProvider as @webbtc/webln-types types it, with
// every optional method of it but `request` (LND's RPC passthrough). Not exported: the
// package's public types do not depend on that package.
const conformsToWebLn = (p: WebLnProvider): Required<Omit<WebLNProvider, "request">> => p;
void conformsToWebLn;
