// `buildx-lab images`: the lab's local images on the host engine.
import { Command } from 'commander';
import { cachedBuildkitImageSpecs } from '../buildkit/image.ts';
import { labConfig, withEngine, type LabConfig } from '../config.ts';
import { EngineBuilder } from '../engine/binaries.ts';
import { HostEngine } from '../engine/host.ts';
import { loadEngineIndex } from '../engine/spec.ts';
import { silentProgress, stderrProgress, writeConsole } from '../progress.ts';
import { BASE_IMAGES, debianDindSpec, localTag, sourceDindSpec, type ImageSpec } from './catalog.ts';
import { listLabImages, pruneLabImages } from './images.ts';
import { registryImageSpec } from './registry-image.ts';

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

/**
 * The tags of the images the lab would use now, for everything whose binaries are cached: what `images prune`
 * must keep (a BuildKit image takes minutes to rebuild). Here, above every folder, because it asks the
 * engine and BuildKit recipes, which themselves build on images/.
 */
export async function currentImageTags(config: LabConfig): Promise<Set<string>> {
  // every base: a BuildKit image's rebuild needs buildkit-base's tag, not only its layers
  const specs: ImageSpec[] = Object.values(BASE_IMAGES);
  const index = loadEngineIndex();
  for (const d of Object.values(index.debian)) specs.push(debianDindSpec(d.suite, d.version));
  const builder = new EngineBuilder(config, silentProgress);
  for (const r of index.releases) {
    const bins = builder.cached(r);
    if (bins) specs.push(sourceDindSpec(bins));
  }
  const registry = registryImageSpec(config);
  if (registry) specs.push(registry);
  specs.push(...cachedBuildkitImageSpecs(config, silentProgress));
  return new Set(specs.map((s) => localTag(s)));
}
