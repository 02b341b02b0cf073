// Binds a scenario to vitest: one describe per scenario, one test per cell, named by its axes
// (so `vitest -t 'buildx=v0.21.1'` selects a version). No retries: a retry would turn a reproduced
// flake into a pass.
import { afterAll, beforeAll, describe, test } from 'vitest';
import { labConfig } from '../config.ts';
import { BuildxProvisioner } from '../buildx/provision.ts';
import { Lab } from '../lab.ts';
import type { StoreKind } from '../model.ts';
import { stderrProgress } from '../progress.ts';
import { lastErrorLine } from '../report/evidence.ts';
import { runCell, writeCellResult } from './cell.ts';
import { expandScenario, type Scenario } from './scenario.ts';
import { interleaveByEngine } from './matrix.ts';

/**
 * Registers the scenario's cells with vitest and returns the scenario, which the file exports as its
 * default so the CLI can check a run's filters before starting anything. Outside vitest it registers nothing.
 */
export function registerScenario<O>(s: Scenario<O>): Scenario<O> {
  const config = labConfig();
  if (!config.underVitest) return s;
  const cells = expandScenario(s, config);
  if (cells.length === 0) {
    // The run's filters select nothing here; vitest fails a file without a suite.
    describe.skip(`${s.id} (no cell matches the filters)`, () => {});
    return s;
  }
  const provisioner = new BuildxProvisioner(config, stderrProgress);
  const repeat = config.repeat;

  // Cells on different engines run side by side (up to --jobs, vitest's maxConcurrency); cells that share
  // an engine take turns on it. Interleaving by engine keeps the engines busy at once.
  describe(s.id, { concurrent: config.jobs > 1 }, () => {
    let lab: Lab | undefined;
    beforeAll(async () => {
      const first = cells[0];
      lab = await Lab.start(config, stderrProgress, { prewarm: first ? [{ engine: first.axes.engine!, store: first.axes.store as StoreKind }] : [] });
    }, 30 * 60_000);
    afterAll(async () => {
      await lab?.stop();
    }, 120_000);

    for (const cell of interleaveByEngine(cells)) {
      for (let attempt = 0; attempt < repeat; attempt++) {
        const name = repeat > 1 ? `${cell.name} #${attempt + 1}` : cell.name;
        test(name, async (t) => {
          if (!lab) throw new Error('lab did not start (see beforeAll)');
          const result = await runCell(s, cell, lab, provisioner, attempt);
          writeCellResult(config.reportDir, result);
          t.task.meta.outcome = result.outcome;
          t.task.meta.summary = result.summary;
          if (result.outcome === 'skipped') t.skip(result.summary);
          if (result.outcome !== result.expected) {
            const err = new Error(`${result.outcome}: ${result.summary}${result.error ? `\n${result.error.message}` : ''}\nlast error line: ${lastErrorLine(result) ?? '(none)'}`);
            err.stack = err.message;
            throw err;
          }
        }, s.timeoutMs ?? 30 * 60_000);
      }
    }
  });
  return s;
}

/** A file that holds no scenario in this run (repro-case without a case). */
export function registerNothing(reason: string): undefined {
  if (labConfig().underVitest) describe.skip(reason, () => {});
  return undefined;
}

declare module 'vitest' {
  interface TaskMeta {
    outcome?: string;
    summary?: string;
  }
}
