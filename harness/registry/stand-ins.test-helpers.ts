// Test support for the fault proxy: a minimal in-process registry to stand in for the real one, a canary
// server that must never be reached, and clients that speak HTTP (or raw bytes) to the proxy.
import { createHash } from 'node:crypto';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';

export const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface Listening {
  server: http.Server;
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function listen(server: http.Server, host = '127.0.0.1'): Promise<Listening> {
  await new Promise<void>((r) => server.listen(0, host, r));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    url: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export interface SeenRequest {
  method: string;
  /** the raw request-target */
  url: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  bodyBytes: number;
}

export interface FakeRegistry extends Listening {
  manifests: Map<string, { body: Buffer; type: string }>;
  blobs: Map<string, Buffer>;
  seen: SeenRequest[];
  options: {
    /** answer blob GETs with Range as 200 and the whole blob, as some registries do (default false) */
    ignoreRange: boolean;
  };
}

/** `bytes=N-` or `bytes=N-M` within `size`; undefined for anything else (then the whole blob is sent). */
function byteRange(h: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const m = /^bytes=(\d+)-(\d*)$/.exec(h ?? '');
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
  return start >= size || end < start ? 'unsatisfiable' : { start, end };
}

/**
 * A minimal registry: blobs (GET/HEAD, monolithic and chunked uploads) and manifests stored by tag and
 * digest (last write wins). Upload bodies are hashed as they stream and kept only below 1 MiB, so tests
 * can push hundreds of megabytes through it.
 */
export async function fakeRegistry(): Promise<FakeRegistry> {
  const manifests = new Map<string, { body: Buffer; type: string }>();
  const blobs = new Map<string, Buffer>();
  const seen: SeenRequest[] = [];
  const options = { ignoreRange: false };
  let nextUpload = 1;
  const server = http.createServer(async (req, res) => {
    const url = req.url ?? '';
    const [path = '', query = ''] = url.split('?');
    const hash = createHash('sha256');
    const kept: Buffer[] = [];
    let bodyBytes = 0;
    try {
      for await (const c of req) {
        hash.update(c as Buffer);
        bodyBytes += (c as Buffer).length;
        if (bodyBytes < 1 << 20) kept.push(c as Buffer);
      }
    } catch {
      return void res.destroy();
    }
    seen.push({ method: req.method!, url, path, headers: req.headers, bodyBytes });
    const body = Buffer.concat(kept);
    const m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(path);
    const blob = /^\/v2\/(.+)\/blobs\/(sha256:[0-9a-f]{64})$/.exec(path);
    const upload = /^\/v2\/(.+)\/blobs\/uploads\/([^/]*)$/.exec(path);
    if (blob) {
      const b = blobs.get(`${blob[1]}@${blob[2]}`);
      if (!b) {
        res.writeHead(404, { 'content-type': 'application/json' });
        return void res.end(req.method === 'HEAD' ? undefined : '{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}');
      }
      const range = options.ignoreRange || req.method !== 'GET' ? undefined : byteRange(req.headers.range, b.length);
      if (range === 'unsatisfiable') {
        res.writeHead(416, { 'content-range': `bytes */${b.length}`, 'content-length': 0 });
        return void res.end();
      }
      const part = range ? b.subarray(range.start, range.end + 1) : b;
      res.writeHead(range ? 206 : 200, {
        'content-type': 'application/octet-stream',
        'content-length': part.length,
        'docker-content-digest': blob[2],
        ...(range ? { 'content-range': `bytes ${range.start}-${range.end}/${b.length}` } : {}),
      });
      return void res.end(req.method === 'HEAD' ? undefined : part);
    }
    if (upload) {
      const digest = new URLSearchParams(query).get('digest');
      if (req.method === 'POST' && !digest) {
        res.writeHead(202, { location: `/v2/${upload[1]}/blobs/uploads/u${nextUpload++}`, 'content-length': 0 });
        return void res.end();
      }
      if (digest) {
        const actual = `sha256:${hash.digest('hex')}`;
        if (actual !== digest) {
          res.writeHead(400, { 'content-type': 'application/json' });
          return void res.end('{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"}]}');
        }
        if (bodyBytes < 1 << 20) blobs.set(`${upload[1]}@${digest}`, body);
        res.writeHead(201, { location: `/v2/${upload[1]}/blobs/${digest}`, 'docker-content-digest': digest, 'content-length': 0 });
        return void res.end();
      }
      res.writeHead(202, { location: path, range: `0-${Math.max(0, bodyBytes - 1)}`, 'content-length': 0 });
      return void res.end();
    }
    if (m && req.method === 'PUT') {
      const d = sha256(body);
      const stored = { body, type: req.headers['content-type'] ?? '' };
      manifests.set(`${m[1]}:${m[2]}`, stored).set(`${m[1]}:${d}`, stored);
      res.writeHead(201, { location: `/v2/${m[1]}/manifests/${d}`, 'docker-content-digest': d, 'content-length': 0 });
      return void res.end();
    }
    if (m) {
      const found = manifests.get(`${m[1]}:${m[2]}`);
      if (!found) {
        res.writeHead(404, { 'content-type': 'application/json' });
        return void res.end(req.method === 'HEAD' ? undefined : '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
      }
      res.writeHead(200, { 'content-type': found.type, 'docker-content-digest': sha256(found.body), 'content-length': found.body.length });
      return void res.end(req.method === 'HEAD' ? undefined : found.body);
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  });
  return { ...(await listen(server)), manifests, blobs, seen, options };
}

export interface Canary extends Listening {
  /** every request-target that reached the canary */
  hits: string[];
  /** TCP connections accepted, whether or not they carried a request */
  connections: number;
}

/** A server on loopback that must receive nothing: anything it sees left the proxy's own origin. */
export async function canary(): Promise<Canary> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    res.end('canary');
  });
  server.on('connect', (req, socket) => {
    hits.push(`CONNECT ${req.url}`);
    socket.destroy();
  });
  const c = { ...(await listen(server)), hits, connections: 0 };
  server.on('connection', () => c.connections++);
  return c;
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  error?: Error;
}

/** Collects whatever arrives, including a short body before a connection error. */
export function request(
  base: string,
  method: string,
  path: string,
  opts: { headers?: http.OutgoingHttpHeaders; body?: Buffer | string | Iterable<Buffer> | AsyncIterable<Buffer> } = {},
): Promise<Reply> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    // `path` is passed verbatim (no URL resolution), so tests can send any request-target Node allows.
    const req = http.request({ host: u.hostname, port: u.port, method, path, headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      const done = (error?: Error) => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), ...(error ? { error } : {}) });
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done());
      res.on('error', (e) => done(e));
      res.on('aborted', () => done(new Error('aborted')));
    });
    req.on('error', reject);
    const b = opts.body;
    if (b === undefined || typeof b === 'string' || Buffer.isBuffer(b)) return void req.end(b);
    void (async () => {
      try {
        for await (const chunk of b as AsyncIterable<Buffer>) {
          if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
        }
        req.end();
      } catch (e) {
        req.destroy(e as Error);
      }
    })();
  });
}

/** `total` bytes of zeros in `chunk`-sized pieces, generated lazily (nothing is held). */
export function* zeros(total: number, chunk = 1 << 16): Generator<Buffer> {
  const piece = Buffer.alloc(chunk);
  for (let sent = 0; sent < total; sent += chunk) yield total - sent >= chunk ? piece : piece.subarray(0, total - sent);
}

export interface RawReply {
  /** everything the server sent before closing, or until `idleMs` of silence */
  text: string;
  /** status code of the first response, 0 when none came */
  status: number;
  closed: boolean;
}

/**
 * Sends raw bytes over a fresh TCP connection and reads what comes back. `halfClose` sends FIN after the
 * bytes (the server answers what it can, then closes); `closeAfterMs` destroys the connection from our side
 * (a client that leaves); otherwise the reply is read until the server closes or falls silent for `idleMs`.
 */
export function rawExchange(port: number, data: string | Buffer, opts: { idleMs?: number; closeAfterMs?: number; host?: string; halfClose?: boolean } = {}): Promise<RawReply> {
  return new Promise((resolve) => {
    const sock = net.connect(port, opts.host ?? '127.0.0.1');
    const chunks: Buffer[] = [];
    let closed = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      sock.destroy();
      resolve({ text, status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0), closed });
    };
    const idle = () => {
      clearTimeout(timer);
      timer = setTimeout(finish, opts.idleMs ?? 300);
    };
    sock.on('connect', () => {
      if (opts.halfClose) sock.end(data);
      else sock.write(data, () => undefined);
      if (opts.closeAfterMs !== undefined) setTimeout(() => sock.destroy(), opts.closeAfterMs);
      idle();
    });
    sock.on('data', (c) => {
      chunks.push(c);
      idle();
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      closed = true;
      finish();
    });
  });
}

let gc: (() => void) | undefined;
function collect(): void {
  if (!gc) {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
  }
  gc();
}

/**
 * The most Buffer memory (process.memoryUsage().arrayBuffers) that stayed live while `work` ran, over what
 * was live before: sampled every `everyMs` right after a full GC, so garbage (chunks already passed on)
 * does not count, and a body held whole does. Client, proxy and stand-in registry share this process, so
 * the figure covers all three.
 */
export async function liveBufferGrowth(work: () => Promise<unknown>, everyMs = 40): Promise<number> {
  collect();
  const base = process.memoryUsage().arrayBuffers;
  let peak = base;
  const sample = () => {
    collect();
    peak = Math.max(peak, process.memoryUsage().arrayBuffers);
  };
  const t = setInterval(sample, everyMs);
  try {
    await work();
  } finally {
    clearInterval(t);
  }
  return peak - base;
}
