import { describe, expect, it } from 'vitest';
import { aggregate, assetHashes, type Observation } from './update-pins.ts';

// Made-up hashes: the parser cares about shape, not value.
const H = (c: string) => c.repeat(64);
const URL = 'https://github.com/docker/buildx/releases/download';

describe('assetHashes', () => {
  it.each([
    [
      'a JSON record: "file" then "sha256" below it',
      `{\n  "file": "buildx-v0.21.1.linux-amd64",\n  "sha256": "${H('a')}",\n  "url": "${URL}/v0.21.1/buildx-v0.21.1.linux-amd64"\n},\n{\n  "file": "buildx-v0.21.1.linux-arm-v7",\n  "sha256": "${H('b')}"\n}`,
      [
        { version: 'v0.21.1', platform: 'linux-amd64', sha256: H('a') },
        { version: 'v0.21.1', platform: 'linux-arm-v7', sha256: H('b') },
      ],
    ],
    [
      'a shell case: url= then sha256= on the next line',
      `\t'aarch64') \\\n\t\turl='${URL}/v0.20.1/buildx-v0.20.1.linux-arm64'; \\\n\t\tsha256='${H('c')}'; \\\n\t\t;; \\`,
      [{ version: 'v0.20.1', platform: 'linux-arm64', sha256: H('c') }],
    ],
    [
      'a "url": "sha" map, one asset per line, prereleases included',
      `  "${URL}/v0.21.0-rc2/buildx-v0.21.0-rc2.linux-amd64": "${H('d')}",\n  "${URL}/v0.21.0-rc2/buildx-v0.21.0-rc2.linux-s390x": "${H('E')}",`,
      [
        { version: 'v0.21.0-rc2', platform: 'linux-amd64', sha256: H('d') },
        { version: 'v0.21.0-rc2', platform: 'linux-s390x', sha256: H('e') },
      ],
    ],
    [
      "checksums.txt lines: the hash before the name on the same line, never the next line's",
      `${H('1')} *buildx-v0.22.0.linux-amd64\n${H('2')} *buildx-v0.22.0.linux-arm64\n`,
      [
        { version: 'v0.22.0', platform: 'linux-amd64', sha256: H('1') },
        { version: 'v0.22.0', platform: 'linux-arm64', sha256: H('2') },
      ],
    ],
  ])('reads %s', (_what, text, want) => {
    expect(assetHashes(text)).toEqual(want);
  });

  it.each([
    ['non-linux assets', `file: buildx-v0.21.1.darwin-arm64\nsha256: ${H('a')}\nbuildx-v0.21.1.windows-amd64.exe ${H('b')}`],
    ['a name whose hash is more than two lines below', `buildx-v0.21.1.linux-amd64\n\n\n${H('a')}`],
    ['a name followed by another name before any hash', `url: ${URL}/v0.21.1/buildx-v0.21.1.linux-amd64\nfile: buildx-v0.21.1.linux-arm64\n`],
    ['a line with two names', `buildx-v0.21.1.linux-amd64 buildx-v0.21.1.linux-arm64 ${H('a')}`],
    ['a line with two hashes', `buildx-v0.21.1.linux-amd64 ${H('a')} ${H('b')}`],
    ['templates without a version', `url='${URL}/v\${version}/buildx-v\${version}.linux-\${arch}'\nsha256='${H('a')}'`],
    ['a hash longer than sha256', `buildx-v0.21.1.linux-amd64 ${'a'.repeat(128)}`],
  ])('skips %s', (_what, text) => {
    expect(assetHashes(text)).toEqual([]);
  });
});

describe('aggregate', () => {
  const obs = (o: Partial<Observation> & Pick<Observation, 'repo' | 'time' | 'sha256'>): Observation => ({
    version: 'v0.21.1',
    platform: 'linux-amd64',
    source: `${o.repo}@${String(o.time).padStart(40, '0')}:f`,
    ...o,
  });

  it("pins an asset all sources agree on, citing each source's earliest commit", () => {
    const { pins, disagreements } = aggregate([
      obs({ repo: 'docker-library/docker', time: 20, sha256: H('a') }),
      obs({ repo: 'docker-library/docker', time: 10, sha256: H('a') }),
      obs({ repo: 'cashapp/hermit-packages', time: 30, sha256: H('a') }),
      obs({ repo: 'docker-library/docker', time: 5, sha256: H('b'), version: 'v0.9.1' }),
    ]);
    expect(disagreements).toEqual([]);
    expect(Object.keys(pins)).toEqual(['v0.9.1', 'v0.21.1']); // semver order, not string order
    expect(pins['v0.21.1']).toEqual({
      'linux-amd64': {
        sha256: H('a'),
        sources: [`cashapp/hermit-packages@${'30'.padStart(40, '0')}:f`, `docker-library/docker@${'10'.padStart(40, '0')}:f`],
      },
    });
  });

  it('does not pin an asset whose sources disagree, and lists every value with its sources', () => {
    const { pins, disagreements } = aggregate([
      obs({ repo: 'docker-library/docker', time: 10, sha256: H('a') }),
      obs({ repo: 'cashapp/hermit-packages', time: 30, sha256: H('b') }),
      obs({ repo: 'docker-library/docker', time: 10, sha256: H('c'), platform: 'linux-arm64' }),
    ]);
    expect(pins['v0.21.1']).toEqual({ 'linux-arm64': { sha256: H('c'), sources: [`docker-library/docker@${'10'.padStart(40, '0')}:f`] } });
    expect(disagreements).toEqual([
      {
        version: 'v0.21.1',
        platform: 'linux-amd64',
        values: { [H('a')]: [`docker-library/docker@${'10'.padStart(40, '0')}:f`], [H('b')]: [`cashapp/hermit-packages@${'30'.padStart(40, '0')}:f`] },
      },
    ]);
  });

  it('treats one source changing its value over time as a disagreement too', () => {
    const { pins, disagreements } = aggregate([obs({ repo: 'docker-library/docker', time: 10, sha256: H('a') }), obs({ repo: 'docker-library/docker', time: 20, sha256: H('b') })]);
    expect(pins).toEqual({});
    expect(disagreements).toHaveLength(1);
  });
});
