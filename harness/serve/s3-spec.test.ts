import { describe, expect, it } from 'vitest';
import { DEFAULT_S3_LIMITS } from './s3-server.ts';
import { bucketFor, bucketProblem, makeCredentials, regionProblem, s3ErrorXml, s3Route, s3ServeSchema, s3UseProblem, type S3Request } from './s3-spec.ts';

const OWN = 'lab-c0123abcd-1';
const req = (method: string, path: string, extra: Partial<S3Request> = {}): S3Request => ({ method, path, query: '', ...extra });

describe('s3Route', () => {
  it.each([
    ['PUT', `/${OWN}/blobs/sha256:0a1b`, 'blobs/sha256:0a1b'],
    ['GET', `/${OWN}/manifests/main`, 'manifests/main'],
    ['HEAD', `/${OWN}/blobs/sha256%3A0a1b`, 'blobs/sha256:0a1b'],
    ['POST', `/${OWN}/big/layer`, 'big/layer'],
    ['DELETE', `/${OWN}/x`, 'x'],
  ])('passes %s %s on to the server, naming the key %s', (method, path, key) => {
    expect(s3Route(req(method, path), OWN)).toEqual({ bucket: OWN, key });
  });

  it('lets a cell read and list its own bucket', () => {
    expect(s3Route(req('GET', `/${OWN}`, { query: 'list-type=2' }), OWN)).toEqual({ bucket: OWN });
    expect(s3Route(req('HEAD', `/${OWN}/`), OWN)).toEqual({ bucket: OWN });
  });

  it.each([
    ['another cell', req('GET', '/lab-c9999-1/blobs/x'), OWN, 403, /not this cell's/],
    ['an address bound to no cell', req('GET', `/${OWN}/x`), undefined, 403, /no cell engine/],
    ['listing every bucket', req('GET', '/'), OWN, 403, /listing buckets/],
    ['creating a bucket', req('PUT', '/lab-new-1'), OWN, 403, /not this cell's/],
    ['re-creating its own bucket', req('PUT', `/${OWN}`), OWN, 403, /on the bucket itself/],
    ['deleting its own bucket', req('DELETE', `/${OWN}/`), OWN, 403, /on the bucket itself/],
    ['a bucket percent-encoded', req('GET', '/lab%2dc0123abcd-1/x'), OWN, 403, /not this cell's/],
    ['a dot-dot key', req('GET', `/${OWN}/a/../../other/x`), OWN, 400, /not plain/],
    ['an encoded dot-dot key', req('GET', `/${OWN}/a/%2e%2e/x`), OWN, 400, /not plain/],
    ['an encoded slash before dot-dot', req('GET', `/${OWN}/a%2F..%2Fx`), OWN, 400, /not plain/],
    ['a NUL in the key', req('PUT', `/${OWN}/a%00b`), OWN, 400, /not plain/],
    ['a bad escape', req('PUT', `/${OWN}/a%zz`), OWN, 400, /not plain/],
    ['a copy from another bucket', req('PUT', `/${OWN}/x`, { copySource: '/lab-c9999-1/secret' }), OWN, 403, /copy-source/],
    ['a copy with a dot-dot source', req('PUT', `/${OWN}/x`, { copySource: `${OWN}/a/../../y` }), OWN, 403, /copy-source/],
    // copies are bytes no upload cap counts: a thousand copies of one upload would fill the host's disk
    ['a copy onto another key', req('PUT', `/${OWN}/b`, { copySource: `/${OWN}/a` }), OWN, 403, /only onto the same key/],
    ['a part copy', req('PUT', `/${OWN}/a`, { copySource: `/${OWN}/a`, query: 'partNumber=1&uploadId=u' }), OWN, 403, /part copies/],
    ['a ranged copy', req('PUT', `/${OWN}/a`, { copySource: `/${OWN}/a`, copyRange: true }), OWN, 403, /part copies/],
    ['OPTIONS', req('OPTIONS', `/${OWN}/x`), OWN, 405, /not served/],
    ['PATCH', req('PATCH', `/${OWN}/x`), OWN, 405, /not served/],
  ] as const)('refuses %s', (_, r, own, status, why) => {
    const route = s3Route(r, own);
    expect(route).toMatchObject({ status });
    expect('why' in route && route.why).toMatch(why);
  });

  it("allows the in-place copy BuildKit's cache makes to refresh an object, with or without the leading slash and a version", () => {
    expect(s3Route(req('PUT', `/${OWN}/a`, { copySource: `/${OWN}/a` }), OWN)).toEqual({ bucket: OWN, key: 'a' });
    expect(s3Route(req('PUT', `/${OWN}/blobs/sha256:ab`, { copySource: `${OWN}/blobs/sha256%3Aab?versionId=1` }), OWN)).toEqual({ bucket: OWN, key: 'blobs/sha256:ab' });
  });
});

describe('bucketFor', () => {
  it('gives each cell and run a bucket of its own within the rules', () => {
    expect(bucketFor('c0123abcd', 0)).toBe('lab-c0123abcd-1');
    expect(bucketFor('c0123abcd', 1)).toBe('lab-c0123abcd-2');
    expect(bucketProblem(bucketFor('C_Weird.Id', 0))).toBeUndefined();
    expect(bucketFor('x'.repeat(100), 0)).toHaveLength(63);
  });
  it.each(['ab', 'Lab-1', 'lab.c1', '-lab', 'lab-', 'a'.repeat(64)])('refuses %s as a bucket name', (b) => expect(bucketProblem(b)).toMatch(/bucket name/));
});

describe('credentials', () => {
  it('are fresh per call, the secret carrying the marker the redactor knows', () => {
    const a = makeCredentials();
    const b = makeCredentials();
    expect(a.secretAccessKey).toMatch(/^buildx-lab-secret-[0-9a-f]{40}$/);
    expect(a.accessKeyId).toMatch(/^BXLAB[0-9A-F]{15}$/);
    expect(a.secretAccessKey).not.toBe(b.secretAccessKey);
  });
});

describe('serve.s3', () => {
  it('takes true or a region, defaulting to us-east-1', () => {
    expect(s3ServeSchema.parse(true)).toEqual({ region: 'us-east-1' });
    expect(s3ServeSchema.parse({})).toEqual({ region: 'us-east-1' });
    expect(s3ServeSchema.parse({ region: 'eu-central-2' })).toEqual({ region: 'eu-central-2' });
  });
  it.each([false, 'yes', { region: 'EU' }, { region: 'us-east-1; rm' }, { bucket: 'x' }])('refuses %j', (v) => expect(s3ServeSchema.safeParse(v).success).toBe(false));
  it.each(['us east', '', 'a-1', 'us-east-1\n'])('regionProblem refuses %j', (r) => expect(regionProblem(r)).toBeDefined());

  it('must be named by a step, and a step naming ${s3...} needs it', () => {
    expect(s3UseProblem(true, new Set(['s3', 's3Bucket']))).toBeUndefined();
    expect(s3UseProblem(false, new Set(['http']))).toBeUndefined();
    expect(s3UseProblem(true, new Set(['s3Bucket']))).toMatch(/no step names \$\{s3\}/);
    expect(s3UseProblem(false, new Set(['s3SecretAccessKey']))).toMatch(/names \$\{s3SecretAccessKey\} but serves no S3 endpoint: add serve.s3/);
  });
});

describe('s3ErrorXml', () => {
  it('escapes what it quotes', () => {
    expect(s3ErrorXml('AccessDenied', 'a <b> & "c"', '/x<y')).toContain('<Message>buildx-lab: a &#60;b&#62; &#38; &#34;c&#34;</Message><Resource>/x&#60;y</Resource>');
  });
});

describe('the S3 server limits', () => {
  it('take 4 GiB of uploads by default (not a 32-bit shift that wraps to 0)', () => {
    expect(DEFAULT_S3_LIMITS.uploadBytes).toBe(4 * 1024 * 1024 * 1024);
  });
});
