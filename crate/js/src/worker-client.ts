// The page side of `worker: true`: the same Backend as in the page, each call a message to
// the node's dedicated Worker (worker.ts). The Worker dies with the page, and with it the
// node's Web Locks, exactly as an in-page node's would.

import type { Backend, CoreMethod } from "./backend.js";
import { LnError } from "./errors.js";
import type { Request, Response, Started } from "./protocol.js";
import type { NodeConfig } from "./wasm_ln.js";

// `Omit` on each member of the union, not on the union as a whole.
type WithoutId<T> = T extends unknown ? Omit<T, "id"> : never;

type Pending = { resolve(v: unknown): void; reject(e: LnError): void };

export class WorkerBackend implements Backend {
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private failure: LnError | undefined;
  private mnemonic: string | undefined;
  nodeId = "";

  private constructor(private worker: Worker) {
    worker.onmessage = (e: MessageEvent<Response>) => {
      const msg = e.data;
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if ("err" in msg) p.reject(new LnError(msg.err.code, msg.err.message));
      else p.resolve(msg.ok);
    };
    // A worker that fails to load or dies takes every pending call with it: say so.
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.fail(new LnError("INTERNAL", `the node's worker failed: ${e.message || "could not load"}`));
    };
    worker.onmessageerror = () => this.fail(new LnError("INTERNAL", "a message from the node's worker could not be read"));
  }

  static async start(kind: "create" | "open", config: NodeConfig, wasmUrl?: string | URL): Promise<WorkerBackend> {
    // This exact form lets bundlers (Vite, webpack 5) find and emit the worker script.
    const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module", name: "wasm-ln" });
    const backend = new WorkerBackend(worker);
    const url = wasmUrl === undefined ? undefined : new URL(wasmUrl, globalThis.location?.href).href;
    try {
      const started = (await backend.send({ op: "start", kind, config, wasmUrl: url })) as Started;
      backend.nodeId = started.nodeId;
      backend.mnemonic = started.mnemonic;
      return backend;
    } catch (e) {
      worker.terminate(); // nothing runs in it: create/open failed before the node started
      throw e;
    }
  }

  takeMnemonic(): string | undefined {
    const m = this.mnemonic;
    this.mnemonic = undefined;
    return m;
  }

  call(method: CoreMethod, args: unknown[]): Promise<unknown> {
    return this.send({ op: "call", method, args });
  }

  dispose(): void {
    this.worker.terminate();
    this.fail(new LnError("NODE_STOPPED", "the node has stopped"));
  }

  private send(req: WithoutId<Request>): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...req, id } as Request);
    });
  }

  private fail(err: LnError): void {
    this.failure ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
