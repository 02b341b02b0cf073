// The emulations on their own: requests and an upstream stand-in, no sockets.
import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.ts';
import type { RegistryBehaviour } from '../model.ts';
import { REGISTRY_BEHAVIOURS, createBehaviour, isRegistryBehaviourName, type RegistryRequest, type Upstream } from './behaviours.ts';
import { parseRegistryPath } from './journal.ts';
import { sha256 } from './stand-ins.test-helpers.ts';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const D = (n: number) => `sha256:${String(n).padStart(2, '0').repeat(32)}`;

function req(method: string, target: string, opts: { body?: string; headers?: Record<string, string> } = {}): RegistryRequest {
  const [path = '', query = ''] = target.split('?');
  const body = opts.body === undefined ? undefined : Buffer.from(opts.body);
  return {
    method,
    route: parseRegistryPath(path),
    query: new URLSearchParams(query),
    headers: opts.headers ?? {},
    ...(body ? { body, bodyDigest: sha256(body) } : {}),
  };
}

/** An upstream holding `paths`; records what was asked. */
function upstream(paths: string[] = []): Upstream & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    exists: async (p) => {
      asked.push(p);
      return paths.includes(p);
    },
  };
}

const uploaded = (repo: string, digest: string) => [req('PUT', `/v2/${repo}/blobs/uploads/u1?digest=${digest}`), 201, { 'docker-content-digest': digest }] as const;

describe('REGISTRY_BEHAVIOURS', () => {
  it('is a closed list of unique names, each with a one-line description', () => {
    const names = REGISTRY_BEHAVIOURS.map((b) => b.name);
    expect(new Set(names).size).toBe(names.length);
    for (const b of REGISTRY_BEHAVIOURS) expect(b.description).toMatch(/^[^\n]{10,140}$/);
  });

  it('holds every value of the model axis', () => {
    const model: RegistryBehaviour[] = ['plain', 'immutable-tags', 'known-index-not-retagged'];
    for (const n of model) expect(isRegistryBehaviourName(n)).toBe(true);
    expect(isRegistryBehaviourName('nope')).toBe(false);
  });

  it('createBehaviour refuses unknown names and bad options with the list of known ones', () => {
    expect(() => createBehaviour('nope' as never)).toThrow(UsageError);
    expect(() => createBehaviour('nope' as never)).toThrow(/known: plain, immutable-tags/);
    expect(() => createBehaviour({ name: 'late-blob-visibility', hideForRequests: -1 })).toThrow(/hideForRequests must be a whole number/);
    expect(() => createBehaviour({ name: 'late-blob-visibility', hideForMs: Number.NaN })).toThrow(UsageError);
  });

  it.each(REGISTRY_BEHAVIOURS.map((b) => b.name))('%s leaves a plain blob GET alone', async (name) => {
    const e = createBehaviour(name);
    expect(e.name).toBe(name);
    expect(await e.intercept(req('GET', `/v2/lab/app/blobs/${D(1)}`), upstream())).toBeUndefined();
  });
});

describe('immutable-tags', () => {
  it('refuses a PUT to an existing tag with 409 DENIED, not a new tag or a PUT by digest', async () => {
    const e = createBehaviour('immutable-tags');
    const up = upstream(['/v2/lab/app/manifests/v1']);
    const a = await e.intercept(req('PUT', '/v2/lab/app/manifests/v1', { body: '{}' }), up);
    expect(a?.status).toBe(409);
    expect(JSON.parse(a!.body!.toString())).toEqual({ errors: [{ code: 'DENIED', message: 'tag v1 is immutable' }] });
    expect(await e.intercept(req('PUT', '/v2/lab/app/manifests/v2', { body: '{}' }), up)).toBeUndefined();
    expect(await e.intercept(req('PUT', `/v2/lab/app/manifests/${D(1)}`, { body: '{}' }), up)).toBeUndefined();
    expect(up.asked).toEqual(['/v2/lab/app/manifests/v1', '/v2/lab/app/manifests/v2']);
  });
});

describe('known-index-not-retagged', () => {
  const idx = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
  it('answers 201 for a known index (by Content-Type or body mediaType) without forwarding', async () => {
    const e = createBehaviour('known-index-not-retagged');
    const up = upstream([`/v2/lab/app/manifests/${sha256(idx)}`]);
    for (const headers of [{ 'content-type': OCI_INDEX }, {}] as Record<string, string>[]) {
      const a = await e.intercept(req('PUT', '/v2/lab/app/manifests/v1', { body: idx, headers }), up);
      expect(a).toMatchObject({ status: 201, headers: { 'docker-content-digest': sha256(idx), location: `/v2/lab/app/manifests/${sha256(idx)}` } });
    }
  });
  it('forwards an unknown index and any single manifest', async () => {
    const e = createBehaviour('known-index-not-retagged');
    const up = upstream([]);
    expect(await e.intercept(req('PUT', '/v2/lab/app/manifests/v1', { body: idx, headers: { 'content-type': OCI_INDEX } }), up)).toBeUndefined();
    expect(await e.intercept(req('PUT', '/v2/lab/app/manifests/v1', { body: '{}', headers: { 'content-type': OCI_MANIFEST } }), up)).toBeUndefined();
    expect(up.asked).toHaveLength(1);
  });
});

describe('subject-must-exist', () => {
  const withSubject = (d: string) => JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, layers: [], subject: { mediaType: OCI_MANIFEST, digest: d, size: 2 } });

  it('refuses a manifest whose subject the repository does not hold: 400 MANIFEST_BLOB_UNKNOWN naming the digest', async () => {
    const e = createBehaviour('subject-must-exist');
    const up = upstream();
    for (const ref of ['v1', D(9)]) {
      const a = await e.intercept(req('PUT', `/v2/lab/app/manifests/${ref}`, { body: withSubject(D(1)) }), up);
      expect(a?.status).toBe(400);
      expect(JSON.parse(a!.body!.toString())).toEqual({ errors: [{ code: 'MANIFEST_BLOB_UNKNOWN', message: 'blob unknown to registry', detail: D(1) }] });
    }
    expect(up.asked).toEqual([`/v2/lab/app/manifests/${D(1)}`, `/v2/lab/app/manifests/${D(1)}`]);
  });

  it('accepts one whose subject is held, and asks nothing of manifests without a usable subject', async () => {
    const e = createBehaviour('subject-must-exist');
    const up = upstream([`/v2/lab/app/manifests/${D(1)}`]);
    expect(await e.intercept(req('PUT', '/v2/lab/app/manifests/v1', { body: withSubject(D(1)) }), up)).toBeUndefined();
    const asked = up.asked.length;
    for (const body of ['{"schemaVersion":2}', 'not json', '{"subject":"sha256:x"}', '{"subject":{"digest":42}}', '{"subject":{"digest":"latest"}}', 'null']) {
      expect(await e.intercept(req('PUT', '/v2/lab/app/manifests/v1', { body }), up)).toBeUndefined();
    }
    expect(up.asked.length).toBe(asked);
  });
});

describe('late-blob-visibility', () => {
  const blob = D(7);
  const head = (repo = 'lab/app', method = 'HEAD') => req(method, `/v2/${repo}/blobs/${blob}`);

  it('after an upload completes, the next HEAD answers 404 BLOB_UNKNOWN, the one after is forwarded (default)', async () => {
    const e = createBehaviour('late-blob-visibility');
    expect(await e.intercept(head(), upstream())).toBeUndefined();
    e.observe(...uploaded('lab/app', blob));
    const a = await e.intercept(head(), upstream());
    expect(a?.status).toBe(404);
    expect(JSON.parse(a!.body!.toString()).errors[0]).toMatchObject({ code: 'BLOB_UNKNOWN', detail: blob });
    expect(await e.intercept(head(), upstream())).toBeUndefined();
  });

  it('hides for hideForRequests reads, HEAD and GET alike, in that repository only', async () => {
    const e = createBehaviour({ name: 'late-blob-visibility', hideForRequests: 3 });
    e.observe(...uploaded('lab/app', blob));
    expect(await e.intercept(head('lab/other'), upstream())).toBeUndefined();
    const statuses = [];
    for (const m of ['HEAD', 'GET', 'HEAD', 'GET']) statuses.push((await e.intercept(head('lab/app', m), upstream()))?.status ?? 'forwarded');
    expect(statuses).toEqual([404, 404, 404, 'forwarded']);
  });

  it('hides for hideForMs after the upload, whichever of the two lasts longer', async () => {
    let now = 1000;
    const e = createBehaviour({ name: 'late-blob-visibility', hideForRequests: 0, hideForMs: 500 }, () => now);
    e.observe(...uploaded('lab/app', blob));
    expect((await e.intercept(head(), upstream()))?.status).toBe(404);
    now = 1499;
    expect((await e.intercept(head(), upstream()))?.status).toBe(404);
    now = 1500;
    expect(await e.intercept(head(), upstream())).toBeUndefined();
  });

  it('counts monolithic and mount POSTs answered 201, takes the digest from the query when the header lacks it, ignores failed uploads', async () => {
    const e = createBehaviour({ name: 'late-blob-visibility', hideForRequests: 1 });
    e.observe(req('POST', `/v2/lab/app/blobs/uploads/?mount=${blob}&from=lab/base`), 201, { 'docker-content-digest': blob });
    expect((await e.intercept(head(), upstream()))?.status).toBe(404);
    e.observe(req('PUT', `/v2/lab/app/blobs/uploads/u2?digest=${D(8)}`), 201, {});
    expect((await e.intercept(req('GET', `/v2/lab/app/blobs/${D(8)}`), upstream()))?.status).toBe(404);
    e.observe(req('PUT', `/v2/lab/app/blobs/uploads/u3?digest=${D(9)}`), 400, {});
    e.observe(req('PATCH', '/v2/lab/app/blobs/uploads/u4'), 202, {});
    expect(await e.intercept(req('GET', `/v2/lab/app/blobs/${D(9)}`), upstream())).toBeUndefined();
  });

  it('remembers a bounded number of hidden blobs, dropping the oldest', async () => {
    const e = createBehaviour({ name: 'late-blob-visibility', hideForRequests: 1 });
    for (let i = 0; i <= 10_000; i++) e.observe(...uploaded('lab/app', `sha256:${i.toString(16).padStart(64, '0')}`));
    expect(await e.intercept(req('HEAD', `/v2/lab/app/blobs/sha256:${'0'.repeat(64)}`), upstream())).toBeUndefined();
    expect((await e.intercept(req('HEAD', `/v2/lab/app/blobs/sha256:${(10_000).toString(16).padStart(64, '0')}`), upstream()))?.status).toBe(404);
  });
});
