// One reader of the node's persisted event queue per node, however many consumers: every
// `events()` loop and the `on()` listeners are fed by this pump. An event is acknowledged
// (`eventHandled`) only once every consumer is done with it: an iterator when it asks for
// the next event, listeners when their callbacks settle. An iterator left early (break,
// return, throw) leaves its current event unacknowledged: it is delivered again, to every
// consumer, the next time events are read (also after a reload). Delivery is at least once.

import type { LnEvent } from "./wasm_ln.js";
import { LnError, toLnError } from "./errors.js";

interface Consumer {
  /** Resolves `true` once handled, `false` if the consumer went away without handling it. */
  deliver(ev: LnEvent): Promise<boolean>;
}

export class EventPump {
  private consumers = new Set<Consumer>();
  private running = false;

  constructor(
    private next: () => Promise<LnEvent>,
    private handled: () => Promise<void>,
  ) {}

  /** An async iterator over events from now on. */
  iterate(): AsyncIterableIterator<LnEvent> {
    type Item = { ev: LnEvent; done(handled: boolean): void };
    // `queued`: delivered by the pump, not yet given out; `current`: given out by `next()`,
    // being handled by the loop body.
    let queued: Item | undefined;
    let current: Item | undefined;
    let waiting: { resolve(r: IteratorResult<LnEvent>): void; reject(e: unknown): void } | undefined;
    let closed = false;
    const take = (): IteratorResult<LnEvent> | undefined => {
      if (!queued) return undefined;
      current = queued;
      queued = undefined;
      return { value: current.ev, done: false };
    };
    const consumer: Consumer & { fail(e: LnError): void; end(): void } = {
      deliver: (ev) =>
        new Promise<boolean>((done) => {
          queued = { ev, done };
          if (waiting) {
            const w = waiting;
            waiting = undefined;
            w.resolve(take()!);
          }
        }),
      fail(e) {
        closed = true;
        waiting?.reject(e);
        waiting = undefined;
      },
      end() {
        closed = true;
        waiting?.resolve({ value: undefined, done: true });
        waiting = undefined;
      },
    };
    this.add(consumer);
    const finish = (): IteratorResult<LnEvent> => {
      if (!closed) {
        closed = true;
        this.remove(consumer);
      }
      current?.done(false);
      queued?.done(false);
      current = queued = undefined;
      consumer.end();
      return { value: undefined, done: true };
    };
    return {
      [Symbol.asyncIterator]() {
        return this;
      },
      next(): Promise<IteratorResult<LnEvent>> {
        // Asking for the next event means the loop body finished with the current one.
        current?.done(true);
        current = undefined;
        if (closed) return Promise.resolve(finish());
        const ready = take();
        if (ready) return Promise.resolve(ready);
        return new Promise((resolve, reject) => {
          waiting = { resolve, reject };
        });
      },
      return: () => Promise.resolve(finish()),
    };
  }

  /** Calls `cb` for each event `filter` accepts, until the returned function is called. */
  listen(filter: (ev: LnEvent) => boolean, cb: (ev: LnEvent) => unknown): () => void {
    const consumer: Consumer = {
      async deliver(ev) {
        if (!filter(ev)) return true;
        try {
          await cb(ev);
        } catch (e) {
          // A listener's own bug must not stall the queue for everyone else.
          console.error("wasm-ln: an event listener threw", e);
        }
        return true;
      },
    };
    this.add(consumer);
    return () => this.remove(consumer);
  }

  private add(c: Consumer): void {
    this.consumers.add(c);
    if (!this.running) void this.run();
  }

  private remove(c: Consumer): void {
    this.consumers.delete(c);
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.consumers.size > 0) {
        const ev = await this.next();
        const takers = [...this.consumers];
        if (takers.length === 0) break; // everyone left while we waited: leave it queued
        const results = await Promise.all(takers.map((c) => c.deliver(ev)));
        if (results.includes(false)) break; // not handled: delivered again next time
        await this.handled();
      }
    } catch (e) {
      // The node stopped (NODE_STOPPED) or broke: no event will come. End every iterator
      // (rejecting it unless this is a stop) and drop every consumer.
      const err = toLnError(e);
      for (const c of this.consumers) {
        const it = c as Partial<{ fail(e: LnError): void; end(): void }>;
        if (err.code === "NODE_STOPPED") it.end?.();
        else it.fail?.(err);
      }
      this.consumers.clear();
      if (err.code !== "NODE_STOPPED") console.error("wasm-ln: reading events failed", err);
    } finally {
      this.running = false;
    }
    // Left because an event went unhandled while others still listen: read it again.
    if (this.consumers.size > 0) void this.run();
  }
}
