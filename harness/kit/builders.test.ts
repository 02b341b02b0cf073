import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { bootBuilder, buildkitdConfigFlag, kubeRootless, remoteBuilderPorts, type BuilderSpec } from './builders.ts';
import type { Kit } from './kit.ts';

describe('buildkitdConfigFlag', () => {
  it.each([
    ['v0.12.1', '--config'],
    ['v0.12.0', '--config'],
    ['v0.13.0', '--buildkitd-config'],
    ['v0.13.1-debian', '--buildkitd-config'],
    ['v0.29.1-debian', '--buildkitd-config'],
    ['v0.38.2', '--buildkitd-config'],
  ])('Buildx %s takes %s', (version, flag) => {
    expect(buildkitdConfigFlag(version)).toBe(flag);
  });
});

describe("bootBuilder keeps the builder image and network the lab's", () => {
  // Only the refusal before any create runs is under test: a kit that records what would run.
  const ran: string[][] = [];
  const kit = {
    id: 'c1',
    buildkitImage: async () => 'registry:5000/buildkit:v0.17.1',
    sandbox: { buildkitdConfig: '/tmp/cells/c1/buildkitd.toml', binary: { version: 'v0.21.1' } },
    buildx: async (argv: string[]) => {
      ran.push(argv);
      return { exitCode: 0 };
    },
  } as unknown as Kit;
  it.each<[string, BuilderSpec, RegExp]>([
    ['an image of its own', { driver: 'docker-container', driverOpts: { image: 'evil/buildkit' } }, /^builder b: driver option image is the lab's/],
    ['an image in one node', { driver: 'docker-container', nodes: [{}, { driverOpts: { image: 'evil/buildkit' } }] }, /^builder b: driver option image is the lab's/],
    [
      "another container's network",
      { driver: 'docker-container', driverOpts: { network: 'container:registry' } },
      /^builder b: driver option network=container:registry is not one the lab allows/,
    ],
  ])('refuses %s', async (_what, spec, message) => {
    await expect(bootBuilder(kit, { ...spec, name: 'b' })).rejects.toThrow(message);
    expect(ran.filter((a) => a.includes('evil/buildkit') || a.includes('network=container:registry'))).toEqual([]);
  });
});

describe('a kubernetes builder with rootless=true gets the rootless BuildKit image', () => {
  it.each<[Record<string, string> | undefined, boolean]>([
    [{ rootless: 'true' }, true],
    [{ rootless: '1' }, true],
    [{ rootless: 'True' }, true],
    [{ rootless: 'false' }, false],
    [{ rootless: 'yes' }, false], // Go's ParseBool refuses it, and Buildx with it
    [{}, false],
    [undefined, false],
  ])('%j -> %s (read as Go strconv.ParseBool)', (opts, rootless) => {
    expect(kubeRootless(opts)).toBe(rootless);
  });

  it.each<[Record<string, string>, boolean]>([
    [{ rootless: 'true', 'buildkit-root-volume-memory': '1Gi' }, true],
    [{ replicas: '1' }, false],
  ])('boots %j with the rootless image: %s', async (driverOpts, rootless) => {
    const asked: unknown[][] = [];
    const created: string[][] = [];
    const kit = {
      id: 'c1',
      buildkitImage: async (...a: unknown[]) => {
        asked.push(a);
        return `registry:5000/buildkit:v0.17.1${a[1] ? '-rootless' : ''}`;
      },
      kubernetes: async () => ({ namespace: 'c1' }),
      sandbox: { buildkitdConfig: '/tmp/cells/c1/buildkitd.toml', binary: { version: 'v0.34.1' } },
      // the create fails: only what it was given is under test
      buildx: async (argv: string[]) => {
        created.push(argv);
        return { exitCode: 1 };
      },
    } as unknown as Kit;
    await bootBuilder(kit, { driver: 'kubernetes', buildkit: 'v0.17.1', driverOpts, name: 'b' });
    expect(asked).toEqual([['v0.17.1', rootless]]);
    expect(created[0]).toContain(`image=registry:5000/buildkit:v0.17.1${rootless ? '-rootless' : ''}`);
  });
});

describe('bootBuilder: a remote builder behind the HTTP/2 proxy', () => {
  // refused before buildkitd or the proxy starts: a kit that records what would run
  const ran: string[][] = [];
  const kit = {
    id: 'c1',
    buildkitImage: async () => 'registry:5000/buildkit:v0.17.1',
    docker: async (argv: string[]) => {
      ran.push(argv);
      return { exitCode: 0 };
    },
  } as unknown as Kit;
  it.each<[string, BuilderSpec, RegExp]>([
    [
      'over a unix socket',
      { driver: 'remote', remote: { transport: 'unix', proxy: 'http2' } },
      /^builder\.remote\.proxy: http2 listens on TCP: set transport: tcp, or drop proxy$/,
    ],
    [
      'with TLS',
      { driver: 'remote', remote: { transport: 'tcp', tls: true, proxy: 'http2' } },
      /^builder\.remote\.proxy: http2 speaks cleartext HTTP\/2 \(h2c\) to Buildx: drop tls: true, or drop proxy$/,
    ],
  ])('refuses it %s, before anything runs', async (_what, spec, message) => {
    await expect(bootBuilder(kit, spec)).rejects.toThrow(message);
    expect(ran).toEqual([]);
  });
});

describe('remoteBuilderPorts', () => {
  it("keeps buildkitd's and the proxy's ports apart and below Linux's ephemeral range (32768-60999), for every cell", () => {
    // cell ids are c + 8 hex digits of a hash (runner/scenario.ts cellId); and a few odd ones
    const ids = [...Array.from({ length: 2000 }, (_, i) => `c${createHash('sha256').update(String(i)).digest('hex').slice(0, 8)}`), 'c00000000', 'cffffffff', 'czzzzzzzz', 'c'];
    for (const id of ids) {
      const { buildkitd, proxy } = remoteBuilderPorts(id);
      expect(
        [buildkitd, proxy].every((p) => Number.isInteger(p) && p >= 1024 && p < 32_768),
        `${id}: ${buildkitd}, ${proxy}`,
      ).toBe(true);
      expect(proxy).not.toBe(buildkitd);
    }
    // a cell's ports are its own: one cell's proxy is never another's buildkitd
    const all = ids.map((id) => remoteBuilderPorts(id));
    const buildkitds = new Set(all.map((p) => p.buildkitd));
    expect(all.filter((p) => buildkitds.has(p.proxy))).toEqual([]);
  });
});
