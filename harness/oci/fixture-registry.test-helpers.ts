// Test support: loads the fixture stores under fixtures/oci/ and serves them as a minimal read-only
// distribution API on 127.0.0.1, so the client's own digest checks can be exercised without Docker.
import { readFileSync, readdirSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { digestOf } from './types.ts';

const FIXTURES = fileURLToPath(new URL('../../fixtures/oci/', import.meta.url));

export type FixtureName = 'buildkit-index' | 'docker-manifest-list' | 'single-manifest';

export interface FixtureStore {
  tags: Record<string, string>;
  blobs: Map<string, Buffer>;
}

export function loadFixture(name: FixtureName): FixtureStore {
  const dir = join(FIXTURES, name);
  const tags = JSON.parse(readFileSync(join(dir, 'tags.json'), 'utf8')) as Record<string, string>;
  const blobs = new Map<string, Buffer>();
  for (const hex of readdirSync(join(dir, 'blobs', 'sha256'))) blobs.set(`sha256:${hex}`, readFileSync(join(dir, 'blobs', 'sha256', hex)));
  return { tags, blobs };
}

/** Parsed JSON of a blob (a manifest or index) in a store; a fresh copy each call, safe to mutate. */
export function fixtureJson<T = unknown>(store: FixtureStore, digestOrTag: string): T {
  const digest = store.tags[digestOrTag] ?? digestOrTag;
  const b = store.blobs.get(digest);
  if (!b) throw new Error(`fixture has no blob ${digestOrTag}`);
  return JSON.parse(b.toString('utf8')) as T;
}

export interface FixtureResponse {
  status?: number;
  body?: Buffer;
  headers?: Record<string, string>;
}

export interface FixtureRegistry {
  baseUrl: string;
  /** requests seen, "METHOD /path" */
  log: string[];
  close(): Promise<void>;
}

/**
 * Serves repositories (repo name -> store). `override` may replace any answer, to simulate a registry
 * that lost a blob or serves a body that does not match its digest.
 */
export async function startFixtureRegistry(
  repos: Record<string, FixtureStore>,
  override?: (req: { method: string; path: string }) => FixtureResponse | undefined,
): Promise<FixtureRegistry> {
  const log: string[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?')[0]!;
    log.push(`${method} ${path}`);
    const answer = override?.({ method, path }) ?? route(repos, path);
    const body = answer.body ?? Buffer.alloc(0);
    res.writeHead(answer.status ?? 200, { 'Content-Length': String(body.length), ...answer.headers });
    res.end(method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    log,
    close: () => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))),
  };
}

function notFound(code: string): FixtureResponse {
  return { status: 404, body: Buffer.from(JSON.stringify({ errors: [{ code, message: code.toLowerCase() }] })), headers: { 'Content-Type': 'application/json' } };
}

function route(repos: Record<string, FixtureStore>, path: string): FixtureResponse {
  const m = /^\/v2\/(.+)\/(manifests|blobs|tags)\/(.+)$/.exec(path);
  if (!m) return path === '/v2/' ? { body: Buffer.from('{}') } : notFound('UNSUPPORTED');
  const [, repo, kind, ref] = m as unknown as [string, string, string, string];
  const store = repos[repo];
  if (!store) return notFound('NAME_UNKNOWN');
  if (kind === 'tags') return { body: Buffer.from(JSON.stringify({ name: repo, tags: Object.keys(store.tags) })), headers: { 'Content-Type': 'application/json' } };
  const digest = kind === 'manifests' ? (store.tags[ref] ?? ref) : ref;
  const body = store.blobs.get(digest);
  if (!body) return notFound(kind === 'manifests' ? 'MANIFEST_UNKNOWN' : 'BLOB_UNKNOWN');
  let contentType = 'application/octet-stream';
  if (kind === 'manifests') {
    const mt = (JSON.parse(body.toString('utf8')) as { mediaType?: string }).mediaType;
    if (mt) contentType = mt;
  }
  return { body, headers: { 'Content-Type': contentType, 'Docker-Content-Digest': digestOf(body) } };
}
