// Reading a BOLT11 invoice without the wasm core: what a checkout page shows (amount,
// description, expiry) and checks (network, expiry) before anything pays it. The node's
// `decodeInvoice` is the full decoder (it checks the signature); this one is for pages with no
// node, and for the LNURL client's checks of a service's invoice.

import { decode } from "./vendor/bolt11.js";
import { LnError } from "./errors.js";
import type { Network } from "./wasm_ln.js";

/** What `readInvoice` reads from an invoice. Times are Unix seconds. */
export interface InvoiceSummary {
  /** From the prefix: `lnbc` bitcoin, `lntb` testnet, `lntbs` signet, `lnbcrt` regtest;
   *  `null` for another (simnet's `lnsb`). */
  network: Network | null;
  /** `null` for a variable-amount invoice (the payer chooses). */
  amountMsat: number | null;
  description: string | null;
  /** Hex; LNURL-pay invoices commit to their metadata with it (LUD-06). */
  descriptionHash: string | null;
  /** Hex. */
  paymentHash: string;
  createdAt: number;
  expiresAt: number;
}

/** `checkInvoice`'s options. */
export interface CheckInvoiceOptions {
  /** The network the payer's wallet is on: another one's invoice is `WRONG_NETWORK`. */
  network?: Network;
  /** Unix seconds; default now. An invoice expired at that time is `INVOICE_EXPIRED`. */
  now?: number;
}

/** BOLT11: an invoice with no expiry field expires after an hour. */
const DEFAULT_EXPIRY_SECS = 3600;

const NETWORKS: Record<string, Network> = { bc: "bitcoin", tb: "testnet", tbs: "signet", bcrt: "regtest" };

/** The invoice of `lightning:lnbc…` or `LNBC…` (a QR code's upper case), trimmed. */
export function stripLightningUri(text: string): string {
  const t = text.trim();
  return t.toLowerCase().startsWith("lightning:") ? t.slice("lightning:".length) : t;
}

/**
 * Reads a BOLT11 invoice (`lightning:` prefix and upper case accepted). It does NOT verify the
 * invoice's signature, so it says nothing about who made it: use the node's `decodeInvoice`
 * for that. Throws `INVALID_INVOICE` for anything that is not a well-formed invoice.
 */
export function readInvoice(invoice: string): InvoiceSummary {
  if (typeof invoice !== "string") throw new LnError("INVALID_INVOICE", "an invoice must be a string");
  const text = stripLightningUri(invoice);
  let d: ReturnType<typeof decode>;
  try {
    d = decode(text);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new LnError("INVALID_INVOICE", `not a valid BOLT11 invoice: ${why}`);
  }
  let network: Network | null = null;
  let amountMsat: number | null = null;
  let description: string | null = null;
  let descriptionHash: string | null = null;
  let paymentHash: string | null = null;
  let createdAt: number | null = null;
  let expirySecs = DEFAULT_EXPIRY_SECS;
  // The decoder's section list is loosely typed (`description_hash` and `expiry` are not in
  // its union): read it by name.
  for (const s of d.sections as ReadonlyArray<{ name: string; value?: unknown; letters?: string }>) {
    switch (s.name) {
      case "coin_network":
        network = NETWORKS[s.letters ?? ""] ?? null;
        break;
      case "amount": {
        const msat = Number(s.value);
        if (!Number.isSafeInteger(msat) || msat <= 0) {
          throw new LnError("INVALID_INVOICE", `the invoice's amount is out of range: ${String(s.value)} msat`);
        }
        amountMsat = msat;
        break;
      }
      case "description":
        description = String(s.value);
        break;
      case "description_hash":
        descriptionHash = String(s.value);
        break;
      case "payment_hash":
        paymentHash = String(s.value);
        break;
      case "timestamp":
        createdAt = Number(s.value);
        break;
      case "expiry":
        expirySecs = Number(s.value);
        break;
    }
  }
  if (paymentHash === null || !/^[0-9a-f]{64}$/.test(paymentHash)) {
    throw new LnError("INVALID_INVOICE", "the invoice has no valid payment hash");
  }
  if (createdAt === null || !Number.isSafeInteger(createdAt) || !Number.isSafeInteger(expirySecs)) {
    throw new LnError("INVALID_INVOICE", "the invoice has no valid timestamp");
  }
  return {
    network,
    amountMsat,
    description,
    descriptionHash,
    paymentHash,
    createdAt,
    expiresAt: createdAt + expirySecs,
  };
}

/** A network's name as people say it in a message. */
function networkName(n: Network | null): string {
  return n === null ? "an unknown network" : n === "bitcoin" ? "Bitcoin mainnet" : n;
}

/** A duration in seconds as people say it. */
function ago(secs: number): string {
  if (secs < 120) return `${secs} s`;
  if (secs < 7200) return `${Math.round(secs / 60)} min`;
  if (secs < 172_800) return `${Math.round(secs / 3600)} h`;
  return `${Math.round(secs / 86_400)} days`;
}

/**
 * `readInvoice`, then the checks a payer makes before paying: the invoice is for `network`
 * (else `WRONG_NETWORK`) and not expired at `now` (else `INVOICE_EXPIRED`). Like
 * `readInvoice`, it does not verify the signature.
 */
export function checkInvoice(invoice: string, options: CheckInvoiceOptions = {}): InvoiceSummary {
  const summary = readInvoice(invoice);
  if (options.network !== undefined && summary.network !== options.network) {
    throw new LnError(
      "WRONG_NETWORK",
      `this invoice is for ${networkName(summary.network)}, this wallet is on ${networkName(options.network)}`,
    );
  }
  const now = options.now ?? Math.floor(Date.now() / 1000);
  if (now >= summary.expiresAt) {
    throw new LnError(
      "INVOICE_EXPIRED",
      `this invoice expired ${ago(now - summary.expiresAt)} ago (at ${new Date(summary.expiresAt * 1000).toISOString()}); ask for a new one`,
    );
  }
  return summary;
}
