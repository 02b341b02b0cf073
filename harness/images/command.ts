// `buildx-lab images`: the lab's local images on the host engine.
import { Command } from 'commander';
import { labConfig, withEngine } from '../config.ts';
import { HostEngine } from '../engine/host.ts';
import { stderrProgress, writeConsole } from '../progress.ts';
import { listLabImages, pruneLabImages } from './images.ts';
import { currentImageTags } from './current.ts';

export function imagesCommand(): Command {
  const cmd = new Command('images').summary("the lab's images: list, prune");
  cmd
    .command('list')
    .description('local builds of the lab, with size and age')
    .action(async () => {
      const config = labConfig();
      const engine = await new HostEngine(config, stderrProgress).ensure();
      for (const l of await listLabImages(withEngine(config, engine.host))) writeConsole(process.stdout, l + '\n');
    });
  cmd
    .command('prune')
    .description('remove lab images no current recipe builds (the images of cached engines, BuildKit versions and the registry are kept)')
    .action(async () => {
      const config = labConfig();
      const engine = await new HostEngine(config, stderrProgress).ensure();
      const c = withEngine(config, engine.host);
      const removed = await pruneLabImages(c, await currentImageTags(c));
      writeConsole(process.stdout, `removed ${removed.length} outdated lab image(s)${removed.length ? `: ${removed.join(', ')}` : ''}\n`);
    });
  return cmd;
}
