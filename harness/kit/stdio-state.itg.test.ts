// Pipes between steps and checks on Buildx's own state, against real parts: real Buildx in a real DinD
// engine with a docker-container builder pushing to the real registry. A step's stdout lands in the
// context byte for byte (a binary history export included), feeds a later step's stdin, and checks read
// BUILDX_CONFIG and JSON documents; a stdout that would be written through a symlink is refused.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeclaredOutcome } from '../model.ts';
import { loadCase } from '../repro/case.ts';
import { caseScenario } from '../repro/scenario.ts';
import { BUILDKIT_17, ENGINE_26, SID_BUILDX, startTestLab, type TestLab } from '../runner/lab.test-helpers.ts';

let t: TestLab;
const CELL = { buildx: 'v0.29.1-debian', engine: '26.1.5', store: 'containerd' };

beforeAll(async () => {
  t = await startTestLab('itgstdio', [SID_BUILDX, ENGINE_26, BUILDKIT_17]);
}, 60 * 60_000);
afterAll(async () => {
  await t?.close();
});

/** Runs a case written for the test in one cell, declared present unless said otherwise; removes its directory. */
async function runCase(yaml: string, files: Record<string, string | Buffer> = {}, expected: DeclaredOutcome = 'reproduced') {
  const dir = mkdtempSync(path.join(tmpdir(), 'bxl-stdio-case-'));
  const all = { 'case.yaml': yaml, Dockerfile: 'FROM scratch\nCOPY hello.txt cell-id.txt /\n', 'hello.txt': 'hi\n', ...files };
  try {
    for (const [name, text] of Object.entries(all)) {
      mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      writeFileSync(path.join(dir, name), text);
    }
    const c = loadCase(dir);
    return await t.cell(caseScenario(c), { ...CELL, driver: c.driver[0]!, registry: c.registry[0]! }, expected);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('stdout:, stdin: and state checks with real Buildx', () => {
  it('pipes imagetools, bake and build through files and steps, and reads history and BUILDX_CONFIG', async () => {
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

  it("refuses a stdout that an earlier step's symlink would send out of the context, before the step runs", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bxl-links-'));
    let tar: Buffer;
    try {
      symlinkSync('/usr/local/bin', path.join(dir, 'bin'));
      tar = execFileSync('tar', ['-cf', '-', '-C', dir, 'bin']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const r = await runCase(
      `title: write stdout through a link
steps:
  - id: links
    buildx: [build, --output, "type=local,dest=links", .]
  - id: over
    buildx: [version]
    stdout: links/bin/docker
symptom: {exitCode: zero}
`,
      { Dockerfile: 'FROM scratch\nADD links.tar /\n', 'links.tar': tar },
    );
    expect(r.outcome).toBe('error');
    expect(r.summary).toMatch(/step over: stdout: links\/bin\/docker: "links\/bin\/docker" resolves to \/usr\/local\/bin\/docker, outside the cell's context/);
    expect(r.evidence.commands.some((c) => c.argv.includes('version'))).toBe(false);
  });
});
