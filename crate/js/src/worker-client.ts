// The page side of `worker: true`: the same Backend as in the page, each call a message to
// the node's dedicated Worker (worker.ts). The Worker dies with the page, and with it the
// node's Web Locks, exactly as an in-page node's would.

import type { Backend, CoreMethod } from "./backend.js";
import { LnError, PANIC_MESSAGE, toLnError } from "./errors.js";
import type { Request, Response, Started } from "./protocol.js";
import type { NodeConfig } from "./wasm_ln.js";

// `Omit` on each member of the union, not on the union as a whole.
type WithoutId<T> = T extends unknown ? Omit<T, "id"> : never;

type Pending = { method: CoreMethod | "start"; resolve(v: unknown): void; reject(e: LnError): void };

/** Calls whose outcome may still happen after the worker died: never say "failed" for them. */
const PAYMENTS: ReadonlySet<string> = new Set<CoreMethod>(["bolt11Send", "keysend"]);

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
    // An uncaught error in the worker (a panic in the wasm aborts its instance) leaves a node
    // that cannot be trusted: end the worker, which also releases its locks, and say so.
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      // A trap (a Rust panic) says the same as the core does after one.
      this.die(/RuntimeError/.test(e.message) ? PANIC_MESSAGE : `the node's worker failed: ${e.message || "it could not load"}`);
    };
    worker.onmessageerror = () => this.die("a message from the node's worker could not be read");
  }

  static async start(kind: "create" | "open", config: NodeConfig, wasmUrl?: string | URL): Promise<WorkerBackend> {
    let worker: Worker | undefined;
    try {
      const url = wasmUrl === undefined ? undefined : new URL(wasmUrl, globalThis.location?.href).href;
      // This exact form lets bundlers (Vite, webpack 5) find and emit the worker script. A
      // module worker must come from the page's origin (browsers refuse a cross-origin one).
      worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module", name: "wasm-ln" });
      const backend = new WorkerBackend(worker);
      const started = (await backend.send({ op: "start", kind, config, wasmUrl: url })) as Started;
      backend.nodeId = started.nodeId;
      backend.mnemonic = started.mnemonic;
      return backend;
    } catch (e) {
      worker?.terminate(); // nothing runs in it: create/open failed before the node started
      throw toLnError(e);
    }
  }

  takeMnemonic(): string | undefined {
    const m = this.mnemonic;
    this.mnemonic = undefined;
    return m;
  }

  call(method: CoreMethod, args: unknown[]): Promise<unknown> {
    // A worker that died cannot stop: it already has, and its locks are gone with it.
    if (this.failure && method === "stop") return Promise.resolve();
    return this.send({ op: "call", method, args });
  }

  dispose(): void {
    this.worker.terminate();
    this.failure ??= new LnError("NODE_STOPPED", "the node has stopped");
    this.rejectAll(() => this.failure!);
  }

  private send(req: WithoutId<Request>): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const method = req.op === "start" ? "start" : req.method;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { method, resolve, reject });
      try {
        this.worker.postMessage({ ...req, id } as Request);
      } catch (e) {
        // Not clonable (a Proxy, a function in the config): nothing was sent.
        this.pending.delete(id);
        reject(new LnError("INVALID_CONFIG", `the arguments cannot be sent to the worker: ${toLnError(e).message}`));
      }
    });
  }

  private die(why: string): void {
    if (this.failure) return;
    this.worker.terminate();
    this.failure = new LnError("INTERNAL", why);
    this.rejectAll((p) =>
      PAYMENTS.has(p.method)
        ? new LnError("PAYMENT_PENDING", `${why}; the payment may still complete: check listPayments() after reopening`)
        : this.failure!,
    );
  }

  private rejectAll(err: (p: Pending) => LnError): void {
    for (const p of this.pending.values()) p.reject(err(p));
    this.pending.clear();
  }
}
