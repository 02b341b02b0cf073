// For integration tests: a real lab (the engine the lab chooses, the real registry, DinD engines),
// provisioned through the same provisioner as a run, and a way to run one cell of a test scenario.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildxCacheRoot } from '../buildx/provision.ts';
import { labConfig, withEngine, type LabConfig } from '../config.ts';
import { HostEngine } from '../engine/host.ts';
import { Lab, type LabOptions } from '../lab/lab.ts';
import type { CellResult, DeclaredOutcome } from '../model.ts';
import { stderrProgress } from '../progress.ts';
import { runCell } from './cell.ts';
import { Provisioner, type ImageResult } from './provision.ts';
import { readStatus } from './provision-status.ts';
import { requirementId, type PlannedCell, type Requirement } from './run-spec.ts';
import { cellName } from './matrix.ts';
import { defineScenario, type RunnableScenario, type Scenario, type Verdict } from '../scenario/definition.ts';

export const SID_BUILDX: Requirement = { kind: 'buildx', label: 'v0.29.1-debian', spec: 'debian-sid', version: 'v0.29.1', via: 'alias' };
export const ENGINE_26: Requirement = { kind: 'engine-image', label: '26.1.5', spec: '26.1.5' };
export const BUILDKIT_17: Requirement = { kind: 'buildkit', version: 'v0.17.1' };
const REGISTRY: Requirement = { kind: 'image', id: 'registry' };

export interface TestLab {
  config: LabConfig;
  lab: Lab;
  runId: string;
  reportDir: string;
  need<T>(id: string): Promise<T>;
  /**
   * Runs one cell of `s` with these axes (buildx and engine must be among the provisioned requirements),
   * declared to end as `expected` (a case's present is `reproduced`, absent is `fixed`).
   */
  cell(s: RunnableScenario, axes: Record<string, string>, expected?: DeclaredOutcome): Promise<CellResult>;
  /** Runs a cell as planning made it (expandScenario), its requirements among the provisioned ones. */
  run(s: RunnableScenario, cell: PlannedCell): Promise<CellResult>;
  close(): Promise<void>;
}

export async function startTestLab(
  name: string,
  requirements: readonly Requirement[] = [SID_BUILDX, ENGINE_26],
  pool: Pick<LabOptions, 'jobs' | 'maxEngines'> = {},
): Promise<TestLab> {
  const engine = await new HostEngine(labConfig(), stderrProgress).ensure();
  const config = withEngine(labConfig(), engine.host);
  const runId = `${name}${Date.now().toString(36)}`;
  const reportDir = mkdtempSync(path.join(tmpdir(), `bxl-${name}-`));
  const reqs = [REGISTRY, ...requirements];
  const status = await new Provisioner(config, { reportDir, requirements: Object.fromEntries(reqs.map((r) => [requirementId(r), r])) }, stderrProgress).start().done;
  const need = async <T>(id: string): Promise<T> => {
    const e = readStatus(reportDir)?.requirements[id] ?? status.requirements[id];
    if (e?.state !== 'ready') throw new Error(`${id} is not ready: ${e?.state === 'failed' ? e.reason : (e?.state ?? 'not requested')}`);
    return e.result as T;
  };
  const registry = await need<ImageResult>('image:registry');
  const lab = await Lab.start(config, {
    runId,
    registryImage: { ref: registry.ref, official: registry.source.startsWith('official') },
    buildxCacheRoot: buildxCacheRoot(config),
    progress: stderrProgress,
    ...pool,
  });
  let attempt = 0;
  const run = (s: RunnableScenario, cell: PlannedCell) => runCell(s, cell, { config, lab, buildxCacheRoot: buildxCacheRoot(config), need });
  return {
    config,
    lab,
    runId,
    reportDir,
    need,
    cell: (s, axes, expected = 'control') => {
      const name = cellName(axes);
      const cell: PlannedCell = {
        key: `${s.id} > ${name}`,
        scenario: s.id,
        source: { kind: 'scenario', module: 'test' },
        name,
        axes,
        expected: { outcome: expected, reason: 'integration test' },
        attempt: attempt++,
        requires: [],
      };
      return run(s, cell);
    },
    run,
    close: async () => {
      await lab.stop();
      rmSync(reportDir, { recursive: true, force: true });
    },
  };
}

/**
 * A one-cell scenario for a test of the lab itself: no matrix and no expectation, a body and a judge (by
 * default "control", with the observation as the summary for the test to read back).
 */
export function probeScenario<O>(
  id: string,
  observe: Scenario<{ buildx: readonly string[] }, O>['observe'],
  judge: (observation: O) => Verdict = (o) => ({ observed: 'control', summary: JSON.stringify(o) }),
): Scenario<{ buildx: readonly string[] }, O> {
  return defineScenario({ id, title: '', links: [], symptom: '', axes: { buildx: [] }, expectations: [], observe, judge });
}
