// The lab's own guarantees against a real engine: complete state reset between cells, no exposed
// APIs or ports, read-only host mounts, dead components reported as the lab's error, nothing left behind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { labConfig } from './config.ts';
import { Lab } from './lab.ts';
import { stderrProgress } from './progress.ts';
import { BuildxProvisioner } from './buildx/provision.ts';
import { loadReleases, resolveSpecs } from './buildx/spec.ts';
import { runCell, writeCellResult } from './runner/cell.ts';
import { writeReports } from './report/write.ts';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Scenario, ExpandedCell } from './runner/scenario.ts';
import type { Axes } from './model.ts';
import { prepareContext, pushTarget } from './runner/steps.ts';
import { RUN_LABEL, countLabResources } from './engine/engine.ts';

const config = { ...labConfig(), runId: `itg${Date.now().toString(36)}` };
const provisioner = new BuildxProvisioner(config, stderrProgress);
const docker = (...args: string[]) => execa('docker', args, { reject: false });

function cellFor(axes: Axes): ExpandedCell {
  const [buildx] = resolveSpecs(['debian-sid'], loadReleases());
  return { scenario: 'itg', axes: { buildx: 'v0.29.1-debian', ...axes }, name: Object.entries(axes).map(([k, v]) => `${k}=${v}`).join('/'), expected: { when: {}, outcome: 'control', reason: 'itg' }, buildx: buildx! };
}

/** A cell whose body kills a lab component before pushing: the cell must end `error`, naming it. */
function killing(what: 'registry' | 'dind'): Scenario<number> {
  return {
    id: `itg-kill-${what}`, title: '', links: [], symptom: '', axes: { buildx: [] }, expectations: [],
    async observe(ctx) {
      const dir = await prepareContext(ctx, 'multiplatform-scratch');
      await docker('kill', what === 'registry' ? ctx.lab.registry.id : ctx.sandbox.dind.id);
      const r = await ctx.sandbox.buildx(['build', '--platform', 'linux/amd64', '--push', '-t', pushTarget('itg', ctx.cellId).ref, dir], { timeoutMs: 120_000 });
      return r.exitCode;
    },
    judge: () => ({ observed: 'control', summary: 'should not be reached' }),
  };
}

describe('lab session', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await Lab.start(config, stderrProgress);
  });
  afterAll(async () => {
    await lab?.stop();
  });

  it('resets a DinD engine completely between cells', async () => {
    const lease = await lab.lease('26.1.5', 'containerd');
    try {
      const d = lease.dind;
      const bk = await lab.buildkit('v0.17.1');
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

  it('exposes nothing beyond the machine: no published ports, no TCP API, proxy on loopback and the lab bridge only', async () => {
    const lease = await lab.lease('26.1.5', 'classic');
    lease.release();
    const ids = (await docker('ps', '-q', '--filter', `label=${RUN_LABEL}=${config.runId}`)).stdout.split('\n').filter(Boolean);
    expect(ids.length).toBeGreaterThanOrEqual(2);
    for (const id of ids) {
      const inspect = JSON.parse((await docker('inspect', id)).stdout)[0];
      expect(inspect.HostConfig.PortBindings ?? {}, `${id} publishes ports`).toEqual({});
      // Host paths in DinD are read-only; only tmpfs (the engine's own state) is writable.
      for (const m of inspect.Mounts.filter((m: { Type: string }) => m.Type === 'bind')) expect(m.RW, `${m.Source} is writable in ${id}`).toBe(false);
    }
    for (const a of lab.proxy.addresses()) expect(['127.0.0.1', lab.network.gateway]).toContain(a.host);
    const ss = await lease.dind.exec(['ss', '-ltnH']);
    expect(ss.exitCode).toBe(0);
    expect(ss.stdout, 'dockerd listens on TCP').not.toMatch(/:(2375|2376)\b/);
  });

  it('keeps a user\'s registry credentials out of the results and reports', async () => {
    const secret = 's3cr3t-fake-credential';
    const auth = Buffer.from(`labuser:${secret}`).toString('base64');
    const leaky: Scenario<number> = {
      id: 'itg-credentials', title: '', links: [], symptom: '', axes: { buildx: [] }, expectations: [],
      async observe(ctx) {
        const dir = await prepareContext(ctx, 'multiplatform-scratch');
        const cfg = JSON.stringify({ auths: { 'registry:5000': { auth } } });
        await ctx.sandbox.sh(`printf '%s' '${cfg}' > ${ctx.sandbox.env.DOCKER_CONFIG}/config.json && cat ${ctx.sandbox.env.DOCKER_CONFIG}/config.json`);
        const r = await ctx.sandbox.buildx(['build', '--platform', 'linux/amd64', '--push', '-t', pushTarget('itg', ctx.cellId).ref, dir]);
        return r.exitCode;
      },
      judge: (exit) => ({ observed: exit === 0 ? 'control' : 'unexpected', summary: `pushed with a credential configured (exit ${exit})` }),
    };
    const result = await runCell(leaky, cellFor({ engine: '26.1.5', store: 'containerd' }), lab, provisioner);
    expect(result.outcome, result.summary).toBe('control');
    // The raw evidence does hold it (the cell printed its config.json); nothing written may.
    expect(JSON.stringify(result.evidence)).toContain(auth);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bxl-secret-'));
    writeCellResult(dir, result);
    await writeReports(dir, [result], { runId: 'itg', startedAt: '', finishedAt: '', host: { node: process.version }, argv: [] });
    const written = execa('grep', ['-rlE', `${secret}|${auth}`, dir], { reject: false });
    expect((await written).stdout, 'files holding the credential').toBe('');
    expect(JSON.stringify(result.evidence.journal).toLowerCase()).not.toContain('authorization');
  });

  it.each(['registry', 'dind'] as const)('reports a killed %s as the lab error, naming it', async (what) => {
    const result = await runCell(killing(what), cellFor({ engine: '28.5.2', store: 'containerd' }), lab, provisioner);
    expect(result.outcome).toBe('error');
    expect(result.summary).toMatch(what === 'registry' ? /registry/ : /DinD/);
  });

  it('leaves nothing behind when it stops', async () => {
    await lab.stop();
    const left = await countLabResources(config);
    const mine = (await docker('ps', '-aq', '--filter', `label=${RUN_LABEL}=${config.runId}`)).stdout.trim();
    expect(mine).toBe('');
    expect(left.networks).toBeGreaterThanOrEqual(0);
    expect((await docker('network', 'ls', '-q', '--filter', `label=${RUN_LABEL}=${config.runId}`)).stdout.trim()).toBe('');
  });
});
