// Bad input and broken parts of the host: each gives one clear error naming the fix, a non-zero exit,
// and leaves no container or network behind.
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { labConfig, withEngine } from './config.ts';
import { DindContainer } from './dind/dind.ts';
import { RUN_LABEL, labelsFor } from './ownership/labels.ts';
import { EngineStartError, ProvisionError, RequirementError } from './errors.ts';
import { CASE_BASE, localTag } from './images/catalog.ts';
import { ensureImage } from './images/images.ts';
import { silentProgress } from './progress.ts';
import { goModuleBuild } from './provision/gobuild.ts';
import type { EngineImageResult } from './runner/provision.ts';
import { CLI, labDockerEnv } from './runner/cli.test-helpers.ts';
import { ENGINE_26, startTestLab } from './runner/lab.test-helpers.ts';

async function leftovers(runId: string): Promise<string> {
  const env = await labDockerEnv();
  const f = ['--filter', `label=${RUN_LABEL}=${runId}`, '-q'];
  return [(await execa('docker', ['ps', '-a', ...f], { env })).stdout, (await execa('docker', ['network', 'ls', ...f], { env })).stdout].join('').trim();
}

describe('bad input and broken parts', () => {
  it('no engine at DOCKER_HOST: a clear error, exit 1, nothing installed or started', async () => {
    const r = await execa('node', [CLI, 'run', 'smoke'], { env: { ...process.env, DOCKER_HOST: 'unix:///tmp/buildx-lab-no-engine.sock' }, reject: false, timeout: 120_000 });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/No Docker engine answers at DOCKER_HOST=unix:\/\/\/tmp\/buildx-lab-no-engine\.sock/);
    expect(r.stderr).toMatch(/Fix: start that engine/);
  });

  it('an unknown scenario, option or axis value lists what exists, exit 2', async () => {
    const a = await execa('node', [CLI, 'run', 'nope'], { reject: false });
    expect(a.exitCode).toBe(2);
    expect(a.stderr).toMatch(/unknown scenario 'nope'; scenarios: .*pull-stream-errors/);
    const b = await execa('node', [CLI, 'run', 'bake', '--store', 'zfs'], { reject: false });
    expect(b.exitCode).toBe(2);
    expect(b.stderr).toMatch(/store=zfs is not in its matrix; it declares store = containerd, classic/);
    const c = await execa('node', [CLI, 'run', '--jobs', 'many'], { reject: false });
    expect(c.exitCode).toBe(2);
    expect(c.stderr).toMatch(/--jobs takes a whole number >= 1, not 'many'/);
    const d = await execa('node', [CLI, 'run', '--matrix', 'huge'], { reject: false });
    expect(d.exitCode).toBe(2);
    expect(d.stderr).toMatch(/option '--matrix <matrix>' argument 'huge' is invalid. Allowed choices are quick, full, all/);
  });

  it('DinD that never becomes ready: the error shows its log, and the container is gone', async () => {
    const runId = `fault${Date.now().toString(36)}`;
    const t = await startTestLab('itgfault', [ENGINE_26]);
    try {
      const image = await t.need<EngineImageResult>('engine:26.1.5');
      // An invalid daemon option makes dockerd exit at start: it never reports "API listen on".
      const err = await new DindContainer(t.config, image.ref, '26.1.5')
        .withStore('containerd')
        .withInsecureRegistry('bad registry with spaces')
        .withLabels(labelsFor(runId))
        .withStartupTimeout(15_000)
        .start()
        .then(
          async (d) => {
            await d.stop();
            return undefined;
          },
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(EngineStartError);
      expect((err as Error).message).toMatch(/last log lines/);
      expect((err as Error).message).toMatch(/insecure|registry|invalid/i);
      expect(await leftovers(runId)).toBe('');
    } finally {
      await t.close();
    }
  });

  it('debootstrap that cannot reach a mirror: the error names the mirror and the fix', async () => {
    const config = withEngine(labConfig(), (await labDockerEnv()).DOCKER_HOST!);
    const throwaway = { ...CASE_BASE, id: `faulttest${Date.now().toString(36)}` };
    const err = await ensureImage({ ...config, preferOfficialImages: false, debianMirror: 'http://127.0.0.1:9/debian' }, throwaway, silentProgress).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProvisionError);
    expect((err as Error).message).toMatch(/127\.0\.0\.1:9/);
    expect((err as Error).message).toMatch(/Fix: make sure a Debian mirror is reachable/);
    expect((await execa('docker', ['image', 'ls', '-q', localTag(throwaway)], { env: await labDockerEnv() })).stdout).toBe('');
  });

  it('Go missing when a build is needed: says so and names the other sources', async () => {
    const err = await goModuleBuild(
      { ...labConfig(), childPath: '/nonexistent' },
      { module: 'github.com/docker/buildx', version: 'v0.22.0', targets: [], ldflagsX: {}, workDir: '/tmp/bxl-nogo' },
      silentProgress,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequirementError);
    expect((err as Error).message).toMatch(/'go' was not found/);
    expect((err as Error).message).toMatch(/release download .*offline bundle/);
  });
});
