// Copies a lab image from the engine that provisioning built it on to another engine (the lab's rootless
// engine, where untrusted cells run): `docker save` piped into `docker load`, once per image ID. The
// rootless engine cannot build or pull these images itself: it has no network, and provisioning's caches
// live on the rootful engine.
import { execa } from 'execa';
import { childEnv, type LabConfig } from '../config.ts';
import { HarnessError } from '../errors.ts';
import { lastLines } from '../text.ts';
import { imageId } from './images.ts';

/** Makes `ref` on `to` the same image as on `from`; 'present' when it already was. */
export async function copyImage(from: LabConfig, to: LabConfig, ref: string): Promise<'present' | 'copied'> {
  const want = await imageId(from, ref);
  if (!want) throw new HarnessError(`cannot copy ${ref} to ${to.dockerHost}: the engine at ${from.dockerHost} does not have it`);
  if ((await imageId(to, ref)) === want) return 'present';
  // The image streams through; only stderr is kept (execa would otherwise buffer the tar, and stop at maxBuffer).
  const save = execa('docker', ['save', ref], { env: childEnv(from), extendEnv: false, reject: false, timeout: 20 * 60_000, buffer: { stdout: false } });
  const load = save.pipe('docker', ['load', '--quiet'], { env: childEnv(to), extendEnv: false, reject: false, timeout: 20 * 60_000 });
  const [saved, loaded] = await Promise.all([save, load]);
  if (saved.exitCode !== 0 || loaded.exitCode !== 0) {
    throw new HarnessError(`copying ${ref} from ${from.dockerHost} to ${to.dockerHost} failed (save exit ${saved.exitCode}, load exit ${loaded.exitCode})`, {
      cause: new Error(lastLines(`${saved.stderr}\n${loaded.stderr}`, 10)),
    });
  }
  const got = await imageId(to, ref);
  if (got !== want) throw new HarnessError(`copied ${ref} to ${to.dockerHost}, but it holds ${got ?? 'nothing'} there, not ${want}`);
  return 'copied';
}
