import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.ts';
import { buildxLabel, cellId, cellRequirements, expandScenario, expectationFor, gitExpectation } from './scenario.ts';
import { defineScenario, type Expectation } from '../scenario/definition.ts';
import { bare } from '../scenario/definition.test-helpers.ts';

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
  async observe() {
    return {};
  },
  judge: () => ({ observed: 'fixed', summary: '' }),
});

const source = { kind: 'scenario', module: 'scenarios/demo.scenario.ts' } as const;
const expand = (matrix: 'quick' | 'full' | 'all', filters: Record<string, string[]> = {}, repeat = 1) => expandScenario(scenario, { matrix, filters, repeat, source });

describe('labels', () => {
  it.each([
    [{ version: 'v0.29.1', spec: 'debian-sid', via: 'alias' }, 'v0.29.1-debian'],
    [{ version: 'v0.29.1', spec: 'latest', via: 'alias' }, 'v0.29.1'],
    [{ version: 'v0.29.1', spec: 'debian-sid', via: 'exact' }, 'v0.29.1'],
    [{ version: 'v0.21.1', spec: '0.21.1', via: 'exact' }, 'v0.21.1'],
  ] as const)('%j is labelled %s', (resolved, label) => {
    expect(buildxLabel(resolved)).toBe(label);
  });
});

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
  it('needs every axis of `when`, and takes a list of values', () => {
    const list: Expectation[] = [
      { when: { driver: ['remote', 'docker-container'], buildkit: '<0.18' }, outcome: 'reproduced', reason: 'old BuildKit' },
      { when: { driver: 'docker' }, outcome: 'control', reason: 'no BuildKit container' },
    ];
    expect(expectationFor({ driver: 'remote', buildkit: 'v0.17.1' }, list)?.reason).toBe('old BuildKit');
    expect(expectationFor({ driver: 'remote', buildkit: 'v0.18.0' }, list)).toBeUndefined();
    expect(expectationFor({ driver: 'remote' }, list)).toBeUndefined();
    expect(expectationFor({ driver: 'docker' }, list)?.reason).toBe('no BuildKit container');
    expect(expectationFor({ driver: 'dockerx' }, list)).toBeUndefined();
    // an axis left undefined holds for no cell (and is not read as a range)
    expect(expectationFor({ buildx: 'v0.20.1' }, [{ when: { buildx: undefined }, outcome: 'fixed', reason: 'r' }])).toBeUndefined();
  });
  it('refuses a version bound that is not a semver range', () => {
    const bad: Expectation[] = [{ when: { engine: 'soon' }, outcome: 'fixed', reason: 'r' }];
    expect(() => expectationFor({ engine: '26.1.5' }, bad)).toThrow(UsageError);
    expect(() => expectationFor({ engine: '26.1.5' }, bad)).toThrow('expectation engine: "soon" is not a semver range');
  });
  it('matches engine versions as ranges', () => {
    expect(expectationFor({ buildx: 'v0.20.1', engine: '23.0.6' }, scenario.expectations as Expectation[])?.reason).toBe('old engine');
    expect(expectationFor({ buildx: 'v0.20.1', engine: '26.1.5-debian' }, scenario.expectations as Expectation[])?.reason).toBe('bad');
  });
});

describe('expandScenario', () => {
  it('expands the full matrix: no containerd store before Docker 24, excluded combinations left out', () => {
    const { cells } = expand('full');
    // per Buildx version: 23.0.6 classic x docker (1), 26.1.5 containerd x 2 drivers + classic x docker (3)
    const perBuildx = (buildx: string, outcome: string) => [
      [`buildx=${buildx}/driver=docker/engine=23.0.6/store=classic`, 'control'],
      [`buildx=${buildx}/driver=docker/engine=26.1.5/store=containerd`, outcome],
      [`buildx=${buildx}/driver=docker-container/engine=26.1.5/store=containerd`, outcome],
      [`buildx=${buildx}/driver=docker/engine=26.1.5/store=classic`, outcome],
    ];
    expect(cells.map((c) => [c.name, c.expected.outcome])).toEqual([...perBuildx('v0.20.1', 'reproduced'), ...perBuildx('v0.21.1', 'fixed')]);
  });
  it('takes the `all` matrix, and keeps the containerd store of a scenario without engines', () => {
    expect(new Set(expand('all', { buildx: ['0.21.1'], store: ['classic'], driver: ['docker'] }).cells.map((c) => c.axes.engine))).toEqual(
      new Set(['23.0.6', '24.0.9', '25.0.8', '26.1.5', '27.5.1', '28.5.2', '29.7.1']),
    );
    const engineless = bare({ buildx: ['0.21.1'], store: ['containerd'] });
    expect(expandScenario(engineless, { matrix: 'full', filters: {}, repeat: 1, source }).cells.map((c) => c.name)).toEqual(['buildx=v0.21.1/store=containerd']);
  });
  it('describes each cell whole', () => {
    const [cell] = expand('quick', { driver: ['docker'] }).cells;
    expect(cell).toEqual({
      key: 'demo > buildx=v0.21.1/driver=docker/engine=26.1.5/store=containerd',
      scenario: 'demo',
      source,
      name: 'buildx=v0.21.1/driver=docker/engine=26.1.5/store=containerd',
      axes: { buildx: 'v0.21.1', engine: '26.1.5', store: 'containerd', driver: 'docker' },
      expected: { outcome: 'fixed', reason: 'good' },
      attempt: 0,
      requires: ['image:registry', 'buildx:v0.21.1', 'engine:26.1.5'],
    });
  });
  it('selects nothing from a scenario without a filtered axis', () => {
    expect(expand('full', { fault: ['corrupt'] })).toEqual({ cells: [], requirements: {} });
  });
  it('resolves release candidates when a filter names one, in its ranges too', () => {
    expect(expand('quick', { buildx: ['0.21.0-rc2'], driver: ['docker'] }).cells.map((c) => c.axes.buildx)).toEqual(['v0.21.0-rc2']);
    expect(expand('quick', { buildx: ['0.21.0-rc2', '>=0.20.1 <0.21.1'], driver: ['docker'] }).cells.map((c) => c.axes.buildx)).toEqual([
      'v0.20.1',
      'v0.21.0-rc1',
      'v0.21.0-rc2',
      'v0.21.0-rc3',
      'v0.21.0',
    ]);
    expect(expand('quick', { buildx: ['>=0.20.1 <0.21.1'], driver: ['docker'] }).cells.map((c) => c.axes.buildx)).toEqual(['v0.20.1', 'v0.21.0']);
  });
  it('checks the values a quick matrix overrides', () => {
    const typo = { ...scenario, quick: { store: ['zfs'] } } as never;
    expect(() => expandScenario(typo, { matrix: 'quick', filters: {}, repeat: 1, source })).toThrow(/demo: store=zfs is not known/);
  });
  it('keeps a quick matrix and filters reaching beyond it', () => {
    expect(expand('quick').cells.map((c) => c.name)).toEqual([
      'buildx=v0.21.1/driver=docker/engine=26.1.5/store=containerd',
      'buildx=v0.21.1/driver=docker-container/engine=26.1.5/store=containerd',
    ]);
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
    expect(() => expandScenario(s, { matrix: 'full', filters: { buildx: ['0.20.1'] }, repeat: 1, source: { kind: 'scenario', module: 'x' } })).toThrow(
      /no expectation covers buildx=v0\.20\.1/,
    );
  });
  it('gives stable, distinct cell ids', () => {
    // the first 8 hex digits of sha256("s>a#0"): the same id in every run and on every machine
    expect(cellId('s', 'a')).toBe('ca25ea18e');
    expect(cellId('s', 'a', 0)).toBe('ca25ea18e');
    expect(cellId('s', 'a', 1)).not.toBe(cellId('s', 'a', 0));
    expect(cellId('s', 'b', 0)).not.toBe(cellId('s', 'a', 0));
    expect(cellId('t', 'a', 0)).not.toBe(cellId('s', 'a', 0));
  });
  it('asks for a base image or BuildKit when the scenario says so', () => {
    const reqs = cellRequirements({ needsBaseImage: true, needsBuildkit: true }, { driver: 'docker' }, { version: 'v0.21.1', spec: '0.21.1', via: 'exact' }, undefined);
    expect(reqs.map((r) => r.kind + ('id' in r ? `:${r.id}` : ''))).toEqual(['image:registry', 'buildx', 'buildkit', 'image:case-base']);
  });
  it("asks for the HTTP/2 proxy's image in a remote cell of a scenario that puts its builder behind it, and only there", () => {
    const kinds = (driver: string) =>
      cellRequirements({ needsGrpcProxy: true }, { driver }, { version: 'v0.36.0', spec: '0.36.0', via: 'exact' }, undefined).map((r) => r.kind + ('id' in r ? `:${r.id}` : ''));
    expect(kinds('remote')).toEqual(['image:registry', 'buildx', 'buildkit', 'image:grpc-proxy']);
    expect(kinds('docker-container')).toEqual(['image:registry', 'buildx', 'buildkit']);
  });
  it('asks for the S3 server, the trace collector and the k3s node when a cell needs them', () => {
    const kinds = (s: Parameters<typeof cellRequirements>[0], driver: string) =>
      cellRequirements(s, { driver }, { version: 'v0.21.1', spec: '0.21.1', via: 'exact' }, undefined).map((r) => r.kind + ('id' in r ? `:${r.id}` : ''));
    expect(kinds({ needsS3: true }, 'docker')).toEqual(['image:registry', 'buildx', 'tool:versitygw']);
    expect(kinds({ needsTraces: true }, 'docker')).toEqual(['image:registry', 'buildx', 'tool:otelcol']);
    expect(kinds({}, 'kubernetes')).toEqual(['image:registry', 'buildx', 'buildkit', 'image:k3s-node']);
  });
  const debianSid = { version: 'v0.29.1', spec: 'debian-sid', via: 'alias' } as const;
  it.each<[string, Readonly<Record<string, string>>, object[]]>([
    ['the docker driver: no BuildKit image', { driver: 'docker' }, []],
    ['no driver axis: no BuildKit image', {}, []],
    ['a docker-container builder: the default BuildKit', { driver: 'docker-container' }, [{ kind: 'buildkit', version: 'v0.17.1' }]],
    ['a remote builder: the default BuildKit', { driver: 'remote' }, [{ kind: 'buildkit', version: 'v0.17.1' }]],
    ['a buildkit axis: that version', { driver: 'docker', buildkit: 'v0.20.2' }, [{ kind: 'buildkit', version: 'v0.20.2' }]],
  ])('%s', (_name, axes, extra) => {
    expect(cellRequirements({}, axes, debianSid, undefined)).toEqual([
      { kind: 'image', id: 'registry' },
      { kind: 'buildx', label: 'v0.29.1-debian', spec: 'debian-sid', version: 'v0.29.1', via: 'alias' },
      ...extra,
    ]);
  });
  describe('the BuildKit of a cell', () => {
    const ofItsDay = { ...scenario, buildkitOfItsDay: true };
    const cellsOf = (s: typeof scenario, filters: Record<string, string[]> = {}) =>
      expandScenario(s, { matrix: 'full', filters: { engine: ['26.1'], store: ['containerd'], ...filters }, repeat: 1, source }).cells;
    it("gives a case's docker-container cells the BuildKit of their Buildx's day, recorded on the cell with why", () => {
      const cells = cellsOf(ofItsDay, { buildx: ['0.20.1', '0.21.1'], driver: ['docker-container'] });
      expect(cells.map((c) => [c.axes.buildx, c.buildkit?.version, c.buildkit?.via])).toEqual([
        ['v0.20.1', 'v0.19.0', 'of-its-day'],
        ['v0.21.1', 'v0.20.0', 'of-its-day'],
      ]);
      expect(cells[0]!.requires).toContain('buildkit:v0.19.0');
      expect(cells[0]!.buildkit!.reason).toMatch(/^of its day: the newest stable BuildKit on 2025-01-22 \(Buildx v0\.20\.1 tagged 2025-01-22\)/);
      // the cell's name is its matrix: a BuildKit derived from the Buildx version is not an axis
      expect(cells[0]!.name).toBe('buildx=v0.20.1/driver=docker-container/engine=26.1.5/store=containerd');
    });
    it('takes a Debian build by its upstream version', () => {
      expect(cellsOf(ofItsDay, { buildx: ['debian-sid'], driver: ['docker-container'] })[0]!.buildkit).toMatchObject({ version: 'v0.25.0', via: 'of-its-day' });
    });
    it('keeps a named BuildKit (the case, or --buildkit) over the day', () => {
      const cells = cellsOf(ofItsDay, { buildx: ['0.20.1'], driver: ['docker-container'], buildkit: ['v0.17.1'] });
      expect(cells.map((c) => c.buildkit)).toEqual([{ version: 'v0.17.1', via: 'named', reason: expect.stringContaining('named') }]);
      expect(cells[0]!.requires).toContain('buildkit:v0.17.1');
    });
    it("keeps a scenario on the lab's default, and gives a docker-driver cell none", () => {
      const cells = cellsOf(scenario, { buildx: ['0.20.1'] });
      expect(cells.map((c) => [c.axes.driver, c.buildkit?.version, c.buildkit?.via])).toEqual([
        ['docker', undefined, undefined],
        ['docker-container', 'v0.17.1', 'lab-default'],
      ]);
    });
  });
  it('builds a source engine by version and installs a Debian engine by its alias', () => {
    const engines = (spec: string) => expand('full', { engine: [spec], driver: ['docker'], store: ['classic'], buildx: ['0.21.1'] }).requirements;
    expect(engines('26.1')['engine:26.1.5']).toEqual({ kind: 'engine-image', label: '26.1.5', spec: '26.1.5' });
    expect(engines('debian-trixie')['engine:26.1.5-debian']).toEqual({ kind: 'engine-image', label: '26.1.5-debian', spec: 'debian-trixie' });
  });
});

describe('Buildx built from Git', () => {
  const commit = 'ef73c64d2cb103d5a4ba00a08e0c66a7cb4f33dc';
  const git = (tag?: string) => ({
    repo: '/src/buildx',
    rev: tag ?? 'master',
    commit,
    label: tag ? `${tag}-0-gef73c64d2cb1` : 'v0.20.1-45-gef73c64d2cb1',
    ...(tag ? { tag } : {}),
  });
  const resolved = (tag?: string) => ({ version: tag ?? 'v0.20.1-45-gef73c64d2cb1', spec: `git:/src/buildx@${tag ?? 'master'}`, via: 'git' as const, git: git(tag) });

  it("a commit on a release tag has that release's expectations; any other commit declares nothing", () => {
    expect(gitExpectation(git('v0.21.0-rc2'), { buildx: 'v0.21.0-rc2-0-gef73c64d2cb1' }, expectations.slice(1))?.outcome).toBe('fixed');
    expect(gitExpectation(git('v0.20.0'), { buildx: 'x' }, expectations.slice(1))?.outcome).toBe('reproduced');
    expect(gitExpectation(git(), { buildx: 'v0.20.1-45-gef73c64d2cb1' }, expectations)).toMatchObject({ undeclared: true, reason: expect.stringContaining('no release tag') });
  });

  it('expands a git spec to cells labelled by its commit, whose requirement carries the commit', () => {
    const spec = 'git:/src/buildx@master';
    const x = expandScenario(scenario, { matrix: 'quick', filters: { buildx: [spec] }, repeat: 1, source, git: new Map([[spec, resolved()]]) });
    expect(new Set(x.cells.map((c) => c.axes.buildx))).toEqual(new Set(['v0.20.1-45-gef73c64d2cb1']));
    expect(x.cells[0]!.expected.undeclared).toBe(true);
    expect(x.requirements['buildx:v0.20.1-45-gef73c64d2cb1']).toMatchObject({ kind: 'buildx', via: 'git', git: { commit } });
    expect(buildxLabel(resolved('v0.21.1'))).toBe('v0.21.1-0-gef73c64d2cb1');
  });

  it('refuses a git spec that was not resolved when the run was planned', () => {
    expect(() => expandScenario(scenario, { matrix: 'quick', filters: { buildx: ['git:/src/buildx@master'] }, repeat: 1, source })).toThrow('was not resolved to a commit');
  });
});

describe('BuildKit built from Git', () => {
  const commit = '0a1b2c3d4e5f60718293a4b5c6d7e8f901234567';
  const resolved = (tag?: string) => ({
    version: tag ?? 'v0.17.1-2-g0a1b2c3d4e5f',
    spec: `git:/src/buildkit@${tag ?? 'main'}`,
    via: 'git' as const,
    git: { repo: '/src/buildkit', rev: tag ?? 'main', commit, label: tag ? `${tag}-0-g0a1b2c3d4e5f` : 'v0.17.1-2-g0a1b2c3d4e5f', ...(tag ? { tag } : {}) },
  });
  const expandWith = (spec: string, r: ReturnType<typeof resolved>, s = scenario) =>
    expandScenario(s, {
      matrix: 'full',
      filters: { buildx: ['0.21.1'], engine: ['26.1'], store: ['containerd'], driver: ['docker-container'], buildkit: [spec] },
      repeat: 1,
      source,
      git: new Map([[spec, r]]),
    });

  it('names the cell by the commit, and its requirement and reason carry the commit', () => {
    const spec = 'git:/src/buildkit@main';
    const x = expandWith(spec, resolved());
    expect(x.cells.map((c) => c.axes.buildkit)).toEqual(['v0.17.1-2-g0a1b2c3d4e5f']);
    expect(x.cells[0]!.requires).toContain('buildkit:v0.17.1-2-g0a1b2c3d4e5f');
    expect(x.cells[0]!.buildkit).toMatchObject({
      version: 'v0.17.1-2-g0a1b2c3d4e5f',
      via: 'named',
      reason: expect.stringContaining(`built from git commit ${commit} of /src/buildkit`),
    });
    expect(x.requirements['buildkit:v0.17.1-2-g0a1b2c3d4e5f']).toEqual({ kind: 'buildkit', version: 'v0.17.1-2-g0a1b2c3d4e5f', git: resolved().git });
  });

  it('matches a commit on a release tag as that release in the expectations', () => {
    // a scenario with a buildkit axis, as a case with buildkit: has
    const pinned = {
      ...scenario,
      axes: { ...scenario.axes, buildkit: ['v0.17.1'] },
      expectations: [
        { when: { buildkit: '<0.17.1' }, outcome: 'fixed' as const, reason: 'old' },
        { when: {}, outcome: 'reproduced' as const, reason: 'else' },
      ],
    } as unknown as typeof scenario;
    expect(expandWith('git:/src/buildkit@v0.17.1', resolved('v0.17.1'), pinned).cells[0]!.expected.outcome).toBe('reproduced');
    expect(expandWith('git:/src/buildkit@v0.16.0', resolved('v0.16.0'), pinned).cells[0]!.expected.outcome).toBe('fixed');
  });

  it('refuses a BuildKit git spec that was not resolved when the run was planned', () => {
    expect(() => expandScenario(scenario, { matrix: 'quick', filters: { buildkit: ['git:/src/buildkit@main'] }, repeat: 1, source })).toThrow('was not resolved to a commit');
  });
});
