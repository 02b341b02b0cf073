// Debian's docker-buildx packages (the debian-trixie and debian-sid aliases), fetched through the lab's
// private apt state and unpacked, never installed.
import { copyFileSync, existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { LabConfig } from '../config.ts';
import { ProvisionError } from '../errors.ts';
import type { ProgressSink } from '../progress.ts';
import { PrivateApt, upstreamVersion } from '../provision/debian.ts';

export const DEBIAN_BUILDX_SUITES = ['trixie', 'sid'] as const;
export type DebianSuite = (typeof DEBIAN_BUILDX_SUITES)[number];

/** The binary's path inside the .deb. */
export const PLUGIN_PATH_IN_DEB = 'usr/libexec/docker/cli-plugins/docker-buildx';

/** Downloads docker-buildx from a Debian suite and unpacks its binary to `dest`; returns the upstream version. */
export async function fetchDebianBuildx(
  config: LabConfig,
  suite: DebianSuite,
  dest: string,
  progress: ProgressSink,
  signal?: AbortSignal,
): Promise<{ version: string; debVersion: string }> {
  const work = `${dest}.deb-${process.pid}`;
  try {
    const debVersion = await new PrivateApt(config, progress).unpack('docker-buildx', suite, work, signal);
    const bin = path.join(work, PLUGIN_PATH_IN_DEB);
    if (!existsSync(bin)) throw new ProvisionError(`docker-buildx ${debVersion} from Debian ${suite} has no ${PLUGIN_PATH_IN_DEB}`);
    copyFileSync(bin, dest);
    return { version: `v${upstreamVersion(debVersion)}`, debVersion };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
