import { createServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { HarnessError } from '../errors.ts';
import { RegistryClient, RegistryRequestError } from './client.ts';
import { loadFixture, startFixtureRegistry, type FixtureRegistry, type FixtureResponse } from './testing.ts';
import { OCI_INDEX, digestOf } from './types.ts';

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
    const c = await client(({ path }) => (path.endsWith(`/manifests/${top}`) ? { body, headers: { 'Content-Type': OCI_INDEX, 'Docker-Content-Digest': digestOf(body) } } : undefined));
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
    expect(await c.getBlob('app/x', `sha256:${'0'.repeat(64)}`)).toMatchObject({ found: false, status: 404 });
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
    const b = await c.getBlob('app/x', someBlob);
    expect(b).toMatchObject({ found: true, size: blobBytes.length, digest: someBlob, problems: [] });
    expect(await c.headBlob('app/x', someBlob)).toEqual({ exists: true, status: 200, size: blobBytes.length, headerDigest: someBlob });
    const bad = await c.getBlob('app/bad', someBlob);
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
  });
});
