// `buildx-lab bundle export|import`: carry everything a matrix needs to a machine without network, or
// between CI runs (the example workflow caches it).
import path from 'node:path';
import { Command } from 'commander';
import type { BuildxBinary } from '../buildx/buildx.ts';
import { labConfig, withEngine } from '../config.ts';
import { engineParts } from '../engine/binaries.ts';
import { HostEngine } from '../engine/host.ts';
import { hostDefaultRelease, resolveEngineSpec } from '../engine/spec.ts';
import { BUILDKIT_BASE, ENGINE_BASE, localTag } from '../images/catalog.ts';
import { imageExists } from '../images/images.ts';
import { board, provisionMatrix } from '../runner/command.ts';
import { addRunOptions } from '../runner/options.ts';
import type { EngineImageResult, ImageResult } from '../runner/provision.ts';
import { exportBundle, importBundle, type BundleContents } from './bundle.ts';
import { isLabImageName } from './image-archive.ts';

export function bundleCommand(): Command {
  const cmd = new Command('bundle').summary('an offline bundle of everything a matrix needs: export on a machine with network, import on one without');
  const exp = cmd
    .command('export')
    .description('provision a matrix (as setup does), then write its Buildx binaries, engine and BuildKit builds and images into FILE')
    .argument('<file>', 'the bundle to write (a tar)')
    .argument('[scenario...]', 'scenario names (default: every scenario and shipped case)');
  addRunOptions(exp, { matrix: 'quick' });
  exp.action(async (file: string, names: string[], values: Record<string, unknown>, c: Command) => {
    const config = labConfig();
    const b = board(config);
    try {
      const { engineConfig, spec, status } = await provisionMatrix(config, b, names, values, ['bundle', ...c.args]);
      const contents: BundleContents = { cacheDirs: [], images: [] };
      const rel = (p: string) => path.relative(engineConfig.cacheDir, p);
      const addRelease = (version: string) => {
        const r = resolveEngineSpec(version)[0]!;
        if (r.kind !== 'source') return;
        for (const part of engineParts(r.release)) contents.cacheDirs.push(`engine/parts/${part.id}`);
        contents.cacheDirs.push(`engine/${r.version}`);
      };
      addRelease(hostDefaultRelease().version); // the host engine, for a machine that has none
      for (const [id, e] of Object.entries(status.requirements)) {
        if (e.state !== 'ready') {
          b.log(`${id}: not in the bundle (${e.state === 'failed' ? e.reason.split('\n')[0] : e.state})`);
          continue;
        }
        const req = spec.requirements[id]!;
        if (req.kind === 'buildx') contents.cacheDirs.push(rel(path.dirname((e.result as unknown as BuildxBinary).path)));
        if (req.kind === 'engine-image') {
          const r = e.result as unknown as EngineImageResult;
          contents.images.push(r.ref);
          if (r.kind === 'source') addRelease(r.version);
        }
        // a BuildKit built from Git lives under its commit (buildkit/git-<commit>); an official image has no binaries
        if (req.kind === 'buildkit') {
          const { binaries } = e.result as unknown as ImageResult;
          if (binaries) contents.cacheDirs.push(rel(binaries));
        }
        if (req.kind === 'buildkit' || req.kind === 'image') contents.images.push((e.result as unknown as ImageResult).ref);
        if (req.kind === 'image' && req.id === 'registry') contents.cacheDirs.push('tools/docker-registry-trixie');
        if (req.kind === 'tool') contents.cacheDirs.push(rel(path.dirname((e.result as unknown as { path: string }).path)));
      }
      // the bases the lab's images are layered on: a rebuild on the importing machine needs no Debian mirror
      for (const base of [ENGINE_BASE, BUILDKIT_BASE]) if (await imageExists(engineConfig, localTag(base))) contents.images.push(localTag(base));
      contents.cacheDirs = [...new Set(contents.cacheDirs)].filter((d) => !d.startsWith('..'));
      // Import loads only lab names (image-archive.ts): an official image stays out, and the importing
      // machine pulls it or builds the lab's own.
      for (const ref of new Set(contents.images))
        if (!isLabImageName(ref)) b.log(`${ref}: not in the bundle (an official image; bundle import loads only the lab's own buildx-lab/<id>:<hash> images)`);
      contents.images = [...new Set(contents.images)].filter(isLabImageName);
      const manifest = await exportBundle(engineConfig, file, contents, b.sink);
      const bytes = manifest.entries.reduce((n, x) => n + x.size, 0);
      b.log(`bundle ${file}: ${contents.cacheDirs.length} cache entries, ${contents.images.length} images, ${(bytes / 1e6).toFixed(0)} MB`);
    } finally {
      b.close();
    }
  });
  cmd
    .command('import')
    .description(
      "check FILE as untrusted input (size bounds, every entry against its manifest, cache entries confined to the lab's cache directories, Buildx release binaries against the release pins, images named only buildx-lab/<id>:<hash>), refusing it and naming what failed; then place and load it",
    )
    .argument('<file>', 'a bundle written by bundle export')
    .option(
      '--trust',
      'you vouch for where the bundle came from (your own CI cache): accept the code in it that no release pin covers (engine, BuildKit and Go-built Buildx binaries, tools, DinD images), which the lab runs as root',
    )
    .action(async (file: string, values: { trust?: boolean }) => {
      const config = labConfig();
      const b = board(config);
      try {
        // The bundle holds the host engine's build: a machine with no engine installs it from there.
        const manifest = await importBundle(config, file, b.sink, async () => withEngine(config, (await new HostEngine(config, b.sink).ensure()).host), {
          trust: values.trust === true,
        });
        b.log(`imported ${file}: ${manifest.contents.cache.length} cache entries, ${manifest.contents.images.length} images`);
      } finally {
        b.close();
      }
    });
  return cmd;
}
