// Which DinD engine a cell gets. Engines are keyed by (engine, store); a key may have more than one when its
// cells queue (the quick matrix puts most of its cells on one key, so one engine would run them in turn
// while the other job slot idles). The live total is capped: an idle engine of another key is stopped to
// make room, least recently used first. A lease is exclusive: one cell at a time on an engine, and at
// most `busy` engines are leased at once: the run's --jobs, the cells in flight. A lease may be single-use
// (an untrusted case's cell): its engine then leaves the pool when released and is stopped, never reused.
// A release may discard the engine too (a cell that spoiled it, e.g. shrank its disk), decided at its end.
// Pure scheduling over start/stop callbacks, so the policy is unit-tested without Docker (engine-pool.test.ts);
// the lab supplies real DinD containers.
import { HarnessError } from '../errors.ts';

export interface PooledEngine {
  stop(): Promise<void>;
  isRunning(): Promise<boolean>;
}

export interface PoolLimits {
  /** engines one key may have at once; more start only while every one of the key's engines is leased */
  perKey: number;
  /** engines alive at once, across keys (at least perKey + 1, so a full key can still make room elsewhere) */
  total: number;
  /** engines leased at once, across keys: the cells in flight (default: no limit) */
  busy?: number;
}

export interface PoolLease<T> {
  engine: T;
  /** ms spent starting (or replacing) the engine for this lease; 0 when it was reused */
  startMs: number;
  /** gives the engine back; `discard`: it leaves the pool and is stopped, as a single-use lease's would */
  release(opts?: ReleaseOptions): void;
}

export interface ReleaseOptions {
  /** the cell left the engine in a state the next cell must not see (a reset would not undo it) */
  discard?: boolean;
}

export interface LeaseOptions {
  /**
   * The engine is discarded (stopped and removed) when this lease is released, so that no other cell runs
   * on an engine whose state an untrusted case could have changed in ways a reset does not undo.
   */
  singleUse?: boolean;
}

export interface PoolEvents {
  /** an idle engine of `key` is stopped to make room for another key's */
  evicted?(key: string): void;
  /** the engine leased for `key` had died (or was killed) and is replaced by a fresh one */
  replaced?(key: string): void;
  /** a single-use lease of `key` (or a release that discards) was released: its engine is stopped */
  discarded?(key: string): void;
}

interface Slot<T> {
  key: string;
  starting: Promise<T>;
  startMs: number;
  busy: boolean;
  /** its start was charged to a lease already */
  charged: boolean;
  lastUsed: number;
}

interface Waiter<T> {
  key: string;
  start: () => Promise<T>;
  resolve(slot: Slot<T>): void;
  reject(e: Error): void;
}

export function checkLimits(limits: PoolLimits): PoolLimits {
  if (!Number.isInteger(limits.perKey) || limits.perKey < 1) throw new HarnessError(`engines per key must be a whole number >= 1, not ${limits.perKey}`);
  if (!Number.isInteger(limits.total) || limits.total < limits.perKey + 1) {
    throw new HarnessError(`at most ${limits.total} engines at once is too few: it must be a whole number >= ${limits.perKey + 1} (engines per key + 1)`);
  }
  if (limits.busy !== undefined && (!Number.isInteger(limits.busy) || limits.busy < limits.perKey)) {
    throw new HarnessError(`at most ${limits.busy} cells at once is too few: it must be a whole number >= ${limits.perKey} (engines per key)`);
  }
  return limits;
}

export class EnginePool<T extends PooledEngine> {
  private readonly slots: Slot<T>[] = [];
  private readonly waiters: Waiter<T>[] = [];
  private readonly stopping = new Set<Promise<void>>();
  private closed = false;

  constructor(
    private readonly limits: PoolLimits,
    private readonly events: PoolEvents = {},
  ) {
    checkLimits(limits);
  }

  /** Engines alive or starting, for `key` or in all. */
  size(key?: string): number {
    return key === undefined ? this.slots.length : this.slots.filter((s) => s.key === key).length;
  }

  /**
   * Exclusive use of an engine of `key`: an idle one, a new one (started with `start`), or the next released.
   * A single-use lease's engine leaves the pool on release and is stopped.
   */
  async lease(key: string, start: () => Promise<T>, opts: LeaseOptions = {}): Promise<PoolLease<T>> {
    if (this.closed) throw new HarnessError('lab is stopped');
    const slot = await new Promise<Slot<T>>((resolve, reject) => {
      this.waiters.push({ key, start, resolve, reject });
      this.dispatch();
    });
    let released = false;
    const release = (how: ReleaseOptions = {}) => {
      if (released) return;
      released = true;
      if (opts.singleUse || how.discard) {
        // Out of the pool before any waiter is served, so the reuse pass cannot hand it over. (A slot
        // already out, a failed start or a closed pool, is stopped by whoever took it out.)
        if (this.slots.includes(slot)) {
          this.remove(slot);
          this.events.discarded?.(key);
          this.stopLater(slot);
        }
        this.dispatch();
        return;
      }
      slot.busy = false;
      slot.lastUsed = Date.now();
      this.dispatch();
    };
    try {
      let engine = await slot.starting;
      let startMs = slot.charged ? 0 : slot.startMs;
      slot.charged = true;
      if (!(await engine.isRunning())) {
        // The cell that saw it die has its error (and the engine's panic); the next cells get a fresh one.
        this.events.replaced?.(key);
        await engine.stop().catch(() => undefined);
        const t0 = Date.now();
        slot.starting = start();
        engine = await slot.starting;
        startMs = Date.now() - t0;
      }
      return { engine, startMs, release };
    } catch (e) {
      // An engine that did not start leaves the pool: the next lease of its key tries a new one.
      this.remove(slot);
      this.stopLater(slot);
      release();
      throw e;
    }
  }

  /**
   * Hands engines to waiters, in three passes so that a new engine starts only when no waiter can use one
   * that exists: first an idle engine of the waiter's key, then a first engine for a key that has none,
   * then another engine for a key whose engines are all leased. Within a pass, the oldest waiter first.
   */
  private dispatch(): void {
    for (const pass of ['reuse', 'first', 'extra'] as const) {
      for (let i = 0; i < this.waiters.length; ) {
        const w = this.waiters[i]!;
        const slot = this.take(w, pass);
        if (slot) {
          this.waiters.splice(i, 1);
          w.resolve(slot);
        } else {
          i++;
        }
      }
    }
  }

  private take(w: Waiter<T>, pass: 'reuse' | 'first' | 'extra'): Slot<T> | undefined {
    if (this.slots.filter((s) => s.busy).length >= (this.limits.busy ?? Number.POSITIVE_INFINITY)) return undefined;
    const own = this.size(w.key);
    if (pass === 'reuse') {
      const idle = this.slots.find((s) => s.key === w.key && !s.busy);
      if (idle) idle.busy = true;
      return idle;
    }
    if (pass === 'first' ? own > 0 : own === 0 || own >= this.limits.perKey) return undefined;
    if (this.slots.length >= this.limits.total && !this.evictFor(w.key)) return undefined;
    const t0 = Date.now();
    const slot: Slot<T> = { key: w.key, starting: w.start(), startMs: 0, busy: true, charged: false, lastUsed: t0 };
    slot.starting.then(
      () => {
        slot.startMs = Date.now() - t0;
      },
      () => undefined,
    );
    this.slots.push(slot);
    return slot;
  }

  /**
   * Stops the least recently used idle engine of another key to make room. (No waiter wants it: the reuse
   * pass would have handed it over.)
   */
  private evictFor(key: string): boolean {
    const victim = this.slots.filter((s) => !s.busy && s.key !== key).sort((a, b) => a.lastUsed - b.lastUsed)[0];
    if (!victim) return false;
    this.remove(victim);
    this.events.evicted?.(victim.key);
    this.stopLater(victim);
    return true;
  }

  private remove(slot: Slot<T>): void {
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
  }

  private stopLater(slot: Slot<T>): void {
    const p = slot.starting
      .then(
        (e) => e.stop(),
        () => undefined,
      )
      .catch(() => undefined);
    this.stopping.add(p);
    void p.finally(() => this.stopping.delete(p));
  }

  /** Refuses new leases, fails the waiting ones, and stops every engine (started or starting). */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.reject(new HarnessError('lab is stopped'));
    for (const s of this.slots.splice(0)) this.stopLater(s);
    await Promise.allSettled([...this.stopping]);
  }
}
