// Compile failures the lab remembers, so that a module version known not to compile with this Go costs
// nothing the next time (Docker 24.0.9 took ~6 min of compiling on every cold run to fail the same way).
//
// - Only a compile error is recorded: `go build` exited 1 and everything it printed is the shape of one
//   (`# package` headers, `file.go:line:col: message` under them, indented continuations). A timeout, a
//   cancel, a killed compiler, a full disk, a lock or a network error says nothing about the code and is
//   never recorded.
// - A record's key is everything the outcome depends on: the module, its version, a hash of the build's
//   flags (targets, tags, ldflags, vendor.mod, preferred stand-ins), and the toolchain (`go env` GOVERSION,
//   GOTOOLCHAIN, GOOS, GOARCH). Another Go, or other flags, tries again.
// - Records are files the lab reads back: schema-checked; one that does not parse, or names another key,
//   is ignored (and removed), so the build runs. A record that cannot be verified is no evidence, and
//   skipping a version on it would hide that version for no reason; ignoring it costs one compile, which
//   is what every run paid before records existed.
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { redactSecrets } from '../redact/redact.ts';
import { showAsEscapes } from '../text.ts';

/** How a failed `go build` failed; only 'compile' is about the code itself. */
export type GoFailureKind = 'compile' | 'cancelled' | 'timeout' | 'signal' | 'resources' | 'lock' | 'network' | 'other';

export interface GoBuildOutcome {
  exitCode: number;
  stdout: string;
  stderr: string;
}

// exec.ts appends this when it killed the process for its timeout (and reports exit 124)
const TIMEOUT_MARK = /\[buildx-lab\] killed after \d+ ms timeout/;
// a compiler or linker child killed (OOM killer, kill -9): "internal/abi: …/compile: signal: killed"
const SIGNAL = /\bsignal: (?:killed|terminated|interrupt|hangup|quit|aborted|segmentation fault|bus error)\b|\bSIGKILL\b/i;
const RESOURCES = /no space left on device|disk quota exceeded|cannot allocate memory|out of memory|too many open files/i;
// cmd/go's lockedfile errors ("go: RLock /…/cache/lock: …"), and files another process holds
const LOCK = /\bR?Lock \/\S+: |resource temporarily unavailable|text file busy|\.lock\b.*: (?:permission denied|no such file)/i;
// (not "unexpected EOF": that is also a syntax error's message)
const NETWORK =
  /dial tcp|lookup \S+(?: on \S+)?: |no such host|i\/o timeout|TLS handshake|connection (?:refused|reset|timed out)|network is unreachable|proxyconnect|Get "https?:\/\/|reading https?:\/\/|verifying \S+: |missing go\.sum entry|server response:/i;

/** A line of a compile error: header, position, continuation, or the compiler's own remarks. */
const HEADER = /^# \S+(?: \[\S+\])?$/;
const POSITION = /^\S+\.(?:go|s):\d+(?::\d+)?: \S/;
const BENIGN = /^(?:\s+\S|note: module requires Go |go: downloading \S+ \S+$|too many errors$)/;

/**
 * How a failed `go build` failed, from its exit status and the shape of its output; pure. `cancelled` is
 * the caller's own abort signal. Anything not plainly a compile error is not 'compile'.
 */
export function classifyGoFailure(r: GoBuildOutcome, cancelled = false): GoFailureKind {
  const out = `${r.stderr}\n${r.stdout}`;
  if (cancelled) return 'cancelled';
  if (TIMEOUT_MARK.test(out)) return 'timeout';
  // exec.ts reports 124 for a process it killed on its timeout or cancel signal
  if (r.exitCode === 124) return 'cancelled';
  if (r.exitCode > 128 || SIGNAL.test(out)) return 'signal';
  if (RESOURCES.test(out)) return 'resources';
  if (LOCK.test(out)) return 'lock';
  if (NETWORK.test(out)) return 'network';
  return r.exitCode === 1 && isCompileErrorShape(out) ? 'compile' : 'other';
}

/**
 * True when every line is part of a compile error and at least one `file.go:l:c:` line stands under a
 * `# package` header. A position line without a header is a loading error (a missing package, a module
 * that could not be fetched), which go prints in the same form.
 */
function isCompileErrorShape(out: string): boolean {
  let header = false;
  let errorUnderHeader = false;
  for (const line of out.split('\n')) {
    if (!line.trim()) continue;
    if (HEADER.test(line)) header = true;
    else if (POSITION.test(line)) errorUnderHeader ||= header;
    else if (!BENIGN.test(line)) return false;
  }
  return errorUnderHeader;
}

/** What a compile's outcome depends on. */
export interface CompileFailureKey {
  module: string;
  version: string;
  /** sha256 of the build's flags (gobuild.ts's buildFlagsHash) */
  flags: string;
  goVersion: string;
  goToolchain: string;
  goos: string;
  goarch: string;
}

const SHORT = z.string().min(1).max(300);
// Text read back goes to the terminal and into reports: no control characters but line breaks and tabs.
const TEXT = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$/, 'control characters');

const keySchema = z.strictObject({
  module: SHORT,
  version: SHORT,
  flags: z.string().regex(/^[0-9a-f]{64}$/),
  goVersion: SHORT,
  goToolchain: SHORT,
  goos: SHORT,
  goarch: SHORT,
});

const recordSchema = z.strictObject({
  schema: z.literal(1),
  key: keySchema,
  failedAt: z.iso.datetime(),
  /** the package that did not compile, e.g. ./cmd/dockerd */
  target: TEXT(300),
  firstError: TEXT(300).optional(),
  /** the last lines go printed, redacted */
  output: TEXT(8000),
  /** stand-ins for versions the proxy refused, which the failure may be due to */
  replacements: z.array(z.strictObject({ module: TEXT(300), from: TEXT(300), to: TEXT(300) })).max(50),
});
export type CompileFailureRecord = z.infer<typeof recordSchema>;

export type Lookup = { state: 'none' } | { state: 'recorded'; record: CompileFailureRecord; file: string } | { state: 'ignored'; file: string; why: string };

const MAX_RECORD_BYTES = 64 * 1024;
const UNPRINTABLE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
const OUTPUT_LINES = 20;

/** go's output as a record keeps it: the last lines, secrets masked, control characters shown as escapes; pure. */
export function outputTail(text: string): string {
  const tail = text.trim().split('\n').slice(-OUTPUT_LINES).join('\n');
  const safe = showAsEscapes(redactSecrets(tail), UNPRINTABLE);
  return safe.length > 8000 ? safe.slice(-8000) : safe;
}

/** The record's file name: readable (module and version) and unique per key (its hash); pure. */
export function recordFileName(key: CompileFailureKey): string {
  const canonical = JSON.stringify(
    Object.keys(key)
      .sort()
      .map((k) => [k, key[k as keyof CompileFailureKey]]),
  );
  const hash = createHash('sha256').update(canonical).digest('hex').slice(0, 16);
  const slug = `${key.module.replace(/^github\.com\//, '')}@${key.version}`.replace(/[^A-Za-z0-9.+@-]+/g, '_').slice(0, 120);
  return `${slug}-${hash}.json`;
}

/** <cache>/go-build-failures: one JSON file per key. */
export class CompileFailures {
  readonly dir: string;
  constructor(cacheDir: string) {
    this.dir = path.join(cacheDir, 'go-build-failures');
  }

  fileFor(key: CompileFailureKey): string {
    return path.join(this.dir, recordFileName(key));
  }

  /** The record for `key`; a file that is not a valid record of exactly this key is removed and reported as ignored. */
  lookup(key: CompileFailureKey): Lookup {
    const file = this.fileFor(key);
    if (!existsSync(file)) return { state: 'none' };
    const why = (() => {
      // not followed: a FIFO would hang the read, a link to a device would never end
      const st = lstatSync(file);
      if (!st.isFile() || st.size > MAX_RECORD_BYTES) return `not a regular file of at most ${MAX_RECORD_BYTES} bytes`;
      let data: unknown;
      try {
        data = JSON.parse(readFileSync(file, 'utf8'));
      } catch (e) {
        return `not JSON (${(e as Error).message.slice(0, 100)})`;
      }
      const parsed = recordSchema.safeParse(data);
      if (!parsed.success)
        return `not a record (${parsed.error.issues
          .slice(0, 3)
          .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
          .join('; ')})`;
      if (!isDeepStrictEqual(parsed.data.key, key)) return 'it names another build';
      return parsed.data;
    })();
    if (typeof why !== 'string') return { state: 'recorded', record: why, file };
    rmSync(file, { force: true });
    return { state: 'ignored', file, why };
  }

  /** Writes atomically (a reader sees the old record or the new one, never half of one). */
  write(record: CompileFailureRecord): string {
    const valid = recordSchema.parse(record);
    const file = this.fileFor(valid.key);
    mkdirSync(this.dir, { recursive: true });
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, `${JSON.stringify(valid, null, 2)}\n`);
    renameSync(tmp, file);
    return file;
  }

  remove(key: CompileFailureKey): void {
    rmSync(this.fileFor(key), { force: true });
  }

  /** The record files, half-written ones included. */
  files(): string[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .filter((f) => /\.json(?:\.tmp-\d+)?$/.test(f))
      .map((f) => path.join(this.dir, f));
  }

  /** Removes every record (and any half-written one); returns the files removed. */
  clear(): string[] {
    const files = this.files();
    for (const f of files) rmSync(f, { force: true });
    return files;
  }
}
