import { describe, expect, it } from 'vitest';
import { mirrorFromSources } from './debian-mirror.ts';

describe('mirrorFromSources', () => {
  it('takes the first non-security URI of deb822 sources, then of sources.list', () => {
    const deb822 = 'Types: deb\nURIs: http://deb.debian.org/debian-security\n\nTypes: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n';
    expect(mirrorFromSources([deb822])).toBe('http://mirror.example/debian');
    expect(mirrorFromSources(['deb [signed-by=/k.gpg] http://m2.example/debian bookworm main\n'])).toBe('http://m2.example/debian');
    expect(mirrorFromSources(['# nothing\n'])).toBeUndefined();
  });
});
