import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { labConfig, type LabConfig } from '../config.ts';
import { markInUse } from '../provision/in-use.ts';
import { silentProgress } from '../progress.ts';
import { matchTempDir } from '../provision/temp-dirs.ts';
import { BuildxProvisioner, cacheKeyOf, planPrune, sourceOrder } from './provision.ts';

const deadPid = () => Number(spawnSync('sh', ['-c', 'echo $$']).stdout.toString().trim());

describe('planPrune', () => {
  const staging = (name: string) =>
    name.startsWith('.tmp-') ? ({ remove: name.includes('-dead-'), reason: name.includes('-dead-') ? 'pid 9 is gone' : 'pid 8 is running' } as const) : undefined;
  it.each([
    ['a version nothing uses', 'v0.20.1', new Set<string>(), 'remove'],
    ['a version a live run uses', 'v0.21.1', new Set(['v0.21.1']), 'in use by a live run'],
    ['any version while a marker is unreadable', 'v0.20.1', 'all' as const, 'cannot be read'],
    ['an install still going', '.tmp-v0.22.0-live-1', new Set<string>(), 'an install in progress: pid 8 is running'],
    ['a killed install', '.tmp-v0.22.0-dead-1', new Set<string>(), 'remove'],
    ['a version asked to keep', 'v0.29.1-debian', new Set<string>(), 'asked to keep'],
  ])('%s', (_n, name, inUse, expected) => {
    const plan = planPrune([name], { keep: new Set(['v0.29.1-debian']), inUse, staging });
    if (expected === 'remove') expect(plan.remove).toEqual([name]);
    else expect(plan.kept).toEqual([{ name, reason: expect.stringContaining(expected) }]);
  });
});

describe('BuildxProvisioner.prune, on a real cache directory', () => {
  let config: LabConfig;
  beforeEach(() => {
    config = { ...labConfig(), cacheDir: mkdtempSync(path.join(tmpdir(), 'lab-prune-')) };
  });
  afterEach(() => rmSync(config.cacheDir, { recursive: true, force: true }));

  it("keeps the versions live runs use and the installs still going; removes the rest and killed installs' staging", () => {
    const prov = new BuildxProvisioner(config, silentProgress);
    const dir = (name: string) => {
      mkdirSync(path.join(prov.root, name), { recursive: true });
      writeFileSync(path.join(prov.root, name, 'docker-buildx'), 'bin');
      return name;
    };
    const used = dir('v0.21.1');
    const unused = dir('v0.20.1');
    const installing = dir(`.tmp-v0.22.0-${process.pid}-1795775487326`);
    const killed = dir(`.tmp-v0.19.3-${deadPid()}-1795775487326`);
    const hold = markInUse(config, 'r-live', [used]);
    try {
      const plan = prov.prune();
      expect(plan.remove.sort()).toEqual([killed, unused].sort());
      expect(readdirSync(prov.root).sort()).toEqual([installing, used].sort());
      expect(existsSync(path.join(prov.root, used, 'docker-buildx'))).toBe(true);
    } finally {
      hold.release();
    }
    // the run is over: now nothing holds v0.21.1
    expect(prov.prune().remove).toEqual([used]);
  });
});

describe('builds from Git in the cache', () => {
  const git = { repo: '/src/buildx', rev: 'v0.21.0-rc2', commit: 'ef73c64d2cb103d5a4ba00a08e0c66a7cb4f33dc', tag: 'v0.21.0-rc2', label: 'v0.21.0-rc2-0-gef73c64d2cb1' };

  it('are keyed by their commit, whatever spec named them, and have Git as their one source', () => {
    expect(cacheKeyOf({ version: 'v0.21.0-rc2', git }, 'git')).toBe('git-ef73c64d2cb103d5a4ba00a08e0c66a7cb4f33dc');
    expect(cacheKeyOf({ version: 'v0.21.0-rc2', git }, 'go')).toBe('v0.21.0-rc2');
    expect(() => cacheKeyOf({ version: 'v0.21.0-rc2' }, 'git')).toThrow('needs its commit');
    expect(sourceOrder({ spec: 'git:/src/buildx@v0.21.0-rc2', via: 'git' }, false)).toEqual(['git']);
  });

  it('leave their staging directory to the sweep like any install', () => {
    expect(matchTempDir('cacheDir', 'buildx/linux-amd64/.tmp-git-ef73c64d2cb103d5a4ba00a08e0c66a7cb4f33dc-4242-1733555555555')).toEqual({ kind: 'Buildx install', pid: 4242 });
    expect(matchTempDir('cacheDir', 'git/0123456789abcdef01234567.git.tmp-4242')).toEqual({ kind: 'Git clone', pid: 4242 });
    expect(matchTempDir('cacheDir', 'git/0123456789abcdef01234567.git')).toBeUndefined();
  });
});
