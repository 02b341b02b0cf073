import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.ts';
import { buildxArch, goEnv } from './arch.ts';

describe('buildxArch', () => {
  it.each([
    ['x64', 'amd64'],
    ['arm64', 'arm64'],
    ['arm', 'arm-v7'],
    ['s390x', 's390x'],
    ['ppc64', 'ppc64le'],
    ['riscv64', 'riscv64'],
  ])('%s -> %s', (node, want) => {
    expect(buildxArch(node)).toBe(want);
  });

  it.each(['ia32', 'mips', 'loong64'])('rejects %s', (node) => {
    expect(() => buildxArch(node)).toThrow(UsageError);
    expect(() => buildxArch(node)).toThrow(/supported: x64/);
  });

  it('defaults to this host', () => {
    // on any host: the default is what this host's arch maps to (or the same refusal)
    let mapped: string;
    try {
      mapped = buildxArch(process.arch);
    } catch (e) {
      mapped = String(e);
    }
    let byDefault: string;
    try {
      byDefault = buildxArch();
    } catch (e) {
      byDefault = String(e);
    }
    expect(byDefault).toBe(mapped);
  });

  it('maps to go build env', () => {
    expect(goEnv('arm-v7')).toEqual({ GOOS: 'linux', GOARCH: 'arm', GOARM: '7' });
    expect(goEnv('amd64')).toEqual({ GOOS: 'linux', GOARCH: 'amd64' });
  });
});
