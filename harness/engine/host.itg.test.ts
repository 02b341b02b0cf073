// The host engine against this real machine: installing the lab's own engine changes no Debian package
// (dpkg -l before and after), a usable engine the user runs is used as it is, and an old one (a real
// Docker 20.10, Debian bookworm's, run in a container) is left running while the lab starts its own
// beside it, saying so.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { childEnv, labConfig, withEngine, type LabConfig } from '../config.ts';
import { debianDindSpec } from '../images/catalog.ts';
import { ensureImage } from '../images/images.ts';
import { labelsFor } from '../ownership/labels.ts';
import type { ProgressSink } from '../progress.ts';
import { HostEngine } from './host.ts';

const dpkg = async () => (await execa('dpkg-query', ['-W', '-f', '${Package} ${Version} ${Status}\\n'])).stdout;
const notes: string[] = [];
const progress: ProgressSink = (m) => {
  notes.push(m);
};
const homes: string[] = [];
afterAll(() => {
  for (const h of homes) rmSync(h, { recursive: true, force: true });
});

/** A config whose lab engine lives in a fresh prefix, with its own socket: the lab's real engine is not touched. */
function freshEngine(over: Partial<LabConfig> = {}): LabConfig {
  const home = mkdtempSync(path.join(tmpdir(), 'bxl-engine-'));
  homes.push(home);
  return {
    ...labConfig(),
    engineHome: path.join(home, 'engine'),
    engineRunDir: path.join(home, 'run'),
    defaultDockerSocket: `unix://${path.join(home, 'none.sock')}`,
    requestedDockerHost: undefined,
    ...over,
  };
}

/**
 * A real Docker 20.10 (Debian bookworm's docker.io, in a container on the lab's engine) answering on a
 * socket in `dir`: the engine a user with bookworm's packages would have at the default socket.
 */
async function oldEngine(dir: string): Promise<{ sock: string; stop: () => Promise<void> }> {
  const lab = await new HostEngine(labConfig(), progress).ensure();
  const config = withEngine(labConfig(), lab.host);
  const env = childEnv(config);
  const image = await ensureImage(config, debianDindSpec('bookworm', '20.10'), progress);
  const labels = Object.entries(labelsFor(`itg-old-engine-${process.pid}`)).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
  const id = (
    await execa(
      'docker',
      ['run', '-d', '--privileged', ...labels, '-v', `${dir}:/run/old`, image.ref, 'dockerd', '-H', 'unix:///run/old/docker.sock', '--iptables=false', '--bridge=none'],
      { env },
    )
  ).stdout.trim();
  const sock = path.join(dir, 'docker.sock');
  const stop = async () => void (await execa('docker', ['rm', '-f', id], { env, reject: false }));
  for (const t0 = Date.now(); Date.now() - t0 < 60_000; await new Promise((r) => setTimeout(r, 500))) {
    const r = await execa('docker', ['version', '--format', '{{.Server.Version}}'], { env: { ...process.env, DOCKER_HOST: `unix://${sock}` }, reject: false });
    if (r.exitCode === 0) return { sock, stop };
  }
  const logs = await execa('docker', ['logs', '--tail', '30', id], { env, reject: false, all: true });
  await stop();
  throw new Error(`Docker 20.10 did not answer on ${sock}:\n${logs.all}`);
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

  it('uses a usable engine the user runs as it is, and never installs over DOCKER_HOST', async () => {
    const real = await new HostEngine(labConfig(), progress).ensure();
    const config = freshEngine({ requestedDockerHost: real.host, dockerHost: real.host });
    const info = await new HostEngine(config, progress).ensure();
    expect(info).toMatchObject({ owner: 'user', host: real.host });
    const gone = freshEngine({ requestedDockerHost: 'unix:///tmp/bxl-no-engine.sock' });
    await expect(new HostEngine(gone, progress).ensure()).rejects.toThrow(/No Docker engine answers at DOCKER_HOST=unix:\/\/\/tmp\/bxl-no-engine\.sock/);
  });

  it('leaves an engine older than 23 running, starts its own beside it, and says so', async () => {
    const config = freshEngine();
    const old = await oldEngine(path.dirname(config.defaultDockerSocket.slice('unix://'.length)));
    const oldHost = `unix://${old.sock}`;
    const userEnv = { ...process.env, DOCKER_HOST: oldHost };
    const before = (await execa('docker', ['version', '--format', '{{.Server.Version}}'], { env: userEnv })).stdout;
    expect(before).toMatch(/^20\.10\./);
    notes.length = 0;
    const host = new HostEngine({ ...config, defaultDockerSocket: oldHost }, progress);
    try {
      const info = await host.ensure();
      expect(info.owner).toBe('lab');
      expect(info.host).not.toBe(oldHost);
      expect(notes.join('\n')).toMatch(/runs Docker 20\.10\.\S+, older than 23\.0\.0: leaving it installed and running, and using the lab's own engine beside it/);
      // still answering, untouched
      expect((await execa('docker', ['version', '--format', '{{.Server.Version}}'], { env: userEnv })).stdout).toBe(before);
    } finally {
      await host.uninstall();
      await old.stop();
    }
  });
});
