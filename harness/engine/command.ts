// `buildx-lab engine`: the lab's own Docker engine on this host (built from the Go module proxy, under a
// prefix the lab owns), and which engine the lab would use.
import { Command } from 'commander';
import { labConfig } from '../config.ts';
import { stderrProgress } from '../progress.ts';
import { RootlessEngine } from './rootless.ts';
import { HostEngine, inspectEngine } from './host.ts';
import { hostDefaultRelease } from './spec.ts';

export function engineCommand(): Command {
  const cmd = new Command('engine').summary("the lab's own Docker engine: status, install, start, stop, uninstall");
  cmd
    .command('status')
    .description('which engine the lab would use, and the state of its own')
    .action(async () => {
      const config = labConfig();
      const host = new HostEngine(config, stderrProgress);
      const lab = await inspectEngine(config, host.labHost);
      const installed = host.installedVersion();
      process.stdout.write(
        `lab engine: ${installed ? `Docker ${installed} installed under ${host.paths.home}` : 'not installed'}; ${lab ? `running (Docker ${lab.serverVersion}, ${host.labHost})` : 'not running'}\n`,
      );
      const rootless = new RootlessEngine(config, stderrProgress);
      const running = await inspectEngine(config, rootless.host);
      process.stdout.write(
        `rootless engine (untrusted cases): ${running ? `running (Docker ${running.serverVersion}, ${rootless.host})` : 'not running'} under ${rootless.paths.home}\n`,
      );
      const user = config.requestedDockerHost ?? config.defaultDockerSocket;
      const info = await inspectEngine(config, user);
      process.stdout.write(`${config.requestedDockerHost ? 'DOCKER_HOST' : 'default socket'} ${user}: ${info ? `Docker ${info.serverVersion}` : 'no answer'}\n`);
    });
  cmd
    .command('install')
    .description(`build Docker ${hostDefaultRelease().version} from the Go module proxy and install it under the lab's prefix (no host package changes)`)
    .action(async () => {
      await new HostEngine(labConfig(), stderrProgress).install();
    });
  cmd
    .command('start')
    .description("start the lab's engine in the background (installing it first if needed)")
    .action(async () => {
      const host = new HostEngine(labConfig(), stderrProgress);
      if (!host.installedVersion()) await host.install();
      const info = await host.start();
      process.stdout.write(`Docker ${info.serverVersion} at ${info.host}\n`);
    });
  cmd
    .command('stop')
    .description("stop the lab's engines, its rootless one included (their containers stop with them)")
    .action(async () => {
      const config = labConfig();
      const rootless = await new RootlessEngine(config, stderrProgress).stop();
      const stopped = await new HostEngine(config, stderrProgress).stop();
      process.stdout.write(
        `${stopped ? "stopped the lab's engine" : "the lab's engine was not running"}; ${rootless ? 'stopped its rootless engine' : 'its rootless engine was not running'}\n`,
      );
    });
  cmd
    .command('uninstall')
    .description("stop the lab's engines and remove their prefixes: binaries, images, containers, volumes, logs")
    .action(async () => {
      const config = labConfig();
      const rootless = new RootlessEngine(config, stderrProgress);
      await rootless.uninstall();
      const host = new HostEngine(config, stderrProgress);
      await host.uninstall();
      process.stdout.write(`removed ${host.paths.home}, ${host.paths.runDir} and ${rootless.paths.home}\n`);
    });
  return cmd;
}
