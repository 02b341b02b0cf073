// Every process the lab spawns goes through here: a complete env, no rejection on exit codes,
// and a CommandRecord that keeps argv, exit code, output and duration for reports.
import { execa } from 'execa';
import { CommandError } from './errors.ts';
import type { CommandRecord } from './model.ts';

export interface ExecOptions {
  env: Record<string, string>;
  cwd?: string;
  input?: string | Buffer;
  timeoutMs?: number;
  /** Called with each output line as it arrives (progress for long work). */
  onLine?: (line: string) => void;
  signal?: AbortSignal;
  /** keep stdout as bytes too (binary-safe, for a step's `stdout:` or a later step's stdin), at most this many: past it the process is killed */
  stdoutBytes?: number;
}

/** A record plus, when asked for, stdout's exact bytes (`overflow`: the process was killed for writing more than the bound). */
export type RunResult = CommandRecord & { bytes?: { stdout: Buffer; overflow: boolean } };

export async function run(argv: readonly string[], options: ExecOptions): Promise<RunResult> {
  const [file, ...args] = argv;
  if (!file) throw new Error('run: empty argv');
  const started = performance.now();
  const child = execa(file, args, {
    env: options.env,
    extendEnv: false,
    cwd: options.cwd,
    input: options.input,
    timeout: options.timeoutMs,
    cancelSignal: options.signal,
    reject: false,
    stripFinalNewline: false,
    lines: false,
    all: false,
    ...(options.stdoutBytes !== undefined ? { encoding: 'buffer' as const, maxBuffer: { stdout: options.stdoutBytes } } : {}),
  });
  if (options.onLine) {
    const onLine = options.onLine;
    for (const stream of [child.stdout, child.stderr]) {
      let partial = '';
      stream?.on('data', (chunk: Buffer) => {
        const text = partial + chunk.toString('utf8');
        const lines = text.split(/\r?\n|\r/);
        partial = lines.pop() ?? '';
        for (const line of lines) if (line.trim()) onLine(line);
      });
    }
  }
  const result = await child;
  const timedOut = result.timedOut ? `\n[buildx-lab] killed after ${options.timeoutMs} ms timeout` : '';
  const text = (v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : String(v ?? ''));
  const overflow = result.isMaxBuffer === true;
  const record: RunResult = {
    argv: [...argv],
    exitCode: result.exitCode ?? (result.timedOut || result.isCanceled ? 124 : 1),
    stdout: text(result.stdout),
    stderr: text(result.stderr) + timedOut + (overflow ? `\n[buildx-lab] killed: stdout passed the ${options.stdoutBytes} bytes the lab keeps` : ''),
    durationMs: Math.round(performance.now() - started),
  };
  if (options.stdoutBytes !== undefined) record.bytes = { stdout: Buffer.from((result.stdout as Uint8Array | undefined) ?? new Uint8Array()), overflow };
  return record;
}

/** run() that requires exit 0. Any non-zero exit fails, whatever stderr says. */
export async function runChecked(argv: readonly string[], options: ExecOptions): Promise<CommandRecord> {
  const record = await run(argv, options);
  if (record.exitCode !== 0) {
    throw new CommandError(record.argv, record.exitCode, record.stdout, record.stderr, record.durationMs);
  }
  return record;
}
