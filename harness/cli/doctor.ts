// `buildx-lab doctor` (what is there and what to fix) and `buildx-lab clean` (remove what killed runs left).
import path from 'node:path';
import { Command } from 'commander';
import { labConfig, withEngine } from '../config.ts';
import { UsageError } from '../errors.ts';
import { BuildxProvisioner } from '../buildx/provision.ts';
import { HostEngine, engineProblem, inspectEngine, probeEngine } from '../engine/host.ts';
import { describeSweep, surveyRuns, sweepLeftovers, type RunSurvey } from '../ownership/sweep.ts';
import { listLabImages } from '../images/images.ts';
import { stderrProgress, writeConsole } from '../progress.ts';
import { CompileFailures } from '../provision/compile-failures.ts';
import { goVersion } from '../provision/gobuild.ts';
import { rootlessBlocker } from '../runner/trust.ts';
import { cacheUsers, pruneMarkers } from '../provision/in-use.ts';
import { judgeTempDirs, sweepTempDirs, tempRoots } from '../provision/temp-dirs.ts';

export interface DoctorLine {
  ok: boolean;
  what: string;
  fix?: string;
}

/**
 * What doctor says about the runs on the engine; pure. Live and undecided runs are named; abandoned ones
 * need fixing, but `clean` is only advised while no other run goes (the next run's sweep does it then).
 */
export function runLines(host: string, runs: readonly Pick<RunSurvey, 'runId' | 'verdict' | 'resources'>[]): DoctorLine[] {
  const describe = (r: (typeof runs)[number]) => {
    const n = (k: string) => r.resources.filter((x) => x.kind === k).length;
    return `run ${r.runId || '(unnamed)'}: ${r.verdict.state}, ${r.verdict.reason} (${n('container')} containers, ${n('network')} networks, ${n('volume')} volumes)`;
  };
  const live = runs.filter((r) => r.verdict.state !== 'abandoned');
  const abandoned = runs.filter((r) => r.verdict.state === 'abandoned');
  const fix = live.length ? `left for the next run's start to remove (it leaves the ${live.length} live run(s) alone)` : "'buildx-lab clean' removes it";
  return [
    { ok: true, what: `lab runs on ${host}: ${runs.length ? `${live.length} alive or undecided, ${abandoned.length} abandoned` : 'none'}` },
    ...live.map((r) => ({ ok: true, what: describe(r) })),
    ...abandoned.map((r) => ({ ok: false, what: describe(r), fix })),
  ];
}

export function doctorCommand(): Command {
  return new Command('doctor').summary('engine, privileges, images, caches, Go: what is there and what to fix').action(async () => {
    const config = labConfig();
    let bad = 0;
    const say = (ok: boolean, what: string, fix = '') => {
      if (!ok) bad++;
      writeConsole(process.stdout, `${ok ? 'ok  ' : 'FIX '} ${what}${!ok && fix ? `\n      -> ${fix}` : ''}\n`);
    };
    const host = new HostEngine(config, stderrProgress);
    const userHost = config.requestedDockerHost ?? config.defaultDockerSocket;
    const [user, lab] = await Promise.all([inspectEngine(config, userHost), inspectEngine(config, host.labHost)]);
    const problem = user && engineProblem(user);
    say(
      !!user && !problem,
      `${config.requestedDockerHost ? 'DOCKER_HOST' : 'default socket'} ${userHost}: ${user ? `Docker ${user.serverVersion}` : 'no answer'}${problem ? ` (${problem})` : ''}`,
      "the lab runs its own engine instead ('buildx-lab engine start'); nothing to fix unless you want it to use yours",
    );
    say(
      true,
      `lab engine: ${host.installedVersion() ? `Docker ${host.installedVersion()} under ${host.paths.home}` : 'not installed'}, ${lab ? `running at ${host.labHost}` : 'not running'}`,
    );
    say(
      process.getuid?.() === 0 || !!(user && !problem),
      `privileges: uid ${process.getuid?.()}`,
      'the lab needs root to run its own engine, or a Docker >= 23.0 you run (DOCKER_HOST)',
    );
    const engine = user && !problem ? user : lab;
    if (engine) {
      const c = withEngine(config, engine.host);
      const iso = await probeEngine(c, engine.host);
      say(true, `untrusted cases (outside fixtures/cases, no --trust): ${untrustedPlace(iso, rootlessBlocker(config))}`);
      for (const l of runLines(engine.host, await surveyRuns(c))) say(l.ok, l.what, l.fix);
      for (const line of await listLabImages(c)) say(true, `image ${line.replace(/\t/g, '  ')}`);
    }
    const gv = await goVersion(config);
    say(!!gv, `Go: ${gv ?? 'not found'}`, 'install Go to build Buildx, BuildKit and Docker versions from the Go module proxy, or import an offline bundle');
    const prov = new BuildxProvisioner(config, stderrProgress);
    say(
      true,
      `buildx cache ${prov.root}: ${
        prov
          .list()
          .map((m) => `${m.key}(${m.origin})`)
          .join(' ') || 'empty'
      }`,
    );
    for (const u of cacheUsers(config)) say(true, `buildx cache used by run ${u.marker?.runId ?? u.file}: ${u.verdict.state}, ${u.verdict.reason}`);
    const failed = new CompileFailures(config.cacheDir).files();
    if (failed.length)
      say(
        true,
        `compile failures recorded (those versions are skipped until Go changes; 'buildx-lab clean --failed-builds' forgets them): ${failed.map((f) => path.basename(f, '.json')).join(' ')}`,
      );
    const dead = judgeTempDirs(tempRoots(config)).filter((d) => d.remove);
    if (dead.length)
      say(
        false,
        `${dead.length} temporary director${dead.length === 1 ? 'y' : 'ies'} of dead processes: ${dead.map((d) => d.path).join(' ')}`,
        "'buildx-lab clean' removes them (and so does the next run)",
      );
    process.exitCode = bad ? 1 : 0;
  });
}

export function cleanCommand(): Command {
  return new Command('clean')
    .summary('remove what abandoned lab runs left behind: containers, networks, volumes, temporary directories')
    .description(
      'Removes the engine resources of runs that are provably abandoned (their process is gone, or their heartbeat is stale), and temporary directories of dead processes. Live runs, in any pid namespace or on any host sharing the engine, are left alone.',
    )
    .option('--all', 'remove the engine resources of every lab run, also of runs still going (stop them first)')
    .option('--failed-builds', 'instead, forget the compile failures the lab recorded, so the next run compiles those versions again (no engine needed)')
    .action(async (values: { all?: boolean; failedBuilds?: boolean }) => {
      const config = labConfig();
      if (values.failedBuilds) {
        if (values.all) throw new UsageError('--failed-builds forgets recorded compile failures and removes nothing else; run clean --all separately');
        const removed = new CompileFailures(config.cacheDir).clear();
        for (const f of removed) writeConsole(process.stdout, `removed compile-failure record ${f}\n`);
        writeConsole(process.stdout, `removed ${removed.length} compile-failure record${removed.length === 1 ? '' : 's'}\n`);
        return;
      }
      const engine = await new HostEngine(config, stderrProgress).ensure();
      const r = await sweepLeftovers(withEngine(config, engine.host), values.all ? { all: true } : { abandoned: true });
      for (const line of describeSweep(r)) writeConsole(process.stdout, `${line}\n`);
      writeConsole(process.stdout, `removed ${r.removed.containers} containers, ${r.removed.networks} networks, ${r.removed.volumes} volumes\n`);
      const t = await sweepTempDirs(config, tempRoots(config));
      for (const d of t.removed) writeConsole(process.stdout, `removed ${d.kind} directory ${d.path} (${d.reason})\n`);
      pruneMarkers(config); // the Buildx in-use markers of abandoned runs
    });
}

/** Where an untrusted case runs, as runner/trust.ts decides it: on this engine when it isolates, else on the lab's rootless engine when that can be had, else nowhere. Pure. */
export function untrustedPlace(iso: { isolated: boolean; reason: string }, blocker: string | undefined): string {
  if (iso.isolated) return `run on this engine: ${iso.reason}`;
  if (!blocker) return `run on the lab's own rootless engine, started on demand (this engine: ${iso.reason})`;
  return `refused: this engine has no isolation (${iso.reason}), and the lab's rootless engine cannot be had (${blocker})`;
}
