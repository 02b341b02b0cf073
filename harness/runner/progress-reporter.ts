// A vitest reporter for long matrix runs: one line when a cell starts and one when it ends, with its
// outcome, time, and how many are done and left. Also flags a run where every cell was skipped.
import type { Reporter, TestCase, TestModule } from 'vitest/node';

export default class LabProgressReporter implements Reporter {
  private total = 0;
  private done = 0;
  private skipped = 0;
  private readonly t0 = Date.now();

  private stamp(): string {
    return `[${((Date.now() - this.t0) / 1000).toFixed(1).padStart(6)}s]`;
  }

  onTestModuleCollected(module: TestModule): void {
    for (const t of module.children.allTests()) if (t.options.mode === 'run') this.total++;
  }

  onTestCaseReady(test: TestCase): void {
    process.stderr.write(`${this.stamp()} start  ${test.fullName}\n`);
  }

  onTestCaseResult(test: TestCase): void {
    this.done++;
    const r = test.result();
    const meta = test.meta() as { outcome?: string; summary?: string };
    if (r.state === 'skipped') this.skipped++;
    const mark = r.state === 'passed' ? 'ok   ' : r.state === 'skipped' ? 'skip ' : 'FAIL ';
    const ms = test.diagnostic()?.duration ?? 0;
    const outcome = meta.outcome ?? (r.state === 'failed' ? 'error' : r.state);
    process.stderr.write(
      `${this.stamp()} ${mark} ${test.fullName}: ${outcome} (${(ms / 1000).toFixed(1)} s) [${this.done}/${this.total} done, ${Math.max(0, this.total - this.done)} left]\n`,
    );
    if (r.state === 'failed') {
      for (const e of r.errors ?? []) process.stderr.write(`         ${String(e.message).split('\n').slice(0, 6).join('\n         ')}\n`);
    }
  }

  onTestRunEnd(): void {
    if (this.done > 0 && this.skipped === this.done) {
      process.stderr.write(`\n[buildx-lab] WARNING: every one of the ${this.done} cells was skipped: this run proved nothing.\n`);
    }
  }
}
