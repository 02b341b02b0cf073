// What a case asks the lab to serve to its builds (`serve:` in case.yaml), as plain data, and the pure rules
// its names must follow. The case schema (repro/case-schema.ts) validates into these types; the servers
// (http-files.ts, git-server.ts, s3-server.ts; s3-spec.ts holds the S3 rules) take them. Names end up in
// URLs, Git ref names and .gitmodules, so each is held to a narrow, documented shape here rather than
// escaped later.
import type { S3ServeSpec } from './s3-spec.ts';

/** Journal `kind` of the source servers' requests; the registry's are manifests, blobs, uploads, tags, base, other. */
export const SOURCE_KINDS = ['http', 'git', 's3', 'otlp'] as const;
export type SourceKind = (typeof SOURCE_KINDS)[number];

/** A file served over HTTP: a case file as it is, or a tarball the lab makes from a case directory. */
export type ServedFile = { file: string } | { tar: string; gzip?: boolean };

export type HttpFaultKind = 'slow' | 'truncate' | 'wrong-length';

export interface HttpFault {
  /** the URL path it applies to, exactly (a key of `files`) */
  path: string;
  kind: HttpFaultKind;
  /** slow: wait this long before answering (default 2000) */
  ms?: number;
  /** truncate: send the full Content-Length, then this many bytes of the body, then close (default half) */
  afterBytes?: number;
  /** wrong-length: Content-Length is off by this (default +1: the client waits for a byte that never comes) */
  by?: number;
  /** how many requests it applies to; every one when omitted */
  times?: number;
}

export interface HttpServeSpec {
  /** URL path (e.g. /Dockerfile) -> what is served there */
  files: Record<string, ServedFile>;
  faults: HttpFault[];
}

export interface TagSpec {
  name: string;
  /** annotated when it has a message; lightweight otherwise */
  message?: string;
}

export interface CommitSpec {
  /** a case directory: the whole tree of this commit */
  tree: string;
  message?: string;
  tags: TagSpec[];
  /** branches (besides main) that point at this commit */
  branches: string[];
}

export interface RepoSpec {
  /** on main, oldest first; none: an empty repository */
  commits: CommitSpec[];
  /** path in every commit -> another repository served here (its main) */
  submodules: Record<string, string>;
}

export type GitAuth = { token: string } | { username: string; password: string };

export interface GitServeSpec {
  /** repository name -> its history; served at ${git}/NAME.git */
  repos: Record<string, RepoSpec>;
  auth?: GitAuth;
}

export interface ServeSpec {
  http?: HttpServeSpec;
  git?: GitServeSpec;
  s3?: S3ServeSpec;
}

/** Bounds on what a case may ask to be served. */
export const SERVE_LIMITS = {
  files: 50,
  faults: 20,
  repos: 10,
  commits: 20,
  refsPerCommit: 10,
  submodules: 10,
  /** every tarball and file served, together */
  servedBytes: 128 << 20,
  credential: 200,
} as const;

/** A URL path the HTTP server may serve: absolute, plain segments, no dot segments; pure. */
export function servedPathProblem(p: string): string | undefined {
  if (!/^(\/[A-Za-z0-9][A-Za-z0-9._~-]{0,99}){1,10}$/.test(p))
    return 'is not a URL path of plain segments (e.g. /Dockerfile, /ctx/app.tar.gz: letters, digits, . _ ~ -, each segment starting with a letter or digit)';
  return undefined;
}

/** A repository name: served at /NAME.git, so no slashes and no .git of its own; pure. */
export function repoNameProblem(n: string): string | undefined {
  if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(n)) return 'is not a repository name (lower-case letters, digits, _ and -, at most 63; served as NAME.git)';
  return undefined;
}

/**
 * A branch or tag name under git-check-ref-format's rules, narrowed to a plain alphabet: components of
 * letters, digits, . _ -, none starting with . or ending with .lock, no .., no trailing . or /; pure.
 */
export function refNameProblem(n: string): string | undefined {
  const why = 'is not a Git ref name (letters, digits, . _ - and / between components; no .., no component starting with . or ending with .lock)';
  if (n.length > 100 || n === 'HEAD' || n === '@') return why;
  if (!/^[A-Za-z0-9_][A-Za-z0-9._-]*(\/[A-Za-z0-9_][A-Za-z0-9._-]*)*$/.test(n)) return why;
  if (n.includes('..') || n.endsWith('.')) return why;
  if (n.split('/').some((c) => c.startsWith('.') || c.endsWith('.lock'))) return why;
  return undefined;
}

/** A submodule path inside a commit: relative plain segments, never .git or a dot segment; pure. */
export function submodulePathProblem(p: string): string | undefined {
  if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}(\/[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}){0,9}$/.test(p))
    return 'is not a submodule path (relative, plain segments: letters, digits, . _ -, none starting with .)';
  return undefined;
}

/** A credential: printable ASCII without spaces or colons (it goes into a Basic header and an env var); pure. */
export function credentialProblem(v: string, what: 'token' | 'username' | 'password'): string | undefined {
  const chars = what === 'password' ? /^[\x21-\x7e]+$/ : /^[\x21-\x39\x3b-\x7e]+$/;
  if (!chars.test(v) || v.length > SERVE_LIMITS.credential)
    return `is not a ${what} (printable ASCII, no spaces${what === 'password' ? '' : ' or colons'}, at most ${SERVE_LIMITS.credential})`;
  return undefined;
}

/**
 * Repositories in the order they must be built: a submodule's repository before the one naming it. Throws
 * an Error naming the unknown repository or the cycle; pure.
 */
export function repoBuildOrder(repos: Record<string, RepoSpec>): string[] {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, via: string[]) => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') throw new Error(`submodules form a cycle: ${[...via, name].join(' -> ')}`);
    state.set(name, 'visiting');
    for (const [p, dep] of Object.entries(repos[name]!.submodules)) {
      if (!(dep in repos)) throw new Error(`repository ${name}: submodule ${p} names ${dep}, which is not served (repos: ${Object.keys(repos).join(', ')})`);
      if (!repos[dep]!.commits.length) throw new Error(`repository ${name}: submodule ${p} names ${dep}, which is empty (a submodule needs a commit)`);
      visit(dep, [...via, name]);
    }
    state.set(name, 'done');
    order.push(name);
  };
  for (const name of Object.keys(repos)) visit(name, []);
  return order;
}
