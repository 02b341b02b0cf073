import { describe, expect, it } from 'vitest';
import { goToolPath } from './go-tool.ts';

describe('goToolPath', () => {
  const tool = { name: 'versitygw', module: 'github.com/versity/versitygw', version: 'v1.8.0', pkg: './cmd/versitygw' };
  it('keeps a tool under tools/NAME-VERSION by default', () => {
    expect(goToolPath({ cacheDir: '/c' }, tool)).toBe('/c/tools/versitygw-v1.8.0/versitygw');
  });
  it('keeps rootlesskit where it always was (buildkit/), so a warm cache does not build it again', () => {
    expect(goToolPath({ cacheDir: '/c' }, { ...tool, name: 'rootlesskit', version: 'v2.3.6', under: 'buildkit' })).toBe('/c/buildkit/rootlesskit-v2.3.6/rootlesskit');
  });
  it('keeps a tool in the directory it names (the collector: otelcol-<source hash>)', () => {
    expect(goToolPath({ cacheDir: '/c' }, { ...tool, name: 'otelcol', dir: 'otelcol-0123456789abcdef' })).toBe('/c/tools/otelcol-0123456789abcdef/otelcol');
  });
});
