// The vitest reporter of a lab run, in the CLI's own process: each cell is a task on the progress board
// (a live line on a terminal; a start and an end line in CI), worker messages scroll above, and a run
// where every cell was skipped is flagged.
import type { Reporter, TestCase, TestModule } from 'vitest/node';

type UserConsoleLog = Parameters<NonNullable<Reporter['onUserConsoleLog']>>[0];
import type { ProgressBoard } from '../progress-board.ts';

export class LabReporter implements Reporter {
  private total = 0;
  private done = 0;
  private skipped = 0;
  private readonly running = new Map<string, { end(summary: string): void }>();
  readonly failures: string[] = [];

  constructor(private readonly board: ProgressBoard) {}

  onTestModuleCollected(module: TestModule): void {
    for (const t of module.children.allTests()) if (t.options.mode === 'run') this.total++;
  }

  onTestCaseReady(test: TestCase): void {
    this.running.set(test.id, this.board.start(test.fullName, 'waiting for its engine and Buildx'));
  }

  onTestCaseResult(test: TestCase): void {
    this.done++;
    const r = test.result();
    const meta = test.meta() as { outcome?: string; summary?: string };
    if (r.state === 'skipped') this.skipped++;
    const outcome = meta.outcome ?? (r.state === 'failed' ? 'error' : r.state);
    const mark = r.state === 'passed' ? 'ok' : r.state === 'skipped' ? 'skip' : 'FAIL';
    const summary = `${mark} ${outcome}${meta.summary && r.state !== 'passed' ? `: ${meta.summary}` : ''} [${this.done}/${this.total}]`;
    (this.running.get(test.id) ?? this.board.start(test.fullName)).end(summary);
    this.running.delete(test.id);
    if (r.state === 'failed') {
      const lines = (r.errors ?? []).map((e) => String(e.message).split('\n').slice(0, 6).join('\n    '));
      this.failures.push(`${test.fullName}\n    ${lines.join('\n    ')}`);
    }
  }

  onUserConsoleLog(log: UserConsoleLog): void {
    for (const line of log.content.split('\n')) if (line.trim()) this.board.log(line);
  }

  onTestRunEnd(): void {
    if (this.done > 0 && this.skipped === this.done) {
      this.board.log(`WARNING: every one of the ${this.done} cells was skipped: this run proved nothing.`);
    }
  }
}
