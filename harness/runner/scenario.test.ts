import { describe, expect, it } from 'vitest';
import { cellId, cellRequirements, defineScenario, expandScenario, expectationFor, type Expectation } from './scenario.ts';

const expectations: Expectation[] = [
  { when: { fault: 'none' }, outcome: 'control', reason: 'no fault: every version boots' },
  { when: { buildx: '<0.21.0-rc2' }, outcome: 'reproduced', reason: 'before the fix' },
  { when: { buildx: '>=0.21.0-rc2' }, outcome: 'fixed', reason: 'from the fix' },
];

const scenario = defineScenario({
  id: 'demo',
  title: 't',
  links: [],
  symptom: 's',
  axes: { buildx: ['0.20.1', '0.21.1'], engine: ['23.0', '26.1'], store: ['containerd', 'classic'], driver: ['docker', 'docker-container'] } as const,
  quick: { buildx: ['0.21.1'], engine: ['26.1'], store: ['containerd'] },
  all: { engine: ['all'] },
  exclude: (a) => (a.driver === 'docker-container' && a.store === 'classic' ? 'not needed' : undefined),
  expectations: [
    { when: { engine: '<24' }, outcome: 'control', reason: 'old engine' },
    { when: { buildx: '<0.21.0' }, outcome: 'reproduced', reason: 'bad' },
    { when: { buildx: '>=0.21.0' }, outcome: 'fixed', reason: 'good' },
  ],
  async observe() { return {}; },
  judge: () => ({ observed: 'fixed', summary: '' }),
});

const expand = (matrix: 'quick' | 'full' | 'all', filters: Record<string, string[]> = {}, repeat = 1) =>
  expandScenario(scenario, { matrix, filters, repeat, source: { kind: 'scenario', module: 'scenarios/demo.scenario.ts' } });

describe('expectations', () => {
  it.each([
    ['v0.21.0-rc1', 'corrupt', 'reproduced'],
    ['v0.20.1', 'corrupt', 'reproduced'],
    ['v0.21.0-rc2', 'corrupt', 'fixed'],
    ['v0.21.0', '404', 'fixed'],
    ['v0.29.1-debian', 'corrupt', 'fixed'],
    ['v0.13.1-debian', 'corrupt', 'reproduced'],
    ['v0.19.3', 'none', 'control'],
  ])('buildx %s with fault %s is expected %s', (buildx, fault, outcome) => {
    expect(expectationFor({ buildx, fault }, expectations)?.outcome).toBe(outcome);
  });
  it('matches engine versions as ranges', () => {
    expect(expectationFor({ buildx: 'v0.20.1', engine: '23.0.6' }, scenario.expectations as Expectation[])?.reason).toBe('old engine');
    expect(expectationFor({ buildx: 'v0.20.1', engine: '26.1.5-debian' }, scenario.expectations as Expectation[])?.reason).toBe('bad');
  });
});

describe('expandScenario', () => {
  it('expands the full matrix: no containerd store before Docker 24, excluded combinations left out', () => {
    const { cells } = expand('full');
    const names = cells.map((c) => c.name);
    expect(names.filter((n) => n.includes('engine=23.0.6')).every((n) => n.includes('store=classic'))).toBe(true);
    expect(names.some((n) => n.includes('driver=docker-container') && n.includes('store=classic'))).toBe(false);
    // per Buildx version: 23.0.6 classic x docker (1), 26.1.5 containerd x 2 drivers + classic x docker (3)
    expect(names).toHaveLength(2 * (1 + 3));
  });
  it('keeps a quick matrix and filters reaching beyond it', () => {
    expect(expand('quick').cells.map((c) => c.name)).toEqual(['buildx=v0.21.1/driver=docker/engine=26.1.5/store=containerd', 'buildx=v0.21.1/driver=docker-container/engine=26.1.5/store=containerd']);
    expect(expand('quick', { engine: ['latest'], driver: ['docker'] }).cells.map((c) => c.axes.engine)).toEqual([expect.stringMatching(/^29\./)]);
  });
  it('names every cell once per attempt, and lists what each needs', () => {
    const { cells, requirements } = expand('quick', {}, 2);
    expect(cells.map((c) => c.key)).toEqual([
      'demo > buildx=v0.21.1/driver=docker/engine=26.1.5/store=containerd #1',
      'demo > buildx=v0.21.1/driver=docker/engine=26.1.5/store=containerd #2',
      'demo > buildx=v0.21.1/driver=docker-container/engine=26.1.5/store=containerd #1',
      'demo > buildx=v0.21.1/driver=docker-container/engine=26.1.5/store=containerd #2',
    ]);
    expect(cells[0]!.requires).toEqual(['image:registry', 'buildx:v0.21.1', 'engine:26.1.5']);
    expect(cells[2]!.requires).toContain('buildkit:v0.17.1');
    expect(Object.keys(requirements).sort()).toEqual(['buildkit:v0.17.1', 'buildx:v0.21.1', 'engine:26.1.5', 'image:registry']);
  });
  it('fails a matrix value no expectation covers, naming the cell', () => {
    const s = { ...scenario, expectations: [{ when: { buildx: '>=0.21.0' }, outcome: 'fixed' as const, reason: 'r' }] };
    expect(() => expandScenario(s, { matrix: 'full', filters: { buildx: ['0.20.1'] }, repeat: 1, source: { kind: 'scenario', module: 'x' } })).toThrow(/no expectation covers buildx=v0\.20\.1/);
  });
  it('gives stable, distinct cell ids', () => {
    expect(cellId('s', 'a', 0)).toMatch(/^c[0-9a-f]{8}$/);
    expect(cellId('s', 'a', 0)).toBe(cellId('s', 'a', 0));
    expect(cellId('s', 'a', 1)).not.toBe(cellId('s', 'a', 0));
  });
  it('asks for a base image or BuildKit when the scenario says so', () => {
    const reqs = cellRequirements({ needsBaseImage: true, needsBuildkit: true }, { driver: 'docker' }, { version: 'v0.21.1', spec: '0.21.1', via: 'exact' }, undefined);
    expect(reqs.map((r) => r.kind + ('id' in r ? `:${r.id}` : ''))).toEqual(['image:registry', 'buildx', 'buildkit', 'image:case-base']);
  });
});
