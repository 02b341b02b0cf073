import { mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  cgroupMounts,
  idRangeConflict,
  innerScript,
  parseSubIds,
  pinSocket,
  ROOTLESS_UID_BASE,
  rootlessDaemonConfig,
  rootlessMemoryMax,
  rootlessPaths,
  rootlessPidsMax,
} from './rootless.ts';

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

describe('pinSocket: the lab dials its own link to a socket the namespace made, never its path', () => {
  const dirs: string[] = [];
  const servers: Server[] = [];
  afterAll(() => {
    for (const s of servers) s.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const tmp = () => {
    const d = mkdtempSync(path.join(tmpdir(), 'pin-'));
    dirs.push(d);
    return d;
  };
  const listening = async (p: string) => {
    const s = createServer((c) => c.end('pinned'));
    servers.push(s);
    await new Promise<void>((r) => s.listen(p, r));
  };
  const uid = process.getuid?.() ?? 0;

  it('links a socket of the owner into a 0700 directory; the link still reaches it after the path is swapped for a symlink', async () => {
    const ns = tmp();
    const sock = path.join(ns, 'docker.sock');
    await listening(sock);
    const pinned = pinSocket(sock, path.join(tmp(), 'pins'), uid);
    expect(statSync(path.dirname(pinned)).mode & 0o777).toBe(0o700);
    const other = path.join(tmp(), 'other.sock');
    await listening(other);
    rmSync(sock);
    symlinkSync(other, sock);
    const got = await new Promise<string>((resolve) => {
      let out = '';
      connect(pinned)
        .on('data', (d) => (out += d))
        .on('close', () => resolve(out));
    });
    expect(got).toBe('pinned');
  });

  it('refuses a symlink, a socket of another uid and a plain file, naming what it found', async () => {
    const ns = tmp();
    const real = path.join(ns, 'real.sock');
    await listening(real);
    symlinkSync(real, path.join(ns, 'link.sock'));
    writeFileSync(path.join(ns, 'file.sock'), '');
    const into = path.join(tmp(), 'pins');
    expect(() => pinSocket(path.join(ns, 'link.sock'), into, uid)).toThrow(/is not a socket of uid \d+ \(it is a symlink\)/);
    expect(() => pinSocket(real, into, uid + 1)).toThrow(new RegExp(`\\(it is a socket of uid ${uid}\\)`));
    expect(() => pinSocket(path.join(ns, 'file.sock'), into, uid)).toThrow(/\(it is not a socket\)/);
    expect(readdirSync(into)).toEqual([]);
  });
});

describe('the limits of the delegated cgroups', () => {
  it('leaves the host three quarters of its pids (at most 8192 for the engine) and a quarter of its memory', () => {
    expect(rootlessPidsMax(32_768)).toBe(8192);
    expect(rootlessPidsMax(4_194_304)).toBe(8192);
    expect(rootlessPidsMax(8_000)).toBe(2000);
    expect(rootlessPidsMax(1_000)).toBe(1024);
    expect(rootlessMemoryMax(24 * 1024 * 1024)).toBe(18 * 1024 ** 3);
  });
});
