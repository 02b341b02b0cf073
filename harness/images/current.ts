// The tags of the images the lab would use now, for everything whose binaries are cached: what
// `images prune` must keep (a BuildKit image takes minutes to rebuild).
import type { LabConfig } from '../config.ts';
import { buildkitImageSpec, cachedBuildkitVersions } from '../buildkit/image.ts';
import { EngineBuilder } from '../engine/binaries.ts';
import { loadEngineIndex } from '../engine/spec.ts';
import { silentProgress } from '../progress.ts';
import { registryImageSpec } from './registry-image.ts';
import { BASE_IMAGES, debianDindSpec, localTag, sourceDindSpec, type ImageSpec } from './catalog.ts';

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
  for (const v of cachedBuildkitVersions(config)) {
    const s = buildkitImageSpec(config, v, silentProgress);
    if (s) specs.push(s);
  }
  return new Set(specs.map((s) => localTag(s)));
}
