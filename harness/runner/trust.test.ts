// Who vouches for a case (resolved through symlinks and `..`), the gate on engines without isolation, and
// the trust a replayed spec gets: pure apart from the temporary directories.
import { cpSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { labConfig } from '../config.ts';
import { UsageError } from '../errors.ts';
import { shippedCases } from './command.ts';
import { planRun } from './plan.ts';
import type { PlannedCell, RunSpec } from './run-spec.ts';
import {
  FIXTURE_CASES,
  caseSource,
  checkTrust,
  gateCaseGitSpecs,
  gateReplayedGitRequirements,
  gateUntrustedKubernetes,
  rootlessBlocker,
  gateUntrusted,
  isInside,
  retrust,
  trustFact,
  untrustedCases,
} from './trust.ts';

const SHIPPED = '2969-ls-json-duplicates';
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
/** A real temporary directory (realpath: the temp dir may itself be reached through a symlink). */
const tmp = () => {
  const d = realpathSync(mkdtempSync(path.join(tmpdir(), 'trust-')));
  dirs.push(d);
  return d;
};

/** A stand-in project: <tmp>/fixtures/cases/good holding a case.yaml, and <tmp>/outside/evil. */
function layout() {
  const root = tmp();
  const fixtures = path.join(root, 'fixtures', 'cases');
  for (const d of [path.join(fixtures, 'good'), path.join(root, 'outside', 'evil'), path.join(root, 'fixtures', 'cases-evil', 'x')]) {
    mkdirSync(d, { recursive: true });
    writeFileSync(path.join(d, 'case.yaml'), 'title: t\n');
  }
  return { root, fixtures, good: path.join(fixtures, 'good'), evil: path.join(root, 'outside', 'evil') };
}

describe('caseSource', () => {
  it('trusts a shipped case of this checkout, by its real path', () => {
    expect(caseSource(path.join(FIXTURE_CASES, SHIPPED), { trust: false })).toEqual({ kind: 'case', dir: realpathSync(path.join(FIXTURE_CASES, SHIPPED)), trust: 'project' });
  });

  it('trusts a shipped case reached through `..` and through a symlink from elsewhere', () => {
    const shipped = realpathSync(path.join(FIXTURE_CASES, SHIPPED));
    expect(caseSource(path.join(FIXTURE_CASES, '..', 'cases', '.', SHIPPED), { trust: false }).trust).toBe('project');
    expect(caseSource(`${tmpdir()}/../${path.relative('/', shipped)}`, { trust: false }).trust).toBe('project');
    const link = path.join(tmp(), 'link');
    symlinkSync(shipped, link);
    expect(caseSource(link, { trust: false })).toEqual({ kind: 'case', dir: shipped, trust: 'project' });
  });

  it('does not trust a copy of a shipped case elsewhere, unless the user says --trust', () => {
    const copy = path.join(tmp(), SHIPPED);
    cpSync(path.join(FIXTURE_CASES, SHIPPED), copy, { recursive: true });
    expect(caseSource(copy, { trust: false })).toEqual({ kind: 'case', dir: copy, trust: 'untrusted' });
    expect(caseSource(copy, { trust: true })).toEqual({ kind: 'case', dir: copy, trust: 'user' });
  });

  it.each([
    [
      'a symlink inside the fixtures pointing outside',
      (l: ReturnType<typeof layout>) => {
        symlinkSync(l.evil, path.join(l.fixtures, 'sneaky'));
        return path.join(l.fixtures, 'sneaky');
      },
    ],
    ['a `..` path that starts in the fixtures and leaves them', (l: ReturnType<typeof layout>) => path.join(l.fixtures, 'good', '..', '..', '..', 'outside', 'evil')],
    ['a sibling whose name starts like the fixtures', (l: ReturnType<typeof layout>) => path.join(l.root, 'fixtures', 'cases-evil', 'x')],
    ['the fixtures directory itself', (l: ReturnType<typeof layout>) => l.fixtures],
    [
      'a directory linked to from inside the fixtures, by its own path',
      (l: ReturnType<typeof layout>) => {
        symlinkSync(l.evil, path.join(l.fixtures, 'sneaky'));
        return l.evil;
      },
    ],
  ])('does not trust %s', (_what, where) => {
    const l = layout();
    expect(caseSource(where(l), { trust: false, fixtures: l.fixtures }).trust).toBe('untrusted');
  });

  it('trusts a case of the fixtures reached through a symlink to the fixtures, and a checkout reached through a link', () => {
    const l = layout();
    const linkToFixtures = path.join(tmp(), 'f');
    symlinkSync(l.fixtures, linkToFixtures);
    expect(caseSource(path.join(linkToFixtures, 'good'), { trust: false, fixtures: l.fixtures })).toEqual({ kind: 'case', dir: l.good, trust: 'project' });
    const linkToCheckout = path.join(tmp(), 'c');
    symlinkSync(l.root, linkToCheckout);
    expect(caseSource(l.good, { trust: false, fixtures: path.join(linkToCheckout, 'fixtures', 'cases') }).trust).toBe('project');
  });

  it('refuses a path that is not a directory, naming it', () => {
    const l = layout();
    expect(() => caseSource(path.join(l.root, 'nope'), { trust: true })).toThrow(UsageError);
    expect(() => caseSource(path.join(l.root, 'nope'), { trust: true })).toThrow(/case directory .*nope: no such directory/);
    expect(() => caseSource(path.join(l.good, 'case.yaml'), { trust: true })).toThrow(/is not a directory/);
  });
});

describe('isInside', () => {
  it.each([
    ['/p/fixtures/cases', '/p/fixtures/cases/a', true],
    ['/p/fixtures/cases', '/p/fixtures/cases/a/b', true],
    ['/p/fixtures/cases', '/p/fixtures/cases/..a', true],
    ['/p/fixtures/cases', '/p/fixtures/cases', false],
    ['/p/fixtures/cases', '/p/fixtures/cases-evil/a', false],
    ['/p/fixtures/cases', '/p/fixtures', false],
    ['/p/fixtures/cases', '/tmp/a', false],
  ])('%s holds %s: %s', (root, real, inside) => {
    expect(isInside(root, real)).toBe(inside);
  });
});

const planned = (source: PlannedCell['source'], key = 'k'): PlannedCell => ({
  key,
  scenario: 's',
  source,
  name: 'buildx=v0.21.1',
  axes: { buildx: 'v0.21.1' },
  expected: { outcome: 'reproduced', reason: 'r' },
  attempt: 0,
  requires: [],
});

describe('retrust', () => {
  it("decides a replayed spec's trust again, whatever the spec claims", () => {
    const l = layout();
    const spec = {
      cells: [
        planned({ kind: 'case', dir: l.evil, trust: 'project' }),
        planned({ kind: 'case', dir: l.good, trust: 'untrusted' }),
        planned({ kind: 'scenario', module: 'scenarios/x.scenario.ts' }),
      ],
    } as RunSpec;
    expect(retrust(spec, { trust: false, fixtures: l.fixtures }).cells.map((c) => c.source)).toEqual([
      { kind: 'case', dir: l.evil, trust: 'untrusted' },
      { kind: 'case', dir: l.good, trust: 'project' },
      { kind: 'scenario', module: 'scenarios/x.scenario.ts' },
    ]);
    expect(retrust(spec, { trust: true, fixtures: l.fixtures }).cells[0]!.source).toEqual({ kind: 'case', dir: l.evil, trust: 'user' });
  });
});

describe('gateUntrusted', () => {
  const rootful = { isolated: false, reason: 'rootful engine (docker info lists no name=rootless): root in a privileged container is root on the host' };

  it('lets every run through that has no untrusted case, whatever the engine', () => {
    expect(() => gateUntrusted([], rootful, 'unix:///s')).not.toThrow();
    expect(() => gateUntrusted([], undefined, 'unix:///s')).not.toThrow();
  });

  it('lets untrusted cases run on an isolated engine', () => {
    expect(() => gateUntrusted(['/tmp/c'], { isolated: true, reason: 'rootless' }, 'unix:///s')).not.toThrow();
  });

  it('refuses untrusted cases on an engine without isolation, as bad input (exit 2), saying why and the fix', () => {
    let err: unknown;
    try {
      gateUntrusted(['/tmp/b', '/tmp/a'], rootful, 'unix:///run/buildx-lab/docker.sock');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    const m = (err as Error).message;
    expect(m).toMatch(/^refusing to run the untrusted cases \/tmp\/b, \/tmp\/a: it is not in this checkout's fixtures\/cases/);
    expect(m).toContain('unix:///run/buildx-lab/docker.sock');
    expect(m).toContain(rootful.reason);
    expect(m).toMatch(/privileged container inside its DinD engine, and the DinD engine runs privileged on this engine, so root in the case would be root on this host/);
    expect(m).toMatch(/Fix: let the lab run it on its own rootless engine \(it starts one when run as root, unless BUILDX_LAB_ROOTLESS=0\), or read the case .* and pass --trust/);
  });

  it("shows the control and bidi characters of a case directory's name instead of passing them to the terminal", () => {
    expect(() => gateUntrusted(['/tmp/\u001b[2Jx\u202ey'], undefined, 'h')).toThrow('untrusted case /tmp/\\u001b[2Jx\\u202ey: ');
  });

  it('refuses when the engine could not say', () => {
    expect(() => gateUntrusted(['/tmp/c'], undefined, 'h')).toThrow(/refusing to run the untrusted case \/tmp\/c: .*its docker info could not be read/);
  });
});

describe('untrustedCases and trustFact', () => {
  it('lists each untrusted case directory once, sorted', () => {
    const cells = [
      planned({ kind: 'case', dir: '/b', trust: 'untrusted' }),
      planned({ kind: 'case', dir: '/a', trust: 'untrusted' }),
      planned({ kind: 'case', dir: '/b', trust: 'untrusted' }, 'k2'),
      planned({ kind: 'case', dir: '/c', trust: 'user' }),
      planned({ kind: 'case', dir: '/d', trust: 'project' }),
      planned({ kind: 'scenario', module: 'm' }),
    ];
    expect(untrustedCases({ cells })).toEqual(['/a', '/b']);
  });

  it("says each case cell's trust in its evidence, and nothing for a scenario", () => {
    expect(trustFact(planned({ kind: 'case', dir: '/d', trust: 'project' }), undefined)).toBe("case trust: trusted (in this checkout's fixtures/cases)");
    expect(trustFact(planned({ kind: 'case', dir: '/d', trust: 'user' }), undefined)).toMatch(/^case trust: trusted by the user \(--trust\)/);
    expect(trustFact(planned({ kind: 'case', dir: '/d', trust: 'untrusted' }), { isolated: true, reason: 'rootless engine' })).toBe(
      "case trust: untrusted (from outside this checkout's fixtures/cases); engine isolation: isolated (rootless engine); its DinD engine is discarded after this cell",
    );
    expect(trustFact(planned({ kind: 'scenario', module: 'm' }), undefined)).toBeUndefined();
  });
});

describe('checkTrust', () => {
  // A socket where no engine answers: the real docker CLI fails to reach it.
  const nowhere = () => `unix://${path.join(tmp(), 'no-engine.sock')}`;
  const noRootless = () => Promise.reject(new Error('not here'));

  it('asks no engine anything for a run of shipped cases and scenarios (make test and make lab are unchanged)', async () => {
    const cells = [planned(caseSource(path.join(FIXTURE_CASES, SHIPPED), { trust: false })), planned({ kind: 'scenario', module: 'm' })];
    await expect(checkTrust(labConfig(), { cells }, nowhere(), noRootless)).resolves.toEqual({});
  });

  it('refuses an untrusted case, exit 2, when the engine cannot say it is isolated', async () => {
    const copy = path.join(tmp(), SHIPPED);
    cpSync(path.join(FIXTURE_CASES, SHIPPED), copy, { recursive: true });
    const host = nowhere();
    const run = checkTrust(labConfig(), { cells: [planned(caseSource(copy, { trust: false }))] }, host, noRootless);
    await expect(run).rejects.toThrow(UsageError);
    await expect(run).rejects.toThrow(
      new RegExp(`refusing to run the untrusted case ${copy}: .*${host}.*docker info failed.*the lab's rootless engine could not be had: not here`),
    );
  });

  it('says why this process cannot start the rootless engine, before anything is installed', () => {
    expect(rootlessBlocker({ rootless: true }, 0)).toBeUndefined();
    expect(rootlessBlocker({ rootless: false }, 0)).toBe('BUILDX_LAB_ROOTLESS=0 says not to start it');
    expect(rootlessBlocker({ rootless: true }, 1000)).toMatch(/set up by root .* this is uid 1000/);
  });

  it('places an untrusted case on the lab rootless engine when the engine is not isolated', async () => {
    const copy = path.join(tmp(), SHIPPED);
    cpSync(path.join(FIXTURE_CASES, SHIPPED), copy, { recursive: true });
    const cellEngine = { host: 'unix:///x/docker.sock', netns: '/proc/1/ns/net', shareDir: '/x/share', rootUid: 1879048192, engineId: 'ID' };
    const placed = await checkTrust(labConfig(), { cells: [planned(caseSource(copy, { trust: false }))] }, nowhere(), async () => cellEngine);
    expect(placed.cellEngine).toEqual(cellEngine);
    expect(placed.isolation).toEqual({ isolated: true, reason: expect.stringMatching(/the lab's rootless engine \(unix:\/\/\/x\/docker.sock\).*uid 1879048192/) });
  });

  it('refuses, naming both reasons, when the lab rootless engine cannot be had either', async () => {
    const copy = path.join(tmp(), SHIPPED);
    cpSync(path.join(FIXTURE_CASES, SHIPPED), copy, { recursive: true });
    const run = checkTrust(labConfig(), { cells: [planned(caseSource(copy, { trust: false }))] }, nowhere(), async () => {
      throw new Error('this is uid 1000');
    });
    await expect(run).rejects.toThrow(UsageError);
    await expect(run).rejects.toThrow(/docker info failed.*; and the lab's rootless engine could not be had: this is uid 1000/s);
  });

  it('lets a case the user trusts through without asking the engine', async () => {
    const copy = path.join(tmp(), SHIPPED);
    cpSync(path.join(FIXTURE_CASES, SHIPPED), copy, { recursive: true });
    await expect(checkTrust(labConfig(), { cells: [planned(caseSource(copy, { trust: true }))] }, nowhere(), noRootless)).resolves.toEqual({});
  });
});

describe('gateReplayedGitRequirements (a replayed run-spec.json)', () => {
  const commit = 'a'.repeat(40);
  const spec = (trust: 'untrusted' | 'user', repo: string) =>
    ({
      cells: [{ source: { kind: 'case', dir: '/tmp/their-case', trust }, requires: ['buildkit:g0123456789ab', 'image:registry'] }],
      requirements: {
        'buildkit:g0123456789ab': { kind: 'buildkit', version: 'g0123456789ab', git: { repo, rev: 'main', commit, label: 'g0123456789ab' } },
        'image:registry': { kind: 'image', id: 'registry' },
      },
    }) as unknown as Pick<RunSpec, 'cells' | 'requirements'>;

  it("refuses an untrusted cell whose BuildKit or Buildx is built from a repository the user did not name (the spec's word is not taken)", () => {
    expect(() => gateReplayedGitRequirements(spec('untrusted', '/home/alice/src/private-buildkit'), [])).toThrow(
      /refusing the untrusted case \/tmp\/their-case: it builds from git:\/home\/alice\/src\/private-buildkit@a{40}/,
    );
  });

  it('lets through a repository the user configured, and cells the user trusts', () => {
    expect(() => gateReplayedGitRequirements(spec('untrusted', '/src/buildkit'), ['/src/buildkit'])).not.toThrow();
    expect(() => gateReplayedGitRequirements(spec('user', '/home/alice/src/private-buildkit'), [])).not.toThrow();
  });
});

describe('gateCaseGitSpecs', () => {
  const untrusted = { kind: 'case' as const, dir: '/home/x/cases/evil', trust: 'untrusted' as const };
  const own = ['git:/home/me/.ssh@main', 'git:/src/buildkit@v0.17.1'];

  it("refuses an untrusted case building from a repository of this host's the user did not name, naming it and the fix", () => {
    expect(() => gateCaseGitSpecs(untrusted, own, [], [])).toThrow(UsageError);
    expect(() => gateCaseGitSpecs(untrusted, own, [], [])).toThrow(
      /refusing the untrusted case \/home\/x\/cases\/evil: it builds from git:\/home\/me\/\.ssh@main, git:\/src\/buildkit@v0\.17\.1, a repository on this host that you did not name.*Fix: name the repository yourself \(--buildx\/--buildkit git:<repo>@<rev>, BUILDX_LAB_BUILDX_GIT or BUILDX_LAB_BUILDKIT_GIT\), or read the case and pass --trust/,
    );
  });

  it('refuses a file:// URL of an unnamed repository as its path, and lets through only what the user named', () => {
    expect(() => gateCaseGitSpecs(untrusted, ['git:file:///home/me/private@main'], ['git:/home/me/other@main'], [])).toThrow('git:file:///home/me/private@main');
    // named on the command line (any revision of it), or configured
    expect(() => gateCaseGitSpecs(untrusted, ['git:file:///src/buildkit@main'], ['git:/src/buildkit@v0.17.1'], [])).not.toThrow();
    expect(() => gateCaseGitSpecs(untrusted, own, [], ['/home/me/.ssh', '/src/buildkit'])).not.toThrow();
  });

  it("leaves trusted cases, the project's and --trust ones, and scenarios alone", () => {
    expect(() => gateCaseGitSpecs({ ...untrusted, trust: 'user' }, own, [], [])).not.toThrow();
    expect(() => gateCaseGitSpecs({ ...untrusted, trust: 'project' }, own, [], [])).not.toThrow();
    expect(() => gateCaseGitSpecs({ kind: 'scenario', module: 'x' }, own, [], [])).not.toThrow();
  });

  it('is applied by planRun before anything is fetched: an untrusted case naming a host repository is refused, the resolver never asked', async () => {
    const dir = path.join(tmp(), 'evil');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'case.yaml'), 'title: t\nsteps: [{buildx: [ls]}]\nsymptom: {exitCode: zero}\ndriver: docker-container\nbuildkit: ["git:/root/private@main"]\n');
    const asked: string[] = [];
    const plan = (filters: Record<string, string[]>, gitRepos: string[] = []) =>
      planRun(
        {
          command: 'repro',
          argv: ['repro'],
          sources: [caseSource(dir, { trust: false })],
          matrix: 'full',
          filters,
          repeat: 1,
          jobs: 1,
          reportDir: '/nonexistent',
          runId: 'r1',
          dockerHost: 'unix:///nowhere',
          gitRepos,
        },
        async (spec) => {
          asked.push(spec);
          throw new UsageError('resolved');
        },
      );
    await expect(plan({})).rejects.toThrow(/refusing the untrusted case .*git:\/root\/private@main/);
    expect(asked).toEqual([]);
    // configured by the user: resolved (here the stand-in resolver says so)
    await expect(plan({}, ['/root/private'])).rejects.toThrow('resolved');
    expect(asked).toEqual(['git:/root/private@main']);
  });

  it('shows control characters in a case directory as escapes', () => {
    expect(() => gateCaseGitSpecs({ ...untrusted, dir: '/tmp/a\u001b[2Jb' }, own, [], [])).toThrow('/tmp/a\\u001b[2Jb');
  });
});

describe('the shipped cases (make test, make lab)', () => {
  it('are all trusted by the project, so no run of them is gated', () => {
    const cases = shippedCases();
    expect(cases.length).toBeGreaterThan(10);
    expect(cases.filter((c) => c.kind !== 'case' || c.trust !== 'project')).toEqual([]);
  });

  it('plan into cells that carry the trust, with no untrusted case to check', async () => {
    const spec = await planRun({
      command: 'repro',
      argv: ['repro'],
      sources: [caseSource(path.join(FIXTURE_CASES, SHIPPED), { trust: false })],
      matrix: 'full',
      filters: {},
      repeat: 1,
      jobs: 1,
      reportDir: '/nonexistent',
      runId: 'r1',
      dockerHost: 'unix:///nowhere',
    });
    expect(spec.cells.length).toBeGreaterThan(0);
    expect(new Set(spec.cells.map((c) => JSON.stringify(c.source)))).toEqual(
      new Set([JSON.stringify({ kind: 'case', dir: realpathSync(path.join(FIXTURE_CASES, SHIPPED)), trust: 'project' })]),
    );
    expect(untrustedCases(spec)).toEqual([]);
  });
});

describe("the project's case root", () => {
  it('vouches for nothing when fixtures/cases is itself a link (it could point at a world-writable directory)', () => {
    const l = layout();
    const elsewhere = mkdtempSync(path.join(tmpdir(), 'bxl-linked-cases-'));
    mkdirSync(path.join(elsewhere, 'evil'));
    writeFileSync(path.join(elsewhere, 'evil', 'case.yaml'), 'title: t\n');
    const linked = path.join(l.root, 'fixtures', 'linked');
    symlinkSync(elsewhere, linked);
    expect(caseSource(path.join(linked, 'evil'), { trust: false, fixtures: linked }).trust).toBe('untrusted');
    expect(caseSource(l.good, { trust: false, fixtures: l.fixtures }).trust).toBe('project');
    rmSync(elsewhere, { recursive: true, force: true });
  });
});

describe('gateUntrustedKubernetes (a kubernetes builder needs a privileged k3s node)', () => {
  const spec = (trust: 'untrusted' | 'user' | 'project', requires: string[]) =>
    ({ cells: [{ source: { kind: 'case', dir: '/tmp/their-case', trust }, requires }] }) as unknown as Pick<RunSpec, 'cells'>;

  it('refuses an untrusted case whose cells need the k3s node, naming --trust (exit 2, before anything is provisioned)', () => {
    let thrown: unknown;
    try {
      gateUntrustedKubernetes(spec('untrusted', ['image:registry', 'image:k3s-node']));
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(UsageError);
    expect((thrown as Error).message).toMatch(/^refusing the untrusted case \/tmp\/their-case: the kubernetes driver runs on a k3s node in a privileged container, .*--trust/);
  });
  it('lets a trusted case, a project case and an untrusted case without the node through', () => {
    expect(() => gateUntrustedKubernetes(spec('user', ['image:k3s-node']))).not.toThrow();
    expect(() => gateUntrustedKubernetes(spec('project', ['image:k3s-node']))).not.toThrow();
    expect(() => gateUntrustedKubernetes(spec('untrusted', ['image:registry']))).not.toThrow();
  });
});
