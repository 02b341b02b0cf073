// Request framing through the fault proxy, over raw sockets: a request whose body framing is absent, doubled or
// ambiguous is refused (400, connection closed) and never forwarded, so nothing it carries can reach the
// registry as a request of its own (request smuggling); and an answer always goes to its own request, even
// when an upstream connection was desynchronised.
import { mkdtemp, rm } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../errors.ts';
import { FaultProxy, type StartedFaultProxy } from './fault-proxy.ts';
import { fakeRegistry, rawExchange, request, sha256, zeros, type FakeRegistry } from './stand-ins.test-helpers.ts';

const REPO = 'lab/app';
const HOST = 'Host: registry:5000\r\n';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const manifest = (n: number) => JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, layers: [], annotations: { n: String(n) } });

/** `payload` as one chunk of a chunked body, then the last chunk. */
const chunked = (payload: string) => `${Buffer.byteLength(payload).toString(16)}\r\n${payload}\r\n0\r\n\r\n`;

/** A manifest PUT written as raw bytes: what a smuggler hides in a body. */
const rawPut = (tag: string, body: string) =>
  `PUT /v2/${REPO}/manifests/${tag} HTTP/1.1\r\n${HOST}Content-Type: ${OCI_MANIFEST}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

describe('FaultProxy request framing', () => {
  let upstream: FakeRegistry;
  let proxy: StartedFaultProxy;
  let base: string;
  let port: number;

  beforeAll(async () => {
    upstream = await fakeRegistry();
    proxy = await new FaultProxy({ upstream: upstream.url }).start();
    base = proxy.urlFor();
    port = Number(new URL(base).port);
  });
  afterAll(async () => {
    await proxy.stop();
    await upstream.close();
  });
  afterEach(() => {
    proxy.clearBehaviours();
    upstream.manifests.clear();
  });

  /** Sends `raw` on its own connection: what the registry and the journal saw of it, and what came back. */
  async function exchange(raw: string) {
    const seen = upstream.seen.length;
    const mark = proxy.journal.mark();
    const reply = await rawExchange(port, raw, { idleMs: 500 });
    await expect.poll(() => proxy.stats().active).toBe(0);
    return { reply, forwarded: upstream.seen.slice(seen).map((s) => `${s.method} ${s.url}`), journal: proxy.journal.since(mark) };
  }

  // The review's finding: the body of a GET/HEAD/DELETE/OPTIONS went upstream unframed, and the registry read
  // it as further requests: an immutable tag was overwritten, unjournaled, past the emulation.
  it.each(['GET', 'HEAD', 'DELETE', 'OPTIONS'])('a %s with a chunked body is refused and closed; the PUT it carries never reaches the registry nor the journal', async (method) => {
    proxy.setBehaviour(REPO, 'immutable-tags');
    expect((await request(base, 'PUT', `/v2/${REPO}/manifests/v1`, { body: manifest(1), headers: { 'content-type': OCI_MANIFEST } })).status).toBe(201);

    const target = method === 'DELETE' ? `/v2/${REPO}/manifests/v1` : '/v2/';
    const { reply, forwarded, journal } = await exchange(`${method} ${target} HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n${chunked(rawPut('v1', manifest(2)))}`);

    expect(reply.status).toBe(400);
    expect(reply.text).toMatch(/\r\nconnection: close\r\n/i);
    expect(reply.closed).toBe(true);
    expect(forwarded).toEqual([]);
    expect(upstream.manifests.get(`${REPO}:v1`)?.body.toString()).toBe(manifest(1));
    expect(journal.map((e) => [e.method, e.path, e.status, e.intervention])).toEqual([[method, target, 400, 'bad-framing']]);
  });

  it('a GET with a Content-Length body is refused and closed, never forwarded', async () => {
    const { reply, forwarded, journal } = await exchange(`GET /v2/ HTTP/1.1\r\n${HOST}Content-Length: 3\r\n\r\nabc`);
    expect([reply.status, reply.closed]).toEqual([400, true]);
    expect(forwarded).toEqual([]);
    expect(journal.map((e) => e.intervention)).toEqual(['bad-framing']);
  });

  it('a GET with Content-Length: 0 is no body, and is forwarded', async () => {
    const { reply, forwarded } = await exchange(`GET /v2/ HTTP/1.1\r\n${HOST}Content-Length: 0\r\nConnection: close\r\n\r\n`);
    expect(reply.status).toBe(200);
    expect(forwarded).toEqual(['GET /v2/']);
  });

  // Node's parser takes these, and each re-framing would change what the registry reads.
  it.each([
    ['a coding before chunked', `Transfer-Encoding: gzip, chunked\r\n\r\n${chunked('ab')}`],
    ['identity', 'Transfer-Encoding: identity\r\n\r\nab'],
    ['chunked on HTTP/1.0 (RFC 9112 §6.1: faulty framing)', `Transfer-Encoding: chunked\r\n\r\n${chunked('ab')}`, '1.0'],
  ])('a PUT whose Transfer-Encoding is %s is refused and closed, never forwarded', async (_, rest, version = '1.1') => {
    const { reply, forwarded, journal } = await exchange(`PUT /v2/${REPO}/blobs/uploads/u1 HTTP/${version}\r\n${HOST}${rest}`);
    expect([reply.status, reply.closed]).toEqual([400, true]);
    expect(forwarded).toEqual([]);
    expect(journal.map((e) => [e.status, e.intervention])).toEqual([[400, 'bad-framing']]);
  });

  // Node's strict parser refuses these itself (they passed before the fix too): kept so that a parser option
  // (insecureHTTPParser, NODE_OPTIONS=--insecure-http-parser) cannot quietly let them through.
  it.each([
    ['Content-Length and Transfer-Encoding', `Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(rawPut('v9', '{}'))}`],
    ['Content-Length twice', 'Content-Length: 2\r\nContent-Length: 2\r\n\r\nab'],
    ['conflicting Content-Lengths', 'Content-Length: 2\r\nContent-Length: 3\r\n\r\nabc'],
    ['a Content-Length list', 'Content-Length: 2, 2\r\n\r\nab'],
    ['chunked twice', `Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n${chunked('ab')}`],
  ])('a PUT with %s is refused and closed, never forwarded', async (_, rest) => {
    const { reply, forwarded, journal } = await exchange(`PUT /v2/${REPO}/blobs/uploads/u1 HTTP/1.1\r\n${HOST}${rest}`);
    expect([reply.status, reply.closed]).toEqual([400, true]);
    expect(forwarded).toEqual([]);
    expect(journal.map((e) => e.status)).toEqual([400]);
  });

  it('a request pipelined behind a refused one on the same connection is never forwarded', async () => {
    const { reply, forwarded } = await exchange(
      `GET /v2/ HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n${chunked('x')}GET /v2/${REPO}/manifests/next HTTP/1.1\r\n${HOST}\r\n`,
    );
    expect(reply.status).toBe(400);
    expect(reply.text.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 400']);
    expect(forwarded).toEqual([]);
  });

  // The smuggled GET declares a body it does not send: the registry takes the start of the next request on
  // that upstream connection as its body and answers it. With upstream connections pooled, that answer went
  // to whichever client's request came next.
  it("another client's answer is its own, whatever a smuggler sent before it", async () => {
    upstream.manifests.set('lab/evil:x', { body: Buffer.from('EVIL'), type: 'text/plain' });
    const smuggled = `GET /v2/lab/evil/manifests/x HTTP/1.1\r\n${HOST}Content-Length: 5\r\n\r\n`;
    await exchange(`GET /v2/ HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n${chunked(smuggled)}`);
    const victim = await request(base, 'GET', `/v2/${REPO}/manifests/mine`);
    expect(victim.status).toBe(404);
    expect(JSON.parse(victim.body.toString()).errors[0].code).toBe('MANIFEST_UNKNOWN');
  });
});

describe('FaultProxy upstream connections', () => {
  // A registry connection gone out of step: after answering /v2/desync it sends a stale extra answer ahead
  // of its answer to the next request on that connection. Each answer names its request otherwise.
  async function desyncingRegistry() {
    const connections: net.Socket[] = [];
    const server = net.createServer((s) => {
      connections.push(s);
      let buffered = '';
      let stale = false;
      s.on('data', (d) => {
        buffered += d.toString('latin1');
        for (let end = buffered.indexOf('\r\n\r\n'); end >= 0; end = buffered.indexOf('\r\n\r\n')) {
          const path = buffered.slice(0, end).split(' ')[1];
          buffered = buffered.slice(end + 4);
          if (stale) s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nSTALE');
          stale = path === '/v2/desync';
          const body = `own ${path}`;
          s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
        }
      });
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      connections,
      close: () =>
        new Promise<void>((r) => {
          for (const s of connections) s.destroy();
          server.close(() => r());
        }),
    };
  }

  it('an answer is paired with its own request even after an upstream connection went out of step', async () => {
    const registry = await desyncingRegistry();
    await using proxy = await new FaultProxy({ upstream: registry.url }).start();
    try {
      expect((await request(proxy.urlFor(), 'GET', '/v2/desync')).body.toString()).toBe('own /v2/desync');
      const other = await request(proxy.urlFor(), 'GET', '/v2/other');
      expect(other.body.toString()).toBe('own /v2/other');
    } finally {
      await registry.close();
    }
  });

  // The lab's registry has no network: the proxy reaches it over a unix socket in a directory of the lab's.
  it('forwards over a unix socket: Host kept, a chunked body framed again, each request on a connection of its own', async () => {
    const upstream = await fakeRegistry();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'proxy-unix-'));
    const socketPath = path.join(dir, 'registry.sock');
    let connections = 0;
    const unix = net.createServer((s) => {
      connections++;
      upstream.server.emit('connection', s);
    });
    await new Promise<void>((r) => unix.listen(socketPath, r));
    try {
      await using proxy = await new FaultProxy({ upstream: `unix://${socketPath}` }).start();
      const base = proxy.urlFor();
      const blob = Buffer.concat([...zeros(300_000)]);
      const started = await request(base, 'POST', '/v2/lab/app/blobs/uploads/');
      expect(started.status).toBe(202);
      const put = await request(base, 'PUT', `${started.headers.location}?digest=${sha256(blob)}`, { body: zeros(300_000) });
      expect(put.status).toBe(201);
      // keep-alive on the wire (a registry that closes first met a body still being written: EPIPE), and yet
      // a connection per request.
      expect(upstream.seen.map((s) => [s.method, s.headers.host, s.headers.connection, s.headers['transfer-encoding'], s.bodyBytes])).toEqual([
        ['POST', new URL(base).host, 'keep-alive', undefined, 0],
        ['PUT', new URL(base).host, 'keep-alive', 'chunked', blob.length],
      ]);
      expect(connections).toBe(2);
    } finally {
      await new Promise<void>((r) => unix.close(() => r()));
      await upstream.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it.each(['https://127.0.0.1:5000', 'http://127.0.0.1:5000/v2/', 'unix://host/registry.sock', 'unix:registry.sock', 'unix:///', 'tcp://127.0.0.1:5000'])(
    'refuses the upstream %s with a message naming the accepted forms',
    (upstream) => {
      expect(() => new FaultProxy({ upstream })).toThrow(UsageError);
      expect(() => new FaultProxy({ upstream })).toThrow(/http:\/\/host\[:port\] or unix:\/\/\/path/);
    },
  );
});
