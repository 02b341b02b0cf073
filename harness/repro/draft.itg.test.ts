// `buildx-lab new --from` end to end: a bug report (docker/buildx#3478, written as a user files it, with
// the output Buildx v0.29.1 really prints) drafted into a case, checked, and run by `repro` on the real
// engine, where the drafted symptom shows.
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CLI, labDockerEnv, labResources } from '../runner/cli.test-helpers.ts';

const fence = '```';
const REPORT = `# \`--output type=tar\` fails when the destination's directory does not exist

### Description

\`type=local\` creates the directories it needs; \`type=tar\` does not.

### Reproduce

Dockerfile:

${fence}
FROM scratch
COPY Dockerfile /
${fence}

${fence}console
$ docker buildx version
github.com/docker/buildx v0.29.1 a1b2c3d
$ docker buildx ls
NAME/NODE     DRIVER/ENDPOINT   STATUS    BUILDKIT   PLATFORMS
default*      docker
 \\_ default    \\_ default       running   v0.13.2    linux/amd64
$ docker buildx build --output type=tar,dest=does/not/exist/result.tar . 2>&1 | tee build.log
$ docker buildx build --output type=tar,dest=does/not/exist/result.tar .
ERROR: failed to build: failed to open open does/not/exist/result.tar: no such file or directory
${fence}

Fixed by https://github.com/docker/buildx/pull/3478
`;

let dir: string;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  dir = realpathSync(mkdtempSync(path.join(tmpdir(), 'draft-itg-')));
  env = await labDockerEnv();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cli = (args: string[]) => execa('node', [CLI, ...args], { env, reject: false, all: true, timeout: 20 * 60_000 });

it(
  'drafts a case from a report that loads, and repro runs it with the symptom present',
  async () => {
    writeFileSync(path.join(dir, 'report.md'), REPORT);
    const caseDir = path.join(dir, '3478-drafted');
    const drafted = await cli(['new', caseDir, '--from', path.join(dir, 'report.md')]);
    expect(drafted.exitCode, drafted.all).toBe(0);
    const yaml = readFileSync(path.join(caseDir, 'case.yaml'), 'utf8');
    expect(yaml).toMatch(/# {3}- `docker buildx build .* \| tee build\.log` uses the shell operator (>&|\|)/);
    const check = await cli(['check', caseDir]);
    expect(check.exitCode, check.all).toBe(0);
    expect(check.all).toContain('3 step(s), 1 check(s); buildx 0.29.1; driver docker');
    // a case of the user's own, run on the lab's engine: the report is this test's
    const reportDir = path.join(dir, 'reports');
    const repro = await cli(['repro', caseDir, '--trust', '--report-dir', reportDir]);
    expect(repro.exitCode, repro.all).toBe(0);
    expect(repro.all).toMatch(/v0\.29\.1 +symptom PRESENT \(step build matched "failed to build: failed to open open/);
    const runId = (JSON.parse(readFileSync(path.join(reportDir, 'run-spec.json'), 'utf8')) as { runId: string }).runId;
    expect(await labResources(runId)).toBe(0);
  },
  20 * 60_000,
);
