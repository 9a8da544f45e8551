// `LightningNode`: the package's API (shared/API.md) over a Backend, the same in the page
// and in Worker mode. This layer names things and checks amounts; behaviour is the core's.

import type { Backend, CoreMethod } from "./backend.js";
import { InPageBackend } from "./backend.js";
import { WorkerBackend } from "./worker-client.js";
import { LnError, toLnError } from "./errors.js";
import { EventPump } from "./events.js";
import { openSuccessAction, requestInvoice, resolvePayRequest } from "./lnurl.js";
import { createWebLnProvider } from "./webln.js";
import type { WebLnOptions, WebLnProvider } from "./webln.js";
import type { LnurlFetchOptions, LnurlPayRequest, OpenedSuccessAction } from "./lnurl.js";
import type {
  Amount,
  Balances,
  Bolt11SendArgs,
  ChannelDetails,
  CloseChannelArgs,
  ConnectOptions,
  KeysendArgs,
  LightningNodeConfig,
  ListPaymentsArgs,
  LnEvent,
  LnEventOf,
  LnEventType,
  MessageVerification,
  NodeInfo,
  OnchainSendAllArgs,
  OnchainSendArgs,
  OpenChannelArgs,
  PaymentDetails,
  PeerDetails,
  ReceiveArgs,
  ReceiveForHashArgs,
  ReceiveQuote,
  ReceiveQuoteArgs,
  ReceiveViaJitChannelArgs,
  SettleArgs,
  ReceivedInvoice,
  WalletBalance,
} from "./types.js";

/** How long `stop()` waits for calls still in flight after the core stopped. */
const STOP_GRACE_MS = 5_000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** An amount argument as the core takes it: a safe integer number, else INVALID_CONFIG. */
function amount(name: string, v: Amount | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === "bigint" && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= 0n ? Number(v) : v;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
    throw new LnError(
      "INVALID_CONFIG",
      `${name} must be a non-negative whole number up to ${Number.MAX_SAFE_INTEGER}, got ${String(v)}`,
    );
  }
  return n;
}

/** `args` with its amount fields checked and made numbers; other fields as given. */
function withAmounts<T extends object>(args: T, names: readonly string[]): T {
  if (typeof args !== "object" || args === null) {
    throw new LnError("INVALID_CONFIG", "expected an object argument");
  }
  const out = { ...args } as Record<string, unknown>;
  for (const name of names) {
    if (name in out) out[name] = amount(name, out[name] as Amount | undefined);
  }
  return out as T;
}

/** On-chain wallet calls: `node.onchain`. */
export interface OnchainApi {
  /** A fresh receive address of the node's wallet. */
  newAddress(): Promise<string>;
  balance(): Promise<WalletBalance>;
  /** Pays `amountSat` to `address`; resolves with the txid. */
  send(args: OnchainSendArgs): Promise<string>;
  /** Sends every spendable coin to `address`; resolves with the txid. */
  sendAll(args: OnchainSendAllArgs): Promise<string>;
}

/** BOLT11 invoices: `node.bolt11`. */
export interface Bolt11Api {
  /**
   * A new invoice of ours; without `amountMsat` the payer chooses the amount. Our channels
   * take it when they can; else a JIT channel from the LSP, when one is configured (its fee
   * at most `maxFeeMsat`, withheld from the payment); else `NO_INBOUND_CAPACITY`. The result
   * says which (`viaJitChannel`, `feeMsat`).
   */
  receive(args?: ReceiveArgs): Promise<ReceivedInvoice>;
  /**
   * What `receive({ amountMsat })` would do now, without making an invoice, buying or
   * storing anything: our channels take it (`{ viaJitChannel: false, feeMsat: 0, expiresAt:
   * null }`), or a JIT channel at the LSP's current cheapest suitable offer (`feeMsat`, and
   * `expiresAt`, the Unix time the offer ends). Same errors as `receive`:
   * `NO_INBOUND_CAPACITY` (no LSP and too little inbound, or no offer suits), `FEE_TOO_HIGH`
   * (above `maxFeeMsat`), `PEER_UNREACHABLE` (the LSP does not answer). Show it before the
   * invoice is made; the invoice's own `feeMsat` is the one that counts.
   */
  receiveQuote(args: ReceiveQuoteArgs): Promise<ReceiveQuote>;
  /**
   * An invoice paid through a JIT channel (LSPS2): when the payment arrives the LSP opens a
   * zero-conf channel to us and withholds its fee (`feeMsat`, its quote) from it. Works with
   * no channel and no coins. Rejects with `FEE_TOO_HIGH` when the quote exceeds `maxFeeMsat`,
   * `INVALID_CONFIG` without an LSP, `PEER_UNREACHABLE` when the LSP does not answer within
   * 10 s, `NO_INBOUND_CAPACITY` when it offers nothing for this amount.
   */
  receiveViaJitChannel(args: ReceiveViaJitChannelArgs): Promise<ReceivedInvoice>;
  /** A hold invoice: a payment to it waits (a `paymentClaimable` event) until `settle`. */
  receiveForHash(args: ReceiveForHashArgs): Promise<ReceivedInvoice>;
  /** Claims a waiting payment with its preimage, or fails it back without one. */
  settle(args: SettleArgs): Promise<void>;
  /** Pays an invoice; settles when the payment does (succeeded), else rejects with an LnError. */
  send(args: Bolt11SendArgs): Promise<PaymentDetails>;
}

/** `node.lnurl.pay`'s argument: a `target` to resolve, or a `request` resolved already. */
export type LnurlPayArgs = (
  | { target: string; request?: undefined }
  | { request: LnurlPayRequest; target?: undefined }
) & {
  /** Within the request's `minSendableMsat`..`maxSendableMsat`. */
  amountMsat: Amount;
  /** At most the request's `commentAllowed` characters (LUD-12). */
  comment?: string;
  /** The most the route's fees may be (`bolt11.send`'s default when absent). */
  maxFeeMsat?: Amount;
  /** Cancels the LNURL requests (not a payment already sent). */
  signal?: AbortSignal;
  /** Per LNURL request; default 10,000 ms. */
  timeoutMs?: number;
};

/** What `node.lnurl.pay` resolves with. */
export interface LnurlPayResult {
  payment: PaymentDetails;
  /** The service's success action, opened (an `aes` one decrypted); `null` without one, or
   *  when it did not decrypt (the payment succeeded all the same). */
  successAction: OpenedSuccessAction | null;
}

/** LNURL-pay and Lightning addresses: `node.lnurl`. The LNURL requests run in the page (also
 *  in Worker mode); the payment is `bolt11.send`. */
export interface LnurlApi {
  /** `resolvePayRequest`: a Lightning address, `LNURL1…`, `lnurlp://` or https URL → its pay request. */
  resolve(target: string, options?: LnurlFetchOptions): Promise<LnurlPayRequest>;
  /**
   * Resolves `target` (unless `request` is given), asks for an invoice of `amountMsat` with
   * `comment`, checks it (`requestInvoice`: `AMOUNT_OUT_OF_RANGE`, `INVALID_LNURL`,
   * `INVOICE_MISMATCH`, `LNURL_FAILED`, all before anything is paid), pays it and opens the
   * success action.
   */
  pay(args: LnurlPayArgs): Promise<LnurlPayResult>;
}

/** A Lightning node in this page, or in a Worker with `worker: true`; the same API either way. */
export class LightningNode {
  /** Our node id, hex. */
  readonly nodeId: string;
  readonly onchain: OnchainApi;
  readonly bolt11: Bolt11Api;
  readonly lnurl: LnurlApi;
  private readonly pump: EventPump;
  /** Set when `stop()` begins: no new call starts after it. */
  private stopping: Promise<void> | undefined;
  private stopped = false;
  /** Calls in flight, which `stop()` lets finish before it frees the backend. */
  private readonly inFlight = new Set<Promise<unknown>>();

  private constructor(private readonly backend: Backend) {
    this.nodeId = backend.nodeId;
    const call = this.call.bind(this);
    this.onchain = {
      newAddress: () => call("newAddress") as Promise<string>,
      balance: () => call("onchainBalance") as Promise<WalletBalance>,
      send: async (a) => call("onchainSend", withAmounts(a, ["amountSat"])) as Promise<string>,
      sendAll: (a) => call("onchainSendAll", a) as Promise<string>,
    };
    this.bolt11 = {
      receive: async (a = {}) =>
        call("bolt11Receive", withAmounts(a, ["amountMsat", "maxFeeMsat"])) as Promise<ReceivedInvoice>,
      receiveQuote: async (a) =>
        call("bolt11ReceiveQuote", withAmounts(a, ["amountMsat", "maxFeeMsat"])) as Promise<ReceiveQuote>,
      receiveViaJitChannel: async (a) =>
        call("bolt11ReceiveViaJitChannel", withAmounts(a, ["amountMsat", "maxFeeMsat"])) as Promise<ReceivedInvoice>,
      receiveForHash: async (a) =>
        call("bolt11ReceiveForHash", withAmounts(a, ["amountMsat"])) as Promise<ReceivedInvoice>,
      settle: (a) => call("bolt11Settle", a) as Promise<void>,
      send: async (a) => call("bolt11Send", withAmounts(a, ["amountMsat", "maxFeeMsat"])) as Promise<PaymentDetails>,
    };
    this.lnurl = {
      resolve: (target, options) => resolvePayRequest(target, options),
      pay: (a) => this.lnurlPay(a),
    };
    this.pump = new EventPump(
      () => call("nextEvent") as Promise<LnEvent>,
      (id) => call("eventHandled", id) as Promise<void>,
    );
  }

  /**
   * Creates a new node in empty storage and starts it. Without `seed.mnemonic` a new one is
   * generated: show it once with {@link LightningNode.mnemonic}. With `seed.passphrase` the
   * seed is stored encrypted; `seed.storePlaintext: true` stores it readable (tests, throwaway
   * wallets); with neither it is not stored. Rejects with `NODE_LOCKED` while this wallet runs
   * in another tab or worker, and `INVALID_CONFIG` when the storage already holds a node.
   */
  static create(config: LightningNodeConfig): Promise<LightningNode> {
    return LightningNode.start("create", config);
  }

  /** Opens the node kept in `config.storage` (with `seed.passphrase` if it is encrypted). */
  static open(config: LightningNodeConfig): Promise<LightningNode> {
    return LightningNode.start("open", config);
  }

  private static async start(kind: "create" | "open", config: LightningNodeConfig): Promise<LightningNode> {
    if (typeof config !== "object" || config === null) {
      throw new LnError("INVALID_CONFIG", "expected a config object");
    }
    // `worker` and `wasmUrl` are this layer's; the core refuses fields it does not know.
    const { worker, wasmUrl, ...core } = config;
    const backend = worker
      ? await WorkerBackend.start(kind, core, wasmUrl)
      : await InPageBackend.start(kind, core, wasmUrl);
    return new LightningNode(backend);
  }

  /**
   * The mnemonic `create` generated, once; `undefined` afterwards and for restored or opened
   * nodes. Have the user write it down: it is the only backup of the on-chain funds.
   */
  mnemonic(): string | undefined {
    return this.stopped ? undefined : this.backend.takeMnemonic();
  }

  getInfo(): Promise<NodeInfo> {
    return this.call("getInfo") as Promise<NodeInfo>;
  }

  /** Syncs with the chain now (it also runs in the background). */
  sync(): Promise<void> {
    return this.call("sync") as Promise<void>;
  }

  /** Connects to `nodeId@host:port` through the proxy. */
  connect(peer: string, options: ConnectOptions = {}): Promise<void> {
    return this.call("connect", peer, options.persist ?? false) as Promise<void>;
  }

  disconnect(nodeId: string): Promise<void> {
    return this.call("disconnect", nodeId) as Promise<void>;
  }

  listPeers(): Promise<PeerDetails[]> {
    return this.call("listPeers") as Promise<PeerDetails[]>;
  }

  /** Opens a channel; resolves once the funding is negotiated (events tell the rest). */
  async openChannel(args: OpenChannelArgs): Promise<{ userChannelId: string }> {
    return this.call("openChannel", withAmounts(args, ["amountSat", "pushMsat"])) as Promise<{
      userChannelId: string;
    }>;
  }

  listChannels(): Promise<ChannelDetails[]> {
    return this.call("listChannels") as Promise<ChannelDetails[]>;
  }

  closeChannel(args: CloseChannelArgs): Promise<void> {
    return this.call("closeChannel", args) as Promise<void>;
  }

  balances(): Promise<Balances> {
    return this.call("balances") as Promise<Balances>;
  }

  /**
   * Pays `amountMsat` to `nodeId` without an invoice; settles when the payment does.
   * `customRecords` ({ "7629169": "7b…" }: decimal TLV type ≥ 65536 → hex) travel in the
   * payee's onion. `maxFeeMsat` caps the routing fees (default 1 % + 50 sat; above it
   * `FEE_TOO_HIGH`, nothing sent).
   */
  async keysend(args: KeysendArgs): Promise<PaymentDetails> {
    return this.call("keysend", withAmounts(args, ["amountMsat", "maxFeeMsat"])) as Promise<PaymentDetails>;
  }

  /**
   * Signs `message` (its UTF-8 bytes) with the node key, as LND's and Core Lightning's
   * `signmessage` do: zbase32 of a recoverable signature over
   * SHA256d("Lightning Signed Message:" + message). Anyone can check it against our node id.
   */
  signMessage(message: string): Promise<string> {
    if (typeof message !== "string") {
      return Promise.reject(new LnError("INVALID_CONFIG", "message must be a string"));
    }
    return this.call("signMessage", message) as Promise<string>;
  }

  /**
   * Checks a node-message signature (LND's, Core Lightning's or ours): `pubkey` is the node id
   * it recovers to over `message` (null when the signature is malformed: not an error), and
   * `valid` says whether that is a node this node knows (itself, a peer, a channel
   * counterparty, a node of the graph), as LND's `verifymessage` does. To check a given
   * signer, compare `pubkey` with its node id.
   */
  verifyMessage(message: string, signature: string): Promise<MessageVerification> {
    if (typeof message !== "string" || typeof signature !== "string") {
      return Promise.reject(new LnError("INVALID_CONFIG", "message and signature must be strings"));
    }
    return this.call("verifyMessage", message, signature) as Promise<MessageVerification>;
  }

  listPayments(args: ListPaymentsArgs = {}): Promise<PaymentDetails[]> {
    return this.call("listPayments", args) as Promise<PaymentDetails[]>;
  }

  /** One payment by id, or `null`. */
  payment(id: string): Promise<PaymentDetails | null> {
    return this.call("payment", id) as Promise<PaymentDetails | null>;
  }

  /**
   * A WebLN provider of this node (`window.webln = node.webln({...})`): see the README's
   * "WebLN provider". Each call makes a new provider, not yet enabled; the spending ledger is
   * per node and origin, shared by every provider of both.
   */
  webln(options: WebLnOptions = {}): WebLnProvider {
    return createWebLnProvider(this, options);
  }

  /**
   * The node's events as an async iterator: `for await (const ev of node.events())`. Events
   * are persisted; each one is acknowledged when the loop asks for the next, so one whose
   * loop body did not finish (a crash, a reload, a `break`) is delivered again. Ends when
   * the node stops.
   */
  events(): AsyncIterableIterator<LnEvent> {
    return this.pump.iterate();
  }

  /** Calls `listener` for each event of `type`; returns a function that unsubscribes. */
  on<T extends LnEventType>(type: T, listener: (ev: LnEventOf<T>) => unknown): () => void {
    return this.pump.listen(
      (ev) => ev.type === type,
      (ev) => listener(ev as LnEventOf<T>),
    );
  }

  private async lnurlPay(args: LnurlPayArgs): Promise<LnurlPayResult> {
    if (typeof args !== "object" || args === null) throw new LnError("INVALID_CONFIG", "expected an object argument");
    const a = withAmounts(args, ["amountMsat", "maxFeeMsat"]);
    const fetchOptions: LnurlFetchOptions = {};
    if (a.signal) fetchOptions.signal = a.signal;
    if (a.timeoutMs !== undefined) fetchOptions.timeoutMs = a.timeoutMs;
    const request = a.request ?? (await resolvePayRequest(a.target ?? "", fetchOptions));
    const amountMsat = Number(a.amountMsat);
    const { invoice, successAction } = await requestInvoice(request, {
      ...fetchOptions,
      amountMsat,
      ...(a.comment !== undefined ? { comment: a.comment } : {}),
    });
    const sendArgs: Bolt11SendArgs = { invoice };
    if (a.maxFeeMsat !== undefined) sendArgs.maxFeeMsat = a.maxFeeMsat;
    const payment = await this.bolt11.send(sendArgs);
    let opened: OpenedSuccessAction | null = null;
    if (successAction && payment.preimage) {
      // Paid already: a success action that does not open must not turn that into a failure.
      opened = await openSuccessAction(successAction, payment.preimage).catch(() => null);
    }
    return { payment, successAction: opened };
  }

  /**
   * Stops the node: ends its tasks, writes its state, then releases its locks so another
   * tab may open it. If the final write fails the locks stay held: call `stop()` again.
   * Event loops and listeners end as soon as `stop()` is called, whatever its outcome.
   */
  stop(): Promise<void> {
    this.stopping ??= this.stopOnce().catch((e) => {
      this.stopping = undefined; // the locks are still held: let the caller retry
      throw e;
    });
    return this.stopping;
  }

  private async stopOnce(): Promise<void> {
    if (this.stopped) return;
    const stopped = this.backend.call("stop", []).catch((e) => {
      throw toLnError(e);
    });
    this.pump.stop();
    await stopped;
    this.stopped = true;
    // The core is fenced now: what is still in flight ends quickly, with its result or an
    // error. Let it, so a Worker is not terminated under a pending storage write.
    await Promise.race([Promise.allSettled([...this.inFlight]), sleep(STOP_GRACE_MS)]);
    this.backend.dispose();
  }

  private async call(method: CoreMethod, ...args: unknown[]): Promise<unknown> {
    if (this.stopped || this.stopping) throw new LnError("NODE_STOPPED", "the node has stopped");
    const pending = this.backend.call(method, args);
    this.inFlight.add(pending);
    try {
      return await pending;
    } catch (e) {
      throw toLnError(e);
    } finally {
      this.inFlight.delete(pending);
    }
  }
}
