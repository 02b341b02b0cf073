// The pure parts of the generators' module-proxy prober.
import { describe, expect, it } from 'vitest';
import { goDirective, isTag, proxyBase } from './proxy-versions.ts';

describe('proxy-versions', () => {
  it('takes the first URL of GOPROXY, else proxy.golang.org', () => {
    expect(proxyBase('direct')).toBe('https://proxy.golang.org');
    expect(proxyBase(undefined)).toBe('https://proxy.golang.org');
    expect(proxyBase('off|https://m.example/go/,https://proxy.golang.org')).toBe('https://m.example/go');
  });
  it("reads a go.mod's go directive", () => {
    expect(goDirective('module x\n\ngo 1.22.0\n')).toBe('1.22.0');
    expect(goDirective('module x\n')).toBeUndefined();
  });
  it('keeps real v0 tags only', () => {
    expect(
      ['v0.17.1', 'v0.21.0-rc2', 'v1.0.0', 'v0.0.0-20250219102945-1a5174abd055', 'v0.17.2-0.20241107230335-8b1b83ef4947', 'v0.9.0+incompatible', 'latest'].filter(isTag),
    ).toEqual(['v0.17.1', 'v0.21.0-rc2']);
  });
});
