// The host engine goes away between cells: the run must end with a clear error, in bounded time,
// not hang. The lab reaches the engine through a unix-socket forwarder that the test closes mid-run.
import { describe, expect, it } from 'vitest';
import net from 'node:net';
import { rmSync } from 'node:fs';
import { execa } from 'execa';
import { RUN_LABEL } from '../engine/engine.ts';

const cli = new URL('../../bin/buildx-lab.mjs', import.meta.url).pathname;

function forwarder(path: string, target = '/var/run/docker.sock'): { close(): void; connections: () => number } {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  // allowHalfOpen: `docker exec` half-closes its hijacked stream and still reads the output.
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    connections++;
    const upstream = net.connect({ path: target, allowHalfOpen: true });
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const drop = () => { client.destroy(); upstream.destroy(); };
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

describe('host engine gone', () => {
  it('ends the run with an error naming the engine, within bounded time', async () => {
    const runId = `gone${Date.now().toString(36)}`;
    const sock = `/tmp/bxl-engine-${runId}.sock`;
    const fwd = forwarder(sock);
    const child = execa('node', [cli, 'run', 'bake', '--matrix', 'full', '--engine', '26.1.5', '--store', 'containerd', '--driver', 'docker', '--jobs', '1', '--report-dir', `/tmp/bxl-gone-${runId}`], {
      env: { ...process.env, DOCKER_HOST: `unix://${sock}`, BUILDX_LAB_RUN_ID: runId },
      reject: false,
      all: true,
      timeout: 300_000,
    });
    const cellPassed = await new Promise<boolean>((resolve) => {
      child.all?.on('data', (d: Buffer) => {
        if (/\bok\s+bake-multiplatform-push/.test(d.toString())) resolve(true);
      });
      void child.then(() => resolve(false));
    });
    expect(cellPassed, 'no cell passed before the engine was taken away').toBe(true);
    const before = fwd.connections();
    fwd.close(); // from here on the lab cannot reach its engine
    const goneAt = Date.now();
    const r = await child;
    const afterGone = (Date.now() - goneAt) / 1000;
    try {
      expect(before, 'the lab never used the forwarded engine').toBeGreaterThan(0);
      expect(r.timedOut, 'the run hung').toBe(false);
      expect(r.exitCode, r.all).not.toBe(0);
      expect(r.all).toMatch(/Cannot connect to the Docker daemon|no longer running|ENOENT|ECONNREFUSED/);
      expect(afterGone, `the run took ${afterGone} s to end after the engine went away`).toBeLessThan(120);
    } finally {
      // Without an engine the lab could not stop its containers; clean them through the real socket.
      const f = ['--filter', `label=${RUN_LABEL}=${runId}`, '-q'];
      const ids = (await execa('docker', ['ps', '-aq', ...f])).stdout.split('\n').filter(Boolean);
      if (ids.length) await execa('docker', ['rm', '-f', '-v', ...ids]);
      const nets = (await execa('docker', ['network', 'ls', ...f])).stdout.split('\n').filter(Boolean);
      if (nets.length) await execa('docker', ['network', 'rm', ...nets]);
    }
  });
});
