import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LabConfig } from '../config.ts';
import { ensureGoTool, goToolPath } from './go-tool.ts';

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

describe('a cached tool', () => {
  const tool = { name: 'x', module: 'example.com/x', version: 'v1.0.0', pkg: '.' };
  const cached = (build: Record<string, unknown>) => {
    const cacheDir = mkdtempSync(path.join(tmpdir(), 'bxl-go-tool-'));
    const dir = path.join(cacheDir, 'tools', 'x-v1.0.0');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'x'), 'binary');
    writeFileSync(path.join(dir, 'build.json'), JSON.stringify(build));
    return { cacheDir } as LabConfig;
  };
  const sha = createHash('sha256').update('binary').digest('hex');

  it('takes the hash its build recorded while the size holds, and the Go that built it (no build, no hashing)', async () => {
    const config = cached({ sha256: 'f'.repeat(64), size: 6, goVersion: 'go1.26.8' });
    expect(await ensureGoTool(config, tool, () => {})).toEqual({ path: goToolPath(config, tool), sha256: 'f'.repeat(64), goVersion: 'go1.26.8' });
    rmSync(config.cacheDir, { recursive: true, force: true });
  });
  it('hashes the binary when the size differs or nothing was recorded', async () => {
    for (const build of [{ sha256: 'f'.repeat(64), size: 7 }, {}]) {
      const config = cached(build);
      expect((await ensureGoTool(config, tool, () => {})).sha256).toBe(sha);
      rmSync(config.cacheDir, { recursive: true, force: true });
    }
  });
});
