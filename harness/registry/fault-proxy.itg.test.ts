// The fault proxy in front of the REAL registry (CNCF distribution in the lab's container, behind the lab's
// own wiring), not the in-process stand-in of the unit tests: what the emulations assume about the real
// registry, and that the transport limits do not get in the way of real pushes and reads.
// Needs a Docker engine (integration project).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../lab/lab.ts';
import { startTestLab, type TestLab } from '../runner/lab.test-helpers.ts';
import { OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST } from '../oci/types.ts';
import { blobPath } from './fault-proxy.ts';
import { canary, rawExchange, request, sha256, type Canary } from './stand-ins.test-helpers.ts';

const REPO = `itg/proxy-${Date.now().toString(36)}`;
const MiB = 1 << 20;

describe('fault proxy in front of the real registry', { timeout: 120_000 }, () => {
  let t: TestLab;
  let lab: Lab;
  let base: string;
  let port: number;
  let outside: Canary;

  beforeAll(async () => {
    t = await startTestLab('itgproxy', []);
    lab = t.lab;
    base = lab.hostRegistryUrl;
    port = Number(new URL(base).port);
    outside = await canary();
  }, 300_000);
  afterAll(async () => {
    await outside?.close();
    await t?.close();
  });
  afterEach(() => {
    lab.proxy.clearFaults();
    lab.proxy.clearBehaviours();
    expect(outside.hits.splice(0)).toEqual([]);
    expect(lab.proxy.upstreamFailures).toBe(0);
  });

  /** Monolithic upload: POST, then PUT ?digest= to the Location the registry gave. */
  async function pushBlob(repo: string, bytes: Buffer): Promise<{ digest: string; location: string }> {
    const digest = sha256(bytes);
    const start = await request(base, 'POST', `/v2/${repo}/blobs/uploads/`);
    expect(start.status).toBe(202);
    const location = new URL(String(start.headers.location), base);
    location.searchParams.set('digest', digest);
    const put = await request(base, 'PUT', `${location.pathname}${location.search}`, { body: bytes, headers: { 'content-type': 'application/octet-stream' } });
    expect(put.status, put.body.toString()).toBe(201);
    return { digest, location: String(start.headers.location) };
  }

  const descriptor = (mediaType: string, bytes: Buffer | string) => ({ mediaType, digest: sha256(bytes), size: Buffer.byteLength(bytes) });

  /** An image manifest over a pushed config and layer (the registry checks both exist). */
  async function image(n: number, extra: Record<string, unknown> = {}): Promise<string> {
    const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, n }));
    const layer = Buffer.from(`layer ${n}`);
    await pushBlob(REPO, cfg);
    await pushBlob(REPO, layer);
    return JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: descriptor(OCI_CONFIG, cfg), layers: [descriptor(OCI_LAYER_GZIP, layer)], ...extra });
  }

  const put = (ref: string, body: string | Buffer) => request(base, 'PUT', `/v2/${REPO}/manifests/${ref}`, { body, headers: { 'content-type': OCI_MANIFEST } });

  it("forwards a real push and read, and the registry's upload Location points back at the proxy", async () => {
    const { location } = await pushBlob(REPO, Buffer.from('hello'));
    expect(new URL(location, base).origin).toBe(new URL(base).origin);
    const m = await image(1);
    expect((await put('v1', m)).status).toBe(201);
    const got = await lab.client().getManifest(REPO, 'v1');
    expect(got).toMatchObject({ found: true, digest: sha256(m), problems: [] });
  });

  it('refuses off-origin and outside-/v2/ targets before the registry sees them', async () => {
    const mark = lab.proxy.journal.mark();
    for (const t of [`http://127.0.0.1:${outside.port}/v2/`, `//127.0.0.1:${outside.port}/v2/`, '/v2/%2e%2e/debug/vars', '/debug/vars']) {
      const r = await rawExchange(port, `GET ${t} HTTP/1.1\r\nHost: registry:5000\r\nConnection: close\r\n\r\n`);
      expect(r.status).toBe(400);
    }
    const c = await rawExchange(port, `CONNECT 127.0.0.1:${outside.port} HTTP/1.1\r\nHost: 127.0.0.1:${outside.port}\r\n\r\n`);
    expect(c.status).toBe(400);
    await expect.poll(() => lab.proxy.journal.since(mark).map((e) => [e.status, e.intervention])).toEqual(Array(5).fill([400, 'bad-target']));
  });

  it('subject-must-exist: the real registry takes a manifest whose subject is missing; the emulation refuses it until it is there', async () => {
    const subject = await image(2);
    const cfg = Buffer.from('{}');
    const statement = Buffer.from('{"_type":"https://in-toto.io/Statement/v0.1"}');
    await pushBlob(REPO, cfg);
    await pushBlob(REPO, statement);
    const attestation = (s: string) =>
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: 'application/vnd.docker.attestation.manifest.v1+json',
        config: descriptor('application/vnd.oci.empty.v1+json', cfg),
        layers: [descriptor('application/vnd.in-toto+json', statement)],
        subject: descriptor(OCI_MANIFEST, s),
      });
    // distribution itself follows the OCI spec: a missing subject is fine.
    const ghost = await image(3);
    expect((await put(sha256(attestation(ghost)), attestation(ghost))).status).toBe(201);

    lab.proxy.setBehaviour(REPO, 'subject-must-exist');
    const refused = await put(sha256(attestation(subject)), attestation(subject));
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.body.toString()).errors[0]).toMatchObject({ code: 'MANIFEST_BLOB_UNKNOWN', detail: sha256(subject) });
    expect((await put(sha256(subject), subject)).status).toBe(201);
    expect((await put(sha256(attestation(subject)), attestation(subject))).status).toBe(201);
  });

  it("late-blob-visibility: a HEAD right after the upload says 404, then the real registry's 200 shows", async () => {
    lab.proxy.setBehaviour(REPO, { name: 'late-blob-visibility', hideForRequests: 1 });
    const { digest } = await pushBlob(REPO, Buffer.from(`late ${Date.now()}`));
    expect((await request(base, 'HEAD', blobPath(REPO, digest))).status).toBe(404);
    expect((await request(base, 'HEAD', blobPath(REPO, digest))).status).toBe(200);
  });

  it('immutable-tags and known-index-not-retagged still judge by what the real registry holds', async () => {
    lab.proxy.setBehaviour(REPO, 'immutable-tags');
    expect((await put('imm', await image(4))).status).toBe(201);
    expect((await put('imm', await image(5))).status).toBe(409);
  });

  it('a manifest over 4 MiB is refused with 413 by the proxy, and the registry keeps serving', async () => {
    const r = await put('huge', Buffer.alloc(4 * MiB + 1, 0x20));
    expect(r.status).toBe(413);
    expect((await request(base, 'GET', '/v2/')).status).toBe(200);
  });

  it("the lab client follows the real registry's Link pagination, which stays on its origin", async () => {
    const m = await image(6);
    for (const t of ['p1', 'p2', 'p3']) expect((await put(t, m)).status).toBe(201);
    const tags = await lab.client().listTags(REPO, { pageSize: 1 });
    expect(tags).toEqual(expect.arrayContaining(['p1', 'p2', 'p3']));
  });
});
