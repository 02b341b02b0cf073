// Rebuilds harness/buildx/releases.json, the list of known Buildx releases, from the Go module proxy.
//
//   npx tsx harness/buildx/update-releases.ts
//
// Honours the first URL of $GOPROXY (default https://proxy.golang.org). The proxy's @v/list is
// partial, so the candidates are: that list, every version already in releases.json, @latest, and
// for each minor from v0.10 up to the newest seen (plus any newer minor that answers) the patches
// .0-.5 and v0.N.0-rc1..rc3, each probed in order and stopped at the first one the proxy lacks.
// Each version's .mod (existence + `go` directive) and .info (tag time, sometimes tag commit) are
// fetched, 4 requests at a time, at most MAX_REQUESTS in all. Fields the proxy no longer reports
// are kept from the previous file. Debian aliases are declared below; edit them when Debian moves.
// It then lists the releases that release-pins.json does not pin: their downloads are refused unless
// BUILDX_LAB_ALLOW_UNPINNED=1, so refresh the pins too (update-pins.ts).
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import semver from 'semver';
import { BUILDX_ARCHES } from './arch.ts';
import { loadPins, pinFor } from './release-pins.ts';
import type { Release, ReleaseIndex } from './spec.ts';

const MODULE = 'github.com/docker/buildx';
const FIRST_MINOR = 10;
const MAX_PATCH = 5;
const RCS = 3;
const CONCURRENCY = 4;
const MAX_REQUESTS = 1200;
/** Upstream versions packaged by Debian (docker-buildx source package). */
export const DEBIAN_ALIASES: Readonly<Record<string, string>> = { 'debian-trixie': '0.13.1', 'debian-sid': '0.29.1' };

const FILE = new URL('./releases.json', import.meta.url);

export function proxyBase(goproxy = process.env.GOPROXY): string {
  // GOPROXY is a list separated by ',' or '|'; 'direct' and 'off' are not URLs.
  const first = (goproxy ?? '')
    .split(/[,|]/)
    .map((s) => s.trim())
    .find((s) => /^https?:\/\//.test(s));
  return (first ?? 'https://proxy.golang.org').replace(/\/+$/, '');
}

/** The `go` directive of a go.mod, e.g. "1.22.0". */
export function goDirective(mod: string): string | undefined {
  return /^go\s+(\d+\.\d+(?:\.\d+)?)\s*$/m.exec(mod)?.[1];
}

type Fetched = { status: number; body: string };

class Client {
  requests = 0;
  private active = 0;
  private waiting: (() => void)[] = [];
  constructor(private readonly base: string) {}

  async get(path: string): Promise<Fetched> {
    if (++this.requests > MAX_REQUESTS) throw new Error(`more than ${MAX_REQUESTS} requests to ${this.base}; aborting`);
    while (this.active >= CONCURRENCY) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          const res = await fetch(`${this.base}/${MODULE}/${path}`, { signal: AbortSignal.timeout(30_000) });
          const body = await res.text();
          // 5xx is the proxy's trouble, worth one more try; anything else is an answer.
          if (res.status >= 500 && attempt < 3) continue;
          return { status: res.status, body };
        } catch (err) {
          if (attempt >= 3) throw new Error(`GET ${this.base}/${MODULE}/${path}: ${(err as Error).message}`);
        }
      }
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

/** A version the proxy does not serve: 404/410 from proxy.golang.org, 403 from some mirrors. */
const absent = (status: number) => status === 404 || status === 410 || status === 403;

/** Fetches .mod then .info; undefined when the proxy does not have the version. */
async function probe(client: Client, version: string): Promise<Release | undefined> {
  const mod = await client.get(`@v/${version}.mod`);
  if (absent(mod.status)) return undefined;
  if (mod.status !== 200) throw new Error(`@v/${version}.mod: HTTP ${mod.status}: ${mod.body.slice(0, 200)}`);
  const release: Release = { version, prerelease: semver.prerelease(version) !== null };
  const goVersion = goDirective(mod.body);
  if (goVersion) release.goVersion = goVersion;
  // Some proxies serve .mod but not .info for a version; the version still exists.
  const info = await client.get(`@v/${version}.info`);
  if (info.status === 200) {
    const j = JSON.parse(info.body) as { Time?: string; Origin?: { Hash?: string } };
    if (j.Time) release.date = j.Time;
    if (j.Origin?.Hash) release.commit = j.Origin.Hash;
  }
  return release;
}

/** Probes candidates in order, stopping at the first one the proxy lacks. */
async function probeSeries(client: Client, versions: string[], found: Map<string, Release>): Promise<boolean> {
  let any = false;
  for (const v of versions) {
    const r = found.get(v) ?? (await probe(client, v));
    if (!r) break;
    found.set(v, r);
    any = true;
  }
  return any;
}

const minorOf = (v: string) => semver.minor(v);
const patches = (m: number) => Array.from({ length: MAX_PATCH + 1 }, (_, p) => `v0.${m}.${p}`);
const rcs = (m: number) => Array.from({ length: RCS }, (_, i) => `v0.${m}.0-rc${i + 1}`);

function readPrevious(): ReleaseIndex | undefined {
  try {
    return JSON.parse(readFileSync(FILE, 'utf8')) as ReleaseIndex;
  } catch {
    return undefined;
  }
}

/** Keeps module versions of major 0 that are real tags (no +incompatible, no pseudo-versions). */
function isTag(v: string): boolean {
  return semver.valid(v) !== null && semver.major(v) === 0 && !v.includes('+') && !/-0\.\d{14}-/.test(v);
}

export async function updateReleases(): Promise<ReleaseIndex> {
  const base = proxyBase();
  const client = new Client(base);
  const previous = readPrevious();
  const prevByVersion = new Map((previous?.releases ?? []).map((r) => [r.version, r]));

  const list = await client.get('@v/list');
  if (list.status !== 200) throw new Error(`${base}/${MODULE}/@v/list: HTTP ${list.status}`);
  const latest = await client.get('@latest');
  const latestVersion = latest.status === 200 ? (JSON.parse(latest.body) as { Version?: string }).Version : undefined;
  const seeds = new Set([...list.body.split('\n'), ...prevByVersion.keys(), latestVersion ?? ''].map((s) => s.trim()).filter(isTag));

  const found = new Map<string, Release>();
  // Seeds exist (or existed); fetch them all so dates and go versions are current.
  await Promise.all(
    [...seeds].map(async (v) => {
      const r = await probe(client, v);
      if (r) found.set(v, r);
    }),
  );

  const newestMinor = Math.max(FIRST_MINOR, ...[...seeds].map(minorOf));
  const minors = Array.from({ length: newestMinor - FIRST_MINOR + 1 }, (_, i) => FIRST_MINOR + i);
  await Promise.all(minors.map((m) => Promise.all([probeSeries(client, patches(m), found), probeSeries(client, rcs(m), found)])));
  // The list may predate a minor that is already tagged: keep going up while minors answer.
  for (let m = newestMinor + 1; ; m++) {
    const [p, r] = await Promise.all([probeSeries(client, patches(m), found), probeSeries(client, rcs(m), found)]);
    if (!p && !r) break;
  }

  // A version the proxy stopped answering for stays listed: it was released, and old data beats none.
  for (const [v, old] of prevByVersion) if (!found.has(v)) found.set(v, old);
  const releases = [...found.values()]
    .map((r) => ({ ...prevByVersion.get(r.version), ...r }))
    .map(({ version, commit, date, goVersion, prerelease }) => ({
      version,
      ...(commit ? { commit } : {}),
      ...(date ? { date } : {}),
      ...(goVersion ? { goVersion } : {}),
      prerelease,
    }))
    .sort((a, b) => semver.compare(a.version, b.version));

  process.stderr.write(`${client.requests} requests to ${base}\n`);
  return {
    generatedAt: new Date().toISOString(),
    source: `${base}/${MODULE}`,
    releases,
    aliases: { ...(previous?.aliases ?? {}), ...DEBIAN_ALIASES },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const index = await updateReleases();
  writeFileSync(FILE, `${JSON.stringify(index, null, 2)}\n`);
  const newest = index.releases.at(-1)?.version;
  process.stdout.write(`wrote ${fileURLToPath(FILE)}: ${index.releases.length} releases, newest ${newest}\n`);
  const pins = loadPins();
  const unpinned = index.releases.filter((r) => !r.prerelease && BUILDX_ARCHES.some((a) => !pinFor(pins, r.version, a))).map((r) => r.version);
  if (unpinned.length) {
    process.stdout.write(`releases without a pin for every arch (downloads refused unless BUILDX_LAB_ALLOW_UNPINNED=1): ${unpinned.join(', ')}\n`);
    process.stdout.write('refresh the pins with harness/buildx/update-pins.ts\n');
  }
}
