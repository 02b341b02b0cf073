import { describe, expect, it } from 'vitest';
import { loadEngineIndex, resolveEngineSpecs, supportsContainerdStore, type EngineIndex } from './spec.ts';

const index: EngineIndex = {
  hostDefault: '26.1.5',
  releases: ['24.0.9', '25.0.8', '26.1.4', '26.1.5', '28.5.2'].map((version) => ({
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
    [['>=25 <28'], ['25.0.8', '26.1.4', '26.1.5']],
    [['latest'], ['28.5.2']],
    [['oldest', 'latest'], ['24.0.9', '28.5.2']],
    [['debian-trixie', '26.1'], ['26.1.5', '26.1.5-debian']],
    [['26.1', '26.1.5'], ['26.1.5']],
  ])('%j -> %j', (specs, want) => {
    expect(labels(specs)).toEqual(want);
  });
  it('names the known range and the fix for an unknown version', () => {
    expect(() => labels(['30.1'])).toThrow(/matches no known Docker engine release.*v24\.0\.9 \.\. v28\.5\.2.*releases\.json/);
    expect(() => labels(['27.0.1'])).toThrow(/unknown Docker engine version v27\.0\.1; nearest known/);
    expect(() => labels(['nope'])).toThrow(/not a Docker engine version, semver range or alias/);
  });
  it('knows which engines have the containerd image store', () => {
    expect(supportsContainerdStore('23.0.6')).toBe(false);
    expect(supportsContainerdStore('24.0.9')).toBe(true);
    expect(supportsContainerdStore('26.1.5+dfsg1')).toBe(true);
  });
  it('ships an index whose host default is one of its releases', () => {
    const shipped = loadEngineIndex();
    expect(shipped.releases.map((r) => r.version)).toContain(shipped.hostDefault);
    for (const r of shipped.releases) expect(r.containerd).toMatch(/^v\d+\.\d+\.\d+$/);
  });
});
