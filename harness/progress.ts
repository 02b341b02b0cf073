// Progress for long work goes to stderr, one line per event, so logs stay greppable in CI.
export type ProgressSink = (message: string) => void;

const started = Date.now();

export const stderrProgress: ProgressSink = (message) => {
  const secs = ((Date.now() - started) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[${secs}s] ${message}\n`);
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
