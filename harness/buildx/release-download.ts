// The "official release download" source: fetch buildx-<v>.linux-<arch> and checksums.txt from
// the GitHub releases (or a mirror), verify sha256, and leave a 0755 temp file in destDir for the
// installer to rename atomically into the cache. A bad download never survives on disk.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { ProvisionError } from '../errors.ts';
import type { BuildxArch } from './arch.ts';
import { normalizeVersion } from './spec.ts';

export const DEFAULT_RELEASES_URL = 'https://github.com/docker/buildx/releases/download';
const MIRROR_HINT = 'a mirror can be set with BUILDX_LAB_RELEASES_URL';

export interface DownloadOptions {
  /** default: the GitHub releases (the lab passes LabConfig.releasesBaseUrl, from BUILDX_LAB_RELEASES_URL) */
  baseUrl?: string;
  /** must be on the same filesystem as the cache, so the installer's rename is atomic */
  destDir: string;
  fetchImpl?: typeof fetch;
  /** whole-download timeout per request; default 5 minutes */
  timeoutMs?: number;
}

export interface DownloadedRelease {
  /** temp file in destDir, mode 0755; the caller renames or deletes it */
  path: string;
  sha256: string;
  size: number;
  url: string;
}

/** `<sha256> [*]<filename>` per line (sha256sum text or binary mode) -> filename -> sha256. */
export function parseChecksums(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const m = /^([0-9a-fA-F]{64})\s+\*?(\S.*?)\s*$/.exec(line);
    if (m) out.set(m[2]!, m[1]!.toLowerCase());
  }
  return out;
}

export function releaseAssetName(version: string, arch: BuildxArch): string {
  return `buildx-${normalizeVersion(version)}.linux-${arch}`;
}

async function get(url: string, fetchImpl: typeof fetch, timeoutMs: number): Promise<Response> {
  let res: Response;
  try {
    res = await fetchImpl(url, { redirect: 'follow', signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const cause = err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err);
    throw new ProvisionError(`cannot download ${url}: ${cause}`, { cause: err });
  }
  if (res.status === 404) {
    throw new ProvisionError(`not found: ${url} (is the version released for this arch? ${MIRROR_HINT})`);
  }
  if (!res.ok || !res.body) {
    throw new ProvisionError(`cannot download ${url}: HTTP ${res.status} ${res.statusText} (${MIRROR_HINT})`);
  }
  return res;
}

export async function downloadRelease(
  version: string,
  arch: BuildxArch,
  opts: DownloadOptions,
): Promise<DownloadedRelease> {
  const v = normalizeVersion(version);
  const base = (opts.baseUrl ?? DEFAULT_RELEASES_URL).replace(/\/+$/, '');
  const fetchImpl = opts.fetchImpl ?? fetch;
  const timeoutMs = opts.timeoutMs ?? 300_000;
  const name = releaseAssetName(v, arch);
  const url = `${base}/${v}/${name}`;
  const sumsUrl = `${base}/${v}/checksums.txt`;

  // Checksums first: it is small, and a missing release fails before any large transfer.
  const sums = parseChecksums(await (await get(sumsUrl, fetchImpl, timeoutMs)).text());
  const expected = sums.get(name);
  if (!expected) throw new ProvisionError(`${sumsUrl} lists no checksum for ${name}`);

  const path = join(opts.destDir, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
  const hash = createHash('sha256');
  let size = 0;
  try {
    const res = await get(url, fetchImpl, timeoutMs);
    const count = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    try {
      await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), count, createWriteStream(path, { mode: 0o755 }));
    } catch (err) {
      throw new ProvisionError(`cannot download ${url}: ${(err as Error).message}`, { cause: err });
    }
    const actual = hash.digest('hex');
    if (actual !== expected) {
      throw new ProvisionError(`checksum mismatch for ${url}: expected ${expected}, got ${actual}; the file was deleted`);
    }
    // createWriteStream's mode is masked by the umask; the binary must be executable regardless.
    await chmod(path, 0o755);
    return { path, sha256: actual, size, url };
  } catch (err) {
    await rm(path, { force: true });
    throw err;
  }
}
