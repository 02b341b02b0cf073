// `make bench`: the lab's speed, measured on this machine (not asserted in tests).
//   warm: registry and DinD ready times, the default matrix's wall time and per-cell split
//         (engine start, Buildx, verification, harness overhead), and cells per minute;
//   --cold adds cold costs: a fresh debootstrap image build and a Buildx build from the Go module proxy.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { labConfig } from '../config.ts';
import { Lab } from '../lab.ts';
import { silentProgress, stderrProgress } from '../progress.ts';
import { launchScenarios } from '../runner/launch.ts';
import { ensureImage } from '../images/images.ts';
import { findImageSpec } from '../images/catalog.ts';
import { BuildxProvisioner } from '../buildx/provision.ts';
import { run } from '../exec.ts';
import { childEnv } from '../config.ts';
import type { CellResult } from '../model.ts';

const config = { ...labConfig(), runId: `bench${Date.now().toString(36)}` };
const rows: [string, string][] = [];
const note = (what: string, value: string) => {
  rows.push([what, value]);
  process.stderr.write(`[bench] ${what}: ${value}\n`);
};
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const median = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! : 0);

async function engineTimes(): Promise<void> {
  const t0 = Date.now();
  const lab = await Lab.start(config, silentProgress);
  note('lab start (network + registry + proxy)', s(Date.now() - t0));
  note('registry ready', `${lab.registry.readyMs} ms`);
  try {
    for (const engine of ['26.1.5', '28.5.2']) {
      for (const store of ['containerd', 'classic'] as const) {
        const lease = await lab.lease(engine, store);
        note(`DinD ${engine} ${store} ready`, `${lease.dind.readyMs} ms`);
        const r0 = Date.now();
        await lease.dind.resetState();
        note(`DinD ${engine} ${store} state reset`, `${Date.now() - r0} ms`);
        lease.release();
      }
    }
  } finally {
    await lab.stop();
  }
}

function cellSplit(label: string, results: CellResult[]): void {
  const ran = results.filter((r) => r.outcome !== 'skipped' && r.outcome !== 'error');
  const overhead = ran.map((r) => r.timings.totalMs - r.timings.startMs - r.timings.buildxMs - r.timings.verifyMs);
  note(`${label}: cells`, `${results.length} (${ran.length} ran)`);
  note(`${label}: median cell wall`, `${median(ran.map((r) => r.timings.totalMs))} ms`);
  note(`${label}: median engine start/reset`, `${median(ran.map((r) => r.timings.startMs))} ms`);
  note(`${label}: median buildx`, `${median(ran.map((r) => r.timings.buildxMs))} ms`);
  note(`${label}: median verify`, `${median(ran.map((r) => r.timings.verifyMs))} ms`);
  const share = ran.map((r, i) => overhead[i]! / Math.max(1, r.timings.totalMs));
  note(`${label}: median harness overhead`, `${median(overhead)} ms (${(median(share) * 100).toFixed(0)}% of a cell)`);
}

async function matrix(label: string, files: string[], m: 'quick' | 'full'): Promise<void> {
  const reportDir = mkdtempSync(path.join(os.tmpdir(), 'bxl-bench-'));
  const t0 = Date.now();
  const { results } = await launchScenarios(config, { files, matrix: m, axisFilters: {}, repeat: 1, jobs: 2, reportDir, runId: `${config.runId}${label.length}` });
  const wall = Date.now() - t0;
  note(`${label}: wall`, s(wall));
  note(`${label}: throughput`, `${((results.length / wall) * 60_000).toFixed(1)} cells/min`);
  cellSplit(label, results);
  rmSync(reportDir, { recursive: true, force: true });
}

async function coldCosts(): Promise<void> {
  const spec = findImageSpec('registry');
  const throwaway = { ...spec, id: 'bench-registry', recipe: { ...spec.recipe, hashExtra: `bench ${Date.now()}` } };
  const t0 = Date.now();
  const img = await ensureImage({ ...config, preferOfficialImages: false }, throwaway, stderrProgress);
  note('cold image build (debootstrap trixie + docker-registry, import)', s(Date.now() - t0));
  await run(['docker', 'image', 'rm', img.ref], { env: childEnv(config) });
  const cache = mkdtempSync(path.join(os.tmpdir(), 'bxl-bench-cache-'));
  try {
    const t1 = Date.now();
    await new BuildxProvisioner({ ...config, cacheDir: cache, offline: true }, stderrProgress).installSpecs(['0.22.0']);
    note('Buildx v0.22.0 from the Go module proxy (Go caches as they are)', s(Date.now() - t1));
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
}

await engineTimes();
await matrix('default matrix (make lab)', ['scenarios/49453-pull-stream-errors.test.ts', 'scenarios/3070-bake-multiplatform-push.test.ts'], 'quick');
if (process.argv.includes('--full')) await matrix('full seed matrices', ['scenarios/49453-pull-stream-errors.test.ts', 'scenarios/3070-bake-multiplatform-push.test.ts'], 'full');
if (process.argv.includes('--cold')) await coldCosts();

const w = Math.max(...rows.map(([k]) => k.length));
process.stdout.write(`\nbuildx-lab bench (${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version})\n`);
for (const [k, v] of rows) process.stdout.write(`  ${k.padEnd(w)}  ${v}\n`);
