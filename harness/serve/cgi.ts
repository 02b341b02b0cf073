// The CGI side of RFC 3875 that `git http-backend` needs: its environment from a request, and its
// response head (header lines, a Status line, a blank line) read off its stdout. Hand-written: the npm
// CGI packages are unmaintained wrappers, and this is two small pure functions.
import type http from 'node:http';

export interface CgiHead {
  status: number;
  headers: Record<string, string>;
  /** where the body starts in the buffer given */
  bodyStart: number;
}

/** Largest response head accepted from the program. */
export const MAX_CGI_HEAD = 64 * 1024;

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-connection']);

/**
 * The head of a CGI response, once `buf` holds all of it; undefined while it may still come. Throws on
 * a malformed head or one over MAX_CGI_HEAD. Pure.
 */
export function parseCgiHead(buf: Buffer): CgiHead | undefined {
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  const ends = [crlf < 0 ? undefined : { at: crlf, len: 4 }, lf < 0 ? undefined : { at: lf, len: 2 }].filter((x) => x !== undefined);
  if (!ends.length) {
    if (buf.length > MAX_CGI_HEAD) throw new Error(`the CGI response head is over ${MAX_CGI_HEAD} bytes`);
    return undefined;
  }
  const end = ends.reduce((a, b) => (b.at < a.at ? b : a));
  if (end.at > MAX_CGI_HEAD) throw new Error(`the CGI response head is over ${MAX_CGI_HEAD} bytes`);
  let status = 200;
  const headers: Record<string, string> = {};
  for (const raw of buf.subarray(0, end.at).toString('latin1').split(/\r?\n/)) {
    const m = /^([A-Za-z0-9-]{1,100}):[ \t]*(.*)$/.exec(raw);
    if (!m) throw new Error(`the CGI response has a malformed header line ${JSON.stringify(raw.slice(0, 100))}`);
    const name = m[1]!.toLowerCase();
    const value = m[2]!.trim();
    if (/[\r\n\0]/.test(value)) throw new Error(`the CGI header ${name} holds a control character`);
    if (name === 'status') {
      const s = /^([1-5]\d\d)\b/.exec(value);
      if (!s) throw new Error(`the CGI Status ${JSON.stringify(value)} is not a status code`);
      status = Number(s[1]);
    } else if (!HOP_BY_HOP.has(name)) headers[name] = value;
  }
  return { status, headers, bodyStart: end.at + end.len };
}

/** The CGI meta-variables of one request to `pathInfo`; request headers become HTTP_* only where git reads them. Pure. */
export function cgiEnv(req: Pick<http.IncomingMessage, 'method' | 'headers'>, pathInfo: string, query: string, client: string | undefined): Record<string, string> {
  const h = (n: string) => {
    const v = req.headers[n];
    return typeof v === 'string' ? v : undefined;
  };
  const env: Record<string, string> = {
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_PROTOCOL: 'HTTP/1.1',
    REQUEST_METHOD: (req.method ?? 'GET').toUpperCase(),
    PATH_INFO: pathInfo,
    QUERY_STRING: query,
    REMOTE_ADDR: client ?? '',
  };
  const type = h('content-type');
  if (type) env.CONTENT_TYPE = type;
  const length = h('content-length');
  if (length && /^\d{1,12}$/.test(length)) env.CONTENT_LENGTH = length;
  const encoding = h('content-encoding');
  if (encoding && /^(gzip|x-gzip)$/i.test(encoding)) env.HTTP_CONTENT_ENCODING = encoding;
  // protocol v2 negotiation ("version=2"): only its own alphabet reaches git
  const protocol = h('git-protocol');
  if (protocol && /^[A-Za-z0-9=:._,-]{1,200}$/.test(protocol)) env.GIT_PROTOCOL = protocol;
  return env;
}
