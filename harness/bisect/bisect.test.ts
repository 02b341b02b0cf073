import { describe, expect, it } from 'vitest';
import { command, makeCell } from '../report/fixtures.test-helpers.ts';
import type { Release } from '../buildx/spec.ts';
import { bisect, classify, observationOf, pickNext, renderBisect, versionsBetween, type Observation } from './bisect.ts';

const VERSIONS = ['v0.19.3', 'v0.20.0', 'v0.20.1', 'v0.21.0-rc1', 'v0.21.0-rc2', 'v0.21.0', 'v0.21.1', 'v0.22.0', 'v0.23.0'];
const rel = (versions: string[]): Release[] => versions.map((version) => ({ version, prerelease: version.includes('-') }));
const seen = (behaviour: string): Observation => ({ behaviour, evidence: [`cfg: ${behaviour}`] });
const unbuildable: Observation = { unknown: 'could not be built here', evidence: [] };

/** Bug fixed in `fixedIn`; versions in `broken` cannot be built. Records the probe order. */
function lab(fixedIn: string, broken: string[] = []) {
  const order: string[] = [];
  const observe = async (v: string) => {
    order.push(v);
    if (broken.includes(v)) return unbuildable;
    return seen(VERSIONS.indexOf(v) >= VERSIONS.indexOf(fixedIn) ? 'fixed' : 'reproduced');
  };
  return { order, observe };
}

describe('versionsBetween', () => {
  it('lists known releases inclusive, oldest first, whichever endpoint comes first', () => {
    expect(versionsBetween(rel([...VERSIONS].reverse()), 'v0.21.1', 'v0.20.1')).toEqual(['v0.20.1', 'v0.21.0-rc1', 'v0.21.0-rc2', 'v0.21.0', 'v0.21.1']);
  });
});

describe('bisect', () => {
  it('finds an exact flip when good is the newer endpoint', async () => {
    const { observe, order } = lab('v0.21.0-rc2');
    const r = await bisect(VERSIONS, 'v0.23.0', 'v0.19.3', observe);
    expect([r.lastGood, r.firstBad, r.unknown]).toEqual(['v0.21.0-rc2', 'v0.21.0-rc1', []]);
    expect(r.message).toBe('the flip is exact: v0.21.0-rc1 (bad) is followed directly by v0.21.0-rc2 (good)');
    expect(order.slice(0, 2)).toEqual(['v0.23.0', 'v0.19.3']);
  });

  it('finds the flip when good is the older endpoint', async () => {
    const { observe } = lab('v0.22.0');
    const r = await bisect(VERSIONS, 'v0.20.1', 'v0.23.0', observe);
    expect([r.lastGood, r.firstBad]).toEqual(['v0.21.1', 'v0.22.0']);
    expect(r.message).toContain('v0.21.1 (good) is followed directly by v0.22.0 (bad)');
  });

  it('steps around versions that cannot be built and names them', async () => {
    const { observe } = lab('v0.21.0-rc2', ['v0.21.0-rc1', 'v0.21.0-rc2', 'v0.21.0']);
    const r = await bisect(VERSIONS, 'v0.23.0', 'v0.19.3', observe);
    expect([r.lastGood, r.firstBad, r.unknown]).toEqual(['v0.21.1', 'v0.20.1', ['v0.21.0-rc1', 'v0.21.0-rc2', 'v0.21.0']]);
    expect(r.message).toBe('the flip lies between v0.20.1 (bad) and v0.21.1 (good); v0.21.0-rc1, v0.21.0-rc2, v0.21.0 could not be built here');
    expect(
      r.probes
        .filter((p) => p.class === 'skip')
        .map((p) => p.version)
        .sort(),
    ).toEqual(['v0.21.0', 'v0.21.0-rc1', 'v0.21.0-rc2']);
  });

  it('treats flaky and third behaviours as unknown, saying why', async () => {
    const observe = async (v: string): Promise<Observation> =>
      v === 'v0.22.0' ? { flaky: true, unknown: 'gave disagreeing runs (flaky)', evidence: [] } : seen(v === 'v0.23.0' ? 'fixed' : 'reproduced');
    const r = await bisect(VERSIONS.slice(5), 'v0.23.0', 'v0.21.0', observe);
    expect(r.message).toBe('the flip lies between v0.21.1 (bad) and v0.23.0 (good); v0.22.0 gave disagreeing runs (flaky)');
    expect(classify(seen('other'), 'fixed', 'reproduced')).toEqual({ class: 'skip', note: 'matched neither endpoint' });
  });

  it('refuses endpoints that behave alike or cannot be judged', async () => {
    await expect(bisect(VERSIONS, 'v0.23.0', 'v0.19.3', async () => seen('fixed'))).rejects.toThrow('good and bad show the same behaviour');
    await expect(bisect(VERSIONS, 'v0.23.0', 'v0.19.3', async () => unbuildable)).rejects.toThrow('the good endpoint v0.23.0 could not be built here');
    await expect(bisect(VERSIONS, 'v0.23.0', 'v0.23.0', async () => unbuildable)).rejects.toThrow('same version');
  });

  it('renders every probe with its evidence', async () => {
    const r = await bisect(VERSIONS.slice(6, 8), 'v0.22.0', 'v0.21.1', async (v) => seen(v === 'v0.22.0' ? 'fixed' : 'reproduced'));
    expect(renderBisect(r)).toContain('  v0.22.0       good\n      cfg: fixed\n');
  });
});

describe('pickNext', () => {
  it('prefers a stable release next to the middle over a release candidate on it', () => {
    // (0, 4): middle is index 2, an rc; index 1 and 3 are one step away and stable
    expect(pickNext(['v0.1.0', 'v0.2.0', 'v0.3.0-rc1', 'v0.3.0', 'v0.4.0'], 0, 4, new Set())).toBe(1);
    expect(pickNext(['v0.1.0', 'v0.2.0', 'v0.3.0'], 0, 2, new Set([1]))).toBeUndefined();
  });
});

describe('observationOf', () => {
  const axes = (buildx: string, fault: string) => ({ buildx, engine: '26.1.5', fault });
  it('keys behaviour by configuration and ignores control cells', () => {
    const o = observationOf([
      makeCell({ axes: axes('v0.20.1', 'corrupt'), outcome: 'reproduced', observed: 'reproduced' }),
      makeCell({ axes: axes('v0.20.1', 'none'), outcome: 'error', expected: 'control' }),
    ]);
    expect(o).toEqual({ behaviour: 'engine=26.1.5/fault=corrupt: reproduced', evidence: ['engine=26.1.5/fault=corrupt: reproduced: reproduced'] });
  });
  it('says why a version could not be judged', () => {
    const skipped = makeCell({ axes: axes('v0.21.0', 'corrupt'), outcome: 'skipped', expected: 'fixed', summary: 'no source could provide Buildx v0.21.0' });
    expect(observationOf([skipped]).unknown).toBe('could not be built here');
    const withCause = { ...skipped, error: { kind: 'requirement', message: 'no source could provide Buildx v0.21.0. Tried:\n  - go: 403 Forbidden' } };
    expect(observationOf([withCause]).evidence).toEqual(['engine=26.1.5/fault=corrupt: skipped: no source could provide Buildx v0.21.0 | - go: 403 Forbidden']);
    const error = makeCell({
      axes: axes('v0.21.0', 'corrupt'),
      outcome: 'error',
      expected: 'fixed',
      evidence: { commands: [command(['x'], 1)], journal: [], manifests: {}, facts: [] },
    });
    expect(observationOf([error]).unknown).toBe('hit a lab error');
    expect(observationOf([]).unknown).toContain('ran no cell');
  });
  it('calls disagreeing repeats flaky', () => {
    const run = (observed: string) => makeCell({ axes: axes('v0.21.1', 'corrupt'), outcome: 'fixed', observed });
    expect(observationOf([run('fixed'), run('reproduced')])).toMatchObject({ flaky: true });
  });
});
