import { describe, expect, it } from 'vitest';
import { OncePerKey } from './once.ts';

describe('OncePerKey', () => {
  it('shares one promise between concurrent callers of a key', async () => {
    const once = new OncePerKey<number>();
    let starts = 0;
    const start = async () => ++starts;
    const [a, b] = await Promise.all([once.get('k', start), once.get('k', start)]);
    expect([a, b, starts]).toEqual([1, 1, 1]);
    expect(await once.get('other', start)).toBe(2);
  });

  it('forgets a failure so the next caller starts again', async () => {
    const once = new OncePerKey<string>();
    await expect(once.get('k', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    // the deletion runs on the rejection's microtask
    await Promise.resolve();
    expect(await once.get('k', async () => 'second')).toBe('second');
  });
});
