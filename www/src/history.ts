// Payment history: newest first; the description from the invoice where the node kept one (or
// the label the page saved for an LNURL payment), the amount, the fee (routing fee paid, or
// the LSP's fee withheld from a JIT receive), the status, the time.
import { decodeInvoice, type PaymentDetails } from "wasm-ln";
import { labels } from "./state";
import { $, fmtMsat, fmtTime, short, syncRows } from "./ui";

/** Invoice → its description (decoding is pure; cache it, the list refreshes every 3 s). */
const descriptions = new Map<string, string>();

async function describe(p: PaymentDetails, saved: Record<string, string>): Promise<string> {
  if (saved[p.paymentHash]) return saved[p.paymentHash];
  if (!p.invoice) return p.kind === "spontaneous" ? "Keysend" : "";
  let d = descriptions.get(p.invoice);
  if (d === undefined) {
    d = await decodeInvoice(p.invoice).then(
      (i) => i.description ?? (i.descriptionHash ? "(description hash)" : ""),
      () => "",
    );
    descriptions.set(p.invoice, d);
  }
  return d;
}

const STATUS = { pending: "Pending", succeeded: "Completed", failed: "Failed" } as const;

export async function renderHistory(payments: PaymentDetails[]) {
  const sorted = [...payments].sort((a, b) => b.createdAt - a.createdAt || a.id.localeCompare(b.id));
  const saved = labels();
  const texts = await Promise.all(sorted.map((p) => describe(p, saved)));
  const text = new Map(sorted.map((p, i) => [p.id, texts[i]]));
  $("payments-empty").hidden = sorted.length > 0;
  syncRows(
    $("payments"),
    sorted,
    (p) => p.id,
    "data-payment-id",
    () => {
      const tr = document.createElement("tr");
      for (let i = 0; i < 6; i++) tr.append(document.createElement("td"));
      tr.children[3].className = "num";
      tr.children[4].className = "num";
      return tr;
    },
    (tr, p) => {
      tr.dataset.status = p.status;
      tr.dataset.direction = p.direction;
      tr.dataset.amountMsat = p.amountMsat == null ? "" : String(p.amountMsat);
      const fee = p.direction === "outbound" ? p.feePaidMsat : p.feeMsat;
      tr.dataset.feeMsat = fee == null ? "" : String(fee);
      const sign = p.direction === "inbound" ? "+" : "−";
      const cells = [
        fmtTime(p.createdAt),
        p.direction === "inbound" ? "Received" : "Sent",
        text.get(p.id) || `Payment ${short(p.paymentHash, 6)}`,
        p.amountMsat == null ? "any amount" : `${sign}${fmtMsat(p.amountMsat)}`,
        fee ? `${fmtMsat(fee)}${p.direction === "inbound" ? " (LSP)" : ""}` : "",
        STATUS[p.status] + (p.failureReason ? `: ${p.failureReason}` : ""),
      ];
      tr.querySelectorAll("td").forEach((td, i) => {
        if (td.textContent !== cells[i]) td.textContent = cells[i];
      });
      tr.children[5].className = `status-${p.status}`;
    },
  );
}
