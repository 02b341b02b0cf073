import { readFileSync } from 'node:fs';
import semver from 'semver';
import { describe, expect, it } from 'vitest';
import { HarnessError } from '../errors.ts';
import { disagreementFor, loadPins, parsePins, PINS_FILE, pinFor, type ReleasePins } from './release-pins.ts';
import { loadReleases } from './spec.ts';
import { renderPins } from './update-pins.ts';

const SRC = `docker-library/docker@${'c'.repeat(40)}:versions.json`;
const valid: ReleasePins = {
  about: 'x',
  generatedAt: '2026-11-27T00:00:00.000Z',
  sources: { 'docker-library/docker': { url: 'https://github.com/docker-library/docker', head: 'c'.repeat(40), paths: ['versions.json'] } },
  pins: { 'v0.21.1': { 'linux-amd64': { sha256: 'a'.repeat(64), sources: [SRC] } } },
  disagreements: [{ version: 'v0.22.0', platform: 'linux-arm64', values: { ['a'.repeat(64)]: [SRC], ['b'.repeat(64)]: [SRC] } }],
};

describe('parsePins', () => {
  it('accepts a well-formed file', () => {
    expect(parsePins(JSON.stringify(valid))).toEqual(valid);
  });

  it.each([
    ['an uppercase sha256', { 'v0.21.1': { 'linux-amd64': { sha256: 'A'.repeat(64), sources: [SRC] } } }, /pins\.v0\.21\.1\.linux-amd64\.sha256/],
    ['a short sha256', { 'v0.21.1': { 'linux-amd64': { sha256: 'a'.repeat(63), sources: [SRC] } } }, /sha256/],
    ['a pin without a source', { 'v0.21.1': { 'linux-amd64': { sha256: 'a'.repeat(64), sources: [] } } }, /sources/],
    ['a source that names no commit', { 'v0.21.1': { 'linux-amd64': { sha256: 'a'.repeat(64), sources: ['docker-library/docker'] } } }, /owner\/name@<commit>:<path>/],
    ['a version without its v', { '0.21.1': { 'linux-amd64': { sha256: 'a'.repeat(64), sources: [SRC] } } }, /v-prefixed/],
    ['a non-linux platform', { 'v0.21.1': { 'darwin-arm64': { sha256: 'a'.repeat(64), sources: [SRC] } } }, /linux-<arch>/],
  ])('rejects %s, naming the field', (_what, bad, message) => {
    const err = (() => {
      try {
        parsePins(JSON.stringify({ ...valid, pins: bad }), 'pins.json');
      } catch (e) {
        return e as Error;
      }
      throw new Error('expected a failure');
    })();
    expect(err).toBeInstanceOf(HarnessError);
    expect(err.message).toMatch(/^pins\.json: /);
    expect(err.message).toMatch(message);
  });

  it('rejects text that is not JSON', () => {
    expect(() => parsePins('{', 'pins.json')).toThrow(/^pins\.json is not JSON/);
  });
});

describe('pinFor / disagreementFor', () => {
  it('finds a pin by version (with or without v) and arch', () => {
    expect(pinFor(valid, '0.21.1', 'amd64')?.sha256).toBe('a'.repeat(64));
    expect(pinFor(valid, 'v0.21.1', 'amd64')?.sources).toEqual([SRC]);
    expect(pinFor(valid, 'v0.21.1', 'arm64')).toBeUndefined();
    expect(pinFor(valid, 'v0.21.2', 'amd64')).toBeUndefined();
  });

  it('finds a disagreement', () => {
    expect(disagreementFor(valid, '0.22.0', 'arm64')?.values).toHaveProperty('b'.repeat(64));
    expect(disagreementFor(valid, '0.22.0', 'amd64')).toBeUndefined();
  });
});

describe('the committed release-pins.json', () => {
  const pins = loadPins();

  it('is byte for byte what update-pins.ts writes for its content', () => {
    expect(renderPins(pins)).toBe(readFileSync(PINS_FILE, 'utf8'));
  });

  // The versions the seed scenarios and the README name, on the two arches CI runners have.
  it.each(['v0.19.3', 'v0.20.1', 'v0.21.1', 'v0.21.3', 'v0.22.0', 'v0.29.1'])('pins %s for amd64 and arm64', (v) => {
    expect(pinFor(pins, v, 'amd64')).toBeDefined();
    expect(pinFor(pins, v, 'arm64')).toBeDefined();
  });

  it('pins no version the release list does not know, except older ones', () => {
    const known = new Set(loadReleases().releases.map((r) => r.version));
    const oldest = loadReleases().releases[0]!.version;
    const unknownNewer = Object.keys(pins.pins).filter((v) => !known.has(v) && semver.gt(v, oldest));
    expect(unknownNewer).toEqual([]);
  });
});
