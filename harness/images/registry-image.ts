// The registry image: the official registry:3 when present or pullable, else Debian trixie's
// docker-registry (the CNCF distribution registry) unpacked — not installed — and committed on engine-base.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { LabConfig } from '../config.ts';
import { registrySpec, type ImageSpec } from './catalog.ts';
import { ensureImage, findOfficialImage, type ResolvedImage } from './images.ts';
import type { ProgressSink } from '../progress.ts';
import { PrivateApt } from '../provision/debian.ts';
import { crossProcessLock } from '../provision/lock.ts';

const toolDir = (config: LabConfig) => path.join(config.cacheDir, 'tools', 'docker-registry-trixie');

/** The local registry image's spec, when its binary is cached (else undefined). */
export function registryImageSpec(config: LabConfig): ImageSpec | undefined {
  const dir = toolDir(config);
  const bin = path.join(dir, 'usr', 'bin', 'docker-registry');
  const versionFile = path.join(dir, 'version');
  if (!existsSync(bin) || !existsSync(versionFile)) return undefined;
  return registrySpec({ path: bin, sha256: createHash('sha256').update(readFileSync(bin)).digest('hex'), debVersion: readFileSync(versionFile, 'utf8').trim() });
}

export async function ensureRegistryImage(config: LabConfig, progress: ProgressSink, signal?: AbortSignal): Promise<ResolvedImage> {
  const official = await findOfficialImage(config, ['registry:3'], progress);
  if (official) return official;
  const dir = toolDir(config);
  await crossProcessLock(
    path.join(config.cacheDir, 'locks', 'docker-registry'),
    'docker-registry',
    progress,
    async () => {
      if (registryImageSpec(config)) return;
      const version = await new PrivateApt(config, progress).unpack('docker-registry', 'trixie', dir, signal);
      writeFileSync(path.join(dir, 'version'), version);
    },
    signal,
  );
  return ensureImage(config, registryImageSpec(config)!, progress, { signal });
}
