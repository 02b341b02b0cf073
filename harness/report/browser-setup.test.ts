import { describe, expect, it } from 'vitest';
import { parseAptSimulation, refusal } from './browser-setup.ts';

// Excerpts of `LANG=C apt-get -s install [--no-install-recommends] chromium` on this Debian 12 host.
const WITH_RECOMMENDS = `Reading package lists...
The following packages will be upgraded:
  libperl5.36 libsystemd0 perl perl-base
Inst libperl5.36 [5.36.0-7+deb12u2] (5.36.0-7+deb12u4 Debian-Security:12/oldstable-security [amd64]) [perl:amd64 ]
Inst perl [5.36.0-7+deb12u2] (5.36.0-7+deb12u4 Debian-Security:12/oldstable-security [amd64]) []
Inst libsystemd0 [252.38-1~deb12u1] (252.39-1~deb12u2 Debian:12.15/oldstable [amd64])
Inst avahi-daemon (0.8-10+deb12u1 Debian:12.15/oldstable [amd64])
Conf perl (5.36.0-7+deb12u4 Debian-Security:12/oldstable-security [amd64])
`;
const NO_RECOMMENDS = `Reading package lists...
Building dependency tree...
The following NEW packages will be installed:
  chromium chromium-common libasyncns0
0 upgraded, 3 newly installed, 0 to remove and 52 not upgraded.
Inst libasyncns0 (0.8-6+b3 Debian:12.15/oldstable [amd64])
Inst chromium-common (156.0.8078.108-1~deb12u1 Debian-Security:12/oldstable-security [amd64])
Inst chromium (156.0.8078.108-1~deb12u1 Debian-Security:12/oldstable-security [amd64])
Conf libasyncns0 (0.8-6+b3 Debian:12.15/oldstable [amd64])
Conf chromium (156.0.8078.108-1~deb12u1 Debian-Security:12/oldstable-security [amd64])
`;

describe('parseAptSimulation', () => {
  it('lists what a clean install adds and sees no change', () => {
    expect(parseAptSimulation(NO_RECOMMENDS)).toEqual({
      adds: [
        { name: 'libasyncns0', version: '0.8-6+b3' },
        { name: 'chromium-common', version: '156.0.8078.108-1~deb12u1' },
        { name: 'chromium', version: '156.0.8078.108-1~deb12u1' },
      ],
      changes: [],
    });
  });

  it('sees installed packages that would change version', () => {
    const plan = parseAptSimulation(WITH_RECOMMENDS);
    expect(plan.changes).toEqual([
      { name: 'libperl5.36', from: '5.36.0-7+deb12u2', to: '5.36.0-7+deb12u4', removed: false },
      { name: 'perl', from: '5.36.0-7+deb12u2', to: '5.36.0-7+deb12u4', removed: false },
      { name: 'libsystemd0', from: '252.38-1~deb12u1', to: '252.39-1~deb12u2', removed: false },
    ]);
    expect(plan.adds).toEqual([{ name: 'avahi-daemon', version: '0.8-10+deb12u1' }]);
  });

  it('sees removals', () => {
    const plan = parseAptSimulation('Remv chromium-browser [90.0-1]\nPurg libold1\nInst chromium (1 Debian [amd64])\n');
    expect(plan.changes).toEqual([
      { name: 'chromium-browser', from: '90.0-1', removed: true },
      { name: 'libold1', removed: true },
    ]);
  });
});

describe('refusal', () => {
  it('names every change and the fix', () => {
    const text = refusal(parseAptSimulation(`${WITH_RECOMMENDS}Remv libold1 [1.0]\n`), 'chromium');
    expect(text).toContain('not installing chromium: it would change 4 package(s) already installed');
    expect(text).toContain('  perl 5.36.0-7+deb12u2 -> 5.36.0-7+deb12u4');
    expect(text).toContain('  libold1 1.0 -> removed');
    expect(text).toContain('apt-get install --only-upgrade libperl5.36 perl libsystemd0');
    expect(text).toContain("then run 'make browser' again");
  });
});
