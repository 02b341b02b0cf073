import { describe, expect, it } from 'vitest';
import { engineLabel, hostDefaultRelease, loadEngineIndex, resolveEngineSpec, resolveEngineSpecs, supportsContainerdStore, type EngineIndex } from './spec.ts';

const index: EngineIndex = {
  hostDefault: '26.1.5',
  // out of order on purpose: resolution sorts by version
  releases: ['26.1.5', '24.0.9', '28.5.2', '27.10.0', '25.0.8', '26.1.4', '27.10.1'].map((version) => ({
    version,
    daemon: { module: 'github.com/docker/docker', version: `v${version}+incompatible`, vendorMod: true },
    cli: { module: 'github.com/docker/cli', version: `v${version}+incompatible`, vendorMod: true },
    containerd: 'v1.7.18',
    runc: 'v1.1.12',
  })),
  debian: { 'debian-trixie': { suite: 'trixie', version: '26.1.5' } },
};
const labels = (specs: string[]) => resolveEngineSpecs(specs, index).map((e) => e.label);

describe('engine specs', () => {
  it.each([
    [['26.1'], ['26.1.5']],
    [['26'], ['26.1.5']],
    [['26.1.4'], ['26.1.4']],
    [['>=25 <27'], ['25.0.8', '26.1.4', '26.1.5']],
    // a two-digit minor names a line too
    [['27.10'], ['27.10.1']],
    [['latest'], ['28.5.2']],
    [
      ['oldest', 'latest'],
      ['24.0.9', '28.5.2'],
    ],
    [
      ['debian-trixie', '26.1'],
      ['26.1.5', '26.1.5-debian'],
    ],
    [['26.1', '26.1.5'], ['26.1.5']],
    [['all'], ['24.0.9', '25.0.8', '26.1.4', '26.1.5', '27.10.0', '27.10.1', '28.5.2']],
    [[' 25 '], ['25.0.8']],
    [
      ['26.1.5', 'debian-trixie', '24'],
      ['24.0.9', '26.1.5', '26.1.5-debian'],
    ],
  ])('%j -> %j', (specs, want) => {
    expect(labels(specs)).toEqual(want);
  });
  it('names the known range and the fix for an unknown version', () => {
    expect(() => labels(['30.1'])).toThrow(/matches no known Docker engine release.*v24\.0\.9 \.\. v28\.5\.2.*releases\.json/);
    expect(() => labels(['27.0.1'])).toThrow(/unknown Docker engine version v27\.0\.1; nearest known/);
    expect(() => labels(['nope'])).toThrow(/not a Docker engine version, semver range or alias/);
  });
  it('keeps the first spec that named an engine', () => {
    expect(resolveEngineSpecs(['26.1', '26.1.5'], index).map((e) => e.spec)).toEqual(['26.1']);
    expect(resolveEngineSpecs(['26.1.5', '26.1'], index).map((e) => e.spec)).toEqual(['26.1.5']);
  });
  it('says what each engine is: a source build, or a Debian package under its alias', () => {
    expect(resolveEngineSpec('debian-trixie', index)).toEqual([
      { kind: 'debian', label: '26.1.5-debian', version: '26.1.5', spec: 'debian-trixie', alias: 'debian-trixie', debian: index.debian['debian-trixie'] },
    ]);
    const release = index.releases.find((r) => r.version === '26.1.5');
    expect(resolveEngineSpec(' 26.1 ', index)).toEqual([{ kind: 'source', label: '26.1.5', version: '26.1.5', spec: '26.1', release }]);
    expect(resolveEngineSpec('oldest', index).map((e) => e.version)).toEqual(['24.0.9']);
    expect(engineLabel({ kind: 'source', version: '28.5.2' })).toBe('28.5.2');
    expect(engineLabel({ kind: 'debian', version: '28.5.2' })).toBe('28.5.2-debian');
  });
  it('fails without any release to resolve against', () => {
    expect(() => resolveEngineSpec('latest', { ...index, releases: [] })).toThrow(/^no engine releases are known; harness\/engine\/releases\.json lists/);
  });
  it('finds the host default among the releases, or says it is missing', () => {
    expect(hostDefaultRelease(index).version).toBe('26.1.5');
    expect(() => hostDefaultRelease({ ...index, hostDefault: '27.0.0' })).toThrow(/^hostDefault 27\.0\.0 is not among the engine releases; harness\/engine\/releases\.json/);
  });
  it('knows which engines have the containerd image store', () => {
    expect(supportsContainerdStore('23.0.6')).toBe(false);
    expect(supportsContainerdStore('24.0.0')).toBe(true);
    expect(supportsContainerdStore('24.0.9')).toBe(true);
    expect(supportsContainerdStore('26.1.5+dfsg1')).toBe(true);
  });
  it('ships an index whose host default is one of its releases', () => {
    const shipped = loadEngineIndex();
    expect(loadEngineIndex()).toBe(shipped); // read once
    expect(hostDefaultRelease().version).toBe(shipped.hostDefault);
    expect(resolveEngineSpecs(['oldest'])).toEqual([expect.objectContaining({ release: shipped.releases[0] })]);
    for (const r of shipped.releases) expect(r.containerd).toMatch(/^v\d+\.\d+\.\d+$/);
  });
});
