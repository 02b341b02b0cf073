// The host engine against this real machine: installing the lab's own engine changes no Debian package
// (dpkg -l before and after), a usable engine the user runs is used as it is, and an old one is left
// running while the lab starts its own beside it, saying so.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { labConfig, type LabConfig } from '../config.ts';
import type { ProgressSink } from '../progress.ts';
import { HostEngine } from './host.ts';

const dpkg = async () => (await execa('dpkg-query', ['-W', '-f', '${Package} ${Version} ${Status}\\n'])).stdout;
const notes: string[] = [];
const progress: ProgressSink = (m) => { notes.push(m); };
const homes: string[] = [];
afterAll(() => { for (const h of homes) rmSync(h, { recursive: true, force: true }); });

/** A config whose lab engine lives in a fresh prefix, with its own socket: the lab's real engine is not touched. */
function freshEngine(over: Partial<LabConfig> = {}): LabConfig {
  const home = mkdtempSync(path.join(tmpdir(), 'bxl-engine-'));
  homes.push(home);
  return { ...labConfig(), engineHome: path.join(home, 'engine'), engineRunDir: path.join(home, 'run'), defaultDockerSocket: `unix://${path.join(home, 'none.sock')}`, requestedDockerHost: undefined, ...over };
}

/** Stands in for an engine older than 23: all the lab asks of it is its version. */
async function oldEngine(sock: string): Promise<Server> {
  const server = createServer((req, res) => {
    res.setHeader('Content-Type', 'application/json');
    if (req.url?.endsWith('/_ping')) return void res.end('OK');
    res.end(JSON.stringify({ Version: '20.10.24+dfsg1', ApiVersion: '1.41', MinAPIVersion: '1.12', Os: 'linux', Arch: 'amd64' }));
  });
  await new Promise<void>((r) => server.listen(sock, r));
  return server;
}

describe('the host engine', () => {
  it('installs and starts its own engine under its prefix, changing no Debian package', async () => {
    const before = await dpkg();
    const config = freshEngine();
    const host = new HostEngine(config, progress);
    const info = await host.ensure();
    try {
      expect(info).toMatchObject({ owner: 'lab', serverVersion: '26.1.5', host: `unix://${path.join(config.engineRunDir, 'docker.sock')}` });
      const { stdout } = await execa('docker', ['info', '--format', '{{.DockerRootDir}} {{.Driver}}'], { env: { ...process.env, DOCKER_HOST: info.host } });
      expect(stdout).toBe(`${path.join(config.engineHome, 'data')} overlay2`);
    } finally {
      await host.uninstall();
    }
    expect(await dpkg()).toBe(before);
  });

  it("uses a usable engine the user runs as it is, and never installs over DOCKER_HOST", async () => {
    const real = await new HostEngine(labConfig(), progress).ensure();
    const config = freshEngine({ requestedDockerHost: real.host, dockerHost: real.host });
    const info = await new HostEngine(config, progress).ensure();
    expect(info).toMatchObject({ owner: 'user', host: real.host });
    const gone = freshEngine({ requestedDockerHost: 'unix:///tmp/bxl-no-engine.sock' });
    await expect(new HostEngine(gone, progress).ensure()).rejects.toThrow(/No Docker engine answers at DOCKER_HOST=unix:\/\/\/tmp\/bxl-no-engine\.sock/);
  });

  it('leaves an engine older than 23 running, starts its own beside it, and says so', async () => {
    const config = freshEngine();
    const sock = config.defaultDockerSocket.slice('unix://'.length);
    const old = await oldEngine(sock);
    notes.length = 0;
    const host = new HostEngine(config, progress);
    try {
      const info = await host.ensure();
      expect(info.owner).toBe('lab');
      expect(info.host).not.toBe(config.defaultDockerSocket);
      expect(notes.join('\n')).toMatch(/runs Docker 20\.10\.24\+dfsg1, older than 23\.0\.0: leaving it installed and running, and using the lab's own engine beside it/);
      // still answering, untouched
      const r = await execa('docker', ['version', '--format', '{{.Server.Version}}'], { env: { ...process.env, DOCKER_HOST: config.defaultDockerSocket }, reject: false });
      expect(r.stdout).toBe('20.10.24+dfsg1');
    } finally {
      await host.uninstall();
      old.close();
    }
  });
});
