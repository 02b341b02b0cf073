// A fault-injecting HTTP proxy in front of the lab's real registry. DinD engines reach it as `registry:5000`;
// it forwards to the registry container, journals every request, and can corrupt, truncate, delay or refuse
// chosen requests, or emulate registries that do not do "last write wins" on tags.
// Blob bodies are streamed; only manifest PUT bodies (small, and needed for their digest) are buffered.

import { createHash } from 'node:crypto';
import http from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { HarnessError, UsageError } from '../errors.ts';
import type { RegistryBehaviour } from '../model.ts';
import { Journal, isDigestReference, parseRegistryPath } from './journal.ts';
import { MANIFEST_MEDIA_TYPES, isIndexMediaType } from '../oci/types.ts';

export type Fault =
  /** same length, every byte flipped (XOR 0xff), so digests fail but framing does not */
  | { kind: 'corrupt' }
  /** answered by the proxy, never forwarded; body is a registry error {"errors":[{code,message}]} */
  | { kind: 'status'; status: number; code?: string; message?: string }
  /**
   * headers (with the original Content-Length), body up to byte `afterBytes` of the resource, then the
   * connection is closed. The offset is absolute: a resumed request (Range: bytes=N-) gets only what lies
   * before `afterBytes`, so a client that resumes (containerd does) cannot get past it either.
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

export interface ListenAddress {
  host: string;
  port: number;
}

export interface FaultProxyOptions {
  /** base URL of the real registry, e.g. http://172.18.0.3:5000 */
  upstream: string;
  listen?: ListenAddress[];
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

function errorBody(code: string, message: string): string {
  return JSON.stringify({ errors: [{ code, message }] });
}

function isUnspecified(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === '' || h === '0.0.0.0' || h === '::ffff:0.0.0.0') return true;
  return isIP(h) === 6 && /^[0:]+$/.test(h);
}

function checkListen(addrs: readonly ListenAddress[]): void {
  for (const a of addrs) {
    if (isUnspecified(a.host)) {
      throw new UsageError(
        `fault proxy refuses to listen on "${a.host}": it would expose the registry (and its faults) on every interface of the host; ` +
          'pass the lab network gateway IP and/or 127.0.0.1',
      );
    }
  }
}

function header(v: string | string[] | number | undefined): string | undefined {
  return v === undefined ? undefined : Array.isArray(v) ? v[0] : String(v);
}

function forwardable(h: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  return out;
}

function bodyMediaType(body: Buffer): string | undefined {
  try {
    return (JSON.parse(body.toString('utf8')) as { mediaType?: string }).mediaType;
  } catch {
    return undefined; // not JSON: the registry will reject it, that is not ours to judge
  }
}

function faultName(r: FaultRule): string {
  if (r.name) return r.name;
  const f = r.fault;
  return f.kind === 'status' ? `status-${f.status}` : f.kind;
}

/** Configuration; start() binds the listeners. */
export class FaultProxy {
  #listen: ListenAddress[];
  readonly #upstream: URL;

  constructor(opts: FaultProxyOptions) {
    this.#upstream = new URL(opts.upstream);
    if (this.#upstream.protocol !== 'http:') throw new UsageError(`fault proxy upstream must be http://, got ${opts.upstream}`);
    this.#listen = opts.listen ?? [];
    checkListen(this.#listen);
  }

  /** Addresses to bind, each exactly as given. Without any, the proxy binds 127.0.0.1 on a free port. */
  withListen(addrs: ListenAddress[]): this {
    checkListen(addrs);
    this.#listen = [...addrs];
    return this;
  }

  async start(): Promise<StartedFaultProxy> {
    const listen = this.#listen.length ? this.#listen : [{ host: '127.0.0.1', port: 0 }];
    const proxy = new StartedFaultProxy(this.#upstream);
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

/** '::ffff:172.18.0.3' -> '172.18.0.3': rules and journals speak plain IPv4 where the peer is IPv4. */
export function clientAddress(remote: string | undefined): string | undefined {
  return remote?.startsWith('::ffff:') ? remote.slice(7) : remote;
}

interface RequestState {
  requestBytes: number;
  responseBytes: number;
  digest?: string;
  responseMediaType?: string;
  responseDigest?: string;
  interventions: string[];
}

/** writeHead, noting what the journal needs (getHeader() does not see headers passed to writeHead). */
function writeHead(res: http.ServerResponse, st: RequestState, status: number, headers: http.OutgoingHttpHeaders): void {
  st.responseMediaType = header(headers['content-type']);
  st.responseDigest = header(headers['docker-content-digest']);
  res.writeHead(status, headers);
}

export class StartedFaultProxy {
  readonly journal = new Journal();
  #servers: http.Server[] = [];
  #addresses: ListenAddress[] = [];
  #rules: ActiveRule[] = [];
  #behaviours: { pattern: string | RegExp; behaviour: RegistryBehaviour }[] = [];
  #nextRule = 1;
  #upstreamFailures = 0;
  #stopped = new AbortController();
  readonly #agent = new http.Agent({ keepAlive: true });
  readonly #t0 = performance.now();

  constructor(readonly upstream: URL) {}

  /** @internal used by FaultProxy.start */
  async _listen(addrs: readonly ListenAddress[]): Promise<void> {
    for (const a of addrs) {
      const server = http.createServer((req, res) => void this.#handle(req, res));
      server.requestTimeout = 0; // Node's 300 s default would cut long blob uploads
      this.#servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err) => reject(new HarnessError(`fault proxy cannot listen on ${a.host}:${a.port}: ${err.message}`, { cause: err })));
        server.listen(a.port, a.host, () => resolve());
      });
      this.#addresses.push({ host: a.host, port: (server.address() as AddressInfo).port });
    }
  }

  addresses(): ListenAddress[] {
    return this.#addresses.map((a) => ({ ...a }));
  }

  /** Base URL of the listener bound to `host` (default: the first one). */
  urlFor(host: string = this.#addresses[0]?.host ?? ''): string {
    const a = this.#addresses.find((x) => x.host === host);
    if (!a) throw new HarnessError(`fault proxy is not listening on ${host} (listening on ${this.#addresses.map((x) => x.host).join(', ')})`);
    return `http://${isIP(host) === 6 ? `[${host}]` : host}:${a.port}`;
  }

  /** Requests that found the registry unreachable or lost it mid-response: the registry died, not Buildx. */
  get upstreamFailures(): number {
    return this.#upstreamFailures;
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
   * Makes repositories matching `repoPattern` (exact name, or RegExp) behave like a registry without
   * "last write wins" tags. The most recent matching setting wins.
   */
  setBehaviour(repoPattern: string | RegExp, behaviour: RegistryBehaviour): void {
    const same = (p: string | RegExp) => String(p) === String(repoPattern) && typeof p === typeof repoPattern;
    this.#behaviours = this.#behaviours.filter((b) => !same(b.pattern));
    this.#behaviours.push({ pattern: repoPattern, behaviour });
  }

  clearBehaviours(): void {
    this.#behaviours = [];
  }

  async stop(): Promise<void> {
    this.#stopped.abort();
    await Promise.all(
      this.#servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (!s.listening) return resolve();
            s.close(() => resolve());
            s.closeAllConnections(); // keep-alive sockets from engines would otherwise hold close() open
          }),
      ),
    );
    this.#servers = [];
    this.#agent.destroy();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  #behaviourFor(repo: string): RegistryBehaviour {
    for (let i = this.#behaviours.length - 1; i >= 0; i--) {
      const { pattern, behaviour } = this.#behaviours[i]!;
      if (typeof pattern === 'string' ? pattern === repo : ((pattern.lastIndex = 0), pattern.test(repo))) return behaviour;
    }
    return 'plain';
  }

  #matchFault(method: string, path: string, client: string | undefined): FaultRule | undefined {
    for (const r of this.#rules) {
      if (r.remaining <= 0) continue;
      if (r.rule.client && r.rule.client !== client) continue;
      if (r.rule.method && r.rule.method.toUpperCase() !== method) continue;
      const p = r.rule.path;
      if (typeof p === 'string' ? p !== path : ((p.lastIndex = 0), !p.test(path))) continue;
      r.remaining--;
      return r.rule;
    }
    return undefined;
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = performance.now();
    const seq = this.journal.reserveSeq();
    const method = (req.method ?? 'GET').toUpperCase();
    const path = (req.url ?? '/').split('?')[0]!;
    const parsed = parseRegistryPath(path);
    const client = clientAddress(req.socket.remoteAddress);
    const st: RequestState = { requestBytes: 0, responseBytes: 0, interventions: [] };

    // Journal once, whether the response finished or the connection died. Headers other than
    // User-Agent and Content-Type are never recorded (Authorization, Cookie carry credentials).
    res.once('close', () => {
      this.journal.append({
        seq,
        atMs: Math.round(started - this.#t0),
        ...(client ? { client } : {}),
        method,
        path,
        kind: parsed.kind,
        ...(parsed.repository ? { repository: parsed.repository } : {}),
        ...(parsed.reference ? { reference: parsed.reference } : {}),
        status: res.headersSent ? res.statusCode : 0, // 0: the connection died before any answer
        ...(req.headers['content-type'] ? { requestMediaType: req.headers['content-type'] } : {}),
        ...(st.responseMediaType ? { responseMediaType: st.responseMediaType } : {}),
        ...(req.headers['user-agent'] ? { userAgent: req.headers['user-agent'] } : {}),
        requestBytes: st.requestBytes,
        responseBytes: st.responseBytes,
        durationMs: Math.round(performance.now() - started),
        ...((st.digest ?? st.responseDigest) ? { digest: st.digest ?? st.responseDigest } : {}),
        ...(st.interventions.length ? { intervention: st.interventions.join('+') } : {}),
      });
    });

    try {
      const rule = this.#matchFault(method, path, client);
      if (rule) st.interventions.push(faultName(rule));
      const fault = rule?.fault;

      if (fault?.kind === 'status') {
        await this.#drain(req, st);
        const code = fault.code ?? DEFAULT_CODES[fault.status] ?? 'UNKNOWN';
        return this.#sendError(res, fault.status, code, fault.message ?? `injected by fault proxy (${faultName(rule!)})`, method, st);
      }
      if (fault?.kind === 'delay') {
        await sleep(fault.ms, undefined, { signal: this.#stopped.signal });
        if (res.destroyed) return;
      }

      let body: Buffer | undefined;
      if (method === 'PUT' && parsed.kind === 'manifests' && parsed.repository && parsed.reference) {
        // Buffered: the journal needs the digest, and behaviours decide before anything is forwarded.
        body = await this.#drain(req, st);
        st.digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
        const handled = await this.#behave(req, res, parsed.repository, parsed.reference, body, st);
        if (handled) return;
      }
      this.#forward(req, res, body, fault, st);
    } catch (err) {
      if (this.#stopped.signal.aborted || res.destroyed) return void res.destroy();
      this.#upstreamDown(res, err, method, st);
    }
  }

  /** Reads the whole request body, counting it. */
  async #drain(req: http.IncomingMessage, st: RequestState): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    st.requestBytes += body.length;
    return body;
  }

  #sendError(res: http.ServerResponse, status: number, code: string, message: string, method: string, st: RequestState): void {
    const body = Buffer.from(errorBody(code, message));
    writeHead(res, st, status, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
    if (method === 'HEAD') return void res.end();
    st.responseBytes += body.length;
    res.end(body);
  }

  #upstreamDown(res: http.ServerResponse, err: unknown, method: string, st: RequestState): void {
    if (res.destroyed) return; // the client left and we cancelled upstream: not the registry's doing
    this.#upstreamFailures++;
    st.interventions.push('upstream-unreachable');
    if (res.headersSent) return void res.destroy();
    const msg = err instanceof Error ? err.message : String(err);
    this.#sendError(res, 502, 'UNAVAILABLE', `fault proxy: registry ${this.upstream.origin} unreachable: ${msg}`, method, st);
  }

  /** Applies the repository's registry behaviour to a manifest PUT; true when the proxy answered it itself. */
  async #behave(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    repo: string,
    ref: string,
    body: Buffer,
    st: RequestState,
  ): Promise<boolean> {
    const behaviour = this.#behaviourFor(repo);
    if (behaviour === 'plain' || isDigestReference(ref)) return false; // PUTs by digest never move a tag

    if (behaviour === 'immutable-tags') {
      // ECR (imageTagMutability=IMMUTABLE), Harbor immutable tag rules, Mirantis MSR/DTR immutable repositories:
      // once a tag exists, any PUT to it is refused, even with identical content. Their status and error code
      // differ (ECR reportedly answers 400 TAG_INVALID); the lab uses one fixed answer, 409 DENIED, so cells compare.
      if (!(await this.#upstreamHas(req, `/v2/${repo}/manifests/${ref}`))) return false;
      st.interventions.push(behaviour);
      this.#sendError(res, 409, 'DENIED', `tag ${ref} is immutable`, 'PUT', st);
      return true;
    }

    // known-index-not-retagged: a dedup shortcut, answering success for an index whose digest is already stored
    // without re-pointing the tag. Not tied here to a verified named registry: it models the failure mode
    // "the registry said 201 but the tag still shows what an earlier PUT wrote". Single manifests still move it.
    const mediaType = req.headers['content-type'] ?? bodyMediaType(body);
    if (!isIndexMediaType(mediaType) || !(await this.#upstreamHas(req, `/v2/${repo}/manifests/${st.digest}`))) return false;
    st.interventions.push(behaviour);
    writeHead(res, st, 201, {
      location: `/v2/${repo}/manifests/${st.digest}`,
      'docker-content-digest': st.digest,
      'content-length': 0,
    });
    res.end();
    return true;
  }

  /** HEAD upstream; throws if the registry is unreachable. */
  #upstreamHas(req: http.IncomingMessage, path: string): Promise<boolean> {
    const headers: http.OutgoingHttpHeaders = { accept: MANIFEST_MEDIA_TYPES.join(', ') };
    if (req.headers.host) headers.host = req.headers.host;
    if (req.headers.authorization) headers.authorization = req.headers.authorization;
    return new Promise((resolve, reject) => {
      const r = http.request(new URL(path, this.upstream), { method: 'HEAD', headers, agent: this.#agent }, (up) => {
        up.resume();
        resolve(up.statusCode === 200);
      });
      r.on('error', reject);
      r.end();
    });
  }

  #forward(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer | undefined, fault: Fault | undefined, st: RequestState): void {
    const method = req.method ?? 'GET';
    // Host is kept as the client sent it (registry:5000): the registry builds absolute Location URLs for
    // uploads from it, and those must point back at the proxy, not at the registry container.
    const headers = forwardable(req.headers);
    if (body) {
      headers['content-length'] = body.length;
    }
    const up = http.request(new URL(req.url ?? '/', this.upstream), { method, headers, agent: this.#agent });

    const rangeStart = Number(/^bytes=(\d+)-/.exec(String(req.headers.range ?? ''))?.[1] ?? 0);
    const cutAt = fault?.kind === 'truncate' ? Math.max(0, fault.afterBytes - rangeStart) : Infinity;
    up.on('response', (upRes) => {
      writeHead(res, st, upRes.statusCode ?? 502, forwardable(upRes.headers));
      let sent = 0;
      let done = false;
      upRes.on('data', (chunk: Buffer) => {
        if (done) return;
        let out = chunk;
        if (fault?.kind === 'corrupt') {
          out = Buffer.allocUnsafe(chunk.length);
          for (let i = 0; i < chunk.length; i++) out[i] = chunk[i]! ^ 0xff;
        }
        if (sent + out.length >= cutAt) {
          done = true;
          const part = out.subarray(0, cutAt - sent);
          st.responseBytes += part.length;
          upRes.destroy();
          const sock = res.socket;
          if (part.length) res.write(part);
          else res.flushHeaders();
          // end() uncorks and flushes what was written, then FIN; destroy makes sure the client sees a short body.
          sock?.end(() => sock.destroy());
          return;
        }
        sent += out.length;
        st.responseBytes += out.length;
        if (!res.write(out)) upRes.pause();
      });
      res.on('drain', () => upRes.resume());
      upRes.on('end', () => {
        if (!done) res.end();
      });
      upRes.on('error', (err) => {
        if (!done) this.#upstreamDown(res, err, method, st);
      });
    });
    up.on('error', (err) => this.#upstreamDown(res, err, method, st));
    // A client that goes away cancels the upstream request too.
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });

    if (body) up.end(body);
    else {
      req.on('data', (c: Buffer) => (st.requestBytes += c.length));
      req.pipe(up);
    }
  }
}
