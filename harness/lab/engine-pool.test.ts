// The pool's scheduling policy over stand-in engines (the real DinD leases are in lab.itg.test.ts).
import { describe, expect, it } from 'vitest';
import { EnginePool, checkLimits, type PooledEngine } from './engine-pool.ts';

class FakeEngine implements PooledEngine {
  running = true;
  stopped = false;
  constructor(readonly name: string) {}
  async stop(): Promise<void> {
    this.stopped = true;
    this.running = false;
  }
  async isRunning(): Promise<boolean> {
    return this.running;
  }
}

function starter(key: string): () => Promise<FakeEngine> {
  let n = 0;
  return async () => new FakeEngine(`${key}#${++n}`);
}

/** Resolves once the promise settles, or 'pending' after the microtasks of a few awaits. */
async function state<T>(p: Promise<T>): Promise<T | 'pending'> {
  const pending = Symbol('pending');
  const r = await Promise.race([p, new Promise<typeof pending>((res) => setTimeout(() => res(pending), 20))]);
  return r === pending ? 'pending' : (r as T);
}

describe('EnginePool', () => {
  it('reuses one engine per key by default: a second lease waits for the first to be released', async () => {
    const pool = new EnginePool<FakeEngine>({ perKey: 1, total: 4 });
    const start = starter('a');
    const first = await pool.lease('a', start);
    expect(first.startMs).toBeGreaterThanOrEqual(0);
    const second = pool.lease('a', start);
    expect(await state(second)).toBe('pending');
    first.release();
    const got = await second;
    expect(got.engine).toBe(first.engine);
    expect(got.startMs).toBe(0);
    expect(pool.size('a')).toBe(1);
    await pool.close();
    expect(first.engine.stopped).toBe(true);
  });

  it('starts a second engine for a key only while all of its engines are leased, up to perKey', async () => {
    const pool = new EnginePool<FakeEngine>({ perKey: 2, total: 4 });
    const start = starter('a');
    const one = await pool.lease('a', start);
    const two = await pool.lease('a', start);
    expect(two.engine).not.toBe(one.engine);
    const three = pool.lease('a', start);
    expect(await state(three)).toBe('pending');
    expect(pool.size('a')).toBe(2);
    two.release();
    expect((await three).engine).toBe(two.engine);
    one.release();
    // An idle engine is preferred over starting another.
    const four = await pool.lease('a', start);
    expect(four.engine).toBe(one.engine);
    expect(pool.size()).toBe(2);
    await pool.close();
  });

  it('stops the least recently used idle engine of another key to stay within the total', async () => {
    const evicted: string[] = [];
    const pool = new EnginePool<FakeEngine>({ perKey: 1, total: 2 }, { evicted: (k) => evicted.push(k) });
    const a = await pool.lease('a', starter('a'));
    a.release();
    const b = await pool.lease('b', starter('b'));
    b.release();
    const c = await pool.lease('c', starter('c'));
    expect(evicted).toEqual(['a']);
    expect(a.engine.stopped).toBe(true);
    expect(b.engine.stopped).toBe(false);
    expect(pool.size()).toBe(2);
    c.release();
    await pool.close();
  });

  it('waits when the total is reached and every other engine is leased, then takes the freed room', async () => {
    const pool = new EnginePool<FakeEngine>({ perKey: 1, total: 2 });
    const a = await pool.lease('a', starter('a'));
    const b = await pool.lease('b', starter('b'));
    const c = pool.lease('c', starter('c'));
    expect(await state(c)).toBe('pending');
    b.release();
    const got = await c;
    expect(got.engine.name).toBe('c#1');
    expect(b.engine.stopped).toBe(true);
    expect(a.engine.stopped).toBe(false);
    a.release();
    got.release();
    await pool.close();
  });

  it('serves waiters in order, and a waiter that cannot be served does not block one that can', async () => {
    const pool = new EnginePool<FakeEngine>({ perKey: 1, total: 3 });
    const a = await pool.lease('a', starter('a'));
    const order: string[] = [];
    const waitsForA = pool.lease('a', starter('a')).then((l) => {
      order.push('a');
      return l;
    });
    const b = await pool.lease('b', starter('b'));
    order.push('b');
    a.release();
    (await waitsForA).release();
    b.release();
    expect(order).toEqual(['b', 'a']);
    await pool.close();
  });

  it('replaces an engine that died between leases, and charges the new start to that lease', async () => {
    const replaced: string[] = [];
    const pool = new EnginePool<FakeEngine>({ perKey: 1, total: 2 }, { replaced: (k) => replaced.push(k) });
    const start = starter('a');
    const first = await pool.lease('a', start);
    first.engine.running = false;
    first.release();
    const second = await pool.lease('a', start);
    expect(replaced).toEqual(['a']);
    expect(second.engine.name).toBe('a#2');
    expect(first.engine.stopped).toBe(true);
    expect(pool.size('a')).toBe(1);
    second.release();
    await pool.close();
  });

  it('drops an engine that failed to start, so the next lease of its key starts a new one', async () => {
    const pool = new EnginePool<FakeEngine>({ perKey: 1, total: 2 });
    let fail = true;
    const start = async () => {
      if (fail) throw new Error('dockerd did not answer');
      return new FakeEngine('ok');
    };
    await expect(pool.lease('a', start)).rejects.toThrow('dockerd did not answer');
    expect(pool.size()).toBe(0);
    fail = false;
    const l = await pool.lease('a', start);
    expect(l.engine.name).toBe('ok');
    l.release();
    await pool.close();
  });

  it('fails waiting leases and refuses new ones once closed, stopping every engine', async () => {
    const pool = new EnginePool<FakeEngine>({ perKey: 1, total: 2 });
    const held = await pool.lease('a', starter('a'));
    const waiting = pool.lease('a', starter('a'));
    await pool.close();
    await expect(waiting).rejects.toThrow('lab is stopped');
    await expect(pool.lease('b', starter('b'))).rejects.toThrow('lab is stopped');
    expect(held.engine.stopped).toBe(true);
  });

  it('a double release does not hand one engine to two cells', async () => {
    const pool = new EnginePool<FakeEngine>({ perKey: 1, total: 2 });
    const start = starter('a');
    const one = await pool.lease('a', start);
    const w1 = pool.lease('a', start);
    const w2 = pool.lease('a', start);
    one.release();
    one.release();
    await w1;
    expect(await state(w2)).toBe('pending');
    await pool.close();
    await expect(w2).rejects.toThrow('lab is stopped');
  });

  it('leases at most `busy` engines at once across keys, and serves the oldest waiter when one is released', async () => {
    const pool = new EnginePool<FakeEngine>({ perKey: 2, total: 6, busy: 2 });
    const a = await pool.lease('a', starter('a'));
    const b = await pool.lease('b', starter('b'));
    const c = pool.lease('c', starter('c'));
    const a2 = pool.lease('a', starter('a'));
    expect(await state(c)).toBe('pending');
    expect(await state(a2)).toBe('pending');
    b.release();
    const gotC = await c;
    expect(gotC.engine.name).toBe('c#1');
    expect(await state(a2)).toBe('pending');
    gotC.release();
    // The key's own engine is busy, so a second one of `a` starts (perKey 2), within the busy limit.
    const gotA2 = await a2;
    expect(gotA2.engine).not.toBe(a.engine);
    expect(pool.size('a')).toBe(2);
    a.release();
    await pool.close();
  });

  it('hands an idle engine to a later waiter before it starts a second engine for an earlier one', async () => {
    const started: string[] = [];
    const start = (key: string) => async () => {
      started.push(key);
      return new FakeEngine(key);
    };
    const pool = new EnginePool<FakeEngine>({ perKey: 2, total: 6, busy: 2 });
    (await pool.lease('b', start('b'))).release();
    const a = await pool.lease('a', start('a'));
    const c = await pool.lease('c', start('c'));
    const wantsA = pool.lease('a', start('a'));
    const wantsB = pool.lease('b', start('b'));
    c.release();
    const gotB = await wantsB;
    expect(gotB.startMs).toBe(0);
    expect(await state(wantsA)).toBe('pending');
    expect(started).toEqual(['b', 'a', 'c']);
    gotB.release();
    // Nothing to reuse for `a` now: its second engine starts.
    expect((await wantsA).engine).not.toBe(a.engine);
    expect(started).toEqual(['b', 'a', 'c', 'a']);
    await pool.close();
  });

  it('starts a first engine for a key before a second one for another key', async () => {
    const pool = new EnginePool<FakeEngine>({ perKey: 2, total: 6, busy: 2 });
    const a = await pool.lease('a', starter('a'));
    const b = await pool.lease('b', starter('b'));
    const wantsA = pool.lease('a', starter('a'));
    const wantsC = pool.lease('c', starter('c'));
    b.release();
    // b is idle, but neither waiter is for b: c's first engine comes before a's second.
    expect((await wantsC).engine.name).toBe('c#1');
    expect(await state(wantsA)).toBe('pending');
    a.release();
    expect((await wantsA).engine).toBe(a.engine);
    await pool.close();
  });

  it("never hands a single-use lease's engine to another cell: it is stopped on release, and the waiter gets a fresh one", async () => {
    const discarded: string[] = [];
    const pool = new EnginePool<FakeEngine>({ perKey: 1, total: 3 }, { discarded: (k) => discarded.push(k) });
    const start = starter('a');
    const untrusted = await pool.lease('a', start, { singleUse: true });
    const next = pool.lease('a', start);
    expect(await state(next)).toBe('pending');
    untrusted.release();
    const got = await next;
    expect(got.engine).not.toBe(untrusted.engine);
    expect(got.engine.name).toBe('a#2');
    expect(untrusted.engine.stopped).toBe(true);
    expect(discarded).toEqual(['a']);
    expect(pool.size('a')).toBe(1);
    got.release();
    await pool.close();
  });

  it('discards an idle engine that a single-use lease reused, and frees its room for another key', async () => {
    const pool = new EnginePool<FakeEngine>({ perKey: 1, total: 2 });
    const trusted = await pool.lease('a', starter('a'));
    trusted.release();
    const untrusted = await pool.lease('a', starter('a'), { singleUse: true });
    expect(untrusted.engine).toBe(trusted.engine);
    untrusted.release();
    expect(pool.size()).toBe(0);
    await Promise.resolve();
    expect(trusted.engine.stopped).toBe(true);
    // Nothing of `a` is left to reuse: its next lease starts a new engine.
    const again = await pool.lease('a', starter('a'));
    expect(again.engine).not.toBe(trusted.engine);
    again.release();
    await pool.close();
  });

  it('discards a single-use engine also when it was replaced mid-lease, and a double release stops it once', async () => {
    const discarded: string[] = [];
    const pool = new EnginePool<FakeEngine>({ perKey: 1, total: 2 }, { discarded: (k) => discarded.push(k) });
    const start = starter('a');
    const first = await pool.lease('a', start);
    first.engine.running = false;
    first.release();
    const untrusted = await pool.lease('a', start, { singleUse: true });
    expect(untrusted.engine.name).toBe('a#2');
    untrusted.release();
    untrusted.release();
    expect(discarded).toEqual(['a']);
    expect(pool.size()).toBe(0);
    await Promise.resolve();
    expect(untrusted.engine.stopped).toBe(true);
    await pool.close();
  });

  it('keeps ordinary leases reusable beside single-use ones', async () => {
    const pool = new EnginePool<FakeEngine>({ perKey: 2, total: 4 });
    const start = starter('a');
    const trusted = await pool.lease('a', start);
    const untrusted = await pool.lease('a', start, { singleUse: true });
    untrusted.release();
    trusted.release();
    const next = await pool.lease('a', start);
    expect(next.engine).toBe(trusted.engine);
    expect(next.startMs).toBe(0);
    expect(pool.size('a')).toBe(1);
    next.release();
    await pool.close();
  });

  it('discards an ordinary lease whose release says so (a cell spoiled its engine), and reuses one that does not', async () => {
    const discarded: string[] = [];
    const pool = new EnginePool<FakeEngine>({ perKey: 1, total: 2 }, { discarded: (k) => discarded.push(k) });
    const start = starter('a');
    const spoiled = await pool.lease('a', start);
    const next = pool.lease('a', start);
    spoiled.release({ discard: true });
    const got = await next;
    expect(got.engine).not.toBe(spoiled.engine);
    expect(spoiled.engine.stopped).toBe(true);
    expect(discarded).toEqual(['a']);
    got.release({ discard: false });
    const again = await pool.lease('a', start);
    expect(again.engine).toBe(got.engine);
    again.release();
    await pool.close();
  });

  it('refuses limits that could deadlock or mean nothing', () => {
    expect(() => checkLimits({ perKey: 0, total: 4 })).toThrow(/engines per key must be a whole number >= 1, not 0/);
    expect(() => checkLimits({ perKey: 1.5, total: 4 })).toThrow(/whole number/);
    expect(() => checkLimits({ perKey: 2, total: 2 })).toThrow(/at most 2 engines at once is too few: it must be a whole number >= 3/);
    expect(() => checkLimits({ perKey: 2, total: 3, busy: 1 })).toThrow(/at most 1 cells at once is too few: it must be a whole number >= 2/);
    expect(checkLimits({ perKey: 2, total: 3 })).toEqual({ perKey: 2, total: 3 });
  });
});
