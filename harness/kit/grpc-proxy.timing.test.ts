// How fast the proxy's access log is read: a client in the engine's network chooses its :authority (about
// 8 KiB of it reach the log), and the run's only process reads the log. Kept apart from grpc-proxy.test.ts
// so that mutation testing (vitest.mutation.config.ts) leaves it out: its bounds are for the real code.
import { describe, expect, it } from 'vitest';
import { describeProxyRequests, parseAccessLog, type ProxyRequest } from './grpc-proxy.ts';

describe('speed', () => {
  // ten lines at once, so that the bound is well clear of both: about 0.02 ms a line read in one pass, and
  // about 100 ms a line (varying with the host's load) when a failed match was retried inside the host
  it.each([
    ['a path-less line, parsed', 'request="GET  HTTP/2.0" status=400', 1],
    ['a line that matches nowhere, skipped', 'request="GET /p HTTP/2.0" status=4xx', 0],
  ])('reads %s with a 16 KiB authority=authority=... host in well under 50 ms (ten of them under 50 ms)', (_, tail, n) => {
    const host = 'authority='.repeat(1640);
    const line = `time=t client=127.0.0.1 authority=${host} vhost=_ ${tail} grpc_status=- upstream=- bytes=0 authority_raw=${host}`;
    parseAccessLog(line.slice(0, 2000)); // warm the regexp
    const t0 = performance.now();
    const rs = parseAccessLog(Array(10).fill(line).join('\n'));
    expect(performance.now() - t0).toBeLessThan(50);
    expect(rs).toHaveLength(10 * n);
  });

  it('counts many requests of one authority in one pass', () => {
    const rs = Array.from({ length: 30_000 }, (): ProxyRequest => ({ authority: 'a', authorityRaw: 'a', vhost: 'a', path: '/p', status: 200, grpcStatus: '0' }));
    const t0 = performance.now();
    expect(describeProxyRequests(rs)).toEqual(['grpc proxy: 30000 request(s) for :authority a, routed to BuildKit (200, grpc-status 0 x30000)']);
    expect(performance.now() - t0).toBeLessThan(200);
  });
});
