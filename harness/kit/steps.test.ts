import { describe, expect, it } from 'vitest';
import { interpolate, interpolateCheck, type LabValues } from './steps.ts';

const values: LabValues = {
  target: 'registry:5000/lab/s/c1/app:v1', repository: 'lab/s/c1/app', tag: 'v1', registry: 'registry:5000', builder: 'c1', cell: 'c1',
  context: '/tmp/cells/c1/ctx', platforms: 'linux/amd64,linux/arm64', buildkitImage: 'registry:5000/moby/buildkit:v0.17.1',
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
    expect(await interpolateCheck({ kind: 'registry', ref: '${target}', platforms: ['linux/amd64'], index: true }, values, read)).toEqual({ kind: 'registry', ref: 'registry:5000/lab/s/c1/app:v1', platforms: ['linux/amd64'], index: true });
  });
});
