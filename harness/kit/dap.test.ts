// The DAP step's own logic: references between lines, the launch rule, and the player against an
// in-process adapter that speaks the framing (what it shows is the client's handling of the protocol,
// never Buildx's: the integration test runs the real `buildx dap build`).
import { PassThrough } from 'node:stream';
import type { Message } from 'vscode-jsonrpc/node';
import { describe, expect, it } from 'vitest';
import type { CommandRecord } from '../model.ts';
import { ATTACH_SOCKET, type DapLine, type TerminalHost, attachSocket, dapScriptProblems, isDapRef, launchProblem, playDap, refsIn, resolveRefs, rpc } from './dap.ts';
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

/** A fake process's end, once: `done` settles with `record` and the first code `end` gives. */
function ending(record: Omit<CommandRecord, 'exitCode'>): { done: Promise<CommandRecord>; end: (code: number) => void; ended: () => boolean } {
  let ended = false;
  let finish: (r: CommandRecord) => void = () => undefined;
  const done = new Promise<CommandRecord>((res) => (finish = res));
  const end = (code: number) => {
    if (ended) return;
    ended = true;
    finish({ ...record, exitCode: code });
  };
  return { done, end, ended: () => ended };
}

/** An adapter in this process: answers each request after `delayMs`, sends `initialized` after launch and `stopped` after configurationDone. */
function fakeAdapter(opts: { garbage?: boolean; neverEnd?: boolean; runInTerminal?: unknown } = {}): EngineProcess & { sent: unknown[]; answers: Record<string, unknown>[] } {
  const toClient = new PassThrough();
  const fromClient = new PassThrough();
  const writer = new rpc.StreamMessageWriter(toClient);
  const reader = new rpc.StreamMessageReader(fromClient);
  const sent: unknown[] = [];
  /** the client's responses to the adapter's own requests (runInTerminal) */
  const answers: Record<string, unknown>[] = [];
  const stdoutListeners: ((c: Buffer) => void)[] = [];
  toClient.on('data', (c: Buffer) => {
    for (const l of stdoutListeners) l(c);
  });
  const { done, end, ended: isEnded } = ending({ argv: ['docker', 'buildx', 'dap', 'build'], stdout: 'raw', stderr: 'progress', durationMs: 1 });
  let seq = 100;
  const emit = (m: Record<string, unknown>) => void writer.write({ seq: seq++, ...m } as unknown as Message);
  reader.listen((raw) => {
    const m = raw as unknown as { seq: number; type: string; command: string; arguments?: Record<string, unknown> };
    if (m.type === 'response') {
      answers.push(m as unknown as Record<string, unknown>);
      return;
    }
    sent.push(m);
    // `exec`, as Buildx's repl does it: ask the client for a terminal first (each evaluate asks again)
    if (m.command === 'evaluate' && opts.runInTerminal !== undefined) emit({ type: 'request', command: 'runInTerminal', arguments: opts.runInTerminal });
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
    answers,
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
    ended: isEnded,
  };
}

const play = (proc: EngineProcess, script: DapLine[], timeoutMs = 5000, terminal?: TerminalHost) =>
  playDap(proc, script, {
    timeoutMs,
    context: '/ctx',
    fill: async (s) => s.replace('${context}', '/ctx'),
    fact: () => undefined,
    resolveLaunch: async () => undefined,
    ...(terminal ? { terminal } : {}),
  });

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

describe('runInTerminal: the socket the lab attaches to', () => {
  const sock = '/tmp/buildx-dap-exec3398755003/s.sock';

  it("takes Buildx's own request, plugin or standalone, and only the socket from it", () => {
    expect(attachSocket({ kind: 'integrated', cwd: '', args: ['docker', 'buildx', 'dap', 'attach', sock], env: { BUILDX_EXPERIMENTAL: '1' } })).toEqual({ socket: sock });
    expect(attachSocket({ args: ['/usr/libexec/docker/cli-plugins/docker-buildx', 'dap', 'attach', sock] })).toEqual({ socket: sock });
    expect(ATTACH_SOCKET.test('/tmp/buildx-dap-exec1/s.sock')).toBe(true);
  });

  it('refuses any other socket, path or request shape', () => {
    for (const bad of [
      '/var/run/docker.sock',
      '/tmp/buildx-dap-exec1/../../var/run/docker.sock',
      '/tmp/buildx-dap-exec/s.sock',
      '/tmp/buildx-dap-exec12345678901/s.sock',
      '/tmp/buildx-dap-exec1/s.sock\n',
      '/tmp/buildx-dap-exec1/other.sock',
      '/root/tmp/buildx-dap-exec1/s.sock',
      'tmp/buildx-dap-exec1/s.sock',
    ])
      expect(attachSocket({ args: ['docker', 'buildx', 'dap', 'attach', bad] }), bad).toEqual({ problem: expect.stringContaining('is not where Buildx makes') });
    expect(attachSocket({ args: ['sh', '-c', `nc -U ${sock}`] })).toEqual({ problem: expect.stringContaining('do not end in "dap attach SOCKET"') });
    expect(attachSocket({ args: ['docker', 'buildx', 'dap', 'attach', sock, '--x'] })).toEqual({ problem: expect.stringContaining('do not end in') });
    expect(attachSocket({ args: 'docker buildx dap attach' })).toEqual({ problem: expect.stringContaining('without args') });
    expect(attachSocket({ args: ['dap', 'attach', 7] })).toEqual({ problem: expect.stringContaining('without args') });
    expect(attachSocket(undefined)).toEqual({ problem: expect.stringContaining('without args') });
  });
});

/** A terminal host in this process: each open gives a process that prints `banner`, echoes what it is sent, and ends when stopped. */
function fakeHost(script: TerminalHost['script'], banner = 'Attached to build process.\r\n') {
  const opened: string[] = [];
  const kept: CommandRecord[] = [];
  const stopped: number[] = [];
  const host: TerminalHost = {
    script,
    async open(socket, n, onData) {
      opened.push(socket);
      const listeners: ((c: Buffer) => void)[] = onData ? [onData] : [];
      const { done, end, ended } = ending({ argv: ['docker', 'buildx', 'dap', 'attach', socket], stdout: '', stderr: '', durationMs: 1 });
      // Buildx greets at once, while the lab still looks up the pid: output before open returns
      for (const l of listeners) l(Buffer.from(banner));
      await new Promise((res) => setTimeout(res, 20));
      return {
        argv: ['docker', 'buildx', 'dap', 'attach', socket],
        processId: 400 + n,
        proc: {
          proc: {
            write: (d) => {
              setTimeout(() => {
                for (const l of listeners) l(Buffer.from(`echo:${String(d)}`));
              }, 5);
            },
            endInput: () => undefined,
            onData: (l) => listeners.push(l),
            onStdout: () => undefined,
            done,
            kill: () => end(137),
          },
          done,
          stop: async () => {
            stopped.push(n);
            end(137);
          },
          ended,
        },
      };
    },
    keep: (r) => kept.push(r),
  };
  return { host, opened, kept, stopped };
}

describe('playDap: runInTerminal', () => {
  const sock = '/tmp/buildx-dap-exec42/s.sock';
  const exec: DapLine[] = [
    { request: 'initialize', arguments: { supportsRunInTerminalRequest: true }, timeoutMs: 1000 },
    { request: 'evaluate', id: 'exec', arguments: { expression: 'exec', context: 'repl' }, timeoutMs: 1000 },
    { await: 'terminal', id: 'term', timeoutMs: 2000 },
    { request: 'disconnect', timeoutMs: 1000 },
  ];

  it("opens the lab's own terminal for the socket, answers with its pid, plays the script and keeps the screen", async () => {
    const a = fakeAdapter({ runInTerminal: { kind: 'integrated', cwd: '/', args: ['docker', 'buildx', 'dap', 'attach', sock], env: { LD_PRELOAD: '/x.so' }, title: 't' } });
    const h = fakeHost([{ expect: 'Attached to build process', timeoutMs: 1000 }, { send: 'id\n' }, { expect: 'echo:id', timeoutMs: 1000 }]);
    const { record, transcript } = await play(a, exec, 5000, h.host);
    expect(transcript.stopped).toBeUndefined();
    // only the socket reached the lab's command; nothing else of the request did
    expect(h.opened).toEqual([sock]);
    expect(a.answers).toEqual([expect.objectContaining({ command: 'runInTerminal', success: true, body: { processId: 400 } })]);
    expect(transcript.lines.term).toEqual({ terminal: 0 });
    expect(transcript.terminals).toEqual([
      { argv: ['docker', 'buildx', 'dap', 'attach', sock], socket: sock, processId: 400, screen: 'Attached to build process.\necho:id', exitCode: 137 },
    ]);
    // ended with the step, kept as the cell's evidence
    expect(h.stopped).toEqual([0]);
    expect(h.kept).toEqual([expect.objectContaining({ stdout: 'Attached to build process.\necho:id', exitCode: 137 })]);
    expect(JSON.parse(record.stdout).terminals[0].screen).toBe('Attached to build process.\necho:id');
  });

  it('refuses a socket Buildx would not make, and the await line then stops the script', async () => {
    const a = fakeAdapter({ runInTerminal: { args: ['docker', 'buildx', 'dap', 'attach', '/var/run/docker.sock'] } });
    const h = fakeHost([{ expect: 'x', timeoutMs: 100 }]);
    const { record, transcript } = await play(a, exec, 5000, h.host);
    expect(h.opened).toEqual([]);
    expect(a.answers).toEqual([expect.objectContaining({ success: false, message: expect.stringContaining('is not where Buildx makes') })]);
    expect(transcript.stopped).toMatch(/^dap\[2\]: no terminal 0 was opened for runInTerminal within 2 s; the script stopped there/);
    expect(record.stderr).toContain('runInTerminal refused');
    expect(transcript.terminals).toEqual([]);
  });

  it('refuses runInTerminal without the opt-in, as before', async () => {
    const a = fakeAdapter({ runInTerminal: { args: ['docker', 'buildx', 'dap', 'attach', sock] } });
    const { transcript } = await play(
      a,
      exec.filter((l) => !('await' in l)),
    );
    expect(a.answers).toEqual([expect.objectContaining({ success: false, message: 'buildx-lab runs no reverse requests' })]);
    expect(transcript.terminals).toBeUndefined();
  });

  it('opens one terminal at a time', async () => {
    const a = fakeAdapter({ runInTerminal: { args: ['docker', 'buildx', 'dap', 'attach', sock] } });
    const h = fakeHost([{ expect: 'Attached', timeoutMs: 1000 }]);
    const { transcript } = await play(
      a,
      [exec[0]!, exec[1]!, { await: 'terminal', timeoutMs: 2000 }, { request: 'evaluate', arguments: { expression: 'exec', context: 'repl' }, timeoutMs: 1000 }],
      5000,
      h.host,
    );
    expect(h.opened).toEqual([sock]);
    expect(a.answers.map((r) => r.success)).toEqual([true, false]);
    expect(a.answers[1]!.message).toMatch(/one terminal at a time/);
    expect(transcript.terminals).toHaveLength(1);
  });

  it("makes the cell inconclusive when the terminal's script stops short", async () => {
    const a = fakeAdapter({ runInTerminal: { args: ['docker', 'buildx', 'dap', 'attach', sock] } });
    const h = fakeHost([{ expect: 'Running /bin/sh', timeoutMs: 200 }]);
    const { transcript } = await play(a, exec, 5000, h.host);
    expect(transcript.stopped).toBe("dap[2]: terminal 0's script stopped short (interact[0]: the expect saw no match within 0.2 s); the script stopped there");
    expect(transcript.terminals?.[0]?.stopped).toMatch(/^interact\[0\]/);
  });
});
