// Real provisioning: Buildx built from the Go module proxy (or downloaded), verified, cached atomically.
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { labConfig } from '../config.ts';
import { RequirementError } from '../errors.ts';
import { silentProgress, stderrProgress } from '../progress.ts';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildxArch } from './arch.ts';
import { BuildxProvisioner, cacheKey } from './provision.ts';

const config = labConfig();
const cli = new URL('../../bin/buildx-lab.mjs', import.meta.url).pathname;

describe('buildx provisioning', () => {
  it.each(['0.20.1', '0.21.1'])('provides v%s from a release download or the Go module proxy, and it reports that version', async (v) => {
    const [bin] = await new BuildxProvisioner(config, stderrProgress).installSpecs([v]);
    expect(bin!.version).toBe(`v${v}`);
    expect(['release', 'go']).toContain(bin!.origin);
    const out = await execa(bin!.path, ['version']);
    expect(out.stdout).toContain(`github.com/docker/buildx v${v}`);
    // The second time it is a cache hit.
    const [again] = await new BuildxProvisioner(config, silentProgress).installSpecs([v]);
    expect(again!.source).toBe('cache');
    expect(again!.sha256).toBe(bin!.sha256);
  });

  it('says which sources were tried when none can provide a version', async () => {
    // A release mirror that has nothing (404) and a Go module proxy that refuses everything (403), on
    // loopback: the same answer on any host, online or not.
    const server = createServer((req, res) => {
      res.statusCode = req.url?.startsWith('/goproxy/') ? 403 : 404;
      res.end('no');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // An empty module cache too: otherwise go finds the module an earlier run fetched and never asks the proxy.
    const modCache = mkdtempSync(path.join(os.tmpdir(), 'bxl-gomod-'));
    const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'bxl-cache-'));
    try {
      const p = new BuildxProvisioner(
        {
          ...config,
          cacheDir,
          releasesBaseUrl: `${base}/releases`,
          allowUnpinned: true,
          goEnv: { ...config.goEnv, GOPROXY: `${base}/goproxy`, GOMODCACHE: modCache },
          goNoSumDb: true,
        },
        silentProgress,
      );
      const err = await p.installSpecs(['0.22.0']).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RequirementError);
      expect((err as Error).message).toMatch(/no source could provide Buildx v0\.22\.0.*\n.*release: .*\n.*go: .*403/s);
    } finally {
      server.close();
      await execa('chmod', ['-R', 'u+w', modCache], { reject: false }); // go writes its module cache read-only
      rmSync(modCache, { recursive: true, force: true });
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });

  it('two processes installing the same version into one empty cache end with one good binary', async () => {
    const cache = mkdtempSync(path.join(os.tmpdir(), 'bxl-cache-'));
    try {
      const env = { ...process.env, BUILDX_LAB_CACHE: cache };
      const [a, b] = await Promise.all([0, 1].map(() => execa('node', [cli, 'buildx', 'install', 'debian-trixie'], { env, reject: false })));
      expect(a!.exitCode, a!.stderr).toBe(0);
      expect(b!.exitCode, b!.stderr).toBe(0);
      const root = path.join(cache, 'buildx', `linux-${buildxArch()}`);
      expect(readdirSync(root)).toEqual([cacheKey('v0.13.1', 'debian')]);
      const out = await execa(path.join(root, cacheKey('v0.13.1', 'debian'), 'docker-buildx'), ['version']);
      expect(out.stdout).toContain('0.13.1');
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });

  it('an install killed half-way leaves no binary in the cache, and the next install succeeds', async () => {
    const cache = mkdtempSync(path.join(os.tmpdir(), 'bxl-cache-'));
    try {
      const env = { ...process.env, BUILDX_LAB_CACHE: cache };
      // Its own process group, so the kill reaches the CLI behind the bin wrapper too.
      const child = execa('node', [cli, 'buildx', 'install', 'debian-sid'], { env, reject: false, detached: true });
      const root = path.join(cache, 'buildx', `linux-${buildxArch()}`);
      // Kill it while it is staging (after it started, before its atomic rename into the cache).
      const staging = () => existsSync(root) && readdirSync(root).some((e) => e.startsWith('.tmp-'));
      for (let i = 0; i < 1500 && !staging(); i++) await new Promise((r) => setTimeout(r, 20));
      expect(staging(), 'the install never started staging').toBe(true);
      process.kill(-child.pid!, 'SIGKILL');
      await child;
      const entries = existsSync(root) ? readdirSync(root) : [];
      expect(entries.filter((e) => !e.startsWith('.'))).toEqual([]);
      const again = await execa('node', [cli, 'buildx', 'install', 'debian-sid'], { env, reject: false });
      expect(again.exitCode, again.stderr).toBe(0);
      expect(readdirSync(root).filter((e) => !e.startsWith('.'))).toEqual([cacheKey('v0.29.1', 'debian')]);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });
});
