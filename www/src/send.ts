// Send: one field for a BOLT11 invoice, a Lightning address or an LNURL (`lightning:` prefix
// tolerated). An invoice shows its amount, description and expiry and asks to confirm; an
// address or LNURL shows the service's description, its bounds, a comment field when it takes
// one, and an amount. Then it pays and shows the service's success action.
import { checkInvoice, decodeInvoice, LnError, type LnErrorCode, type LnurlPayRequest, type OpenedSuccessAction } from "wasm-ln";
import { describeError, InputError } from "./errors";
import { app, requireNode, saveLabel } from "./state";
import { $, action, clearError, fmtMsat, input, relative } from "./ui";

type Target =
  | { kind: "invoice"; invoice: string; amountMsat: number | null; description: string | null; expiresAt: number; payee: string }
  | { kind: "lnurl"; target: string; request: LnurlPayRequest };

/** Failures raised before anything left the wallet (the node refuses these before sending,
 *  or the payment failed for good): "Not paid", and trying again is safe. Any other
 *  (PAYMENT_PENDING, NODE_STOPPED, INTERNAL, …) leaves the outcome unknown: paying again could
 *  pay twice (an LNURL service hands out a new invoice each time). */
const NOT_SENT: ReadonlySet<LnErrorCode> = new Set<LnErrorCode>([
  "INVALID_LNURL", "LNURL_FAILED", "INVOICE_MISMATCH", "AMOUNT_OUT_OF_RANGE", "INVALID_INVOICE",
  "INVOICE_EXPIRED", "WRONG_NETWORK", "NO_ROUTE", "FEE_TOO_HIGH", "INSUFFICIENT_FUNDS",
  "INVALID_CONFIG", "PAYMENT_FAILED",
]);

/** `bolt11.send`'s default limit on routing fees (LDK's): 1 % + 50 sat. */
const maxRoutingFeeMsat = (amountMsat: number) => Math.floor(amountMsat / 100) + 50_000;

let target: Target | undefined;

const dialog = () => $<HTMLDialogElement>("send-dialog");

/** An invoice (by its prefix, bech32 `ln` + network) rather than an LNURL or an address. */
const looksLikeInvoice = (t: string) => /^ln(bc|tb|tbs|bcrt|sb)[0-9]*[munp]?1/i.test(t) && !/^lnurl/i.test(t);

async function read(text: string): Promise<Target> {
  let t = text.trim();
  if (!t) throw new InputError("Paste an invoice, or type a Lightning address (name@domain) or an LNURL.");
  if (/^lightning:/i.test(t)) t = t.slice("lightning:".length).trim();
  if (looksLikeInvoice(t)) {
    t = t.toLowerCase(); // a QR code's upper case; bech32 is case-insensitive
    // Network and expiry first (typed errors in words), then the signature (the node's decoder).
    checkInvoice(t, { network: app.config.network });
    const d = await decodeInvoice(t);
    return { kind: "invoice", invoice: t, amountMsat: d.amountMsat, description: d.description, expiresAt: d.expiresAt, payee: d.payee };
  }
  return { kind: "lnurl", target: t, request: await requireNode().lnurl.resolve(t) };
}

function fact(dl: HTMLElement, term: string, value: string, id?: string) {
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  dd.textContent = value;
  if (id) dd.id = id;
  dl.append(dt, dd);
}

function review(t: Target) {
  const dl = $("send-summary");
  dl.replaceChildren();
  dl.dataset.kind = t.kind;
  const amountField = $("send-amount-field");
  const amount = input("send-amount");
  const commentField = $("send-comment-field");
  const comment = input("send-comment");
  comment.value = "";
  if (t.kind === "invoice") {
    fact(dl, "Pay", t.amountMsat == null ? "an amount you choose" : fmtMsat(t.amountMsat), "send-review-amount");
    fact(dl, "For", t.description || "(no description)", "send-review-description");
    fact(dl, "Expires", `${relative(t.expiresAt)} (${new Date(t.expiresAt * 1000).toLocaleTimeString()})`, "send-review-expiry");
    fact(dl, "Recipient", `${t.payee.slice(0, 16)}…`);
    if (t.amountMsat != null) fact(dl, "Routing fee", `at most ${fmtMsat(maxRoutingFeeMsat(t.amountMsat))}`, "send-review-max-fee");
    amountField.hidden = t.amountMsat != null;
    amount.value = "";
    amount.removeAttribute("min");
    amount.removeAttribute("max");
    $("send-amount-hint").textContent = "This invoice lets you choose the amount.";
    commentField.hidden = true;
  } else {
    const r = t.request;
    const minSat = Math.ceil(r.minSendableMsat / 1000);
    const maxSat = Math.floor(r.maxSendableMsat / 1000);
    // What the user typed (an address the service confirmed is the same), never a name the
    // service gives itself.
    fact(dl, "Pay to", payee(t), "send-review-recipient");
    fact(dl, "Service", r.domain);
    fact(dl, "For", r.description || "(no description)", "send-review-description");
    fact(dl, "Amount", minSat === maxSat ? fmtMsat(r.minSendableMsat) : `${fmtMsat(r.minSendableMsat)} to ${fmtMsat(r.maxSendableMsat)}`, "send-review-bounds");
    fact(dl, "Routing fee", "at most 1 % + 50 sat", "send-review-max-fee");
    amountField.hidden = false;
    amount.min = String(minSat);
    amount.max = String(maxSat);
    amount.value = minSat === maxSat ? String(minSat) : "";
    amount.readOnly = minSat === maxSat;
    $("send-amount-hint").textContent = `Between ${fmtMsat(r.minSendableMsat)} and ${fmtMsat(r.maxSendableMsat)}.`;
    commentField.hidden = r.commentAllowed <= 0;
    comment.maxLength = Math.max(0, r.commentAllowed);
    $("send-comment-hint").textContent = `Up to ${r.commentAllowed} characters; the recipient sees it.`;
  }
  const res = $("send-result");
  res.dataset.status = "";
  res.textContent = "";
  $("send-success-action").hidden = true;
  $("send-success-action").replaceChildren();
  $("send-review").hidden = false;
  $("send-close").hidden = true;
}

/** The payee as the user typed it: a Lightning address; an LNURL by its service's domain. */
function payee(t: Extract<Target, { kind: "lnurl" }>): string {
  return t.target.includes("@") && !/^[a-z][a-z0-9+.-]*:\/\//i.test(t.target) ? t.target.toLowerCase() : t.request.domain;
}

function showSuccessAction(sa: OpenedSuccessAction | null) {
  const box = $("send-success-action");
  box.replaceChildren();
  if (!sa) return;
  box.dataset.tag = sa.tag;
  const h = document.createElement("h3");
  h.textContent = "Message from the recipient";
  const p = document.createElement("p");
  p.className = "success-text";
  if (sa.tag === "message") p.textContent = sa.message;
  else if (sa.tag === "url") {
    p.textContent = `${sa.description} `;
    const a = document.createElement("a");
    a.href = sa.url;
    a.textContent = sa.url;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    p.append(a);
  } else p.textContent = `${sa.description} ${sa.plaintext}`;
  box.append(h, p);
  box.hidden = false;
}

/** The amount to pay, checked against the invoice or the service's bounds. */
function amountMsat(t: Target): number | undefined {
  if (t.kind === "invoice" && t.amountMsat != null) return undefined;
  const raw = input("send-amount").value.trim();
  const sat = Number(raw);
  if (!raw || !Number.isSafeInteger(sat) || sat <= 0) throw new InputError("Enter the amount to send as a whole number of sat.");
  if (t.kind === "lnurl") {
    const r = t.request;
    if (sat * 1000 < r.minSendableMsat || sat * 1000 > r.maxSendableMsat) {
      throw new InputError(`Enter an amount between ${fmtMsat(r.minSendableMsat)} and ${fmtMsat(r.maxSendableMsat)}.`);
    }
  }
  return sat * 1000;
}

export function initSend() {
  const field = $<HTMLTextAreaElement>("send-input");
  const fieldError = $("send-input-error");
  const clearFieldError = () => {
    fieldError.hidden = true;
    fieldError.textContent = "";
    fieldError.dataset.code = "";
    field.removeAttribute("aria-invalid");
  };
  field.addEventListener("input", clearFieldError);

  action("send-next", async () => {
    clearFieldError();
    try {
      target = await read(field.value);
    } catch (e) {
      // What was typed is wrong: say so at the field, in words.
      const d = describeError(e);
      fieldError.textContent = d.sentence;
      fieldError.dataset.code = d.code;
      fieldError.hidden = false;
      field.setAttribute("aria-invalid", "true");
      field.focus();
      console.warn(e);
      return;
    }
    review(target);
    dialog().showModal();
    (target.kind === "lnurl" || target.amountMsat == null ? input("send-amount") : $("send-confirm")).focus();
  });

  action("send-confirm", async () => {
    const t = target;
    if (!t) throw new InputError("Start again from the Send field.");
    const msat = amountMsat(t);
    const comment = input("send-comment").value.trim();
    const res = $("send-result");
    res.dataset.status = "pending";
    res.textContent = "Paying…";
    $("send-review").hidden = true;
    try {
      if (t.kind === "invoice") {
        const p = await requireNode().bolt11.send({ invoice: t.invoice, ...(msat !== undefined && { amountMsat: msat }) });
        res.dataset.status = "succeeded";
        res.dataset.paymentHash = p.paymentHash;
        res.textContent = `Paid ${fmtMsat(p.amountMsat ?? msat ?? 0)}${p.feePaidMsat ? `, fee ${fmtMsat(p.feePaidMsat)}` : ", no fee"}.`;
      } else {
        const r = await requireNode().lnurl.pay({
          request: t.request,
          amountMsat: msat!,
          ...(comment && !$("send-comment-field").hidden && { comment }),
        });
        const p = r.payment;
        saveLabel(p.paymentHash, `To ${payee(t)}${comment ? `: “${comment}”` : ""}`);
        res.dataset.status = "succeeded";
        res.dataset.paymentHash = p.paymentHash;
        res.textContent = `Paid ${fmtMsat(p.amountMsat ?? msat!)} to ${payee(t)}${p.feePaidMsat ? `, fee ${fmtMsat(p.feePaidMsat)}` : ", no fee"}.`;
        showSuccessAction(r.successAction);
      }
      field.value = "";
    } catch (e) {
      if (e instanceof LnError && NOT_SENT.has(e.code)) {
        res.dataset.status = "failed";
        res.textContent = "Not paid.";
        $("send-review").hidden = false;
      } else {
        // The payment may be on its way: no second try from here (it could pay twice).
        res.dataset.status = "unknown";
        res.textContent = "Payment pending — do not pay again. Its outcome will show in the history.";
        field.value = "";
        target = undefined;
      }
      throw e;
    } finally {
      $("send-close").hidden = false;
      void app.refresh();
    }
    $("send-close").focus();
  });

  const close = () => {
    dialog().close();
    target = undefined;
    field.focus();
  };
  $("send-cancel").addEventListener("click", close);
  $("send-close").addEventListener("click", close);
  dialog().addEventListener("close", () => clearError());
}

