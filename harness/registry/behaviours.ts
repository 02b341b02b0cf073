// Registry behaviours: emulations of real registries that differ from CNCF distribution, applied by the fault
// proxy per repository. Each one sees a request before it is forwarded (and may answer it itself) and the
// registry's answer to requests that were forwarded. They never touch sockets: the proxy hands them the
// request and a narrow view of the upstream registry, and sends whatever they answer.

import type { IncomingHttpHeaders } from 'node:http';
import { UsageError } from '../errors.ts';
import type { RegistryBehaviour } from '../model.ts';
import { isIndexMediaType } from '../oci/types.ts';
import { isDigestReference, type ParsedRegistryPath } from './journal.ts';

/** The closed list of behaviours, for the matrix and case vocabulary. */
export const REGISTRY_BEHAVIOURS = [
  { name: 'plain', description: 'CNCF distribution as it is: last write wins on tags' },
  { name: 'immutable-tags', description: 'a PUT to an existing tag is refused (409 DENIED), like ECR/Harbor immutable tags' },
  { name: 'known-index-not-retagged', description: 'an index PUT whose digest is already stored answers 201 without moving the tag' },
  { name: 'subject-must-exist', description: 'a manifest whose subject the repository does not hold is refused (400 MANIFEST_BLOB_UNKNOWN), like gitlab.com' },
  { name: 'late-blob-visibility', description: 'a blob just uploaded answers 404 to HEAD and GET for a while, like eventually consistent storage' },
] as const satisfies readonly { name: string; description: string }[];

export type RegistryBehaviourName = (typeof REGISTRY_BEHAVIOURS)[number]['name'];

// The model's axis values must stay a subset of the names here.
const MODEL_NAMES_ARE_KNOWN: readonly RegistryBehaviourName[] = [] as RegistryBehaviour[];
void MODEL_NAMES_ARE_KNOWN;

export function isRegistryBehaviourName(s: string): s is RegistryBehaviourName {
  return REGISTRY_BEHAVIOURS.some((b) => b.name === s);
}

export interface LateBlobOptions {
  /** how many HEAD/GET requests for the blob answer 404 after its upload completed (default 1) */
  hideForRequests?: number;
  /** how long after the upload completed HEAD/GET answer 404 (default 0); with both, the longer wins */
  hideForMs?: number;
}

/** A behaviour by name, or one with options. */
export type BehaviourSpec = RegistryBehaviourName | ({ name: 'late-blob-visibility' } & LateBlobOptions);

/** What a behaviour may read of a request. */
export interface RegistryRequest {
  /** upper case */
  readonly method: string;
  readonly route: ParsedRegistryPath;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  /** the buffered body; only manifest PUTs are buffered */
  readonly body?: Buffer;
  /** sha256 of `body` */
  readonly bodyDigest?: string;
}

/** What a behaviour may ask of the real registry, with the client's Host and credentials. */
export interface Upstream {
  /** HEAD of a /v2/ path; true on 200. Rejects when the registry cannot be reached. */
  exists(path: string): Promise<boolean>;
}

/** A response the proxy sends instead of forwarding. */
export interface Answer {
  status: number;
  headers: Record<string, string | number>;
  body?: Buffer;
}

export interface RegistryEmulation {
  readonly name: RegistryBehaviourName;
  /** Before forwarding: an Answer means the proxy answers this request itself and forwards nothing. */
  intercept(req: RegistryRequest, upstream: Upstream): Promise<Answer | undefined>;
  /** After the registry answered a forwarded request. */
  observe(req: RegistryRequest, status: number, headers: IncomingHttpHeaders): void;
}

/** A distribution-style error answer: {"errors":[{code,message[,detail]}]}. */
export function errorAnswer(status: number, code: string, message: string, detail?: string): Answer {
  const body = Buffer.from(JSON.stringify({ errors: [{ code, message, ...(detail !== undefined ? { detail } : {}) }] }));
  return { status, headers: { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length }, body };
}

function jsonField(body: Buffer | undefined, field: string): unknown {
  if (!body) return undefined;
  try {
    const v: unknown = JSON.parse(body.toString('utf8'));
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[field] : undefined;
  } catch {
    return undefined; // not JSON: the registry will reject it, that is not ours to judge
  }
}

const isManifestPut = (r: RegistryRequest) => r.method === 'PUT' && r.route.kind === 'manifests' && !!r.route.repository && !!r.route.reference;

const passThrough = async (): Promise<undefined> => undefined;
const ignore = (): void => undefined;

function plain(): RegistryEmulation {
  return { name: 'plain', intercept: passThrough, observe: ignore };
}

/**
 * EMULATION of immutable tags: ECR (imageTagMutability=IMMUTABLE), Harbor immutable tag rules, Mirantis
 * MSR/DTR immutable repositories. Once a tag exists, any PUT to it is refused, even with identical content.
 * Their status and error code differ (ECR reportedly answers 400 TAG_INVALID); the lab uses one fixed answer,
 * 409 DENIED, so cells compare. PUTs by digest never move a tag and pass.
 */
function immutableTags(): RegistryEmulation {
  return {
    name: 'immutable-tags',
    async intercept(req, upstream) {
      const { repository, reference } = req.route;
      if (!isManifestPut(req) || isDigestReference(reference!)) return undefined;
      if (!(await upstream.exists(`/v2/${repository}/manifests/${reference}`))) return undefined;
      return errorAnswer(409, 'DENIED', `tag ${reference} is immutable`);
    },
    observe: ignore,
  };
}

/**
 * EMULATION of a dedup shortcut: success for an index whose digest is already stored, without re-pointing
 * the tag. Not tied to a verified named registry: it models the failure mode "the registry said 201 but the
 * tag still shows what an earlier PUT wrote". Single manifests still move the tag.
 */
function knownIndexNotRetagged(): RegistryEmulation {
  return {
    name: 'known-index-not-retagged',
    async intercept(req, upstream) {
      const { repository, reference } = req.route;
      if (!isManifestPut(req) || isDigestReference(reference!) || !req.bodyDigest) return undefined;
      const mediaType = req.headers['content-type'] ?? jsonField(req.body, 'mediaType');
      if (!isIndexMediaType(typeof mediaType === 'string' ? mediaType : undefined)) return undefined;
      if (!(await upstream.exists(`/v2/${repository}/manifests/${req.bodyDigest}`))) return undefined;
      return { status: 201, headers: { location: `/v2/${repository}/manifests/${req.bodyDigest}`, 'docker-content-digest': req.bodyDigest, 'content-length': 0 } };
    },
    observe: ignore,
  };
}

/**
 * EMULATION of registries that keep a strong reference from a manifest to its `subject`, against the
 * OCI distribution spec (1.1 says a registry MUST accept a manifest whose subject does not exist yet):
 * - gitlab.com refused BuildKit's attestation manifests (which carry a `subject` since moby/buildkit#5561)
 *   whenever the image manifest was new, naming the subject's digest: "blob unknown to registry - sha256:..."
 *   https://github.com/moby/buildkit/issues/7007, https://github.com/moby/buildkit/issues/5561,
 *   worked around in https://github.com/docker/build-push-action/pull/1593;
 * - Docker Hub answered "400 manifest blob unknown" to a manifest with a subject in 2022
 *   https://github.com/oras-project/oras/issues/666;
 * - the spec discussion of such registries: https://github.com/opencontainers/distribution-spec/issues/459.
 * The answer is distribution's for a manifest naming an unknown blob: 400 MANIFEST_BLOB_UNKNOWN, with the
 * subject digest as detail. PUTs by tag and by digest are both checked.
 */
function subjectMustExist(): RegistryEmulation {
  return {
    name: 'subject-must-exist',
    async intercept(req, upstream) {
      if (!isManifestPut(req)) return undefined;
      const subject = jsonField(req.body, 'subject') as { digest?: unknown } | undefined;
      const digest = typeof subject?.digest === 'string' ? subject.digest : undefined;
      if (!digest || !isDigestReference(digest)) return undefined;
      if (await upstream.exists(`/v2/${req.route.repository}/manifests/${digest}`)) return undefined;
      return errorAnswer(400, 'MANIFEST_BLOB_UNKNOWN', 'blob unknown to registry', digest);
    },
    observe: ignore,
  };
}

/** Blobs a late-visibility registry still hides, oldest first; bounded so a long run cannot grow it. */
const MAX_HIDDEN_BLOBS = 10_000;

/**
 * EMULATION of a registry whose storage makes a completed upload visible late: right after the upload's final
 * PUT (or a monolithic or cross-repository mount POST) answered 201, HEAD and GET of that blob answer 404
 * BLOB_UNKNOWN for `hideForRequests` requests and/or `hideForMs`. Reported with distribution on eventually
 * consistent object storage (S3 before 2020, S3-compatible stores since):
 * https://github.com/distribution/distribution/issues/61 (read-after-write race on layer upload),
 * https://github.com/distribution/distribution/issues/1636 (HEAD of a just-pushed blob: 404 blob unknown),
 * https://github.com/distribution/distribution/issues/1948 (S3-compatible stores without read-after-write),
 * https://github.com/moby/moby/issues/36823 (intermittent "unknown blob" right after "Pushed").
 * The real registry behind the proxy holds the blob all along: only reads through the proxy are hidden.
 */
function lateBlobVisibility(opts: LateBlobOptions, now: () => number): RegistryEmulation {
  const requests = opts.hideForRequests ?? 1;
  const ms = opts.hideForMs ?? 0;
  const hidden = new Map<string, { left: number; until: number }>();
  return {
    name: 'late-blob-visibility',
    async intercept(req) {
      const { kind, repository, reference } = req.route;
      if (kind !== 'blobs' || (req.method !== 'HEAD' && req.method !== 'GET') || !repository || !reference) return undefined;
      const key = `${repository}@${reference}`;
      const h = hidden.get(key);
      if (!h) return undefined;
      if (h.left <= 0 && now() >= h.until) {
        hidden.delete(key);
        return undefined;
      }
      h.left--;
      return errorAnswer(404, 'BLOB_UNKNOWN', 'blob unknown to registry', reference);
    },
    observe(req, status, headers) {
      const { kind, repository } = req.route;
      if (kind !== 'uploads' || status !== 201 || !repository) return;
      const digest = [headers['docker-content-digest']].flat()[0] ?? req.query.get('digest');
      if (!digest) return;
      const key = `${repository}@${digest}`;
      hidden.delete(key); // re-inserted last: the map stays oldest first
      hidden.set(key, { left: requests, until: now() + ms });
      if (hidden.size > MAX_HIDDEN_BLOBS) hidden.delete(hidden.keys().next().value!);
    },
  };
}

/** A fresh emulation (with its own state) for a behaviour spec. */
export function createBehaviour(spec: BehaviourSpec, now: () => number = () => performance.now()): RegistryEmulation {
  const name = typeof spec === 'string' ? spec : spec.name;
  if (!isRegistryBehaviourName(name)) {
    throw new UsageError(`unknown registry behaviour "${String(name)}"; known: ${REGISTRY_BEHAVIOURS.map((b) => b.name).join(', ')}`);
  }
  switch (name) {
    case 'plain':
      return plain();
    case 'immutable-tags':
      return immutableTags();
    case 'known-index-not-retagged':
      return knownIndexNotRetagged();
    case 'subject-must-exist':
      return subjectMustExist();
    case 'late-blob-visibility':
      return lateBlobVisibility(typeof spec === 'string' ? {} : checkLateBlob(spec), now);
  }
}

function checkLateBlob(o: LateBlobOptions): LateBlobOptions {
  for (const [k, v] of Object.entries(o)) {
    if (k !== 'name' && v !== undefined && !(Number.isInteger(v) && v >= 0)) throw new UsageError(`late-blob-visibility: ${k} must be a whole number >= 0, got ${String(v)}`);
  }
  return o;
}
