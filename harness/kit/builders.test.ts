import { describe, expect, it } from 'vitest';
import { buildkitdConfigFlag } from './builders.ts';

describe('buildkitdConfigFlag', () => {
  it.each([
    ['v0.12.1', '--config'],
    ['v0.12.0', '--config'],
    ['v0.13.0', '--buildkitd-config'],
    ['v0.13.1-debian', '--buildkitd-config'],
    ['v0.29.1-debian', '--buildkitd-config'],
    ['v0.38.2', '--buildkitd-config'],
  ])('Buildx %s takes %s', (version, flag) => {
    expect(buildkitdConfigFlag(version)).toBe(flag);
  });
});
