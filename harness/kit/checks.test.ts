import { describe, expect, it } from 'vitest';
import type { CommandRecord, JournalEntry } from '../model.ts';
import { compilePattern, countHolds, evaluateRecorded, firstMatch, type Check, type RecordedStep } from './checks.ts';

const rec = (stdout: string, stderr = '', exitCode = 0): CommandRecord => ({ argv: ['docker', 'buildx'], exitCode, stdout, stderr, durationMs: 1 });
const steps: RecordedStep[] = [
  { id: 'build', record: rec('', '#5 pushing registry:5000/a:v1 with docker\n', 0) },
  { id: 'inspect', record: rec('', 'Error: No such image: app', 1) },
];
const put = (reference: string, status: number, userAgent = 'docker/26.1.5'): JournalEntry => ({ seq: 1, atMs: 1, method: 'PUT', path: `/v2/a/manifests/${reference}`, kind: 'manifests', repository: 'a', reference, status, userAgent, requestBytes: 1, responseBytes: 1, durationMs: 1 });
const journal = [put('v1', 201, 'buildkit/v0.17'), put('v1', 201), put('sha256:x', 201), put('v1', 409)];
const check = (c: Check) => evaluateRecorded(c, steps, journal);

describe('recorded checks', () => {
  it('matches output, per step or over all steps, and its negation', () => {
    expect(check({ kind: 'output', pattern: 'pushing \\S+ with docker' })).toEqual({ holds: true, detail: 'output matched "pushing registry:5000/a:v1 with docker"' });
    expect(check({ kind: 'output', pattern: 'pushing', step: 'inspect' })?.holds).toBe(false);
    expect(check({ kind: 'output', pattern: 'No such image', negate: true })).toMatchObject({ holds: false, detail: expect.stringMatching(/must not appear/) });
  });
  it('finds a Go panic or fatal error without a regex', () => {
    const panicking = [{ id: 'x', record: rec('', 'panic: runtime error: invalid memory address or nil pointer dereference\n\ngoroutine 1 [running]:\nmain.main()') }];
    expect(evaluateRecorded({ kind: 'panic' }, panicking, [])?.holds).toBe(true);
    expect(evaluateRecorded({ kind: 'panic' }, [{ id: 'x', record: rec('', 'fatal error: concurrent map writes') }], [])?.holds).toBe(true);
    expect(check({ kind: 'panic' })?.holds).toBe(false);
    expect(evaluateRecorded({ kind: 'panic' }, [{ id: 'x', record: rec('the word panic: in a log line is not at line start? ') }], [])?.holds).toBe(false);
  });
  it('checks exit codes: the first failing step, a named step, or an exact code', () => {
    expect(check({ kind: 'exit', code: 'nonzero' })).toEqual({ holds: true, detail: 'step inspect exit 1' });
    expect(check({ kind: 'exit', code: 'zero', step: 'build' })?.holds).toBe(true);
    expect(check({ kind: 'exit', code: 1, step: 'inspect' })?.holds).toBe(true);
    expect(check({ kind: 'exit', code: 'zero', step: 'nope' })).toEqual({ holds: false, detail: 'no step nope ran' });
  });
  it('counts the requests the registry saw', () => {
    expect(check({ kind: 'requests', method: 'put', on: 'manifests', reference: 'v1', count: '>1' })).toEqual({ holds: true, detail: '3 PUT manifests to v1 (want >1)' });
    expect(check({ kind: 'requests', method: 'PUT', reference: 'v1', userAgent: '^buildkit/', count: '1' })?.holds).toBe(true);
    expect(check({ kind: 'requests', method: 'PUT', status: '4xx', count: '1' })?.holds).toBe(true);
  });
  it('leaves state checks to the kit', () => {
    expect(check({ kind: 'file', path: 'out' })).toBeUndefined();
  });
});

describe('patterns run on RE2', () => {
  it('matches in linear time: the regex that hung a run with JavaScript RegExp returns at once', () => {
    const t0 = performance.now();
    expect(firstMatch('(\\s*\\S+\\s*)+No such image', `${'x '.repeat(50_000)}!`)).toBeUndefined();
    expect(performance.now() - t0).toBeLessThan(2000);
  });
  it('refuses what RE2 cannot do, saying so', () => {
    expect(() => compilePattern('(a')).toThrow(/not an RE2 regular expression/);
    expect(() => compilePattern('(\\w)\\1')).toThrow(/no lookaround or backreferences/);
  });
  it.each([['1', 1, true], ['1', 2, false], ['>1', 2, true], ['>=2', 2, true], ['<3', 3, false], ['<=0', 0, true], ['= 4', 4, true]])('count %s holds for %i: %s', (spec, n, want) => {
    expect(countHolds(spec, n)).toBe(want);
  });
  it('refuses a count it cannot read', () => {
    expect(() => countHolds('lots', 1)).toThrow(/not a number or a comparison/);
  });
});
