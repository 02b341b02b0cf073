// Reliability of the runner with real processes: Ctrl-C mid-cell and a killed runner leave nothing
// behind (after the next run's sweep), and the next run works.
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { scratchPath } from '../scratch.test-helpers.ts';
import { CLI, labDockerEnv, labResources, startCli } from './cli.test-helpers.ts';

const CELL_STARTED = /bake-multiplatform-push > buildx=\S+: waiting for its engine and Buildx/;

describe('runner under signals', () => {
  it('Ctrl-C during a cell: non-zero exit, everything removed', async () => {
    const run = startCli(['run', 'bake', '--matrix', 'quick', '--report-dir', scratchPath('sigint')]);
    await run.saw(CELL_STARTED);
    const runId = await run.runId;
    await run.saw(/DinD .* ready in/); // the cell is in its engine now
    expect(await labResources(runId)).toBeGreaterThan(0);
    process.kill(-run.child.pid!, 'SIGINT'); // what a terminal does: the whole foreground group
    const r = await run.child;
    expect(r.exitCode ?? 1).not.toBe(0);
    expect(await labResources(runId)).toBe(0);
  });

  it.each(['SIGTERM', 'SIGHUP'] as const)(
    '%s to the bin wrapper alone (kill PID, a CI timeout, a closed terminal): the run stops, exit 128+signal, everything removed',
    async (signal) => {
      const run = startCli(['run', 'bake', '--matrix', 'quick', '--report-dir', scratchPath(signal.toLowerCase())]);
      await run.saw(CELL_STARTED);
      const runId = await run.runId;
      await run.saw(/DinD .* ready in/);
      process.kill(run.child.pid!, signal); // the wrapper's pid only, not its process group
      const r = await run.child;
      expect(r.exitCode, r.all).toBe(signal === 'SIGTERM' ? 143 : 129);
      expect(await labResources(runId)).toBe(0);
    },
  );

  it('a killed runner leaves labelled leftovers, which the next run sweeps before it starts', async () => {
    const run = startCli(['run', 'bake', '--matrix', 'quick', '--report-dir', scratchPath('sigkill')]);
    await run.saw(/DinD .* ready in/);
    const runId = await run.runId;
    process.kill(-run.child.pid!, 'SIGKILL');
    await run.child;
    // Nothing of the run keeps running, but its containers and network are still there.
    expect(await labResources(runId)).toBeGreaterThan(0);
    // The next run sweeps them before it starts, and works.
    const next = await execa('node', [CLI, 'run', 'smoke', '--matrix', 'quick', '--report-dir', scratchPath('sig-next')], {
      reject: false,
      all: true,
      env: await labDockerEnv(),
    });
    expect(next.exitCode, next.all).toBe(0);
    expect(next.all).toMatch(new RegExp(`sweep: removed run ${runId}: abandoned`));
    expect(await labResources(runId)).toBe(0);
  });
});
