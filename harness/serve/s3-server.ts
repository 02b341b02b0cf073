// ${s3}: a real S3 server for `type=s3` cache. versitygw (Versity's S3 gateway, Apache-2.0, maintained; its
// posix backend keeps each bucket as a directory) is built from the Go module proxy and listens only on a
// unix socket in a directory of its own; it runs as nobody when the lab is root. A Node front
// (host-server.ts: bounded, journaled per cell) listens where the lab says and passes a request on only
// when s3-spec.ts's s3Route allows it: the bucket bound to the client's address, nothing else. Headers
// reach the server as signed (Host included), so the server checks every SigV4 signature itself.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { LabConfig } from '../config.ts';
import { HarnessError } from '../errors.ts';
import type { ProgressSink } from '../progress.ts';
import { ensureGoTool, type GoTool, type GoToolOptions } from '../provision/go-tool.ts';
import type { Journal } from '../registry/journal.ts';
import { HostServer, type ListenAddress, type SourceRequest } from './host-server.ts';
import { bucketProblem, makeCredentials, s3ErrorXml, s3Route, type S3Credentials, type S3ServeSpec } from './s3-spec.ts';
import { NOBODY, SETPRIV, asNobody } from './unprivileged.ts';

/** The S3 server: the newest versitygw the module proxy serves (its version list holds only this one). */
export const VERSITYGW: GoTool = {
  name: 'versitygw',
  module: 'github.com/versity/versitygw',
  version: 'v1.8.0',
  pkg: './cmd/versitygw',
  ldflagsX: { 'main.Version': 'v1.8.0', 'main.Build': '{{revision}}' },
};

export interface S3ServerLimits {
  /** bytes of request bodies (uploads) over the server's life; past it, uploads get 507 */
  uploadBytes: number;
  /** how long versitygw may take to answer on its socket at start */
  startMs: number;
}

// 4 GiB: a shift (4 << 30) would overflow to 0 in 32 bits
export const DEFAULT_S3_LIMITS: S3ServerLimits = { uploadBytes: 4 * 2 ** 30, startMs: 20_000 };

/**
 * Headers never passed on: hop-by-hop ones (Node frames each side itself). Expect stays: a client may sign
 * it, and the server answering 100-continue to a body already on its way is harmless.
 */
const DROPPED = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'upgrade', 'transfer-encoding']);

export class S3Server {
  readonly #buckets = new Map<string, string>();
  #uploaded = 0;
  #exited?: string;
  #server?: HostServer;
  #child?: ChildProcess;
  readonly backend: { argv: string[]; as: string; nobody: boolean };

  private constructor(
    readonly root: string,
    readonly spec: S3ServeSpec,
    readonly credentials: S3Credentials,
    private readonly limits: S3ServerLimits,
  ) {
    this.backend = asNobody([path.join(root, 'versitygw'), '--port', this.socket, '--region', spec.region, 'posix', this.dataDir], process.getuid?.(), existsSync(SETPRIV));
  }

  /** Builds versitygw if the cache lacks it (a Go compile in the machine's one slot). */
  static ensureBinary(config: LabConfig, progress: ProgressSink, opts: GoToolOptions = {}) {
    return ensureGoTool(config, VERSITYGW, progress, opts);
  }

  static async start(
    spec: S3ServeSpec,
    binary: string,
    journal: Journal,
    listen: readonly ListenAddress[],
    limits: Partial<S3ServerLimits> = {},
    credentials: S3Credentials = makeCredentials(),
  ): Promise<S3Server> {
    // in /tmp like the Git server's repositories (the cache under /root is 0700 and nobody must reach this)
    const root = mkdtempSync(path.join(os.tmpdir(), `buildx-lab-s3-${process.pid}-`));
    const self = new S3Server(root, spec, credentials, { ...DEFAULT_S3_LIMITS, ...limits });
    try {
      mkdirSync(self.dataDir, { mode: 0o700 });
      // a copy beside the data: nobody cannot reach the cache under /root (0700); root's, read-only
      copyFileSync(binary, path.join(root, 'versitygw'));
      chmodSync(path.join(root, 'versitygw'), 0o555);
      // the tree is versitygw's alone: nobody's when it runs as nobody (root reads it anyway, to remove it)
      if (self.backend.nobody) for (const d of [root, self.dataDir]) chownSync(d, NOBODY, NOBODY);
      await self.#spawn();
      self.#server = await HostServer.start('s3', journal, listen, (x) => self.#handle(x));
    } catch (e) {
      await self.stop();
      throw e;
    }
    return self;
  }

  get socket(): string {
    return path.join(this.root, 's3.sock');
  }

  get dataDir(): string {
    return path.join(this.root, 'data');
  }

  get url(): string {
    return this.#server!.urlFor();
  }

  /**
   * A fresh bucket for a cell, bound to its engine's address: requests from there reach this bucket
   * only (the one bound before to that address is emptied). A bucket of the posix backend is a directory
   * of its root (versitygw's documented layout); the root credentials own every bucket.
   */
  openBucket(bucket: string, client: string): void {
    const why = bucketProblem(bucket);
    if (why) throw new HarnessError(`bucket ${bucket} ${why}`);
    if (!net.isIP(client)) throw new HarnessError(`the cell's engine has no lab address (${client}): its S3 requests could not be told apart`);
    const before = this.#buckets.get(client);
    if (before) this.closeBucket(before);
    const dir = path.join(this.dataDir, bucket);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { mode: 0o755 });
    if (this.backend.nobody) chownSync(dir, NOBODY, NOBODY);
    this.#buckets.set(client, bucket);
  }

  /** Unbinds the bucket and removes what the cell left in it. */
  closeBucket(bucket: string): void {
    for (const [client, b] of this.#buckets) if (b === bucket) this.#buckets.delete(client);
    if (!bucketProblem(bucket)) rmSync(path.join(this.dataDir, bucket), { recursive: true, force: true });
  }

  async stop(): Promise<void> {
    await this.#server?.stop();
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
    }
    rmSync(this.root, { recursive: true, force: true });
  }

  async #spawn(): Promise<void> {
    const [file, ...args] = this.backend.argv as [string, ...string[]];
    // credentials through the environment (ROOT_ACCESS_KEY_ID/ROOT_SECRET_ACCESS_KEY), never argv (/proc/PID/cmdline is world-readable)
    const env = { PATH: '/usr/bin:/bin', ROOT_ACCESS_KEY_ID: this.credentials.accessKeyId, ROOT_SECRET_ACCESS_KEY: this.credentials.secretAccessKey };
    const child = spawn(file, args, { env, cwd: this.root, stdio: ['ignore', 'ignore', 'pipe'] });
    this.#child = child;
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => {
      if (stderr.length < 8192) stderr += c.toString('utf8');
    });
    child.on('exit', (code, signal) => {
      this.#exited = `versitygw exited (${signal ?? code}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`;
    });
    child.on('error', (e) => {
      this.#exited = `versitygw could not start: ${e.message}`;
    });
    const until = Date.now() + this.limits.startMs;
    for (;;) {
      if (this.#exited) throw new HarnessError(`the S3 server did not start: ${this.#exited}`);
      if (await answers(this.socket)) return;
      if (Date.now() > until) throw new HarnessError(`the S3 server did not answer on ${this.socket} within ${this.limits.startMs} ms: ${stderr.trim().slice(-500)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  #refuse(x: SourceRequest, status: number, code: string, why: string): void {
    x.interventions.push(`refused-${code}`);
    x.req.resume();
    if (x.res.headersSent) return void x.res.destroy();
    const body = Buffer.from(s3ErrorXml(code, why, x.path));
    x.res.writeHead(status, { 'content-type': 'application/xml', 'content-length': body.length });
    x.responseBytes += x.method === 'HEAD' ? 0 : body.length;
    x.res.end(x.method === 'HEAD' ? undefined : body);
  }

  #handle(x: SourceRequest): Promise<void> | void {
    const copy = x.req.headers['x-amz-copy-source'];
    // Node joins a repeated header with ", ", which a server may read otherwise: one copy source only
    const copies = x.req.rawHeaders.filter((h, i) => i % 2 === 0 && h.toLowerCase() === 'x-amz-copy-source').length;
    if (copies > 1) return this.#refuse(x, 400, 'InvalidArgument', 'x-amz-copy-source is given more than once');
    const route = s3Route(
      {
        method: x.method,
        path: x.path,
        query: x.query,
        ...(copy !== undefined ? { copySource: Array.isArray(copy) ? copy.join(',') : copy } : {}),
        ...(x.req.headers['x-amz-copy-source-range'] !== undefined ? { copyRange: true } : {}),
      },
      x.client ? this.#buckets.get(x.client) : undefined,
    );
    if ('status' in route) return this.#refuse(x, route.status, route.code, route.why);
    x.repository = route.bucket;
    if (route.key) x.reference = route.key;
    if (this.#exited) return this.#refuse(x, 503, 'ServiceUnavailable', this.#exited);
    return this.#forward(x);
  }

  /** Passes the request to versitygw as it came (headers as signed), streaming both ways, uploads counted. */
  #forward(x: SourceRequest): Promise<void> {
    const headers: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(x.req.headers)) if (v !== undefined && !DROPPED.has(k)) headers[k] = v;
    const length = /^\d{1,15}$/.test(String(x.req.headers['content-length'] ?? '')) ? Number(x.req.headers['content-length']) : undefined;
    return new Promise<void>((resolve) => {
      let answered = false;
      // a connection of its own (agent: false), as the registry proxy does: a kept-alive one the server has
      // just closed would fail a request that did nothing wrong (EPIPE)
      const up = http.request({ socketPath: this.socket, method: x.method, path: x.req.url, headers, agent: false }, (res) => {
        answered = true;
        // the server's header lines as sent (a repeated one stays repeated), hop-by-hop ones left out
        const out: string[] = [];
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) if (!DROPPED.has(res.rawHeaders[i]!.toLowerCase())) out.push(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
        x.res.writeHead(res.statusCode ?? 502, out);
        res.on('data', (c: Buffer) => {
          x.responseBytes += c.length;
          if (!x.res.write(c)) res.pause();
        });
        x.res.on('drain', () => res.resume());
        res.on('end', () => {
          x.res.end();
          resolve();
        });
        res.on('error', () => {
          x.res.destroy();
          resolve();
        });
      });
      up.on('error', (e) => {
        if (answered && x.res.writableEnded) return;
        x.interventions.push('server-error');
        if (x.res.headersSent) x.res.destroy();
        else this.#refuse(x, 502, 'InternalError', `the S3 server: ${e.message}`);
        resolve();
      });
      x.res.on('close', () => up.destroy());
      x.req.on('data', (c: Buffer) => {
        x.requestBytes += c.length;
        this.#uploaded += c.length;
        if (this.#uploaded > this.limits.uploadBytes) {
          x.interventions.push('too-large');
          up.destroy();
          if (!x.res.headersSent) this.#refuse(x, 507, 'EntityTooLarge', `the lab's S3 server took ${this.limits.uploadBytes} bytes of uploads already`);
          else x.res.destroy();
          return;
        }
        // The last byte of a body of known length ends the request in the same write: an end() of its own
        // is one more (empty) write, which fails (EPIPE) when the server has answered and closed meanwhile,
        // and the error throws away the answer already read.
        if (x.requestBytes === length) up.end(c);
        else if (!up.write(c)) x.req.pause();
      });
      up.on('drain', () => x.req.resume());
      x.req.on('end', () => {
        if (!up.writableEnded) up.end();
      });
      x.req.on('error', () => up.destroy());
    });
  }
}

/** Whether an HTTP server answers on the unix socket (any status). */
function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.request({ socketPath, method: 'HEAD', path: '/', timeout: 1000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}
