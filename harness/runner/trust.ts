// The trust model's plumbing. A case directory is data someone else wrote, and a case can run a privileged
// container inside its DinD engine, which itself runs privileged on the host engine: on a rootful engine,
// root in the case is root on the host. So a case is trusted only when it lies in this checkout's
// fixtures/cases (resolved with realpath, so a symlink or a `..` cannot fake it) or when the user says
// --trust; every other case runs only on an engine with a real isolation boundary (engine/host.ts,
// engineIsolation), and the engine it ran on is discarded after its cell (lab/engine-pool.ts).
import { realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import type { LabConfig } from '../config.ts';
import type { CellEngine } from '../model.ts';
import { probeEngine, type EngineIsolation } from '../engine/host.ts';
import { UsageError } from '../errors.ts';
import { isGitSpec, parseGitRevision } from '../git/revision.ts';
import { KUBE_UNTRUSTED } from '../lab/kube-cluster.ts';
import { showAsEscapes, unshownChars } from '../text.ts';
import { ROOT } from './catalog.ts';
import type { CaseTrust, CellSource, PlannedCell, RunSpec } from './run-spec.ts';

/** This checkout's own cases. */
export const FIXTURE_CASES = path.join(ROOT, 'fixtures', 'cases');

/** The real path of a directory, or a UsageError naming it. */
function realDir(dir: string, what: string): string {
  let real: string;
  try {
    real = realpathSync(dir);
  } catch (e) {
    throw new UsageError(
      `${what} ${dir}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : (e as Error).message}; give a case directory (it holds case.yaml)`,
    );
  }
  if (!statSync(real).isDirectory()) throw new UsageError(`${what} ${dir} is not a directory; give a case directory (it holds case.yaml)`);
  return real;
}

/** Whether `real` lies strictly inside `root` (both real paths); pure. A sibling named like the root (cases-x) is not inside. */
export function isInside(root: string, real: string): boolean {
  const rel = path.relative(root, real);
  return rel !== '' && !rel.startsWith(`..${path.sep}`) && rel !== '..' && !path.isAbsolute(rel);
}

/**
 * The real path of the project's fixtures/cases, or undefined when it (or fixtures/) is a link: then it could
 * point anywhere, a world-writable directory say, and nothing in it is the project's own.
 */
export function projectCaseRoot(fixtures: string): string | undefined {
  const checkout = realDir(path.dirname(path.dirname(fixtures)), "the project's checkout");
  const real = realDir(fixtures, "the project's case directory");
  return real === path.join(checkout, path.basename(path.dirname(fixtures)), path.basename(fixtures)) ? real : undefined;
}

/**
 * A case directory as a cell source: its real path (what the cells will load, so a symlink swapped later
 * changes nothing) and who vouches for it. `fixtures` is the project's case root (a test may give another).
 */
export function caseSource(dir: string, opts: { trust: boolean; fixtures?: string }): Extract<CellSource, { kind: 'case' }> {
  const real = realDir(dir, 'case directory');
  const root = projectCaseRoot(opts.fixtures ?? FIXTURE_CASES);
  const trust: CaseTrust = root && isInside(root, real) ? 'project' : opts.trust ? 'user' : 'untrusted';
  return { kind: 'case', dir: real, trust };
}

/** The sources of a replayed spec, their trust decided again here: a spec is input, and its word on trust is not taken. */
export function retrust(spec: RunSpec, opts: { trust: boolean; fixtures?: string }): RunSpec {
  const again = (s: CellSource): CellSource => (s.kind === 'case' ? caseSource(s.dir, opts) : s);
  return { ...spec, cells: spec.cells.map((c) => ({ ...c, source: again(c.source) })) };
}

export function isUntrusted(source: CellSource): boolean {
  return source.kind === 'case' && source.trust === 'untrusted';
}

/** The distinct untrusted case directories of a spec, sorted; pure. */
export function untrustedCases(spec: { cells: readonly { source: CellSource }[] }): string[] {
  return [...new Set(spec.cells.flatMap((c) => (c.source.kind === 'case' && c.source.trust === 'untrusted' ? [c.source.dir] : [])))].sort();
}

const UNPRINTABLE = unshownChars();

/**
 * Refuses untrusted cases on an engine without isolation, naming why and the fix (a UsageError: exit 2,
 * before anything is provisioned); pure. No untrusted case: nothing to check.
 */
export function gateUntrusted(untrusted: readonly string[], isolation: EngineIsolation | undefined, dockerHost: string): void {
  if (untrusted.length === 0 || isolation?.isolated) return;
  // A directory name is the case author's: its control and bidi characters are shown, not obeyed by the terminal.
  const dirs = untrusted.map((d) => showAsEscapes(d, UNPRINTABLE));
  const list = dirs.length === 1 ? `case ${dirs[0]}` : `cases ${dirs.join(', ')}`;
  throw new UsageError(
    `refusing to run the untrusted ${list}: it is not in this checkout's fixtures/cases, and the Docker engine at ${dockerHost} ` +
      `has no isolation boundary (${isolation?.reason ?? 'its docker info could not be read'}). A case can run a privileged container inside its DinD engine, ` +
      'and the DinD engine runs privileged on this engine, so root in the case would be root on this host. ' +
      'Fix: let the lab run it on its own rootless engine (it starts one when run as root, unless BUILDX_LAB_ROOTLESS=0), ' +
      'or read the case (case.yaml and every file it ships) and pass --trust.',
  );
}

/**
 * Where a planned run's untrusted cases may run: nowhere to decide when every case is trusted; otherwise on
 * the lab's own rootless engine (`rootless`, started on demand), or nowhere: the refusal, naming why (before
 * anything is provisioned). The engine at `host` is asked only for the refusal's words: `name=rootless` in
 * its `docker info` is a label any dockerd can be configured to show, so the lab relies only on its own
 * rootless engine, whose process and namespace it checks (engine/rootless.ts).
 */
export async function checkTrust(
  config: LabConfig,
  spec: { cells: readonly { source: CellSource }[] },
  host: string,
  rootless: () => Promise<CellEngine>,
): Promise<{ isolation?: EngineIsolation; cellEngine?: CellEngine }> {
  const untrusted = untrustedCases(spec);
  if (untrusted.length === 0) return {};
  let why: string;
  try {
    const cellEngine = await rootless();
    return {
      isolation: {
        isolated: true,
        reason: `the lab's rootless engine (${cellEngine.host}): root in a cell's DinD, a privileged container in it too, is uid ${cellEngine.rootUid} on the host`,
      },
      cellEngine,
    };
  } catch (e) {
    why = `the lab's rootless engine could not be had: ${(e as Error).message}`;
  }
  const claimed = await probeEngine(config, host);
  const engine = claimed.isolated ? 'it says it is rootless, but that is a label the lab cannot check; it relies only on its own rootless engine' : claimed.reason;
  gateUntrusted(untrusted, { isolated: false, reason: `${engine}; and ${why}` }, host);
  throw new Error('unreachable: gateUntrusted refuses a boundary that is not isolated');
}

/** Why this process cannot start the lab's rootless engine, before anything is installed; undefined when it may try. */
export function rootlessBlocker(config: Pick<LabConfig, 'rootless'>, uid = process.getuid?.()): string | undefined {
  if (!config.rootless) return 'BUILDX_LAB_ROOTLESS=0 says not to start it';
  if (uid !== 0) return `it is set up by root (it maps a uid range and delegates cgroups), and this is uid ${uid ?? 'unknown (not Linux)'}`;
  return undefined;
}

/** The line each cell's evidence gets about its source's trust; pure. */
export function trustFact(cell: Pick<PlannedCell, 'source'>, isolation: EngineIsolation | undefined): string | undefined {
  const s = cell.source;
  if (s.kind !== 'case') return undefined;
  if (s.trust === 'project') return `case trust: trusted (in this checkout's fixtures/cases)`;
  if (s.trust === 'user') return `case trust: trusted by the user (--trust); on a rootful engine, root in it is root on the host`;
  return `case trust: untrusted (from outside this checkout's fixtures/cases); engine isolation: ${isolation ? `${isolation.isolated ? 'isolated' : 'NOT isolated'} (${isolation.reason})` : 'unknown'}; its DinD engine is discarded after this cell`;
}

/**
 * A case names Buildx or BuildKit as git:<repo>@<rev>, and the repository is a path on this host: the lab
 * fetches it into its cache and builds what it holds, and the binary runs in the case's cells, whose output
 * is the case author's to read. So an untrusted case may name only repositories the user named (on the
 * command line, `userSpecs`, or in BUILDX_LAB_BUILDX_GIT / BUILDX_LAB_BUILDKIT_GIT, `configured`); any
 * other is refused naming the fix, before anything is fetched. Pure (the specs' form was checked at load).
 */
export function gateCaseGitSpecs(source: CellSource, caseSpecs: readonly string[], userSpecs: readonly string[], configured: readonly string[]): void {
  if (source.kind !== 'case' || source.trust !== 'untrusted') return;
  const repoOf = (spec: string) => {
    try {
      return parseGitRevision(spec).repo;
    } catch {
      return undefined; // the resolver refuses it, naming why
    }
  };
  const named = new Set([...userSpecs.filter(isGitSpec).map(repoOf), ...configured]);
  const foreign = caseSpecs.filter((s) => {
    const repo = repoOf(s);
    return repo !== undefined && !named.has(repo);
  });
  if (!foreign.length) return;
  throw new UsageError(
    `refusing the untrusted case ${showAsEscapes(source.dir, UNPRINTABLE)}: it builds from ${foreign.map((s) => showAsEscapes(s, UNPRINTABLE)).join(', ')}, ` +
      "a repository on this host that you did not name, and the lab would fetch it and run what it builds in the case's cells. " +
      'Fix: name the repository yourself (--buildx/--buildkit git:<repo>@<rev>, BUILDX_LAB_BUILDX_GIT or BUILDX_LAB_BUILDKIT_GIT), or read the case and pass --trust.',
  );
}

/**
 * A replayed run spec's git requirements are input from elsewhere too: an untrusted cell of it may build only
 * from repositories the user named (`configured`), as when a run is planned (gateCaseGitSpecs). Checked
 * before anything is fetched; throws UsageError naming the case and the repository.
 */
export function gateReplayedGitRequirements(spec: Pick<RunSpec, 'cells' | 'requirements'>, configured: readonly string[]): void {
  for (const cell of spec.cells) {
    const specs = cell.requires.flatMap((id) => {
      const r = spec.requirements[id];
      const git = r && (r.kind === 'buildx' || r.kind === 'buildkit') ? r.git : undefined;
      return git ? [`git:${git.repo}@${git.commit}`] : [];
    });
    gateCaseGitSpecs(cell.source, specs, [], configured);
  }
}

/**
 * An untrusted case that boots a kubernetes builder is refused before anything is provisioned: its cells run
 * on the rootless engine, and the k3s node needs a privileged container there is no boundary around
 * (lab/kube-cluster.ts). Pure over the planned cells.
 */
export function gateUntrustedKubernetes(spec: Pick<RunSpec, 'cells'>): void {
  const dirs = [...new Set(spec.cells.flatMap((c) => (c.source.kind === 'case' && c.source.trust === 'untrusted' && c.requires.includes('image:k3s-node') ? [c.source.dir] : [])))];
  if (!dirs.length) return;
  throw new UsageError(`refusing the untrusted case ${dirs.map((d) => showAsEscapes(d, UNPRINTABLE)).join(', ')}: ${KUBE_UNTRUSTED}`);
}
