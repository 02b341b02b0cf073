import { describe, expect, it } from 'vitest';
import { BUILDKIT_TAGS } from '../buildkit/image.ts';
import { dockerfilePins, engineParts, partBuildRequest } from './binaries.ts';
import type { EngineRelease } from './spec.ts';

const r26: EngineRelease = {
  version: '26.1.5',
  daemon: { module: 'github.com/docker/docker', version: 'v26.1.5+incompatible', vendorMod: true },
  cli: { module: 'github.com/docker/cli', version: 'v26.1.5+incompatible', vendorMod: true },
  containerd: 'v1.7.18',
  runc: 'v1.1.12',
};
const r29: EngineRelease = {
  ...r26,
  version: '29.7.1',
  daemon: { module: 'github.com/moby/moby/v2', version: 'v2.0.0-beta.21', vendorMod: false },
  containerd: 'v2.3.3',
  runc: 'v1.4.3',
};

describe('engine parts', () => {
  it('builds each part once per pinned version, so engines pinning the same containerd share it', () => {
    expect(engineParts(r26).map((p) => p.id)).toEqual(['dockerd-26.1.5', 'containerd-v1.7.18', 'runc-v1.1.12', 'docker-cli-v26.1.5']);
    expect(engineParts({ ...r26, version: '27.5.1', containerd: 'v1.7.18' })[1]!.id).toBe(engineParts(r26)[1]!.id);
    expect(engineParts(r29)[1]!.module).toBe('github.com/containerd/containerd/v2');
  });
  it('stamps versions into the daemon of either module path, and replaces the CLI pin with the same release', () => {
    const [daemon, , runc, cli] = engineParts(r29);
    const d = partBuildRequest(r29, daemon!, '/o', '/w');
    expect(d.ldflagsX['github.com/moby/moby/v2/dockerversion.Version']).toBe('29.7.1');
    expect(d.vendorMod).toBe(false);
    expect(d.tags).toContain('exclude_graphdriver_btrfs');
    const c26 = partBuildRequest(r26, engineParts(r26)[3]!, '/o', '/w');
    expect(c26.preferredReplacements).toEqual({ 'github.com/docker/docker': 'v26.1.5+incompatible' });
    expect(partBuildRequest(r29, cli!, '/o', '/w').preferredReplacements).toEqual({});
    const withSeccomp = partBuildRequest(r29, runc!, '/o', '/w', { PKG_CONFIG_PATH: '/x' });
    expect(withSeccomp.tags).toContain('seccomp');
    expect(withSeccomp.cgo).toEqual({ env: { PKG_CONFIG_PATH: '/x' } });
    expect(partBuildRequest(r29, runc!, '/o', '/w').tags).not.toContain('seccomp');
  });
  it("checks the pins of moby's Dockerfile", () => {
    const dockerfile = 'ARG GO_VERSION=1.21\nARG CONTAINERD_VERSION=v1.7.18\nARG RUNC_VERSION=v1.1.12\n';
    expect(dockerfilePins(dockerfile)).toEqual({ containerd: 'v1.7.18', runc: 'v1.1.12' });
    expect(dockerfilePins('FROM x')).toEqual({ containerd: undefined, runc: undefined });
  });
});

describe('build tags', () => {
  it("asks for netgo only where cgo is on (runc), so the other parts share the Buildx builds' compile cache", () => {
    for (const r of [r26, r29])
      for (const part of engineParts(r)) {
        const req = partBuildRequest(r, part, '/o', '/w');
        if (!req.cgo) expect(req.tags, part.id).not.toContain('netgo');
      }
    expect(BUILDKIT_TAGS).not.toContain('netgo');
  });
});
