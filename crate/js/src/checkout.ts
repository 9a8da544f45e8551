// <ln-checkout>: a drop-in Lightning checkout for any page, with no framework and no wasm.
//
//   import "wasm-ln/checkout";              // defines <ln-checkout> (only where customElements exists)
//   <ln-checkout invoice="lnbc…"></ln-checkout>
//   <ln-checkout lightning-address="shop@example.com" amount-sat="2100"></ln-checkout>
//
// It reads the invoice in JavaScript (invoice.ts) and never imports the node: a shop page with
// no wallet does not download the 9 MB core. A page that has a node hands it over through the
// `node` property. Importing this module touches no DOM global (server-side rendering).

import { LnError, toLnError, type LnErrorCode } from "./errors.js";
import { readInvoice, type InvoiceSummary } from "./invoice.js";
import { openSuccessAction, requestInvoice, resolvePayRequest, type OpenedSuccessAction, type SuccessAction } from "./lnurl.js";
import type { LightningNode } from "./node.js";
import type { Network } from "./wasm_ln.js";
import { generate, correction, toSvgPath } from "./vendor/qr.js";
import { sha256 } from "./vendor/sha2.js";

/** `paid`'s detail: the preimage's SHA-256 was checked against the payment hash before it fired.
 *  `paymentHash` is the paid invoice's, which may no longer be the one shown. */
export interface CheckoutPaidDetail {
  /** Hex. */
  preimage: string;
  /** Hex. */
  paymentHash: string;
  /** How it was paid: this element's buttons, or `markPaid` (the shop saw the payment). */
  via: "node" | "webln" | "external";
}

/** `error`'s detail. */
export interface CheckoutErrorDetail {
  code: LnErrorCode;
  message: string;
}

/** Where the checkout is. (`data-state` on its status part says what the message there is:
 *  after a failed payment the state is `ready` again and the message `error`.)
 *  `unverified`: the wallet said it paid, but its preimage does not prove it; `pending`: the
 *  wallet could not tell the outcome. Both are final for the buttons (another wallet would pay
 *  again); `markPaid` still settles them. */
export type CheckoutState =
  | "empty"
  | "loading"
  | "ready"
  | "paying"
  | "paid"
  | "expired"
  | "error"
  | "unverified"
  | "pending";

/** The states whose message is a failure, announced assertively (`role="alert"`). */
const ALERT_STATES: ReadonlySet<string> = new Set(["error", "expired", "unverified", "pending"]);

/** The part of WebLN (`@webbtc/webln-types`) the checkout calls. */
export interface CheckoutWebLN {
  enable(): Promise<unknown>;
  sendPayment(paymentRequest: string): Promise<{ preimage: string }>;
}

/** The part of a `LightningNode` the checkout calls. */
export type CheckoutNode = Pick<LightningNode, "bolt11">;

/** The attributes an invoice is loaded from (`label` only renames the heading). */
const LOAD_ATTRIBUTES = ["invoice", "lightning-address", "lnurl", "amount-sat", "amount-sats", "comment", "network"] as const;

const NETWORKS: readonly Network[] = ["bitcoin", "testnet", "signet", "regtest"];
const NETWORK_NAMES: Record<Network, string> = {
  bitcoin: "Bitcoin mainnet",
  testnet: "testnet",
  signet: "signet",
  regtest: "regtest",
};

const STYLE = `
:host {
  /* Light palette; every colour pair here is WCAG AA (≥ 4.5:1) on its background. */
  --_bg: var(--ln-checkout-bg, #ffffff);
  --_fg: var(--ln-checkout-fg, #1b1b1f);
  --_muted: var(--ln-checkout-muted, #52525b);
  --_border: var(--ln-checkout-border, #d4d4d8);
  --_accent: var(--ln-checkout-accent, #9a3412);
  --_accent-fg: var(--ln-checkout-accent-fg, #ffffff);
  --_error: var(--ln-checkout-error, #b91c1c);
  --_success: var(--ln-checkout-success, #15803d);
  --_focus: var(--ln-checkout-focus, #1d4ed8);
  --_radius: var(--ln-checkout-radius, 12px);
  --_font: var(--ln-checkout-font, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif);
  --_qr-size: var(--ln-checkout-qr-size, 240px);
  display: block;
  max-width: var(--ln-checkout-max-width, 360px);
  color-scheme: light;
}
${darkVars(":host([theme=dark])")}
@media (prefers-color-scheme: dark) {
  ${darkVars(":host(:not([theme=light]))")}
}
[part=container] {
  box-sizing: border-box;
  background: var(--_bg);
  color: var(--_fg);
  font-family: var(--_font);
  border: 1px solid var(--_border);
  border-radius: var(--_radius);
  padding: 1rem;
  display: grid;
  gap: 0.6rem;
}
h2 { margin: 0; font-size: 1rem; font-weight: 600; }
p { margin: 0; }
[part=amount] { font-size: 1.6rem; font-weight: 700; font-variant-numeric: tabular-nums; }
[part=amount] .unit { font-size: 1rem; font-weight: 600; color: var(--_muted); }
[part=description] { color: var(--_muted); overflow-wrap: anywhere; }
[part=countdown] { color: var(--_muted); font-variant-numeric: tabular-nums; font-size: 0.9rem; }
[part=qr] {
  /* A QR code is dark on light whatever the theme: scanners expect it. */
  background: #ffffff;
  border-radius: calc(var(--_radius) / 2);
  justify-self: center;
  width: var(--_qr-size);
  max-width: 100%;
  aspect-ratio: 1;
  transition: opacity 0.2s;
}
[part=qr] svg { display: block; width: 100%; height: 100%; }
[part=qr].dim { opacity: 0.25; }
.row { display: flex; gap: 0.5rem; align-items: stretch; }
label { font-size: 0.85rem; color: var(--_muted); }
[part=invoice] {
  flex: 1;
  min-width: 0;
  font: 0.8rem ui-monospace, SFMono-Regular, Menlo, monospace;
  color: var(--_fg);
  background: transparent;
  border: 1px solid var(--_border);
  border-radius: calc(var(--_radius) / 2);
  padding: 0.4rem 0.5rem;
  text-overflow: ellipsis;
}
button {
  font: inherit;
  font-weight: 600;
  border-radius: calc(var(--_radius) / 2);
  padding: 0.55rem 0.9rem;
  cursor: pointer;
  border: 1px solid var(--_accent);
}
.primary { background: var(--_accent); color: var(--_accent-fg); }
.secondary { background: transparent; color: var(--_fg); border-color: var(--_border); }
.actions { display: grid; gap: 0.5rem; }
.actions:empty { display: none; }
button:focus-visible, [part=invoice]:focus-visible {
  outline: 3px solid var(--_focus);
  outline-offset: 2px;
}
button:disabled, button[aria-disabled=true] { cursor: not-allowed; opacity: 0.55; }
[part=status] { min-height: 1.3em; overflow-wrap: anywhere; }
[part=status][data-state=error], [part=status][data-state=expired] { color: var(--_error); font-weight: 600; }
[part=status][data-state=paid] { color: var(--_success); font-weight: 600; }
.copied { color: var(--_success); font-size: 0.85rem; min-height: 1.2em; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
[hidden] { display: none !important; }
@media (prefers-reduced-motion: reduce) { [part=qr] { transition: none; } }
`;

function darkVars(selector: string): string {
  return `${selector} {
    --_bg: var(--ln-checkout-bg, #18181b);
    --_fg: var(--ln-checkout-fg, #f4f4f5);
    --_muted: var(--ln-checkout-muted, #a1a1aa);
    --_border: var(--ln-checkout-border, #3f3f46);
    --_accent: var(--ln-checkout-accent, #fb923c);
    --_accent-fg: var(--ln-checkout-accent-fg, #18181b);
    --_error: var(--ln-checkout-error, #fca5a5);
    --_success: var(--ln-checkout-success, #86efac);
    --_focus: var(--ln-checkout-focus, #93c5fd);
    color-scheme: dark;
  }`;
}

const TEMPLATE = `
<section part="container" role="group" aria-labelledby="title">
  <h2 id="title" part="title">Pay with Lightning</h2>
  <p part="amount" hidden></p>
  <p part="description" hidden></p>
  <p part="countdown" hidden><span class="clock" aria-hidden="true"></span><span class="sr" aria-live="polite" aria-atomic="true"></span></p>
  <div part="qr" role="img" hidden></div>
  <div class="invoice-box" hidden>
    <label for="invoice">Lightning invoice</label>
    <div class="row">
      <input id="invoice" part="invoice" readonly spellcheck="false" autocomplete="off">
      <button type="button" part="copy-button" class="secondary" aria-describedby="copied">Copy</button>
    </div>
    <p id="copied" class="copied" role="status"></p>
  </div>
  <div class="actions">
    <button type="button" part="node-button" class="primary" hidden>Pay with this wallet</button>
    <button type="button" part="webln-button" class="primary" hidden>Pay with browser wallet</button>
  </div>
  <p part="status" role="status" aria-live="polite" aria-atomic="true" data-state="empty"></p>
</section>`;

/** SSR-safe base class: in Node (no DOM) the module still loads and defines nothing. */
const Base: typeof HTMLElement =
  typeof HTMLElement === "undefined" ? (class {} as unknown as typeof HTMLElement) : HTMLElement;

/** `<ln-checkout>`. See the package README, section "`<ln-checkout>`". */
export class LnCheckout extends Base {
  static get observedAttributes(): string[] {
    return [...LOAD_ATTRIBUTES, "label"];
  }

  #root: ShadowRoot | null = null;
  #el: Record<string, HTMLElement> = {};
  #node: CheckoutNode | null = null;
  #state: CheckoutState = "empty";
  #invoice: string | null = null;
  #summary: InvoiceSummary | null = null;
  #successAction: SuccessAction | null = null;
  #generation = 0;
  #scheduled = false;
  #timer: ReturnType<typeof setInterval> | null = null;
  #lastAnnouncedMinute = -1;
  #expiredFired = false;
  /** The load attributes the shown invoice came from: a re-parent with the same ones reloads nothing. */
  #loadedKey: string | null = null;
  /** Attributes changed while paying: reload once the attempt is over. */
  #reloadWanted = false;
  /** The payment hashes `paid` fired for: once each. */
  #paidHashes = new Set<string>();
  #onWeblnReady = (): void => this.#renderButtons();

  /** The node that pays when the "Pay with this wallet" button is pressed (a `LightningNode`). */
  get node(): CheckoutNode | null {
    return this.#node;
  }
  set node(node: CheckoutNode | null) {
    this.#node = node ?? null;
    this.#renderButtons();
  }

  /** The invoice shown (from the `invoice` attribute, or the LNURL service's). */
  get invoice(): string | null {
    return this.#invoice;
  }
  set invoice(value: string | null) {
    if (value === null) this.removeAttribute("invoice");
    else this.setAttribute("invoice", value);
  }

  /** The invoice's payment hash (hex), once it is read. */
  get paymentHash(): string | null {
    return this.#summary?.paymentHash ?? null;
  }

  get state(): CheckoutState {
    return this.#state;
  }

  /** The network the page expects invoices for; default `"bitcoin"`. */
  get network(): Network {
    const n = (this.getAttribute("network") ?? "bitcoin") as Network;
    return NETWORKS.includes(n) ? n : "bitcoin";
  }

  connectedCallback(): void {
    if (!this.#root) {
      this.#root = this.attachShadow({ mode: "open" });
      this.#root.innerHTML = `<style>${STYLE}</style>${TEMPLATE}`;
      for (const el of this.#root.querySelectorAll<HTMLElement>("[part], .clock, .sr, .invoice-box, #copied")) {
        const key = el.getAttribute("part") ?? (el.className || el.id);
        this.#el[key] = el;
      }
      this.#el["copy-button"].addEventListener("click", () => void this.#copy());
      this.#el["node-button"].addEventListener("click", () => void this.#payWithNode());
      this.#el["webln-button"].addEventListener("click", () => void this.#payWithWebln());
    }
    window.addEventListener("webln:ready", this.#onWeblnReady);
    this.#applyLabel();
    this.#schedule();
  }

  disconnectedCallback(): void {
    // A payment in flight goes on (the element may be moved back); only the countdown stops.
    window.removeEventListener("webln:ready", this.#onWeblnReady);
    this.#stopTimer();
  }

  attributeChangedCallback(name: string, old: string | null, value: string | null): void {
    if (old === value || !this.#root) return;
    if (name === "label") return this.#applyLabel();
    this.#schedule();
  }

  /**
   * For a shop whose backend saw the payment (the QR paid from a phone): checks that
   * SHA-256(`preimage`) is this invoice's payment hash, then fires `paid` (once per payment
   * hash, whoever reports it first). Rejects with `PAYMENT_FAILED` (and fires `error`) when it
   * is not, also after `paid`.
   */
  async markPaid(preimage: string): Promise<void> {
    const summary = this.#summary;
    if (!summary) throw new LnError("INVALID_INVOICE", "this checkout has no invoice to mark paid");
    if (this.#settle(preimage, summary, this.#successAction, "external")) return;
    const err = new LnError("PAYMENT_FAILED", "This preimage does not match the invoice's payment hash: the payment is not proven.");
    // The state stays (a paid checkout stays paid; an unverified one stays unpayable).
    this.#dispatchError(err);
    if (this.#state !== "paid") this.#show("error", err.message, err.code);
    throw err;
  }

  // ---- loading ------------------------------------------------------------------------------

  /** Attribute changes come in bursts (a page sets three at once): load once after them. */
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      if (!this.isConnected) return;
      // A payment in flight keeps its invoice on screen until it resolves.
      if (this.#state === "paying") {
        this.#reloadWanted = true;
        return this.#resume();
      }
      if (this.#loadKey() === this.#loadedKey) return this.#resume();
      void this.#load();
    });
  }

  #loadKey(): string {
    return JSON.stringify(LOAD_ATTRIBUTES.map((a) => this.getAttribute(a)));
  }

  /** Back in a document with the same attributes: the countdown goes on, nothing is refetched. */
  #resume(): void {
    if (!this.isConnected) return;
    this.#renderButtons();
    if (this.#timer === null && (this.#state === "ready" || this.#state === "paying")) {
      this.#tick();
      if (this.#state === "ready" || this.#state === "paying") this.#timer = setInterval(() => this.#tick(), 1000);
    }
  }

  async #load(): Promise<void> {
    const generation = ++this.#generation;
    this.#loadedKey = this.#loadKey();
    const stale = (): boolean => generation !== this.#generation;
    this.#stopTimer();
    this.#invoice = null;
    this.#summary = null;
    this.#successAction = null;
    this.#expiredFired = false;
    this.#lastAnnouncedMinute = -1;
    this.#renderInvoice();

    const invoiceAttr = this.getAttribute("invoice")?.trim();
    const target = (this.getAttribute("lightning-address") ?? this.getAttribute("lnurl"))?.trim();
    let invoice: string;
    let successAction: SuccessAction | null = null;
    try {
      if (invoiceAttr) {
        invoice = invoiceAttr;
      } else if (target) {
        const amountSat = this.#amountSat();
        this.#setStatus("loading", "Asking the recipient for an invoice…");
        const req = await resolvePayRequest(target);
        if (stale()) return;
        const comment = this.getAttribute("comment") ?? undefined;
        const got = await requestInvoice(req, { amountMsat: amountSat * 1000, comment: comment || undefined });
        if (stale()) return;
        invoice = got.invoice;
        successAction = got.successAction;
      } else {
        this.#setStatus("empty", "");
        return;
      }
      const summary = readInvoice(invoice);
      const network = this.network;
      if (summary.network !== network) {
        const theirs = summary.network ? NETWORK_NAMES[summary.network] : "an unknown network";
        throw new LnError("WRONG_NETWORK", `This invoice is for ${theirs}, but this page takes payments on ${NETWORK_NAMES[network]}.`);
      }
      this.#invoice = invoice.replace(/^lightning:/i, "").toLowerCase();
      this.#summary = summary;
      this.#successAction = successAction;
    } catch (e) {
      if (stale()) return;
      this.#fail(toLnError(e));
      return;
    }
    this.#renderInvoice();
    const shown = this.#summary;
    if (!shown) return;
    // Shown again after it was paid (attributes changed and back): paid, no second event.
    if (this.#paidHashes.has(shown.paymentHash)) return this.#showPaid();
    this.#setStatus(
      "ready",
      shown.amountMsat === null
        ? "This invoice has no amount: scan or copy it into a wallet that lets you enter one."
        : "",
    );
    this.#tick();
    if (this.#state === "ready") this.#timer = setInterval(() => this.#tick(), 1000);
  }

  /** `amount-sat` as a positive whole number of sat, else `AMOUNT_OUT_OF_RANGE`. */
  #amountSat(): number {
    const raw = this.getAttribute("amount-sat") ?? this.getAttribute("amount-sats");
    const n = raw === null ? NaN : Number(raw);
    if (!Number.isSafeInteger(n) || n <= 0) {
      throw new LnError("AMOUNT_OUT_OF_RANGE", `amount-sat must be a positive whole number of sat, not ${JSON.stringify(raw)}`);
    }
    return n;
  }

  // ---- rendering ----------------------------------------------------------------------------

  #applyLabel(): void {
    const label = this.getAttribute("label");
    if (label && this.#el.title) this.#el.title.textContent = label;
  }

  #renderInvoice(): void {
    const el = this.#el;
    const s = this.#summary;
    const invoice = this.#invoice;
    for (const k of ["amount", "description", "countdown", "qr", "invoice-box"]) el[k].hidden = !s;
    el.copied.textContent = "";
    if (!s || !invoice) {
      el.qr.replaceChildren();
      el.invoice.setAttribute("value", "");
      (el.invoice as HTMLInputElement).value = "";
      this.#renderButtons();
      return;
    }
    if (s.amountMsat === null) {
      el.amount.textContent = "Any amount";
    } else {
      const sat = s.amountMsat / 1000;
      const fmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 3 }).format(sat);
      el.amount.innerHTML = "";
      el.amount.append(fmt, " ");
      const unit = document.createElement("span");
      unit.className = "unit";
      unit.textContent = "sat";
      el.amount.append(unit);
    }
    el.description.textContent = s.description ?? "";
    el.description.hidden = !s.description;
    (el.invoice as HTMLInputElement).value = invoice;
    el.qr.classList.remove("dim");
    el.qr.setAttribute(
      "aria-label",
      `QR code of the Lightning invoice${s.amountMsat === null ? "" : ` for ${el.amount.textContent}`}; the invoice text is below`,
    );
    el.qr.replaceChildren(qrSvg(`lightning:${invoice}`.toUpperCase()));
    this.#renderButtons();
  }

  #renderButtons(): void {
    if (!this.#root) return;
    // Read before the changes below: disabling the focused button blurs it at once.
    const active = this.#root.activeElement;
    const state = this.#state;
    // Neither path pays an amount-less invoice (the node would need an amount, a WebLN provider
    // has none to give): only the QR and the text, for a wallet that asks.
    const payable = !!this.#invoice && this.#summary?.amountMsat != null;
    const show = payable && (state === "ready" || state === "paying" || state === "expired");
    const node = this.#el["node-button"] as HTMLButtonElement;
    const webln = this.#el["webln-button"] as HTMLButtonElement;
    node.hidden = !(show && this.#node);
    webln.hidden = !(show && weblnProvider());
    // While paying the buttons are aria-disabled, not disabled: a disabled button drops the
    // keyboard focus to the page; this one keeps it (and a press does nothing, see #pay).
    const busy = state === "paying";
    node.disabled = webln.disabled = state !== "ready" && !busy;
    for (const b of [node, webln]) {
      if (busy) b.setAttribute("aria-disabled", "true");
      else b.removeAttribute("aria-disabled");
    }
    (this.#el["copy-button"] as HTMLButtonElement).disabled = state === "expired";
    // A pressed button that disappears (paid, unverified…) would drop focus to the page: the
    // status, which says what happened, takes it.
    if ((active === node && node.hidden) || (active === webln && webln.hidden)) {
      const status = this.#el.status;
      status.tabIndex = -1;
      status.focus();
    }
  }

  #tick(): void {
    const s = this.#summary;
    if (!s || (this.#state !== "ready" && this.#state !== "paying")) return this.#stopTimer();
    const left = Math.max(0, Math.ceil(s.expiresAt - Date.now() / 1000));
    const clock = this.#el.clock;
    const sr = this.#el.sr;
    if (left <= 0) {
      clock.textContent = "Expired";
      sr.textContent = "";
      // An HTLC already sent may still settle: the attempt's outcome decides (#attemptOver).
      if (this.#state === "paying") return this.#stopTimer();
      this.#expire();
      return;
    }
    const h = Math.floor(left / 3600);
    const m = Math.floor((left % 3600) / 60);
    const sec = left % 60;
    const mmss = `${String(m).padStart(h ? 2 : 1, "0")}:${String(sec).padStart(2, "0")}`;
    clock.textContent = `Expires in ${h ? `${h}:` : ""}${mmss}`;
    // The live region speaks at whole minutes only (and in the last minute once), not each second.
    const minutes = Math.ceil(left / 60);
    if (minutes !== this.#lastAnnouncedMinute) {
      this.#lastAnnouncedMinute = minutes;
      sr.textContent =
        left <= 60 ? "Expires in less than a minute" : `Expires in ${minutes >= 120 ? `${Math.round(minutes / 60)} hours` : `${minutes} minutes`}`;
    }
  }

  #expire(): void {
    this.#stopTimer();
    if (this.#expiredFired || this.#state === "paying") return;
    this.#expiredFired = true;
    this.#el.qr.classList.add("dim");
    this.#setStatus("expired", "This invoice has expired. Ask for a new one to pay.");
    this.dispatchEvent(new CustomEvent("expired", { bubbles: true, composed: true, detail: { paymentHash: this.paymentHash } }));
  }

  #stopTimer(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  #setStatus(state: CheckoutState, text: string, code?: LnErrorCode): void {
    this.#state = state;
    this.#show(state, text, code);
    this.#renderButtons();
  }

  /** The status line's message; failures are assertive (`role="alert"`), the rest polite. */
  #show(kind: CheckoutState, text: string, code?: LnErrorCode): void {
    const status = this.#el.status;
    const alert = ALERT_STATES.has(kind);
    status.setAttribute("role", alert ? "alert" : "status");
    status.setAttribute("aria-live", alert ? "assertive" : "polite");
    status.dataset.state = kind;
    if (code) status.dataset.code = code;
    else delete status.dataset.code;
    status.textContent = text;
  }

  /** `error`: the element's own event, like an `<img>`'s: it does not bubble, so a page's
   *  global `error` listeners (error reporters) never take it for a script error. */
  #dispatchError(err: LnError): void {
    this.dispatchEvent(new CustomEvent<CheckoutErrorDetail>("error", { detail: { code: err.code, message: err.message } }));
  }

  #fail(err: LnError): void {
    this.#setStatus("error", err.message, err.code);
    this.#dispatchError(err);
  }

  /** A payment attempt that failed: the invoice stays payable unless it expired meanwhile. */
  #paymentFailed(err: LnError): void {
    this.#dispatchError(err);
    this.#state = "ready";
    if (this.#summary && Date.now() / 1000 < this.#summary.expiresAt) {
      // Back to payable, the message stays (a retry clears it).
      this.#show("error", err.message, err.code);
      this.#renderButtons();
      this.#resume();
    } else {
      this.#expire();
    }
  }

  /** The wallet answered, but not with a proof: nothing to pay again here, `markPaid` decides. */
  #unsettled(state: "unverified" | "pending", err: LnError): void {
    this.#stopTimer();
    this.#el.countdown.hidden = true;
    this.#setStatus(state, err.message, err.code);
    this.#dispatchError(err);
  }

  // ---- actions ------------------------------------------------------------------------------

  async #copy(): Promise<void> {
    const invoice = this.#invoice;
    if (!invoice) return;
    const copied = this.#el.copied;
    let ok = false;
    try {
      await navigator.clipboard.writeText(invoice);
      ok = true;
    } catch {
      // No Clipboard API (an insecure context, an old browser, permission refused): select the
      // text and use the legacy command.
      const input = this.#el.invoice as HTMLInputElement;
      input.focus();
      input.select();
      try {
        ok = document.execCommand("copy");
      } catch {
        ok = false;
      }
    }
    copied.textContent = ok ? "Copied" : "Could not copy: the invoice is selected, copy it with your keyboard";
  }

  #payWithNode(): Promise<void> {
    const node = this.#node;
    if (!node) return Promise.resolve();
    return this.#pay("node", "Paying with this wallet…", async (invoice) => {
      const res = await node.bolt11.send({ invoice });
      if (res.status === "succeeded" && res.preimage) return res.preimage;
      if (res.status === "pending") throw new LnError("PAYMENT_PENDING", "The payment is still in flight: it may yet complete.");
      throw new LnError("PAYMENT_FAILED", res.failureReason ?? `the payment is ${res.status}, with no preimage`);
    });
  }

  #payWithWebln(): Promise<void> {
    // Looked up at the click, not kept from the render: an extension may come or go.
    const webln = weblnProvider();
    if (!webln) {
      if (this.#state !== "ready") return Promise.resolve();
      // Nothing was sent: the same as any payment that could not start.
      this.#paymentFailed(new LnError("PAYMENT_FAILED", "No browser wallet (WebLN) is available on this page any more: nothing was sent."));
      return Promise.resolve();
    }
    return this.#pay("webln", "Waiting for your browser wallet…", async (invoice) => {
      try {
        await webln.enable();
        const res = await webln.sendPayment(invoice);
        if (typeof res?.preimage !== "string") throw new LnError("PAYMENT_FAILED", "the wallet returned no preimage");
        return res.preimage;
      } catch (e) {
        throw weblnError(e);
      }
    });
  }

  /**
   * One payment attempt of the shown invoice. While it runs the state is `paying`: no expiry,
   * attribute changes wait. Its outcome belongs to its own invoice, whatever is shown by then.
   */
  async #pay(via: "node" | "webln", progress: string, send: (invoice: string) => Promise<string>): Promise<void> {
    const summary = this.#summary;
    const invoice = this.#invoice;
    const successAction = this.#successAction;
    if (!summary || !invoice || summary.amountMsat === null || this.#state !== "ready") return;
    this.#setStatus("paying", progress);
    let preimage: string | null = null;
    let err: LnError | null = null;
    try {
      preimage = await send(invoice);
    } catch (e) {
      err = toLnError(e);
    }
    // markPaid may have settled it meanwhile, or (after that) another invoice be shown.
    const current = (this.#state as CheckoutState) === "paying" && this.#summary?.paymentHash === summary.paymentHash;
    if (preimage !== null) {
      if (!this.#settle(preimage, summary, successAction, via) && current) {
        this.#unsettled(
          "unverified",
          new LnError(
            "PAYMENT_PENDING",
            "Your wallet says it paid, but returned a preimage that does not match this invoice's payment hash: the payment is not proven. Do not pay again; the shop will confirm whether it arrived.",
          ),
        );
      }
    } else if (err && current) {
      if (err.code === "PAYMENT_PENDING") {
        this.#unsettled("pending", new LnError("PAYMENT_PENDING", `The payment's outcome is not known yet: do not pay again. (${err.message})`));
      } else {
        this.#paymentFailed(err);
      }
    }
    if (this.#reloadWanted) {
      this.#reloadWanted = false;
      this.#schedule();
    }
  }

  /**
   * Whether SHA-256(`preimage`) is `summary`'s payment hash; if so, `paid` for that hash (once
   * per hash), and the paid view when that invoice is the one shown. Synchronous: nothing can
   * run between the check and the event.
   */
  #settle(preimage: string, summary: InvoiceSummary, successAction: SuccessAction | null, via: CheckoutPaidDetail["via"]): boolean {
    if (!preimageMatches(preimage, summary.paymentHash)) return false;
    const paymentHash = summary.paymentHash.toLowerCase();
    if (this.#paidHashes.has(paymentHash)) return true;
    this.#paidHashes.add(paymentHash);
    const detail: CheckoutPaidDetail = { preimage: preimage.toLowerCase(), paymentHash, via };
    if (this.#summary?.paymentHash.toLowerCase() === paymentHash) this.#showPaid(successAction, detail.preimage);
    this.dispatchEvent(new CustomEvent<CheckoutPaidDetail>("paid", { bubbles: true, composed: true, detail }));
    return true;
  }

  #showPaid(successAction: SuccessAction | null = null, preimage: string | null = null): void {
    this.#stopTimer();
    this.#el.countdown.hidden = true;
    this.#el.qr.classList.remove("dim");
    this.#setStatus("paid", "Paid. Thank you!");
    if (successAction && preimage) void this.#showSuccessAction(successAction, preimage);
  }

  /** LUD-09/10: the service's message or link after the payment. */
  async #showSuccessAction(action: SuccessAction, preimage: string): Promise<void> {
    let opened: OpenedSuccessAction;
    try {
      opened = await openSuccessAction(action, preimage);
    } catch (e) {
      // The payment is made; only the receipt could not be read.
      this.#el.status.textContent = `Paid. (The recipient's message could not be read: ${toLnError(e).message})`;
      return;
    }
    const status = this.#el.status;
    status.textContent = "Paid. ";
    const msg = document.createElement("span");
    msg.setAttribute("part", "success-action");
    if (opened.tag === "message") msg.textContent = opened.message;
    else if (opened.tag === "aes") msg.textContent = `${opened.description} ${opened.plaintext}`;
    else {
      msg.append(`${opened.description} `);
      const a = document.createElement("a");
      a.href = opened.url;
      a.textContent = opened.url;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      msg.append(a);
    }
    status.append(msg);
  }
}

/** The page's WebLN provider, if any (an extension's, or one a page injected). */
function weblnProvider(): CheckoutWebLN | null {
  if (typeof window === "undefined") return null;
  const w = (window as unknown as { webln?: CheckoutWebLN }).webln;
  return w && typeof w.sendPayment === "function" && typeof w.enable === "function" ? w : null;
}

/**
 * A WebLN client's failure as an `LnError`: one with a code of ours (wasm-ln's provider) keeps
 * it; anything else (a plain `Error`, another provider's own `code`) is `PAYMENT_FAILED` with
 * its message, unless its code or message says the user declined: `PERMISSION_DENIED`.
 */
function weblnError(e: unknown): LnError {
  if (e instanceof LnError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  const err = toLnError(e);
  // toLnError keeps a known code; an unknown one (or none) came out as INTERNAL.
  if (typeof code === "string" && code === err.code) return err;
  if (/reject|denied|declin|cancel|refus/i.test(`${typeof code === "string" ? code : ""} ${err.message}`)) {
    return new LnError("PERMISSION_DENIED", `Your wallet declined the payment: ${err.message}`);
  }
  return new LnError("PAYMENT_FAILED", err.message);
}

/** Whether SHA-256(preimage) is `paymentHash` (both hex). JavaScript's SHA-256, not WebCrypto:
 *  that is missing on non-secure pages, and asynchronous. */
function preimageMatches(preimage: string, paymentHash: string): boolean {
  if (typeof preimage !== "string" || !/^[0-9a-fA-F]{64}$/.test(preimage)) return false;
  const bytes = new Uint8Array(32);
  for (let i = 0; i < 32; i++) bytes[i] = parseInt(preimage.slice(2 * i, 2 * i + 2), 16);
  const hex = Array.from(sha256(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
  return hex === paymentHash.toLowerCase();
}

/** An SVG of `text`'s QR code (with its 4-module quiet zone), dark on white. */
function qrSvg(text: string): SVGSVGElement {
  const code = generate(text, { minCorrectionLevel: correction.L });
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  const q = 4;
  svg.setAttribute("viewBox", `${-q} ${-q} ${code.size + 2 * q} ${code.size + 2 * q}`);
  svg.setAttribute("shape-rendering", "crispEdges");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", toSvgPath(code));
  path.setAttribute("fill", "#000000");
  svg.append(path);
  return svg;
}

declare global {
  interface HTMLElementTagNameMap {
    "ln-checkout": LnCheckout;
  }
}

// Defined only where there is a registry (a browser), and once (two copies of the package).
if (typeof customElements !== "undefined" && !customElements.get("ln-checkout")) {
  customElements.define("ln-checkout", LnCheckout);
}
