// The lab's own guarantees against a real engine: complete state reset between cells, no exposed APIs or
// ports, read-only host mounts, dead components reported as the lab's error, nothing left behind.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUN_LABEL } from '../ownership/labels.ts';
import { writeCellResult } from '../runner/cell.ts';
import { toEngineImage } from '../runner/cell.ts';
import type { EngineImageResult, ImageResult } from '../runner/provision.ts';
import { BUILDKIT_17, ENGINE_26, SID_BUILDX, probeScenario, startTestLab, type TestLab } from '../runner/lab.test-helpers.ts';
import { defineScenario } from '../scenario/definition.ts';
import { writeReports } from '../report/write.ts';

let t: TestLab;
const docker = (...args: string[]) => execa('docker', args, { reject: false, env: { ...process.env, DOCKER_HOST: t.config.dockerHost } });
const mine = (kind: 'ps' | 'network') => docker(...(kind === 'ps' ? ['ps', '-aq'] : ['network', 'ls', '-q']), '--filter', `label=${RUN_LABEL}=${t.runId}`);

/** A cell whose body kills a lab component before pushing: the cell must end `error`, naming it. */
const killing = (what: 'registry' | 'dind') =>
  probeScenario(
    `itg-kill-${what}`,
    async (cell) => {
      const dir = await cell.context('multiplatform-scratch');
      await docker('kill', what === 'registry' ? cell.lab.registry.id : cell.sandbox.dind.id);
      const r = await cell.buildx(['build', '--platform', 'linux/amd64', '--push', '-t', cell.target().ref, dir], { timeoutMs: 120_000 });
      return r.exitCode;
    },
    () => ({ observed: 'control', summary: 'should not be reached' }),
  );

/** A cell that needs only its engine (the registry may be gone by then): `buildx version` answers. */
const engineOnly = defineScenario({
  id: 'itg-engine-only',
  title: '',
  links: [],
  symptom: '',
  axes: { buildx: [] },
  expectations: [],
  observe: async (cell) => (await cell.buildx(['version'])).exitCode,
  judge: (exitCode) => (exitCode === 0 ? { observed: 'control', summary: 'buildx version answered' } : { observed: 'unexpected', summary: `buildx version exit ${exitCode}` }),
});

describe('lab session', () => {
  beforeAll(async () => {
    t = await startTestLab('itglab', [SID_BUILDX, ENGINE_26, BUILDKIT_17], { jobs: 2 });
  }, 60 * 60_000);
  afterAll(async () => {
    await t?.close();
  });

  it('resets a DinD engine completely between cells', async () => {
    const lease = await t.lab.lease(toEngineImage(await t.need<EngineImageResult>('engine:26.1.5')), 'containerd');
    try {
      const d = lease.dind;
      const bk = await t.lab.publish((await t.need<ImageResult>('buildkit:v0.17.1')).ref, 'moby/buildkit:v0.17.1');
      await d.exec(['docker', 'pull', bk.ref]);
      await d.exec(['docker', 'volume', 'create', 'leftover']);
      await d.exec(['docker', 'create', '--name', 'leftover', '-v', 'leftover:/data', bk.ref]);
      const before = await d.stateCounts();
      expect(before.containers).toBeGreaterThan(0);
      expect(before.images).toBeGreaterThan(0);
      expect(before.volumes).toBeGreaterThan(0);
      await d.resetState();
      expect(await d.stateCounts()).toEqual({ containers: 0, images: 0, volumes: 0 });
      // Kept images survive, and nothing else does.
      await d.exec(['docker', 'pull', bk.ref]);
      await d.exec(['docker', 'create', '--name', 'again', bk.ref]);
      await d.resetState({ keepImages: [bk.ref] });
      expect(await d.stateCounts()).toMatchObject({ containers: 0, volumes: 0 });
      expect((await d.exec(['docker', 'images', '--format', '{{.Repository}}:{{.Tag}}'])).stdout.trim()).toBe(bk.ref);
    } finally {
      lease.release();
    }
  });

  it('runs two cells of one engine and store side by side on two engines, and reuses them after', async () => {
    const engine = toEngineImage(await t.need<EngineImageResult>('engine:26.1.5'));
    const [a, b] = await Promise.all([t.lab.lease(engine, 'containerd'), t.lab.lease(engine, 'containerd')]);
    try {
      expect(a.dind.id).not.toBe(b.dind.id);
      expect(await a.dind.isRunning()).toBe(true);
      expect(await b.dind.isRunning()).toBe(true);
      expect(t.lab.engineCount(engine, 'containerd')).toBe(2);
    } finally {
      a.release();
      b.release();
    }
    const again = await t.lab.lease(engine, 'containerd');
    again.release();
    expect([a.dind.id, b.dind.id]).toContain(again.dind.id);
    expect(again.startMs).toBe(0);
    expect(t.lab.engineCount(engine, 'containerd')).toBe(2);
  });

  it('exposes nothing beyond the machine: no published ports, no TCP API, proxy on loopback and the lab bridge only', async () => {
    const lease = await t.lab.lease(toEngineImage(await t.need<EngineImageResult>('engine:26.1.5')), 'classic');
    lease.release();
    const ids = (await docker('ps', '-q', '--filter', `label=${RUN_LABEL}=${t.runId}`)).stdout.split('\n').filter(Boolean);
    expect(ids.length).toBeGreaterThanOrEqual(2);
    for (const id of ids) {
      const inspect = JSON.parse((await docker('inspect', id)).stdout)[0];
      expect(inspect.HostConfig.PortBindings ?? {}, `${id} publishes ports`).toEqual({});
      // Host paths in DinD are read-only; only tmpfs (the engine's own state) is writable. The registry (no
      // network, nothing untrusted in it) writes one host directory: the one its socket goes in.
      const writable = inspect.Mounts.filter((m: { Type: string; RW: boolean }) => m.Type === 'bind' && m.RW).map((m: { Source: string }) => m.Source);
      expect(writable, `writable host paths in ${id}`).toEqual(t.lab.registry.id.startsWith(id) ? [t.lab.registry.socketDir] : []);
    }
    for (const a of t.lab.proxy.addresses()) expect(['127.0.0.1', t.lab.network.gateway]).toContain(a.host);
    const ss = await lease.dind.exec(['ss', '-ltnH']);
    expect(ss.exitCode).toBe(0);
    expect(ss.stdout, 'dockerd listens on TCP').not.toMatch(/:(2375|2376)\b/);
  });

  // Before, the registry sat on the lab network: any build step could reach it by its name or address,
  // bypassing the journal, the faults and the emulations.
  it('the registry answers only through the proxy: nothing else on the lab network serves it, and a push through the proxy is journaled', async () => {
    const lease = await t.lab.lease(toEngineImage(await t.need<EngineImageResult>('engine:26.1.5')), 'containerd');
    try {
      const d = lease.dind;
      const registry = JSON.parse((await docker('inspect', t.lab.registry.id)).stdout)[0];
      const lan = JSON.parse((await docker('network', 'inspect', t.lab.network.name)).stdout)[0];
      // Every name and address the registry could be reached by on a network, and every member of the lab network.
      const candidates = new Set<string>(
        [
          registry.Name.replace(/^\//, ''),
          t.lab.registry.id.slice(0, 12),
          ...Object.values(registry.NetworkSettings.Networks as Record<string, { IPAddress: string }>).map((n) => n.IPAddress),
          ...Object.values(lan.Containers as Record<string, { IPv4Address: string }>).map((c) => c.IPv4Address.split('/')[0]!),
        ].filter(Boolean),
      );
      const probe = (host: string) =>
        d.exec(['timeout', '5', 'bash', '-c', `exec 3<>/dev/tcp/${host}/5000 && printf 'GET /v2/ HTTP/1.0\r\nHost: registry:5000\r\n\r\n' >&3 && head -c 12 <&3`], {
          timeoutMs: 15_000,
        });
      for (const host of candidates) {
        const r = await probe(host);
        expect(r.stdout, `${host}:5000 answered from inside a DinD`).not.toMatch(/^HTTP\//);
      }
      expect(registry.HostConfig.NetworkMode).toBe('none');
      // The proxy on the gateway answers, and journals who asked.
      const mark = t.lab.proxy.journal.mark();
      expect((await probe('registry')).stdout).toMatch(/^HTTP\/1\.[01] 200/);
      const bk = await t.lab.publish((await t.need<ImageResult>('buildkit:v0.17.1')).ref, 'moby/buildkit:v0.17.1');
      const ref = `registry:5000/itg/through-proxy:${t.runId}`;
      for (const argv of [
        ['docker', 'pull', bk.ref],
        ['docker', 'tag', bk.ref, ref],
        ['docker', 'push', ref],
      ]) {
        const r = await d.exec(argv, { timeoutMs: 300_000 });
        expect(r.exitCode, `${argv.join(' ')}: ${r.stderr}`).toBe(0);
      }
      const fromDind = t.lab.proxy.journal.since(mark).filter((e) => e.client === d.labAddress);
      expect(fromDind.some((e) => e.kind === 'base' && e.status === 200)).toBe(true);
      expect(fromDind.some((e) => e.method === 'PUT' && e.kind === 'manifests' && e.repository === 'itg/through-proxy' && e.status === 201)).toBe(true);
    } finally {
      lease.release();
    }
  });

  it("keeps a user's registry credentials out of the results and reports", async () => {
    const secret = 's3cr3t-fake-credential';
    const auth = Buffer.from(`labuser:${secret}`).toString('base64');
    const leaky = probeScenario(
      'itg-credentials',
      async (cell) => {
        const dir = await cell.context('multiplatform-scratch');
        await cell.sandbox.writeFiles([{ rel: 'docker/config.json', content: JSON.stringify({ auths: { 'registry:5000': { auth } } }) }]);
        await cell.sandbox.sh(`cat ${cell.sandbox.dockerConfigDir}/config.json`);
        return (await cell.buildx(['build', '--platform', 'linux/amd64', '--push', '-t', cell.target().ref, dir])).exitCode;
      },
      (exit) => ({ observed: exit === 0 ? 'control' : 'unexpected', summary: `pushed with a credential configured (exit ${exit})` }),
    );
    const result = await t.cell(leaky, { buildx: 'v0.29.1-debian', engine: '26.1.5', store: 'containerd' });
    expect(result.outcome, result.summary).toBe('control');
    // The raw evidence does hold it (the cell printed its config.json); nothing written may.
    expect(JSON.stringify(result.evidence)).toContain(auth);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bxl-secret-'));
    writeCellResult(dir, result);
    await writeReports(dir, [result], { runId: 'itg', startedAt: '', finishedAt: '', host: { node: process.version }, argv: [] });
    const written = await execa('grep', ['-rlE', `${secret}|${auth}`, dir], { reject: false });
    rmSync(dir, { recursive: true, force: true });
    expect(written.stdout, 'files holding the credential').toBe('');
    expect(JSON.stringify(result.evidence.journal).toLowerCase()).not.toContain('authorization');
  });

  const killedIsTheLabError = async (what: 'registry' | 'dind') => {
    const result = await t.cell(killing(what), { buildx: 'v0.29.1-debian', engine: '26.1.5', store: 'containerd' });
    expect(result.outcome).toBe('error');
    expect(result.summary).toMatch(what === 'registry' ? /registry/ : /DinD/);
  };

  it('reports a killed dind as the lab error, naming it', () => killedIsTheLabError('dind'));

  it('gives the cells after a dead engine a fresh one, instead of the same error', async () => {
    const result = await t.cell(engineOnly, { buildx: 'v0.29.1-debian', engine: '26.1.5', store: 'containerd' });
    expect(result.outcome, result.summary).toBe('control');
  });

  // last of the cells: the registry stays dead for the rest of the lab
  it('reports a killed registry as the lab error, naming it', () => killedIsTheLabError('registry'));

  it('leaves nothing behind when it stops', async () => {
    expect((await mine('ps')).stdout.trim(), 'before stop: the run has containers').not.toBe('');
    await t.lab.stop();
    expect((await mine('ps')).stdout.trim()).toBe('');
    expect((await mine('network')).stdout.trim()).toBe('');
    expect(existsSync(t.lab.registry.socketDir), 'the registry socket directory').toBe(false);
  });
});
