// `buildx-lab buildkit`: which BuildKit versions can be had here, and whose day each is.
import { Command } from 'commander';
import { labConfig } from '../config.ts';
import { writeConsole } from '../progress.ts';
import { cachedBuildkitGo } from './image.ts';
import { loadBuildkitIndex } from './of-its-day.ts';
import { loadBuildResults, textTable, versionRows } from './versions.ts';

export function buildkitCommand(): Command {
  const cmd = new Command('buildkit').summary('BuildKit versions: which build here, and the BuildKit of each Buildx release');
  cmd
    .command('list')
    .description(
      "every stable BuildKit release, newest first: its tag day, whether it builds here (this machine's cache, else the checked-in results), and the Buildx releases whose day it is",
    )
    .action(() => {
      writeConsole(process.stdout, `${textTable(versionRows(loadBuildkitIndex(), loadBuildResults(), cachedBuildkitGo(labConfig())))}\n`);
    });
  return cmd;
}
