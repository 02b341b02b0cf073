import { describe, expect, it } from 'vitest';
import { parseCase } from './case.ts';
import { fieldName, isPlatform, labValuesIn } from './case-schema.ts';

describe('isPlatform', () => {
  it('takes the platforms Go and Buildx name', () => {
    const platforms = [
      'linux/amd64',
      'linux/386',
      'linux/arm/v6',
      'linux/arm/v7',
      'linux/arm64',
      'linux/arm64/v8',
      'linux/ppc64le',
      'linux/ppc64',
      'linux/s390x',
      'linux/riscv64',
      'linux/mips',
      'linux/mipsle',
      'linux/mips64',
      'linux/mips64le',
      'linux/loong64',
      'windows/amd64',
      'windows/arm64',
      'darwin/arm64',
      'freebsd/amd64',
      'netbsd/arm64',
      'openbsd/amd64',
      'solaris/amd64',
      'illumos/amd64',
      'aix/ppc64',
      'plan9/386',
      'wasip1/wasm',
      'js/wasm',
      'linux/amd64/v3',
    ];
    expect(platforms.filter((p) => !isPlatform(p))).toEqual([]);
  });
  it.each(['linux', 'linux/amd65', 'Linux/amd64', 'haiku/amd64', 'linux/arm/7', 'linux/arm/v', 'linux/arm/xv7', 'linux/arm/v7x', 'linux/arm/v7/x', ''])('refuses %j', (p) => {
    expect(isPlatform(p)).toBe(false);
  });
});

describe('lab values', () => {
  it.each([
    ['${target}', ['target']],
    ['x ${registry}/${cell}:${tag}', ['registry', 'cell', 'tag']],
    ['${target:cache}', ['target']],
    ['${read:out/metadata.json}', ['read']],
    ['plain $HOME and ${', []],
  ])('%s', (text, names) => expect(labValuesIn(text)).toEqual(names));
  it.each(['${nope}', '${read}', '${target:}', '${read:/etc/passwd}', '${read:a/../../b}', '${target:a b}'])('refuses %s', (text) => {
    expect(() => labValuesIn(text)).toThrow(/is not a lab value/);
  });
  it('lists the lab values when it refuses one', () => {
    expect(() => labValuesIn('${nope}')).toThrow(
      '${nope} is not a lab value; use ${target}, ${repository}, ${tag}, ${registry}, ${builder}, ${buildkitImage}, ${base}, ${cell}, ${context}, ${http}, ${git}, ${otlp}, ${s3}, ${s3Bucket}, ${s3Region}, ${s3AccessKeyId}, ${s3SecretAccessKey}, ${target:NAME} or ${read:FILE}',
    );
  });
});

describe('fieldName', () => {
  it('names plain keys as paths and spells out what would be invisible in a key', () => {
    expect(fieldName(['steps', 0, 'symptom', 'output'])).toBe('steps[0].symptom.output');
    expect(fieldName([])).toBe('(document)');
    expect(fieldName(['env', '1BAD'])).toBe('env."1BAD"');
    expect(fieldName(['\ufefftitle'])).toBe('"\\u{feff}title"');
    expect(fieldName(['expect', 'a"\u202eb\\'])).toBe('expect."a\\"\\u{202e}b\\\\"');
  });
});

describe('YAML shapes a case file cannot use', () => {
  it('refuses a list or mapping as a key, with its line', () => {
    expect(() => parseCase('title: t\n? [a, b]\n: c\n', '/nonexistent')).toThrow(/^case\.yaml:2: a key must be a word, not a list or mapping/);
  });
});
