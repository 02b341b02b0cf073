// Where the fault proxy may listen: never on the unspecified address, which would expose the registry (and
// its faults) on every interface of the host. A spelling is checked as given, after DNS, and as bound.
import { lookup } from 'node:dns/promises';
import type http from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { HarnessError, UsageError } from '../errors.ts';
import { listenRelayed } from './proxy-protocol.ts';

export interface ListenAddress {
  host: string;
  port: number;
  /**
   * Listen on this unix socket instead, for a relay that listens at host:port in another network namespace
   * (a rootless engine's) and opens each connection with a PROXY v1 line (registry/proxy-protocol.ts).
   */
  relayedVia?: string;
}

/**
 * Whether a listen host is (or a URL parser turns it into) the unspecified address: '0', '0x0', '0.0',
 * '::', '::ffff:0:0' and friends. Names are checked again after DNS resolution, and the bound address after
 * listen(), so nothing reaches the wildcard through a spelling this misses.
 */
export function isUnspecifiedAddress(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1');
  if (h === '') return true;
  let canonical: string;
  try {
    canonical = new URL(`http://${h.includes(':') ? `[${h}]` : h}/`).hostname;
  } catch {
    return false;
  }
  return canonical === '0.0.0.0' || canonical === '[::]' || canonical === '[::ffff:0:0]';
}

export function refuseWildcard(host: string, resolved?: string): never {
  throw new UsageError(
    `fault proxy refuses to listen on "${host}"${resolved && resolved !== host ? ` (it resolves to ${resolved})` : ''}: ` +
      'it would expose the registry (and its faults) on every interface of the host; pass the lab network gateway IP and/or 127.0.0.1',
  );
}

/** The host as given: throws at once for a literal spelling of the unspecified address. */
export function checkListenHost(host: string): void {
  if (isUnspecifiedAddress(host)) refuseWildcard(host);
}

/** The host as the resolver sees it ('0', '0x0', names in /etc/hosts...): throws if any address is unspecified. */
export async function checkResolvedHost(host: string): Promise<void> {
  const resolved = await lookup(host.replace(/^\[(.*)\]$/, '$1'), { all: true, verbatim: true }).catch(() => []);
  const wildcard = resolved.find((r) => isUnspecifiedAddress(r.address));
  if (wildcard) refuseWildcard(host, wildcard.address);
}

/**
 * Binds `server` to `a` exactly as given, after checking the name as the resolver sees it, then the address
 * actually bound: both must be specific. `what` names the server in errors. Returns the bound address.
 */
export async function bindExactly(server: http.Server, a: ListenAddress, what: string): Promise<ListenAddress> {
  if (a.relayedVia) {
    await listenRelayed(server, a.relayedVia);
    return { host: a.host, port: a.port };
  }
  await checkResolvedHost(a.host);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new HarnessError(`${what} cannot listen on ${a.host}:${a.port}: ${err.message}`, { cause: err })));
    server.listen(a.port, a.host, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  if (isUnspecifiedAddress(bound.address)) refuseWildcard(a.host, bound.address);
  return { host: a.host, port: bound.port };
}

/** Base URL of the listener bound to `host` among `addresses` (default: the first one). */
export function listenerUrl(addresses: readonly ListenAddress[], host: string | undefined, what: string): string {
  const h = host ?? addresses[0]?.host ?? '';
  const a = addresses.find((x) => x.host === h);
  if (!a) throw new HarnessError(`${what} is not listening on ${h} (listening on ${addresses.map((x) => x.host).join(', ')})`);
  return `http://${isIP(h) === 6 ? `[${h}]` : h}:${a.port}`;
}

/** Closes every server, dropping the keep-alive connections engines hold (they would keep close() open), relayed ones too. */
export async function closeServers(servers: readonly http.Server[]): Promise<void> {
  await Promise.all(
    servers.map(
      (s) =>
        new Promise<void>((resolve) => {
          // One fed by a relay (relayedVia) listens on nothing itself: close() still emits 'close', which
          // closes its unix listener (registry/proxy-protocol.ts), and answers with an error, ignored here.
          s.close(() => resolve());
          s.closeAllConnections();
        }),
    ),
  );
}
