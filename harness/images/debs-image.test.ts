import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ProvisionError } from '../errors.ts';
import { isDynamicElf, librariesFromList } from './debs-image.ts';

/** A 64-bit little-endian ELF header with one program header of type `ptype`. */
function elf(ptype: number): Buffer {
  const b = Buffer.alloc(64 + 56);
  b.writeUInt32BE(0x7f454c46, 0);
  b[4] = 2;
  b[5] = 1;
  b.writeBigUInt64LE(64n, 32);
  b.writeUInt16LE(56, 54);
  b.writeUInt16LE(1, 56);
  b.writeUInt32LE(ptype, 64);
  return b;
}

describe('isDynamicElf', () => {
  it('tells a program with an interpreter from a static one, a script or a truncated file', () => {
    expect(isDynamicElf(elf(3))).toBe(true);
    expect(isDynamicElf(elf(1))).toBe(false);
    expect(isDynamicElf(Buffer.from('#!/bin/sh\necho hi\n'.padEnd(128)))).toBe(false);
    expect(isDynamicElf(elf(3).subarray(0, 66))).toBe(false);
    // node itself is linked dynamically
    expect(isDynamicElf(readFileSync(process.execPath).subarray(0, 4096))).toBe(true);
  });
});

describe('librariesFromList', () => {
  const root = '/c/unpacked';
  it('returns what the loader resolved inside the unpacked packages, the loader included', () => {
    const out = [
      '\tlinux-vdso.so.1 (0x00007ffd1c9f1000)',
      '\tlibz.so.1 => /c/unpacked/usr/lib/x86_64-linux-gnu/libz.so.1 (0x00007f2c3c5a0000)',
      '\tlibc.so.6 => /c/unpacked/usr/lib/x86_64-linux-gnu/libc.so.6 (0x00007f2c3c3ac000)',
      '\t/c/unpacked/usr/lib64/ld-linux-x86-64.so.2 (0x00007f2c3c5e9000)',
    ].join('\n');
    expect(librariesFromList(out, root, '/usr/bin/git')).toEqual(['/usr/lib/x86_64-linux-gnu/libz.so.1', '/usr/lib/x86_64-linux-gnu/libc.so.6', '/usr/lib64/ld-linux-x86-64.so.2']);
  });

  it('refuses a library found only on the host or nowhere, naming it and the fix', () => {
    const host = '\tlibaudit.so.1 => /lib/x86_64-linux-gnu/libaudit.so.1 (0x00007f80e4f4c000)';
    expect(() => librariesFromList(host, root, '/usr/bin/newuidmap')).toThrow(ProvisionError);
    expect(() => librariesFromList(host, root, '/usr/bin/newuidmap')).toThrow(/newuidmap needs libaudit\.so\.1.*add the package that ships libaudit\.so\.1/);
    expect(() => librariesFromList('\tlibmd.so.0 => not found', root, '/usr/bin/newgidmap')).toThrow(/libmd\.so\.0/);
  });
});
