// ${http}: the lab's plain HTTP file server for what a build fetches by URL: remote Dockerfiles, build
// contexts (tarballs the lab makes from a case directory), bake files, ADD sources. It serves a fixed map
// made when it starts (a path is looked up, never resolved on disk), GET and HEAD only, with ETag and
// Last-Modified as BuildKit's HTTP source uses them, and the case's faults: slow, truncate, wrong-length.
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { UsageError } from '../errors.ts';
import type { Journal } from '../registry/journal.ts';
import { HostServer, type ListenAddress, type SourceRequest } from './host-server.ts';
import { SERVE_LIMITS, type HttpFault, type HttpServeSpec } from './spec.ts';

/** The case's files as the servers read them: each read is checked against the case directory again. */
export interface CaseSource {
  /** one case file's bytes */
  file(rel: string): Buffer;
  /** the files under a case directory, paths relative to it, '/'-separated, sorted */
  dir(rel: string): { rel: string; content: Buffer; mode: number }[];
}

interface Served {
  body: Buffer;
  type: string;
  etag: string;
}

/** One date for every tar entry and Last-Modified: the same case serves the same bytes. */
const FIXED_DATE = new Date('2020-01-01T00:00:00Z');

/** A tarball of `files` (sorted, uid/gid 0, one fixed mtime); gzip when asked. */
export async function tarball(files: readonly { rel: string; content: Buffer; mode: number }[], gzip = false): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    p.on('data', (c: unknown) => chunks.push(c as Buffer));
    p.on('end', () => resolve());
    p.on('error', reject);
  });
  for (const f of files) p.entry({ name: f.rel, size: f.content.length, mode: f.mode, mtime: FIXED_DATE, uid: 0, gid: 0 }, f.content);
  p.finalize();
  await done;
  const tar = Buffer.concat(chunks);
  return gzip ? gzipSync(tar, { level: 6 }) : tar;
}

function contentType(path: string): string {
  if (/\.(tar\.gz|tgz)$/.test(path)) return 'application/gzip';
  if (/\.tar$/.test(path)) return 'application/x-tar';
  if (/\.json$/.test(path)) return 'application/json';
  return /\.(hcl|ya?ml|txt|toml)$|Dockerfile$|\/[^.]*$/.test(path) ? 'text/plain; charset=utf-8' : 'application/octet-stream';
}

/** Reads every served file once, so the answers do not change while cells run. Throws UsageError over the size bound. */
export async function servedContent(spec: HttpServeSpec, source: CaseSource): Promise<Map<string, Served>> {
  const out = new Map<string, Served>();
  let bytes = 0;
  for (const [path, what] of Object.entries(spec.files)) {
    const body = 'file' in what ? source.file(what.file) : await tarball(source.dir(what.tar), what.gzip ?? false);
    bytes += body.length;
    if (bytes > SERVE_LIMITS.servedBytes) throw new UsageError(`serve.http.files: more than ${SERVE_LIMITS.servedBytes >> 20} MiB to serve; serve less`);
    out.set(path, { body, type: contentType(path), etag: `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"` });
  }
  return out;
}

export class HttpFileServer {
  readonly #remaining: number[];

  private constructor(
    readonly server: HostServer,
    private readonly content: Map<string, Served>,
    private readonly faults: readonly HttpFault[],
  ) {
    this.#remaining = faults.map((f) => f.times ?? Infinity);
  }

  static async start(spec: HttpServeSpec, source: CaseSource, journal: Journal, listen: readonly ListenAddress[]): Promise<HttpFileServer> {
    const content = await servedContent(spec, source);
    let self: HttpFileServer | undefined;
    const server = await HostServer.start('http', journal, listen, (x) => self!.#handle(x));
    self = new HttpFileServer(server, content, spec.faults);
    return self;
  }

  get url(): string {
    return this.server.urlFor();
  }

  stop(): Promise<void> {
    return this.server.stop();
  }

  #fault(path: string): HttpFault | undefined {
    const i = this.faults.findIndex((f, j) => f.path === path && this.#remaining[j]! > 0);
    if (i < 0) return undefined;
    this.#remaining[i]!--;
    return this.faults[i];
  }

  async #handle(x: SourceRequest): Promise<void> {
    if (x.method !== 'GET' && x.method !== 'HEAD') return x.answer(405, `${x.method} is not served: GET and HEAD only`, { allow: 'GET, HEAD' });
    x.req.resume(); // a GET's body, if any, is not read
    const f = this.content.get(x.path);
    if (!f) return x.answer(404, `${x.path} is not served (the case's serve.http.files: ${[...this.content.keys()].join(', ')})`);
    const headers = { 'content-type': f.type, etag: f.etag, 'last-modified': FIXED_DATE.toUTCString() };
    // A fault fires on every request it matches, a conditional one too: a 304 would let a cache hide it.
    const fault = this.#fault(x.path);
    if (fault) x.interventions.push(fault.kind);
    else if (x.req.headers['if-none-match'] === f.etag) {
      x.res.writeHead(304, headers);
      return void x.res.end();
    }
    if (fault?.kind === 'slow') await sleep(fault.ms ?? 2000);
    if (x.res.destroyed) return;
    const cut = fault?.kind === 'truncate' ? Math.min(f.body.length, fault.afterBytes ?? Math.floor(f.body.length / 2)) : undefined;
    const length = fault?.kind === 'wrong-length' ? Math.max(0, f.body.length + (fault.by ?? 1)) : f.body.length;
    x.res.writeHead(200, { ...headers, 'content-length': length });
    if (x.method === 'HEAD') return void x.res.end();
    const body = cut === undefined ? f.body : f.body.subarray(0, cut);
    x.responseBytes += body.length;
    if (!fault || fault.kind === 'slow') return void x.res.end(body);
    // The framing lies: what was written goes out, then the connection closes, as a broken server's would.
    const sock = x.res.socket;
    if (body.length) x.res.write(body);
    else x.res.flushHeaders();
    sock?.end(() => sock.destroy());
  }
}
