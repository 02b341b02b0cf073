// One lab session: a labelled network, the real registry behind the fault proxy, and a pool of DinD
// engines (one per engine x store, started on first use and reused across cells). Everything it
// starts is stopped in reverse order on stop(), on SIGINT/SIGTERM, and swept by label after a crash.
import { childEnv, prepareTestcontainersEnv, type LabConfig } from './config.ts';
import { HarnessError } from './errors.ts';
import { runChecked, run } from './exec.ts';
import { ensureEngine, labelsFor, sweepLeftovers, type EngineInfo } from './engine/engine.ts';
import { dindSpecForEngine, findImageSpec, ENGINE_VERSIONS } from './images/catalog.ts';
import { ensureImage, type ResolvedImage } from './images/images.ts';
import { DindContainer, BUILDX_MOUNT, FIXTURES_MOUNT, type StartedDindContainer } from './dind/dind.ts';
import { LabNetwork, type StartedLabNetwork } from './network.ts';
import { RegistryContainer, type StartedRegistryContainer } from './registry/registry.ts';
import { FaultProxy, type StartedFaultProxy } from './registry/fault-proxy.ts';
import { RegistryClient } from './oci/client.ts';
import { buildxCacheRoot } from './buildx/provision.ts';
import { ensureBuildkitImage } from './buildkit/image.ts';
import type { StoreKind } from './model.ts';
import type { ProgressSink } from './progress.ts';
import { Mutex } from './runner/mutex.ts';

/** The name every DinD engine uses for the lab registry (resolved to the fault proxy). */
export const REGISTRY_HOST = 'registry:5000';
const fixturesDir = new URL('../fixtures/', import.meta.url).pathname;

export interface DindLease {
  dind: StartedDindContainer;
  /** ms spent starting the engine for this lease (0 when reused) */
  startMs: number;
  release(): void;
}

interface PoolEntry {
  starting: Promise<StartedDindContainer>;
  mutex: Mutex;
  startedByFirstLease: boolean;
  startMs: number;
}

const activeLabs = new Set<Lab>();
let signalsHooked = false;

function hookSignals(): void {
  if (signalsHooked) return;
  signalsHooked = true;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      process.stderr.write(`\n[buildx-lab] ${sig}: stopping ${activeLabs.size} lab session(s)\n`);
      void Promise.allSettled([...activeLabs].map((l) => l.stop())).finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
    });
  }
}

export class Lab implements AsyncDisposable {
  private readonly pool = new Map<string, PoolEntry>();
  private readonly published = new Map<string, Promise<PublishedImage>>();
  private stopped = false;
  readonly labels: Record<string, string>;

  private constructor(
    readonly config: LabConfig,
    readonly progress: ProgressSink,
    readonly engine: EngineInfo,
    readonly network: StartedLabNetwork,
    readonly registry: StartedRegistryContainer,
    readonly proxy: StartedFaultProxy,
    readonly registryImage: ResolvedImage,
  ) {
    this.labels = labelsFor(config.runId);
  }

  /** Starts network, registry and proxy; DinD engines listed in `prewarm` start concurrently with them. */
  static async start(config: LabConfig, progress: ProgressSink, opts: { prewarm?: { engine: string; store: StoreKind }[] } = {}): Promise<Lab> {
    hookSignals();
    prepareTestcontainersEnv();
    const engine = await ensureEngine(config, progress);
    const swept = await sweepLeftovers(config);
    if (swept.containers + swept.networks + swept.volumes > 0) {
      progress(`swept leftovers of earlier killed runs: ${swept.containers} containers, ${swept.networks} networks, ${swept.volumes} volumes`);
    }
    const labels = labelsFor(config.runId);
    const registryImage = await ensureImage(config, findImageSpec('registry'), progress);
    const network = await new LabNetwork(config).withLabels(labels).start();
    let registry: StartedRegistryContainer | undefined;
    try {
      registry = await new RegistryContainer(config, registryImage).withLabels(labels).withNetwork(network.name).start();
      // Loopback for the host (our OCI client, image pushes); the bridge gateway for the DinD engines.
      const proxy = await new FaultProxy({ upstream: registry.upstreamUrl })
        .withListen([{ host: '127.0.0.1', port: 0 }, { host: network.gateway, port: 5000 }])
        .start();
      const lab = new Lab(config, progress, engine, network, registry, proxy, registryImage);
      activeLabs.add(lab);
      for (const p of opts.prewarm ?? []) void lab.lease(p.engine, p.store).then((l) => l.release(), () => undefined);
      progress(`lab ${config.runId}: registry ${registryImage.ref} ready in ${registry.readyMs} ms, proxy ${proxy.urlFor('127.0.0.1')} and ${network.gateway}:5000 (as ${REGISTRY_HOST})`);
      return lab;
    } catch (e) {
      await registry?.stop();
      await network.stop();
      throw e;
    }
  }

  /** Host-side URL of the registry, through the proxy. */
  get hostRegistryUrl(): string {
    return this.proxy.urlFor('127.0.0.1');
  }

  client(userAgent = 'buildx-lab-verify'): RegistryClient {
    return new RegistryClient({ baseUrl: this.hostRegistryUrl, userAgent });
  }

  /** Exclusive use of the DinD engine for (engine, store), started on first use. */
  async lease(engineVersion: string, store: StoreKind): Promise<DindLease> {
    if (this.stopped) throw new HarnessError('lab is stopped');
    const key = `${engineVersion}/${store}`;
    let entry = this.pool.get(key);
    if (!entry) {
      const t0 = Date.now();
      const starting = this.startDind(engineVersion, store);
      entry = { starting, mutex: new Mutex(), startedByFirstLease: false, startMs: 0 };
      const e = entry;
      starting.then(() => { e.startMs = Date.now() - t0; }, () => this.pool.delete(key));
      this.pool.set(key, entry);
    }
    const release = await entry.mutex.acquire();
    try {
      const dind = await entry.starting;
      const startMs = entry.startedByFirstLease ? 0 : entry.startMs;
      entry.startedByFirstLease = true;
      if (!(await dind.isRunning())) {
        this.pool.delete(key);
        throw new HarnessError(`the DinD engine ${key} (${dind.name}) is no longer running: it died or was killed`);
      }
      return { dind, startMs, release };
    } catch (e) {
      release();
      throw e;
    }
  }

  private async startDind(engineVersion: string, store: StoreKind): Promise<StartedDindContainer> {
    const spec = dindSpecForEngine(engineVersion);
    if (!spec) throw new HarnessError(`no DinD image for engine ${engineVersion}; known: ${ENGINE_VERSIONS.join(', ')}`);
    const image = await ensureImage(this.config, spec, this.progress);
    const dind = await new DindContainer(this.config, image.ref, engineVersion)
      .withStore(store)
      .withInsecureRegistry(REGISTRY_HOST)
      .withMaxDownloadAttempts(1)
      .withExtraHost('registry', this.network.gateway)
      .withLabels(this.labels)
      .withNetwork(this.network.name)
      .withReadOnlyMount(buildxCacheRoot(this.config), BUILDX_MOUNT)
      .withReadOnlyMount(fixturesDir, FIXTURES_MOUNT)
      .start();
    this.progress(`DinD ${dind.serverVersion} (${image.source === 'local-built' || image.source === 'local-cached' ? 'home-built' : 'official'}), store=${store}: ready in ${dind.readyMs} ms`);
    return dind;
  }

  /** Pushes a host image into the lab registry once per session, e.g. BuildKit for the docker-container driver. */
  publish(localRef: string, repoTag: string): Promise<PublishedImage> {
    let p = this.published.get(repoTag);
    if (!p) {
      p = this.pushFromHost(localRef, repoTag);
      this.published.set(repoTag, p);
      p.catch(() => this.published.delete(repoTag));
    }
    return p;
  }

  /** Images the engines may keep across cells: what this lab published (BuildKit), as the engines name them. */
  publishedRefs(): string[] {
    return [...this.published.keys()].map((repoTag) => `${REGISTRY_HOST}/${repoTag}`);
  }

  /** The BuildKit image of `version`, provisioned and published as registry:5000/moby/buildkit:<version>. */
  async buildkit(version: string): Promise<PublishedImage> {
    const image = await ensureBuildkitImage(this.config, version, this.progress);
    return this.publish(image.ref, `moby/buildkit:${version}`);
  }

  private async pushFromHost(localRef: string, repoTag: string): Promise<PublishedImage> {
    const env = childEnv(this.config);
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
    const [repo, tag] = repoTag.split(':') as [string, string];
    const m = await this.client().getManifest(repo, tag);
    if (!m.found) throw new HarnessError(`pushed ${hostTag} but the registry does not have ${repoTag}`);
    const json = m.json as { layers?: { digest: string; size: number }[] };
    return { ref: `${REGISTRY_HOST}/${repoTag}`, repository: repo, tag, manifestDigest: m.digest, layers: json.layers ?? [] };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    activeLabs.delete(this);
    if (this.config.keep) {
      this.progress(`BUILDX_LAB_KEEP=1: leaving run ${this.config.runId} up; remove with 'buildx-lab clean'`);
      return;
    }
    const dinds = await Promise.allSettled([...this.pool.values()].map((e) => e.starting));
    await Promise.allSettled(dinds.flatMap((d) => (d.status === 'fulfilled' ? [d.value.stop()] : [])));
    await this.proxy.stop().catch(() => undefined);
    await this.registry.stop();
    await this.network.stop();
    // Backstop: anything of this run and process that a failed start left behind (other workers share the run id).
    await sweepLeftovers(this.config, { runId: this.config.runId, pid: process.pid });
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
}
