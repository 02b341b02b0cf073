import { PassThrough } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { stderrProgress, writeConsole } from './progress.ts';

describe('console output', () => {
  it('writeConsole masks secrets', () => {
    const out = new PassThrough();
    writeConsole(out, 'docker login -u lab -p hunter2-secret registry:5000\n');
    expect(String(out.read())).toBe('docker login -u lab -p [REDACTED] registry:5000\n');
  });

  it('the progress sink masks secrets', () => {
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      stderrProgress('pushing to https://lab:hunter2-secret@registry:5000 with GITHUB_TOKEN=abc123def456');
      const line = String(write.mock.calls[0]![0]);
      expect(line).not.toContain('hunter2-secret');
      expect(line).not.toContain('abc123def456');
      expect(line).toMatch(/^\[\s*\d+\.\ds\] pushing to https:\/\/lab:\[REDACTED\]@registry:5000 with GITHUB_TOKEN=\[REDACTED\]\n$/);
    } finally {
      write.mockRestore();
    }
  });
});
