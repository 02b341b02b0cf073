import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UsageError } from '../errors.ts';
import { readRunSpec, writeRunSpec, type RunSpec } from './run-spec.ts';
import { shardSlice } from './plan.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tmp = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'spec-'));
  dirs.push(d);
  return d;
};

const spec = (dir: string): RunSpec => ({
  version: 2,
  runId: 'r1',
  createdAt: '2026-11-27T00:00:00Z',
  command: 'run',
  argv: ['run'],
  reportDir: dir,
  dockerHost: 'unix:///run/buildx-lab/docker.sock',
  jobs: 2,
  cells: [
    {
      key: 'smoke > buildx=v0.29.1-debian/engine=26.1.5/store=classic',
      scenario: 'smoke',
      source: { kind: 'scenario', module: 'scenarios/smoke-multiplatform-push.scenario.ts' },
      name: 'buildx=v0.29.1-debian/engine=26.1.5/store=classic',
      axes: { buildx: 'v0.29.1-debian', engine: '26.1.5', store: 'classic' },
      expected: { outcome: 'control', reason: 'r' },
      attempt: 0,
      requires: ['buildx:v0.29.1-debian'],
    },
  ],
  requirements: { 'buildx:v0.29.1-debian': { kind: 'buildx', label: 'v0.29.1-debian', spec: 'debian-sid', version: 'v0.29.1', via: 'alias' } },
});

const gitRequirement = (git: Record<string, unknown>) => ({
  'buildx:v0.20.1-45-gef73c64d2cb1': { kind: 'buildx', label: 'v0.20.1-45-gef73c64d2cb1', spec: 'git:/src/buildx@master', version: 'v0.20.1-45-gef73c64d2cb1', via: 'git', git },
});
const goodGit = { repo: '/src/buildx', rev: 'master', commit: 'ef73c64d2cb103d5a4ba00a08e0c66a7cb4f33dc', label: 'v0.20.1-45-gef73c64d2cb1' };

describe('run spec', () => {
  it('carries a Buildx built from Git by its commit, and refuses a replayed one that is not plainly a local repository and a full hash', () => {
    const dir = tmp();
    const withGit = (git: Record<string, unknown>) => ({ ...spec(dir), cells: [], requirements: gitRequirement(git) }) as unknown as RunSpec;
    expect(readRunSpec(writeRunSpec(withGit(goodGit))).requirements).toEqual(gitRequirement(goodGit));
    for (const bad of [
      { ...goodGit, commit: 'ef73c64' },
      { ...goodGit, repo: 'https://example.com/buildx' },
      { ...goodGit, repo: '/src/../etc' },
      { ...goodGit, rev: '--upload-pack=x' },
      { ...goodGit, tag: 'v1; rm' },
      { ...goodGit, extra: 1 },
    ]) {
      expect(() => readRunSpec(writeRunSpec(withGit(bad))), JSON.stringify(bad)).toThrow(UsageError);
    }
  });

  it('carries a BuildKit built from Git by its label and commit, and refuses a label without its commit or a commit under another name', () => {
    const dir = tmp();
    const bkGit = { repo: '/src/buildkit', rev: 'main', commit: '0a1b2c3d4e5f60718293a4b5c6d7e8f901234567', label: 'v0.17.1-2-g0a1b2c3d4e5f' };
    const withBuildkit = (req: Record<string, unknown>) => ({ ...spec(dir), cells: [], requirements: { 'buildkit:x': { kind: 'buildkit', ...req } } }) as unknown as RunSpec;
    const good = { version: 'v0.17.1-2-g0a1b2c3d4e5f', git: bkGit };
    expect(readRunSpec(writeRunSpec(withBuildkit(good))).requirements['buildkit:x']).toEqual({ kind: 'buildkit', ...good });
    expect(readRunSpec(writeRunSpec(withBuildkit({ version: 'v0.17.1' }))).requirements['buildkit:x']).toEqual({ kind: 'buildkit', version: 'v0.17.1' });
    for (const bad of [
      { version: 'v0.17.1-2-g0a1b2c3d4e5f' },
      { version: 'v0.17.1', git: bkGit },
      { version: 'g0a1b2c3d4e5f', git: bkGit },
      { version: '../../etc', git: { ...bkGit, label: '../../etc' } },
      { version: 'v0.17.1-2-g0a1b2c3d4e5f', git: { ...bkGit, rev: '--upload-pack=x' } },
      { version: 'v0.17.1-2-g0a1b2c3d4e5f', git: { ...bkGit, repo: 'relative/buildkit' } },
    ]) {
      expect(() => readRunSpec(writeRunSpec(withBuildkit(bad))), JSON.stringify(bad)).toThrow(UsageError);
    }
  });

  it('round-trips through its file', () => {
    const dir = tmp();
    expect(readRunSpec(writeRunSpec(spec(dir)))).toEqual(spec(dir));
  });
  it.each([
    [
      'another version',
      (s: Record<string, unknown>) => ({ ...s, version: 3 }),
      /run spec version 3 is not one this lab reads \(1 or 2\); it was written by another version of the lab/,
    ],
    [
      'a case whose trust is not a known word',
      (s: RunSpec) => ({ ...s, cells: [{ ...s.cells[0]!, source: { kind: 'case', dir: '/tmp/c', trust: 'yes' } }] }),
      /cells\.0\.source\.trust/,
    ],
    ['a case without its trust', (s: RunSpec) => ({ ...s, cells: [{ ...s.cells[0]!, source: { kind: 'case', dir: '/tmp/c' } }] }), /cells\.0\.source\.trust/],
    [
      'a hostile outcome',
      (s: RunSpec) => ({ ...s, cells: [{ ...s.cells[0]!, expected: { outcome: '<img src=x onerror=alert(1)>', reason: '' } }] }),
      /cells\.0\.expected\.outcome/,
    ],
    ['a run id that is a path', (s: RunSpec) => ({ ...s, runId: '../../etc' }), /runId/],
    ['an axis value with a shell metacharacter', (s: RunSpec) => ({ ...s, cells: [{ ...s.cells[0]!, axes: { buildx: '$(id)' } }] }), /axis values are versions, names or ranges/],
    ['an unknown requirement', (s: RunSpec) => ({ ...s, cells: [{ ...s.cells[0]!, requires: ['buildx:v9'] }] }), /requires unknown buildx:v9/],
    ['too many jobs', (s: RunSpec) => ({ ...s, jobs: 10_000 }), /jobs/],
  ])('refuses %s, naming the field', (_what, mutate, message) => {
    const dir = tmp();
    const file = path.join(dir, 'run-spec.json');
    writeFileSync(file, JSON.stringify(mutate(spec(dir) as never)));
    expect(() => readRunSpec(file)).toThrow(message);
  });
  it('round-trips a case with its trust and the engine isolation', () => {
    const dir = tmp();
    const s: RunSpec = {
      ...spec(dir),
      isolation: { isolated: true, reason: 'rootless' },
      cells: [{ ...spec(dir).cells[0]!, source: { kind: 'case', dir: '/tmp/c', trust: 'user' } }],
    };
    expect(readRunSpec(writeRunSpec(s))).toEqual(s);
  });
  it('reads a version 1 spec, its cases untrusted whatever it claims (a replay decides their trust again)', () => {
    const dir = tmp();
    const file = path.join(dir, 'run-spec.json');
    const v1 = { ...spec(dir), version: 1, cells: [spec(dir).cells[0], { ...spec(dir).cells[0], key: 'k2', source: { kind: 'case', dir: '/tmp/c', trust: 'project' } }] };
    writeFileSync(file, JSON.stringify(v1));
    const read = readRunSpec(file);
    expect(read.version).toBe(2);
    expect(read.cells.map((c) => c.source)).toEqual([spec(dir).cells[0]!.source, { kind: 'case', dir: '/tmp/c', trust: 'untrusted' }]);
  });
  it.each(['../../../../etc', 'v0.21.1/../../x', '/tmp/x', 'v0.21.1\n', 'latest'])(
    'refuses a Buildx version %j that is not a release tag (it names a cache directory)',
    (version) => {
      const dir = tmp();
      const file = path.join(dir, 'run-spec.json');
      const bad = { ...spec(dir), requirements: { 'buildx:x': { kind: 'buildx', label: 'x', spec: 'x', version, via: 'exact' } } };
      writeFileSync(file, JSON.stringify(bad));
      expect(() => readRunSpec(file)).toThrow(/a Buildx release tag such as v0\.21\.1/);
    },
  );
  it('round-trips the rootless cell engine, and refuses one whose namespace is not a /proc path', () => {
    const dir = tmp();
    const cellEngine = {
      host: 'unix:///var/lib/buildx-lab-rootless/run/docker.sock',
      netns: '/proc/42/ns/net',
      shareDir: '/var/lib/buildx-lab-rootless/share',
      rootUid: 1879048192,
      engineId: 'ID',
    };
    const s: RunSpec = { ...spec(dir), cellEngine };
    expect(readRunSpec(writeRunSpec(s))).toEqual(s);
    const file = path.join(dir, 'run-spec.json');
    writeFileSync(file, JSON.stringify({ ...s, cellEngine: { ...cellEngine, netns: '/etc/passwd' } }));
    expect(() => readRunSpec(file)).toThrow(/netns/);
  });
  it('refuses a file that is not JSON', () => {
    const file = path.join(tmp(), 'run-spec.json');
    writeFileSync(file, '{"version": 1,');
    expect(() => readRunSpec(file)).toThrow(/not a run spec/);
  });
});

describe('shards', () => {
  it('splits cells into contiguous slices that cover every cell once', () => {
    const cells = Array.from({ length: 10 }, (_, i) => i);
    const slices = [1, 2, 3].map((i) => shardSlice(cells, i, 3));
    expect(slices).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9],
    ]);
    expect(() => shardSlice(cells, 4, 3)).toThrow(/1 <= i <= n/);
  });
});
