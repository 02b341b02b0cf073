// Checks: what a bug report says happened, as data, written once for scenarios and cases. Each check
// answers "does this criterion hold?" with a one-line reason. Pure checks (output, panic, exit code,
// requests the registry saw) read recorded evidence; the others (local files, the engine's images, the
// registry's content) read the cell's state through the kit.
//
// User-written patterns run on RE2 (re2js): linear time whatever the pattern, so a case cannot hang a run
// with a pathological regex. RE2 has no lookaround or backreferences; the error says so at load time.
import { RE2JS } from 're2js';
import { UsageError } from '../errors.ts';
import type { CommandRecord, JournalEntry } from '../model.ts';
import { clip, shellQuote, stripAnsi } from '../text.ts';
import type { CellSandbox } from './sandbox.ts';

export type ExitExpectation = 'zero' | 'nonzero' | number;

export type Check =
  /** output of the step (or of every step) matches, or with `negate` does not match, the pattern */
  | { kind: 'output'; pattern: string; negate?: boolean; step?: string }
  /** a Go panic or fatal error in the output ("it panics" needs no regex) */
  | { kind: 'panic'; step?: string }
  | { kind: 'exit'; code: ExitExpectation; step?: string }
  /** a local output in the cell's context: a file or directory exists (or not), or holds a text */
  | { kind: 'file'; path: string; exists?: boolean; contains?: string; notContains?: string; directory?: boolean }
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
    }
  /** requests the registry saw, from the proxy's journal */
  | {
      kind: 'requests';
      count: string;
      method?: string;
      on?: 'manifests' | 'blobs' | 'uploads' | 'tags';
      reference?: string;
      repository?: string;
      status?: string;
      userAgent?: string;
    };

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

/** Checks that read only the recorded commands and journal; pure. */
export function evaluateRecorded(check: Check, steps: readonly RecordedStep[], journal: readonly JournalEntry[]): CheckResult | undefined {
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
      const hits = journal.filter(
        (e) =>
          (check.method === undefined || e.method === check.method.toUpperCase()) &&
          (check.on === undefined || e.kind === check.on) &&
          (check.reference === undefined || e.reference === check.reference) &&
          (check.repository === undefined || e.repository === check.repository) &&
          (check.status === undefined || String(e.status).startsWith(check.status.replace(/x+$/i, ''))) &&
          (check.userAgent === undefined || firstMatch(check.userAgent, e.userAgent ?? '') !== undefined),
      );
      const what =
        [check.method?.toUpperCase(), check.on, check.reference && `to ${check.reference}`, check.status && `answered ${check.status}`].filter(Boolean).join(' ') || 'requests';
      return { holds: countHolds(check.count, hits.length), detail: `${hits.length} ${what} (want ${check.count})` };
    }
    default:
      return undefined;
  }
}

/** Largest part of a local output a `contains` check reads. */
const FILE_READ_LIMIT = 1 << 20;

/**
 * A local output in the cell's context: exists (or not), is a directory, holds a text. Its real path must
 * stay inside the context (resolved in the engine: a symlink an earlier step wrote is refused, never read
 * through), and a directory's files are read without following the symlinks among them.
 */
export async function checkFile(sandbox: Pick<CellSandbox, 'resolveInContext' | 'look'>, c: Extract<Check, { kind: 'file' }>): Promise<CheckResult> {
  const p = c.path;
  if (p.split('/').includes('..') || p.startsWith('/')) throw new UsageError(`file check path ${JSON.stringify(p)} must stay inside the cell's context`);
  const [at] = await sandbox.resolveInContext([p]);
  const found = at!.kind === 'dir' ? 'dir' : at!.kind === 'none' ? 'none' : 'file';
  if (c.exists === false) return { holds: found === 'none', detail: `${p}: ${found === 'none' ? 'absent' : `present (${found})`}` };
  if (found === 'none') return { holds: false, detail: `${p}: absent` };
  if (c.directory !== undefined && (found === 'dir') !== c.directory) return { holds: false, detail: `${p}: a ${found === 'dir' ? 'directory' : 'file'}` };
  if (c.contains === undefined && c.notContains === undefined) return { holds: true, detail: `${p}: present (${found})` };
  const real = shellQuote(at!.real);
  const read = await sandbox.look(
    found === 'dir' ? `for f in ${real}/*; do [ -f "$f" ] && [ ! -L "$f" ] && cat "$f"; done 2>/dev/null | head -c ${FILE_READ_LIMIT}` : `head -c ${FILE_READ_LIMIT} ${real}`,
  );
  const text = c.contains ?? c.notContains!;
  const has = read.stdout.includes(text);
  return { holds: c.contains !== undefined ? has : !has, detail: `${p}: ${has ? 'holds' : 'does not hold'} "${text.slice(0, 60)}"` };
}

/** Checks a case file can hold, validated once at load time (patterns compile, counts parse). */
export function validateCheck(check: Check): void {
  if (check.kind === 'output') compilePattern(check.pattern, check.negate ? 'notOutput' : 'output');
  if (check.kind === 'requests') {
    countHolds(check.count, 0);
    if (check.userAgent) compilePattern(check.userAgent, 'requests.userAgent');
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
      return `${c.path} ${c.exists === false ? 'is absent' : c.contains ? `contains "${clip(c.contains, 40)}"` : c.notContains ? `lacks "${clip(c.notContains, 40)}"` : 'exists'}`;
    case 'image':
      return `engine image ${c.ref} ${c.exists === false ? 'is absent' : `exists${c.platforms ? ` with ${c.platforms.join(', ')}` : ''}`}`;
    case 'registry':
      return `registry ${c.ref}: ${
        Object.entries(c)
          .filter(([k]) => !['kind', 'ref'].includes(k))
          .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
          .join(', ') || 'exists'
      }`;
    case 'requests':
      return `${c.count} ${[c.method, c.on, c.reference && `to ${c.reference}`].filter(Boolean).join(' ') || 'requests'}`;
  }
}
