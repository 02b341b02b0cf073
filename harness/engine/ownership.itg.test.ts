// Ownership against a real engine and real runs (`node bin/buildx-lab.mjs run smoke --matrix quick`):
// two runs at once, one of them in a PID namespace of its own, never sweep each other; a killed run's
// leftovers are swept by the next start once its heartbeat is stale, and not before. The runs use a
// cache of this test's own (hard links to the finished artefacts of the real one), so their start-up
// sweep of temporary directories only ever sees this test's directories.
import { spawnSync } from 'node:child_process';
import { copyFileSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa, type Result, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labConfig, withEngine, type LabConfig } from '../config.ts';
import { silentProgress } from '../progress.ts';
import { HostEngine } from './host.ts';
import { RUN_LABEL } from '../ownership/labels.ts';
import { currentOwner } from '../ownership/owner.ts';
import { describeSweep, sweepLeftovers } from '../ownership/sweep.ts';
import { childEnv as childEnvOf } from '../config.ts';
import { buildContainerLabels, listLabImages } from '../images/images.ts';

const cli = new URL('../../bin/buildx-lab.mjs', import.meta.url).pathname;
const STALE_S = 30;

/** The real cache's finished artefacts, hard-linked (small files copied, so nothing written here reaches it). */
function privateCache(real: string): string {
  const dest = mkdtempSync(path.join(tmpdir(), 'bxl-own-cache-'));
  const copy = (from: string, to: string) => {
    const st = lstatSync(from);
    if (st.isSymbolicLink()) return symlinkSync(readlinkSync(from), to);
    if (st.isDirectory()) {
      mkdirSync(to, { recursive: true });
      // no temporary directories of other processes: those are what the runs' sweeps look at
      for (const n of readdirSync(from)) if (!/\.tmp-|\.dl-|\.deb-/.test(n)) copy(path.join(from, n), path.join(to, n));
      return;
    }
    if (!st.isFile()) return;
    if (st.size < 64 * 1024) return copyFileSync(from, to);
    try {
      linkSync(from, to);
    } catch {
      copyFileSync(from, to);
    }
  };
  for (const top of ['buildx', 'engine', 'tools', 'buildkit']) if (existsSync(path.join(real, top))) copy(path.join(real, top), path.join(dest, top));
  return dest;
}

interface LabRun {
  name: string;
  child: ResultPromise<{ all: true; reject: false; detached: true }>;
  reportDir: string;
  output(): string;
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  runId(): Promise<string>;
  /** the run's whole process group, as a terminal or a CI runner would signal it */
  signal(sig: NodeJS.Signals): void;
}

describe('ownership of lab resources across pid namespaces', () => {
  let config: LabConfig;
  let cache: string;
  const reportRoot = mkdtempSync(path.join(tmpdir(), 'bxl-own-reports-'));
  const runs: LabRun[] = [];
  const runIds: string[] = [];

  const env = (extra: Record<string, string> = {}) => ({ ...process.env, BUILDX_LAB_CACHE: cache, DOCKER_HOST: config.dockerHost, ...extra });

  function startRun(name: string, opts: { unshare?: boolean; env?: Record<string, string> } = {}): LabRun {
    const reportDir = path.join(reportRoot, name);
    const argv = [process.execPath, cli, 'run', 'smoke', '--matrix', 'quick', '--report-dir', reportDir];
    const [file, ...args] = opts.unshare ? ['unshare', '--pid', '--fork', '--mount-proc', ...argv] : argv;
    const child = execa(file!, args, { env: env(opts.env), extendEnv: false, detached: true, reject: false, all: true });
    let out = '';
    const waiters = new Set<() => void>();
    child.all.on('data', (d: Buffer) => {
      out += d.toString();
      for (const w of waiters) w();
    });
    const waitFor = (re: RegExp, timeoutMs = 20 * 60_000) =>
      new Promise<RegExpExecArray>((resolve, reject) => {
        const check = () => {
          const m = re.exec(out);
          if (m) {
            waiters.delete(check);
            clearTimeout(t);
            resolve(m);
          }
        };
        const t = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`${name}: no ${re} within ${timeoutMs / 1000} s; output:\n${out}`));
        }, timeoutMs);
        void child.finally(() =>
          setTimeout(() => {
            if (waiters.has(check)) {
              waiters.delete(check);
              clearTimeout(t);
              reject(new Error(`${name} ended without ${re}; output:\n${out}`));
            }
          }, 100),
        );
        waiters.add(check);
        check();
      });
    const run: LabRun = {
      name,
      child,
      reportDir,
      output: () => out,
      waitFor,
      runId: async () => {
        const id = (await waitFor(/\brun (r[a-z0-9]+): \d+ cells/))[1]!;
        if (!runIds.includes(id)) runIds.push(id);
        return id;
      },
      signal: (sig) => {
        try {
          process.kill(-child.pid!, sig);
        } catch {
          /* already gone */
        }
      },
    };
    runs.push(run);
    return run;
  }

  const labReady = (r: LabRun) => r.runId().then((id) => r.waitFor(new RegExp(`lab ${id}: registry .* ready`)).then(() => id));

  /** ids of the run's containers and networks, as the engine has them */
  async function resourcesOf(runId: string): Promise<string[]> {
    const f = ['--filter', `label=${RUN_LABEL}=${runId}`, '-q'];
    const e = { env: env(), extendEnv: false };
    const c = await execa('docker', ['container', 'ls', '-a', ...f], e);
    const n = await execa('docker', ['network', 'ls', ...f], e);
    return [...c.stdout.split('\n'), ...n.stdout.split('\n')].filter(Boolean).sort();
  }

  const table = (r: Result) => String(r.all ?? '');
  const expectOwnTable = (r: Result, name: string) => {
    expect(r.exitCode, `${name}:\n${table(r)}`).toBe(0);
    expect(table(r)).toMatch(/smoke\s+engine=26\.1\.5\/store=classic\s+control/);
    expect(table(r)).toMatch(/smoke\s+engine=26\.1\.5\/store=containerd\s+control/);
    expect(table(r)).toMatch(/2 cells: 0 reproduced, 0 fixed, 2 control, 0 unexpected, 0 error/);
  };

  beforeAll(async () => {
    const engine = await new HostEngine(labConfig(), silentProgress).ensure();
    config = withEngine(labConfig(), engine.host);
    cache = privateCache(config.cacheDir);
  }, 10 * 60_000);

  afterAll(async () => {
    for (const r of runs) {
      r.signal('SIGCONT');
      r.signal('SIGKILL');
    }
    await Promise.allSettled(runs.map((r) => r.child));
    // Only what this test's runs labelled, by their run ids.
    for (const id of runIds) await sweepLeftovers(config, { runId: id });
    rmSync(cache, { recursive: true, force: true });
    rmSync(reportRoot, { recursive: true, force: true });
  }, 5 * 60_000);

  it(
    'two runs at once, one in its own pid namespace: both finish with their own tables, neither touches the other',
    async () => {
      const t0 = Date.now();
      // A (this pid namespace) is held still once its lab is up, so that B starts while A's containers exist.
      const a = startRun('a');
      const aId = await labReady(a);
      a.signal('SIGSTOP');
      const aHeld = await resourcesOf(aId);
      expect(aHeld.length).toBeGreaterThanOrEqual(2); // network and registry at least

      // B, in a pid namespace of its own: A's pid means nothing there (the old sweep took A for dead).
      const b = startRun('b', { unshare: true });
      const bId = await labReady(b);
      b.signal('SIGSTOP');
      expect(await resourcesOf(aId)).toEqual(aHeld);
      expect(b.output()).toMatch(new RegExp(`sweep: left alone run ${aId}: alive, heartbeat \\d+ s ago \\(another pid namespace\\)`));
      const bHeld = await resourcesOf(bId);

      // From this namespace, while both go: doctor names both as alive and advises no clean; clean removes neither.
      const doctor = await execa(process.execPath, [cli, 'doctor'], { env: env(), extendEnv: false, reject: false, all: true });
      expect(doctor.all).toMatch(new RegExp(`run ${aId}: alive, pid \\d+ on this host is running`));
      expect(doctor.all).toMatch(new RegExp(`run ${bId}: alive, heartbeat \\d+ s ago \\(another pid namespace\\)`));
      expect(doctor.all.split('\n').filter((l) => /\bclean\b/.test(l))).toEqual([]);
      const clean = await execa(process.execPath, [cli, 'clean'], { env: env(), extendEnv: false, reject: false, all: true });
      expect(clean.exitCode, clean.all).toBe(0);
      expect(clean.all).toMatch(new RegExp(`left alone run ${aId}: alive`));
      expect(clean.all).toMatch(new RegExp(`left alone run ${bId}: alive`));
      expect(await resourcesOf(aId)).toEqual(aHeld);
      expect(await resourcesOf(bId)).toEqual(bHeld);

      a.signal('SIGCONT');
      b.signal('SIGCONT');
      const [ra, rb] = await Promise.all([a.child, b.child]);
      expectOwnTable(ra, 'a');
      expectOwnTable(rb, 'b');
      // What each sweep removed: nothing of the other run (each removes its own at its end).
      for (const [r, other] of [
        [a, bId],
        [b, aId],
      ] as const)
        expect(r.output()).not.toMatch(new RegExp(`removed run ${other}`));
      expect(await resourcesOf(aId)).toEqual([]);
      expect(await resourcesOf(bId)).toEqual([]);
      console.log(`two runs at once: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    },
    30 * 60_000,
  );

  it(
    "a killed run's leftovers are swept by the next start once its heartbeat is stale, and not before",
    async () => {
      const t0 = Date.now();
      // A temporary directory a killed provisioning left in the cache: the next run start removes it.
      const dead = Number(spawnSync('sh', ['-c', 'echo $$']).stdout.toString().trim());
      const leftDir = path.join(cache, 'tmp', `image-registry-${dead}`);
      mkdirSync(path.join(leftDir, 'files'), { recursive: true });

      // K runs in a pid namespace of its own, so only its heartbeat can tell the others it is gone.
      const k = startRun('k', { unshare: true });
      const kId = await k.runId();
      await k.waitFor(/DinD .* ready in \d+ ms/);
      const kLeft = await resourcesOf(kId);
      expect(kLeft.length).toBeGreaterThanOrEqual(3); // network, registry, a DinD engine
      k.signal('SIGKILL');
      await k.child;
      const killedAt = Date.now();
      expect(await resourcesOf(kId)).toEqual(kLeft);

      const stale = { BUILDX_LAB_HEARTBEAT_STALE_S: String(STALE_S) };
      const next = await startRun('next', { env: stale }).child;
      expectOwnTable(next, 'next');
      expect(table(next)).toMatch(new RegExp(`sweep: left alone run ${kId}: alive, heartbeat \\d+ s ago \\(another pid namespace\\)`));
      expect(table(next)).toContain(`removed image build directory ${leftDir} (pid ${dead} is gone)`);
      expect(existsSync(leftDir)).toBe(false);
      expect(await resourcesOf(kId)).toEqual(kLeft);

      await new Promise((r) => setTimeout(r, Math.max(0, killedAt + (STALE_S + 5) * 1000 - Date.now())));
      const later = await startRun('later', { env: stale }).child;
      expectOwnTable(later, 'later');
      expect(table(later)).toMatch(new RegExp(`sweep: removed run ${kId}: abandoned, heartbeat stale: last \\d+ s ago, more than ${STALE_S} s \\(another pid namespace\\)`));
      expect(await resourcesOf(kId)).toEqual([]);
      console.log(`killed run swept once stale: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    },
    30 * 60_000,
  );

  it(
    'a build container of a killed image build is swept once its owner is gone',
    async () => {
      const env = childEnvOf(config);
      const image = (await listLabImages(config))[0]?.split('\t')[0];
      expect(image, 'a lab image to create a container from').toBeDefined();
      const dead = spawnSync('true').pid!;
      const owner = { ...currentOwner(), pid: dead, start: '1' };
      const labels = buildContainerLabels('itg', owner);
      const runId = labels.find((l) => l.startsWith(`${RUN_LABEL}=`))!.slice(RUN_LABEL.length + 1);
      const id = (await execa('docker', ['create', ...labels, image!], { env })).stdout.trim();
      try {
        const report = await sweepLeftovers(config);
        expect(describeSweep(report).join('\n')).toContain(`removed run ${runId}: abandoned`);
        const left = await execa('docker', ['container', 'ls', '-a', '-q', '--filter', `id=${id}`], { env });
        expect(left.stdout.trim()).toBe('');
      } finally {
        await execa('docker', ['rm', '-f', id], { env, reject: false });
      }
    },
    5 * 60_000,
  );
});
