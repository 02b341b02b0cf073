import { afterEach, describe, expect, it } from 'vitest';
import { RegistryClient } from './client.ts';
import { loadFixture, fixtureJson, startFixtureRegistry, type FixtureRegistry, type FixtureResponse, type FixtureStore } from './testing.ts';
import { DOCKER_MANIFEST_LIST, OCI_INDEX, type ImageIndex, type ImageManifest, type Problem } from './types.ts';
import {
  checkDescriptor,
  checkIndexShape,
  checkPlatformSet,
  describeReport,
  indexPlatforms,
  summarizeProblems,
  toVerificationError,
  verifyImage,
  type VerificationReport,
} from './verify.ts';

const buildkit = loadFixture('buildkit-index');
const dockerList = loadFixture('docker-manifest-list');
const single = loadFixture('single-manifest');
const THREE = ['linux/amd64', 'linux/arm64', 'linux/s390x'];
const codes = (ps: Problem[]) => ps.map((p) => p.code).sort();

describe('checkIndexShape (pure)', () => {
  const base = () => fixtureJson<ImageIndex>(buildkit, 'latest');
  const cases: Array<[string, (i: ImageIndex) => void, string[], string[]]> = [
    ['complete buildkit index', () => {}, THREE, []],
    ['arm64/v8 expectation matches arm64', () => {}, ['linux/amd64', 'linux/arm64/v8', 'linux/s390x'], []],
    ['one platform missing (its attestation dangles)', (i) => i.manifests.splice(1, 1), THREE, ['dangling-attestation', 'missing-platform']],
    ['platform not asked for', () => {}, ['linux/amd64', 'linux/arm64'], ['extra-platform']],
    ['duplicate platform', (i) => i.manifests.push({ ...i.manifests[0]!, digest: `sha256:${'d'.repeat(64)}` }), THREE, ['duplicate-platform']],
    [
      'attestation pointing outside the index',
      (i) => (i.manifests[3]!.annotations!['vnd.docker.reference.digest'] = `sha256:${'e'.repeat(64)}`),
      THREE,
      ['dangling-attestation'],
    ],
    ['attestation without reference digest', (i) => delete i.manifests[4]!.annotations!['vnd.docker.reference.digest'], THREE, ['dangling-attestation']],
    [
      'unknown/unknown child without the attestation annotation counts as a platform',
      (i) => delete i.manifests[5]!.annotations,
      THREE,
      ['extra-platform'],
    ],
    ['child is a nested index', (i) => (i.manifests[2]!.mediaType = OCI_INDEX), THREE, ['bad-media-type']],
    ['empty index', (i) => (i.manifests = []), THREE, ['missing-platform', 'missing-platform', 'missing-platform']],
  ];
  it.each(cases)('%s', (_name, mutate, expected, want) => {
    const index = base();
    mutate(index);
    expect(codes(checkIndexShape(index, expected))).toEqual(want);
  });

  it('docker manifest list with arm variant', () => {
    const list = fixtureJson<ImageIndex>(dockerList, 'latest');
    expect(list.mediaType).toBe(DOCKER_MANIFEST_LIST);
    expect(indexPlatforms(list)).toEqual(['linux/amd64', 'linux/arm/v7']);
    expect(checkIndexShape(list, ['linux/amd64', 'linux/arm/v7'])).toEqual([]);
    expect(codes(checkIndexShape(list, ['linux/amd64', 'linux/arm/v6']))).toEqual(['extra-platform', 'missing-platform']);
  });

  it('indexPlatforms excludes attestations', () => {
    expect(indexPlatforms(fixtureJson<ImageIndex>(buildkit, 'latest'))).toEqual(THREE);
  });
});

describe('checkPlatformSet / checkDescriptor (pure)', () => {
  it.each([
    [['linux/amd64'], ['linux/amd64'], []],
    [[], ['linux/amd64'], ['missing-platform']],
    [['linux/amd64', 'linux/amd64'], ['linux/amd64'], ['duplicate-platform']],
    [['(no platform)'], ['linux/amd64'], ['extra-platform', 'missing-platform']],
  ])('%j vs %j', (found, expected, want) => expect(codes(checkPlatformSet(found, expected, 'x'))).toEqual(want));

  it('flags size and media type differences', () => {
    const d = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'a'.repeat(64)}`, size: 10 };
    expect(checkDescriptor(d, { size: 10, mediaType: d.mediaType }, 'w')).toEqual([]);
    expect(codes(checkDescriptor(d, { size: 11, mediaType: 'application/json' }, 'w'))).toEqual(['bad-media-type', 'size-mismatch']);
  });
});

describe('describeReport / summarizeProblems', () => {
  const report: VerificationReport = {
    ref: '127.0.0.1:5000/app:latest',
    ok: false,
    topMediaType: OCI_INDEX,
    topDigest: `sha256:${'a'.repeat(64)}`,
    platforms: ['linux/amd64'],
    attestations: 1,
    problems: [
      { code: 'missing-platform', where: 'app:latest', detail: 'expected linux/arm64, not in the image' },
      { code: 'missing-blob', where: 'linux/amd64 layers[0]', detail: 'x' },
      { code: 'missing-blob', where: 'linux/amd64 layers[1]', detail: 'y' },
    ],
    manifests: {},
  };
  it('summarizes by code', () => {
    expect(summarizeProblems(report.problems)).toBe('1 missing-platform, 2 missing-blob');
    expect(summarizeProblems([])).toBe('no problems');
  });
  it('describes on several lines', () => {
    expect(describeReport(report)).toBe(
      [
        '127.0.0.1:5000/app:latest: INCOMPLETE (1 missing-platform, 2 missing-blob)',
        `  top: ${OCI_INDEX} sha256:${'a'.repeat(64)}`,
        '  platforms: linux/amd64 (+1 attestation manifest)',
        '  - [missing-platform] app:latest: expected linux/arm64, not in the image',
        '  - [missing-blob] linux/amd64 layers[0]: x',
        '  - [missing-blob] linux/amd64 layers[1]: y',
      ].join('\n'),
    );
    expect(toVerificationError(report).problems).toHaveLength(3);
    expect(toVerificationError(report).kind).toBe('verification');
  });
});

describe('verifyImage against a fixture registry', () => {
  let reg: FixtureRegistry | undefined;
  afterEach(async () => {
    await reg?.close();
    reg = undefined;
  });
  async function run(
    store: FixtureStore,
    platforms: string[],
    override?: (r: { method: string; path: string }) => FixtureResponse | undefined,
    opts: { requireIndex?: boolean; fetchLayers?: 'head' | 'get' } = {},
  ): Promise<VerificationReport> {
    reg = await startFixtureRegistry({ 'lab/app': store }, override);
    return verifyImage(new RegistryClient({ baseUrl: reg.baseUrl }), 'lab/app', 'latest', { platforms, ...opts });
  }
  const top = fixtureJson<ImageIndex>(buildkit, 'latest');
  const arm64 = top.manifests[1]!.digest;
  const arm64Manifest = fixtureJson<ImageManifest>(buildkit, arm64);

  it('complete buildkit push is ok, with 3 platforms and 3 attestations', async () => {
    const r = await run(buildkit, THREE);
    expect(r.problems).toEqual([]);
    expect(r).toMatchObject({ ok: true, topMediaType: OCI_INDEX, topDigest: buildkit.tags.latest, platforms: THREE, attestations: 3 });
    expect(Object.keys(r.manifests)).toHaveLength(7);
    expect(describeReport(r)).toContain('complete');
    expect(reg!.log.filter((l) => l.startsWith('HEAD'))).toEqual([]); // small layers are fetched whole
  });

  it('docker manifest list is ok', async () => {
    const r = await run(dockerList, ['linux/amd64', 'linux/arm/v7']);
    expect(r).toMatchObject({ ok: true, topMediaType: DOCKER_MANIFEST_LIST, platforms: ['linux/amd64', 'linux/arm/v7'], attestations: 0 });
  });

  it('single manifest: not-an-index, platform read from its config', async () => {
    const r = await run(single, ['linux/amd64', 'linux/arm64']);
    expect(codes(r.problems)).toEqual(['not-an-index']);
    expect(r.platforms).toEqual(['linux/amd64']);
    expect(r.problems[0]!.detail).toContain('linux/amd64');
  });

  it('single manifest with requireIndex=false compares its platform', async () => {
    expect((await run(single, ['linux/amd64'], undefined, { requireIndex: false })).ok).toBe(true);
    await reg!.close();
    reg = undefined;
    expect(codes((await run(single, ['linux/arm64'], undefined, { requireIndex: false })).problems)).toEqual(['extra-platform', 'missing-platform']);
  });

  it('unknown tag: not-found', async () => {
    const r = await run(buildkit, THREE, ({ path }) => (path.endsWith('/manifests/latest') ? { status: 404 } : undefined));
    expect(r).toMatchObject({ ok: false, platforms: [], attestations: 0 });
    expect(codes(r.problems)).toEqual(['not-found']);
  });

  it('child manifest missing', async () => {
    const r = await run(buildkit, THREE, ({ path }) => (path.endsWith(`/manifests/${arm64}`) ? { status: 404 } : undefined));
    expect(codes(r.problems)).toEqual(['missing-manifest']);
    expect(r.problems[0]!.where).toBe('linux/arm64');
  });

  it('child manifest body differs from its digest: reported, not thrown', async () => {
    const forged = Buffer.from(JSON.stringify(arm64Manifest)); // same content, compact: other bytes, other digest
    const r = await run(buildkit, THREE, ({ path }) =>
      path.endsWith(`/manifests/${arm64}`) ? { body: forged, headers: { 'Content-Type': arm64Manifest.mediaType!, 'Docker-Content-Digest': arm64 } } : undefined,
    );
    expect(r.ok).toBe(false);
    // vs the requested digest, vs the header, and against the descriptor's size
    expect(codes(r.problems)).toEqual(['digest-mismatch', 'digest-mismatch', 'size-mismatch']);
    expect(r.problems.every((p) => p.where === 'linux/arm64')).toBe(true);
  });

  it('layer blob missing, in get and head modes', async () => {
    const layer = arm64Manifest.layers[1]!.digest;
    const drop = ({ path }: { path: string }) => (path.endsWith(`/blobs/${layer}`) ? { status: 404 } : undefined);
    for (const fetchLayers of [undefined, 'head'] as const) {
      const r = await run(buildkit, THREE, drop, fetchLayers ? { fetchLayers } : {});
      expect(r.problems).toEqual([{ code: 'missing-blob', where: 'linux/arm64 layers[1]', detail: expect.stringContaining(layer) as string }]);
      await reg!.close();
      reg = undefined;
    }
  });

  it('config blob with wrong bytes: digest and size mismatch', async () => {
    const cfg = arm64Manifest.config.digest;
    const r = await run(buildkit, THREE, ({ path }) => (path.endsWith(`/blobs/${cfg}`) ? { body: Buffer.from('{}') } : undefined));
    expect(codes(r.problems)).toEqual(['digest-mismatch', 'size-mismatch']);
    expect(r.problems.every((p) => p.where === 'linux/arm64 config')).toBe(true);
  });

  it('attestation manifest missing', async () => {
    const att = top.manifests[5]!.digest;
    const r = await run(buildkit, THREE, ({ path }) => (path.endsWith(`/manifests/${att}`) ? { status: 404 } : undefined));
    expect(r.problems).toEqual([{ code: 'missing-manifest', where: 'attestation for linux/s390x (manifests[5])', detail: expect.any(String) as string }]);
  });
});
