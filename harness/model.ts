// The lab's shared vocabulary. Every module speaks in these types; nothing here has side effects.

/** What one matrix cell showed, compared with the scenario's declared expectation. */
export type Outcome =
  | 'reproduced' // the bug's symptom appeared, as declared for this version range
  | 'fixed' // the fixed behaviour appeared, as declared for this version range
  | 'control' // a control cell behaved as the scenario says it always should
  | 'unexpected' // the real behaviour matched neither the declaration nor the control
  | 'error' // the lab itself failed (engine died, provisioning failed): says nothing about Buildx
  | 'skipped'; // a requirement was missing (reason recorded)

export const OUTCOMES: readonly Outcome[] = ['reproduced', 'fixed', 'control', 'unexpected', 'error', 'skipped'];

/** What a scenario may declare for a cell. */
export const DECLARED_OUTCOMES = ['reproduced', 'fixed', 'control'] as const;
export type DeclaredOutcome = (typeof DECLARED_OUTCOMES)[number];

/** The name every DinD engine uses for the lab registry (it resolves to the fault proxy). */
export const REGISTRY_HOST = 'registry:5000';

export const STORES = ['containerd', 'classic'] as const;
export type StoreKind = (typeof STORES)[number];

/** Builder drivers a cell can boot (kubernetes: on the run's one-node k3s cluster, lab/kube-cluster.ts). */
export const DRIVERS = ['docker', 'docker-container', 'remote', 'kubernetes'] as const;
export type DriverKind = (typeof DRIVERS)[number];

/** What the registry behind the proxy does (emulations of real registries; see registry/behaviours.ts). */
export const REGISTRY_BEHAVIOURS = ['plain', 'immutable-tags', 'known-index-not-retagged', 'subject-must-exist', 'late-blob-visibility'] as const;
export type RegistryBehaviour = (typeof REGISTRY_BEHAVIOURS)[number];

/** Faults on the BuildKit image pull (moby/moby#49453), by the name scenarios and cases use. */
export const PULL_FAULTS = ['corrupt', '404', 'truncated', '500'] as const;
export type PullFault = (typeof PULL_FAULTS)[number];

/** Axis name -> value, e.g. {buildx: 'v0.21.1', engine: '26.1.5', store: 'containerd'}. */
export type Axes = Readonly<Record<string, string>>;

/** One process the lab ran, kept whole so a report can show it. */
export interface CommandRecord {
  argv: string[];
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

/** One request that passed through the fault proxy. */
export interface JournalEntry {
  seq: number;
  /** ms since the proxy started */
  atMs: number;
  /** the requester's address: a DinD engine on the lab network, or 127.0.0.1 for the lab itself */
  client?: string;
  method: string;
  path: string;
  /** repository name parsed from /v2/<name>/(manifests|blobs|tags)/..., when the path has one */
  repository?: string;
  /** 'manifests' | 'blobs' | 'uploads' | 'tags' | 'base' | 'other' */
  kind: string;
  /** tag or digest after /manifests/ or /blobs/ */
  reference?: string;
  status: number;
  requestMediaType?: string;
  responseMediaType?: string;
  userAgent?: string;
  requestBytes: number;
  responseBytes: number;
  durationMs: number;
  /** sha256 digest of a PUT manifest body, or Docker-Content-Digest of the response */
  digest?: string;
  /** name of the fault rule or registry behaviour that changed this request, if any */
  intervention?: string;
}

/** What a cell keeps so that a reader can judge its outcome without rerunning it. */
export interface CellEvidence {
  commands: CommandRecord[];
  journal: JournalEntry[];
  /** raw manifests read back from the registry, by reference */
  manifests: Record<string, unknown>;
  engineLog?: string;
  /** short factual lines: "8 PUTs to the tag", "last error: ..." */
  facts: string[];
}

export interface CellTimings {
  /** engine and registry start (0 when reused) */
  startMs: number;
  buildxMs: number;
  verifyMs: number;
  totalMs: number;
  /** Buildx install for this cell (a cache hit is ~0); kept out of totalMs */
  provisionMs?: number;
}

export interface CellResult {
  scenario: string;
  /** full case name, e.g. "pull-stream-errors > buildx=v0.21.1/engine=26.1.5/fault=corrupt/store=containerd" */
  name: string;
  axes: Axes;
  /** what the scenario declares for this cell */
  expected: Outcome;
  expectedReason: string;
  outcome: Outcome;
  /** what the evidence showed, before comparing with `expected` */
  observed?: string;
  /** one line: why this outcome */
  summary: string;
  evidence: CellEvidence;
  timings: CellTimings;
  error?: { kind: string; message: string };
  startedAt: string;
}

export function emptyEvidence(): CellEvidence {
  return { commands: [], journal: [], manifests: {}, facts: [] };
}

/**
 * Another engine for the cells than the one provisioning built on: the lab's rootless engine, for untrusted
 * cases. The network, registry and DinD engines are made there; images are copied to it; the fault proxy,
 * on the host, is reached through a relay in its network namespace.
 */
export interface CellEngine {
  /** its API socket */
  host: string;
  /** its dockerd's network namespace (/proc/PID/ns/net), where the relay listens */
  netns: string;
  /** a directory of the lab's that the engine can traverse: this run's mirrors and the registry's socket */
  shareDir: string;
  /** host uid of the namespace's root, which must be able to write the registry's socket directory */
  rootUid: number;
  /** its `docker info` ID when the run chose it: untrusted leases check it again, so a swapped socket is noticed */
  engineId: string;
}
