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
  | { kind: 'registry'; ref: string; exists?: boolean; platforms?: string[]; exactPlatforms?: boolean; lacks?: string[]; index?: boolean; complete?: boolean; attestations?: boolean; annotations?: Record<string, string> }
  /** requests the registry saw, from the proxy's journal */
  | { kind: 'requests'; count: string; method?: string; on?: 'manifests' | 'blobs' | 'uploads' | 'tags'; reference?: string; repository?: string; status?: string; userAgent?: string };

export interface CheckResult {
  holds: boolean;
  detail: string;
}

/** A pattern compiled on RE2; throws UsageError naming the pattern. */
export function compilePattern(pattern: string): RE2JS {
  try {
    return RE2JS.compile(pattern);
  } catch (e) {
    throw new UsageError(`${JSON.stringify(pattern)} is not an RE2 regular expression (${(e as Error).message}); RE2 has no lookaround or backreferences`);
  }
}

/** The first match of `pattern` in `text`, in linear time; undefined when none. */
export function firstMatch(pattern: string, text: string): string | undefined {
  const m = compilePattern(pattern).matcher(text);
  return m.find() ? (m.group(0) ?? '') : undefined;
}

/** "1", ">1", ">=2", "<3", "0": how many requests may match; pure. */
export function countHolds(spec: string, n: number): boolean {
  const m = /^\s*(>=|<=|>|<|==|=)?\s*(\d+)\s*$/.exec(spec);
  if (!m) throw new UsageError(`count ${JSON.stringify(spec)} is not a number or a comparison like ">1" or ">=2"`);
  const want = Number(m[2]);
  switch (m[1]) {
    case '>': return n > want;
    case '>=': return n >= want;
    case '<': return n < want;
    case '<=': return n <= want;
    default: return n === want;
  }
}

const GO_PANIC = /(^|\n)(panic: |fatal error: )|\ngoroutine \d+ \[[a-z ]+\]:/;

export interface RecordedStep {
  id: string;
  record: CommandRecord;
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
      return m ? { holds: true, detail: `${where(check.step)}: Go ${clip(text.slice(m.index).trim(), 100)}` } : { holds: false, detail: `${where(check.step)}: no Go panic or fatal error` };
    }
    case 'exit': {
      const chosen = stepsFor(steps, check.step);
      const rec = check.step === undefined ? chosen.find((s) => s.record.exitCode !== 0) ?? chosen.at(-1) : chosen[0];
      if (!rec) return { holds: false, detail: check.step === undefined ? 'no step ran' : `no step ${check.step} ran` };
      const code = rec.record.exitCode;
      const holds = check.code === 'zero' ? code === 0 : check.code === 'nonzero' ? code !== 0 : code === check.code;
      return { holds, detail: `step ${rec.id} exit ${code}` };
    }
    case 'requests': {
      const hits = journal.filter((e) =>
        (check.method === undefined || e.method === check.method.toUpperCase()) &&
        (check.on === undefined || e.kind === check.on) &&
        (check.reference === undefined || e.reference === check.reference) &&
        (check.repository === undefined || e.repository === check.repository) &&
        (check.status === undefined || String(e.status).startsWith(check.status.replace(/x+$/i, ''))) &&
        (check.userAgent === undefined || firstMatch(check.userAgent, e.userAgent ?? '') !== undefined),
      );
      const what = [check.method?.toUpperCase(), check.on, check.reference && `to ${check.reference}`, check.status && `answered ${check.status}`].filter(Boolean).join(' ') || 'requests';
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
  const read = await sandbox.look(found === 'dir'
    ? `for f in ${real}/*; do [ -f "$f" ] && [ ! -L "$f" ] && cat "$f"; done 2>/dev/null | head -c ${FILE_READ_LIMIT}`
    : `head -c ${FILE_READ_LIMIT} ${real}`);
  const text = c.contains ?? c.notContains!;
  const has = read.stdout.includes(text);
  return { holds: c.contains !== undefined ? has : !has, detail: `${p}: ${has ? 'holds' : 'does not hold'} "${text.slice(0, 60)}"` };
}

/** Checks a case file can hold, validated once at load time (patterns compile, counts parse). */
export function validateCheck(check: Check): void {
  if (check.kind === 'output') compilePattern(check.pattern);
  if (check.kind === 'requests') {
    countHolds(check.count, 0);
    if (check.userAgent) compilePattern(check.userAgent);
  }
}

export function describeCheck(c: Check): string {
  switch (c.kind) {
    case 'output': return `${c.step ? `step ${c.step} ` : ''}output ${c.negate ? 'does not match' : 'matches'} /${c.pattern}/`;
    case 'panic': return `${c.step ? `step ${c.step} ` : ''}a Go panic or fatal error`;
    case 'exit': return `${c.step ? `step ${c.step} ` : ''}exit code ${c.code}`;
    case 'file': return `${c.path} ${c.exists === false ? 'is absent' : c.contains ? `contains "${clip(c.contains, 40)}"` : c.notContains ? `lacks "${clip(c.notContains, 40)}"` : 'exists'}`;
    case 'image': return `engine image ${c.ref} ${c.exists === false ? 'is absent' : `exists${c.platforms ? ` with ${c.platforms.join(', ')}` : ''}`}`;
    case 'registry': return `registry ${c.ref}: ${Object.entries(c).filter(([k]) => !['kind', 'ref'].includes(k)).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ') || 'exists'}`;
    case 'requests': return `${c.count} ${[c.method, c.on, c.reference && `to ${c.reference}`].filter(Boolean).join(' ') || 'requests'}`;
  }
}
