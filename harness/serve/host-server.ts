// What the lab's host-side source servers (the HTTP file server, the Git server, the S3 and OTLP fronts) share: an HTTP listener
// bound only where the lab says (never the wildcard), bounded in connections, header size and time, and a
// journal entry per request in the journal the lab hands over (the fault proxy's: one order, one mark per
// cell, attributed by client address like the registry's requests). The handlers decide the answers.
import http from 'node:http';
import { HarnessError } from '../errors.ts';
import type { JournalEntry } from '../model.ts';
import type { Journal } from '../registry/journal.ts';
import { bindExactly, checkListenHost, closeServers, listenerUrl, type ListenAddress } from '../registry/listen-address.ts';
import { peerAddress } from '../registry/proxy-protocol.ts';
import { clientAddress, header } from '../registry/proxied-request.ts';
import type { SourceKind } from './spec.ts';

export type { ListenAddress } from '../registry/listen-address.ts';

export { SOURCE_KINDS, type SourceKind } from './spec.ts';

export interface HostServerLimits {
  /** connections open at once; Node closes any beyond (so the bound is generous: one per fetch of every cell) */
  maxConnections: number;
  /** a request's headers must arrive within this */
  headersTimeoutMs: number;
  /** a whole request (body included) within this */
  requestTimeoutMs: number;
}

export const DEFAULT_HOST_SERVER_LIMITS: HostServerLimits = { maxConnections: 256, headersTimeoutMs: 15_000, requestTimeoutMs: 120_000 };

/** One request to a source server, and what its journal entry will say. */
export class SourceRequest {
  readonly method: string;
  /** the path as received, without the query */
  readonly path: string;
  readonly query: string;
  readonly client: string | undefined;
  requestBytes = 0;
  responseBytes = 0;
  interventions: string[] = [];
  /** what the handler names for the journal: the S3 bucket and object key */
  repository?: string;
  reference?: string;

  constructor(
    readonly req: http.IncomingMessage,
    readonly res: http.ServerResponse,
    /** its journal entry's seq */
    readonly seq = 0,
  ) {
    this.method = (req.method ?? 'GET').toUpperCase();
    const raw = req.url ?? '';
    const q = raw.indexOf('?');
    this.path = q < 0 ? raw : raw.slice(0, q);
    this.query = q < 0 ? '' : raw.slice(q + 1);
    this.client = clientAddress(peerAddress(req.socket));
  }

  /** A short plain-text answer (errors, 401, 404), counted in the journal. */
  answer(status: number, text: string, headers: http.OutgoingHttpHeaders = {}): void {
    if (this.res.headersSent) return void this.res.destroy();
    const body = Buffer.from(`${text}\n`);
    this.res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': body.length, ...headers });
    this.responseBytes += this.method === 'HEAD' ? 0 : body.length;
    this.res.end(this.method === 'HEAD' ? undefined : body);
  }
}

export type SourceHandler = (x: SourceRequest) => Promise<void> | void;

/** Listens where told and journals every request; `handler` answers. Stop it with stop(). */
export class HostServer {
  readonly #servers: http.Server[] = [];
  readonly #addresses: ListenAddress[] = [];
  readonly #t0 = performance.now();

  private constructor(
    readonly kind: SourceKind,
    private readonly journal: Journal,
    private readonly handler: SourceHandler,
    private readonly limits: HostServerLimits,
  ) {}

  static async start(kind: SourceKind, journal: Journal, listen: readonly ListenAddress[], handler: SourceHandler, limits: Partial<HostServerLimits> = {}): Promise<HostServer> {
    if (!listen.length) throw new HarnessError(`the ${kind} server needs an address to listen on`);
    for (const a of listen) checkListenHost(a.host);
    const s = new HostServer(kind, journal, handler, { ...DEFAULT_HOST_SERVER_LIMITS, ...limits });
    try {
      for (const a of listen) await s.#listen(a);
    } catch (e) {
      await s.stop();
      throw e;
    }
    return s;
  }

  async #listen(a: ListenAddress): Promise<void> {
    const server = http.createServer({ requireHostHeader: false, maxHeaderSize: 16 * 1024, insecureHTTPParser: false }, (req, res) => this.#handle(req, res));
    server.maxConnections = this.limits.maxConnections;
    server.headersTimeout = this.limits.headersTimeoutMs;
    server.requestTimeout = this.limits.requestTimeoutMs;
    this.#servers.push(server);
    this.#addresses.push(await bindExactly(server, a, `the ${this.kind} server`));
  }

  addresses(): ListenAddress[] {
    return this.#addresses.map((a) => ({ ...a }));
  }

  /** Base URL of the listener on `host` (default: the first). */
  urlFor(host?: string): string {
    return listenerUrl(this.#addresses, host, `the ${this.kind} server`);
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const seq = this.journal.reserveSeq();
    const started = performance.now();
    const x = new SourceRequest(req, res, seq);
    res.once('close', () => {
      const entry: Omit<JournalEntry, 'seq'> & { seq: number } = {
        seq,
        atMs: Math.round(started - this.#t0),
        ...(x.client ? { client: x.client } : {}),
        method: x.method,
        path: x.path,
        ...(x.repository ? { repository: x.repository } : {}),
        kind: this.kind,
        ...(x.reference ? { reference: x.reference } : {}),
        // a response cut short (a fault, a client gone) says so: status 0 would hide the status line sent
        status: res.statusCode,
        ...(header(req.headers['user-agent']) ? { userAgent: header(req.headers['user-agent']) } : {}),
        requestBytes: x.requestBytes,
        responseBytes: x.responseBytes,
        durationMs: Math.round(performance.now() - started),
        ...(x.interventions.length ? { intervention: x.interventions.join('+') } : {}),
      };
      this.journal.append(entry);
    });
    // Origin form only: the path is looked up, never resolved, but a target naming a host is refused plainly.
    if (!x.path.startsWith('/') || x.path.startsWith('//')) {
      x.answer(400, 'only paths on this server are served');
      return;
    }
    Promise.resolve(this.handler(x)).catch((e: unknown) => {
      x.interventions.push('server-error');
      if (res.headersSent) res.destroy();
      else x.answer(500, `buildx-lab ${this.kind} server: ${(e as Error).message}`);
    });
  }

  async stop(): Promise<void> {
    await closeServers(this.#servers);
    this.#servers.length = 0;
  }
}
