// What every section shares: the network config from /config.json, the running node, and a
// way to ask for a refresh after an action.
import type { LightningNode } from "wasm-ln";
import { InputError } from "./errors";

export interface DemoConfig {
  network: "bitcoin" | "testnet" | "signet" | "regtest";
  esploraUrl: string;
  proxyUrl: string;
  /** The test network's LSP: a fresh wallet receives through a JIT channel from it. */
  lsp?: { nodeId: string; address: string };
  /** A node to open channels to (pkg-scripts/demo.sh: the LSP). */
  peer?: { uri: string; nodeId: string };
  /** The test network's merchant; `/peer/*` reaches its control API (regtest tools). */
  merchant?: { uri: string; nodeId: string; lightningAddress?: string };
  rgsUrl?: string;
}

export type Node = LightningNode;

declare global {
  interface Window {
    /** The running node, for the e2e tests and the console. */
    demo?: { node: Node };
  }
}

export const app: { config: DemoConfig; node: Node | undefined; refresh: () => Promise<void> } = {
  config: undefined as unknown as DemoConfig,
  node: undefined,
  refresh: async () => {},
};

export function requireNode(): Node {
  if (!app.node) throw new InputError("Unlock or create a wallet first.");
  return app.node;
}

/** A name for a node id the page knows (the LSP, the merchant), else its start. */
export function peerName(nodeId: string | null | undefined): string {
  if (!nodeId) return "unknown";
  const c = app.config;
  if (c?.lsp?.nodeId === nodeId) return "the LSP";
  if (c?.merchant?.nodeId === nodeId) return "the merchant";
  if (c?.peer?.nodeId === nodeId) return "the test peer";
  return `${nodeId.slice(0, 12)}…`;
}

/** JSON POST to a same-origin or CORS endpoint; the server's `{error}` becomes the message. */
export async function postJson<T>(url: string, body: unknown): Promise<T> {
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

// ---- labels: what the page knows about a payment that the node does not keep ------------------

const LABELS_KEY = "wasm-ln-demo-labels";

/** A description for a payment hash (an LNURL payment's recipient and comment), kept locally. */
export function saveLabel(paymentHash: string, label: string) {
  try {
    const all = JSON.parse(localStorage.getItem(LABELS_KEY) ?? "{}") as Record<string, string>;
    all[paymentHash] = label;
    localStorage.setItem(LABELS_KEY, JSON.stringify(all));
  } catch {
    // only a nicer history lost
  }
}

export function labels(): Record<string, string> {
  try {
    return JSON.parse(localStorage.getItem(LABELS_KEY) ?? "{}") as Record<string, string>;
  } catch {
    return {};
  }
}
