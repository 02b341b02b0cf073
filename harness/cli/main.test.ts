// The command line without an engine: what help says of --trust, the refusals that need no engine, and
// the commands that look at a case without running it (check, repro --list).
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { TRUST_HELP } from '../runner/options.ts';
import { main } from './main.ts';

/** Runs the CLI in this process; returns its exit code and what it printed. */
async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
    out.push(String(s));
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
    err.push(String(s));
    return true;
  });
  try {
    const code = await main(argv);
    return { code, out: out.join(''), err: err.join('') };
  } finally {
    vi.restoreAllMocks();
    process.exitCode = 0;
  }
}

describe('--trust', () => {
  afterEach(() => vi.restoreAllMocks());

  it.each(['repro', 'bisect', 'qualify'])('is in `help %s`, saying in one line what it gives up', async (command) => {
    const { code, out } = await cli('help', command);
    expect(code).toBe(0);
    const line = out.split('\n').find((l) => l.trimStart().startsWith('--trust'));
    expect(line).toBeDefined();
    // commander wraps long descriptions: compare the words.
    const words = out.slice(out.indexOf('--trust')).replace(/\s+/g, ' ');
    expect(words).toContain(TRUST_HELP.replace(/\s+/g, ' '));
    expect(TRUST_HELP).toMatch(/root on this host/);
  });

  it('is in `help run`, for the cases of a replayed spec', async () => {
    const { out } = await cli('help', 'run');
    expect(out.slice(out.indexOf('--trust')).replace(/\s+/g, ' ')).toMatch(/^--trust with --spec: run the case directories of that spec as trusted .* root on this host/);
  });

  it('on run without --spec is refused as bad input (exit 2): scenarios need no trust', async () => {
    const { code, err } = await cli('run', '--trust', 'smoke');
    expect(code).toBe(2);
    expect(err).toMatch(/--trust applies to the case directories of a replayed run \(--spec FILE\).*repro CASE_DIR --trust/);
  });
});

describe('check', () => {
  const shipped = new URL('../../fixtures/cases/2969-ls-json-duplicates', import.meta.url).pathname;
  let bad: string;
  beforeAll(() => {
    bad = mkdtempSync(path.join(tmpdir(), 'bxl-check-'));
    writeFileSync(path.join(bad, 'case.yaml'), 'title: t\nsteps:\n  - docker: [run, --pid=host, alpine]\n');
  });
  afterAll(() => rmSync(bad, { recursive: true, force: true }));

  it('validates a shipped case without running it, saying what it runs on and that it is trusted', async () => {
    const { code, out } = await cli('check', shipped);
    expect(code).toBe(0);
    expect(out).toMatch(/^ok {2}.*2969-ls-json-duplicates: \d+ step\(s\), \d+ check\(s\); buildx .*; trusted\n$/);
  });

  it('checks every directory and exits 2 naming the line and field of each invalid one', async () => {
    const { code, out, err } = await cli('check', shipped, bad, '/nonexistent-case-dir');
    expect(code).toBe(2);
    expect(out).toContain('2969-ls-json-duplicates');
    expect(err).toMatch(/2 of 3 case\(s\) invalid/);
    expect(err).toMatch(/case\.yaml:3: steps\[0\]\.docker/);
    expect(err).toMatch(/\/nonexistent-case-dir: case directory/);
  });
});

describe('repro --list', () => {
  it('plans a case into its cells and requirements, running nothing', async () => {
    const shipped = new URL('../../fixtures/cases/2969-ls-json-duplicates', import.meta.url).pathname;
    const { code, out } = await cli('repro', shipped, '--list');
    expect(code).toBe(0);
    expect(out).toMatch(/^case-2969-ls-json-duplicates > buildx=v\S+\/.* \(expected (reproduced|fixed)\)$/m);
    expect(out).toMatch(/\d+ cells; \d+ requirements: .*buildx:/);
  });
});

describe('the error line', () => {
  // an error's message quotes what the user or a case gave: printed as the lab prints everything
  it('shows control and bidi characters of a bad-input error instead of passing them on, and exits 2', async () => {
    const { code, err } = await cli('run', '--list', 'zz\u202Eexe.txt\u001b[2J\u001bc\u009b2J');
    expect(code).toBe(2);
    expect(err).toMatch(/^buildx-lab: usage error: /);
    expect(err).toContain('zz\\u202eexe.txt\\u001bc\\u009b2J');
    expect(err).not.toMatch(/[\u202E\u001b\u009b]/);
  });
});

describe('check of a case whose directory name would act on the terminal', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'bxl-\u202Egnp.exe\u001b[2J\u001b]52;c;cHduZWQ=\u0007-'));
    const shipped = new URL('../../fixtures/cases/2969-ls-json-duplicates/case.yaml', import.meta.url).pathname;
    writeFileSync(path.join(dir, 'case.yaml'), readFileSync(shipped, 'utf8'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints it with its bidi and control characters shown', async () => {
    const { code, out } = await cli('check', dir);
    expect(code).toBe(0);
    expect(out).toContain('bxl-\\u202egnp.exe');
    expect(out).not.toMatch(/[\u202E\u001b\u0007]/);
  });
});

describe('a checkout whose path has a space', () => {
  it('still runs the CLI (a percent-encoded path once made it exit 0 having run nothing)', () => {
    const root = new URL('../../', import.meta.url);
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'bxl-space-')), 'a b');
    try {
      for (const part of ['bin', 'harness', 'package.json']) cpSync(new URL(part, root), path.join(dir, part), { recursive: true });
      symlinkSync(new URL('node_modules', root), path.join(dir, 'node_modules'));
      const r = spawnSync(process.execPath, [path.join(dir, 'bin', 'buildx-lab.mjs'), 'check', '/nonexistent-case-dir'], { encoding: 'utf8', timeout: 60_000 });
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/\/nonexistent-case-dir: case directory/);
    } finally {
      rmSync(path.dirname(dir), { recursive: true, force: true });
    }
  }, 60_000);
});

describe('--version', () => {
  it("prints the package's version and exits 0", async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    const { code, out } = await cli('--version');
    expect(code).toBe(0);
    expect(out.trim()).toBe(pkg.version);
  });
});
