import { lastLines } from './text.ts';

// Error kinds the reports keep apart. A HarnessError is the lab's fault or the host's;
// only a cell's observed behaviour may count against Buildx.

export class HarnessError extends Error {
  readonly kind: string = 'harness';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Something the host lacks (engine, Go, privileges). Cells needing it are skipped with this reason. */
export class RequirementError extends HarnessError {
  override readonly kind = 'requirement';
}

/** An engine (host or DinD) that did not start or answer; carries the tail of its log. */
export class EngineStartError extends HarnessError {
  override readonly kind = 'engine-start';
  constructor(
    message: string,
    readonly logTail: string,
  ) {
    super(logTail ? `${message}\n--- last log lines ---\n${logTail}` : message);
  }
}

/** The Docker engine stopped answering (socket gone, daemon stopped): nothing the lab does can proceed. */
export class EngineUnreachableError extends HarnessError {
  override readonly kind = 'engine-unreachable';
}

/** A provisioning step (image build, Buildx download or build) that failed. */
export class ProvisionError extends HarnessError {
  override readonly kind = 'provision';
}

/** A process that exited non-zero where success was required. */
export class CommandError extends HarnessError {
  override readonly kind = 'command';
  constructor(
    readonly argv: string[],
    readonly exitCode: number,
    readonly stdout: string,
    readonly stderr: string,
    readonly durationMs: number,
  ) {
    super(`command failed (exit ${exitCode}, ${durationMs} ms): ${argv.join(' ')}\n${lastLines(stderr || stdout, 15)}`);
  }
}

/** The registry does not hold what was expected; `problems` lists each difference. */
export class VerificationError extends HarnessError {
  override readonly kind = 'verification';
  constructor(
    message: string,
    readonly problems: readonly string[],
  ) {
    super(`${message}\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Bad user input (spec, option, case file); the message names the fix. */
export class UsageError extends HarnessError {
  override readonly kind = 'usage';
}
