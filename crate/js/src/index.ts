// wasm-ln: a self-custodial Lightning node in the browser. See README.md for the API.

export { LightningNode } from "./node.js";
export type { OnchainApi, Bolt11Api, LnurlApi, LnurlPayArgs, LnurlPayResult } from "./node.js";
export { readInvoice, checkInvoice } from "./invoice.js";
export type { InvoiceSummary, CheckInvoiceOptions } from "./invoice.js";
export {
  resolvePayRequest,
  requestInvoice,
  openSuccessAction,
  lnurlToUrl,
  lightningAddressUrl,
  checkPayAmount,
} from "./lnurl.js";
export { DEFAULT_WEBLN_BUDGET, defaultWebLnMaxFeeMsat } from "./webln.js";
export type {
  WebLnProvider,
  WebLnOptions,
  WebLnBudget,
  WebLnInfo,
  WebLnPermissionRequest,
  WebLnLnurlRequest,
  WebLnLnurlChoice,
  WebLnLnurlResponse,
  WebLnLedgerStorage,
} from "./webln.js";
export type {
  LnurlPayRequest,
  LnurlFetchOptions,
  RequestInvoiceOptions,
  LnurlInvoice,
  SuccessAction,
  OpenedSuccessAction,
} from "./lnurl.js";
export { LnError } from "./errors.js";
export type { LnErrorCode } from "./errors.js";
export { initWasm } from "./wasm.js";
export * from "./types.js";

import { decodeInvoice as decodeCore } from "./wasm_ln.js";
import type { DecodedInvoice } from "./wasm_ln.js";
import { initWasm } from "./wasm.js";
import { toLnError } from "./errors.js";

/**
 * Decodes a BOLT11 invoice without a node (its signature checked; expiry and network are
 * yours to judge). Async only because the wasm core may still need loading; it runs in this
 * page, also when a node runs in a Worker (with the wasm from where `initWasm(url)` or the
 * first `create`/`open` loaded it). Rejects with `INVALID_INVOICE`.
 */
export async function decodeInvoice(invoice: string): Promise<DecodedInvoice> {
  try {
    await initWasm();
    return decodeCore(invoice);
  } catch (e) {
    throw toLnError(e);
  }
}
