// The "official release download" source: fetch buildx-<v>.linux-<arch> from the GitHub releases
// (or a mirror), verify its sha256, and leave a 0755 temp file in destDir for the installer to rename
// atomically into the cache. A bad download never survives on disk.
//
// The expected sha256 is the pin from release-pins.json, taken from sources independent of the download
// server. checksums.txt comes from that same server, so it only catches corruption: it is used only for
// a version with no pin, and only when the caller opts in (allowUnpinned, BUILDX_LAB_ALLOW_UNPINNED=1).
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { publicUrl, scrubUrl } from '../config.ts';
import { ProvisionError } from '../errors.ts';
import type { BuildxArch } from './arch.ts';
import { disagreementFor, loadPins, PINS_FILE, pinFor, type ReleasePins } from './release-pins.ts';
import { normalizeVersion } from './spec.ts';

const MIRROR_HINT = 'a mirror can be set with BUILDX_LAB_RELEASES_URL';
/** The lab setting that lets a version with no pin be checked against checksums.txt alone. */
export const ALLOW_UNPINNED_SETTING = 'BUILDX_LAB_ALLOW_UNPINNED=1';

export interface DownloadOptions {
  /** where releases are downloaded from (the config's releasesBaseUrl: GitHub, or BUILDX_LAB_RELEASES_URL) */
  baseUrl: string;
  /** must be on the same filesystem as the cache, so the installer's rename is atomic */
  destDir: string;
  fetchImpl?: typeof fetch;
  /** whole-download timeout per request; default 5 minutes */
  timeoutMs?: number;
  /** independent sha256 pins; default: harness/buildx/release-pins.json */
  pins?: ReleasePins;
  /** accept a version with no pin, checked against checksums.txt only (LabConfig, from BUILDX_LAB_ALLOW_UNPINNED=1) */
  allowUnpinned?: boolean;
}

export interface DownloadedRelease {
  /** temp file in destDir, mode 0755; the caller renames or deletes it */
  path: string;
  sha256: string;
  size: number;
  /** where it came from, without credentials (publicUrl) */
  url: string;
  /** true: matched an independent pin; false: matched only the server's own checksums.txt (opted in) */
  pinned: boolean;
  /** where the expected sha256 came from: the pin's sources, or the checksums.txt URL */
  checkedAgainst: string[];
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

/** The request for `url`: the URL without its userinfo, which becomes a Basic Authorization header
 * (fetch refuses a URL with credentials). The mirror's credentials live only here. */
function requestFor(url: string): { url: string; headers: Record<string, string> } {
  const u = new URL(url);
  if (!u.username && !u.password) return { url, headers: {} };
  const auth = `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`;
  u.username = '';
  u.password = '';
  return { url: u.toString(), headers: { authorization: `Basic ${Buffer.from(auth).toString('base64')}` } };
}

/** `base` with `segments` added to its path; its query (a mirror's token) and credentials stay. */
function under(base: string, ...segments: string[]): string {
  const u = new URL(base);
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/${segments.join('/')}`;
  return u.toString();
}

// Messages and the returned record name a URL by its public form (config.ts publicUrl): a mirror's
// credentials must not reach errors, provision-status.json or meta.json.
async function get(url: string, fetchImpl: typeof fetch, timeoutMs: number): Promise<Response> {
  const shown = publicUrl(url);
  let res: Response;
  try {
    const req = requestFor(url);
    res = await fetchImpl(req.url, { redirect: 'follow', headers: req.headers, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const cause = err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err);
    throw new ProvisionError(`cannot download ${shown}: ${scrubUrl(cause, url)}`, { cause: err });
  }
  if (res.status === 404) {
    throw new ProvisionError(`not found: ${shown} (is the version released for this arch? ${MIRROR_HINT})`);
  }
  if (!res.ok || !res.body) {
    throw new ProvisionError(`cannot download ${shown}: HTTP ${res.status} ${res.statusText} (${MIRROR_HINT})`);
  }
  return res;
}

/** The sha256 a download must have, and where that value came from; throws before any transfer when refused. */
async function expectedSha256(
  v: string,
  arch: BuildxArch,
  opts: Pick<DownloadOptions, 'pins' | 'allowUnpinned'>,
  sumsUrl: string,
  readText: (url: string) => Promise<string>,
): Promise<{ sha256: string; pinned: boolean; from: string[] }> {
  const name = releaseAssetName(v, arch);
  const pins = opts.pins ?? loadPins();
  const pin = pinFor(pins, v, arch);
  if (pin) return { sha256: pin.sha256, pinned: true, from: pin.sources };
  if (!opts.allowUnpinned) {
    const d = disagreementFor(pins, v, arch);
    const why = d
      ? `its pin sources disagree (${Object.entries(d.values)
          .map(([sha, src]) => `${sha} from ${src.join(', ')}`)
          .join(' vs ')})`
      : `no independent source pins it in ${PINS_FILE}`;
    throw new ProvisionError(
      `release download of ${name} not available: ${why}, and checksums.txt from the download server only catches corruption. ` +
        `Fix: regenerate the pins (harness/buildx/update-pins.ts), or set ${ALLOW_UNPINNED_SETTING} to accept checksums.txt alone`,
    );
  }
  // Checksums first: it is small, and a missing release fails before any large transfer.
  const sums = parseChecksums(await readText(sumsUrl));
  const sha256 = sums.get(name);
  if (!sha256) throw new ProvisionError(`${publicUrl(sumsUrl)} lists no checksum for ${name}`);
  return { sha256, pinned: false, from: [publicUrl(sumsUrl)] };
}

export async function downloadRelease(version: string, arch: BuildxArch, opts: DownloadOptions): Promise<DownloadedRelease> {
  const v = normalizeVersion(version);
  const fetchImpl = opts.fetchImpl ?? fetch;
  const timeoutMs = opts.timeoutMs ?? 300_000;
  const name = releaseAssetName(v, arch);
  const url = under(opts.baseUrl, v, name);
  const readText = async (u: string) => (await get(u, fetchImpl, timeoutMs)).text();
  const expected = await expectedSha256(v, arch, opts, under(opts.baseUrl, v, 'checksums.txt'), readText);

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
      throw new ProvisionError(`cannot download ${publicUrl(url)}: ${(err as Error).message}`, { cause: err });
    }
    const actual = hash.digest('hex');
    if (actual !== expected.sha256) {
      const what = expected.pinned ? `pinned by ${expected.from.join(', ')}` : `from ${expected.from[0]}`;
      throw new ProvisionError(`checksum mismatch for ${publicUrl(url)}: expected ${expected.sha256} (${what}), got ${actual}; the file was deleted`);
    }
    // createWriteStream's mode is masked by the umask; the binary must be executable regardless.
    await chmod(path, 0o755);
    return { path, sha256: actual, size, url: publicUrl(url), pinned: expected.pinned, checkedAgainst: expected.from };
  } catch (err) {
    await rm(path, { force: true });
    throw err;
  }
}
