// One reader of the node's persisted event queue per node, however many consumers: every
// `events()` loop and the `on()` listeners are fed by this pump, one event at a time, in order
// (the core shows only its oldest pending event, so consumers cannot each read their own).
// An event is acknowledged by its id (`eventHandled(id)`) only once every consumer is done
// with it: an
// iterator when it asks for the next event, a listener when its callback resolves (a callback
// that throws is retried, with a growing pause, until it succeeds or unsubscribes). An
// iterator closed early (break, return, throw) leaves its current event unacknowledged: it is
// delivered again, to every consumer, the next time events are read (also after a reload).
// Delivery is at least once.

import type { LnEvent } from "./wasm_ln.js";
import { LnError, toLnError } from "./errors.js";

interface Consumer {
  /** Resolves `true` once handled, `false` if the consumer went away without handling it. */
  deliver(ev: LnEvent): Promise<boolean>;
  /** The pump cannot read events now (`err`), or ever again (`err.code === "NODE_STOPPED"`). */
  interrupt(err: LnError): void;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** The pause before retry `n` (1, 2, …) of a failed read or listener: 0.5 s doubling to 30 s. */
const backoff = (n: number) => Math.min(30_000, 500 * 2 ** Math.min(n - 1, 6));

export class EventPump {
  private consumers = new Set<Consumer>();
  private running = false;
  private stopped = false;

  constructor(
    private next: () => Promise<LnEvent>,
    private handled: (id: string) => Promise<void>,
  ) {}

  /**
   * An async iterator over events. It joins the pump on its first `next()`, so one made and
   * never used holds nothing back; one that was used must be run to its end or closed with
   * `return()` (a `for await` loop does both), or the events after its current one wait for it.
   */
  iterate(): AsyncIterableIterator<LnEvent> {
    type Item = { ev: LnEvent; done(handled: boolean): void };
    type Waiter = { resolve(r: IteratorResult<LnEvent>): void; reject(e: unknown): void };
    // `queued`: delivered by the pump, not yet given out; `current`: given out by `next()`,
    // being handled by the loop body. `waiters`: `next()` calls not yet answered, in order.
    let queued: Item | undefined;
    let current: Item | undefined;
    const waiters: Waiter[] = [];
    let joined = false;
    let closed = false;
    let failure: LnError | undefined;
    const give = () => {
      while (queued && waiters.length > 0) {
        current = queued;
        queued = undefined;
        waiters.shift()!.resolve({ value: current.ev, done: false });
      }
    };
    const consumer: Consumer = {
      deliver: (ev) =>
        new Promise<boolean>((done) => {
          queued = { ev, done };
          give();
        }),
      interrupt: (err) => {
        // Either way this iterator is over: a stop ends it, anything else rejects it.
        leave();
        if (err.code !== "NODE_STOPPED") failure = err;
        settleWaiters();
      },
    };
    const settleWaiters = () => {
      for (const w of waiters.splice(0)) {
        if (failure) w.reject(failure);
        else w.resolve({ value: undefined, done: true });
      }
      failure = undefined; // reported once; later calls just see the end
    };
    const leave = () => {
      closed = true;
      this.remove(consumer);
      current?.done(false);
      queued?.done(false);
      current = queued = undefined;
    };
    return {
      [Symbol.asyncIterator]() {
        return this;
      },
      next: (): Promise<IteratorResult<LnEvent>> => {
        // Asking for the next event means the loop body finished with the current one.
        current?.done(true);
        current = undefined;
        if (closed || this.stopped) {
          if (!closed) leave();
          const f = failure;
          failure = undefined;
          return f ? Promise.reject(f) : Promise.resolve({ value: undefined, done: true });
        }
        const answer = new Promise<IteratorResult<LnEvent>>((resolve, reject) => {
          waiters.push({ resolve, reject });
        });
        give();
        if (!joined) {
          joined = true;
          this.add(consumer);
        }
        return answer;
      },
      return: (): Promise<IteratorResult<LnEvent>> => {
        if (!closed) leave();
        failure = undefined;
        settleWaiters();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  /** Calls `cb` for each event `filter` accepts, until the returned function is called. */
  listen(filter: (ev: LnEvent) => boolean, cb: (ev: LnEvent) => unknown): () => void {
    let subscribed = true;
    const consumer: Consumer = {
      async deliver(ev) {
        if (!filter(ev)) return true;
        for (let attempt = 1; ; attempt++) {
          try {
            await cb(ev);
            return true;
          } catch (e) {
            // Not handled: acknowledging it would lose it (a payment never credited).
            console.error(`wasm-ln: an event listener threw on ${ev.type}; retrying`, e);
          }
          await sleep(backoff(attempt));
          if (!subscribed) return false;
        }
      },
      // Listeners outlive read failures: the pump retries and they hear what comes next.
      interrupt() {},
    };
    this.add(consumer);
    return () => {
      subscribed = false;
      this.remove(consumer);
    };
  }

  /** The node stopped: end every consumer, take no more. */
  stop(): void {
    this.stopped = true;
    this.interruptAll(new LnError("NODE_STOPPED", "the node has stopped"));
    this.consumers.clear();
  }

  private add(c: Consumer): void {
    if (this.stopped) return c.interrupt(new LnError("NODE_STOPPED", "the node has stopped"));
    this.consumers.add(c);
    if (!this.running) void this.run();
  }

  private remove(c: Consumer): void {
    this.consumers.delete(c);
  }

  private interruptAll(err: LnError): void {
    for (const c of [...this.consumers]) c.interrupt(err);
  }

  private async run(): Promise<void> {
    this.running = true;
    let failures = 0;
    try {
      while (this.consumers.size > 0 && !this.stopped) {
        try {
          const ev = await this.next();
          const takers = [...this.consumers];
          if (takers.length === 0) break; // everyone left while we waited: leave it queued
          const results = await Promise.all(takers.map((c) => c.deliver(ev)));
          // Not handled by someone: it stays first in the queue and is read again.
          if (results.includes(false)) continue;
          try {
            await this.handled(ev.id);
          } catch (e) {
            // Already acknowledged by someone else using the core directly: it is gone,
            // which is what we wanted. Anything else is a real failure, retried below.
            if (toLnError(e).code !== "UNKNOWN_EVENT") throw e;
          }
          failures = 0;
        } catch (e) {
          const err = toLnError(e);
          if (err.code === "NODE_STOPPED") {
            this.stop();
            break;
          }
          // Storage or a node that broke: iterators hear it, listeners wait for a retry.
          console.error("wasm-ln: reading events failed; retrying", err);
          this.interruptAll(err);
          await sleep(backoff(++failures));
        }
      }
    } finally {
      this.running = false;
    }
  }
}
