// Progress for long work goes to stderr, one line per event, so logs stay greppable in CI.
// Everything the lab prints goes through writeConsole, which masks secrets: console and CI logs are
// kept and shared like reports are.
import { redactSecrets } from './redact/redact.ts';

export type ProgressSink = (message: string) => void;

const started = Date.now();

/** Writes `text` to a console stream with its secrets masked (the one way the lab prints). */
export function writeConsole(stream: NodeJS.WritableStream, text: string): void {
  stream.write(redactSecrets(text));
}

export const stderrProgress: ProgressSink = (message) => {
  const secs = ((Date.now() - started) / 1000).toFixed(1).padStart(6);
  writeConsole(process.stderr, `[${secs}s] ${message}\n`);
};

export const silentProgress: ProgressSink = () => {};

/** Prints a heartbeat while a long step runs, so a 2-minute Go build never looks hung. */
export async function withHeartbeat<T>(progress: ProgressSink, label: string, work: () => Promise<T>, everyMs = 15000): Promise<T> {
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
