// `buildx-lab buildx`: the Buildx binaries the lab keeps, by version.
import { Command } from 'commander';
import { labConfig } from '../config.ts';
import { UsageError } from '../errors.ts';
import { stderrProgress, writeConsole } from '../progress.ts';
import { BuildxProvisioner } from './provision.ts';

export function buildxCommand(): Command {
  const cmd = new Command('buildx').summary('Buildx binaries: install, list, prune');
  cmd
    .command('install')
    .argument('<spec...>', 'versions, ranges or aliases: 0.21.1 "^0.22" latest debian-sid')
    .description('install Buildx versions into the cache (release download, Go build or Debian package)')
    .action(async (specs: string[]) => {
      if (!specs.length) throw new UsageError('name at least one version');
      for (const b of await new BuildxProvisioner(labConfig(), stderrProgress).installSpecs(specs, { includePrerelease: specs.some((s) => /-rc/.test(s)) })) {
        writeConsole(process.stdout, `${b.version}\t${b.origin}\t${b.source === 'cache' ? 'cached' : 'installed'}\t${b.path}\n`);
      }
    });
  cmd
    .command('list')
    .description('the cached versions, where each came from, and its sha256')
    .action(() => {
      for (const m of new BuildxProvisioner(labConfig(), stderrProgress).list())
        writeConsole(process.stdout, `${m.key}\t${m.origin}\t${m.sha256.slice(0, 16)}\t${(m.size / 1e6).toFixed(1)} MB\t${m.detail ?? ''}\n`);
    });
  cmd
    .command('prune')
    .description('remove cached versions that no live run uses, and staging directories of killed installs')
    .action(() => {
      const plan = new BuildxProvisioner(labConfig(), stderrProgress).prune();
      for (const k of plan.kept) writeConsole(process.stdout, `kept ${k.name}: ${k.reason}\n`);
      writeConsole(process.stdout, `removed ${plan.remove.length} entr${plan.remove.length === 1 ? 'y' : 'ies'}${plan.remove.length ? `: ${plan.remove.join(' ')}` : ''}\n`);
    });
  return cmd;
}
