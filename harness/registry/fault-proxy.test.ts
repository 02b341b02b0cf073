// Unit tests of the proxy's own mechanics against a tiny in-test upstream; the real registry is exercised by scenarios.
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HarnessError } from '../errors.ts';
import { FaultProxy, blobGet, blobPath, type StartedFaultProxy } from './fault-proxy.ts';

const REPO = 'lab/app';
const BLOB = Buffer.from(Array.from({ length: 64 * 1024 }, (_, i) => (i * 31 + 7) & 0xff));
const BLOB_DIGEST = `sha256:${createHash('sha256').update(BLOB).digest('hex')}`;
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A minimal registry: one blob, and manifests stored by tag and digest (last write wins). */
function fakeRegistry() {
  const manifests = new Map<string, { body: Buffer; type: string }>();
  const seen: { method: string; path: string; headers: http.IncomingHttpHeaders }[] = [];
  const server = http.createServer(async (req, res) => {
    const path = (req.url ?? '').split('?')[0]!;
    seen.push({ method: req.method!, path, headers: req.headers });
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(path);
    if (path === blobPath(REPO, BLOB_DIGEST)) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BLOB.length, 'docker-content-digest': BLOB_DIGEST });
      return void res.end(req.method === 'HEAD' ? undefined : BLOB);
    }
    if (m && req.method === 'PUT') {
      const d = sha(body);
      const stored = { body, type: req.headers['content-type'] ?? '' };
      manifests.set(`${m[1]}:${m[2]}`, stored).set(`${m[1]}:${d}`, stored);
      res.writeHead(201, { location: `/v2/${m[1]}/manifests/${d}`, 'docker-content-digest': d, 'content-length': 0 });
      return void res.end();
    }
    if (m) {
      const found = manifests.get(`${m[1]}:${m[2]}`);
      if (!found) {
        res.writeHead(404, { 'content-type': 'application/json' });
        return void res.end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
      }
      res.writeHead(200, { 'content-type': found.type, 'docker-content-digest': sha(found.body), 'content-length': found.body.length });
      return void res.end(req.method === 'HEAD' ? undefined : found.body);
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  });
  return { server, manifests, seen };
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  error?: Error;
}

/** Collects whatever arrives, including a short body before a connection error. */
function request(base: string, method: string, path: string, opts: { headers?: http.OutgoingHttpHeaders; body?: Buffer | string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(path, base), { method, headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      const done = (error?: Error) => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), ...(error ? { error } : {}) });
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done());
      res.on('error', (e) => done(e));
      res.on('aborted', () => done(new Error('aborted')));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const putManifest = (base: string, ref: string, body: string, type: string, ua = 'docker/26.1.5 go/go1.22.5') =>
  request(base, 'PUT', `/v2/${REPO}/manifests/${ref}`, { headers: { 'content-type': type, 'user-agent': ua }, body });

const index = (n: number) => JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [], annotations: { n: String(n) } });
const single = (n: number) => JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, layers: [], annotations: { n: String(n) } });

describe('FaultProxy', () => {
  const upstream = fakeRegistry();
  let proxy: StartedFaultProxy;
  let base: string;

  beforeAll(async () => {
    await new Promise<void>((r) => upstream.server.listen(0, '127.0.0.1', r));
    const port = (upstream.server.address() as AddressInfo).port;
    proxy = await new FaultProxy({ upstream: `http://127.0.0.1:${port}` }).withListen([{ host: '127.0.0.1', port: 0 }]).start();
    base = proxy.urlFor('127.0.0.1');
  });
  afterAll(async () => {
    await proxy.stop();
    upstream.server.closeAllConnections();
    await new Promise((r) => upstream.server.close(r));
  });
  afterEach(() => {
    proxy.clearFaults();
    proxy.clearBehaviours();
    upstream.manifests.clear();
  });

  it('forwards untouched and journals the request', async () => {
    const mark = proxy.journal.mark();
    const r = await request(base, 'GET', blobPath(REPO, BLOB_DIGEST), { headers: { 'user-agent': 'buildkit/v0.20.1' } });
    expect(r.status).toBe(200);
    expect(r.body.equals(BLOB)).toBe(true);
    expect(proxy.addresses()).toEqual([{ host: '127.0.0.1', port: Number(new URL(base).port) }]);
    await expect.poll(() => proxy.journal.since(mark).length).toBe(1);
    expect(proxy.journal.since(mark)[0]).toMatchObject({
      method: 'GET',
      kind: 'blobs',
      repository: REPO,
      reference: BLOB_DIGEST,
      status: 200,
      userAgent: 'buildkit/v0.20.1',
      responseBytes: BLOB.length,
      digest: BLOB_DIGEST,
      responseMediaType: 'application/octet-stream',
    });
    expect(proxy.journal.since(mark)[0]!.intervention).toBeUndefined();
  });

  it('corrupt keeps the length but changes every byte', async () => {
    proxy.addFault(blobGet(REPO, BLOB_DIGEST, { kind: 'corrupt' }));
    const r = await request(base, 'GET', blobPath(REPO, BLOB_DIGEST));
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(BLOB.length);
    expect(r.headers['content-length']).toBe(String(BLOB.length));
    expect(r.body.some((b, i) => b === BLOB[i])).toBe(false);
    expect(sha(r.body)).not.toBe(BLOB_DIGEST);
  });

  it('a rule scoped to one client leaves other clients alone, and the journal names the client', async () => {
    proxy.addFault(blobGet(REPO, BLOB_DIGEST, { kind: 'corrupt' }, { client: '10.99.0.2' }));
    const mark = proxy.journal.mark();
    const other = await request(base, 'GET', blobPath(REPO, BLOB_DIGEST));
    expect(other.body.equals(BLOB)).toBe(true);
    proxy.clearFaults();
    proxy.addFault(blobGet(REPO, BLOB_DIGEST, { kind: 'corrupt' }, { client: '127.0.0.1' }));
    const mine = await request(base, 'GET', blobPath(REPO, BLOB_DIGEST));
    expect(mine.body.equals(BLOB)).toBe(false);
    await expect.poll(() => proxy.journal.since(mark).length).toBe(2);
    expect(proxy.journal.since(mark).map((e) => [e.client, e.intervention])).toEqual([['127.0.0.1', undefined], ['127.0.0.1', 'corrupt']]);
  });

  it('status fault answers a registry error without forwarding', async () => {
    proxy.addFault({ name: 'blob-gone', ...blobGet(REPO, BLOB_DIGEST, { kind: 'status', status: 404, code: 'BLOB_UNKNOWN' }) });
    const before = upstream.seen.length;
    const mark = proxy.journal.mark();
    const r = await request(base, 'GET', blobPath(REPO, BLOB_DIGEST));
    expect(r.status).toBe(404);
    expect(JSON.parse(r.body.toString())).toEqual({ errors: [{ code: 'BLOB_UNKNOWN', message: expect.any(String) }] });
    expect(upstream.seen.length).toBe(before);
    await expect.poll(() => proxy.journal.since(mark)[0]?.intervention).toBe('blob-gone');
  });

  it('status 500 defaults to code UNKNOWN', async () => {
    proxy.addFault({ path: /\/blobs\//, fault: { kind: 'status', status: 500 } });
    const r = await request(base, 'GET', blobPath(REPO, BLOB_DIGEST));
    expect(r.status).toBe(500);
    expect(JSON.parse(r.body.toString()).errors[0].code).toBe('UNKNOWN');
  });

  it('truncate sends the original Content-Length, N bytes, then closes', async () => {
    proxy.addFault(blobGet(REPO, BLOB_DIGEST, { kind: 'truncate', afterBytes: 1000 }));
    const mark = proxy.journal.mark();
    const r = await request(base, 'GET', blobPath(REPO, BLOB_DIGEST));
    expect(r.status).toBe(200);
    expect(r.headers['content-length']).toBe(String(BLOB.length));
    expect(r.error).toBeDefined();
    expect(r.body.length).toBe(1000);
    expect(r.body.equals(BLOB.subarray(0, 1000))).toBe(true);
    await expect.poll(() => proxy.journal.since(mark)[0]).toMatchObject({ responseBytes: 1000, intervention: 'truncate' });
  });

  it('truncate cuts at an absolute offset: a resumed request cannot get past it', async () => {
    proxy.addFault(blobGet(REPO, BLOB_DIGEST, { kind: 'truncate', afterBytes: 1000 }));
    const before = await request(base, 'GET', blobPath(REPO, BLOB_DIGEST), { headers: { range: 'bytes=600-' } });
    expect(before.error).toBeDefined();
    expect(before.body.length).toBe(400);
    const past = await request(base, 'GET', blobPath(REPO, BLOB_DIGEST), { headers: { range: 'bytes=1000-' } });
    expect(past.error).toBeDefined();
    expect(past.body.length).toBe(0);
  });

  it('truncate after 0 bytes sends only headers', async () => {
    proxy.addFault(blobGet(REPO, BLOB_DIGEST, { kind: 'truncate', afterBytes: 0 }));
    const r = await request(base, 'GET', blobPath(REPO, BLOB_DIGEST));
    expect(r.status).toBe(200);
    expect(r.error).toBeDefined();
    expect(r.body.length).toBe(0);
  });

  it('delay holds the request back', async () => {
    proxy.addFault({ path: '/v2/', fault: { kind: 'delay', ms: 200 } });
    const t = performance.now();
    const r = await request(base, 'GET', '/v2/');
    expect(r.status).toBe(200);
    expect(performance.now() - t).toBeGreaterThanOrEqual(190);
  });

  it('times limits a rule, and rules can be removed while running', async () => {
    proxy.addFault({ method: 'GET', path: '/v2/', times: 2, fault: { kind: 'status', status: 503 } });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await request(base, 'GET', '/v2/')).status);
    expect(statuses).toEqual([503, 503, 200]);

    const id = proxy.addFault({ path: '/v2/', fault: { kind: 'status', status: 500 } });
    expect((await request(base, 'GET', '/v2/')).status).toBe(500);
    expect(proxy.removeFault(id)).toBe(true);
    expect((await request(base, 'GET', '/v2/')).status).toBe(200);
    expect(proxy.removeFault(id)).toBe(false);
  });

  it('method filter leaves other methods alone', async () => {
    proxy.addFault({ method: 'GET', path: blobPath(REPO, BLOB_DIGEST), fault: { kind: 'status', status: 404 } });
    expect((await request(base, 'HEAD', blobPath(REPO, BLOB_DIGEST))).status).toBe(200);
  });

  it('immutable-tags refuses a second PUT to an existing tag, not PUTs by digest', async () => {
    proxy.setBehaviour(REPO, 'immutable-tags');
    expect((await putManifest(base, 'v1', single(1), OCI_MANIFEST)).status).toBe(201);
    const mark = proxy.journal.mark();
    const r = await putManifest(base, 'v1', single(2), OCI_MANIFEST);
    expect(r.status).toBe(409);
    expect(JSON.parse(r.body.toString())).toEqual({ errors: [{ code: 'DENIED', message: 'tag v1 is immutable' }] });
    expect(upstream.manifests.get(`${REPO}:v1`)!.body.toString()).toBe(single(1));
    expect((await putManifest(base, sha(single(3)), single(3), OCI_MANIFEST)).status).toBe(201);
    await expect.poll(() => proxy.journal.since(mark)[0]).toMatchObject({ status: 409, intervention: 'immutable-tags', digest: sha(single(2)) });
  });

  it('known-index-not-retagged answers 201 for a known index without moving the tag', async () => {
    proxy.setBehaviour(/^lab\//, 'known-index-not-retagged');
    expect((await putManifest(base, 'v1', index(1), OCI_INDEX)).status).toBe(201);
    expect((await putManifest(base, 'v1', single(2), OCI_MANIFEST)).status).toBe(201); // single manifests do move it
    expect(upstream.manifests.get(`${REPO}:v1`)!.body.toString()).toBe(single(2));

    const putsBefore = upstream.seen.filter((s) => s.method === 'PUT').length;
    const mark = proxy.journal.mark();
    const r = await putManifest(base, 'v1', index(1), OCI_INDEX);
    expect(r.status).toBe(201);
    expect(r.headers['docker-content-digest']).toBe(sha(index(1)));
    expect(r.headers.location).toBe(`/v2/${REPO}/manifests/${sha(index(1))}`);
    expect(upstream.seen.filter((s) => s.method === 'PUT').length).toBe(putsBefore);
    expect(upstream.manifests.get(`${REPO}:v1`)!.body.toString()).toBe(single(2));
    await expect.poll(() => proxy.journal.since(mark).find((e) => e.method === 'PUT')?.intervention).toBe('known-index-not-retagged');

    // an index the registry has never seen is forwarded
    expect((await putManifest(base, 'v1', index(9), OCI_INDEX)).status).toBe(201);
    expect(upstream.manifests.get(`${REPO}:v1`)!.body.toString()).toBe(index(9));
  });

  it('keeps the Host header so upstream Location URLs point back at the proxy', async () => {
    await request(base, 'GET', '/v2/', { headers: { host: 'registry:5000' } });
    expect(upstream.seen.at(-1)!.headers.host).toBe('registry:5000');
  });

  it('forwards Authorization and Cookie but never journals them', async () => {
    await request(base, 'GET', '/v2/', { headers: { authorization: 'Bearer s3cret-token', cookie: 'session=c00kie' } });
    expect(upstream.seen.at(-1)!.headers.authorization).toBe('Bearer s3cret-token');
    await expect.poll(() => proxy.journal.entries().at(-1)?.path).toBe('/v2/');
    const dump = JSON.stringify(proxy.journal.entries());
    expect(dump).not.toContain('s3cret');
    expect(dump).not.toContain('c00kie');
  });
});

describe('FaultProxy lifecycle', () => {
  it.each(['0.0.0.0', '::', '[::]', '0:0:0:0:0:0:0:0'])('refuses to listen on %s', (host) => {
    expect(() => new FaultProxy({ upstream: 'http://127.0.0.1:1' }).withListen([{ host, port: 0 }])).toThrow(HarnessError);
    expect(() => new FaultProxy({ upstream: 'http://127.0.0.1:1' }).withListen([{ host, port: 0 }])).toThrow(/every interface/);
  });

  it('answers 502 and counts when the registry is down', async () => {
    // a port that was just free: nothing listens there
    const tmp = http.createServer();
    await new Promise<void>((r) => tmp.listen(0, '127.0.0.1', r));
    const port = (tmp.address() as AddressInfo).port;
    await new Promise((r) => tmp.close(r));

    await using proxy = await new FaultProxy({ upstream: `http://127.0.0.1:${port}` }).start();
    const r = await request(proxy.urlFor('127.0.0.1'), 'GET', '/v2/');
    expect(r.status).toBe(502);
    expect(JSON.parse(r.body.toString()).errors[0].code).toBe('UNAVAILABLE');
    expect(proxy.upstreamFailures).toBe(1);
    await expect.poll(() => proxy.journal.entries()[0]?.intervention).toBe('upstream-unreachable');
  });

  it('stop() closes kept-alive connections promptly', async () => {
    const upstream = fakeRegistry();
    await new Promise<void>((r) => upstream.server.listen(0, '127.0.0.1', r));
    const proxy = await new FaultProxy({ upstream: `http://127.0.0.1:${(upstream.server.address() as AddressInfo).port}` }).start();
    const agent = new http.Agent({ keepAlive: true });
    await new Promise<void>((resolve) => http.get(`${proxy.urlFor()}/v2/`, { agent }, (res) => res.resume().on('end', resolve)));
    const t = performance.now();
    await proxy.stop();
    expect(performance.now() - t).toBeLessThan(1000);
    agent.destroy();
    upstream.server.closeAllConnections();
    await new Promise((r) => upstream.server.close(r));
  });
});
