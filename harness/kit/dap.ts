// A step that speaks the Debug Adapter Protocol to `buildx dap build` over its stdin and stdout, as an
// editor would: a script of requests (each waits for its response) and events to wait for, where a later
// request takes a value from an earlier response or event by JSON Pointer ({from: ID, pointer: /body/x}).
// The framing (Content-Length headers, the base protocol DAP shares with LSP) is vscode-jsonrpc's stream
// reader and writer, the types @vscode/debugprotocol's. The whole transcript is the step's evidence and
// its stdout (so `stdout: dap.json` and `file` checks with a json pointer read it).
import { PassThrough, Writable } from 'node:stream';
import type { DebugProtocol } from '@vscode/debugprotocol';
import * as rpcModule from 'vscode-jsonrpc/node';
import type { Message } from 'vscode-jsonrpc/node';
import { UsageError } from '../errors.ts';
import type { CommandRecord } from '../model.ts';
import { clip } from '../text.ts';
import { atJsonPointer, checkJsonPointer } from './checks.ts';
import { cellPathProblem } from './lab-owned.ts';
import { type EngineProcess, endAfterScript } from './sandbox.ts';
import { waitForMatch } from './terminal.ts';

/** Node loads the package's CommonJS build as a default export; vite's runner, which runs the cells, by name. */
export const rpc = ((rpcModule as unknown as { default?: typeof rpcModule }).default ?? rpcModule) as typeof rpcModule;

/** A value taken from an earlier line's message: its response (a request line) or its event (an event line). */
export interface DapRef {
  from: string;
  pointer: string;
}

/** One line of a DAP script: send a request and wait for its response, or wait for an event. */
export type DapLine = { request: string; id?: string; arguments?: unknown; timeoutMs: number } | { event: string; id?: string; timeoutMs: number };

/** What the transcript holds: every message in order, and each line's own messages under its key. */
export interface DapTranscript {
  messages: { dir: 'sent' | 'received'; ms: number; message: DebugProtocol.ProtocolMessage }[];
  lines: Record<string, { request?: DebugProtocol.Request; response?: DebugProtocol.Response; event?: DebugProtocol.Event }>;
  /** why the script stopped before its end, if it did */
  stopped?: string;
}

/** Most bytes the adapter may write to stdout in one step (the transcript is kept whole). */
export const DAP_OUTPUT_LIMIT = 16 << 20;
/** The keys `launch` takes (Buildx's LaunchConfig): anything else may name a path or a program the lab has not checked. */
export const LAUNCH_KEYS = ['dockerfile', 'contextPath', 'target', 'stopOnEntry'] as const;

/** The key of line `i` in the transcript: its id, or its position from 1. Pure. */
export const lineKey = (line: DapLine, i: number): string => line.id ?? `${i + 1}`;

/** Whether `v` is a reference ({from, pointer} and nothing else). Pure. */
export function isDapRef(v: unknown): v is DapRef {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return false;
  const keys = Object.keys(v).sort();
  return keys.length === 2 && keys[0] === 'from' && keys[1] === 'pointer' && typeof (v as DapRef).from === 'string' && typeof (v as DapRef).pointer === 'string';
}

/** Every reference in a value, in order. Pure. */
export function refsIn(v: unknown): DapRef[] {
  if (isDapRef(v)) return [v];
  if (Array.isArray(v)) return v.flatMap(refsIn);
  if (v && typeof v === 'object') return Object.values(v).flatMap(refsIn);
  return [];
}

/**
 * A script's problems that need no adapter, as [line index, field, message]: ids used twice, a reference
 * to a line that is not before it (or unknown), a pointer that is not one, `launch` arguments outside
 * LAUNCH_KEYS or naming a path outside the context. Pure.
 */
export function dapScriptProblems(script: readonly DapLine[]): [number, string, string][] {
  const out: [number, string, string][] = [];
  const seen = new Set<string>();
  script.forEach((line, i) => {
    if (line.id !== undefined && seen.has(line.id)) out.push([i, 'id', `${line.id} is used twice in this script`]);
    if ('request' in line) {
      for (const r of refsIn(line.arguments)) {
        if (!seen.has(r.from)) out.push([i, 'arguments', `takes from ${r.from}, which is no line before this one${seen.size ? ` (earlier: ${[...seen].join(', ')})` : ''}`]);
        try {
          checkJsonPointer(r.pointer);
        } catch (e) {
          out.push([i, 'arguments', (e as Error).message]);
        }
      }
      if (line.request === 'launch') {
        const why = launchProblem(line.arguments, '${context}');
        if (why) out.push([i, 'arguments', why]);
      }
    }
    seen.add(lineKey(line, i));
  });
  return out;
}

/**
 * Why `launch` arguments are refused: keys outside LAUNCH_KEYS, or a `dockerfile`/`contextPath` that
 * leaves the cell's context (Buildx reads them as -f and the context). A value still a reference or a lab
 * value is checked again once filled in. Pure.
 */
export function launchProblem(args: unknown, context: string): string | undefined {
  if (args === undefined) return undefined;
  if (!args || typeof args !== 'object' || Array.isArray(args)) return 'launch arguments are a mapping (dockerfile, contextPath, target, stopOnEntry)';
  for (const [k, v] of Object.entries(args)) {
    if (!(LAUNCH_KEYS as readonly string[]).includes(k)) return `launch takes ${LAUNCH_KEYS.join(', ')}, not ${k}: what else Buildx may read there is not checked by the lab`;
    if ((k === 'dockerfile' || k === 'contextPath') && typeof v === 'string') {
      const why = cellPathProblem(v, context);
      if (why) return `launch ${k} ${v} ${why}`;
    }
  }
  return undefined;
}

/** What references may bring into one request, as JSON: a reference carries an id or a path, not a file (review s4 F3). */
export const MAX_RESOLVED_BYTES = 1 << 20;

/**
 * Fills references with what earlier lines received; throws an Error naming the reference when it is not
 * there, or when the values they bring add up to more than MAX_RESOLVED_BYTES (a thousand references to one
 * large response would otherwise make a message of gigabytes in the lab's own process). Pure.
 */
export function resolveRefs(v: unknown, lines: DapTranscript['lines'], budget = { left: MAX_RESOLVED_BYTES }): unknown {
  if (isDapRef(v)) {
    const l = lines[v.from];
    const msg = l?.response ?? l?.event;
    if (!msg) throw new Error(`${v.from} has no response or event to take ${v.pointer} from`);
    const at = atJsonPointer(msg, v.pointer);
    if (!at.found) throw new Error(`${v.from} has nothing at ${v.pointer} (${clip(JSON.stringify(msg), 300)})`);
    budget.left -= JSON.stringify(at.value ?? null).length;
    if (budget.left < 0) throw new Error(`the references of this line bring more than ${MAX_RESOLVED_BYTES >> 10} KiB into one request (the last: ${v.from} ${v.pointer})`);
    return at.value;
  }
  if (Array.isArray(v)) return v.map((x) => resolveRefs(x, lines, budget));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolveRefs(x, lines, budget)]));
  return v;
}

/** Fills every string of a value with `fill` (lab values). */
async function fillStrings(v: unknown, fill: (s: string) => Promise<string>): Promise<unknown> {
  if (typeof v === 'string') return fill(v);
  if (Array.isArray(v)) return Promise.all(v.map((x) => fillStrings(x, fill)));
  if (v && typeof v === 'object') return Object.fromEntries(await Promise.all(Object.entries(v).map(async ([k, x]) => [k, await fillStrings(x, fill)])));
  return v;
}

/**
 * Plays `script` against the adapter `proc` (started with stdin). Each request waits for its response,
 * each event line for the first event of that name not yet taken (one that came early counts). A line that
 * waits in vain, or a reference with nothing there, stops the script. Then stdin is closed, and the
 * adapter has AFTER_SCRIPT_MS to end. Returns the record (stdout: the transcript as JSON) and the transcript.
 */
export async function playDap(
  proc: EngineProcess,
  script: readonly DapLine[],
  opts: { timeoutMs: number; context: string; fill: (s: string) => Promise<string>; fact: (f: string) => void; resolveLaunch: (paths: string[]) => Promise<void> },
): Promise<{ record: CommandRecord; transcript: DapTranscript }> {
  const t0 = Date.now();
  const transcript: DapTranscript = { messages: [], lines: {} };
  const received: DebugProtocol.ProtocolMessage[] = [];
  const taken = new Set<DebugProtocol.ProtocolMessage>();
  const listeners = new Set<() => void>();
  const notes: string[] = [];
  const input = new PassThrough();
  let bytes = 0;
  proc.proc.onStdout((chunk) => {
    bytes += chunk.length;
    if (bytes > DAP_OUTPUT_LIMIT) {
      if (bytes - chunk.length <= DAP_OUTPUT_LIMIT) {
        notes.push(`the adapter wrote more than ${DAP_OUTPUT_LIMIT >> 20} MiB to stdout: the lab ended it`);
        void proc.stop();
      }
      return;
    }
    input.write(chunk);
  });
  const reader = new rpc.StreamMessageReader(input);
  reader.onError((e) => notes.push(`the adapter's output is not DAP: ${clip(e.message, 200)}`));
  const writer = new rpc.StreamMessageWriter(
    new Writable({
      write(chunk, _enc, cb) {
        proc.proc.write(chunk as Buffer);
        cb();
      },
    }),
  );
  let seq = 1;
  const send = async (m: Omit<DebugProtocol.ProtocolMessage, 'seq'> & Record<string, unknown>): Promise<DebugProtocol.ProtocolMessage> => {
    const message = { seq: seq++, ...m } as DebugProtocol.ProtocolMessage;
    transcript.messages.push({ dir: 'sent', ms: Date.now() - t0, message });
    await writer.write(message as unknown as Message);
    return message;
  };
  reader.listen((raw) => {
    const message = raw as unknown as DebugProtocol.ProtocolMessage;
    if (!message || typeof message !== 'object' || Array.isArray(message)) {
      notes.push(`the adapter sent a message that is not an object: ${clip(JSON.stringify(message), 200)}`);
      return;
    }
    transcript.messages.push({ dir: 'received', ms: Date.now() - t0, message });
    received.push(message);
    // a request from the adapter (runInTerminal, startDebugging): the lab runs nothing for it
    if (message.type === 'request') {
      const r = message as DebugProtocol.Request;
      void send({ type: 'response', request_seq: r.seq, command: r.command, success: false, message: 'buildx-lab runs no reverse requests' });
    }
    for (const l of listeners) l();
  });
  // the adapter's end counts once its last output is read: a response written just before it exits is there
  const closed = new Promise<void>((res) => reader.onClose(() => setTimeout(res, 20)));
  const drained = proc.done.then(() => {
    input.end();
    return closed;
  });
  const subscribe = (l: () => void) => {
    listeners.add(l);
    return () => listeners.delete(l);
  };
  const deadline = t0 + opts.timeoutMs;
  try {
    for (const [i, line] of script.entries()) {
      const key = lineKey(line, i);
      const budget = Math.max(0, Math.min(line.timeoutMs, deadline - Date.now()));
      if ('event' in line) {
        const hit = await waitForMatch(
          () => received.find((m) => m.type === 'event' && (m as DebugProtocol.Event).event === line.event && !taken.has(m)),
          subscribe,
          budget,
          drained,
        );
        if (!hit) {
          transcript.stopped = `dap[${i}]: no ${line.event} event ${proc.ended() ? 'before the adapter ended' : `within ${budget / 1000} s`}; the script stopped there`;
          break;
        }
        taken.add(hit);
        transcript.lines[key] = { event: hit as DebugProtocol.Event };
        opts.fact(`dap[${i}] event ${line.event}`);
        continue;
      }
      let args: unknown;
      try {
        args = resolveRefs(await fillStrings(line.arguments, opts.fill), transcript.lines);
      } catch (e) {
        if (e instanceof UsageError) throw e;
        transcript.stopped = `dap[${i}]: ${(e as Error).message}; the script stopped there`;
        break;
      }
      if (line.request === 'launch') {
        // a reference or lab value may have brought a path in: the rule again, then the paths resolved in the engine
        const why = launchProblem(args, opts.context);
        if (why) throw new UsageError(`dap[${i}]: ${why}`);
        const a = (args ?? {}) as Record<string, unknown>;
        await opts.resolveLaunch([a.dockerfile, a.contextPath].filter((p): p is string => typeof p === 'string'));
      }
      const request = (await send({ type: 'request', command: line.request, ...(args !== undefined ? { arguments: args } : {}) })) as DebugProtocol.Request;
      const response = await waitForMatch(
        () => received.find((m) => m.type === 'response' && (m as DebugProtocol.Response).request_seq === request.seq),
        subscribe,
        budget,
        drained,
      );
      transcript.lines[key] = { request, ...(response ? { response: response as DebugProtocol.Response } : {}) };
      if (!response) {
        transcript.stopped = `dap[${i}]: no response to ${line.request} ${proc.ended() ? 'before the adapter ended' : `within ${budget / 1000} s`}; the script stopped there`;
        break;
      }
      const r = response as DebugProtocol.Response;
      opts.fact(`dap[${i}] ${line.request}: ${r.success ? 'success' : `failed: ${clip(r.message ?? '', 200)}`}`);
    }
    if (transcript.stopped) opts.fact(transcript.stopped);
    proc.proc.endInput();
    const ended = await endAfterScript(proc, deadline, 'the adapter');
    if (ended) notes.push(ended);
  } finally {
    if (!proc.ended()) await proc.stop();
    reader.dispose();
    writer.dispose();
  }
  const raw = await proc.done;
  const all = [...(transcript.stopped ? [transcript.stopped] : []), ...notes];
  for (const n of notes) opts.fact(n);
  const record: CommandRecord = {
    ...raw,
    ...(notes.some((n) => n.startsWith('the adapter was still running')) ? { exitCode: 137 } : {}),
    stdout: JSON.stringify(transcript, null, 1),
    stderr: [raw.stderr.trim(), ...all.map((n) => `[buildx-lab] ${n}`)].filter(Boolean).join('\n'),
  };
  return { record, transcript };
}
