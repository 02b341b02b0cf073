// Debian packages fetched without installing them: `apt-get download` through a private apt state under
// the lab's cache (the host's apt configuration, lists and dpkg database are never touched), then
// `dpkg-deb -x` into a directory the lab owns. Used for Debian's docker-buildx, debootstrap itself,
// and libseccomp's static library for runc. Every command is argv: no shell, so no quoting to get wrong.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { childEnv, publicUrl, scrubUrl, type LabConfig } from '../config.ts';
import { debianMirror } from '../debian-mirror.ts';
import { ProvisionError, RequirementError } from '../errors.ts';
import { run } from '../exec.ts';
import type { ProgressSink } from '../progress.ts';
import { crossProcessLock } from './lock.ts';

/** Suites the private state knows: the host's own (for libraries linked on the host), and the two the images use. */
export const DEBIAN_SUITES = ['bookworm', 'trixie', 'sid'] as const;
export type DebianSuite = (typeof DEBIAN_SUITES)[number];

/** Lists older than this are refreshed before a download. */
const LISTS_MAX_AGE_MS = 24 * 3600_000;

/** VERSION_CODENAME of /etc/os-release when it is a suite the lab knows; pure over the file's text. */
export function suiteFromOsRelease(text: string): DebianSuite | undefined {
  const m = /^VERSION_CODENAME=("?)([a-z]+)\1$/m.exec(text);
  return (DEBIAN_SUITES as readonly string[]).includes(m?.[2] ?? '') ? (m![2] as DebianSuite) : undefined;
}

export function hostSuite(): DebianSuite | undefined {
  try {
    return suiteFromOsRelease(readFileSync('/etc/os-release', 'utf8'));
  } catch {
    return undefined;
  }
}

/** '0.29.1+ds1-2' -> '0.29.1'; pure. */
export function upstreamVersion(debVersion: string): string {
  return debVersion.replace(/^\d+:/, '').replace(/[+~-].*$/, '');
}

export function aptStateArgs(stateDir: string): string[] {
  return [
    '-o',
    `Dir::Etc::SourceList=${path.join(stateDir, 'sources.list')}`,
    '-o',
    'Dir::Etc::SourceParts=/nonexistent',
    '-o',
    `Dir::State::Lists=${path.join(stateDir, 'lists')}`,
    '-o',
    `Dir::State::Status=${path.join(stateDir, 'status')}`,
    '-o',
    `Dir::Cache=${path.join(stateDir, 'cache')}`,
    '-o',
    'Debug::NoLocking=1',
    '-o',
    'APT::Get::List-Cleanup=0',
    '-o',
    'APT::Sandbox::User=root',
  ];
}

export interface FetchedDeb {
  name: string;
  version: string;
  file: string;
}

export class PrivateApt {
  readonly stateDir: string;
  constructor(
    private readonly config: LabConfig,
    private readonly progress: ProgressSink,
  ) {
    this.stateDir = path.join(config.cacheDir, 'apt');
  }

  private get env(): Record<string, string> {
    return childEnv(this.config, { DEBIAN_FRONTEND: 'noninteractive' });
  }

  private async requireTools(): Promise<void> {
    for (const tool of ['apt-get', 'dpkg-deb', 'flock']) {
      const r = await run(['which', tool], { env: this.env });
      if (r.exitCode !== 0) {
        throw new RequirementError(
          `${tool} is needed to fetch Debian packages (no install: they are only unpacked); on a non-Debian host use official images, release downloads or an offline bundle`,
        );
      }
    }
  }

  /** Downloads `name` from `suite` into `destDir`; the private lists are refreshed when a day old. */
  async download(name: string, suite: DebianSuite, destDir: string, signal?: AbortSignal): Promise<FetchedDeb> {
    return (await this.downloadAll([name], suite, destDir, signal))[0]!;
  }

  /** Downloads each of `names` from `suite` into `destDir` in one apt-get call (one lock, one start-up each saved). */
  async downloadAll(names: readonly string[], suite: DebianSuite, destDir: string, signal?: AbortSignal): Promise<FetchedDeb[]> {
    await this.requireTools();
    mkdirSync(path.join(this.stateDir, 'lists', 'partial'), { recursive: true });
    mkdirSync(path.join(this.stateDir, 'cache', 'archives', 'partial'), { recursive: true });
    if (!existsSync(path.join(this.stateDir, 'status'))) writeFileSync(path.join(this.stateDir, 'status'), '');
    const mirror = debianMirror(this.config);
    // the mirror's credentials go to apt (sources.list) only; messages quote it without them
    const shown = publicUrl(mirror);
    const sources = DEBIAN_SUITES.map((s) => `deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror} ${s} main`).join('\n') + '\n';
    const lock = path.join(this.stateDir, 'lock');
    const apt = ['flock', lock, 'apt-get', ...aptStateArgs(this.stateDir)];
    // One private state is shared by every run: flock keeps two runs' updates from tearing its lists.
    const listsFile = path.join(this.stateDir, 'lists.stamp');
    const stale = !existsSync(listsFile) || Date.now() - statSync(listsFile).mtimeMs > LISTS_MAX_AGE_MS || readFileSync(listsFile, 'utf8') !== sources;
    if (stale) {
      writeFileSync(path.join(this.stateDir, 'sources.list'), sources);
      this.progress(`apt-get update (private state ${this.stateDir}, mirror ${shown})`);
      const u = await run([...apt, 'update', '-qq'], { env: this.env, timeoutMs: 10 * 60_000, signal });
      if (u.exitCode !== 0) {
        throw new ProvisionError(
          `apt-get update from ${shown} failed: ${scrubUrl(u.stderr.trim().split('\n').slice(-3).join(' '), mirror)}. Fix: make sure a Debian mirror is reachable (BUILDX_LAB_DEBIAN_MIRROR), or import an offline bundle.`,
        );
      }
      writeFileSync(listsFile, sources);
    }
    mkdirSync(destDir, { recursive: true });
    const before = new Set(readdirSync(destDir));
    const d = await run([...apt, 'download', ...names.map((n) => `${n}/${suite}`)], { env: this.env, cwd: destDir, timeoutMs: 10 * 60_000, signal });
    const fresh = readdirSync(destDir).filter((f) => !before.has(f) && f.endsWith('.deb'));
    return names.map((name) => {
      const file = fresh.find((f) => f.startsWith(`${name}_`));
      if (d.exitCode !== 0 || !file) {
        throw new ProvisionError(`apt-get download ${name}/${suite} from ${shown} failed: ${scrubUrl(d.stderr.trim().split('\n').slice(-3).join(' '), mirror)}`);
      }
      return { name, version: decodeURIComponent(file.split('_')[1] ?? ''), file: path.join(destDir, file) };
    });
  }

  /** Unpacks a .deb's files (not its maintainer scripts) into `dir`. */
  async extract(deb: string, dir: string): Promise<void> {
    mkdirSync(dir, { recursive: true });
    const x = await run(['dpkg-deb', '-x', deb, dir], { env: this.env, timeoutMs: 120_000 });
    if (x.exitCode !== 0) throw new ProvisionError(`dpkg-deb -x ${path.basename(deb)} failed: ${x.stderr.trim()}`);
  }

  /** Downloads and unpacks into `dir` (replacing it); returns the package version. */
  async unpack(name: string, suite: DebianSuite, dir: string, signal?: AbortSignal): Promise<string> {
    const work = `${dir}.dl-${process.pid}`;
    rmSync(work, { recursive: true, force: true });
    try {
      const deb = await this.download(name, suite, work, signal);
      rmSync(dir, { recursive: true, force: true });
      await this.extract(deb.file, dir);
      return deb.version;
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
}

/**
 * A Debian package unpacked under <cache>/tools/<name>-<suite> (not installed), once per machine behind a
 * cross-process lock; `ready` names a file the package must hold. Returns the directory and the version.
 */
export async function ensureUnpackedDeb(
  config: LabConfig,
  pkg: { name: string; suite: DebianSuite; ready: string },
  progress: ProgressSink,
  signal?: AbortSignal,
): Promise<{ dir: string; version: string }> {
  const dir = path.join(config.cacheDir, 'tools', `${pkg.name}-${pkg.suite}`);
  const versionFile = path.join(dir, '.deb-version');
  const hit = () => (existsSync(path.join(dir, pkg.ready)) && existsSync(versionFile) ? { dir, version: readFileSync(versionFile, 'utf8').trim() } : undefined);
  return (
    hit() ??
    crossProcessLock(
      path.join(config.cacheDir, 'locks', `${pkg.name}-${pkg.suite}`),
      pkg.name,
      progress,
      async () => {
        const again = hit();
        if (again) return again;
        const version = await new PrivateApt(config, progress).unpack(pkg.name, pkg.suite, dir, signal);
        writeFileSync(versionFile, `${version}\n`);
        return { dir, version };
      },
      signal,
    )
  );
}
