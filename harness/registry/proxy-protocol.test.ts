// The PROXY v1 header: its parser on hostile lines, and a real http.Server behind listenRelayed, whose
// handler must see the relayed peer, never a header the client made up later or a half-sent one.
import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatProxyHeader, listenRelayed, parseProxyHeader, peerAddress } from './proxy-protocol.ts';

describe('parseProxyHeader', () => {
  it('reads what formatProxyHeader writes', () => {
    const peer = { family: 'TCP4', source: '172.30.0.5', destination: '172.30.0.1', sourcePort: 40_000, destinationPort: 5000 } as const;
    expect(parseProxyHeader(formatProxyHeader(peer).trimEnd())).toEqual(peer);
    const v6 = { family: 'TCP6', source: 'fd00::5', destination: 'fd00::1', sourcePort: 1, destinationPort: 65_535 } as const;
    expect(parseProxyHeader(formatProxyHeader(v6).trimEnd())).toEqual(v6);
  });

  it.each([
    ['', /not a PROXY v1 header/],
    ['GET / HTTP/1.1', /not a PROXY v1 header/],
    ['PROXY UNKNOWN', /not a PROXY v1 header/],
    ['PROXY UNIX 1.2.3.4 1.2.3.4 1 2', /not TCP4 or TCP6/],
    ['PROXY TCP4 1.2.3.4  1.2.3.4 1 2', /not a PROXY v1 header/],
    ['PROXY TCP4 fd00::1 1.2.3.4 1 2', /not an IPv4 address/],
    ['PROXY TCP6 1.2.3.4 fd00::1 1 2', /not an IPv6 address/],
    ['PROXY TCP4 1.2.3.4 1.2.3.4 65536 2', /port/],
    ['PROXY TCP4 1.2.3.4 1.2.3.4 01 2', /port/],
    ['PROXY TCP4 1.2.3.4 1.2.3.4 -1 2', /port/],
    ['PROXY TCP4 01.2.3.4 1.2.3.4 1 2', /not an IPv4 address/],
  ])('refuses %j', (line, why) => {
    const r = parseProxyHeader(line);
    expect('error' in r && r.error).toMatch(why);
  });
});

describe('listenRelayed', () => {
  let dir: string;
  let socket: string;
  const server = http.createServer((req, res) => res.end(`${peerAddress(req.socket)} ${req.url}`));

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'pp-'));
    socket = path.join(dir, 's.sock');
    await listenRelayed(server, socket);
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Sends `parts` with a pause between them; the whole answer, or '' when the connection closed unanswered. */
  async function exchange(parts: string[]): Promise<string> {
    const c = net.connect(socket);
    let out = '';
    c.on('data', (d) => (out += d));
    c.on('error', () => undefined);
    const closed = new Promise((r) => c.once('close', r));
    for (const p of parts) {
      c.write(p);
      await new Promise((r) => setTimeout(r, 20));
    }
    await closed;
    return out.split('\r\n\r\n')[1] ?? '';
  }
  const request = 'GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
  const header = 'PROXY TCP4 172.30.0.5 172.30.0.1 40000 5000\r\n';

  it('is a socket for its owner only', () => expect(statSync(socket).mode & 0o777).toBe(0o600));

  it('gives the handler the relayed peer, whether the header comes with the request or before it in pieces', async () => {
    expect(await exchange([header + request])).toBe('172.30.0.5 /v2/');
    expect(await exchange([header.slice(0, 9), header.slice(9), request.slice(0, 7), request.slice(7)])).toBe('172.30.0.5 /v2/');
  });

  it('closes a connection that does not open with a header, or opens with an overlong one, unanswered', async () => {
    expect(await exchange([request])).toBe('');
    expect(await exchange([`PROXY TCP4 ${'1'.repeat(120)}`])).toBe('');
    expect(await exchange(['PROXY TCP4 172.30.0.5 172.30.0.1 40000 5000 extra\r\n', request])).toBe('');
  });

  it('reads only the first line as the header: a second PROXY line is the request, not a new peer', async () => {
    const out = await exchange([header, 'PROXY TCP4 10.9.9.9 172.30.0.1 1 5000\r\n', request]);
    expect(out).not.toContain('10.9.9.9');
  });
});
