// vitest in this process, with Ctrl-C handled by the lab. vitest's own SIGINT/SIGTERM handler exits the
// process a millisecond after the signal, which kills the workers while they stop their labs (their DinD
// engines and registry stay behind). Here a signal cancels the run instead: the workers finish their
// cells' teardown, vitest closes, and the caller sweeps what is left before the CLI exits 128+signal.
import { createVitest, type Vitest } from 'vitest/node';

type VitestOptions = Parameters<typeof createVitest>[1];
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Runs `files` (all of the selected projects when empty) to the end or to a signal; the caller closes the result. */
export async function runVitest(options: VitestOptions, files: string[] = []): Promise<{ vitest: Vitest; interrupted: boolean }> {
  const before = new Map(SIGNALS.map((s) => [s, new Set(process.listeners(s))]));
  const vitest = await createVitest('test', options);
  for (const s of SIGNALS) for (const l of process.listeners(s)) if (!before.get(s)!.has(l)) process.off(s, l as () => void);
  let interrupted = false;
  const cancel = () => {
    interrupted = true;
    void vitest.cancelCurrentRun('keyboard-input');
  };
  for (const s of SIGNALS) process.on(s, cancel);
  try {
    await vitest.start(files);
  } finally {
    for (const s of SIGNALS) process.off(s, cancel);
  }
  return { vitest, interrupted };
}
