// The relay itself, run by lab/netns-relay.ts inside a rootless engine's network namespace (nsenter --net),
// as plain JavaScript so that it needs no TypeScript loader there. For each route it listens on host:port
// in that namespace and forwards every connection to a unix socket of a lab server on the host, opening it
// with a PROXY v1 line naming the connecting peer (registry/proxy-protocol.ts parses it). It reads nothing
// the peer sends, so it has no parser to attack. It exits when its stdin closes: its parent, the lab, is gone.
import net from 'node:net';

const MAX_CONNECTIONS = 1024;
const routes = JSON.parse(process.argv[2] ?? '[]');
let open = 0;

function relay(route) {
  const server = net.createServer((client) => {
    if (open >= MAX_CONNECTIONS) return void client.destroy();
    open++;
    const upstream = net.connect(route.socket);
    const family = net.isIPv6(client.remoteAddress ?? '') ? 'TCP6' : 'TCP4';
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.once('close', () => {
      open--;
      upstream.end();
    });
    client.on('error', close);
    upstream.on('error', close);
    upstream.once('close', () => client.end());
    upstream.write(`PROXY ${family} ${client.remoteAddress} ${client.localAddress} ${client.remotePort} ${client.localPort}\r\n`);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(route.port, route.host, () => resolve());
  });
}

try {
  await Promise.all(routes.map(relay));
  process.stdout.write('ready\n');
} catch (e) {
  process.stderr.write(`relay: ${e.message}\n`);
  process.exit(1);
}
process.stdin.on('data', () => undefined);
process.stdin.once('end', () => process.exit(0));
process.stdin.once('error', () => process.exit(0));
