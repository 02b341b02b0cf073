import { afterEach, describe, expect, it } from 'vitest';
import { RegistryClient } from './client.ts';
import { loadFixture, fixtureJson, startFixtureRegistry, type FixtureRegistry, type FixtureResponse, type FixtureStore } from './fixture-registry.test-helpers.ts';
import {
  DOCKER_MANIFEST_LIST,
  OCI_CONFIG,
  OCI_INDEX,
  OCI_LAYER_GZIP,
  OCI_MANIFEST,
  digestOf,
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  type Problem,
} from './types.ts';
import {
  SMALL_LAYER_BYTES,
  asIndex,
  asManifest,
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

// Hand-made images: documents are stored as compact JSON, blobs as given; descriptors point at either.
type Part = object | Buffer;
const bytesOf = (x: Part) => (Buffer.isBuffer(x) ? x : Buffer.from(JSON.stringify(x)));
const desc = (mediaType: string, x: Part, extra: Partial<Descriptor> = {}): Descriptor => ({ mediaType, digest: digestOf(bytesOf(x)), size: bytesOf(x).length, ...extra });
const manifestOf = (config: Part, ...layers: Part[]) => ({
  schemaVersion: 2,
  mediaType: OCI_MANIFEST,
  config: desc(OCI_CONFIG, config),
  layers: layers.map((l) => desc(OCI_LAYER_GZIP, l)),
});
const indexOf = (...manifests: Descriptor[]) => ({ schemaVersion: 2, mediaType: OCI_INDEX, manifests });
/** A store whose tag `latest` is `top`; `missing` parts are referenced but not stored. */
function storeOf(top: Part, parts: Part[], missing: Part[] = []): FixtureStore {
  const blobs = new Map([top, ...parts].map((x) => [digestOf(bytesOf(x)), bytesOf(x)] as const));
  for (const x of missing) blobs.delete(digestOf(bytesOf(x)));
  return { tags: { latest: digestOf(bytesOf(top)) }, blobs };
}
const attestationFor = (target: string | undefined, x: Part) =>
  desc(OCI_MANIFEST, x, {
    platform: { os: 'unknown', architecture: 'unknown' },
    annotations: { 'vnd.docker.reference.type': 'attestation-manifest', ...(target ? { 'vnd.docker.reference.digest': target } : {}) },
  });
const linux = (architecture: string, variant?: string) => ({ os: 'linux', architecture, ...(variant ? { variant } : {}) });

describe('checkIndexShape (pure)', () => {
  const base = () => fixtureJson<ImageIndex>(buildkit, 'latest');
  const cases: Array<[string, (i: ImageIndex) => void, string[], string[]]> = [
    ['complete buildkit index', () => {}, THREE, []],
    ['arm64/v8 expectation matches arm64', () => {}, ['linux/amd64', 'linux/arm64/v8', 'linux/s390x'], []],
    ['one platform missing (its attestation dangles)', (i) => i.manifests.splice(1, 1), THREE, ['dangling-attestation', 'missing-platform']],
    ['platform not asked for', () => {}, ['linux/amd64', 'linux/arm64'], ['extra-platform']],
    ['duplicate platform', (i) => i.manifests.push({ ...i.manifests[0]!, digest: `sha256:${'d'.repeat(64)}` }), THREE, ['duplicate-platform']],
    ['attestation pointing outside the index', (i) => (i.manifests[3]!.annotations!['vnd.docker.reference.digest'] = `sha256:${'e'.repeat(64)}`), THREE, ['dangling-attestation']],
    ['attestation without reference digest', (i) => delete i.manifests[4]!.annotations!['vnd.docker.reference.digest'], THREE, ['dangling-attestation']],
    ['unknown/unknown child without the attestation annotation counts as a platform', (i) => delete i.manifests[5]!.annotations, THREE, ['extra-platform']],
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

describe('checkIndexShape: what each problem says', () => {
  const amd64 = desc(OCI_MANIFEST, { n: 1 }, { platform: linux('amd64') });
  const nested = desc(OCI_INDEX, { n: 2 }, { platform: linux('arm64') });
  const good = attestationFor(amd64.digest, { n: 3 });
  const outside = attestationFor(`sha256:${'e'.repeat(64)}`, { n: 4 });
  const unnamed = attestationFor(undefined, { n: 5 });
  const onAttestation = attestationFor(good.digest, { n: 6 });

  it('names the child, its place in the index and what is wrong, under `index` by default', () => {
    const index = indexOf(amd64, nested, good, outside, unnamed, onAttestation) as ImageIndex;
    expect(checkIndexShape(index, ['linux/amd64', 'linux/arm64'])).toEqual([
      { code: 'bad-media-type', where: 'index manifests[1] linux/arm64', detail: `child ${nested.digest.slice(0, 19)} has media type ${OCI_INDEX}, expected an image manifest` },
      {
        code: 'dangling-attestation',
        where: 'index manifests[3] attestation',
        detail: `attestation ${outside.digest} refers to sha256:${'e'.repeat(64)}, which is no platform manifest of this index`,
      },
      { code: 'dangling-attestation', where: 'index manifests[4] attestation', detail: `attestation ${unnamed.digest} has no vnd.docker.reference.digest annotation` },
      // an attestation of an attestation refers to no platform manifest
      {
        code: 'dangling-attestation',
        where: 'index manifests[5] attestation',
        detail: `attestation ${onAttestation.digest} refers to ${good.digest}, which is no platform manifest of this index`,
      },
    ]);
  });

  it('lists a child without a platform as (no platform)', () => {
    const bare = desc(OCI_MANIFEST, { n: 7 });
    expect(indexPlatforms(indexOf(amd64, bare) as ImageIndex)).toEqual(['linux/amd64', '(no platform)']);
    expect(checkIndexShape(indexOf(bare) as ImageIndex, [], 'app:v1')).toEqual([
      { code: 'extra-platform', where: 'app:v1', detail: '(no platform) is present but was not expected' },
    ]);
  });
});

describe('checkPlatformSet / checkDescriptor (pure)', () => {
  it('says which platform is missing, extra or repeated, comparing arm64/v8 as arm64', () => {
    expect(checkPlatformSet(['linux/amd64', 'linux/amd64', 'linux/arm64/v8', 'linux', '(no platform)'], ['linux/arm64', 'linux/s390x', 'linux/amd64'], 'w')).toEqual([
      { code: 'missing-platform', where: 'w', detail: 'expected linux/s390x, not in the image' },
      { code: 'duplicate-platform', where: 'w', detail: 'linux/amd64 appears 2 times' },
      // what is no platform at all is compared as written
      { code: 'extra-platform', where: 'w', detail: 'linux is present but was not expected' },
      { code: 'extra-platform', where: 'w', detail: '(no platform) is present but was not expected' },
    ]);
  });

  it.each([
    [['linux/amd64'], ['linux/amd64'], []],
    [[], ['linux/amd64'], ['missing-platform']],
    [['linux/amd64', 'linux/amd64'], ['linux/amd64'], ['duplicate-platform']],
    [['(no platform)'], ['linux/amd64'], ['extra-platform', 'missing-platform']],
  ])('%j vs %j', (found, expected, want) => expect(codes(checkPlatformSet(found, expected, 'x'))).toEqual(want));

  it('flags size and media type differences', () => {
    const d = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'a'.repeat(64)}`, size: 10 };
    expect(checkDescriptor(d, { size: 10, mediaType: d.mediaType }, 'w')).toEqual([]);
    expect(checkDescriptor(d, { size: 10 }, 'w')).toEqual([]);
    expect(checkDescriptor(d, { size: 11, mediaType: 'application/json' }, 'w')).toEqual([
      { code: 'size-mismatch', where: 'w', detail: `${d.digest}: descriptor says 10 bytes, registry has 11` },
      { code: 'bad-media-type', where: 'w', detail: `${d.digest}: descriptor says ${d.mediaType}, registry serves application/json` },
    ]);
  });
});

describe('asIndex / asManifest', () => {
  const d = { mediaType: OCI_MANIFEST, digest: `sha256:${'a'.repeat(64)}`, size: 1 };
  it.each<[string, unknown, boolean]>([
    ['an index', { manifests: [d, d] }, true],
    ['an empty index', { manifests: [] }, true],
    ['no manifests', { layers: [] }, false],
    ['manifests that are no list', { manifests: d }, false],
    ['a child without a digest', { manifests: [d, { mediaType: OCI_MANIFEST, size: 1 }] }, false],
    ['a child without a media type', { manifests: [{ digest: d.digest, size: 1 }, d] }, false],
    ['a child whose size is a string', { manifests: [d, { ...d, size: '1' }] }, false],
    ['a list', [d], false],
    ['null', null, false],
  ])('asIndex: %s', (_name, json, ok) => {
    expect(asIndex(json)).toBe(ok ? json : undefined);
  });
  it.each<[string, unknown, boolean]>([
    ['a manifest', { config: d, layers: [d] }, true],
    ['no layers', { config: d, layers: [] }, true],
    ['no config', { layers: [d] }, false],
    ['a config that is no descriptor', { config: { digest: d.digest }, layers: [d] }, false],
    ['layers that are no list', { config: d, layers: d }, false],
    ['a layer that is no descriptor', { config: d, layers: [d, { mediaType: OCI_LAYER_GZIP }] }, false],
    ['a string', 'manifest', false],
  ])('asManifest: %s', (_name, json, ok) => {
    expect(asManifest(json)).toBe(ok ? json : undefined);
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
    expect(toVerificationError(report).message).toMatch(/^127\.0\.0\.1:5000\/app:latest is incomplete in the registry/);
  });
  const complete = { ...report, ok: true, problems: [] };
  const topLine = `  top: ${OCI_INDEX} sha256:${'a'.repeat(64)}`;
  it.each<[string, VerificationReport, string[]]>([
    [
      'a tag it did not find: no top or platform line',
      { ...report, topMediaType: undefined, topDigest: undefined, platforms: [], attestations: 0, problems: [report.problems[0]!] },
      ['127.0.0.1:5000/app:latest: INCOMPLETE (1 missing-platform)', '  - [missing-platform] app:latest: expected linux/arm64, not in the image'],
    ],
    ['several attestation manifests', { ...complete, attestations: 2 }, ['127.0.0.1:5000/app:latest: complete', topLine, '  platforms: linux/amd64 (+2 attestation manifests)']],
    [
      'no attestation manifest',
      { ...complete, platforms: ['linux/amd64', 'linux/arm64'], attestations: 0 },
      ['127.0.0.1:5000/app:latest: complete', topLine, '  platforms: linux/amd64, linux/arm64'],
    ],
    ['no platform', { ...complete, platforms: [], attestations: 0 }, ['127.0.0.1:5000/app:latest: complete', topLine, '  platforms: (none)']],
  ])('describes %s', (_name, r, lines) => {
    expect(describeReport(r)).toBe(lines.join('\n'));
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

  it('unknown tag: the request it made and what the registry answered', async () => {
    const r = await run(buildkit, THREE, ({ path }) => (path.endsWith('/manifests/latest') ? { status: 404 } : undefined));
    expect(r.ref).toBe(`${new URL(reg!.baseUrl).host}/lab/app:latest`);
    expect(r.problems).toEqual([{ code: 'not-found', where: 'lab/app:latest', detail: `GET ${reg!.baseUrl}/v2/lab/app/manifests/latest answered 404` }]);
  });

  it('checks the index shape against the platforms asked for', async () => {
    const r = await run(buildkit, [...THREE, 'linux/riscv64']);
    expect(r.problems).toEqual([{ code: 'missing-platform', where: 'lab/app:latest', detail: 'expected linux/riscv64, not in the image' }]);
  });

  it("reports the client's problems with the tag's own place", async () => {
    const r = await run(buildkit, THREE, ({ path }) =>
      path.endsWith('/manifests/latest') ? { body: buildkit.blobs.get(buildkit.tags.latest!)!, headers: { 'Content-Type': OCI_INDEX, 'Docker-Content-Digest': arm64 } } : undefined,
    );
    expect(r.problems).toEqual([{ code: 'digest-mismatch', where: 'lab/app:latest', detail: expect.stringMatching(/^Docker-Content-Digest says /) as string }]);
  });

  it.each<[string, FixtureResponse, Problem]>([
    [
      'an index without manifests',
      { body: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX })) },
      { code: 'invalid-manifest', where: 'lab/app:latest', detail: `${OCI_INDEX} body has no valid manifests[] list` },
    ],
    [
      'a manifest without config and layers',
      { body: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST })) },
      { code: 'invalid-manifest', where: 'lab/app:latest', detail: `${OCI_MANIFEST} body has no valid config and layers` },
    ],
    [
      'plain JSON',
      { body: Buffer.from('{}'), headers: { 'Content-Type': 'application/json' } },
      { code: 'bad-media-type', where: 'lab/app:latest', detail: 'tag resolves to application/json, neither an index nor a manifest' },
    ],
    [
      'a body without any media type',
      { body: Buffer.from('{}') },
      { code: 'bad-media-type', where: 'lab/app:latest', detail: 'tag resolves to (no media type), neither an index nor a manifest' },
    ],
  ])('a tag whose body is %s: one problem, nothing more read', async (_name, answer, problem) => {
    const r = await run(buildkit, THREE, ({ path }) => (path.endsWith('/manifests/latest') ? answer : undefined));
    expect(r).toMatchObject({ ok: false, platforms: [], attestations: 0, problems: [problem] });
    expect(reg!.log).toEqual(['GET /v2/lab/app/manifests/latest']);
  });

  describe('hand-made images', () => {
    const small = Buffer.from('small layer');
    const big = Buffer.alloc(SMALL_LAYER_BYTES, 1); // at the limit: no longer small
    const amd64 = manifestOf(linux('amd64'), small, big);
    const arm64 = manifestOf(linux('arm64'), small, big);
    const index = indexOf(desc(OCI_MANIFEST, amd64, { platform: linux('amd64') }), desc(OCI_MANIFEST, arm64, { platform: linux('arm64') }));
    const shared = storeOf(index, [amd64, arm64, linux('amd64'), linux('arm64'), small, big]);
    const blobRequests = () =>
      reg!.log
        .filter((l) => l.includes('/blobs/'))
        .map((l) =>
          l
            .replace(digestOf(small), 'small')
            .replace(digestOf(big), 'big')
            .replace(/sha256:\w+/, 'config'),
        );

    it('reads a blob two platforms share once, fetches small layers whole and big ones with HEAD', async () => {
      expect((await run(shared, ['linux/amd64', 'linux/arm64'])).problems).toEqual([]);
      expect(blobRequests().sort()).toEqual(['GET /v2/lab/app/blobs/config', 'GET /v2/lab/app/blobs/config', 'GET /v2/lab/app/blobs/small', 'HEAD /v2/lab/app/blobs/big']);
    });

    it.each([
      ['get', ['GET /v2/lab/app/blobs/big', 'GET /v2/lab/app/blobs/small']],
      ['head', ['HEAD /v2/lab/app/blobs/big', 'HEAD /v2/lab/app/blobs/small']],
    ] as const)('reads every layer with %s when asked', async (fetchLayers, want) => {
      expect((await run(shared, ['linux/amd64', 'linux/arm64'], undefined, { fetchLayers })).ok).toBe(true);
      expect(
        blobRequests()
          .filter((l) => !l.endsWith('config'))
          .sort(),
      ).toEqual(want);
    });

    it('checks what a HEAD says: the size, and the digest header', async () => {
      const other = `sha256:${'f'.repeat(64)}`;
      const r = await run(shared, ['linux/amd64', 'linux/arm64'], ({ method, path }) =>
        method === 'HEAD' && path.endsWith(digestOf(big)) ? { body: Buffer.alloc(3), headers: { 'Docker-Content-Digest': other } } : undefined,
      );
      expect(r.problems).toEqual(
        ['linux/amd64', 'linux/arm64'].flatMap((where) => [
          { code: 'size-mismatch', where: `${where} layers[1]`, detail: `${digestOf(big)}: descriptor says ${SMALL_LAYER_BYTES} bytes, registry has 3` },
          { code: 'digest-mismatch', where: `${where} layers[1]`, detail: `requested ${digestOf(big)} but Docker-Content-Digest says ${other}` },
        ]),
      );
    });

    it('takes a HEAD without a digest header at its word', async () => {
      const r = await run(shared, ['linux/amd64', 'linux/arm64'], ({ method, path }) =>
        method === 'HEAD' && path.endsWith(digestOf(big)) ? { body: Buffer.alloc(SMALL_LAYER_BYTES) } : undefined,
      );
      expect(r.problems).toEqual([]);
    });

    it.each<[string, Part, string, boolean]>([
      ['a config with a variant', linux('arm', 'v7'), 'linux/arm/v7', true],
      ['a config without an architecture', { os: 'linux' }, '(no platform)', false],
      ['a config that is no object', Buffer.from('"linux"'), '(no platform)', false],
    ])('a single manifest: %s', async (_name, config, platform, ok) => {
      const single = manifestOf(config, small);
      const r = await run(storeOf(single, [config, small]), ['linux/arm/v7'], undefined, { requireIndex: false });
      expect(r).toMatchObject({ platforms: [platform], ok });
    });

    it('a single manifest whose config is not JSON, or missing: no platform, and the problem once', async () => {
      const garbage = Buffer.from('not json');
      const broken = manifestOf(garbage, small);
      const r = await run(storeOf(broken, [garbage, small]), ['linux/amd64']);
      expect(r.platforms).toEqual(['(no platform)']);
      expect(r.problems).toEqual([
        { code: 'not-an-index', where: 'lab/app:latest', detail: `tag is a single ${OCI_MANIFEST} for (no platform), not an index` },
        { code: 'invalid-manifest', where: 'lab/app:latest config', detail: `${digestOf(garbage)} is not JSON` },
      ]);
      await reg!.close();
      reg = undefined;
      const lost = await run(storeOf(broken, [garbage, small], [garbage]), ['linux/amd64'], undefined, { requireIndex: false });
      expect(codes(lost.problems)).toEqual(['extra-platform', 'missing-blob', 'missing-platform']);
    });

    it('a single manifest lists the problems of its blobs', async () => {
      const single = manifestOf(linux('amd64'), small);
      const r = await run(storeOf(single, [linux('amd64'), small], [small]), ['linux/amd64'], undefined, { requireIndex: false });
      expect(r.problems).toEqual([{ code: 'missing-blob', where: 'lab/app:latest layers[0]', detail: `${digestOf(small)} (${small.length} bytes): registry answered 404` }]);
    });

    it('a child that is an index is not read as a manifest; one that is not JSON is reported once', async () => {
      const nested = indexOf();
      const garbage = Buffer.from('garbage');
      const top = indexOf(desc(OCI_INDEX, nested, { platform: linux('amd64') }), desc(OCI_MANIFEST, garbage, { platform: linux('arm64') }));
      const r = await run(storeOf(top, [nested]), ['linux/amd64', 'linux/arm64'], ({ path }) =>
        path.endsWith(`/manifests/${digestOf(garbage)}`) ? { body: garbage, headers: { 'Content-Type': OCI_MANIFEST } } : undefined,
      );
      expect(r.problems).toEqual([
        { code: 'bad-media-type', where: 'lab/app:latest manifests[0] linux/amd64', detail: expect.stringContaining('expected an image manifest') as string },
        { code: 'invalid-manifest', where: 'linux/amd64', detail: `${digestOf(bytesOf(nested))} (${OCI_INDEX}) is not an image manifest` },
        { code: 'invalid-manifest', where: 'linux/arm64', detail: `body (7 bytes, ${OCI_MANIFEST}) is not JSON` },
      ]);
    });

    it('names an attestation without a reference digest, and what the registry answered for it', async () => {
      const att = attestationFor(undefined, { predicate: 'lost' });
      const single = manifestOf(linux('amd64'), small);
      const top = indexOf(desc(OCI_MANIFEST, single, { platform: linux('amd64') }), att);
      const r = await run(storeOf(top, [single, linux('amd64'), small]), ['linux/amd64']);
      expect(r.attestations).toBe(1);
      expect(r.problems).toEqual([
        {
          code: 'dangling-attestation',
          where: 'lab/app:latest manifests[1] attestation',
          detail: expect.stringContaining('has no vnd.docker.reference.digest annotation') as string,
        },
        { code: 'missing-manifest', where: 'attestation for ? (manifests[1])', detail: `${att.digest}: registry answered 404` },
      ]);
    });
  });
});
