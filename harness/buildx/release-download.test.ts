import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ProvisionError } from '../errors.ts';
import { downloadRelease, parseChecksums } from './release-download.ts';

const GOOD = Buffer.from('#!/bin/sh\necho buildx good\n'.repeat(5000));
const BAD = Buffer.from('tampered');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

// A tiny release mirror: v0.21.1 is good, v0.21.2's binary does not match its checksum,
// v0.21.3 has checksums but no binary, anything else is 404.
const files: Record<string, Buffer> = {
  '/v0.21.1/buildx-v0.21.1.linux-amd64': GOOD,
  '/v0.21.1/checksums.txt': Buffer.from(
    `${sha(BAD)} *buildx-v0.21.1.linux-arm64\n${sha(GOOD)} *buildx-v0.21.1.linux-amd64\n`,
  ),
  '/v0.21.2/buildx-v0.21.2.linux-amd64': BAD,
  '/v0.21.2/checksums.txt': Buffer.from(`${sha(GOOD)}  buildx-v0.21.2.linux-amd64\n`),
  '/v0.21.3/checksums.txt': Buffer.from(`${sha(GOOD)} *buildx-v0.21.3.linux-amd64\n`),
};

let server: Server;
let baseUrl: string;
let destDir: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const body = files[req.url ?? ''];
    res.writeHead(body ? 200 : 404).end(body ?? 'Not Found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));
beforeEach(() => {
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

describe('downloadRelease', () => {
  it('downloads, verifies and makes the binary executable', async () => {
    const got = await downloadRelease('0.21.1', 'amd64', { baseUrl: `${baseUrl}/`, destDir });
    expect(got.url).toBe(`${baseUrl}/v0.21.1/buildx-v0.21.1.linux-amd64`);
    expect(got.sha256).toBe(sha(GOOD));
    expect(got.size).toBe(GOOD.length);
    expect(got.path.startsWith(destDir)).toBe(true);
    expect(readFileSync(got.path).equals(GOOD)).toBe(true);
    expect(statSync(got.path).mode & 0o777).toBe(0o755);
  });

  it('deletes a file whose checksum does not match', async () => {
    const err = await failure(downloadRelease('v0.21.2', 'amd64', { baseUrl, destDir }));
    expect(err).toBeInstanceOf(ProvisionError);
    expect(err.message).toBe(
      `checksum mismatch for ${baseUrl}/v0.21.2/buildx-v0.21.2.linux-amd64: expected ${sha(GOOD)}, got ${sha(BAD)}; the file was deleted`,
    );
    expect(readdirSync(destDir)).toEqual([]);
  });

  it('reports a 404 with the URL and the mirror setting', async () => {
    const err = await failure(downloadRelease('v0.99.0', 'amd64', { baseUrl, destDir }));
    expect(err).toBeInstanceOf(ProvisionError);
    expect(err.message).toContain(`not found: ${baseUrl}/v0.99.0/checksums.txt`);
    expect(err.message).toContain('BUILDX_LAB_RELEASES_URL');

    const missingBinary = await failure(downloadRelease('v0.21.3', 'amd64', { baseUrl, destDir }));
    expect(missingBinary.message).toContain(`not found: ${baseUrl}/v0.21.3/buildx-v0.21.3.linux-amd64`);
    expect(readdirSync(destDir)).toEqual([]);
  });

  it('reports an arch missing from checksums.txt', async () => {
    const err = await failure(downloadRelease('v0.21.1', 's390x', { baseUrl, destDir }));
    expect(err.message).toMatch(/lists no checksum for buildx-v0.21.1.linux-s390x/);
  });

  it('reports a network failure with the URL and the cause', async () => {
    const fetchImpl = (async () => {
      throw new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:1') });
    }) as typeof fetch;
    const err = await failure(downloadRelease('v0.21.1', 'amd64', { baseUrl: 'http://127.0.0.1:1', destDir, fetchImpl }));
    expect(err).toBeInstanceOf(ProvisionError);
    expect(err.message).toBe('cannot download http://127.0.0.1:1/v0.21.1/checksums.txt: connect ECONNREFUSED 127.0.0.1:1');
  });
});
