// The demo wallet: one LightningNode in this page (or in a Worker with ?worker=1) on the network
// /config.json names (pkg-scripts/demo.sh serves it). Create, restore or unlock; balances and
// sync; receive, send, channels, history (their own modules). Element ids are a contract with
// the e2e tests (tests/e2e): www/README.md lists them.
import { LightningNode } from "wasm-ln";
import type { LnEvent } from "wasm-ln";
import { renderChannels, initChannels } from "./channels";
import { InputError, sentenceFor } from "./errors";
import { renderHistory } from "./history";
import { initReceive, onReceiveEvent } from "./receive";
import { initSend } from "./send";
import { app, postJson, requireNode, type DemoConfig, type Node } from "./state";
import { initTheme } from "./theme";
import { $, action, clearError, fmtMsat, fmtSat, input, relative, showError } from "./ui";

const STORAGE_NAME = "demo-wallet";
const REFRESH_MS = 3000;
/** The node syncs by itself every 30 s (its default): a last sync older than this is a problem. */
const STALE_SYNC_SECS = 120;
const useWorker = new URLSearchParams(location.search).get("worker") === "1";

type Status = "no wallet" | "starting" | "running" | "stopped";

function setStatus(state: Status) {
  const el = $("status");
  el.dataset.state = state;
  el.textContent = { "no wallet": "no wallet", starting: "starting…", running: "running", stopped: "locked" }[state];
  const busy = state === "starting";
  for (const id of ["open", "create", "restore"]) $<HTMLButtonElement>(id).disabled = busy || state === "running";
  $("onboarding").hidden = state === "running";
}

// ---- the network banner -------------------------------------------------------------------------

type Problem = "esplora" | "proxy" | "storage" | "fatal";
const problems = new Map<Problem, string>();

function setProblem(kind: Problem, text: string | null) {
  if (text) problems.set(kind, text);
  else problems.delete(kind);
  const banner = $("network-banner");
  const first = [...problems.entries()][0];
  banner.dataset.problem = first?.[0] ?? "";
  banner.textContent = [...problems.values()].join(" ");
  banner.hidden = problems.size === 0;
}

// Calls that failed for a network reason say so in the banner as well as in #error.
window.addEventListener("ln-error", (ev) => {
  const code = (ev as CustomEvent<string>).detail;
  if (code === "CHAIN_SOURCE_UNAVAILABLE") setProblem("esplora", sentenceFor(code));
  if (code === "PROXY_UNREACHABLE") setProblem("proxy", sentenceFor(code));
});

/** Esplora's tip height, or null when it does not answer: the banner's probe. */
async function esploraTip(): Promise<number | null> {
  try {
    const res = await fetch(`${app.config.esploraUrl}/blocks/tip/height`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) return null;
    const h = Number(await res.text());
    return Number.isFinite(h) ? h : null;
  } catch {
    return null;
  }
}

// ---- refresh ------------------------------------------------------------------------------------

let refreshing: Promise<void> | undefined;
let refreshAgain = false;
let syncing = false;
/** Since when we have channels but no connected peer (the proxy is the likely cause). */
let noPeersSince: number | undefined;

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
app.refresh = refresh;

async function refreshOnce() {
  const n = app.node;
  if (!n) return;
  try {
    const [info, balances, channels, payments, tip] = await Promise.all([
      n.getInfo(),
      n.balances(),
      n.listChannels(),
      n.listPayments(),
      esploraTip(),
    ]);
    if (n !== app.node) return; // locked or replaced meanwhile
    $("node-id").textContent = info.nodeId;
    $("block-height").textContent = tip != null && tip !== info.blockHeight ? `${info.blockHeight} (network: ${tip})` : String(info.blockHeight);
    $("peer-count").textContent = String(info.peers);

    // Sync: ours running, behind Esplora's tip, or up to date; and when it last worked.
    const sync = $("sync-status");
    if (syncing) {
      sync.dataset.state = "syncing";
      sync.textContent = "Syncing…";
    } else if (tip != null && tip > info.blockHeight) {
      sync.dataset.state = "behind";
      sync.textContent = `Catching up: block ${info.blockHeight} of ${tip}`;
    } else if (info.syncedAt == null) {
      sync.dataset.state = "syncing";
      sync.textContent = "First sync…";
    } else {
      sync.dataset.state = "synced";
      sync.textContent = "Up to date";
    }
    const at = $("synced-at");
    at.textContent = info.syncedAt == null ? "not yet" : relative(info.syncedAt);
    if (info.syncedAt != null) at.title = new Date(info.syncedAt * 1000).toLocaleString();

    setProblem(
      "esplora",
      tip == null
        ? `The blockchain server (Esplora, ${app.config.esploraUrl}) is not answering: balances and new blocks may be out of date.`
        : info.syncedAt != null && Date.now() / 1000 - info.syncedAt > STALE_SYNC_SECS
          ? `The wallet has not synced with the blockchain for ${relative(info.syncedAt).replace(" ago", "")}.`
          : null,
    );
    if (info.channels > 0 && info.peers === 0) noPeersSince ??= Date.now();
    else noPeersSince = undefined;
    setProblem(
      "proxy",
      noPeersSince !== undefined && Date.now() - noPeersSince > 15_000
        ? `Not connected to any Lightning node: the WebSocket proxy (${app.config.proxyUrl}) may be down. Payments wait until it is back.`
        : null,
    );
    setProblem("storage", info.degraded ? `The wallet cannot save its state (${info.degraded}): new payments are paused.` : null);
    setProblem("fatal", info.fatalError ? `The wallet stopped after an error: reload the page. (${info.fatalError})` : null);

    const on = balances.onchain;
    const setSat = (id: string, sat: number) => {
      const el = $(id);
      el.dataset.sat = String(sat);
      el.textContent = fmtSat(sat);
    };
    setSat("onchain-balance", on.spendableSat);
    setSat("onchain-confirmed", on.confirmedSat);
    setSat("onchain-unconfirmed", on.unconfirmedSat);
    setSat("claimable-balance", balances.claimable.reduce((sum, c) => sum + c.amountSat, 0));
    const lb = $("lightning-balance");
    lb.dataset.msat = String(balances.lightningMsat);
    lb.textContent = fmtMsat(balances.lightningMsat);

    renderChannels(channels);
    await renderHistory(payments);
  } catch (e) {
    // A node that stops under us rejects with NODE_STOPPED: not worth an alert.
    if ((e as { code?: string })?.code !== "NODE_STOPPED") showError(e);
  }
}

/**
 * A sync now (the node's own runs every 30 s), shown as "Syncing…". `quiet`: a failure goes to
 * the banner only (the sync after unlocking is not the user's action).
 */
async function syncNow(n: Node, { quiet = false } = {}) {
  syncing = true;
  void refresh();
  try {
    await n.sync();
  } catch (e) {
    const code = (e as { code?: string })?.code;
    if (!quiet) throw e;
    if (code === "CHAIN_SOURCE_UNAVAILABLE" || code === "PROXY_UNREACHABLE") window.dispatchEvent(new CustomEvent("ln-error", { detail: code }));
  } finally {
    syncing = false;
  }
  await refresh();
}

// ---- node lifecycle -----------------------------------------------------------------------------

function nodeConfig(passphrase: string, mnemonic?: string, bip39Passphrase?: string) {
  const c = app.config;
  return {
    network: c.network,
    esploraUrl: c.esploraUrl,
    proxyUrl: c.proxyUrl,
    ...(c.lsp && { lsp: c.lsp }),
    ...(c.rgsUrl && { rgsUrl: new URL(c.rgsUrl, location.href).href }),
    storage: { kind: "indexeddb" as const, name: STORAGE_NAME },
    seed: { passphrase, ...(mnemonic && { mnemonic }), ...(bip39Passphrase && { bip39Passphrase }) },
    worker: useWorker,
    logLevel: "warn" as const,
  };
}

async function started(n: Node, { showWords }: { showWords: boolean }) {
  app.node = n;
  window.demo = { node: n };
  setStatus("running");
  input("passphrase").value = "";
  void consumeEvents(n);
  void syncNow(n, { quiet: true });
  if (showWords) {
    $("mnemonic-box").hidden = false;
    $("mnemonic-box").focus();
  } else {
    showWallet();
  }
  await refresh();
}

function showWallet() {
  $("mnemonic-box").hidden = true;
  $("mnemonic").replaceChildren();
  $("wallet").hidden = false;
  $("h-overview").focus();
}

/** Each event refreshes the page; the iterator acknowledges after each body. */
async function consumeEvents(n: Node) {
  try {
    for await (const ev of n.events()) {
      onEvent(ev);
      void refresh();
      if (n !== app.node) break;
    }
  } catch (e) {
    if (n === app.node && (e as { code?: string })?.code !== "NODE_STOPPED") showError(e);
  }
}

function onEvent(ev: LnEvent) {
  onReceiveEvent(ev);
}

function passphrase(): string {
  const p = input("passphrase").value;
  if (!p) throw new InputError("Enter a passphrase: it encrypts the wallet on this device.");
  return p;
}

/** Starts a node with `start`, putting the page back as it was if that fails. */
async function starting(start: () => Promise<Node>, showWords: (n: Node) => boolean) {
  setStatus("starting");
  let n: Node;
  try {
    n = await start();
  } catch (e) {
    setStatus(app.node ? "running" : "no wallet");
    throw e;
  }
  await started(n, { showWords: showWords(n) });
}

function initOnboarding() {
  action("create", async () => {
    const p = passphrase();
    await starting(
      () => LightningNode.create(nodeConfig(p)),
      (n) => {
        const words = n.mnemonic()?.split(/\s+/) ?? [];
        const list = $("mnemonic");
        list.replaceChildren();
        words.forEach((w, i) => {
          const li = document.createElement("li");
          li.textContent = w;
          // Spaces between items: the list's text is the words, separated.
          if (i > 0) list.append(" ");
          list.append(li);
        });
        input("mnemonic-ack").checked = false;
        $<HTMLButtonElement>("mnemonic-done").disabled = true;
        return words.length > 0;
      },
    );
  });

  action("restore", async () => {
    const words = $<HTMLTextAreaElement>("restore-mnemonic").value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    if (![12, 15, 18, 21, 24].includes(words.length)) {
      throw new InputError(`Enter all your recovery words (12 or 24); you entered ${words.length}.`);
    }
    const p = passphrase();
    const bip39 = input("restore-bip39").value;
    await starting(() => LightningNode.create(nodeConfig(p, words.join(" "), bip39 || undefined)), () => false);
    $<HTMLTextAreaElement>("restore-mnemonic").value = "";
    input("restore-bip39").value = "";
  });

  action("open", async () => {
    const p = passphrase();
    await starting(() => LightningNode.open(nodeConfig(p)), () => false);
  });

  // Enter in the passphrase does the first choice (Unlock when a wallet exists, else Create).
  $<HTMLFormElement>("onboarding-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const first = $("open").parentElement!.firstElementChild as HTMLButtonElement;
    if (!first.disabled) first.click();
  });

  input("mnemonic-ack").addEventListener("change", () => {
    $<HTMLButtonElement>("mnemonic-done").disabled = !input("mnemonic-ack").checked;
  });
  $("mnemonic-done").addEventListener("click", () => {
    if (!input("mnemonic-ack").checked) return;
    showWallet();
  });

  action("stop", async () => {
    const n = requireNode();
    app.node = undefined; // no refresh or event handler touches it while it stops
    try {
      await n.stop();
    } catch (e) {
      app.node = n; // its locks stay held when the final write fails: let the user retry
      throw e;
    }
    setStatus("stopped");
    $("wallet").hidden = true;
    $("onboarding").hidden = false;
    input("passphrase").focus();
  });

  action("sync-now", () => syncNow(requireNode()));
}

// ---- regtest tools ------------------------------------------------------------------------------

async function syncAndRefresh() {
  await requireNode().sync();
  await refresh();
}

function initDevTools() {
  action("fund", async () => {
    const address = await requireNode().onchain.newAddress();
    // regtest-esplora's faucet answers CORS like a public Esplora; confirm: mines the block too.
    await postJson(`${app.config.esploraUrl}/regtest/faucet`, { address, amount_sat: 1_000_000, confirm: true });
    await syncAndRefresh();
  });
  const mine = (blocks: number) => async () => {
    await postJson(`${app.config.esploraUrl}/regtest/mine`, { blocks });
    await syncAndRefresh();
  };
  action("mine", mine(1));
  action("mine-6", mine(6));
  action("peer-invoice", async () => {
    const sat = Number(input("peer-invoice-amount").value);
    if (!Number.isSafeInteger(sat) || sat <= 0) throw new InputError("Enter the merchant invoice's amount in sat.");
    const r = await postJson<{ invoice: string }>("/peer/invoice", { amount_msat: sat * 1000, description: "demo purchase" });
    $<HTMLTextAreaElement>("send-input").value = r.invoice;
    $("send-input").focus();
  });
  action("send-all", async () => {
    const address = input("sweep-address").value.trim();
    if (!address) throw new InputError("Enter the address to send everything to.");
    const txid = await requireNode().onchain.sendAll({ address });
    $("onchain-out").textContent = `Sent in transaction ${txid}.`;
    await refresh();
  });
}

// ---- start --------------------------------------------------------------------------------------

/** Whether this browser already holds the demo's wallet (then Unlock is the first choice). */
async function walletExists(): Promise<boolean> {
  try {
    return (await indexedDB.databases()).some((d) => d.name === STORAGE_NAME);
  } catch {
    return false;
  }
}

async function main() {
  initTheme();
  setStatus("no wallet");
  initOnboarding();
  initDevTools();
  initReceive();
  initSend();
  initChannels();
  try {
    const res = await fetch("/config.json");
    if (!res.ok) throw new Error(`/config.json: ${res.status}`);
    app.config = (await res.json()) as DemoConfig;
  } catch (e) {
    for (const id of ["create", "open", "restore"]) $<HTMLButtonElement>(id).disabled = true;
    showError(new InputError(`The page cannot load its network settings (${(e as Error).message}). Start it with pkg-scripts/demo.sh.`));
    return;
  }
  const c = app.config;
  $("network").textContent = `${c.network}${useWorker ? " · node in a Worker" : ""}`;
  if (c.peer) input("peer-uri").value = c.peer.uri;
  else if (c.lsp) input("peer-uri").value = `${c.lsp.nodeId}@${c.lsp.address}`;
  if (c.network === "regtest") {
    $("dev-tools").hidden = false;
    $("peer-pays").hidden = false;
  }
  if (c.merchant?.lightningAddress) {
    $("merchant-address").textContent = c.merchant.lightningAddress;
    $("merchant-address-line").hidden = false;
  }
  const exists = await walletExists();
  $("onboarding-hint").textContent = exists
    ? "This browser holds a wallet: enter its passphrase to unlock it."
    : "No wallet in this browser yet: choose a passphrase and create one, or restore one from its recovery words.";
  // The first choice first, in reading and tab order.
  const buttons = $("open").parentElement!;
  if (exists) buttons.prepend($("open"));
  else buttons.prepend($("create"));
  $("open").classList.toggle("ghost", !exists);
  $("create").classList.toggle("ghost", exists);
  clearError();
  setInterval(() => void refresh(), REFRESH_MS);
}

void main();
