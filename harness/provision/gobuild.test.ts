import { describe, expect, it } from 'vitest';
import { SAMPLE_RECORD } from './compile-failures.test-helpers.ts';
import {
  buildFlagsHash,
  compileFailureReason,
  firstCompileError,
  goBuildArgv,
  goEnvFor,
  missingLocalReplaces,
  refusedVersions,
  standInCandidates,
  type GoBuildRequest,
} from './gobuild.ts';

describe('go build argv', () => {
  it('stamps the version and revision, stripped, with -mod=mod', () => {
    const argv = goBuildArgv(
      { ldflagsX: { 'github.com/docker/buildx/version.Version': 'v0.21.1', 'github.com/docker/buildx/version.Revision': '{{revision}}' } },
      { pkg: './cmd/buildx', out: '/o/docker-buildx' },
      '3f82aadc',
    );
    expect(argv.slice(0, 4)).toEqual(['go', 'build', '-mod=mod', '-trimpath']);
    expect(argv).toContain('-s -w -X github.com/docker/buildx/version.Version=v0.21.1 -X github.com/docker/buildx/version.Revision=3f82aadc');
    expect(argv.at(-1)).toBe('./cmd/buildx');
  });
  it('links cgo builds statically and passes tags as one argument', () => {
    const argv = goBuildArgv({ ldflagsX: {}, tags: ['seccomp', 'netgo'], cgo: { env: {} } }, { pkg: '.', out: '/o/runc' }, undefined);
    expect(argv[argv.indexOf('-tags') + 1]).toBe('seccomp netgo');
    expect(argv[argv.indexOf('-ldflags') + 1]).toBe('-s -w -extldflags -static');
  });
  it('links a dynamic cgo build against the libc, and keeps paths when asked (k3s, as its own build does)', () => {
    const argv = goBuildArgv({ ldflagsX: {}, cgo: { env: {}, dynamic: true }, trimpath: false }, { pkg: './cmd/server', out: '/o/k3s' }, undefined);
    expect(argv.slice(0, 3)).toEqual(['go', 'build', '-mod=mod']);
    expect(argv).not.toContain('-trimpath');
    expect(argv[argv.indexOf('-ldflags') + 1]).toBe('-s -w');
  });
  it('stamps the Go that builds where the flags ask for it', () => {
    const argv = goBuildArgv({ ldflagsX: { 'k3s/version.UpstreamGolang': '{{goVersion}}' } }, { pkg: '.', out: '/o' }, undefined, 'go1.26.8');
    expect(argv[argv.indexOf('-ldflags') + 1]).toBe('-s -w -X k3s/version.UpstreamGolang=go1.26.8');
  });
});

describe('the checksum database', () => {
  it("stays on whatever the user's environment says, unless the lab's own flag turns it off", () => {
    const user = { GOPROXY: 'https://mirror', GOSUMDB: 'off', GONOSUMDB: '*', GOPRIVATE: '*', GOFLAGS: '-insecure' } as Record<string, string>;
    const env = goEnvFor({ goEnv: user, goNoSumDb: false });
    expect(env).toEqual({ GOPROXY: 'https://mirror', GOSUMDB: 'sum.golang.org', GOFLAGS: '-buildvcs=false' });
    expect(goEnvFor({ goEnv: user, goNoSumDb: true }).GOSUMDB).toBe('off');
  });
});

describe('refused pins', () => {
  it('finds the module versions the proxy refused in go output', () => {
    const out = `cli/command/image/build.go:29:2: github.com/docker/docker@v26.1.4-0.20240605103321-de5c9cf0b96e+incompatible: reading https://proxy.golang.org/github.com/docker/docker/@v/v26.1.4-0.20240605103321-de5c9cf0b96e+incompatible.zip: 403 Forbidden
\tserver response: This module version is not available.
cli/x.go:1:2: github.com/docker/docker@v26.1.4-0.20240605103321-de5c9cf0b96e+incompatible: reading https://proxy.golang.org/github.com/docker/docker/@v/v26.1.4-0.20240605103321-de5c9cf0b96e+incompatible.zip: 403 Forbidden
go: github.com/moby/buildkit@v0.11.7-0.20240124010513-435cb77e369c: reading https://proxy.golang.org/github.com/moby/buildkit/@v/v0.11.7-0.20240124010513-435cb77e369c.mod: 403 Forbidden`;
    expect(refusedVersions(out)).toEqual([
      { module: 'github.com/docker/docker', version: 'v26.1.4-0.20240605103321-de5c9cf0b96e+incompatible' },
      { module: 'github.com/moby/buildkit', version: 'v0.11.7-0.20240124010513-435cb77e369c' },
    ]);
    expect(refusedVersions('go: downloading x v1\nbuild failed: undefined: foo')).toEqual([]);
  });
  it('stands in the same branch, from the version the pseudo-version precedes', () => {
    expect(standInCandidates('v0.11.7-0.20240124010513-435cb77e369c')).toEqual([
      'v0.11.7',
      'v0.11.8',
      'v0.11.9',
      'v0.11.6',
      'v0.11.5',
      'v0.11.4',
      'v0.11.3',
      'v0.11.2',
      'v0.11.1',
      'v0.11.0',
    ]);
    expect(standInCandidates('v26.1.4-0.2024-x+incompatible').slice(0, 2)).toEqual(['v26.1.4+incompatible', 'v26.1.5+incompatible']);
  });
});

describe('local replaces the module zip does not carry', () => {
  it('finds them, so the released module can stand in', () => {
    const out =
      'go: github.com/opencontainers/selinux@v1.12.0 (replaced by ./internal/third_party/selinux): reading internal/third_party/selinux/go.mod: open /c/engine/parts/runc-v1.3.3.tmp-1/.work/src/internal/third_party/selinux/go.mod: no such file or directory';
    expect(missingLocalReplaces(out)).toEqual([{ module: 'github.com/opencontainers/selinux', version: 'v1.12.0', path: './internal/third_party/selinux' }]);
    expect(missingLocalReplaces('go: downloading github.com/x/y v1.0.0')).toEqual([]);
  });
});

describe('firstCompileError', () => {
  it('names the first compiler error, without the module cache path', () => {
    const stderr = [
      '# github.com/moby/buildkit/util/imageutil',
      '/root/go/pkg/mod/github.com/moby/buildkit@v0.11.6/util/imageutil/config.go:190:33: undefined: ocispecs.MediaTypeImageLayerNonDistributable',
      '/root/go/pkg/mod/github.com/moby/buildkit@v0.11.6/util/imageutil/config.go:191:4: too many errors',
    ].join('\n');
    expect(firstCompileError(stderr)).toBe('github.com/moby/buildkit@v0.11.6/util/imageutil/config.go:190:33: undefined: ocispecs.MediaTypeImageLayerNonDistributable');
  });
  it('is undefined when go printed no compiler error', () => {
    expect(firstCompileError('go: github.com/x@v1: missing go.sum entry')).toBeUndefined();
  });
});

describe('the flags a compile failure is keyed by', () => {
  const req: GoBuildRequest = {
    module: 'github.com/docker/docker',
    version: 'v24.0.9+incompatible',
    vendorMod: true,
    workDir: '/w/1',
    targets: [{ pkg: './cmd/dockerd', out: '/stage-1/dockerd' }],
    tags: ['netgo', 'osusergo'],
    ldflagsX: { 'github.com/docker/docker/dockerversion.Version': '24.0.9', 'github.com/docker/docker/dockerversion.GitCommit': '{{revision}}' },
  };
  it('ignores paths and the order of tags and -X flags, which change nothing in the compile', () => {
    const h = buildFlagsHash(req);
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(buildFlagsHash({ ...req, targets: [{ pkg: './cmd/dockerd', out: '/stage-2/dockerd' }] })).toBe(h);
    expect(buildFlagsHash({ ...req, tags: ['osusergo', 'netgo'], ldflagsX: Object.fromEntries(Object.entries(req.ldflagsX).reverse()) })).toBe(h);
  });
  it.each<[string, Partial<GoBuildRequest>]>([
    ['a tag', { tags: ['osusergo'] }],
    ['a package', { targets: [{ pkg: './cmd/docker-proxy', out: '/o' }] }],
    ['an -X value', { ldflagsX: { ...req.ldflagsX, 'github.com/docker/docker/dockerversion.Version': '24.0.8' } }],
    ['vendor.mod', { vendorMod: false }],
    ['cgo', { cgo: { env: {} } }],
    ['untrimmed paths', { trimpath: false }],
    ['a preferred stand-in', { preferredReplacements: { 'github.com/docker/docker': 'v24.0.9+incompatible' } }],
  ])('changes with %s', (_what, change) => {
    expect(buildFlagsHash({ ...req, ...change })).not.toBe(buildFlagsHash(req));
  });
});

describe('the reason a version that does not compile is skipped', () => {
  const record = SAMPLE_RECORD;
  it('names the package, the Go, the first error and the stand-ins, then the output', () => {
    expect(compileFailureReason(record)).toBe(
      'github.com/docker/docker@v24.0.9+incompatible cannot be built here: ./cmd/dockerd does not compile with go1.26.8 (github.com/moby/buildkit@v0.11.6/util/imageutil/config.go:190:33: undefined: ocispecs.MediaTypeImageLayerNonDistributable); stand-ins: github.com/moby/buildkit@v0.11.7-0.20240124010513-435cb77e369c -> v0.11.6:\n' +
        record.output,
    );
  });
  it('says when a recorded one failed, and how to try again, on its first line', () => {
    const cached = compileFailureReason(record, { file: '/c/go-build-failures/x.json' });
    expect(cached.split('\n')[0]).toMatch(
      / \(cached: compile failed with go1\.26\.8 at 2026-12-07T05:30:00\.000Z; delete \/c\/go-build-failures\/x\.json or set BUILDX_LAB_REBUILD_FAILED=1 to try again\):$/,
    );
    expect(cached.split('\n').slice(1)).toEqual(compileFailureReason(record).split('\n').slice(1));
  });
  it('names a toolchain the go command may switch to', () => {
    expect(compileFailureReason({ ...record, key: { ...record.key, goToolchain: 'auto' } })).toContain('with go1.26.8 (GOTOOLCHAIN=auto)');
  });
});
