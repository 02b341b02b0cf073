import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { labConfig, type LabConfig } from '../config.ts';
import { RequirementError } from '../errors.ts';
import { ACTIONLINT_VERSION, actionlintPath, ensureActionlint } from './actionlint.ts';

const hostHasGo = spawnSync('go', ['version']).status === 0;

describe('ensureActionlint', () => {
  let config: LabConfig;
  beforeEach(() => {
    // No `go` on this PATH: nothing can be built, so any build attempt shows.
    config = { ...labConfig(), cacheDir: mkdtempSync(path.join(tmpdir(), 'lab-tools-')), childPath: '/nonexistent' };
  });
  afterEach(() => rmSync(config.cacheDir, { recursive: true, force: true }));

  it('installs into a versioned directory of the lab cache', () => {
    expect(actionlintPath(config)).toBe(path.join(config.cacheDir, 'tools', `actionlint-${ACTIONLINT_VERSION}`, 'actionlint'));
  });

  it('uses an installed binary without building', async () => {
    const bin = actionlintPath(config);
    mkdirSync(path.dirname(bin), { recursive: true });
    writeFileSync(bin, '');
    await expect(ensureActionlint(config)).resolves.toBe(bin);
  });

  it('fails naming the fix when it is missing and cannot be built, and leaves no staging dir', async () => {
    const err = await ensureActionlint(config).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(RequirementError);
    expect((err as Error).message).toContain(`actionlint ${ACTIONLINT_VERSION} is not installed at ${actionlintPath(config)}`);
    expect((err as Error).message).toContain('building it needs Go, which was not found. Fix: install Go');
    expect(readdirSync(config.cacheDir)).toEqual([]);
  });

  // Go is there but the module cannot be had: an empty module cache and GOPROXY=off fail at once, offline.
  it.skipIf(!hostHasGo)('fails naming the fix when go install fails, and leaves no staging dir', async () => {
    const modcache = path.join(config.cacheDir, 'gomod');
    const offline = { ...config, childPath: labConfig().childPath, goEnv: { ...config.goEnv, GOPROXY: 'off', GOMODCACHE: modcache, GOFLAGS: '-modcacherw' } };
    const err = await ensureActionlint(offline).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(RequirementError);
    expect((err as Error).message).toMatch(/`go install github\.com\/rhysd\/actionlint\/cmd\/actionlint@v[\d.]+` exited 1: .*GOPROXY=off/);
    expect((err as Error).message).toContain('Fix: let Go reach the module proxy (GOPROXY)');
    expect(readdirSync(path.join(config.cacheDir, 'tools'))).toEqual([]);
  });
});
