// The scenario of `buildx-lab repro <case-dir>`: a bug report given as data (case.yaml + files, see
// fixtures/cases/README.md) instead of TypeScript. The CLI names the case through BUILDX_LAB_CASE_DIR;
// without it this file holds an empty skipped suite, so a run of every scenario neither fails on it
// (vitest rejects a file with no suite) nor counts a cell for it.
import { labConfig } from '../harness/config.ts';
import { loadCase } from '../harness/repro/case.ts';
import { reproScenario } from '../harness/repro/scenario.ts';
import { registerNothing, registerScenario } from '../harness/runner/vitest.ts';

const dir = labConfig().reproCaseDir;
export default dir ? registerScenario(reproScenario(loadCase(dir))) : registerNothing('repro-case (no case: use buildx-lab repro <case-dir>)');
