// A validated case.yaml turned into the case the lab runs: the matrix resolved against the release lists,
// the steps and checks as the kit's, the rules that span keys (steps naming each other, the serve section
// against the case directory, which lab values need which server), every message on case.yaml's line.
import semver from 'semver';
import { loadReleases, resolveSpec } from '../buildx/spec.ts';
import { parseGitBuildxSpec } from '../buildx/git-source.ts';
import { isGitSpec } from '../git/revision.ts';
import { parseLocalGitSpec } from '../provision/git-tree.ts';
import { resolveEngineSpec } from '../engine/spec.ts';
import type { PullFault } from '../model.ts';
import { validateCheck, type Check } from '../kit/checks.ts';
import { kubeDriverOptsProblem } from '../kit/lab-owned.ts';
import { NODE_ACTIONS, isEngineAction, removeNodeProblem, type FaultAction, type InteractAction, type Step } from '../kit/steps.ts';
import type { RunAs } from '../kit/sandbox.ts';
import { checkBuildkitVersion } from '../buildkit/image.ts';
import { repoBuildOrder, type ServeSpec } from '../serve/spec.ts';
import { s3UseProblem } from '../serve/s3-spec.ts';
import { dapScript, dapStepProblem } from './dap-step.ts';
import { tracesProblems, tracesSpec, type TracesSpec } from './traces.ts';
import { caseFilePath, caseFiles, readDockerConfig, type CaseFile } from './case-files.ts';
import { WAIT_DEFAULT_S, labValuesIn, type CaseInput, type CheckShape, type Key, type ServeInput, type Source, type StepInput } from './case-schema.ts';

/** A step of the kit, with the checks that judge it alone. */
export interface CaseStep extends Step {
  checks: Check[];
}

export interface ReproCase {
  /** real path of the case directory */
  dir: string;
  title: string;
  links: string[];
  versions: string[];
  engine: string[];
  store: string[];
  driver: string[];
  buildkit: string[];
  registry: string[];
  builder: NonNullable<CaseInput['builder']>;
  env: Record<string, string>;
  config: NonNullable<CaseInput['config']>;
  git: boolean;
  /** with git: case files left out of the commit (untracked), so the working tree is dirty */
  gitUncommitted: string[];
  /** what the lab serves to the builds (${http}, ${git}); absent: no server starts */
  serve?: ServeSpec;
  /** the lab's OTLP receiver (${otlp}) and what exports to it; absent: none starts */
  traces?: TracesSpec;
  repeat: number;
  verdict: 'any' | 'majority';
  /** the pull fault of the boot-builder step: the cells' `fault` axis */
  fault?: PullFault;
  steps: CaseStep[];
  /** checks on the whole case; with the steps' own, all must hold for "present" */
  checks: Check[];
  /** buildx range -> whether the symptom is expected, first match wins; empty when the case declares none */
  expect: { range: string; present: boolean }[];
  /** lab values the steps and checks name */
  uses: Set<string>;
  files: CaseFile[];
}

export function buildCase(src: Source, c: CaseInput, root: string): ReproCase {
  const releases = loadReleases();
  const versions = c.versions ?? ['latest'];
  versions.forEach((v, i) => {
    try {
      // a git spec is checked here for its form; the commit is resolved when a run is planned
      if (isGitSpec(v)) parseGitBuildxSpec(v);
      else resolveSpec(v, releases, { includePrerelease: /-rc/.test(v) });
    } catch (e) {
      src.fail(Array.isArray(src.doc.toJS().versions) ? ['versions', i] : ['versions'], (e as Error).message);
    }
  });
  const engine = c.engine ?? ['26.1'];
  engine.forEach((e, i) => {
    try {
      resolveEngineSpec(e);
    } catch (x) {
      src.fail(Array.isArray(src.doc.toJS().engine) ? ['engine', i] : ['engine'], (x as Error).message);
    }
  });
  const buildkit = c.buildkit ?? [];
  buildkit.forEach((b, i) => {
    try {
      // a git spec is checked here for its form; the commit is resolved when a run is planned
      if (isGitSpec(b)) parseLocalGitSpec(b, 'BuildKit');
      else checkBuildkitVersion(b);
    } catch (x) {
      src.fail(['buildkit', i], (x as Error).message);
    }
  });
  if (!c.steps) src.fail(['steps'], 'is required: what the case runs, e.g. steps: [{buildx: [build, .]}] (see "Steps" in fixtures/cases/README.md)');
  const driver = c.driver ?? ['docker'];
  if (c.builder?.remote && !driver.includes('remote')) src.fail(['builder', 'remote'], 'applies to driver: remote');
  if (c.builder?.remote?.proxy && c.builder.remote.transport !== 'tcp') src.fail(['builder', 'remote', 'proxy'], 'the proxy listens on TCP: set transport: tcp');
  if (c.builder?.remote?.proxy && c.builder.remote.tls)
    src.fail(['builder', 'remote', 'proxy'], 'the proxy speaks cleartext HTTP/2 (h2c) to Buildx: drop tls: true, or drop proxy');
  if (c.builder?.rootless && driver.some((d) => d !== 'docker-container')) src.fail(['builder', 'rootless'], 'applies to driver: docker-container (the rootless BuildKit image)');
  if (c.builder?.nodes && driver.some((d) => d !== 'docker-container'))
    src.fail(['builder', 'nodes'], 'a multi-node builder is a docker-container builder: set driver: docker-container');
  if (c.builder?.driverOpts && driver.includes('kubernetes')) {
    const why = kubeDriverOptsProblem(Object.entries(c.builder.driverOpts));
    if (why) src.fail(['builder', 'driverOpts'], why);
  }

  const symptoms = c.symptom === undefined ? [] : Array.isArray(c.symptom) ? c.symptom : [c.symptom];
  if (!symptoms.length && !(c.steps ?? []).some((s) => s.symptom))
    src.fail(['symptom'], 'is required: what shows the bug (output, notOutput, panic, exitCode, file, state, image, registry, requests)');
  const checks = symptoms.flatMap((s, i) => toChecks(src, s, Array.isArray(c.symptom) ? ['symptom', i] : ['symptom'], undefined));

  const steps: CaseStep[] = (c.steps ?? []).map((s, i) => {
    const id = s.id ?? `${i + 1}`;
    const own = s.symptom === undefined ? [] : Array.isArray(s.symptom) ? s.symptom : [s.symptom];
    return {
      ...timedStep(src, s, i, driver, c.builder?.nodes?.length ?? 0),
      id,
      env: s.env ?? {},
      ...(s.cwd ? { cwd: s.cwd } : {}),
      ...(s.timeout ? { timeoutMs: s.timeout * 1000 } : {}),
      ...(s.stdout ? { stdout: s.stdout } : {}),
      ...(s.stdin ? { stdin: s.stdin } : {}),
      checks: own.flatMap((x, j) => toChecks(src, { step: id, ...x }, Array.isArray(s.symptom) ? ['steps', i, 'symptom', j] : ['steps', i, 'symptom'], id)),
    };
  });
  const ids = new Set<string>();
  // background steps not yet awaited, as the steps go
  const backgrounded = new Set<string>();
  // the step that boots the lab's builder, when the case boots it as a step
  let booted: string | undefined;
  steps.forEach((s, i) => {
    if (ids.has(s.id)) src.fail(['steps', i, 'id'], `step id ${s.id} is used twice`);
    if (s.action === 'boot-builder' && booted !== undefined) src.fail(['steps', i, 'action'], `the lab's builder boots once, and step ${booted} boots it already`);
    if (s.action === 'boot-builder') booted = s.id;
    if (s.action && s.action !== 'boot-builder' && !isEngineAction(s.action) && booted === undefined && steps.some((x) => x.action === 'boot-builder'))
      src.fail(['steps', i, 'action'], `${s.action} acts on the lab's builder, which a later step boots (boot-builder); move it after that step`);
    if (s.stdin && 'step' in s.stdin && !ids.has(s.stdin.step))
      src.fail(['steps', i, 'stdin', 'step'], `names step ${s.stdin.step}, which does not run before this one${ids.size ? ` (earlier steps: ${[...ids].join(', ')})` : ''}`);
    for (const a of s.await ?? []) {
      if (!backgrounded.has(a))
        src.fail(
          ['steps', i, 'await'],
          `${a} is not a background step before this one${ids.has(a) ? ' (or it was awaited already)' : ''}; await names an earlier step with background: true`,
        );
      backgrounded.delete(a);
    }
    ids.add(s.id);
    if (s.background) backgrounded.add(s.id);
  });
  // `repeat:` runs the steps again on the cell's engine after a reset, and a reset does not give a shrunk
  // disk back: run 2 would start full. The CLI's --repeat makes each run a cell of its own, and a cell
  // that filled its engine's disk discards that engine (runner/cell.ts), so each run gets a fresh one.
  const fills = steps.filter((s) => s.action === 'fill-engine-disk');
  if ((c.repeat ?? 1) > 1 && fills.length)
    src.fail(
      ['repeat'],
      `repeats the steps on the same engine, whose disk step ${fills[0]!.id} (fill-engine-disk) leaves shrunk for the next run; drop repeat: and run \`buildx-lab repro DIR --repeat ${c.repeat}\` instead (each run a cell of its own, on a fresh engine)`,
    );
  for (const [i, ch] of [...checks, ...steps.flatMap((s) => s.checks)].entries()) {
    if (ch.kind === 'kube' && driver.some((d) => d !== 'kubernetes'))
      src.fail(
        ['symptom'],
        `check ${i + 1} (kube:) reads the cell's namespace on the lab's k3s cluster, which only driver: kubernetes has: set driver: kubernetes, or check the builder another way`,
      );
    const step = 'step' in ch ? ch.step : undefined;
    if (step !== undefined && !ids.has(step)) src.fail(['symptom'], `check ${i + 1} names step ${step}, which the case does not have (steps: ${[...ids].join(', ')})`);
  }

  const expect: ReproCase['expect'] = [];
  for (const [range, word] of Object.entries(c.expect ?? {})) {
    if (!semver.validRange(range, { includePrerelease: true })) src.fail(['expect', range], `${JSON.stringify(range)} is not a semver range`);
    expect.push({ range, present: word === 'present' });
  }
  const uses = new Set<string>();
  const scan = (t: string) => {
    for (const n of labValuesIn(t)) uses.add(n);
  };
  for (const s of steps) {
    s.argv.forEach(scan);
    for (const a of [...(s.interact ?? []), ...(s.runInTerminal ?? [])]) if ('send' in a) scan(a.send);
    for (const a of s.dap ?? []) if ('request' in a && a.arguments !== undefined) scan(JSON.stringify(a.arguments));
    Object.values(s.env).forEach(scan);
  }
  Object.values(c.env ?? {}).forEach(scan);
  for (const ch of [...checks, ...steps.flatMap((s) => s.checks)]) for (const m of JSON.stringify(ch).matchAll(/\$\{[^}]*\}/g)) scan(m[0]);

  for (const [k, v] of [
    ['builder.buildkitdConfig', c.builder?.buildkitdConfig],
    ['config.buildkitdDefault', c.config?.buildkitdDefault],
    ['config.dockerConfig', c.config?.dockerConfig],
  ] as const) {
    if (v === undefined) continue;
    try {
      caseFilePath(root, v);
    } catch (e) {
      src.fail(k.split('.'), (e as Error).message);
    }
  }
  for (const [at, rel] of Object.entries(c.config?.home ?? {})) {
    try {
      caseFilePath(root, rel);
    } catch (e) {
      src.fail(['config', 'home', at], (e as Error).message);
    }
  }
  if (c.config?.dockerConfig !== undefined) {
    try {
      readDockerConfig(root, c.config.dockerConfig);
    } catch (e) {
      src.fail(['config', 'dockerConfig'], (e as Error).message);
    }
  }
  if (typeof c.git === 'object')
    c.git.uncommitted.forEach((rel, i) => {
      try {
        caseFilePath(root, rel);
      } catch (e) {
        src.fail(['git', 'uncommitted', i], (e as Error).message);
      }
    });
  for (const v of ['http', 'git'] as const)
    if (uses.has(v) && !c.serve?.[v]) src.fail(['serve'], `the case names \${${v}} but serves nothing there: add serve.${v} (see fixtures/cases/README.md)`);
  for (const [at, why] of tracesProblems(tracesSpec(c.traces), uses, [...checks, ...steps.flatMap((s) => s.checks)], driver)) src.fail(at, why);
  const s3Problem = s3UseProblem(c.serve?.s3 !== undefined, uses);
  if (s3Problem) src.fail(c.serve?.s3 ? ['serve', 's3'] : ['serve'], s3Problem);
  return {
    dir: root,
    title: c.title,
    links: c.links ?? [],
    versions,
    engine,
    store: c.store ?? ['containerd'],
    driver,
    buildkit,
    registry: c.registry ?? ['plain'],
    builder: c.builder ?? {},
    env: c.env ?? {},
    config: c.config ?? {},
    git: c.git !== undefined && c.git !== false,
    gitUncommitted: typeof c.git === 'object' ? c.git.uncommitted : [],
    ...(c.serve ? { serve: serveSpec(src, c.serve, root, uses) } : {}),
    ...(tracesSpec(c.traces) ? { traces: tracesSpec(c.traces) } : {}),
    repeat: c.repeat ?? 1,
    verdict: c.verdict ?? 'any',
    ...steps.flatMap((s) => (s.pullFault ? [{ fault: s.pullFault }] : []))[0],
    steps,
    checks,
    expect,
    uses,
    files: caseFiles(root),
  };
}

/** `serve:` checked against the case directory and itself (paths exist inside, faults name served paths, refs unique, submodules acyclic). */
function serveSpec(src: Source, s: ServeInput, root: string, uses: Set<string>): ServeSpec {
  const at = (...k: Key[]) => ['serve', ...k];
  const inCase = (where: Key[], rel: string, kind: 'file' | 'dir') => {
    try {
      caseFilePath(root, rel, kind);
    } catch (e) {
      src.fail(where, (e as Error).message);
    }
  };
  const out: ServeSpec = {};
  if (s.http) {
    const files = s.http.files;
    for (const [p, what] of Object.entries(files)) {
      if (typeof what === 'string') inCase(at('http', 'files', p), what, 'file');
      else inCase(at('http', 'files', p, 'tar'), what.tar, 'dir');
    }
    const faults = s.http.faults ?? [];
    faults.forEach((f, i) => {
      if (!(f.path in files)) src.fail(at('http', 'faults', i, 'path'), `${f.path} is not served (serve.http.files: ${Object.keys(files).join(', ')})`);
      const own = { slow: 'ms', truncate: 'afterBytes', 'wrong-length': 'by' }[f.kind];
      for (const k of ['ms', 'afterBytes', 'by'] as const)
        if (f[k] !== undefined && k !== own)
          src.fail(
            at('http', 'faults', i, k),
            `applies to kind ${Object.entries({ slow: 'ms', truncate: 'afterBytes', 'wrong-length': 'by' }).find(([, v]) => v === k)![0]}, not ${f.kind}`,
          );
    });
    if (!uses.has('http')) src.fail(at('http'), 'is served but no step names ${http}; use it (e.g. [build, "${http}/ctx.tar"]) or leave it out');
    out.http = {
      files: Object.fromEntries(Object.entries(files).map(([p, w]) => [p, typeof w === 'string' ? { file: w } : { tar: w.tar, ...(w.gzip ? { gzip: true } : {}) }])),
      faults: faults.map((f) => ({ ...f })),
    };
  }
  if (s.git) {
    const repos: NonNullable<ServeSpec['git']>['repos'] = {};
    for (const [name, r] of Object.entries(s.git.repos)) {
      const seen = new Set<string>();
      const commits = (r.commits ?? []).map((c, i) => {
        inCase(at('git', 'repos', name, 'commits', i, 'tree'), c.tree, 'dir');
        const tags = (c.tags ?? []).map((t) => (typeof t === 'string' ? { name: t } : t));
        const branches = c.branches ?? [];
        for (const [kind, n] of [...tags.map((t) => ['tag', t.name] as const), ...branches.map((b) => ['branch', b] as const)]) {
          if (kind === 'branch' && n === 'main')
            src.fail(at('git', 'repos', name, 'commits', i, 'branches'), 'main is the branch the commits are on (it points at the last one); name another');
          if (seen.has(`${kind}:${n}`)) src.fail(at('git', 'repos', name, 'commits', i), `${kind} ${n} is named twice in repository ${name}`);
          seen.add(`${kind}:${n}`);
        }
        return { tree: c.tree, ...(c.message ? { message: c.message } : {}), tags, branches };
      });
      repos[name] = { commits, submodules: r.submodules ?? {} };
    }
    try {
      repoBuildOrder(repos);
    } catch (e) {
      src.fail(at('git', 'repos'), (e as Error).message);
    }
    if (!uses.has('git')) src.fail(at('git'), 'is served but no step names ${git}; use it (e.g. [build, "${git}/app.git#v1"]) or leave it out');
    out.git = { repos, ...(s.git.auth ? { auth: s.git.auth } : {}) };
  }
  if (s.s3) out.s3 = s.s3;
  return out;
}

/** A step's command and how it runs in time (interact, background, waitFor, await, action), checked together. */
function timedStep(src: Source, s: StepInput, i: number, driver: string[], nodes: number): Omit<Step, 'id' | 'env' | 'cwd' | 'timeoutMs'> {
  const at = (k: string) => ['steps', i, k];
  const command = s.buildx !== undefined || s.docker !== undefined;
  if (s.standalone !== undefined && s.buildx === undefined) src.fail(at('standalone'), 'applies to buildx: steps (it runs the binary as `buildx ...`)');
  const as = runAs(src, s, at, command);
  if (s.interact && s.background) src.fail(at('interact'), 'an interactive step runs in the foreground; drop background, or put the waiting in the script (expect)');
  if ((s.interact || s.background) && !command) src.fail(at(s.interact ? 'interact' : 'background'), 'needs a command: buildx: [...] or docker: [...]');
  if (s.waitFor !== undefined && !s.background) src.fail(at('waitFor'), 'applies to background: true steps (the next step starts once their output matches)');
  for (const k of ['stdout', 'stdin'] as const)
    if (s[k] !== undefined && (s.interact || s.background || s.action || !command))
      src.fail(
        at(k),
        `applies to a foreground command step (buildx: or docker:), not to ${s.interact ? 'an interactive' : s.background ? 'a background' : 'an action or await'} step`,
      );
  if (s.node !== undefined && !(s.action && NODE_ACTIONS.includes(s.action as FaultAction)))
    src.fail(at('node'), 'applies to action: remove-node or unreachable-node (which node of builder.nodes)');
  if (s.action && NODE_ACTIONS.includes(s.action as FaultAction)) {
    const why = removeNodeProblem(s.node, nodes);
    if (why) src.fail(at(s.node !== undefined && nodes >= 2 ? 'node' : 'action'), why);
  }
  if (s.free !== undefined && s.action !== 'fill-engine-disk') src.fail(at('free'), "applies to action: fill-engine-disk (what the engine's disk keeps free)");
  if (s.action === 'fill-engine-disk' && s.free === undefined) src.fail(at('action'), "fill-engine-disk needs free: SIZE, what the engine's disk keeps free (e.g. free: 16MiB)");
  if (s.action) {
    for (const k of ['env', 'cwd', 'timeout'] as const) if (s[k] !== undefined) src.fail(at(k), `does not apply to action: ${s.action} (the lab does it)`);
    if (driver.includes('docker') && !isEngineAction(s.action))
      src.fail(at('action'), `${s.action} needs a builder container; the docker driver builds in the engine itself: set driver: docker-container (or remote)`);
  }
  if (s.fault !== undefined && s.action !== 'boot-builder') src.fail(at('fault'), "applies to action: boot-builder (it faults the pull of the builder's BuildKit image)");
  if (s.fault !== undefined && driver.some((d) => d !== 'docker-container'))
    src.fail(at('fault'), "faults the pull of a docker-container builder's BuildKit image: set driver: docker-container");
  const waitFor = typeof s.waitFor === 'string' ? { pattern: s.waitFor } : s.waitFor;
  const dap = s.dap && dapScript(s.dap, WAIT_DEFAULT_S, s.runInTerminal !== undefined);
  const dapBad = (s.dap || s.runInTerminal) && dapStepProblem(s);
  if (dapBad) src.fail(at(dapBad[0]), dapBad[1]);
  for (const [j, field, message] of dap?.problems ?? []) src.fail(['steps', i, 'dap', j, field], message);
  return {
    tool: s.buildx ? 'buildx' : s.docker ? 'docker' : s.action ? 'action' : 'await',
    argv: s.buildx ?? s.docker ?? [],
    ...(s.standalone ? { standalone: true } : {}),
    ...(as ? { as } : {}),
    ...(s.interact ? { interact: s.interact.map(interactAction) } : {}),
    ...(s.runInTerminal ? { runInTerminal: s.runInTerminal.map(interactAction) } : {}),
    ...(s.background ? { background: waitFor ? { waitFor: { pattern: waitFor.pattern, timeoutMs: (waitFor.timeout ?? WAIT_DEFAULT_S * 4) * 1000 } } : {} } : {}),
    ...(s.await ? { await: s.await } : {}),
    ...(s.action ? { action: s.action } : {}),
    ...(s.node !== undefined ? { node: s.node } : {}),
    ...(s.free !== undefined ? { free: s.free } : {}),
    ...(dap ? { dap: dap.script } : {}),
    ...(s.fault ? { pullFault: s.fault } : {}),
  };
}

/**
 * Who a step runs as (`sudo: true`, `user: lab`), or undefined for the default, root: a foreground command
 * step only (the lab runs it through its user's wrapper, kit/sandbox.ts), one of the two.
 */
function runAs(src: Source, s: StepInput, at: (k: string) => Key[], command: boolean): RunAs | undefined {
  const lab = s.user === 'lab';
  if (!s.sudo && !lab) return undefined;
  const key = s.sudo ? 'sudo' : 'user';
  if (s.sudo && lab) src.fail(at('sudo'), 'runs the step as root under sudo from the lab user, user: lab runs it as that user: give one of the two');
  if (!command || s.interact || s.background || s.dap)
    src.fail(
      at(key),
      `applies to a foreground command step (buildx: or docker:), not to ${s.interact ? 'an interactive' : s.background ? 'a background' : s.dap ? 'a dap' : 'an action or await'} step`,
    );
  return s.sudo ? 'sudo' : 'lab';
}

/** A line of an `interact:` or `runInTerminal:` script as the kit's. */
function interactAction(a: { expect?: string; timeout?: number; send?: string; sendControl?: string }): InteractAction {
  return a.expect !== undefined ? { expect: a.expect, timeoutMs: (a.timeout ?? WAIT_DEFAULT_S) * 1000 } : a.send !== undefined ? { send: a.send } : { sendControl: a.sendControl! };
}

/** One YAML check mapping (possibly holding several checks) as kit checks. */
function toChecks(src: Source, s: CheckShape, at: Key[], step: string | undefined): Check[] {
  const out: Check[] = [];
  const st = s.step ?? step;
  const on = st !== undefined ? { step: st } : {};
  if (s.output !== undefined) out.push({ kind: 'output', pattern: s.output, ...on });
  if (s.notOutput !== undefined) out.push({ kind: 'output', pattern: s.notOutput, negate: true, ...on });
  if (s.panic) out.push({ kind: 'panic', ...on });
  if (s.exitCode !== undefined) out.push({ kind: 'exit', code: s.exitCode, ...on });
  if (s.file) out.push({ kind: 'file', ...s.file });
  if (s.state) out.push({ kind: 'state', ...s.state });
  if (s.kube) out.push({ kind: 'kube', ...s.kube });
  if (s.image) out.push({ kind: 'image', ...s.image });
  if (s.requests) out.push({ kind: 'requests', ...s.requests, count: String(s.requests.count) });
  if (s.spans) out.push({ kind: 'spans', ...s.spans, count: String(s.spans.count) });
  if (s.registry !== undefined) out.push({ kind: 'registry', ref: s.registry.ref ?? '${target}', ...s.registry });
  for (const c of out) {
    try {
      validateCheck(c);
    } catch (e) {
      src.fail(at, (e as Error).message);
    }
  }
  return out;
}
