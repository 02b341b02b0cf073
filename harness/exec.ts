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

/** The child process of run() and start(): the lab's env only, never a rejection on exit codes. */
function spawn(argv: readonly string[], options: Omit<ExecOptions, 'onLine'>, stdin: 'pipe' | 'ignore' | undefined) {
  const [file, ...args] = argv;
  if (!file) throw new Error('empty argv');
  return execa(file, args, {
    env: options.env,
    extendEnv: false,
    cwd: options.cwd,
    ...(stdin ? { stdin } : { input: options.input }),
    timeout: options.timeoutMs,
    cancelSignal: options.signal,
    reject: false,
    stripFinalNewline: false,
    lines: false,
    all: false,
    ...(options.stdoutBytes !== undefined ? { encoding: 'buffer' as const, maxBuffer: { stdout: options.stdoutBytes } } : {}),
  });
}

/** The record of an ended child; `unknownExit` when it has no code and was neither timed out nor cancelled (killed). */
function recordOf(
  argv: readonly string[],
  result: { exitCode?: number; timedOut: boolean; isCanceled: boolean; isMaxBuffer?: boolean; stdout?: unknown; stderr?: unknown },
  options: Pick<ExecOptions, 'timeoutMs' | 'stdoutBytes'>,
  started: number,
  unknownExit: number,
): RunResult {
  const timedOut = result.timedOut ? `\n[buildx-lab] killed after ${options.timeoutMs} ms timeout` : '';
  const text = (v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : String(v ?? ''));
  const overflow = result.isMaxBuffer === true;
  const record: RunResult = {
    argv: [...argv],
    exitCode: result.exitCode ?? (result.timedOut || result.isCanceled ? 124 : unknownExit),
    stdout: text(result.stdout),
    stderr: text(result.stderr) + timedOut + (overflow ? `\n[buildx-lab] killed: stdout passed the ${options.stdoutBytes} bytes the lab keeps` : ''),
    durationMs: Math.round(performance.now() - started),
  };
  if (options.stdoutBytes !== undefined) record.bytes = { stdout: Buffer.from((result.stdout as Uint8Array | undefined) ?? new Uint8Array()), overflow };
  return record;
}

export async function run(argv: readonly string[], options: ExecOptions): Promise<RunResult> {
  const started = performance.now();
  const child = spawn(argv, options, undefined);
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
  return recordOf(argv, await child, options, started, 1);
}

/** A process the lab started and has not awaited yet: its input, its output as it comes, its end. */
export interface RunningProcess {
  /** writes to its standard input (only when started with `stdin: true`) */
  write(data: string | Buffer): void;
  /** closes its standard input */
  endInput(): void;
  /** every chunk of output as it arrives, stdout and stderr interleaved */
  onData(listener: (chunk: Buffer) => void): void;
  /** every chunk of stdout alone as it arrives (a protocol spoken over stdout, such as DAP) */
  onStdout(listener: (chunk: Buffer) => void): void;
  /** its record once it ended (never rejects) */
  readonly done: Promise<CommandRecord>;
  /** kills the process the lab started (not what it started elsewhere: see the caller) */
  kill(): void;
}

/** Starts argv without waiting for it: for steps that run beside others or read what they are sent. */
export function start(argv: readonly string[], options: Omit<ExecOptions, 'input' | 'onLine'> & { stdin?: boolean }): RunningProcess {
  const started = performance.now();
  const child = spawn(argv, options, options.stdin ? 'pipe' : 'ignore');
  const listeners: ((chunk: Buffer) => void)[] = [];
  const stdoutListeners: ((chunk: Buffer) => void)[] = [];
  for (const stream of [child.stdout, child.stderr])
    stream?.on('data', (chunk: Buffer) => {
      for (const l of listeners) l(chunk);
      if (stream === child.stdout) for (const l of stdoutListeners) l(chunk);
    });
  // a write after the process ended must not crash the lab (EPIPE)
  child.stdin?.on('error', () => undefined);
  // killed by a signal (SIGKILL from kill()): the shell's 128 + 9
  const done = child.then((result) => recordOf(argv, result, options, started, 137));
  return {
    write: (data) => {
      if (child.stdin?.writable) child.stdin.write(data);
    },
    endInput: () => child.stdin?.end(),
    onData: (l) => listeners.push(l),
    onStdout: (l) => stdoutListeners.push(l),
    done,
    kill: () => child.kill('SIGKILL'),
  };
}

/** run() that requires exit 0. Any non-zero exit fails, whatever stderr says. */
export async function runChecked(argv: readonly string[], options: ExecOptions): Promise<CommandRecord> {
  const record = await run(argv, options);
  if (record.exitCode !== 0) {
    throw new CommandError(record.argv, record.exitCode, record.stdout, record.stderr, record.durationMs);
  }
  return record;
}
