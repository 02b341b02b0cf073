import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UsageError } from '../errors.ts';
import { ENGINE_VERSIONS } from '../images/catalog.ts';
import { caseFiles, loadCase } from './case.ts';

const fixtures = new URL('../../fixtures/cases/', import.meta.url).pathname;
const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

const BAKE = `title: t
command: bake
platforms: [linux/amd64, linux/arm64]
versions: ["0.21.1"]
symptom:
  registry: not-an-index
`;

/** A case directory with case.yaml and the usual files; `extra` adds or replaces files. */
function caseDir(yaml: string, extra: Record<string, string> = {}): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'repro-case-'));
  dirs.push(dir);
  const files: Record<string, string> = { 'case.yaml': yaml, 'docker-bake.hcl': 'target "app" {}\n', Dockerfile: 'FROM scratch\n', ...extra };
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

function usageError(dir: string): string {
  try {
    loadCase(dir);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error('loadCase accepted the case');
}

describe('loadCase: valid cases', () => {
  it('loads the 3070 seed case', () => {
    const c = loadCase(path.join(fixtures, '3070-bake-double-push'));
    expect(c).toMatchObject({ command: 'bake', args: ['app'], bakeFile: 'docker-bake.hcl', push: true, registry: ['known-index-not-retagged'], versions: ['0.21.1', '0.22.0'] });
    expect(c.expect).toEqual([{ range: '<0.22.0-rc1', outcome: 'reproduced' }, { range: '>=0.22.0-rc1', outcome: 'fixed' }]);
    expect(c.symptom.output?.test('#9 pushing registry:5000/lab/repro/c1:v1 with docker')).toBe(true);
    expect(c.files.map((f) => f.rel)).toEqual(['Dockerfile', 'case.yaml', 'docker-bake.hcl', 'hello.txt']);
  });

  it('loads the 49453 seed case: create, a fault, declared expectations', () => {
    const c = loadCase(path.join(fixtures, '49453-pull-stream'));
    expect(c).toMatchObject({ command: 'create', fault: 'corrupt', push: false, driver: ['docker-container'], symptom: { exitCode: 'nonzero' } });
    expect(c.expect).toEqual([{ range: '<0.21.0-rc2', outcome: 'reproduced' }, { range: '>=0.21.0-rc2', outcome: 'fixed' }]);
  });

  it('fills the defaults and takes single values for list fields', () => {
    const c = loadCase(caseDir(`${BAKE}registry: immutable-tags\nstore: classic\n`));
    expect(c).toMatchObject({ bakeFile: 'docker-bake.hcl', push: true, engine: [...ENGINE_VERSIONS], store: ['classic'], driver: ['docker'], registry: ['immutable-tags'] });
  });

  it('takes a numeric fault kind (`kind: 404` is a YAML number)', () => {
    expect(loadCase(caseDir('title: t\ncommand: create\nfault: {kind: 404}\nsymptom: {output: x}\n')).fault).toBe('404');
  });

  it('accepts a build context and files in subdirectories, and symlinks that stay inside', () => {
    const dir = caseDir('title: t\ncommand: build\ncontext: app\npush: false\nsymptom: {exitCode: zero}\n', { 'app/Dockerfile': 'FROM scratch\n' });
    symlinkSync('app/Dockerfile', path.join(dir, 'Dockerfile.link'));
    const c = loadCase(dir);
    expect(c.context).toBe('app');
    expect(c.files.map((f) => f.rel)).toContain('Dockerfile.link');
  });
});

describe('loadCase: errors name the line and the field', () => {
  const cases: [string, string, RegExp][] = [
    ['a platform typo', BAKE.replace('linux/arm64', 'linux/amd65'), /^case\.yaml:3: platforms\[1\]: "linux\/amd65" is not a platform \(expected os\/arch\[\/variant\]\)/],
    ['an unknown key, listing the known ones', `${BAKE}platfroms: [linux/amd64]\n`, /^case\.yaml:7: platfroms: unknown key; known keys are title, links, command, .*symptom, expect/],
    ['an unknown symptom key', BAKE.replace('registry: not-an-index', 'registry: not-an-index\n  stdout: x'), /^case\.yaml:7: symptom\.stdout: unknown key; symptom takes output, registry, exitCode/],
    ['a missing title', BAKE.replace('title: t\n', ''), /^case\.yaml:1: title: is required/],
    ['an unknown command', BAKE.replace('command: bake', 'command: run'), /^case\.yaml:2: command: "run" is not one of build, bake, create/],
    ['an unknown engine', `${BAKE}engine: [26.1.5, "19.03"]\n`, /^case\.yaml:7: engine\[1\]: "19\.03" is not one of/],
    ['an unknown registry behaviour', `${BAKE}registry: [plain, flaky]\n`, /^case\.yaml:7: registry\[1\]: "flaky" is not one of plain, immutable-tags, known-index-not-retagged/],
    ['an unknown Buildx version', BAKE.replace('"0.21.1"', '"0.21.99"'), /^case\.yaml:4: versions\[0\]: unknown Buildx version v0\.21\.99/],
    ['an unquoted numeric version', BAKE.replace('"0.21.1"', '0.20'), /^case\.yaml:4: versions\[0\]: 0\.2 is not a non-empty string \(quote numbers/],
    ['a symptom-less case', BAKE.replace('  registry: not-an-index\n', '  {}\n').replace('symptom:\n  {}', 'symptom: {}'), /^case\.yaml:5: symptom: needs at least one of output, registry, exitCode/],
    ['a bad regex', BAKE.replace('registry: not-an-index', 'output: "pushing ("'), /^case\.yaml:6: symptom\.output: "pushing \(" is not a regular expression/],
    ['an unknown registry symptom', BAKE.replace('not-an-index', 'lost'), /^case\.yaml:6: symptom\.registry: "lost" is not one of missing-platforms, not-an-index, push-refused, incomplete/],
    ['a registry symptom without a push', `${BAKE}push: false\n`, /^case\.yaml:6: symptom\.registry: needs push: true/],
    ['a push without platforms', BAKE.replace('platforms: [linux/amd64, linux/arm64]\n', ''), /^case\.yaml:1: platforms: is required when pushing/],
    ['a fault on a bake', `${BAKE}fault: {kind: corrupt}\n`, /^case\.yaml:7: fault: applies to command: create only/],
    ['an unknown fault', 'title: t\ncommand: create\nfault:\n  kind: slow\nsymptom: {output: x}\n', /^case\.yaml:4: fault\.kind: "slow" is not one of corrupt, 404, truncated, 500/],
    ['platforms on a create', 'title: t\ncommand: create\nplatforms: [linux/amd64]\nsymptom: {output: x}\n', /^case\.yaml:3: platforms: applies to build and bake, not to command: create/],
    ['the docker driver on a create', 'title: t\ncommand: create\ndriver: docker\nsymptom: {output: x}\n', /^case\.yaml:3: driver: command: create makes a docker-container builder/],
    ['a bad expect range', `${BAKE}expect:\n  "<0.22.0": reproduced\n  "soon": fixed\n`, /^case\.yaml:9: expect\.soon: "soon" is not a semver range/],
    ['a bad expect outcome', `${BAKE}expect:\n  "<0.22.0": broken\n`, /^case\.yaml:8: expect\."<0\.22\.0": "broken" is not reproduced or fixed/],
    ['invalid YAML', `${BAKE}args: [app\n`, /^case\.yaml:\d+: invalid YAML/],
    ['a non-mapping document', '- a\n- b\n', /^case\.yaml:1: the document must be a mapping/],
    ['a missing bake file', `${BAKE}bakeFile: ci/bake.hcl\n`, /^case\.yaml:7: bakeFile: "ci\/bake\.hcl" does not exist in the case directory/],
  ];
  it.each(cases)('%s', (_what, yaml, message) => {
    expect(usageError(caseDir(yaml))).toMatch(message);
  });

  it('says when the directory has no case.yaml', () => {
    const dir = caseDir(BAKE);
    rmSync(path.join(dir, 'case.yaml'));
    expect(usageError(dir)).toMatch(/"case\.yaml" does not exist in the case directory/);
    expect(usageError(path.join(dir, 'nope'))).toMatch(/case directory .*nope: ENOENT/);
  });
});

describe('loadCase: paths stay inside the case directory', () => {
  it('rejects an absolute bakeFile', () => {
    expect(usageError(caseDir(`${BAKE}bakeFile: /etc/passwd\n`))).toMatch(/^case\.yaml:7: bakeFile: "\/etc\/passwd" is absolute; give a path inside the case directory/);
  });

  it('rejects a .. escape, even one that comes back in', () => {
    expect(usageError(caseDir(`${BAKE}bakeFile: ../docker-bake.hcl\n`))).toMatch(/^case\.yaml:7: bakeFile: "\.\.\/docker-bake\.hcl" leaves the case directory/);
    const dir = caseDir('title: t\ncommand: build\ncontext: sub/../../x\npush: false\nsymptom: {exitCode: zero}\n');
    expect(usageError(dir)).toMatch(/^case\.yaml:3: context: "sub\/\.\.\/\.\.\/x" leaves the case directory/);
  });

  it('rejects a bakeFile that is a symlink to a file outside', () => {
    const dir = caseDir(BAKE, { 'docker-bake.hcl': '' });
    rmSync(path.join(dir, 'docker-bake.hcl'));
    symlinkSync('/etc/hostname', path.join(dir, 'docker-bake.hcl'));
    expect(usageError(dir)).toMatch(/^case\.yaml:1: bakeFile: "docker-bake\.hcl" is a symlink to \/etc\/hostname, outside the case directory/);
  });

  it('rejects a context that is a symlink to /etc', () => {
    const dir = caseDir('title: t\ncommand: build\ncontext: app\npush: false\nsymptom: {exitCode: zero}\n');
    symlinkSync('/etc', path.join(dir, 'app'));
    expect(usageError(dir)).toMatch(/^case\.yaml:3: context: "app" is a symlink to \/etc, outside the case directory/);
  });

  it('refuses to copy a case holding any symlink to /etc, wherever it is', () => {
    const dir = caseDir(BAKE, { 'nested/readme.txt': 'x' });
    symlinkSync('/etc', path.join(dir, 'nested', 'etc'));
    expect(usageError(dir)).toMatch(/"nested\/etc" is a symlink to \/etc, outside the case directory/);
    expect(() => caseFiles(dir)).toThrow(UsageError);
  });

  it('rejects a case.yaml that is itself a symlink outside', () => {
    const outside = caseDir(BAKE);
    const dir = caseDir(BAKE);
    rmSync(path.join(dir, 'case.yaml'));
    symlinkSync(path.join(outside, 'case.yaml'), path.join(dir, 'case.yaml'));
    expect(usageError(dir)).toMatch(/"case\.yaml" is a symlink to .*, outside the case directory/);
  });
});
