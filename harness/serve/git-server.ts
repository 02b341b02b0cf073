// ${git}: a real Git server over smart HTTP. A Node front (host-server.ts: bounded, journaled) checks the
// path and the credentials, then runs Debian's `git http-backend` (the host's /usr/bin/git) as CGI on the
// repositories the lab made (git-repos.ts). Read-only: only info/refs?service=git-upload-pack and
// git-upload-pack are passed on; receive-pack, the dumb protocol and everything else are refused here.
//
// When the lab runs as root, http-backend runs as nobody (65534) through setpriv, with no groups and
// no_new_privs: git parses what a client sends (pkt-lines, wants, filters), and that parser should not hold
// root on the host. The repositories stay root's, readable by all; safe.directory is given on git's command
// line config (GIT_CONFIG_COUNT), since the owner differs.
import { spawn } from 'node:child_process';
import { timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Journal } from '../registry/journal.ts';
import { cgiEnv, parseCgiHead } from './cgi.ts';
import { GIT, cleanGitEnv, makeRepos } from './git-repos.ts';
import { HostServer, type ListenAddress, type SourceRequest } from './host-server.ts';
import type { CaseSource } from './http-files.ts';
import type { GitAuth, GitServeSpec } from './spec.ts';
import { SETPRIV, unprivilegedArgv } from './unprivileged.ts';

export interface GitServerLimits {
  /** http-backends running at once; more requests wait */
  backends: number;
  /** requests waiting for a backend; more are answered 503 */
  queue: number;
  /** a request body (upload-pack negotiation) */
  requestBytes: number;
  /** a response (a pack) */
  responseBytes: number;
  /** one backend's run */
  timeoutMs: number;
}

export const DEFAULT_GIT_LIMITS: GitServerLimits = { backends: 8, queue: 64, requestBytes: 16 << 20, responseBytes: 512 << 20, timeoutMs: 120_000 };

/** The request a route names: a repository and its smart-HTTP service, or why it is refused; pure. */
export function gitRoute(method: string, pathname: string, query: string): { repo: string; pathInfo: string } | { status: number; why: string } {
  const m = /^\/([a-z0-9][a-z0-9_-]{0,62})\.git\/(info\/refs|git-upload-pack|git-receive-pack)$/.exec(pathname);
  if (!m) return { status: 404, why: 'not a smart-HTTP path (/NAME.git/info/refs?service=git-upload-pack, /NAME.git/git-upload-pack)' };
  const [, repo, service] = m as unknown as [string, string, string];
  if (service === 'git-receive-pack' || /(^|&)service=git-receive-pack(&|$)/.test(query)) return { status: 403, why: "the lab's Git server is read-only" };
  if (service === 'info/refs') {
    if (method !== 'GET' && method !== 'HEAD') return { status: 405, why: 'info/refs takes GET' };
    if (query !== 'service=git-upload-pack') return { status: 403, why: 'only the smart protocol is served (info/refs?service=git-upload-pack)' };
  } else if (method !== 'POST') return { status: 405, why: 'git-upload-pack takes POST' };
  return { repo, pathInfo: `/${repo}.git/${service}` };
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Whether an Authorization header satisfies `auth`; pure. A token is accepted as Basic with any user name
 * (BuildKit sends x-access-token:TOKEN from GIT_AUTH_TOKEN) or as Bearer.
 */
export function authorized(auth: GitAuth | undefined, header: string | undefined): boolean {
  if (!auth) return true;
  if (!header) return false;
  const bearer = /^Bearer\s+(\S+)$/i.exec(header);
  if (bearer) return 'token' in auth && sameSecret(bearer[1]!, auth.token);
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header);
  if (!basic) return false;
  const pair = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const colon = pair.indexOf(':');
  if (colon < 0) return false;
  const user = pair.slice(0, colon);
  const pass = pair.slice(colon + 1);
  return 'token' in auth ? sameSecret(pass, auth.token) : sameSecret(user, auth.username) && sameSecret(pass, auth.password);
}

/** How http-backend is started: as nobody when we are root and setpriv is there. */
export function backendArgv(uid: number | undefined, hasSetpriv: boolean): { argv: string[]; as: string } {
  const { argv, as } = unprivilegedArgv([GIT, 'http-backend'], uid, hasSetpriv);
  return { argv, as };
}

export class GitServer {
  #running = 0;
  readonly #waiting: (() => void)[] = [];
  readonly #children = new Set<ReturnType<typeof spawn>>();
  #stopped = false;
  readonly backend = backendArgv(process.getuid?.(), existsSync(SETPRIV));
  /** each repository's main commit ('' for an empty one) */
  heads: Record<string, string> = {};

  private constructor(
    readonly root: string,
    private readonly spec: GitServeSpec,
    private readonly limits: GitServerLimits,
    private server?: HostServer,
  ) {}

  static async start(spec: GitServeSpec, source: CaseSource, journal: Journal, listen: readonly ListenAddress[], limits: Partial<GitServerLimits> = {}): Promise<GitServer> {
    // in /tmp, not the lab's cache under /root (0700): nobody must reach it; the pid names the run that made it
    const root = mkdtempSync(path.join(os.tmpdir(), `buildx-lab-git-${process.pid}-`));
    chmodSync(root, 0o755); // http-backend runs as nobody and must reach the repositories
    const self = new GitServer(root, spec, { ...DEFAULT_GIT_LIMITS, ...limits });
    try {
      self.server = await HostServer.start('git', journal, listen, (x) => self.#handle(x));
      // The server listens first: .gitmodules names its URL. Requests before the repositories exist get 404.
      self.heads = await makeRepos(root, spec.repos, source, (name) => `${self.url}/${name}.git`);
    } catch (e) {
      await self.stop();
      throw e;
    }
    return self;
  }

  get url(): string {
    return this.server!.urlFor();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const c of this.#children) c.kill('SIGKILL');
    await this.server?.stop();
    rmSync(this.root, { recursive: true, force: true });
  }

  async #handle(x: SourceRequest): Promise<void> {
    if (!authorized(this.spec.auth, x.req.headers.authorization)) {
      x.interventions.push(x.req.headers.authorization ? 'auth-refused' : 'auth-required');
      x.req.resume();
      return x.answer(401, 'authentication required', { 'www-authenticate': 'Basic realm="buildx-lab git"' });
    }
    const route = gitRoute(x.method, x.path, x.query);
    if ('status' in route) {
      x.req.resume();
      return x.answer(route.status, route.why);
    }
    if (!(route.repo in this.spec.repos)) {
      x.req.resume();
      return x.answer(404, `repository ${route.repo}.git is not served (repos: ${Object.keys(this.spec.repos).join(', ')})`);
    }
    if (this.#running >= this.limits.backends) {
      if (this.#waiting.length >= this.limits.queue) {
        x.req.resume();
        return x.answer(503, 'too many Git requests at once', { 'retry-after': '1' });
      }
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    this.#running++;
    try {
      await this.#backend(x, route.pathInfo);
    } finally {
      this.#running--;
      this.#waiting.shift()?.();
    }
  }

  /** One http-backend run: the request body in, the CGI answer out, both bounded. */
  #backend(x: SourceRequest, pathInfo: string): Promise<void> {
    if (this.#stopped) return Promise.resolve(x.answer(503, 'the lab is stopping'));
    const env = {
      ...cleanGitEnv(this.root),
      ...cgiEnv(x.req, pathInfo, x.query, x.client),
      GIT_PROJECT_ROOT: this.root,
      GIT_HTTP_EXPORT_ALL: '1',
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'safe.directory',
      GIT_CONFIG_VALUE_0: '*',
    };
    const [file, ...args] = this.backend.argv as [string, ...string[]];
    const child = spawn(file, args, { env, cwd: this.root, stdio: ['pipe', 'pipe', 'pipe'] });
    this.#children.add(child);
    return new Promise<void>((resolve) => {
      let head: Buffer | undefined = Buffer.alloc(0);
      let stderr = '';
      const fail = (status: number, why: string, tag: string) => {
        x.interventions.push(tag);
        child.kill('SIGKILL');
        if (x.res.headersSent) x.res.destroy();
        else x.answer(status, why);
      };
      const timer = setTimeout(() => fail(504, `git http-backend took over ${this.limits.timeoutMs} ms`, 'backend-timeout'), this.limits.timeoutMs);
      x.req.on('data', (c: Buffer) => {
        x.requestBytes += c.length;
        if (x.requestBytes > this.limits.requestBytes) return fail(413, `request body over ${this.limits.requestBytes} bytes`, 'too-large');
        if (!child.stdin.write(c)) x.req.pause();
      });
      child.stdin.on('drain', () => x.req.resume());
      child.stdin.on('error', () => undefined); // the backend may exit before reading all (an error answer)
      x.req.on('end', () => child.stdin.end());
      x.req.on('error', () => child.kill('SIGKILL'));
      x.res.on('close', () => {
        if (child.exitCode === null) child.kill('SIGKILL');
      });
      child.stderr.on('data', (c: Buffer) => {
        if (stderr.length < 8192) stderr += c.toString('utf8');
      });
      child.stdout.on('data', (c: Buffer) => {
        if (head) {
          head = Buffer.concat([head, c]);
          let parsed: ReturnType<typeof parseCgiHead>;
          try {
            parsed = parseCgiHead(head);
          } catch (e) {
            return fail(502, `git http-backend: ${(e as Error).message}`, 'bad-cgi');
          }
          if (!parsed) return;
          x.res.writeHead(parsed.status, parsed.headers);
          c = head.subarray(parsed.bodyStart);
          head = undefined;
        }
        x.responseBytes += c.length;
        if (x.responseBytes > this.limits.responseBytes) return fail(502, 'response too large', 'too-large');
        if (c.length && !x.res.write(c)) child.stdout.pause();
      });
      x.res.on('drain', () => child.stdout.resume());
      child.on('error', (e) => fail(500, `cannot run git http-backend: ${e.message}`, 'backend-error'));
      child.on('close', (code) => {
        clearTimeout(timer);
        this.#children.delete(child);
        if (head !== undefined && !x.res.headersSent) x.answer(500, `git http-backend exited ${code} without an answer: ${stderr.trim().slice(0, 500)}`);
        else if (!x.res.writableEnded && !x.res.destroyed) x.res.end();
        resolve();
      });
    });
  }
}
