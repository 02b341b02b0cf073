// The HTTP/2 proxy's nginx.conf (every value checked before it lands in nginx's syntax) and the reading of
// its access log into evidence facts.
import { describe, expect, it } from 'vitest';
import { HarnessError } from '../errors.ts';
import { describeProxyRequests, nginxConf, parseAccessLog, type GrpcProxyConf, type ProxyRequest } from './grpc-proxy.ts';

const CONF: GrpcProxyConf = {
  listen: { host: '127.0.0.1', port: 40_001 },
  upstream: { host: '127.0.0.1', port: 20_001 },
  serverNames: ['127.0.0.1'],
  accessLog: '/log/access.log',
};

describe('nginxConf', () => {
  it('routes the named authority to buildkitd over h2c and answers any other with the default server', () => {
    const conf = nginxConf(CONF);
    expect(conf).toContain('grpc_pass grpc://127.0.0.1:20001;');
    expect(conf).toMatch(/listen 127\.0\.0\.1:40001 default_server;\s+http2 on;\s+server_name _;\s+return 404;/);
    expect(conf).toMatch(/listen 127\.0\.0\.1:40001;\s+http2 on;\s+server_name 127\.0\.0\.1;/);
    expect(conf).toContain('access_log /log/access.log grpc;');
    // BuildKit's session stream lives as long as the build: nginx's 60 s default would cut it
    expect(conf).toContain('grpc_read_timeout 3600s;');
  });

  it.each([
    ['a server name that would end the directive', { serverNames: ['buildkit; return 200'] }, /server name "buildkit; return 200" is not a host name/],
    ['a server name with a quote', { serverNames: ["a'b"] }, /server name "a'b" is not a host name/],
    ['no server name', { serverNames: [] }, /no server name to route; name the host of the builder endpoint/],
    ['a listen host with a space', { listen: { host: '0.0.0.0 reuseport', port: 1 } }, /listen host "0\.0\.0\.0 reuseport" is not a host name/],
    ['a port out of range', { listen: { host: '127.0.0.1', port: 70_000 } }, /listen port 70000 is not a TCP port \(1-65535\)/],
    ['a fractional port', { upstream: { host: '127.0.0.1', port: 1.5 } }, /upstream port 1\.5 is not a TCP port/],
    ['a relative log path', { accessLog: 'access.log' }, /access log path "access\.log" is not an absolute plain path/],
    ['a log path climbing out', { accessLog: '/log/../etc/passwd' }, /access log path .* is not an absolute plain path/],
    ['a log path with a semicolon', { accessLog: '/log/a;b' }, /is not an absolute plain path/],
  ])("refuses %s as the lab's own error, naming it", (_, bad, message) => {
    const f = () => nginxConf({ ...CONF, ...(bad as Partial<GrpcProxyConf>) });
    expect(f).toThrow(message);
    // no case value reaches nginxConf: a refusal is the lab's bug (kind harness), not input to fix (usage, exit 2)
    expect(f).toThrow(HarnessError);
    expect(f).toThrow(expect.objectContaining({ kind: 'harness' }));
  });
});

const LINE = (raw: string, authority: string, vhost: string, status: number, grpc = '-') =>
  `time=2026-12-07T13:30:13+00:00 client=127.0.0.1 authority=${authority} vhost=${vhost} request="POST /moby.buildkit.v1.Control/ListWorkers HTTP/2.0" status=${status} grpc_status=${grpc} upstream=- bytes=153 authority_raw=${raw}`;

describe('parseAccessLog and describeProxyRequests', () => {
  it('reads the requests and says per :authority where they went', () => {
    const log = [
      LINE('localhost', 'localhost', '_', 404),
      LINE('localhost', 'localhost', '_', 404),
      'garbage',
      LINE('127.0.0.1:40001', '127.0.0.1', '127.0.0.1', 200, '0'),
      '',
    ].join('\n');
    const rs = parseAccessLog(log);
    const path = '/moby.buildkit.v1.Control/ListWorkers';
    expect(rs).toEqual([
      { authority: 'localhost', authorityRaw: 'localhost', vhost: '_', path, status: 404 },
      { authority: 'localhost', authorityRaw: 'localhost', vhost: '_', path, status: 404 },
      { authority: '127.0.0.1', authorityRaw: '127.0.0.1:40001', vhost: '127.0.0.1', path, status: 200, grpcStatus: '0' },
    ]);
    expect(describeProxyRequests(rs)).toEqual([
      'grpc proxy: 2 request(s) for :authority localhost, no route (404 x2)',
      'grpc proxy: 1 request(s) for :authority 127.0.0.1:40001, routed to BuildKit (200, grpc-status 0 x1)',
    ]);
  });

  it('says the :authority as sent, not as nginx routed on it: its case and port kept, (none) when there was none', () => {
    // $host is lowercased, loses its port, and is the default server's `_` when no :authority came
    const rs = parseAccessLog([LINE('LocalHost:1234', 'localhost', '_', 404), LINE('-', '_', '_', 400), LINE('a b', 'x', '_', 400)].join('\n'));
    expect(rs.map((r) => r.authorityRaw)).toEqual(['LocalHost:1234', undefined, 'a b']);
    expect(describeProxyRequests(rs)).toEqual([
      'grpc proxy: 1 request(s) for :authority LocalHost:1234, no route (404 x1)',
      'grpc proxy: 1 request(s) for :authority (none), no route (400 x1)',
      'grpc proxy: 1 request(s) for :authority a b, no route (400 x1)',
    ]);
  });

  it('logs the :authority as sent, last on the line', () => {
    expect(nginxConf(CONF)).toMatch(/bytes=\$body_bytes_sent '\s+'authority_raw=\$http_host';/);
  });

  it('says so when nothing reached the proxy', () => {
    expect(describeProxyRequests(parseAccessLog(''))).toEqual(['grpc proxy: no request reached it']);
  });

  it("reads the lines of nginx's 400 for a request without :method or without :path", () => {
    const line = (request: string) => `time=t client=127.0.0.1 authority=x vhost=_ request="${request}" status=400 grpc_status=- upstream=- bytes=0 authority_raw=x`;
    expect(parseAccessLog([line(' /p HTTP/2.0'), line('GET  HTTP/2.0')].join('\n'))).toEqual([
      { authority: 'x', authorityRaw: 'x', vhost: '_', path: '/p', status: 400 },
      { authority: 'x', authorityRaw: 'x', vhost: '_', path: '', status: 400 },
    ]);
  });

  it('says the first 20 authorities one by one, counts the rest in one line, and quotes a long one in part', () => {
    const req = (authority: string): ProxyRequest => ({ authority, authorityRaw: authority, vhost: '_', path: '/p', status: 404 });
    const many = Array.from({ length: 25 }, (_, i) => [req(`h${i}`), req(`h${i}`)]).flat();
    const facts = describeProxyRequests([req('a'.repeat(8000)), ...many]);
    expect(facts).toHaveLength(21);
    expect(facts[0]).toBe(`grpc proxy: 1 request(s) for :authority ${'a'.repeat(200)}... (8000 chars), no route (404 x1)`);
    expect(facts[1]).toBe('grpc proxy: 2 request(s) for :authority h0, no route (404 x2)');
    expect(facts.at(-1)).toBe('grpc proxy: and 6 more :authority values, 12 request(s)');
  });
});
