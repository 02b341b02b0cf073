// Checks: what a bug report says happened, as data, written once for scenarios and cases. Each check
// answers "does this criterion hold?" with a one-line reason. Pure checks (output, panic, exit code,
// requests the registry saw) read recorded evidence; the others (local files, Buildx's own state under
// BUILDX_CONFIG, the engine's images, the registry's content) read the cell's state through the kit.
//
// User-written patterns run on RE2 (re2js): linear time whatever the pattern, so a case cannot hang a run
// with a pathological regex. RE2 has no lookaround or backreferences; the error says so at load time.
import { RE2JS } from 're2js';
import { UsageError } from '../errors.ts';
import type { CommandRecord, JournalEntry } from '../model.ts';
import type { SpanRecord } from '../serve/otlp-spans.ts';
import { clip, stripAnsi } from '../text.ts';
import { type CellSandbox, LAB_USER } from './sandbox.ts';
import { SOURCE_KINDS, type SourceKind } from '../serve/spec.ts';
import { KUBE_OBJECT_KINDS, kubeObjectNameProblem, type KubeObjectKind } from '../lab/kube-cluster.ts';

export type ExitExpectation = 'zero' | 'nonzero' | number;

export type Check =
  /** output of the step (or of every step) matches, or with `negate` does not match, the pattern */
  | { kind: 'output'; pattern: string; negate?: boolean; step?: string }
  /** a Go panic or fatal error in the output ("it panics" needs no regex) */
  | { kind: 'panic'; step?: string }
  | { kind: 'exit'; code: ExitExpectation; step?: string }
  /** a local output in the cell's context: a file or directory exists (or not), holds a text, matches, answers at a JSON pointer */
  | ({ kind: 'file' } & PathExpectation)
  /** Buildx's own state, a path under the cell's BUILDX_CONFIG (instances/NAME, defaults/, activity/, refs/, current) */
  | ({ kind: 'state' } & PathExpectation)
  /** an object of the cell's own namespace on the lab's k3s cluster (driver: kubernetes): exists (or not), answers at a JSON pointer */
  | { kind: 'kube'; get: KubeObjectKind; name: string; exists?: boolean; json?: JsonExpectation }
  /** an image in the cell's engine, by reference or ID, optionally with platforms */
  | { kind: 'image'; ref: string; exists?: boolean; platforms?: string[] }
  /** what the lab registry holds under a reference; `lacks`: at least one of these platforms is missing */
  | {
      kind: 'registry';
      ref: string;
      exists?: boolean;
      platforms?: string[];
      exactPlatforms?: boolean;
      lacks?: string[];
      index?: boolean;
      complete?: boolean;
      attestations?: boolean;
      annotations?: Record<string, string>;
      /** at least one of these annotation keys is missing from the top manifest or index */
      lacksAnnotations?: string[];
    }
  /** spans the lab's OTLP receiver (${otlp}) got from the cell: how many match name, service, attributes, status */
  | {
      kind: 'spans';
      count: string;
      /** RE2 patterns: the span's name, its resource's service.name, an attribute's value (as text) */
      name?: string;
      service?: string;
      attributes?: Record<string, string>;
      status?: 'unset' | 'ok' | 'error';
    }
  /** requests the registry (or with `server`, the case's ${http}, ${git}, ${s3} or ${otlp} server) saw, from the lab's journal */
  | {
      kind: 'requests';
      count: string;
      server?: 'registry' | SourceKind;
      /** an RE2 pattern on the URL path (no query) */
      path?: string;
      method?: string;
      on?: 'manifests' | 'blobs' | 'uploads' | 'tags';
      /** an RE2 pattern the whole reference (a tag, or a digest) matches; lab values in it are literal */
      reference?: string;
      repository?: string;
      status?: string;
      userAgent?: string;
    };

/** What a `file` or `state` check says of one path. */
export interface PathExpectation {
  path: string;
  exists?: boolean;
  directory?: boolean;
  contains?: string;
  notContains?: string;
  /** an RE2 pattern the text (a directory: its files) matches */
  matches?: string;
  json?: JsonExpectation;
  /** who owns the path itself (uid and gid): root, or the cell's unprivileged user (kit/sandbox.ts LAB_USER) */
  owner?: PathOwner;
}

/** The owners an `owner:` names, by their ids in the engine. */
export const PATH_OWNERS = { root: { uid: 0, gid: 0 }, lab: { uid: LAB_USER.uid, gid: LAB_USER.gid } } as const;
export type PathOwner = keyof typeof PATH_OWNERS;

/** Whether `ids` ("UID:GID", as `stat -c %u:%g` prints them) are `want`'s, and how to say who owns it. Pure. */
export function ownerHolds(ids: string, want: PathOwner): { holds: boolean; text: string } {
  const m = /^(\d+):(\d+)$/.exec(ids.trim());
  if (!m) return { holds: false, text: `owner unknown (${JSON.stringify(clip(ids.trim(), 60))})` };
  const [uid, gid] = [Number(m[1]), Number(m[2])];
  const who = (Object.keys(PATH_OWNERS) as PathOwner[]).find((k) => PATH_OWNERS[k].uid === uid && PATH_OWNERS[k].gid === gid);
  const holds = who === want;
  return { holds, text: `owned by ${who ? `${who} (${uid}:${gid})` : `${uid}:${gid}`}${holds ? '' : `, not ${want}`}` };
}

/** How a JSON file answers at a JSON Pointer (RFC 6901: `/Nodes/0/Endpoint`; `~1` is `/`, `~0` is `~`; `""` the whole). */
export interface JsonExpectation {
  pointer: string;
  exists?: boolean;
  /** the value there, compared as JSON */
  equals?: string | number | boolean | null;
  /** an RE2 pattern the value there matches (a string as it is, anything else as JSON text) */
  matches?: string;
  /** an array's length or an object's key count: a number, `>N`, `>=N`, `<N`, `<=N` */
  count?: string;
}

export interface CheckResult {
  holds: boolean;
  detail: string;
}

// Linear is not cheap: RE2 steps every live thread of its program for every character, so a long counted
// repetition (`[\s\S]{1,1000}\d{5}`: 2006 instructions) costs 90-190 us per character of output,
// measured on re2js; a megabyte of output stalled the run's process (proxy, heartbeat) for 199 s. The
// cost is bounded twice: at load by the program's size, at match time by text length x program size.
// The worst measured cost was ~55 ns per instruction per character (DFA-defeating patterns, 2 shared cores).
/** Longest pattern text: compiling costs ~15 ms per 1000 instructions before the size can be checked. */
export const MAX_PATTERN_LENGTH = 1000;
/** Largest RE2 program a pattern may compile to. The shipped cases' largest is 74 instructions; 500 still
 * allows a 490-character literal, and bounds the worst cost at ~30 us per character of output. */
export const MAX_PATTERN_INSTRUCTIONS = 500;
/** Most text length x program size one match may cost: ~3 s at the worst measured rate. A 74-instruction
 * pattern may search 675,000 characters, a 25-instruction one 2 million. */
export const MAX_MATCH_WORK = 50_000_000;

/** The bounds of the counted repetitions in a pattern's text (`{n}`, `{n,}`, `{n,m}`) added up, read before
 * compiling: each is at least that many instructions, and an alternation of many would be slow to compile. */
function repeatTotal(pattern: string): number {
  let total = 0;
  for (const m of pattern.matchAll(/(\\*)\{(\d{1,9})(?:,(\d{0,9}))?\}/g)) {
    if (m[1]!.length % 2) continue; // an escaped brace is a literal
    total += Math.max(Number(m[2]), Number(m[3] || 0));
  }
  return total;
}

/** A pattern compiled on RE2, within the size limits; throws UsageError naming `field`, the pattern and the limit. */
export function compilePattern(pattern: string, field = 'pattern'): RE2JS {
  const what = `${field} ${JSON.stringify(clip(pattern, 100))}`;
  const tooBig = (size: string) =>
    new UsageError(
      `${what} ${size}, over the limit of ${MAX_PATTERN_INSTRUCTIONS} RE2 instructions (each costs time for every character of output). Fix: use * or + instead of a large {n,m}, or match a shorter text`,
    );
  if (pattern.length > MAX_PATTERN_LENGTH)
    throw new UsageError(`${what} is ${pattern.length} characters long, over the limit of ${MAX_PATTERN_LENGTH}. Fix: match a shorter, distinctive part of the text`);
  // a counted repetition alone can exceed the limit: refuse it before compiling it
  const repeats = repeatTotal(pattern);
  if (repeats > MAX_PATTERN_INSTRUCTIONS) throw tooBig(`has counted repetitions ({n,m}) adding up to ${repeats}`);
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (e) {
    throw new UsageError(`${JSON.stringify(pattern)} is not an RE2 regular expression (${(e as Error).message}); RE2 has no lookaround or backreferences`);
  }
  const size = re.programSize();
  if (size > MAX_PATTERN_INSTRUCTIONS) throw tooBig(`compiles to ${size} instructions`);
  return re;
}

const compiled = new Map<string, RE2JS>();

/** The first match of `pattern` in `text`, in linear time; undefined when none. Throws UsageError when the
 * match would cost more than MAX_MATCH_WORK (it would stall the process that serves every cell). */
export function firstMatch(pattern: string, text: string): string | undefined {
  return matchAt(pattern, text)?.text;
}

/** The first match of `pattern` in `text` with where it starts and ends, under the same bounds as firstMatch. */
export function matchAt(pattern: string, text: string): { text: string; start: number; end: number } | undefined {
  const re = compiledPattern(pattern);
  const work = text.length * re.programSize();
  if (work > MAX_MATCH_WORK) {
    throw new UsageError(
      `pattern ${JSON.stringify(clip(pattern, 100))} (${re.programSize()} RE2 instructions) over ${text.length} characters is ${work} units of matching, over the limit of ${MAX_MATCH_WORK}. Fix: give the check a step (step:) so it reads less output, or shorten the pattern`,
    );
  }
  const m = re.matcher(text);
  return m.find() ? { text: m.group(0) ?? '', start: m.start(), end: m.end() } : undefined;
}

/** The longest text `pattern` may be matched against in one go (MAX_MATCH_WORK over its program size). */
export function matchBudget(pattern: string): number {
  return Math.floor(MAX_MATCH_WORK / compiledPattern(pattern).programSize());
}

function compiledPattern(pattern: string): RE2JS {
  let re = compiled.get(pattern);
  if (!re) {
    re = compilePattern(pattern);
    // a requests check matches its userAgent pattern against every journal entry: compile it once
    if (compiled.size >= 256) compiled.clear();
    compiled.set(pattern, re);
  }
  return re;
}

/** Whether `pattern` matches the whole of `text` (a registry reference), within the same bounds as firstMatch. */
export function fullMatch(pattern: string, text: string): boolean {
  return firstMatch(`^(?:${pattern})$`, text) !== undefined;
}

/** "1", ">1", ">=2", "<3", "0": how many requests may match; pure. */
export function countHolds(spec: string, n: number): boolean {
  const m = /^\s*(>=|<=|>|<|==|=)?\s*(\d+)\s*$/.exec(spec);
  if (!m) throw new UsageError(`count ${JSON.stringify(spec)} is not a number or a comparison like ">1" or ">=2"`);
  const want = Number(m[2]);
  switch (m[1]) {
    case '>':
      return n > want;
    case '>=':
      return n >= want;
    case '<':
      return n < want;
    case '<=':
      return n <= want;
    default:
      return n === want;
  }
}

const GO_PANIC = /(^|\n)(panic: |fatal error: )|\ngoroutine \d+ \[[a-z ]+\]:/;

export interface RecordedStep {
  id: string;
  record: CommandRecord;
  /** the step did not run at the moment the case asked for (a waitFor of a background step that never matched) */
  missed?: string;
}

function stepsFor(steps: readonly RecordedStep[], step: string | undefined): RecordedStep[] {
  if (step === undefined) return [...steps];
  return steps.filter((s) => s.id === step);
}

const outputOf = (steps: readonly RecordedStep[]) => steps.map((s) => stripAnsi(`${s.record.stdout}\n${s.record.stderr}`)).join('\n');

/** A span's one line in a check's detail: name, service, and the attributes the check named. */
function spanLine(s: SpanRecord, keys: readonly string[]): string {
  const attrs = keys.filter((k) => k in s.attributes).map((k) => `${k}=${JSON.stringify(clip(s.attributes[k]!, 120))}`);
  return `"${clip(s.name, 60)}"${s.service ? ` (${s.service})` : ''}${attrs.length ? ` ${attrs.join(' ')}` : ''}`;
}

/** The spans that match a `spans` check: name, service, every named attribute, status; pure. */
export function matchingSpans(check: Extract<Check, { kind: 'spans' }>, spans: readonly SpanRecord[]): SpanRecord[] {
  const attrs = Object.entries(check.attributes ?? {});
  return spans.filter(
    (s) =>
      (check.name === undefined || firstMatch(check.name, s.name) !== undefined) &&
      (check.service === undefined || firstMatch(check.service, s.service ?? '') !== undefined) &&
      (check.status === undefined || s.status === check.status) &&
      attrs.every(([k, p]) => Object.hasOwn(s.attributes, k) && firstMatch(p, s.attributes[k]!) !== undefined),
  );
}

/** Checks that read only the recorded commands, journal and spans; pure. */
export function evaluateRecorded(check: Check, steps: readonly RecordedStep[], journal: readonly JournalEntry[], spans?: readonly SpanRecord[]): CheckResult | undefined {
  const where = (step?: string) => (step === undefined ? 'output' : `step ${step}`);
  switch (check.kind) {
    case 'output': {
      const hit = firstMatch(check.pattern, outputOf(stepsFor(steps, check.step)));
      const found = hit !== undefined;
      return check.negate
        ? { holds: !found, detail: found ? `${where(check.step)} has "${clip(hit!)}", which must not appear` : `${where(check.step)}: no /${check.pattern}/, as required` }
        : { holds: found, detail: found ? `${where(check.step)} matched "${clip(hit!)}"` : `${where(check.step)}: no match for /${check.pattern}/` };
    }
    case 'panic': {
      const text = outputOf(stepsFor(steps, check.step));
      const m = GO_PANIC.exec(text);
      return m
        ? { holds: true, detail: `${where(check.step)}: Go ${clip(text.slice(m.index).trim(), 100)}` }
        : { holds: false, detail: `${where(check.step)}: no Go panic or fatal error` };
    }
    case 'exit': {
      const chosen = stepsFor(steps, check.step);
      const rec = check.step === undefined ? (chosen.find((s) => s.record.exitCode !== 0) ?? chosen.at(-1)) : chosen[0];
      if (!rec) return { holds: false, detail: check.step === undefined ? 'no step ran' : `no step ${check.step} ran` };
      const code = rec.record.exitCode;
      const holds = check.code === 'zero' ? code === 0 : check.code === 'nonzero' ? code !== 0 : code === check.code;
      return { holds, detail: `step ${rec.id} exit ${code}` };
    }
    case 'requests': {
      const server = check.server ?? 'registry';
      const hits = journal.filter(
        (e) =>
          (server === 'registry' ? !(SOURCE_KINDS as readonly string[]).includes(e.kind) : e.kind === server) &&
          (check.path === undefined || firstMatch(check.path, e.path) !== undefined) &&
          (check.method === undefined || e.method === check.method.toUpperCase()) &&
          (check.on === undefined || e.kind === check.on) &&
          (check.reference === undefined || fullMatch(check.reference, e.reference ?? '')) &&
          (check.repository === undefined || e.repository === check.repository) &&
          (check.status === undefined || String(e.status).startsWith(check.status.replace(/x+$/i, ''))) &&
          (check.userAgent === undefined || firstMatch(check.userAgent, e.userAgent ?? '') !== undefined),
      );
      const what =
        [
          server !== 'registry' && `${server} server`,
          check.method?.toUpperCase(),
          check.on,
          check.path && `on /${check.path}/`,
          check.reference && `to ${check.reference}`,
          check.status && `answered ${check.status}`,
        ]
          .filter(Boolean)
          .join(' ') || 'requests';
      return { holds: countHolds(check.count, hits.length), detail: `${hits.length} ${what} (want ${check.count})` };
    }
    case 'spans': {
      if (!spans) return { holds: false, detail: "no spans: the case has no traces: (the lab's OTLP receiver)" };
      const hits = matchingSpans(check, spans);
      const keys = Object.keys(check.attributes ?? {});
      const shown = hits.length
        ? `: ${hits
            .slice(0, 3)
            .map((s) => spanLine(s, keys))
            .join(', ')}${hits.length > 3 ? ', …' : ''}`
        : '';
      return { holds: countHolds(check.count, hits.length), detail: `${hits.length} of ${spans.length} span(s) match (want ${check.count})${shown}` };
    }
    default:
      return undefined;
  }
}

/** Largest part of a local output (or a state file) a `contains`, `matches` or `json` check reads. */
const FILE_READ_LIMIT = 1 << 20;

/** Where a path check reads: the cell's context, or Buildx's state under BUILDX_CONFIG. */
const PATH_ROOTS = { file: "the cell's context", state: "the cell's Buildx state (BUILDX_CONFIG)" } as const;

/** A path a `file` or `state` check may name: relative, without `..`. Throws UsageError naming the fix. Pure. */
export function checkPathName(kind: 'file' | 'state', p: string): void {
  if (p.split('/').includes('..') || p.startsWith('/'))
    throw new UsageError(`${kind} check path ${JSON.stringify(p)} must stay inside ${PATH_ROOTS[kind]}: give a relative path without ..`);
}

/**
 * A path in the cell's context (`file`) or in Buildx's state (`state`): exists (or not), is a directory,
 * holds or matches a text, answers at a JSON pointer. Its real path must stay inside its root (resolved in
 * the engine: a symlink an earlier step wrote is refused, never read through), a directory's files are read
 * without following the symlinks among them, and at most FILE_READ_LIMIT bytes are read.
 */
export async function checkPath(sandbox: Pick<CellSandbox, 'resolveInContext' | 'resolveInState' | 'look'>, c: Extract<Check, { kind: 'file' | 'state' }>): Promise<CheckResult> {
  const p = c.path;
  checkPathName(c.kind, p);
  const [at] = await (c.kind === 'state' ? sandbox.resolveInState([p]) : sandbox.resolveInContext([p]));
  const found = at!.kind === 'dir' ? 'dir' : at!.kind === 'none' ? 'none' : 'file';
  const name = c.kind === 'state' ? `state ${p}` : p;
  if (c.exists === false) return { holds: found === 'none', detail: `${name}: ${found === 'none' ? 'absent' : `present (${found})`}` };
  if (found === 'none') return { holds: false, detail: `${name}: absent` };
  if (c.directory !== undefined && (found === 'dir') !== c.directory) return { holds: false, detail: `${name}: a ${found === 'dir' ? 'directory' : 'file'}` };
  // of its real path: a symlink inside the root is followed, as the reads are
  const owner = c.owner && ownerHolds((await sandbox.look('stat -c %u:%g "$1"', {}, [at!.real])).stdout, c.owner);
  if (c.contains === undefined && c.notContains === undefined && c.matches === undefined && c.json === undefined)
    return owner ? { holds: owner.holds, detail: `${name}: ${owner.text}` } : { holds: true, detail: `${name}: present (${found})` };
  if (c.json && found === 'dir') return { holds: false, detail: `${name}: a directory; json: reads a file` };
  const read = await sandbox.look(found === 'dir' ? `for f in "$1"/*; do [ -f "$f" ] && [ ! -L "$f" ] && cat "$f"; done 2>/dev/null | head -c "$2"` : 'head -c "$2" "$1"', {}, [
    at!.real,
    String(FILE_READ_LIMIT + 1),
  ]);
  // one byte past the limit says whether the text was read whole (read as UTF-8: a character count, close enough)
  const whole = read.stdout.length <= FILE_READ_LIMIT;
  const text = whole ? read.stdout : read.stdout.slice(0, FILE_READ_LIMIT);
  const fails: string[] = [];
  const passes: string[] = [];
  if (owner) (owner.holds ? passes : fails).push(owner.text);
  for (const [want, needle] of [
    [true, c.contains],
    [false, c.notContains],
  ] as const) {
    if (needle === undefined) continue;
    const has = text.includes(needle);
    (has === want ? passes : fails).push(`${has ? 'holds' : 'does not hold'} "${clip(needle, 60)}"`);
  }
  if (c.matches !== undefined) {
    const hit = firstMatch(c.matches, text);
    (hit !== undefined ? passes : fails).push(hit !== undefined ? `matched "${clip(hit)}"` : `no match for /${c.matches}/`);
  }
  if (c.json && !whole) fails.push(`is larger than ${FILE_READ_LIMIT >> 20} MiB, more than json: reads; check it with contains or matches`);
  else if (c.json) {
    const r = evaluateJson(c.json, text);
    (r.holds ? passes : fails).push(r.detail);
  }
  return { holds: fails.length === 0, detail: `${name}: ${(fails.length ? fails : passes).join('; ')}` };
}

/** A document as a `json` check reads it: one JSON value, or JSON lines (`ls --format json`) as an array of them. Pure. */
export function parseJsonText(text: string): { ok: true; value: unknown } | { ok: false; why: string } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    const lines = text.split('\n').filter((l) => l.trim());
    if (lines.length > 1) {
      try {
        return { ok: true, value: lines.map((l) => JSON.parse(l) as unknown) };
      } catch {
        // neither one document nor JSON lines: say what the whole-text parse said
      }
    }
    return { ok: false, why: `is not JSON (${clip((e as Error).message, 80)})` };
  }
}

/** A JSON Pointer (RFC 6901) that a check may hold: `""` or `/`-separated tokens, `~` only as `~0` or `~1`. Throws UsageError. Pure. */
export function checkJsonPointer(pointer: string): void {
  if (pointer !== '' && !pointer.startsWith('/'))
    throw new UsageError(`json.pointer ${JSON.stringify(clip(pointer, 100))} is not a JSON Pointer: start it with / (e.g. /Nodes/0/Endpoint; "" is the whole document)`);
  if (/~(?![01])/.test(pointer)) throw new UsageError(`json.pointer ${JSON.stringify(clip(pointer, 100))}: ~ is written ~0 and / inside a key ~1 (RFC 6901)`);
}

/**
 * The value at a JSON Pointer (RFC 6901). Hand-written: the whole of the standard is these lines, and the
 * JSONPath libraries evaluate script expressions (jsonpath-plus had code execution through them), which a
 * case must not reach. Pure.
 */
export function atJsonPointer(doc: unknown, pointer: string): { found: boolean; value?: unknown } {
  checkJsonPointer(pointer);
  let v = doc;
  if (pointer === '') return { found: true, value: v };
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(v)) {
      if (!/^(0|[1-9]\d{0,8})$/.test(key) || Number(key) >= v.length) return { found: false };
      v = v[Number(key)];
    } else if (v !== null && typeof v === 'object' && Object.hasOwn(v, key)) v = (v as Record<string, unknown>)[key];
    else return { found: false };
  }
  return { found: true, value: v };
}

/** A `json` expectation against a document's text; pure. */
export function evaluateJson(j: JsonExpectation, text: string): CheckResult {
  const doc = parseJsonText(text);
  if (!doc.ok) return { holds: false, detail: doc.why };
  const at = atJsonPointer(doc.value, j.pointer);
  const where = `at ${JSON.stringify(j.pointer)}`;
  if (j.exists === false) return { holds: !at.found, detail: `${where}: ${at.found ? `present (${clip(JSON.stringify(at.value), 80)})` : 'absent'}` };
  if (!at.found) return { holds: false, detail: `${where}: absent` };
  const shown = clip(JSON.stringify(at.value) ?? 'undefined', 80);
  if (j.equals !== undefined && JSON.stringify(at.value) !== JSON.stringify(j.equals)) return { holds: false, detail: `${where}: ${shown}, not ${JSON.stringify(j.equals)}` };
  if (j.matches !== undefined) {
    const s = typeof at.value === 'string' ? at.value : (JSON.stringify(at.value) ?? '');
    if (firstMatch(j.matches, s) === undefined) return { holds: false, detail: `${where}: ${shown}, no match for /${j.matches}/` };
  }
  if (j.count !== undefined) {
    const v = at.value;
    const n = Array.isArray(v) ? v.length : v !== null && typeof v === 'object' ? Object.keys(v).length : undefined;
    if (n === undefined) return { holds: false, detail: `${where}: ${shown} is not an array or object to count` };
    if (!countHolds(j.count, n)) return { holds: false, detail: `${where}: ${n} entries (want ${j.count})` };
    return { holds: true, detail: `${where}: ${n} entries` };
  }
  return { holds: true, detail: `${where}: ${shown}` };
}

/**
 * What a registry check's `annotations` (each key with this value) and `lacksAnnotations` (at least one
 * of these keys missing) find wrong with the annotations of the top manifest or index; empty when both
 * hold. `have` is whatever the registry returned. Pure.
 */
export function annotationProblems(have: unknown, c: { annotations?: Record<string, string>; lacksAnnotations?: readonly string[] }): string[] {
  const a = have !== null && typeof have === 'object' && !Array.isArray(have) ? (have as Record<string, unknown>) : {};
  const value = (k: string) => (Object.hasOwn(a, k) ? a[k] : undefined);
  const out: string[] = [];
  for (const [k, v] of Object.entries(c.annotations ?? {})) if (value(k) !== v) out.push(`annotation ${k}=${clip(JSON.stringify(value(k) ?? null), 80)}, not ${JSON.stringify(v)}`);
  if (c.lacksAnnotations?.length && c.lacksAnnotations.every((k) => value(k) !== undefined))
    out.push(`has every annotation of ${c.lacksAnnotations.join(', ')} (${c.lacksAnnotations.map((k) => `${k}=${clip(JSON.stringify(value(k)), 40)}`).join(', ')})`);
  return out;
}

/** What a `kube` check may read: an allowlisted kind, and a name that is one (lab values stand in as `x` at load). Throws UsageError naming the fix. Pure. */
export function checkKubeObject(c: { get: string; name: string }): void {
  if (!(KUBE_OBJECT_KINDS as readonly string[]).includes(c.get))
    throw new UsageError(`kube.get ${JSON.stringify(clip(c.get, 40))} is not a kind a check may read: use one of ${KUBE_OBJECT_KINDS.join(', ')} (in the cell's own namespace)`);
  const why = kubeObjectNameProblem(c.name.replace(/\$\{[^}]*\}/g, 'x'));
  if (why) throw new UsageError(`kube.name: ${why}`);
}

/** Checks a case file can hold, validated once at load time (patterns compile, counts parse). */
export function validateCheck(check: Check): void {
  if (check.kind === 'output') compilePattern(check.pattern, check.negate ? 'notOutput' : 'output');
  if (check.kind === 'requests') {
    countHolds(check.count, 0);
    if (check.userAgent) compilePattern(check.userAgent, 'requests.userAgent');
    // lab values are filled in quoted (literal) before the check runs: stand one in for each
    if (check.reference) compilePattern(check.reference.replace(/\$\{[^}]*\}/g, 'x'), 'requests.reference');
    if (check.path) compilePattern(check.path, 'requests.path');
  }
  if (check.kind === 'spans') {
    countHolds(check.count, 0);
    for (const [field, p] of [
      ['spans.name', check.name],
      ['spans.service', check.service],
      ...Object.entries(check.attributes ?? {}).map(([k, v]) => [`spans.attributes.${k}`, v]),
    ] as const)
      if (p !== undefined) compilePattern(p, field);
  }
  if (check.kind === 'file' || check.kind === 'state') {
    checkPathName(check.kind, check.path);
    if (check.matches !== undefined) compilePattern(check.matches, `${check.kind}.matches`);
  }
  if (check.kind === 'kube') checkKubeObject(check);
  if ((check.kind === 'file' || check.kind === 'state' || check.kind === 'kube') && check.json) {
    checkJsonPointer(check.json.pointer);
    if (check.json.matches !== undefined) compilePattern(check.json.matches, `${check.kind}.json.matches`);
    if (check.json.count !== undefined) countHolds(check.json.count, 0);
  }
}

export function describeCheck(c: Check): string {
  switch (c.kind) {
    case 'output':
      return `${c.step ? `step ${c.step} ` : ''}output ${c.negate ? 'does not match' : 'matches'} /${c.pattern}/`;
    case 'panic':
      return `${c.step ? `step ${c.step} ` : ''}a Go panic or fatal error`;
    case 'exit':
      return `${c.step ? `step ${c.step} ` : ''}exit code ${c.code}`;
    case 'file':
    case 'state':
      return `${c.kind === 'state' ? 'state ' : ''}${c.path} ${
        c.exists === false
          ? 'is absent'
          : c.contains
            ? `contains "${clip(c.contains, 40)}"`
            : c.notContains
              ? `lacks "${clip(c.notContains, 40)}"`
              : c.matches
                ? `matches /${clip(c.matches, 40)}/`
                : c.json
                  ? `has JSON at ${JSON.stringify(c.json.pointer)}`
                  : c.owner
                    ? `is owned by ${c.owner}`
                    : 'exists'
      }`;
    case 'kube':
      return `kubernetes ${c.get} ${c.name} ${c.exists === false ? 'is absent' : c.json ? `has JSON at ${JSON.stringify(c.json.pointer)}` : 'exists'}`;
    case 'image':
      return `engine image ${c.ref} ${c.exists === false ? 'is absent' : `exists${c.platforms ? ` with ${c.platforms.join(', ')}` : ''}`}`;
    case 'registry':
      return `registry ${c.ref}: ${
        Object.entries(c)
          .filter(([k]) => !['kind', 'ref'].includes(k))
          .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
          .join(', ') || 'exists'
      }`;
    case 'spans':
      return `${c.count} span(s)${c.name ? ` named /${c.name}/` : ''}${Object.keys(c.attributes ?? {}).length ? ` with ${Object.keys(c.attributes!).join(', ')}` : ''}`;
    case 'requests':
      return `${c.count} ${[c.method, c.on, c.reference && `to ${c.reference}`].filter(Boolean).join(' ') || 'requests'}`;
  }
}
