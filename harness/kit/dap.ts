// A step that speaks the Debug Adapter Protocol to `buildx dap build` over its stdin and stdout, as an
// editor would: a script of requests (each waits for its response) and events to wait for, where a later
// request takes a value from an earlier response or event by JSON Pointer ({from: ID, pointer: /body/x}).
// The framing (Content-Length headers, the base protocol DAP shares with LSP) is vscode-jsonrpc's stream
// reader and writer, the types @vscode/debugprotocol's. The whole transcript is the step's evidence and
// its stdout (so `stdout: dap.json` and `file` checks with a json pointer read it).
//
// Requests the adapter sends back (runInTerminal, startDebugging) are refused, unless the step opts in to
// `runInTerminal` (a TerminalHost): then the lab runs its OWN fixed argv, the cell's Buildx with
// `dap attach SOCKET`, under a pseudo-terminal, the socket taken from the request only when it is the path
// Buildx makes (attachSocket), nothing else of the request used; the terminal plays the step's
// expect/send script (terminal.ts) and its screen is kept. Buildx's exec shell (`evaluate` of `exec` in
// the repl context) asks for exactly that terminal.
import { PassThrough, Writable } from 'node:stream';
import type { DebugProtocol } from '@vscode/debugprotocol';
import * as rpcModule from 'vscode-jsonrpc/node';
import type { Message } from 'vscode-jsonrpc/node';
import { UsageError } from '../errors.ts';
import type { CommandRecord } from '../model.ts';
import { clip } from '../text.ts';
import { atJsonPointer, checkJsonPointer } from './checks.ts';
import { cellPathProblem } from './lab-owned.ts';
import { type CellSandbox, type EngineProcess, endAfterScript, endsWithin } from './sandbox.ts';
import { COLS, type InteractAction, ROWS, Screen, playScript, waitForMatch } from './terminal.ts';

/** Node loads the package's CommonJS build as a default export; vite's runner, which runs the cells, by name. */
export const rpc = ((rpcModule as unknown as { default?: typeof rpcModule }).default ?? rpcModule) as typeof rpcModule;

/** A value taken from an earlier line's message: its response (a request line) or its event (an event line). */
export interface DapRef {
  from: string;
  pointer: string;
}

/**
 * One line of a DAP script: send a request and wait for its response, wait for an event, or wait for the
 * next terminal the lab opened for `runInTerminal` to have played its script (`await: terminal`).
 */
export type DapLine =
  | { request: string; id?: string; arguments?: unknown; timeoutMs: number }
  | { event: string; id?: string; timeoutMs: number }
  | { await: 'terminal'; id?: string; timeoutMs: number };

/** A terminal the lab opened for the adapter's `runInTerminal`, as the transcript keeps it. */
export interface DapTerminal {
  /** the lab's own command (never the request's args) */
  argv: string[];
  socket: string;
  /** the process the lab answered with: the terminal's (util-linux `script`) pid in the engine */
  processId?: number;
  /** the final screen, scrollback included */
  screen: string;
  exitCode: number;
  /** where its script stopped short, if it did */
  stopped?: string;
}

/** What the transcript holds: every message in order, and each line's own messages under its key. */
export interface DapTranscript {
  messages: { dir: 'sent' | 'received'; ms: number; message: DebugProtocol.ProtocolMessage }[];
  lines: Record<string, { request?: DebugProtocol.Request; response?: DebugProtocol.Response; event?: DebugProtocol.Event; terminal?: number }>;
  /** the terminals opened for runInTerminal, in order (only with a TerminalHost) */
  terminals?: DapTerminal[];
  /** why the script stopped before its end, if it did */
  stopped?: string;
}

/**
 * Where Buildx's exec shell listens: os.MkdirTemp("", "buildx-dap-exec") (Go appends a random uint32 in
 * decimal) and s.sock in it (dap/debug_shell.go, v0.27.0 on), under the engine's /tmp (TMPDIR unset).
 */
export const ATTACH_SOCKET = /^\/tmp\/buildx-dap-exec[0-9]{1,10}\/s\.sock$/;
/** Terminals one step may open, one at a time: Buildx asks again only on another `exec`. */
export const MAX_TERMINALS = 3;

/**
 * The socket a `runInTerminal` request asks to attach to, or why the lab will not: its `args` must end in
 * `dap attach SOCKET` with SOCKET matching ATTACH_SOCKET. Nothing else of the request (the program it
 * names, env, cwd, title) is used. Pure.
 */
export function attachSocket(args: unknown): { socket: string } | { problem: string } {
  const a = (args as { args?: unknown } | undefined)?.args;
  if (!Array.isArray(a) || !a.every((x) => typeof x === 'string')) return { problem: 'runInTerminal without args (a list of strings)' };
  const [dap, attach, socket] = a.slice(-3) as (string | undefined)[];
  if (dap !== 'dap' || attach !== 'attach' || socket === undefined)
    return { problem: `runInTerminal args do not end in "dap attach SOCKET" (${clip(JSON.stringify(a), 200)}): the lab attaches to Buildx's exec shell only` };
  if (!ATTACH_SOCKET.test(socket))
    return {
      problem: `runInTerminal socket ${clip(JSON.stringify(socket), 200)} is not where Buildx makes its exec shell's socket (/tmp/buildx-dap-execN/s.sock; a case that sets TMPDIR moves it, and the lab does not follow)`,
    };
  return { socket };
}

/** The engine's look at the socket before the lab attaches: a unix socket, neither it nor its directory a symlink. */
const SOCKET_CHECK = '[ -S "$1" ] && [ ! -L "$1" ] && [ -d "${1%/*}" ] && [ ! -L "${1%/*}" ]';

/** How the lab answers `runInTerminal` for one DAP step (its `runInTerminal:` script). */
export interface TerminalHost {
  script: readonly InteractAction[];
  /**
   * starts the lab's `buildx dap attach SOCKET` (socket already held to ATTACH_SOCKET) under a
   * pseudo-terminal, `onData` hearing its output from its start (Buildx greets at once, and output is not
   * kept for a listener that comes later); rejects saying why not
   */
  open(socket: string, n: number, onData: (chunk: Buffer) => void): Promise<{ proc: EngineProcess; argv: string[]; processId?: number }>;
  /** the terminal's record once it ended: the cell's evidence */
  keep(record: CommandRecord): void;
}

/**
 * A TerminalHost in the cell's engine: `argv(socket)` is the step's own Buildx (plugin or standalone) with
 * `dap attach SOCKET`; the socket is checked in the engine first (SOCKET_CHECK), then the command starts
 * under the same pseudo-terminal as an interactive step, with the step's environment and directory, ended
 * by `deadline` at the latest.
 */
export function engineTerminalHost(
  sandbox: Pick<CellSandbox, 'look' | 'start' | 'pidOf' | 'addRecord'>,
  o: { name: string; script: readonly InteractAction[]; argv: (socket: string) => string[]; env: Record<string, string>; cwd: string; deadline: number },
): TerminalHost {
  return {
    script: o.script,
    async open(socket, n, onData) {
      const look = await sandbox.look(SOCKET_CHECK, {}, [socket]);
      if (look.exitCode !== 0) throw new Error(`${socket} is not a unix socket in a directory of its own (or is a symlink): the lab attaches to nothing else`);
      const name = `${o.name}-term${n}`;
      const argv = o.argv(socket);
      const proc = sandbox.start(argv, { env: o.env, cwd: o.cwd, timeoutMs: Math.max(1000, o.deadline - Date.now()), tty: { cols: COLS, rows: ROWS }, name });
      proc.proc.onData(onData);
      const processId = await sandbox.pidOf(name);
      return { proc, argv, ...(processId !== undefined ? { processId } : {}) };
    },
    keep: (record) => sandbox.addRecord(record),
  };
}

/** A terminal while the step runs. */
interface OpenTerminal {
  argv: string[];
  socket: string;
  processId?: number;
  proc: EngineProcess;
  screen: Screen;
  /** settles once its script played or stopped; holds where it stopped */
  played: Promise<string | undefined>;
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
    if ('await' in line && line.await !== 'terminal') out.push([i, 'await', 'a DAP line awaits only `terminal` (the terminal opened for runInTerminal)']);
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
  opts: {
    timeoutMs: number;
    context: string;
    fill: (s: string) => Promise<string>;
    fact: (f: string) => void;
    resolveLaunch: (paths: string[]) => Promise<void>;
    /** answers runInTerminal with the lab's own terminal (a step's `runInTerminal:`); without it, refused */
    terminal?: TerminalHost;
  },
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
    // a request from the adapter (runInTerminal, startDebugging): refused, but for a runInTerminal the step opted in to
    if (message.type === 'request') {
      const r = message as DebugProtocol.Request;
      if (r.command === 'runInTerminal' && opts.terminal) void openTerminal(r, opts.terminal);
      else void send({ type: 'response', request_seq: r.seq, command: r.command, success: false, message: 'buildx-lab runs no reverse requests' });
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
  const terminals: OpenTerminal[] = [];
  let closing = false;
  /** a runInTerminal being answered: the step's end waits for it, so no terminal starts after the step */
  let opening: Promise<unknown> | undefined;
  let awaited = 0;
  /**
   * runInTerminal, opted in: one terminal at a time, at most MAX_TERMINALS; the socket held to
   * ATTACH_SOCKET; the lab's own argv started (host.open), then the answer (its pid), then its script.
   */
  const openTerminal = async (r: DebugProtocol.Request, host: TerminalHost): Promise<void> => {
    const refuse = (why: string) => {
      notes.push(`runInTerminal refused: ${why}`);
      return send({ type: 'response', request_seq: r.seq, command: r.command, success: false, message: `buildx-lab: ${why}` });
    };
    if (opening || terminals.some((t) => !t.proc.ended())) return void (await refuse('one terminal at a time, and the last one is still open'));
    if (terminals.length >= MAX_TERMINALS) return void (await refuse(`a step opens at most ${MAX_TERMINALS} terminals`));
    const at = attachSocket(r.arguments);
    if ('problem' in at) return void (await refuse(at.problem));
    let opened: Awaited<ReturnType<TerminalHost['open']>>;
    const screen = new Screen(COLS, ROWS);
    try {
      opening = host.open(at.socket, terminals.length, (c) => void screen.write(c));
      opened = (await opening) as typeof opened;
    } catch (e) {
      screen.dispose();
      return void (await refuse(clip((e as Error).message, 300)));
    } finally {
      opening = undefined;
    }
    if (closing) {
      screen.dispose();
      await opened.proc.stop();
      return void (await refuse('the step ended while the terminal opened'));
    }
    const { proc } = opened;
    const n = terminals.length;
    const keys = { write: (d: string) => proc.proc.write(d), done: proc.done, ended: proc.ended };
    const t: OpenTerminal = { ...opened, socket: at.socket, screen, played: Promise.resolve(undefined) };
    t.played = playScript(screen, keys, host.script, deadline, (f) => opts.fact(`terminal ${n}: ${f}`)).then(
      (stopped) => (t.stopped = stopped),
      (e: Error) => (t.stopped = `the script failed: ${e.message}`),
    );
    terminals.push(t);
    opts.fact(`runInTerminal: the lab opened terminal ${n}: ${opened.argv.join(' ')}`);
    await send({ type: 'response', request_seq: r.seq, command: r.command, success: true, body: opened.processId !== undefined ? { processId: opened.processId } : {} });
    for (const l of listeners) l();
  };
  try {
    for (const [i, line] of script.entries()) {
      const key = lineKey(line, i);
      const budget = Math.max(0, Math.min(line.timeoutMs, deadline - Date.now()));
      if ('await' in line) {
        // the next terminal not yet awaited (one opened early counts), until its script has played
        const k = awaited++;
        const until = Date.now() + budget;
        const t = await waitForMatch(() => terminals[k], subscribe, budget, drained);
        const played = t && (await endsWithin({ done: t.played }, Math.max(0, until - Date.now())));
        const why = !t
          ? `no terminal ${k} was opened for runInTerminal ${proc.ended() ? 'before the adapter ended' : `within ${budget / 1000} s`}`
          : !played
            ? `terminal ${k}'s script did not end within ${budget / 1000} s`
            : t.stopped && `terminal ${k}'s script stopped short (${bare(t.stopped)})`;
        if (why) {
          transcript.stopped = `dap[${i}]: ${why}; the script stopped there`;
          break;
        }
        transcript.lines[key] = { terminal: k };
        opts.fact(`dap[${i}] terminal ${k} played its script`);
        continue;
      }
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
    // the terminals end with the step (Buildx's end closes their socket; what is left the lab ends)
    if (opts.terminal) {
      closing = true;
      await opening?.catch(() => undefined);
      transcript.terminals = await Promise.all(terminals.map((t) => closeTerminal(t, opts.terminal!)));
      // a terminal whose script stopped short showed nothing to judge, awaited or not
      const short = transcript.terminals.findIndex((t) => t.stopped);
      if (!transcript.stopped && short >= 0) {
        transcript.stopped = `terminal ${short}'s script stopped short (${bare(transcript.terminals[short]!.stopped!)}): nothing to judge`;
        opts.fact(transcript.stopped);
      }
    }
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

/** A terminal script's note without its tail, to sit inside the DAP script's own. Pure. */
const bare = (note: string): string => note.replace(/; the script stopped there$/, '');

/** Ends a terminal (if it has not ended), keeps its record, and returns what the transcript holds of it. */
async function closeTerminal(t: OpenTerminal, host: TerminalHost): Promise<DapTerminal> {
  const killed = !(await endsWithin(t.proc, 2000));
  if (killed) await t.proc.stop();
  const raw = await t.proc.done;
  await t.played;
  await t.screen.settled();
  const screen = t.screen.text();
  t.screen.dispose();
  const note = [...(t.stopped ? [t.stopped] : []), ...(killed ? ['still open when the step ended: the lab ended it'] : [])];
  const record: CommandRecord = {
    ...raw,
    ...(killed ? { exitCode: 137 } : {}),
    stdout: screen,
    stderr: [raw.stderr.trim(), ...note.map((n) => `[buildx-lab] ${n}`)].filter(Boolean).join('\n'),
  };
  host.keep(record);
  return {
    argv: t.argv,
    socket: t.socket,
    ...(t.processId !== undefined ? { processId: t.processId } : {}),
    screen,
    exitCode: record.exitCode,
    ...(t.stopped ? { stopped: t.stopped } : {}),
  };
}
