import { describe, expect, it } from 'vitest';
import { compileOrder, OrderedSlot } from './provision.ts';

describe('OrderedSlot', () => {
  it('runs one compile at a time, the lowest order first among those waiting', async () => {
    const ran: number[] = [];
    let active = 0;
    let maxActive = 0;
    let releaseFirst!: () => void;
    const firstHeld = new Promise<void>((r) => (releaseFirst = r));
    const slot = new OrderedSlot(async (_what, work) => work());
    const job = (order: number, hold?: Promise<void>) =>
      slot.forOrder(order)(`job ${order}`, async () => {
        active++;
        maxActive = Math.max(maxActive, active);
        ran.push(order);
        await hold;
        active--;
      });
    const first = job(5, firstHeld);
    await new Promise((r) => setTimeout(r, 10));
    const rest = [job(9), job(1), job(3)];
    releaseFirst();
    await Promise.all([first, ...rest]);
    expect(ran).toEqual([5, 1, 3, 9]);
    expect(maxActive).toBe(1);
  });

  it('frees the slot when a compile fails', async () => {
    const slot = new OrderedSlot(async (_what, work) => work());
    await expect(
      slot.forOrder(0)('x', async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    await expect(slot.forOrder(1)('y', async () => 'ok')).resolves.toBe('ok');
  });
});

describe('compileOrder', () => {
  it('puts images first, then engines, Buildx and BuildKit, each by version so neighbours share the Go build cache', () => {
    expect(compileOrder(['buildx:v0.22.0', 'buildkit:v0.17.1', 'engine:28.5.2', 'buildx:v0.20.1', 'image:registry', 'engine:26.1.5', 'buildx:v0.29.1-debian'])).toEqual([
      'image:registry',
      'engine:26.1.5',
      'engine:28.5.2',
      'buildx:v0.20.1',
      'buildx:v0.22.0',
      'buildx:v0.29.1-debian',
      'buildkit:v0.17.1',
    ]);
  });
});
