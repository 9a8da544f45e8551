// Every public call of the package, type-checked (`tsc -p crate/js/example`) against the
// built package's declarations in pkg/ by pkg-scripts/test.sh. It is compiled, not run.

import {
  LightningNode,
  LnError,
  decodeInvoice,
  initWasm,
  type LightningNodeConfig,
  type LnErrorCode,
  type LnEvent,
  type PaymentDetails,
  type DecodedInvoice,
  type MessageVerification,
  type ReceiveQuote,
  readInvoice,
  checkInvoice,
  resolvePayRequest,
  requestInvoice,
  openSuccessAction,
  lnurlToUrl,
  lightningAddressUrl,
  DEFAULT_WEBLN_BUDGET,
  defaultWebLnMaxFeeMsat,
  type InvoiceSummary,
  type LnurlPayRequest,
  type LnurlPayResult,
  type OpenedSuccessAction,
  type SuccessAction,
  type WebLnProvider,
  type WebLnPermissionRequest,
} from "wasm-ln";

/** Invoices and LNURL without a node (no wasm), as a checkout page uses them. */
export async function withoutANode(invoice: string, preimage: string): Promise<void> {
  const summary: InvoiceSummary = readInvoice(`lightning:${invoice}`);
  const hash: string = summary.paymentHash;
  const amountMsat: number | null = summary.amountMsat;
  const descriptionHash: string | null = summary.descriptionHash;
  const expiresAt: number = checkInvoice(invoice, { network: "regtest", now: Math.floor(Date.now() / 1000) }).expiresAt;
  const url: URL = lnurlToUrl("LNURL1DP68GURN8GHJ7UM9WFMXJCM99E3K7MF0V9CXJ0M385EKVCENXC6R2C35XVUKXEFCV5MKVV34X5EKZD3EV56NYD3HXQURZEPEXEJXXEPNXSCRVWFNV9NXZCN9XQ6XYEFHVGCXXCMYXYMNSERXFQ5FNS");
  const wellKnown: URL = lightningAddressUrl("shop@example.com");
  const controller = new AbortController();
  const req: LnurlPayRequest = await resolvePayRequest("shop@example.com", { signal: controller.signal, timeoutMs: 5_000 });
  const bounds: [number, number] = [req.minSendableMsat, req.maxSendableMsat];
  const words: string = req.description;
  const long: string | undefined = req.longDescription;
  const image: string | undefined = req.image;
  const who: string | undefined = req.identifier;
  const commentAllowed: number = req.commentAllowed;
  const metadata: string = req.metadata;
  const { invoice: pr, successAction } = await requestInvoice(req, { amountMsat: 21_000, comment: "hi", timeoutMs: 5_000 });
  const action: SuccessAction | null = successAction;
  if (action) {
    const opened: OpenedSuccessAction = await openSuccessAction(action, preimage);
    if (opened.tag === "aes") {
      const secret: string = opened.plaintext;
      void secret;
    } else if (opened.tag === "url") {
      const receipt: string = opened.url;
      void receipt;
    } else {
      const message: string = opened.message;
      void message;
    }
  }
  void [hash, amountMsat, descriptionHash, expiresAt, url, wellKnown, bounds, words, long, image, who, commentAllowed, metadata, pr];
}

/** LNURL-pay and WebLN with a node. */
export async function lnurlAndWebln(node: LightningNode): Promise<void> {
  const req: LnurlPayRequest = await node.lnurl.resolve("shop@example.com");
  const paid: LnurlPayResult = await node.lnurl.pay({ request: req, amountMsat: 21_000, comment: "order #42", maxFeeMsat: 1_000 });
  await node.lnurl.pay({ target: "lightning:LNURL1…", amountMsat: 21_000 });
  const preimage: string | null = paid.payment.preimage;
  const opened: OpenedSuccessAction | null = paid.successAction;

  const asked: WebLnPermissionRequest[] = [];
  const webln: WebLnProvider = node.webln({
    origin: "https://shop.example",
    allow: async (r) => {
      asked.push(r);
      return r.method === "enable" || (r.method === "sendPayment" && r.amountMsat <= 1_000_000);
    },
    confirm: ({ payRequest }) => ({ amountMsat: payRequest.minSendableMsat, comment: "from webln" }),
    budget: { maxPaymentMsat: 1_000_000, maxPeriodMsat: DEFAULT_WEBLN_BUDGET.maxPeriodMsat, periodSecs: 3_600 },
    maxFeeMsat: (amountMsat) => defaultWebLnMaxFeeMsat(amountMsat),
    alias: "my wallet",
    color: "#f7931a",
    storage: null,
  });
  await webln.enable();
  const enabled: boolean = await webln.isEnabled();
  const info = await webln.getInfo();
  const pubkey: string = info.node.pubkey;
  const methods: string[] = info.methods;
  const { balance } = await webln.getBalance();
  const { paymentRequest } = await webln.makeInvoice({ amount: 1_000, minimumAmount: 1, maximumAmount: 10_000, defaultMemo: "tip" });
  await webln.makeInvoice(1_000);
  await webln.makeInvoice("1000");
  const sent: string = (await webln.sendPayment(paymentRequest)).preimage;
  await webln.keysend({ destination: node.nodeId, amount: 100, customRecords: { "696969": "hello" } });
  const looked = await webln.lookupInvoice({ paymentRequest });
  const isPaid: boolean = looked.paid;
  const { signature } = await webln.signMessage("hello");
  await webln.verifyMessage(signature, "hello");
  const lnurlPaid = await webln.lnurl("shop@example.com");
  const ok: "OK" = lnurlPaid.status;
  const listener = () => {};
  webln.on("accountChanged", listener);
  webln.off("accountChanged", listener);
  void [preimage, opened, enabled, pubkey, methods, balance, sent, isPaid, ok, asked];
}

export async function everything(): Promise<void> {
  await initWasm(); // optional: create/open/decodeInvoice load the wasm themselves
  const config: LightningNodeConfig = {
    network: "regtest",
    esploraUrl: "http://127.0.0.1:3002",
    proxyUrl: "ws://127.0.0.1:3003",
    storage: { kind: "indexeddb", name: "my-wallet" },
    seed: { passphrase: "correct horse battery staple" },
    logLevel: "warn",
    syncIntervalSecs: 30,
    rgsUrl: null, // P2P gossip; a URL for Rapid Gossip Sync; absent for the network's default
    worker: false,
  };
  const node = await LightningNode.create(config);
  const words: string | undefined = node.mnemonic();
  const id: string = node.nodeId;
  const info = await node.getInfo();
  const height: number = info.blockHeight;
  const graphChannels: number = info.graph.channels;
  const rgsSyncedAt: number | null = info.graph.rgsSyncedAt;
  await node.sync();

  const address: string = await node.onchain.newAddress();
  const wallet = await node.onchain.balance();
  const spendable: number = wallet.spendableSat;
  const txid: string = await node.onchain.send({ address, amountSat: 10_000, feeRateSatPerVb: 2 });
  await node.onchain.send({ address, amountSat: 10_000n });
  await node.onchain.sendAll({ address });

  await node.connect("02aa@127.0.0.1:9735", { persist: true });
  const peers = await node.listPeers();
  const connected: boolean = peers[0]!.connected;
  await node.disconnect("02aa");
  const { userChannelId } = await node.openChannel({ peer: "02aa@127.0.0.1:9735", amountSat: 100_000, pushMsat: 0 });
  const channels = await node.listChannels();
  const outbound: number = channels[0]!.outboundCapacityMsat;
  const perPart: number = channels[0]!.nextOutboundHtlcLimitMsat;
  await node.closeChannel({ channelId: channels[0]!.channelId, force: false });
  const balances = await node.balances();
  const lightning: number = balances.lightningMsat;

  const inv = await node.bolt11.receive({ amountMsat: 50_000_000, description: "Coffee", expirySecs: 3600 });
  await node.bolt11.receive();
  const jit = await node.bolt11.receiveViaJitChannel({ amountMsat: 50_000_000, description: "First", maxFeeMsat: 2_000_000 });
  const viaJit: boolean = jit.viaJitChannel;
  const quote: ReceiveQuote = await node.bolt11.receiveQuote({ amountMsat: 50_000_000 });
  const quoteExpires: number | null = quote.expiresAt;
  await node.bolt11.receiveQuote({ amountMsat: 50_000_000n, expirySecs: 600, maxFeeMsat: 2_000_000 });
  const jitFee: number = jit.feeMsat;
  await node.bolt11.receive({ amountMsat: 50_000_000, maxFeeMsat: 2_000_000 });
  const hash = "00".repeat(32);
  await node.bolt11.receiveForHash({ amountMsat: 1_000, paymentHash: hash, description: "held" });
  await node.bolt11.settle({ paymentHash: hash, preimage: "11".repeat(32) });
  await node.bolt11.settle({ paymentHash: hash });
  const decoded: DecodedInvoice = await decodeInvoice(inv.invoice);
  const amount: number | null = decoded.amountMsat;
  const paid: PaymentDetails = await node.bolt11.send({ invoice: inv.invoice, maxFeeMsat: 1_000 });
  const preimage: string | null = paid.preimage;
  const lspFee: number | null = paid.feeMsat;
  await node.keysend({ nodeId: id, amountMsat: 1_000, maxFeeMsat: 0 });
  await node.keysend({ nodeId: id, amountMsat: 1_000n, customRecords: { "7629169": "7b7d", "696969": "6869" } });
  const signature: string = await node.signMessage("I own this node");
  const verified: MessageVerification = await node.verifyMessage("I own this node", signature);
  const signer: string | null = verified.pubkey;
  const known: boolean = verified.valid;
  const pending = await node.listPayments({ status: "pending" });
  await node.listPayments();
  const one: PaymentDetails | null = await node.payment(pending[0]!.id);

  for await (const ev of node.events()) {
    const eventId: string = ev.id; // the same when the event is delivered again
    void eventId;
    if (ev.type === "paymentReceived") {
      const got: number = ev.amountMsat;
      void got;
    }
    break;
  }
  const off = node.on("paymentSucceeded", (ev) => {
    const fee: number | null = ev.feePaidMsat;
    void fee;
  });
  off();

  try {
    await node.bolt11.send({ invoice: "lnbc1garbage" });
  } catch (e) {
    if (e instanceof LnError) {
      const code: LnErrorCode = e.code;
      void code;
    }
  }
  await node.stop();

  const remote = await LightningNode.open({ ...config, worker: true, wasmUrl: "/wasm_ln_bg.wasm" });
  const events = remote.events();
  const ev: LnEvent | undefined = (await events.next()).value;
  await events.return?.(); // an iterator used by hand is closed by hand
  await remote.stop();
  void [words, height, graphChannels, rgsSyncedAt, spendable, txid, connected, userChannelId, outbound, perPart, lightning, amount, preimage, one, ev, signer, known, quoteExpires, viaJit, jitFee, lspFee];
}
