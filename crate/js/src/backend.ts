// Where the node runs, behind one narrow interface: the wrapper (node.ts) calls the wasm
// class's methods by name, and either this page runs them (InPageBackend) or a Worker does
// (worker-client.ts). Everything above this seam is the same in both modes.

import { LightningNode as WasmNode, type NodeConfig } from "./wasm_ln.js";
import { initWasm } from "./wasm.js";
import { LnError, PANIC_MESSAGE, isPanic, toLnError } from "./errors.js";

/** Set once Rust panicked in this page's (or worker's) wasm instance: nothing calls into it
 *  again (its memory is not to be trusted), every call rejects with `INTERNAL`. */
let poisoned = false;

function checked(e: unknown): LnError {
  if (isPanic(e)) poisoned = true;
  return toLnError(e);
}

function refuseIfPoisoned(): void {
  if (poisoned) throw new LnError("INTERNAL", PANIC_MESSAGE);
}

/** The wasm class's async methods the wrapper uses (crate/src/wasm/node.rs). */
export type CoreMethod =
  | "getInfo" | "sync" | "newAddress" | "onchainBalance" | "onchainSend" | "onchainSendAll"
  | "connect" | "disconnect" | "listPeers" | "openChannel" | "listChannels" | "closeChannel"
  | "balances" | "bolt11Receive" | "bolt11ReceiveQuote" | "bolt11ReceiveViaJitChannel" | "bolt11ReceiveForHash" | "bolt11Settle" | "bolt11Send" | "keysend" | "listPayments" | "payment"
  | "signMessage" | "verifyMessage"
  | "nextEvent" | "eventHandled" | "stop";

export interface Backend {
  readonly nodeId: string;
  /** The generated mnemonic, once (see `LightningNode.mnemonic`). */
  takeMnemonic(): string | undefined;
  call(method: CoreMethod, args: unknown[]): Promise<unknown>;
  /** After a clean stop: free what the mode holds (the wasm object, the Worker). */
  dispose(): void;
}

/** The node in this page or worker. Also what the Worker runs for a `WorkerBackend`. */
export class InPageBackend implements Backend {
  private constructor(private node: WasmNode) {}

  static async start(
    kind: "create" | "open",
    config: NodeConfig,
    wasmUrl?: string | URL,
  ): Promise<InPageBackend> {
    try {
      refuseIfPoisoned();
      await initWasm(wasmUrl);
      const node = kind === "create" ? await WasmNode.create(config) : await WasmNode.open(config);
      return new InPageBackend(node);
    } catch (e) {
      throw checked(e);
    }
  }

  get nodeId(): string {
    return this.node.nodeId;
  }

  takeMnemonic(): string | undefined {
    return this.node.mnemonic();
  }

  async call(method: CoreMethod, args: unknown[]): Promise<unknown> {
    try {
      refuseIfPoisoned();
      const f = this.node[method] as (...a: unknown[]) => Promise<unknown>;
      return await f.apply(this.node, args);
    } catch (e) {
      throw checked(e);
    }
  }

  dispose(): void {
    // The wasm object's locks were released by `stop`; free its memory (not after a panic:
    // no more Rust runs then).
    if (!poisoned) this.node.free();
  }
}
