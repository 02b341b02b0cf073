import { describe, expect, it } from 'vitest';
import type { RunResult } from '../exec.ts';
import type { VerificationReport } from '../oci/verify.ts';
import type { Check } from './checks.ts';
import { checkState, type StatePort } from './state-checks.ts';

const INDEX = 'application/vnd.oci.image.index.v1+json';
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const ok = (stdout: string): RunResult => ({ argv: [], exitCode: 0, stdout, stderr: '', durationMs: 1 });
const fail = (stderr: string): RunResult => ({ argv: [], exitCode: 1, stdout: '', stderr, durationMs: 1 });

/** A stand-in for the cell: docker answers by argv, the registry holds one report. */
function port(opts: { docker?: (args: readonly string[]) => RunResult; report?: Partial<VerificationReport> } = {}): StatePort & { facts: string[]; verified: unknown[] } {
  const facts: string[] = [];
  const verified: unknown[] = [];
  const report: VerificationReport = { ref: 'x', ok: true, platforms: [], attestations: 0, problems: [], manifests: {}, ...opts.report };
  return {
    facts,
    verified,
    sandbox: { resolveInContext: async () => [], resolveInState: async () => [], look: async () => ({}) as never },
    docker: async (args) => (opts.docker ?? (() => fail('no docker here')))(args),
    verify: async (t, platforms, o) => {
      verified.push({ t, platforms, o });
      return report;
    },
    fact: (t) => facts.push(t),
  };
}

describe('registry checks over what the lab read back', () => {
  const ref = 'registry:5000/lab/c/app:v1';
  const two = { topMediaType: INDEX, platforms: ['linux/amd64', 'linux/arm64'], attestations: 2 };
  it.each<[string, Partial<Extract<Check, { kind: 'registry' }>>, Partial<VerificationReport>, boolean, RegExp]>([
    ['an index with both platforms', { index: true, platforms: ['linux/amd64', 'linux/arm64'] }, two, true, /as expected$/],
    ['a single manifest where an index was expected', { index: true }, { topMediaType: MANIFEST, platforms: ['linux/amd64'] }, false, /is a single manifest \(linux\/amd64\)/],
    ['an index where none was expected (the bake seed, fixed)', { index: false }, two, false, /is an index/],
    ['a missing platform', { platforms: ['linux/s390x'] }, two, false, /lacks linux\/s390x/],
    ['an extra platform with exactPlatforms', { platforms: ['linux/amd64'], exactPlatforms: true }, two, false, /also has linux\/arm64/],
    ['lacks: one of them missing', { lacks: ['linux/arm64', 'linux/s390x'] }, two, true, /as expected/],
    ['lacks: all of them there', { lacks: ['linux/arm64'] }, two, false, /has every one of linux\/arm64/],
    [
      'complete expected, incomplete found',
      { complete: true },
      { ...two, ok: false, problems: [{ code: 'missing-blob', where: 'x', detail: '' }] },
      false,
      /is incomplete \(missing-blob\)/,
    ],
    ['no attestations expected, two found', { attestations: false }, two, false, /has 2 attestation manifest/],
    ['absent expected, absent found', { exists: false }, { ok: false, problems: [{ code: 'not-found', where: 'x', detail: '' }] }, true, /absent$/],
    ['present expected, absent found', {}, { ok: false, problems: [{ code: 'not-found', where: 'x', detail: '' }] }, false, /absent$/],
    ['absent expected, present found', { exists: false }, two, false, /^registry lab\/c\/app:v1: present$/],
    [
      'an annotation that the index lacks',
      { annotations: { 'org.opencontainers.image.title': 'app' } },
      { ...two, topDigest: 'sha256:a', manifests: { 'sha256:a': { annotations: {} } } },
      false,
      /org\.opencontainers\.image\.title/,
    ],
  ])('%s', async (_name, check, report, holds, detail) => {
    const p = port({ report });
    const r = await checkState(p, { kind: 'registry', ref, ...check } as Check);
    expect(r.holds).toBe(holds);
    expect(r.detail).toMatch(detail);
    // the whole detail and what the lab asked the registry for, as the report shows them (reviewed snapshot)
    expect({ detail: r.detail, asked: p.verified, facts: p.facts }).toMatchSnapshot();
  });

  it('reads the registry through the port, asking for an index only when the check does', async () => {
    const p = port({ report: two });
    await checkState(p, { kind: 'registry', ref, index: true, platforms: ['linux/amd64'] });
    expect(p.verified).toEqual([{ t: { repository: 'lab/c/app', tag: 'v1', ref }, platforms: ['linux/amd64'], o: { requireIndex: true } }]);
    expect(p.facts).toHaveLength(1);
  });

  it('refuses a reference outside the lab registry', async () => {
    await expect(checkState(port(), { kind: 'registry', ref: 'docker.io/library/alpine:3' })).rejects.toThrow(/is not in the lab registry/);
  });
});

describe("engine image checks over the engine's answers", () => {
  const ref = 'app-c1';
  const engine = (byPlatform: Record<string, RunResult>) => (args: readonly string[]) => {
    const i = args.indexOf('--platform');
    return i < 0 ? ok('sha256:1 linux/amd64') : (byPlatform[args[i + 1]!] ?? fail('No such image'));
  };
  it.each<[string, Partial<Extract<Check, { kind: 'image' }>>, (args: readonly string[]) => RunResult, boolean, RegExp]>([
    ['present', {}, engine({}), true, /present \(sha256:1 linux\/amd64\)/],
    ['absent, as expected', { exists: false }, () => fail('No such image'), true, /absent$/],
    ['absent, where present was expected', {}, () => fail('No such image'), false, /^engine image app-c1: absent$/],
    ['present, where absent was expected', { exists: false }, engine({}), false, /present$/],
    [
      'every platform asked for',
      { platforms: ['linux/amd64', 'linux/arm64'] },
      engine({ 'linux/amd64': ok('linux/amd64'), 'linux/arm64': ok('linux/arm64') }),
      true,
      /has linux\/amd64, linux\/arm64/,
    ],
    ['a platform the store lacks', { platforms: ['linux/amd64', 'linux/arm64'] }, engine({ 'linux/amd64': ok('linux/amd64') }), false, /no linux\/arm64/],
    // an engine before API 1.49 has no --platform on inspect: the image's one platform decides
    ['an old engine, its one platform asked for', { platforms: ['linux/amd64'] }, engine({ 'linux/amd64': fail('unknown flag: --platform') }), true, /has linux\/amd64/],
    ['an old engine, another platform asked for', { platforms: ['linux/arm64'] }, engine({ 'linux/arm64': fail('unknown flag: --platform') }), false, /no linux\/arm64/],
  ])('%s', async (_name, check, docker, holds, detail) => {
    const asked: string[][] = [];
    const r = await checkState(
      port({
        docker: (args) => {
          asked.push([...args]);
          return docker(args);
        },
      }),
      { kind: 'image', ref, ...check } as Check,
    );
    expect(r.holds).toBe(holds);
    expect(r.detail).toMatch(detail);
    // the whole detail and the docker commands the check ran (reviewed snapshot)
    expect({ detail: r.detail, asked }).toMatchSnapshot();
  });
});

describe("file and state checks over the cell's paths", () => {
  it('look in the context for file: and in Buildx state for state:', async () => {
    const asked: string[] = [];
    const p = port();
    p.sandbox = {
      resolveInContext: async (paths) => {
        asked.push(`context ${paths.join()}`);
        return [{ kind: 'none' }] as never;
      },
      resolveInState: async (paths) => {
        asked.push(`state ${paths.join()}`);
        return [{ kind: 'dir' }] as never;
      },
      look: async () => ({}) as never,
    };
    expect(await checkState(p, { kind: 'file', path: 'out/x', exists: false })).toEqual({ holds: true, detail: 'out/x: absent' });
    expect((await checkState(p, { kind: 'state', path: 'instances/b', exists: true })).holds).toBe(true);
    expect(asked).toEqual(['context out/x', 'state instances/b']);
  });
});

describe('checks the recorded output judges', () => {
  it('have no state evaluation: a bug in the caller, named', async () => {
    await expect(checkState(port(), { kind: 'output', pattern: 'x' } as Check)).rejects.toThrow(/check output has no evaluation/);
  });
});
