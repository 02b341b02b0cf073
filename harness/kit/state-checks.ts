// Checks on what a cell left behind, where the recorded output cannot tell: files and Buildx state in the
// sandbox, the engine's images, the registry's content, the objects a kubernetes builder made. They need
// four things of a cell (look at paths, run docker, verify a push target through the lab's own client, read
// an object of its namespace), given as a small port so that a stand-in drives every branch in unit tests;
// the Kit is the real one.
import { HarnessError } from '../errors.ts';
import type { RunResult } from '../exec.ts';
import { KUBE_OBJECT_READ_LIMIT, type KubeObjectKind, type KubeObjectRead } from '../lab/kube-cluster.ts';
import { describeReport, type VerificationReport } from '../oci/verify.ts';
import { isIndexMediaType } from '../oci/types.ts';
import { annotationProblems, checkKubeObject, checkPath, evaluateJson, type Check, type CheckResult } from './checks.ts';
import { clip } from '../text.ts';
import type { CellSandbox } from './sandbox.ts';
import { registryTarget, type PushTarget } from './target.ts';

export interface StatePort {
  /** the cell's context and Buildx state, for file: and state: */
  sandbox: Pick<CellSandbox, 'resolveInContext' | 'resolveInState' | 'look'>;
  /** a docker client command in the cell's engine, for image: */
  docker(args: readonly string[]): Promise<RunResult>;
  /** what the registry holds under a target, read by the lab's own client, for registry: */
  verify(target: PushTarget, platforms: readonly string[], opts: { requireIndex?: boolean }): Promise<VerificationReport>;
  fact(text: string): void;
  /** one object of the cell's own namespace as JSON, for kube: (absent: the cell has no cluster) */
  kube?(kind: KubeObjectKind, name: string): Promise<KubeObjectRead>;
}

/** A check on the cell's state (file, state, kube, image, registry); the others are judged from the recorded output. */
export async function checkState(port: StatePort, c: Check): Promise<CheckResult> {
  switch (c.kind) {
    case 'file':
    case 'state':
      return checkPath(port.sandbox, c);
    case 'image':
      return checkEngineImage(port, c);
    case 'registry':
      return checkRegistry(port, c);
    case 'kube':
      return checkKube(port, c);
    default:
      throw new HarnessError(`check ${c.kind} has no evaluation`);
  }
}

async function checkEngineImage(port: StatePort, c: Extract<Check, { kind: 'image' }>): Promise<CheckResult> {
  const inspect = await port.docker(['image', 'inspect', '--format', '{{.Id}} {{.Os}}/{{.Architecture}}', c.ref]);
  const exists = inspect.exitCode === 0;
  if (c.exists === false) return { holds: !exists, detail: `engine image ${c.ref}: ${exists ? 'present' : 'absent'}` };
  if (!exists) return { holds: false, detail: `engine image ${c.ref}: absent` };
  if (!c.platforms?.length) return { holds: true, detail: `engine image ${c.ref}: present (${inspect.stdout.trim()})` };
  // Per platform: `image inspect --platform` (API 1.49+); the classic store holds one platform per image.
  const missing: string[] = [];
  for (const p of c.platforms) {
    const r = await port.docker(['image', 'inspect', '--platform', p, '--format', '{{.Os}}/{{.Architecture}}', c.ref]);
    const ok = r.exitCode === 0 ? r.stdout.trim() === p.split('/').slice(0, 2).join('/') : /unknown flag/.test(r.stderr) ? inspect.stdout.trim().endsWith(p) : false;
    if (!ok) missing.push(p);
  }
  return { holds: missing.length === 0, detail: missing.length ? `engine image ${c.ref}: no ${missing.join(', ')}` : `engine image ${c.ref}: has ${c.platforms.join(', ')}` };
}

async function checkRegistry(port: StatePort, c: Extract<Check, { kind: 'registry' }>): Promise<CheckResult> {
  const t = registryTarget(c.ref);
  const report = await port.verify(t, c.platforms ?? [], { requireIndex: c.index ?? false });
  const exists = !report.problems.some((p) => p.code === 'not-found');
  if (c.exists === false) return { holds: !exists, detail: `registry ${t.repository}:${t.tag}: ${exists ? 'present' : 'absent'}` };
  if (!exists) return { holds: false, detail: `registry ${t.repository}:${t.tag}: absent` };
  const fails: string[] = [];
  const isIndex = report.topMediaType !== undefined && isIndexMediaType(report.topMediaType);
  if (c.index !== undefined && isIndex !== c.index) fails.push(isIndex ? 'is an index' : `is a single manifest (${report.platforms.join(', ')})`);
  if (c.platforms) {
    const missing = c.platforms.filter((p) => !report.platforms.includes(p));
    if (missing.length) fails.push(`lacks ${missing.join(', ')}`);
    const extra = report.platforms.filter((p) => !c.platforms!.includes(p));
    if (c.exactPlatforms && extra.length) fails.push(`also has ${extra.join(', ')}`);
  }
  if (c.lacks) {
    const missing = c.lacks.filter((p) => !report.platforms.includes(p));
    if (!missing.length) fails.push(`has every one of ${c.lacks.join(', ')}`);
  }
  if (c.complete !== undefined && report.ok !== c.complete) fails.push(report.ok ? 'is complete' : `is incomplete (${report.problems.map((p) => p.code).join(', ')})`);
  if (c.attestations !== undefined && report.attestations > 0 !== c.attestations)
    fails.push(report.attestations > 0 ? `has ${report.attestations} attestation manifest(s)` : 'has no attestation manifest');
  if (c.annotations || c.lacksAnnotations) {
    const top = report.topDigest ? (report.manifests[report.topDigest] as { annotations?: unknown } | undefined) : undefined;
    fails.push(...annotationProblems(top?.annotations, c));
  }
  port.fact(describeReport(report).split('\n')[0]!);
  return { holds: fails.length === 0, detail: `registry ${t.repository}:${t.tag}: ${fails.length ? fails.join('; ') : 'as expected'}` };
}

/** An object the cell's kubernetes builder made, read in the cell's own namespace: absent, present, or a JSON answer. */
async function checkKube(port: StatePort, c: Extract<Check, { kind: 'kube' }>): Promise<CheckResult> {
  // again with the lab values filled in: ${builder} must still give a name, never a flag or a path
  checkKubeObject(c);
  if (!port.kube) throw new HarnessError('this cell has no Kubernetes cluster to read: kube: checks need driver: kubernetes');
  const name = `${c.get} ${c.name}`;
  const r = await port.kube(c.get, c.name);
  const absent = r.exitCode !== 0 && /^Error from server \(NotFound\)/m.test(r.stderr);
  if (r.exitCode !== 0 && !absent && r.stdout.length <= KUBE_OBJECT_READ_LIMIT)
    throw new HarnessError(`kubectl get ${name} failed (exit ${r.exitCode}): ${clip(r.stderr.trim(), 300)}`);
  if (c.exists === false) return { holds: absent, detail: `${name}: ${absent ? 'absent' : 'present'}` };
  if (absent) return { holds: false, detail: `${name}: absent` };
  if (!c.json) return { holds: true, detail: `${name}: present` };
  if (r.stdout.length > KUBE_OBJECT_READ_LIMIT) return { holds: false, detail: `${name}: its JSON is larger than ${KUBE_OBJECT_READ_LIMIT >> 20} MiB, more than json: reads` };
  const j = evaluateJson(c.json, r.stdout);
  return { holds: j.holds, detail: `${name}: ${j.detail}` };
}
