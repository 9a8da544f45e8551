// The messages between the page (worker-client.ts) and the node's Worker (worker.ts).
// Everything in them is structured-clonable plain data.

import type { CoreMethod } from "./backend.js";
import type { SerializedError } from "./errors.js";
import type { NodeConfig } from "./wasm_ln.js";

export type Request =
  | { id: number; op: "start"; kind: "create" | "open"; config: NodeConfig; wasmUrl?: string }
  | { id: number; op: "call"; method: CoreMethod; args: unknown[] };

export type Response = { id: number; ok: unknown } | { id: number; err: SerializedError };

export interface Started {
  nodeId: string;
  mnemonic: string | undefined;
}
