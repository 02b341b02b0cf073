import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ProvisionError } from '../errors.ts';
import { downloadRelease, parseChecksums } from './release-download.ts';
import type { ReleasePins } from './release-pins.ts';

const GOOD = Buffer.from('#!/bin/sh\necho buildx good\n'.repeat(5000));
const BAD = Buffer.from('tampered');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

// A tiny release mirror. Pinned: v0.21.1 is good; v0.21.4 serves a substituted binary whose
// checksums.txt agrees with it (what a compromised server would do). Unpinned: v0.21.2's binary does
// not match its checksums.txt, v0.21.3 has checksums but no binary, v0.21.5 is good. Anything else is 404.
const files: Record<string, Buffer> = {
  '/v0.21.1/buildx-v0.21.1.linux-amd64': GOOD,
  '/v0.21.1/checksums.txt': Buffer.from(`${sha(BAD)} *buildx-v0.21.1.linux-arm64\n${sha(GOOD)} *buildx-v0.21.1.linux-amd64\n`),
  '/v0.21.2/buildx-v0.21.2.linux-amd64': BAD,
  '/v0.21.2/checksums.txt': Buffer.from(`${sha(GOOD)}  buildx-v0.21.2.linux-amd64\n`),
  '/v0.21.3/checksums.txt': Buffer.from(`${sha(GOOD)} *buildx-v0.21.3.linux-amd64\n`),
  '/v0.21.4/buildx-v0.21.4.linux-amd64': BAD,
  '/v0.21.4/checksums.txt': Buffer.from(`${sha(BAD)} *buildx-v0.21.4.linux-amd64\n`),
  '/v0.21.5/buildx-v0.21.5.linux-amd64': GOOD,
  '/v0.21.5/checksums.txt': Buffer.from(`${sha(GOOD)} *buildx-v0.21.5.linux-amd64\n`),
};

const SRC = `docker-library/docker@${'c'.repeat(40)}:versions.json`;
const SRC2 = `cashapp/hermit-packages@${'d'.repeat(40)}:docker-buildx.hcl`;
const pins: ReleasePins = {
  about: 'test pins',
  generatedAt: '2026-11-27T00:00:00.000Z',
  sources: {},
  pins: {
    'v0.21.1': { 'linux-amd64': { sha256: sha(GOOD), sources: [SRC, SRC2] } },
    'v0.21.4': { 'linux-amd64': { sha256: sha(GOOD), sources: [SRC] } },
    'v0.21.7': { 'linux-amd64': { sha256: sha(GOOD), sources: [SRC] } },
  },
  disagreements: [{ version: 'v0.21.6', platform: 'linux-amd64', values: { [sha(GOOD)]: [SRC], [sha(BAD)]: [SRC2] } }],
};

let server: Server;
let baseUrl: string;
let destDir: string;
/** Paths the mirror was asked for since the last test. */
let requested: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    requested.push(req.url ?? '');
    // v0.21.7: the connection drops halfway through the binary, after its full length was announced
    if (req.url === '/v0.21.7/buildx-v0.21.7.linux-amd64') {
      res.writeHead(200, { 'content-length': GOOD.length });
      res.write(GOOD.subarray(0, GOOD.length / 2), () => res.destroy());
      return;
    }
    const body = files[req.url ?? ''];
    res.writeHead(body ? 200 : 404).end(body ?? 'Not Found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));
beforeEach(() => {
  requested = [];
  destDir = mkdtempSync(join(tmpdir(), 'buildx-dl-'));
  return () => rmSync(destDir, { recursive: true, force: true });
});

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a failure');
}

describe('parseChecksums', () => {
  it('reads text and binary mode lines and ignores junk', () => {
    const a = 'a'.repeat(64);
    const b = 'B'.repeat(64);
    const m = parseChecksums(`${a} *buildx-v0.21.1.linux-amd64\r\n${b}  buildx-v0.21.1.linux-arm64\n\nnot a line\n`);
    expect([...m]).toEqual([
      ['buildx-v0.21.1.linux-amd64', a],
      ['buildx-v0.21.1.linux-arm64', 'b'.repeat(64)],
    ]);
  });
});

describe('downloadRelease against a pin', () => {
  it('downloads, verifies against the pin alone and makes the binary executable', async () => {
    const got = await downloadRelease('0.21.1', 'amd64', { baseUrl: `${baseUrl}/`, destDir, pins });
    expect(got.url).toBe(`${baseUrl}/v0.21.1/buildx-v0.21.1.linux-amd64`);
    expect(got.sha256).toBe(sha(GOOD));
    expect(got.pinned).toBe(true);
    expect(got.checkedAgainst).toEqual([SRC, SRC2]);
    expect(got.size).toBe(GOOD.length);
    expect(got.path.startsWith(destDir)).toBe(true);
    expect(readFileSync(got.path).equals(GOOD)).toBe(true);
    expect(statSync(got.path).mode & 0o777).toBe(0o755);
    // The server's own checksums.txt is not consulted when a pin exists.
    expect(requested).toEqual(['/v0.21.1/buildx-v0.21.1.linux-amd64']);
  });

  it("deletes a binary that differs from its pin, even when the server's checksums.txt agrees with it", async () => {
    const err = await failure(downloadRelease('v0.21.4', 'amd64', { baseUrl, destDir, pins, allowUnpinned: true }));
    expect(err).toBeInstanceOf(ProvisionError);
    expect(err.message).toBe(
      `checksum mismatch for ${baseUrl}/v0.21.4/buildx-v0.21.4.linux-amd64: expected ${sha(GOOD)} (pinned by ${SRC}), got ${sha(BAD)}; the file was deleted`,
    );
    expect(readdirSync(destDir)).toEqual([]);
  });

  it('refuses a download cut halfway, naming the URL, and leaves no partial file behind', async () => {
    const err = await failure(downloadRelease('v0.21.7', 'amd64', { baseUrl, destDir, pins }));
    expect(err).toBeInstanceOf(ProvisionError);
    expect(err.message).toMatch(new RegExp(`^cannot download ${baseUrl}/v0\\.21\\.7/buildx-v0\\.21\\.7\\.linux-amd64: `));
    expect(readdirSync(destDir)).toEqual([]);
  });
});

describe('downloadRelease of a version with no pin', () => {
  it('is refused by default, before any request, naming the opt-in', async () => {
    const err = await failure(downloadRelease('v0.21.5', 'amd64', { baseUrl, destDir, pins }));
    expect(err).toBeInstanceOf(ProvisionError);
    expect(err.message).toMatch(/^release download of buildx-v0\.21\.5\.linux-amd64 not available: no independent source pins it in \S+release-pins\.json/);
    expect(err.message).toContain('set BUILDX_LAB_ALLOW_UNPINNED=1');
    expect(requested).toEqual([]);
    expect(readdirSync(destDir)).toEqual([]);
  });

  it('is refused with both values when the pin sources disagree', async () => {
    const err = await failure(downloadRelease('v0.21.6', 'amd64', { baseUrl, destDir, pins }));
    expect(err.message).toContain(`its pin sources disagree (${sha(GOOD)} from ${SRC} vs ${sha(BAD)} from ${SRC2})`);
    expect(requested).toEqual([]);
  });

  it('is checked against checksums.txt when allowed, and says it was not pinned', async () => {
    const got = await downloadRelease('v0.21.5', 'amd64', { baseUrl, destDir, pins, allowUnpinned: true });
    expect(got.sha256).toBe(sha(GOOD));
    expect(got.pinned).toBe(false);
    expect(got.checkedAgainst).toEqual([`${baseUrl}/v0.21.5/checksums.txt`]);
    expect(readFileSync(got.path).equals(GOOD)).toBe(true);
  });

  it('deletes a file whose checksum does not match checksums.txt', async () => {
    const err = await failure(downloadRelease('v0.21.2', 'amd64', { baseUrl, destDir, pins, allowUnpinned: true }));
    expect(err).toBeInstanceOf(ProvisionError);
    expect(err.message).toBe(
      `checksum mismatch for ${baseUrl}/v0.21.2/buildx-v0.21.2.linux-amd64: expected ${sha(GOOD)} (from ${baseUrl}/v0.21.2/checksums.txt), got ${sha(BAD)}; the file was deleted`,
    );
    expect(readdirSync(destDir)).toEqual([]);
  });

  it('reports a 404 with the URL and the mirror setting', async () => {
    const err = await failure(downloadRelease('v0.99.0', 'amd64', { baseUrl, destDir, pins, allowUnpinned: true }));
    expect(err).toBeInstanceOf(ProvisionError);
    expect(err.message).toContain(`not found: ${baseUrl}/v0.99.0/checksums.txt`);
    expect(err.message).toContain('BUILDX_LAB_RELEASES_URL');

    const missingBinary = await failure(downloadRelease('v0.21.3', 'amd64', { baseUrl, destDir, pins, allowUnpinned: true }));
    expect(missingBinary.message).toContain(`not found: ${baseUrl}/v0.21.3/buildx-v0.21.3.linux-amd64`);
    expect(readdirSync(destDir)).toEqual([]);
  });

  it('reports an arch missing from checksums.txt', async () => {
    const err = await failure(downloadRelease('v0.21.1', 's390x', { baseUrl, destDir, pins, allowUnpinned: true }));
    expect(err.message).toMatch(/lists no checksum for buildx-v0.21.1.linux-s390x/);
  });

  it('reports a network failure with the URL and the cause', async () => {
    const fetchImpl = (async () => {
      throw new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:1') });
    }) as typeof fetch;
    const err = await failure(downloadRelease('v0.21.5', 'amd64', { baseUrl: 'http://127.0.0.1:1', destDir, fetchImpl, pins, allowUnpinned: true }));
    expect(err).toBeInstanceOf(ProvisionError);
    expect(err.message).toBe('cannot download http://127.0.0.1:1/v0.21.5/checksums.txt: connect ECONNREFUSED 127.0.0.1:1');
  });
});

// A mirror that wants credentials: BUILDX_LAB_RELEASES_URL=http://user:pass@host/path?token=… (issue 19).
// They go into the request and nowhere else: not the returned record (meta.json, provision-status.json),
// not an error.
describe('downloadRelease from a mirror with credentials', () => {
  const PASSWORD = 'pw-secret-456';
  const TOKEN = 'tok-secret-789';
  let mirror: Server;
  let seen: { path: string; authorization?: string }[] = [];
  let base: string;

  beforeAll(async () => {
    mirror = createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      seen.push({ path: req.url ?? '', authorization: req.headers.authorization });
      const authorized = req.headers.authorization === `Basic ${Buffer.from(`lab:${PASSWORD}`).toString('base64')}` && u.searchParams.get('token') === TOKEN;
      const body = files[u.pathname.replace(/^\/releases/, '')];
      res.writeHead(!authorized ? 401 : body ? 200 : 404).end(authorized ? (body ?? 'Not Found') : 'no');
    });
    await new Promise<void>((r) => mirror.listen(0, '127.0.0.1', r));
    base = `http://lab:${PASSWORD}@127.0.0.1:${(mirror.address() as AddressInfo).port}/releases?token=${TOKEN}`;
  });
  afterAll(() => new Promise<void>((r) => mirror.close(() => r())));
  beforeEach(() => {
    seen = [];
  });

  const leaks = (text: string) => text.includes(PASSWORD) || text.includes(TOKEN);

  it('sends them (as a Basic header and the query) and records the URL without them', async () => {
    const got = await downloadRelease('v0.21.5', 'amd64', { baseUrl: base, destDir, pins, allowUnpinned: true });
    expect(readFileSync(got.path).equals(GOOD)).toBe(true);
    expect(seen.map((s) => s.path)).toEqual([`/releases/v0.21.5/checksums.txt?token=${TOKEN}`, `/releases/v0.21.5/buildx-v0.21.5.linux-amd64?token=${TOKEN}`]);
    expect(leaks(JSON.stringify(got))).toBe(false);
    expect(got.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/releases\/v0\.21\.5\/buildx-v0\.21\.5\.linux-amd64\?token=\*\*\*$/);
    expect(got.checkedAgainst).toEqual([expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/releases\/v0\.21\.5\/checksums\.txt\?token=\*\*\*$/)]);
  });

  it('keeps them out of every error', async () => {
    for (const [version, want] of [
      ['v0.99.0', /^not found: /],
      ['v0.21.2', /^checksum mismatch for /],
      ['v0.21.1', /lists no checksum/],
    ] as const) {
      const err = await failure(downloadRelease(version, version === 'v0.21.1' ? 's390x' : 'amd64', { baseUrl: base, destDir, pins: { ...pins, pins: {} }, allowUnpinned: true }));
      expect(err.message).toMatch(want);
      expect(leaks(err.message), err.message).toBe(false);
    }
    const refused = await failure(downloadRelease('v0.21.5', 'amd64', { baseUrl: base.replace(PASSWORD, 'wrong'), destDir, pins, allowUnpinned: true }));
    expect(refused.message).toMatch(/HTTP 401/);
    expect(leaks(refused.message)).toBe(false);
    const unreachable = (async () => {
      throw new TypeError('fetch failed', { cause: new Error(`connect ECONNREFUSED for ${base}`) });
    }) as typeof fetch;
    const net = await failure(downloadRelease('v0.21.5', 'amd64', { baseUrl: base, destDir, fetchImpl: unreachable, pins, allowUnpinned: true }));
    expect(leaks(net.message), net.message).toBe(false);
  });
});
