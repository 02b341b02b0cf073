// ${http} and ${git} against real parts: a case served by the lab's host-side servers, built by a real
// Buildx in a real DinD engine. Each check counts the server's own requests, so a build that did not go
// through the server (a cached context, a wrong URL) fails the test.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCase } from '../repro/case.ts';
import { caseScenario } from '../repro/scenario.ts';
import { ENGINE_26, SID_BUILDX, startTestLab, type TestLab } from '../runner/lab.test-helpers.ts';

let t: TestLab;
const dirs: string[] = [];
const CELL = { buildx: 'v0.29.1-debian', engine: '26.1.5', store: 'containerd', driver: 'docker', registry: 'plain' };

beforeAll(async () => {
  t = await startTestLab('itgserve', [SID_BUILDX, ENGINE_26]);
}, 60 * 60_000);
afterAll(async () => {
  await t?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Runs the case written from `files` (case.yaml among them) in one cell; the symptom must be present. */
async function present(files: Record<string, string>) {
  const dir = mkdtempSync(path.join(tmpdir(), 'bxl-serve-case-'));
  dirs.push(dir);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  }
  const r = await t.cell(caseScenario(loadCase(dir)), CELL, 'reproduced');
  expect(
    r.outcome,
    `${r.summary}\n${r.error?.message ?? ''}\n${r.evidence.commands.map((c) => `${c.argv.join(' ')}\n${c.stdout.slice(-800)}\n${c.stderr.slice(-1500)}`).join('\n')}`,
  ).toBe('reproduced');
  return r;
}

const SCRATCH_COPY = 'FROM scratch\nCOPY . /\n';

describe('the lab serves sources to the builds', () => {
  it('${git}: tags and branches behind a token given as a build secret; 401 without it', async () => {
    const r = await present({
      'case.yaml': `title: git context over the lab's Git server, with a token
serve:
  git:
    auth: {token: lab-token-1}
    repos:
      app:
        commits:
          - {tree: v1, tags: [v1]}
          - {tree: v2, tags: [{name: v2, message: second}], branches: [dev]}
steps:
  - id: tagged
    buildx: [build, --secret, "id=GIT_AUTH_TOKEN,env=GIT_AUTH_TOKEN", -o, out1, "\${git}/app.git#v1"]
  - id: branch
    buildx: [build, --secret, "id=GIT_AUTH_TOKEN,env=GIT_AUTH_TOKEN", -o, out2, "\${git}/app.git#dev"]
  - id: nosecret
    buildx: [build, -o, out3, "\${git}/app.git#v2"]
symptom:
  - {file: {path: out1/which.txt, contains: "one"}}
  - {file: {path: out2/which.txt, contains: "two"}}
  - {exitCode: nonzero, step: nosecret}
  - {output: "could not read Username|401|Authentication", step: nosecret}
  - {requests: {server: git, method: POST, path: "^/app\\\\.git/git-upload-pack$", status: "200", count: ">=2"}}
  - {requests: {server: git, status: "401", count: ">=1"}}
  - {requests: {method: PUT, count: 0}}
`,
      'v1/Dockerfile': SCRATCH_COPY,
      'v1/which.txt': 'one\n',
      'v2/Dockerfile': SCRATCH_COPY,
      'v2/which.txt': 'two\n',
    });
    expect(r.evidence.journal.filter((e) => e.kind === 'git').length).toBeGreaterThan(3);
    expect(r.evidence.facts.join('\n')).toMatch(/serving git http:\/\/[\d.]+:\d+ \(app\.git@[0-9a-f]{12}; http-backend as nobody/);
  });

  it('${git}: a bake definition from a repository with a submodule; an empty repository fails to build', async () => {
    await present({
      'case.yaml': `title: git context with a submodule
serve:
  git:
    repos:
      app: {commits: [{tree: app}], submodules: {lib: lib}}
      lib: {commits: [{tree: lib}]}
      empty: {}
steps:
  - id: bake
    buildx: [bake, --set, "*.output=type=local,dest=out", --allow, fs.write=out, "\${git}/app.git"]
  - id: empty
    buildx: [build, -o, out2, "\${git}/empty.git"]
symptom:
  - {file: {path: out/lib/lib.txt, contains: "from the submodule"}}
  - {exitCode: nonzero, step: empty}
  - {requests: {server: git, path: "^/lib\\\\.git/git-upload-pack$", status: "200", count: ">=1"}}
  - {requests: {server: git, path: "^/empty\\\\.git/", count: ">=1"}}
`,
      'app/Dockerfile': SCRATCH_COPY,
      'app/docker-bake.hcl': 'target "default" {\n  context = "."\n}\n',
      'lib/lib.txt': 'from the submodule\n',
    });
  });

  it('${http}: a tarball context, gzipped or not, and a truncated download fails', async () => {
    const r = await present({
      'case.yaml': `title: remote contexts over the lab's HTTP server
serve:
  http:
    files:
      /ctx.tar: {tar: remote}
      /ctx.tar.gz: {tar: remote, gzip: true}
      /broken.tar: {tar: other}
    faults:
      - {path: /broken.tar, kind: truncate, afterBytes: 700}
steps:
  - id: tar
    buildx: [build, -o, out1, "\${http}/ctx.tar"]
  - id: gzip
    buildx: [build, -o, out2, "\${http}/ctx.tar.gz"]
  - id: truncated
    buildx: [build, -o, out3, "\${http}/broken.tar"]
symptom:
  - {file: {path: out1/served.txt, contains: "from the http server"}}
  - {file: {path: out2/served.txt, contains: "from the http server"}}
  - {exitCode: nonzero, step: truncated}
  - {requests: {server: http, method: GET, path: "^/ctx\\\\.tar$", status: "200", count: ">=1"}}
  - {requests: {server: http, method: GET, path: "^/ctx\\\\.tar\\\\.gz$", count: ">=1"}}
  - {requests: {server: http, path: "^/broken\\\\.tar$", count: ">=1"}}
`,
      'remote/Dockerfile': SCRATCH_COPY,
      'remote/served.txt': 'from the http server\n',
      'other/Dockerfile': SCRATCH_COPY,
      'other/x.txt': 'x'.repeat(4000),
    });
    const truncated = r.evidence.journal.filter((e) => e.kind === 'http' && e.path === '/broken.tar');
    expect(truncated.every((e) => e.intervention === 'truncate')).toBe(true);
  });

  it('git: {uncommitted: [...]}: the local Git context is dirty, and Buildx says so in its revision label', async () => {
    const r = await present({
      'case.yaml': `title: a dirty local git context
git: {uncommitted: [notes.txt]}
env: {BUILDX_GIT_LABELS: full, BUILDX_GIT_CHECK_DIRTY: "1"}
steps:
  - buildx: [build, --load, -t, "dirty-\${cell}", .]
  - id: labels
    docker: [image, inspect, --format, "{{json .Config.Labels}}", "dirty-\${cell}"]
symptom:
  - {output: '"org.opencontainers.image.revision":"[0-9a-f]{40}-dirty"', step: labels}
`,
      Dockerfile: 'FROM scratch\nCOPY Dockerfile /\n',
      'notes.txt': 'not committed\n',
    });
    expect(r.evidence.facts.join('\n')).toMatch(/context is a Git repository at [0-9a-f]{12}, 1 file\(s\) left uncommitted \(dirty\)/);
  });
});
