// Progress for long work. A sink takes one-line messages; a sink that can also show tasks (the live
// board on a terminal, plain lines in CI: progress-board.ts) shows each long step as one task line.
// Everything the lab prints goes through writeConsole, which masks secrets: console and CI logs are
// kept and shared like reports are. It also shows control and bidi characters (from cases, Buildx output,
// merged shards) as \uXXXX: a terminal would obey an escape sequence, and a bidi override reorders a line.
import { redactSecrets } from './redact/redact.ts';
import { forTerminal } from './text.ts';

export interface ProgressSink {
  (message: string): void;
  /** runs `work` as a named task; `update` changes its detail line */
  task?: <T>(label: string, work: (update: (detail: string) => void) => Promise<T>) => Promise<T>;
}

const started = Date.now();

/** `text` as the lab prints it: secrets masked, escape sequences removed, control and bidi characters shown. */
export function consoleText(text: string): string {
  return forTerminal(redactSecrets(text));
}

/** Writes `text` to a console stream as consoleText (the one way the lab prints). */
export function writeConsole(stream: NodeJS.WritableStream, text: string): void {
  stream.write(consoleText(text));
}

export const stderrProgress: ProgressSink = (message) => {
  const secs = ((Date.now() - started) / 1000).toFixed(1).padStart(6);
  writeConsole(process.stderr, `[${secs}s] ${message}\n`);
};

export const silentProgress: ProgressSink = () => {};

/** Heartbeats of plain (non-terminal) progress: at most one per task this often. */
export const PLAIN_HEARTBEAT_MS = 30_000;

/** Shows a long step as a task, so a 2-minute Go build never looks hung. */
export async function withHeartbeat<T>(progress: ProgressSink, label: string, work: () => Promise<T>, everyMs = PLAIN_HEARTBEAT_MS): Promise<T> {
  if (progress.task) return progress.task(label, () => work());
  const t0 = Date.now();
  progress(`${label} ...`);
  const timer = setInterval(() => progress(`${label} ... still running (${Math.round((Date.now() - t0) / 1000)} s)`), everyMs);
  try {
    const result = await work();
    progress(`${label}: done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return result;
  } finally {
    clearInterval(timer);
  }
}
