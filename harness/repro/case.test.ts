import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UsageError } from '../errors.ts';
import { caseFiles, labValuesIn, loadCase } from './case.ts';

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

const STEPS = `title: load then inspect
versions: ["0.21.1", "0.22.0"]
steps:
  - id: build
    buildx: [build, --load, -t, app, --iidfile, iid.txt, .]
  - docker: [image, inspect, "\${read:iid.txt}"]
symptom:
  exitCode: nonzero
  step: "2"
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

describe('loadCase: the one-command form keeps its meaning', () => {
  it('loads the 3070 seed case as one bake step with TAG and PLATFORMS, and its two checks', () => {
    const c = loadCase(path.join(fixtures, '3070-bake-double-push'));
    expect(c.steps).toEqual([{ id: 'bake', tool: 'buildx', argv: ['bake', '--progress', 'plain', '-f', 'docker-bake.hcl', 'app'], env: { TAG: '${target}', PLATFORMS: 'linux/amd64,linux/arm64,linux/s390x' }, checks: [] }]);
    expect(c.checks).toEqual([{ kind: 'output', pattern: 'pushing \\S+ with docker' }, { kind: 'registry', ref: '${target}', index: false }]);
    expect(c.expect).toEqual([{ range: '<0.22.0-rc1', present: true }, { range: '>=0.22.0-rc1', present: false }]);
    expect(c.files.map((f) => f.rel)).toEqual(['Dockerfile', 'case.yaml', 'docker-bake.hcl', 'hello.txt']);
  });

  it('loads the 49453 seed case: the builder boot is the step, with a pull fault', () => {
    const c = loadCase(path.join(fixtures, '49453-pull-stream'));
    expect(c).toMatchObject({ bootIsTheStep: true, fault: 'corrupt', driver: ['docker-container'], steps: [] });
    expect(c.checks).toEqual([{ kind: 'output', pattern: 'No such image' }, { kind: 'exit', code: 'nonzero' }]);
  });

  it('fills the defaults and takes single values for list fields', () => {
    const c = loadCase(caseDir(`${BAKE}registry: immutable-tags\nstore: classic\n`));
    expect(c).toMatchObject({ engine: ['26.1'], store: ['classic'], driver: ['docker'], registry: ['immutable-tags'], repeat: 1, verdict: 'any' });
  });

  it('takes a numeric fault kind (`kind: 404` is a YAML number)', () => {
    expect(loadCase(caseDir('title: t\ncommand: create\nfault: {kind: 404}\nsymptom: {output: x}\n')).fault).toBe('404');
  });

  it('maps the old registry words to checks of the same meaning', () => {
    const c = (word: string) => loadCase(caseDir(BAKE.replace('not-an-index', word))).checks;
    expect(c('missing-platforms')).toEqual([{ kind: 'registry', ref: '${target}', lacks: ['linux/amd64', 'linux/arm64'] }]);
    expect(c('incomplete')).toEqual([{ kind: 'registry', ref: '${target}', platforms: ['linux/amd64', 'linux/arm64'], complete: false }]);
    expect(c('push-refused')).toEqual([{ kind: 'requests', method: 'PUT', on: 'manifests', reference: '${tag}', status: '4', count: '>=1' }]);
  });

  it('accepts a build context and files in subdirectories, and symlinks that stay inside', () => {
    const dir = caseDir('title: t\ncommand: build\ncontext: app\npush: false\nsymptom: {exitCode: zero}\n', { 'app/Dockerfile': 'FROM scratch\n' });
    symlinkSync('app/Dockerfile', path.join(dir, 'Dockerfile.link'));
    const c = loadCase(dir);
    expect(c.steps[0]!.argv.at(-1)).toBe('${context}/app');
    expect(c.files.map((f) => f.rel)).toContain('Dockerfile.link');
  });
});

describe('loadCase: steps, checks and the cell around them', () => {
  it('loads steps with ids, per-step checks and lab values', () => {
    const c = loadCase(caseDir(STEPS));
    expect(c.steps.map((s) => [s.id, s.tool, s.argv[0]])).toEqual([['build', 'buildx', 'build'], ['2', 'docker', 'image']]);
    expect(c.checks).toEqual([{ kind: 'exit', code: 'nonzero', step: '2' }]);
    expect([...c.uses]).toEqual(['read']);
  });

  it('takes every kind of check, as a list', () => {
    const c = loadCase(caseDir(`title: t
steps:
  - buildx: [build, --output, type=local,dest=out, .]
symptom:
  - panic: true
  - notOutput: "ERROR"
  - file: {path: out/hello.txt, contains: hi}
  - image: {ref: app, exists: false}
  - registry: {ref: "\${target}", platforms: [linux/amd64], attestations: true, annotations: {org.opencontainers.image.title: x}}
  - requests: {method: PUT, on: manifests, reference: "\${tag}", count: ">1"}
`));
    expect(c.checks.map((x) => x.kind)).toEqual(['panic', 'output', 'file', 'image', 'registry', 'requests']);
    expect(c.checks[1]).toEqual({ kind: 'output', pattern: 'ERROR', negate: true });
  });

  it('takes the cell around the steps: env, config files, git, builder, repeat', () => {
    const c = loadCase(caseDir(`title: t
driver: docker-container
buildkit: [v0.17.1, v0.20.2]
env: {SOURCE_DATE_EPOCH: 0, BUILDX_NO_DEFAULT_ATTESTATIONS: "1"}
config: {buildkitdDefault: bk.toml, dockerConfig: config.json}
git: true
builder:
  nodes: [{platforms: [linux/amd64]}, {platforms: [linux/arm64]}]
  buildkitdConfig: bk.toml
repeat: 5
verdict: majority
steps:
  - buildx: [build, .]
symptom: {exitCode: nonzero}
`, { 'bk.toml': 'debug = true\n', 'config.json': '{}' }));
    expect(c).toMatchObject({ env: { SOURCE_DATE_EPOCH: '0', BUILDX_NO_DEFAULT_ATTESTATIONS: '1' }, git: true, repeat: 5, verdict: 'majority', buildkit: ['v0.17.1', 'v0.20.2'] });
    expect(c.builder.nodes).toHaveLength(2);
  });
});

describe('loadCase: errors name the line and the field', () => {
  const cases: [string, string, RegExp][] = [
    ['a platform typo', BAKE.replace('linux/arm64', 'linux/amd65'), /^case\.yaml:3: platforms\[1\]: is not a platform \(expected os\/arch\[\/variant\], e\.g\. linux\/arm64\)/],
    ['an unknown key', `${BAKE}platfroms: [linux/amd64]\n`, /^case\.yaml:7: platfroms: unknown key/],
    ['an unknown symptom key', BAKE.replace('registry: not-an-index', 'registry: not-an-index\n  stdout: x'), /^case\.yaml:7: symptom\.stdout: unknown key; symptom takes output, notOutput, panic/],
    ['a missing title', BAKE.replace('title: t\n', ''), /^case\.yaml:1: title: is required/],
    ['an unknown command', BAKE.replace('command: bake', 'command: run'), /^case\.yaml:2: command: "run" is not one of build, bake, create/],
    ['an unknown engine', `${BAKE}engine: [26.1.5, "19.03"]\n`, /^case\.yaml:7: engine\[1\]: .*Docker engine/],
    ['an unknown registry behaviour', `${BAKE}registry: [plain, flaky]\n`, /^case\.yaml:7: registry\[1\]: "flaky" is not one of plain, immutable-tags/],
    ['an unknown Buildx version', BAKE.replace('"0.21.1"', '"0.21.99"'), /^case\.yaml:4: versions\[0\]: unknown Buildx version v0\.21\.99/],
    ['an unquoted numeric version', BAKE.replace('"0.21.1"', '0.20'), /^case\.yaml:4: versions\[0\]: 0\.2 is a number: quote it/],
    ['a symptom-less case', BAKE.replace('symptom:\n  registry: not-an-index\n', ''), /^case\.yaml:1: symptom: is required/],
    ['an empty symptom', BAKE.replace('symptom:\n  registry: not-an-index\n', 'symptom: {}\n'), /^case\.yaml:5: symptom: needs a check/],
    ['a bad regex', BAKE.replace('registry: not-an-index', 'output: "pushing ("'), /^case\.yaml:6: symptom\.output: "pushing \(" is not an RE2 regular expression/],
    ['a lookbehind (not RE2)', BAKE.replace('registry: not-an-index', 'output: "(?<=a)b"'), /symptom\.output: .*not an RE2 regular expression/],
    ['an unknown registry symptom', BAKE.replace('not-an-index', 'lost'), /^case\.yaml:6: symptom\.registry: "lost" is not one of missing-platforms, not-an-index, push-refused, incomplete/],
    ['a registry symptom without a push', `${BAKE}push: false\n`, /^case\.yaml:6: symptom\.registry: needs push: true/],
    ['a push without platforms', BAKE.replace('platforms: [linux/amd64, linux/arm64]\n', ''), /^case\.yaml:1: platforms: is required when pushing/],
    ['a fault on a bake', `${BAKE}fault: {kind: corrupt}\n`, /^case\.yaml:7: fault: applies to command: create only/],
    ['an unknown fault', 'title: t\ncommand: create\nfault:\n  kind: slow\nsymptom: {output: x}\n', /^case\.yaml:4: fault\.kind: "slow" is not one of corrupt, 404, truncated, 500/],
    ['platforms on a create', 'title: t\ncommand: create\nplatforms: [linux/amd64]\nsymptom: {output: x}\n', /^case\.yaml:3: platforms: applies to build and bake, not to command: create/],
    ['the docker driver on a create', 'title: t\ncommand: create\ndriver: docker\nsymptom: {output: x}\n', /^case\.yaml:3: driver: command: create boots a docker-container builder/],
    ['the kubernetes driver', 'title: t\ndriver: kubernetes\nsteps: [{buildx: [ls]}]\nsymptom: {exitCode: zero}\n', /^case\.yaml:2: driver: kubernetes is not supported: .*Kubernetes cluster/],
    ['a bad expect range', `${BAKE}expect:\n  "<0.22.0": present\n  "soon": absent\n`, /^case\.yaml:9: expect\.soon: "soon" is not a semver range/],
    ['a bad expect word', `${BAKE}expect:\n  "<0.22.0": broken\n`, /^case\.yaml:8: expect\."<0\.22\.0": "broken" is not one of present, absent, reproduced, fixed/],
    ['invalid YAML', `${BAKE}args: [app\n`, /^case\.yaml:\d+: invalid YAML/],
    ['a duplicate key', `${BAKE}title: again\n`, /^case\.yaml:\d+: invalid YAML: Map keys must be unique/],
    ['a non-mapping document', '- a\n- b\n', /^case\.yaml:1: the document must be a mapping/],
    ['a missing bake file', `${BAKE}bakeFile: ci/bake.hcl\n`, /^case\.yaml:7: bakeFile: "ci\/bake\.hcl" does not exist in the case directory/],
    ['both steps and command', `${BAKE}steps: [{buildx: [ls]}]\n`, /^case\.yaml:7: steps: give either steps: or the one-command form/],
    ['a step of two tools', 'title: t\nsteps:\n  - buildx: [ls]\n    docker: [version]\nsymptom: {exitCode: zero}\n', /^case\.yaml:3: steps\[0\]: a step is one of buildx: \[\.\.\.\] or docker: \[\.\.\.\]/],
    ['a docker command the lab does not run', 'title: t\nsteps:\n  - docker: [system, prune, -af]\nsymptom: {exitCode: zero}\n', /^case\.yaml:3: steps\[0\]\.docker: docker system is not a step the lab runs/],
    ['a privileged docker run', 'title: t\nsteps:\n  - docker: [run, --privileged, -v, /:/host, x]\nsymptom: {exitCode: zero}\n', /steps\[0\]\.docker: docker run --privileged would reach the engine's host/],
    ['an unknown lab value', 'title: t\nsteps:\n  - buildx: [build, -t, "${tagret}", .]\nsymptom: {exitCode: zero}\n', /^case\.yaml:3: steps\[0\]\.buildx\[2\]: \$\{tagret\} is not a lab value/],
    ['a read that leaves the context', 'title: t\nsteps:\n  - docker: [image, inspect, "${read:../../etc/passwd}"]\nsymptom: {exitCode: zero}\n', /steps\[0\]\.docker\[2\]: \$\{read:\.\.\/\.\.\/etc\/passwd\} is not a lab value/],
    ['a check naming no step', 'title: t\nsteps: [{buildx: [ls]}]\nsymptom: {exitCode: zero, step: build}\n', /check 1 names step build, which the case does not have \(steps: 1\)/],
    ['a duplicate step id', 'title: t\nsteps: [{id: a, buildx: [ls]}, {id: a, buildx: [du]}]\nsymptom: {exitCode: zero}\n', /^case\.yaml:2: steps\[1\]\.id: step id a is used twice/],
    ['a bad request count', 'title: t\nsteps: [{buildx: [ls]}]\nsymptom: {requests: {count: "lots"}}\n', /symptom: count "lots" is not a number or a comparison/],
    ['a repeat out of range', 'title: t\nrepeat: 500\nsteps: [{buildx: [ls]}]\nsymptom: {exitCode: zero}\n', /^case\.yaml:2: repeat: /],
    ['remote options without the remote driver', 'title: t\nbuilder: {remote: {transport: tcp}}\nsteps: [{buildx: [ls]}]\nsymptom: {exitCode: zero}\n', /^case\.yaml:2: builder\.remote: applies to driver: remote/],
    ['a bad env name', 'title: t\nenv: {"A B": x}\nsteps: [{buildx: [ls]}]\nsymptom: {exitCode: zero}\n', /env\."A B": .*not an environment variable name/],
    ['a step file outside the case', 'title: t\nsteps: [{buildx: [ls], cwd: ../x}]\nsymptom: {exitCode: zero}\n', /steps\[0\]\.cwd: must be a path inside the case directory/],
    ['a missing config file', 'title: t\nconfig: {dockerConfig: nope.json}\nsteps: [{buildx: [ls]}]\nsymptom: {exitCode: zero}\n', /config\.dockerConfig: "nope\.json" does not exist in the case directory/],
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

  it('refuses a case.yaml over 1 MiB and an alias bomb', () => {
    expect(usageError(caseDir(`${BAKE}# ${'x'.repeat(1 << 20)}\n`))).toMatch(/larger than 1 MiB/);
    const bomb = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)}]`)].join('\n');
    expect(usageError(caseDir(`title: t\n${bomb}\n`))).toMatch(/^case\.yaml:\d+: /);
  });
});

describe('loadCase: paths stay inside the case directory', () => {
  it('rejects an absolute bakeFile', () => {
    expect(usageError(caseDir(`${BAKE}bakeFile: /etc/passwd\n`))).toMatch(/^case\.yaml:7: bakeFile: must be a path inside the case directory/);
  });

  it('rejects a .. escape, even one that comes back in', () => {
    expect(usageError(caseDir(`${BAKE}bakeFile: ../docker-bake.hcl\n`))).toMatch(/^case\.yaml:7: bakeFile: must be a path inside the case directory/);
    const dir = caseDir('title: t\ncommand: build\ncontext: sub/../../x\npush: false\nsymptom: {exitCode: zero}\n');
    expect(usageError(dir)).toMatch(/^case\.yaml:3: context: must be a path inside the case directory/);
  });

  it('rejects a bakeFile that is a symlink to a file outside', () => {
    const dir = caseDir(BAKE, { 'docker-bake.hcl': '' });
    rmSync(path.join(dir, 'docker-bake.hcl'));
    symlinkSync('/etc/hostname', path.join(dir, 'docker-bake.hcl'));
    expect(usageError(dir)).toMatch(/bakeFile: .*"docker-bake\.hcl" is a symlink to \/etc\/hostname, outside the case directory/);
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

describe('lab values', () => {
  it.each([
    ['${target}', ['target']],
    ['x ${registry}/${cell}:${tag}', ['registry', 'cell', 'tag']],
    ['${target:cache}', ['target']],
    ['${read:out/metadata.json}', ['read']],
    ['plain $HOME and ${', []],
  ])('%s', (text, names) => expect(labValuesIn(text)).toEqual(names));
  it.each(['${nope}', '${target:}', '${read:/etc/passwd}', '${read:a/../../b}', '${target:a b}'])('refuses %s', (text) => {
    expect(() => labValuesIn(text)).toThrow(/is not a lab value/);
  });
});
