// The lab's own registry reader. It checks every body against its digest itself, because the point
// of verification is not to trust Buildx's (or the registry's) word about what was stored.
import { HarnessError } from '../errors.ts';
import { MANIFEST_MEDIA_TYPES, digestOf, isDigest, type Problem } from './types.ts';

/**
 * Manifests, indexes, configs and tag lists are read whole. distribution refuses manifests over 4 MiB
 * (maxManifestBodySize), so nothing the lab reads can rightly be larger.
 */
export const MAX_JSON_BYTES = 4 << 20;
const MAX_REDIRECTS = 5;
const MAX_TAG_PAGES = 10_000;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export interface RegistryClientOptions {
  /** e.g. http://127.0.0.1:34567 */
  baseUrl: string;
  /** default 'buildx-lab-verify', so the fault proxy journal can tell the lab's reads from Buildx's */
  userAgent?: string;
  /** per request; default 30 000 */
  timeoutMs?: number;
}

/** The registry could not be asked (connection refused, timeout) or answered with an unexpected status. */
export class RegistryRequestError extends HarnessError {
  override readonly kind = 'registry-request';
  constructor(
    message: string,
    readonly url: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A body larger than the client will hold: `limit` is the 4 MiB JSON limit or a descriptor's size. */
export class BodyTooLargeError extends RegistryRequestError {
  constructor(
    message: string,
    url: string,
    status: number,
    readonly limit: number,
  ) {
    super(message, url, status);
  }
}

export type ManifestResult =
  | {
      found: true;
      status: number;
      /** the body's own mediaType field, else Content-Type */
      mediaType: string;
      contentType: string;
      /** computed from the body: the truth, whatever the headers say */
      digest: string;
      headerDigest?: string;
      size: number;
      raw: Buffer;
      /** parsed body; undefined when it is not JSON (then `problems` says so) */
      json: unknown;
      problems: Problem[];
    }
  | { found: false; status: number; url: string };

export type ManifestHead = { found: true; status: number; mediaType: string; digest?: string; size?: number } | { found: false; status: number; url: string };

export type BlobResult = { found: true; status: number; bytes: Buffer; size: number; digest: string; problems: Problem[] } | { found: false; status: number; url: string };

export interface BlobHead {
  exists: boolean;
  status: number;
  size?: number;
  headerDigest?: string;
}

export class RegistryClient {
  readonly baseUrl: string;
  readonly userAgent: string;
  readonly timeoutMs: number;

  constructor(opts: RegistryClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.userAgent = opts.userAgent ?? 'buildx-lab-verify';
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  /** host[:port] of the registry, for report lines. */
  get host(): string {
    return new URL(this.baseUrl).host;
  }

  async getManifest(repo: string, reference: string): Promise<ManifestResult> {
    const url = `${this.baseUrl}/v2/${repo}/manifests/${reference}`;
    const res = await this.request('GET', url, { Accept: MANIFEST_MEDIA_TYPES.join(', ') });
    if (res.status === 404) return { found: false, status: 404, url };
    this.expectOk(res, url);
    const where = `${repo}@${reference}`;
    const raw = await this.body(res, url, MAX_JSON_BYTES, `manifest ${where} is larger than the ${MAX_JSON_BYTES}-byte limit (distribution's own)`);
    const digest = digestOf(raw, isDigest(reference) ? reference : undefined);
    const headerDigest = res.headers.get('docker-content-digest') ?? undefined;
    const problems = digestProblems(where, digest, headerDigest, isDigest(reference) ? reference : undefined);
    const contentType = stripParams(res.headers.get('content-type'));
    let json: unknown;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch {
      problems.push({ code: 'invalid-manifest', where, detail: `body (${raw.length} bytes, ${contentType}) is not JSON` });
    }
    const bodyType = isRecord(json) && typeof json.mediaType === 'string' ? json.mediaType : undefined;
    return {
      found: true,
      status: res.status,
      mediaType: bodyType ?? contentType,
      contentType,
      digest,
      ...(headerDigest !== undefined && { headerDigest }),
      size: raw.length,
      raw,
      json,
      problems,
    };
  }

  async headManifest(repo: string, reference: string): Promise<ManifestHead> {
    const url = `${this.baseUrl}/v2/${repo}/manifests/${reference}`;
    const res = await this.request('HEAD', url, { Accept: MANIFEST_MEDIA_TYPES.join(', ') });
    if (res.status === 404) return { found: false, status: 404, url };
    this.expectOk(res, url);
    const digest = res.headers.get('docker-content-digest') ?? undefined;
    const size = contentLength(res);
    return {
      found: true,
      status: res.status,
      mediaType: stripParams(res.headers.get('content-type')),
      ...(digest !== undefined && { digest }),
      ...(size !== undefined && { size }),
    };
  }

  /** The blob's bytes; more than `size` (its descriptor's) is refused with BodyTooLargeError. */
  async getBlob(repo: string, digest: string, size: number): Promise<BlobResult> {
    const url = `${this.baseUrl}/v2/${repo}/blobs/${digest}`;
    const res = await this.request('GET', url, {});
    if (res.status === 404) return { found: false, status: 404, url };
    this.expectOk(res, url);
    const bytes = await this.body(res, url, size, `blob ${repo}@${digest} is larger than the descriptor's ${size} bytes`);
    const actual = digestOf(bytes, digest);
    const problems = digestProblems(`${repo}@${digest}`, actual, res.headers.get('docker-content-digest') ?? undefined, digest);
    return { found: true, status: res.status, bytes, size: bytes.length, digest: actual, problems };
  }

  async headBlob(repo: string, digest: string): Promise<BlobHead> {
    const url = `${this.baseUrl}/v2/${repo}/blobs/${digest}`;
    const res = await this.request('HEAD', url, {});
    if (res.status === 404) return { exists: false, status: 404 };
    this.expectOk(res, url);
    const size = contentLength(res);
    const headerDigest = res.headers.get('docker-content-digest') ?? undefined;
    return {
      exists: true,
      status: res.status,
      ...(size !== undefined && { size }),
      ...(headerDigest !== undefined && { headerDigest }),
    };
  }

  /**
   * Uploads a blob the registry lacks (a HEAD first): POST a session, PATCH the body in, then PUT
   * ?digest= to commit it. `body` yields the bytes; `check` runs after the last of them and before the
   * commit, so a body found wrong (a cache file that does not hash to its name) is never stored: the
   * session is cancelled and `check`'s error thrown. Returns false when the blob was there already.
   */
  async putBlob(repo: string, digest: string, body: AsyncIterable<Uint8Array>, check: () => void): Promise<boolean> {
    if ((await this.headBlob(repo, digest)).exists) return false;
    const start = `${this.baseUrl}/v2/${repo}/blobs/uploads/`;
    const opened = await this.request('POST', start, { 'Content-Length': '0' });
    await opened.body?.cancel();
    const session = this.uploadLocation(opened, start);
    const patched = await this.request('PATCH', session, { 'Content-Type': 'application/octet-stream' }, body);
    await patched.body?.cancel();
    if (patched.status !== 202) throw new RegistryRequestError(`PATCH ${session} answered ${patched.status} ${patched.statusText}`, session, patched.status);
    const next = this.uploadLocation(patched, session);
    try {
      check();
    } catch (e) {
      await this.request('DELETE', next, {}).then(
        (r) => r.body?.cancel(),
        () => undefined,
      );
      throw e;
    }
    const url = new URL(next);
    url.searchParams.set('digest', digest);
    const put = await this.request('PUT', url.href, { 'Content-Length': '0' });
    await put.body?.cancel();
    if (put.status !== 201) throw new RegistryRequestError(`PUT ${url.href} answered ${put.status} ${put.statusText}`, url.href, put.status);
    return true;
  }

  /** Stores a manifest under `reference`; the registry's Docker-Content-Digest must be the body's own. */
  async putManifest(repo: string, reference: string, mediaType: string, raw: Buffer): Promise<string> {
    const url = `${this.baseUrl}/v2/${repo}/manifests/${reference}`;
    const res = await this.request('PUT', url, { 'Content-Type': mediaType }, raw);
    await res.body?.cancel();
    if (res.status !== 201) throw new RegistryRequestError(`PUT ${url} answered ${res.status} ${res.statusText}`, url, res.status);
    const digest = digestOf(raw);
    const said = res.headers.get('docker-content-digest');
    if (said !== null && said !== digest) throw new RegistryRequestError(`PUT ${url}: the registry stored ${said}, not the body's ${digest}`, url, res.status);
    return digest;
  }

  /** The upload session a 202 names, on this registry only. */
  private uploadLocation(res: Response, url: string): string {
    const location = res.headers.get('location');
    if (res.status !== 202 || location === null) throw new RegistryRequestError(`${url} answered ${res.status} ${res.statusText}, not an upload session`, url, res.status);
    return this.sameOrigin(new URL(location, url), `an upload session from ${url}`);
  }

  /**
   * All tags, following Link pagination on this registry only; [] when the repository is unknown.
   * `pageSize` asks for pages of that many tags (`?n=`); by default the registry chooses.
   */
  async listTags(repo: string, opts: { pageSize?: number } = {}): Promise<string[]> {
    const tags: string[] = [];
    const seen = new Set<string>();
    let url: string | undefined = `${this.baseUrl}/v2/${repo}/tags/list${opts.pageSize ? `?n=${opts.pageSize}` : ''}`;
    while (url) {
      if (seen.has(url)) throw new RegistryRequestError(`GET ${url}: Link pagination comes back to ${url}, a page already read`, url);
      if (seen.size >= MAX_TAG_PAGES) throw new RegistryRequestError(`GET ${url}: more than ${MAX_TAG_PAGES} pages of tags`, url);
      seen.add(url);
      const res = await this.request('GET', url, { Accept: 'application/json' });
      if (res.status === 404) return tags;
      this.expectOk(res, url);
      const text = (await this.body(res, url, MAX_JSON_BYTES, `tag list ${url} is larger than the ${MAX_JSON_BYTES}-byte limit`)).toString('utf8');
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (cause) {
        throw new RegistryRequestError(`GET ${url}: tag list is not JSON: ${text.slice(0, 200)}`, url, res.status, { cause });
      }
      if (isRecord(parsed) && Array.isArray(parsed.tags)) tags.push(...parsed.tags.filter((t): t is string => typeof t === 'string'));
      const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(res.headers.get('link') ?? '')?.[1];
      // RFC 8288: a relative link resolves against the page it came in.
      url = next ? this.sameOrigin(new URL(next, url), `Link pagination from ${url}`) : undefined;
    }
    return tags;
  }

  /** `target` when it is on the registry's own origin; anything else would send the lab's reads elsewhere. */
  private sameOrigin(target: URL, what: string): string {
    const home = new URL(this.baseUrl).origin;
    if (target.origin !== home) {
      throw new RegistryRequestError(`refusing to follow ${what} to ${target.href}: the lab reads only from ${home}`, target.href);
    }
    return target.href;
  }

  /** fetch without its own redirect handling: redirects are followed here, on the same origin only. */
  private async request(method: string, url: string, headers: Record<string, string>, body?: Buffer | AsyncIterable<Uint8Array>): Promise<Response> {
    let current = url;
    for (let hop = 0; ; hop++) {
      let res: Response;
      try {
        res = await fetch(current, {
          method,
          headers: { 'User-Agent': this.userAgent, ...headers },
          redirect: 'manual',
          // a streamed body is sent once: no redirect may ask for it again (sameOrigin still applies)
          ...(body === undefined ? {} : Buffer.isBuffer(body) ? { body } : { body: body as unknown as ReadableStream, duplex: 'half' }),
          signal: AbortSignal.timeout(this.timeoutMs),
        } as RequestInit);
      } catch (cause) {
        throw new RegistryRequestError(`${method} ${current} failed: ${describeCause(cause)}`, current, undefined, { cause });
      }
      const location = res.headers.get('location');
      if (!REDIRECTS.has(res.status) || location === null) return res;
      await res.body?.cancel();
      if (body !== undefined && !Buffer.isBuffer(body))
        throw new RegistryRequestError(`${method} ${current}: a redirect (${res.status}) for a streamed body, which cannot be sent again`, current, res.status);
      if (hop >= MAX_REDIRECTS) throw new RegistryRequestError(`${method} ${url}: more than ${MAX_REDIRECTS} redirects`, url, res.status);
      current = this.sameOrigin(new URL(location, current), `a redirect (${res.status}) from ${current}`);
    }
  }

  /** Reads a body, at most `limit` bytes: a larger declared length is refused before reading, a longer stream on the way. */
  private async body(res: Response, url: string, limit: number, tooLarge: string): Promise<Buffer> {
    const refuse = async () => {
      await res.body?.cancel().catch(() => undefined);
      return new BodyTooLargeError(`GET ${url}: ${tooLarge}`, url, res.status, limit);
    };
    const declared = contentLength(res);
    if (declared !== undefined && declared > limit) throw await refuse();
    const chunks: Uint8Array[] = [];
    let size = 0;
    try {
      for await (const chunk of res.body ?? []) {
        size += chunk.length;
        if (size > limit) throw await refuse();
        chunks.push(chunk);
      }
    } catch (cause) {
      if (cause instanceof BodyTooLargeError) throw cause;
      throw new RegistryRequestError(`reading body of ${url} failed: ${describeCause(cause)}`, url, res.status, { cause });
    }
    return Buffer.concat(chunks, size);
  }

  // Only 404 is an answer verification can use; anything else (401, 5xx) means the lab could not read.
  private expectOk(res: Response, url: string): void {
    if (res.ok) return;
    throw new RegistryRequestError(`${url} answered ${res.status} ${res.statusText}`, url, res.status);
  }
}

function digestProblems(where: string, actual: string, header: string | undefined, requested: string | undefined): Problem[] {
  const problems: Problem[] = [];
  if (requested !== undefined && actual !== requested) {
    problems.push({ code: 'digest-mismatch', where, detail: `requested ${requested} but body hashes to ${actual}` });
  }
  if (header !== undefined && header !== actual) {
    problems.push({ code: 'digest-mismatch', where, detail: `Docker-Content-Digest says ${header} but body hashes to ${actual}` });
  }
  return problems;
}

function contentLength(res: Response): number | undefined {
  const v = res.headers.get('content-length');
  return v !== null && /^\d+$/.test(v) ? Number(v) : undefined;
}

function stripParams(contentType: string | null): string {
  return (contentType ?? '').split(';')[0]!.trim();
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const inner = cause.cause instanceof Error ? ` (${cause.cause.message})` : '';
    return `${cause.message}${inner}`;
  }
  return String(cause);
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
