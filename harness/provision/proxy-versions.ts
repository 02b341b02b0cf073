// The released versions of a Go module as the Go module proxy knows them, for the generators of the lab's
// checked-in release lists (harness/buildx/update-releases.ts, harness/buildkit/update-releases.ts). Not
// used at run time. The proxy's @v/list is partial, so the candidates are: that list, the versions the
// previous file held, @latest, and for each minor from `firstMinor` up (plus any newer minor that
// answers) the patches .0..maxPatch and v0.N.0-rc1..rcN, each series probed in order and stopped at the
// first version the proxy lacks. Each version's .mod (existence + `go` directive) and .info (tag time,
// sometimes tag commit) are fetched, 4 requests at a time, at most MAX_REQUESTS in all.
import { readFileSync } from 'node:fs';
import semver from 'semver';

const CONCURRENCY = 4;
const MAX_REQUESTS = 1200;

export interface ProxyVersion {
  /** tag, always v-prefixed: "v0.21.1" */
  version: string;
  /** tag commit, when the module proxy reported it */
  commit?: string;
  /** the proxy's .info Time (RFC 3339), when it reported one */
  date?: string;
  /** `go` directive of the version's go.mod, e.g. "1.22.0" */
  goVersion?: string;
  prerelease: boolean;
}

export interface SeriesOptions {
  /** Go module path: github.com/docker/buildx */
  module: string;
  firstMinor: number;
  maxPatch: number;
  /** release candidates probed per minor (v0.N.0-rc1..rcN); 0 for none */
  rcs: number;
  /** versions known before (the previous file): probed again, and kept when the proxy no longer answers */
  previous: readonly ProxyVersion[];
}

/** The list a generator wrote last time, to start from (undefined when there is none, or it is unreadable). */
export function readPrevious<T>(file: URL): T | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

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

/** Keeps module versions of major 0 that are real tags (no +incompatible, no pseudo-versions of either form). */
export function isTag(v: string): boolean {
  return semver.valid(v) !== null && semver.major(v) === 0 && !v.includes('+') && !/[-.](?:0\.)?\d{14}-[0-9a-f]{12}$/.test(v);
}

type Fetched = { status: number; body: string };

class Client {
  requests = 0;
  private active = 0;
  private waiting: (() => void)[] = [];
  constructor(
    private readonly base: string,
    private readonly module: string,
  ) {}

  async get(path: string): Promise<Fetched> {
    if (++this.requests > MAX_REQUESTS) throw new Error(`more than ${MAX_REQUESTS} requests to ${this.base}; aborting`);
    while (this.active >= CONCURRENCY) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          const res = await fetch(`${this.base}/${this.module}/${path}`, { signal: AbortSignal.timeout(30_000) });
          const body = await res.text();
          // 5xx is the proxy's trouble, worth one more try; anything else is an answer.
          if (res.status >= 500 && attempt < 3) continue;
          return { status: res.status, body };
        } catch (err) {
          if (attempt >= 3) throw new Error(`GET ${this.base}/${this.module}/${path}: ${(err as Error).message}`);
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
async function probe(client: Client, version: string): Promise<ProxyVersion | undefined> {
  const mod = await client.get(`@v/${version}.mod`);
  if (absent(mod.status)) return undefined;
  if (mod.status !== 200) throw new Error(`@v/${version}.mod: HTTP ${mod.status}: ${mod.body.slice(0, 200)}`);
  const release: ProxyVersion = { version, prerelease: semver.prerelease(version) !== null };
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
async function probeSeries(client: Client, versions: string[], found: Map<string, ProxyVersion>): Promise<boolean> {
  let any = false;
  for (const v of versions) {
    const r = found.get(v) ?? (await probe(client, v));
    if (!r) break;
    found.set(v, r);
    any = true;
  }
  return any;
}

/** Every version of `o.module` the proxy answers for (and every previous one it no longer does), oldest first. */
export async function proxyVersions(o: SeriesOptions): Promise<{ source: string; versions: ProxyVersion[]; requests: number }> {
  const base = proxyBase();
  const client = new Client(base, o.module);
  const prevByVersion = new Map(o.previous.map((r) => [r.version, r]));
  const patches = (m: number) => Array.from({ length: o.maxPatch + 1 }, (_, p) => `v0.${m}.${p}`);
  const rcs = (m: number) => Array.from({ length: o.rcs }, (_, i) => `v0.${m}.0-rc${i + 1}`);

  const list = await client.get('@v/list');
  if (list.status !== 200) throw new Error(`${base}/${o.module}/@v/list: HTTP ${list.status}`);
  const latest = await client.get('@latest');
  const latestVersion = latest.status === 200 ? (JSON.parse(latest.body) as { Version?: string }).Version : undefined;
  const seeds = new Set(
    [...list.body.split('\n'), ...prevByVersion.keys(), latestVersion ?? '']
      .map((s) => s.trim())
      .filter(isTag)
      .filter((v) => o.rcs > 0 || semver.prerelease(v) === null),
  );

  const found = new Map<string, ProxyVersion>();
  // Seeds exist (or existed); fetch them all so dates and go versions are current.
  await Promise.all(
    [...seeds].map(async (v) => {
      const r = await probe(client, v);
      if (r) found.set(v, r);
    }),
  );

  const newestMinor = Math.max(o.firstMinor, ...[...seeds].map((v) => semver.minor(v)));
  const minors = Array.from({ length: newestMinor - o.firstMinor + 1 }, (_, i) => o.firstMinor + i);
  await Promise.all(minors.map((m) => Promise.all([probeSeries(client, patches(m), found), probeSeries(client, rcs(m), found)])));
  // The list may predate a minor that is already tagged: keep going up while minors answer.
  for (let m = newestMinor + 1; ; m++) {
    const [p, r] = await Promise.all([probeSeries(client, patches(m), found), probeSeries(client, rcs(m), found)]);
    if (!p && !r) break;
  }

  // A version the proxy stopped answering for stays listed: it was released, and old data beats none.
  for (const [v, old] of prevByVersion) if (!found.has(v)) found.set(v, old);
  const versions = [...found.values()]
    .map((r) => ({ ...prevByVersion.get(r.version), ...r }))
    .map(({ version, commit, date, goVersion, prerelease }) => ({
      version,
      ...(commit ? { commit } : {}),
      ...(date ? { date } : {}),
      ...(goVersion ? { goVersion } : {}),
      prerelease,
    }))
    .sort((a, b) => semver.compare(a.version, b.version));
  return { source: `${base}/${o.module}`, versions, requests: client.requests };
}
