import { describe, expect, it } from 'vitest';
import { aptStateArgs, suiteFromOsRelease, upstreamVersion } from './debian.ts';

describe('Debian helpers', () => {
  it('reads the suite from os-release, only when the lab knows it', () => {
    expect(suiteFromOsRelease('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_CODENAME=bookworm\n')).toBe('bookworm');
    expect(suiteFromOsRelease('VERSION_CODENAME="trixie"\n')).toBe('trixie');
    expect(suiteFromOsRelease('ID=ubuntu\nVERSION_CODENAME=noble\n')).toBeUndefined();
    expect(suiteFromOsRelease('VERSION_CODENAME=bookworm; rm -rf /\n')).toBeUndefined();
  });
  it('keeps apt on a private state: never the host lists, sources or dpkg status', () => {
    const args = aptStateArgs('/c/apt').join(' ');
    expect(args).toContain('Dir::State::Lists=/c/apt/lists');
    expect(args).toContain('Dir::State::Status=/c/apt/status');
    expect(args).toContain('Dir::Etc::SourceParts=/nonexistent');
  });
  it('takes the upstream part of a Debian version', () => {
    expect(upstreamVersion('0.29.1+ds1-2')).toBe('0.29.1');
    expect(upstreamVersion('1:2.5.4-1+deb12u1')).toBe('2.5.4');
  });
});
