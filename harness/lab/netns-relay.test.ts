// The relay across a real network namespace (unshare --net, as root; no engine needed): a client inside
// reaches a host-side server through it, named by its address inside, and nothing listens on the host.
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenRelayed, peerAddress } from '../registry/proxy-protocol.ts';
import { NetnsRelay } from './netns-relay.ts';

const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)('NetnsRelay (root: makes a network namespace)', () => {
  let holder: ChildProcess;
  let netns: string;
  let dir: string;
  let relay: NetnsRelay | undefined;
  const server = http.createServer((req, res) => res.end(`from ${peerAddress(req.socket)}`));
  const port = 20_000 + Math.floor(Math.random() * 20_000);

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'relay-'));
    await listenRelayed(server, path.join(dir, 'server.sock'));
    // A namespace with loopback up and a second address, held open by a sleeping process.
    holder = spawn('unshare', ['--net', 'sh', '-c', 'ip link set lo up && ip addr add 10.77.0.1/32 dev lo && echo up && exec sleep 120'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((r) => holder.stdout?.once('data', r));
    netns = `/proc/${holder.pid}/ns/net`;
  });
  afterAll(async () => {
    await relay?.stop();
    holder.kill('SIGKILL');
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const getInside = (url: string) =>
    execa('nsenter', [`--net=${netns}`, '--', process.execPath, '-e', `fetch(${JSON.stringify(url)}).then(r => r.text()).then(t => process.stdout.write(t))`], { reject: false });

  it('forwards a connection made inside the namespace, naming the client by its address there', async () => {
    relay = await NetnsRelay.start(netns, [{ host: '10.77.0.1', port, socket: path.join(dir, 'server.sock') }]);
    const r = await getInside(`http://10.77.0.1:${port}/v2/`);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('from 10.77.0.1');
  });

  it('listens inside the namespace only: the host has nothing on that address and port', async () => {
    const refused = await new Promise<string>((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.once('connect', () => resolve('connected'));
      c.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
  });

  it('says why when it cannot listen (an address the namespace does not have), and leaves no process', async () => {
    await expect(NetnsRelay.start(netns, [{ host: '10.88.0.1', port, socket: path.join(dir, 'server.sock') }])).rejects.toThrow(/relay into .* exited.*EADDRNOTAVAIL/s);
  });

  it('exits when it is stopped', async () => {
    const pid = relay?.pid;
    await relay?.stop();
    relay = undefined;
    expect(() => process.kill(pid!, 0)).toThrow();
  });
});
