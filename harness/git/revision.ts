// `git:<repo>@<rev>`: a Buildx (later BuildKit) tree named by a Git repository and a revision in it. Pure.
// The text comes from the command line and from case files, so it is hostile: nothing in it may become a
// git option, reach another transport (ext::, ssh, git://), or walk out of a path with `..`. A file:// URL
// is only another way to write a local path, and is read as one.
import path from 'node:path';
import { UsageError } from '../errors.ts';

export interface GitRevision {
  /** an absolute, normalised local path (also when written as a file:// URL), or an http(s) URL with no credentials, query or fragment */
  repo: string;
  kind: 'path' | 'url';
  /** a tag, a branch or a (possibly abbreviated) hex commit; never starts with '-' */
  rev: string;
}

export const GIT_PREFIX = 'git:';
const EXAMPLE = 'git:/src/buildx@v0.21.0-rc2, git:file:///src/buildx@master or git:https://github.com/docker/buildx.git@master';
// Whitespace, controls, format characters (bidi overrides, zero-width): never in a repo or a ref we accept.
const INVISIBLE = /[\s\p{Cc}\p{Cf}]/u;
const HEX_COMMIT = /^[0-9a-f]{7,64}$/;
// A ref name as git check-ref-format allows it, narrowed to what tags and branches use: it must start with a
// letter or digit (so never '-', '.' or '/'), and holds no revision syntax (~ ^ : ? * [ \ @{).
const REF_NAME = /^[A-Za-z0-9][A-Za-z0-9._+/-]*$/;

const show = (s: string) => JSON.stringify(s.length > 200 ? `${s.slice(0, 200)}...` : s);

/** Whether `spec` is meant as a Git revision (then parseGitRevision judges it). */
export function isGitSpec(spec: string): boolean {
  return spec.startsWith(GIT_PREFIX);
}

/** A tag, branch or commit name, or the reason it is refused (a phrase); pure. */
export function refProblem(rev: string): string | undefined {
  if (!rev) return 'is empty';
  if (rev.length > 255) return 'is longer than 255 characters';
  if (HEX_COMMIT.test(rev)) return undefined;
  if (!REF_NAME.test(rev)) return 'must start with a letter or digit and hold only letters, digits and . _ + - / (no revision expressions like HEAD~1 or v1^)';
  if (rev.includes('..') || rev.includes('//') || rev.includes('/.') || rev.endsWith('/') || rev.endsWith('.'))
    return 'holds "..", "//", "/." or ends with "/" or "." (git refuses such names)';
  if (rev.split('/').some((c) => c.endsWith('.lock'))) return 'has a component ending in ".lock"';
  return undefined;
}

function localRepo(repo: string, spec: string): string {
  const trimmed = repo.replace(/\/+$/, '');
  const segments = trimmed.split('/').slice(1);
  if (!segments.length || segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw new UsageError(`${show(spec)}: the repository path must be absolute and normalised (no "//", "." or ".." segments, not "/"); write e.g. ${EXAMPLE}`);
  }
  return path.posix.normalize(trimmed);
}

function urlOf(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/** file:///abs/path (or file://localhost/abs/path) as the path it names; percent-escapes decoded, then judged as a path. */
function fileUrlRepo(repo: string, spec: string): string {
  const u = urlOf(repo);
  if (!u || (u.hostname !== '' && u.hostname !== 'localhost') || u.username || u.password || u.search || u.hash || repo.includes('?') || repo.includes('#'))
    throw new UsageError(`${show(spec)}: a file:// URL names a local path: file:///abs/path, with no host, credentials, query or fragment; write e.g. ${EXAMPLE}`);
  // the URL parser resolves "." and ".." segments away: the text as written is checked for them too
  if (/\/(?:\.|%2e){1,2}(?:\/|$)/i.test(repo.replace(/^file:\/\/[^/]*/i, '')))
    throw new UsageError(`${show(spec)}: the repository path must be absolute and normalised (no "//", "." or ".." segments, not "/"); write e.g. ${EXAMPLE}`);
  let pathname: string;
  try {
    pathname = decodeURIComponent(u.pathname);
  } catch {
    throw new UsageError(`${show(spec)}: the file:// URL holds a broken percent-escape; write e.g. ${EXAMPLE}`);
  }
  if (INVISIBLE.test(pathname)) throw new UsageError(`${show(spec)}: the repository path may hold no whitespace, control or invisible formatting characters`);
  return localRepo(pathname, spec);
}

function urlRepo(repo: string, spec: string): string {
  const u = urlOf(repo);
  if (!u || !['http:', 'https:'].includes(u.protocol) || !u.hostname) throw new UsageError(`${show(spec)}: ${show(repo)} is not an http(s) URL; write e.g. ${EXAMPLE}`);
  // Credentials would be written into reports and evidence; git's credential helpers keep them out of argv.
  if (u.username || u.password) throw new UsageError(`${show(spec)}: the URL holds credentials; remove them and use a git credential helper`);
  if (u.search || u.hash || repo.includes('?') || repo.includes('#')) throw new UsageError(`${show(spec)}: the URL holds a query or fragment; give the plain repository URL`);
  // The URL parser would resolve them (also written %2e) into another repository's path than the one shown.
  if (/\/(?:\.|%2e){1,2}(?:\/|$)/i.test(repo.replace(/^https?:\/\/[^/]*/i, '')))
    throw new UsageError(`${show(spec)}: the URL path holds "." or ".." segments; give the repository's own URL`);
  return u.href;
}

/** Parses `git:<repo>@<rev>`; a UsageError names what to change. The rev is what follows the last '@'. */
export function parseGitRevision(spec: string): GitRevision {
  if (!isGitSpec(spec)) throw new UsageError(`${show(spec)} is not a Git revision; write git:<repo>@<rev>, e.g. ${EXAMPLE}`);
  if (spec.length > 4096) throw new UsageError(`${show(spec)}: a Git revision spec is at most 4096 characters`);
  if (INVISIBLE.test(spec)) throw new UsageError(`${show(spec)}: a Git revision spec may hold no whitespace, control or invisible formatting characters; remove them`);
  const body = spec.slice(GIT_PREFIX.length);
  const at = body.lastIndexOf('@');
  if (at < 0) throw new UsageError(`${show(spec)} names no revision; append @<tag, branch or commit>, e.g. ${EXAMPLE}`);
  const [repo, rev] = [body.slice(0, at), body.slice(at + 1)];
  const problem = refProblem(rev);
  if (problem) throw new UsageError(`${show(spec)}: the revision ${show(rev)} ${problem}; give a tag, a branch or a hex commit`);
  if (repo.startsWith('/')) return { repo: localRepo(repo, spec), kind: 'path', rev };
  if (/^file:\/\//i.test(repo)) return { repo: fileUrlRepo(repo, spec), kind: 'path', rev };
  if (/^https?:\/\//i.test(repo)) return { repo: urlRepo(repo, spec), kind: 'url', rev };
  throw new UsageError(
    `${show(spec)}: the repository must be an absolute local path, a file:// URL or an http(s) URL (relative paths, ssh, git:// and other transports are refused); write e.g. ${EXAMPLE}`,
  );
}

/** The spec back as text, for reports and run specs. */
export function formatGitRevision(r: GitRevision): string {
  return `${GIT_PREFIX}${r.repo}@${r.rev}`;
}
