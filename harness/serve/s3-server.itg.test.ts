// The S3 front and the real versitygw behind it, without an engine: curl signs requests with SigV4 (its
// --aws-sigv4) from two loopback addresses, one bound to a bucket and one not. The server itself checks
// every signature, so a front that changed what was signed (Host, a header) would fail the first test.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labConfig } from '../config.ts';
import { ensureGoTool } from '../provision/go-tool.ts';
import { Journal } from '../registry/journal.ts';
import { S3Server, VERSITYGW } from './s3-server.ts';

const run = promisify(execFile);
let server: S3Server;
const journal = new Journal();
const scratch = mkdtempSync(path.join(tmpdir(), 'bxl-s3-front-'));

/** curl as a SigV4 client from `from`; returns the status and body. */
async function s3(from: string, method: string, key: string, opts: { body?: string; secret?: string; headers?: string[] } = {}) {
  const args = ['-sS', '-o', '-', '-w', '\n%{http_code}', '--interface', from, '-X', method, '--aws-sigv4', 'aws:amz:us-east-1:s3'];
  args.push('--user', `${server.credentials.accessKeyId}:${opts.secret ?? server.credentials.secretAccessKey}`, '-H', 'x-amz-content-sha256: UNSIGNED-PAYLOAD');
  for (const h of opts.headers ?? []) args.push('-H', h);
  if (opts.body !== undefined) {
    const f = path.join(scratch, 'body');
    writeFileSync(f, opts.body);
    args.push('--data-binary', `@${f}`);
  }
  const r = await run('curl', [...args, `${server.url}/${key}`], { maxBuffer: 64 << 20 });
  const lines = r.stdout.trimEnd().split('\n');
  return { status: Number(lines.pop()), body: lines.join('\n') };
}

describe('the S3 front before versitygw', () => {
  beforeAll(async () => {
    const bin = await ensureGoTool(labConfig(), VERSITYGW, () => undefined);
    server = await S3Server.start({ region: 'us-east-1' }, bin.path, journal, [{ host: '127.0.0.1', port: 0 }]);
    server.openBucket('lab-cfront-1', '127.0.0.1');
  }, 60 * 60_000);
  afterAll(async () => {
    await server?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('passes signed requests of the bound address to its bucket, journaled with bucket and key', async () => {
    const put0 = await s3('127.0.0.1', 'PUT', 'lab-cfront-1/blobs/sha256%3Aab', { body: 'layer' });
    expect(put0.status, put0.body).toBe(200);
    expect(await s3('127.0.0.1', 'GET', 'lab-cfront-1/blobs/sha256%3Aab')).toEqual({ status: 200, body: 'layer' });
    const put = journal.entries().find((e) => e.method === 'PUT');
    expect(put).toMatchObject({ kind: 's3', client: '127.0.0.1', repository: 'lab-cfront-1', reference: 'blobs/sha256:ab', status: 200, requestBytes: 5 });
  });

  it('streams a body of several MiB both ways (curl asks 100-continue for it, as the AWS SDK does past 2 MiB)', async () => {
    const big = 'b'.repeat(6 << 20);
    const put = await s3('127.0.0.1', 'PUT', 'lab-cfront-1/big', { body: big, headers: ['Expect: 100-continue'] });
    expect(put.status, put.body).toBe(200);
    const got = await s3('127.0.0.1', 'GET', 'lab-cfront-1/big');
    expect([got.status, got.body.length]).toEqual([200, big.length]);
  });

  it('leaves the signature to the server: a wrong secret and a session token on a permanent key are refused by versitygw itself', async () => {
    expect(await s3('127.0.0.1', 'GET', 'lab-cfront-1/blobs/sha256%3Aab', { secret: 'wrong' })).toMatchObject({
      status: 403,
      body: expect.stringContaining('SignatureDoesNotMatch'),
    });
    expect(await s3('127.0.0.1', 'GET', 'lab-cfront-1/blobs/sha256%3Aab', { headers: ['x-amz-security-token: t'] })).toMatchObject({
      status: 400,
      body: expect.stringContaining('InvalidToken'),
    });
  });

  it('refuses another address, another bucket, listing, a foreign copy source, and a dot-dot key, before the server sees them', async () => {
    const before = readdirSync(server.dataDir);
    expect(await s3('127.0.0.2', 'GET', 'lab-cfront-1/blobs/sha256%3Aab')).toMatchObject({ status: 403, body: expect.stringContaining('no cell engine') });
    expect(await s3('127.0.0.1', 'PUT', 'lab-other-1/x', { body: 'x' })).toMatchObject({ status: 403, body: expect.stringContaining('is not this cell') });
    expect(await s3('127.0.0.1', 'GET', '')).toMatchObject({ status: 403, body: expect.stringContaining('listing buckets') });
    expect(await s3('127.0.0.1', 'PUT', 'lab-cfront-1/copy', { headers: ['x-amz-copy-source: /lab-other-1/x'] })).toMatchObject({ status: 403 });
    expect(await s3('127.0.0.1', 'PUT', 'lab-cfront-1/copy', { headers: ['x-amz-copy-source: /lab-cfront-1/a', 'x-amz-copy-source: /lab-other-1/x'] })).toMatchObject({
      status: 400,
      body: expect.stringContaining('more than once'),
    });
    expect(await s3('127.0.0.1', 'GET', 'lab-cfront-1/a/%2e%2e/%2e%2e/x')).toMatchObject({ status: 400, body: expect.stringContaining('not plain') });
    expect(readdirSync(server.dataDir)).toEqual(before);
    const refused = journal.entries().filter((e) => e.intervention?.startsWith('refused-'));
    expect(refused.length).toBe(6);
  });

  it('empties and unbinds a bucket when the cell is done, and removes everything on stop', async () => {
    server.closeBucket('lab-cfront-1');
    expect(existsSync(path.join(server.dataDir, 'lab-cfront-1'))).toBe(false);
    expect(await s3('127.0.0.1', 'GET', 'lab-cfront-1/blobs/sha256%3Aab')).toMatchObject({ status: 403 });
    const root = server.root;
    await server.stop();
    expect(existsSync(root)).toBe(false);
  });
});
