// bundle import against a real engine and real `docker save` output: a lab-named image loads (the
// rewritten archive is one the engine accepts), and an archive that names anything else never reaches
// the engine, so no such tag appears on it. The images are tiny ones of this test's own, made with
// `docker import`, with names no one else uses; the cache is a temporary one.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childEnv, labConfig, withEngine, type LabConfig } from '../config.ts';
import { UsageError } from '../errors.ts';
import { run, runChecked } from '../exec.ts';
import { silentProgress } from '../progress.ts';
import { HostEngine } from '../engine/host.ts';
import { exportBundle, importBundle } from './bundle.ts';

const tag = Date.now().toString(16).padStart(12, '0').slice(-12);
const LAB = `buildx-lab/bundle-itg-${process.pid}:${tag}`;
const HOSTILE = `bundle-itg-hostile-${process.pid}/alpine:latest`;
const dirs: string[] = [];
let engine: LabConfig;
let config: LabConfig;

const docker = (args: string[]) => run(['docker', ...args], { env: childEnv(engine), timeoutMs: 120_000 });
const exists = async (ref: string) => (await docker(['image', 'inspect', ref])).exitCode === 0;
const tmp = (name: string) => {
  const d = mkdtempSync(path.join(tmpdir(), `bundle-itg-${name}-`));
  dirs.push(d);
  return d;
};

beforeAll(async () => {
  const base = labConfig();
  engine = withEngine(base, (await new HostEngine(base, silentProgress).ensure()).host);
  const cache = tmp('cache');
  config = { ...engine, cacheDir: cache };
  // a one-file image, made without any registry
  const root = tmp('rootfs');
  writeFileSync(path.join(root, 'hello'), 'hello\n');
  execFileSync('tar', ['-C', root, '-cf', path.join(root, '..', `${path.basename(root)}.tar`), 'hello']);
  await runChecked(['docker', 'import', path.join(root, '..', `${path.basename(root)}.tar`), LAB], { env: childEnv(engine), timeoutMs: 120_000 });
}, 180_000);

afterAll(async () => {
  await docker(['image', 'rm', '-f', LAB, HOSTILE]);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  for (const d of dirs) rmSync(`${d}.tar`, { force: true });
});

describe('bundle import on a real engine', () => {
  it('loads a lab-named image from real docker save output', async () => {
    const file = path.join(tmp('out'), 'lab.tar');
    await exportBundle(config, file, { cacheDirs: [], images: [LAB] }, silentProgress);
    await runChecked(['docker', 'image', 'rm', LAB], { env: childEnv(engine), timeoutMs: 60_000 });
    expect(await exists(LAB)).toBe(false);
    await importBundle(config, file, silentProgress, async () => engine, { trust: true });
    expect(await exists(LAB)).toBe(true);
  }, 180_000);

  it('refuses real docker save output that names an image outside the lab, and the engine never gets the name', async () => {
    await runChecked(['docker', 'tag', LAB, HOSTILE], { env: childEnv(engine), timeoutMs: 60_000 });
    const file = path.join(tmp('out'), 'hostile.tar');
    // a self-consistent bundle: its bundle.json lists the name, its checksums cover the archive
    await exportBundle(config, file, { cacheDirs: [], images: [HOSTILE] }, silentProgress);
    await runChecked(['docker', 'image', 'rm', HOSTILE], { env: childEnv(engine), timeoutMs: 60_000 });
    let asked = false;
    const err = await importBundle(
      config,
      file,
      silentProgress,
      async () => {
        asked = true;
        return engine;
      },
      { trust: true },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(new RegExp(`its images.tar: it would put "${HOSTILE.replace(/[/.]/g, '\\$&')}" on the engine, which is not a lab image name`));
    expect(asked).toBe(false);
    expect(await exists(HOSTILE)).toBe(false);
  }, 180_000);
});
