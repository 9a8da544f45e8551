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
} from "wasm-ln";

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
  await node.keysend({ nodeId: id, amountMsat: 1_000 });
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
