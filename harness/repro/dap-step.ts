// case.yaml's `dap:` on a step: the script a DAP step plays against `buildx dap build` (kit/dap.ts), as a
// zod schema and the checks across lines (ids, references to earlier lines, launch's paths), each a
// message for case.ts to place on case.yaml's line and field.
import { z } from 'zod';
import { type DapLine, dapScriptProblems } from '../kit/dap.ts';

/** A DAP command or event name (initialize, stackTrace, stopped, ...). */
const dapName = z.string().regex(/^[a-zA-Z][a-zA-Z0-9]{0,60}$/, 'is not a DAP command or event name (letters and digits, e.g. stackTrace)');
/** Largest `arguments` of one request, as JSON. */
const MAX_ARGUMENTS = 64 << 10;

/**
 * The schema of `dap:`, from case.ts's own pieces: `text` checks a string (its lab values), `seconds` a
 * wait. Lines: `request: NAME` with `arguments` (JSON; a {from: ID, pointer: /x} takes a value from an
 * earlier line), or `event: NAME`; each may have an `id` and a `timeout` in seconds.
 */
export function dapScriptSchema(text: z.ZodType<string>, seconds: z.ZodNumber) {
  // strings of arguments may name lab values (${context}); the rest is JSON
  const json: z.ZodType<unknown> = z.lazy(() => z.union([text, z.number(), z.boolean(), z.null(), z.array(json).max(1000), z.record(z.string().max(200), json)]));
  const line = z
    .strictObject({
      request: dapName.optional(),
      event: dapName.optional(),
      // waits for the terminal the lab opened for runInTerminal to play the step's runInTerminal: script
      await: z.literal('terminal', { error: 'awaits only terminal (the terminal the lab opened for runInTerminal)' }).optional(),
      id: z
        .string()
        .regex(/^[a-z][a-z0-9-]{0,40}$/, 'is not a line id (a lower-case letter, then letters, digits, -)')
        .optional(),
      arguments: json.refine((a) => JSON.stringify(a).length <= MAX_ARGUMENTS, `is larger than ${MAX_ARGUMENTS >> 10} KiB as JSON`).optional(),
      timeout: seconds.optional(),
    })
    .refine((l) => [l.request, l.event, l.await].filter((x) => x !== undefined).length === 1, 'a line is one of request: NAME (with arguments), event: NAME or await: terminal')
    .refine((l) => l.arguments === undefined || l.request !== undefined, 'arguments belong to a request line');
  return z.array(line).min(1, 'is empty; give request and event lines').max(200);
}

/**
 * A parsed `dap:` as the kit's lines (default wait `defaultS` seconds) and its problems as [index, field,
 * message]; `terminal`: whether the step has runInTerminal: (an `await: terminal` line needs it).
 */
export function dapScript(
  lines: readonly { request?: string; event?: string; await?: 'terminal'; id?: string; arguments?: unknown; timeout?: number }[],
  defaultS: number,
  terminal = false,
): { script: DapLine[]; problems: [number, string, string][] } {
  const script = lines.map((l): DapLine => {
    const common = { ...(l.id !== undefined ? { id: l.id } : {}), timeoutMs: (l.timeout ?? defaultS) * 1000 };
    if (l.await !== undefined) return { await: l.await, ...common };
    return l.request !== undefined ? { request: l.request, ...(l.arguments !== undefined ? { arguments: l.arguments } : {}), ...common } : { event: l.event!, ...common };
  });
  const problems = dapScriptProblems(script);
  if (!terminal)
    lines.forEach((l, i) => {
      if (l.await !== undefined) problems.push([i, 'await', 'needs runInTerminal: on the step (the script the terminal plays); without it the lab opens no terminal']);
    });
  return { script, problems };
}

/**
 * Why a step with `dap:` (or `runInTerminal:`) is refused, as [field, message]: it needs `buildx: [dap,
 * build, ...]` in the foreground, stdin belongs to the protocol; `runInTerminal:` and `await: terminal`
 * lines come together. Pure.
 */
export function dapStepProblem(s: {
  buildx?: string[];
  interact?: unknown;
  background?: boolean;
  stdin?: unknown;
  dap?: readonly { await?: string; request?: string; arguments?: unknown }[];
  runInTerminal?: unknown;
}): [string, string] | undefined {
  if (s.runInTerminal !== undefined && s.dap === undefined) return ['runInTerminal', "applies to a dap: step (the lab's answer to the adapter's runInTerminal request)"];
  if (s.buildx?.[0] !== 'dap' || s.buildx[1] !== 'build') return ['dap', 'applies to a buildx: [dap, build, ...] step (Buildx speaks DAP on its stdin and stdout)'];
  const awaits = (s.dap ?? []).findIndex((l) => l.await !== undefined);
  if (s.runInTerminal !== undefined && awaits < 0)
    return [
      'runInTerminal',
      'needs an `await: terminal` line in dap: where the DAP script waits for the terminal to play this script (after the request that opens it, e.g. evaluate of exec)',
    ];
  if (
    s.runInTerminal !== undefined &&
    !(s.dap ?? []).some((l) => l.request === 'initialize' && (l.arguments as { supportsRunInTerminalRequest?: unknown } | undefined)?.supportsRunInTerminalRequest === true)
  )
    return ['runInTerminal', 'Buildx asks for a terminal only from a client that says it can: give initialize arguments supportsRunInTerminalRequest: true'];
  if (s.interact !== undefined) return ['interact', 'a dap step speaks DAP on stdin, not keys at a terminal: drop interact'];
  if (s.background) return ['background', 'a dap step runs in the foreground; its script waits for what it needs'];
  if (s.stdin !== undefined) return ['stdin', "a dap step's stdin carries the protocol"];
  return undefined;
}
