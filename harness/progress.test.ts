import { PassThrough } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { stderrProgress, writeConsole } from './progress.ts';
import { ProgressBoard } from './progress-board.ts';

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

describe('what reaches the terminal', () => {
  it('writeConsole shows control and bidi characters and drops escape sequences', () => {
    const out = new PassThrough();
    writeConsole(out, 'cell ok\u202Egnp.exe \u001b]52;c;cHduZWQ=\u0007\u001b[2J\u001bc\u009b2J\rFAILED\n\tnext\n');
    expect(String(out.read())).toBe('cell ok\\u202egnp.exe \\u001bc\\u009b2J\\u000dFAILED\n\tnext\n');
  });

  it('the progress sink does the same to a hostile message', () => {
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      stderrProgress('step \u2066x\u2069 \u001b[1A\u001b[2Kdone');
      expect(String(write.mock.calls[0]![0])).toMatch(/\] step \\u2066x\\u2069 done\n$/);
    } finally {
      write.mockRestore();
    }
  });
});

describe('the progress board', () => {
  it('shows control and bidi characters of task labels, details and messages', () => {
    const out = new PassThrough() as unknown as NodeJS.WriteStream;
    const board = new ProgressBoard({ live: false, stream: out });
    try {
      const task = board.start('build \u202Eevil', 'from \u001b[2Jhere\u0085');
      task.end('done \u2067x');
      board.log('message \u009b31m');
      const text = String((out as unknown as PassThrough).read());
      expect(text).not.toMatch(/[\u202E\u2067\u0085\u009b\u001b]/);
      expect(text).toContain('build \\u202eevil: from here\\u0085 ...');
      expect(text).toContain('build \\u202eevil: done \\u2067x');
      expect(text).toContain('message \\u009b31m');
    } finally {
      board.close();
    }
  });
});
