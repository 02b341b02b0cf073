// Unit tests of the proxy's own mechanics against a tiny in-test upstream; the real registry is exercised by
// fault-proxy.itg.test.ts and the scenarios.
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HarnessError } from '../errors.ts';
import { FaultProxy, blobGet, blobPath, flipBytes, type StartedFaultProxy } from './fault-proxy.ts';
import { canary, fakeRegistry, listen, liveBufferGrowth, rawExchange, request, sha256 as sha, zeros, type Canary, type FakeRegistry } from './stand-ins.test-helpers.ts';

const REPO = 'lab/app';
const BLOB = Buffer.from(Array.from({ length: 64 * 1024 }, (_, i) => (i * 31 + 7) & 0xff));
const BLOB_DIGEST = sha(BLOB);
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const MiB = 1 << 20;

const putManifest = (base: string, ref: string, body: string | Buffer, type: string, ua = 'docker/26.1.5 go/go1.22.5') =>
  request(base, 'PUT', `/v2/${REPO}/manifests/${ref}`, { headers: { 'content-type': type, 'user-agent': ua }, body });

const index = (n: number) => JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [], annotations: { n: String(n) } });
const single = (n: number) => JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, layers: [], annotations: { n: String(n) } });

describe('FaultProxy', () => {
  let upstream: FakeRegistry;
  let outside: Canary;
  let proxy: StartedFaultProxy;
  let base: string;
  let port: number;

  beforeAll(async () => {
    upstream = await fakeRegistry();
    outside = await canary();
    proxy = await new FaultProxy({ upstream: upstream.url }).withListen([{ host: '127.0.0.1', port: 0 }]).start();
    base = proxy.urlFor('127.0.0.1');
    port = Number(new URL(base).port);
    upstream.blobs.set(`${REPO}@${BLOB_DIGEST}`, BLOB);
  });
  afterAll(async () => {
    await proxy.stop();
    await upstream.close();
    await outside.close();
  });
  afterEach(() => {
    proxy.clearFaults();
    proxy.clearBehaviours();
    upstream.manifests.clear();
    upstream.blobs.clear();
    upstream.blobs.set(`${REPO}@${BLOB_DIGEST}`, BLOB);
    expect(outside.hits.splice(0)).toEqual([]);
  });

  it('forwards untouched and journals the request', async () => {
    const mark = proxy.journal.mark();
    const r = await request(base, 'GET', blobPath(REPO, BLOB_DIGEST), { headers: { 'user-agent': 'buildkit/v0.20.1' } });
    expect(r.status).toBe(200);
    expect(r.body.equals(BLOB)).toBe(true);
    expect(proxy.addresses()).toEqual([{ host: '127.0.0.1', port }]);
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

  it('forwards the query string verbatim (upload state, digest)', async () => {
    const target = `/v2/${REPO}/blobs/uploads/u9?_state=ab%2Bc%3D&digest=${encodeURIComponent(BLOB_DIGEST)}`;
    const r = await request(base, 'PUT', target, { body: BLOB });
    expect(r.status).toBe(201);
    expect(upstream.seen.at(-1)!.url).toBe(target);
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
    expect(proxy.journal.since(mark).map((e) => [e.client, e.intervention])).toEqual([
      ['127.0.0.1', undefined],
      ['127.0.0.1', 'corrupt'],
    ]);
  });

  describe('through the relay from a rootless engine (PROXY v1 on a unix socket)', () => {
    let dir: string;
    let socket: string;
    // a proxy of its own: loopback for the lab's own pushes, and the relay's socket for the DinD engines
    let relayProxy: StartedFaultProxy;
    let relayBase: string;
    beforeAll(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'proxy-relay-'));
      socket = path.join(dir, 'proxy.sock');
      relayProxy = await new FaultProxy({ upstream: upstream.url })
        .withListen([
          { host: '127.0.0.1', port: 0 },
          { host: '10.99.0.1', port: 5000, relayedVia: socket },
        ])
        .start();
      relayBase = relayProxy.urlFor('127.0.0.1');
    });
    afterEach(() => relayProxy.clearFaults());
    afterAll(async () => {
      await relayProxy.stop();
      // the relayed listener closed with its server: nothing answers on the socket any more
      const refused = await new Promise<boolean>((resolve) =>
        net
          .connect(socket)
          .once('connect', () => resolve(false))
          .once('error', () => resolve(true)),
      );
      rmSync(dir, { recursive: true, force: true });
      expect(refused).toBe(true);
    });

    /** One request as the relay forwards it for the DinD at `client`; the answer's status. */
    const relayed = (client: string, method: string, target: string, body = '') =>
      new Promise<number>((resolve, reject) => {
        const c = net.connect(socket);
        let out = '';
        c.on('data', (d) => (out += d));
        c.on('error', reject);
        c.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(out)?.[1] ?? 0)));
        c.write(
          `PROXY TCP4 ${client} 172.30.0.1 40000 5000\r\n${method} ${target} HTTP/1.1\r\nHost: registry:5000\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        );
      });

    it('journals the DinD engine the relay names, and scopes faults to it', async () => {
      relayProxy.addFault(blobGet(REPO, BLOB_DIGEST, { kind: 'status', status: 404 }, { client: '10.99.0.2' }));
      const mark = relayProxy.journal.mark();
      expect(await relayed('10.99.0.2', 'GET', blobPath(REPO, BLOB_DIGEST))).toBe(404);
      expect(await relayed('10.99.0.3', 'GET', blobPath(REPO, BLOB_DIGEST))).toBe(200);
      await expect.poll(() => relayProxy.journal.since(mark).length).toBe(2);
      expect(relayProxy.journal.since(mark).map((e) => e.client)).toEqual(['10.99.0.2', '10.99.0.3']);
    });

    it("keeps the lab's own repositories read-only to the DinD engines, not to the lab's own pushes over loopback", async () => {
      relayProxy.protectRepository('moby/buildkit');
      const manifest = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: {}, layers: [] });
      expect(await relayed('10.99.0.2', 'GET', blobPath(REPO, BLOB_DIGEST))).toBe(200);
      const mark = relayProxy.journal.mark();
      expect(await relayed('10.99.0.2', 'PUT', '/v2/moby/buildkit/manifests/v0.17.1', manifest)).toBe(403);
      expect(await relayed('10.99.0.2', 'POST', '/v2/moby/buildkit/blobs/uploads/')).toBe(403);
      expect(await relayed('10.99.0.2', 'DELETE', '/v2/moby/buildkit/manifests/v0.17.1')).toBe(403);
      expect(upstream.manifests.size).toBe(0);
      await expect.poll(() => relayProxy.journal.since(mark).length).toBe(3);
      expect(relayProxy.journal.since(mark).every((e) => e.intervention === 'lab-owned')).toBe(true);
      const own = await request(relayBase, 'PUT', '/v2/moby/buildkit/manifests/v0.17.1', {
        body: Buffer.from(manifest),
        headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
      });
      expect(own.status).toBe(201);
      expect(await relayed('10.99.0.2', 'PUT', '/v2/lab/app/manifests/mine', manifest)).not.toBe(403);
      // a relayed peer that says it is the host's loopback is still a DinD engine
      expect(await relayed('127.0.0.1', 'PUT', '/v2/moby/buildkit/manifests/v0.17.1', manifest)).toBe(403);
    });
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
    expect(before.status).toBe(206);
    expect(before.error).toBeDefined();
    expect(before.body.equals(BLOB.subarray(600, 1000))).toBe(true);
    const past = await request(base, 'GET', blobPath(REPO, BLOB_DIGEST), { headers: { range: 'bytes=1000-' } });
    expect(past.error).toBeDefined();
    expect(past.body.length).toBe(0);
  });

  it('truncate counts from the start of a 200 answer to a Range request (a registry that ignores Range)', async () => {
    proxy.addFault(blobGet(REPO, BLOB_DIGEST, { kind: 'truncate', afterBytes: 1000 }));
    upstream.options.ignoreRange = true;
    try {
      const r = await request(base, 'GET', blobPath(REPO, BLOB_DIGEST), { headers: { range: 'bytes=600-' } });
      expect(r.status).toBe(200);
      expect(r.body.equals(BLOB.subarray(0, 1000))).toBe(true);
    } finally {
      upstream.options.ignoreRange = false;
    }
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

  it('subject-must-exist refuses an attestation whose subject is not there yet, and takes it once it is', async () => {
    proxy.setBehaviour(REPO, 'subject-must-exist');
    const image = single(1);
    const attestation = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, layers: [], subject: { mediaType: OCI_MANIFEST, digest: sha(image), size: image.length } });
    const mark = proxy.journal.mark();
    const refused = await putManifest(base, sha(attestation), attestation, OCI_MANIFEST, 'buildkit/v0.23');
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.body.toString()).errors[0]).toEqual({ code: 'MANIFEST_BLOB_UNKNOWN', message: 'blob unknown to registry', detail: sha(image) });
    expect(upstream.manifests.has(`${REPO}:${sha(attestation)}`)).toBe(false);
    expect((await putManifest(base, sha(image), image, OCI_MANIFEST)).status).toBe(201);
    expect((await putManifest(base, sha(attestation), attestation, OCI_MANIFEST)).status).toBe(201);
    await expect
      .poll(() => proxy.journal.since(mark).map((e) => [e.status, e.intervention]))
      .toEqual([
        [400, 'subject-must-exist'],
        [201, undefined],
        [201, undefined],
      ]);
  });

  it('late-blob-visibility answers 404 to a HEAD right after the upload, then the blob shows', async () => {
    proxy.setBehaviour(REPO, { name: 'late-blob-visibility', hideForRequests: 2 });
    const layer = Buffer.from('a layer pushed just now');
    const mark = proxy.journal.mark();
    const put = await request(base, 'PUT', `/v2/${REPO}/blobs/uploads/u7?digest=${sha(layer)}`, { body: layer });
    expect(put.status).toBe(201);
    const statuses = [];
    for (const m of ['HEAD', 'GET', 'HEAD']) statuses.push((await request(base, m, blobPath(REPO, sha(layer)))).status);
    expect(statuses).toEqual([404, 404, 200]);
    await expect.poll(() => proxy.journal.since(mark).map((e) => e.intervention ?? '-')).toEqual(['-', 'late-blob-visibility', 'late-blob-visibility', '-']);
  });

  it('setBehaviour refuses a name outside REGISTRY_BEHAVIOURS', () => {
    expect(() => proxy.setBehaviour(REPO, 'eventually' as never)).toThrow(/unknown registry behaviour "eventually"/);
  });

  it('stats: buffered manifest bytes are bounded by the limit per request and released when it ends', async () => {
    const body = Buffer.alloc(3 * MiB, 0x20);
    await Promise.all(Array.from({ length: 4 }, (_, i) => putManifest(base, `c${i}`, body, OCI_MANIFEST)));
    await expect.poll(() => proxy.stats().bufferedBytes).toBe(0);
    expect(proxy.stats().peakBufferedBytes).toBeGreaterThanOrEqual(body.length);
    expect(proxy.stats().peakBufferedBytes).toBeLessThanOrEqual(4 * 4 * MiB);
    expect(proxy.stats().active).toBe(0);
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

  // Issue 12: the upstream URL was `new URL(req.url, upstream)`, so the request-target chose the host.
  describe('request targets: only origin-form paths under /v2/ are forwarded', () => {
    const refused: [string, (c: Canary) => string, string?][] = [
      ['absolute form', (c) => `http://127.0.0.1:${c.port}/v2/`],
      ['absolute form to the registry itself', () => `${upstream.url}/v2/`],
      ['scheme-relative //host', (c) => `//127.0.0.1:${c.port}/v2/`],
      ['backslash /\\host', (c) => `/\\127.0.0.1:${c.port}/v2/`],
      ['asterisk form', () => '*', 'OPTIONS'],
      ['a path outside /v2', () => '/debug/vars'],
      ['/v2 prefix without its slash', () => '/v2x/lab/app/manifests/v1'],
      ['dot segments', () => '/v2/../debug/vars'],
      ['encoded dot segments', () => '/v2/%2e%2e/debug/vars'],
      ['encoded slashes', () => '/v2/..%2f..%2fdebug%2fvars'],
      ['encoded backslash', () => '/v2/%5c%5c127.0.0.1/x'],
      ['empty segment', () => '/v2//lab/app/manifests/v1'],
      ['a bad percent escape', () => '/v2/lab/app/manifests/%zz'],
    ];
    it.each(refused)('%s is answered 400, journaled, never forwarded', async (_, target, method = 'GET') => {
      const t = target(outside);
      const seen = upstream.seen.length;
      const mark = proxy.journal.mark();
      const r = await rawExchange(port, `${method} ${t} HTTP/1.1\r\nHost: registry:5000\r\nConnection: close\r\n\r\n`);
      expect(r.status).toBe(400);
      expect(outside.hits).toEqual([]);
      expect(upstream.seen.length).toBe(seen);
      await expect.poll(() => proxy.journal.since(mark)[0]).toMatchObject({ method, status: 400, intervention: 'bad-target' });
    });

    it('CONNECT (authority form) is answered 400 and journaled, never tunnelled', async () => {
      const mark = proxy.journal.mark();
      const r = await rawExchange(port, `CONNECT 127.0.0.1:${outside.port} HTTP/1.1\r\nHost: 127.0.0.1:${outside.port}\r\n\r\n`);
      expect(r.status).toBe(400);
      expect(outside.connections).toBe(0);
      await expect.poll(() => proxy.journal.since(mark)[0]).toMatchObject({ method: 'CONNECT', status: 400, intervention: 'bad-target' });
    });

    // Found by the pipelining fuzzer: Node hands a CONNECT's socket over while earlier pipelined requests
    // are still in flight. Answering on it put the 400 first (read as the answer to the first GET), and the
    // requests queued behind never closed: never journaled, `active` never back to 0.
    it.each([
      ['CONNECT', `CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n`],
      ['a malformed request', 'GET /v2/ a b HTTP/1.1\r\nHost: x\r\n\r\n'],
    ])('%s pipelined behind requests in flight ends the connection instead of answering out of order', async (_, bad) => {
      proxy.addFault({ path: '/v2/', times: 1, fault: { kind: 'delay', ms: 100 } });
      const mark = proxy.journal.mark();
      const get = 'GET /v2/ HTTP/1.1\r\nHost: registry:5000\r\n\r\n';
      const r = await rawExchange(port, get + get + bad, { idleMs: 1_000 });
      expect(r.text).not.toMatch(/^HTTP\/1\.1 4/);
      await expect.poll(() => proxy.stats().active).toBe(0);
      await expect.poll(() => proxy.journal.since(mark).length).toBe(3);
      expect(proxy.journal.since(mark).filter((e) => e.kind === 'base')).toHaveLength(2);
      expect(proxy.upstreamFailures).toBe(0); // the client's doing, not the registry's
    });

    it('an HTTP/1.1 request without Host is answered 400 and journaled', async () => {
      const mark = proxy.journal.mark();
      const r = await rawExchange(port, 'GET /v2/ HTTP/1.1\r\nConnection: close\r\n\r\n');
      expect(r.status).toBe(400);
      await expect.poll(() => proxy.journal.since(mark)[0]).toMatchObject({ status: 400, intervention: 'bad-target' });
    });

    it('a malformed request line is answered 400 and journaled', async () => {
      const mark = proxy.journal.mark();
      const r = await rawExchange(port, 'GET /v2/ a b HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(r.status).toBe(400);
      await expect.poll(() => proxy.journal.since(mark)[0]).toMatchObject({ status: 400, intervention: expect.stringMatching(/^malformed/) });
    });
  });

  describe('bounded memory', { timeout: 60_000 }, () => {
    it('a manifest PUT over 4 MiB is refused with 413 and never forwarded (declared length)', async () => {
      const seen = upstream.seen.length;
      const mark = proxy.journal.mark();
      const r = await putManifest(base, 'big', Buffer.alloc(4 * MiB + 1, 0x20), OCI_MANIFEST).catch((e: Error) => ({ status: 0, error: e }));
      expect(r.status).toBe(413);
      expect(upstream.seen.length).toBe(seen);
      await expect.poll(() => proxy.journal.since(mark)[0]).toMatchObject({ status: 413, intervention: 'too-large' });
    });

    it('a chunked manifest PUT over 4 MiB is refused with 413 and never forwarded', async () => {
      const seen = upstream.seen.length;
      const r = await request(base, 'PUT', `/v2/${REPO}/manifests/big`, {
        headers: { 'content-type': OCI_MANIFEST, 'transfer-encoding': 'chunked' },
        body: zeros(6 * MiB),
      }).catch((e: Error) => ({ status: 0, error: e }));
      expect(r.status).toBe(413);
      expect(upstream.seen.length).toBe(seen);
    });

    // Found by the bodies fuzzer (1 run in ~10): answering 413 and closing with the body still arriving made
    // the kernel reset the connection, and the client sometimes lost the 413. Now the rest is read and dropped.
    it('after a 413 the rest of the body is drained and the connection keeps serving', async () => {
      const body = Buffer.alloc(5 * MiB, 0x20);
      const head = `PUT /v2/${REPO}/manifests/big HTTP/1.1\r\nHost: registry:5000\r\nContent-Length: ${body.length}\r\n\r\n`;
      const next = 'GET /v2/ HTTP/1.1\r\nHost: registry:5000\r\nConnection: close\r\n\r\n';
      const r = await rawExchange(port, Buffer.concat([Buffer.from(head), body, Buffer.from(next)]), { idleMs: 2_000 });
      expect([...r.text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1])).toEqual(['413', '200']);
    });

    it('a manifest PUT of exactly 4 MiB is still forwarded', async () => {
      const body = Buffer.alloc(4 * MiB, 0x20);
      expect((await putManifest(base, 'edge', body, OCI_MANIFEST)).status).toBe(201);
      expect(upstream.seen.at(-1)!.bodyBytes).toBe(body.length);
    });

    it('a 200 MB blob upload streams through without being held', async () => {
      const total = 200 * MiB;
      let r: Awaited<ReturnType<typeof request>> | undefined;
      const growth = await liveBufferGrowth(async () => {
        r = await request(base, 'PATCH', `/v2/${REPO}/blobs/uploads/u1`, { body: zeros(total) });
      });
      expect(r!.status).toBe(202);
      expect(upstream.seen.at(-1)!.bodyBytes).toBe(total);
      expect(growth).toBeLessThan(48 * MiB); // held whole, it would be over 200 MiB
    });

    it('a status-faulted 200 MB upload is discarded, not buffered', async () => {
      proxy.addFault({ method: 'PATCH', path: /\/blobs\/uploads\//, fault: { kind: 'status', status: 503 } });
      let r: Awaited<ReturnType<typeof request>> | undefined;
      const growth = await liveBufferGrowth(async () => {
        r = await request(base, 'PATCH', `/v2/${REPO}/blobs/uploads/u1`, { body: zeros(200 * MiB) });
      });
      expect(r!.status).toBe(503);
      expect(growth).toBeLessThan(48 * MiB); // held whole, it would be over 200 MiB
    });
  });
});

describe('FaultProxy listen addresses', () => {
  const start = (host: string) => (async () => new FaultProxy({ upstream: 'http://127.0.0.1:1' }).withListen([{ host, port: 0 }]).start())();

  it.each(['0.0.0.0', '::', '[::]', '0:0:0:0:0:0:0:0'])('refuses to listen on %s at once', (host) => {
    expect(() => new FaultProxy({ upstream: 'http://127.0.0.1:1' }).withListen([{ host, port: 0 }])).toThrow(HarnessError);
    expect(() => new FaultProxy({ upstream: 'http://127.0.0.1:1' }).withListen([{ host, port: 0 }])).toThrow(/every interface/);
  });

  // Forms that getaddrinfo or the WHATWG parser turn into the unspecified address (task: bypass of the refusal).
  it.each(['0', '0.0', '0.0.0', '0x0', '00', '0.0.0.0.', '::ffff:0:0', '::ffff:0.0.0.0', '::0.0.0.0', '0::', '0:0::0'])(
    'refuses %s, which reaches the unspecified address',
    async (host) => {
      const p = start(host);
      await expect(p).rejects.toThrow(/every interface/);
      await p.then(
        (x) => x.stop(),
        () => undefined,
      );
    },
  );

  it('binds loopback names and addresses', async () => {
    await using a = await start('localhost');
    await using b = await start('127.0.0.1');
    expect(a.addresses()[0]!.port).toBeGreaterThan(0);
    expect(b.addresses()[0]!.host).toBe('127.0.0.1');
  });
});

describe('FaultProxy lifecycle', () => {
  it('answers 502 and counts when the registry is down', async () => {
    // a port that was just free: nothing listens there
    const tmp = await listen(http.createServer());
    await tmp.close();

    await using proxy = await new FaultProxy({ upstream: tmp.url }).start();
    const r = await request(proxy.urlFor('127.0.0.1'), 'GET', '/v2/');
    expect(r.status).toBe(502);
    expect(JSON.parse(r.body.toString()).errors[0].code).toBe('UNAVAILABLE');
    expect(proxy.upstreamFailures).toBe(1);
    await expect.poll(() => proxy.journal.entries()[0]?.intervention).toBe('upstream-unreachable');
  });

  it('stop() closes kept-alive connections promptly', async () => {
    const upstream = await fakeRegistry();
    const proxy = await new FaultProxy({ upstream: upstream.url }).start();
    const agent = new http.Agent({ keepAlive: true });
    await new Promise<void>((resolve) => http.get(`${proxy.urlFor()}/v2/`, { agent }, (res) => res.resume().on('end', resolve)));
    const t = performance.now();
    await proxy.stop();
    expect(performance.now() - t).toBeLessThan(1000);
    agent.destroy();
    await upstream.close();
  });
});

describe('flipBytes', () => {
  it.each([0, 1, 3, 4, 5, 8, 9, 65_537])('flips every byte of %i bytes, from an unaligned source too, leaving the source alone', (n) => {
    const backing = Buffer.from(Array.from({ length: n + 3 }, (_, i) => (i * 37) & 0xff));
    const src = backing.subarray(3);
    const before = Buffer.from(src);
    const out = flipBytes(src);
    expect(out.length).toBe(n);
    expect([...out]).toEqual([...before].map((b) => b ^ 0xff));
    expect(src.equals(before)).toBe(true);
  });
});
