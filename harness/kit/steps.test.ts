import { describe, expect, it } from 'vitest';
import type { Kit } from './context.ts';
import { interpolate, interpolateCheck, runSteps, type LabValues, type Step } from './steps.ts';

const values: LabValues = {
  target: 'registry:5000/lab/s/c1/app:v1',
  repository: 'lab/s/c1/app',
  tag: 'v1',
  registry: 'registry:5000',
  builder: 'c1',
  cell: 'c1',
  context: '/tmp/cells/c1/ctx',
  platforms: 'linux/amd64,linux/arm64',
  buildkitImage: 'registry:5000/moby/buildkit:v0.17.1',
  targetNamed: (n) => `registry:5000/lab/s/c1/${n}:v1`,
};
const files: Record<string, string> = { 'iid.txt': 'sha256:abc' };
const read = async (f: string) => files[f] ?? Promise.reject(new Error(`no ${f}`));

describe('interpolate', () => {
  it.each([
    ['${target}', 'registry:5000/lab/s/c1/app:v1'],
    ['--cache-to=type=registry,ref=${target:cache}', '--cache-to=type=registry,ref=registry:5000/lab/s/c1/cache:v1'],
    ['${registry}/x:${tag}', 'registry:5000/x:v1'],
    ['${read:iid.txt}', 'sha256:abc'],
    ['no values, $HOME stays', 'no values, $HOME stays'],
  ])('%s', async (text, want) => expect(await interpolate(text, values, read)).toBe(want));

  it('says which value a cell lacks', async () => {
    await expect(interpolate('${base}', values, read)).rejects.toThrow(/\$\{base\} has no value in this cell \(no base image\)/);
  });

  it('fills checks, leaving non-strings alone', async () => {
    expect(await interpolateCheck({ kind: 'registry', ref: '${target}', platforms: ['linux/amd64'], index: true }, values, read)).toEqual({
      kind: 'registry',
      ref: 'registry:5000/lab/s/c1/app:v1',
      platforms: ['linux/amd64'],
      index: true,
    });
  });
});

describe('runSteps checks the argv again once lab values are filled in', () => {
  /** A kit that records what would run; the files of ${read:FILE} come from `files`. Only the checks before a step runs are under test here. */
  const kitFor = (contents: Record<string, string>) => {
    const ran: string[][] = [];
    const record = async (argv: readonly string[]) => {
      ran.push([...argv]);
      return { argv: [...argv], exitCode: 0, stdout: '', stderr: '', durationMs: 0 };
    };
    const sandbox = {
      contextDir: values.context,
      resolveInContext: async (paths: readonly string[]) => paths.map((p) => ({ path: p, real: `${values.context}/${p}`, kind: p in contents ? 'file' : 'none' })),
      look: async (script: string) => ({ exitCode: 0, stdout: contents[Object.keys(contents).find((f) => script.includes(`/${f}`)) ?? ''] ?? '', stderr: '' }),
    };
    return { ran, kit: { sandbox, buildx: record, docker: record, fact: () => {} } as unknown as Kit };
  };
  const step = (tool: 'buildx' | 'docker', argv: string[], env: Record<string, string> = {}): Step => ({ id: 's', tool, argv, env });

  it.each<[string, Step, Record<string, string>, RegExp]>([
    ['a flag read from a file', step('docker', ['run', '${read:flags.txt}', 'alpine']), { 'flags.txt': '--pid=host' }, /^step s: docker run --pid would reach the engine's host/],
    [
      'combined flags read from a file',
      step('docker', ['run', '--rm', '${read:flags.txt}', 'alpine']),
      { 'flags.txt': '-itv/:/host' },
      /^step s: docker run -v would reach the engine's host/,
    ],
    [
      'an output path read from a file',
      step('buildx', ['build', '--output', 'type=local,dest=${read:d.txt}', '.']),
      { 'd.txt': '/usr/local/bin' },
      /^step s: --output dest= \/usr\/local\/bin is outside the cell's context/,
    ],
    [
      'a driver option that brings an image with it',
      step('buildx', ['create', '--driver-opt', 'memory=${read:m.txt}']),
      { 'm.txt': '1g,image=evil' },
      /^step s: --driver-opt memory=1g,image=evil: driver option image=evil is not the lab's BuildKit image/,
    ],
    ['a lab-owned variable', step('buildx', ['ls'], { DOCKER_CONFIG: '/tmp' }), {}, /^step s: DOCKER_CONFIG is the cell's own client config/],
  ])('refuses %s, running nothing', async (_what, s, contents, message) => {
    const { ran, kit } = kitFor(contents);
    await expect(runSteps(kit, [s], values)).rejects.toThrow(message);
    expect(ran).toEqual([]);
  });

  it('runs what the lab values fill in as allowed', async () => {
    const { ran, kit } = kitFor({ 'iid.txt': 'sha256:abc' });
    await runSteps(kit, [step('buildx', ['create', '--driver-opt', 'image=${buildkitImage}']), step('docker', ['image', 'inspect', '${read:iid.txt}'])], values);
    expect(ran).toEqual([
      ['create', '--driver-opt', 'image=registry:5000/moby/buildkit:v0.17.1'],
      ['image', 'inspect', 'sha256:abc'],
    ]);
  });
});
