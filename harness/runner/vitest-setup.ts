// Global setup of the `scenarios` vitest project. Through the CLI the run spec is already provided; when
// vitest is run directly (`npx vitest run --project scenarios`), this plans the default (quick) matrix of
// every scenario and provisions it in vitest's main process, the same way the CLI does.
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { labConfig } from '../config.ts';
import { ProgressBoard } from '../progress-board.ts';
import { scenarioModules } from './catalog.ts';
import { cleanReportSubdir, holdBuildxCache, prepareRun } from './launch.ts';
import { Provisioner } from './provision.ts';
import { RUN_SPEC_FILE, writeRunSpec } from './run-spec.ts';

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  if (project.getProvidedContext().runSpecPath) return undefined;
  const board = new ProgressBoard({ live: false });
  const { config, spec } = await prepareRun(
    labConfig(),
    {
      command: 'vitest',
      argv: ['vitest', 'run', '--project', 'scenarios'],
      sources: scenarioModules().map((module) => ({ kind: 'scenario' as const, module })),
      matrix: 'quick',
      filters: {},
      repeat: 1,
      jobs: 2,
    },
    board,
  );
  cleanReportSubdir(spec.reportDir, 'cells');
  writeRunSpec(spec);
  const inUse = holdBuildxCache(config, spec);
  const provisioning = new Provisioner(config, spec, board.sink).start();
  project.provide('runSpecPath', path.join(spec.reportDir, RUN_SPEC_FILE));
  return async () => {
    provisioning.abort('the tests are over');
    await provisioning.done;
    inUse.release();
    board.close();
  };
}
