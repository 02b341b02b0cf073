// The cells of a run as vitest tests: one describe per scenario, one test per cell, named by its axes
// (so `-t 'buildx=v0.21.1'` selects a version). The run spec comes from the CLI (or from the global setup
// when vitest is run directly); one lab serves every cell. A cell starts as soon as what it needs is
// provisioned; cells whose requirements are ready first run first. No retries: a retry would turn a
// reproduced flake into a pass.
import { afterAll, beforeAll, describe, inject, test } from 'vitest';
import { buildxCacheRoot } from '../buildx/provision.ts';
import { labConfig, withEngine } from '../config.ts';
import { Lab } from '../lab/lab.ts';
import type { ProgressSink } from '../progress.ts';
import { cellErrorLine } from '../report/evidence.ts';
import { loadScenario } from './catalog.ts';
import { publishRequirement, publishedTag, runCell, writeCellResult } from './cell.ts';
import { waitForProbes, waitForRequirement } from './provision-status.ts';
import type { ImageResult } from './provision.ts';
import { readRunSpec, type PlannedCell } from './run-spec.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    runSpecPath: string;
  }
}

const spec = readRunSpec(inject('runSpecPath'));
const config = withEngine(labConfig(), spec.dockerHost);
// Worker output reaches the CLI's board through vitest's console capture.
const progress: ProgressSink = (m) => console.error(m);

const order = Object.keys(spec.requirements);
/** Cells whose requirements come first in provisioning order run first; pure over the spec. */
const readiness = (c: PlannedCell) => Math.max(...c.requires.map((id) => order.indexOf(id)));

const scenarios = new Map<string, Awaited<ReturnType<typeof loadScenario>>>();
for (const c of spec.cells) if (!scenarios.has(c.scenario)) scenarios.set(c.scenario, await loadScenario(c.source));

let lab: Lab | undefined;
let labError: Error | undefined;
const need = <T>(id: string) => waitForRequirement<T>(spec.reportDir, id);

beforeAll(async () => {
  await waitForProbes(spec.reportDir);
  try {
    const registry = await need<ImageResult>('image:registry');
    lab = await Lab.start(config, {
      runId: spec.runId,
      registryImage: { ref: registry.ref, official: registry.source.startsWith('official') },
      buildxCacheRoot: buildxCacheRoot(config),
      progress,
      jobs: spec.jobs,
      ...(spec.cellEngine ? { cellEngine: spec.cellEngine } : {}),
    });
    // Images cells pull from the lab registry are pushed now, beside the first cells; a failure is the
    // cell's to report when it needs the image.
    for (const id of order.filter(publishedTag)) publishRequirement({ lab, need }, id).catch(() => undefined);
  } catch (e) {
    labError = e as Error;
  }
}, 90 * 60_000);

afterAll(async () => {
  await lab?.stop();
}, 120_000);

for (const [id, s] of scenarios) {
  const cells = spec.cells.filter((c) => c.scenario === id).sort((a, b) => readiness(a) - readiness(b));
  describe(id, { concurrent: spec.jobs > 1 }, () => {
    for (const cell of cells) {
      test(
        cell.attempt > 0 || cells.some((c) => c.name === cell.name && c.attempt > 0) ? `${cell.name} #${cell.attempt + 1}` : cell.name,
        async (t) => {
          if (!lab) throw labError ?? new Error('the lab did not start (see above)');
          const result = await runCell(s, cell, { config, lab, buildxCacheRoot: buildxCacheRoot(config), need, ...(spec.isolation ? { isolation: spec.isolation } : {}) });
          writeCellResult(spec.reportDir, result);
          t.task.meta.outcome = result.outcome;
          t.task.meta.summary = result.summary;
          if (result.outcome === 'skipped') t.skip(result.summary);
          if (result.outcome !== result.expected) {
            const err = new Error(`${result.outcome}: ${result.summary}${result.error ? `\n${result.error.message}` : ''}\nlast error line: ${cellErrorLine(result) ?? '(none)'}`);
            err.stack = err.message;
            throw err;
          }
        },
        60 * 60_000,
      );
    }
  });
}

declare module 'vitest' {
  interface TaskMeta {
    outcome?: string;
    summary?: string;
  }
}
