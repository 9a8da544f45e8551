// The package's public types. Result shapes come from the wasm core's own declarations
// (crate/src/wasm/node.rs, `typescript_custom_section`), so the Rust side and these types
// cannot drift; argument shapes and the options only this wrapper knows are here.

import type {
  NodeConfig as CoreNodeConfig,
  LnEvent,
  PaymentStatus,
} from "./wasm_ln.js";

export type {
  Balances,
  ChannelDetails,
  ClaimableBalance,
  DecodedHop,
  DecodedInvoice,
  GraphInfo,
  LnEvent,
  MessageVerification,
  Network,
  NodeInfo,
  PaymentDetails,
  PaymentStatus,
  PeerDetails,
  ReceiveQuote,
  ReceivedInvoice,
  WalletBalance,
} from "./wasm_ln.js";

/**
 * Amounts are JavaScript numbers named `…Sat` or `…Msat`, in arguments and results alike.
 * An argument must be a non-negative safe integer (≤ 2^53 − 1, i.e. about 90,071 BTC in msat,
 * above any payment or channel the network allows); a `bigint` is accepted when it fits.
 * Anything else is refused with `INVALID_CONFIG` before it reaches the node, never rounded.
 */
export type Amount = number | bigint;

/** `LightningNode.create/open`'s one config object. */
export interface LightningNodeConfig extends CoreNodeConfig {
  /**
   * Run the node in a dedicated Worker: the page keeps the same API while the node's work
   * (sync, signing, storage) never blocks it. Default `false`.
   */
  worker?: boolean;
  /**
   * Where `wasm_ln_bg.wasm` is served, when it is not beside the package's JavaScript (the
   * default, found through `import.meta.url`).
   */
  wasmUrl?: string | URL;
}

export interface OnchainSendArgs {
  address: string;
  amountSat: Amount;
  feeRateSatPerVb?: number;
}

export interface OnchainSendAllArgs {
  address: string;
  feeRateSatPerVb?: number;
}

export interface OpenChannelArgs {
  /** `nodeId@host:port` */
  peer: string;
  amountSat: Amount;
  pushMsat?: Amount;
}

export interface CloseChannelArgs {
  channelId: string;
  /** Unilateral close: funds come back after a delay (`balances().claimable`). */
  force?: boolean;
}

export interface ReceiveArgs {
  /** Omit for a variable-amount invoice. */
  amountMsat?: Amount;
  description?: string;
  /** Default 3600. */
  expirySecs?: number;
  /**
   * When our channels cannot take `amountMsat` and a JIT channel from the LSP is used: the
   * most its fee may be. Default 5,000 sat + 1 % of the amount, at most half of it.
   */
  maxFeeMsat?: Amount;
}

export interface ReceiveViaJitChannelArgs {
  amountMsat: Amount;
  description?: string;
  /** Default 3600. */
  expirySecs?: number;
  /**
   * The most the LSP's fee may be, else `FEE_TOO_HIGH` before anything is stored. Default
   * 5,000 sat + 1 % of the amount, at most half of it.
   */
  maxFeeMsat?: Amount;
}

export interface ReceiveQuoteArgs {
  amountMsat: Amount;
  /** The invoice's expiry the quote is for (an offer must cover it if one can). Default 3600. */
  expirySecs?: number;
  /** As `receive`'s: a quote above it rejects with `FEE_TOO_HIGH`. Default 5,000 sat + 1 %
   *  of the amount, at most half of it. */
  maxFeeMsat?: Amount;
}

export interface ReceiveForHashArgs {
  amountMsat: Amount;
  /** The hash of a preimage only the caller knows, hex. */
  paymentHash: string;
  description?: string;
  /** Default 3600. */
  expirySecs?: number;
}

export interface SettleArgs {
  paymentHash: string;
  /** Claims the payment with it (hex); without one the payment is failed back. */
  preimage?: string;
}

export interface Bolt11SendArgs {
  invoice: string;
  /** Only for an invoice without an amount. */
  amountMsat?: Amount;
  maxFeeMsat?: Amount;
}

export interface KeysendArgs {
  /** The payee's node id, hex. */
  nodeId: string;
  amountMsat: Amount;
  /**
   * Custom records for the payee's onion (WebLN `keysend`'s `customRecords`): TLV types as
   * decimal strings, at least 65536 (e.g. "7629169" for a podcasting 2.0 boostagram), to hex
   * values. A type below 65536, a reserved one, or a value that is not hex: `INVALID_CONFIG`.
   * The payee fails the payment back on an even type it does not understand (LDK and ldk-node
   * payees: any even type their app did not declare, e.g. WhatSat's "34349334"); too many
   * bytes for the onion: `PAYMENT_FAILED`.
   */
  customRecords?: Record<string, string>;
  /** The most the route's fees may be; default LDK's 1 % + 50 sat. No route within it:
   *  `FEE_TOO_HIGH`, nothing sent. */
  maxFeeMsat?: Amount;
}

export interface ListPaymentsArgs {
  status?: PaymentStatus;
}

export interface ConnectOptions {
  /** Reconnect to this peer after restarts too. Default `false`. */
  persist?: boolean;
}

export type LnEventType = LnEvent["type"];

/** The event of one `type`. */
export type LnEventOf<T extends LnEventType> = Extract<LnEvent, { type: T }>;
