// Small text helpers for command output, shared by errors, scenarios and reports.

// ANSI escape sequences (colours, cursor moves) as Buildx's tty progress prints them.
const ANSI = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)/g;

export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

export function lastLines(text: string, n: number): string {
  const lines = stripAnsi(text).replace(/\s+$/, '').split(/\r?\n/);
  return lines.slice(-n).join('\n');
}

const ERRORISH = /error|failed|denied|fatal/i;

const nonEmptyLines = (text: string) =>
  stripAnsi(text)
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);

/** The last line that reports an error, if any. */
export function findErrorLine(text: string): string | undefined {
  return nonEmptyLines(text).findLast((l) => ERRORISH.test(l));
}

/** The line a reader needs first: the last one that reports an error, else the last line. */
export function errorLine(text: string): string {
  return findErrorLine(text) ?? nonEmptyLines(text).at(-1) ?? '';
}

/** A Go panic or fatal error in a log, as one line: its message and the function it happened in. */
export function describeGoPanic(text: string): string | undefined {
  const plain = stripAnsi(text);
  const m = /(?:^|\n)((?:panic|fatal error): [^\n]*)/.exec(plain);
  if (!m) return undefined;
  const frame = /\ngoroutine \d+ \[[^\]\n]*\]:\n([^\n]+)/.exec(plain.slice(m.index + m[0].length))?.[1]?.trim();
  return clip(`${m[1]!.trim()}${frame ? ` in ${frame}` : ''}`, 300);
}

/** Text on one line (whitespace runs become one space), cut to `n` characters with "..." when longer. */
export function clip(text: string, n = 80): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > n ? `${one.slice(0, n - 3)}...` : one;
}

// Characters that change how the text around them is shown rather than being shown: C0 controls (ESC
// starts terminal sequences, CR overwrites a line), DEL, C1 controls (U+009B is a one-character CSI), and
// the bidirectional controls that reorder what a reader sees (Trojan Source, CVE-2021-42574). Evidence,
// names and errors come from other people's cases and output: these are shown as \\uXXXX, never obeyed.
const UNSHOWN = String.raw`\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069`;

/** A /g pattern of the control and bidi characters, less those in `keep` (e.g. '\\t\\n' for text shown as lines). */
export function unshownChars(keep = ''): RegExp {
  const kept = [...keep].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
  return new RegExp(kept ? `[[${UNSHOWN}]--[${kept}]]` : `[${UNSHOWN}]`, 'gv');
}

/** `text` with each character that `pattern` (a /g regexp) matches written as `\\uXXXX`. */
export function showAsEscapes(text: string, pattern: RegExp): string {
  return text.replace(pattern, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const UNSHOWN_IN_LINES = unshownChars('\t\n');

/** Text safe to print on a terminal: escape sequences (colours, cursor moves, OSC) removed, every other
 * control and bidi character but tab and newline shown as \\uXXXX. */
export function forTerminal(text: string): string {
  return showAsEscapes(stripAnsi(text), UNSHOWN_IN_LINES);
}

/** Escapes text for HTML or XML; `invalid` characters (which the format cannot carry) are shown as \\uXXXX. */
export function escapeMarkup(text: string, invalid: RegExp, apostrophe: '&#39;' | '&apos;'): string {
  return showAsEscapes(stripAnsi(text), invalid).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, apostrophe);
}

/**
 * One argument for `sh -c`: safe characters as they are, anything else inside single quotes (a quote
 * inside becomes '\''), so no value — a path from HOME, a tag, a user's regex — can break out.
 */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** argv as one copy-pastable shell line. */
export function shellJoin(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}
