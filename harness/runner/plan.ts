// From a request (scenarios or cases, matrix, filters, shard) to a run spec: every cell with its expected
// outcome and its requirements, in the order provisioning should make them ready. Loading the
// definitions is the only I/O; a bad filter or an uncovered version fails here, before anything starts.
import type { ResolvedVersion } from '../buildx/spec.ts';
import type { LabConfig } from '../config.ts';
import { UsageError } from '../errors.ts';
import { isGitSpec } from '../git/revision.ts';
import type { ProgressSink } from '../progress.ts';
import { resolveGitTree } from '../provision/git-tree.ts';
import { firstMatch } from '../kit/checks.ts';
import { loadScenario } from './catalog.ts';
import type { RunOptions } from './options.ts';
import { compileOrder } from './provision.ts';
import { RUN_SPEC_VERSION, type CellSource, type PlannedCell, type Requirement, type RunSpec } from './run-spec.ts';
import { expandScenario } from './scenario.ts';
import { gateCaseGitSpecs, gateUntrustedKubernetes } from './trust.ts';

/** A run as planned: the options of the command line, plus what the command and the lab decided. */
export interface PlanRequest extends Omit<RunOptions, 'reportDir'> {
  command: RunSpec['command'];
  argv: string[];
  sources: CellSource[];
  reportDir: string;
  runId: string;
  dockerHost: string;
  /** repositories the user configured (BUILDX_LAB_BUILDX_GIT, BUILDX_LAB_BUILDKIT_GIT): an untrusted case may build from them */
  gitRepos?: readonly string[];
}

/** The i-th of n contiguous slices (cells of one version stay together, so a shard builds few versions); pure. */
export function shardSlice<T>(items: readonly T[], index: number, total: number): T[] {
  if (!Number.isInteger(index) || !Number.isInteger(total) || index < 1 || index > total) throw new UsageError(`shard ${index}/${total}: give i/n with 1 <= i <= n`);
  const size = Math.ceil(items.length / total);
  return items.slice((index - 1) * size, index * size);
}

/**
 * Cells are named by their scenario's id, and a case's id by its directory's name: two sources with one id
 * would share cell names, and the cells would run whichever loaded first. Refused, naming both; the same
 * source named twice is planned once (true: already planned).
 */
export function alreadyPlanned(id: string, source: CellSource, seen: Map<string, CellSource>): boolean {
  const other = seen.get(id);
  const where = (s: CellSource) => (s.kind === 'case' ? s.dir : s.module);
  if (other && where(other) !== where(source))
    throw new UsageError(`${where(other)} and ${where(source)} are both named ${id}: cells are named by it, so one would run as the other. Rename one of the directories.`);
  seen.set(id, source);
  return other !== undefined;
}

/** What a git spec builds: it words the messages (a server URL names the clone to make). */
export type GitProduct = 'Buildx' | 'BuildKit';

/** Resolves a git:<repo>@<rev> Buildx or BuildKit spec to its commit (fetching the lab's clone): provision/git-tree.ts. */
export type GitResolver = (spec: string, product: GitProduct) => Promise<ResolvedVersion>;

const noGitResolver: GitResolver = async (spec, product) => {
  throw new UsageError(`${spec}: this command does not build ${product} from Git`);
};

/** The repositories the user configured (BUILDX_LAB_BUILDX_GIT, BUILDX_LAB_BUILDKIT_GIT); pure. */
export function configuredGitRepos(config: Pick<LabConfig, 'buildxGit' | 'buildkitGit'>): string[] {
  return [config.buildxGit, config.buildkitGit].filter((r): r is string => r !== undefined);
}

/** The lab's resolver: the commit in its cached clone of the repository, named as the cells will name it. */
export function labGitResolver(config: LabConfig, progress: ProgressSink): GitResolver {
  return async (spec, product) => ({ ...(await resolveGitTree(config, spec, product, progress)), via: 'git' });
}

type VersionAxes = { buildx?: readonly string[]; buildkit?: readonly string[] };

/** Every git spec of `axis` a scenario's matrices may use (and `filter`, the command line's), once each; pure. */
export function gitSpecsOf(s: { axes: VersionAxes; quick?: VersionAxes; all?: VersionAxes }, filter: readonly string[] = [], axis: keyof VersionAxes = 'buildx'): string[] {
  return [...new Set([...filter, ...(s.axes[axis] ?? []), ...(s.quick?.[axis] ?? []), ...(s.all?.[axis] ?? [])].filter(isGitSpec))];
}

// Stryker disable all: planRun loads scenario modules; mutation testing covers the pure parts it calls (shardSlice, expandScenario)
export async function planRun(req: PlanRequest, resolveGit: GitResolver = noGitResolver): Promise<RunSpec> {
  let cells: PlannedCell[] = [];
  const requirements: Record<string, Requirement> = {};
  const sourceOf = new Map<string, CellSource>();
  const git = new Map<string, ResolvedVersion>();
  for (const source of req.sources) {
    const s = await loadScenario(source);
    if (alreadyPlanned(s.id, source, sourceOf)) continue;
    // an untrusted case names no repository of this host's the user did not name (checked before any fetch)
    gateCaseGitSpecs(
      source,
      [...gitSpecsOf(s, [], 'buildx'), ...gitSpecsOf(s, [], 'buildkit')],
      [...(req.filters.buildx ?? []), ...(req.filters.buildkit ?? [])],
      req.gitRepos ?? [],
    );
    for (const [axis, product] of [
      ['buildx', 'Buildx'],
      ['buildkit', 'BuildKit'],
    ] as const)
      for (const spec of gitSpecsOf(s, req.filters[axis], axis)) if (!git.has(spec)) git.set(spec, await resolveGit(spec, product));
    const x = expandScenario(s, { matrix: req.matrix, filters: req.filters, repeat: req.repeat, source, git });
    gateUntrustedKubernetes(x);
    cells.push(...x.cells);
    Object.assign(requirements, x.requirements);
  }
  if (req.pattern !== undefined) cells = cells.filter((c) => firstMatch(req.pattern!, c.key) !== undefined);
  if (req.shard) cells = shardSlice(cells, req.shard.index, req.shard.total);
  if (cells.length === 0) {
    const f = Object.entries(req.filters)
      .map(([k, v]) => `--${k} ${v.join(',')}`)
      .join(' ');
    throw new UsageError(
      `no cell to run: ${[f && `the filters (${f})`, req.pattern && `-t ${req.pattern}`, req.shard && `shard ${req.shard.index}/${req.shard.total}`].filter(Boolean).join(', ') || 'the selection'} select nothing. ` +
        'A scenario without a filtered axis is left out (e.g. --fault selects pull-stream only).',
    );
  }
  const used = new Set(cells.flatMap((c) => c.requires));
  const ordered = compileOrder([...used]);
  return {
    version: RUN_SPEC_VERSION,
    runId: req.runId,
    createdAt: new Date().toISOString(),
    command: req.command,
    argv: req.argv,
    reportDir: req.reportDir,
    dockerHost: req.dockerHost,
    jobs: req.jobs,
    cells,
    requirements: Object.fromEntries(ordered.map((id) => [id, requirements[id]!])),
  };
}
// Stryker restore all
