// Removing what earlier lab runs left behind (killed runners), and telling which runs on the engine are
// alive. A run is judged as a whole (engine/owner.ts): by its pid when that pid is provably ours to read,
// otherwise by the heartbeat its registry container holds. Only provably abandoned runs are removed.
import { connect } from 'node:net';
import { childEnv, type LabConfig } from '../config.ts';
import { run } from '../exec.ts';
import { HEARTBEAT_FILE, LAB_LABEL, PID_LABEL, ROLE_LABEL, RUN_LABEL, ownerFromLabels } from './labels.ts';
import { currentOwner, isLocalOwner, judgeOwner, probeProcess, type HeartbeatProbe, type Owner, type Verdict } from './owner.ts';

export interface SweepResult {
  containers: number;
  networks: number;
  volumes: number;
}

type ResourceKind = 'container' | 'network' | 'volume';

export interface LabResource {
  kind: ResourceKind;
  id: string;
  runId: string;
  labels: Record<string, string>;
  /** on the engine's clock */
  createdMs: number;
  /** containers only */
  state?: { status: string; finishedMs: number };
}

export interface RunSurvey {
  runId: string;
  owner: Partial<Owner>;
  verdict: Verdict;
  resources: LabResource[];
}

export interface SweepReport {
  removed: SweepResult;
  /** every run seen, and whether its resources were removed */
  runs: (Omit<RunSurvey, 'resources'> & { removed: boolean; counts: SweepResult })[];
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port, timeout: 1000 });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
    sock.once('timeout', () => {
      sock.destroy();
      resolve(false);
    });
  });
}

/** `docker inspect` prints what it found even when some ids vanished in between (exit 1): keep what parses. */
function parseInspect<T>(stdout: string): T[] {
  try {
    const v = JSON.parse(stdout) as unknown;
    return Array.isArray(v) ? (v as T[]) : [];
  } catch {
    return [];
  }
}

interface ContainerInspect {
  Id: string;
  Created: string;
  Config: { Labels: Record<string, string> | null };
  State: { Status: string; FinishedAt: string };
}
interface NetworkInspect {
  Id: string;
  Created: string;
  Labels: Record<string, string> | null;
}
interface VolumeInspect {
  Name: string;
  CreatedAt: string;
  Labels: Record<string, string> | null;
}

/** Every resource carrying the run label (of one run, when given), with what the judgement needs. */
export async function listLabResources(config: LabConfig, runId?: string): Promise<LabResource[]> {
  const env = childEnv(config);
  const filter = ['--filter', runId ? `label=${RUN_LABEL}=${runId}` : `label=${RUN_LABEL}`];
  const ids = async (ls: string[]) => (await run([...ls, ...filter], { env, timeoutMs: 30_000 })).stdout.split('\n').filter(Boolean);
  const inspect = async <T>(kind: ResourceKind, list: string[]) =>
    list.length ? parseInspect<T>((await run(['docker', kind, 'inspect', ...list], { env, timeoutMs: 30_000 })).stdout) : [];
  const [c, n, v] = await Promise.all([
    ids(['docker', 'container', 'ls', '-a', '-q', '--no-trunc']),
    ids(['docker', 'network', 'ls', '-q', '--no-trunc']),
    ids(['docker', 'volume', 'ls', '-q']),
  ]);
  const [containers, networks, volumes] = await Promise.all([
    inspect<ContainerInspect>('container', c),
    inspect<NetworkInspect>('network', n),
    inspect<VolumeInspect>('volume', v),
  ]);
  const resource = (kind: ResourceKind, id: string, labels: Record<string, string> | null, created: string): LabResource => ({
    kind,
    id,
    runId: labels?.[RUN_LABEL] ?? '',
    labels: labels ?? {},
    createdMs: Date.parse(created) || 0,
  });
  return [
    ...containers.map((x) => ({ ...resource('container', x.Id, x.Config.Labels, x.Created), state: { status: x.State.Status, finishedMs: Date.parse(x.State.FinishedAt) || 0 } })),
    ...networks.map((x) => resource('network', x.Id, x.Labels, x.Created)),
    ...volumes.map((x) => resource('volume', x.Name, x.Labels, x.CreatedAt)),
  ];
}

/** The engine's clock, which stamped every Created time and every heartbeat. */
async function engineNowMs(config: LabConfig): Promise<number> {
  const r = await run(['docker', 'info', '--format', '{{json .SystemTime}}'], { env: childEnv(config), timeoutMs: 30_000 });
  try {
    return Date.parse(JSON.parse(r.stdout) as string) || Date.now();
  } catch {
    return Date.now();
  }
}

/** The age of a run's heartbeat, read in its registry container on the engine's clock. */
async function readHeartbeat(config: LabConfig, registry: LabResource | undefined, nowMs: number): Promise<HeartbeatProbe> {
  if (!registry?.state || registry.state.status === 'created') return { kind: 'missing' };
  if (registry.state.status !== 'running') {
    // A stopped registry can no longer be touched: its heartbeat is at least as old as its stop.
    return registry.state.finishedMs > 0
      ? { kind: 'age', ms: Math.max(0, nowMs - registry.state.finishedMs) }
      : { kind: 'unreadable', why: `registry container is ${registry.state.status}` };
  }
  const script = `if m=$(stat -c %Y ${HEARTBEAT_FILE} 2>/dev/null); then echo $(( $(date +%s) - m )); else echo none; fi`;
  const r = await run(['docker', 'exec', registry.id, 'sh', '-c', script], { env: childEnv(config), timeoutMs: 15_000 });
  const out = r.stdout.trim();
  if (r.exitCode === 0 && /^-?\d+$/.test(out)) return { kind: 'age', ms: Math.max(0, Number(out)) * 1000 };
  if (r.exitCode === 0 && out === 'none') return { kind: 'missing' };
  return { kind: 'unreadable', why: `docker exec exited ${r.exitCode}: ${(r.stderr || out).trim().split('\n').pop()}` };
}

/** Every lab run on the engine with its verdict: alive, abandoned, or unknown (left alone). */
export async function surveyRuns(config: LabConfig, resources?: LabResource[]): Promise<RunSurvey[]> {
  const all = resources ?? (await listLabResources(config));
  const byRun = new Map<string, LabResource[]>();
  for (const r of all) byRun.set(r.runId, [...(byRun.get(r.runId) ?? []), r]);
  const me = currentOwner();
  let clock: Promise<number> | undefined;
  const now = () => {
    clock ??= engineNowMs(config);
    return clock;
  };
  return Promise.all(
    [...byRun].map(async ([runId, rs]) => {
      const registry = rs.filter((r) => r.kind === 'container' && r.labels[ROLE_LABEL] === 'registry').sort((a, b) => b.createdMs - a.createdMs)[0];
      // The registry is created last at start, so its labels are the run's; any resource's will do otherwise.
      const owner = ownerFromLabels((registry ?? rs[0]!).labels);
      const local = isLocalOwner(owner, me);
      const nowMs = local ? 0 : await now();
      const heartbeat: HeartbeatProbe = local ? { kind: 'missing' } : await readHeartbeat(config, registry, nowMs);
      const newestMs = local ? 0 : nowMs - Math.max(...rs.map((r) => r.createdMs));
      const verdict = judgeOwner({ owner, me, process: probeProcess, heartbeat, newestMs, policy: config.ownerPolicy });
      return { runId, owner, verdict, resources: rs };
    }),
  );
}

function count(rs: readonly LabResource[]): SweepResult {
  return {
    containers: rs.filter((r) => r.kind === 'container').length,
    networks: rs.filter((r) => r.kind === 'network').length,
    volumes: rs.filter((r) => r.kind === 'volume').length,
  };
}

async function removeResources(config: LabConfig, rs: readonly LabResource[]): Promise<void> {
  const env = childEnv(config);
  const of = (k: ResourceKind) => rs.filter((r) => r.kind === k).map((r) => r.id);
  // Containers first: they hold the networks and volumes.
  if (of('container').length) await run(['docker', 'container', 'rm', '-f', '-v', ...of('container')], { env, timeoutMs: 60_000 });
  if (of('network').length) await run(['docker', 'network', 'rm', ...of('network')], { env, timeoutMs: 60_000 });
  if (of('volume').length) await run(['docker', 'volume', 'rm', '-f', ...of('volume')], { env, timeoutMs: 60_000 });
}

/**
 * Tags made to push a lab image through a run's loopback proxy (127.0.0.1:<port>/...), left when a run was
 * killed between tag and untag. A tag names no run, and a run elsewhere pushes through a loopback we cannot
 * see: so only when no run on the engine may still be alive, and nothing here listens on the port.
 */
async function sweepPushTags(config: LabConfig, all: boolean): Promise<void> {
  const env = childEnv(config);
  const tags = await run(['docker', 'image', 'ls', '--filter', `label=${LAB_LABEL}.image`, '--format', '{{.Repository}}:{{.Tag}}'], { env, timeoutMs: 30_000 });
  for (const tag of tags.stdout.split('\n').filter((t) => /^127\.0\.0\.1:\d+\//.test(t))) {
    const port = Number(/^127\.0\.0\.1:(\d+)\//.exec(tag)![1]);
    if (all || !(await portOpen(port))) await run(['docker', 'image', 'rm', tag], { env, timeoutMs: 30_000 });
  }
}

export type SweepScope =
  /** runs judged abandoned (the default: every run start, `buildx-lab clean`) */
  | { abandoned: true }
  /** one run's resources, optionally only those its process `pid` labelled (a run cleaning up after itself) */
  | { runId: string; pid?: number }
  /** every lab resource, live runs' too (`buildx-lab clean --all`) */
  | { all: true };

export async function sweepLeftovers(config: LabConfig, scope: SweepScope = { abandoned: true }): Promise<SweepReport> {
  if ('runId' in scope) {
    const rs = (await listLabResources(config, scope.runId)).filter((r) => scope.pid === undefined || r.labels[PID_LABEL] === String(scope.pid));
    await removeResources(config, rs);
    return { removed: count(rs), runs: [] };
  }
  const runs = await surveyRuns(config);
  const chosen = 'all' in scope ? runs : runs.filter((r) => r.verdict.state === 'abandoned');
  const gone = chosen.flatMap((r) => r.resources);
  await removeResources(config, gone);
  if ('all' in scope || chosen.length === runs.length) await sweepPushTags(config, 'all' in scope);
  return {
    removed: count(gone),
    runs: runs.map(({ resources, ...r }) => ({ ...r, removed: chosen.some((c) => c.runId === r.runId), counts: count(resources) })),
  };
}

/** One line per run, for the console: what a sweep removed and what it left alone, and why. */
export function describeSweep(report: SweepReport): string[] {
  const n = (c: SweepResult) => `${c.containers} containers, ${c.networks} networks, ${c.volumes} volumes`;
  return report.runs.map((r) => `${r.removed ? 'removed' : 'left alone'} run ${r.runId || '(unnamed)'}: ${r.verdict.state}, ${r.verdict.reason} (${n(r.counts)})`);
}
