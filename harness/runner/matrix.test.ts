import { describe, expect, it } from 'vitest';
import { applyFilters, cellName, crossProduct, expectationFor, interleaveByEngine, validateAxes, type Expectation } from './matrix.ts';

const expectations: Expectation[] = [
  { when: { fault: 'none' }, outcome: 'control', reason: 'no fault: every version boots' },
  { when: { buildx: '<0.21.0-rc2' }, outcome: 'reproduced', reason: 'before the fix' },
  { when: { buildx: '>=0.21.0-rc2' }, outcome: 'fixed', reason: 'from the fix' },
];

describe('matrix', () => {
  it('names cells with sorted keys', () => {
    expect(cellName({ store: 'containerd', buildx: 'v0.21.1', engine: '26.1.5' })).toBe('buildx=v0.21.1/engine=26.1.5/store=containerd');
  });

  it('expands the cross product', () => {
    const cells = crossProduct({ buildx: ['a', 'b'], store: ['containerd', 'classic'], fault: [] });
    expect(cells).toHaveLength(4);
    expect(cells[1]).toEqual({ buildx: 'a', store: 'classic' });
  });

  it.each([
    ['v0.21.0-rc1', 'corrupt', 'reproduced'],
    ['v0.20.1', 'corrupt', 'reproduced'],
    ['v0.21.0-rc2', 'corrupt', 'fixed'],
    ['v0.21.0', '404', 'fixed'],
    ['v0.29.1-debian', 'corrupt', 'fixed'],
    ['v0.13.1-debian', 'corrupt', 'reproduced'],
    ['v0.19.3', 'none', 'control'],
  ])('buildx %s with fault %s is expected %s', (buildx, fault, outcome) => {
    expect(expectationFor({ buildx, fault }, expectations, (l) => l.replace(/-debian$/, ''))?.outcome).toBe(outcome);
  });

  it('rejects unknown axes and values, naming what exists', () => {
    expect(() => validateAxes('s', { colour: ['red'] })).toThrow(/unknown axis 'colour'/);
    expect(() => validateAxes('s', { store: ['zfs'] })).toThrow(/store takes containerd, classic/);
    expect(() => validateAxes('s', { fault: ['boom'] }, ['corrupt'])).toThrow(/fault takes corrupt/);
  });

  it('filters axes, and lists what a scenario declares on a bad filter', () => {
    const axes = { buildx: ['0.20.1'], store: ['containerd', 'classic'] as const };
    expect(applyFilters('s', axes, { store: ['classic'], buildx: ['latest'] })).toEqual({ buildx: ['latest'], store: ['classic'] });
    expect(() => applyFilters('s', axes, { store: ['zfs'] })).toThrow(/declares store = containerd, classic/);
    // a scenario without the filtered axis is not selected
    expect(applyFilters('s', axes, { driver: ['docker'] })).toBeUndefined();
    // values are checked against the full matrix, so a filter reaches beyond the quick one
    expect(applyFilters('s', { buildx: ['0.20.1'], store: ['containerd'] }, { store: ['classic'] }, axes)).toEqual({ buildx: ['0.20.1'], store: ['classic'] });
  });
});

describe('interleaveByEngine', () => {
  it('alternates engines and keeps each engine\'s order', () => {
    const c = (engine: string, n: number) => ({ axes: { engine, store: 'containerd', n: String(n) } });
    const out = interleaveByEngine([c('a', 1), c('a', 2), c('a', 3), c('b', 1)]);
    expect(out.map((x) => `${x.axes.engine}${x.axes.n}`)).toEqual(['a1', 'b1', 'a2', 'a3']);
  });
});
