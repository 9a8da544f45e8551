// Receive: amount and description, then what receiving costs (a JIT channel's fee, from
// `bolt11.receiveQuote`, before any invoice exists), then — once the user agrees — the invoice
// as text and QR, a copy button, and "Received" when its `paymentReceived` event comes. Also a
// fresh on-chain address.
import type { LnEvent, ReceivedInvoice } from "wasm-ln";
import { InputError } from "./errors";
import { app, postJson, requireNode } from "./state";
import { qrSvg } from "./qr";
import { $, action, clearError, copyText, fmtMsat, readSat, relative } from "./ui";

interface Pending {
  amountMsat: number | undefined;
  description: string;
  /** The fee the user agreed to: the invoice may not cost more. */
  feeMsat: number;
}

let pending: Pending | undefined;
let current: ReceivedInvoice | undefined;

const dialog = () => $<HTMLDialogElement>("receive-dialog");

function step(which: "quote" | "invoice") {
  $("receive-step-quote").hidden = which !== "quote";
  $("receive-step-invoice").hidden = which !== "invoice";
}

/** The quote, in words: whether a channel opens, and what the LSP keeps. */
async function quote(amountMsat: number | undefined): Promise<{ text: string; feeMsat: number; viaJit: boolean }> {
  if (amountMsat === undefined) {
    return {
      text: "An invoice without an amount can only be paid through channels you already have; it costs you nothing.",
      feeMsat: 0,
      viaJit: false,
    };
  }
  const q = await requireNode().bolt11.receiveQuote({ amountMsat });
  if (!q.viaJitChannel) {
    return { text: `Your channels can take ${fmtMsat(amountMsat)}: receiving it costs you nothing.`, feeMsat: 0, viaJit: false };
  }
  const first = (await requireNode().listChannels()).length === 0;
  return {
    text:
      `${first ? "Your first payment opens a channel" : "This payment opens a new channel"}: ` +
      `the LSP keeps ${fmtMsat(q.feeMsat)} of it for the channel, so you receive ${fmtMsat(amountMsat - q.feeMsat)}. ` +
      (q.expiresAt != null ? `This offer is valid until ${new Date(q.expiresAt * 1000).toLocaleTimeString()}.` : ""),
    feeMsat: q.feeMsat,
    viaJit: true,
  };
}

function showInvoice(inv: ReceivedInvoice, p: Pending) {
  current = inv;
  $<HTMLTextAreaElement>("invoice-out").value = inv.invoice;
  const qr = $("invoice-qr");
  qr.replaceChildren(qrSvg(`lightning:${inv.invoice}`, `QR code of the invoice${p.amountMsat ? ` for ${fmtMsat(p.amountMsat)}` : ""}`));
  const facts = [
    p.amountMsat !== undefined ? `Amount ${fmtMsat(p.amountMsat)}` : "Any amount",
    p.description ? `“${p.description}”` : "",
    inv.viaJitChannel ? `LSP fee ${fmtMsat(inv.feeMsat)}` : "",
    `expires ${relative(inv.expiresAt)}`,
  ].filter(Boolean);
  $("invoice-facts").textContent = facts.join(" · ") + ".";
  const status = $("invoice-status");
  status.dataset.state = "waiting";
  status.textContent = "Waiting for the payment…";
  step("invoice");
  $("invoice-copy").focus();
}

export function onReceiveEvent(ev: LnEvent) {
  if (ev.type !== "paymentReceived" || !current || ev.paymentHash !== current.paymentHash) return;
  const status = $("invoice-status");
  status.dataset.state = "received";
  status.dataset.amountMsat = String(ev.amountMsat);
  status.dataset.feeMsat = String(ev.feeMsat);
  status.textContent =
    `Received ${fmtMsat(ev.amountMsat)}` + (ev.feeMsat ? ` (the LSP kept ${fmtMsat(ev.feeMsat)} to open your channel).` : ".");
}

export function initReceive() {
  action("create-invoice", async () => {
    const sat = readSat("invoice-amount", "the amount (0 for any amount)", { allowZero: true });
    const description = $<HTMLInputElement>("invoice-description").value.trim();
    const amountMsat = sat > 0 ? sat * 1000 : undefined;
    const q = await quote(amountMsat);
    pending = { amountMsat, description, feeMsat: q.feeMsat };
    current = undefined;
    const el = $("receive-quote");
    el.textContent = q.text;
    el.dataset.feeMsat = String(q.feeMsat);
    el.dataset.viaJit = String(q.viaJit);
    $("invoice-status").dataset.state = "";
    $("invoice-status").textContent = "";
    step("quote");
    clearError();
    dialog().showModal();
    $("receive-confirm").focus();
  });

  action("receive-confirm", async () => {
    const p = pending;
    if (!p) throw new InputError("Start again from the amount.");
    const inv = await requireNode().bolt11.receive({
      amountMsat: p.amountMsat,
      description: p.description,
      expirySecs: 3600,
      // Never more than the user agreed to (the LSP's offer may have changed since).
      ...(p.amountMsat !== undefined && { maxFeeMsat: p.feeMsat }),
    });
    showInvoice(inv, p);
    void app.refresh();
  });

  const close = () => {
    dialog().close();
    pending = undefined;
    $("create-invoice").focus();
  };
  $("receive-cancel").addEventListener("click", close);
  $("receive-close").addEventListener("click", close);
  dialog().addEventListener("close", () => clearError());

  $("invoice-copy").addEventListener("click", () =>
    copyText($<HTMLTextAreaElement>("invoice-out").value, $<HTMLButtonElement>("invoice-copy"), $("invoice-copy-status")),
  );

  // Regtest: the merchant pays our invoice (its control API through the demo server's /peer/).
  action("peer-pays", async () => {
    const inv = current;
    if (!inv) throw new InputError("Create an invoice first.");
    const body: { invoice: string; amount_msat?: number } = { invoice: inv.invoice };
    if (pending?.amountMsat === undefined) body.amount_msat = 1_000_000; // any-amount invoice
    await postJson("/peer/pay", body);
    $("invoice-status").textContent = "The merchant is paying…";
  });

  action("new-address", async () => {
    const address = await requireNode().onchain.newAddress();
    $("onchain-address").textContent = address;
    $("address-qr").replaceChildren(qrSvg(`bitcoin:${address}`, "QR code of the address"));
    $("address-box").hidden = false;
  });
  $("address-copy").addEventListener("click", () =>
    copyText($("onchain-address").textContent ?? "", $<HTMLButtonElement>("address-copy"), $("address-copy-status")),
  );
}


