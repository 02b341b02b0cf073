// One lab session: a labelled network, the real registry behind the fault proxy (the registry has no network:
// the proxy, on the host, dials its unix socket), and a pool of DinD engines per engine x store, started on
// first use and reused across cells (lab/engine-pool.ts decides which cell gets which). Everything it
// starts is stopped in reverse order on stop(), on SIGINT/SIGTERM, and swept by label after a crash.
// It provisions nothing: the images it runs come ready from the run's provisioning (runner/provision.ts).
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { childEnv, prepareTestcontainersEnv, withEngine, type LabConfig } from '../config.ts';
import { HarnessError, UsageError } from '../errors.ts';
import { OncePerKey } from '../once.ts';
import { runChecked, run } from '../exec.ts';
import { HEARTBEAT_EVERY_MS, RUN_LABEL, labelsFor } from '../ownership/labels.ts';
import { EngineEvents } from '../engine/events.ts';
import { describeSweep, sweepLeftovers } from '../ownership/sweep.ts';
import { DindContainer, BUILDX_MOUNT, FIXTURES_MOUNT, type StartedDindContainer } from '../dind/dind.ts';
import { LabNetwork, type StartedLabNetwork } from './network.ts';
import { KUBE_UNTRUSTED, KubeCluster } from './kube-cluster.ts';
import { RegistryContainer, makeSocketDir, type StartedRegistryContainer } from '../registry/registry.ts';
import { FaultProxy, type ListenAddress, type StartedFaultProxy } from '../registry/fault-proxy.ts';
import type { CaseSource } from '../serve/http-files.ts';
import { S3Server } from '../serve/s3-server.ts';
import type { ServeSpec, SourceKind } from '../serve/spec.ts';
import { startSources, type StartedSources } from '../serve/sources.ts';
import { ensureCollector } from '../serve/otlp-collector.ts';
import { OtlpReceiver } from '../serve/otlp-receiver.ts';
import { RegistryClient } from '../oci/client.ts';
import { REGISTRY_HOST, type CellEngine, type StoreKind } from '../model.ts';
import type { ProgressSink } from '../progress.ts';
import { EnginePool, type ReleaseOptions } from './engine-pool.ts';
import { copyImage } from '../images/transfer.ts';
import { imageId } from '../images/images.ts';
import { BadPublishEntry, PublishCache } from './publish-cache.ts';
import { mirrorTree } from './mirror.ts';
import { NetnsRelay } from './netns-relay.ts';
import { pidAlive, probeEngine } from '../engine/host.ts';
import { pinSocket } from '../engine/rootless.ts';

const fixturesDir = fileURLToPath(new URL('../../fixtures/', import.meta.url));

/** A DinD engine image, as provisioning made it ready. */
export interface EngineImage {
  ref: string;
  /** the engine axis value, e.g. "26.1.5" or "26.1.5-debian" */
  label: string;
  /** what `docker version` must report */
  version: string;
  /** false when its runc has no seccomp: the engine then runs containers unconfined */
  seccomp: boolean;
}

export interface DindLease {
  dind: StartedDindContainer;
  /** ms spent starting the engine for this lease (0 when reused) */
  startMs: number;
  /** gives the engine back; `discard`: it is stopped, never reused (engine-pool.ts) */
  release(opts?: ReleaseOptions): void;
}

/** What a lab keeps for its cell engine: the relay, and this run's share with the mirrors the DinD engines mount. */
interface CellSide {
  /** the proxy's relay, then one per served source */
  relays: NetnsRelay[];
  /** root's 0700 directory of the host-side servers' relayed sockets */
  socketDir: string;
  runShare: string;
  buildx: string;
  fixtures: string;
}

export interface LabOptions {
  runId: string;
  registryImage: { ref: string; official: boolean };
  /** where the lab's Buildx binaries live on the host: mounted read-only into every engine */
  buildxCacheRoot: string;
  progress: ProgressSink;
  /**
   * Cells on engines at once (the run's --jobs): an (engine, store) whose cells queue gets up to this many
   * engines. Unset: one engine per (engine, store), and no limit across them (the lab's own tests).
   */
  jobs?: number;
  /** DinD engines alive at once, idle ones included (default: jobs + DEFAULT_SPARE_ENGINES) */
  maxEngines?: number;
  /** run the cells on this engine instead of the one in `config` (which still pushes the lab's images) */
  cellEngine?: CellEngine;
}

export const DEFAULT_SPARE_ENGINES = 12;

/**
 * Where the lab's host-side servers (the registry proxy, ${http}, ${git}) listen for the DinD engines: the
 * lab network's gateway, in the host's network namespace. The one place to add a relay when the engines'
 * namespace is not the host's (a rootless engine). Port 0: a free port.
 */
export function hostSideListen(network: Pick<StartedLabNetwork, 'gateway'>, port = 0): ListenAddress[] {
  return [{ host: network.gateway, port }];
}

/**
 * The same on a cell engine: a unix socket of the lab's (in `socketDir`, root's) that the server takes
 * PROXY v1 connections on, and a relay in the engine's network namespace listening on the gateway:port
 * for it (lab/netns-relay.ts). The caller stops the relay.
 */
async function relayedListen(
  cell: CellEngine,
  network: Pick<StartedLabNetwork, 'gateway'>,
  socketDir: string,
  name: string,
  port: number,
): Promise<{ listen: ListenAddress[]; relay: NetnsRelay }> {
  const socket = path.join(socketDir, `${name}-${port}.sock`);
  const relay = await NetnsRelay.start(cell.netns, [{ host: network.gateway, port, socket }]);
  return { listen: [{ host: network.gateway, port, relayedVia: socket }], relay };
}

const activeLabs = new Set<Lab>();
let signalsHooked = false;

function hookSignals(): void {
  if (signalsHooked) return;
  signalsHooked = true;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      if (activeLabs.size) process.stderr.write(`\n[buildx-lab] ${sig}: stopping ${activeLabs.size} lab session(s)\n`);
      void Promise.allSettled([...activeLabs].map((l) => l.stop())).finally(() => process.exit(128 + ({ SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const)[sig]));
    });
  }
  // A parent that dies without a signal (SIGKILL) closes the IPC channel: stop too.
  process.once('disconnect', () => void Promise.allSettled([...activeLabs].map((l) => l.stop())).finally(() => process.exit(1)));
}

export class Lab implements AsyncDisposable {
  private readonly pool: EnginePool<StartedDindContainer>;
  private readonly published = new OncePerKey<PublishedImage>();
  private readonly publishedByRef = new Map<string, PublishedImage>();
  private readonly sources = new OncePerKey<StartedSources>();
  private readonly startedSources: StartedSources[] = [];
  private readonly receivers = new OncePerKey<OtlpReceiver>();
  private readonly startedReceivers: OtlpReceiver[] = [];
  private readonly clusters = new OncePerKey<KubeCluster>();
  private readonly startedClusters: KubeCluster[] = [];
  private stopped = false;
  private readonly heartbeat: NodeJS.Timeout;
  readonly labels: Record<string, string>;

  private readonly copied = new OncePerKey<void>();
  /** the IDs of this run's containers that died or were removed, as the event stream said */
  private readonly ended = new Set<string>();

  private constructor(
    /** the engine the cells run on */
    readonly config: LabConfig,
    /** the engine provisioning built the images on: the same one, unless the cells run on the rootless engine */
    private readonly imageConfig: LabConfig,
    readonly opts: LabOptions,
    readonly network: StartedLabNetwork,
    readonly registry: StartedRegistryContainer,
    readonly proxy: StartedFaultProxy,
    /** the deaths of this run's containers, as the engine reports them */
    private readonly events: EngineEvents,
    private readonly cellSide?: CellSide,
  ) {
    this.labels = labelsFor(opts.runId);
    const perKey = opts.jobs ?? 1;
    this.pool = new EnginePool<StartedDindContainer>(
      { perKey, busy: opts.jobs, total: opts.maxEngines ?? perKey + DEFAULT_SPARE_ENGINES },
      {
        evicted: (key) => this.progress(`DinD ${key}: stopping an idle engine to make room for another (engine, store)`),
        // The cell that saw it die has its error (and the engine's panic, if any); the cells still waiting
        // for this engine get a fresh one instead of the same error each.
        replaced: (key) => this.progress(`DinD ${key} is no longer running (it died or was killed): starting a fresh one for the next cells`),
        discarded: (key) => this.progress(`DinD ${key}: an untrusted case ran on it; removing it (no other cell reuses it)`),
      },
    );
    this.heartbeat = this.keepHeartbeat();
    this.events.on((e) => this.ended.add(e.id));
  }

  /**
   * Keeps the run's heartbeat fresh, so that sweepers which cannot check our pid (another pid namespace or
   * host) leave this run alone. A failing beat is said once: past the staleness bound, others sweep us.
   */
  private keepHeartbeat(): NodeJS.Timeout {
    let busy = false;
    let failing = false;
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      this.registry
        .beat()
        .then(
          () => {
            failing = false;
          },
          (e: unknown) => {
            if (!failing) this.progress(`lab ${this.runId}: heartbeat failed (${(e as Error).message}); other runs will take this one for abandoned once it is stale`);
            failing = true;
          },
        )
        .finally(() => {
          busy = false;
        });
    }, HEARTBEAT_EVERY_MS);
    timer.unref();
    return timer;
  }

  get runId(): string {
    return this.opts.runId;
  }

  get progress(): ProgressSink {
    return this.opts.progress;
  }

  /** Starts network, registry and proxy (and, for a cell engine, the relay and the mirrors). */
  static async start(imageConfig: LabConfig, opts: LabOptions): Promise<Lab> {
    hookSignals();
    const cellEngine = opts.cellEngine;
    const config = cellEngine ? withEngine(imageConfig, cellEngine.host) : imageConfig;
    prepareTestcontainersEnv(config);
    // Only runs that are provably abandoned: another run may be going in another pid namespace or host.
    const swept = await sweepLeftovers(config);
    for (const line of describeSweep(swept)) opts.progress(`sweep: ${line}`);
    const labels = labelsFor(opts.runId);
    const undo: (() => Promise<unknown> | unknown)[] = [];
    // before the first container: the stream replays from here, so no death is missed
    const events = EngineEvents.start(config, ['type=container', `label=${RUN_LABEL}=${opts.runId}`, 'event=die', 'event=destroy']);
    undo.push(() => events.stop());
    try {
      const runShare = cellEngine ? makeRunShare(cellEngine) : undefined;
      if (runShare) undo.push(() => rmSync(runShare, { recursive: true, force: true }));
      if (cellEngine) await copyImage(imageConfig, config, opts.registryImage.ref);
      const network = await new LabNetwork(config).withLabels(labels).start();
      undo.push(() => network.stop());
      // No network for the registry: the proxy reaches it over its unix socket, and nothing else can.
      let registryContainer = new RegistryContainer(config, opts.registryImage).withLabels(labels);
      if (runShare && cellEngine) registryContainer = registryContainer.withSocketParent(runShare, cellEngine.rootUid);
      const registry = await registryContainer.start();
      undo.push(() => registry.stop());
      await registry.beat();
      // On a cell engine the registry's socket directory is the namespace root's: the proxy, host root, dials
      // its own link to the socket's inode instead, never a path the namespace could point elsewhere.
      const socketDir = cellEngine ? makeSocketDir(imageConfig, { kind: 'proxy' }) : undefined;
      if (socketDir) undo.push(() => rmSync(socketDir, { recursive: true, force: true }));
      const upstream = socketDir && cellEngine ? `unix://${pinSocket(registry.socketPath, path.join(socketDir, 'upstream'), cellEngine.rootUid)}` : registry.upstreamUrl;
      // Loopback for the host (our OCI client, image pushes); the bridge gateway for the DinD engines, or,
      // on a cell engine, a unix socket its relay forwards that gateway to.
      const relayed = cellEngine && socketDir ? await relayedListen(cellEngine, network, socketDir, 'proxy', 5000) : undefined;
      if (relayed) undo.push(() => relayed.relay.stop());
      const proxy = await new FaultProxy({ upstream }).withListen([{ host: '127.0.0.1', port: 0 }, ...(relayed?.listen ?? hostSideListen(network, 5000))]).start();
      undo.push(() => proxy.stop());
      let cellSide: CellSide | undefined;
      if (relayed && runShare && socketDir) {
        cellSide = { relays: [relayed.relay], socketDir, runShare, buildx: path.join(runShare, 'buildx'), fixtures: path.join(runShare, 'fixtures') };
        mirrorTree(opts.buildxCacheRoot, cellSide.buildx);
        mirrorTree(fixturesDir, cellSide.fixtures);
      }
      const lab = new Lab(config, imageConfig, opts, network, registry, proxy, events, cellSide);
      activeLabs.add(lab);
      opts.progress(
        `lab ${opts.runId}: registry ${opts.registryImage.ref} ready in ${registry.readyMs} ms on ${registry.socketPath}, proxy ${proxy.urlFor('127.0.0.1')} and ${network.gateway}:5000 (as ${REGISTRY_HOST})` +
          (cellEngine ? `; cells on the rootless engine ${cellEngine.host}, relayed from its network namespace` : ''),
      );
      return lab;
    } catch (e) {
      for (const step of undo.reverse())
        await Promise.resolve()
          .then(step)
          .catch(() => undefined);
      throw e;
    }
  }

  /**
   * Calls `dead` once when one of `ids` (container IDs, or their prefixes) dies or is removed, or the engine
   * stops answering (then `id` is undefined); returns the unsubscribe. One event stream serves every cell,
   * instead of a `docker inspect` per cell every 2 s.
   */
  watchContainers(ids: readonly string[], dead: (id: string | undefined, why: string) => void): () => void {
    let done = false;
    let offEnd = () => {};
    const stop = () => {
      done = true;
      off();
      offEnd();
    };
    const off = this.events.on((e) => {
      const id = ids.find((i) => e.id.startsWith(i));
      if (id && !done) {
        stop();
        dead(id, e.action);
      }
    });
    // a stream already ended calls back at once
    offEnd = this.events.onEnd((why) => {
      if (done) return;
      stop();
      dead(undefined, why);
    });
    return stop;
  }

  /** Host-side URL of the registry, through the proxy. */
  get hostRegistryUrl(): string {
    return this.proxy.urlFor('127.0.0.1');
  }

  client(userAgent = 'buildx-lab-verify'): RegistryClient {
    return new RegistryClient({ baseUrl: this.hostRegistryUrl, userAgent });
  }

  /**
   * Exclusive use of a DinD engine for (engine, store): an idle one, a new one, or the next one released.
   * `untrusted`: an untrusted case's cell; its engine is removed when released, never reused.
   */
  async lease(engine: EngineImage, store: StoreKind, opts: { untrusted?: boolean } = {}): Promise<DindLease> {
    if (this.stopped) throw new HarnessError('lab is stopped');
    if (this.cellSide) {
      // A Buildx that provisioning finished after the last cell started appears in the view now.
      mirrorTree(this.opts.buildxCacheRoot, this.cellSide.buildx);
      if (opts.untrusted) await this.checkCellEngine();
    }
    const { engine: dind, startMs, release } = await this.pool.lease(`${engine.label}/${store}`, () => this.startDind(engine, store), { singleUse: opts.untrusted === true });
    return { dind, startMs, release };
  }

  /** DinD engines alive or starting, for (engine, store) or in all. */
  engineCount(engine?: EngineImage, store?: StoreKind): number {
    return this.pool.size(engine && store ? `${engine.label}/${store}` : undefined);
  }

  /**
   * The cell engine is still the one the run chose: its socket is in a directory the namespace's root can
   * write, so it could have been swapped for a link to a rootful engine's. Throws when it is not.
   */
  private async checkCellEngine(): Promise<void> {
    const want = this.opts.cellEngine!;
    const now = await probeEngine(this.config, want.host);
    const linked = lstatSync(want.host.replace(/^unix:\/\//, '')).isSymbolicLink();
    if (linked || !now.isolated || now.engineId !== want.engineId)
      throw new HarnessError(
        `the rootless engine at ${want.host} is no longer the one this run checked (${now.isolated ? 'isolated' : 'NOT isolated'}, ID ${now.engineId || '?'}, socket ${linked ? 'is a symlink' : 'in place'}): refusing to run an untrusted case on it`,
      );
  }

  private async startDind(engine: EngineImage, store: StoreKind): Promise<StartedDindContainer> {
    if (this.cellSide) await this.copied.get(engine.ref, async () => void (await copyImage(this.imageConfig, this.config, engine.ref)));
    const dind = await new DindContainer(this.config, engine.ref, engine.version)
      .withStore(store)
      .withSeccomp(engine.seccomp)
      .withInsecureRegistry(REGISTRY_HOST)
      .withMaxDownloadAttempts(1)
      .withExtraHost('registry', this.network.gateway)
      .withLabels(this.labels)
      .withNetwork(this.network.name)
      .withReadOnlyMount(this.cellSide?.buildx ?? this.opts.buildxCacheRoot, BUILDX_MOUNT)
      .withReadOnlyMount(this.cellSide?.fixtures ?? fixturesDir, FIXTURES_MOUNT)
      .start();
    // a lease then asks the event stream, not the engine, whether it still runs
    dind.liveness = () => this.events.ended === undefined && !this.ended.has(dind.id);
    this.progress(`DinD ${dind.serverVersion} (${engine.label}), store=${store}: ready in ${dind.readyMs} ms`);
    return dind;
  }

  /**
   * The sources a case serves (${http}, ${git}, ${s3}), started on its first cell and kept for the
   * session, on the gateway beside the proxy; their requests go into the proxy's journal (kind http, git or
   * s3), so each cell's evidence and checks see its own engine's requests. versitygw is built on first need.
   */
  serve(key: string, spec: ServeSpec, source: CaseSource): Promise<StartedSources> {
    if (this.stopped) throw new HarnessError('lab is stopped');
    return this.sources.get(key, async () => {
      const s3Binary = async () => (await S3Server.ensureBinary(this.imageConfig, this.progress)).path;
      const s = await startSources(spec, source, this.proxy.journal, (kind) => this.sourceListen(key, kind), s3Binary);
      this.startedSources.push(s);
      // a lab stopped while they started: stop them too
      if (this.stopped) await s.stop();
      this.progress(`lab ${this.runId}: serving ${key}: ${s.describe()}`);
      return s;
    });
  }

  /**
   * The trace sink of a case (${otlp}: serve/otlp-receiver.ts), started on its first cell and kept for the
   * session like its sources; each export request is journaled (kind otlp), so a cell's spans are its own.
   * The collector is built from the Go module proxy the first time a machine needs it.
   */
  traces(key: string): Promise<OtlpReceiver> {
    if (this.stopped) throw new HarnessError('lab is stopped');
    return this.receivers.get(key, async () => {
      const bin = await ensureCollector(this.config, this.progress);
      if (bin.builtMs !== undefined) this.progress(`OTLP receiver built in ${Math.round(bin.builtMs / 1000)} s (${bin.goVersion})`);
      const r = await OtlpReceiver.start(bin, this.proxy.journal, await this.sourceListen(key, 'otlp'), this.progress);
      this.startedReceivers.push(r);
      if (this.stopped) await r.stop();
      return r;
    });
  }

  /**
   * The run's Kubernetes cluster (one k3s node, lab/kube-cluster.ts), started on the first cell that asks
   * and shared by the rest (a namespace each), removed with the lab. Only on the lab's own engine: the node
   * is a privileged container, which the rootless engine cannot make privileged on the host.
   */
  kubeCluster(nodeImage: string): Promise<KubeCluster> {
    if (this.stopped) throw new HarnessError('lab is stopped');
    if (this.opts.cellEngine) throw new UsageError(KUBE_UNTRUSTED);
    return this.clusters.get(nodeImage, async () => {
      const c = await KubeCluster.start({ image: nodeImage, network: this.network.name, gateway: this.network.gateway, labels: this.labels, progress: this.progress });
      this.startedClusters.push(c);
      if (this.stopped) await c.stop();
      return c;
    });
  }

  #nextRelayPort = 5001;

  /**
   * Where a served source listens: the lab network's gateway on a free port or, on a cell engine, a unix
   * socket of the lab's with a relay in the engine's network namespace listening on the gateway for it.
   */
  private async sourceListen(key: string, kind: SourceKind): Promise<ListenAddress[]> {
    const side = this.cellSide;
    if (!side || !this.opts.cellEngine) return hostSideListen(this.network);
    const port = this.#nextRelayPort++;
    const { listen, relay } = await relayedListen(this.opts.cellEngine, this.network, side.socketDir, kind, port);
    side.relays.push(relay);
    this.progress(`lab ${this.runId}: ${kind} source of ${key} relayed from the rootless engine's ${this.network.gateway}:${port}`);
    return listen;
  }

  /** Pushes a host image into the lab registry once per session, e.g. BuildKit for the docker-container driver. */
  publish(localRef: string, repoTag: string): Promise<PublishedImage> {
    return this.published.get(repoTag, () => this.pushFromHost(localRef, repoTag));
  }

  /** What publish() pushed under an engine-side ref; it must have been published in this lab. */
  publishedImage(ref: string): PublishedImage {
    const p = this.publishedByRef.get(ref);
    if (!p) throw new HarnessError(`${ref} was not published into this lab's registry`);
    return p;
  }

  /** Everything this lab published so far. */
  publishedImages(): PublishedImage[] {
    return [...this.publishedByRef.values()];
  }

  /** Images the engines may keep across cells: what this lab published (BuildKit), as the engines name them. */
  publishedRefs(): string[] {
    return this.published.keys().map((repoTag) => `${REGISTRY_HOST}/${repoTag}`);
  }

  private async pushFromHost(localRef: string, repoTag: string): Promise<PublishedImage> {
    const [repo, tag] = repoTag.split(':') as [string, string];
    // Read-only to the DinD engines before anything is in it: a cell pushing there first would otherwise win.
    this.proxy.protectRepository(repo);
    const cache = new PublishCache(this.imageConfig.cacheDir);
    const id = await imageId(this.imageConfig, localRef);
    const client = new RegistryClient({ baseUrl: this.hostRegistryUrl, userAgent: 'buildx-lab-publish', timeoutMs: 10 * 60_000 });
    let fromCache = false;
    if (id) {
      try {
        fromCache = await cache.publish(id, client, repo, tag);
      } catch (e) {
        if (!(e instanceof BadPublishEntry)) throw e;
        this.progress(`publishing ${localRef}: the cached copy of ${id.slice(0, 19)} is unusable (${e.message}); dropped, pushing it again`);
      }
    }
    if (!fromCache) await this.dockerPush(localRef, repoTag);
    const m = await this.client().getManifest(repo, tag);
    if (!m.found) throw new HarnessError(`pushed ${localRef} but the registry does not have ${repoTag}`);
    if (!fromCache && id) {
      // Kept for the next runs; a failure here costs only their speed.
      await cache.store(id, client, repo, { raw: m.raw, mediaType: m.mediaType, digest: m.digest }, this.progress).catch((e: unknown) => {
        this.progress(`publishing ${localRef}: not cached for later runs (${(e as Error).message})`);
      });
    }
    const json = m.json as { layers?: { digest: string; size: number }[] };
    const published = { ref: `${REGISTRY_HOST}/${repoTag}`, repository: repo, tag, manifestDigest: m.digest, layers: json.layers ?? [], fromCache };
    this.publishedByRef.set(published.ref, published);
    return published;
  }

  /** `docker push` from the engine that built the image to the proxy's loopback listener: both on this host. */
  private async dockerPush(localRef: string, repoTag: string): Promise<void> {
    const env = childEnv(this.imageConfig);
    // 127.0.0.0/8 registries are insecure by default for the host engine, so no host config changes.
    const hostTag = `${this.hostRegistryUrl.replace(/^http:\/\//, '')}/${repoTag}`;
    await runChecked(['docker', 'tag', localRef, hostTag], { env });
    try {
      // The lab's own set-up, not a cell: one retry. A cold CI run once saw the host engine answer
      // "denied: resolve_deny: denied destination" to a loopback push that worked on the next try.
      const push = () => runChecked(['docker', 'push', '--quiet', hostTag], { env, timeoutMs: 10 * 60_000 });
      await push().catch((e: unknown) => {
        this.progress(`pushing ${hostTag} failed once (${(e as Error).message.split('\n').pop()}); retrying`);
        return push();
      });
    } finally {
      await run(['docker', 'image', 'rm', hostTag], { env });
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    activeLabs.delete(this);
    clearInterval(this.heartbeat);
    this.events.stop();
    if (this.config.keep) {
      this.progress(`BUILDX_LAB_KEEP=1: leaving run ${this.runId} up; remove with 'buildx-lab clean'`);
      return;
    }
    const t0 = Date.now();
    await this.pool.close();
    await Promise.allSettled([...this.startedSources, ...this.startedReceivers, ...this.startedClusters].map((s) => s.stop()));
    await Promise.allSettled((this.cellSide?.relays ?? []).map((r) => r.stop()));
    await this.proxy.stop().catch(() => undefined);
    await this.registry.stop();
    await this.network.stop();
    if (this.cellSide) for (const d of [this.cellSide.runShare, this.cellSide.socketDir]) rmSync(d, { recursive: true, force: true });
    // Backstop: anything of this run and process that a failed start left behind.
    await sweepLeftovers(this.config, { runId: this.runId, pid: process.pid });
    this.progress(`lab ${this.runId}: stopped (engines, registry, network) in ${Date.now() - t0} ms`);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

export interface PublishedImage {
  /** as the DinD engines see it: registry:5000/<repo>:<tag> */
  ref: string;
  repository: string;
  tag: string;
  manifestDigest: string;
  layers: { digest: string; size: number }[];
  /** put in from the cache of an earlier run's push (lab/publish-cache.ts), not pushed by the engine */
  fromCache: boolean;
}

/** This run's directory in the cell engine's share, root's and traversable: mirrors, the registry's socket. */
function makeRunShare(cell: CellEngine): string {
  mkdirSync(cell.shareDir, { recursive: true, mode: 0o755 });
  // What killed runs left: the pid in the name says whose (the rootless engine is this host's alone).
  for (const name of readdirSync(cell.shareDir)) {
    const pid = Number(/^run-(\d+)-/.exec(name)?.[1]);
    if (pid && !pidAlive(pid)) rmSync(path.join(cell.shareDir, name), { recursive: true, force: true });
  }
  const dir = mkdtempSync(path.join(cell.shareDir, `run-${process.pid}-`));
  // root's, and traversable by the namespace's root, which mounts the mirrors in it
  chmodSync(dir, 0o755);
  return dir;
}
