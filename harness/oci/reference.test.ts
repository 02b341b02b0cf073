import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.ts';
import { formatImageRef, parseImageRef } from './reference.ts';

const D = `sha256:${'0123456789abcdef'.repeat(4)}`;

describe('parseImageRef', () => {
  it.each([
    ['registry:5000/app/x:tag', { registry: 'registry:5000', repository: 'app/x', reference: 'tag', tag: 'tag' }],
    ['127.0.0.1:34567/app', { registry: '127.0.0.1:34567', repository: 'app', reference: 'latest', tag: 'latest' }],
    ['localhost/app:v1.2', { registry: 'localhost', repository: 'app', reference: 'v1.2', tag: 'v1.2' }],
    ['localhost:5000/a/b/c', { registry: 'localhost:5000', repository: 'a/b/c', reference: 'latest', tag: 'latest' }],
    [`registry:5000/app@${D}`, { registry: 'registry:5000', repository: 'app', reference: D, digest: D }],
    [`registry:5000/app:v1@${D}`, { registry: 'registry:5000', repository: 'app', reference: D, tag: 'v1', digest: D }],
    ['ghcr.io/docker/buildx:master', { registry: 'ghcr.io', repository: 'docker/buildx', reference: 'master', tag: 'master' }],
    ['alpine', { registry: 'docker.io', repository: 'library/alpine', reference: 'latest', tag: 'latest' }],
    ['moby/buildkit:v0.20.0', { registry: 'docker.io', repository: 'moby/buildkit', reference: 'v0.20.0', tag: 'v0.20.0' }],
    ['[::1]:5000/app:t', { registry: '[::1]:5000', repository: 'app', reference: 't', tag: 't' }],
  ])('%s', (input, want) => {
    expect(parseImageRef(input)).toEqual(want);
  });

  it.each(['', 'registry:5000/', 'registry:5000/App:tag', 'app:bad tag', 'app@sha256:xyz', 'app:-tag', 'registry:5000/app//x'])(
    'rejects %j with a UsageError naming the expected form',
    (input) => {
      expect(() => parseImageRef(input)).toThrow(UsageError);
      expect(() => parseImageRef(input)).toThrow(/expected \[registry\[:port\]\/\]repository\[:tag\]/);
    },
  );

  it('formats back', () => {
    expect(formatImageRef(parseImageRef('registry:5000/app/x:tag'))).toBe('registry:5000/app/x:tag');
    expect(formatImageRef(parseImageRef(`registry:5000/app@${D}`))).toBe(`registry:5000/app@${D}`);
  });
});
