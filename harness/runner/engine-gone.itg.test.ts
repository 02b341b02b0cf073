// The host engine goes away between cells: the run must end with a clear error, in bounded time,
// not hang. The engine is reached through a unix-socket forwarder that the test closes mid-run.
import { describe, expect, it } from 'vitest';
import net from 'node:net';
import { rmSync } from 'node:fs';
import { execa } from 'execa';
import { RUN_LABEL } from '../engine/engine.ts';

const cli = new URL('../../bin/buildx-lab.mjs', import.meta.url).pathname;

function forwarder(path: string, target = '/var/run/docker.sock'): { close(): void } {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target);
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const drop = () => { client.destroy(); upstream.destroy(); };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  rmSync(path, { force: true });
  server.listen(path);
  return {
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
    const t0 = Date.now();
    const child = execa('node', [cli, 'run', 'bake', '--matrix', 'quick', '--jobs', '1', '--report-dir', `/tmp/bxl-gone-${runId}`], {
      env: { ...process.env, DOCKER_HOST: `unix://${sock}`, BUILDX_LAB_RUN_ID: runId },
      reject: false,
      all: true,
      timeout: 300_000,
    });
    await new Promise<void>((resolve) => {
      child.all?.on('data', (d: Buffer) => {
        if (/\bok\s+bake-multiplatform-push/.test(d.toString())) resolve();
      });
    });
    fwd.close(); // the engine is gone from the lab's point of view
    const goneAt = Date.now();
    const r = await child;
    const afterGone = (Date.now() - goneAt) / 1000;
    try {
      expect(r.timedOut, 'the run hung').toBe(false);
      expect(r.exitCode).not.toBe(0);
      expect(r.all).toMatch(/Cannot connect to the Docker daemon|No Docker engine|ECONNREFUSED|ENOENT|no longer running/);
      expect(afterGone, `exit ${afterGone}s after the engine went away`).toBeLessThan(120);
      expect(Date.now() - t0).toBeLessThan(300_000);
    } finally {
      // The lab could not stop its containers without an engine; clean them through the real socket.
      const f = ['--filter', `label=${RUN_LABEL}=${runId}`, '-q'];
      const ids = (await execa('docker', ['ps', '-aq', ...f])).stdout.split('\n').filter(Boolean);
      if (ids.length) await execa('docker', ['rm', '-f', '-v', ...ids]);
      const nets = (await execa('docker', ['network', 'ls', ...f])).stdout.split('\n').filter(Boolean);
      if (nets.length) await execa('docker', ['network', 'rm', ...nets]);
    }
  });
});
