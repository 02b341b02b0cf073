import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.ts';
import { alreadyPlanned, configuredGitRepos, gitSpecsOf, shardSlice } from './plan.ts';

const items = Array.from({ length: 10 }, (_, i) => i);

describe('shardSlice', () => {
  it.each([
    [1, 3, [0, 1, 2, 3]],
    [2, 3, [4, 5, 6, 7]],
    [3, 3, [8, 9]],
    [1, 1, items],
    [10, 10, [9]],
  ])('shard %i/%i of ten holds %j', (index, total, want) => {
    expect(shardSlice(items, index, total)).toEqual(want);
  });

  it('leaves the last shards empty when there are fewer items than shards', () => {
    expect([1, 2, 3].map((i) => shardSlice(['a', 'b'], i, 3))).toEqual([['a'], ['b'], []]);
  });

  it('covers every item once, in order, whatever the number of shards', () => {
    for (let total = 1; total <= 12; total++) {
      const shards = Array.from({ length: total }, (_, i) => shardSlice(items, i + 1, total));
      expect(shards.flat()).toEqual(items);
    }
  });

  it.each([
    [0, 3],
    [4, 3],
    [-1, 3],
    [1, 0],
    [1.5, 3],
    [1, 2.5],
    [Number.NaN, 3],
  ])('refuses shard %d/%d', (index, total) => {
    expect(() => shardSlice(items, index, total)).toThrow(UsageError);
    expect(() => shardSlice(items, index, total)).toThrow(`shard ${index}/${total}: give i/n with 1 <= i <= n`);
  });
});

describe('two sources with one name', () => {
  const a = { kind: 'case' as const, dir: '/tmp/x/3070-bake-double-push', trust: 'untrusted' as const };
  const b = { kind: 'case' as const, dir: '/work/main/fixtures/cases/3070-bake-double-push', trust: 'project' as const };
  it('are refused, naming both (one would run as the other)', () => {
    const seen = new Map();
    expect(alreadyPlanned('case-3070-bake-double-push', a, seen)).toBe(false);
    expect(() => alreadyPlanned('case-3070-bake-double-push', b, seen)).toThrow(
      /\/tmp\/x\/3070-bake-double-push and \/work\/main\/fixtures\/cases\/3070-bake-double-push are both named case-3070-bake-double-push/,
    );
  });
  it('the same source twice is planned once', () => {
    const seen = new Map();
    alreadyPlanned('case-x', a, seen);
    expect(alreadyPlanned('case-x', a, seen)).toBe(true);
  });
});

describe('two scenarios with one name', () => {
  it('are refused by their modules, and one module twice is planned once', () => {
    const seen = new Map();
    const smoke = { kind: 'scenario' as const, module: 'scenarios/smoke.scenario.ts' };
    expect(alreadyPlanned('smoke', smoke, seen)).toBe(false);
    expect(alreadyPlanned('smoke', { ...smoke }, seen)).toBe(true);
    expect(() => alreadyPlanned('smoke', { kind: 'scenario', module: '/tmp/x/smoke.scenario.ts' }, seen)).toThrow(
      /^scenarios\/smoke\.scenario\.ts and \/tmp\/x\/smoke\.scenario\.ts are both named smoke/,
    );
  });
});

describe('configuredGitRepos', () => {
  it('lists the Buildx and BuildKit repositories the user configured, and only those', () => {
    expect(configuredGitRepos({})).toEqual([]);
    expect(configuredGitRepos({ buildkitGit: '/src/buildkit' })).toEqual(['/src/buildkit']);
    expect(configuredGitRepos({ buildxGit: '/src/buildx', buildkitGit: '/src/buildkit' })).toEqual(['/src/buildx', '/src/buildkit']);
  });
});

describe('gitSpecsOf', () => {
  const s = {
    axes: { buildx: ['0.21.1', 'git:buildx@a'], buildkit: ['git:buildkit@k'] },
    quick: { buildx: ['git:buildx@b'] },
    all: { buildx: ['git:buildx@c', 'git:buildx@a'] },
  };
  it("gives every git spec of an axis in the scenario's matrices and the command line's filter, once each", () => {
    expect(gitSpecsOf(s, ['git:buildx@f', '0.22.0'])).toEqual(['git:buildx@f', 'git:buildx@a', 'git:buildx@b', 'git:buildx@c']);
    expect(gitSpecsOf(s, [], 'buildkit')).toEqual(['git:buildkit@k']);
    expect(gitSpecsOf({ axes: {} })).toEqual([]);
  });
});
