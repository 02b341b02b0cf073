// A one-node Kubernetes cluster for a lab session: the k3s node image (images/k3s-node.ts) run privileged on
// the lab network, labelled as the run's (so the end of the run, Ctrl-C and the sweep of abandoned runs
// remove it like every other container), its state on tmpfs (containerd's overlay snapshots cannot sit on
// the container's own overlay), the lab registry as a plain-HTTP mirror for the BuildKit image. Cells share
// it, each in a namespace of its own; Buildx reaches its API server at the node's address on the network.
import { GenericContainer, type StartedTestContainer } from 'testcontainers';
import { HarnessError, UsageError } from '../errors.ts';
import { REGISTRY_HOST } from '../model.ts';
import { ROLE_LABEL } from '../ownership/labels.ts';
import type { ProgressSink } from '../progress.ts';
import { lastLines } from '../text.ts';

/** Why an untrusted case cannot have a cluster (the refusal names the way out). */
export const KUBE_UNTRUSTED =
  "the kubernetes driver runs on a k3s node in a privileged container, which the rootless engine (where untrusted cases run) cannot give: k3s needs real root for its cgroups, mounts and iptables. Fix: read the case, then run it with --trust (it then runs on the lab's own engine), or use docker-container or remote";

/** How long a node may take to be Ready (10–35 s here, on a loaded machine). */
export const NODE_READY_TIMEOUT_MS = 240_000;

/** k3s's registries.yaml: the lab registry's name, over plain HTTP (the node resolves it to the gateway). Pure. */
export function registriesYaml(registryHost: string = REGISTRY_HOST): string {
  return `mirrors:\n  "${registryHost}":\n    endpoint:\n      - "http://${registryHost}"\n`;
}

/** The node's kubeconfig as Buildx in a cell engine reads it: the API server at the node's address. Pure. */
export function kubeconfigFor(nodeConfig: string, ip: string): string {
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(ip)) throw new HarnessError(`the k3s node has no IPv4 address on the lab network (got '${ip}')`);
  const out = nodeConfig.replace(/server: https:\/\/127\.0\.0\.1:6443/g, `server: https://${ip}:6443`);
  if (out === nodeConfig) throw new HarnessError('the k3s kubeconfig names no https://127.0.0.1:6443 server to point at the node');
  return out;
}

/** Kubernetes names: a DNS label (a cell id is one). Pure. */
export function namespaceProblem(name: string): string | undefined {
  return /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(name) ? undefined : `'${name}' is not a Kubernetes namespace name (a DNS label: lower-case letters, digits and '-')`;
}

/** The kinds of object a `kube` check may read in its cell's namespace (what a driver makes, nothing cluster-wide). */
export const KUBE_OBJECT_KINDS = ['deployment', 'pod', 'configmap'] as const;
export type KubeObjectKind = (typeof KUBE_OBJECT_KINDS)[number];

/** Most bytes of an object's JSON a check reads (the node cuts the output there; more is refused, not parsed). */
export const KUBE_OBJECT_READ_LIMIT = 1 << 20;

/** An object's name as the API takes it: a DNS subdomain (RFC 1123), at most 253 characters. Pure. */
export function kubeObjectNameProblem(name: string): string | undefined {
  return name.length <= 253 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name)
    ? undefined
    : `'${name.slice(0, 100)}' is not a Kubernetes object name (lower-case letters, digits, '-' and '.', at most 253 characters, e.g. \${builder}0)`;
}

/** What reading one object gave: kubectl's exit code, its JSON (at most one byte past the limit) and its error. */
export interface KubeObjectRead {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface KubeClusterOptions {
  image: string;
  network: string;
  gateway: string;
  labels: Record<string, string>;
  progress: ProgressSink;
}

export class KubeCluster {
  private constructor(
    private readonly container: StartedTestContainer,
    /** the node's address on the lab network */
    readonly ip: string,
    /** the kubeconfig, pointing at `ip` */
    readonly kubeconfig: string,
    readonly readyMs: number,
    private readonly logTail: string[],
  ) {}

  get id(): string {
    return this.container.getId();
  }

  static async start(o: KubeClusterOptions): Promise<KubeCluster> {
    const t0 = Date.now();
    const logTail: string[] = [];
    const container = await new GenericContainer(o.image)
      .withPrivilegedMode()
      .withNetworkMode(o.network)
      .withExtraHosts([{ host: REGISTRY_HOST.split(':')[0]!, ipAddress: o.gateway }])
      .withTmpFs({ '/var/lib/rancher': 'rw,exec', '/var/lib/kubelet': 'rw,exec' })
      .withCopyContentToContainer([{ content: registriesYaml(), target: '/etc/rancher/k3s/registries.yaml' }])
      .withLabels({ ...o.labels, [ROLE_LABEL]: 'k3s-node' })
      .withLogConsumer((stream) => {
        stream.on('data', (chunk: Buffer | string) => {
          logTail.push(...chunk.toString().split('\n').filter(Boolean));
          if (logTail.length > 200) logTail.splice(0, logTail.length - 200);
        });
      })
      .start();
    try {
      const ip = container.getIpAddress(o.network);
      await waitReady(container, o.progress, logTail, t0);
      const raw = await container.exec(['cat', '/etc/rancher/k3s/k3s.yaml']);
      if (raw.exitCode !== 0) throw new HarnessError(`the k3s node wrote no kubeconfig: ${raw.output.trim()}`);
      const cluster = new KubeCluster(container, ip, kubeconfigFor(raw.stdout, ip), Date.now() - t0, logTail);
      o.progress(`k3s node ${ip}: Ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      return cluster;
    } catch (e) {
      await container.stop({ remove: true, timeout: 0 }).catch(() => undefined);
      throw e;
    }
  }

  /** A namespace for one cell's builders (created once; Buildx's driver does not create it). */
  async createNamespace(name: string): Promise<void> {
    const why = namespaceProblem(name);
    if (why) throw new UsageError(why);
    const r = await this.container.exec(['kubectl', 'create', 'namespace', name]);
    if (r.exitCode !== 0 && !/AlreadyExists/.test(r.output)) throw new HarnessError(`kubectl create namespace ${name} failed: ${r.output.trim()}`);
  }

  /** Deletes a namespace and what is in it, without waiting for its pods to end. */
  async deleteNamespace(name: string): Promise<void> {
    const why = namespaceProblem(name);
    if (why) throw new UsageError(why);
    const r = await this.container.exec(['kubectl', 'delete', 'namespace', name, '--wait=false']);
    if (r.exitCode !== 0 && !/NotFound/.test(r.output)) throw new HarnessError(`kubectl delete namespace ${name} failed: ${r.output.trim()}`);
  }

  /** kubectl on the node, as the cluster's admin (for checks on what a driver created); argv, no shell. */
  kubectl(args: readonly string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    return this.container.exec(['kubectl', ...args]);
  }

  /**
   * One object of `namespace` as JSON, through kubectl on the node (argv, no shell words from the case), its
   * output cut one byte past KUBE_OBJECT_READ_LIMIT on the node so a large object cannot fill the lab's memory.
   */
  async getObject(namespace: string, kind: KubeObjectKind, name: string): Promise<KubeObjectRead> {
    const why =
      namespaceProblem(namespace) ?? kubeObjectNameProblem(name) ?? (KUBE_OBJECT_KINDS.includes(kind) ? undefined : `kind '${kind}' is not one of ${KUBE_OBJECT_KINDS.join(', ')}`);
    if (why) throw new UsageError(why);
    // pipefail: kubectl's own exit code (NotFound is 1), not head's
    const script = 'set -o pipefail; kubectl get "$1" "$2" --namespace "$3" --output json | head -c "$4"';
    const r = await this.container.exec(['bash', '-c', script, 'kube-get', kind, name, namespace, String(KUBE_OBJECT_READ_LIMIT + 1)]);
    return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr.slice(0, 4000) };
  }

  lastLog(n = 20): string {
    return lastLines(this.logTail.join('\n'), n);
  }

  async stop(): Promise<void> {
    await this.container.stop({ remove: true, timeout: 0 }).catch(() => undefined);
  }
}

/** Polls the node's Ready condition, saying every 10 s that it still waits; the node's log on a timeout. */
async function waitReady(container: StartedTestContainer, progress: ProgressSink, logTail: string[], t0: number): Promise<void> {
  let said = t0;
  // Ready, and its not-ready taint lifted (until then no pod is scheduled)
  const jsonpath = '{.items[*].status.conditions[?(@.type=="Ready")].status}|{.items[*].spec.taints}';
  for (;;) {
    // one exec a second: kubectl fails (exit code) while the API server starts, the exec itself only once the node is gone
    const r = await container.exec(['kubectl', 'get', 'nodes', '-o', `jsonpath=${jsonpath}`]).catch((e: unknown) => e as Error);
    if (r instanceof Error) throw new HarnessError(`the k3s node stopped before it was Ready: ${lastLines(logTail.join('\n'), 15)}`);
    if (r.exitCode === 0 && r.stdout.trim() === 'True|') return;
    if (Date.now() - t0 > NODE_READY_TIMEOUT_MS) {
      throw new HarnessError(`the k3s node was not Ready within ${NODE_READY_TIMEOUT_MS / 1000} s: ${lastLines(logTail.join('\n'), 15)}`);
    }
    if (Date.now() - said >= 10_000) {
      said = Date.now();
      progress(`k3s node: waiting for it to be Ready (${Math.round((Date.now() - t0) / 1000)} s)`);
    }
    await new Promise((res) => setTimeout(res, 1000));
  }
}
