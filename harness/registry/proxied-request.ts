// One request through the fault proxy, as one object: what it asked for, its buffered body if any, how it was
// answered, and the journal entry that says so.
import type http from 'node:http';
import type { JournalEntry } from '../model.ts';
import type { Answer, RegistryRequest } from './behaviours.ts';
import { parseRegistryPath, type ParsedRegistryPath } from './journal.ts';
import { peerAddress } from './proxy-protocol.ts';
import { checkFraming, type Framing } from './request-framing.ts';
import { parseRequestTarget, type TargetVerdict } from './request-target.ts';

/** '::ffff:172.18.0.3' -> '172.18.0.3': rules and journals speak plain IPv4 where the peer is IPv4. */
export function clientAddress(remote: string | undefined): string | undefined {
  return remote?.startsWith('::ffff:') ? remote.slice(7) : remote;
}

export function header(v: string | string[] | number | undefined): string | undefined {
  return v === undefined ? undefined : Array.isArray(v) ? v[0] : String(v);
}

/** One request through the proxy: what it asked for, its buffered body if any, and what the journal will say. */
export class ProxiedRequest implements RegistryRequest {
  readonly method: string;
  readonly client: string | undefined;
  readonly target: TargetVerdict;
  /** how its body is framed, or why the proxy will not forward it */
  readonly framing: Framing;
  /** the path as received, without query (for a refused target: whatever came before '?') */
  readonly path: string;
  readonly route: ParsedRegistryPath;
  readonly query: URLSearchParams;
  readonly headers: http.IncomingHttpHeaders;
  body?: Buffer;
  bodyDigest?: string;
  requestBytes = 0;
  responseBytes = 0;
  responseMediaType?: string;
  responseDigest?: string;
  readonly interventions: string[] = [];
  #done = false;
  readonly #onDone: (() => void)[] = [];

  constructor(
    readonly req: http.IncomingMessage,
    readonly res: http.ServerResponse,
    readonly seq: number,
    readonly startedAt: number,
  ) {
    this.method = (req.method ?? 'GET').toUpperCase();
    this.client = clientAddress(peerAddress(req.socket));
    this.headers = req.headers;
    const raw = req.url ?? '';
    this.target = parseRequestTarget(this.method, raw);
    this.framing = checkFraming(req);
    this.path = this.target.ok ? this.target.path : raw.split('?')[0]!;
    this.route = this.target.ok ? parseRegistryPath(this.target.path) : { kind: 'other' };
    this.query = new URLSearchParams(this.target.ok ? this.target.query : '');
    res.once('close', () => this.finish());
  }

  /** Over: answered in full, or its client gone. */
  get over(): boolean {
    return this.#done;
  }

  /** Runs `fn` when the request is over (at once if it already is). */
  whenDone(fn: () => void): void {
    if (this.#done) fn();
    else this.#onDone.push(fn);
  }

  /**
   * The request is over: its response closed, or its connection did. The proxy calls this for the latter,
   * as a pipelined response Node never started (connection died, or taken over by CONNECT) gets no 'close'.
   */
  finish(): void {
    if (this.#done) return;
    this.#done = true;
    for (const fn of this.#onDone.splice(0)) fn();
  }

  get isManifestPut(): boolean {
    return this.method === 'PUT' && this.route.kind === 'manifests' && !!this.route.repository && !!this.route.reference;
  }

  /** writeHead, noting what the journal needs (getHeader() does not see headers passed to writeHead). */
  writeHead(status: number, headers: http.OutgoingHttpHeaders): void {
    this.responseMediaType = header(headers['content-type']);
    this.responseDigest = header(headers['docker-content-digest']);
    this.res.writeHead(status, headers);
  }

  /** Sends a whole answer (no body for HEAD). */
  answer(a: Answer): void {
    this.writeHead(a.status, a.headers);
    if (this.method === 'HEAD' || !a.body) return void this.res.end();
    this.responseBytes += a.body.length;
    this.res.end(a.body);
  }

  entry(t0: number): JournalEntry {
    const h = this.headers;
    const digest = this.bodyDigest ?? this.responseDigest;
    return {
      seq: this.seq,
      atMs: Math.round(this.startedAt - t0),
      ...(this.client ? { client: this.client } : {}),
      method: this.method,
      path: this.path,
      kind: this.route.kind,
      ...(this.route.repository ? { repository: this.route.repository } : {}),
      ...(this.route.reference ? { reference: this.route.reference } : {}),
      status: this.res.headersSent ? this.res.statusCode : 0, // 0: the connection died before any answer
      // Headers other than User-Agent and Content-Type are never recorded (Authorization, Cookie carry credentials).
      ...(h['content-type'] ? { requestMediaType: h['content-type'] } : {}),
      ...(this.responseMediaType ? { responseMediaType: this.responseMediaType } : {}),
      ...(h['user-agent'] ? { userAgent: h['user-agent'] } : {}),
      requestBytes: this.requestBytes,
      responseBytes: this.responseBytes,
      durationMs: Math.round(performance.now() - this.startedAt),
      ...(digest ? { digest } : {}),
      ...(this.interventions.length ? { intervention: this.interventions.join('+') } : {}),
    };
  }
}
