import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import { extract } from 'tar-stream';
import { afterEach, describe, expect, it } from 'vitest';
import { Journal } from '../registry/journal.ts';
import { HttpFileServer, tarball, type CaseSource } from './http-files.ts';
import type { HttpServeSpec } from './spec.ts';

const FILES: Record<string, string> = { 'remote/Dockerfile': 'FROM scratch\nCOPY . /\n', 'remote/sub/a.txt': 'a'.repeat(3000) };
const source: CaseSource = {
  file: (rel) => Buffer.from(FILES[rel]!),
  dir: (rel) =>
    Object.keys(FILES)
      .filter((k) => k.startsWith(`${rel}/`))
      .map((k) => ({ rel: k.slice(rel.length + 1), content: Buffer.from(FILES[k]!), mode: 0o644 })),
};

let server: HttpFileServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

async function serve(spec: Partial<HttpServeSpec>, journal = new Journal()) {
  server = await HttpFileServer.start({ files: {}, faults: [], ...spec }, source, journal, [{ host: '127.0.0.1', port: 0 }]);
  return { url: server.url, journal };
}

/** One request; `error` when the body was cut short. */
function get(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer; error?: string }> {
  return new Promise((resolve) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', (e) => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), error: e.message }));
    });
    req.on('error', (e) => resolve({ status: 0, headers: {}, body: Buffer.alloc(0), error: e.message }));
    req.end();
  });
}

async function entries(tar: Buffer): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const x = extract();
  const done = new Promise<void>((resolve) => x.on('finish', () => resolve()));
  x.on('entry', (h, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: unknown) => chunks.push(c as Buffer));
    stream.on('end', () => {
      out[h.name] = Buffer.concat(chunks).toString();
      next();
    });
  });
  x.end(tar);
  await done;
  return out;
}

describe('the HTTP file server', () => {
  it('serves a case file and tarballs of a case directory (plain and gzip), with an ETag it honours', async () => {
    const { url, journal } = await serve({ files: { '/Dockerfile': { file: 'remote/Dockerfile' }, '/ctx.tar': { tar: 'remote' }, '/ctx.tgz': { tar: 'remote', gzip: true } } });
    const df = await get(`${url}/Dockerfile`, { 'user-agent': 'test/1' });
    expect(df.status).toBe(200);
    expect(df.body.toString()).toBe(FILES['remote/Dockerfile']);
    expect(await entries((await get(`${url}/ctx.tar`)).body)).toEqual({ Dockerfile: FILES['remote/Dockerfile'], 'sub/a.txt': FILES['remote/sub/a.txt'] });
    const tgz = await get(`${url}/ctx.tgz`);
    expect(tgz.headers['content-type']).toBe('application/gzip');
    expect(Object.keys(await entries(gunzipSync(tgz.body)))).toEqual(['Dockerfile', 'sub/a.txt']);
    expect((await get(`${url}/Dockerfile`, { 'if-none-match': df.headers.etag! })).status).toBe(304);
    expect(journal.entries().map((e) => [e.kind, e.method, e.path, e.status])).toEqual([
      ['http', 'GET', '/Dockerfile', 200],
      ['http', 'GET', '/ctx.tar', 200],
      ['http', 'GET', '/ctx.tgz', 200],
      ['http', 'GET', '/Dockerfile', 304],
    ]);
    expect(journal.entries()[0]).toMatchObject({ client: '127.0.0.1', userAgent: 'test/1', responseBytes: FILES['remote/Dockerfile']!.length });
  });

  it('makes the same tarball every time (fixed dates and owners)', async () => {
    const files = source.dir('remote');
    expect((await tarball(files)).equals(await tarball(files))).toBe(true);
  });

  it('answers 404 for what it does not serve, 405 for other methods, and never resolves a path', async () => {
    const { url } = await serve({ files: { '/Dockerfile': { file: 'remote/Dockerfile' } } });
    expect((await get(`${url}/nope`)).status).toBe(404);
    expect((await get(`${url}/Dockerfile/x`)).status).toBe(404);
    expect((await get(`${url}/Dockerfile`, {}, 'PUT')).status).toBe(405);
    const head = await get(`${url}/Dockerfile`, {}, 'HEAD');
    expect([head.status, head.body.length, Number(head.headers['content-length'])]).toEqual([200, 0, FILES['remote/Dockerfile']!.length]);
  });

  it('truncates: the full Content-Length, part of the body, then the connection closes; `times` bounds it', async () => {
    const { url, journal } = await serve({ files: { '/ctx.tar': { tar: 'remote' } }, faults: [{ path: '/ctx.tar', kind: 'truncate', afterBytes: 700, times: 1 }] });
    const cut = await get(`${url}/ctx.tar`);
    expect(Number(cut.headers['content-length'])).toBeGreaterThan(700);
    expect(cut.body.length).toBe(700);
    expect(cut.error).toMatch(/aborted/);
    const whole = await get(`${url}/ctx.tar`);
    expect(whole.error).toBeUndefined();
    expect(whole.body.length).toBe(Number(whole.headers['content-length']));
    expect(journal.entries().map((e) => e.intervention)).toEqual(['truncate', undefined]);
  });

  it('lies about the length (wrong-length) even to a conditional request, and is slow when told', async () => {
    const { url } = await serve({
      files: { '/Dockerfile': { file: 'remote/Dockerfile' }, '/slow': { file: 'remote/Dockerfile' } },
      faults: [
        { path: '/Dockerfile', kind: 'wrong-length', by: 5 },
        { path: '/slow', kind: 'slow', ms: 300 },
      ],
    });
    const first = await get(`${url}/Dockerfile`);
    expect(Number(first.headers['content-length'])).toBe(FILES['remote/Dockerfile']!.length + 5);
    expect(first.error).toMatch(/aborted/);
    expect((await get(`${url}/Dockerfile`, { 'if-none-match': first.headers.etag! })).status).toBe(200);
    const t0 = performance.now();
    expect((await get(`${url}/slow`)).status).toBe(200);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
  });

  it('refuses to listen on the wildcard address', async () => {
    await expect(HttpFileServer.start({ files: {}, faults: [] }, source, new Journal(), [{ host: '0.0.0.0', port: 0 }])).rejects.toThrow(/refuses to listen on "0\.0\.0\.0"/);
  });
});
