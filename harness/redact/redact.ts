// The one place secrets are masked. Everything that leaves the process goes through here: the console
// (harness/progress.ts), the report writers (harness/report/write.ts redacts once and hands the writers
// a `Redacted` value; they accept nothing else), and the per-cell result files
// (harness/report/cell-file.ts). Cells capture whole command output, engine logs, registry bodies and
// docker config files, any of which can carry credentials.
//
// Detection is two sets of detectors over an ANSI-free view of the text: secretlint's maintained
// recommended preset (vendor token formats, ./secretlint.ts) and a short hand list (secrets recognised
// by their context: key names, URLs, headers, flags; ./patterns.ts). Both report spans; masking is
// done once, over the merged spans, so no rule sees another's mask and the order of rules is moot.
import { SECRET_FLAGS, handSpans, isSecretKey, isSecretListKey, isSecretReference, userFlagSecret } from './patterns.ts';
import { secretlintSpans } from './secretlint.ts';
import { MASK, lastAtOrBefore, maskSpans, plainView, toOriginalSpans, type Span } from './spans.ts';

// the package's public names, so that callers import from this module only
export { MASK, isSecretKey };

declare const redacted: unique symbol;
/** A value that went through redactDeep. Writers that put data on disk or screen take only this. */
export type Redacted<T> = T & { readonly [redacted]: true };

/** Between strings redacted in one batch: no rule matches across an empty line except a PEM body, whose span is cut per string. */
const SEPARATOR = '\n\n';

/**
 * Every string of `texts` with its secrets masked. secretlint's rules run once over all the strings
 * joined (they cost ~20 µs a call however short the string, and a report holds thousands of short
 * strings); the hand detectors run per string.
 */
export function redactStrings(texts: readonly string[], batchChars = BATCH_CHARS): string[] {
  // batches stay far below V8's longest string (~512 MiB) however large the report
  const out: string[] = [];
  for (let from = 0; from < texts.length; ) {
    let to = from + 1;
    // Stryker disable next-line all: where a batch ends changes only how long the joined string gets, never a result (tested across batch sizes)
    for (let size = texts[from]!.length; to < texts.length && size + texts[to]!.length < batchChars; to++) size += texts[to]!.length;
    for (const t of redactBatch(texts.slice(from, to))) out.push(t);
    from = to;
  }
  return out;
}

const BATCH_CHARS = 32 * 1024 * 1024;

function redactBatch(texts: readonly string[]): string[] {
  // only text with ANSI sequences needs a view and a map back (allocating one per string costs seconds
  // on a full report)
  // Stryker disable next-line StringLiteral: a plain view of text without ANSI is the text itself: only slower
  const ansi = texts.map((t) => (t.includes('\u001b') ? plainView(t) : undefined));
  const plains = texts.map((t, i) => ansi[i]?.plain ?? t);
  const offsets: number[] = [];
  let offset = 0;
  for (const p of plains) {
    offsets.push(offset);
    offset += p.length + SEPARATOR.length;
  }
  const linted = new Map<number, Span[]>();
  for (const s of secretlintSpans(plains.join(SEPARATOR))) {
    // a span may cover several strings (a private key split over two evidence fields): cut it per string
    // Stryker disable next-line ConditionalExpression,EqualityOperator,LogicalOperator: past the span's last string each cut is empty, and maskSpans drops empty spans
    for (let i = lastAtOrBefore(offsets, s.start); i < plains.length && offsets[i]! < s.end; i++) {
      const start = Math.max(s.start - offsets[i]!, 0);
      const end = Math.min(s.end - offsets[i]!, plains[i]!.length);
      // Stryker disable next-line all: an empty or junk span is dropped by maskSpans: the test only saves an allocation
      if (end > start) linted.set(i, [...(linted.get(i) ?? []), { start, end }]);
    }
  }
  // Stryker disable next-line ArrayDeclaration: emptied before each use
  const found: Span[] = [];
  return texts.map((text, i) => {
    found.length = 0;
    const fromLint = linted.get(i);
    if (fromLint) found.push(...fromLint);
    handSpans(plains[i]!, found);
    // Stryker disable next-line ConditionalExpression: maskSpans returns the text when there is nothing to mask: a shortcut
    if (!found.length) return text;
    const view = ansi[i];
    return maskSpans(text, view ? toOriginalSpans(view, found) : found, MASK);
  });
}

/** `text` with every secret the detectors find replaced by MASK. Idempotent. */
export function redactSecrets(text: string): string {
  return redactStrings([text])[0]!;
}

// redactDeep walks a value twice in the same order: once to gather its strings (keys included) for
// one batch, once to rebuild it from the redacted strings, masking whole values under secret keys
// and after secret argv flags.

/**
 * How deep redactDeep goes. Reports carry manifests a registry answered and shards from elsewhere: JSON
 * nested thousands deep would overflow the stack (Go accepts 10000 levels). Deeper values are left out.
 */
export const MAX_DEPTH = 256;
export const TOO_DEEP = `[nested deeper than ${MAX_DEPTH} levels: left out]`;

function gather(value: unknown, out: string[], depth = 0): void {
  if (depth > MAX_DEPTH) return;
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) gather(v, out, depth + 1);
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      out.push(k);
      gather(v, out, depth + 1);
    }
  }
}

function rebuild(value: unknown, next: () => string, depth = 0): unknown {
  if (depth > MAX_DEPTH) return TOO_DEEP;
  if (typeof value === 'string') return next();
  if (Array.isArray(value)) {
    const isLogin = value.includes('login');
    return value.map((v, i) => {
      const out = rebuild(v, next, depth + 1);
      const prev = value[i - 1];
      if (typeof v !== 'string' || typeof prev !== 'string') return out;
      // argv arrays split "--password s3cr3t" into two strings, which the text rules see one at a time
      if (SECRET_FLAGS.has(prev) || (isLogin && prev === '-p')) return MASK;
      // and "-u user:pw" (curl) likewise: the user stays
      const pw = userFlagSecret(prev, out as string);
      return pw ? maskSpans(out as string, [pw], MASK) : out;
    });
  }
  if (value !== null && typeof value === 'object') {
    // fromEntries makes every key an own property, "__proto__" too (JSON.parse makes one; `out[key] =` would set the prototype)
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => {
        const key = next();
        const rebuilt = rebuild(v, next, depth + 1);
        if (typeof v === 'string') return [key, v !== '' && isSecretKey(k) ? MASK : rebuilt];
        // a list under a secret key (`tokens: [...]`): each string of it is a secret
        if (Array.isArray(rebuilt) && isSecretListKey(k)) return [key, rebuilt.map((x) => (typeof x === 'string' && x !== '' && !isSecretReference(x) ? MASK : x))];
        return [key, rebuilt];
      }),
    );
  }
  return value;
}

/** A copy of `value` with every string masked, and every string under a secret-named key replaced whole. */
export function redactDeep<T>(value: T): Redacted<T> {
  const strings: string[] = [];
  gather(value, strings);
  const safe = redactStrings(strings);
  let i = 0;
  return rebuild(value, () => safe[i++]!) as Redacted<T>;
}
