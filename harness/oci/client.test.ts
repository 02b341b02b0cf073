import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HarnessError } from '../errors.ts';
import { BodyTooLargeError, MAX_JSON_BYTES, RegistryClient, RegistryRequestError } from './client.ts';
import { fixtureJson, loadFixture, startFixtureRegistry, type FixtureRegistry, type FixtureResponse } from './fixture-registry.test-helpers.ts';
import { OCI_INDEX, digestOf, type ImageIndex, type ImageManifest } from './types.ts';
import { verifyImage } from './verify.ts';

const store = loadFixture('buildkit-index');
const top = store.tags.latest!;
const [someBlob, blobBytes] = [...store.blobs].find(([d]) => d !== top)!;

let reg: FixtureRegistry | undefined;
afterEach(async () => {
  await reg?.close();
  reg = undefined;
});
async function client(override?: (r: { method: string; path: string }) => FixtureResponse | undefined): Promise<RegistryClient> {
  reg = await startFixtureRegistry({ 'app/x': store }, override);
  return new RegistryClient({ baseUrl: `${reg.baseUrl}/` });
}

describe('RegistryClient', () => {
  it('gets a manifest by tag and by digest, hashing the body', async () => {
    const c = await client();
    for (const ref of ['latest', top]) {
      const m = await c.getManifest('app/x', ref);
      if (!m.found) throw new Error('expected found');
      expect(m).toMatchObject({ mediaType: OCI_INDEX, digest: top, headerDigest: top, size: store.blobs.get(top)!.length, problems: [] });
      expect((m.json as { manifests: unknown[] }).manifests).toHaveLength(6);
    }
  });

  it('asks for all four manifest media types and identifies itself', async () => {
    let accept = '';
    let ua = '';
    const spy = createServer((req, res) => {
      accept = req.headers.accept ?? '';
      ua = req.headers['user-agent'] ?? '';
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => spy.listen(0, '127.0.0.1', r));
    const port = (spy.address() as { port: number }).port;
    await new RegistryClient({ baseUrl: `http://127.0.0.1:${port}` }).getManifest('app/x', 'latest');
    await new Promise((r) => spy.close(r));
    expect(accept.split(', ').sort()).toEqual(
      [
        'application/vnd.docker.distribution.manifest.list.v2+json',
        'application/vnd.docker.distribution.manifest.v2+json',
        'application/vnd.oci.image.index.v1+json',
        'application/vnd.oci.image.manifest.v1+json',
      ].sort(),
    );
    expect(ua).toBe('buildx-lab-verify');
  });

  it('reports a body whose digest differs from Docker-Content-Digest (tag reference)', async () => {
    const body = Buffer.from(store.blobs.get(top)!.toString('utf8').replace('s390x', 's390X'));
    const c = await client(({ path }) => (path.endsWith('/manifests/latest') ? { body, headers: { 'Content-Type': OCI_INDEX, 'Docker-Content-Digest': top } } : undefined));
    const m = await c.getManifest('app/x', 'latest');
    if (!m.found) throw new Error('expected found');
    expect(m.digest).toBe(digestOf(body));
    expect(m.problems).toEqual([{ code: 'digest-mismatch', where: 'app/x@latest', detail: `Docker-Content-Digest says ${top} but body hashes to ${digestOf(body)}` }]);
  });

  it('reports a body that does not hash to the requested digest even when the header agrees with it', async () => {
    const body = Buffer.from('{"schemaVersion":2,"manifests":[]}');
    const c = await client(({ path }) =>
      path.endsWith(`/manifests/${top}`) ? { body, headers: { 'Content-Type': OCI_INDEX, 'Docker-Content-Digest': digestOf(body) } } : undefined,
    );
    const m = await c.getManifest('app/x', top);
    expect(m.found && m.problems.map((p) => p.detail)).toEqual([`requested ${top} but body hashes to ${digestOf(body)}`]);
  });

  it('reports a non-JSON manifest body', async () => {
    const c = await client(({ path }) => (path.endsWith('/manifests/latest') ? { body: Buffer.from('<html>'), headers: { 'Content-Type': 'text/html' } } : undefined));
    const m = await c.getManifest('app/x', 'latest');
    expect(m.found && m.problems.map((p) => p.code)).toEqual(['invalid-manifest']);
  });

  it('404 is a typed result; other statuses throw a HarnessError naming the URL', async () => {
    const c = await client(({ path }) => (path.includes('boom') ? { status: 500 } : undefined));
    expect(await c.getManifest('app/x', 'nope')).toMatchObject({ found: false, status: 404 });
    expect(await c.getBlob('app/x', `sha256:${'0'.repeat(64)}`, 1)).toMatchObject({ found: false, status: 404 });
    expect(await c.headBlob('app/x', `sha256:${'0'.repeat(64)}`)).toEqual({ exists: false, status: 404 });
    expect(await c.headManifest('app/x', 'nope')).toMatchObject({ found: false, status: 404 });
    const err = await c.getManifest('app/boom', 'latest').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryRequestError);
    expect((err as RegistryRequestError).status).toBe(500);
    expect((err as Error).message).toContain(`${reg!.baseUrl}/v2/app/boom/manifests/latest`);
  });

  it('network errors throw a HarnessError naming the URL', async () => {
    const c = await client();
    const url = reg!.baseUrl;
    await reg!.close();
    reg = undefined;
    const err = await c.getManifest('app/x', 'latest').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HarnessError);
    expect(err).toBeInstanceOf(RegistryRequestError);
    expect((err as Error).message).toContain(`GET ${url}/v2/app/x/manifests/latest failed`);
  });

  it('gets and heads blobs, checking digests', async () => {
    const c = await client(({ path }) => (path.endsWith(`/blobs/${someBlob}`) && path.includes('bad/') ? { body: Buffer.from('tampered') } : undefined));
    const b = await c.getBlob('app/x', someBlob, blobBytes.length);
    expect(b).toMatchObject({ found: true, size: blobBytes.length, digest: someBlob, problems: [] });
    expect(await c.headBlob('app/x', someBlob)).toEqual({ exists: true, status: 200, size: blobBytes.length, headerDigest: someBlob });
    const bad = await c.getBlob('app/bad', someBlob, blobBytes.length);
    expect(bad.found && bad.problems.map((p) => p.code)).toEqual(['digest-mismatch']);
  });

  it('heads manifests', async () => {
    const c = await client();
    expect(await c.headManifest('app/x', 'latest')).toEqual({ found: true, status: 200, mediaType: OCI_INDEX, digest: top, size: store.blobs.get(top)!.length });
  });

  it('lists tags, [] for an unknown repository, following Link pagination', async () => {
    const c = await client();
    expect(await c.listTags('app/x')).toEqual(['latest']);
    expect(await c.listTags('app/none')).toEqual([]);
    await reg!.close();
    reg = await startFixtureRegistry({}, ({ path }) =>
      path.endsWith('/tags/list')
        ? { body: Buffer.from('{"name":"app/x","tags":["a","b"]}'), headers: { Link: '</v2/app/x/tags/page2?n=2&last=b>; rel="next"' } }
        : { body: Buffer.from('{"name":"app/x","tags":["c"]}') },
    );
    expect(await new RegistryClient({ baseUrl: reg.baseUrl }).listTags('app/x')).toEqual(['a', 'b', 'c']);
    expect(await new RegistryClient({ baseUrl: reg.baseUrl }).listTags('app/x', { pageSize: 2 })).toEqual(['a', 'b', 'c']);
    expect(reg.log.filter((l) => l.includes('/tags/'))).toHaveLength(4);
  });
});

/** A server on loopback with its own handler; `hits` lists what reached it. */
async function server(handler: RequestListener = (_, res) => void res.end('{}')) {
  const hits: string[] = [];
  const srv = createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    handler(req, res);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  return {
    url,
    hits,
    close: () =>
      new Promise<void>((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  };
}

describe('RegistryClient stays on the registry', () => {
  it('refuses Link pagination to another origin, naming both', async () => {
    await using outside = Object.assign(await server(), { [Symbol.asyncDispose]: () => outside.close() });
    reg = await startFixtureRegistry({}, () => ({ body: Buffer.from('{"tags":["a"]}'), headers: { Link: `<${outside.url}/v2/app/x/tags/list?last=a>; rel="next"` } }));
    const err = await new RegistryClient({ baseUrl: reg.baseUrl }).listTags('app/x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryRequestError);
    expect((err as Error).message).toContain(`refusing to follow Link pagination from ${reg.baseUrl}/v2/app/x/tags/list to ${outside.url}`);
    expect((err as Error).message).toContain(reg.baseUrl);
    expect(outside.hits).toEqual([]);
  });

  it('refuses a redirect to another origin, and follows one on its own', async () => {
    await using outside = Object.assign(await server(), { [Symbol.asyncDispose]: () => outside.close() });
    reg = await startFixtureRegistry({ 'app/x': store }, ({ path }) => {
      if (path.endsWith('/manifests/away')) return { status: 307, headers: { Location: `${outside.url}/v2/app/x/manifests/latest` } };
      if (path.endsWith('/manifests/home')) return { status: 307, headers: { Location: '/v2/app/x/manifests/latest' } };
      return undefined;
    });
    const c = new RegistryClient({ baseUrl: reg.baseUrl });
    const err = await c.getManifest('app/x', 'away').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryRequestError);
    expect((err as Error).message).toMatch(/refusing to follow a redirect .* to http:\/\/127\.0\.0\.1:\d+\/v2\/app\/x\/manifests\/latest/);
    expect(outside.hits).toEqual([]);
    expect(await c.getManifest('app/x', 'home')).toMatchObject({ found: true, digest: top });
  });

  it('gives up on a redirect loop and on Link pagination that comes back to a page it read', async () => {
    reg = await startFixtureRegistry(
      {},
      ({ path }): FixtureResponse =>
        path.endsWith('/manifests/loop')
          ? { status: 302, headers: { Location: '/v2/app/x/manifests/loop' } }
          : { body: Buffer.from('{"tags":["a"]}'), headers: { Link: '</v2/app/x/tags/list>; rel="next"' } },
    );
    const c = new RegistryClient({ baseUrl: reg.baseUrl, timeoutMs: 2_000 });
    await expect(c.getManifest('app/x', 'loop')).rejects.toThrow(/more than 5 redirects/);
    await expect(c.listTags('app/x')).rejects.toThrow(/Link pagination comes back to .*tags\/list/);
  });
});

describe('RegistryClient body limits', () => {
  const big = Buffer.alloc((4 << 20) + 1, 0x20);

  it('refuses a manifest over 4 MiB, from its Content-Length, naming the limit', async () => {
    reg = await startFixtureRegistry({}, () => ({ body: big, headers: { 'Content-Type': OCI_INDEX } }));
    const err = await new RegistryClient({ baseUrl: reg.baseUrl }).getManifest('app/x', 'latest').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BodyTooLargeError);
    expect((err as BodyTooLargeError).limit).toBe(4 << 20);
    expect(MAX_JSON_BYTES).toBe(4 << 20);
    expect((err as Error).message).toMatch(/manifest .* is larger than the 4194304-byte limit/);
  });

  it('refuses a chunked manifest (no Content-Length) once it passes 4 MiB, without reading the rest', async () => {
    let written = 0;
    await using srv = Object.assign(
      await server((_, res) => {
        res.writeHead(200, { 'Content-Type': OCI_INDEX });
        const chunk = Buffer.alloc(1 << 20, 0x20);
        const pump = () => {
          while (written < 64 << 20 && res.write(chunk)) written += chunk.length;
          if (written < 64 << 20) res.once('drain', pump);
          else res.end();
        };
        res.on('close', () => (written = Infinity));
        pump();
      }),
      { [Symbol.asyncDispose]: () => srv.close() },
    );
    await expect(new RegistryClient({ baseUrl: srv.url }).getManifest('app/x', 'latest')).rejects.toThrow(BodyTooLargeError);
    expect(written).toBeLessThan(64 << 20);
  });

  it('refuses a tag list over 4 MiB', async () => {
    reg = await startFixtureRegistry({}, () => ({ body: big }));
    await expect(new RegistryClient({ baseUrl: reg.baseUrl }).listTags('app/x')).rejects.toThrow(/tag list .* is larger than the 4194304-byte limit/);
  });

  it('refuses a blob larger than its descriptor says, naming the size', async () => {
    reg = await startFixtureRegistry({ 'app/x': store }, ({ path }) => (path.includes('/blobs/') ? { body: Buffer.concat([blobBytes, Buffer.from('more')]) } : undefined));
    const err = await new RegistryClient({ baseUrl: reg.baseUrl }).getBlob('app/x', someBlob, blobBytes.length).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BodyTooLargeError);
    expect((err as Error).message).toContain(`is larger than the descriptor's ${blobBytes.length} bytes`);
  });

  it('verification reports an oversize blob as a size mismatch instead of throwing', async () => {
    const child = fixtureJson<ImageIndex>(store, 'latest').manifests[0]!;
    const layer = fixtureJson<ImageManifest>(store, child.digest).layers[0]!;
    reg = await startFixtureRegistry({ 'app/x': store }, ({ path }) => (path.endsWith(`/blobs/${layer.digest}`) ? { body: Buffer.alloc(layer.size + (1 << 20)) } : undefined));
    const report = await verifyImage(new RegistryClient({ baseUrl: reg.baseUrl }), 'app/x', 'latest', { platforms: [], fetchLayers: 'get' });
    const p = report.problems.find((x) => x.detail.includes(layer.digest) && x.code === 'size-mismatch');
    expect(p?.detail).toContain(`registry sent more than the descriptor's ${layer.size} bytes`);
  });

  it('verification reports a manifest over 4 MiB as invalid instead of throwing', async () => {
    reg = await startFixtureRegistry({ 'app/x': store }, ({ path }) => (path.endsWith('/manifests/latest') ? { body: big, headers: { 'Content-Type': OCI_INDEX } } : undefined));
    const report = await verifyImage(new RegistryClient({ baseUrl: reg.baseUrl }), 'app/x', 'latest', { platforms: ['linux/amd64'] });
    expect(report.problems).toEqual([{ code: 'invalid-manifest', where: 'app/x:latest', detail: expect.stringContaining('larger than the 4194304-byte limit') }]);
  });
});
