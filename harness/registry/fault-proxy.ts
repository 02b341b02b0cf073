// A fault-injecting HTTP proxy in front of the lab's real registry. DinD engines reach it as `registry:5000`;
// it forwards to the registry container (over a unix socket: the registry has no network of its own),
// journals every request, and can corrupt, truncate, delay or refuse chosen requests. Registry behaviours
// (emulations of registries that differ from distribution) live in behaviours.ts; this module is transport
// only: listening, checking the target and framing, forwarding, faults, journal.
//
// Memory is bounded: blob bodies stream both ways; only manifest PUT bodies (needed for their digest and by
// behaviours) are buffered, up to distribution's own 4 MiB limit; the journal has limits of its own.
//
// Framing: a request whose body framing is ambiguous is refused and its connection closed (request-framing.ts);
// every forwarded body is framed explicitly, and every request to the registry has a connection of its own, so
// an upstream connection that went out of step can never hand one request's answer to another.

import { createHash } from 'node:crypto';
import http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { UsageError } from '../errors.ts';
import { MANIFEST_MEDIA_TYPES } from '../oci/types.ts';
import { createBehaviour, errorAnswer, type BehaviourSpec, type RegistryEmulation, type Upstream } from './behaviours.ts';
import { Journal, type JournalLimits } from './journal.ts';
import { bindExactly, checkListenHost, closeServers, listenerUrl, type ListenAddress } from './listen-address.ts';
import { ProxiedRequest, clientAddress, header } from './proxied-request.ts';
import { isRelayed, peerAddress } from './proxy-protocol.ts';
import { parseRequestTarget } from './request-target.ts';

export { clientAddress } from './proxied-request.ts';
export { isUnspecifiedAddress } from './listen-address.ts';

export type Fault =
  /** same length, every byte flipped (XOR 0xff), so digests fail but framing does not */
  | { kind: 'corrupt' }
  /** answered by the proxy, never forwarded; body is a registry error {"errors":[{code,message}]} */
  | { kind: 'status'; status: number; code?: string; message?: string }
  /**
   * headers (with the original Content-Length), body up to byte `afterBytes` of the resource, then the
   * connection is closed. The offset is absolute: a resumed request (Range: bytes=N-, answered 206) gets only
   * what lies before `afterBytes`, so a client that resumes (containerd does) cannot get past it either.
   */
  | { kind: 'truncate'; afterBytes: number }
  /** wait before forwarding */
  | { kind: 'delay'; ms: number };

export interface FaultRule {
  /** journaled as the intervention; defaults to the fault kind, e.g. "status-404" */
  name?: string;
  method?: string;
  /** a string must equal the URL path (no query); a RegExp is tested against it */
  path: string | RegExp;
  /** how many requests the rule applies to; unlimited when omitted */
  times?: number;
  /** only requests from this address (one DinD engine), so concurrent cells do not see each other's faults */
  client?: string;
  fault: Fault;
}

export type { ListenAddress } from './listen-address.ts';

export interface ProxyLimits {
  /** manifest PUT bodies are buffered up to this; larger ones get 413 (distribution refuses them too) */
  maxManifestBytes: number;
  journal: Partial<JournalLimits>;
}

/** distribution's maxManifestBodySize */
export const MAX_MANIFEST_BYTES = 4 << 20;

/** How long the rest of a refused request's body is read and dropped before the connection is given up. */
const LINGER_MS = 5_000;

export interface FaultProxyOptions {
  /** the real registry: a unix socket (unix:///path/registry.sock, as the lab runs it) or a base URL (http://127.0.0.1:5000) */
  upstream: string;
  listen?: ListenAddress[];
  limits?: Partial<ProxyLimits>;
}

/** Figures a test (or a report) can hold the proxy to. */
export interface ProxyStats {
  /** requests in flight */
  active: number;
  /** request body bytes held in memory now (buffered manifest PUTs), and the most ever held at once */
  bufferedBytes: number;
  peakBufferedBytes: number;
  /** requests the proxy refused itself (bad target, malformed, too large): never forwarded */
  refused: number;
  upstreamFailures: number;
  journalEntries: number;
  journalBytes: number;
  journalDropped: number;
}

/** Path of one blob, for a rule's `path`; pair it with method: 'GET' (see blobGet). */
export function blobPath(repo: string, digest: string): string {
  return `/v2/${repo}/blobs/${digest}`;
}

/** A rule applying `fault` to GETs of one blob. */
export function blobGet(repo: string, digest: string, fault: Fault, extra: Pick<FaultRule, 'name' | 'times' | 'client'> = {}): FaultRule {
  return { method: 'GET', path: blobPath(repo, digest), fault, ...extra };
}

// Per RFC 9110 these describe one hop and must not be forwarded; Node re-frames bodies itself.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

const DEFAULT_CODES: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'DENIED',
  404: 'NOT_FOUND',
  409: 'DENIED',
  429: 'TOOMANYREQUESTS',
  503: 'UNAVAILABLE',
};

// Node's parser errors, answered (and journaled) by the proxy instead of Node's bare default.
const CLIENT_ERROR_STATUS: Record<string, number> = { HPE_HEADER_OVERFLOW: 431, ERR_HTTP_REQUEST_TIMEOUT: 408 };

function forwardable(h: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  return out;
}

/** A rule or behaviour pattern: a string must be equal, a RegExp is tested (from its start, even if global). */
function matches(pattern: string | RegExp, s: string): boolean {
  if (typeof pattern === 'string') return pattern === s;
  pattern.lastIndex = 0;
  return pattern.test(s);
}

function faultName(r: FaultRule): string {
  if (r.name) return r.name;
  const f = r.fault;
  return f.kind === 'status' ? `status-${f.status}` : f.kind;
}

/** The registry's address: http://host[:port] with no path, or unix:///absolute/path. */
function parseUpstream(spec: string): URL {
  let u: URL | undefined;
  try {
    u = new URL(spec);
  } catch {
    u = undefined;
  }
  const ok =
    u?.protocol === 'http:'
      ? u.pathname === '/' && !u.search && !u.username
      : u?.protocol === 'unix:' && !u.host && u.pathname.startsWith('/') && u.pathname.length > 1 && !u.search && !u.hash;
  if (!u || !ok) throw new UsageError(`fault proxy upstream must be http://host[:port] or unix:///path/to/socket, got ${JSON.stringify(spec)}`);
  return u;
}

/** How the journal and errors name the registry. */
function upstreamName(u: URL): string {
  return u.protocol === 'unix:' ? `unix:${decodeURIComponent(u.pathname)}` : u.origin;
}

/** Configuration; start() binds the listeners. */
export class FaultProxy {
  #listen: ListenAddress[];
  #limits: ProxyLimits;
  readonly #upstream: URL;

  constructor(opts: FaultProxyOptions) {
    this.#upstream = parseUpstream(opts.upstream);
    this.#listen = opts.listen ?? [];
    this.#limits = { maxManifestBytes: MAX_MANIFEST_BYTES, journal: {}, ...opts.limits };
    for (const a of this.#listen) checkListenHost(a.host);
  }

  /** Addresses to bind, each exactly as given. Without any, the proxy binds 127.0.0.1 on a free port. */
  withListen(addrs: ListenAddress[]): this {
    for (const a of addrs) checkListenHost(a.host);
    this.#listen = [...addrs];
    return this;
  }

  withLimits(limits: Partial<ProxyLimits>): this {
    this.#limits = { ...this.#limits, ...limits };
    return this;
  }

  async start(): Promise<StartedFaultProxy> {
    const listen = this.#listen.length ? this.#listen : [{ host: '127.0.0.1', port: 0 }];
    const proxy = new StartedFaultProxy(this.#upstream, this.#limits);
    try {
      await proxy._listen(listen);
    } catch (err) {
      await proxy.stop();
      throw err;
    }
    return proxy;
  }
}

interface ActiveRule {
  id: string;
  rule: FaultRule;
  remaining: number;
}

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The host itself: the lab's own client and pushes come over loopback, the DinD engines from the lab network. */
function isLoopbackClient(client: string | undefined): boolean {
  return client === '127.0.0.1' || client === '::1';
}

/** The client went away while we read its body: nothing to answer, nothing to blame on the registry. */
class ClientGone extends Error {}

export class StartedFaultProxy {
  readonly journal: Journal;
  #servers: http.Server[] = [];
  #addresses: ListenAddress[] = [];
  #rules: ActiveRule[] = [];
  /** repositories only the lab writes (protectRepository) */
  readonly #labOwned = new Set<string>();
  #behaviours: { pattern: string | RegExp; emulation: RegistryEmulation }[] = [];
  #nextRule = 1;
  #upstreamFailures = 0;
  #refused = 0;
  #active = 0;
  /** requests in flight per connection: with any, an answer written straight to the socket would come out of order */
  readonly #inFlight = new WeakMap<object, Set<ProxiedRequest>>();
  /** connections that sent a request with bad framing: nothing more from them is forwarded */
  readonly #badFraming = new WeakSet<object>();
  #buffered = 0;
  #peakBuffered = 0;
  #stopped = new AbortController();
  /**
   * No pooling upstream: each request gets a connection of its own, destroyed after its answer. A pooled
   * connection that went out of step (an answer too many, a body read as a request) would otherwise hand its
   * next answer to whichever client's request came next. Over the registry's unix socket a connection costs
   * little (see #upstreamRequest for why the wire still says keep-alive).
   */
  readonly #agent = new http.Agent({ keepAlive: false });
  readonly #t0 = performance.now();

  constructor(
    readonly upstream: URL,
    readonly limits: ProxyLimits,
  ) {
    this.journal = new Journal(limits.journal);
  }

  /** @internal used by FaultProxy.start */
  async _listen(addrs: readonly ListenAddress[]): Promise<void> {
    for (const a of addrs) {
      this.#addresses.push(await bindExactly(this.#newServer(), a, 'fault proxy'));
    }
  }

  #newServer(): http.Server {
    // insecureHTTPParser: false whatever NODE_OPTIONS says: the lenient parser accepts ambiguous framing.
    const server = http.createServer({ requireHostHeader: false, maxHeaderSize: 16 * 1024, insecureHTTPParser: false }, (req, res) => void this.#handle(req, res));
    server.requestTimeout = 0; // Node's 300 s default would cut long blob uploads
    server.on('connection', (socket: Socket) =>
      socket.once('close', () => {
        for (const x of this.#inFlight.get(socket) ?? []) x.finish();
      }),
    );
    server.on('connect', (req: http.IncomingMessage, socket: Duplex) => this.#refuseConnect(req, socket));
    server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex) => this.#clientError(err, socket));
    this.#servers.push(server);
    return server;
  }

  addresses(): ListenAddress[] {
    return this.#addresses.map((a) => ({ ...a }));
  }

  /** Base URL of the listener bound to `host` (default: the first one). */
  urlFor(host?: string): string {
    return listenerUrl(this.#addresses, host, 'fault proxy');
  }

  /** Requests that found the registry unreachable or lost it mid-response: the registry died, not Buildx. */
  get upstreamFailures(): number {
    return this.#upstreamFailures;
  }

  stats(): ProxyStats {
    return {
      active: this.#active,
      bufferedBytes: this.#buffered,
      peakBufferedBytes: this.#peakBuffered,
      refused: this.#refused,
      upstreamFailures: this.#upstreamFailures,
      journalEntries: this.journal.size,
      journalBytes: this.journal.bytes,
      journalDropped: this.journal.dropped,
    };
  }

  /**
   * Makes `repository` read-only to every client but the host's loopback (the lab's own pushes): what the
   * lab published there (its BuildKit, its base image) is pulled by tag by later cells, which a case could
   * otherwise overwrite with an image of its own.
   */
  protectRepository(repository: string): void {
    this.#labOwned.add(repository);
  }

  addFault(rule: FaultRule): string {
    const id = `fault-${this.#nextRule++}`;
    this.#rules.push({ id, rule, remaining: rule.times ?? Infinity });
    return id;
  }

  removeFault(id: string): boolean {
    const before = this.#rules.length;
    this.#rules = this.#rules.filter((r) => r.id !== id);
    return this.#rules.length < before;
  }

  clearFaults(): void {
    this.#rules = [];
  }

  /**
   * Makes repositories matching `repoPattern` (exact name, or RegExp) behave like another registry (see
   * REGISTRY_BEHAVIOURS). The most recent matching setting wins; setting it again starts its state afresh.
   */
  setBehaviour(repoPattern: string | RegExp, behaviour: BehaviourSpec): void {
    const emulation = createBehaviour(behaviour);
    const same = (p: string | RegExp) => String(p) === String(repoPattern) && typeof p === typeof repoPattern;
    this.#behaviours = this.#behaviours.filter((b) => !same(b.pattern));
    this.#behaviours.push({ pattern: repoPattern, emulation });
  }

  clearBehaviours(): void {
    this.#behaviours = [];
  }

  async stop(): Promise<void> {
    this.#stopped.abort();
    await closeServers(this.#servers);
    this.#servers = [];
    this.#agent.destroy();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  #behaviourFor(repo: string | undefined): RegistryEmulation | undefined {
    if (!repo) return undefined;
    for (let i = this.#behaviours.length - 1; i >= 0; i--) {
      const { pattern, emulation } = this.#behaviours[i]!;
      if (matches(pattern, repo)) return emulation;
    }
    return undefined;
  }

  #matchFault(x: ProxiedRequest): FaultRule | undefined {
    for (const r of this.#rules) {
      if (r.remaining <= 0) continue;
      if (r.rule.client && r.rule.client !== x.client) continue;
      if (r.rule.method && r.rule.method.toUpperCase() !== x.method) continue;
      if (!matches(r.rule.path, x.path)) continue;
      r.remaining--;
      return r.rule;
    }
    return undefined;
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const x = new ProxiedRequest(req, res, this.journal.reserveSeq(), performance.now());
    this.#active++;
    const siblings = this.#inFlight.get(req.socket) ?? new Set<ProxiedRequest>();
    this.#inFlight.set(req.socket, siblings.add(x));
    // Journal once, whether the response finished or the connection died.
    x.whenDone(() => {
      this.#active--;
      siblings.delete(x);
      if (x.body) this.#buffered -= x.body.length;
      this.journal.append(x.entry(this.#t0));
    });

    try {
      // Behind a request refused for its framing, what Node parsed next came from an untrusted byte stream.
      if (this.#badFraming.has(req.socket)) return void x.interventions.push('after-bad-framing');
      if (!x.framing.ok) return this.#refuseFraming(x, x.framing.reason);
      if (!x.target.ok) return this.#refuse(x, 400, 'bad-target', x.target.reason);
      if (req.httpVersion === '1.1' && !req.headers.host) return this.#refuse(x, 400, 'bad-target', 'an HTTP/1.1 request needs a Host header');
      const repo = x.route.repository;
      // the host's loopback is the lab's own pushes; through a relay it is only what the relay was told
      if (repo && this.#labOwned.has(repo) && !READ_METHODS.has(x.method) && (isRelayed(req.socket) || !isLoopbackClient(x.client)))
        return this.#refuse(x, 403, 'lab-owned', `${repo} holds the lab's own images, which every cell pulls; a cell pushes to its own repositories`);

      const rule = this.#matchFault(x);
      if (rule) x.interventions.push(faultName(rule));
      const fault = rule?.fault;

      if (fault?.kind === 'status') {
        await this.#discardBody(x);
        const code = fault.code ?? DEFAULT_CODES[fault.status] ?? 'UNKNOWN';
        return x.answer(errorAnswer(fault.status, code, fault.message ?? `injected by fault proxy (${faultName(rule!)})`));
      }
      if (fault?.kind === 'delay') {
        await sleep(fault.ms, undefined, { signal: this.#stopped.signal });
        if (x.over) return;
      }
      // Buffered: the journal needs the digest, and behaviours decide before anything is forwarded.
      if (x.isManifestPut && !(await this.#bufferBody(x))) return;

      const emulation = this.#behaviourFor(x.route.repository);
      const answer = await emulation?.intercept(x, this.#upstreamView(x));
      if (answer) {
        x.interventions.push(emulation!.name);
        return x.answer(answer);
      }
      this.#forward(x, fault, emulation);
    } catch (err) {
      if (err instanceof ClientGone || this.#stopped.signal.aborted || x.over) return void res.destroy();
      this.#upstreamDown(x, err);
    }
  }

  /**
   * Answers a request the proxy will not forward. With its body still coming, closing at once would make the
   * kernel reset the connection and could drop the answer before the client reads it: Node then reads and
   * drops the rest, and the connection is given up only if that lasts more than LINGER_MS.
   */
  #refuse(x: ProxiedRequest, status: number, intervention: string, message: string): void {
    this.#refused++;
    x.interventions.push(intervention);
    const a = errorAnswer(status, status === 413 ? 'SIZE_INVALID' : status === 403 ? 'DENIED' : 'BAD_REQUEST', `fault proxy: ${message}`);
    const bodyComing = !x.req.complete && (Number(x.headers['content-length']) > 0 || x.headers['transfer-encoding'] !== undefined);
    if (!bodyComing) {
      x.answer({ ...a, headers: { ...a.headers, connection: 'close' } });
      return;
    }
    const giveUp = setTimeout(() => x.req.socket.destroy(), LINGER_MS).unref();
    x.req.once('end', () => clearTimeout(giveUp)).once('close', () => clearTimeout(giveUp));
    x.req.resume();
    x.answer(a);
  }

  /**
   * Answers 400 at once and closes the connection (Node does, after an answer saying `connection: close`): its
   * byte stream cannot be trusted past this request, so nothing that follows on it is forwarded, nor is a
   * parser error on it answered again. What Node decodes of the body is dropped. A client that never reads
   * the answer loses the connection after LINGER_MS.
   */
  #refuseFraming(x: ProxiedRequest, message: string): void {
    this.#refused++;
    const socket = x.req.socket;
    this.#badFraming.add(socket);
    x.interventions.push('bad-framing');
    const giveUp = setTimeout(() => socket.destroy(), LINGER_MS).unref();
    socket.once('close', () => clearTimeout(giveUp));
    x.req.resume();
    const a = errorAnswer(400, 'BAD_REQUEST', `fault proxy: request framing refused: ${message}`);
    x.answer({ ...a, headers: { ...a.headers, connection: 'close' } });
  }

  /** Reads a manifest PUT body into x.body, at most limits.maxManifestBytes; false when it answered 413. */
  async #bufferBody(x: ProxiedRequest): Promise<boolean> {
    const limit = this.limits.maxManifestBytes;
    const tooLarge = () => {
      this.#refuse(x, 413, 'too-large', `manifest body exceeds ${limit} bytes (distribution's limit)`);
      return false;
    };
    if (Number(x.headers['content-length']) > limit) return tooLarge();
    const chunks: Buffer[] = [];
    let size = 0;
    const fits = await new Promise<boolean>((resolve, reject) => {
      const onData = (c: Buffer) => {
        x.requestBytes += c.length;
        if (size + c.length > limit) {
          x.req.off('data', onData).pause();
          return resolve(false);
        }
        size += c.length;
        chunks.push(c);
        this.#hold(c.length);
      };
      x.req.on('data', onData);
      x.req.once('end', () => resolve(true));
      x.req.once('error', () => reject(new ClientGone()));
      x.req.once('close', () => (x.req.complete ? resolve(true) : reject(new ClientGone())));
    }).finally(() => {
      // Held bytes move into x.body (released when the response closes) or are dropped here.
      this.#hold(-size);
    });
    if (!fits) return tooLarge();
    x.body = Buffer.concat(chunks, size);
    this.#hold(x.body.length);
    x.bodyDigest = `sha256:${createHash('sha256').update(x.body).digest('hex')}`;
    return true;
  }

  #hold(bytes: number): void {
    this.#buffered += bytes;
    this.#peakBuffered = Math.max(this.#peakBuffered, this.#buffered);
  }

  /** Reads and drops a body the proxy answers itself, so the client sees the answer, not a reset. */
  async #discardBody(x: ProxiedRequest): Promise<void> {
    try {
      for await (const c of x.req) x.requestBytes += (c as Buffer).length;
    } catch {
      throw new ClientGone();
    }
  }

  #upstreamDown(x: ProxiedRequest, err: unknown): void {
    if (x.over || x.res.destroyed) return; // the client left and we cancelled upstream: not the registry's doing
    this.#upstreamFailures++;
    x.interventions.push('upstream-unreachable');
    if (x.res.headersSent) return void x.res.destroy();
    const msg = err instanceof Error ? err.message : String(err);
    x.answer(errorAnswer(502, 'UNAVAILABLE', `fault proxy: registry ${upstreamName(this.upstream)} unreachable: ${msg}`));
  }

  /** Request options aimed at the registry and nowhere else: the target only ever supplies the path. */
  #upstreamRequest(method: string, path: string, headers: http.OutgoingHttpHeaders): http.ClientRequest {
    const u = this.upstream;
    const where = u.protocol === 'unix:' ? { socketPath: decodeURIComponent(u.pathname) } : { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: u.port || 80 };
    // keep-alive on the wire, so the registry never closes first and a body still being written never meets a
    // closed socket (EPIPE, seen with Connection: close); the agent (keepAlive: false) destroys the connection
    // after its one answer all the same.
    return http.request({ ...where, method, path, headers: { ...headers, connection: 'keep-alive' }, agent: this.#agent, insecureHTTPParser: false });
  }

  /** What behaviours may ask of the registry: a HEAD with the client's Host and credentials. */
  #upstreamView(x: ProxiedRequest): Upstream {
    return {
      exists: (path) => {
        if (!parseRequestTarget('HEAD', path).ok) return Promise.resolve(false); // built from client input: never a stray path
        const headers: http.OutgoingHttpHeaders = { accept: MANIFEST_MEDIA_TYPES.join(', ') };
        if (x.headers.host) headers.host = x.headers.host;
        if (x.headers.authorization) headers.authorization = x.headers.authorization;
        return new Promise((resolve, reject) => {
          const r = this.#upstreamRequest('HEAD', path, headers);
          r.on('response', (up) => {
            up.resume();
            resolve(up.statusCode === 200);
          });
          r.on('error', reject);
          r.end();
        });
      },
    };
  }

  #forward(x: ProxiedRequest, fault: Fault | undefined, emulation: RegistryEmulation | undefined): void {
    const { req, res } = x;
    // Host is kept as the client sent it (registry:5000): the registry builds absolute Location URLs for
    // uploads from it, and those must point back at the proxy, not at the registry container.
    // Framed explicitly, never by Node's per-method defaults (which send a GET's body raw, unframed).
    const headers = forwardable(req.headers);
    const framing = x.framing.ok ? x.framing.body : 'none';
    delete headers['content-length'];
    if (x.body) headers['content-length'] = x.body.length;
    else if (framing === 'length') headers['content-length'] = req.headers['content-length'];
    else if (framing === 'chunked') headers['transfer-encoding'] = 'chunked';
    const up = this.#upstreamRequest(x.method, req.url!, headers);
    let answered = false;

    up.on('response', (upRes) => {
      const status = upRes.statusCode ?? 502;
      emulation?.observe(x, status, upRes.headers);
      x.writeHead(status, forwardable(upRes.headers));
      // The cut is at an absolute offset of the resource: a 206 starts where its Content-Range says.
      const start = status === 206 ? Number(/^bytes (\d+)-/.exec(header(upRes.headers['content-range']) ?? '')?.[1] ?? 0) : 0;
      const cutAt = fault?.kind === 'truncate' ? Math.max(0, fault.afterBytes - start) : Infinity;
      let sent = 0;
      let done = false;
      upRes.on('data', (chunk: Buffer) => {
        if (done) return;
        let out = chunk;
        if (fault?.kind === 'corrupt') out = flipBytes(chunk);
        if (sent + out.length >= cutAt) {
          done = true;
          const part = out.subarray(0, cutAt - sent);
          x.responseBytes += part.length;
          upRes.destroy();
          const sock = res.socket;
          if (part.length) res.write(part);
          else res.flushHeaders();
          // end() uncorks and flushes what was written, then FIN; destroy makes sure the client sees a short body.
          sock?.end(() => sock.destroy());
          return;
        }
        sent += out.length;
        x.responseBytes += out.length;
        if (!res.write(out)) upRes.pause();
      });
      res.on('drain', () => upRes.resume());
      upRes.on('end', () => {
        answered = true;
        if (!done) res.end();
      });
      upRes.on('error', (err) => {
        if (!done) this.#upstreamDown(x, err);
      });
    });
    // Once the registry has answered in full, a failure to send it the rest of the body is not an outage.
    up.on('error', (err) => {
      if (!answered) this.#upstreamDown(x, err);
    });
    // A client that goes away cancels the upstream request too.
    x.whenDone(() => {
      if (!res.writableFinished) up.destroy();
    });

    if (x.body) up.end(x.body);
    else if (framing === 'none') {
      req.resume();
      up.end();
    } else {
      req.on('data', (c: Buffer) => (x.requestBytes += c.length));
      req.pipe(up);
    }
  }

  /**
   * CONNECT would make the proxy a tunnel to anywhere: answered 400 on the raw socket, and journaled. Node
   * hands over the socket, so behind pipelined requests still in flight an answer would come out of order:
   * then the connection is just closed (status 0), which also ends those requests.
   */
  #refuseConnect(req: http.IncomingMessage, socket: Duplex): void {
    this.#refused++;
    const inOrder = !this.#inFlight.get(socket)?.size;
    this.#journalBare({ method: 'CONNECT', path: req.url ?? '', client: peerAddress(socket as Socket), status: inOrder ? 400 : 0, intervention: 'bad-target' });
    if (inOrder) this.#rawAnswer(socket, 400, 'Bad Request', 'fault proxy: authority form (CONNECT) is not forwarded');
    else socket.destroy();
  }

  /** A request Node's parser rejected (malformed line, header overflow, bad framing): answered and journaled. */
  #clientError(err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex): void {
    if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy(); // the client left: nothing to answer
    if (this.#badFraming.has(socket)) return; // answered 400 already, and closing
    this.#refused++;
    // As for CONNECT: behind a request still in flight, a raw answer would be read as that request's.
    const status = this.#inFlight.get(socket)?.size ? 0 : (CLIENT_ERROR_STATUS[err.code ?? ''] ?? 400);
    const line = /^([A-Za-z]{1,16}) (\S{1,2048})/.exec(err.rawPacket?.toString('latin1') ?? '');
    this.#journalBare({
      method: line?.[1]?.toUpperCase() ?? '-',
      path: line?.[2]?.split('?')[0] ?? '-',
      client: peerAddress(socket as Socket),
      status,
      intervention: `malformed-${(err.code ?? 'request').toLowerCase()}`,
    });
    if (status) this.#rawAnswer(socket, status, http.STATUS_CODES[status] ?? 'Bad Request', `fault proxy: ${err.message}`);
    else socket.destroy();
  }

  #journalBare(e: { method: string; path: string; client: string | undefined; status: number; intervention: string }): void {
    const client = clientAddress(e.client);
    this.journal.append({
      atMs: Math.round(performance.now() - this.#t0),
      ...(client ? { client } : {}),
      method: e.method,
      path: e.path,
      kind: 'other',
      status: e.status,
      requestBytes: 0,
      responseBytes: 0,
      durationMs: 0,
      intervention: e.intervention,
    });
  }

  #rawAnswer(socket: Duplex, status: number, reason: string, message: string): void {
    const a = errorAnswer(status, 'BAD_REQUEST', message);
    const head = [`HTTP/1.1 ${status} ${reason}`, ...Object.entries(a.headers).map(([k, v]) => `${k}: ${v}`), 'connection: close', '', ''].join('\r\n');
    socket.end(Buffer.concat([Buffer.from(head, 'latin1'), a.body!]), () => socket.destroy());
  }
}

/**
 * Every byte of `chunk` XOR 0xff, in a new buffer; pure. Word by word: it runs on the event loop that
 * also serves every other cell's requests, and a byte loop over a 264 MB BuildKit layer cost seconds.
 */
export function flipBytes(chunk: Buffer): Buffer {
  // allocUnsafeSlow: a buffer of its own, so its offset is 0 and 32-bit words are aligned
  const out = Buffer.allocUnsafeSlow(chunk.length);
  chunk.copy(out);
  const words = new Uint32Array(out.buffer, out.byteOffset, chunk.length >>> 2);
  for (let i = 0; i < words.length; i++) words[i] = ~words[i]!;
  for (let i = words.length << 2; i < out.length; i++) out[i] = out[i]! ^ 0xff;
  return out;
}
