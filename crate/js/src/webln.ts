// The WebLN provider of a node (`node.webln(options)`): the interface pages and wallet
// clients (Bitcoin Connect, Alby's SDKs) already speak, as @webbtc/webln-types types it. An
// extension injects it as `window.webln`; a page may use its own node through it.
//
// What protects the node's funds here: a permission callback (`allow`) asked on `enable()`
// and before each payment, invoice or signature, and a spending budget per origin (per payment
// and per period) that no payment above it passes, checked before anything is sent.
//
// Trust model: the budget protects the node only where the page cannot script the provider or
// its ledger's storage (an extension: the provider in its own context, the ledger in
// `chrome.storage`). A page running the provider on its own node, its ledger in its own
// `localStorage`, can rewrite both: there the budget is advisory, a guard against bugs.

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
  | { origin: string; method: "signMessage"; message: string }
  | {
      origin: string;
      method: "makeInvoice";
      /** `null`: a variable-amount invoice. */
      amountMsat: number | null;
      description: string;
      /** The most a JIT channel's fee may take from the payment (`makeInvoiceMaxFeeMsat`). */
      maxFeeMsat: number;
    };

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

/** Spending limits for one origin. Amounts in msat. Another key is `INVALID_CONFIG`. */
export interface WebLnBudget {
  /** The most one payment may send (its amount, without routing fees). Default 10,000 sat. */
  maxPaymentMsat?: number;
  /** The most the origin's payments may spend, fees included, in any `periodSecs` (a
   *  sliding window). Default 10,000 sat. */
  maxPeriodMsat?: number;
  /** Default 86,400 (a day). */
  periodSecs?: number;
}

/** Where the budget's ledger (and the origin's invoices) are kept; `localStorage` by default,
 *  when there is one. May be asynchronous (an adapter over an extension's `chrome.storage`):
 *  it is read before each payment, and writes are made one at a time, in order. */
export interface WebLnLedgerStorage {
  getItem(key: string): string | null | Promise<string | null>;
  setItem(key: string, value: string): void | Promise<void>;
}

export interface WebLnOptions {
  /** The origin the provider serves: its budget and permission are per origin. Default:
   *  `location.origin` when there is one, else `"null"`. An extension passes the page's. */
  origin?: string;
  /** Asked on `enable()` and before each payment, invoice and signature; `false` is
   *  `PERMISSION_DENIED`. Without it, everything within the budget is allowed, but
   *  `signMessage` (see `allowSignMessage`). */
  allow?: (request: WebLnPermissionRequest) => boolean | Promise<boolean>;
  /** Without `allow`, `signMessage` is `PERMISSION_DENIED` unless this is `true`: a node
   *  signature is a login (LNURL-auth-like "sign this to log in" schemes), so any page able
   *  to call it could log in as this node elsewhere. */
  allowSignMessage?: boolean;
  /** The most a JIT channel's opening fee may take from a payment to a `makeInvoice` invoice
   *  (`bolt11.receive`'s `maxFeeMsat`). Default 0: no fee is taken without the user seeing
   *  it; without inbound capacity `makeInvoice` then rejects (`FEE_TOO_HIGH`). */
  makeInvoiceMaxFeeMsat?: number;
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
  maxPaymentMsat: 10_000_000,
  maxPeriodMsat: 10_000_000,
  periodSecs: 86_400,
};

/** BOLT 11's limit on a description (its `d` field): 639 bytes of UTF-8. */
const MAX_DESCRIPTION_BYTES = 639;
/** The most invoice hashes the ledger keeps per origin (for `lookupInvoice`). */
const MAX_INVOICES = 1_000;

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
  /** One payment attempt's, unique. */
  id: string;
  /** Unix ms the amount was reserved; kept when the payment settles. */
  at: number;
  msat: number;
  /** Resolved: what the payment cost. Else a reservation for a payment not yet resolved. */
  paid?: true;
  /** The payment was handed to the node (or may have been). */
  sent?: true;
  /** Its payment hash, when known before sending. */
  hash?: string;
  /** A keysend's amount: its hash is the node's secret until it returns. */
  keysendMsat?: number;
}

/** What became of a reservation whose page did not see its outcome. */
type Resolution = "resolved" | "pending";

/** What the ledger's storage item holds. */
interface LedgerState {
  entries: LedgerEntry[];
  /** Payment hashes of the invoices `makeInvoice` made for the origin, oldest first. */
  invoices: string[];
}

const isHash = (h: unknown): h is string => typeof h === "string" && /^[0-9a-f]{64}$/.test(h);

/** A stored ledger, validated: `null` when it is not one. Entries that are not well formed
 *  (a finite `at`, a finite `msat` ≥ 0) are dropped. */
function parseLedger(raw: string | null): LedgerState | null {
  if (raw === null) return { entries: [], invoices: [] };
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return null;
  }
  const o = (Array.isArray(v) ? { entries: v, invoices: [] } : v) as Partial<Record<keyof LedgerState, unknown>> | null;
  if (typeof o !== "object" || o === null || !Array.isArray(o.entries)) return null;
  const entries: LedgerEntry[] = [];
  for (const e of o.entries as unknown[]) {
    if (typeof e !== "object" || e === null) continue;
    const r = e as Record<string, unknown>;
    const at = r.at;
    const msat = r.msat;
    if (typeof at !== "number" || !Number.isFinite(at) || typeof msat !== "number" || !Number.isFinite(msat) || msat < 0) {
      continue;
    }
    // Entries of the first format had no id: one from what they hold.
    const entry: LedgerEntry = { id: typeof r.id === "string" ? r.id : `old:${at}:${msat}`, at, msat };
    if (r.paid === true || typeof r.id !== "string") entry.paid = true;
    if (r.sent === true) entry.sent = true;
    if (isHash(r.hash)) entry.hash = r.hash;
    if (typeof r.keysendMsat === "number" && Number.isFinite(r.keysendMsat)) entry.keysendMsat = r.keysendMsat;
    entries.push(entry);
  }
  const invoices = Array.isArray(o.invoices) ? (o.invoices as unknown[]).filter(isHash) : [];
  return { entries, invoices };
}

/**
 * One origin's spending: payments paid (amount + fee) in the window, and reservations for
 * payments not yet resolved (in flight), which never age out. Memory is the source of truth,
 * merged on each use with what storage holds (another tab or a reload of the same node and
 * origin counts the same payments): the storage adds entries, never removes this provider's.
 * Storage that cannot be read is the memory's view; a ledger never read (storage failing from
 * the start) refuses payments. Every operation runs after the previous one, its write included.
 */
class Ledger {
  /** Entries this provider made and has not dropped. */
  private readonly own = new Map<string, LedgerEntry>();
  /** Its entries released: gone, whatever a stale storage item still says. */
  private readonly released = new Set<string>();
  /** Invoices it made (kept if a write fails). */
  private readonly ownInvoices = new Set<string>();
  /** Its payments whose call has not returned. */
  private readonly inFlight = new Set<string>();
  /** What storage held when last read. */
  private stored: LedgerState | null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly key: string,
    private readonly storage: WebLnLedgerStorage | null,
    private readonly periodMs: number,
    /** What the node says of a reservation its page left behind. */
    private readonly resolve: (e: LedgerEntry) => Promise<Resolution>,
  ) {
    this.stored = storage ? null : { entries: [], invoices: [] };
  }

  /** Runs `op` after the operations before it, on the merged state, then saves that. */
  private run<T>(op: (state: LedgerState, now: number) => T | Promise<T>): Promise<T> {
    const next = this.queue.then(async () => {
      const now = Date.now();
      const state = await this.load(now);
      const result = await op(state, now);
      await this.save(state);
      return result;
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async load(now: number): Promise<LedgerState> {
    if (this.storage) {
      let parsed: LedgerState | null = null;
      try {
        parsed = parseLedger(await this.storage.getItem(this.key));
      } catch {
        parsed = null;
      }
      if (parsed) this.stored = parsed;
    }
    if (!this.stored) {
      throw new LnError(
        "STORAGE_UNAVAILABLE",
        `this site's spending ledger (storage key ${this.key}) cannot be read, so its budget cannot be checked; nothing was sent`,
      );
    }
    const byId = new Map<string, LedgerEntry>();
    for (const e of this.stored.entries) if (!this.released.has(e.id)) byId.set(e.id, e);
    for (const e of this.own.values()) {
      const theirs = byId.get(e.id);
      // Another tab may have seen it resolve (a reservation it resolved as stale).
      if (!(theirs?.paid && !e.paid)) byId.set(e.id, e);
    }
    const entries: LedgerEntry[] = [];
    for (const e of byId.values()) {
      if (e.paid && e.at <= now - this.periodMs) {
        this.own.delete(e.id);
        continue;
      }
      // A reservation whose outcome no page saw (its page closed), older than the window:
      // the node tells what became of it; still pending (or no answer), it stays counted.
      if (!e.paid && !this.inFlight.has(e.id) && e.at <= now - this.periodMs) {
        let r: Resolution = "pending";
        try {
          r = await this.resolve(e);
        } catch {
          r = "pending";
        }
        if (r === "resolved") {
          this.own.delete(e.id);
          this.released.add(e.id);
          continue;
        }
      }
      entries.push(e);
    }
    const invoices = [...this.stored.invoices.filter((h) => !this.ownInvoices.has(h)), ...this.ownInvoices];
    return { entries, invoices: invoices.slice(-MAX_INVOICES) };
  }

  private async save(state: LedgerState): Promise<void> {
    if (!this.storage) return;
    try {
      await this.storage.setItem(this.key, JSON.stringify(state));
      this.stored = state;
    } catch {
      // Storage full or refused: memory still holds (for this provider), the next write
      // tries again with everything.
    }
  }

  /** Reserves `entry.msat` for a payment after `check(spent)` passed, `spent` counting
   *  every payment and reservation of the window. */
  reserve(entry: Omit<LedgerEntry, "at">, check: (spentMsat: number) => void): Promise<void> {
    return this.run((state, now) => {
      check(state.entries.reduce((sum, e) => sum + e.msat, 0));
      const e: LedgerEntry = { ...entry, at: now };
      this.own.set(e.id, e);
      this.inFlight.add(e.id);
      state.entries.push(e);
    });
  }

  /** The payment `id` goes to the node now (its hash when known): recorded before. */
  sending(id: string, hash: string | undefined): Promise<void> {
    return this.run((state) => this.update(state, id, (e) => ({ ...e, sent: true, ...(hash ? { hash } : {}) })));
  }

  /** The payment `id` paid `msat` (amount + fee): its reservation becomes that, at the
   *  reservation's time. */
  settle(id: string, msat: number): Promise<void> {
    this.inFlight.delete(id);
    return this.run((state) => this.update(state, id, (e) => ({ id, at: e.at, msat, paid: true })));
  }

  release(id: string): Promise<void> {
    this.inFlight.delete(id);
    this.own.delete(id);
    this.released.add(id);
    return this.run((state) => {
      state.entries = state.entries.filter((e) => e.id !== id);
    });
  }

  /** The payment `id` may still be in flight: its reservation stays until it resolves. */
  keep(id: string): void {
    this.inFlight.delete(id);
  }

  private update(state: LedgerState, id: string, f: (e: LedgerEntry) => LedgerEntry): void {
    const old = this.own.get(id) ?? state.entries.find((e) => e.id === id);
    if (!old) return;
    const e = f(old);
    this.own.set(id, e);
    state.entries = [...state.entries.filter((x) => x.id !== id), e];
  }

  addInvoice(hash: string): Promise<void> {
    this.ownInvoices.delete(hash);
    this.ownInvoices.add(hash);
    if (this.ownInvoices.size > MAX_INVOICES) this.ownInvoices.delete(this.ownInvoices.values().next().value as string);
    return this.run((state) => {
      state.invoices = [...state.invoices.filter((h) => h !== hash), hash].slice(-MAX_INVOICES);
    });
  }

  hasInvoice(hash: string): Promise<boolean> {
    return this.run((state) => state.invoices.includes(hash));
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
  private enabling: Promise<void> | null = null;

  constructor(
    private readonly node: LightningNode,
    private readonly options: WebLnOptions,
  ) {
    this.origin = options.origin ?? (typeof location !== "undefined" && location.origin ? location.origin : "null");
    const b = options.budget ?? {};
    if (typeof b !== "object" || b === null) throw new LnError("INVALID_CONFIG", "budget must be an object");
    for (const k of Object.keys(b)) {
      // A misspelt limit (`msatPerDay`) must not silently leave the default in place.
      if (!(k in DEFAULT_WEBLN_BUDGET)) {
        throw new LnError(
          "INVALID_CONFIG",
          `budget.${k} is not a budget option (${Object.keys(DEFAULT_WEBLN_BUDGET).join(", ")})`,
        );
      }
    }
    this.budget = {
      maxPaymentMsat: b.maxPaymentMsat ?? DEFAULT_WEBLN_BUDGET.maxPaymentMsat,
      maxPeriodMsat: b.maxPeriodMsat ?? DEFAULT_WEBLN_BUDGET.maxPeriodMsat,
      periodSecs: b.periodSecs ?? DEFAULT_WEBLN_BUDGET.periodSecs,
    };
    const invoiceFee = options.makeInvoiceMaxFeeMsat ?? 0;
    if (!Number.isSafeInteger(invoiceFee) || invoiceFee < 0) {
      throw new LnError("INVALID_CONFIG", "makeInvoiceMaxFeeMsat must be a whole number of msat");
    }
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
    this.ledger = new Ledger(
      `${LEDGER_KEY_PREFIX}${node.nodeId}:${this.origin}`,
      storage,
      this.budget.periodSecs * 1000,
      (e) => this.resolveLeftBehind(e),
    );
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
   * `send` calls `sending(paymentHash)` right before it hands the payment to the node (the
   * hash when it knows it), so that a failed call can be checked against what the node did.
   */
  private async pay(
    amountMsat: number,
    maxFeeMsat: number,
    permission: WebLnPermissionRequest,
    send: (sending: (paymentHash?: string) => Promise<void>) => Promise<PaymentDetails>,
    keysend = false,
  ): Promise<PaymentDetails> {
    const { maxPaymentMsat, maxPeriodMsat, periodSecs } = this.budget;
    if (amountMsat > maxPaymentMsat) {
      throw new LnError(
        "BUDGET_EXCEEDED",
        `${sats(amountMsat)} is over this site's limit of ${sats(maxPaymentMsat)} per payment; nothing was sent`,
      );
    }
    const id = `${Date.now()}-${Math.random().toString(36).slice(2)}-${this.nextId++}`;
    await this.ledger.reserve(
      { id, msat: amountMsat + maxFeeMsat, ...(keysend ? { keysendMsat: amountMsat } : {}) },
      (spent) => {
        if (spent + amountMsat + maxFeeMsat > maxPeriodMsat) {
          const period = periodSecs % 3600 === 0 ? `${periodSecs / 3600} h` : `${periodSecs} s`;
          throw new LnError(
            "BUDGET_EXCEEDED",
            `${sats(amountMsat)} (+ up to ${sats(maxFeeMsat)} in fees) would take this site's spending over ${sats(maxPeriodMsat)} per ${period} (${sats(spent)} spent or in flight); nothing was sent`,
          );
        }
      },
    );
    const reservedAt = Date.now();
    let sent = false;
    let paymentHash: string | undefined;
    let payment: PaymentDetails;
    try {
      await this.ask(permission);
      payment = await send(async (h) => {
        paymentHash = h;
        await this.ledger.sending(id, h);
        sent = true;
      });
    } catch (e) {
      const err = toLnError(e);
      await this.settleAfterError(id, sent, paymentHash, reservedAt, amountMsat, maxFeeMsat, err).catch(() => undefined);
      throw err;
    }
    // The node leaves out what it does not know: count what was reserved, never less.
    await this.ledger
      .settle(id, (payment.amountMsat ?? amountMsat) + (payment.feePaidMsat ?? maxFeeMsat))
      .catch(() => undefined);
    return payment;
  }

  /** After a failed call: what became of the payment decides what the ledger keeps. */
  private async settleAfterError(
    id: string,
    sent: boolean,
    paymentHash: string | undefined,
    reservedAt: number,
    amountMsat: number,
    maxFeeMsat: number,
    err: LnError,
  ): Promise<void> {
    // Refused before the node had it (declined, a bad invoice, already paid): nothing sent.
    if (!sent) return this.ledger.release(id);
    // Outcomes that leave a payment possibly in flight: never undercount it.
    const maybeInFlight = err.code === "PAYMENT_PENDING" || err.code === "NODE_STOPPED" || err.code === "INTERNAL";
    if (paymentHash === undefined) {
      return maybeInFlight ? this.ledger.keep(id) : this.ledger.release(id);
    }
    let found: PaymentDetails | undefined;
    try {
      // Made by this call: not a payment of the same hash made before it (by another origin).
      found = (await this.node.listPayments()).find(
        (p) => p.direction === "outbound" && p.paymentHash === paymentHash && p.createdAt * 1000 >= reservedAt - 1000,
      );
    } catch {
      // The node cannot tell (it stopped): keep the reservation, never undercount.
      return this.ledger.keep(id);
    }
    if (found?.status === "succeeded") {
      await this.ledger.settle(id, (found.amountMsat ?? amountMsat) + (found.feePaidMsat ?? maxFeeMsat));
    } else if (found?.status === "failed" || (!found && !maybeInFlight)) {
      await this.ledger.release(id);
    } else {
      this.ledger.keep(id); // pending: stays reserved until it resolves
    }
  }

  /** A reservation older than the window that no page saw resolve (its page closed
   *  mid-payment): `resolved` once the node's payment did (it is outside the window either
   *  way) or the node never had it; `pending` keeps it counted. */
  private async resolveLeftBehind(e: LedgerEntry): Promise<Resolution> {
    if (!e.sent) return "resolved"; // never handed to the node
    const payments = (await this.node.listPayments()).filter(
      (p) =>
        p.direction === "outbound" &&
        p.createdAt * 1000 >= e.at - 1000 &&
        (e.hash !== undefined
          ? p.paymentHash === e.hash
          : p.kind === "spontaneous" && p.amountMsat === e.keysendMsat),
    );
    return payments.some((p) => p.status === "pending") ? "pending" : "resolved";
  }

  /** An outbound payment of `paymentHash` not failed: paying again is refused before the
   *  budget is charged (the node would refuse it too, after the reservation). */
  private async checkNotPaid(paymentHash: string): Promise<void> {
    const earlier = (await this.node.listPayments()).find(
      (p) => p.direction === "outbound" && p.paymentHash === paymentHash && p.status !== "failed",
    );
    if (earlier) {
      throw new LnError("PAYMENT_FAILED", `this invoice was already paid or is being paid (${earlier.status}); nothing was sent`);
    }
  }

  async enable(): Promise<void> {
    if (this.enabled) return;
    // Calls at once share one question.
    this.enabling ??= this.ask({ origin: this.origin, method: "enable" })
      .then(() => {
        this.enabled = true;
      })
      .finally(() => {
        this.enabling = null;
      });
    return this.enabling;
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
    const bytes = new TextEncoder().encode(description).length;
    if (bytes > MAX_DESCRIPTION_BYTES) {
      throw new LnError("INVALID_CONFIG", `defaultMemo is ${bytes} bytes; an invoice's description holds ${MAX_DESCRIPTION_BYTES}`);
    }
    const maxFeeMsat = this.options.makeInvoiceMaxFeeMsat ?? 0;
    await this.ask({ origin: this.origin, method: "makeInvoice", amountMsat: amountMsat ?? null, description, maxFeeMsat });
    const inv = await this.node.bolt11.receive(
      amountMsat === undefined ? { description, maxFeeMsat } : { amountMsat, description, maxFeeMsat },
    );
    // lookupInvoice answers this origin about its own invoices only.
    await this.ledger.addInvoice(inv.paymentHash);
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
      async (sending) => {
        await this.checkNotPaid(inv.paymentHash);
        await sending(inv.paymentHash);
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
      async (sending) => {
        await sending();
        // The node's limit is the one reserved: a dearer route is FEE_TOO_HIGH, not sent.
        return this.node.keysend({
          nodeId: args.destination,
          amountMsat,
          maxFeeMsat,
          ...(Object.keys(hexRecords).length > 0 ? { customRecords: hexRecords } : {}),
        });
      },
      true,
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
    // Only invoices this origin made (makeInvoice): another site's, or a payment this node
    // made (its preimage), are not its business. Our invoices' payments have their hash as id.
    const payment = (await this.ledger.hasInvoice(hash)) ? await this.node.payment(hash) : null;
    if (!payment || payment.direction !== "inbound") {
      throw new LnError("INVALID_INVOICE", `this site made no invoice with payment hash ${hash}`);
    }
    const paymentRequest = payment.invoice ?? args.paymentRequest ?? "";
    const paid = payment.status === "succeeded";
    return paid && payment.preimage ? { paymentRequest, preimage: payment.preimage, paid } : { paymentRequest, paid };
  }

  async signMessage(message: string): Promise<{ message: string; signature: string }> {
    this.checkEnabled();
    if (typeof message !== "string") throw new LnError("INVALID_CONFIG", "signMessage takes a string");
    // A node signature logs in as this node: never given without a question or an opt-in.
    if (!this.options.allow && this.options.allowSignMessage !== true) {
      throw new LnError("PERMISSION_DENIED", `signMessage was declined for ${this.origin}: no allow callback (set allowSignMessage to sign without one)`);
    }
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
        "INVALID_SIGNATURE",
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
      async (sending) => {
        const got = await requestInvoice(payRequest, { amountMsat, ...(comment !== undefined ? { comment } : {}) });
        successAction = got.successAction;
        const hash = readInvoice(got.invoice).paymentHash;
        await this.checkNotPaid(hash);
        await sending(hash);
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
