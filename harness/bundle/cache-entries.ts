// The cache directories an offline bundle carries are input from elsewhere: each must be one of the
// lab's own cache directories (a kind's directory and one plain name under it), so that no entry can
// replace the whole cache, a whole kind, or anything outside; and the Buildx binaries among them go back
// through the release pins where a pin exists.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { BUILDX_ARCHES } from '../buildx/arch.ts';
import { cacheKeyOf } from '../buildx/provision.ts';
import { loadPins, pinFor, type ReleasePins } from '../buildx/release-pins.ts';
import { ALLOW_UNPINNED_SETTING } from '../buildx/release-download.ts';

/** One plain name: no `.`, `..`, hidden or temporary names, no separators. */
const NAME = '[A-Za-z0-9][A-Za-z0-9._+-]{0,127}';

/** The shapes of the directories bundle export writes (bundle/command.ts), each under its kind's directory. */
const CACHE_KINDS: { shape: string; re: RegExp }[] = [
  { shape: 'buildx/linux-<arch>/<version>', re: new RegExp(`^buildx/linux-(${BUILDX_ARCHES.join('|')})/${NAME}$`) },
  { shape: 'engine/parts/<part>', re: new RegExp(`^engine/parts/${NAME}$`) },
  { shape: 'engine/<version>', re: new RegExp(`^engine/(?!parts$)${NAME}$`) },
  { shape: 'buildkit/<version>', re: new RegExp(`^buildkit/${NAME}$`) },
  // export writes only the registry binary's directory: nothing else may land among the tools the lab runs
  { shape: 'tools/docker-registry-<suite>', re: /^tools\/docker-registry-[a-z]{2,20}$/ },
];

/** Why a bundle's cache entry may not be placed under `cacheDir`, or undefined; pure. */
export function cacheEntryProblem(entry: string, cacheDir: string): string | undefined {
  const shown = JSON.stringify(entry.slice(0, 200));
  if (!CACHE_KINDS.some((k) => k.re.test(entry))) return `cache entry ${shown} is not one of the lab's cache directories (${CACHE_KINDS.map((k) => k.shape).join(', ')})`;
  // The shapes already exclude it; resolving says the same in terms of the file system.
  const kindDir = path.resolve(cacheDir, entry.split('/')[0]!);
  const rel = path.relative(kindDir, path.resolve(cacheDir, entry));
  if (!rel || rel.startsWith('..') || path.isAbsolute(rel)) return `cache entry ${shown} leaves its directory ${kindDir}`;
  return undefined;
}

const buildxMetaSchema = z.object({
  // a build from Git between releases names itself as git describe does: v0.20.1-45-g3f82aadc1d2e
  version: z.string().regex(/^v\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/),
  origin: z.enum(['release', 'go', 'debian', 'git']),
  git: z.object({ commit: z.string().regex(/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/) }).optional(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  arch: z.enum(BUILDX_ARCHES as [string, ...string[]]),
});

/** `pinned`: an independent release pin vouches for the binary, not only the bundle. */
export type BuildxEntryCheck = { ok: string; pinned: boolean } | { refused: string };

/**
 * Checks a Buildx cache entry unpacked at `dir` (entry `buildx/linux-<arch>/<key>`) against the release
 * pins. The bundle's own sha256s (bundle.json, meta.json) only prove that the bundle is self-consistent:
 * whoever made it wrote them too. A pin comes from sources independent of the bundle and of the download
 * server, so a binary that says it is a release download must match its pin, as a download must
 * (release-download.ts; BUILDX_LAB_ALLOW_UNPINNED=1 accepts a version with no pin). A pin is of the
 * release asset, so it cannot vouch for a binary built from the Go module proxy or Debian's package on
 * the exporting machine: those are accepted on the bundle's word, and `ok` says so.
 */
export function checkBuildxEntry(entry: string, dir: string, opts: { allowUnpinned: boolean; pins?: ReleasePins }): BuildxEntryCheck {
  let meta: z.infer<typeof buildxMetaSchema>;
  let bytes: Buffer;
  try {
    meta = buildxMetaSchema.parse(JSON.parse(readFileSync(path.join(dir, 'meta.json'), 'utf8')));
    bytes = readFileSync(path.join(dir, 'docker-buildx'));
  } catch (e) {
    const issue = e instanceof z.ZodError ? e.issues[0] : undefined;
    return {
      refused: `${entry}: its meta.json or docker-buildx is missing or invalid (${issue ? `${issue.path.join('.')}: ${issue.message}` : (e as Error).message.split('\n')[0]})`,
    };
  }
  const [, archDir, key] = entry.split('/');
  if (meta.origin === 'git' && !meta.git) return { refused: `${entry}: its meta.json says Buildx ${meta.version} was built from Git, but names no commit` };
  const place = cacheKeyOf(meta, meta.origin);
  if (archDir !== `linux-${meta.arch}` || key !== place) {
    return {
      refused: `${entry}: its meta.json says Buildx ${meta.version} for ${meta.arch} from ${meta.origin}, which belongs in buildx/linux-${meta.arch}/${place}`,
    };
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== meta.sha256) return { refused: `${entry}: docker-buildx has sha256 ${sha256}, its meta.json says ${meta.sha256}` };
  if (meta.origin !== 'release')
    return {
      ok: `${entry}: built from ${{ go: 'the Go module proxy', debian: "Debian's package", git: `commit ${meta.git?.commit} of a Git repository` }[meta.origin]} on the exporting machine; no release pin applies, so it rests on the bundle`,
      pinned: false,
    };
  const pin = pinFor(opts.pins ?? loadPins(), meta.version, meta.arch as (typeof BUILDX_ARCHES)[number]);
  if (pin) {
    if (pin.sha256 !== sha256)
      return {
        refused: `${entry}: docker-buildx has sha256 ${sha256}, but the release pin of Buildx ${meta.version} linux-${meta.arch} is ${pin.sha256} (from ${pin.sources.join(', ')}): not the released binary`,
      };
    return { ok: `${entry}: matches its release pin`, pinned: true };
  }
  if (!opts.allowUnpinned)
    return {
      refused: `${entry}: a release download of Buildx ${meta.version} linux-${meta.arch}, which no release pin covers; set ${ALLOW_UNPINNED_SETTING} to accept it on the bundle's word, or export the bundle without it`,
    };
  return { ok: `${entry}: no release pin covers it; accepted on the bundle's word (${ALLOW_UNPINNED_SETTING})`, pinned: false };
}
