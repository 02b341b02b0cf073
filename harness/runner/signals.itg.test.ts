// Reliability of the runner with real processes: Ctrl-C mid-cell and a killed runner leave nothing
// behind (after the next run's sweep), and the next run works.
import { describe, expect, it } from 'vitest';
import { execa, type ResultPromise } from 'execa';
import { RUN_LABEL } from '../engine/engine.ts';

const cli = new URL('../../bin/buildx-lab.mjs', import.meta.url).pathname;

async function labResources(runId: string): Promise<number> {
  const f = ['--filter', `label=${RUN_LABEL}=${runId}`, '-q'];
  const c = await execa('docker', ['ps', '-a', ...f]);
  const n = await execa('docker', ['network', 'ls', ...f]);
  const v = await execa('docker', ['volume', 'ls', ...f]);
  return [c.stdout, n.stdout, v.stdout].join('\n').split('\n').filter(Boolean).length;
}

/** Starts a quick bake run in its own process group and resolves once a cell has started. */
function startRun(runId: string): { child: ResultPromise; started: Promise<void> } {
  const child = execa('node', [cli, 'run', 'bake', '--matrix', 'quick', '--report-dir', `/tmp/bxl-sig-${runId}`], {
    env: { ...process.env, BUILDX_LAB_RUN_ID: runId },
    detached: true,
    reject: false,
    all: true,
  });
  const started = new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no cell started within 300 s')), 300_000);
    child.all?.on('data', (d: Buffer) => {
      if (/\bstart\s+bake-multiplatform-push/.test(d.toString())) { clearTimeout(t); resolve(); }
    });
  });
  return { child, started };
}

describe('runner under signals', () => {
  it('Ctrl-C during a cell: non-zero exit, everything removed', async () => {
    const runId = `sigint${Date.now().toString(36)}`;
    const { child, started } = startRun(runId);
    await started;
    await new Promise((r) => setTimeout(r, 1500)); // mid-bake
    expect(await labResources(runId)).toBeGreaterThan(0);
    process.kill(-child.pid!, 'SIGINT'); // what a terminal does: the whole foreground group
    const r = await child;
    expect(r.exitCode ?? 1).not.toBe(0);
    expect(await labResources(runId)).toBe(0);
  });

  it('a killed runner leaves labelled leftovers, which the next run sweeps before it starts', async () => {
    const runId = `sigkill${Date.now().toString(36)}`;
    const { child, started } = startRun(runId);
    await started;
    process.kill(-child.pid!, 'SIGKILL');
    await child;
    // Nothing of the run may keep running, but its containers and network are still there.
    const left = await labResources(runId);
    expect(left).toBeGreaterThan(0);
    // The next run sweeps them before it starts (their pid label names a dead process), and works.
    const next = await execa('node', [cli, 'run', 'smoke', '--matrix', 'quick', '--report-dir', `/tmp/bxl-sig-next-${runId}`], { reject: false, all: true });
    expect(next.exitCode, next.all).toBe(0);
    expect(next.all).toMatch(/swept leftovers of earlier killed runs/);
    expect(await labResources(runId)).toBe(0);
  });
});
