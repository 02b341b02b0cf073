// Real Go builds of a tiny module served from a file:// module proxy: a compile failure is recorded, the
// next request fails at once with the recorded reason (no download, no compile), and another toolchain,
// other flags or BUILDX_LAB_REBUILD_FAILED=1 build again. Needs Go; no network, no engine.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { labConfig } from '../config.ts';
import { RequirementError } from '../errors.ts';
import { silentProgress } from '../progress.ts';
import { CLI } from '../runner/cli.test-helpers.ts';
import { CompileFailures } from './compile-failures.ts';
import { buildFlagsHash, goModuleBuild, type GoBuildRequest } from './gobuild.ts';

const MODULE = 'example.com/gofail/fixture';
const hasGo = await execa('go', ['version'], { reject: false }).then(
  (r) => r.exitCode === 0,
  () => false,
);

/**
 * A module zip as the proxy protocol wants it (entries under module@version/), stored uncompressed.
 * Written by hand: no direct dependency of the lab writes zips, and a stored zip is a few headers.
 */
function storedZip(entries: Record<string, string>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, text] of Object.entries(entries)) {
    const data = Buffer.from(text);
    const fileName = Buffer.from(name);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(fileName.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(fileName.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, fileName, data);
    centrals.push(central, fileName);
    offset += 30 + fileName.length + data.length;
  }
  const dir = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  const n = Object.keys(entries).length;
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(n, 8);
  end.writeUInt16LE(n, 10);
  end.writeUInt32LE(dir.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, dir, end]);
}

/** v1.0.0 does not compile (an undefined name); v1.0.1 does. */
function writeProxy(root: string): void {
  const at = path.join(root, ...MODULE.split('/'), '@v');
  mkdirSync(at, { recursive: true });
  const gomod = `module ${MODULE}\n\ngo 1.21\n`;
  const versions: Record<string, string> = {
    'v1.0.0': 'package main\n\nfunc main() { undefinedName() }\n',
    'v1.0.1': 'package main\n\nfunc main() {}\n',
  };
  for (const [v, main] of Object.entries(versions)) {
    writeFileSync(path.join(at, `${v}.info`), JSON.stringify({ Version: v, Time: '2026-12-01T00:00:00Z' }));
    writeFileSync(path.join(at, `${v}.mod`), gomod);
    writeFileSync(path.join(at, `${v}.zip`), storedZip({ [`${MODULE}@${v}/go.mod`]: gomod, [`${MODULE}@${v}/main.go`]: main }));
  }
  writeFileSync(path.join(at, 'list'), `${Object.keys(versions).join('\n')}\n`);
}

describe.skipIf(!hasGo)('compile failures of real Go builds', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'bxl-gofail-'));
  const proxy = path.join(root, 'proxy');
  writeProxy(proxy);
  const settings = (extra: Record<string, string> = {}) =>
    labConfig({
      HOME: process.env.HOME,
      PATH: process.env.PATH,
      BUILDX_LAB_CACHE: path.join(root, 'cache'),
      BUILDX_LAB_GO_NOSUMDB: '1',
      GOPROXY: `file://${proxy}`,
      GOMODCACHE: path.join(root, 'mod'),
      GOTOOLCHAIN: 'local',
      ...extra,
    });
  const config = settings();
  let n = 0;
  const request = (version: string, tags?: string[]): GoBuildRequest => {
    const work = path.join(root, `work-${++n}`);
    return { module: MODULE, version, targets: [{ pkg: '.', out: path.join(work, 'out', 'fixture') }], ldflagsX: {}, workDir: work, ...(tags ? { tags } : {}) };
  };
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => expect.fail('the build succeeded'),
      (e: unknown) => {
        expect(e).toBeInstanceOf(RequirementError);
        return (e as Error).message;
      },
    );
  const records = () => new CompileFailures(config.cacheDir);

  afterAll(async () => {
    await execa('go', ['clean', '-modcache'], { env: { ...process.env, GOMODCACHE: path.join(root, 'mod') }, reject: false });
    rmSync(root, { recursive: true, force: true });
  });

  it('records a compile error, then fails at once with it without downloading or compiling', async () => {
    const t0 = performance.now();
    const first = await failure(goModuleBuild(config, request('v1.0.0'), silentProgress));
    const freshMs = performance.now() - t0;
    expect(first).toMatch(
      /^example\.com\/gofail\/fixture@v1\.0\.0 cannot be built here: \. does not compile with go\S+ \(\.\/main\.go:3:15: undefined: undefinedName\):\n# example\.com\/gofail\/fixture\n/,
    );
    expect(first).not.toContain('cached');
    const [file] = readdirSync(records().dir);
    expect(file).toMatch(/^example\.com_gofail_fixture@v1\.0\.0-[0-9a-f]{16}\.json$/);

    const again = request('v1.0.0');
    const t1 = performance.now();
    const second = await failure(goModuleBuild(config, again, silentProgress));
    const cachedMs = performance.now() - t1;
    const [head, ...rest] = first.split('\n');
    const note = `(cached: compile failed with ${/with (go\S+)/.exec(first)![1]} at `;
    expect(second.split('\n')[0]).toContain(`${head!.replace(/:$/, '')} ${note}`);
    expect(second).toMatch(
      new RegExp(`at \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z; delete ${path.join(records().dir, file!).replace(/[.+]/g, '\\$&')} or set BUILDX_LAB_REBUILD_FAILED=1 to try again\\):$`, 'm'),
    );
    expect(second.split('\n').slice(1)).toEqual(rest);
    expect(existsSync(again.workDir)).toBe(false); // nothing was downloaded or compiled
    process.stderr.write(`[gofail] fresh compile failure ${Math.round(freshMs)} ms, recorded ${Math.round(cachedMs)} ms\n`);
  });

  it('builds again for other flags, and when asked to', async () => {
    expect(await failure(goModuleBuild(config, request('v1.0.0', ['osusergo']), silentProgress))).not.toContain('cached');
    const before = records().lookup({ ...(await keyOf(request('v1.0.0'))) });
    expect(before.state).toBe('recorded');
    const retried = await failure(goModuleBuild(settings({ BUILDX_LAB_REBUILD_FAILED: '1' }), request('v1.0.0'), silentProgress));
    expect(retried).not.toContain('cached');
    const after = records().lookup(await keyOf(request('v1.0.0')));
    expect(after.state === 'recorded' && before.state === 'recorded' && after.record.failedAt > before.record.failedAt).toBe(true);
  });

  it('builds again with another toolchain, and drops the record once the build succeeds', async () => {
    // v1.0.1 compiles: a record planted for it under another Go is not this build's, one under this Go is removed by success
    const req = request('v1.0.1');
    const key = await keyOf(req);
    const planted = { schema: 1 as const, failedAt: '2026-12-01T00:00:00.000Z', target: '.', output: '# x\nx.go:1:1: no', replacements: [] };
    records().write({ ...planted, key: { ...key, goVersion: 'go1.0.0' } });
    const res = await goModuleBuild(config, req, silentProgress);
    expect(res.goVersion).toBe(key.goVersion);
    records().write({ ...planted, key });
    await goModuleBuild(settings({ BUILDX_LAB_REBUILD_FAILED: '1' }), request('v1.0.1'), silentProgress);
    expect(records().lookup(key)).toEqual({ state: 'none' });
  });

  it("are forgotten by 'buildx-lab clean --failed-builds', which needs no engine", async () => {
    await failure(goModuleBuild(config, request('v1.0.0'), silentProgress));
    const before = records().files();
    expect(before.length).toBeGreaterThan(0);
    const env = { ...process.env, BUILDX_LAB_CACHE: config.cacheDir, DOCKER_HOST: 'unix:///nonexistent/docker.sock' };
    const both = await execa('node', [CLI, 'clean', '--failed-builds', '--all'], { env, reject: false });
    expect(both.exitCode).toBe(2);
    expect(records().files()).toEqual(before);
    const r = await execa('node', [CLI, 'clean', '--failed-builds'], { env, reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(`removed ${before.length} compile-failure record`);
    expect(records().files()).toEqual([]);
    expect(await failure(goModuleBuild(config, request('v1.0.0'), silentProgress))).not.toContain('cached');
  });

  async function keyOf(req: GoBuildRequest) {
    const r = await execa('go', ['env', '-json', 'GOVERSION', 'GOTOOLCHAIN', 'GOOS', 'GOARCH'], { env: { ...process.env, GOTOOLCHAIN: 'local' } });
    const v = JSON.parse(r.stdout) as Record<string, string>;
    return { module: req.module, version: req.version, flags: buildFlagsHash(req), goVersion: v.GOVERSION!, goToolchain: v.GOTOOLCHAIN!, goos: v.GOOS!, goarch: v.GOARCH! };
  }
});
