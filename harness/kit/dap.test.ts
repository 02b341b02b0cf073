// The DAP step's own logic: references between lines, the launch rule, and the player against an
// in-process adapter that speaks the framing (what it shows is the client's handling of the protocol,
// never Buildx's: the integration test runs the real `buildx dap build`).
import { PassThrough } from 'node:stream';
import type { Message } from 'vscode-jsonrpc/node';
import { describe, expect, it } from 'vitest';
import type { CommandRecord } from '../model.ts';
import { type DapLine, dapScriptProblems, isDapRef, launchProblem, playDap, refsIn, resolveRefs, rpc } from './dap.ts';
import type { EngineProcess } from './sandbox.ts';

describe('references', () => {
  it('is a reference only with exactly from and pointer', () => {
    expect(isDapRef({ from: 'a', pointer: '/body' })).toBe(true);
    expect(isDapRef({ from: 'a', pointer: '/body', x: 1 })).toBe(false);
    expect(isDapRef({ from: 'a' })).toBe(false);
    expect(isDapRef([{ from: 'a', pointer: '' }])).toBe(false);
    expect(refsIn({ a: [{ from: 'x', pointer: '/b' }], c: { from: 'y', pointer: '' } })).toEqual([
      { from: 'x', pointer: '/b' },
      { from: 'y', pointer: '' },
    ]);
  });

  it('fills references from responses and events, and names what is missing', () => {
    const lines = {
      stopped: { event: { seq: 3, type: 'event', event: 'stopped', body: { threadId: 7 } } },
      trace: { response: { seq: 4, type: 'response', request_seq: 2, command: 'stackTrace', success: true, body: { stackFrames: [{ id: 11 }] } } },
    };
    expect(resolveRefs({ threadId: { from: 'stopped', pointer: '/body/threadId' }, levels: 1 }, lines)).toEqual({ threadId: 7, levels: 1 });
    expect(resolveRefs([{ from: 'trace', pointer: '/body/stackFrames/0/id' }], lines)).toEqual([11]);
    expect(() => resolveRefs({ from: 'trace', pointer: '/body/stackFrames/1/id' }, lines)).toThrow('trace has nothing at /body/stackFrames/1/id');
    expect(() => resolveRefs({ from: 'nope', pointer: '/body' }, lines)).toThrow('nope has no response or event');
    // a thousand references to one large response: refused before the message is made (review s4 F3)
    const big = { src: { response: { type: 'response', seq: 9, request_seq: 8, success: true, command: 'source', body: { content: 'x'.repeat(100_000) } } } } as never;
    const many = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`a${i}`, { from: 'src', pointer: '/body/content' }]));
    expect(() => resolveRefs(many, big)).toThrow(/bring more than 1024 KiB into one request \(the last: src \/body\/content\)/);
    expect(resolveRefs({ a: { from: 'src', pointer: '/body/content' } }, big)).toEqual({ a: 'x'.repeat(100_000) });
  });
});

describe('script problems', () => {
  const line = (l: Partial<DapLine> & Record<string, unknown>): DapLine => ({ timeoutMs: 1000, ...l }) as DapLine;

  it('refuses a reference to a later or unknown line, a bad pointer, an id used twice', () => {
    const problems = dapScriptProblems([
      line({ request: 'next', arguments: { threadId: { from: 'stop', pointer: '/body/threadId' } } }),
      line({ event: 'stopped', id: 'stop' }),
      line({ request: 'next', arguments: { threadId: { from: 'stop', pointer: 'body' } } }),
      line({ event: 'stopped', id: 'stop' }),
    ]);
    expect(problems).toEqual([
      [0, 'arguments', 'takes from stop, which is no line before this one'],
      [2, 'arguments', expect.stringContaining('is not a JSON Pointer')],
      [3, 'id', 'stop is used twice in this script'],
    ]);
  });

  it('lets a line without an id be named by its position', () => {
    expect(dapScriptProblems([line({ event: 'stopped' }), line({ request: 'threads', arguments: { x: { from: '1', pointer: '/body' } } })])).toEqual([]);
  });

  it("holds launch to Buildx's keys and to paths inside the context", () => {
    expect(launchProblem({ dockerfile: 'Dockerfile', contextPath: '.', target: 't', stopOnEntry: true }, '/ctx')).toBeUndefined();
    expect(launchProblem({ program: '/bin/sh' }, '/ctx')).toMatch(/launch takes dockerfile, contextPath, target, stopOnEntry, not program/);
    expect(launchProblem({ contextPath: '/' }, '/ctx')).toMatch(/launch contextPath \//);
    expect(launchProblem({ dockerfile: '../../etc/passwd' }, '/ctx')).toMatch(/launch dockerfile/);
    expect(launchProblem({ contextPath: '/ctx/sub' }, '/ctx')).toBeUndefined();
    expect(launchProblem([1], '/ctx')).toMatch(/a mapping/);
    expect(dapScriptProblems([line({ request: 'launch', arguments: { contextPath: '/var/lib/docker' } })])[0]).toEqual([
      0,
      'arguments',
      expect.stringMatching(/launch contextPath/),
    ]);
  });
});

/** An adapter in this process: answers each request after `delayMs`, sends `initialized` after launch and `stopped` after configurationDone. */
function fakeAdapter(opts: { garbage?: boolean; neverEnd?: boolean } = {}): EngineProcess & { sent: unknown[] } {
  const toClient = new PassThrough();
  const fromClient = new PassThrough();
  const writer = new rpc.StreamMessageWriter(toClient);
  const reader = new rpc.StreamMessageReader(fromClient);
  const sent: unknown[] = [];
  const stdoutListeners: ((c: Buffer) => void)[] = [];
  toClient.on('data', (c: Buffer) => {
    for (const l of stdoutListeners) l(c);
  });
  let ended = false;
  let finish: (r: CommandRecord) => void = () => undefined;
  const done = new Promise<CommandRecord>((res) => (finish = res));
  const end = (code: number) => {
    if (ended) return;
    ended = true;
    finish({ argv: ['docker', 'buildx', 'dap', 'build'], exitCode: code, stdout: 'raw', stderr: 'progress', durationMs: 1 });
  };
  let seq = 100;
  const emit = (m: Record<string, unknown>) => void writer.write({ seq: seq++, ...m } as unknown as Message);
  reader.listen((raw) => {
    const m = raw as unknown as { seq: number; command: string; arguments?: Record<string, unknown> };
    sent.push(m);
    if (opts.garbage) {
      toClient.write('Content-Length: 5\r\n\r\n{oops');
      return;
    }
    const ok = m.command !== 'fail';
    emit({ type: 'response', request_seq: m.seq, command: m.command, success: ok, ...(ok ? { body: { echo: m.arguments ?? null } } : { message: 'no such thing' }) });
    if (m.command === 'launch') emit({ type: 'event', event: 'initialized' });
    if (m.command === 'configurationDone') emit({ type: 'event', event: 'stopped', body: { threadId: 42, reason: 'step' } });
    if (m.command === 'disconnect' && !opts.neverEnd) setTimeout(() => end(0), 10);
  });
  return {
    sent,
    proc: {
      write: (d) => fromClient.write(d),
      endInput: () => (opts.neverEnd ? undefined : setTimeout(() => end(0), 10)),
      onData: () => undefined,
      onStdout: (l) => stdoutListeners.push(l),
      done,
      kill: () => end(137),
    },
    done,
    stop: async () => end(137),
    ended: () => ended,
  };
}

const play = (proc: EngineProcess, script: DapLine[], timeoutMs = 5000) =>
  playDap(proc, script, { timeoutMs, context: '/ctx', fill: async (s) => s.replace('${context}', '/ctx'), fact: () => undefined, resolveLaunch: async () => undefined });

describe('playDap', () => {
  it('plays requests and events, takes a value from an earlier event, and keeps the transcript', async () => {
    const a = fakeAdapter();
    const { record, transcript } = await play(a, [
      { request: 'initialize', arguments: { clientID: 'buildx-lab' }, timeoutMs: 1000 },
      { request: 'launch', arguments: { dockerfile: '${context}/Dockerfile' }, timeoutMs: 1000 },
      { event: 'initialized', timeoutMs: 1000 },
      { request: 'configurationDone', timeoutMs: 1000 },
      { event: 'stopped', id: 'stop', timeoutMs: 1000 },
      { request: 'stackTrace', id: 'trace', arguments: { threadId: { from: 'stop', pointer: '/body/threadId' } }, timeoutMs: 1000 },
      { request: 'fail', id: 'bad', timeoutMs: 1000 },
      { request: 'disconnect', timeoutMs: 1000 },
    ]);
    expect(transcript.stopped).toBeUndefined();
    expect(transcript.lines.trace?.request?.arguments).toEqual({ threadId: 42 });
    expect(transcript.lines.trace?.response?.body).toEqual({ echo: { threadId: 42 } });
    expect(transcript.lines['2']?.request?.arguments).toEqual({ dockerfile: '/ctx/Dockerfile' });
    // a failed response is kept for the checks, and the script goes on
    expect(transcript.lines.bad?.response).toMatchObject({ success: false, message: 'no such thing' });
    expect(transcript.messages.filter((m) => m.dir === 'sent')).toHaveLength(6);
    expect(JSON.parse(record.stdout)).toEqual(JSON.parse(JSON.stringify(transcript)));
    expect(record.exitCode).toBe(0);
    expect(record.stderr).toBe('progress');
  });

  it('stops the script at an event that does not come, and says so', async () => {
    const a = fakeAdapter();
    const { record, transcript } = await play(a, [
      { request: 'initialize', timeoutMs: 1000 },
      { event: 'stopped', timeoutMs: 200 },
      { request: 'threads', timeoutMs: 1000 },
    ]);
    expect(transcript.stopped).toBe('dap[1]: no stopped event within 0.2 s; the script stopped there');
    expect(a.sent).toHaveLength(1);
    expect(record.stderr).toContain('[buildx-lab] dap[1]: no stopped event');
  });

  it('stops at a reference with nothing there', async () => {
    const a = fakeAdapter();
    const { transcript } = await play(a, [
      { request: 'initialize', id: 'init', timeoutMs: 1000 },
      { request: 'threads', arguments: { x: { from: 'init', pointer: '/body/nothing' } }, timeoutMs: 1000 },
    ]);
    expect(transcript.stopped).toMatch(/^dap\[1\]: init has nothing at \/body\/nothing/);
  });

  it('survives output that is not DAP, and ends an adapter that does not end', async () => {
    const a = fakeAdapter({ garbage: true, neverEnd: true });
    const { record, transcript } = await play(a, [{ request: 'initialize', timeoutMs: 300 }], 700);
    expect(transcript.stopped).toMatch(/no response to initialize/);
    expect(record.exitCode).toBe(137);
    expect(record.stderr).toMatch(/not DAP|still running/);
  });

  it('refuses a launch whose filled-in path leaves the context', async () => {
    const a = fakeAdapter();
    await expect(
      playDap(a, [{ request: 'launch', arguments: { contextPath: '${context}/../..' }, timeoutMs: 1000 }], {
        timeoutMs: 2000,
        context: '/ctx',
        fill: async (s) => s.replace('${context}', '/ctx'),
        fact: () => undefined,
        resolveLaunch: async () => undefined,
      }),
    ).rejects.toThrow(/dap\[0\]: launch contextPath/);
    expect(a.sent).toHaveLength(0);
    expect(a.ended()).toBe(true);
  });
});
