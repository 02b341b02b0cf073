// OCI / Docker distribution vocabulary used by the lab's own registry reader.
// Everything here is pure so verification rules can be tested without a registry.
import { createHash } from 'node:crypto';
import { UsageError } from '../errors.ts';

export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_LAYER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
export const IN_TOTO = 'application/vnd.in-toto+json';

/** Every manifest/index type the lab accepts; sent as Accept so the registry never down-converts. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

export const ANNOTATION_REFERENCE_TYPE = 'vnd.docker.reference.type';
export const ANNOTATION_REFERENCE_DIGEST = 'vnd.docker.reference.digest';
export const ATTESTATION_MANIFEST = 'attestation-manifest';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: number;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageManifest {
  schemaVersion: number;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** The part of an image config verification reads. */
export interface ImageConfig {
  os?: string;
  architecture?: string;
  variant?: string;
}

export type ProblemCode =
  | 'not-found'
  | 'not-an-index'
  | 'missing-platform'
  | 'extra-platform'
  | 'duplicate-platform'
  | 'missing-manifest'
  | 'missing-blob'
  | 'digest-mismatch'
  | 'size-mismatch'
  | 'dangling-attestation'
  | 'bad-media-type'
  // body is not the JSON document its media type promises
  | 'invalid-manifest';

/** One way the registry's content differs from what a complete push leaves. */
export interface Problem {
  code: ProblemCode;
  /** where in the image graph: "app:latest", "linux/arm64 config", "attestation 1 layers[0]" */
  where: string;
  detail: string;
}

/** Bare media type of a Content-Type header: parameters dropped, lower case. */
export function bareMediaType(contentType: string | undefined): string | undefined {
  return contentType === undefined ? undefined : contentType.split(';')[0]!.trim().toLowerCase();
}

export function isIndexMediaType(mediaType: string | undefined): boolean {
  const mt = bareMediaType(mediaType);
  return mt === OCI_INDEX || mt === DOCKER_MANIFEST_LIST;
}

export function isManifestMediaType(mediaType: string | undefined): boolean {
  const mt = bareMediaType(mediaType);
  return mt === OCI_MANIFEST || mt === DOCKER_MANIFEST;
}

/** BuildKit's attestation manifests: unknown/unknown platform tagged as attestation-manifest. */
export function isAttestationManifest(desc: Descriptor): boolean {
  return desc.platform?.os === 'unknown' && desc.platform.architecture === 'unknown' && desc.annotations?.[ANNOTATION_REFERENCE_TYPE] === ATTESTATION_MANIFEST;
}

export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

export function parsePlatform(s: string): Platform {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((x) => x === '')) {
    throw new UsageError(`invalid platform "${s}": expected os/architecture[/variant], e.g. linux/arm64 or linux/arm/v7`);
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return variant ? { os, architecture, variant } : { os, architecture };
}

/**
 * Canonical form for comparing platforms. Only linux/arm64/v8 -> linux/arm64 is folded, as containerd
 * does, because BuildKit writes either; any other variant difference is a real difference.
 */
export function normalizePlatform(s: string): string {
  const p = parsePlatform(s);
  if (p.architecture === 'arm64' && p.variant === 'v8') return `${p.os}/arm64`;
  return formatPlatform(p);
}

const DIGEST_RE = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

export function isDigest(s: string): boolean {
  return DIGEST_RE.test(s);
}

/** Digest of `bytes` in the algorithm of `like` (a digest), sha256 by default. */
export function digestOf(bytes: Uint8Array, like?: string): string {
  const algorithm = like?.startsWith('sha512:') ? 'sha512' : 'sha256';
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/** sha256:0123456789ab, for human lines; full digests stay in details. */
export function shortDigest(d: string): string {
  const i = d.indexOf(':');
  return i < 0 ? d : d.slice(0, i + 13);
}
