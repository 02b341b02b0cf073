import { describe, expect, it } from 'vitest';
import { HarnessError } from '../errors.ts';
import { compileOrder, OrderedSlot, standsInFromGit } from './provision.ts';

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

describe('standsInFromGit (BUILDX_LAB_BUILDKIT_GIT)', () => {
  const refused = new HarnessError(
    'the Go module proxy refuses github.com/tonistiigi/go-actions-cache@v0.0.0-20250219102945-1a5174abd055, which github.com/moby/buildkit@v0.20.0 pins, and serves no release to stand in for it',
  );
  it('retries a release the module proxy refused, a dependency of it included, from its tag when a repository is configured', () => {
    expect(standsInFromGit(refused, { fromGit: false, configured: '/src/buildkit' })).toBe(true);
    expect(standsInFromGit(new HarnessError('the Go module proxy could not provide github.com/moby/buildkit@v0.20.0'), { fromGit: false, configured: '/src/buildkit' })).toBe(true);
  });
  it('leaves alone a build that is already from Git, no repository configured, and other failures', () => {
    expect(standsInFromGit(refused, { fromGit: true, configured: '/src/buildkit' })).toBe(false);
    expect(standsInFromGit(refused, { fromGit: false, configured: undefined })).toBe(false);
    expect(standsInFromGit(new HarnessError('github.com/moby/buildkit@v0.20.0 does not compile with go1.26.8'), { fromGit: false, configured: '/src/buildkit' })).toBe(false);
    expect(standsInFromGit(new Error('the Go module proxy refuses x'), { fromGit: false, configured: '/src/buildkit' })).toBe(false);
  });
});
