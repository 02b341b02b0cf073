// The host's canaries for the boundary tests: a root-only file under a 0700 directory, a listener on the
// host's loopback that counts connections, and a marked process. An attack that touched any of them would
// show: the file read or written beside, a connection counted, the marker seen.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface HostCanaries {
  /** 0700 directory holding `secret` (0600) */
  dir: string;
  secret: string;
  /** the listener's port on 127.0.0.1 */
  port: number;
  /** connections the listener took so far */
  connections(): number;
  /** the marked process's argument: `sleep <marker>` */
  marker: string;
  process: ChildProcess;
  close(): void;
}

export async function hostCanaries(): Promise<HostCanaries> {
  const dir = mkdtempSync(path.join(tmpdir(), 'bxl-canary-'));
  chmodSync(dir, 0o700);
  const secret = randomBytes(12).toString('hex');
  writeFileSync(path.join(dir, 'secret'), secret, { mode: 0o600 });
  let connections = 0;
  const listener: Server = createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  const marker = String(8_000_000 + Math.floor(Math.random() * 1_999_999));
  const process = spawn('sleep', [marker], { stdio: 'ignore' });
  return {
    dir,
    secret,
    port: (listener.address() as { port: number }).port,
    connections: () => connections,
    marker,
    process,
    close: () => {
      listener.close();
      process.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
