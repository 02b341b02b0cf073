// Makes an image of the catalog available on the host engine: official when present or pullable,
// otherwise built offline from Debian's packages (once, under a lock, tagged by its recipe hash).
import { mkdirSync, mkdtempSync, cpSync, rmSync, chmodSync } from 'node:fs';
import path from 'node:path';
import { childEnv, type LabConfig } from '../config.ts';
import { ProvisionError } from '../errors.ts';
import { LAB_LABEL, assertEngineAnswered } from '../engine/engine.ts';
import { debianMirror } from '../debian-mirror.ts';
import { run } from '../exec.ts';
import { withHeartbeat, type ProgressSink } from '../progress.ts';
import { localTag, recipeScriptPath, type ImageSpec } from './catalog.ts';

export interface ResolvedImage {
  spec: ImageSpec;
  ref: string;
  source: 'official-local' | 'official-pulled' | 'local-cached' | 'local-built';
  official: boolean;
  buildMs?: number;
}


export async function imageExists(config: LabConfig, ref: string): Promise<boolean> {
  const r = assertEngineAnswered(config, await run(['docker', 'image', 'inspect', '--format', '{{.Id}}', ref], { env: childEnv(config), timeoutMs: 30_000 }));
  return r.exitCode === 0;
}

/**
 * Pulls an official image. The engine reports pull failures inside an HTTP 200 stream (the very bug
 * this lab reproduces), so success is decided by the image's presence afterwards, never by the pull alone.
 */
async function tryPull(config: LabConfig, ref: string, progress: ProgressSink): Promise<boolean> {
  if (config.offline) return false;
  const r = await run(['docker', 'pull', '--quiet', ref], { env: childEnv(config), timeoutMs: 120_000 });
  const present = await imageExists(config, ref);
  if (!present) progress(`official ${ref} not available (${(r.stderr || r.stdout).trim().split('\n').pop() ?? 'pull failed'}); building locally`);
  return present;
}

/**
 * `prepare` runs only when a local build is needed (e.g. BuildKit's Go build), and may fill `builtFiles`.
 */
export async function ensureImage(config: LabConfig, spec: ImageSpec, progress: ProgressSink, prepare?: () => Promise<void>): Promise<ResolvedImage> {
  if (config.preferOfficialImages) {
    for (const ref of spec.official) {
      if (await imageExists(config, ref)) return { spec, ref, source: 'official-local', official: true };
    }
  }
  const tag = localTag(spec);
  if (await imageExists(config, tag)) return { spec, ref: tag, source: 'local-cached', official: false };
  if (config.preferOfficialImages) {
    for (const ref of spec.official) {
      if (await tryPull(config, ref, progress)) return { spec, ref, source: 'official-pulled', official: true };
    }
  }
  const t0 = Date.now();
  await prepare?.();
  await buildLocalImage(config, spec, tag, progress);
  return { spec, ref: tag, source: 'local-built', official: false, buildMs: Date.now() - t0 };
}

async function buildLocalImage(config: LabConfig, spec: ImageSpec, tag: string, progress: ProgressSink): Promise<void> {
  const locks = path.join(config.cacheDir, 'locks');
  mkdirSync(locks, { recursive: true });
  const filesDir = mkdtempSync(path.join(config.cacheDir, 'image-files-'));
  try {
    for (const [target, source] of Object.entries({ ...spec.recipe.files, ...spec.recipe.builtFiles })) {
      const dest = path.join(filesDir, target);
      mkdirSync(path.dirname(dest), { recursive: true });
      cpSync(source, dest);
      chmodSync(dest, 0o755);
    }
    const lock = path.join(locks, `${tag.replace(/[/:]/g, '_')}.lock`);
    // flock(1): the kernel drops the lock if this process dies, so a killed run never wedges the next.
    const argv = ['flock', lock, 'bash', recipeScriptPath];
    const env = childEnv(config, {
      TAG: tag,
      SUITE: spec.recipe.suite,
      PACKAGES: spec.recipe.packages.join(','),
      FILES_DIR: filesDir,
      ENTRYPOINT: JSON.stringify(spec.recipe.entrypoint),
      CMD: JSON.stringify(spec.recipe.cmd),
      MIRROR: debianMirror(config),
      LABELS: `${LAB_LABEL}.image=${spec.id}\n${LAB_LABEL}.recipe=${tag.split(':')[1]}`,
    });
    const r = await withHeartbeat(progress, `building image ${tag} (${spec.description}) from Debian ${spec.recipe.suite}`, () =>
      run(argv, { env, timeoutMs: 20 * 60_000, onLine: (l) => progress(`  ${l}`) }),
    );
    if (r.exitCode !== 0 || !(await imageExists(config, tag))) {
      throw new ProvisionError(
        `could not build ${tag} (${spec.description}), exit ${r.exitCode}.\n${r.stderr.trim().split('\n').slice(-12).join('\n')}\n` +
          `Fix: make sure a Debian mirror is reachable (BUILDX_LAB_DEBIAN_MIRROR) and debootstrap is installed ('make setup'), ` +
          `or provide the official image ${spec.official.join(' or ')} on the engine.`,
      );
    }
  } finally {
    rmSync(filesDir, { recursive: true, force: true });
  }
}

/** Local builds of the lab, newest first. */
export async function listLabImages(config: LabConfig): Promise<string[]> {
  const r = await run(['docker', 'image', 'ls', '--filter', `label=${LAB_LABEL}.image`, '--format', '{{.Repository}}:{{.Tag}}\t{{.Size}}\t{{.CreatedSince}}'], {
    env: childEnv(config),
  });
  return r.stdout.trim().split('\n').filter(Boolean);
}

export async function pruneLabImages(config: LabConfig, keep: Set<string>): Promise<string[]> {
  const removed: string[] = [];
  for (const line of await listLabImages(config)) {
    const ref = line.split('\t')[0]!;
    if (keep.has(ref)) continue;
    const r = await run(['docker', 'image', 'rm', ref], { env: childEnv(config) });
    if (r.exitCode === 0) removed.push(ref);
  }
  return removed;
}
