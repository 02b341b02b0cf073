// The kit against real parts: builders of every kind booted by real Buildx in a real DinD engine, pushing
// to the real registry; steps with lab values; every kind of check; a Git context; repeat; pipes between
// steps (stdout:, stdin:) and checks on Buildx's own state.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeclaredOutcome } from '../model.ts';
import { UsageError } from '../errors.ts';
import { loadCase } from '../repro/case.ts';
import { caseScenario } from '../repro/scenario.ts';
import { BUILDKIT_17, ENGINE_26, SID_BUILDX, probeScenario, startTestLab, type TestLab } from '../runner/lab.test-helpers.ts';
import type { BuilderSpec } from './builders.ts';

let t: TestLab;
const CELL = { buildx: 'v0.29.1-debian', engine: '26.1.5', store: 'containerd' };
const PLATFORMS = ['linux/amd64', 'linux/arm64'];

/** Boots `spec`, builds and pushes two platforms with it, and reads the registry back. */
const boots = (spec: BuilderSpec) =>
  probeScenario(
    `itg-builder-${spec.driver}`,
    async (cell) => {
      const builder = await cell.bootBuilder(spec);
      if (builder.failed) return { failed: `${builder.failed.argv.join(' ')}: ${builder.failed.stderr}` };
      const dir = await cell.context('multiplatform-scratch');
      const target = cell.target();
      const push = await cell.buildx(['build', ...builder.args, '--platform', PLATFORMS.join(','), '--push', '-t', target.ref, dir]);
      const ls = await cell.buildx(['inspect', ...(builder.args.length ? [builder.name] : [])]);
      const report = push.exitCode === 0 ? await cell.verify(target, PLATFORMS) : undefined;
      return { failed: push.exitCode ? push.stderr : undefined, ok: report?.ok, platforms: report?.platforms, inspect: ls.stdout };
    },
    (o) => ({ observed: o.ok ? 'control' : 'unexpected', summary: JSON.stringify(o).slice(0, 2000) }),
  );

// One lab for the whole file: both groups below use it.
beforeAll(async () => {
  t = await startTestLab('itgkit', [SID_BUILDX, ENGINE_26, BUILDKIT_17]);
}, 60 * 60_000);
afterAll(async () => {
  await t?.close();
});

describe('builders of every kind', () => {
  it.each<[string, BuilderSpec]>([
    ['docker-container', { driver: 'docker-container' }],
    ['remote over TCP', { driver: 'remote', remote: { transport: 'tcp' } }],
    ['remote over a unix socket', { driver: 'remote', remote: { transport: 'unix' } }],
    ['remote over TCP with TLS', { driver: 'remote', remote: { transport: 'tcp', tls: true } }],
    ['multi-node (one node per platform)', { driver: 'docker-container', nodes: [{ platforms: ['linux/amd64'] }, { platforms: ['linux/arm64'] }] }],
  ])('%s: boots, builds two platforms, pushes a complete index', async (_name, spec) => {
    const r = await t.cell(boots(spec), CELL);
    expect(r.outcome, `${r.summary}\n${r.error?.message ?? ''}`).toBe('control');
    if (spec.nodes) expect(r.summary).toMatch(/Platforms:\s+linux\/amd64[\s\S]*Platforms:\s+linux\/arm64/);
    if (spec.remote?.tls) expect(r.evidence.commands.some((c) => c.argv.join(' ').includes('cacert='))).toBe(true);
  });
});

/** A case directory written for the test; removed afterwards. */
function caseDir(yaml: string, files: Record<string, string | Buffer> = {}): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'bxl-kit-case-'));
  const all = { 'case.yaml': yaml, Dockerfile: 'FROM scratch\nCOPY hello.txt cell-id.txt /\n', 'hello.txt': 'hi from a case\n', ...files };
  for (const [name, text] of Object.entries(all)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

/** Runs a case in one cell, declared present (`reproduced`) unless said otherwise. */
async function runCase(yaml: string, files?: Record<string, string | Buffer>, expected: DeclaredOutcome = 'reproduced') {
  const dir = caseDir(yaml, files);
  try {
    const c = loadCase(dir);
    return await t.cell(caseScenario(c), { ...CELL, driver: c.driver[0]!, registry: c.registry[0]! }, expected);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('steps and checks against real parts', () => {
  it('runs buildx and docker steps in order, with lab values and a file an earlier step wrote', async () => {
    const r = await runCase(`title: load then inspect by the iidfile
steps:
  - id: build
    buildx: [build, --load, -t, "app-\${cell}", --iidfile, iid.txt, --metadata-file, md.json, .]
  - id: inspect
    docker: [image, inspect, --format, "{{.Id}}", "app-\${cell}"]
symptom:
  - exitCode: zero
  - file: {path: md.json, contains: "image.name"}
  - image: {ref: "app-\${cell}", exists: true, platforms: [linux/amd64]}
  - output: "sha256:[0-9a-f]{64}"
    step: inspect
  - notOutput: "ERROR"
`);
    expect(r.summary, r.error?.message).toMatch(/^symptom PRESENT/);
    // the steps in order (the image check's own inspections follow them)
    expect(r.evidence.commands.map((c) => c.argv.slice(0, 3).join(' ')).slice(0, 2)).toEqual(['docker buildx build', 'docker image inspect']);
  });

  it('reads the registry and the requests it saw', async () => {
    const r = await runCase(`title: push two platforms and count tag writes
steps:
  - buildx: [build, --platform, "linux/amd64,linux/arm64", --push, -t, "\${target}", .]
symptom:
  - registry: {ref: "\${target}", index: true, platforms: [linux/amd64, linux/arm64], complete: true, attestations: true}
  - requests: {method: PUT, on: manifests, reference: "\${tag}", count: 1}
  - requests: {method: PUT, on: uploads, count: ">=1"}
`);
    expect(r.summary, r.error?.message).toMatch(/^symptom PRESENT/);
  });

  it('says absent, with what it saw, when a check does not hold', async () => {
    const r = await runCase(
      `title: a local output that holds something else
steps:
  - buildx: [build, --output, "type=local,dest=out", .]
symptom:
  - file: {path: out/hello.txt, contains: "not this"}
`,
      undefined,
      'fixed',
    );
    expect(r.outcome).toBe('fixed');
    expect(r.summary).toMatch(/^symptom ABSENT \(out\/hello\.txt: does not hold "not this"\)/);
  });

  it('makes the context a Git repository, places env and config files', async () => {
    const r = await runCase(
      `title: git context and the client's config
git: true
env: {BUILDX_GIT_LABELS: full}
config: {dockerConfig: config.json}
steps:
  - buildx: [build, --load, -t, "git-\${cell}", .]
  - docker: [image, inspect, --format, "{{json .Config.Labels}}", "git-\${cell}"]
symptom:
  - output: "org.opencontainers.image.revision"
    step: "2"
`,
      { 'config.json': '{"auths":{}}' },
    );
    expect(r.summary, r.error?.message).toMatch(/^symptom PRESENT/);
    expect(r.evidence.facts.some((f) => /context is a Git repository at [0-9a-f]{12}/.test(f))).toBe(true);
  });

  it('repeats a case and applies the verdict rule, keeping each run', async () => {
    const r = await runCase(`title: repeat
repeat: 3
verdict: majority
steps:
  - buildx: [version]
symptom: {output: "github.com/docker/buildx"}
`);
    expect(r.summary).toMatch(/^symptom PRESENT \(3 of 3 run\(s\) showed it \(majority\)/);
    expect(r.evidence.commands.filter((c) => c.argv.includes('version'))).toHaveLength(3);
  });

  it('refuses a hostile case before anything runs', () => {
    const dir = caseDir('title: t\nsteps: [{docker: [run, --pid=host, x]}]\nsymptom: {exitCode: zero}\n');
    try {
      expect(() => loadCase(dir)).toThrow(UsageError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('stdout:, stdin: and state checks with real Buildx', () => {
  it('pipes imagetools, bake and build through files and steps, reads history and BUILDX_CONFIG, and counts PUTs by digest and to the tag apart', async () => {
    const r = await runCase(
      `title: pipes and state
driver: docker-container
steps:
  - id: push
    buildx: [build, --platform, linux/amd64, --push, -t, "\${target:src}", .]
  - id: raw
    buildx: [imagetools, inspect, --raw, "\${target:src}"]
    stdout: raw/index.json
  - id: print
    buildx: [bake, --print, app]
  - id: reprint
    buildx: [bake, -f, "-", --print, app]
    stdin: {step: print}
  - id: fromfile
    buildx: [build, -f, "-", --output, "type=local,dest=alt", .]
    stdin: Dockerfile.alt
  - id: tar
    buildx: [build, -f, Dockerfile.all, --output, "type=tar,dest=-", .]
  - id: untar
    buildx: [build, --output, "type=local,dest=round", "-"]
    stdin: {step: tar}
  - id: inspect
    buildx: [history, inspect, --format, json]
    stdout: history.json
  - id: export
    buildx: [history, export]
    stdout: record.dockerbuild
  - id: extra
    buildx: [create, --name, "extra-\${cell}", --driver, docker-container, --driver-opt, "image=\${buildkitImage}"]
  - id: rm
    buildx: [rm, "extra-\${cell}"]
symptom:
  - file: {path: raw/index.json, json: {pointer: /mediaType, equals: application/vnd.oci.image.index.v1+json}}
  - file: {path: raw/index.json, json: {pointer: /manifests, count: 2}}
  - exitCode: zero
    step: reprint
  - output: '"app": \\{'
    step: reprint
  - file: {path: alt/alt.txt, contains: "hi"}
  - file: {path: history.json, json: {pointer: /Status, equals: completed}}
  - exitCode: zero
    step: untar
  - file: {path: round/hello.txt, contains: "hi"}
  - file: {path: record.dockerbuild, matches: "^\\x1f"}
  - state: {path: "instances/\${builder}", json: {pointer: /Driver, equals: docker-container}}
  - state: {path: "instances/\${builder}", json: {pointer: /Nodes, count: 1}}
  - state: {path: "instances/extra-\${cell}", exists: false}
  - state: {path: refs, directory: true}
  - state: {path: "refs/\${builder}", exists: true}
  # the one push: its image and attestation manifests by digest, then the index to the tag
  - requests: {method: PUT, on: manifests, reference: "sha256:[0-9a-f]{64}", count: 2}
  - requests: {method: PUT, on: manifests, reference: "\${tag}", count: 1}
`,
      {
        'docker-bake.hcl': 'target "app" {\n  context = "."\n}\n',
        'Dockerfile.alt': 'FROM scratch\nCOPY hello.txt /alt.txt\n',
        // the whole context as a tar on stdout, then that tar as the next build's context on stdin (its
        // Dockerfile copies hello.txt, which the tar holds after bin.dat): bytes
        // that are not UTF-8 would shift every tar header after them if the pipe read them as text
        'Dockerfile.all': 'FROM scratch\nCOPY . /\n',
        'bin.dat': Buffer.from([0xff, 0xfe, 0x00, 0x8b, 0xc3]),
      },
    );
    expect(r.summary, `${r.summary}\n${r.error?.message ?? ''}`).toMatch(/^symptom PRESENT/);
  });

  it('says absent when the state does not hold, naming what it found', async () => {
    const r = await runCase(
      `title: a builder that is there
driver: docker-container
steps:
  - buildx: [ls]
symptom:
  - state: {path: "instances/\${builder}", exists: false}
`,
      {},
      'fixed',
    );
    expect(r.outcome, r.error?.message).toBe('fixed');
    expect(r.summary).toMatch(/^symptom ABSENT \(state instances\/c[0-9a-z]+: present \(file\)\)/);
  });
});

/** A tar holding symlinks out of any directory it lands in: `ADD links.tar /` puts them in a local output. */
function linksTar(): Buffer {
  const dir = mkdtempSync(path.join(tmpdir(), 'bxl-links-'));
  try {
    symlinkSync('/etc/passwd', path.join(dir, 'passwd'));
    symlinkSync('/usr/local/bin', path.join(dir, 'bin'));
    return execFileSync('tar', ['-cf', '-', '-C', dir, 'passwd', 'bin']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('a case cannot reach out of its cell through symlinks or lab values', () => {
  // Step 1 exports two symlinks an earlier step may well write: links/passwd -> /etc/passwd, links/bin -> /usr/local/bin.
  const LINKS = { Dockerfile: 'FROM scratch\nADD links.tar /\n', 'links.tar': linksTar() };
  const WRITE_LINKS = '  - id: links\n    buildx: [build, --output, "type=local,dest=links", .]\n';

  it('refuses ${read:FILE} through a symlink to /etc/passwd', async () => {
    const r = await runCase(`title: read through a link\nsteps:\n${WRITE_LINKS}  - docker: [image, inspect, "\${read:links/passwd}"]\nsymptom: {exitCode: zero}\n`, LINKS);
    expect(r.outcome).toBe('error');
    expect(r.summary).toMatch(/\$\{read:links\/passwd\}: "links\/passwd" resolves to \/etc\/passwd, outside the cell's context/);
    expect(r.evidence.commands.some((c) => c.argv.includes('inspect'))).toBe(false);
  });

  it('refuses a file check through a symlink, and reads no symlink inside a directory', async () => {
    const r = await runCase(`title: check through a link\nsteps:\n${WRITE_LINKS}symptom:\n  - file: {path: links/passwd, contains: "root:"}\n`, LINKS);
    expect(r.outcome).toBe('error');
    expect(r.summary).toMatch(/"links\/passwd" resolves to \/etc\/passwd, outside the cell's context/);
    const dir = await runCase(`title: a directory holding a link\nsteps:\n${WRITE_LINKS}symptom:\n  - file: {path: links, contains: "root:"}\n`, LINKS, 'fixed');
    expect(dir.summary, dir.error?.message).toMatch(/^symptom ABSENT \(links: does not hold "root:"\)/);
  });

  it("refuses an output written through a symlink into the engine's binaries, before the step runs", async () => {
    const r = await runCase(
      `title: write through a link\nsteps:\n${WRITE_LINKS}  - id: over\n    buildx: [build, --output, "type=local,dest=links/bin", .]\nsymptom: {exitCode: zero}\n`,
      LINKS,
    );
    expect(r.outcome).toBe('error');
    expect(r.summary).toMatch(/step over: "links\/bin" resolves to \/usr\/local\/bin, outside the cell's context/);
    expect(r.evidence.commands.filter((c) => c.argv.includes('build'))).toHaveLength(1);
  });

  it("refuses a stdout: that an earlier step's symlink would send into the engine's binaries, before the step runs", async () => {
    const r = await runCase(
      `title: write stdout through a link\nsteps:\n${WRITE_LINKS}  - id: over\n    buildx: [version]\n    stdout: links/bin/docker\nsymptom: {exitCode: zero}\n`,
      LINKS,
    );
    expect(r.outcome).toBe('error');
    expect(r.summary).toMatch(/step over: stdout: links\/bin\/docker: "links\/bin\/docker" resolves to \/usr\/local\/bin\/docker, outside the cell's context/);
    expect(r.evidence.commands.some((c) => c.argv.includes('version'))).toBe(false);
  });

  it('refuses a flag that a ${read:FILE} brings into docker run, before it runs', async () => {
    const r = await runCase('title: smuggle\nsteps:\n  - id: run\n    docker: [run, "${read:flags.txt}", alpine]\nsymptom: {exitCode: zero}\n', { 'flags.txt': '--pid=host\n' });
    expect(r.outcome).toBe('error');
    expect(r.summary).toMatch(/step run: docker run --pid would reach the engine's host/);
    expect(r.evidence.commands.some((c) => c.argv.includes('run'))).toBe(false);
  });
});
