// Completeness verification: reads what the registry really holds under a tag and lists every way it
// differs from a complete multi-platform push. Pure checks (check*) are separate from the fetching walk.
import { VerificationError } from '../errors.ts';
import { BodyTooLargeError, isRecord, type BlobHead, type BlobResult, type ManifestResult, type RegistryClient } from './client.ts';
import {
  ANNOTATION_REFERENCE_DIGEST,
  formatPlatform,
  isAttestationManifest,
  isIndexMediaType,
  isManifestMediaType,
  normalizePlatform,
  shortDigest,
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  type Problem,
  type ProblemCode,
} from './types.ts';

export type { Problem, ProblemCode } from './types.ts';

export interface VerifyOptions {
  /** expected non-attestation platforms, e.g. ['linux/amd64', 'linux/arm64'] */
  platforms: string[];
  /** a single manifest under the tag is a problem (default true) */
  requireIndex?: boolean;
  /** how to check layers; default: GET (and hash) layers under 1 MiB, HEAD larger ones */
  fetchLayers?: 'head' | 'get';
}

export interface VerificationReport {
  ref: string;
  ok: boolean;
  topMediaType?: string;
  topDigest?: string;
  /** platforms found, excluding attestation manifests */
  platforms: string[];
  attestations: number;
  problems: Problem[];
  /** raw manifest JSON by digest, kept as evidence */
  manifests: Record<string, unknown>;
}

/** Layers up to this size are fetched whole so their digest is checked, not just their presence. */
export const SMALL_LAYER_BYTES = 1 << 20;

const NO_PLATFORM = '(no platform)';

// ---------------------------------------------------------------------------------------------
// Pure checks

export function descriptorPlatform(desc: Descriptor): string {
  return desc.platform ? formatPlatform(desc.platform) : NO_PLATFORM;
}

/** Platforms of the non-attestation children, in index order (duplicates kept). */
export function indexPlatforms(index: ImageIndex): string[] {
  return index.manifests.filter((d) => !isAttestationManifest(d)).map(descriptorPlatform);
}

function comparable(p: string): string {
  try {
    return normalizePlatform(p);
  } catch {
    return p; // "(no platform)" or malformed: compared verbatim so it shows up as extra
  }
}

/** Found platform list against the expected set: missing, extra and duplicate entries. */
export function checkPlatformSet(found: readonly string[], expected: readonly string[], where: string): Problem[] {
  const problems: Problem[] = [];
  const want = new Set(expected.map(normalizePlatform));
  const counts = new Map<string, number>();
  for (const p of found) counts.set(comparable(p), (counts.get(comparable(p)) ?? 0) + 1);
  for (const p of want) {
    if (!counts.has(p)) problems.push({ code: 'missing-platform', where, detail: `expected ${p}, not in the image` });
  }
  for (const [p, n] of counts) {
    if (!want.has(p)) problems.push({ code: 'extra-platform', where, detail: `${p} is present but was not expected` });
    if (n > 1) problems.push({ code: 'duplicate-platform', where, detail: `${p} appears ${n} times` });
  }
  return problems;
}

/**
 * Shape of an index on its own: child media types, the platform set, and that every attestation
 * manifest refers to a platform manifest of this same index.
 */
export function checkIndexShape(index: ImageIndex, expectedPlatforms: readonly string[], where = 'index'): Problem[] {
  const problems = checkPlatformSet(indexPlatforms(index), expectedPlatforms, where);
  const platformDigests = new Set(index.manifests.filter((d) => !isAttestationManifest(d)).map((d) => d.digest));
  index.manifests.forEach((d, i) => {
    const at = `${where} manifests[${i}] ${isAttestationManifest(d) ? 'attestation' : descriptorPlatform(d)}`;
    if (!isManifestMediaType(d.mediaType)) {
      problems.push({ code: 'bad-media-type', where: at, detail: `child ${shortDigest(d.digest)} has media type ${d.mediaType}, expected an image manifest` });
    }
    if (!isAttestationManifest(d)) return;
    const target = d.annotations?.[ANNOTATION_REFERENCE_DIGEST];
    if (!target) {
      problems.push({ code: 'dangling-attestation', where: at, detail: `attestation ${d.digest} has no ${ANNOTATION_REFERENCE_DIGEST} annotation` });
    } else if (!platformDigests.has(target)) {
      problems.push({ code: 'dangling-attestation', where: at, detail: `attestation ${d.digest} refers to ${target}, which is no platform manifest of this index` });
    }
  });
  return problems;
}

/** What the registry served for a descriptor, against the descriptor. Digest is checked by the client. */
export function checkDescriptor(desc: Descriptor, actual: { size: number; mediaType?: string }, where: string): Problem[] {
  const problems: Problem[] = [];
  if (actual.size !== desc.size) {
    problems.push({ code: 'size-mismatch', where, detail: `${desc.digest}: descriptor says ${desc.size} bytes, registry has ${actual.size}` });
  }
  if (actual.mediaType !== undefined && actual.mediaType !== desc.mediaType) {
    problems.push({ code: 'bad-media-type', where, detail: `${desc.digest}: descriptor says ${desc.mediaType}, registry serves ${actual.mediaType}` });
  }
  return problems;
}

function isDescriptor(v: unknown): v is Descriptor {
  return isRecord(v) && typeof v.mediaType === 'string' && typeof v.digest === 'string' && typeof v.size === 'number';
}

export function asIndex(json: unknown): ImageIndex | undefined {
  return isRecord(json) && Array.isArray(json.manifests) && json.manifests.every(isDescriptor) ? (json as unknown as ImageIndex) : undefined;
}

export function asManifest(json: unknown): ImageManifest | undefined {
  return isRecord(json) && isDescriptor(json.config) && Array.isArray(json.layers) && json.layers.every(isDescriptor) ? (json as unknown as ImageManifest) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Fetching walk

/** The client's size limits are about registry content, which verification reports rather than throws. */
function tooLarge(err: unknown): { tooLarge: BodyTooLargeError } {
  if (err instanceof BodyTooLargeError) return { tooLarge: err };
  throw err;
}

async function manifestOrTooLarge(client: RegistryClient, repo: string, ref: string, where: string): Promise<ManifestResult | Problem> {
  const r = await client.getManifest(repo, ref).catch(tooLarge);
  return 'tooLarge' in r ? { code: 'invalid-manifest', where, detail: `${ref}: ${r.tooLarge.message}` } : r;
}

type LayerMode = 'head' | 'get';

/** Shares blob reads between manifests (platforms usually share base layers). */
class BlobReader {
  private readonly gets = new Map<string, Promise<BlobResult>>();
  private readonly heads = new Map<string, Promise<BlobHead>>();
  constructor(
    private readonly client: RegistryClient,
    private readonly repo: string,
  ) {}

  /** Never more than the descriptor's size is read (a longer body is a BodyTooLargeError). */
  get(desc: Descriptor): Promise<BlobResult> {
    const key = `${desc.digest}/${desc.size}`;
    let p = this.gets.get(key);
    if (!p) {
      p = this.client.getBlob(this.repo, desc.digest, desc.size);
      this.gets.set(key, p);
    }
    return p;
  }

  head(digest: string): Promise<BlobHead> {
    let p = this.heads.get(digest);
    if (!p) {
      p = this.client.headBlob(this.repo, digest);
      this.heads.set(digest, p);
    }
    return p;
  }
}

async function checkBlob(blobs: BlobReader, desc: Descriptor, mode: LayerMode, where: string): Promise<{ problems: Problem[]; bytes?: Buffer }> {
  if (mode === 'get') {
    const r = await blobs.get(desc).catch(tooLarge);
    if ('tooLarge' in r) {
      return { problems: [{ code: 'size-mismatch', where, detail: `${desc.digest}: registry sent more than the descriptor's ${desc.size} bytes` }] };
    }
    if (!r.found) return { problems: [{ code: 'missing-blob', where, detail: `${desc.digest} (${desc.size} bytes): registry answered ${r.status}` }] };
    const problems = r.problems.map((p) => ({ ...p, where }));
    problems.push(...checkDescriptor(desc, { size: r.size }, where));
    return { problems, bytes: r.bytes };
  }
  const h = await blobs.head(desc.digest);
  if (!h.exists) return { problems: [{ code: 'missing-blob', where, detail: `${desc.digest} (${desc.size} bytes): registry answered ${h.status}` }] };
  const problems: Problem[] = [];
  if (h.size !== undefined) problems.push(...checkDescriptor(desc, { size: h.size }, where));
  if (h.headerDigest !== undefined && h.headerDigest !== desc.digest) {
    problems.push({ code: 'digest-mismatch', where, detail: `requested ${desc.digest} but Docker-Content-Digest says ${h.headerDigest}` });
  }
  return { problems };
}

/** Config (always fetched whole: it is small and holds the platform) and every layer of one manifest. */
async function checkManifestBlobs(
  blobs: BlobReader,
  manifest: ImageManifest,
  label: string,
  fetchLayers: LayerMode | undefined,
): Promise<{ problems: Problem[]; config?: ImageConfig }> {
  const cfg = await checkBlob(blobs, manifest.config, 'get', `${label} config`);
  const layers = await Promise.all(manifest.layers.map((l, i) => checkBlob(blobs, l, fetchLayers ?? (l.size < SMALL_LAYER_BYTES ? 'get' : 'head'), `${label} layers[${i}]`)));
  const problems = [...cfg.problems, ...layers.flatMap((l) => l.problems)];
  let config: ImageConfig | undefined;
  if (cfg.bytes) {
    try {
      const parsed: unknown = JSON.parse(cfg.bytes.toString('utf8'));
      if (isRecord(parsed)) config = parsed as ImageConfig;
    } catch {
      problems.push({ code: 'invalid-manifest', where: `${label} config`, detail: `${manifest.config.digest} is not JSON` });
    }
  }
  return config ? { problems, config } : { problems };
}

function configPlatform(c: ImageConfig | undefined): string {
  if (!c?.os || !c.architecture) return NO_PLATFORM;
  return formatPlatform({ os: c.os, architecture: c.architecture, ...(c.variant ? { variant: c.variant } : {}) });
}

/** Reads the tag and everything it references from the registry; never throws for registry content. */
export async function verifyImage(client: RegistryClient, repo: string, tag: string, opts: VerifyOptions): Promise<VerificationReport> {
  const ref = `${client.host}/${repo}:${tag}`;
  const report: VerificationReport = { ref, ok: false, platforms: [], attestations: 0, problems: [], manifests: {} };
  const problems = report.problems;
  const top = await manifestOrTooLarge(client, repo, tag, `${repo}:${tag}`);
  if ('code' in top) {
    problems.push(top);
    return report;
  }
  if (!top.found) {
    problems.push({ code: 'not-found', where: `${repo}:${tag}`, detail: `GET ${top.url} answered ${top.status}` });
    return report;
  }
  report.topMediaType = top.mediaType;
  report.topDigest = top.digest;
  report.manifests[top.digest] = top.json;
  const topWhere = `${repo}:${tag}`;
  problems.push(...top.problems.map((p) => ({ ...p, where: topWhere })));
  const blobs = new BlobReader(client, repo);

  if (isIndexMediaType(top.mediaType)) {
    const index = asIndex(top.json);
    if (!index) {
      problems.push({ code: 'invalid-manifest', where: topWhere, detail: `${top.mediaType} body has no valid manifests[] list` });
      return finish(report);
    }
    report.platforms = indexPlatforms(index);
    report.attestations = index.manifests.length - report.platforms.length;
    problems.push(...checkIndexShape(index, opts.platforms, topWhere));
    const byDigest = new Map(index.manifests.filter((d) => !isAttestationManifest(d)).map((d) => [d.digest, descriptorPlatform(d)]));
    const children = await Promise.all(
      index.manifests.map(async (desc, i): Promise<Problem[]> => {
        const label = isAttestationManifest(desc)
          ? `attestation for ${byDigest.get(desc.annotations?.[ANNOTATION_REFERENCE_DIGEST] ?? '') ?? '?'} (manifests[${i}])`
          : descriptorPlatform(desc);
        const got = await manifestOrTooLarge(client, repo, desc.digest, label);
        if ('code' in got) return [got];
        if (!got.found) return [{ code: 'missing-manifest', where: label, detail: `${desc.digest}: registry answered ${got.status}` }];
        report.manifests[got.digest] = got.json;
        const out = got.problems.map((p) => ({ ...p, where: label }));
        out.push(...checkDescriptor(desc, { size: got.size, mediaType: got.mediaType }, label));
        const manifest = isManifestMediaType(got.mediaType) ? asManifest(got.json) : undefined;
        if (!manifest) {
          if (got.json !== undefined) out.push({ code: 'invalid-manifest', where: label, detail: `${desc.digest} (${got.mediaType}) is not an image manifest` });
          return out;
        }
        out.push(...(await checkManifestBlobs(blobs, manifest, label, opts.fetchLayers)).problems);
        return out;
      }),
    );
    problems.push(...children.flat());
  } else if (isManifestMediaType(top.mediaType)) {
    const manifest = asManifest(top.json);
    if (!manifest) {
      problems.push({ code: 'invalid-manifest', where: topWhere, detail: `${top.mediaType} body has no valid config and layers` });
      return finish(report);
    }
    const checked = await checkManifestBlobs(blobs, manifest, topWhere, opts.fetchLayers);
    const platform = configPlatform(checked.config);
    report.platforms = [platform];
    if (opts.requireIndex ?? true) {
      problems.push({ code: 'not-an-index', where: topWhere, detail: `tag is a single ${top.mediaType} for ${platform}, not an index` });
    } else {
      problems.push(...checkPlatformSet(report.platforms, opts.platforms, topWhere));
    }
    problems.push(...checked.problems);
  } else {
    problems.push({ code: 'bad-media-type', where: topWhere, detail: `tag resolves to ${top.mediaType || '(no media type)'}, neither an index nor a manifest` });
  }
  return finish(report);
}

function finish(report: VerificationReport): VerificationReport {
  report.ok = report.problems.length === 0;
  return report;
}

// ---------------------------------------------------------------------------------------------
// Presentation

export function formatProblem(p: Problem): string {
  return `[${p.code}] ${p.where}: ${p.detail}`;
}

/** One line of counts by code, e.g. "2 missing-blob, 1 digest-mismatch"; "no problems" when empty. */
export function summarizeProblems(problems: readonly Problem[]): string {
  if (problems.length === 0) return 'no problems';
  const counts = new Map<ProblemCode, number>();
  for (const p of problems) counts.set(p.code, (counts.get(p.code) ?? 0) + 1);
  return [...counts].map(([code, n]) => `${n} ${code}`).join(', ');
}

export function describeReport(report: VerificationReport): string {
  const lines = [`${report.ref}: ${report.ok ? 'complete' : `INCOMPLETE (${summarizeProblems(report.problems)})`}`];
  if (report.topDigest) lines.push(`  top: ${report.topMediaType} ${report.topDigest}`);
  if (report.topDigest) {
    const att = report.attestations ? ` (+${report.attestations} attestation manifest${report.attestations === 1 ? '' : 's'})` : '';
    lines.push(`  platforms: ${report.platforms.join(', ') || '(none)'}${att}`);
  }
  for (const p of report.problems) lines.push(`  - ${formatProblem(p)}`);
  return lines.join('\n');
}

/** For callers that need a failed verification as an error (kind 'verification'). */
export function toVerificationError(report: VerificationReport): VerificationError {
  return new VerificationError(`${report.ref} is incomplete in the registry`, report.problems.map(formatProblem));
}
