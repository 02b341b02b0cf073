// The pure parts of fill-engine-disk: the `free:` sizes it takes and refuses, the sizes it prints, and the
// sizes its script asks the kernel for (run by sh with stand-ins for the DinD's stat, df and mount; the
// kernel's own answers are in engine-disk.itg.test.ts).
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FILL_SCRIPT, FREE_MAX_BYTES, parseFree, sizeText } from './engine-disk.ts';

describe('parseFree', () => {
  it.each<[unknown, number]>([
    ['16MiB', 16 << 20],
    ['512 KiB', 512 << 10],
    ['1GiB', 1 << 30],
    ['1024MiB', FREE_MAX_BYTES],
    [' 8MiB ', 8 << 20],
    [0, 0],
    ['0', 0],
    ['0KiB', 0],
  ])('%j is %d bytes', (v, want) => expect(parseFree(v)).toBe(want));

  it.each<[unknown, RegExp]>([
    [16, /^16 is not a size: write a whole number with a binary unit, e\.g\. free: 16MiB \(KiB, MiB or GiB; at most 1GiB\)$/],
    ['16', /"16" is not a size/],
    ['16MB', /"16MB" is not a size/],
    ['16M', /"16M" is not a size/],
    ['16mib', /"16mib" is not a size/],
    ['1.5MiB', /"1\.5MiB" is not a size/],
    ['-1MiB', /"-1MiB" is not a size/],
    ['1e3MiB', /not a size/],
    ['1025MiB', /^1025MiB is more than 1GiB: a disk with that much free is not full/],
    ['99999999999GiB', /not a size/],
    ['9999999999GiB', /more than 1GiB/],
    [true, /true is not a size/],
    [null, /null is not a size/],
    [{ size: 1 }, /not a size/],
    ['1MiB; reboot', /not a size/],
  ])('refuses %j', (v, want) => expect(() => parseFree(v)).toThrow(want));
});

describe('sizeText', () => {
  it.each([
    [16 << 20, '16MiB'],
    [1 << 30, '1GiB'],
    [1536 << 10, '1536KiB'],
    [0, '0 bytes'],
    [100, '100 bytes'],
  ])('%d is %s', (bytes, want) => expect(sizeText(bytes)).toBe(want));
});

describe('FILL_SCRIPT', () => {
  /**
   * The script on mounts of the given [size, used] KiB, leaving `free` KiB: its exit, its output and the
   * remounts it asked for. df answers from a state file per mount, which a remount's size rewrites; a mount
   * given as undefined has no df answer.
   */
  function fill(mounts: Record<string, [number, number] | undefined>, free: number) {
    const dir = mkdtempSync(path.join(tmpdir(), 'bxl-fill-'));
    const stub = (name: string, body: string) => {
      writeFileSync(path.join(dir, name), `#!/bin/sh\nS=${dir}\n${body}\n`);
      chmodSync(path.join(dir, name), 0o755);
    };
    try {
      for (const [m, st] of Object.entries(mounts)) if (st) writeFileSync(path.join(dir, m.replaceAll('/', '_')), `${st[0]} ${st[1]}\n`);
      stub('stat', 'echo tmpfs');
      stub('sync', ':');
      stub(
        'df',
        'f=$S/$(echo "$2" | tr / _); [ -f "$f" ] || exit 1; read size used < "$f"\necho "Filesystem 1024-blocks Used Available Capacity Mounted on"\necho "tmpfs $size $used $((size - used)) 0% $2"',
      );
      stub('mount', 'echo "$2 $3" >> "$S/remounts"; n=${2#remount,size=}; f=$S/$(echo "$3" | tr / _); read size used < "$f"; echo "${n%k} $used" > "$f"');
      const r = spawnSync('sh', ['-c', FILL_SCRIPT, 'sh', String(free), ...Object.keys(mounts)], { env: { PATH: `${dir}:/usr/bin:/bin` }, encoding: 'utf8' });
      let remounts: string[] = [];
      try {
        remounts = readFileSync(path.join(dir, 'remounts'), 'utf8').trim().split('\n');
      } catch {}
      return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim(), remounts };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('remounts each mount with what it holds plus free', () => {
    const r = fill({ '/var/lib/docker': [524_288, 40_960] }, 1024);
    expect(r).toEqual({ status: 0, stdout: '/var/lib/docker size=41984k used=40960k available=1024k', stderr: '', remounts: ['remount,size=41984k /var/lib/docker'] });
  });

  it('floors an empty mount at one page with free: 0: size=0 is no limit on a tmpfs', () => {
    const r = fill({ '/var/lib/docker': [524_288, 40_960], '/var/lib/containerd': [524_288, 0] }, 0);
    expect(r.remounts).toEqual(['remount,size=40960k /var/lib/docker', 'remount,size=4k /var/lib/containerd']);
    expect(r.stdout.split('\n')).toEqual([
      '/var/lib/docker size=40960k used=40960k available=0k',
      '/var/lib/containerd size=4k used=0k available=4k (empty: one page, as size=0 would be no limit)',
    ]);
  });

  it('never grows a mount that had less than free free: its size is kept, and it says so', () => {
    const r = fill({ '/var/lib/docker': [8192, 7168] }, 1_048_576);
    expect(r.remounts).toEqual(['remount,size=8192k /var/lib/docker']);
    expect(r.stdout).toBe('/var/lib/docker size=8192k used=7168k available=1024k (it had less than 1048576k free: its size kept, not grown)');
  });

  it('remounts nothing when df does not answer, rather than taking an empty size', () => {
    const r = fill({ '/var/lib/docker': undefined }, 1024);
    expect(r).toMatchObject({ status: 4, stderr: 'could not resize /var/lib/docker', remounts: [] });
  });
});
