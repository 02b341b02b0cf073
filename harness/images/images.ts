// Makes an image of the catalog available on the host engine: official when present or pullable,
// otherwise built locally (once, under a lock, tagged by its recipe hash). Rootfs recipes run the lab's
// own debootstrap (unpacked from Debian's package, never installed); layer recipes commit files onto a
// catalog image with `docker create` + `docker cp` + `docker commit`, so no builder is needed; debs recipes
// are built by debs-image.ts.
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { childEnv, publicUrl, scrubUrl, type LabConfig } from '../config.ts';
import { ProvisionError } from '../errors.ts';
import { assertEngineAnswered, LAB_LABEL, labelsFor } from '../ownership/labels.ts';
import type { Owner } from '../ownership/owner.ts';
import { debianMirror } from '../debian-mirror.ts';
import { run, runChecked } from '../exec.ts';
import { withHeartbeat, type ProgressSink } from '../progress.ts';
import { crossProcessLock } from '../provision/lock.ts';
import { PrivateApt, hostSuite } from '../provision/debian.ts';
import { buildDebsImage } from './debs-image.ts';
import { BASE_IMAGES, localTag, recipeScriptPath, type ImageSpec, type LayerRecipe, type RootfsRecipe } from './catalog.ts';

export interface ResolvedImage {
  /** absent for an official image found without a catalog entry */
  spec?: ImageSpec;
  ref: string;
  source: 'official-local' | 'official-pulled' | 'local-cached' | 'local-built';
  official: boolean;
  buildMs?: number;
}

export interface EnsureImageOptions {
  signal?: AbortSignal;
  /** tags of base images already resolved in this process */
  baseTag?: (id: string) => string;
}

/** The image's ID on the engine, or undefined when it does not have it. */
export async function imageId(config: LabConfig, ref: string): Promise<string | undefined> {
  const r = assertEngineAnswered(config, await run(['docker', 'image', 'inspect', '--format', '{{.Id}}', ref], { env: childEnv(config), timeoutMs: 30_000 }));
  return r.exitCode === 0 ? r.stdout.trim() : undefined;
}

export async function imageExists(config: LabConfig, ref: string): Promise<boolean> {
  return (await imageId(config, ref)) !== undefined;
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

/** An official image present on the engine, or pulled (unless offline or official images are turned off). */
export async function findOfficialImage(config: LabConfig, refs: readonly string[], progress: ProgressSink, opts: { pull?: boolean } = {}): Promise<ResolvedImage | undefined> {
  if (!config.preferOfficialImages) return undefined;
  for (const ref of refs) if (await imageExists(config, ref)) return { ref, source: 'official-local', official: true };
  if (opts.pull === false) return undefined;
  for (const ref of refs) if (await tryPull(config, ref, progress)) return { ref, source: 'official-pulled', official: true };
  return undefined;
}

/** Builds in flight in this process, by tag: two requirements sharing a base wait on one build. */
const inFlight = new Map<string, Promise<ResolvedImage>>();

export function ensureImage(config: LabConfig, spec: ImageSpec, progress: ProgressSink, opts: EnsureImageOptions = {}): Promise<ResolvedImage> {
  const key = `${config.dockerHost} ${localTag(spec, opts.baseTag)}`;
  let p = inFlight.get(key);
  if (!p) {
    p = ensureImageOnce(config, spec, progress, opts).finally(() => inFlight.delete(key));
    inFlight.set(key, p);
  }
  return p;
}

async function ensureImageOnce(config: LabConfig, spec: ImageSpec, progress: ProgressSink, opts: EnsureImageOptions): Promise<ResolvedImage> {
  const present = await findOfficialImage(config, spec.official, progress, { pull: false });
  if (present) return { ...present, spec };
  const baseTag = opts.baseTag ?? ((id: string) => localTag(BASE_IMAGES[id]!));
  const tag = localTag(spec, baseTag);
  if (await imageExists(config, tag)) return { spec, ref: tag, source: 'local-cached', official: false };
  const pulled = await findOfficialImage(config, spec.official, progress);
  if (pulled) return { ...pulled, spec };
  const t0 = Date.now();
  await crossProcessLock(
    path.join(config.cacheDir, 'locks', `image-${tag.replace(/[/:]/g, '_')}`),
    `image ${tag}`,
    progress,
    async () => {
      if (await imageExists(config, tag)) return;
      if (spec.recipe.kind === 'rootfs') await buildRootfsImage(config, spec, spec.recipe, tag, progress, opts.signal);
      else if (spec.recipe.kind === 'debs') await buildDebsImage(config, spec.recipe, tag, labelsOf(spec, tag), progress, opts.signal);
      else await buildLayerImage(config, spec, spec.recipe, tag, progress, opts);
    },
    opts.signal,
  );
  return { spec, ref: tag, source: 'local-built', official: false, buildMs: Date.now() - t0 };
}

const labelsOf = (spec: ImageSpec, tag: string) => ({ [`${LAB_LABEL}.image`]: spec.id, [`${LAB_LABEL}.recipe`]: tag.split(':')[1]! });

/** The lab's debootstrap: Debian's package unpacked under the cache (the host's suite, else bookworm). */
export async function ensureDebootstrap(config: LabConfig, progress: ProgressSink, signal?: AbortSignal): Promise<{ bin: string; dir: string }> {
  const root = path.join(config.cacheDir, 'tools', 'debootstrap');
  const bin = path.join(root, 'usr', 'sbin', 'debootstrap');
  const dir = path.join(root, 'usr', 'share', 'debootstrap');
  if (!existsSync(bin)) {
    await crossProcessLock(
      path.join(config.cacheDir, 'locks', 'debootstrap'),
      'debootstrap',
      progress,
      async () => {
        if (!existsSync(bin)) await new PrivateApt(config, progress).unpack('debootstrap', hostSuite() ?? 'bookworm', root, signal);
      },
      signal,
    );
  }
  return { bin, dir };
}

async function buildRootfsImage(config: LabConfig, spec: ImageSpec, recipe: RootfsRecipe, tag: string, progress: ProgressSink, signal?: AbortSignal): Promise<void> {
  const debootstrap = await ensureDebootstrap(config, progress, signal);
  // pid in the names: a sweep can tell a dead run's leftovers from a live build's.
  const work = path.join(config.cacheDir, 'tmp', `image-${spec.id}-${process.pid}`);
  const filesDir = path.join(work, 'files');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(filesDir, { recursive: true });
  try {
    for (const [target, source] of Object.entries(recipe.files)) {
      const dest = path.join(filesDir, target);
      mkdirSync(path.dirname(dest), { recursive: true });
      copyFileSync(source, dest);
      chmodSync(dest, 0o755);
    }
    // the mirror's credentials go to debootstrap only: logs, errors and the image's sources.list get MIRROR_SHOWN
    const mirror = debianMirror(config);
    const env = childEnv(config, {
      TAG: tag,
      SUITE: recipe.suite,
      PACKAGES: recipe.packages.join(','),
      FILES_DIR: filesDir,
      ENTRYPOINT: JSON.stringify(recipe.entrypoint),
      CMD: JSON.stringify(recipe.cmd),
      MIRROR: mirror,
      MIRROR_SHOWN: publicUrl(mirror),
      LABELS: Object.entries(labelsOf(spec, tag))
        .map(([k, v]) => `${k}=${v}`)
        .join('\n'),
      DEBOOTSTRAP: debootstrap.bin,
      DEBOOTSTRAP_DIR: debootstrap.dir,
      ROOTFS: path.join(work, 'rootfs'),
    });
    const r = await withHeartbeat(progress, `image ${spec.id}: debootstrap ${recipe.suite}`, () =>
      run(['bash', recipeScriptPath], { env, timeoutMs: 20 * 60_000, signal, onLine: (l) => progress(`  ${scrubUrl(l, mirror)}`) }),
    );
    if (r.exitCode !== 0 || !(await imageExists(config, tag))) {
      throw new ProvisionError(
        `could not build ${tag} (${spec.description}), exit ${r.exitCode}.\n${scrubUrl(r.stderr.trim().split('\n').slice(-12).join('\n'), mirror)}\n` +
          debootstrapFix(`${r.stdout}\n${r.stderr}`, recipe.suite, spec.official),
      );
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function buildLayerImage(config: LabConfig, spec: ImageSpec, recipe: LayerRecipe, tag: string, progress: ProgressSink, opts: EnsureImageOptions): Promise<void> {
  const baseSpec = BASE_IMAGES[recipe.base];
  if (!baseSpec) throw new ProvisionError(`image ${spec.id}: unknown base '${recipe.base}'`);
  const base = await ensureImage(config, baseSpec, progress, opts);
  const t0 = Date.now();
  await commitLayer(config, base.ref, tag, { ...recipe, labels: { ...recipe.labels, ...labelsOf(spec, tag) } }, opts.signal);
  progress(`image ${tag}: ${spec.description}, committed on ${base.ref} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

/** What commitLayer lays on its base: files, an optional script, and the image config (EXPOSE only here). */
export type LayerCommit = Pick<LayerRecipe, 'files' | 'entrypoint' | 'cmd' | 'labels' | 'run' | 'user' | 'env' | 'volumes'> & { expose?: readonly number[] };

/**
 * Commits files (and a script run on them) onto `baseRef` as `tag` with `docker create` + `docker cp` +
 * `docker commit`: no builder needed. The lab's layer recipes and the tests' stand-ins of official images use it.
 */
export async function commitLayer(config: LabConfig, baseRef: string, tag: string, layer: LayerCommit, signal?: AbortSignal): Promise<void> {
  const env = childEnv(config);
  const work = path.join(config.cacheDir, 'tmp', `layer-${tag.replace(/[/:]/g, '_')}-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  try {
    for (const [target, f] of Object.entries(layer.files)) {
      const dest = path.join(work, target);
      mkdirSync(path.dirname(dest), { recursive: true });
      try {
        linkSync(f.source, dest);
      } catch {
        copyFileSync(f.source, dest);
      }
      if (f.mode !== undefined) chmodSync(dest, f.mode);
    }
    mkdirSync(work, { recursive: true });
    // A recipe's script runs in the scratch container itself (no network: the lab's build network is none).
    const script = layer.run === undefined ? [] : ['--network', 'none', '--entrypoint', '/bin/sh', baseRef, '-ec', layer.run];
    const created = await runChecked(['docker', 'create', ...buildContainerLabels(tag), ...(script.length ? script : [baseRef])], { env, timeoutMs: 60_000 });
    const id = created.stdout.trim();
    try {
      await runChecked(['docker', 'cp', `${work}/.`, `${id}:/`], { env, timeoutMs: 10 * 60_000, signal });
      if (script.length) await runChecked(['docker', 'start', '-a', id], { env, timeoutMs: 10 * 60_000, signal });
      const changes = [
        `ENTRYPOINT ${JSON.stringify(layer.entrypoint)}`,
        `CMD ${JSON.stringify(layer.cmd)}`,
        ...(layer.user ? [`USER ${layer.user}`] : []),
        ...Object.entries(layer.env ?? {}).map(([k, v]) => `ENV ${k}=${JSON.stringify(v)}`),
        ...(layer.volumes?.length ? [`VOLUME ${JSON.stringify(layer.volumes)}`] : []),
        ...(layer.expose?.length ? [`EXPOSE ${layer.expose.join(' ')}`] : []),
        ...Object.entries(layer.labels).map(([k, v]) => `LABEL ${k}=${JSON.stringify(v)}`),
      ].flatMap((c) => ['--change', c]);
      await runChecked(['docker', 'commit', ...changes, id, tag], { env, timeoutMs: 10 * 60_000 });
    } finally {
      await run(['docker', 'rm', '-f', id], { env, timeoutMs: 60_000 });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Labels of a layer build's scratch container: owned like a run's containers (a run id of its own), so one
 * left by a build killed between create and rm is swept once its owner is gone.
 */
export function buildContainerLabels(tag: string, owner?: Owner): string[] {
  const labels = { [`${LAB_LABEL}.build`]: tag, ...labelsFor(`build-${process.pid.toString(36)}${randomBytes(3).toString('hex')}`, owner) };
  return Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
}

/** What to do about a failed debootstrap: a package the suite lacks is the recipe's fault, anything else the mirror's. Pure. */
export function debootstrapFix(output: string, suite: string, official: readonly string[]): string {
  const missing = /Couldn't find these debs: (.+)/.exec(output)?.[1]?.trim();
  if (missing) return `Fix: Debian ${suite} has no package ${missing}; the image recipe (harness/images/catalog.ts) must not ask for it there.`;
  return `Fix: make sure a Debian mirror is reachable (BUILDX_LAB_DEBIAN_MIRROR), or import an offline bundle${official.length ? `, or provide the official image ${official.join(' or ')}` : ''}.`;
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
    if (keep.has(ref) || /^127\.0\.0\.1:/.test(ref)) continue;
    const r = await run(['docker', 'image', 'rm', ref], { env: childEnv(config) });
    if (r.exitCode === 0) removed.push(ref);
  }
  return removed;
}
