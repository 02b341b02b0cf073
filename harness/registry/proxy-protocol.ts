// The PROXY protocol, version 1 (HAProxy's text header), between the lab's relay and its host-side servers.
// When cells run on the lab's rootless engine, their network lives in that engine's network namespace, and
// the fault proxy (and any other lab server) listens in the host's. A relay inside the engine's namespace
// (lab/netns-relay.ts) accepts there and forwards each connection to a unix socket of the server, opening
// it with one line that says who connected: the journal and per-cell faults go by client address, which the
// relay would otherwise hide. Only version 1, TCP4 and TCP6: the relay writes nothing else. Hand-written
// because it is one line each way; the npm packages for it wrap whole servers.
import net, { type Socket } from 'node:net';
import type http from 'node:http';
import { chmodSync, rmSync } from 'node:fs';
import { HarnessError } from '../errors.ts';

export interface ProxiedPeer {
  family: 'TCP4' | 'TCP6';
  source: string;
  destination: string;
  sourcePort: number;
  destinationPort: number;
}

/** The longest v1 header the spec allows, CRLF included. */
export const MAX_HEADER_BYTES = 107;

/** The header line for a connection; pure. */
export function formatProxyHeader(p: ProxiedPeer): string {
  return `PROXY ${p.family} ${p.source} ${p.destination} ${p.sourcePort} ${p.destinationPort}\r\n`;
}

function port(s: string): number | undefined {
  if (!/^(0|[1-9]\d{0,4})$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 65_535 ? n : undefined;
}

/** A header line (without its CRLF), or why it is not one; pure. Strict: one space between fields, canonical addresses. */
export function parseProxyHeader(line: string): ProxiedPeer | { error: string } {
  const parts = line.split(' ');
  if (parts.length !== 6 || parts[0] !== 'PROXY') return { error: 'not a PROXY v1 header' };
  const [, family, source = '', destination = '', sp = '', dp = ''] = parts;
  if (family !== 'TCP4' && family !== 'TCP6') return { error: `family ${JSON.stringify(family)} is not TCP4 or TCP6` };
  const want = family === 'TCP4' ? 4 : 6;
  for (const a of [source, destination]) if (net.isIP(a) !== want) return { error: `${JSON.stringify(a)} is not an IPv${want} address` };
  const sourcePort = port(sp);
  const destinationPort = port(dp);
  if (sourcePort === undefined || destinationPort === undefined) return { error: 'a port is not a number from 0 to 65535' };
  return { family, source, destination, sourcePort, destinationPort };
}

const peers = new WeakMap<object, ProxiedPeer>();

/** Whether a connection came through a relay (its peer is then a DinD engine's address, whatever it says). */
export function isRelayed(socket: object): boolean {
  return peers.has(socket);
}

/** Who is at the other end of a connection: the relayed peer when it came through the relay, else the socket's own. */
export function peerAddress(socket: Pick<Socket, 'remoteAddress'>): string | undefined {
  return peers.get(socket)?.source ?? socket.remoteAddress;
}

/**
 * Serves `server`'s connections from a unix socket at `socketPath` (mode 0600: host root's relay only), each
 * opened with a PROXY v1 header; a connection whose first line is not one is closed unanswered.
 */
export async function listenRelayed(server: http.Server, socketPath: string): Promise<net.Server> {
  const listener = net.createServer((socket) => {
    let head = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), 10_000);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n');
      if (end < 0) {
        if (head.length >= MAX_HEADER_BYTES) socket.destroy();
        return;
      }
      socket.off('data', onData);
      clearTimeout(timer);
      const peer = end + 2 <= MAX_HEADER_BYTES ? parseProxyHeader(head.subarray(0, end).toString('latin1')) : { error: 'too long' };
      if ('error' in peer) return void socket.destroy();
      peers.set(socket, peer);
      socket.pause();
      const rest = head.subarray(end + 2);
      if (rest.length) socket.unshift(rest);
      server.emit('connection', socket);
      socket.resume();
    };
    socket.on('data', onData);
    socket.on('error', () => socket.destroy());
  });
  rmSync(socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    listener.once('error', (err) => reject(new HarnessError(`cannot listen on ${socketPath}: ${err.message}`, { cause: err })));
    listener.listen(socketPath, () => resolve());
  });
  chmodSync(socketPath, 0o600);
  server.once('close', () => listener.close());
  return listener;
}
