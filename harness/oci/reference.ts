// Image reference parsing, following the distribution/reference grammar closely enough for the lab.
import { UsageError } from '../errors.ts';
import { isDigest } from './types.ts';

export interface ImageRef {
  /** host[:port]; "docker.io" when the reference names none */
  registry: string;
  repository: string;
  /** the digest when one is given, otherwise the tag ("latest" when absent) */
  reference: string;
  tag?: string;
  digest?: string;
}

const EXPECTED = 'expected [registry[:port]/]repository[:tag][@sha256:<64 hex>], e.g. registry:5000/app/x:tag';
const COMPONENT_RE = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const HOST_RE = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::\d+)?$/;

export function parseImageRef(input: string): ImageRef {
  const bad = (why: string): never => {
    throw new UsageError(`invalid image reference "${input}": ${why}; ${EXPECTED}`);
  };
  let rest = input.trim();
  if (!rest) bad('empty');

  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) bad(`"${digest}" is not a digest`);
  }

  // A colon after the last slash separates the tag; one before it belongs to a registry port.
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) bad(`"${tag}" is not a valid tag`);
  }

  // Like Docker: the first component is a registry only if it looks like a host.
  let registry = 'docker.io';
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['))) {
    if (!HOST_RE.test(first)) bad(`"${first}" is not a valid registry host`);
    registry = first;
    rest = rest.slice(slash + 1);
  }
  if (!rest) bad('no repository');
  for (const c of rest.split('/')) if (!COMPONENT_RE.test(c)) bad(`repository component "${c}" is invalid (lowercase letters, digits, separators)`);
  const repository = registry === 'docker.io' && !rest.includes('/') ? `library/${rest}` : rest;

  const ref: ImageRef = { registry, repository, reference: digest ?? tag ?? 'latest' };
  if (tag !== undefined || digest === undefined) ref.tag = tag ?? 'latest';
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

export function formatImageRef(r: ImageRef): string {
  return `${r.registry}/${r.repository}${r.tag !== undefined ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}
