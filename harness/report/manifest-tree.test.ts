import { describe, expect, it } from 'vitest';
import { doublePushCell } from './fixtures.test-helpers.ts';
import { manifestTree } from './manifest-tree.ts';

describe('manifestTree', () => {
  const tree = manifestTree(doublePushCell().evidence.manifests).markup;

  it('draws the index with its platforms and attestation, marking what the registry did not return', () => {
    expect(tree).toContain('What landed: 1 root(s), 1 missing');
    expect(tree).toMatch(/<li class="platform landed" data-digest="sha256:a{64}"><span class="node">linux\/amd64<\/span>.*3 layer\(s\)/);
    expect(tree).toMatch(/<li class="platform missing" data-digest="sha256:b{64}"><span class="node">linux\/arm64<\/span>.*missing: the registry did not return it/);
    expect(tree).toMatch(
      /<li class="attestation landed" data-digest="sha256:c{64}"><span class="node">attestation for linux\/amd64<\/span>.*artifact application\/vnd\.in-toto\+json/,
    );
  });

  it('shows a lone manifest as a root, and survives an index that names itself', () => {
    expect(manifestTree({ 'lab/app:v1': { mediaType: 'application/vnd.oci.image.manifest.v1+json', layers: [] } }).markup).toContain('0 layer(s)');
    const self = 'sha256:' + '1'.repeat(64);
    const loop = manifestTree({ [self]: { manifests: [{ digest: self }] } }).markup;
    expect(loop).toContain('1 root(s)');
  });

  it('reads hostile bodies as data', () => {
    const out = manifestTree({ '<x>': { manifests: [{ digest: '<img src=x>', platform: { os: '<b>', architecture: 1 } }, 'junk', null] } }).markup;
    expect(out).not.toMatch(/<(img|b)[ >]/);
    expect(out).toContain('&lt;b&gt;');
    expect(manifestTree({})).toEqual(expect.objectContaining({ markup: '' }));
  });
});
