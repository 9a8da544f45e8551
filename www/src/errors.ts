// Every failure the wallet shows, in words: one sentence per `LnError` code (the table is a
// `Record` over the package's code union, so a new code fails `tsc` until it has a sentence),
// plus the page's own input errors. The technical message is kept apart (`detail`), shown
// folded under the sentence, never as the message itself.
import type { LnErrorCode } from "wasm-ln";

const SENTENCES: Record<LnErrorCode, string> = {
  INVALID_CONFIG: "That is not a value the wallet accepts. Check what you entered and try again.",
  INVALID_INVOICE: "That is not a valid Lightning invoice. Check that you copied all of it.",
  INVOICE_EXPIRED: "This invoice has expired. Ask the recipient for a new one.",
  WRONG_NETWORK: "This invoice is for another Bitcoin network than this wallet's.",
  INSUFFICIENT_FUNDS: "You do not have enough funds for this (fees and the reserve for your channels included).",
  NO_ROUTE: "No path through the Lightning network reaches the recipient with your channels. Try a smaller amount or open a channel.",
  NO_INBOUND_CAPACITY: "Your channels cannot receive that much, and no Lightning service provider can open one for you now.",
  FEE_TOO_HIGH: "The fee would be higher than the limit you set, so nothing was done.",
  PEER_UNREACHABLE: "The other node could not be reached. It may be offline; try again later.",
  PROXY_UNREACHABLE: "The wallet cannot reach the network proxy it uses to talk to other nodes. Check your connection.",
  CHAIN_SOURCE_UNAVAILABLE: "The blockchain server (Esplora) is not answering, so the wallet cannot see new blocks right now.",
  UNKNOWN_CHANNEL: "That channel does not exist any more (it may already be closed).",
  UNKNOWN_EVENT: "The wallet lost track of an event; reload the page.",
  NODE_LOCKED: "This wallet is already open in another tab or window. Close it there, then try again.",
  NODE_STOPPED: "The wallet is stopped. Unlock it again to continue.",
  WRONG_PASSPHRASE: "Wrong passphrase. Enter the passphrase you chose when you created this wallet.",
  SEED_NOT_ENCRYPTED: "This wallet was stored without a passphrase: leave the passphrase empty to open it.",
  STORAGE_UNAVAILABLE: "The browser's storage is unavailable or full (private browsing?), so the wallet cannot save its state.",
  PAYMENT_FAILED: "The payment failed; no money left your wallet.",
  PAYMENT_PENDING: "A payment to this invoice is already on its way. Wait for it to finish.",
  INTERNAL: "Something went wrong inside the wallet. Reload the page; your funds are safe.",
  INVALID_LNURL: "That is not an invoice, a Lightning address or an LNURL this wallet can pay.",
  LNURL_FAILED: "The payment service did not answer properly. Try again later or ask the recipient for an invoice.",
  AMOUNT_OUT_OF_RANGE: "That amount is outside what the recipient accepts.",
  INVOICE_MISMATCH: "The service sent an invoice that does not match your request, so nothing was paid.",
  PERMISSION_DENIED: "This site is not allowed to use the wallet.",
  BUDGET_EXCEEDED: "This payment is above the spending limit you allowed.",
  NOT_ENABLED: "The wallet was not enabled for this site.",
  INVALID_SIGNATURE: "That signature is not valid, or not by a node this wallet knows.",
};

/** A mistake in what the user typed, found by the page before any call: its own sentence. */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InputError";
  }
}

export interface Described {
  /** The `LnError` code, or "" for the page's own errors. */
  code: string;
  /** What the user reads. */
  sentence: string;
  /** The technical message behind it, if it adds anything. */
  detail: string;
}

/** Any thrown value as words for the user. */
export function describeError(e: unknown): Described {
  const err = e as { code?: unknown; message?: unknown; reason?: unknown } | null;
  const message = typeof err?.message === "string" ? err.message : String(e);
  if (e instanceof InputError) return { code: "", sentence: message, detail: "" };
  const code = typeof err?.code === "string" ? err.code : "";
  if (code in SENTENCES) {
    let sentence = SENTENCES[code as LnErrorCode];
    // A failed payment's reason is the most useful part ("route not found", "recipient rejected").
    if (code === "PAYMENT_FAILED" && message) sentence = `The payment failed (${message}); no money left your wallet.`;
    return { code, sentence, detail: message };
  }
  // Not ours (a fetch that failed, a bug in the page): still no stack.
  if (e instanceof TypeError && /fetch/i.test(message)) {
    return { code: "", sentence: "The server could not be reached. Check that the demo is still running.", detail: message };
  }
  return { code: "", sentence: `Something went wrong: ${message}`, detail: "" };
}

/** The sentence for a code alone (the page shows some codes without an error object). */
export const sentenceFor = (code: LnErrorCode): string => SENTENCES[code];
