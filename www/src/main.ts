// The demo wallet: one LightningNode in this page (or in a Worker with ?worker=1) on the local
// regtest network that pkg-scripts/demo.sh starts. The server gives the network in
// /config.json and forwards /peer/* to the peer's control API. Element ids are a contract
// with the e2e tests (tests/e2e): keep them.
import { LightningNode } from "wasm-ln";

interface DemoConfig {
  network: "bitcoin" | "testnet" | "signet" | "regtest";
  esploraUrl: string;
  proxyUrl: string;
  peer?: { uri: string; nodeId: string };
  /** The test network's LSP (pkg-scripts/demo.sh): a fresh wallet receives through a JIT channel. */
  lsp?: { nodeId: string; address: string };
  merchant?: { uri: string; nodeId: string };
}

type Node = LightningNode;

declare global {
  interface Window {
    demo?: { node: Node };
  }
}

const STORAGE_NAME = "demo-wallet";
const REFRESH_MS = 3000;
const useWorker = new URLSearchParams(location.search).get("worker") === "1";

const $ = <T extends HTMLElement = HTMLElement>(id: string) => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing`);
  return el as T;
};
const input = (id: string) => $<HTMLInputElement>(id);

let config: DemoConfig;
let node: Node | undefined;

// ---- errors and busy buttons -------------------------------------------------------------------

function showError(e: unknown) {
  const err = e as { code?: string; message?: string };
  const box = $("error");
  box.dataset.code = typeof err?.code === "string" ? err.code : "";
  box.textContent = err?.message ?? String(e);
  console.error(e);
}

function clearError() {
  const box = $("error");
  box.dataset.code = "";
  box.textContent = "";
}

/**
 * Runs a user action: clears the last error, marks the button busy (aria-busy, not disabled:
 * setStatus owns `disabled`, and a disabled button would drop keyboard focus), shows any failure.
 */
function action(id: string, fn: () => Promise<void>) {
  const btn = $<HTMLButtonElement>(id);
  btn.addEventListener("click", async () => {
    if (btn.getAttribute("aria-busy") === "true") return; // no double submits
    clearError();
    btn.setAttribute("aria-busy", "true");
    try {
      await fn();
    } catch (e) {
      showError(e);
    } finally {
      btn.removeAttribute("aria-busy");
    }
  });
}

function requireNode(): Node {
  if (!node) throw new Error("Create or open a wallet first.");
  return node;
}

/** JSON POST to a same-origin or CORS endpoint; the server's `{error}` becomes the message. */
async function postJson<T>(url: string, body: unknown): Promise<T> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let data: unknown = undefined;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = text;
  }
  if (!res.ok) {
    const msg = (data as { error?: string })?.error ?? (text || res.statusText);
    throw new Error(`${new URL(url, location.href).pathname}: ${msg}`);
  }
  return data as T;
}

// ---- formatting ----------------------------------------------------------------------------------

const fmtSat = (sat: number) => `${Math.trunc(sat).toLocaleString("en-US")} sat`;
const fmtMsat = (msat: number) =>
  msat % 1000 === 0 ? fmtSat(msat / 1000) : `${(msat / 1000).toLocaleString("en-US", { maximumFractionDigits: 3 })} sat`;
const short = (s: string | undefined | null, n = 10) => (s && s.length > 2 * n ? `${s.slice(0, n)}…${s.slice(-n)}` : (s ?? ""));

function setStatus(state: "no wallet" | "starting" | "running" | "stopped") {
  const el = $("status");
  el.dataset.state = state;
  el.textContent = state;
  const running = state === "running";
  $<HTMLFieldSetElement>("needs-node").disabled = !running;
  $<HTMLButtonElement>("stop").disabled = !running;
  $<HTMLButtonElement>("create").disabled = running || state === "starting";
  $<HTMLButtonElement>("open").disabled = running || state === "starting";
}

/**
 * Keyed list update: rows are kept (and only their contents changed) so a keyboard user's
 * focus on a row's button survives the periodic refresh.
 */
function syncRows<T>(
  container: HTMLElement,
  items: T[],
  key: (t: T) => string,
  keyAttr: string,
  create: () => HTMLElement,
  update: (row: HTMLElement, t: T) => void,
) {
  const existing = new Map<string, HTMLElement>();
  for (const row of Array.from(container.children) as HTMLElement[]) existing.set(row.getAttribute(keyAttr) ?? "", row);
  let prev: Element | null = null;
  for (const item of items) {
    const k = key(item);
    let row = existing.get(k);
    existing.delete(k);
    if (!row) {
      row = create();
      row.setAttribute(keyAttr, k);
    }
    update(row, item);
    const want: Element | null = prev ? prev.nextElementSibling : container.firstElementChild;
    if (want !== row) container.insertBefore(row, want);
    prev = row;
  }
  for (const row of existing.values()) row.remove();
}

// ---- refresh -------------------------------------------------------------------------------------

let refreshing: Promise<void> | undefined;
let refreshAgain = false;

/** Re-reads everything from the node; coalesces calls made while one is running. */
function refresh(): Promise<void> {
  if (refreshing) {
    refreshAgain = true;
    return refreshing;
  }
  refreshing = (async () => {
    do {
      refreshAgain = false;
      await refreshOnce();
    } while (refreshAgain);
  })().finally(() => (refreshing = undefined));
  return refreshing;
}

async function refreshOnce() {
  const n = node;
  if (!n) return;
  try {
    const [info, balances, channels, payments] = await Promise.all([
      n.getInfo(),
      n.balances(),
      n.listChannels(),
      n.listPayments(),
    ]);
    if (n !== node) return; // stopped or replaced meanwhile
    $("node-id").textContent = info.nodeId;
    $("block-height").textContent = String(info.blockHeight);

    const on = balances.onchain;
    const ob = $("onchain-balance");
    ob.dataset.sat = String(on.spendableSat);
    const extra = [
      on.unconfirmedSat ? `${fmtSat(on.unconfirmedSat)} unconfirmed` : "",
      on.immatureSat ? `${fmtSat(on.immatureSat)} immature` : "",
    ].filter(Boolean);
    ob.textContent = fmtSat(on.spendableSat) + (extra.length ? ` (+ ${extra.join(", ")})` : "");

    const lb = $("lightning-balance");
    lb.dataset.msat = String(balances.lightningMsat);
    const claimable = balances.claimable.reduce((sum, c) => sum + c.amountSat, 0);
    lb.textContent = fmtMsat(balances.lightningMsat) + (claimable ? ` (claimable on-chain: ${fmtSat(claimable)})` : "");

    renderChannels(channels);
    renderPayments(payments);
  } catch (e) {
    // A node that stops under us rejects with NODE_STOPPED: not worth an alert.
    if ((e as { code?: string })?.code !== "NODE_STOPPED") showError(e);
  }
}

type Channel = Awaited<ReturnType<Node["listChannels"]>>[number];
type Payment = Awaited<ReturnType<Node["listPayments"]>>[number];

function renderChannels(channels: Channel[]) {
  syncRows(
    $("channels"),
    channels,
    (c) => c.channelId,
    "data-channel-id",
    () => {
      const li = document.createElement("li");
      const text = document.createElement("span");
      text.className = "text";
      const close = document.createElement("button");
      close.type = "button";
      close.className = "close-channel";
      close.textContent = "Close";
      close.addEventListener("click", async () => {
        clearError();
        close.disabled = true;
        try {
          await requireNode().closeChannel({ channelId: li.dataset.channelId!, force: false });
          close.textContent = "Closing…";
          await refresh();
        } catch (e) {
          close.disabled = false;
          showError(e);
        }
      });
      li.append(text, " ", close);
      return li;
    },
    (li, c) => {
      li.dataset.ready = String(c.isReady);
      li.dataset.usable = String(c.isUsable);
      const state = c.isUsable
        ? "usable"
        : c.isReady
          ? "ready (peer offline?)"
          : `pending, ${c.confirmations ?? 0}/${c.confirmationsRequired ?? "?"} confirmations`;
      (li.querySelector(".text") as HTMLElement).textContent =
        `${short(c.channelId, 6)} with ${short(c.counterpartyNodeId, 6)}: ${fmtSat(c.capacitySat)}, ` +
        `can send ${fmtMsat(c.outboundCapacityMsat)}, receive ${fmtMsat(c.inboundCapacityMsat)}, ${state}`;
      li.querySelector(".close-channel")!.setAttribute("aria-label", `Close channel ${short(c.channelId, 6)}`);
    },
  );
}

function renderPayments(payments: Payment[]) {
  const sorted = [...payments].sort((a, b) => b.createdAt - a.createdAt);
  syncRows(
    $("payments"),
    sorted,
    (p) => p.id,
    "data-payment-id",
    () => {
      const tr = document.createElement("tr");
      for (let i = 0; i < 6; i++) tr.append(document.createElement("td"));
      return tr;
    },
    (tr, p) => {
      tr.dataset.status = p.status;
      tr.dataset.direction = p.direction;
      const cells = [
        p.direction,
        p.status + (p.failureReason ? ` (${p.failureReason})` : ""),
        p.amountMsat == null ? "any" : fmtMsat(p.amountMsat).replace(/ sat$/, ""),
        p.feePaidMsat == null ? "" : fmtMsat(p.feePaidMsat).replace(/ sat$/, ""),
        p.kind,
        short(p.paymentHash, 8),
      ];
      tr.querySelectorAll("td").forEach((td, i) => (td.textContent = String(cells[i] ?? "")));
    },
  );
}

// ---- node lifecycle ------------------------------------------------------------------------------

function nodeConfig(passphrase: string) {
  return {
    network: config.network,
    esploraUrl: config.esploraUrl,
    proxyUrl: config.proxyUrl,
    ...(config.lsp && { lsp: config.lsp }),
    storage: { kind: "indexeddb" as const, name: STORAGE_NAME },
    seed: { passphrase },
    worker: useWorker,
    logLevel: "warn" as const,
  };
}

async function started(n: Node) {
  node = n;
  window.demo = { node: n };
  setStatus("running");
  // The clicked Create/Open button is now disabled and lost focus: move it somewhere useful.
  ($("mnemonic-box").hidden ? $("h-node") : $("mnemonic-box")).focus();
  void consumeEvents(n);
  await refresh();
}

/** Shows each event in the log and refreshes; the iterator acknowledges after each body. */
async function consumeEvents(n: Node) {
  try {
    for await (const ev of n.events()) {
      const li = document.createElement("li");
      const details = JSON.stringify(ev, (k, v) => (k === "type" ? undefined : v));
      li.textContent = `${new Date().toLocaleTimeString()} ${ev.type} ${details.length > 140 ? `${details.slice(0, 140)}…` : details}`;
      const log = $("events");
      log.prepend(li);
      while (log.children.length > 20) log.lastElementChild!.remove();
      void refresh();
      if (n !== node) break;
    }
  } catch (e) {
    if (n === node && (e as { code?: string })?.code !== "NODE_STOPPED") showError(e);
  }
}

function passphrase(): string {
  const p = input("passphrase").value;
  if (!p) throw new Error("Enter a passphrase.");
  return p;
}

action("create", async () => {
  const p = passphrase();
  setStatus("starting");
  try {
    const n = await LightningNode.create(nodeConfig(p));
    const words = n.mnemonic();
    if (words) {
      $("mnemonic").textContent = words;
      $("mnemonic-box").hidden = false;
    }
    await started(n);
  } catch (e) {
    setStatus(node ? "running" : "no wallet");
    throw e;
  }
});

action("open", async () => {
  const p = passphrase();
  setStatus("starting");
  try {
    await started(await LightningNode.open(nodeConfig(p)));
  } catch (e) {
    setStatus(node ? "running" : "no wallet");
    throw e;
  }
});

action("stop", async () => {
  const n = requireNode();
  node = undefined; // no refresh or event handler touches it while it stops
  try {
    await n.stop();
  } catch (e) {
    node = n; // its locks stay held when the final write fails: let the user retry
    throw e;
  }
  setStatus("stopped");
  $("mnemonic-box").hidden = true;
  $("mnemonic").textContent = "";
});

// ---- on-chain --------------------------------------------------------------------------------------

/** Tells the node about new blocks now instead of at its next background sync. */
async function syncAndRefresh() {
  await requireNode().sync();
  await refresh();
}

action("fund", async () => {
  const address = await requireNode().onchain.newAddress();
  // regtest-esplora's faucet answers CORS like a public Esplora; confirm: mines the block too.
  await postJson(`${config.esploraUrl}/regtest/faucet`, { address, amount_sat: 1_000_000, confirm: true });
  await syncAndRefresh();
});

const mine = (blocks: number) => async () => {
  await postJson(`${config.esploraUrl}/regtest/mine`, { blocks });
  await syncAndRefresh();
};
action("mine", mine(1));
action("mine-6", mine(6));

action("send-all", async () => {
  const address = input("sweep-address").value.trim();
  if (!address) throw new Error("Enter an address to send to.");
  const txid = await requireNode().onchain.sendAll({ address });
  $("onchain-out").textContent = `sent: ${txid}`;
  await refresh();
});

// ---- channels ------------------------------------------------------------------------------------

action("open-channel", async () => {
  const peer = input("peer-uri").value.trim();
  const amountSat = Number(input("channel-amount").value);
  if (!peer) throw new Error("Enter the peer as nodeid@host:port.");
  if (!Number.isSafeInteger(amountSat) || amountSat <= 0) throw new Error("Enter a channel amount in sat.");
  await requireNode().openChannel({ peer, amountSat });
  await refresh();
});

// ---- receive -------------------------------------------------------------------------------------

action("create-invoice", async () => {
  const raw = input("invoice-amount").value.trim();
  const sat = raw === "" ? 0 : Number(raw);
  if (!Number.isSafeInteger(sat) || sat < 0) throw new Error("Enter an amount in sat (0 for any amount).");
  const description = input("invoice-description").value;
  const inv = await requireNode().bolt11.receive({
    amountMsat: sat > 0 ? sat * 1000 : undefined,
    description,
    expirySecs: 3600,
  });
  $<HTMLTextAreaElement>("invoice-out").value = inv.invoice;
  $("invoice-status").textContent = "";
  await refresh();
});

action("peer-pays", async () => {
  const invoice = $<HTMLTextAreaElement>("invoice-out").value.trim();
  if (!invoice) throw new Error("Create an invoice first.");
  const body: { invoice: string; amount_msat?: number } = { invoice };
  // A variable-amount invoice needs the amount from the payer.
  if (!Number(input("invoice-amount").value)) body.amount_msat = 1_000_000;
  const r = await postJson<{ payment_id: string }>("/peer/pay", body);
  $("invoice-status").textContent = `The peer is paying (payment ${short(r.payment_id, 8)}).`;
});

// ---- send ----------------------------------------------------------------------------------------

action("peer-invoice", async () => {
  const sat = Number(input("peer-invoice-amount").value);
  if (!Number.isSafeInteger(sat) || sat <= 0) throw new Error("Enter an amount in sat.");
  const r = await postJson<{ invoice: string }>("/peer/invoice", { amount_msat: sat * 1000, description: "demo" });
  $<HTMLTextAreaElement>("pay-invoice").value = r.invoice;
});

action("pay", async () => {
  const invoice = $<HTMLTextAreaElement>("pay-invoice").value.trim();
  if (!invoice) throw new Error("Paste an invoice to pay.");
  const out = $("pay-result");
  out.dataset.status = "pending";
  out.textContent = "Paying…";
  try {
    const r = await requireNode().bolt11.send({ invoice });
    out.dataset.status = "succeeded";
    const fee = r.feePaidMsat;
    out.textContent = `Paid. Preimage ${short(r.preimage, 8)}${fee != null ? `, fee ${fmtMsat(fee)}` : ""}.`;
  } catch (e) {
    out.dataset.status = "failed";
    out.textContent = "Payment failed.";
    throw e;
  } finally {
    void refresh();
  }
});

// ---- start ---------------------------------------------------------------------------------------

async function main() {
  setStatus("no wallet");
  try {
    const res = await fetch("/config.json");
    if (!res.ok) throw new Error(`/config.json: ${res.status}`);
    config = (await res.json()) as DemoConfig;
  } catch (e) {
    $("create").setAttribute("disabled", "");
    $("open").setAttribute("disabled", "");
    showError(new Error(`Cannot load the network config (${(e as Error).message}); start the page with pkg-scripts/demo.sh.`));
    return;
  }
  $("network").textContent = `(${config.network}${useWorker ? ", node in a Worker" : ""})`;
  if (config.peer) input("peer-uri").value = config.peer.uri;
  setInterval(() => void refresh(), REFRESH_MS);
}

void main();
