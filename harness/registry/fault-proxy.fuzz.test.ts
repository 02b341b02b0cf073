// Adversarial suite for the fault proxy's transport, property-based (fast-check). The upstream is an
// in-process stand-in for the registry; a canary server on loopback must never be reached. After every
// input the proxy must: have sent nothing off-origin, hold no buffered bytes once quiet, not blame the
// registry for a client's misbehaviour, and still serve a good request. Figures (inputs per fuzzer, time)
// are printed at the end for the report.
import fc from 'fast-check';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultProxy, blobPath, type Fault, type StartedFaultProxy } from './fault-proxy.ts';
import { parseRequestTarget } from './request-target.ts';
import { canary, fakeRegistry, liveBufferGrowth, rawExchange, request, sha256, type Canary, type FakeRegistry } from './stand-ins.test-helpers.ts';

const REPO = 'lab/app';
const BLOB = Buffer.from(Array.from({ length: 256 * 1024 }, (_, i) => (i * 131 + 17) & 0xff));
const BLOB_DIGEST = sha256(BLOB);
const MiB = 1 << 20;
const JOURNAL = { maxEntries: 500, maxBytes: 256 * 1024 };

let upstream: FakeRegistry;
let outside: Canary;
let proxy: StartedFaultProxy;
let port: number;
const figures: { fuzzer: string; inputs: number; ms: number }[] = [];

beforeAll(async () => {
  upstream = await fakeRegistry();
  upstream.blobs.set(`${REPO}@${BLOB_DIGEST}`, BLOB);
  outside = await canary();
  proxy = await new FaultProxy({ upstream: upstream.url, limits: { journal: JOURNAL } }).start();
  port = Number(new URL(proxy.urlFor()).port);
});

afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
  await outside?.close();
  console.log(
    ['fuzzer figures:', ...figures.map((f) => `  ${f.fuzzer}: ${f.inputs} inputs in ${(f.ms / 1000).toFixed(1)} s`)].join('\n'),
    `\n  proxy: ${JSON.stringify(proxy?.stats())}`,
  );
});

/** What must hold after any input, however hostile. */
async function invariants(): Promise<void> {
  expect(outside.hits).toEqual([]);
  expect(outside.connections).toBe(0);
  for (const s of upstream.seen) expect(parseRequestTarget(s.method, s.url)).toMatchObject({ ok: true });
  upstream.seen.length = 0; // keep the stand-in's own memory flat across thousands of inputs
  // Eventually, not at once: on a loaded 2-core machine a closing socket can take seconds to be seen (the body fuzzer failed once at load 20; this wait is the likeliest cause).
  await expect.poll(() => proxy.stats(), { timeout: 15_000, interval: 5 }).toMatchObject({ active: 0, bufferedBytes: 0 });
  expect(proxy.upstreamFailures).toBe(0);
  const good = await request(proxy.urlFor(), 'GET', '/v2/', { headers: { host: 'registry:5000' } });
  expect(good.status).toBe(200);
}

async function fuzz<T>(name: string, arb: fc.Arbitrary<T>, numRuns: number, run: (input: T) => Promise<void>): Promise<void> {
  const t0 = performance.now();
  let inputs = 0;
  await fc.assert(
    fc.asyncProperty(arb, async (input) => {
      inputs++;
      proxy.clearFaults();
      await run(input);
      await invariants();
    }),
    { numRuns, endOnFailure: true },
  );
  figures.push({ fuzzer: name, inputs, ms: performance.now() - t0 });
}

const canaryHost = () => `127.0.0.1:${outside.port}`;

/** A whole request, as a smuggler hides it in a body. */
const SMUGGLED = `PUT /v2/${REPO}/smuggled/manifests/v1 HTTP/1.1\r\nHost: registry:5000\r\nContent-Length: 2\r\n\r\n{}`;

/** Request-targets: good ones, every form that names another host, and the tricks of request-target.test.ts. */
const target = fc.oneof(
  fc.constantFrom('/v2/', `/v2/${REPO}/manifests/v1`, blobPath(REPO, BLOB_DIGEST), `/v2/${REPO}/blobs/uploads/`, `/v2/${REPO}/tags/list?n=1`),
  fc.constantFrom('abs', 'abs-https', 'scheme-relative', 'backslash', 'authority', 'asterisk', 'userinfo').map(
    (k) =>
      ({
        abs: () => `http://${canaryHost()}/v2/`,
        'abs-https': () => `https://${canaryHost()}/v2/`,
        'scheme-relative': () => `//${canaryHost()}/v2/`,
        backslash: () => `/\\${canaryHost()}/v2/`,
        authority: () => canaryHost(),
        asterisk: () => '*',
        userinfo: () => `http://registry:5000@${canaryHost()}/v2/`,
      })[k],
  ),
  fc
    .tuple(
      fc.constantFrom('', '/', '/v2/', '/v2', '//', '*'),
      fc.array(fc.constantFrom('/', '//', '\\', '.', '..', '%2e', '%2E%2e', '%2f', '%5c', '%25', '%00', '%', '?', '#', '@', ':', 'v2', 'lab', 'app', 'manifests', 'blobs', '~'), {
        maxLength: 10,
      }),
    )
    .map(([a, b]) => a + b.join('')),
  fc.string({ unit: 'binary-ascii', maxLength: 60 }),
  fc.nat({ max: 20_000 }).map((n) => `/v2/${'a'.repeat(n)}`),
);
const resolveTarget = (t: string | (() => string)) => (typeof t === 'function' ? t() : t);

const method = fc.constantFrom('GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT', 'get', 'BREW', 'G\tET', '');
const version = fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/0.9', 'http/1.1', 'HTTP/1', 'HTTP/1.1 x', '');
const eol = fc.constantFrom('\r\n', '\n');
const headerLine = fc.oneof(
  fc.constantFrom(
    'Host: registry:5000',
    'Host:',
    'Host: a, b',
    'Content-Length: 4',
    'Content-Length: -1',
    'Content-Length: 1, 2',
    'Content-Length: 99999999999999999999',
    'Transfer-Encoding: chunked',
    'Transfer-Encoding: xchunked',
    'Transfer-Encoding: chunked, identity',
    'Expect: 100-continue',
    'Connection: Upgrade',
    'Upgrade: h2c',
    'Connection: keep-alive, close',
    ' obs-fold continuation',
    'Range: bytes=0-',
    'Content-Type: application/vnd.oci.image.index.v1+json',
    'Proxy-Connection: keep-alive',
  ),
  fc.constant(() => `Host: ${canaryHost()}`),
  fc.tuple(fc.string({ unit: 'binary-ascii', maxLength: 16 }), fc.string({ unit: 'binary-ascii', maxLength: 120 })).map(([k, v]) => `${k}: ${v}`),
  fc.nat({ max: 40_000 }).map((n) => `X-Big: ${'b'.repeat(n)}`),
);
/**
 * How the client ends: FIN right after the bytes (Node then aborts what is still in flight), 'Connection:
 * close' and wait for the answer, or leave after a few ms.
 */
const ending = fc.constantFrom('half-close', 'close-header', 'leave');
type Ending = 'half-close' | 'close-header' | 'leave';
const exchange = (raw: string | Buffer, how: Ending) =>
  rawExchange(port, raw, how === 'half-close' ? { halfClose: true, idleMs: 2_000 } : how === 'leave' ? { closeAfterMs: 5 } : { closeAfterMs: 1_000 });

const rawRequest = fc
  .record({ method, target, version, eol, headers: fc.array(headerLine, { maxLength: 8 }), body: fc.string({ unit: 'binary-ascii', maxLength: 64 }), ending })
  .map((r) => {
    const headers = [...r.headers.map(resolveTarget), ...(r.ending === 'close-header' ? ['Connection: close'] : [])];
    const lines = [`${r.method} ${resolveTarget(r.target)} ${r.version}`, ...headers];
    return { raw: `${lines.join(r.eol)}${r.eol}${r.eol}${r.body}`, ending: r.ending as Ending };
  });

// Generous timeouts: under a loaded machine a fuzzer's few seconds can stretch; a hang still fails.
describe('fault proxy under adversarial input', { timeout: 120_000 }, () => {
  it('malformed request lines, absolute and authority forms, hostile headers (raw TCP)', async () => {
    await fuzz('request lines and headers', rawRequest, 600, async ({ raw, ending: how }) => {
      await exchange(raw, how);
    });
  });

  it('header floods: many and huge headers are refused with 431, never buffered beyond the parser limit', async () => {
    const flood = fc.record({ count: fc.integer({ min: 1, max: 3_000 }), size: fc.integer({ min: 1, max: 2_000 }) });
    await fuzz('header floods', flood, 60, async ({ count, size }) => {
      const headers = Array.from({ length: count }, (_, i) => `X-H${i}: ${'v'.repeat(size)}`).join('\r\n');
      const head = `GET /v2/ HTTP/1.1\r\nHost: registry:5000\r\nConnection: close\r\n${headers}\r\n\r\n`;
      const r = await exchange(head, 'close-header');
      // Node's 16 KiB limit is not exact (it let 18.8 KB of many small headers through here, and refused
      // 11 KB of a thousand one-byte ones): either answer is fair below 32 KiB, only 431 above.
      if (head.length > 32 * 1024) expect(r.status).toBe(431);
      else expect([200, 431]).toContain(r.status);
    });
  });

  it('bodies: declared and actual lengths that disagree, chunked framing, oversize manifests, clients that leave mid-body', async () => {
    const body = fc.record({
      kind: fc.constantFrom('manifest', 'upload', 'faulted-upload', 'delayed-upload'),
      declared: fc.oneof(fc.constant(undefined), fc.nat({ max: 9 * MiB })),
      actual: fc.oneof(fc.nat({ max: 64 * 1024 }), fc.integer({ min: 4 * MiB - 2, max: 4 * MiB + 2 }), fc.nat({ max: 9 * MiB })),
      chunked: fc.boolean(),
      badChunk: fc.boolean(),
      leaveAfterMs: fc.oneof(fc.constant(undefined), fc.nat({ max: 30 })),
    });
    await fuzz('bodies and disconnects', body, 120, async (b) => {
      const path = b.kind === 'manifest' ? `/v2/${REPO}/manifests/fuzz` : `/v2/${REPO}/blobs/uploads/u1`;
      const verb = b.kind === 'manifest' ? 'PUT' : 'PATCH';
      if (b.kind === 'faulted-upload') proxy.addFault({ method: 'PATCH', path: /uploads/, fault: { kind: 'status', status: 503 } });
      if (b.kind === 'delayed-upload') proxy.addFault({ method: 'PATCH', path: /uploads/, fault: { kind: 'delay', ms: 20 } });
      const payload = Buffer.alloc(b.actual, 0x7b);
      let framed: Buffer;
      let head = `${verb} ${path} HTTP/1.1\r\nHost: registry:5000\r\nConnection: close\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n`;
      if (b.chunked) {
        head += 'Transfer-Encoding: chunked\r\n\r\n';
        const size = b.badChunk ? 'zz' : payload.length.toString(16);
        // An empty body is the last chunk alone: "0\r\n\r\n" twice would put garbage after the request.
        framed = payload.length || b.badChunk ? Buffer.concat([Buffer.from(`${size}\r\n`), payload, Buffer.from('\r\n0\r\n\r\n')]) : Buffer.from('0\r\n\r\n');
      } else {
        head += `Content-Length: ${b.declared ?? payload.length}\r\n\r\n`;
        framed = payload;
      }
      const r = await rawExchange(port, Buffer.concat([Buffer.from(head), framed]), { closeAfterMs: b.leaveAfterMs ?? 6_000 });
      const declared = b.chunked ? (b.badChunk ? 0 : payload.length) : (b.declared ?? payload.length);
      if (b.kind === 'manifest' && b.leaveAfterMs === undefined && declared > 4 * MiB) expect(r.status).toBe(413);
      if (b.kind === 'faulted-upload' && b.leaveAfterMs === undefined && !b.badChunk && declared === payload.length) expect(r.status).toBe(503);
    });
    expect(proxy.stats().peakBufferedBytes).toBeLessThanOrEqual(4 * MiB);
  });

  it('Range values, with and without faults: a truncated answer never passes the cut', async () => {
    const faults: fc.Arbitrary<Fault | undefined> = fc.oneof(
      fc.constant(undefined),
      fc.constant<Fault>({ kind: 'corrupt' }),
      fc.nat({ max: BLOB.length + 10 }).map((afterBytes): Fault => ({ kind: 'truncate', afterBytes })),
    );
    const range = fc.oneof(
      fc.tuple(fc.nat({ max: BLOB.length + 10 }), fc.option(fc.nat({ max: BLOB.length + 10 }))).map(([a, b]) => `bytes=${a}-${b ?? ''}`),
      fc.constantFrom('bytes=-5', 'bytes=5-1', 'bytes=0-0,5-6', 'bytes=abc-', 'bytes=99999999999999999999999-', 'items=0-1', 'bytes =0-', '', 'bytes=0-\u00ff'),
      fc.string({ unit: 'binary-ascii', maxLength: 30 }),
    );
    await fuzz('Range values', fc.record({ fault: faults, range, ignoreRange: fc.boolean() }), 250, async ({ fault, range: value, ignoreRange }) => {
      if (fault) proxy.addFault({ method: 'GET', path: blobPath(REPO, BLOB_DIGEST), fault });
      upstream.options.ignoreRange = ignoreRange;
      let r: Awaited<ReturnType<typeof request>>;
      try {
        r = await request(proxy.urlFor(), 'GET', blobPath(REPO, BLOB_DIGEST), { headers: { host: 'registry:5000', range: value } });
      } catch {
        return; // Node's client refuses some header values itself; nothing reached the proxy
      } finally {
        upstream.options.ignoreRange = false;
      }
      const start = r.status === 206 ? Number(/^bytes (\d+)-/.exec(String(r.headers['content-range']))?.[1]) : 0;
      if (fault?.kind === 'truncate') expect(start + r.body.length).toBeLessThanOrEqual(Math.max(start, fault.afterBytes));
      if (r.status === 200 || r.status === 206) {
        const expected = BLOB.subarray(start, start + r.body.length);
        const got = fault?.kind === 'corrupt' ? Buffer.from(r.body.map((x) => x ^ 0xff)) : r.body;
        expect(got.equals(expected)).toBe(true);
      }
    });
  });

  it('pipelined requests: a good one followed by an off-origin or smuggling attempt on the same connection', async () => {
    const evil = fc.constantFrom(
      () => `GET http://${canaryHost()}/v2/ HTTP/1.1\r\nHost: ${canaryHost()}\r\n\r\n`,
      () => `CONNECT ${canaryHost()} HTTP/1.1\r\nHost: ${canaryHost()}\r\n\r\n`,
      () => `GET //${canaryHost()}/v2/ HTTP/1.1\r\nHost: registry:5000\r\n\r\n`,
      () => `POST /v2/ HTTP/1.1\r\nHost: registry:5000\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET http://${canaryHost()}/ HTTP/1.1\r\nHost: x\r\n\r\n`,
      () => `POST /v2/ HTTP/1.1\r\nHost: registry:5000\r\nContent-Length: 0\r\nContent-Length: 60\r\n\r\nGET http://${canaryHost()}/ HTTP/1.1\r\nHost: x\r\n\r\n`,
      () => `GET /v2/ HTTP/1.1\r\nHost: registry:5000\r\nTransfer-Encoding: chunked\r\n\r\n5;ext\r\nhello\r\n0\r\n\r\nGET //${canaryHost()}/ HTTP/1.1\r\nHost: x\r\n\r\n`,
      // A request inside the body of a method that has none (the review's finding): it must never reach the registry.
      ...['GET', 'HEAD', 'DELETE', 'OPTIONS'].flatMap((m) => [
        () => `${m} /v2/ HTTP/1.1\r\nHost: registry:5000\r\nTransfer-Encoding: chunked\r\n\r\n${SMUGGLED.length.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n`,
        () => `${m} /v2/ HTTP/1.1\r\nHost: registry:5000\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
      ]),
    );
    const good = `GET /v2/ HTTP/1.1\r\nHost: registry:5000\r\n\r\n`;
    await fuzz('pipelining and smuggling', fc.tuple(fc.nat({ max: 3 }), evil, fc.boolean(), ending), 150, async ([n, bad, trailingGood, how]) => {
      await exchange(good.repeat(n) + bad() + (trailingGood ? good : ''), how as Ending);
      await sleep(10); // the stand-in notes a request once it has read its body
      expect(upstream.seen.filter((x) => x.path.includes('/smuggled/'))).toEqual([]);
    });
  });

  it('the journal and the process stay within bounds after all of it', async () => {
    const s = proxy.stats();
    expect(s.journalEntries).toBeLessThanOrEqual(JOURNAL.maxEntries);
    expect(s.journalBytes).toBeLessThanOrEqual(JOURNAL.maxBytes);
    expect(s.journalDropped).toBeGreaterThan(0); // the fuzzers sent more than the journal keeps
    // A second pass of the first fuzzer must leave no live memory behind.
    const growth = await liveBufferGrowth(
      () => fuzz('request lines and headers (memory pass)', rawRequest, 200, async ({ raw, ending: how }) => void (await exchange(raw, how))),
      200,
    );
    expect(growth).toBeLessThan(16 * MiB);
  });
});
