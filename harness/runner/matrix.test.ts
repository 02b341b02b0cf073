import { describe, expect, it } from 'vitest';
import { applyFilters, cellName, crossProduct, interleaveByEngine } from './matrix.ts';

describe('matrix', () => {
  it('names cells with sorted keys', () => {
    expect(cellName({ store: 'containerd', buildx: 'v0.21.1', engine: '26.1.5' })).toBe('buildx=v0.21.1/engine=26.1.5/store=containerd');
  });

  it('expands the cross product', () => {
    const cells = crossProduct({ buildx: ['a', 'b'], store: ['containerd', 'classic'], fault: [] });
    expect(cells).toHaveLength(4);
    expect(cells[1]).toEqual({ buildx: 'a', store: 'classic' });
  });

  it('filters axes, and lists what a scenario declares on a bad filter', () => {
    const axes = { buildx: ['0.20.1'], engine: ['26.1'], store: ['containerd', 'classic'] as const };
    expect(applyFilters('s', axes, { store: ['classic'], buildx: ['latest'], engine: ['28.5'] })).toEqual({ buildx: ['latest'], engine: ['28.5'], store: ['classic'] });
    expect(() => applyFilters('s', axes, { store: ['zfs'] })).toThrow(/declares store = containerd, classic/);
    expect(() => applyFilters('s', axes, { store: ['zfs', 'btrfs'] })).toThrow('scenario s: store=zfs,btrfs is not in its matrix; it declares store = containerd, classic');
    expect(() => applyFilters('s', axes, { colour: ['red'] })).toThrow("unknown axis filter 'colour'; axes are buildx, engine, store, driver, command, registry, fault, buildkit");
    // versions take any spec, whether the scenario declares the axis or not
    expect(applyFilters('s', axes, { buildkit: ['v0.20.2'] })).toEqual({ ...axes, buildkit: ['v0.20.2'] });
    // a scenario without the filtered axis is not selected
    expect(applyFilters('s', axes, { driver: ['docker'] })).toBeUndefined();
    // values are checked against the full matrix, so a filter reaches beyond the quick one
    expect(applyFilters('s', { buildx: ['0.20.1'], store: ['containerd'] }, { store: ['classic'] }, axes)).toEqual({ buildx: ['0.20.1'], store: ['classic'] });
  });
});

describe('interleaveByEngine', () => {
  it("alternates engines and keeps each engine's order", () => {
    const c = (engine: string, n: number) => ({ axes: { engine, store: 'containerd', n: String(n) } });
    const out = interleaveByEngine([c('a', 1), c('a', 2), c('a', 3), c('b', 1)]);
    expect(out.map((x) => `${x.axes.engine}${x.axes.n}`)).toEqual(['a1', 'b1', 'a2', 'a3']);
  });
});
