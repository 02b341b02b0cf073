// Rebuilds harness/buildx/release-pins.json: the sha256 of every Buildx linux release asset that an
// independent source pinned anywhere in its git history. The download path checks binaries against
// these pins (release-download.ts); checksums.txt, from the download server itself, is only a fallback.
//
//   npx tsx harness/buildx/update-pins.ts OWNER/NAME=GIT_DIR [OWNER/NAME=GIT_DIR...]
//   e.g. npx tsx harness/buildx/update-pins.ts \
//          docker-library/docker=/path/to/docker-library-docker \
//          cashapp/hermit-packages=/path/to/hermit-packages
//
// GIT_DIR is a local clone or a bare snapshot of that repository (nothing is fetched; run `git fetch`
// there first for newer pins). Known sources and the files read in every commit of every ref:
//   docker-library/docker     versions.json and the generated Dockerfiles of the docker:*-cli/dind images
//   cashapp/hermit-packages   docker-buildx.hcl (Hermit's package manifest)
// A pin keeps the earliest commit per source that carried it. An asset whose sources (or one source
// over time) give different values is not pinned; it is listed under "disagreements" and printed.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import semver from 'semver';
import { PINS_FILE, type PinDisagreement, type ReleasePin, type ReleasePins } from './release-pins.ts';

export const KNOWN_SOURCES: Readonly<Record<string, { url: string; paths: readonly string[] }>> = {
  'docker-library/docker': { url: 'https://github.com/docker-library/docker', paths: ['versions.json', '*Dockerfile*'] },
  'cashapp/hermit-packages': { url: 'https://github.com/cashapp/hermit-packages', paths: ['docker-buildx.hcl'] },
};

/** A linux release asset name, anywhere in a line: buildx-v0.21.0-rc1.linux-arm-v7. */
const ASSET = /buildx-(v\d+\.\d+\.\d+(?:-[0-9A-Za-z]+(?:\.[0-9A-Za-z]+)*)?)\.(linux-[a-z0-9]+(?:-v\d+)?)(?![\w.-])/g;
const SHA256 = /(?<![0-9A-Fa-f])[0-9a-fA-F]{64}(?![0-9A-Fa-f])/g;
/** How far below an asset name its sha256 may stand (Dockerfile `url=` then `sha256=`, JSON "file" then "sha256"). */
const LOOKAHEAD_LINES = 2;

export interface AssetHash {
  version: string;
  platform: string;
  sha256: string;
}

/**
 * The (asset, sha256) pairs a text states, whatever its syntax. A line holding one asset name and one
 * hash pairs them (checksums.txt, Hermit's `"url": "sha"`). A line holding only an asset name takes the
 * hash of one of the next two lines, unless another asset name comes first. Lines with several names or
 * several hashes are ambiguous and skipped. Pure.
 */
export function assetHashes(text: string): AssetHash[] {
  const lines = text.split(/\r?\n/);
  const out: AssetHash[] = [];
  const names = (line: string) => [...line.matchAll(ASSET)];
  const hashes = (line: string) => [...line.matchAll(SHA256)].map((m) => m[0].toLowerCase());
  for (let i = 0; i < lines.length; i++) {
    const found = names(lines[i]!);
    if (found.length !== 1) continue;
    const [, version, platform] = found[0]!;
    const pair = (sha256: string) => out.push({ version: version!, platform: platform!, sha256 });
    const own = hashes(lines[i]!);
    if (own.length === 1) pair(own[0]!);
    if (own.length > 0) continue;
    for (let j = i + 1; j <= i + LOOKAHEAD_LINES && j < lines.length; j++) {
      if (names(lines[j]!).length > 0) break;
      const below = hashes(lines[j]!);
      if (below.length === 1) pair(below[0]!);
      if (below.length > 0) break;
    }
  }
  return out;
}

export interface Observation extends AssetHash {
  /** owner/name@commit:path */
  source: string;
  repo: string;
  /** commit time, seconds: the earliest commit per repo is the one recorded */
  time: number;
}

/** Pins where every observation agrees, and the assets where they do not. Pure. */
export function aggregate(observations: readonly Observation[]): { pins: ReleasePins['pins']; disagreements: PinDisagreement[] } {
  // version -> platform -> sha256 -> repo -> earliest observation
  const byAsset = new Map<string, Map<string, Map<string, Observation>>>();
  for (const o of observations) {
    const key = `${o.version} ${o.platform}`;
    const bySha = byAsset.get(key) ?? new Map<string, Map<string, Observation>>();
    byAsset.set(key, bySha);
    const byRepo = bySha.get(o.sha256) ?? new Map<string, Observation>();
    bySha.set(o.sha256, byRepo);
    const prev = byRepo.get(o.repo);
    if (!prev || o.time < prev.time || (o.time === prev.time && o.source < prev.source)) byRepo.set(o.repo, o);
  }
  const pins: ReleasePins['pins'] = {};
  const disagreements: PinDisagreement[] = [];
  const keys = [...byAsset.keys()].sort((a, b) => {
    const [va, pa] = a.split(' ');
    const [vb, pb] = b.split(' ');
    return semver.compare(va!, vb!) || pa!.localeCompare(pb!);
  });
  for (const key of keys) {
    const [version, platform] = key.split(' ') as [string, string];
    const bySha = byAsset.get(key)!;
    const sourcesOf = (byRepo: Map<string, Observation>) => [...byRepo.keys()].sort().map((r) => byRepo.get(r)!.source);
    if (bySha.size > 1) {
      const values = Object.fromEntries([...bySha].sort(([a], [b]) => a.localeCompare(b)).map(([sha, byRepo]) => [sha, sourcesOf(byRepo)]));
      disagreements.push({ version, platform, values });
      continue;
    }
    const [[sha256, byRepo]] = [...bySha] as [[string, Map<string, Observation>]];
    pins[version] ??= {};
    pins[version][platform] = { sha256, sources: sourcesOf(byRepo) } satisfies ReleasePin;
  }
  return { pins, disagreements };
}

const git = (dir: string, args: string[], input?: string): Buffer => execFileSync('git', ['-C', dir, ...args], { input, maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'inherit'] });

/** Every version of the source's files in every commit of every ref, read in one `git cat-file --batch`. */
export function observe(repo: string, dir: string, paths: readonly string[]): Observation[] {
  const log = git(dir, ['log', '--all', '--no-renames', '--format=%x01%H %ct', '--name-only', '--', ...paths]).toString('utf8');
  const wanted: { commit: string; time: number; path: string }[] = [];
  for (const entry of log.split('\x01').slice(1)) {
    const [head, ...files] = entry.split('\n').filter(Boolean);
    const [commit, time] = head!.split(' ');
    for (const path of files) wanted.push({ commit: commit!, time: Number(time), path });
  }
  if (!wanted.length) return [];
  const out = git(dir, ['cat-file', '--batch'], wanted.map((w) => `${w.commit}:${w.path}\n`).join(''));
  const observations: Observation[] = [];
  let at = 0;
  for (const w of wanted) {
    const eol = out.indexOf(0x0a, at);
    const header = out.subarray(at, eol).toString('utf8');
    at = eol + 1;
    // A commit that deleted the path answers "<commit>:<path> missing".
    if (header.endsWith(' missing')) continue;
    const size = Number(header.split(' ')[2]);
    const text = out.subarray(at, at + size).toString('utf8');
    at += size + 1;
    const source = `${repo}@${w.commit}:${w.path}`;
    for (const h of assetHashes(text)) observations.push({ ...h, source, repo, time: w.time });
  }
  return observations;
}

/** The file's text: one asset per line keeps it reviewable in a diff. Pure. */
export function renderPins(index: ReleasePins): string {
  const { pins, ...rest } = index;
  const head = JSON.stringify({ ...rest, pins: {} }, null, 2).replace(/\n {2}"pins": \{\}/, '\n  "pins": @PINS@');
  const versions = Object.entries(pins).map(([v, platforms]) => {
    const lines = Object.entries(platforms).map(([p, pin]) => `      ${JSON.stringify(p)}: ${JSON.stringify(pin)}`);
    return `    ${JSON.stringify(v)}: {\n${lines.join(',\n')}\n    }`;
  });
  return `${head.replace('@PINS@', `{\n${versions.join(',\n')}\n  }`)}\n`;
}

export function updatePins(args: readonly string[]): { index: ReleasePins; observations: number } {
  if (!args.length) throw new Error(`usage: update-pins.ts OWNER/NAME=GIT_DIR...; known sources: ${Object.keys(KNOWN_SOURCES).join(', ')}`);
  const observations: Observation[] = [];
  const sources: ReleasePins['sources'] = {};
  for (const arg of args) {
    const [repo, dir] = arg.split(/=(.*)/s) as [string, string | undefined];
    const known = KNOWN_SOURCES[repo];
    if (!dir || !known) throw new Error(`'${arg}': expected OWNER/NAME=GIT_DIR with a known source (${Object.keys(KNOWN_SOURCES).join(', ')})`);
    const head = git(dir, ['rev-parse', 'HEAD']).toString('utf8').trim();
    sources[repo] = { url: known.url, head, paths: [...known.paths] };
    const seen = observe(repo, dir, known.paths);
    if (!seen.length) throw new Error(`${dir}: no Buildx asset hashes in the history of ${known.paths.join(', ')}; is it a snapshot of ${repo}?`);
    process.stderr.write(`${repo} at ${head.slice(0, 12)}: ${seen.length} asset hashes read\n`);
    observations.push(...seen);
  }
  const { pins, disagreements } = aggregate(observations);
  return {
    observations: observations.length,
    index: {
      about:
        'sha256 of Buildx linux release assets from sources independent of the download; source = owner/name@commit:path (earliest commit per source). Regenerate with harness/buildx/update-pins.ts.',
      generatedAt: new Date().toISOString(),
      sources,
      pins,
      disagreements,
    },
  };
}

function main(args: readonly string[]): void {
  const { index } = updatePins(args);
  writeFileSync(PINS_FILE, renderPins(index));
  const versions = Object.keys(index.pins);
  const assets = versions.reduce((n, v) => n + Object.keys(index.pins[v]!).length, 0);
  process.stdout.write(`wrote ${PINS_FILE}: ${assets} assets of ${versions.length} versions (${versions[0]} .. ${versions.at(-1)})\n`);
  for (const d of index.disagreements) {
    process.stdout.write(
      `DISAGREEMENT ${d.version} ${d.platform}: ${Object.entries(d.values)
        .map(([sha, s]) => `${sha} from ${s.join(', ')}`)
        .join(' vs ')}\n`,
    );
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`update-pins: ${(err as Error).message}\n`);
    process.exit(2);
  }
}
