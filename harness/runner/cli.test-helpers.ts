// For integration tests that drive the real CLI: where the lab's engine is, what a run left on it, and
// a run started in its own process group whose run id and first cell are reported as they happen.
import { execa, type ResultPromise } from 'execa';
import { labConfig } from '../config.ts';
import { RUN_LABEL } from '../ownership/labels.ts';
import { HostEngine } from '../engine/host.ts';
import { silentProgress } from '../progress.ts';

export const CLI = new URL('../../bin/buildx-lab.mjs', import.meta.url).pathname;

/** The environment that reaches the engine the lab uses (its own, unless DOCKER_HOST says otherwise). */
export async function labDockerEnv(): Promise<NodeJS.ProcessEnv> {
  const engine = await new HostEngine(labConfig(), silentProgress).ensure();
  return { ...process.env, DOCKER_HOST: engine.host };
}

/** How many containers, networks and volumes carry this run's label. */
export async function labResources(runId: string): Promise<number> {
  const env = await labDockerEnv();
  const f = ['--filter', `label=${RUN_LABEL}=${runId}`, '-q'];
  const out = await Promise.all(
    [
      ['ps', '-a', ...f],
      ['network', 'ls', ...f],
      ['volume', 'ls', ...f],
    ].map((a) => execa('docker', a, { env })),
  );
  return out
    .map((r) => r.stdout)
    .join('\n')
    .split('\n')
    .filter(Boolean).length;
}

export interface StartedRun {
  child: ResultPromise<{ all: true; detached: true; reject: false }>;
  /** the run id, once the run has printed it */
  runId: Promise<string>;
  /** resolves when a line matching `pattern` has been printed */
  saw(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

export function startCli(args: string[], env: NodeJS.ProcessEnv = process.env): StartedRun {
  const child = execa('node', [CLI, ...args], { env, detached: true, reject: false, all: true });
  let seen = '';
  const waiters: { re: RegExp; resolve: () => void; reject: (e: Error) => void }[] = [];
  child.all?.on('data', (d: Buffer) => {
    seen += d.toString();
    for (const w of waiters.splice(0)) (w.re.test(seen) ? w.resolve : () => waiters.push(w))();
  });
  const saw = (re: RegExp, timeoutMs = 600_000) =>
    new Promise<void>((resolve, reject) => {
      if (re.test(seen)) return resolve();
      const t = setTimeout(() => reject(new Error(`no line matching ${re} within ${timeoutMs / 1000} s; output:\n${seen.slice(-3000)}`)), timeoutMs);
      waiters.push({
        re,
        resolve: () => {
          clearTimeout(t);
          resolve();
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      });
    });
  // a run that ends without printing the line never will: say so at once, with what it printed
  void child.then((r) => {
    for (const w of waiters.splice(0)) w.reject(new Error(`the run ended (exit ${r.exitCode}) without a line matching ${w.re}; output:\n${seen.slice(-3000)}`));
  });
  const runId = saw(/\brun (r[0-9a-z]+): \d+ cells/).then(() => /\brun (r[0-9a-z]+): \d+ cells/.exec(seen)![1]!);
  // a test that never asks for the run id must not get an unhandled rejection from a run that printed none
  runId.catch(() => undefined);
  return { child, runId, saw };
}
