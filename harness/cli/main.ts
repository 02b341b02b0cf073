// buildx-lab: the command line. Each command is a thin layer over a harness module.
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { childEnv, labConfig, type LabConfig } from '../config.ts';
import { HarnessError, UsageError } from '../errors.ts';
import { countLabResources, ensureEngine, inspectEngine, engineProblem, sweepLeftovers } from '../engine/engine.ts';
import { IMAGE_CATALOG, localTag } from '../images/catalog.ts';
import { ensureImage, listLabImages, pruneLabImages } from '../images/images.ts';
import { BUILDKIT_VERSIONS, DEFAULT_BUILDKIT, ensureBuildkitImage } from '../buildkit/image.ts';
import { BuildxProvisioner } from '../buildx/provision.ts';
import { goVersion } from '../gobuild.ts';
import { RegistryClient } from '../oci/client.ts';
import { parseImageRef } from '../oci/reference.ts';
import { describeReport, verifyImage } from '../oci/verify.ts';
import { stderrProgress } from '../progress.ts';
import { launchAndReport } from '../runner/launch.ts';
import { preflight } from '../runner/preflight.ts';
import { AXES } from '../runner/matrix.ts';
import { buildMatrix, hasFailures, totalsLine } from '../report/matrix.ts';
import { renderTerminalTable } from '../report/terminal.ts';
import { defaultReportDir, readJsonReport, writeReports } from '../report/write.ts';
import { mergeReports } from '../report/json.ts';
import type { CellResult } from '../model.ts';
import { mkdir } from 'node:fs/promises';
import { loadCase } from '../repro/case.ts';
import { reproLines, reproScenario } from '../repro/scenario.ts';
import { expandScenario } from '../runner/scenario.ts';
import { cmdBisect } from '../bisect/command.ts';
import { cmdQualify } from '../qualify/command.ts';

const root = new URL('../../', import.meta.url).pathname;
const progress = stderrProgress;

const USAGE = `buildx-lab: reproduce Docker Buildx bugs across versions, engines, stores and registries

  setup [--buildx SPEC,...]        install/start the engine, build the lab's images offline, pre-install Buildx
  run [SCENARIO...] [options]      run scenario matrices; writes reports; exit 1 on unexpected/error cells
      --matrix quick|full           quick = the main job's default matrix (default for run), full = the test suite
      --buildx SPEC,...             versions, ranges or aliases: 0.21.1, v0.21.0-rc2, ">=0.20 <0.23", latest, debian-sid
      --engine V  --store S  --driver D  --registry-behaviour B  --fault F   (comma lists filter the matrix)
      --repeat N  --jobs N  --shard i/n  -t PATTERN  --report-dir DIR (default reports/<run id>, linked as reports/latest)
  bisect SCENARIO --good V --bad V [--repeat N] [filters]
                                   find the release where the scenario's behaviour flips (probes in REPORT_DIR/bisect/V)
  qualify [SCENARIO...] --baseline V --candidate V [--matrix quick|full] [filters]
                                   compare two versions cell by cell; exit 1 (no-go) on any regression
  repro CASE_DIR [options]         reproduce a bug report given as data (CASE_DIR/case.yaml, see fixtures/cases/README.md);
      --buildx SPEC,...  --engine V  --store S  --driver D  --registry B  --report-dir DIR
                                    prints symptom PRESENT/ABSENT per cell; exit 0 when every cell ran
  test                             the test suite: unit tests, then every scenario on its full matrix
  verify REF --platforms P,...     check a pushed image from the registry itself (REF like 127.0.0.1:5000/app:tag)
  doctor                           engine, privileges, images, caches, Go: what is there and what to fix
  images build|list|prune          the lab's images (official when present, else built from Debian)
  buildx install SPEC...|list|prune
  merge-reports DIR... --out DIR   combine sharded runs' results.json into one report
  clean                            remove every container/network/volume the lab ever labelled

Scenarios: ${scenarioFiles().map((f) => f.replace(/\.test\.ts$/, '')).join(', ')}`;

function scenarioFiles(): string[] {
  return readdirSync(path.join(root, 'scenarios')).filter((f) => f.endsWith('.test.ts')).sort();
}

/** `pull-stream` -> scenarios/49453-pull-stream-errors.test.ts; unknown names list what exists. */
export function selectScenarioFiles(names: string[]): string[] {
  const all = scenarioFiles();
  if (names.length === 0) return all.map((f) => `scenarios/${f}`);
  return names.map((n) => {
    const hits = all.filter((f) => f.replace(/\.test\.ts$/, '') === n || f.includes(n));
    if (hits.length !== 1) throw new UsageError(`${hits.length ? 'ambiguous' : 'unknown'} scenario '${n}'; scenarios: ${all.map((f) => f.replace(/\.test\.ts$/, '')).join(', ')}`);
    return `scenarios/${hits[0]}`;
  });
}

function list(v: string | undefined): string[] | undefined {
  return v ? v.split(',').map((x) => x.trim()).filter(Boolean) : undefined;
}

async function cmdSetup(config: LabConfig, args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { buildx: { type: 'string' } } });
  const t0 = Date.now();
  await ensureEngine(config, progress);
  await Promise.all(IMAGE_CATALOG.map((spec) => ensureImage(config, spec, progress).then((r) => progress(`image ${spec.id}: ${r.ref} (${r.source})`))));
  const bk = await ensureBuildkitImage(config, DEFAULT_BUILDKIT, progress);
  progress(`image buildkit ${DEFAULT_BUILDKIT}: ${bk.ref} (${bk.source})`);
  const specs = list(values.buildx);
  if (specs) await new BuildxProvisioner(config, progress).installSpecs(specs, { includePrerelease: true });
  progress(`setup done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return 0;
}

interface RunArgs {
  files: string[];
  matrix: 'quick' | 'full';
  filters: Record<string, string[]>;
  repeat: number;
  jobs: number;
  shard?: string;
  pattern?: string;
  reportDir: string;
}

function parseRunArgs(args: string[], defaultMatrix: 'quick' | 'full'): RunArgs {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      matrix: { type: 'string' }, buildx: { type: 'string' }, engine: { type: 'string' }, store: { type: 'string' }, driver: { type: 'string' },
      'registry-behaviour': { type: 'string' }, registry: { type: 'string' }, fault: { type: 'string' }, command: { type: 'string' },
      repeat: { type: 'string' }, jobs: { type: 'string' }, shard: { type: 'string' }, t: { type: 'string', short: 't' }, 'report-dir': { type: 'string' },
    },
  });
  const matrix = (values.matrix ?? defaultMatrix) as 'quick' | 'full';
  if (!['quick', 'full'].includes(matrix)) throw new UsageError(`--matrix takes quick or full, not '${values.matrix}'`);
  const filters: Record<string, string[]> = {};
  for (const axis of AXES) {
    const v = list((values as Record<string, string | undefined>)[axis] ?? (axis === 'registry' ? values['registry-behaviour'] : undefined));
    if (v) filters[axis] = v;
  }
  const positive = (name: string, v: string | undefined, dflt: number) => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} takes a whole number >= 1, not '${v}'`);
    return n;
  };
  // Each job runs its own registry and DinD engines; more jobs than cores only thrash.
  const cores = availableParallelism();
  let jobs = positive('jobs', values.jobs, Math.min(2, cores));
  if (jobs > cores) {
    process.stderr.write(`buildx-lab: --jobs ${jobs} is more than this machine's ${cores} cores; using ${cores}\n`);
    jobs = cores;
  }
  if (values.shard && !/^\d+\/\d+$/.test(values.shard)) throw new UsageError(`--shard takes i/n, e.g. 1/3, not '${values.shard}'`);
  return {
    files: selectScenarioFiles(positionals),
    matrix,
    filters,
    repeat: positive('repeat', values.repeat, 1),
    jobs,
    shard: values.shard,
    pattern: values.t,
    reportDir: path.resolve(values['report-dir'] ?? defaultReportDir(labConfig())),
  };
}

async function runAndReport(config: LabConfig, a: RunArgs, argv: string[]): Promise<{ exitCode: number; results: CellResult[] }> {
  const selected = await preflight(a.files, { matrix: a.matrix, axisFilters: a.filters });
  progress(`${selected.reduce((n, s) => n + s.cells, 0)} cells x ${a.repeat}: ${selected.map((s) => `${s.scenario} ${s.cells}`).join(', ')} (matrix ${a.matrix}, jobs ${a.jobs})`);
  await ensureEngine(config, progress);
  const { exitCode, results, paths } = await launchAndReport(config, {
    files: selected.map((s) => s.file), matrix: a.matrix, axisFilters: a.filters, repeat: a.repeat, jobs: a.jobs, shard: a.shard, testNamePattern: a.pattern, reportDir: a.reportDir, runId: config.runId,
  }, argv);
  process.stdout.write(`\n${renderTerminalTable(buildMatrix(results), { color: process.stdout.isTTY === true })}\n`);
  process.stdout.write(`\nreports: ${paths.html}\n         ${paths.markdown}\n         ${paths.junit}\n         ${paths.json}\n`);
  const failed = exitCode !== 0 || hasFailures(results) || results.length === 0;
  if (results.length === 0) process.stderr.write('no cell ran: check the scenario names and filters\n');
  return { exitCode: failed ? 1 : 0, results };
}

/** Runs one vitest project of the lab's own tests; returns its pass/fail counts from vitest's JSON report. */
async function runVitestProject(config: LabConfig, project: 'unit' | 'integration', reportDir: string): Promise<{ passed: number; failed: number; ok: boolean }> {
  const out = path.join(reportDir, `${project}.json`);
  const env = { ...childEnv(config, config.goEnv), TESTCONTAINERS_RYUK_DISABLED: 'true', BUILDX_LAB_CACHE: config.cacheDir };
  const r = await execa('npx', ['vitest', 'run', '--project', project, '--reporter', 'default', '--reporter', 'json', `--outputFile.json=${out}`], {
    cwd: root, env, extendEnv: false, stdio: 'inherit', reject: false,
  });
  try {
    const j = JSON.parse(readFileSync(out, 'utf8')) as { numPassedTests: number; numFailedTests: number; numTotalTests: number };
    return { passed: j.numPassedTests, failed: j.numFailedTests + (r.exitCode !== 0 && j.numFailedTests === 0 ? 1 : 0), ok: r.exitCode === 0 };
  } catch {
    return { passed: 0, failed: 1, ok: false };
  }
}

async function cmdTest(config: LabConfig, args: string[]): Promise<number> {
  const t0 = Date.now();
  const a = parseRunArgs(args, 'full');
  const setup = await cmdSetup(config, []);
  const setupS = (Date.now() - t0) / 1000;
  progress('== unit tests (pure logic, no Docker)');
  const unit = await runVitestProject(config, 'unit', a.reportDir);
  progress('== integration tests (the lab against real engines)');
  const t1 = Date.now();
  const itg = await runVitestProject(config, 'integration', a.reportDir);
  const itgS = (Date.now() - t1) / 1000;
  progress('== scenarios (full matrices)');
  const t2 = Date.now();
  const run = await runAndReport(config, a, ['test', ...args]);
  const scenariosS = (Date.now() - t2) / 1000;
  const cellsPassed = run.results.filter((r) => r.outcome === r.expected).length;
  const cellsSkipped = run.results.filter((r) => r.outcome === 'skipped').length;
  const cellsFailed = run.results.length - cellsPassed - cellsSkipped;
  process.stdout.write(
    `\nset-up ${setupS.toFixed(1)} s, integration ${itgS.toFixed(1)} s, scenarios ${scenariosS.toFixed(1)} s, total ${((Date.now() - t0) / 1000).toFixed(1)} s\n` +
      `unit ${unit.passed}/${unit.passed + unit.failed}, integration ${itg.passed}/${itg.passed + itg.failed}, cells ${cellsPassed} as declared, ${cellsFailed} not, ${cellsSkipped} skipped\n`,
  );
  // The plain closing line CI reads.
  process.stdout.write(`${unit.passed + itg.passed + cellsPassed} passed, ${unit.failed + itg.failed + cellsFailed} failed, ${cellsSkipped} skipped\n`);
  return setup === 0 && unit.ok && itg.ok && run.exitCode === 0 ? 0 : 1;
}

/** `repro CASE_DIR`: the generic scenario on one case. A present or absent symptom is a finding, not a failure. */
async function cmdRepro(config: LabConfig, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { buildx: { type: 'string' }, engine: { type: 'string' }, store: { type: 'string' }, driver: { type: 'string' }, registry: { type: 'string' }, 'report-dir': { type: 'string' } },
  });
  if (positionals.length !== 1) throw new UsageError('usage: buildx-lab repro CASE_DIR [--buildx SPEC,...] [--report-dir DIR]');
  const c = loadCase(positionals[0]!);
  const filters: Record<string, string[]> = {};
  for (const axis of ['buildx', 'engine', 'store', 'driver', 'registry'] as const) {
    const v = list(values[axis]);
    if (v) filters[axis] = v;
  }
  // Expanding here turns a bad filter or an uncovered version into a usage error before any container starts.
  const cells = expandScenario(reproScenario(c), { matrix: 'full', axisFilters: filters });
  progress(`case "${c.title}": ${cells.length} cell(s): ${cells.map((x) => x.name).join(', ')}`);
  await ensureEngine(config, progress);
  const reportDir = path.resolve(values['report-dir'] ?? defaultReportDir(config));
  const { results, paths } = await launchAndReport(config, {
    files: ['scenarios/repro-case.test.ts'], matrix: 'full', axisFilters: filters, repeat: 1, jobs: 1, reportDir, runId: config.runId,
    passEnv: { BUILDX_LAB_CASE_DIR: c.dir },
  }, ['repro', ...args]);
  process.stdout.write(`\n${c.title}\n${reproLines(results).map((l) => `  ${l}`).join('\n')}\n`);
  process.stdout.write(`\n${renderTerminalTable(buildMatrix(results), { color: process.stdout.isTTY === true })}\n`);
  process.stdout.write(`\nreports: ${paths.html}\n         ${paths.json}\n`);
  // vitest's own status fails on every symptom-absent cell of a case without `expect`; it is not used here.
  // observed 'unexpected' is the judge's "inconclusive" (e.g. a fault never hit): no finding either way.
  const labFailed = results.length < cells.length || results.some((r) => r.outcome === 'error' || r.outcome === 'skipped' || r.observed === 'unexpected');
  const declaredMiss = c.expect.length > 0 && results.some((r) => r.outcome === 'unexpected');
  if (results.length < cells.length) process.stderr.write(`buildx-lab: only ${results.length} of ${cells.length} cell(s) reported; see the vitest output above\n`);
  return labFailed || declaredMiss ? 1 : 0;
}

async function cmdVerify(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { platforms: { type: 'string' } } });
  const [refText] = positionals;
  const platforms = list(values.platforms);
  if (!refText || !platforms) throw new UsageError('usage: buildx-lab verify REGISTRY/REPO:TAG --platforms linux/amd64,linux/arm64');
  const ref = parseImageRef(refText);
  const client = new RegistryClient({ baseUrl: `http://${ref.registry}` });
  const report = await verifyImage(client, ref.repository, ref.reference, { platforms });
  process.stdout.write(describeReport(report) + '\n');
  return report.ok ? 0 : 1;
}

async function cmdDoctor(config: LabConfig): Promise<number> {
  let bad = 0;
  const say = (ok: boolean, what: string, fix = '') => {
    if (!ok) bad++;
    process.stdout.write(`${ok ? 'ok  ' : 'FIX '} ${what}${!ok && fix ? `\n      -> ${fix}` : ''}\n`);
  };
  const engine = await inspectEngine(config);
  say(!!engine, `engine at ${config.dockerHost}: ${engine ? engine.serverVersion : 'no answer'}`, "run 'make setup' (Debian) or start Docker >= 23.0");
  if (engine) {
    const problem = engineProblem(engine);
    say(!problem, `engine runs privileged DinD (>= 23.0)`, problem);
    const leftovers = await countLabResources(config);
    say(leftovers.containers + leftovers.networks === 0, `lab resources on the engine: ${leftovers.containers} containers, ${leftovers.networks} networks, ${leftovers.volumes} volumes`, "a run is active, or one was killed: 'buildx-lab clean'");
    for (const line of await listLabImages(config)) say(true, `image ${line.replace(/\t/g, '  ')}`);
  }
  const gv = await goVersion(config);
  say(!!gv, `Go: ${gv ?? 'not found'}`, 'install Go to build Buildx/BuildKit versions that have no release download here');
  const prov = new BuildxProvisioner(config, progress);
  const cached = prov.list();
  say(true, `buildx cache ${prov.root}: ${cached.map((m) => `${m.key}(${m.origin})`).join(' ') || 'empty'}`);
  say(true, `BuildKit versions the lab builds: ${BUILDKIT_VERSIONS.join(', ')}`);
  return bad ? 1 : 0;
}

async function cmdImages(config: LabConfig, args: string[]): Promise<number> {
  const [sub] = args;
  if (sub === 'build') return cmdSetup(config, []);
  if (sub === 'list') { for (const l of await listLabImages(config)) process.stdout.write(l + '\n'); return 0; }
  if (sub === 'prune') {
    const keep = new Set<string>();
    for (const spec of IMAGE_CATALOG) keep.add(localTag(spec));
    const removed = await pruneLabImages(config, keep);
    process.stdout.write(`removed ${removed.length} outdated lab image(s)${removed.length ? `: ${removed.join(', ')}` : ''}\n`);
    return 0;
  }
  throw new UsageError('usage: buildx-lab images build|list|prune');
}

async function cmdBuildx(config: LabConfig, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const prov = new BuildxProvisioner(config, progress);
  if (sub === 'install') {
    if (!rest.length) throw new UsageError('usage: buildx-lab buildx install SPEC... (e.g. 0.21.1 "^0.22" latest debian-sid)');
    for (const b of await prov.installSpecs(rest, { includePrerelease: rest.some((s) => /-rc/.test(s)) })) {
      process.stdout.write(`${b.version}\t${b.origin}\t${b.source === 'cache' ? 'cached' : 'installed'}\t${b.path}\n`);
    }
    return 0;
  }
  if (sub === 'list') {
    for (const m of prov.list()) process.stdout.write(`${m.key}\t${m.origin}\t${m.sha256.slice(0, 16)}\t${(m.size / 1e6).toFixed(1)} MB\t${m.detail ?? ''}\n`);
    return 0;
  }
  if (sub === 'prune') {
    const removed = prov.prune();
    process.stdout.write(`removed ${removed.length} cached Buildx version(s)\n`);
    return 0;
  }
  throw new UsageError('usage: buildx-lab buildx install SPEC...|list|prune');
}

async function cmdMerge(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { out: { type: 'string' } } });
  if (!positionals.length || !values.out) throw new UsageError('usage: buildx-lab merge-reports SHARD_DIR... --out DIR');
  const reports = await Promise.all(positionals.map((d) => readJsonReport(path.join(d, 'results.json'))));
  const merged = mergeReports(reports);
  await mkdir(values.out, { recursive: true });
  const paths = await writeReports(values.out, merged.results, merged.meta);
  process.stdout.write(`${renderTerminalTable(buildMatrix(merged.results), { color: false })}\n${totalsLine(buildMatrix(merged.results))}\nmerged into ${paths.html}\n`);
  return hasFailures(merged.results) ? 1 : 0;
}

export async function main(argv: string[]): Promise<number> {
  const config = labConfig();
  const [cmd, ...args] = argv;
  switch (cmd) {
    case 'setup': return cmdSetup(config, args);
    case 'run': return (await runAndReport(config, parseRunArgs(args, 'quick'), argv)).exitCode;
    case 'test': return cmdTest(config, args);
    case 'repro': return cmdRepro(config, args);
    case 'bisect': return cmdBisect(config, args, parseRunArgs);
    case 'qualify': return cmdQualify(config, args, parseRunArgs);
    case 'verify': return cmdVerify(args);
    case 'doctor': return cmdDoctor(config);
    case 'images': return cmdImages(config, args);
    case 'buildx': return cmdBuildx(config, args);
    case 'merge-reports': return cmdMerge(args);
    case 'clean': {
      const r = await sweepLeftovers(config, { all: true });
      process.stdout.write(`removed ${r.containers} containers, ${r.networks} networks, ${r.volumes} volumes\n`);
      return 0;
    }
    case undefined: case 'help': case '--help': case '-h':
      process.stdout.write(USAGE + '\n');
      return cmd ? 0 : 2;
    default:
      throw new UsageError(`unknown command '${cmd}'\n\n${USAGE}`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      const err = e as Error;
      const kind = e instanceof HarnessError ? e.kind : 'internal';
      process.stderr.write(`buildx-lab: ${kind} error: ${err.message}\n`);
      if (!(e instanceof HarnessError)) process.stderr.write(`${err.stack ?? ''}\n`);
      process.exit(e instanceof UsageError ? 2 : 1);
    },
  );
}
