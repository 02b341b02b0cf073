// Rebuilds harness/buildkit/releases.json: BuildKit's stable releases with their dates, from the Go module
// proxy, and the BuildKit of each Buildx release's day (of-its-day.ts) over harness/buildx/releases.json.
//
//   npx tsx harness/buildkit/update-releases.ts              # ask the proxy again, then recompute the table
//   npx tsx harness/buildkit/update-releases.ts --no-fetch   # recompute the table from the checked-in lists
//
// Run it after harness/buildx/update-releases.ts. Honours the first URL of $GOPROXY; release candidates are
// left out (buildx-stable-1 never pointed at one). Then write docs/buildkit-versions.md (versions-doc.ts).
import { writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadReleases } from '../buildx/spec.ts';
import { proxyVersions, readPrevious } from '../provision/proxy-versions.ts';
import { ofItsDayTable, type BuildkitIndex } from './of-its-day.ts';

const FILE = new URL('./releases.json', import.meta.url);

export async function updateBuildkitReleases(fetchAgain: boolean): Promise<BuildkitIndex> {
  const previous = readPrevious<BuildkitIndex>(FILE);
  let { source, releases, generatedAt } = previous ?? { source: '', releases: [], generatedAt: '' };
  if (fetchAgain || !previous) {
    const found = await proxyVersions({
      module: 'github.com/moby/buildkit',
      firstMinor: 10,
      maxPatch: 9,
      rcs: 0,
      previous: previous?.releases.map((r) => ({ ...r, prerelease: false })) ?? [],
    });
    process.stderr.write(`${found.requests} requests to ${found.source}\n`);
    source = found.source;
    releases = found.versions.filter((v) => !v.prerelease).map(({ version, date, goVersion }) => ({ version, ...(date ? { date } : {}), ...(goVersion ? { goVersion } : {}) }));
    generatedAt = new Date().toISOString();
  }
  return { generatedAt, source, releases, ofItsDay: ofItsDayTable(loadReleases().releases, releases) };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const index = await updateBuildkitReleases(!process.argv.includes('--no-fetch'));
  writeFileSync(FILE, `${JSON.stringify(index, null, 2)}\n`);
  const undated = index.releases.filter((r) => !r.date).map((r) => r.version);
  process.stdout.write(
    `wrote ${fileURLToPath(FILE)}: ${index.releases.length} BuildKit releases, newest ${index.releases.at(-1)?.version}; ` +
      `${Object.keys(index.ofItsDay).length} Buildx releases mapped${undated.length ? `; no date (never of a day): ${undated.join(', ')}` : ''}\n`,
  );
}
