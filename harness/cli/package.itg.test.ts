// The lab as a package, used as a new user would: `npm pack` holds what a user needs and no tests; the
// tarball installed into an empty directory (outside the clone) runs `check`, `repro --list` and a real
// `repro` of a case directory in the current directory, writing its reports there.
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labDockerEnv } from '../runner/cli.test-helpers.ts';

const root = new URL('../../', import.meta.url).pathname;
const shippedCase = path.join(root, 'fixtures/cases/2969-ls-json-duplicates');
let work: string;
let user: string;
let tarball: string;

const bin = (...args: string[]) => execa(path.join(user, 'node_modules/.bin/buildx-lab'), args, { cwd: user, reject: false, all: true });

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'bxl-pack-'));
  user = path.join(work, 'user');
  const packed = await execa('npm', ['pack', '--json', '--pack-destination', work], { cwd: root });
  tarball = path.join(work, (JSON.parse(packed.stdout) as { filename: string }[])[0]!.filename);
  cpSync(shippedCase, path.join(user, 'mycase'), { recursive: true });
  writeFileSync(path.join(user, 'package.json'), JSON.stringify({ name: 'a-team', version: '1.0.0', private: true }));
  // The npm cache holds every tarball the lab's own install fetched; only metadata may need the registry.
  const install = await execa('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: user, all: true, reject: false });
  expect(install.exitCode, install.all).toBe(0);
}, 20 * 60_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed lab', () => {
  it('holds the CLI, harness, scenarios and fixtures, and no tests, helpers, bench or mutation config', async () => {
    const r = await execa('npm', ['pack', '--dry-run', '--json'], { cwd: root });
    const files = (JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    expect(files).toEqual(
      expect.arrayContaining([
        'bin/buildx-lab.mjs',
        'harness/cli/main.ts',
        'harness/runner/cells.vitest.ts',
        'vitest.config.ts',
        'harness/buildx/release-pins.json',
        'harness/images/recipes/debootstrap-image.sh',
      ]),
    );
    expect(files.some((f) => f.startsWith('scenarios/') && f.endsWith('.scenario.ts'))).toBe(true);
    expect(files.some((f) => f.startsWith('fixtures/cases/') && f.endsWith('case.yaml'))).toBe(true);
    expect(files.filter((f) => /\.test\.ts$|test-helpers|stryker|mutation|^\.ci\/|^\.github\/|^harness\/bench\//.test(f))).toEqual([]);
  });

  it('checks and lists a case in the current directory, from outside the clone', async () => {
    const check = await bin('check', 'mycase');
    expect(check.exitCode, check.all).toBe(0);
    expect(check.stdout).toMatch(/^ok {2}.*\/mycase: .*untrusted/);
    const list = await bin('repro', 'mycase', '--list');
    expect(list.exitCode, list.all).toBe(0);
    expect(list.stdout).toMatch(/^case-mycase > buildx=v0\.21\.1\/.*\(expected fixed\)$/m);
  });

  it('reproduces the case on a real engine, writing its reports in the current directory', async () => {
    const r = await execa(path.join(user, 'node_modules/.bin/buildx-lab'), ['repro', 'mycase', '--trust', '--buildx', '0.21.1'], {
      cwd: user,
      reject: false,
      all: true,
      env: await labDockerEnv(),
    });
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toMatch(/case-mycase +driver=docker\/engine=26\.1\.5\/registry=plain\/store=containerd +absent/);
    const reports = readdirSync(path.join(user, 'reports')).filter((d) => d !== 'latest');
    expect(reports).toHaveLength(1);
    expect(existsSync(path.join(user, 'reports', reports[0]!, 'report.html'))).toBe(true);
  });
  describe('on the Node a user has', () => {
    /** Node `major` from the npm registry's `node` package (the way the clone's Makefile gets Node 24), in a prefix of the test's own. */
    const nodeOf = async (major: number) => {
      const prefix = path.join(work, `node${major}`);
      const r = await execa('npm', ['install', '--prefix', prefix, '--no-save', '--no-audit', '--no-fund', '--no-package-lock', '--prefer-offline', `node@${major}`], {
        all: true,
        reject: false,
      });
      expect(r.exitCode, r.all).toBe(0);
      return path.join(prefix, 'node_modules/.bin/node');
    };
    const binWith = (node: string, ...args: string[]) =>
      execa(node, [path.join(user, 'node_modules/buildx-lab/bin/buildx-lab.mjs'), ...args], {
        cwd: user,
        reject: false,
        all: true,
        env: { ...process.env, PATH: `${path.dirname(node)}:${process.env.PATH}` },
      });

    it(
      'runs on Node 22: check and repro --list of the case in the current directory',
      async () => {
        const node = await nodeOf(22);
        expect((await execa(node, ['--version'])).stdout).toMatch(/^v22\./);
        const check = await binWith(node, 'check', 'mycase');
        expect(check.exitCode, check.all).toBe(0);
        const list = await binWith(node, 'repro', 'mycase', '--list');
        expect(list.exitCode, list.all).toBe(0);
        expect(list.stdout).toMatch(/^case-mycase > buildx=v0\.21\.1\//m);
      },
      10 * 60_000,
    );

    it(
      'says what to do on a Node older than 22, outside a clone (no project-local Node to fall back on)',
      async () => {
        const node = await nodeOf(20);
        const r = await binWith(node, 'check', 'mycase');
        expect(r.exitCode).toBe(2);
        expect(r.stderr).toMatch(/^buildx-lab: Node v20\.\S+ is too old \(>= 22 needed\)\. Fix: install Node >= 22 \(Node 24 LTS recommended\) and run it again\.$/m);
      },
      10 * 60_000,
    );
  });
});
