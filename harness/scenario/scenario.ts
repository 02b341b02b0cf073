// What a scenario author imports, in one module: how a scenario is defined (definition.ts) and the kit's
// vocabulary its body and judge are written with (the builder's faulted boot, the registry's verification
// and journal, the lab's records and error lines). scenarios/*.scenario.ts import from here only.
export { HarnessError } from '../errors.ts';
export { MULTIPLATFORM_REFUSAL, bootWithPullFault, judgeMultiplatformRefusal } from '../kit/faults.ts';
export { PULL_FAULTS, type CommandRecord, type JournalEntry, type PullFault } from '../model.ts';
export { describeReport, type VerificationReport } from '../oci/verify.ts';
export { analyzePush, describePush, type PushAnalysis } from '../registry/journal.ts';
export { errorLine } from '../text.ts';
export { defineScenario, labelSatisfies, type AxesDecl, type CellAxes, type Expectation, type Scenario, type Verdict } from './definition.ts';
