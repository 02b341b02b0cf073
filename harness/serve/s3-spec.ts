// ${s3}: what a case may ask of the lab's S3 endpoint (`serve.s3` in case.yaml) and the pure rules the
// endpoint's front applies to every request before the real server (versitygw) sees it. A cell gets a
// bucket of its own, bound to its engine's address on the lab network; a request is passed on only when
// it stays inside that bucket (path-style, plain object keys, a copy source in the same bucket). The
// credentials are made per run and carry a marker the redactor masks wherever they appear.
import { randomBytes } from 'node:crypto';
import { z } from 'zod';

// what the case schema takes from here besides the S3 rules: the journal kinds a `requests` check may name
export { SOURCE_KINDS } from './spec.ts';

export interface S3ServeSpec {
  /** the region the server signs for (SigV4's credential scope must name it) */
  region: string;
}

/** Lab values a case names when it serves s3; the first is the endpoint. */
export const S3_VALUES = ['s3', 's3Bucket', 's3Region', 's3AccessKeyId', 's3SecretAccessKey'] as const;
export type S3ValueName = (typeof S3_VALUES)[number];

export const DEFAULT_S3_REGION = 'us-east-1';

/** An AWS-shaped region name (us-east-1, eu-central-2, a custom lab-1): it ends up in the server's flags and every signature. */
export function regionProblem(r: string): string | undefined {
  if (!/^[a-z]{2,10}(-[a-z0-9]{1,20}){1,3}$/.test(r)) return 'is not a region name (lower-case words and digits joined by -, e.g. us-east-1)';
  return undefined;
}

/** `serve.s3`: `true`, or `{region: ...}`. The zod schema case.yaml uses; errors read like the rest of the case's. */
export const s3ServeSchema = z
  .union([
    z.literal(true),
    z.strictObject({
      region: z
        .string()
        .max(60)
        .superRefine((v, ctx) => {
          const why = regionProblem(v);
          if (why) ctx.addIssue({ code: 'custom', message: why });
        })
        .optional(),
    }),
  ])
  .transform((v): S3ServeSpec => ({ region: (v === true ? undefined : v.region) ?? DEFAULT_S3_REGION }));

/**
 * Whether the case's use of ${s3...} and its serve.s3 agree: naming a value without serving it, or serving
 * without naming the endpoint, is refused at load (the message names the fix). Pure.
 */
export function s3UseProblem(served: boolean, uses: ReadonlySet<string>): string | undefined {
  const named = S3_VALUES.filter((v) => uses.has(v));
  if (!served && named.length) return `the case names \${${named[0]}} but serves no S3 endpoint: add serve.s3 (e.g. \`s3: true\`; see fixtures/cases/README.md)`;
  if (served && !uses.has('s3')) return 'is served but no step names ${s3}; use it (e.g. --cache-to type=s3,endpoint_url=${s3},bucket=${s3Bucket},...) or leave it out';
  return undefined;
}

/** The per-run root credentials: an access key id (not secret) and a secret the redactor recognises by its marker. */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** Prefix of every secret the lab makes; harness/redact masks `buildx-lab-secret-` and its hex digits (even cut short) anywhere. */
export const LAB_SECRET_PREFIX = 'buildx-lab-secret-';

/** Fresh credentials; `bytes` is injectable for tests. */
export function makeCredentials(bytes: (n: number) => Buffer = randomBytes): S3Credentials {
  return { accessKeyId: `BXLAB${bytes(8).toString('hex').toUpperCase()}`.slice(0, 20), secretAccessKey: `${LAB_SECRET_PREFIX}${bytes(20).toString('hex')}` };
}

/** A cell's bucket: its id and run, within S3's bucket-name rules (3-63, lower-case, digits, -); pure. */
export function bucketFor(cellId: string, run: number): string {
  const base = cellId
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/^-+|-+$/g, '');
  const name = `lab-${base}-${run + 1}`.slice(0, 63).replace(/-+$/, '');
  if (bucketProblem(name)) throw new Error(`cell id ${JSON.stringify(cellId)} gives no bucket name (${name})`);
  return name;
}

/** S3's bucket-name rules, narrowed: no dots (path-style only, never a host name). */
export function bucketProblem(b: string): string | undefined {
  if (!/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(b)) return 'is not a bucket name of the lab (3-63 lower-case letters, digits and -)';
  return undefined;
}

/** One request as the front sees it. */
export interface S3Request {
  method: string;
  /** the path as received, percent-encoded, without the query */
  path: string;
  query: string;
  /** x-amz-copy-source, when the request has one */
  copySource?: string;
  /** x-amz-copy-source-range is present */
  copyRange?: boolean;
}

export type S3Route = { bucket: string; key?: string } | { status: number; code: string; why: string };

const METHODS = new Set(['GET', 'HEAD', 'PUT', 'POST', 'DELETE']);
/** Bucket-level operations a cell may make on its own bucket: reads, and the listing BuildKit does. */
const BUCKET_READS = new Set(['GET', 'HEAD']);

/** A percent-decoded key, or undefined when it is not a plain key (dot segments, a NUL, a backslash, bad escapes). */
function plainKey(encoded: string): string | undefined {
  let key: string;
  try {
    key = decodeURIComponent(encoded);
  } catch {
    return undefined;
  }
  if (!key || key.length > 1024 || /[\0\\]/.test(key)) return undefined;
  if (key.split('/').some((s) => s === '.' || s === '..')) return undefined;
  return key;
}

/**
 * Where a request goes, or why the front refuses it; pure. `own` is the bucket bound to the client's
 * address (undefined: the client is no cell's engine). Path-style only: /BUCKET or /BUCKET/KEY.
 */
export function s3Route(r: S3Request, own: string | undefined): S3Route {
  const deny = (why: string) => ({ status: 403, code: 'AccessDenied', why });
  if (!METHODS.has(r.method)) return { status: 405, code: 'MethodNotAllowed', why: `${r.method} is not served` };
  if (own === undefined) return deny('this address is no cell engine of the lab: no bucket is bound to it');
  const m = /^\/([^/?#]*)(?:\/(.*))?$/s.exec(r.path);
  if (!m?.[1]) return deny('listing buckets is not served: each cell has one bucket, ${s3Bucket}');
  const [, bucket, rawKey] = m as unknown as [string, string, string | undefined];
  if (bucket !== own) return deny(`bucket ${bucket.slice(0, 80)} is not this cell's (its bucket is ${own})`);
  if (rawKey === undefined || rawKey === '') {
    if (!BUCKET_READS.has(r.method)) return deny(`${r.method} on the bucket itself is not served (the lab makes and removes it)`);
    return { bucket };
  }
  const key = plainKey(rawKey);
  if (key === undefined) return { status: 400, code: 'InvalidArgument', why: 'the object key is not plain (dot segments, NUL, backslash or a bad escape)' };
  if (r.copySource !== undefined) {
    const src = /^\/?([^/]+)\/(.+?)(?:\?versionId=[^&]*)?$/s.exec(r.copySource);
    if (!src || src[1] !== own || plainKey(src[2]!) === undefined) return deny("x-amz-copy-source must name an object in this cell's own bucket");
    // A copy adds bytes no upload cap counts: only the in-place copy BuildKit's cache makes to refresh an
    // object (source and destination the same key), never a part copy or a range.
    if (plainKey(src[2]!) !== key) return deny('a copy is served only onto the same key (an in-place refresh); copies to another key would grow the bucket past the upload cap');
    if (r.copyRange || /(?:^|&)(partNumber|uploadId)=/.test(r.query)) return deny('part copies (UploadPartCopy, x-amz-copy-source-range) are not served');
  }
  return { bucket, key };
}

/** An S3-style XML error body (what SDKs parse into a code and message); pure. */
export function s3ErrorXml(code: string, message: string, resource: string): string {
  const esc = (s: string) => s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${esc(code)}</Code><Message>buildx-lab: ${esc(message)}</Message><Resource>${esc(resource.slice(0, 200))}</Resource></Error>\n`;
}
