import { RE2JS } from 're2js';
import { describe, expect, it, vi } from 'vitest';
import { UsageError } from '../errors.ts';
import type { CommandRecord, JournalEntry } from '../model.ts';
import {
  MAX_MATCH_WORK,
  MAX_PATTERN_INSTRUCTIONS,
  annotationProblems,
  atJsonPointer,
  checkJsonPointer,
  checkPath,
  compilePattern,
  countHolds,
  describeCheck,
  evaluateJson,
  evaluateRecorded,
  firstMatch,
  fullMatch,
  ownerHolds,
  parseJsonText,
  validateCheck,
  type Check,
  type CheckResult,
  type RecordedStep,
} from './checks.ts';
import type { CellPath } from './sandbox.ts';

const rec = (stdout: string, stderr = '', exitCode = 0): CommandRecord => ({ argv: ['docker', 'buildx'], exitCode, stdout, stderr, durationMs: 1 });
const steps: RecordedStep[] = [
  { id: 'build', record: rec('', '#5 pushing registry:5000/a:v1 with docker\n', 0) },
  { id: 'inspect', record: rec('', 'Error: No such image: app', 1) },
];
const put = (reference: string, status: number, userAgent = 'docker/26.1.5'): JournalEntry => ({
  seq: 1,
  atMs: 1,
  method: 'PUT',
  path: `/v2/a/manifests/${reference}`,
  kind: 'manifests',
  repository: 'a',
  reference,
  status,
  userAgent,
  requestBytes: 1,
  responseBytes: 1,
  durationMs: 1,
});
const blobGet: JournalEntry = { ...put('sha256:y', 200), method: 'GET', path: '/v2/b/blobs/sha256:y', kind: 'blobs', repository: 'b', userAgent: undefined };
const journal = [put('v1', 201, 'buildkit/v0.17'), put('v1', 201), put('sha256:x', 201), put('v1', 409), blobGet];
const check = (c: Check) => evaluateRecorded(c, steps, journal);

describe('recorded checks', () => {
  it('matches output, per step or over all steps, and its negation', () => {
    expect(check({ kind: 'output', pattern: 'pushing \\S+ with docker' })).toEqual({ holds: true, detail: 'output matched "pushing registry:5000/a:v1 with docker"' });
    expect(check({ kind: 'output', pattern: 'pushing', step: 'inspect' })?.holds).toBe(false);
    expect(check({ kind: 'output', pattern: 'No such image', negate: true })).toMatchObject({ holds: false, detail: expect.stringMatching(/must not appear/) });
  });
  it.each<[string, Check, boolean, string]>([
    ['a match in one step', { kind: 'output', pattern: 'No such \\w+', step: 'inspect' }, true, 'step inspect matched "No such image"'],
    ['no match', { kind: 'output', pattern: 'panic' }, false, 'output: no match for /panic/'],
    ['an absent pattern, as required', { kind: 'output', pattern: 'pushing', negate: true, step: 'inspect' }, true, 'step inspect: no /pushing/, as required'],
    [
      'a present pattern that must not be',
      { kind: 'output', pattern: 'No such image', negate: true, step: 'inspect' },
      false,
      'step inspect has "No such image", which must not appear',
    ],
  ])('output: %s', (_name, c, holds, detail) => {
    expect(check(c)).toEqual({ holds, detail });
  });
  it('reads stdout and stderr, without colours, and clips a long match to one line of 80 characters', () => {
    const coloured = [{ id: 'x', record: rec('\u001b[31mred\u001b[0m', 'two\n  lines') }];
    expect(evaluateRecorded({ kind: 'output', pattern: 'red\\ntwo\\s+lines' }, coloured, [])).toEqual({ holds: true, detail: 'output matched "red two lines"' });
    expect(evaluateRecorded({ kind: 'output', pattern: '\\s+lines' }, coloured, [])?.detail).toBe('output matched "lines"');
    // steps are read one after the other, each on lines of its own
    const two = [
      { id: 'a', record: rec('x') },
      { id: 'b', record: rec('y') },
    ];
    expect(evaluateRecorded({ kind: 'output', pattern: 'x\\ny' }, two, [])?.holds).toBe(false);
    expect(evaluateRecorded({ kind: 'output', pattern: 'x\\n\\ny' }, two, [])?.holds).toBe(true);
    const long = (n: number) => [{ id: 'x', record: rec('y'.repeat(n)) }];
    expect(evaluateRecorded({ kind: 'output', pattern: 'y+' }, long(80), [])?.detail).toBe(`output matched "${'y'.repeat(80)}"`);
    expect(evaluateRecorded({ kind: 'output', pattern: 'y+' }, long(81), [])?.detail).toBe(`output matched "${'y'.repeat(77)}..."`);
  });
  it('finds a Go panic or fatal error without a regex', () => {
    const panicking = [{ id: 'x', record: rec('', 'panic: runtime error: invalid memory address or nil pointer dereference\n\ngoroutine 1 [running]:\nmain.main()') }];
    expect(evaluateRecorded({ kind: 'panic' }, panicking, [])?.holds).toBe(true);
    expect(evaluateRecorded({ kind: 'panic' }, [{ id: 'x', record: rec('', 'fatal error: concurrent map writes') }], [])?.holds).toBe(true);
    expect(check({ kind: 'panic' })?.holds).toBe(false);
    expect(evaluateRecorded({ kind: 'panic' }, [{ id: 'x', record: rec('the word panic: in a log line is not at line start? ') }], [])?.holds).toBe(false);
  });
  it.each<[string, CommandRecord, string | undefined, CheckResult]>([
    [
      'a panic, clipped to 100 characters',
      rec('', 'panic: runtime error: invalid memory address or nil pointer dereference\n\ngoroutine 1 [running]:\nmain.main()'),
      undefined,
      { holds: true, detail: 'output: Go panic: runtime error: invalid memory address or nil pointer dereference goroutine 1 [running]: ma...' },
    ],
    ['a panic at the very start of the output', rec('panic: boom'), undefined, { holds: true, detail: 'output: Go panic: boom' }],
    [
      'a fatal error after other lines',
      rec('', 'ok\nfatal error: all goroutines are asleep - deadlock!'),
      'x',
      { holds: true, detail: 'step x: Go fatal error: all goroutines are asleep - deadlock!' },
    ],
    [
      'a goroutine dump alone',
      rec('', 'waiting\ngoroutine 17 [chan receive]:\nmain.wait()'),
      undefined,
      { holds: true, detail: 'output: Go goroutine 17 [chan receive]: main.wait()' },
    ],
    [
      'a goroutine line that is no dump',
      rec('', 'waiting\ngoroutine 17 [Chan]:\ngoroutine x [running]:'),
      undefined,
      { holds: false, detail: 'output: no Go panic or fatal error' },
    ],
    ['none in the named step', rec('', 'all good'), 'x', { holds: false, detail: 'step x: no Go panic or fatal error' }],
  ])('panic: %s', (_name, record, step, want) => {
    expect(evaluateRecorded(step ? { kind: 'panic', step } : { kind: 'panic' }, [{ id: 'x', record }], [])).toEqual(want);
  });
  it('checks exit codes: the first failing step, a named step, or an exact code', () => {
    expect(check({ kind: 'exit', code: 'nonzero' })).toEqual({ holds: true, detail: 'step inspect exit 1' });
    expect(check({ kind: 'exit', code: 'zero', step: 'build' })?.holds).toBe(true);
    expect(check({ kind: 'exit', code: 1, step: 'inspect' })?.holds).toBe(true);
    expect(check({ kind: 'exit', code: 'zero', step: 'nope' })).toEqual({ holds: false, detail: 'no step nope ran' });
  });
  it.each<[string, Check, RecordedStep[], CheckResult]>([
    ['zero, when a step failed', { kind: 'exit', code: 'zero' }, steps, { holds: false, detail: 'step inspect exit 1' }],
    ['the last step, when none failed', { kind: 'exit', code: 'zero' }, [steps[0]!, { id: 'push', record: rec('') }], { holds: true, detail: 'step push exit 0' }],
    ['the first step that failed, not the last', { kind: 'exit', code: 'nonzero' }, [steps[1]!, { id: 'push', record: rec('') }], { holds: true, detail: 'step inspect exit 1' }],
    ['nonzero, when all succeeded', { kind: 'exit', code: 'nonzero' }, [steps[0]!], { holds: false, detail: 'step build exit 0' }],
    ['another exact code', { kind: 'exit', code: 2, step: 'inspect' }, steps, { holds: false, detail: 'step inspect exit 1' }],
    ['no step at all', { kind: 'exit', code: 'nonzero' }, [], { holds: false, detail: 'no step ran' }],
  ])('exit: %s', (_name, c, recorded, want) => {
    expect(evaluateRecorded(c, recorded, [])).toEqual(want);
  });
  it("keeps the lab's source servers apart from the registry: server and path choose them", () => {
    const entry = (kind: string, path: string, status: number, seq: number) => ({
      seq,
      atMs: 0,
      method: 'GET',
      path,
      kind,
      status,
      requestBytes: 0,
      responseBytes: 0,
      durationMs: 0,
    });
    const mixed = [
      entry('manifests', '/v2/a/manifests/v1', 200, 1),
      entry('git', '/app.git/info/refs', 401, 2),
      entry('git', '/app.git/info/refs', 200, 3),
      entry('http', '/ctx.tar', 200, 4),
    ];
    const run = (c: Check) => evaluateRecorded(c, [], mixed);
    expect(run({ kind: 'requests', count: '1' })).toEqual({ holds: true, detail: '1 requests (want 1)' });
    expect(run({ kind: 'requests', server: 'git', status: '401', count: '1' })).toEqual({ holds: true, detail: '1 git server answered 401 (want 1)' });
    expect(run({ kind: 'requests', server: 'git', path: '^/app\\.git/', count: '2' })?.holds).toBe(true);
    expect(run({ kind: 'requests', server: 'http', path: '^/nope$', count: '0' })).toEqual({ holds: true, detail: '0 http server on /^/nope$/ (want 0)' });
  });
  it('refuses a requests path that is not RE2', () => {
    expect(() => validateCheck({ kind: 'requests', count: '1', path: '(?=x)' })).toThrow(/not an RE2 regular expression/);
  });
  it('counts the requests the registry saw', () => {
    expect(check({ kind: 'requests', method: 'put', on: 'manifests', reference: 'v1', count: '>1' })).toEqual({ holds: true, detail: '3 PUT manifests to v1 (want >1)' });
    expect(check({ kind: 'requests', method: 'PUT', reference: 'v1', userAgent: '^buildkit/', count: '1' })?.holds).toBe(true);
    expect(check({ kind: 'requests', method: 'PUT', status: '4xx', count: '1' })?.holds).toBe(true);
  });
  it.each<[Check & { kind: 'requests' }, CheckResult]>([
    [
      { kind: 'requests', count: '5' },
      { holds: true, detail: '5 requests (want 5)' },
    ],
    [
      { kind: 'requests', method: 'get', count: '1' },
      { holds: true, detail: '1 GET (want 1)' },
    ],
    [
      { kind: 'requests', on: 'blobs', count: '0' },
      { holds: false, detail: '1 blobs (want 0)' },
    ],
    [
      { kind: 'requests', repository: 'b', count: '1' },
      { holds: true, detail: '1 requests (want 1)' },
    ],
    [
      { kind: 'requests', reference: 'sha256:x', count: '1' },
      { holds: true, detail: '1 to sha256:x (want 1)' },
    ],
    [
      { kind: 'requests', status: '201', count: '3' },
      { holds: true, detail: '3 answered 201 (want 3)' },
    ],
    [
      { kind: 'requests', status: '2XX', count: '4' },
      { holds: true, detail: '4 answered 2XX (want 4)' },
    ],
    [
      { kind: 'requests', status: '40', count: '1' },
      { holds: true, detail: '1 answered 40 (want 1)' },
    ],
    [
      { kind: 'requests', userAgent: '^docker/', count: '3' },
      { holds: true, detail: '3 requests (want 3)' },
    ],
    [
      { kind: 'requests', userAgent: '^$', count: '1' },
      { holds: true, detail: '1 requests (want 1)' },
    ],
  ])('requests: %j', (c, want) => {
    expect(check(c)).toEqual(want);
  });
  it.each<[string, string, number]>([
    ['a digest, as a pattern', 'sha256:[a-z0-9]+', 1],
    ['the tag, not tags that start with it', 'v1', 3],
    ['the tag or a digest', 'v1|sha256:.*', 4],
    ['no tag at all', 'v', 0],
  ])('requests.reference: %s (the whole reference matches)', (_what, reference, n) => {
    expect(check({ kind: 'requests', method: 'PUT', on: 'manifests', reference, count: String(n) })?.holds).toBe(true);
  });
  it('counts a PUT by digest and a PUT to the tag apart', () => {
    const j = [put('v1', 201), put('sha256:aa', 201), put('sha256:bb', 201), put('v10', 201)];
    const n = (reference: string) => evaluateRecorded({ kind: 'requests', method: 'PUT', reference, count: '>=0' }, [], j)?.detail;
    expect(n('sha256:.+')).toBe('2 PUT to sha256:.+ (want >=0)');
    expect(n('v1')).toBe('1 PUT to v1 (want >=0)');
    expect(fullMatch('v1', 'v10')).toBe(false);
  });
  it('leaves state checks to the kit', () => {
    expect(check({ kind: 'file', path: 'out' })).toBeUndefined();
    expect(check({ kind: 'image', ref: 'app' })).toBeUndefined();
    expect(check({ kind: 'registry', ref: 'r' })).toBeUndefined();
  });
});

describe('validateCheck', () => {
  it.each<[string, Check]>([
    ['a bad output pattern', { kind: 'output', pattern: '(' }],
    ['a count it cannot read', { kind: 'requests', count: 'lots' }],
    ['a bad user agent pattern', { kind: 'requests', count: '1', userAgent: '[' }],
  ])('refuses %s', (_name, c) => {
    expect(() => validateCheck(c)).toThrow(UsageError);
  });
  it.each<[string, Check, RegExp]>([
    [
      'a kind outside the allowlist (cluster-wide)',
      { kind: 'kube', get: 'node' as never, name: 'n' },
      /kube\.get "node" is not a kind a check may read: use one of deployment, pod, configmap/,
    ],
    ['a secret', { kind: 'kube', get: 'secret' as never, name: 'n' }, /use one of deployment, pod, configmap/],
    ['a name that is a flag', { kind: 'kube', get: 'deployment', name: '--all-namespaces' }, /kube\.name: '--all-namespaces' is not a Kubernetes object name/],
    ['a name with a slash', { kind: 'kube', get: 'pod', name: 'kube-system/x' }, /is not a Kubernetes object name/],
    ['an upper-case name', { kind: 'kube', get: 'configmap', name: 'Config' }, /is not a Kubernetes object name/],
    ['a name over 253 characters', { kind: 'kube', get: 'deployment', name: 'a'.repeat(254) }, /at most 253 characters/],
    ['a json pointer without /', { kind: 'kube', get: 'deployment', name: 'b0', json: { pointer: 'spec' } }, /json\.pointer "spec" is not a JSON Pointer/],
    ['a bad json pattern', { kind: 'kube', get: 'deployment', name: 'b0', json: { pointer: '/spec', matches: '(' } }, /not an RE2 regular expression/],
  ])('refuses a kube check with %s, naming the fix', (_name, c, message) => {
    expect(() => validateCheck(c)).toThrow(UsageError);
    expect(() => validateCheck(c)).toThrow(message);
  });
  it.each<Check>([
    { kind: 'output', pattern: 'a+' },
    { kind: 'requests', count: '>=2', userAgent: '^buildkit/' },
    { kind: 'file', path: '(' },
    { kind: 'kube', get: 'deployment', name: '${builder}0', json: { pointer: '/spec/template/spec/volumes', count: '>=1' } },
    { kind: 'kube', get: 'configmap', name: 'b0-config.v1', exists: false },
  ])('accepts %j', (c) => {
    expect(() => validateCheck(c)).not.toThrow();
  });
});

describe('describeCheck', () => {
  it.each<[Check, string]>([
    [{ kind: 'output', pattern: 'a+' }, 'output matches /a+/'],
    [{ kind: 'output', pattern: 'a+', negate: true, step: 'b' }, 'step b output does not match /a+/'],
    [{ kind: 'panic' }, 'a Go panic or fatal error'],
    [{ kind: 'panic', step: 'b' }, 'step b a Go panic or fatal error'],
    [{ kind: 'exit', code: 'nonzero' }, 'exit code nonzero'],
    [{ kind: 'exit', code: 3, step: 'b' }, 'step b exit code 3'],
    [{ kind: 'file', path: 'out' }, 'out exists'],
    [{ kind: 'file', path: 'out', exists: false }, 'out is absent'],
    [{ kind: 'file', path: 'out', contains: `${'x'.repeat(40)} y` }, `out contains "${'x'.repeat(37)}..."`],
    [{ kind: 'file', path: 'out', notContains: 'secret' }, 'out lacks "secret"'],
    [{ kind: 'kube', get: 'deployment', name: 'b0', json: { pointer: '/spec' } }, 'kubernetes deployment b0 has JSON at "/spec"'],
    [{ kind: 'image', ref: 'app' }, 'engine image app exists'],
    [{ kind: 'image', ref: 'app', exists: false }, 'engine image app is absent'],
    [{ kind: 'image', ref: 'app', platforms: ['linux/amd64', 'linux/arm64'] }, 'engine image app exists with linux/amd64, linux/arm64'],
    [{ kind: 'registry', ref: 'r' }, 'registry r: exists'],
    [{ kind: 'registry', ref: 'r', index: false, lacks: ['linux/arm64'] }, 'registry r: index=false, lacks=["linux/arm64"]'],
    [{ kind: 'requests', count: '0' }, '0 requests'],
    [{ kind: 'requests', count: '>1', method: 'PUT', on: 'manifests', reference: 'v1' }, '>1 PUT manifests to v1'],
  ])('%j', (c, want) => {
    expect(describeCheck(c)).toBe(want);
  });
});

describe('patterns run on RE2', () => {
  it('matches in linear time: the regex that hung a run with JavaScript RegExp returns at once', () => {
    const t0 = performance.now();
    expect(firstMatch('(\\s*\\S+\\s*)+No such image', `${'x '.repeat(50_000)}!`)).toBeUndefined();
    expect(performance.now() - t0).toBeLessThan(2000);
  });
  it('refuses what RE2 cannot do, saying so', () => {
    expect(() => compilePattern('(a')).toThrow(UsageError);
    expect(() => compilePattern('(a')).toThrow(/^"\(a" is not an RE2 regular expression \(.+\); RE2 has no lookaround or backreferences$/);
    expect(() => compilePattern('(\\w)\\1')).toThrow(/no lookaround or backreferences/);
  });

  // A linear but slow pattern: each of its ~2000 instructions runs for every character (issue 19). Over a
  // megabyte of output it stalled the run's process for 199 s (measured); now refused before it runs.
  it.each([
    ['[\\s\\S]{1,1000}\\d{5}', /^output "\[\\\\s\\\\S\]\{1,1000\}\\\\d\{5\}" has counted repetitions \(\{n,m\}\) adding up to 1005, over the limit of 500 RE2 instructions/],
    ['(?:[a-z]{1,30}\\s){1,30}x', /^output ".*" compiles to \d+ instructions, over the limit of 500 RE2 instructions/],
    ['.{400}.{400}x', /adding up to 800, over the limit of 500/],
    ['(?:error|failed)(?:abc){1,150}', /compiles to \d+ instructions, over the limit of 500/],
    [Array.from({ length: 60 }, (_, i) => `[\\s\\S]{1,16}${i}`).join('|'), /adding up to 960/],
  ])('refuses at load a pattern whose program is too large: %s', (pattern, message) => {
    const t0 = performance.now();
    expect(() => validateCheck({ kind: 'output', pattern })).toThrow(UsageError);
    expect(() => validateCheck({ kind: 'output', pattern })).toThrow(message);
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it('names the field: notOutput, requests.userAgent', () => {
    expect(() => validateCheck({ kind: 'output', pattern: 'x{501}', negate: true })).toThrow(/^notOutput "x\{501\}" has counted repetitions \(\{n,m\}\) adding up to 501/);
    expect(() => validateCheck({ kind: 'requests', count: '1', userAgent: 'x{501}' })).toThrow(/^requests\.userAgent "x\{501\}"/);
  });

  it('refuses a pattern longer than its limit before compiling it', () => {
    expect(() => compilePattern('a'.repeat(1001))).toThrow(/is 1001 characters long, over the limit of 1000/);
  });

  it('keeps what the shipped cases use, and escaped braces, which are no repetition', () => {
    for (const p of ['sha256:[0-9a-f]{64}', '\\{"Name":"default","Driver":"docker"[\\s\\S]*\\{"Name":"default","Driver":"docker"', 'x\\{5000}', '.{400}']) {
      expect(compilePattern(p).programSize()).toBeLessThanOrEqual(MAX_PATTERN_INSTRUCTIONS);
    }
  });

  it('bounds the cost of one match: text length x program size', () => {
    const pattern = '\\d[\\s\\S]{400}\\d{5}';
    const size = compilePattern(pattern).programSize();
    const fits = 'ab 1 '.repeat(Math.floor(MAX_MATCH_WORK / size / 50));
    const t0 = performance.now();
    expect(firstMatch(pattern, fits)).toBeUndefined();
    console.info(`a ${size}-instruction pattern over ${fits.length} characters: ${(performance.now() - t0).toFixed(0)} ms`);
    expect(() => firstMatch(pattern, `${fits}${'x'.repeat(Math.ceil(MAX_MATCH_WORK / size))}`)).toThrow(/over the limit of 50000000\. Fix: give the check a step/);
    // the refusal comes before any matching
    const t1 = performance.now();
    expect(() => firstMatch(pattern, 'x'.repeat(1 << 20))).toThrow(UsageError);
    expect(performance.now() - t1).toBeLessThan(500);
  });

  it('compiles a pattern once however many texts it is matched against (a userAgent against every journal entry)', () => {
    const compile = vi.spyOn(RE2JS, 'compile');
    try {
      const pattern = 'containerd/v1\\.7\\.(?:1\\d|2\\d)';
      for (let i = 0; i < 200; i++) firstMatch(pattern, `containerd/v1.7.${i % 40}`);
      expect(compile.mock.calls.filter(([p]) => p === pattern)).toHaveLength(1);
    } finally {
      compile.mockRestore();
    }
  });

  it('lets a short pattern search a large output', () => {
    expect(firstMatch('No such image', `${'#5 pushing layers\n'.repeat(100_000)}No such image: app`)).toBe('No such image');
  });
  it.each([
    ['1', 1, true],
    ['1', 2, false],
    ['0', 0, true],
    ['>1', 2, true],
    ['>1', 1, false],
    ['>=2', 2, true],
    ['>=2', 3, true],
    ['>=2', 1, false],
    ['<3', 2, true],
    ['<3', 3, false],
    ['<=0', 0, true],
    ['<=1', 0, true],
    ['<=1', 2, false],
    ['= 4', 4, true],
    ['==4', 5, false],
    [' >= 10 ', 10, true],
  ] as const)('count %s holds for %i: %s', (spec, n, want) => {
    expect(countHolds(spec, n)).toBe(want);
  });
  it.each(['lots', '', '>', '1.5', '=>1', '-1'])('refuses the count %j', (spec) => {
    expect(() => countHolds(spec, 1)).toThrow(`count ${JSON.stringify(spec)} is not a number or a comparison like ">1" or ">=2"`);
  });
  it('takes the first match, which may be empty', () => {
    expect(firstMatch('b+', 'abbcbbb')).toBe('bb');
    expect(firstMatch('x*', 'abc')).toBe('');
    expect(firstMatch('x', 'abc')).toBeUndefined();
  });
});

describe('checkPath reads what the engine resolved, never through a symlink', () => {
  // Only the decisions over the engine's answers are under test (kit.itg.test.ts runs it in a real engine).
  const sandbox = (kind: CellPath['kind'], content = '') => {
    const looked: string[] = [];
    return {
      looked,
      sb: {
        resolveInContext: async (paths: readonly string[]) => paths.map((p) => ({ path: p, real: `/tmp/cells/c1/ctx/${p}`, kind })),
        resolveInState: async (paths: readonly string[]) => paths.map((p) => ({ path: p, real: `/tmp/cells/c1/buildx/${p}`, kind })),
        look: async (script: string, _o: unknown, args: readonly string[] = []) => {
          looked.push([script, ...args].join(' | '));
          return { argv: [], exitCode: 0, stdout: content, stderr: '', durationMs: 1 };
        },
      },
    };
  };
  const file = (c: Omit<Extract<Check, { kind: 'file' }>, 'kind'>) => ({ kind: 'file' as const, ...c });

  it.each<[string, CellPath['kind'], Omit<Extract<Check, { kind: 'file' }>, 'kind'>, string, CheckResult]>([
    ['absent, as required', 'none', { path: 'out', exists: false }, '', { holds: true, detail: 'out: absent' }],
    ['present, required absent', 'file', { path: 'out', exists: false }, '', { holds: false, detail: 'out: present (file)' }],
    ['a directory, required absent', 'dir', { path: 'out', exists: false }, '', { holds: false, detail: 'out: present (dir)' }],
    ['absent, required present', 'none', { path: 'out' }, '', { holds: false, detail: 'out: absent' }],
    ['present', 'other', { path: 'out' }, '', { holds: true, detail: 'out: present (file)' }],
    ['a file where a directory is required', 'file', { path: 'out', directory: true }, '', { holds: false, detail: 'out: a file' }],
    ['a directory where a file is required', 'dir', { path: 'out', directory: false }, '', { holds: false, detail: 'out: a directory' }],
    ['a directory, as required', 'dir', { path: 'out', directory: true }, '', { holds: true, detail: 'out: present (dir)' }],
    ['holding the text', 'file', { path: 'md.json', contains: 'digest' }, '{"digest":1}', { holds: true, detail: 'md.json: holds "digest"' }],
    ['lacking the text', 'file', { path: 'md.json', contains: 'digest' }, '{}', { holds: false, detail: 'md.json: does not hold "digest"' }],
    ['lacking a text it must lack', 'file', { path: 'md.json', notContains: 'provenance' }, '{}', { holds: true, detail: 'md.json: does not hold "provenance"' }],
    ['holding a text it must lack', 'file', { path: 'md.json', notContains: 'provenance' }, 'provenance', { holds: false, detail: 'md.json: holds "provenance"' }],
  ])('%s', async (_what, kind, c, content, want) => {
    expect(await checkPath(sandbox(kind, content).sb, file(c))).toEqual(want);
  });

  it('reads the resolved path, and a directory without following the links in it', async () => {
    const f = sandbox('file', 'x');
    await checkPath(f.sb, file({ path: 'md.json', contains: 'x' }));
    expect(f.looked).toEqual(['head -c "$2" "$1" | /tmp/cells/c1/ctx/md.json | 1048577']);
    const d = sandbox('dir', 'x');
    await checkPath(d.sb, file({ path: 'out', contains: 'x' }));
    expect(d.looked).toEqual(['for f in "$1"/*; do [ -f "$f" ] && [ ! -L "$f" ] && cat "$f"; done 2>/dev/null | head -c "$2" | /tmp/cells/c1/ctx/out | 1048577']);
  });

  it.each(['../x', '/etc/passwd', 'a/../../x'])('refuses %s before asking the engine', async (p) => {
    const s = sandbox('file');
    await expect(checkPath(s.sb, file({ path: p }))).rejects.toThrow(UsageError);
  });
});

describe('state checks read under BUILDX_CONFIG', () => {
  const looked: string[] = [];
  const sb = (kind: CellPath['kind'], content: string) => ({
    resolveInContext: async () => {
      throw new Error('a state check must not resolve in the context');
    },
    resolveInState: async (paths: readonly string[]) => paths.map((p) => ({ path: p, real: `/tmp/cells/c1/buildx/${p}`, kind })),
    look: async (script: string, _o: unknown, args: readonly string[] = []) => {
      looked.push([script, ...args].join(' | '));
      return { argv: [], exitCode: 0, stdout: content, stderr: '', durationMs: 1 };
    },
  });
  const instance = JSON.stringify({ Name: 'lab', Driver: 'docker-container', Nodes: [{ Name: 'lab0', Endpoint: 'unix:///var/run/docker.sock' }], Dynamic: false });

  it.each<[string, CellPath['kind'], Omit<Extract<Check, { kind: 'state' }>, 'kind'>, string, CheckResult]>([
    ['an instance, present', 'file', { path: 'instances/lab', exists: true }, instance, { holds: true, detail: 'state instances/lab: present (file)' }],
    ['a removed instance, absent', 'none', { path: 'instances/lab', exists: false }, '', { holds: true, detail: 'state instances/lab: absent' }],
    ['a removed instance still there', 'file', { path: 'instances/lab', exists: false }, '', { holds: false, detail: 'state instances/lab: present (file)' }],
    [
      'a JSON value',
      'file',
      { path: 'instances/lab', json: { pointer: '/Nodes/0/Name', equals: 'lab0' } },
      instance,
      { holds: true, detail: 'state instances/lab: at "/Nodes/0/Name": "lab0"' },
    ],
    [
      'a JSON value that differs',
      'file',
      { path: 'instances/lab', json: { pointer: '/Driver', equals: 'docker' } },
      instance,
      { holds: false, detail: 'state instances/lab: at "/Driver": "docker-container", not "docker"' },
    ],
    [
      'a count of nodes',
      'file',
      { path: 'instances/lab', json: { pointer: '/Nodes', count: '>1' } },
      instance,
      { holds: false, detail: 'state instances/lab: at "/Nodes": 1 entries (want >1)' },
    ],
    [
      'a pattern over a directory, with a text it must lack',
      'dir',
      { path: 'refs/default/default', matches: '"DockerfilePath":"/[^"]*/-"', notContains: '"LocalPath":"-"' },
      '{"Target":"default","LocalPath":"/ctx","DockerfilePath":"/ctx/-"}',
      { holds: true, detail: 'state refs/default/default: does not hold ""LocalPath":"-""; matched ""DockerfilePath":"/ctx/-""' },
    ],
    ['json on a directory', 'dir', { path: 'refs', json: { pointer: '' } }, '', { holds: false, detail: 'state refs: a directory; json: reads a file' }],
    ['text that is not JSON', 'file', { path: 'current', json: { pointer: '/Key' } }, 'nope', { holds: false, detail: expect.stringMatching(/^state current: is not JSON/) }],
  ])('%s', async (_what, kind, c, content, want) => {
    expect(await checkPath(sb(kind, content), { kind: 'state', ...c })).toEqual(want);
  });

  it('reads the resolved path under BUILDX_CONFIG, bounded', async () => {
    looked.length = 0;
    await checkPath(sb('file', instance), { kind: 'state', path: 'instances/lab', contains: 'lab0' });
    expect(looked).toEqual(['head -c "$2" "$1" | /tmp/cells/c1/buildx/instances/lab | 1048577']);
  });

  it('says so when a JSON file is larger than it reads, instead of calling it not JSON', async () => {
    const big = `{"a":"${'x'.repeat(1 << 20)}"}`;
    expect(await checkPath(sb('file', big), { kind: 'state', path: 'current', json: { pointer: '/a' } })).toEqual({
      holds: false,
      detail: 'state current: is larger than 1 MiB, more than json: reads; check it with contains or matches',
    });
  });

  it.each(['../ctx/x', '/etc/passwd', 'refs/../../x'])('refuses %s before asking the engine', async (p) => {
    await expect(checkPath(sb('file', ''), { kind: 'state', path: p })).rejects.toThrow(/state check path .* must stay inside the cell's Buildx state \(BUILDX_CONFIG\)/);
  });
});

describe("owner: who owns a path (docker/buildx#2745: what sudo left in the user's config)", () => {
  it.each<[string, 'root' | 'lab', { holds: boolean; text: string }]>([
    ['0:0', 'root', { holds: true, text: 'owned by root (0:0)' }],
    ['0:0\n', 'lab', { holds: false, text: 'owned by root (0:0), not lab' }],
    ['1000:1000', 'lab', { holds: true, text: 'owned by lab (1000:1000)' }],
    ['1000:1000', 'root', { holds: false, text: 'owned by lab (1000:1000), not root' }],
    // the uid alone is not the user: sudo's chown sets both
    ['1000:0', 'lab', { holds: false, text: 'owned by 1000:0, not lab' }],
    ['65534:65534', 'root', { holds: false, text: 'owned by 65534:65534, not root' }],
    ['', 'root', { holds: false, text: 'owner unknown ("")' }],
    ['stat: cannot statx', 'lab', { holds: false, text: 'owner unknown ("stat: cannot statx")' }],
  ])('%j, want %s', (ids, want, r) => expect(ownerHolds(ids, want)).toEqual(r));

  // the engine's answers: stat's for the owner, the file's text for the rest
  const sb = (kind: CellPath['kind'], ids: string, content = '') => {
    const looked: string[] = [];
    return {
      looked,
      resolveInContext: async () => {
        throw new Error('a state check must not resolve in the context');
      },
      resolveInState: async (paths: readonly string[]) => paths.map((p) => ({ path: p, real: `/tmp/cells/c1/home/.docker/buildx/${p}`, kind })),
      look: async (script: string, _o: unknown, args: readonly string[] = []) => {
        looked.push([script, ...args].join(' | '));
        return { argv: [], exitCode: 0, stdout: script.startsWith('stat ') ? ids : content, stderr: '', durationMs: 1 };
      },
    };
  };
  it.each<[string, CellPath['kind'], Omit<Extract<Check, { kind: 'state' }>, 'kind'>, string, CheckResult]>([
    ['root-owned, as the bug leaves it', 'file', { path: 'instances/s', owner: 'root' }, '0:0', { holds: true, detail: 'state instances/s: owned by root (0:0)' }],
    [
      "the user's, as the fix leaves it",
      'file',
      { path: 'instances/s', owner: 'root' },
      '1000:1000',
      { holds: false, detail: 'state instances/s: owned by lab (1000:1000), not root' },
    ],
    ["a directory of the user's", 'dir', { path: 'instances', owner: 'lab', directory: true }, '1000:1000', { holds: true, detail: 'state instances: owned by lab (1000:1000)' }],
    ['absent: no owner to judge', 'none', { path: 'instances/s', owner: 'root' }, '0:0', { holds: false, detail: 'state instances/s: absent' }],
    [
      'with a text: both must hold',
      'file',
      { path: 'instances/s', owner: 'lab', contains: 'remote' },
      '0:0',
      { holds: false, detail: 'state instances/s: owned by root (0:0), not lab' },
    ],
  ])('%s', async (_what, kind, c, ids, want) => {
    expect(await checkPath(sb(kind, ids, '{"Driver":"remote"}'), { kind: 'state', ...c })).toEqual(want);
  });

  it('stats the resolved path, as an argument', async () => {
    const s = sb('file', '0:0');
    await checkPath(s, { kind: 'state', path: 'instances/s', owner: 'root' });
    expect(s.looked).toEqual(['stat -c %u:%g "$1" | /tmp/cells/c1/home/.docker/buildx/instances/s']);
  });

  it('says what it checks', () => expect(describeCheck({ kind: 'file', path: 'out', owner: 'lab' })).toBe('out is owned by lab'));
});

describe('JSON pointers (RFC 6901)', () => {
  const doc = { a: { 'b/c': [10, { 'd~e': true }] }, '': 'empty key', n: null };
  it.each<[string, { found: boolean; value?: unknown }]>([
    ['', { found: true, value: doc }],
    ['/a/b~1c/0', { found: true, value: 10 }],
    ['/a/b~1c/1/d~0e', { found: true, value: true }],
    ['/', { found: true, value: 'empty key' }],
    ['/n', { found: true, value: null }],
    ['/a/b~1c/2', { found: false }],
    ['/a/b~1c/01', { found: false }],
    ['/a/b~1c/-1', { found: false }],
    ['/a/x', { found: false }],
    ['/n/x', { found: false }],
    ['/constructor', { found: false }],
  ])('%j', (pointer, want) => {
    expect(atJsonPointer(doc, pointer)).toEqual(want);
  });
  it.each([
    ['Nodes/0', /start it with \//],
    ['/a~2b', /~ is written ~0/],
    ['/a~', /~ is written ~0/],
  ])('refuses %j', (pointer, message) => {
    expect(() => checkJsonPointer(pointer)).toThrow(UsageError);
    expect(() => checkJsonPointer(pointer)).toThrow(message);
  });
});

describe('json expectations over a text', () => {
  it('reads JSON lines (ls --format json) as an array', () => {
    expect(parseJsonText('{"Name":"a"}\n{"Name":"a"}\n')).toEqual({ ok: true, value: [{ Name: 'a' }, { Name: 'a' }] });
    expect(evaluateJson({ pointer: '', count: 2 as unknown as string }, '{"Name":"a"}\n{"Name":"b"}\n').holds).toBe(true);
    expect(evaluateJson({ pointer: '/1/Name', equals: 'b' }, '{"Name":"a"}\n{"Name":"b"}\n').holds).toBe(true);
  });
  it.each<[string, Parameters<typeof evaluateJson>[0], string, CheckResult]>([
    ['absent, as required', { pointer: '/Error', exists: false }, '{"Status":"Completed"}', { holds: true, detail: 'at "/Error": absent' }],
    ['present, required absent', { pointer: '/Status', exists: false }, '{"Status":"Completed"}', { holds: false, detail: 'at "/Status": present ("Completed")' }],
    [
      'a pattern on a string',
      { pointer: '/Ref', matches: '^[a-z0-9]{25}$' },
      '{"Ref":"abcdefghijklmnopqrstuvwxy"}',
      { holds: true, detail: 'at "/Ref": "abcdefghijklmnopqrstuvwxy"' },
    ],
    ['a pattern on a number', { pointer: '/n', matches: '^4' }, '{"n":42}', { holds: true, detail: 'at "/n": 42' }],
    ['equals compares as JSON', { pointer: '/n', equals: '42' }, '{"n":42}', { holds: false, detail: 'at "/n": 42, not "42"' }],
    ['nothing to count', { pointer: '/n', count: '1' }, '{"n":42}', { holds: false, detail: 'at "/n": 42 is not an array or object to count' }],
    ['not JSON', { pointer: '' }, '{', { holds: false, detail: expect.stringMatching(/^is not JSON/) }],
  ])('%s', (_what, j, text, want) => {
    expect(evaluateJson(j, text)).toEqual(want);
  });
});

describe('registry annotations: present, and absent', () => {
  it.each<[string, unknown, Parameters<typeof annotationProblems>[1], string[]]>([
    ['a value, as required', { 'org.opencontainers.image.title': 'app' }, { annotations: { 'org.opencontainers.image.title': 'app' } }, []],
    ['a missing key, required present', {}, { annotations: { a: 'x' } }, ['annotation a=null, not "x"']],
    ['a missing key, required missing', { b: '1' }, { lacksAnnotations: ['a'] }, []],
    ['one of two missing', { a: '1' }, { lacksAnnotations: ['a', 'b'] }, []],
    ['every key there', { a: '1', b: '2' }, { lacksAnnotations: ['a', 'b'] }, ['has every annotation of a, b (a="1", b="2")']],
    ['no annotations at all', undefined, { lacksAnnotations: ['a'] }, []],
    ['annotations that are not a map', ['a'], { lacksAnnotations: ['0'] }, []],
    ['an inherited name is no annotation', {}, { lacksAnnotations: ['constructor'] }, []],
  ])('%s', (_what, have, c, want) => {
    expect(annotationProblems(have, c)).toEqual(want);
  });
});

describe('validateCheck refuses the new keys bad', () => {
  it.each<[string, Check, RegExp]>([
    ['a reference that is no RE2', { kind: 'requests', count: '1', reference: '(?=x)' }, /not an RE2 regular expression/],
    ['an unbalanced reference', { kind: 'requests', count: '1', reference: 'a)|(b' }, /not an RE2 regular expression/],
    ['a costly reference', { kind: 'requests', count: '1', reference: 'a{600}' }, /requests\.reference .* over the limit of 500/],
    ['a state path that leaves', { kind: 'state', path: '../ctx' }, /must stay inside the cell's Buildx state/],
    ['a file pattern that costs too much', { kind: 'file', path: 'x', matches: '[a-z]{400}[0-9]{200}' }, /file\.matches .* over the limit of 500/],
    ['a json pointer without /', { kind: 'state', path: 'x', json: { pointer: 'Name' } }, /not a JSON Pointer/],
    ['a json pattern that is no RE2', { kind: 'file', path: 'x', json: { pointer: '', matches: '(a' } }, /not an RE2 regular expression/],
    ['a json count that is no comparison', { kind: 'file', path: 'x', json: { pointer: '', count: 'many' } }, /count "many" is not a number/],
  ])('%s', (_what, c, message) => {
    expect(() => validateCheck(c)).toThrow(UsageError);
    expect(() => validateCheck(c)).toThrow(message);
  });
  it('takes lab values in a reference as literals at load time', () => {
    expect(() => validateCheck({ kind: 'requests', count: '1', reference: '${tag}|sha256:.*' })).not.toThrow();
  });
});

describe('spans checks', () => {
  const span = (name: string, attributes: Record<string, string>, service = 'buildx', status: 'unset' | 'ok' | 'error' = 'unset') => ({
    request: 1,
    traceId: 't',
    spanId: name,
    name,
    kind: 'internal',
    service,
    attributes,
    resource: { 'service.name': service },
    status,
    events: [],
  });
  const spans = [
    span('build .', { command: 'docker-buildx buildx build --cache-to type=gha,token=lab-secret .' }),
    span('Solve', {}, 'buildkitd', 'error'),
    span('build .', { builder: 'b1', context: '.' }),
  ];

  it('counts spans by name, service, attribute pattern and status', () => {
    expect(evaluateRecorded({ kind: 'spans', name: '^build', count: '2' }, [], [], spans)).toMatchObject({ holds: true });
    expect(evaluateRecorded({ kind: 'spans', attributes: { command: 'token=' }, count: '>=1' }, [], [], spans)).toMatchObject({
      holds: true,
      detail: expect.stringContaining('command="docker-buildx buildx build --cache-to type=gha,token=lab-secret ."'),
    });
    expect(evaluateRecorded({ kind: 'spans', service: '^buildkitd$', status: 'error', count: '1' }, [], [], spans)?.holds).toBe(true);
    // an attribute the span lacks does not match, even a pattern that matches the empty text
    expect(evaluateRecorded({ kind: 'spans', name: '^build', attributes: { command: '' }, count: '1' }, [], [], spans)).toMatchObject({
      holds: true,
      detail: '1 of 3 span(s) match (want 1): "build ." (buildx) command="docker-buildx buildx build --cache-to type=gha,token=lab-secret ."',
    });
    expect(evaluateRecorded({ kind: 'spans', attributes: { command: 'token=' }, count: '0' }, [], [], [spans[2]!])?.holds).toBe(true);
  });

  it('does not hold without a trace sink, and validates its patterns and count at load', () => {
    expect(evaluateRecorded({ kind: 'spans', count: '0' }, [], [])).toMatchObject({ holds: false, detail: expect.stringContaining('no traces:') });
    expect(() => validateCheck({ kind: 'spans', name: '(?<=x)', count: '1' })).toThrow(/not an RE2/);
    expect(() => validateCheck({ kind: 'spans', attributes: { k: 'a{900}' }, count: '1' })).toThrow(/spans\.attributes\.k .*counted repetitions/);
    expect(() => validateCheck({ kind: 'spans', count: 'many' })).toThrow(/count "many"/);
  });
});
