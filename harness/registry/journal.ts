// The fault proxy's record of every registry request, and pure analyses over it.
// Analyses take plain JournalEntry[] so they work equally on a live Journal and on evidence read back from a report.

import { HarnessError } from '../errors.ts';
import type { JournalEntry } from '../model.ts';
import { isIndexMediaType } from '../oci/types.ts';

export interface JournalLimits {
  /** entries kept (default 100 000) */
  maxEntries: number;
  /** approximate bytes kept (default 32 MiB), counting each entry's strings */
  maxBytes: number;
}

export const DEFAULT_JOURNAL_LIMITS: JournalLimits = { maxEntries: 100_000, maxBytes: 32 << 20 };

/** Longest string field kept; a longer one (a hostile path, a huge User-Agent) is cut and marked. */
export const MAX_JOURNAL_FIELD = 1024;

/** since(mark) asked for entries the journal has already dropped: the evidence would be incomplete. */
export class JournalOverflowError extends HarnessError {
  override readonly kind = 'journal-overflow';
}

const ENTRY_OVERHEAD = 128;

function clampEntry(e: JournalEntry): { entry: JournalEntry; bytes: number } {
  let bytes = ENTRY_OVERHEAD;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) {
    if (typeof v === 'string') {
      const s = v.length > MAX_JOURNAL_FIELD ? `${v.slice(0, MAX_JOURNAL_FIELD)}…(${v.length} chars)` : v;
      bytes += 2 * s.length;
      out[k] = s;
    } else out[k] = v;
  }
  return { entry: out as unknown as JournalEntry, bytes };
}

/**
 * Log of proxied requests, ordered by seq (the order requests arrived in). Bounded: past its limits the
 * oldest entries are dropped, and since(mark) refuses (JournalOverflowError) rather than return a slice
 * with a hole in it, because a judge counting PUTs must not see a partial journal as the whole.
 */
export class Journal {
  // Retained entries are #entries[#head..]; dropping advances #head, compaction is amortised.
  #entries: { entry: JournalEntry; bytes: number }[] = [];
  #head = 0;
  #bytes = 0;
  #dropped = 0;
  #droppedThrough = 0;
  #nextSeq = 1;
  readonly limits: JournalLimits;

  constructor(limits: Partial<JournalLimits> = {}) {
    this.limits = { ...DEFAULT_JOURNAL_LIMITS, ...limits };
  }

  /**
   * Reserves a seq for a request that has just arrived. The proxy journals a request when it ends, so
   * seqs are handed out at arrival to keep the journal in arrival order, which is what PUT ordering means.
   */
  reserveSeq(): number {
    return this.#nextSeq++;
  }

  /** Adds an entry; `seq` must come from reserveSeq() (or be omitted to take the next one). */
  append(entry: Omit<JournalEntry, 'seq'> & { seq?: number }): JournalEntry {
    const item = clampEntry({ ...entry, seq: entry.seq ?? this.reserveSeq() } as JournalEntry);
    // Requests finish out of order; keep the array sorted by seq (almost always an append).
    let i = this.#entries.length;
    while (i > this.#head && this.#entries[i - 1]!.entry.seq > item.entry.seq) i--;
    this.#entries.splice(i, 0, item);
    this.#bytes += item.bytes;
    this.#evict();
    return item.entry;
  }

  #evict(): void {
    while (this.size > this.limits.maxEntries || (this.#bytes > this.limits.maxBytes && this.size > 0)) {
      const old = this.#entries[this.#head++]!;
      this.#bytes -= old.bytes;
      this.#dropped++;
      this.#droppedThrough = Math.max(this.#droppedThrough, old.entry.seq);
    }
    if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
  }

  #retained(): JournalEntry[] {
    return this.#entries.slice(this.#head).map((x) => x.entry);
  }

  entries(): JournalEntry[] {
    return this.#retained();
  }

  /** The seq the next request will get; pass it to since() to see only what happened afterwards. */
  mark(): number {
    return this.#nextSeq;
  }

  /** Entries of requests that arrived at or after `mark` (and have finished). */
  since(mark: number): JournalEntry[] {
    if (mark <= this.#droppedThrough) {
      throw new JournalOverflowError(
        `the proxy journal dropped requests since mark ${mark} (${this.#dropped} dropped in all, up to #${this.#droppedThrough}; ` +
          `limits ${this.limits.maxEntries} entries / ${this.limits.maxBytes} bytes): the evidence would be incomplete`,
      );
    }
    return this.#retained().filter((e) => e.seq >= mark);
  }

  forRepository(repo: string): JournalEntry[] {
    return this.#retained().filter((e) => e.repository === repo);
  }

  get size(): number {
    return this.#entries.length - this.#head;
  }

  /** Approximate bytes held (strings count twice their length, plus a fixed overhead per entry). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Entries dropped to stay within the limits. */
  get dropped(): number {
    return this.#dropped;
  }
}

export interface ParsedRegistryPath {
  kind: 'manifests' | 'blobs' | 'uploads' | 'tags' | 'base' | 'other';
  repository?: string;
  reference?: string;
}

// Repository names may contain slashes, so the name is everything before the last recognised route segment.
const ROUTES: ReadonlyArray<[RegExp, ParsedRegistryPath['kind']]> = [
  [/^\/v2\/(.+)\/manifests\/([^/]+)$/, 'manifests'],
  [/^\/v2\/(.+)\/blobs\/uploads\/([^/]*)$/, 'uploads'],
  [/^\/v2\/(.+)\/blobs\/([^/]+)$/, 'blobs'],
  [/^\/v2\/(.+)\/tags\/list$/, 'tags'],
  [/^\/v2\/(.+)\/referrers\/([^/]+)$/, 'other'],
];

/** Parses a distribution API path (query string allowed) into repository, route kind and reference. */
export function parseRegistryPath(path: string): ParsedRegistryPath {
  const p = path.split('?')[0]!;
  if (p === '/v2' || p === '/v2/') return { kind: 'base' };
  for (const [re, kind] of ROUTES) {
    const m = re.exec(p);
    if (m) return { kind, repository: m[1], ...(m[2] ? { reference: m[2] } : {}) };
  }
  return { kind: 'other' };
}

/** Digests contain ':' (algorithm:hex); tags never can. */
export function isDigestReference(ref: string): boolean {
  return ref.includes(':');
}

export type PushClient = 'buildkit' | 'docker' | 'other';

/** buildkit sends "buildkit/v0.20.1", the docker engine "docker/26.1.5 go/go1.22.5 ...". */
export function clientOf(userAgent: string | undefined): PushClient {
  const ua = (userAgent ?? '').toLowerCase();
  if (ua.startsWith('buildkit/')) return 'buildkit';
  if (ua.startsWith('docker/')) return 'docker';
  return 'other';
}

export interface TagPut {
  seq: number;
  mediaType?: string;
  digest?: string;
  client: PushClient;
  userAgent?: string;
  status: number;
  intervention?: string;
  isIndex: boolean;
}

/** The behaviour that answers a tag PUT without forwarding it; such a PUT did not move the tag. */
export const NOT_RETAGGED = 'known-index-not-retagged';

function interventions(e: { intervention?: string }): string[] {
  return e.intervention ? e.intervention.split('+') : [];
}

/** The registry accepted the PUT (2xx), whether or not it moved the tag. */
function accepted(put: TagPut): boolean {
  return put.status >= 200 && put.status < 300;
}

/** Whether a PUT really changed what the tag points at. */
export function movedTag(put: TagPut): boolean {
  return accepted(put) && !interventions(put).includes(NOT_RETAGGED);
}

/** Manifest PUTs to `repo:tag`, in arrival order. */
export function tagPuts(entries: readonly JournalEntry[], repo: string, tag: string): TagPut[] {
  return entries
    .filter((e) => e.method === 'PUT' && e.kind === 'manifests' && e.repository === repo && e.reference === tag)
    .sort((a, b) => a.seq - b.seq)
    .map((e) => ({
      seq: e.seq,
      mediaType: e.requestMediaType,
      digest: e.digest,
      client: clientOf(e.userAgent),
      userAgent: e.userAgent,
      status: e.status,
      intervention: e.intervention,
      isIndex: isIndexMediaType(e.requestMediaType),
    }));
}

export interface PushAnalysis {
  repo: string;
  tag: string;
  tagPuts: TagPut[];
  tagPutCount: number;
  /** distinct clients that PUT to the tag, in order of first PUT */
  pushers: PushClient[];
  /** a single-platform manifest really landed on the tag at some point (the tag was not always an index) */
  everSingleManifest: boolean;
  /** the last PUT that really moved the tag */
  finalTagWrite?: TagPut;
  /** all requests for the repository */
  totalRequests: number;
  /** request + response body bytes for the repository */
  totalBytes: number;
}

export function analyzePush(entries: readonly JournalEntry[], repo: string, tag: string): PushAnalysis {
  const puts = tagPuts(entries, repo, tag);
  const moved = puts.filter(movedTag);
  const ofRepo = entries.filter((e) => e.repository === repo);
  return {
    repo,
    tag,
    tagPuts: puts,
    tagPutCount: puts.length,
    pushers: [...new Set(puts.map((p) => p.client))],
    everSingleManifest: moved.some((p) => !p.isIndex),
    finalTagWrite: moved.at(-1),
    totalRequests: ofRepo.length,
    totalBytes: ofRepo.reduce((n, e) => n + e.requestBytes + e.responseBytes, 0),
  };
}

function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

function shortDigest(d: string | undefined): string {
  return d ? d.replace(/^(sha256:[0-9a-f]{12})[0-9a-f]+$/, '$1') : 'unknown digest';
}

/** Consecutive PUTs by one client, e.g. "6 manifests + 1 index by docker". */
function describeRuns(puts: readonly TagPut[]): string {
  const runs: { client: PushClient; puts: TagPut[] }[] = [];
  for (const p of puts) {
    const last = runs.at(-1);
    if (last && last.client === p.client) last.puts.push(p);
    else runs.push({ client: p.client, puts: [p] });
  }
  return runs
    .map((run) => {
      const counts = new Map<string, number>();
      for (const p of run.puts) counts.set(p.isIndex ? 'index' : 'manifest', (counts.get(p.isIndex ? 'index' : 'manifest') ?? 0) + 1);
      const parts = [...counts].map(([k, n]) => plural(n, k, k === 'index' ? 'indexes' : 'manifests'));
      return `${parts.join(' + ')} by ${run.client}`;
    })
    .join(', then ');
}

/** Short fact lines for a report. */
export function describePush(a: PushAnalysis): string[] {
  if (a.tagPutCount === 0) return [`no PUTs to ${a.repo}:${a.tag} (${plural(a.totalRequests, 'request')} for the repository)`];
  const facts = [`${plural(a.tagPutCount, 'PUT')} to the tag: ${describeRuns(a.tagPuts)}`];
  const refused = a.tagPuts.filter((p) => !accepted(p));
  if (refused.length) {
    facts.push(
      `${plural(refused.length, 'tag PUT')} refused: ${refused.map((p) => `#${p.seq} ${p.status}${p.intervention ? ` (${p.intervention})` : ''} by ${p.client}`).join(', ')}`,
    );
  }
  const swallowed = a.tagPuts.filter((p) => accepted(p) && !movedTag(p));
  if (swallowed.length) facts.push(`${plural(swallowed.length, 'tag PUT')} answered 201 by ${NOT_RETAGGED} without moving the tag`);
  if (a.everSingleManifest) facts.push('a single-platform manifest was written to the tag at least once');
  const f = a.finalTagWrite;
  facts.push(f ? `final tag write: #${f.seq} ${f.isIndex ? 'index' : 'manifest'} ${shortDigest(f.digest)} by ${f.client}` : 'no PUT moved the tag');
  facts.push(`${plural(a.totalRequests, 'request')}, ${a.totalBytes} bytes for ${a.repo}`);
  return facts;
}
