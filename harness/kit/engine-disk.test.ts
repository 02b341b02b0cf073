// The pure parts of fill-engine-disk: the `free:` sizes it takes and refuses, and the sizes it prints.
import { describe, expect, it } from 'vitest';
import { FREE_MAX_BYTES, parseFree, sizeText } from './engine-disk.ts';

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
