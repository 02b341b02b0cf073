import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CompileFailures, classifyGoFailure, outputTail, recordFileName, type GoFailureKind } from './compile-failures.ts';
import { SAMPLE_KEY as KEY, SAMPLE_RECORD as RECORD } from './compile-failures.test-helpers.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../../fixtures/go-build-failures');
const captured = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.json'))
  .map((f) => ({
    name: f.replace(/\.json$/, ''),
    ...(JSON.parse(readFileSync(path.join(FIXTURES, f), 'utf8')) as { kind: GoFailureKind; exitCode: number; stdout: string; stderr: string }),
  }));

describe('how a go build failed, from its exit status and output', () => {
  it.each(captured)('$name is $kind', ({ kind, exitCode, stdout, stderr }) => {
    expect(classifyGoFailure({ exitCode, stdout, stderr })).toBe(kind);
  });
  it('covers every kind with a captured output', () => {
    expect(new Set(captured.map((c) => c.kind))).toEqual(new Set(['compile', 'cancelled', 'timeout', 'signal', 'resources', 'lock', 'network', 'other']));
  });
  it('is cancelled when the caller aborted, whatever go printed', () => {
    const compile = captured.find((c) => c.name === 'compile-type-errors')!;
    expect(classifyGoFailure(compile, true)).toBe('cancelled');
  });
  it('takes only exit status 1 as a compile failure', () => {
    const compile = captured.find((c) => c.name === 'compile-type-errors')!;
    expect(classifyGoFailure({ ...compile, exitCode: 2 })).toBe('other');
    expect(classifyGoFailure({ ...compile, exitCode: 137 })).toBe('signal');
  });
  it('needs every line to be part of a compile error', () => {
    const compile = captured.find((c) => c.name === 'compile-type-errors')!;
    expect(classifyGoFailure({ ...compile, stderr: `${compile.stderr}something else went wrong\n` })).toBe('other');
    expect(classifyGoFailure({ ...compile, stderr: `# example.com/a\n\thave (int)\n` })).toBe('other');
  });
});

describe('the key', () => {
  it('names a file per key: any field that differs, another toolchain above all, is another file', () => {
    const name = recordFileName(KEY);
    expect(name).toMatch(/^docker_docker@v24\.0\.9\+incompatible-[0-9a-f]{16}\.json$/);
    expect(recordFileName({ ...KEY })).toBe(name);
    for (const [field, value] of Object.entries({
      module: 'github.com/docker/cli',
      version: 'v24.0.8+incompatible',
      flags: 'b'.repeat(64),
      goVersion: 'go1.27.0',
      goToolchain: 'auto',
      goos: 'darwin',
      goarch: 'arm64',
    })) {
      expect(recordFileName({ ...KEY, [field]: value }), field).not.toBe(name);
    }
  });
  it('keeps a hostile module path inside the directory', () => {
    expect(recordFileName({ ...KEY, module: '../../etc/x\n/y' })).toMatch(/^[A-Za-z0-9.+@_-]+\.json$/);
    expect(recordFileName({ ...KEY, module: '../../etc/x\n/y' })).not.toContain('/');
  });
});

describe('records on disk', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const store = () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bxl-cf-'));
    dirs.push(dir);
    return new CompileFailures(dir);
  };

  it('reads back what it wrote, for that key only', () => {
    const s = store();
    expect(s.lookup(KEY)).toEqual({ state: 'none' });
    const file = s.write(RECORD);
    expect(file).toBe(s.fileFor(KEY));
    expect(s.lookup(KEY)).toEqual({ state: 'recorded', record: RECORD, file });
    expect(s.lookup({ ...KEY, goVersion: 'go1.27.0' })).toEqual({ state: 'none' });
    s.remove(KEY);
    expect(s.lookup(KEY)).toEqual({ state: 'none' });
  });

  it.each([
    ['half a file', (t: string) => t.slice(0, 40), /not JSON/],
    ['an unknown schema', (t: string) => t.replace('"schema": 1', '"schema": 2'), /schema/],
    ['a field it does not know', (t: string) => t.replace('"schema": 1', '"schema": 1, "skip": true'), /not a record/],
    ['a date that is not one', (t: string) => t.replace('2026-12-07T05:30:00.000Z', 'yesterday'), /failedAt/],
    ['a terminal escape in its output', (t: string) => t.replace('# github.com', '\\u001b]0;owned\\u0007# github.com'), /output: control characters/],
    ['another key', (t: string) => t.replace('go1.26.8', 'go1.25.0'), /another build/],
  ])('ignores and removes a record with %s, so the build runs', (_what, corrupt, why) => {
    const s = store();
    const file = s.write(RECORD);
    writeFileSync(file, corrupt(readFileSync(file, 'utf8')));
    const found = s.lookup(KEY);
    expect(found.state).toBe('ignored');
    expect(found.state === 'ignored' && found.why).toMatch(why);
    expect(s.lookup(KEY)).toEqual({ state: 'none' });
  });

  it.each([
    ['a FIFO', (file: string) => execFileSync('mkfifo', [file])],
    ['a link to /dev/zero', (file: string) => symlinkSync('/dev/zero', file)],
    ['a file too large to be one', (file: string) => writeFileSync(file, ' '.repeat(100_000))],
  ])("ignores and removes %s in a record's place without reading it", (_what, plant) => {
    const s = store();
    mkdirSync(s.dir, { recursive: true });
    plant(s.fileFor(KEY));
    const found = s.lookup(KEY);
    expect(found.state === 'ignored' && found.why).toMatch(/not a regular file/);
    expect(s.files()).toEqual([]);
  });

  it('refuses to write what it would not read back', () => {
    expect(() => store().write({ ...RECORD, output: 'a\u001b[2Jb' })).toThrow(/control characters/);
  });

  it('clears every record, half-written ones too', () => {
    const s = store();
    const a = s.write(RECORD);
    const b = s.write({ ...RECORD, key: { ...KEY, version: 'v23.0.6+incompatible' } });
    writeFileSync(`${a}.tmp-4242`, '{');
    expect(s.clear().sort()).toEqual([a, `${a}.tmp-4242`, b].sort());
    expect(readdirSync(s.dir)).toEqual([]);
    expect(store().clear()).toEqual([]);
  });
});

describe('what a record keeps of the output', () => {
  it('keeps the last lines, secrets masked and control characters shown as escapes', () => {
    const lines = Array.from({ length: 30 }, (_, i) => `x.go:${i + 1}:1: error ${i + 1}`);
    const tail = outputTail([...lines, 'GITHUB_TOKEN=ghp_0123456789abcdefghijklmnopqrstuvwxyzAB \u001b[31mred'].join('\n'));
    expect(tail.split('\n')).toHaveLength(20);
    expect(tail).not.toContain('error 11\n');
    expect(tail).not.toContain('ghp_0123456789');
    expect(tail).toContain('\\u001b[31mred');
  });
});
