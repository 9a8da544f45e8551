// The shop page (shop.html): products whose "Buy" asks the merchant for an invoice and shows
// <ln-checkout>, a Lightning-address checkout, and Bitcoin Connect beside it.
//
//   /shop.html             the shop alone: the checkout shows the QR (pay it from any wallet)
//   /shop.html?wallet=1    also a wasm-ln node in the page, the checkout's `node`
//   /shop.html?webln=1     also a second node injected as `window.webln` (what a wallet
//                          extension does), with a budget, before Bitcoin Connect loads
//
// The server (tests/e2e/lib/serve.mjs) gives /config.json (network, esploraUrl, proxyUrl, lsp,
// optional rgsUrl) and forwards /peer/* to the merchant's control API: POST /peer/invoice makes
// the merchant's invoice, POST /peer/pay has the merchant pay ours (funding the page's wallets
// through a JIT channel). Element ids are a contract with tests/e2e/checkout.test.mjs;
// `window.shop` is there for the tests too.

// Only the checkout is imported up front: the 9 MB node loads only with ?wallet=1 or ?webln=1.
import "wasm-ln/checkout";
import type { CheckoutErrorDetail, CheckoutPaidDetail, LnCheckout } from "wasm-ln/checkout";
import type { LightningNode, LightningNodeConfig, LnEvent } from "wasm-ln";

interface ShopConfig {
  network: LightningNodeConfig["network"];
  esploraUrl: string;
  proxyUrl?: string;
  lsp?: { nodeId: string; address: string };
  /** Where the LSP's RGS snapshots are, relative to the page (e.g. "/rgs/"); P2P gossip without. */
  rgsUrl?: string;
}

/** What the WebLN provider of wasm-ln (`node.webln(options)`) is given here. */
const WEBLN_BUDGET = { maxPaymentMsat: 20_000_000, maxPeriodMsat: 60_000_000, periodSecs: 86_400 };
const FUND_MSAT = 50_000_000; // the LSP takes no smaller JIT payment

const PRODUCTS: Record<string, string> = { beans: "Espresso beans, 250 g", grinder: "Hand grinder" };

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from shop.html`);
  return el as T;
};

const params = new URLSearchParams(location.search);
const checkout = $<LnCheckout>("checkout");

/** For the tests: the checkout's events, the nodes, and the actions. */
const shop = {
  config: null as ShopConfig | null,
  checkout,
  node: null as LightningNode | null,
  weblnNode: null as LightningNode | null,
  events: [] as { type: string; detail: unknown; at: number }[],
  bcPaid: [] as { preimage: string }[],
  buy,
  showInvoice,
  payAddress,
  fund,
};
declare global {
  interface Window {
    shop: typeof shop;
  }
}
window.shop = shop;

function showError(err: unknown): void {
  const e = err as { code?: string; message?: string };
  const box = $("error");
  box.dataset.code = e?.code ?? "";
  box.textContent = e?.message ?? String(err);
}

function clearError(): void {
  const box = $("error");
  box.dataset.code = "";
  box.textContent = "";
}

function setStatus(id: string, state: string, text = state): void {
  const el = $(id);
  el.dataset.state = state;
  el.textContent = text;
}

const fmtSat = (msat: number): string => new Intl.NumberFormat("en-US", { maximumFractionDigits: 3 }).format(msat / 1000);

/** A JSON call to the merchant through the page's own origin. */
async function merchant<T>(path: string, body: unknown): Promise<T> {
  const res = await fetch(`/peer/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const data = (await res.json().catch(() => ({}))) as T & { error?: string };
  if (!res.ok) throw Object.assign(new Error(`the merchant refused (${res.status}): ${data.error ?? res.statusText}`), { code: "MERCHANT" });
  return data;
}

function showCheckout(order: string): void {
  $("order").textContent = order;
  const section = $("checkout-section");
  section.hidden = false;
  $("bc-pay").hidden = !bc;
  $("bc-status").textContent = "";
  // The checkout is what to do next: take keyboard and screen-reader focus there.
  const heading = $("h-checkout");
  heading.tabIndex = -1;
  heading.focus();
}

/** "Buy": the merchant's invoice for the product, in the checkout. */
async function buy(sku: string, sat: number): Promise<string> {
  clearError();
  const name = PRODUCTS[sku] ?? sku;
  const { invoice } = await merchant<{ invoice: string; payment_hash: string }>("invoice", {
    amount_msat: sat * 1000,
    description: `Regtest Roasters: ${name}`,
    expiry_secs: 900,
  });
  showInvoice(invoice, `Order: ${name}, ${fmtSat(sat * 1000)} sat.`);
  return invoice;
}

/** The checkout of `invoice` (any, e.g. one the shop's backend made). */
function showInvoice(invoice: string, order: string): void {
  for (const a of ["lightning-address", "lnurl", "amount-sat", "comment"]) checkout.removeAttribute(a);
  checkout.setAttribute("invoice", invoice);
  showCheckout(order);
}

/** A Lightning address and an amount: the checkout resolves them to an invoice. */
function payAddress(address: string, amountSat: number, comment = ""): void {
  clearError();
  checkout.removeAttribute("invoice");
  checkout.setAttribute("lightning-address", address);
  checkout.setAttribute("amount-sat", String(amountSat));
  if (comment) checkout.setAttribute("comment", comment);
  else checkout.removeAttribute("comment");
  showCheckout(`Paying ${address} ${fmtSat(amountSat * 1000)} sat.`);
}

// ---- the page's own nodes ----------------------------------------------------------------

async function startNode(name: string): Promise<LightningNode> {
  const config = shop.config!;
  const { LightningNode } = await import("wasm-ln");
  return LightningNode.create({
    network: config.network,
    esploraUrl: config.esploraUrl,
    ...(config.proxyUrl && { proxyUrl: config.proxyUrl }),
    ...(config.lsp && { lsp: config.lsp }),
    ...(config.rgsUrl && { rgsUrl: new URL(config.rgsUrl, location.href).href }),
    // A demo's throwaway wallet: nothing survives the page (regtest only).
    storage: { kind: "memory" },
    logLevel: "warn",
  });
}

async function showBalance(node: LightningNode, id: string): Promise<void> {
  const { lightningMsat } = await node.balances();
  const el = $(id);
  el.dataset.msat = String(lightningMsat);
  el.textContent = fmtSat(lightningMsat);
}

/**
 * Funds `which` node with 50,000 sat from the merchant through a JIT channel of the LSP: our
 * invoice, which the merchant pays (POST /peer/pay). Resolves when the payment arrived.
 */
async function fund(which: "wallet" | "webln"): Promise<{ paymentHash: string; amountMsat: number }> {
  const node = which === "wallet" ? shop.node : shop.weblnNode;
  if (!node) throw new Error(`no ${which} node on this page`);
  const quote = await node.bolt11.receiveViaJitChannel({ amountMsat: FUND_MSAT, description: `shop ${which} funding` });
  let unsubscribe = (): void => {};
  const arrived = new Promise<LnEvent & { type: "paymentReceived" }>((resolve) => {
    unsubscribe = node.on("paymentReceived", (ev) => {
      if (ev.paymentHash === quote.paymentHash) resolve(ev);
    });
  });
  let ev;
  try {
    await merchant("pay", { invoice: quote.invoice });
    ev = await arrived;
  } finally {
    unsubscribe();
  }
  await showBalance(node, `${which}-balance`);
  return { paymentHash: ev.paymentHash, amountMsat: ev.amountMsat };
}

function fundButton(which: "wallet" | "webln"): void {
  const button = $<HTMLButtonElement>(`${which}-fund`);
  button.disabled = false;
  button.addEventListener("click", async () => {
    button.disabled = true;
    clearError();
    try {
      await fund(which);
    } catch (e) {
      showError(e);
    } finally {
      button.disabled = false;
    }
  });
}

async function startWallet(): Promise<void> {
  $("wallet").hidden = false;
  const node = await startNode("wallet");
  shop.node = node;
  checkout.node = node;
  node.on("paymentSucceeded", () => void showBalance(node, "wallet-balance"));
  setStatus("wallet-status", "running", `running, ${node.nodeId.slice(0, 16)}…`);
  await showBalance(node, "wallet-balance");
  fundButton("wallet");
}

/** What an extension does: a node of its own behind `window.webln`, before the page's scripts use it. */
async function injectWebln(): Promise<void> {
  $("webln-info").hidden = false;
  const node = await startNode("webln");
  shop.weblnNode = node;
  // A real extension would ask its user in `allow`; the demo says yes to everything within budget.
  const provider = node.webln({ allow: () => true, budget: WEBLN_BUDGET });
  (window as unknown as { webln: unknown }).webln = provider;
  window.dispatchEvent(new Event("webln:ready"));
  node.on("paymentSucceeded", () => void showBalance(node, "webln-balance"));
  setStatus("webln-status", "running", `window.webln, ${node.nodeId.slice(0, 16)}…`);
  $("webln-budget").textContent =
    `${fmtSat(WEBLN_BUDGET.maxPaymentMsat)} sat a payment, ${fmtSat(WEBLN_BUDGET.maxPeriodMsat)} sat a day`;
  await showBalance(node, "webln-balance");
  fundButton("webln");
}

// ---- Bitcoin Connect ---------------------------------------------------------------------

let bc: typeof import("@getalby/bitcoin-connect") | null = null;

/** Bitcoin Connect, loaded after any `window.webln` is in place (its "Extension" connector uses it). */
async function loadBitcoinConnect(): Promise<void> {
  bc = await import("@getalby/bitcoin-connect");
  bc.init({ appName: "Regtest Roasters", showBalance: false });
  const button = $<HTMLButtonElement>("bc-pay");
  button.hidden = $("checkout-section").hidden;
  button.addEventListener("click", () => {
    const invoice = checkout.invoice;
    if (!invoice || !bc) return;
    const status = $("bc-status");
    status.textContent = "Bitcoin Connect is open.";
    bc.launchPaymentModal({
      invoice,
      onPaid: ({ preimage }) => {
        shop.bcPaid.push({ preimage });
        status.dataset.state = "paid";
        status.textContent = "Bitcoin Connect paid the invoice.";
        // The checkout checks the preimage against the hash, then fires `paid`.
        checkout.markPaid(preimage).catch(() => {});
      },
      onCancelled: () => {
        status.textContent = "Bitcoin Connect was closed without paying.";
      },
    });
  });
}

// ---- wiring ------------------------------------------------------------------------------

function record(type: string, detail: unknown): void {
  shop.events.push({ type, detail, at: Date.now() });
}

checkout.addEventListener("paid", (ev) => {
  const d = (ev as CustomEvent<CheckoutPaidDetail>).detail;
  record("paid", d);
  $("order").textContent += " Paid, thank you.";
});
checkout.addEventListener("expired", (ev) => record("expired", (ev as CustomEvent).detail));
checkout.addEventListener("error", (ev) => record("error", (ev as unknown as CustomEvent<CheckoutErrorDetail>).detail));

for (const button of document.querySelectorAll<HTMLButtonElement>("button.buy")) {
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await buy(button.dataset.sku ?? "", Number(button.dataset.sat));
    } catch (e) {
      showError(e);
    } finally {
      button.disabled = false;
    }
  });
}

$<HTMLFormElement>("address-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const address = $<HTMLInputElement>("ln-address").value.trim();
  const amount = Number($<HTMLInputElement>("ln-amount").value);
  payAddress(address, amount, $<HTMLInputElement>("ln-comment").value.trim());
});

async function main(): Promise<void> {
  const res = await fetch("/config.json");
  if (!res.ok) throw new Error(`/config.json: ${res.status}`);
  shop.config = (await res.json()) as ShopConfig;
  checkout.setAttribute("network", shop.config.network);
  const theme = params.get("theme");
  if (theme) checkout.setAttribute("theme", theme);

  const started: Promise<void>[] = [];
  if (params.get("wallet") === "1") {
    started.push(startWallet().catch((e) => (setStatus("wallet-status", "failed", "failed"), showError(e))));
  }
  if (params.get("webln") === "1") {
    started.push(injectWebln().catch((e) => (setStatus("webln-status", "failed", "failed"), showError(e))));
  }
  await Promise.all(started);
  await loadBitcoinConnect().catch((e) => showError(e));
  setStatus("shop-status", "ready", "The shop is open.");
}

main().catch((e) => {
  setStatus("shop-status", "failed", "The shop could not start.");
  showError(e);
});
