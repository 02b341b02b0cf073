// The host engine goes away: the run must end with a clear error, in bounded time, not hang — also when
// provisioning is still in flight (it is cancelled). The lab reaches the engine through a unix-socket
// forwarder that the test closes mid-run.
import net from 'node:net';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildxCacheRoot } from '../buildx/provision.ts';
import { loadReleases } from '../buildx/spec.ts';
import { labConfig } from '../config.ts';
import { RUN_LABEL } from '../ownership/labels.ts';
import { labDockerEnv, startCli } from './cli.test-helpers.ts';

/**
 * A final Buildx release this machine has not cached (the newest such): its provisioning must ask the
 * hanging sources. A fixed version stops being one as soon as any case or bisect here builds it.
 */
function uncachedRelease(): string {
  const cached = new Set(existsSync(buildxCacheRoot(labConfig())) ? readdirSync(buildxCacheRoot(labConfig())) : []);
  const free = loadReleases()
    .releases.filter((r) => !r.prerelease && !cached.has(r.version))
    .map((r) => r.version);
  if (!free.length) throw new Error('every Buildx release is cached on this machine: the test needs one that is not');
  return free.at(-1)!;
}

/** A report directory of its own under one temporary root, removed after the file. */
const reportRoot = mkdtempSync(path.join(tmpdir(), 'bxl-gone-'));
afterAll(() => rmSync(reportRoot, { recursive: true, force: true }));
const reportDir = (name: string) => path.join(reportRoot, `${name}-${Date.now()}`);

let engineSocket: string;
beforeAll(async () => {
  engineSocket = (await labDockerEnv()).DOCKER_HOST!.replace(/^unix:\/\//, '');
});

function forwarder(path: string): { close(): void; connections: () => number } {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  // allowHalfOpen: `docker exec` half-closes its hijacked stream and still reads the output.
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    connections++;
    const upstream = net.connect({ path: engineSocket, allowHalfOpen: true });
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
  });
  rmSync(path, { force: true });
  server.listen(path);
  return {
    connections: () => connections,
    close() {
      server.close();
      for (const s of sockets) s.destroy();
      rmSync(path, { force: true });
    },
  };
}

/** Removes what a run could not remove itself (its engine was gone), through the real socket. */
async function cleanup(runId: string | undefined): Promise<void> {
  if (!runId) return;
  const env = await labDockerEnv();
  const f = ['--filter', `label=${RUN_LABEL}=${runId}`, '-q'];
  const ids = (await execa('docker', ['ps', '-aq', ...f], { env })).stdout.split('\n').filter(Boolean);
  if (ids.length) await execa('docker', ['rm', '-f', '-v', ...ids], { env });
  const nets = (await execa('docker', ['network', 'ls', ...f], { env })).stdout.split('\n').filter(Boolean);
  if (nets.length) await execa('docker', ['network', 'rm', ...nets], { env });
}

describe('host engine gone', () => {
  it('ends the run with an error naming the engine, within bounded time, after a cell passed', async () => {
    const sock = `/tmp/bxl-engine-${Date.now().toString(36)}.sock`;
    const fwd = forwarder(sock);
    const run = startCli(['run', 'bake', '--matrix', 'quick', '--jobs', '1', '--report-dir', reportDir('gone')], { ...process.env, DOCKER_HOST: `unix://${sock}` });
    let runId: string | undefined;
    try {
      await run.saw(/bake-multiplatform-push > \S+: ok /);
      runId = await run.runId;
      const before = fwd.connections();
      fwd.close(); // from here on the lab cannot reach its engine
      const goneAt = Date.now();
      const r = await run.child;
      const afterGone = (Date.now() - goneAt) / 1000;
      expect(before, 'the lab never used the forwarded engine').toBeGreaterThan(0);
      expect(r.exitCode, String(r.all)).not.toBe(0);
      expect(String(r.all)).toMatch(/stopped answering|Cannot connect to the Docker daemon|no longer running|ENOENT|ECONNREFUSED/);
      expect(afterGone, `the run took ${afterGone} s to end after the engine went away`).toBeLessThan(60);
    } finally {
      fwd.close();
      await cleanup(runId);
    }
  });

  describe('while provisioning is in flight', () => {
    let hang: Server;
    let base: string;
    const modCache = mkdtempSync(path.join(tmpdir(), 'bxl-gomod-'));
    beforeAll(async () => {
      // A module proxy and a release mirror that never answer: provisioning waits on them.
      hang = createServer(() => undefined);
      await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
      base = `http://127.0.0.1:${(hang.address() as AddressInfo).port}`;
    });
    afterAll(() => {
      hang.closeAllConnections();
      hang.close();
      rmSync(modCache, { recursive: true, force: true });
    });

    it('cancels it and ends within bounded time', async () => {
      const sock = `/tmp/bxl-engine-${Date.now().toString(36)}.sock`;
      const fwd = forwarder(sock);
      // a release this machine has not cached: with the sources hanging it cannot arrive.
      // An empty module cache of its own, so go has to ask the hanging proxy whatever earlier runs fetched.
      const version = uncachedRelease();
      const run = startCli(['run', 'smoke', '--matrix', 'quick', '--buildx', version, '--report-dir', reportDir('gone-prov')], {
        ...process.env,
        DOCKER_HOST: `unix://${sock}`,
        GOPROXY: `${base}/`,
        GOMODCACHE: modCache,
        BUILDX_LAB_RELEASES_URL: base,
        BUILDX_LAB_GO_NOSUMDB: '1',
      });
      let runId: string | undefined;
      try {
        runId = await run.runId;
        await run.saw(new RegExp(`docker/buildx@${version.replace(/\./g, '\\.')}: asking the Go module proxy`));
        fwd.close();
        const goneAt = Date.now();
        const r = await run.child;
        const afterGone = (Date.now() - goneAt) / 1000;
        expect(r.exitCode, String(r.all)).not.toBe(0);
        expect(String(r.all)).toMatch(/stopped answering/);
        expect(afterGone, `the run took ${afterGone} s to end after the engine went away`).toBeLessThan(60);
        // nothing the run started keeps waiting on the hung sources
        const left = await execa('pgrep', ['-f', `buildx@${version}`], { reject: false });
        expect(left.stdout.trim()).toBe('');
      } finally {
        fwd.close();
        await cleanup(runId);
      }
    });
  });
});
