import { rmSync, readdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { UsageError } from '../errors.ts';
import { caseFiles } from './case-files.ts';
import { loadCase } from './case.ts';
import { STEP, caseDir, usageError } from './case.test-helpers.ts';

const fixtures = new URL('../../fixtures/cases/', import.meta.url).pathname;

const BAKE = `title: t
steps: [{id: bake, buildx: [bake, app], env: {TAG: "\${target}"}}]
driver: docker
versions: ["0.21.1"]
symptom:
  registry: {index: false}
`;

/** The seed cases as they were written in the one-command form, before they moved to steps. */
const OLD_3070 = `title: "bake pushes only one platform (docker driver, containerd store)"
command: bake
args: ["app"]
bakeFile: docker-bake.hcl
platforms: [linux/amd64, linux/arm64, linux/s390x]
push: true
engine: [26.1.5]
store: [containerd]
driver: [docker]
registry: known-index-not-retagged
versions: ["0.21.1", "0.22.0"]
symptom:
  output: "pushing \\\\S+ with docker"
  registry: not-an-index
expect:
  "<0.22.0-rc1": reproduced
  ">=0.22.0-rc1": fixed
`;
const OLD_49453 = `title: 'A failed BuildKit image pull surfaces as "No such image"'
command: create
fault: { kind: corrupt }
engine: [26.1.5]
store: [containerd]
versions: ["0.20.1", "0.21.1"]
buildkit: v0.17.1
symptom:
  output: "No such image"
  exitCode: nonzero
expect:
  "<0.21.0-rc2": reproduced
  ">=0.21.0-rc2": fixed
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

describe('loadCase: Buildx from Git', () => {
  it('takes git:<repo>@<rev> versions beside releases (the commit is resolved when a run is planned)', () => {
    const c = loadCase(caseDir(BAKE.replace('"0.21.1"', '"0.21.1", "git:/src/buildx@v0.21.0-rc2", "git:file:///src/buildx@master"')));
    expect(c.versions).toEqual(['0.21.1', 'git:/src/buildx@v0.21.0-rc2', 'git:file:///src/buildx@master']);
  });
});

describe('loadCase: the seed cases, in steps', () => {
  it('loads the 3070 seed case as one bake step pushing to TAG, and its two checks', () => {
    const c = loadCase(path.join(fixtures, '3070-bake-double-push'));
    expect(c.steps).toEqual([{ id: 'bake', tool: 'buildx', argv: ['bake', '-f', 'docker-bake.hcl', 'app'], env: { TAG: '${target}' }, checks: [] }]);
    expect(c.checks).toEqual([
      { kind: 'output', pattern: 'pushing \\S+ with docker' },
      { kind: 'registry', ref: '${target}', index: false },
    ]);
    expect(c.expect).toEqual([
      { range: '<0.22.0-rc1', present: true },
      { range: '>=0.22.0-rc1', present: false },
    ]);
    expect(c.files.map((f) => f.rel)).toEqual(['Dockerfile', 'case.yaml', 'docker-bake.hcl', 'hello.txt']);
  });

  it('loads the 49453 seed case: a step boots the builder, its BuildKit image pull corrupted', () => {
    const c = loadCase(path.join(fixtures, '49453-pull-stream'));
    expect(c).toMatchObject({ fault: 'corrupt', driver: ['docker-container'], buildkit: ['v0.17.1'] });
    expect(c.steps).toEqual([{ id: 'boot', tool: 'action', argv: [], env: {}, action: 'boot-builder', pullFault: 'corrupt', checks: [] }]);
    expect(c.checks).toEqual([
      { kind: 'output', pattern: 'No such image' },
      { kind: 'exit', code: 'nonzero' },
    ]);
  });

  it('fills the defaults and takes single values for list fields', () => {
    const c = loadCase(caseDir(`${BAKE}registry: immutable-tags\nstore: classic\n`));
    expect(c).toMatchObject({ engine: ['26.1'], store: ['classic'], driver: ['docker'], registry: ['immutable-tags'], repeat: 1, verdict: 'any' });
  });

  it('boots the builder as a step, with or without a pull fault (`fault: 404` is a YAML number)', () => {
    const boot = (fault: string) => loadCase(caseDir(`title: t\ndriver: docker-container\nsteps: [{action: boot-builder${fault}}, {buildx: [ls]}]\nsymptom: {exitCode: zero}\n`));
    expect(boot(', fault: 404')).toMatchObject({ fault: '404', steps: [{ id: '1', action: 'boot-builder', pullFault: '404' }, { id: '2' }] });
    const clean = boot('');
    expect(clean.steps[0]).toStrictEqual({ id: '1', tool: 'action', argv: [], env: {}, action: 'boot-builder', checks: [] });
    expect('fault' in clean).toBe(false);
  });

  it('accepts files in subdirectories, and symlinks that stay inside', () => {
    const dir = caseDir('title: t\nsteps: [{buildx: [build, app]}]\nsymptom: {exitCode: zero}\n', { 'app/Dockerfile': 'FROM scratch\n' });
    symlinkSync('app/Dockerfile', path.join(dir, 'Dockerfile.link'));
    expect(loadCase(dir).files.map((f) => f.rel)).toContain('Dockerfile.link');
  });
});

describe('loadCase: the one-command form is gone, its fix written out', () => {
  /** The keys the message says to write (a flow mapping's entries), parsed. */
  const written = (message: string) => parse(`{${/Write (.*); and drop /.exec(message)![1]}}`) as Record<string, unknown>;
  /** The old case with the dropped keys gone and the written ones in their place. */
  const fixed = (old: string, message: string) => {
    const doc = parse(old) as Record<string, unknown>;
    for (const k of /; and drop ([a-zA-Z, ]+) \(/.exec(message)![1]!.split(', ')) delete doc[k];
    return stringify({ ...doc, ...written(message) });
  };

  it.each([
    ['3070-bake-double-push', OLD_3070, 2],
    ['49453-pull-stream', OLD_49453, 2],
  ])('refuses the old %s seed on its command, and what it says to write loads as the seed in steps does', (name, old, line) => {
    const seed = caseDir(old);
    const message = usageError(seed);
    expect(message).toMatch(new RegExp(`^case\\.yaml:${line}: command: the one-command form is gone: a case is steps\\. Write `));
    expect(message).toMatch(/ \(see "Steps" in fixtures\/cases\/README\.md\)$/);
    const now = loadCase(path.join(fixtures, name));
    const again = loadCase(caseDir(fixed(old, message), { 'docker-bake.hcl': 'target "app" {}\n', 'hello.txt': 'x' }));
    // the 3070 bake file names its platforms itself: the seed leaves out the PLATFORMS the old form set
    const { PLATFORMS, ...env } = again.steps[0]!.env;
    expect(PLATFORMS).toBe(name === '3070-bake-double-push' ? 'linux/amd64,linux/arm64,linux/s390x' : undefined);
    expect([{ ...again.steps[0]!, env }]).toEqual(now.steps);
    for (const k of ['checks', 'expect', 'driver', 'engine', 'store', 'registry', 'versions', 'buildkit', 'fault'] as const) expect(again[k], k).toEqual(now[k]);
  });

  it.each([
    [
      'a build, its platforms, push and args',
      'title: t\ncommand: build\nplatforms: [linux/amd64, linux/arm64]\nargs: [--sbom=true]\ncontext: app\nsymptom: {registry: incomplete}\n',
      {
        steps: [{ id: 'build', buildx: ['build', '--platform', 'linux/amd64,linux/arm64', '--push', '-t', '${target}', '--sbom=true', 'app'] }],
        symptom: { registry: { platforms: ['linux/amd64', 'linux/arm64'], complete: false } },
      },
    ],
    [
      'a build without a push',
      'title: t\ncommand: build\npush: false\nsymptom: [{exitCode: zero}, {registry: push-refused}]\n',
      {
        steps: [{ id: 'build', buildx: ['build', '.'] }],
        symptom: [{ exitCode: 'zero' }, { requests: { method: 'PUT', on: 'manifests', reference: '${tag}', status: '4xx', count: '>=1' } }],
      },
    ],
    [
      'a bake without platforms',
      'title: t\ncommand: bake\nbakeFile: ci/bake.hcl\nsymptom: {registry: missing-platforms}\n',
      {
        steps: [{ id: 'bake', buildx: ['bake', '-f', 'ci/bake.hcl'], env: { TAG: '${target}' } }],
        symptom: { registry: { lacks: ['PLATFORM', '...'] } },
      },
    ],
    ['an unknown command, as a build', 'title: t\ncommand: run\nsymptom: {exitCode: zero}\n', { steps: [{ id: 'build', buildx: ['build', '--push', '-t', '${target}', '.'] }] }],
    ['a create without a fault', 'title: t\ncommand: create\nsymptom: {output: x}\n', { driver: 'docker-container', steps: [{ id: 'boot', action: 'boot-builder' }] }],
    [
      'a create that names its driver',
      'title: t\ncommand: create\ndriver: docker-container\nfault: {kind: 404}\nsymptom: {output: x}\n',
      { steps: [{ id: 'boot', action: 'boot-builder', fault: '404' }] },
    ],
  ])('writes out %s', (_what, old, keys) => {
    expect(written(usageError(caseDir(old)))).toEqual(keys);
  });
});

describe('loadCase: steps, checks and the cell around them', () => {
  it('fills every default of a case with steps', () => {
    const c = loadCase(caseDir(STEP));
    expect(c).toMatchObject({
      title: 't',
      links: [],
      versions: ['latest'],
      engine: ['26.1'],
      store: ['containerd'],
      driver: ['docker'],
      buildkit: [],
      registry: ['plain'],
      builder: {},
      env: {},
      config: {},
      git: false,
      repeat: 1,
      verdict: 'any',
      expect: [],
    });
    expect('fault' in c).toBe(false);
    expect(c.config).toStrictEqual({});
  });

  it('takes the fields of a step, its own checks, and what the expect words mean', () => {
    const c = loadCase(
      caseDir(`title: t
links: [http://example.com/1, "https://github.com/docker/buildx/issues/1"]
verdict: any
steps:
  - id: build
    buildx: [build, .]
    cwd: app
    timeout: 30
    env: {REGISTRY: "\${registry}"}
    symptom: [{exitCode: 3}, {output: pushed}]
  - docker: [image, ls]
    symptom: {requests: {count: 2, method: HEAD, on: blobs, status: "404", reference: "\${tag}"}}
symptom: {registry: {index: false}}
expect: {"<0.22": present, "<0.23": absent, "<0.24": present, ">=0.24": absent}
`),
    );
    expect(c.links).toEqual(['http://example.com/1', 'https://github.com/docker/buildx/issues/1']);
    expect(c.steps).toStrictEqual([
      {
        id: 'build',
        tool: 'buildx',
        argv: ['build', '.'],
        env: { REGISTRY: '${registry}' },
        cwd: 'app',
        timeoutMs: 30_000,
        checks: [
          { kind: 'exit', code: 3, step: 'build' },
          { kind: 'output', pattern: 'pushed', step: 'build' },
        ],
      },
      { id: '2', tool: 'docker', argv: ['image', 'ls'], env: {}, checks: [{ kind: 'requests', count: '2', method: 'HEAD', on: 'blobs', status: '404', reference: '${tag}' }] },
    ]);
    expect(c.checks).toStrictEqual([{ kind: 'registry', ref: '${target}', index: false }]);
    expect(c.expect).toEqual([
      { range: '<0.22', present: true },
      { range: '<0.23', present: false },
      { range: '<0.24', present: true },
      { range: '>=0.24', present: false },
    ]);
    // the lab values named by the steps' env and by the checks
    expect([...c.uses]).toEqual(['registry', 'target', 'tag']);
  });

  it('needs no symptom of its own when a step has one', () => {
    expect(loadCase(caseDir('title: t\nsteps: [{buildx: [ls], symptom: {exitCode: zero}}]\n')).checks).toEqual([]);
  });

  it('runs every docker step it knows', () => {
    const known = [
      'image inspect x',
      'image ls',
      'image rm x',
      'image tag a b',
      'image save x',
      'image history x',
      'manifest inspect x',
      'context create c',
      'context use c',
      'context ls',
      'context inspect c',
      'context rm c',
      'run --name=no--privileged alpine',
      'pull alpine',
      'push app',
      'tag a b',
      'inspect x',
      'version',
      'info',
      'images',
    ];
    const yaml = `title: t\nsteps:\n${known.map((argv) => `  - docker: [${argv.split(' ').join(', ')}]`).join('\n')}\nsymptom: {exitCode: zero}\n`;
    expect(loadCase(caseDir(yaml)).steps.map((step) => step.argv.join(' '))).toEqual(known);
  });

  it('takes the numbers, lists and maps the schema bounds', () => {
    const c = loadCase(
      caseDir(`title: t
driver: docker-container
env: {${Array.from({ length: 50 }, (_, i) => `V${i}: x`).join(', ')}}
builder:
  nodes: [{platforms: [linux/amd64, linux/arm64], driverOpts: {memory: 1g}}]
  driverOpts: {network: host}
steps: [{buildx: [ls], timeout: 3600}]
symptom:
  - image: {ref: app, platforms: [linux/amd64]}
  - registry: {lacks: [linux/arm64, linux/s390x]}
  - requests: {count: 0, status: 4xx, method: DELETE, on: uploads}
  - requests: {count: 1, status: "2", method: PATCH, on: tags}
  - requests: {count: 1, method: POST}
  - requests: {count: 1, method: GET, on: manifests}
  - exitCode: 255
`),
    );
    expect(Object.keys(c.env)).toHaveLength(50);
    expect(c.steps[0]!.timeoutMs).toBe(3_600_000);
    expect(c.checks.map((x) => x.kind)).toEqual(['image', 'registry', 'requests', 'requests', 'requests', 'requests', 'exit']);
  });

  it('takes a rootless docker-container builder', () => {
    const c = loadCase(caseDir(`${STEP}driver: docker-container\nbuildkit: v0.17.1\nbuilder: {rootless: true}\n`));
    expect(c.builder.rootless).toBe(true);
  });

  it('takes a BuildKit built from a commit of a local repository (its form checked here, the commit resolved when planned)', () => {
    const c = loadCase(caseDir(`${STEP}driver: docker-container\nbuildkit: [v0.17.1, "git:/src/buildkit@main", "git:file:///src/buildkit@0a1b2c3"]\n`));
    expect(c.buildkit).toEqual(['v0.17.1', 'git:/src/buildkit@main', 'git:file:///src/buildkit@0a1b2c3']);
  });

  it('takes a remote builder over a unix socket', () => {
    const c = loadCase(caseDir(`${STEP}driver: remote\nbuilder: {remote: {transport: unix, tls: true}}\n`));
    expect(c.builder.remote).toEqual({ transport: 'unix', tls: true });
  });

  it('takes a kubernetes builder with its sizes and scheduling options', () => {
    const c = loadCase(caseDir(`${STEP}driver: [docker-container, kubernetes]\nbuilder: {driverOpts: {replicas: "2", requests.memory: 64Mi}}\n`));
    expect(c.driver).toEqual(['docker-container', 'kubernetes']);
    expect(c.builder.driverOpts).toEqual({ replicas: '2', 'requests.memory': '64Mi' });
  });

  it('loads steps with ids, per-step checks and lab values', () => {
    const c = loadCase(caseDir(STEPS));
    expect(c.steps.map((s) => [s.id, s.tool, s.argv[0]])).toEqual([
      ['build', 'buildx', 'build'],
      ['2', 'docker', 'image'],
    ]);
    expect(c.checks).toEqual([{ kind: 'exit', code: 'nonzero', step: '2' }]);
    expect([...c.uses]).toEqual(['read']);
  });

  it('takes every kind of check, as a list', () => {
    const c = loadCase(
      caseDir(`title: t
steps:
  - buildx: [build, --output, type=local,dest=out, .]
symptom:
  - panic: true
  - notOutput: "ERROR"
  - file: {path: out/hello.txt, contains: hi}
  - image: {ref: app, exists: false}
  - registry: {ref: "\${target}", platforms: [linux/amd64], attestations: true, annotations: {org.opencontainers.image.title: x}}
  - requests: {method: PUT, on: manifests, reference: "\${tag}", count: ">1"}
`),
    );
    expect(c.checks.map((x) => x.kind)).toEqual(['panic', 'output', 'file', 'image', 'registry', 'requests']);
    expect(c.checks[1]).toStrictEqual({ kind: 'output', pattern: 'ERROR', negate: true });
  });

  it('takes stdout: and stdin: on steps, and state, json, matches, lacksAnnotations and a reference pattern in checks', () => {
    const c = loadCase(
      caseDir(`title: t
driver: docker-container
steps:
  - id: inspect
    buildx: [imagetools, inspect, --raw, "\${target:src}"]
    stdout: raw/index.json
  - id: create
    buildx: [imagetools, create, -f, raw/index.json, -t, "\${target}"]
    stdin: raw/index.json
  - id: again
    buildx: [imagetools, create, -f, "-", -t, "\${target}"]
    stdin: {step: inspect}
  - buildx: [ls]
    stdin: {file: raw/index.json}
symptom:
  - state: {path: "instances/\${cell}", exists: true}
  - state: {path: refs/default/default, matches: '"DockerfilePath":"/[^"]*/-"'}
  - state: {path: activity, directory: true}
  - file: {path: raw/index.json, json: {pointer: /manifests, count: ">=1"}}
  - file: {path: raw/index.json, json: {pointer: /mediaType, equals: application/vnd.oci.image.index.v1+json}}
  - registry: {lacksAnnotations: [org.opencontainers.image.title]}
  - requests: {method: PUT, on: manifests, reference: "sha256:[0-9a-f]{64}", count: 2}
`),
    );
    expect(c.steps.map((s) => [s.id, s.stdout, s.stdin])).toEqual([
      ['inspect', 'raw/index.json', undefined],
      ['create', undefined, { file: 'raw/index.json' }],
      ['again', undefined, { step: 'inspect' }],
      ['4', undefined, { file: 'raw/index.json' }],
    ]);
    expect(c.checks.map((x) => x.kind)).toEqual(['state', 'state', 'state', 'file', 'file', 'registry', 'requests']);
    expect(c.checks[3]).toStrictEqual({ kind: 'file', path: 'raw/index.json', json: { pointer: '/manifests', count: '>=1' } });
    expect(c.checks[5]).toStrictEqual({ kind: 'registry', ref: '${target}', lacksAnnotations: ['org.opencontainers.image.title'] });
    expect(c.checks[6]).toMatchObject({ kind: 'requests', reference: 'sha256:[0-9a-f]{64}', count: '2' });
  });

  it('takes the cell around the steps: env, config files, git, builder, repeat', () => {
    const c = loadCase(
      caseDir(
        `title: t
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
`,
        { 'bk.toml': 'debug = true\n', 'config.json': '{}' },
      ),
    );
    expect(c).toMatchObject({ env: { SOURCE_DATE_EPOCH: '0', BUILDX_NO_DEFAULT_ATTESTATIONS: '1' }, git: true, repeat: 5, verdict: 'majority', buildkit: ['v0.17.1', 'v0.20.2'] });
    expect(c.config).toEqual({ buildkitdDefault: 'bk.toml', dockerConfig: 'config.json' });
    expect(c.builder.nodes).toHaveLength(2);
  });
});

describe('loadCase: errors name the line and the field', () => {
  const cases: [string, string, RegExp][] = [
    [
      'a platform typo',
      BAKE.replace('{index: false}', '{lacks: [linux/amd64, linux/amd65]}'),
      /^case\.yaml:6: symptom\.registry\.lacks\[1\]: is not a platform \(expected os\/arch\[\/variant\], e\.g\. linux\/arm64\)/,
    ],
    ['an unknown key', `${BAKE}platfroms: [linux/amd64]\n`, /^case\.yaml:7: platfroms: unknown key; see fixtures\/cases\/README\.md for the keys$/],
    [
      'an unknown key in a step',
      'title: t\nsteps:\n  - buildx: [ls]\n    bogus: 1\nsymptom: {exitCode: zero}\n',
      /^case\.yaml:4: steps\[0\]\.bogus: unknown key; steps\[0\] takes id, buildx, docker, action, fault, node, free, standalone, sudo, user, interact, dap, runInTerminal, background, waitFor, await, env, cwd, timeout, stdout, stdin, symptom$/,
    ],
    [
      "an unknown key in a step's symptom",
      'title: t\nsteps: [{buildx: [ls], symptom: {bogus: 1}}]\n',
      /^case\.yaml:2: steps\[0\]\.symptom\.bogus: unknown key; steps\[0\]\.symptom takes output, notOutput, panic, exitCode, step, file, state, kube, image, registry, requests, spans$/,
    ],
    [
      'stdin from a step that runs later',
      'title: t\nsteps:\n  - {id: a, buildx: [ls], stdin: {step: b}}\n  - {id: b, buildx: [ls]}\nsymptom: {exitCode: zero}\n',
      /^case\.yaml:3: steps\[0\]\.stdin\.step: names step b, which does not run before this one$/,
    ],
    [
      'stdin from the step itself',
      'title: t\nsteps:\n  - {id: a, buildx: [ls]}\n  - {id: b, buildx: [ls], stdin: {step: b}}\nsymptom: {exitCode: zero}\n',
      /^case\.yaml:4: steps\[1\]\.stdin\.step: names step b, which does not run before this one \(earlier steps: a\)$/,
    ],
    ['stdin from above the context', 'title: t\nsteps: [{buildx: [ls], stdin: ../x}]\nsymptom: {exitCode: zero}\n', /^case\.yaml:2: steps\[0\]\.stdin: must be a path inside/],
    ['stdin with another key', 'title: t\nsteps: [{buildx: [ls], stdin: {path: x}}]\nsymptom: {exitCode: zero}\n', /^case\.yaml:2: steps\[0\]\.stdin/],
    [
      'stdout to an absolute path',
      'title: t\nsteps: [{buildx: [ls], stdout: /etc/passwd}]\nsymptom: {exitCode: zero}\n',
      /^case\.yaml:2: steps\[0\]\.stdout: must be a path inside/,
    ],
    [
      'a state path that leaves BUILDX_CONFIG',
      `${STEP}  state: {path: ../ctx/x}\n`.replace('symptom: {exitCode: zero}\n  ', 'symptom:\n  '),
      /^case\.yaml:\d+: symptom\.state\.path: must be a path inside/,
    ],
    ['a state check without a path', 'title: t\nsteps: [{buildx: [ls]}]\nsymptom: {state: {exists: true}}\n', /^case\.yaml:3: symptom\.state\.path: is required$/],
    [
      'a json pointer without /',
      'title: t\nsteps: [{buildx: [ls]}]\nsymptom: {state: {path: current, json: {pointer: Key}}}\n',
      /^case\.yaml:3: symptom: json\.pointer "Key" is not a JSON Pointer/,
    ],
    [
      'a json pattern that is no RE2',
      'title: t\nsteps: [{buildx: [ls]}]\nsymptom: {file: {path: x, json: {pointer: "", matches: "(?=a)"}}}\n',
      /^case\.yaml:3: symptom\.file\.json\.matches: .*not an RE2/,
    ],
    ['an empty lacksAnnotations', 'title: t\nsteps: [{buildx: [ls]}]\nsymptom: {registry: {lacksAnnotations: []}}\n', /^case\.yaml:3: symptom\.registry\.lacksAnnotations: /],
    [
      'a reference that is no RE2',
      'title: t\nsteps: [{buildx: [ls]}]\nsymptom: {requests: {reference: "v1(", count: 1}}\n',
      /^case\.yaml:3: symptom: .*not an RE2 regular expression/,
    ],
    ['an unknown key in the builder', `${STEP}builder: {bogus: 1}\n`, /^case\.yaml:4: builder\.bogus: unknown key; builder takes the keys in fixtures\/cases\/README\.md$/],
    [
      'an unknown symptom key',
      BAKE.replace('registry: {index: false}', 'registry: {index: false}\n  stdout: x'),
      /^case\.yaml:7: symptom\.stdout: unknown key; symptom takes output, notOutput, panic/,
    ],
    ['a missing title', BAKE.replace('title: t\n', ''), /^case\.yaml:1: title: is required/],
    ['a missing title after comment lines', `# a bug\n\n${STEP.replace('title: t\n', '')}`, /^case\.yaml:3: title: is required$/],
    ['a title that is a number', STEP.replace('title: t', 'title: 3'), /^case\.yaml:1: title: 3 is a number: quote it \("0\.20"\)$/],
    ['a title that is a list', STEP.replace('title: t', 'title: [a]'), /^case\.yaml:1: title: \["a"\] is not a string$/],
    ['an empty title', STEP.replace('title: t', 'title: ""'), /^case\.yaml:1: title: is empty$/],
    ['a title too long', STEP.replace('title: t', `title: ${'x'.repeat(301)}`), /^case\.yaml:1: title: is longer than 300 characters$/],
    ['an empty list', `${STEP}versions: []\n`, /^case\.yaml:4: versions: is empty; leave it out for the default$/],
    [
      'no steps',
      'title: t\nsymptom: {exitCode: zero}\n',
      /^case\.yaml:1: steps: is required: what the case runs, e\.g\. steps: \[\{buildx: \[build, \.\]\}\] \(see "Steps" in fixtures\/cases\/README\.md\)$/,
    ],
    ['a step without its subcommand', STEP.replace('[{buildx: [ls]}]', '[{buildx: []}]'), /^case\.yaml:2: steps\[0\]\.buildx: needs at least the subcommand$/],
    [
      'a step id in capitals',
      STEP.replace('[{buildx: [ls]}]', '[{id: Build, buildx: [ls]}]'),
      /^case\.yaml:2: steps\[0\]\.id: is not a step id \(lower-case letters, digits, -\)$/,
    ],
    ['a step id with a stray character', STEP.replace('[{buildx: [ls]}]', '[{id: "build!", buildx: [ls]}]'), /steps\[0\]\.id: is not a step id/],
    ['more than 50 environment variables', `${STEP}env: {${Array.from({ length: 51 }, (_, i) => `V${i}: x`).join(', ')}}\n`, /^case\.yaml:4: env: has more than 50 variables$/],
    ['a link that is not http(s)', `${STEP}links: ftp://example.com/x\n`, /^case\.yaml:4: links: is not an http\(s\) URL$/],
    ['a link inside prose', `${STEP}links: [see https://example.com/x]\n`, /^case\.yaml:4: links\[0\]: is not an http\(s\) URL$/],
    ['a link with a space', `${STEP}links: ["https://example.com/a b"]\n`, /^case\.yaml:4: links\[0\]: is not an http\(s\) URL$/],
    ['an unknown driver', `${STEP}driver: podman\n`, /^case\.yaml:4: driver: is not one of docker, docker-container, remote, kubernetes$/],
    ['a version given alone', `${STEP}versions: "0.99.0"\n`, /^case\.yaml:4: versions: unknown Buildx version v0\.99\.0/],
    ['an engine given alone', `${STEP}engine: "19.03"\n`, /^case\.yaml:4: engine: .*Docker engine/],
    ['an unknown BuildKit version', `${STEP}buildkit: [v0.17.1, latest]\n`, /^case\.yaml:4: buildkit\[1\]: BuildKit version 'latest' is not of the form v0\.17\.1$/],
    [
      'a BuildKit from a Git server',
      `${STEP}buildkit: ["git:https://github.com/moby/buildkit.git@master"]\n`,
      /^case\.yaml:4: buildkit\[0\]: .*BuildKit is built from a local repository.*git clone --mirror/,
    ],
    [
      'a BuildKit revision that is a git option',
      `${STEP}buildkit: ["git:/src/buildkit@--upload-pack=sh"]\n`,
      /^case\.yaml:4: buildkit\[0\]: .*the revision "--upload-pack=sh" must start with a letter or digit/,
    ],
    ['a BuildKit repository given relative', `${STEP}buildkit: ["git:../buildkit@main"]\n`, /^case\.yaml:4: buildkit\[0\]: .*must be an absolute local path/],
    ['a BuildKit repository path with ..', `${STEP}buildkit: ["git:/src/../etc@main"]\n`, /^case\.yaml:4: buildkit\[0\]: .*absolute and normalised/],
    ['a required choice left out', `${STEP}driver: remote\nbuilder: {remote: {tls: true}}\n`, /^case\.yaml:5: builder\.remote\.transport: is required$/],
    ['more aliases than a case needs', `title: &t t\nsteps: [{buildx: [${Array(60).fill('*t').join(', ')}]}]\nsymptom: {exitCode: zero}\n`, /^case\.yaml:1: .*alias/i],
    ['an unknown engine', `${BAKE}engine: [26.1.5, "19.03"]\n`, /^case\.yaml:7: engine\[1\]: .*Docker engine/],
    ['an unknown registry behaviour', `${BAKE}registry: [plain, flaky]\n`, /^case\.yaml:7: registry\[1\]: "flaky" is not one of plain, immutable-tags/],
    ['an unknown Buildx version', BAKE.replace('"0.21.1"', '"0.21.99"'), /^case\.yaml:4: versions\[0\]: unknown Buildx version v0\.21\.99/],
    ['an unquoted numeric version', BAKE.replace('"0.21.1"', '0.20'), /^case\.yaml:4: versions\[0\]: 0\.2 is a number: quote it/],
    ['a git version with a revision expression', BAKE.replace('"0.21.1"', '"git:/src/buildx@HEAD~1"'), /^case\.yaml:4: versions\[0\]: .*no revision expressions/],
    ['a git version on a server', BAKE.replace('"0.21.1"', '"git:https://github.com/docker/buildx.git@v0.21.1"'), /^case\.yaml:4: versions\[0\]: .*built from a local repository/],
    ['a symptom-less case', BAKE.replace('symptom:\n  registry: {index: false}\n', ''), /^case\.yaml:1: symptom: is required/],
    ['an empty symptom', BAKE.replace('symptom:\n  registry: {index: false}\n', 'symptom: {}\n'), /^case\.yaml:5: symptom: needs a check/],
    ['a bad regex', BAKE.replace('registry: {index: false}', 'output: "pushing ("'), /^case\.yaml:6: symptom\.output: "pushing \(" is not an RE2 regular expression/],
    ['a lookbehind (not RE2)', BAKE.replace('registry: {index: false}', 'output: "(?<=a)b"'), /symptom\.output: .*not an RE2 regular expression/],
    ['a registry check that is a word', BAKE.replace('{index: false}', 'lost'), /^case\.yaml:6: symptom\.registry: /],
    [
      'a registry word of the one-command form',
      BAKE.replace('{index: false}', 'not-an-index'),
      /^case\.yaml:6: symptom\.registry: not-an-index was a word of the one-command form, which is gone; write registry: \{ index: false \}$/,
    ],
    [
      'push, of the one-command form',
      `${BAKE}push: false\n`,
      /^case\.yaml:7: push: belongs to the one-command form, which is gone: write it in a step \(e\.g\. steps: \[\{buildx: \[build, \.\.\.\]\}\]\); see "Steps"/,
    ],
    [
      'a fault on a command step',
      'title: t\nsteps: [{buildx: [ls], fault: corrupt}]\nsymptom: {exitCode: zero}\n',
      /^case\.yaml:2: steps\[0\]\.fault: applies to action: boot-builder \(it faults the pull of the builder's BuildKit image\)$/,
    ],
    [
      'a fault on another action',
      'title: t\ndriver: docker-container\nsteps: [{action: kill-builder, fault: 500}]\nsymptom: {exitCode: zero}\n',
      /^case\.yaml:3: steps\[0\]\.fault: applies to action: boot-builder/,
    ],
    [
      'an unknown fault',
      'title: t\ndriver: docker-container\nsteps:\n  - action: boot-builder\n    fault: slow\nsymptom: {output: x}\n',
      /^case\.yaml:5: steps\[0\]\.fault: "slow" is not one of corrupt, 404, truncated, 500$/,
    ],
    [
      'a boot step on the docker driver',
      'title: t\nsteps: [{action: boot-builder}]\nsymptom: {output: x}\n',
      /^case\.yaml:2: steps\[0\]\.action: boot-builder needs a builder container; the docker driver builds in the engine itself: set driver: docker-container \(or remote\)$/,
    ],
    [
      'a pull fault beside a remote builder',
      'title: t\ndriver: [docker-container, remote]\nsteps: [{action: boot-builder, fault: corrupt}]\nsymptom: {output: x}\n',
      /^case\.yaml:3: steps\[0\]\.fault: faults the pull of a docker-container builder's BuildKit image: set driver: docker-container$/,
    ],
    [
      'two boot steps',
      'title: t\ndriver: docker-container\nsteps: [{id: a, action: boot-builder}, {action: boot-builder}]\nsymptom: {output: x}\n',
      /^case\.yaml:3: steps\[1\]\.action: the lab's builder boots once, and step a boots it already$/,
    ],
    [
      'a fault action before the boot step',
      'title: t\ndriver: docker-container\nsteps: [{action: stop-builder}, {action: boot-builder}]\nsymptom: {output: x}\n',
      /^case\.yaml:3: steps\[0\]\.action: stop-builder acts on the lab's builder, which a later step boots \(boot-builder\); move it after that step$/,
    ],
    [
      'env on a boot step',
      'title: t\ndriver: remote\nsteps: [{action: boot-builder, env: {A: b}}]\nsymptom: {output: x}\n',
      /steps\[0\]\.env: does not apply to action: boot-builder \(the lab does it\)$/,
    ],
    [
      "a kubernetes builder's namespace (the cell's: cells share the cluster)",
      'title: t\ndriver: kubernetes\nbuilder: {driverOpts: {namespace: kube-system}}\nsteps: [{buildx: [ls]}]\nsymptom: {exitCode: zero}\n',
      /^case\.yaml:3: builder\.driverOpts: driver option namespace is not one a kubernetes builder may set here \(image and namespace are the lab's\); use replicas, /,
    ],
    [
      "a kubernetes builder's qemu image",
      `${STEP}driver: [docker, kubernetes]\nbuilder: {driverOpts: {qemu.image: evil/qemu}}\n`,
      /^case\.yaml:5: builder\.driverOpts: driver option qemu\.image is not one a kubernetes builder may set here/,
    ],
    ["a kubernetes builder's image", `${STEP}driver: kubernetes\nbuilder: {driverOpts: {image: evil}}\n`, /^case\.yaml:5: builder\.driverOpts: driver option image is the lab's/],
    [
      'a kube check without driver: kubernetes (no cluster, no namespace to read)',
      'title: t\ndriver: [docker-container, kubernetes]\nsteps: [{buildx: [ls]}]\nsymptom: {kube: {get: deployment, name: "${builder}0", exists: true}}\n',
      /^case\.yaml:4: symptom: check 1 \(kube:\) reads the cell's namespace on the lab's k3s cluster, which only driver: kubernetes has: set driver: kubernetes/,
    ],
    [
      'a kube check of a kind outside the allowlist',
      'title: t\ndriver: kubernetes\nsteps: [{buildx: [ls]}]\nsymptom: {kube: {get: secret, name: x}}\n',
      /symptom\.kube\.get: "secret" is not one of deployment, pod, configmap$/,
    ],
    [
      'a kube check with a namespace of its own',
      'title: t\ndriver: kubernetes\nsteps: [{buildx: [ls]}]\nsymptom: {kube: {get: pod, name: x, namespace: kube-system}}\n',
      /^case\.yaml:4: symptom\.kube\.namespace: unknown key; symptom\.kube takes get, name, exists, json \(the namespace is the cell's, never the case's\)$/,
    ],
    [
      'a kube check whose name is not one',
      'title: t\ndriver: kubernetes\nsteps: [{buildx: [ls]}]\nsymptom: {kube: {get: pod, name: "-A"}}\n',
      /symptom: kube\.name: '-A' is not a Kubernetes object name/,
    ],
    [
      'nodes on a kubernetes builder',
      `${STEP}driver: kubernetes\nbuilder: {nodes: [{platforms: [linux/amd64]}]}\n`,
      /builder\.nodes: a multi-node builder is a docker-container builder/,
    ],
    [
      'builder nodes without docker-container',
      `${STEP}builder: {nodes: [{platforms: [linux/amd64]}]}\n`,
      /^case\.yaml:4: builder\.nodes: a multi-node builder is a docker-container builder: set driver: docker-container$/,
    ],
    ['one-command keys beside steps', `${STEP}platforms: [linux/amd64]\n`, /^case\.yaml:4: platforms: belongs to the one-command form, which is gone: write it in a step /],
    [
      'a registry word in a symptom list',
      STEP.replace('symptom: {exitCode: zero}', 'symptom: [{exitCode: zero}, {registry: not-an-index}]'),
      /^case\.yaml:3: symptom\[1\]\.registry: not-an-index was a word of the one-command form, which is gone; write registry: \{ index: false \}$/,
    ],
    [
      "a registry word in a step's symptom",
      STEP.replace('[{buildx: [ls]}]', '[{buildx: [ls], symptom: {registry: incomplete}}]'),
      /^case\.yaml:2: steps\[0\]\.symptom\.registry: incomplete was a word .*; write registry: \{ platforms: \[ PLATFORM, \.\.\. \], complete: false \}$/,
    ],
    [
      "a registry word in a step's symptom list",
      STEP.replace('[{buildx: [ls]}]', '[{buildx: [ls], symptom: [{exitCode: zero}, {registry: push-refused}]}]'),
      /^case\.yaml:2: steps\[0\]\.symptom\[1\]\.registry: push-refused was a word .*; write requests: \{ method: PUT, on: manifests, reference: "\$\{tag\}", status: 4xx, count: ">=1" \}$/,
    ],
    ['a symptom that only names a step', STEP.replace('{exitCode: zero}', '{step: "1"}'), /^case\.yaml:3: symptom: needs a check/],
    ['registry options with a bad value', BAKE.replace('registry: {index: false}', 'registry: {platforms: 5}'), /^case\.yaml:6: symptom\.registry\.platforms: /],
    ['an empty request count', STEP.replace('{exitCode: zero}', '{requests: {count: ""}}'), /^case\.yaml:3: symptom\.requests\.count: is empty$/],
    ...['600', '4xxx', 'a404', '4045'].map((status): [string, string, RegExp] => [
      `the request status ${status}`,
      STEP.replace('{exitCode: zero}', `{requests: {count: 1, status: "${status}"}}`),
      /^case\.yaml:3: symptom\.requests\.status: /,
    ]),
    [
      'a docker image subcommand the lab does not run',
      'title: t\nsteps:\n  - docker: [image, prune]\nsymptom: {exitCode: zero}\n',
      /^case\.yaml:3: steps\[0\]\.docker: docker image takes inspect, ls, rm, tag, save, history$/,
    ],
    [
      'a docker image step without its subcommand',
      'title: t\nsteps:\n  - docker: [image]\nsymptom: {exitCode: zero}\n',
      /steps\[0\]\.docker: docker image takes inspect, ls, rm, tag, save, history$/,
    ],
    [
      'a docker run with a short host flag',
      'title: t\nsteps:\n  - docker: [run, -v, /:/host, alpine]\nsymptom: {exitCode: zero}\n',
      /steps\[0\]\.docker: docker run -v would reach the engine's host; case containers run without it\. docker run takes -d\/--detach, /,
    ],
    [
      'a directory as the buildkitd config',
      `${STEP}driver: docker-container\nbuilder: {buildkitdConfig: sub}\n`,
      /^case\.yaml:5: builder\.buildkitdConfig: "sub" is not a regular file$/,
    ],
    ['a bad expect range', `${BAKE}expect:\n  "<0.22.0": present\n  "soon": absent\n`, /^case\.yaml:9: expect\.soon: "soon" is not a semver range/],
    ['a bad expect word', `${BAKE}expect:\n  "<0.22.0": broken\n`, /^case\.yaml:8: expect\."<0\.22\.0": "broken" is not one of present, absent$/],
    [
      'an expect word of the one-command form',
      `${BAKE}expect:\n  "<0.22.0": reproduced\n`,
      /^case\.yaml:8: expect\."<0\.22\.0": reproduced was a word of the one-command form, which is gone; write present \(reproduced is present, fixed is absent\)$/,
    ],
    ['invalid YAML', `${BAKE}links: [app\n`, /^case\.yaml:8: invalid YAML: Flow sequence/],
    ['a duplicate key', `${BAKE}title: again\n`, /^case\.yaml:7: invalid YAML: Map keys must be unique$/],
    [
      'a path that leaves by backslashes',
      'title: t\nsteps: [{buildx: [ls], cwd: "sub\\\\..\\\\..\\\\x"}]\nsymptom: {exitCode: zero}\n',
      /^case\.yaml:2: steps\[0\]\.cwd: must be a path inside the case directory$/,
    ],
    [
      'builder nodes with another driver beside docker-container',
      `${STEP}driver: [docker-container, docker]\nbuilder: {nodes: [{platforms: [linux/amd64]}]}\n`,
      /^case\.yaml:5: builder\.nodes: a multi-node builder is a docker-container builder/,
    ],
    ['a non-mapping document', '- a\n- b\n', /^case\.yaml:1: the document must be a mapping/],
    [
      'a missing buildkitd config',
      `${BAKE}builder: {buildkitdConfig: ci/bk.toml}\n`,
      /^case\.yaml:7: builder\.buildkitdConfig: "ci\/bk\.toml" does not exist in the case directory/,
    ],
    ['steps and a command', `${BAKE}command: bake\n`, /^case\.yaml:7: command: the one-command form is gone: a case is steps\. Write steps: /],
    [
      'a step of two tools',
      'title: t\nsteps:\n  - buildx: [ls]\n    docker: [version]\nsymptom: {exitCode: zero}\n',
      /^case\.yaml:3: steps\[0\]: a step is one of buildx: \[\.\.\.\], docker: \[\.\.\.\] or action: \.\.\., or only await: ID/,
    ],
    [
      'a docker command the lab does not run',
      'title: t\nsteps:\n  - docker: [system, prune, -af]\nsymptom: {exitCode: zero}\n',
      /^case\.yaml:3: steps\[0\]\.docker: docker system is not a step the lab runs; it takes image, manifest, context, run, pull, push, tag, inspect, version, info, images, logs$/,
    ],
    [
      'a privileged docker run that mounts the engine host root',
      'title: t\nsteps:\n  - docker: [run, --privileged, -v, /:/host, x]\nsymptom: {exitCode: zero}\n',
      /steps\[0\]\.docker: docker run -v would reach the engine's host/,
    ],
    [
      'an unknown lab value',
      'title: t\nsteps:\n  - buildx: [build, -t, "${tagret}", .]\nsymptom: {exitCode: zero}\n',
      /^case\.yaml:3: steps\[0\]\.buildx\[2\]: \$\{tagret\} is not a lab value/,
    ],
    [
      'a read that leaves the context',
      'title: t\nsteps:\n  - docker: [image, inspect, "${read:../../etc/passwd}"]\nsymptom: {exitCode: zero}\n',
      /steps\[0\]\.docker\[2\]: \$\{read:\.\.\/\.\.\/etc\/passwd\} is not a lab value/,
    ],
    [
      'a check naming no step',
      'title: t\nsteps: [{buildx: [ls]}]\nsymptom: {exitCode: zero, step: build}\n',
      /check 1 names step build, which the case does not have \(steps: 1\)/,
    ],
    [
      'a check naming neither step',
      'title: t\nsteps: [{id: a, buildx: [ls]}, {id: b, buildx: [du]}]\nsymptom: {exitCode: zero, step: c}\n',
      /^case\.yaml:3: symptom: check 1 names step c, which the case does not have \(steps: a, b\)$/,
    ],
    [
      'a duplicate step id',
      'title: t\nsteps: [{id: a, buildx: [ls]}, {id: a, buildx: [du]}]\nsymptom: {exitCode: zero}\n',
      /^case\.yaml:2: steps\[1\]\.id: step id a is used twice/,
    ],
    ['a bad request count', 'title: t\nsteps: [{buildx: [ls]}]\nsymptom: {requests: {count: "lots"}}\n', /symptom: count "lots" is not a number or a comparison/],
    ['a repeat out of range', 'title: t\nrepeat: 500\nsteps: [{buildx: [ls]}]\nsymptom: {exitCode: zero}\n', /^case\.yaml:2: repeat: /],
    [
      'remote options without the remote driver',
      'title: t\nbuilder: {remote: {transport: tcp}}\nsteps: [{buildx: [ls]}]\nsymptom: {exitCode: zero}\n',
      /^case\.yaml:2: builder\.remote: applies to driver: remote/,
    ],
    [
      'a rootless builder on another driver',
      'title: t\nbuilder: {rootless: true}\nsteps: [{buildx: [ls]}]\nsymptom: {exitCode: zero}\n',
      /^case\.yaml:2: builder\.rootless: applies to driver: docker-container/,
    ],
    [
      'a rootless builder that is not a boolean',
      'title: t\ndriver: docker-container\nbuilder: {rootless: "yes"}\nsteps: [{buildx: [ls]}]\nsymptom: {exitCode: zero}\n',
      /builder\.rootless: /,
    ],
    ['a bad env name', 'title: t\nenv: {"A B": x}\nsteps: [{buildx: [ls]}]\nsymptom: {exitCode: zero}\n', /env\."A B": .*not an environment variable name/],
    ['a step file outside the case', 'title: t\nsteps: [{buildx: [ls], cwd: ../x}]\nsymptom: {exitCode: zero}\n', /steps\[0\]\.cwd: must be a path inside the case directory/],
    [
      'a missing config file',
      'title: t\nconfig: {dockerConfig: nope.json}\nsteps: [{buildx: [ls]}]\nsymptom: {exitCode: zero}\n',
      /config\.dockerConfig: "nope\.json" does not exist in the case directory/,
    ],
    [
      'a home file outside .docker/',
      'title: t\nconfig: {home: {.gitconfig: sub/readme.txt}}\nsteps: [{buildx: [ls]}]\nsymptom: {exitCode: zero}\n',
      /^case\.yaml:2: config\.home\."\.gitconfig": is not under \.docker\//,
    ],
    [
      "a home file that is the client's config",
      'title: t\nconfig:\n  home:\n    .docker/config.json: sub/readme.txt\nsteps: [{buildx: [ls]}]\nsymptom: {exitCode: zero}\n',
      /^case\.yaml:4: config\.home\."\.docker\/config\.json": \.docker\/config\.json is the client's config/,
    ],
    [
      'a home file that leaves HOME',
      'title: t\nconfig: {home: {.docker/../../etc/passwd: sub/readme.txt}}\nsteps: [{buildx: [ls]}]\nsymptom: {exitCode: zero}\n',
      /config\.home\..*names \. or \.\./,
    ],
    [
      'a home file the case does not ship',
      'title: t\nconfig:\n  home:\n    .docker/desktop-build/.lastaccess: nope\nsteps: [{buildx: [ls]}]\nsymptom: {exitCode: zero}\n',
      /^case\.yaml:\d: config\.home\."\.docker\/desktop-build\/\.lastaccess": "nope" does not exist in the case directory/,
    ],
    [
      'a home file outside the case',
      'title: t\nconfig: {home: {.docker/x: ../x}}\nsteps: [{buildx: [ls]}]\nsymptom: {exitCode: zero}\n',
      /config\.home\."\.docker\/x": must be a path inside the case directory/,
    ],
    ['home is empty', 'title: t\nconfig: {home: {}}\nsteps: [{buildx: [ls]}]\nsymptom: {exitCode: zero}\n', /config\.home: needs 1 to 20 files/],
  ];
  it.each(cases)('%s', (_what, yaml, message) => {
    expect(usageError(caseDir(yaml, { 'sub/readme.txt': 'x' }))).toMatch(message);
  });

  it('says when the directory has no case.yaml, or is no directory', () => {
    const dir = caseDir(BAKE);
    rmSync(path.join(dir, 'case.yaml'));
    expect(usageError(dir)).toMatch(/^"case\.yaml" does not exist in the case directory \(ENOENT\)$/);
    expect(usageError(path.join(dir, 'nope'))).toMatch(/^case directory .*nope: ENOENT; give a directory holding case\.yaml$/);
    expect(usageError(path.join(dir, 'Dockerfile'))).toMatch(/^case directory .*Dockerfile: not a directory; give a directory holding case\.yaml$/);
  });

  it('refuses a case.yaml over 1 MiB and an alias bomb', () => {
    const padded = (size: number) => `${STEP}#${'x'.repeat(size - STEP.length - 2)}\n`;
    expect(loadCase(caseDir(padded(1 << 20))).title).toBe('t');
    expect(usageError(caseDir(padded((1 << 20) + 1)))).toMatch(/^case\.yaml is larger than 1 MiB; a case file describes a bug, it does not carry it$/);
    const bomb = [
      'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
      ...Array.from(
        { length: 8 },
        (_, i) =>
          `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)}]`,
      ),
    ].join('\n');
    expect(usageError(caseDir(`title: t\n${bomb}\n`))).toMatch(/^case\.yaml:\d+: /);
  });
});

describe("loadCase: a stranger's case cannot take what the lab owns", () => {
  const step = (tool: string, argv: string) => `title: t\nsteps:\n  - ${tool}: [${argv}]\nsymptom: {exitCode: zero}\n`;
  const cases: [string, string, Record<string, string>, RegExp][] = [
    ['a volume with its value attached', step('docker', 'run, "-v/:/host", alpine'), {}, /^case\.yaml:3: steps\[0\]\.docker: docker run -v would reach the engine's host/],
    ['combined short flags hiding a volume', step('docker', 'run, "-itv/:/host", alpine'), {}, /steps\[0\]\.docker: docker run -v would reach the engine's host/],
    ['a host flag with a value attached', step('docker', 'run, "--pid=host", alpine'), {}, /steps\[0\]\.docker: docker run --pid would reach the engine's host/],
    [
      'a host option the old list did not name',
      step('docker', 'run, --use-api-socket, alpine'),
      {},
      /steps\[0\]\.docker: docker run --use-api-socket would reach the engine's host/,
    ],
    [
      'a flag not on the list',
      step('docker', 'run, --oom-score-adj=-1000, alpine'),
      {},
      /docker run --oom-score-adj would reach the engine's host; .* docker run takes -d\/--detach, /,
    ],
    [
      'the host network',
      step('docker', 'run, --network=host, alpine'),
      {},
      /steps\[0\]\.docker: docker run --network=host would join the engine's host network; --network takes bridge, none, default/,
    ],
    ['an interspersed flag after the image name', step('docker', 'image, inspect, x, --kubeconfig, y'), {}, /docker image inspect --kubeconfig is not a flag the lab allows/],
    [
      'a context reaching another engine',
      step('docker', 'context, create, n, --docker, "host=ssh://me@host"'),
      {},
      /docker context create --docker=host=ssh:\/\/me@host .*reaches the cell's own engine only/,
    ],
    [
      'a builder image of the case',
      step('buildx', 'create, --driver, docker-container, --driver-opt, "image=evil/buildkit"'),
      {},
      /^case\.yaml:3: steps\[0\]\.buildx: --driver-opt image=evil\/buildkit: driver option image=evil\/buildkit is not the lab's BuildKit image; write image=\$\{buildkitImage\}/,
    ],
    [
      'a builder create naming no image (Buildx would run what the engine holds as moby/buildkit)',
      step('buildx', 'create, --driver, docker-container, --bootstrap'),
      {},
      /steps\[0\]\.buildx: create of a docker-container builder must name the lab's BuildKit image: add --driver-opt image=\$\{buildkitImage\}/,
    ],
    [
      'an agent socket forwarded into builds',
      `${STEP}env: {SSH_AUTH_SOCK: /var/run/docker.sock}\n`,
      {},
      /env\.SSH_AUTH_SOCK: SSH_AUTH_SOCK is the socket `--ssh default` forwards into a build/,
    ],
    ['a builder image smuggled in one driver-opt', step('buildx', 'create, "--driver-opt=memory=1g,image=evil"'), {}, /image=evil is not the lab's BuildKit image/],
    [
      "a local output over the engine's binaries",
      step('buildx', 'build, --output, "type=local,dest=/usr/local/bin", .'),
      {},
      /steps\[0\]\.buildx: --output dest= \/usr\/local\/bin is outside the cell's context/,
    ],
    ['a metadata file outside the context', step('buildx', 'build, "--metadata-file=../../buildx/x", .'), {}, /--metadata-file \.\.\/\.\.\/buildx\/x leaves the cell's context/],
    [
      'a buildkitd config from outside',
      step('buildx', 'create, --buildkitd-config, /etc/buildkit/buildkitd.toml'),
      {},
      /--buildkitd-config \/etc\/buildkit\/buildkitd\.toml is outside the cell's context/,
    ],
    ['a bake output set outside', step('buildx', 'bake, --set, "*.output=type=local,dest=/usr/local/bin"'), {}, /--set output dest= \/usr\/local\/bin is outside/],
    [
      'the client config moved',
      `${STEP}env: {DOCKER_CONFIG: /tmp/evil}\n`,
      {},
      /^case\.yaml:4: env\.DOCKER_CONFIG: DOCKER_CONFIG is the cell's own client config .*; the lab sets it for the cell$/,
    ],
    [
      'PATH in a step',
      'title: t\nsteps: [{buildx: [ls], env: {PATH: /tmp/cells}}]\nsymptom: {exitCode: zero}\n',
      {},
      /^case\.yaml:2: steps\[0\]\.env\.PATH: PATH chooses the programs the lab runs/,
    ],
    ['a preloaded library', `${STEP}env: {LD_PRELOAD: ./evil.so}\n`, {}, /env\.LD_PRELOAD: LD_PRELOAD is the dynamic loader's/],
    ['another engine', `${STEP}env: {DOCKER_HOST: "tcp://10.0.0.1:2375"}\n`, {}, /env\.DOCKER_HOST: DOCKER_HOST is the cell's own engine/],
    [
      'a builder image in builder.driverOpts',
      `${STEP}driver: docker-container\nbuilder: {driverOpts: {image: "evil/buildkit"}}\n`,
      {},
      /^case\.yaml:5: builder\.driverOpts: driver option image is the lab's .*choose the version with buildkit:/,
    ],
    [
      'a builder image in a node',
      `${STEP}driver: docker-container\nbuilder: {nodes: [{driverOpts: {image: x}}]}\n`,
      {},
      /builder\.nodes\[0\]\.driverOpts: driver option image is the lab's/,
    ],
    [
      'a builder network of another container',
      `${STEP}driver: docker-container\nbuilder: {driverOpts: {network: "container:x"}}\n`,
      {},
      /builder\.driverOpts: driver option network=container:x is not one the lab allows; use host, bridge, none/,
    ],
    [
      'a credential helper',
      `${STEP}config: {dockerConfig: config.json}\n`,
      { 'config.json': '{"credsStore": "evil"}' },
      /^case\.yaml:4: config\.dockerConfig: "config\.json": credsStore names a credential helper program the client would run; put credentials in auths$/,
    ],
    [
      'per-registry credential helpers',
      `${STEP}config: {dockerConfig: config.json}\n`,
      { 'config.json': '{"auths": {}, "credHelpers": {"registry:5000": "evil"}}' },
      /config\.dockerConfig: "config\.json": credHelpers names credential helper programs/,
    ],
    [
      'a plugin directory of the case',
      `${STEP}config: {dockerConfig: config.json}\n`,
      { 'config.json': '{"cliPluginsExtraDirs": ["/tmp/cells"]}' },
      /config\.dockerConfig: "config\.json": cliPluginsExtraDirs makes the client run CLI plugins/,
    ],
  ];
  it.each(cases)('refuses %s', (_what, yaml, files, message) => {
    expect(usageError(caseDir(yaml, files))).toMatch(message);
  });

  it('loads every shipped case, with the lab-owned settings it uses unchanged', () => {
    const dirs = readdirSync(fixtures, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
    expect(dirs.length).toBeGreaterThanOrEqual(17);
    const loaded = Object.fromEntries(dirs.map((d) => [d, loadCase(path.join(fixtures, d))]));
    expect(loaded['2683-buildkitd-insecure-entitlements']!.builder.driverOpts).toEqual({ network: 'bridge' });
    expect(loaded['2177-create-memory-opt-panic']!.steps[0]!.argv).toContain('image=${buildkitImage}');
    expect(loaded['3478-tar-output-parent-dirs']!.steps[0]!.argv).toContain('type=tar,dest=does/not/exist/result.tar');
  });
});

describe('loadCase: paths stay inside the case directory', () => {
  const BUILDKITD = (file: string) => `${BAKE}builder: {buildkitdConfig: ${file}}\n`;

  it('rejects an absolute case file', () => {
    expect(usageError(caseDir(BUILDKITD('/etc/passwd')))).toMatch(/^case\.yaml:7: builder\.buildkitdConfig: must be a path inside the case directory/);
  });

  it('rejects a .. escape, even one that comes back in', () => {
    expect(usageError(caseDir(BUILDKITD('../docker-bake.hcl')))).toMatch(/^case\.yaml:7: builder\.buildkitdConfig: must be a path inside the case directory/);
    expect(usageError(caseDir(BUILDKITD('sub/../../x')))).toMatch(/^case\.yaml:7: builder\.buildkitdConfig: must be a path inside the case directory/);
  });

  it('rejects a case file that is a symlink to a file outside', () => {
    const dir = caseDir(`${BAKE}config: {buildkitdDefault: docker-bake.hcl}\n`, { 'docker-bake.hcl': '' });
    rmSync(path.join(dir, 'docker-bake.hcl'));
    symlinkSync('/etc/hostname', path.join(dir, 'docker-bake.hcl'));
    expect(usageError(dir)).toMatch(/config\.buildkitdDefault: .*"docker-bake\.hcl" is a symlink to \/etc\/hostname, outside the case directory/);
  });

  it('rejects a served directory that is a symlink to /etc', () => {
    const dir = caseDir('title: t\nserve: {http: {files: {/ctx.tar: {tar: app}}}}\nsteps: [{buildx: [build, "${http}/ctx.tar"]}]\nsymptom: {exitCode: zero}\n');
    symlinkSync('/etc', path.join(dir, 'app'));
    expect(usageError(dir)).toMatch(/^case\.yaml:2: serve\.http\.files\."\/ctx\.tar"\.tar: "app" is a symlink to \/etc, outside the case directory/);
  });

  it('refuses to copy a case holding any symlink to /etc, wherever it is', () => {
    const dir = caseDir(BAKE, { 'nested/readme.txt': 'x' });
    symlinkSync('/etc', path.join(dir, 'nested', 'etc'));
    expect(usageError(dir)).toMatch(/"nested\/etc" is a symlink to \/etc, outside the case directory/);
    expect(() => caseFiles(dir)).toThrow(UsageError);
  });

  it('refuses a symlink to a directory inside, naming the fix', () => {
    const dir = caseDir(BAKE, { 'app/Dockerfile': 'FROM scratch\n' });
    symlinkSync('app', path.join(dir, 'app-link'));
    expect(usageError(dir)).toMatch(/case file "app-link" is a symlink to a directory; .*replace it with the directory/);
  });

  it('rejects a case.yaml that is itself a symlink outside', () => {
    const outside = caseDir(BAKE);
    const dir = caseDir(BAKE);
    rmSync(path.join(dir, 'case.yaml'));
    symlinkSync(path.join(outside, 'case.yaml'), path.join(dir, 'case.yaml'));
    expect(usageError(dir)).toMatch(/"case\.yaml" is a symlink to .*, outside the case directory/);
  });
});

describe('loadCase: serve (the sources the lab serves)', () => {
  const GIT_STEP = 'steps: [{buildx: [build, "${git}/app.git#v1"]}]\nsymptom: {exitCode: zero}\n';
  const HTTP_STEP = 'steps: [{buildx: [build, "${http}/ctx.tar"]}]\nsymptom: {exitCode: zero}\n';
  const FILES = { 'v1/Dockerfile': 'FROM scratch\n', 'remote/Dockerfile': 'FROM scratch\n' };

  it('loads http files, tarballs and faults, and git repositories with tags, branches, submodules, auth', () => {
    const c = loadCase(
      caseDir(
        `title: t
serve:
  http:
    files: {/Dockerfile: remote/Dockerfile, /ctx.tar: {tar: remote}, /ctx.tgz: {tar: remote, gzip: true}}
    faults: [{path: /ctx.tar, kind: truncate, afterBytes: 10, times: 1}, {path: /Dockerfile, kind: wrong-length, by: -3}]
  git:
    auth: {token: tok-1}
    repos:
      app:
        commits: [{tree: v1, tags: [v1, {name: v1-note, message: annotated}]}, {tree: remote, branches: [dev, feature/x], message: second}]
        submodules: {vendor/lib: lib}
      lib: {commits: [{tree: remote}]}
      empty: {}
steps:
  - buildx: [build, "\${git}/app.git#v1"]
  - buildx: [build, "\${http}/ctx.tar"]
symptom: {requests: {server: git, path: "^/app\\\\.git/", status: "401", count: 0}}
`,
        FILES,
      ),
    );
    expect(c.serve?.http?.files).toEqual({ '/Dockerfile': { file: 'remote/Dockerfile' }, '/ctx.tar': { tar: 'remote' }, '/ctx.tgz': { tar: 'remote', gzip: true } });
    expect(c.serve?.http?.faults).toEqual([
      { path: '/ctx.tar', kind: 'truncate', afterBytes: 10, times: 1 },
      { path: '/Dockerfile', kind: 'wrong-length', by: -3 },
    ]);
    expect(c.serve?.git?.repos.app).toEqual({
      commits: [
        { tree: 'v1', tags: [{ name: 'v1' }, { name: 'v1-note', message: 'annotated' }], branches: [] },
        { tree: 'remote', message: 'second', tags: [], branches: ['dev', 'feature/x'] },
      ],
      submodules: { 'vendor/lib': 'lib' },
    });
    expect(c.serve?.git?.repos.empty).toEqual({ commits: [], submodules: {} });
    expect(c.serve?.git?.auth).toEqual({ token: 'tok-1' });
    expect([...c.uses]).toEqual(expect.arrayContaining(['git', 'http']));
    expect(c.checks[0]).toEqual({ kind: 'requests', server: 'git', path: '^/app\\.git/', status: '401', count: '0' });
  });

  const bad: [string, string, RegExp][] = [
    ['${git} without serve.git', `title: t\n${GIT_STEP}`, /^case\.yaml:1: serve: the case names \$\{git\} but serves nothing there: add serve\.git/],
    [
      'serve.http that no step uses',
      `title: t\nserve: {http: {files: {/a: v1/Dockerfile}}, git: {repos: {app: {}}}}\n${GIT_STEP}`,
      /^case\.yaml:2: serve\.http: is served but no step names \$\{http\}/,
    ],
    ['an empty serve', `title: t\nserve: {}\n${GIT_STEP}`, /^case\.yaml:2: serve: needs http:, git: or s3:/],
    ['an unknown key under serve', `title: t\nserve: {ftp: {}}\n${GIT_STEP}`, /^case\.yaml:2: serve\.ftp: unknown key; serve takes http \(files, faults\), git/],
    [
      'a served path with a dot segment',
      `title: t\nserve: {http: {files: {/a/../b: v1/Dockerfile}}}\n${HTTP_STEP}`,
      /^case\.yaml:2: serve\.http\.files\."\/a\/\.\.\/b": is not a URL path of plain segments/,
    ],
    [
      'a served file outside the case',
      `title: t\nserve: {http: {files: {/a: ../etc/passwd}}}\n${HTTP_STEP}`,
      /serve\.http\.files\."\/a": must be a path inside the case directory/,
    ],
    ['a served file that is missing', `title: t\nserve: {http: {files: {/ctx.tar: nope.txt}}}\n${HTTP_STEP}`, /serve\.http\.files\."\/ctx\.tar": "nope\.txt" does not exist/],
    ['a tarball of a file, not a directory', `title: t\nserve: {http: {files: {/ctx.tar: {tar: Dockerfile}}}}\n${HTTP_STEP}`, /tar: "Dockerfile" is not a directory/],
    [
      'a fault on a path not served',
      `title: t\nserve: {http: {files: {/ctx.tar: {tar: remote}}, faults: [{path: /x, kind: slow}]}}\n${HTTP_STEP}`,
      /serve\.http\.faults\[0\]\.path: \/x is not served/,
    ],
    [
      'a fault of an unknown kind',
      `title: t\nserve: {http: {files: {/ctx.tar: {tar: remote}}, faults: [{path: /ctx.tar, kind: explode}]}}\n${HTTP_STEP}`,
      /"explode" is not one of slow, truncate, wrong-length/,
    ],
    [
      'a fault option of another kind',
      `title: t\nserve: {http: {files: {/ctx.tar: {tar: remote}}, faults: [{path: /ctx.tar, kind: slow, afterBytes: 3}]}}\n${HTTP_STEP}`,
      /faults\[0\]\.afterBytes: applies to kind truncate, not slow/,
    ],
    [
      'a wrong-length of 0',
      `title: t\nserve: {http: {files: {/ctx.tar: {tar: remote}}, faults: [{path: /ctx.tar, kind: wrong-length, by: 0}]}}\n${HTTP_STEP}`,
      /by: is 0: the length would be right/,
    ],
    ['a slow fault of an hour', `title: t\nserve: {http: {files: {/ctx.tar: {tar: remote}}, faults: [{path: /ctx.tar, kind: slow, ms: 3600000}]}}\n${HTTP_STEP}`, /ms: .*120000/],
    ['a repository name with a slash', `title: t\nserve: {git: {repos: {a/b: {}}}}\n${GIT_STEP}`, /serve\.git\.repos\."a\/b": is not a repository name/],
    ['a tag that is an option', `title: t\nserve: {git: {repos: {app: {commits: [{tree: v1, tags: [--upload-pack=x]}]}}}}\n${GIT_STEP}`, /is not a Git ref name/],
    ['a ref with ..', `title: t\nserve: {git: {repos: {app: {commits: [{tree: v1, branches: [a..b]}]}}}}\n${GIT_STEP}`, /branches\[0\]: is not a Git ref name/],
    ['a branch named main', `title: t\nserve: {git: {repos: {app: {commits: [{tree: v1, branches: [main]}]}}}}\n${GIT_STEP}`, /branches: main is the branch the commits are on/],
    [
      'a tag named twice',
      `title: t\nserve: {git: {repos: {app: {commits: [{tree: v1, tags: [v1]}, {tree: v1, tags: [v1]}]}}}}\n${GIT_STEP}`,
      /commits\[1\]: tag v1 is named twice in repository app/,
    ],
    ['a commit tree outside the case', `title: t\nserve: {git: {repos: {app: {commits: [{tree: /etc}]}}}}\n${GIT_STEP}`, /tree: must be a path inside the case directory/],
    [
      'a submodule cycle',
      `title: t\nserve: {git: {repos: {app: {commits: [{tree: v1}], submodules: {x: app}}}}}\n${GIT_STEP}`,
      /serve\.git\.repos: submodules form a cycle: app -> app/,
    ],
    ['a submodule path into .git', `title: t\nserve: {git: {repos: {app: {commits: [{tree: v1}], submodules: {.git/hooks: app}}}}}\n${GIT_STEP}`, /is not a submodule path/],
    ['a token with a space', `title: t\nserve: {git: {auth: {token: "a b"}, repos: {app: {}}}}\n${GIT_STEP}`, /serve\.git\.auth\.token: is not a token/],
    ['auth with a token and a password', `title: t\nserve: {git: {auth: {token: a, password: b}, repos: {app: {}}}}\n${GIT_STEP}`, /serve\.git\.auth/],
    [
      'more than 10 repositories',
      `title: t\nserve: {git: {repos: {${Array.from({ length: 11 }, (_, i) => `r${i}: {}`).join(', ')}}}}\n${GIT_STEP}`,
      /serve\.git\.repos: needs 1 to 10 repositories/,
    ],
    ['more than 20 commits', `title: t\nserve: {git: {repos: {app: {commits: [${Array(21).fill('{tree: v1}').join(', ')}]}}}}\n${GIT_STEP}`, /commits: .*20/],
    [
      'a requests check on an unknown server',
      `title: t\n${HTTP_STEP.replace('symptom: {exitCode: zero}', 'symptom: {requests: {server: ftp, count: 1}}')}serve: {http: {files: {/ctx.tar: {tar: remote}}}}\n`,
      /requests\.server: "ftp" is not one of registry, http, git/,
    ],
  ];
  it('takes git: {uncommitted: [...]}, files of the case left out of the commit', () => {
    const c = loadCase(caseDir(`title: t\ngit: {uncommitted: [v1/Dockerfile]}\n${STEP.replace('title: t\n', '')}`, FILES));
    expect([c.git, c.gitUncommitted]).toEqual([true, ['v1/Dockerfile']]);
    expect(loadCase(caseDir(STEP)).gitUncommitted).toEqual([]);
    expect(usageError(caseDir(`title: t\ngit: {uncommitted: [nope.txt]}\n${STEP.replace('title: t\n', '')}`))).toMatch(
      /^case\.yaml:2: git\.uncommitted\[0\]: "nope\.txt" does not exist/,
    );
    expect(usageError(caseDir(`title: t\ngit: {uncommitted: [../x]}\n${STEP.replace('title: t\n', '')}`))).toMatch(
      /git\.uncommitted\[0\]: must be a path inside the case directory/,
    );
  });
  it.each(bad)('refuses %s, naming the line and field', (_what, yaml, message) => {
    expect(usageError(caseDir(yaml, FILES))).toMatch(message);
  });
});

describe('loadCase: steps in time (interact, background, waitFor, await, action, standalone)', () => {
  const TIMED = `title: t
driver: docker-container
steps:
  - id: debug
    buildx: [debug, --invoke, /bin/sh, build, .]
    interact:
      - expect: "# $"
      - send: "ls \${context}\\n"
      - expect: "Dockerfile"
        timeout: 5
      - sendControl: d
  - id: slow
    buildx: [build, .]
    background: true
    waitFor: "RUN sleep"
  - id: stop
    action: stop-builder
  - await: slow
    timeout: 60
  - id: version
    buildx: [version]
    standalone: true
symptom: {exitCode: nonzero, step: slow}
`;

  it('reads every new key into the step it describes', () => {
    const c = loadCase(caseDir(TIMED));
    expect(c.steps.map((s) => [s.id, s.tool])).toEqual([
      ['debug', 'buildx'],
      ['slow', 'buildx'],
      ['stop', 'action'],
      ['4', 'await'],
      ['version', 'buildx'],
    ]);
    expect(c.steps[0]!.interact).toEqual([{ expect: '# $', timeoutMs: 30_000 }, { send: 'ls ${context}\n' }, { expect: 'Dockerfile', timeoutMs: 5000 }, { sendControl: 'd' }]);
    expect(c.steps[1]!.background).toEqual({ waitFor: { pattern: 'RUN sleep', timeoutMs: 120_000 } });
    expect(c.steps[2]!.action).toBe('stop-builder');
    expect(c.steps[3]).toMatchObject({ await: ['slow'], timeoutMs: 60_000, argv: [] });
    expect(c.steps[4]!.standalone).toBe(true);
    expect(c.uses.has('context')).toBe(true);
  });

  const step = (yaml: string, driver = 'docker-container') => `title: t\ndriver: ${driver}\nsteps:\n${yaml}symptom: {exitCode: zero}\n`;
  it.each<[string, string, RegExp]>([
    [
      'an interactive step with no command',
      '  - interact: [{send: "x"}]\n',
      /case\.yaml:4: steps\[0\]: a step is one of buildx: \[\.\.\.\], docker: \[\.\.\.\] or action: \.\.\., or only await: ID/,
    ],
    [
      'an unknown interact line',
      '  - buildx: [ls]\n    interact: [{exepct: "x"}]\n',
      /case\.yaml:5: steps\[0\]\.interact\[0\]\.exepct: unknown key; steps\[0\]\.interact\[0\] takes one of expect \(with its timeout\), send, sendControl/,
    ],
    [
      'two things in one interact line',
      '  - buildx: [ls]\n    interact: [{send: x, sendControl: c}]\n',
      /steps\[0\]\.interact\[0\]: a line is one of expect: PATTERN, send: TEXT or sendControl: KEY/,
    ],
    ['a timeout on a send line', '  - buildx: [ls]\n    interact: [{send: x, timeout: 3}]\n', /steps\[0\]\.interact\[0\]: timeout belongs to an expect line/],
    [
      'a control key that is not one',
      '  - buildx: [ls]\n    interact: [{sendControl: "cc"}]\n',
      /steps\[0\]\.interact\[0\]\.sendControl: "cc" is not a control key; give one letter/,
    ],
    ['an expect that is not RE2', '  - buildx: [ls]\n    interact: [{expect: "(?=x)"}]\n', /steps\[0\]\.interact\[0\]\.expect: .*RE2 has no lookaround/],
    [
      'an expect too costly to try',
      `  - buildx: [ls]\n    interact: [{expect: "a{600}"}]\n`,
      /steps\[0\]\.interact\[0\]\.expect: .*counted repetitions .* adding up to 600, over the limit of 500/,
    ],
    ['an expect timeout past the bound', '  - buildx: [ls]\n    interact: [{expect: "x", timeout: 601}]\n', /steps\[0\]\.interact\[0\]\.timeout: .*600/],
    ['an empty script', '  - buildx: [ls]\n    interact: []\n', /steps\[0\]\.interact: is empty; give expect, send or sendControl lines/],
    ['a send with an unknown lab value', '  - buildx: [ls]\n    interact: [{send: "${nope}"}]\n', /steps\[0\]\.interact\[0\]\.send: \$\{nope\} is not a lab value/],
    [
      'interact in the background',
      '  - buildx: [ls]\n    interact: [{send: "x"}]\n    background: true\n',
      /case\.yaml:5: steps\[0\]\.interact: an interactive step runs in the foreground/,
    ],
    ['waitFor without background', '  - buildx: [ls]\n    waitFor: x\n', /case\.yaml:5: steps\[0\]\.waitFor: applies to background: true steps/],
    [
      'a waitFor with an unknown key',
      '  - buildx: [ls]\n    background: true\n    waitFor: {pattern: x, within: 3}\n',
      /steps\[0\]\.waitFor\.within: unknown key; steps\[0\]\.waitFor takes pattern, timeout/,
    ],
    [
      'await of a step that is not in the background',
      '  - id: a\n    buildx: [ls]\n  - await: a\n',
      /case\.yaml:6: steps\[1\]\.await: a is not a background step before this one \(or it was awaited already\)/,
    ],
    [
      'await of a later step',
      '  - await: b\n  - id: b\n    buildx: [ls]\n    background: true\n',
      /case\.yaml:4: steps\[0\]\.await: b is not a background step before this one; await names/,
    ],
    [
      'await twice',
      '  - id: b\n    buildx: [ls]\n    background: true\n  - await: b\n  - await: b\n',
      /steps\[2\]\.await: b is not a background step before this one \(or it was awaited already\)/,
    ],
    [
      'an unknown action',
      '  - action: reboot-host\n',
      /steps\[0\]\.action: "reboot-host" is not one of boot-builder, stop-builder, kill-builder, restart-builder, remove-node, unreachable-node, fill-engine-disk$/,
    ],
    ['an action with a command too', '  - action: stop-builder\n    buildx: [ls]\n', /steps\[0\]: a step is one of/],
    ['an action with env', '  - action: kill-builder\n    env: {A: b}\n', /case\.yaml:5: steps\[0\]\.env: does not apply to action: kill-builder/],
    ['standalone on a docker step', '  - docker: [version]\n    standalone: true\n', /steps\[0\]\.standalone: applies to buildx: steps/],
    [
      'a standalone step that writes outside the context',
      '  - buildx: [build, --iidfile, /etc/x, .]\n    standalone: true\n',
      /steps\[0\]\.buildx: --iidfile \/etc\/x is outside the cell's context/,
    ],
    ['an interactive docker run that takes the host', '  - docker: [run, --pid=host, -it, alpine]\n    interact: [{send: "x"}]\n', /steps\[0\]\.docker: .*--pid/],
  ])('%s', (_name, yaml, want) => expect(usageError(caseDir(step(yaml)))).toMatch(want));

  it('takes remove-node on a multi-node builder, naming a node or the last, and refuses a node it does not have', () => {
    const nodes = (yaml: string) =>
      `title: t\ndriver: docker-container\nbuilder:\n  nodes: [{platforms: [linux/amd64]}, {platforms: [linux/amd64]}]\nsteps:\n${yaml}symptom: {exitCode: zero}\n`;
    const c = loadCase(caseDir(nodes('  - action: remove-node\n  - action: remove-node\n    node: 0\n  - action: unreachable-node\n    node: 1\n')));
    expect(c.steps.map((s) => [s.tool, s.action, s.node])).toEqual([
      ['action', 'remove-node', undefined],
      ['action', 'remove-node', 0],
      ['action', 'unreachable-node', 1],
    ]);
    expect(usageError(caseDir(step('  - action: unreachable-node\n')))).toMatch(/steps\[0\]\.action: needs a multi-node builder/);
    expect(usageError(caseDir(nodes('  - action: remove-node\n    node: 2\n')))).toMatch(/^case\.yaml:7: steps\[0\]\.node: node 2 is not one of the builder's nodes \(0 to 1\)/);
  });

  it("takes sudo: true and user: lab on command steps, and a check on a path's owner", () => {
    const c = loadCase(
      caseDir(
        'title: t\nsteps:\n  - buildx: [create, --name, u, --driver, remote, "tcp://127.0.0.1:1"]\n    user: lab\n  - buildx: [ls]\n    sudo: true\n  - docker: [version]\n    sudo: true\n  - buildx: [ls]\n    user: root\n    sudo: false\nsymptom:\n  - state: {path: instances/u, owner: root}\n  - file: {path: out, owner: lab}\n',
      ),
    );
    expect(c.steps.map((s) => s.as)).toEqual(['lab', 'sudo', 'sudo', undefined]);
    expect(c.checks).toEqual([
      { kind: 'state', path: 'instances/u', owner: 'root' },
      { kind: 'file', path: 'out', owner: 'lab' },
    ]);
  });

  it.each<[string, string, RegExp]>([
    [
      'sudo and user: lab together',
      '  - buildx: [ls]\n    sudo: true\n    user: lab\n',
      /^case\.yaml:5: steps\[0\]\.sudo: runs the step as root under sudo from the lab user, user: lab runs it as that user: give one of the two$/,
    ],
    ['a user the lab does not have', '  - buildx: [ls]\n    user: alice\n', /^case\.yaml:5: steps\[0\]\.user: "alice" is not one of root, lab$/],
    ['a uid for a user', '  - buildx: [ls]\n    user: 1000\n', /steps\[0\]\.user: 1000 is not one of root, lab$/],
    ['sudo as a word', '  - buildx: [ls]\n    sudo: lab\n', /^case\.yaml:5: steps\[0\]\.sudo: /],
    [
      'sudo on an action',
      '  - action: kill-builder\n    sudo: true\n',
      /steps\[0\]\.sudo: applies to a foreground command step \(buildx: or docker:\), not to an action or await step/,
    ],
    [
      'user: lab on a background step',
      '  - buildx: [ls]\n    background: true\n    user: lab\n',
      /steps\[0\]\.user: applies to a foreground command step .*not to a background step/,
    ],
    [
      'sudo on an interactive step',
      '  - buildx: [ls]\n    interact: [{send: "x"}]\n    sudo: true\n',
      /steps\[0\]\.sudo: applies to a foreground command step .*not to an interactive step/,
    ],
    // sudo's variables are the lab's: a case that sets them itself is told to write sudo: true
    ["SUDO_UID in a step's env", '  - buildx: [ls]\n    env: {SUDO_UID: "0"}\n', /steps\[0\]\.env.*SUDO_UID is sudo's word on who ran it.*write sudo: true on the step/],
    [
      'an owner the lab does not have',
      '  - buildx: [ls]\n    symptom: {state: {path: instances, owner: "1000"}}\n',
      /steps\[0\]\.symptom\.state\.owner: "1000" is not one of root, lab$/,
    ],
  ])('refuses %s', (_name, yaml, want) => expect(usageError(caseDir(step(yaml)))).toMatch(want));

  it("refuses SUDO_* in the case's env too", () => {
    expect(usageError(caseDir('title: t\nenv: {SUDO_COMMAND: x}\nsteps: [{buildx: [ls]}]\nsymptom: {exitCode: zero}\n'))).toMatch(/env.*SUDO_COMMAND is sudo's word on who ran it/);
  });

  it('takes fill-engine-disk with free: on any driver, after the boot-builder step or before it', () => {
    const c = loadCase(caseDir(step('  - action: fill-engine-disk\n    free: 16MiB\n  - action: boot-builder\n  - action: fill-engine-disk\n    free: 0\n')));
    expect(c.steps.map((s) => [s.tool, s.action, s.free])).toEqual([
      ['action', 'fill-engine-disk', 16 << 20],
      ['action', 'boot-builder', undefined],
      ['action', 'fill-engine-disk', 0],
    ]);
    // the docker driver's builder is the engine: its disk is still the engine's
    expect(loadCase(caseDir(step('  - action: fill-engine-disk\n    free: 1GiB\n', 'docker'))).steps[0]?.free).toBe(1 << 30);
  });

  it.each<[string, string, RegExp]>([
    [
      'fill-engine-disk without free',
      '  - action: fill-engine-disk\n',
      /^case\.yaml:4: steps\[0\]\.action: fill-engine-disk needs free: SIZE, what the engine's disk keeps free \(e\.g\. free: 16MiB\)$/,
    ],
    ['free on another action', '  - action: kill-builder\n    free: 16MiB\n', /^case\.yaml:5: steps\[0\]\.free: applies to action: fill-engine-disk/],
    ['free on a command step', '  - buildx: [ls]\n    free: 16MiB\n', /steps\[0\]\.free: applies to action: fill-engine-disk/],
    [
      'free without a unit',
      '  - action: fill-engine-disk\n    free: 16\n',
      /^case\.yaml:5: steps\[0\]\.free: 16 is not a size: write a whole number with a binary unit, e\.g\. free: 16MiB/,
    ],
    ['free in decimal units', '  - action: fill-engine-disk\n    free: 16MB\n', /steps\[0\]\.free: "16MB" is not a size: .*\(KiB, MiB or GiB; at most 1GiB\)/],
    ['free above the bound', '  - action: fill-engine-disk\n    free: 2GiB\n', /steps\[0\]\.free: 2GiB is more than 1GiB: a disk with that much free is not full/],
    ['a negative free', '  - action: fill-engine-disk\n    free: -1MiB\n', /steps\[0\]\.free: "-1MiB" is not a size/],
    ['env on fill-engine-disk', '  - action: fill-engine-disk\n    free: 1MiB\n    env: {A: b}\n', /steps\[0\]\.env: does not apply to action: fill-engine-disk/],
  ])('refuses %s', (_name, yaml, want) => expect(usageError(caseDir(step(yaml)))).toMatch(want));

  it('refuses repeat: with fill-engine-disk, naming the CLI --repeat (a reset does not give the shrunk disk back)', () => {
    const fill = '  - {id: warm, docker: [version]}\n  - {id: fill, action: fill-engine-disk, free: 0}\n';
    expect(usageError(caseDir(`repeat: 3\n${step(fill)}`))).toMatch(
      /^case\.yaml:1: repeat: repeats the steps on the same engine, whose disk step fill \(fill-engine-disk\) leaves shrunk for the next run; drop repeat: and run `buildx-lab repro DIR --repeat 3` instead \(each run a cell of its own, on a fresh engine\)$/,
    );
    // one run, or repeats without the action, still load
    expect(loadCase(caseDir(`repeat: 1\n${step(fill)}`)).repeat).toBe(1);
    expect(loadCase(caseDir(`repeat: 3\n${step('  - docker: [version]\n')}`)).repeat).toBe(3);
  });

  it('refuses a fault action on the docker driver, whose builder is the engine itself', () => {
    expect(usageError(caseDir(step('  - action: restart-builder\n', '[docker-container, docker]')))).toMatch(
      /case\.yaml:4: steps\[0\]\.action: restart-builder needs a builder container; the docker driver builds in the engine itself: set driver: docker-container/,
    );
  });

  it("refuses SHELL in env: an interactive step's terminal runs the command with it", () => {
    expect(usageError(caseDir(`title: t\nenv: {SHELL: ./evil}\n${STEP.slice('title: t\n'.length)}`))).toMatch(/env\.SHELL: SHELL chooses the program/);
  });
});
