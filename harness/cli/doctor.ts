// `buildx-lab doctor` (what is there and what to fix) and `buildx-lab clean` (remove what killed runs left).
import { Command } from 'commander';
import { labConfig, withEngine } from '../config.ts';
import { BuildxProvisioner } from '../buildx/provision.ts';
import { HostEngine, engineProblem, inspectEngine } from '../engine/host.ts';
import { countLabResources, sweepLeftovers } from '../engine/sweep.ts';
import { listLabImages } from '../images/images.ts';
import { stderrProgress } from '../progress.ts';
import { goVersion } from '../provision/gobuild.ts';

export function doctorCommand(): Command {
  return new Command('doctor').summary('engine, privileges, images, caches, Go: what is there and what to fix').action(async () => {
    const config = labConfig();
    let bad = 0;
    const say = (ok: boolean, what: string, fix = '') => {
      if (!ok) bad++;
      process.stdout.write(`${ok ? 'ok  ' : 'FIX '} ${what}${!ok && fix ? `\n      -> ${fix}` : ''}\n`);
    };
    const host = new HostEngine(config, stderrProgress);
    const userHost = config.requestedDockerHost ?? config.defaultDockerSocket;
    const [user, lab] = await Promise.all([inspectEngine(config, userHost), inspectEngine(config, host.labHost)]);
    const problem = user && engineProblem(user);
    say(!!user && !problem, `${config.requestedDockerHost ? 'DOCKER_HOST' : 'default socket'} ${userHost}: ${user ? `Docker ${user.serverVersion}` : 'no answer'}${problem ? ` (${problem})` : ''}`, "the lab runs its own engine instead ('buildx-lab engine start'); nothing to fix unless you want it to use yours");
    say(true, `lab engine: ${host.installedVersion() ? `Docker ${host.installedVersion()} under ${host.paths.home}` : 'not installed'}, ${lab ? `running at ${host.labHost}` : 'not running'}`);
    say(process.getuid?.() === 0 || !!(user && !problem), `privileges: uid ${process.getuid?.()}`, 'the lab needs root to run its own engine, or a Docker >= 23.0 you run (DOCKER_HOST)');
    const engine = user && !problem ? user : lab;
    if (engine) {
      const c = withEngine(config, engine.host);
      const leftovers = await countLabResources(c);
      say(true, `lab resources on ${engine.host}: ${leftovers.containers} containers, ${leftovers.networks} networks, ${leftovers.volumes} volumes${leftovers.containers ? " (a run is active, or one was killed: the next run sweeps what belongs to dead runs; 'buildx-lab clean --all' removes everything)" : ''}`);
      for (const line of await listLabImages(c)) say(true, `image ${line.replace(/\t/g, '  ')}`);
    }
    const gv = await goVersion(config);
    say(!!gv, `Go: ${gv ?? 'not found'}`, 'install Go to build Buildx, BuildKit and Docker versions from the Go module proxy, or import an offline bundle');
    const prov = new BuildxProvisioner(config, stderrProgress);
    say(true, `buildx cache ${prov.root}: ${prov.list().map((m) => `${m.key}(${m.origin})`).join(' ') || 'empty'}`);
    process.exitCode = bad ? 1 : 0;
  });
}

export function cleanCommand(): Command {
  return new Command('clean')
    .summary('remove containers, networks and volumes that dead lab runs left behind')
    .option('--all', "remove every lab resource, also those of runs still going (stop them first)")
    .action(async (values: { all?: boolean }) => {
      const config = labConfig();
      const engine = await new HostEngine(config, stderrProgress).ensure();
      const r = await sweepLeftovers(withEngine(config, engine.host), values.all ? { all: true } : {});
      process.stdout.write(`removed ${r.containers} containers, ${r.networks} networks, ${r.volumes} volumes\n`);
    });
}
