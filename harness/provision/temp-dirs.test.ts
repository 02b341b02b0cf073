import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { labConfig } from '../config.ts';
import { pidsInAnyNamespace } from '../ownership/owner.ts';
import { OLD_UNTOUCHED_MS, findTempDirs, judgeTempDir, matchTempDir, mountsBelow, sweepTempDirs, type TempRoots } from './temp-dirs.ts';

/** A pid that surely ran and is gone now. */
function deadPid(): number {
  const r = spawnSync('sh', ['-c', 'echo $$']);
  return Number(r.stdout.toString().trim());
}

describe('matchTempDir', () => {
  it.each([
    ['cacheDir', 'buildx/linux-amd64/.tmp-v0.21.1-4242-1795775487326', 'Buildx install', 4242],
    ['cacheDir', 'engine/parts/dockerd-24.0.9.tmp-31383', 'engine part build', 31383],
    ['cacheDir', 'engine/26.1.5/bin.tmp-12', 'engine assembly', 12],
    ['cacheDir', 'buildkit/v0.17.1.tmp-31383', 'BuildKit build', 31383],
    ['cacheDir', 'tmp/image-dind-debian-sid-77', 'image build', 77],
    ['cacheDir', 'tmp/layer-registry-78', 'image build', 78],
    ['cacheDir', 'tmp/bundle-export-79', 'bundle', 79],
    ['cacheDir', 'tmp/bundle-import-80', 'bundle', 80],
    ['cacheDir', 'tools/debootstrap.dl-81', 'apt download', 81],
    ['cacheDir', 'run/registry-4243-aB3xYz', 'registry socket', 4243],
    ['cacheDir', 'apt/dl-82-1795775487326', 'apt download (older lab)', 82],
    ['cacheDir', 'tools/actionlint-1.7.7.tmp-83-1795775487326', 'tool build', 83],
    ['cacheDir', 'image-files-AbC123', 'image files (older lab)', undefined],
    ['engineHome', 'bin.tmp-84', 'engine install', 84],
    ['varTmp', 'buildx-lab-rootfs.Xy12Ab', 'debootstrap tree (older lab)', undefined],
    ['tmp', 'buildx-lab-git-4244-aB3xYz', 'Git server repositories', 4244],
    ['cacheDir', 'tools/versitygw-v1.8.0.tmp-85', 'Go tool build', 85],
    ['tmp', 'buildx-lab-s3-4245-aB3xYz', 'S3 server data', 4245],
  ] as const)('%s %s', (root, rel, kind, pid) => {
    expect(matchTempDir(root, rel)).toEqual(pid === undefined ? { kind } : { kind, pid });
  });
  it.each([
    ['cacheDir', 'buildx/linux-amd64/v0.21.1'],
    ['cacheDir', 'engine/parts/dockerd-26.1.5'],
    ['cacheDir', 'engine/26.1.5/bin'],
    ['cacheDir', 'tools/debootstrap'],
    ['cacheDir', 'locks/buildx-v0.21.1-upstream.lock'],
    ['cacheDir', 'tmp/image-files'],
    ['engineHome', 'bin'],
    ['varTmp', 'systemd-private-1234'],
    ['varTmp', 'bin.tmp-84'],
    ['tmp', 'buildx-lab-git-aB3xYz'],
    ['cacheDir', 'tools/versitygw-v1.8.0'],
    ['tmp', 'buildx-lab-s3-aB3xYz'],
  ] as const)('leaves %s %s alone', (root, rel) => {
    expect(matchTempDir(root, rel)).toBeUndefined();
  });
});

describe('judgeTempDir', () => {
  const live = new Set([1, 2, 500]);
  it.each([
    [{ kind: 'x', pid: 500 }, live, 0, false, /pid 500 is running/],
    [{ kind: 'x', pid: 501 }, live, 0, true, /pid 501 is gone/],
    // from inside a pid namespace of its own, the lab cannot see the creator: never removed
    [{ kind: 'x', pid: 501 }, undefined, 1e12, false, /pid namespace of its own/],
    [{ kind: 'x' }, live, OLD_UNTOUCHED_MS + 1, true, /older lab version, untouched/],
    [{ kind: 'x' }, undefined, OLD_UNTOUCHED_MS + 1, true, /older lab version/],
    [{ kind: 'x' }, live, 60_000, false, /touched recently/],
  ] as const)('%o with %o, untouched %d ms', (m, pids, untouched, remove, reason) => {
    const v = judgeTempDir(m, pids, untouched);
    expect(v.remove).toBe(remove);
    expect(v.reason).toMatch(reason);
  });
});

describe('mountsBelow', () => {
  const info = [
    '22 1 0:21 / /proc rw,nosuid - proc proc rw',
    '90 80 0:50 / /c/tmp/image-x-7/rootfs/proc rw - proc proc rw',
    '91 90 0:51 / /c/tmp/image-x-7/rootfs/sys rw - sysfs sysfs rw',
    '92 80 0:52 / /c/tmp/image-x-70/rootfs/proc rw - proc proc rw',
    '93 80 0:53 / /c/tmp/with\\040space-7/proc rw - proc proc rw',
  ].join('\n');
  it('lists what is mounted at or below a directory, deepest first, and nothing of a sibling with the same prefix', () => {
    expect(mountsBelow(info, '/c/tmp/image-x-7')).toEqual(['/c/tmp/image-x-7/rootfs/proc', '/c/tmp/image-x-7/rootfs/sys']);
    expect(mountsBelow(info, '/c/tmp/with space-7')).toEqual(['/c/tmp/with space-7/proc']);
  });
});

describe('sweepTempDirs, on real directories', () => {
  let base: string;
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  function layout(): { roots: TempRoots; make: (root: keyof TempRoots, rel: string) => string } {
    base = mkdtempSync(path.join(tmpdir(), 'lab-temp-dirs-'));
    const roots: TempRoots = { cacheDir: path.join(base, 'cache'), engineHome: path.join(base, 'engine'), varTmp: path.join(base, 'var-tmp'), tmp: path.join(base, 'tmp') };
    const make = (root: keyof TempRoots, rel: string) => {
      const d = path.join(roots[root], rel);
      mkdirSync(path.join(d, 'work', 'deep'), { recursive: true });
      writeFileSync(path.join(d, 'work', 'deep', 'f'), 'x');
      return d;
    };
    return { roots, make };
  }

  it('removes what dead processes left, keeps what live ones are making and everything that is not temporary', async () => {
    const { roots, make } = layout();
    const dead = deadPid();
    const me = process.pid;
    const gone = [
      make('cacheDir', `buildx/linux-amd64/.tmp-v0.21.1-${dead}-1795775487326`),
      make('cacheDir', `engine/parts/dockerd-24.0.9.tmp-${dead}`),
      make('cacheDir', `engine/26.1.5/bin.tmp-${dead}`),
      make('cacheDir', `buildkit/v0.17.1.tmp-${dead}`),
      make('cacheDir', `tmp/image-dind-26.1.5-${dead}`),
      make('cacheDir', `tmp/layer-registry-${dead}`),
      make('cacheDir', `tmp/bundle-export-${dead}`),
      make('cacheDir', `tools/debootstrap.dl-${dead}`),
      make('cacheDir', `tools/actionlint-1.7.7.tmp-${dead}-1795775487326`),
      make('engineHome', `bin.tmp-${dead}`),
    ];
    const live = [
      make('cacheDir', `buildx/linux-amd64/.tmp-v0.22.0-${me}-1795775487326`),
      make('cacheDir', `engine/parts/dockerd-27.5.1.tmp-${me}`),
      make('cacheDir', `tmp/image-registry-${me}`),
    ];
    const oldRecent = make('cacheDir', 'image-files-recent');
    const oldStale = [make('cacheDir', 'image-files-Ab12'), make('varTmp', 'buildx-lab-rootfs.Xy12')];
    const past = (Date.now() - OLD_UNTOUCHED_MS - 60_000) / 1000;
    for (const d of oldStale) utimesSync(d, past, past);
    const notTemp = [
      make('cacheDir', 'buildx/linux-amd64/v0.21.1'),
      make('cacheDir', 'engine/parts/dockerd-26.1.5'),
      make('cacheDir', 'tools/debootstrap'),
      make('engineHome', 'bin'),
    ];

    expect(
      findTempDirs(roots)
        .map((d) => d.path)
        .sort(),
    ).toEqual([...gone, ...live, oldRecent, ...oldStale].sort());
    const r = await sweepTempDirs(labConfig(), roots);
    expect(r.removed.map((d) => d.path).sort()).toEqual([...gone, ...oldStale].sort());
    for (const d of [...gone, ...oldStale]) expect(existsSync(d), d).toBe(false);
    for (const d of [...live, oldRecent, ...notTemp]) expect(existsSync(path.join(d, 'work', 'deep', 'f')), d).toBe(true);
    expect(r.kept.find((k) => k.path === live[0])?.reason).toBe(`pid ${me} is running`);
  });

  it('keeps a directory whose creator lives only in another pid namespace (its pid is in the NSpid list)', async () => {
    const { roots, make } = layout();
    const dead = deadPid();
    const d = make('cacheDir', `tmp/image-x-${dead}`);
    // As if a process in a child namespace had pid `dead` there: seen from here only through NSpid.
    const r = await sweepTempDirs(labConfig(), roots, () => new Set([...(pidsInAnyNamespace() ?? []), dead]));
    expect(r.removed).toEqual([]);
    expect(existsSync(d)).toBe(true);
  });

  it('removes nothing with a pid when it cannot see every process (it runs in a pid namespace of its own)', async () => {
    const { roots, make } = layout();
    const d = make('cacheDir', `tmp/image-x-${deadPid()}`);
    const r = await sweepTempDirs(labConfig(), roots, () => undefined);
    expect(r.removed).toEqual([]);
    expect(r.kept[0]?.reason).toMatch(/pid namespace of its own/);
    expect(existsSync(d)).toBe(true);
  });

  it('sees the pids of processes in child pid namespaces from the initial one', () => {
    const pids = pidsInAnyNamespace();
    if (!pids) return; // this test process runs in a pid namespace of its own
    expect(pids.has(process.pid)).toBe(true);
    expect(pids.has(1)).toBe(true);
  });
});
