// Builders of every kind a cell can boot, each created in the cell and gone with it (the engine reset
// between cells removes their containers; their config lives in the cell's BUILDX_CONFIG):
// - docker: the engine's own BuildKit (the `default` builder);
// - docker-container: a BuildKit container from the lab's image, pulled through the lab registry;
// - remote: a buildkitd the lab runs in the cell's engine, reached over TCP or a unix socket, with or
//   without TLS (certificates made in the cell with openssl), or through an HTTP/2 proxy (grpc-proxy.ts);
// - multi-node: several docker-container nodes through `create --append`, each with its own --platform;
// - kubernetes: a Deployment in the cell's own namespace of the run's k3s cluster (lab/kube-cluster.ts),
//   Buildx reaching its API server through the KUBECONFIG the cell's sandbox holds.
import semver from 'semver';
import { HarnessError, UsageError } from '../errors.ts';
import { REGISTRY_HOST, type CommandRecord, type DriverKind } from '../model.ts';
import { shellQuote } from '../text.ts';
import { ACCESS_LOG_TAIL_BYTES, describeProxyRequests, nginxConf, parseAccessLog, type RemoteProxy } from './grpc-proxy.ts';
import { driverOptsProblem, kubeDriverOptsProblem } from './lab-owned.ts';
import type { RunResult } from '../exec.ts';
import { buildkitdToml, type CellSandbox, type CommandOptions } from './sandbox.ts';

/**
 * What booting a builder needs of a cell: its id and sandbox, the lab's BuildKit image, Buildx and docker
 * commands, and a line of evidence. The Kit is one; the port keeps builders from depending on all of it.
 */
export interface BuilderPort {
  readonly id: string;
  readonly sandbox: CellSandbox;
  buildkitImage(version?: string, rootless?: boolean): Promise<string>;
  /** the lab's HTTP/2 proxy image (nginx), as the engine pulls it; only a remote builder behind a proxy asks */
  proxyImage?(): Promise<string>;
  buildx(args: readonly string[], opts?: CommandOptions): Promise<RunResult>;
  docker(args: readonly string[], opts?: CommandOptions): Promise<RunResult>;
  fact(text: string): void;
  /** the run's Kubernetes cluster for this cell (kubernetes driver) */
  kubernetes(): Promise<KubeAccess>;
}

/** A cell's part of the run's Kubernetes cluster: its namespace (KUBECONFIG is in the sandbox by then). */
export interface KubeAccess {
  namespace: string;
}

export interface NodeSpec {
  /** --platform of this node, e.g. ["linux/amd64"] */
  platforms?: string[];
  driverOpts?: Record<string, string>;
}

export interface BuilderSpec {
  driver: DriverKind;
  /** BuildKit version of docker-container and remote builders (the lab's image of it) */
  buildkit?: string;
  /** docker-container: the rootless image (buildkitd as an unprivileged user under rootlesskit) */
  rootless?: boolean;
  /** extra --driver-opt of a docker-container builder (no image: the lab's; network: one of BUILDER_NETWORKS) */
  driverOpts?: Record<string, string>;
  /** extra buildkitd.toml text (the lab's registry section is always there) */
  buildkitdConfig?: string;
  /** more than one node: a multi-node builder */
  nodes?: NodeSpec[];
  /** remote driver: how the client reaches buildkitd (proxy: through an HTTP/2 proxy that routes on :authority) */
  remote?: { transport: 'tcp' | 'unix'; tls?: boolean; proxy?: RemoteProxy };
  /** run `inspect --bootstrap` (default true) */
  bootstrap?: boolean;
  /** name of the builder; default: the cell id */
  name?: string;
}

export interface Builder {
  name: string;
  driver: DriverKind;
  /** as Buildx commands should name it: ['--builder', name] (empty for the docker driver's default) */
  args: string[];
  /** the BuildKit image, as the engine pulls it (docker-container and remote) */
  image?: string;
  commands: CommandRecord[];
  /** the create or bootstrap that failed, if one did */
  failed?: CommandRecord;
}

/** The name `spec`'s builder has once booted (known before it boots: steps before a boot step may name it). */
export function builderName(kit: Pick<BuilderPort, 'id'>, spec: Pick<BuilderSpec, 'driver' | 'name'>): string {
  return spec.driver === 'docker' ? 'default' : (spec.name ?? kit.id);
}

export async function bootBuilder(kit: BuilderPort, spec: BuilderSpec): Promise<Builder> {
  const driver = spec.driver;
  const name = builderName(kit, spec);
  switch (driver) {
    case 'docker':
      return { name, driver, args: [], commands: [] };
    case 'docker-container':
      return bootContainerBuilder(kit, spec, name);
    case 'remote':
      return bootRemoteBuilder(kit, spec, name);
    case 'kubernetes':
      return bootKubeBuilder(kit, spec, name);
  }
}

/** `create --driver kubernetes` in the cell's namespace with the lab's BuildKit image, then the bootstrap. */
async function bootKubeBuilder(kit: BuilderPort, spec: BuilderSpec, name: string): Promise<Builder> {
  if (spec.nodes?.length || spec.remote) throw new UsageError(`builder ${name}: the kubernetes driver takes no nodes: or remote: (replicas=N is its driver option)`);
  const why = kubeDriverOptsProblem(Object.entries(spec.driverOpts ?? {}));
  if (why) throw new UsageError(`builder ${name}: ${why}`);
  // rootless=true makes Buildx run the pod as uid 1000 under rootlesskit: that needs the rootless image
  const bk = await kit.buildkitImage(spec.buildkit, spec.rootless || kubeRootless(spec.driverOpts));
  const { namespace } = await kit.kubernetes();
  const config = await writeBuildkitdConfig(kit, spec);
  const builder: Builder = { name, driver: 'kubernetes', args: ['--builder', name], image: bk, commands: [] };
  const create = await kit.buildx([
    'create',
    '--name',
    name,
    '--node',
    `${name}0`,
    '--driver',
    'kubernetes',
    ...driverOptArgs({ image: bk, namespace, ...(spec.rootless ? { rootless: 'true' } : {}), ...spec.driverOpts }),
    buildkitdConfigFlag(kit.sandbox.binary.version),
    config,
  ]);
  builder.commands.push(create);
  if (create.exitCode !== 0) return { ...builder, failed: create };
  return bootstrap(kit, spec, builder);
}

/** Whether driver options ask the kubernetes driver for rootless BuildKit, read as Buildx reads the value (Go's strconv.ParseBool). Pure. */
export function kubeRootless(opts: Record<string, string> | undefined): boolean {
  return ['1', 't', 'T', 'true', 'TRUE', 'True'].includes(opts?.rootless ?? '');
}

/** `create --buildkitd-config` was `--config` before v0.13.0 (which renamed it). Pure. */
export function buildkitdConfigFlag(buildxVersion: string): '--config' | '--buildkitd-config' {
  const v = semver.coerce(buildxVersion);
  return v && semver.lt(v, '0.13.0') ? '--config' : '--buildkitd-config';
}

const driverOptArgs = (opts: Record<string, string>) => Object.entries(opts).flatMap(([k, v]) => ['--driver-opt', `${k}=${v}`]);

async function writeBuildkitdConfig(kit: BuilderPort, spec: BuilderSpec): Promise<string> {
  if (!spec.buildkitdConfig) return kit.sandbox.buildkitdConfig;
  await kit.sandbox.writeFiles([{ rel: 'buildkitd.toml', content: buildkitdToml(REGISTRY_HOST, spec.buildkitdConfig) }]);
  return kit.sandbox.buildkitdConfig;
}

async function bootContainerBuilder(kit: BuilderPort, spec: BuilderSpec, name: string): Promise<Builder> {
  const bk = await kit.buildkitImage(spec.buildkit, spec.rootless);
  const config = await writeBuildkitdConfig(kit, spec);
  const nodes = spec.nodes?.length ? spec.nodes : [{}];
  const builder: Builder = { name, driver: 'docker-container', args: ['--builder', name], image: bk, commands: [] };
  // The image (run privileged by Buildx) and the network are the lab's, whoever wrote the spec: every node
  // is checked before anything is created.
  for (const node of nodes) {
    const why = driverOptsProblem(Object.entries({ ...spec.driverOpts, ...node.driverOpts }), undefined);
    if (why) throw new UsageError(`builder ${name}: ${why}`);
  }
  for (const [i, node] of nodes.entries()) {
    // Buildx refuses two nodes of one builder on the same endpoint, so each node of a multi-node builder
    // reaches the cell's engine through a docker context of its own (kept in the cell's DOCKER_CONFIG).
    let endpoint: string[] = [];
    if (nodes.length > 1) {
      const context = await kit.docker(['context', 'create', `${name}-n${i}`, '--docker', 'host=unix:///var/run/docker.sock']);
      builder.commands.push(context);
      if (context.exitCode !== 0) return { ...builder, failed: context };
      endpoint = [`${name}-n${i}`];
    }
    const argv = [
      'create',
      ...(i > 0 ? ['--append'] : []),
      '--name',
      name,
      '--node',
      `${name}${i}`,
      '--driver',
      'docker-container',
      ...driverOptArgs({ image: bk, network: 'host', ...spec.driverOpts, ...node.driverOpts }),
      buildkitdConfigFlag(kit.sandbox.binary.version),
      config,
      ...(node.platforms?.length ? ['--platform', node.platforms.join(',')] : []),
      ...endpoint,
    ];
    const create = await kit.buildx(argv);
    builder.commands.push(create);
    if (create.exitCode !== 0) return { ...builder, failed: create };
  }
  return bootstrap(kit, spec, builder);
}

async function bootstrap(kit: BuilderPort, spec: BuilderSpec, builder: Builder): Promise<Builder> {
  if (spec.bootstrap === false) return builder;
  const boot = await kit.buildx(['inspect', '--bootstrap', builder.name], { timeoutMs: 180_000 });
  builder.commands.push(boot);
  kit.fact(`builder ${builder.name} (${builder.driver}${spec.nodes?.length ? `, ${spec.nodes.length} nodes` : ''}): bootstrap exit ${boot.exitCode}`);
  return boot.exitCode === 0 ? builder : { ...builder, failed: boot };
}

/**
 * The ports of a cell's remote builder in its engine's network: buildkitd 10000-20999 and its proxy
 * 21000-31999, by the cell's id. A port per cell: cells on one engine take turns, but a killed cell's daemon
 * may linger until the reset. Both below Linux's ephemeral range (32768-60999), so that no local
 * connection's source port (Buildx to buildkitd, say) can hold one first and fail the bind. Pure.
 */
export function remoteBuilderPorts(cellId: string): { buildkitd: number; proxy: number } {
  const n = (parseInt(cellId.slice(1, 5), 36) || 0) % 11_000;
  return { buildkitd: 10_000 + n, proxy: 21_000 + n };
}

/** buildkitd in the cell's engine, then `create --driver remote` to it. */
async function bootRemoteBuilder(kit: BuilderPort, spec: BuilderSpec, name: string): Promise<Builder> {
  const transport = spec.remote?.transport ?? 'tcp';
  const tls = spec.remote?.tls === true;
  const proxy = spec.remote?.proxy;
  if (tls && transport === 'unix') throw new UsageError('the remote driver takes TLS over tcp only; drop tls or use transport: tcp');
  if (proxy && transport === 'unix') throw new UsageError(`builder.remote.proxy: ${proxy} listens on TCP: set transport: tcp, or drop proxy`);
  if (proxy && tls) throw new UsageError(`builder.remote.proxy: ${proxy} speaks cleartext HTTP/2 (h2c) to Buildx: drop tls: true, or drop proxy`);
  const bk = await kit.buildkitImage(spec.buildkit);
  await writeBuildkitdConfig(kit, spec);
  const dir = kit.sandbox.dir;
  const certs = `${dir}/certs`;
  // behind a proxy, Buildx names the proxy's port and buildkitd listens on the engine's loopback only
  const { buildkitd: port, proxy: proxyPort } = remoteBuilderPorts(kit.id);
  const addr = transport === 'tcp' ? `tcp://127.0.0.1:${proxy ? proxyPort : port}` : `unix://${dir}/buildkitd/buildkitd.sock`;
  const listen = transport === 'tcp' ? `tcp://${proxy ? '127.0.0.1' : '0.0.0.0'}:${port}` : 'unix:///run/buildkit/buildkitd.sock';
  if (tls) {
    const mk = await kit.sandbox.sh(tlsScript(certs), { cwd: dir });
    if (mk.exitCode !== 0) throw new HarnessError(`making TLS certificates for the remote builder failed: ${mk.stderr.trim()}`);
  }
  const run = await kit.docker([
    'run',
    '-d',
    '--privileged',
    '--name',
    `${name}-buildkitd`,
    '--network',
    'host',
    '-v',
    `${dir}/buildkitd.toml:/etc/buildkit/buildkitd.toml:ro`,
    ...(transport === 'unix' ? ['-v', `${dir}/buildkitd:/run/buildkit`] : []),
    ...(tls ? ['-v', `${certs}:/certs:ro`] : []),
    bk,
    '--addr',
    listen,
    '--config',
    '/etc/buildkit/buildkitd.toml',
    ...(tls ? ['--tlscacert', '/certs/ca.pem', '--tlscert', '/certs/server.pem', '--tlskey', '/certs/server-key.pem'] : []),
  ]);
  const builder: Builder = { name, driver: 'remote', args: ['--builder', name], image: bk, commands: [run] };
  if (run.exitCode !== 0) return { ...builder, failed: run };
  if (proxy) {
    const started = await startGrpcProxy(kit, name, port, proxyPort);
    builder.commands.push(started);
    if (started.exitCode !== 0) return { ...builder, failed: started };
  }
  const create = await kit.buildx([
    'create',
    '--name',
    name,
    '--driver',
    'remote',
    ...(tls ? driverOptArgs({ cacert: `${certs}/ca.pem`, cert: `${certs}/client.pem`, key: `${certs}/client-key.pem`, servername: 'localhost' }) : []),
    addr,
  ]);
  builder.commands.push(create);
  if (create.exitCode !== 0) return { ...builder, failed: create };
  return bootstrap(kit, spec, builder);
}

/** Where a cell's proxy keeps its configuration and access log, under the cell's directory. */
const PROXY_DIR = 'grpc-proxy';

/**
 * The HTTP/2 proxy in the cell's engine, on its host network beside buildkitd: listening on `port`, routing
 * the endpoint's host (127.0.0.1) to buildkitd on `upstreamPort`. Removed with the engine's reset, as
 * buildkitd is. Waits until nginx has started its worker (it binds before that) or has exited.
 */
async function startGrpcProxy(kit: BuilderPort, name: string, upstreamPort: number, port: number): Promise<RunResult> {
  if (!kit.proxyImage) throw new HarnessError('the cell has no HTTP/2 proxy image: its scenario must declare needsGrpcProxy');
  const image = await kit.proxyImage();
  const conf = nginxConf({ listen: { host: '127.0.0.1', port }, upstream: { host: '127.0.0.1', port: upstreamPort }, serverNames: ['127.0.0.1'], accessLog: '/log/access.log' });
  await kit.sandbox.writeFiles([
    { rel: `${PROXY_DIR}/nginx.conf`, content: conf },
    { rel: `${PROXY_DIR}/log/access.log`, content: '' },
  ]);
  const dir = `${kit.sandbox.dir}/${PROXY_DIR}`;
  const container = `${name}-grpc-proxy`;
  const run = await kit.docker([
    'run',
    '-d',
    '--name',
    container,
    '--label',
    'buildx-lab.role=grpc-proxy',
    '--network',
    'host',
    '-v',
    `${dir}/nginx.conf:/etc/nginx/nginx.conf:ro`,
    '-v',
    `${dir}/log:/log`,
    image,
    '-e',
    'stderr',
    '-g',
    'daemon off;',
  ]);
  if (run.exitCode !== 0) return run;
  const ready = await kit.sandbox.look(
    `for i in $(seq 100); do docker logs "$1" 2>&1 | grep -q 'start worker process' && exit 0; [ "$(docker inspect -f '{{.State.Running}}' "$1")" = true ] || break; sleep 0.1; done; docker logs "$1" 2>&1 | tail -n 5; exit 1`,
    {},
    [container],
  );
  kit.fact(`grpc proxy (nginx, h2c, routes :authority 127.0.0.1) on 127.0.0.1:${port} -> buildkitd 127.0.0.1:${upstreamPort}: ${ready.exitCode === 0 ? 'ready' : 'not ready'}`);
  return ready.exitCode === 0 ? run : { ...run, exitCode: ready.exitCode, stderr: `the grpc proxy did not start: ${ready.stdout.trim()}` };
}

/**
 * The proxy's access log into the evidence: its last ACCESS_LOG_TAIL_BYTES, read by the lab's own look
 * (bounded whatever the requests wrote, without the case's environment) and recorded as a command (the raw
 * lines), then one fact per :authority saying where its requests went. Nothing when the builder has no proxy.
 */
export async function proxyEvidence(kit: Pick<BuilderPort, 'sandbox' | 'fact'>, spec: Pick<BuilderSpec, 'driver' | 'remote'>): Promise<void> {
  if (spec.driver !== 'remote' || !spec.remote?.proxy) return;
  const script = 'tail -c "$2" "$1"';
  const args = [`${kit.sandbox.dir}/${PROXY_DIR}/log/access.log`, String(ACCESS_LOG_TAIL_BYTES)];
  const { bytes: _, ...log } = await kit.sandbox.look(script, { timeoutMs: 30_000 }, args);
  kit.sandbox.addRecord({ ...log, argv: ['sh', '-c', script, 'sh', ...args] });
  if (log.exitCode !== 0) return kit.fact(`grpc proxy: no access log (${log.stderr.trim()})`);
  const tail = Buffer.byteLength(log.stdout) >= ACCESS_LOG_TAIL_BYTES ? [`grpc proxy: the access log's last ${ACCESS_LOG_TAIL_BYTES >> 20} MiB only (it is longer)`] : [];
  kit.fact([...tail, ...describeProxyRequests(parseAccessLog(log.stdout))].join('\n'));
}

/** A throwaway CA, a server certificate for localhost/127.0.0.1 and a client certificate; pure text. */
export function tlsScript(dir: string): string {
  const d = shellQuote(dir);
  return [
    `mkdir -p ${d} && cd ${d}`,
    'openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=buildx-lab-ca -keyout ca-key.pem -out ca.pem 2>/dev/null',
    'printf "subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n" > server.ext',
    'openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server-key.pem -out server.csr 2>/dev/null',
    'openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -extfile server.ext -out server.pem 2>/dev/null',
    'printf "extendedKeyUsage=clientAuth\\n" > client.ext',
    'openssl req -newkey rsa:2048 -nodes -subj /CN=buildx-lab-client -keyout client-key.pem -out client.csr 2>/dev/null',
    'openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -extfile client.ext -out client.pem 2>/dev/null',
  ].join(' && ');
}
