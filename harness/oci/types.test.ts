import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.ts';
import {
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  OCI_CONFIG,
  OCI_INDEX,
  OCI_MANIFEST,
  digestOf,
  formatPlatform,
  isAttestationManifest,
  isDigest,
  isIndexMediaType,
  isManifestMediaType,
  normalizePlatform,
  parsePlatform,
  type Descriptor,
  type Platform,
} from './types.ts';

describe('media type predicates', () => {
  it.each([
    [OCI_INDEX, true, false],
    [DOCKER_MANIFEST_LIST, true, false],
    [OCI_MANIFEST, false, true],
    [DOCKER_MANIFEST, false, true],
    [OCI_CONFIG, false, false],
    ['application/json', false, false],
    [undefined, false, false],
  ])('%s: index=%s manifest=%s', (mt, index, manifest) => {
    expect(isIndexMediaType(mt)).toBe(index);
    expect(isManifestMediaType(mt)).toBe(manifest);
  });
});

describe('isAttestationManifest', () => {
  const d = (platform?: Platform, annotations?: Record<string, string>): Descriptor => ({
    mediaType: OCI_MANIFEST,
    digest: `sha256:${'a'.repeat(64)}`,
    size: 1,
    ...(platform && { platform }),
    ...(annotations && { annotations }),
  });
  const att = { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': `sha256:${'b'.repeat(64)}` };
  it.each([
    ['unknown/unknown + annotation', d({ os: 'unknown', architecture: 'unknown' }, att), true],
    ['unknown/unknown without annotation', d({ os: 'unknown', architecture: 'unknown' }), false],
    ['real platform with annotation', d({ os: 'linux', architecture: 'amd64' }, att), false],
    ['other reference type', d({ os: 'unknown', architecture: 'unknown' }, { 'vnd.docker.reference.type': 'sbom' }), false],
    ['no platform', d(undefined, att), false],
  ])('%s', (_n, desc, want) => expect(isAttestationManifest(desc)).toBe(want));
});

describe('platforms', () => {
  it.each([
    ['linux/arm64', { os: 'linux', architecture: 'arm64' }],
    ['linux/arm/v7', { os: 'linux', architecture: 'arm', variant: 'v7' }],
    ['windows/amd64', { os: 'windows', architecture: 'amd64' }],
  ])('%s round-trips', (s, p) => {
    expect(parsePlatform(s)).toEqual(p);
    expect(formatPlatform(p)).toBe(s);
  });

  it.each(['linux', 'linux/', '/amd64', 'linux/arm/v7/x', ''])('rejects %j with a UsageError naming the form', (s) => {
    expect(() => parsePlatform(s)).toThrow(UsageError);
    expect(() => parsePlatform(s)).toThrow(/os\/architecture\[\/variant\]/);
  });

  it.each([
    ['linux/arm64/v8', 'linux/arm64'],
    ['linux/arm64', 'linux/arm64'],
    ['linux/arm/v7', 'linux/arm/v7'],
    ['linux/arm/v6', 'linux/arm/v6'],
  ])('normalizes %s to %s', (s, want) => expect(normalizePlatform(s)).toBe(want));
});

describe('digests', () => {
  it('hashes with sha256 by default and follows a sha512 reference', () => {
    expect(digestOf(Buffer.from(''))).toBe('sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(digestOf(Buffer.from(''), `sha512:${'0'.repeat(128)}`)).toMatch(/^sha512:cf83e135/);
  });
  it.each([
    [`sha256:${'a'.repeat(64)}`, true],
    [`sha256:${'a'.repeat(63)}`, false],
    [`sha256:${'A'.repeat(64)}`, false],
    ['latest', false],
  ])('isDigest(%s) = %s', (s, want) => expect(isDigest(s)).toBe(want));
});
