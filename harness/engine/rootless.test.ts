import { describe, expect, it } from 'vitest';
import { cgroupMounts, idRangeConflict, innerScript, parseSubIds, ROOTLESS_UID_BASE, rootlessDaemonConfig, rootlessPaths } from './rootless.ts';

const empty = { passwd: 'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534::/:/usr/sbin/nologin\n', group: 'root:x:0:\n', subuid: '', subgid: '' };

describe('idRangeConflict', () => {
  it('accepts a host whose accounts and subordinate ranges stay below the range', () => {
    expect(idRangeConflict({ ...empty, subuid: 'alice:100000:65536\n', subgid: 'alice:100000:65536\n' })).toBeUndefined();
  });
  it.each([
    ['an account inside the range', { passwd: `ghost:x:${ROOTLESS_UID_BASE + 5}:1::/:/bin/sh\n` }, /\/etc\/passwd has 'ghost'/],
    ['a group inside the range', { group: `g:x:${ROOTLESS_UID_BASE}:\n` }, /\/etc\/group has 'g'/],
    ['a subuid range that starts below and reaches in', { subuid: `bob:${ROOTLESS_UID_BASE - 10}:11\n` }, /\/etc\/subuid gives 'bob'/],
    ['a subgid range that starts inside', { subgid: `bob:${ROOTLESS_UID_BASE + 65_535}:1\n` }, /\/etc\/subgid gives 'bob'/],
  ])('refuses %s', (_, over, message) => {
    expect(idRangeConflict({ ...empty, ...over })).toMatch(message);
  });
  it('a range that ends where ours starts does not overlap', () => {
    expect(idRangeConflict({ ...empty, subuid: `bob:${ROOTLESS_UID_BASE - 10}:10\n` })).toBeUndefined();
  });
});

describe('parseSubIds', () => {
  it('reads name:start:count lines and skips comments and junk', () => {
    expect(parseSubIds('# c\nalice:100000:65536\nbroken\nbob:x:1\n')).toEqual([{ owner: 'alice', start: 100000, count: 65536 }]);
  });
});

describe('cgroupMounts', () => {
  it('lists v1 controllers and the v2 tree, nothing else', () => {
    const info = [
      '25 1 0:23 / /sys/fs/cgroup rw - tmpfs tmpfs rw',
      '26 25 0:24 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu',
      '27 25 0:25 / /sys/fs/cgroup/name\\040x rw - cgroup cgroup rw,name=x',
      '28 25 0:26 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw',
      '29 1 8:1 / / rw - ext4 /dev/vda rw',
    ].join('\n');
    expect(cgroupMounts(info)).toEqual(['/sys/fs/cgroup/cpu', '/sys/fs/cgroup/name x', '/sys/fs/cgroup/unified']);
  });
});

describe('the engine inside the namespace', () => {
  const p = rootlessPaths('/var/lib/x');
  it('keeps its socket and pid file under its own prefix, outside /run (the namespace has a /run of its own)', () => {
    expect(p.socket.startsWith('/var/lib/x/')).toBe(true);
    expect(p.pidFile.startsWith('/var/lib/x/')).toBe(true);
  });
  it('names its cgroup by its home, so that two engines (the default and a test one) never share one', () => {
    expect(rootlessPaths().cgroup).toBe('buildx-lab-rootless');
    expect(p.cgroup).toMatch(/^buildx-lab-rootless-[0-9a-f]{8}$/);
    expect(rootlessPaths('/var/lib/y').cgroup).not.toBe(p.cgroup);
  });
  it('runs dockerd in rootless mode with no NAT and no default bridge', () => {
    expect(rootlessDaemonConfig(p)).toMatchObject({ rootless: true, iptables: false, bridge: 'none', hosts: ['unix:///var/lib/x/run/docker.sock'] });
  });
  it('waits for the id maps before anything else, and binds each delegated cgroup over its hierarchy', () => {
    const s = innerScript(p, ["/sys/fs/cgroup/it's"]).split('\n');
    const wait = s.findIndex((l) => l.includes('uid_map'));
    expect(wait).toBeGreaterThan(s.indexOf('echo "$$"'));
    expect(s.findIndex((l) => l.startsWith('mount'))).toBeGreaterThan(wait);
    expect(s).toContain(`mount --bind '/sys/fs/cgroup/it'\\''s/${p.cgroup}' '/sys/fs/cgroup/it'\\''s'`);
    expect(s.at(-1)).toBe(`exec '/var/lib/x/bin/dockerd' --config-file '/var/lib/x/daemon.json'`);
  });
});
