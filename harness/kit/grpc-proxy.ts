// An HTTP/2 (gRPC-aware) reverse proxy in front of a remote builder: Debian's nginx with grpc_pass, as a
// load balancer or ingress in front of BuildKit would be. It serves one virtual host, the host the builder's
// endpoint names, and routes on the request's :authority as Envoy's virtual hosts or nginx's server_name do:
// a request for any other authority gets nginx's 404 (Envoy's "no route"). Cleartext HTTP/2 (h2c, prior
// knowledge) on both sides. Pure: the configuration text and the access log's reading; booting is in builders.ts.
import { HarnessError } from '../errors.ts';

/** The proxy kinds a remote builder may sit behind (`builder.remote.proxy` in a case). */
export const REMOTE_PROXIES = ['http2'] as const;
export type RemoteProxy = (typeof REMOTE_PROXIES)[number];

export interface GrpcProxyConf {
  /** where the proxy listens (the builder's endpoint) */
  listen: { host: string; port: number };
  /** where buildkitd listens, plain h2c on the engine's loopback */
  upstream: { host: string; port: number };
  /** the :authority hosts routed to BuildKit (nginx compares them without the port) */
  serverNames: readonly string[];
  /** the access log's path inside the proxy's container */
  accessLog: string;
}

const HOST = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*|\d{1,3}(?:\.\d{1,3}){3})$/;
const PATH = /^\/[A-Za-z0-9._/-]{1,200}$/;

function checkPort(what: string, port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new HarnessError(`grpc proxy: ${what} port ${port} is not a TCP port (1-65535)`);
}

function checkHost(what: string, host: string): void {
  if (!HOST.test(host)) throw new HarnessError(`grpc proxy: ${what} ${JSON.stringify(host)} is not a host name or IPv4 address (letters, digits, dots, dashes)`);
}

/**
 * nginx.conf of the proxy; pure. Every value lands in nginx's syntax, so each is checked against a narrow
 * shape first (a quote or semicolon would be configuration). No value comes from a case (the ports derive
 * from the cell's id, the rest are the lab's constants), so a refusal is the lab's bug: a HarnessError. Timeouts are long: BuildKit's session and
 * status streams stay open for the whole build, and nginx's 60 s default would cut a quiet one.
 */
export function nginxConf(c: GrpcProxyConf): string {
  checkHost('listen host', c.listen.host);
  checkHost('upstream host', c.upstream.host);
  checkPort('listen', c.listen.port);
  checkPort('upstream', c.upstream.port);
  if (!c.serverNames.length) throw new HarnessError('grpc proxy: no server name to route; name the host of the builder endpoint');
  for (const n of c.serverNames) checkHost('server name', n);
  if (!PATH.test(c.accessLog) || c.accessLog.includes('..')) throw new HarnessError(`grpc proxy: access log path ${JSON.stringify(c.accessLog)} is not an absolute plain path`);
  const listen = `listen ${c.listen.host}:${c.listen.port}`;
  return `# written by buildx-lab: an HTTP/2 (h2c) gRPC proxy in front of a remote BuildKit, routing on :authority
worker_processes 1;
user nobody nogroup;
pid /tmp/nginx.pid;
error_log stderr notice;
events { worker_connections 512; }
http {
  log_format grpc 'time=$time_iso8601 client=$remote_addr authority=$host vhost=$server_name '
                  'request="$request_method $request_uri $server_protocol" status=$status '
                  'grpc_status=$upstream_trailer_grpc_status upstream=$upstream_addr bytes=$body_bytes_sent '
                  'authority_raw=$http_host';
  access_log ${c.accessLog} grpc;
  client_body_temp_path /tmp/nginx-body;
  proxy_temp_path /tmp/nginx-proxy;
  # no route for this authority: nginx's 404, as an HTTP/2 proxy's unmatched virtual host answers
  server {
    ${listen} default_server;
    http2 on;
    server_name _;
    return 404;
  }
  server {
    ${listen};
    http2 on;
    server_name ${c.serverNames.join(' ')};
    client_max_body_size 0;
    location / {
      grpc_pass grpc://${c.upstream.host}:${c.upstream.port};
      grpc_read_timeout 3600s;
      grpc_send_timeout 3600s;
    }
  }
}
`;
}

/** One request the proxy logged. */
export interface ProxyRequest {
  /** the host nginx routed on ($host): lowercased, without the port; the server name `_` when none was sent */
  authority: string;
  /** the :authority as the client sent it ($http_host, nginx's log escaping applied); absent when none was sent */
  authorityRaw?: string;
  /** the virtual host that took it: `_` is the default server (no route) */
  vhost: string;
  path: string;
  status: number;
  grpcStatus?: string;
}

/** The most of the access log read into the evidence: its tail, so a flood of requests costs a bounded read. */
export const ACCESS_LOG_TAIL_BYTES = 4 << 20;
/** The most :authority values given a fact each; the rest are counted in one line. */
export const MAX_AUTHORITY_FACTS = 20;
/** The most of one :authority a fact quotes (a client may send about 8 KiB). */
const AUTHORITY_QUOTE_CHARS = 200;

/**
 * One line of nginxConf's format. Anchored, and each field is a run of non-spaces up to a space, so a line
 * is read in one pass: unanchored, a line that failed at its real `authority=` was tried again from every
 * later `authority=` inside a client's long host, quadratic in its length. The method and the path may be
 * empty: nginx logs a request without `:method` or `:path` (its 400) as `request=" /p HTTP/2.0"`. The raw
 * :authority is last and taken to the line's end: a header value may hold spaces (nginx escapes quotes and
 * control bytes, not spaces), and there it cannot shift the fields before it.
 */
const LOG_LINE = /^time=\S+ client=\S+ authority=(\S*) vhost=(\S*) request="\S* (\S*) [^" ]*" status=(\d{3}) grpc_status=(\S*) upstream=\S* bytes=\S* authority_raw=(.*)$/;

/** The requests of an access log written with nginxConf's format; lines of another shape are skipped. Pure. */
export function parseAccessLog(text: string): ProxyRequest[] {
  const out: ProxyRequest[] = [];
  for (const line of text.split('\n')) {
    const m = LOG_LINE.exec(line);
    if (!m) continue;
    out.push({
      authority: m[1]!,
      // nginx logs an unset variable as `-`
      ...(m[6] !== '-' ? { authorityRaw: m[6]! } : {}),
      vhost: m[2]!,
      path: m[3]!,
      status: Number(m[4]),
      ...(m[5] && m[5] !== '-' ? { grpcStatus: m[5] } : {}),
    });
  }
  return out;
}

/**
 * Facts for the evidence: how many requests each :authority sent (as sent: with its port and case, or
 * `(none)`), where they went and with what status,
 * e.g. `grpc proxy: 3 requests for :authority localhost, no route (404 x3)`; the first MAX_AUTHORITY_FACTS
 * authorities in the order they came, then one line counting the rest. Pure.
 */
export function describeProxyRequests(requests: readonly ProxyRequest[]): string[] {
  if (!requests.length) return ['grpc proxy: no request reached it'];
  const byAuthority = new Map<string | undefined, ProxyRequest[]>();
  for (const r of requests) {
    const rs = byAuthority.get(r.authorityRaw);
    if (rs) rs.push(r);
    else byAuthority.set(r.authorityRaw, [r]);
  }
  const all = [...byAuthority];
  const lines = all.slice(0, MAX_AUTHORITY_FACTS).map(([authority, rs]) => {
    const statuses = new Map<string, number>();
    for (const r of rs) {
      const k = r.grpcStatus !== undefined ? `${r.status}, grpc-status ${r.grpcStatus}` : String(r.status);
      statuses.set(k, (statuses.get(k) ?? 0) + 1);
    }
    const routed = rs.every((r) => r.vhost === '_') ? 'no route' : rs.some((r) => r.vhost === '_') ? 'partly routed' : 'routed to BuildKit';
    const counts = [...statuses].map(([k, n]) => `${k} x${n}`).join(', ');
    const quoted =
      authority === undefined || authority === ''
        ? '(none)'
        : authority.length > AUTHORITY_QUOTE_CHARS
          ? `${authority.slice(0, AUTHORITY_QUOTE_CHARS)}... (${authority.length} chars)`
          : authority;
    return `grpc proxy: ${rs.length} request(s) for :authority ${quoted}, ${routed} (${counts})`;
  });
  const rest = all.slice(MAX_AUTHORITY_FACTS);
  if (rest.length) lines.push(`grpc proxy: and ${rest.length} more :authority values, ${rest.reduce((n, [, rs]) => n + rs.length, 0)} request(s)`);
  return lines;
}
