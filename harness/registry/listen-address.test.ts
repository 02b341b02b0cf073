import { describe, expect, it } from 'vitest';
import { checkResolvedHost, isUnspecifiedAddress } from './listen-address.ts';

describe('isUnspecifiedAddress', () => {
  it.each([
    '',
    '0.0.0.0',
    '0',
    '0.0',
    '0.0.0',
    '00',
    '0x0',
    '0x00000000',
    '0.0.0.0.',
    '::',
    '[::]',
    '0::',
    '::0',
    '0:0:0:0:0:0:0:0',
    '::0.0.0.0',
    '::ffff:0:0',
    '::ffff:0.0.0.0',
    '[::ffff:0:0]',
  ])('%j is the unspecified address', (h) => expect(isUnspecifiedAddress(h)).toBe(true));
  it.each(['127.0.0.1', '172.18.0.1', '0.0.0.1', '1', '::1', '[::1]', '::ffff:127.0.0.1', 'localhost', 'registry', 'fe80::1%eth0'])('%j is not', (h) =>
    expect(isUnspecifiedAddress(h)).toBe(false),
  );
});

describe('checkResolvedHost', () => {
  it('refuses what the resolver turns into the unspecified address, names the address', async () => {
    await expect(checkResolvedHost('0')).rejects.toThrow(/refuses to listen on "0" \(it resolves to 0\.0\.0\.0\)/);
  });
  it('passes loopback names', async () => {
    await expect(checkResolvedHost('localhost')).resolves.toBeUndefined();
    await expect(checkResolvedHost('127.0.0.1')).resolves.toBeUndefined();
  });
});
