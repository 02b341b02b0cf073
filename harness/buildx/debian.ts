// Debian's docker-buildx packages, fetched with `apt-get download` through a private apt state
// (the host's apt configuration is not touched) and unpacked with dpkg-deb, never installed.
import { existsSync, mkdirSync, readdirSync, writeFileSync, copyFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { childEnv, type LabConfig } from '../config.ts';
import { ProvisionError, RequirementError } from '../errors.ts';
import { run } from '../exec.ts';
import { debianMirror } from '../debian-mirror.ts';
import type { ProgressSink } from '../progress.ts';

export const DEBIAN_SUITES = ['trixie', 'sid'] as const;
export type DebianSuite = (typeof DEBIAN_SUITES)[number];

/** The binary's path inside the .deb. */
export const PLUGIN_PATH_IN_DEB = 'usr/libexec/docker/cli-plugins/docker-buildx';

/** '0.29.1+ds1-2' -> '0.29.1'; pure. */
export function upstreamVersion(debVersion: string): string {
  return debVersion.replace(/^\d+:/, '').replace(/[+~-].*$/, '');
}

function aptArgs(stateDir: string): string[] {
  return [
    '-o', `Dir::Etc::SourceList=${path.join(stateDir, 'sources.list')}`,
    '-o', 'Dir::Etc::SourceParts=/nonexistent',
    '-o', `Dir::State::Lists=${path.join(stateDir, 'lists')}`,
    '-o', `Dir::Cache=${path.join(stateDir, 'cache')}`,
    '-o', 'Debug::NoLocking=1',
    '-o', 'APT::Get::List-Cleanup=0',
  ];
}

/** Downloads docker-buildx from a Debian suite and unpacks its binary to `dest`; returns the upstream version. */
export async function fetchDebianBuildx(config: LabConfig, suite: DebianSuite, dest: string, progress: ProgressSink): Promise<{ version: string; debVersion: string }> {
  for (const tool of ['apt-get', 'dpkg-deb']) {
    const r = await run(['sh', '-c', `command -v ${tool}`], { env: childEnv(config) });
    if (r.exitCode !== 0) throw new RequirementError(`${tool} is needed for Debian's docker-buildx packages; on non-Debian hosts use a release download or a Go build instead`);
  }
  const stateDir = path.join(config.cacheDir, 'apt');
  mkdirSync(path.join(stateDir, 'lists', 'partial'), { recursive: true });
  mkdirSync(path.join(stateDir, 'cache', 'archives', 'partial'), { recursive: true });
  const mirror = debianMirror(config);
  writeFileSync(
    path.join(stateDir, 'sources.list'),
    DEBIAN_SUITES.map((s) => `deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror} ${s} main`).join('\n') + '\n',
  );
  const env = childEnv(config, { DEBIAN_FRONTEND: 'noninteractive' });
  const work = path.join(stateDir, `dl-${process.pid}-${Date.now()}`);
  mkdirSync(work, { recursive: true });
  try {
    // One private apt state is shared by every run: flock(1) keeps two runs' updates from tearing its lists.
    progress(`apt-get update + download docker-buildx/${suite} (private state ${stateDir})`);
    const apt = ['apt-get', ...aptArgs(stateDir)].map((a) => `'${a}'`).join(' ');
    const script = `${apt} update -qq && ${apt} download 'docker-buildx/${suite}'`;
    const dl = await run(['flock', path.join(stateDir, 'lock'), 'sh', '-c', script], { env, cwd: work, timeoutMs: 10 * 60_000 });
    const deb = readdirSync(work).find((f) => f.endsWith('.deb'));
    if (dl.exitCode !== 0 || !deb) {
      throw new ProvisionError(`apt-get update/download of docker-buildx/${suite} from ${mirror} failed: ${dl.stderr.trim().split('\n').slice(-3).join(' ')}. Fix: reach a Debian mirror (BUILDX_LAB_DEBIAN_MIRROR).`);
    }
    const debVersion = decodeURIComponent(deb.split('_')[1] ?? '');
    const x = await run(['dpkg-deb', '-x', deb, 'root'], { env, cwd: work });
    const bin = path.join(work, 'root', PLUGIN_PATH_IN_DEB);
    if (x.exitCode !== 0 || !existsSync(bin)) throw new ProvisionError(`${deb} has no ${PLUGIN_PATH_IN_DEB}`);
    copyFileSync(bin, dest);
    return { version: `v${upstreamVersion(debVersion)}`, debVersion };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
