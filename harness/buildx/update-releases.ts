// Rebuilds harness/buildx/releases.json, the list of known Buildx releases, from the Go module proxy.
//
//   npx tsx harness/buildx/update-releases.ts
//
// Honours the first URL of $GOPROXY (default https://proxy.golang.org); how versions are found is in
// harness/provision/proxy-versions.ts. Fields the proxy no longer reports are kept from the previous file.
// Debian aliases are declared below; edit them when Debian moves. It then lists the releases that
// release-pins.json does not pin: their downloads are refused unless BUILDX_LAB_ALLOW_UNPINNED=1, so
// refresh the pins too (update-pins.ts). The BuildKit of each release's day is harness/buildkit's list:
// refresh it after this one (npx tsx harness/buildkit/update-releases.ts).
import { writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { proxyVersions, readPrevious } from '../provision/proxy-versions.ts';
import { BUILDX_ARCHES } from './arch.ts';
import { loadPins, pinFor } from './release-pins.ts';
import type { ReleaseIndex } from './spec.ts';

/** Upstream versions packaged by Debian (docker-buildx source package). */
export const DEBIAN_ALIASES: Readonly<Record<string, string>> = { 'debian-trixie': '0.13.1', 'debian-sid': '0.29.1' };

const FILE = new URL('./releases.json', import.meta.url);

export async function updateReleases(): Promise<ReleaseIndex> {
  const previous = readPrevious<ReleaseIndex>(FILE);
  const found = await proxyVersions({ module: 'github.com/docker/buildx', firstMinor: 10, maxPatch: 5, rcs: 3, previous: previous?.releases ?? [] });
  process.stderr.write(`${found.requests} requests to ${found.source}\n`);
  return {
    generatedAt: new Date().toISOString(),
    source: found.source,
    releases: found.versions,
    aliases: { ...(previous?.aliases ?? {}), ...DEBIAN_ALIASES },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const index = await updateReleases();
  writeFileSync(FILE, `${JSON.stringify(index, null, 2)}\n`);
  const newest = index.releases.at(-1)?.version;
  process.stdout.write(`wrote ${fileURLToPath(FILE)}: ${index.releases.length} releases, newest ${newest}\n`);
  const pins = loadPins();
  const unpinned = index.releases.filter((r) => !r.prerelease && BUILDX_ARCHES.some((a) => !pinFor(pins, r.version, a))).map((r) => r.version);
  if (unpinned.length) {
    process.stdout.write(`releases without a pin for every arch (downloads refused unless BUILDX_LAB_ALLOW_UNPINNED=1): ${unpinned.join(', ')}\n`);
    process.stdout.write('refresh the pins with harness/buildx/update-pins.ts\n');
  }
}
