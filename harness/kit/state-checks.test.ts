import { describe, expect, it } from 'vitest';
import type { RunResult } from '../exec.ts';
import type { VerificationReport } from '../oci/verify.ts';
import { UsageError } from '../errors.ts';
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

describe("kube checks over the cluster's answers (a stand-in for kubectl on the node)", () => {
  // the shape Buildx v0.34 gives a rootless Deployment with buildkit-root-volume-memory (docker/buildx#3858)
  const deployment = JSON.stringify({
    kind: 'Deployment',
    spec: {
      template: {
        spec: {
          containers: [
            {
              volumeMounts: [
                { name: 'buildkitd', mountPath: '/home/user/.local/share/buildkit' },
                { name: 'buildkit-memory', mountPath: '/var/lib/buildkit' },
              ],
            },
          ],
          volumes: [
            { name: 'buildkitd', emptyDir: {} },
            { name: 'buildkit-memory', emptyDir: { medium: 'Memory', sizeLimit: '1Gi' } },
          ],
        },
      },
    },
  });
  const notFound = { exitCode: 1, stdout: '', stderr: 'Error from server (NotFound): deployments.apps "b0" not found' };
  const found = { exitCode: 0, stdout: deployment, stderr: '' };
  const mounts = '/spec/template/spec/containers/0/volumeMounts';
  it.each<[string, Partial<Extract<Check, { kind: 'kube' }>>, { exitCode: number; stdout: string; stderr: string }, boolean, RegExp]>([
    ['present', {}, found, true, /^deployment b0: present$/],
    ['absent when present was expected', {}, notFound, false, /^deployment b0: absent$/],
    ['absent, as expected', { exists: false }, notFound, true, /absent$/],
    ['present where absent was expected', { exists: false }, found, false, /present$/],
    ['a mount at the rootful path (the bug)', { json: { pointer: mounts, matches: '"mountPath":"/var/lib/buildkit"' } }, found, true, /^deployment b0: at ".*volumeMounts": \[/],
    ['no mount at a path', { json: { pointer: mounts, matches: '"mountPath":"/nowhere"' } }, found, false, /no match for \/"mountPath":"\/nowhere"\//],
    ['a count of mounts', { json: { pointer: mounts, count: '2' } }, found, true, /2 entries/],
    ['an equals at a pointer', { json: { pointer: '/spec/template/spec/volumes/1/emptyDir/medium', equals: 'Memory' } }, found, true, /"Memory"/],
    ['a json check on an absent object', { json: { pointer: mounts, count: '2' } }, notFound, false, /^deployment b0: absent$/],
    ['an object larger than the read limit', { json: { pointer: '' } }, { exitCode: 141, stdout: 'x'.repeat((1 << 20) + 1), stderr: '' }, false, /larger than 1 MiB/],
  ])('%s', async (_name, check, answer, holds, detail) => {
    const asked: unknown[] = [];
    const p = {
      ...port(),
      kube: async (kind: string, name: string) => {
        asked.push([kind, name]);
        return answer;
      },
    };
    const r = await checkState(p, { kind: 'kube', get: 'deployment', name: 'b0', ...check } as Check);
    expect(r.holds).toBe(holds);
    expect(r.detail).toMatch(detail);
    expect(asked).toEqual([['deployment', 'b0']]);
  });

  it("fails loudly when kubectl fails for another reason than NotFound (the lab's fault, not a verdict)", async () => {
    const p = { ...port(), kube: async () => ({ exitCode: 1, stdout: '', stderr: 'Unable to connect to the server' }) };
    await expect(checkState(p, { kind: 'kube', get: 'pod', name: 'b0' })).rejects.toThrow(/kubectl get pod b0 failed \(exit 1\): Unable to connect/);
  });

  it.each<[string, Extract<Check, { kind: 'kube' }>, RegExp]>([
    // a lab value filled in may still give a name that is not one: refused before kubectl is asked
    [
      'a name that became a flag',
      { kind: 'kube', get: 'deployment', name: '--namespace=kube-system' },
      /kube\.name: '--namespace=kube-system' is not a Kubernetes object name .*e\.g\. \$\{builder\}0/,
    ],
    [
      'a kind outside the allowlist',
      { kind: 'kube', get: 'secret' as never, name: 'b0' },
      /kube\.get "secret" is not a kind a check may read: use one of deployment, pod, configmap/,
    ],
  ])('refuses %s with a UsageError, without asking the cluster', async (_name, c, message) => {
    let asked = 0;
    const p = {
      ...port(),
      kube: async () => {
        asked++;
        return found;
      },
    };
    await expect(checkState(p, c)).rejects.toThrow(UsageError);
    await expect(checkState(p, c)).rejects.toThrow(message);
    expect(asked).toBe(0);
  });

  it('says the cell has no cluster when the port has no kube', async () => {
    await expect(checkState(port(), { kind: 'kube', get: 'deployment', name: 'b0' })).rejects.toThrow(/kube: checks need driver: kubernetes/);
  });
});
