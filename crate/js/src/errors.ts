// The one error class of the package. The wasm core throws plain `Error`s named "LnError"
// with a `code`; `toLnError` turns those (and anything else thrown) into instances of this
// class, so `instanceof LnError` and `err.code` work the same in the page and in Worker mode.

/** Every code an `LnError` can carry: the core's (crate/src/error.rs is their source), then
 *  those only the JavaScript layer raises (LNURL, WebLN). */
export type LnErrorCode = CoreErrorCode | WebErrorCode;

/** The codes of the wasm core (crate/src/error.rs). */
export type CoreErrorCode =
  | "INVALID_CONFIG"
  | "INVALID_INVOICE"
  | "INVOICE_EXPIRED"
  | "WRONG_NETWORK"
  | "INSUFFICIENT_FUNDS"
  | "NO_ROUTE"
  | "NO_INBOUND_CAPACITY"
  | "FEE_TOO_HIGH"
  | "PEER_UNREACHABLE"
  | "PROXY_UNREACHABLE"
  | "CHAIN_SOURCE_UNAVAILABLE"
  | "UNKNOWN_CHANNEL"
  | "UNKNOWN_EVENT"
  | "NODE_LOCKED"
  | "NODE_STOPPED"
  | "WRONG_PASSPHRASE"
  | "SEED_NOT_ENCRYPTED"
  | "STORAGE_UNAVAILABLE"
  | "PAYMENT_FAILED"
  | "PAYMENT_PENDING"
  | "INTERNAL";

/** The codes raised in JavaScript only. */
export type WebErrorCode =
  /** Not an LNURL, Lightning address or `lightning:` URI we can use, or an insecure one
   *  (`http` is allowed to loopback only); or a comment longer than the service takes (LUD-12). */
  | "INVALID_LNURL"
  /** The LNURL service was unreachable, answered `{"status":"ERROR"}`, or answered garbage. */
  | "LNURL_FAILED"
  /** An amount outside what the pay request or the invoice request allows. */
  | "AMOUNT_OUT_OF_RANGE"
  /** The service's invoice is not the one asked for: its description hash is not the
   *  metadata's, or its amount is not the amount requested. Nothing was paid. */
  | "INVOICE_MISMATCH"
  /** WebLN: this origin was refused, or the user declined. */
  | "PERMISSION_DENIED"
  /** WebLN: the payment is above the per-payment budget or what is left of the period's. */
  | "BUDGET_EXCEEDED"
  /** WebLN: a method called before `enable()` succeeded. */
  | "NOT_ENABLED"
  /** WebLN `verifyMessage`: the signature is malformed, or not by a node this node knows. */
  | "INVALID_SIGNATURE";

const CODES: ReadonlySet<string> = new Set<LnErrorCode>([
  "INVALID_LNURL", "LNURL_FAILED", "AMOUNT_OUT_OF_RANGE", "INVOICE_MISMATCH", "PERMISSION_DENIED",
  "BUDGET_EXCEEDED", "NOT_ENABLED", "INVALID_SIGNATURE",
  "INVALID_CONFIG", "INVALID_INVOICE", "INVOICE_EXPIRED", "WRONG_NETWORK", "INSUFFICIENT_FUNDS",
  "NO_ROUTE", "NO_INBOUND_CAPACITY", "FEE_TOO_HIGH", "PEER_UNREACHABLE", "PROXY_UNREACHABLE",
  "CHAIN_SOURCE_UNAVAILABLE", "UNKNOWN_CHANNEL", "UNKNOWN_EVENT", "NODE_LOCKED", "NODE_STOPPED", "WRONG_PASSPHRASE",
  "SEED_NOT_ENCRYPTED", "STORAGE_UNAVAILABLE", "PAYMENT_FAILED", "PAYMENT_PENDING", "INTERNAL",
]);

/** A failure of a wasm-ln call: `code` is stable (switch on it), `message` is for people. */
export class LnError extends Error {
  readonly code: LnErrorCode;

  constructor(code: LnErrorCode, message: string) {
    super(message);
    this.name = "LnError";
    this.code = code;
  }
}

/** The plain shape an error crosses a `postMessage` boundary in. */
export interface SerializedError {
  code: LnErrorCode;
  message: string;
}

/**
 * The message of every call once Rust panicked in the wasm core (crate/src/wasm/panic.rs):
 * the instance is poisoned, and the node in it stopped for good.
 */
export const PANIC_MESSAGE = "the node stopped after an internal error; reload the page";

/** Whether `err` says the wasm instance is unusable: a trap (a panic aborts with
 *  `unreachable`), or the core's own refusal after one. */
export function isPanic(err: unknown): boolean {
  if (typeof WebAssembly !== "undefined" && err instanceof WebAssembly.RuntimeError) return true;
  const e = err as { code?: unknown; message?: unknown } | null;
  return e?.code === "INTERNAL" && e?.message === PANIC_MESSAGE;
}

/** Any thrown value as an `LnError`; what is not one of ours becomes `INTERNAL`. */
export function toLnError(err: unknown): LnError {
  if (err instanceof LnError) return err;
  // Never a bare `RuntimeError: unreachable` to the page.
  if (isPanic(err)) return new LnError("INTERNAL", PANIC_MESSAGE);
  const e = err as { code?: unknown; message?: unknown } | null;
  const message = typeof e?.message === "string" ? e.message : String(err);
  if (typeof e?.code === "string" && CODES.has(e.code)) {
    return new LnError(e.code as LnErrorCode, message);
  }
  return new LnError("INTERNAL", message);
}

export function serializeError(err: unknown): SerializedError {
  const e = toLnError(err);
  return { code: e.code, message: e.message };
}
