// A relay from another network namespace to the lab's host-side servers. On the lab's rootless engine the
// lab network, its gateway and every DinD engine live in that engine's network namespace, which the host's
// servers (the fault proxy) cannot listen in. The relay is started there (nsenter --net, as the lab's own
// root, which needs nothing from the engine), listens on the lab network's gateway, and forwards each
// connection to a unix socket of the server with a PROXY v1 header, so the journal still knows which DinD
// engine asked. It dies with the lab: it exits when its stdin, a pipe from this process, closes.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { HarnessError } from '../errors.ts';
import { lastLines } from '../text.ts';

const PROGRAM = fileURLToPath(new URL('./netns-relay-program.mjs', import.meta.url));

export interface RelayRoute {
  /** where it listens inside the namespace */
  host: string;
  port: number;
  /** the host-side server's unix socket, which takes PROXY v1 (registry/proxy-protocol.ts) */
  socket: string;
}

export class NetnsRelay {
  private constructor(private readonly child: ChildProcess) {}

  /** Starts the relay in the network namespace at `netns` (e.g. /proc/PID/ns/net) once every route listens. */
  static async start(netns: string, routes: readonly RelayRoute[], timeoutMs = 15_000): Promise<NetnsRelay> {
    const child = spawn('nsenter', [`--net=${netns}`, '--', process.execPath, PROGRAM, JSON.stringify(routes)], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' },
    });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString()).slice(-4096);
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(`did not listen within ${timeoutMs / 1000} s`), timeoutMs);
      const fail = (why: string) => {
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(new HarnessError(`the lab's relay into ${netns} ${why}${stderr ? `: ${lastLines(stderr, 5)}` : ''}`));
      };
      child.stdout?.on('data', (c: Buffer) => {
        if (c.toString().includes('ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('error', (e) => fail(`could not start (${e.message})`));
      child.once('exit', (code, signal) => fail(`exited (${signal ?? `exit ${code}`})`));
    });
    child.removeAllListeners('exit');
    child.stdout?.destroy();
    return new NetnsRelay(child);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin?.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(timer);
  }
}
