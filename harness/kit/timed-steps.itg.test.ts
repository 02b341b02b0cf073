// Steps in time against real parts: an interactive `buildx debug` shell driven through a pseudo-terminal in
// a real DinD engine, a background build stopped mid-step by a fault action on its docker-container
// builder, a background step ended by the lab when the steps end, Buildx run as a standalone binary, and
// the lab's builder booted as a step between others.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeclaredOutcome } from '../model.ts';
import { loadCase } from '../repro/case.ts';
import { caseScenario } from '../repro/scenario.ts';
import { BUILDKIT_17, ENGINE_26, SID_BUILDX, startTestLab, type TestLab } from '../runner/lab.test-helpers.ts';

let t: TestLab;
const CELL = { buildx: 'v0.29.1-debian', engine: '26.1.5', store: 'containerd' };
const DOCKERFILE = 'ARG BASE\nFROM ${BASE}\nCOPY hello.txt /hello.txt\nRUN echo built > /built.txt\n';
const SLOW = 'ARG BASE\nFROM ${BASE}\nRUN echo slow-step-started && sleep 60\n';

beforeAll(async () => {
  t = await startTestLab('itgtimed', [SID_BUILDX, ENGINE_26, BUILDKIT_17, { kind: 'image', id: 'case-base' }]);
}, 60 * 60_000);
afterAll(async () => {
  await t?.close();
});

async function runCase(yaml: string, expected: DeclaredOutcome = 'reproduced') {
  const dir = mkdtempSync(path.join(tmpdir(), 'bxl-timed-case-'));
  for (const [name, text] of Object.entries({ 'case.yaml': yaml, Dockerfile: DOCKERFILE, 'Dockerfile.slow': SLOW, 'hello.txt': 'hi from a case\n' })) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  try {
    const c = loadCase(dir);
    return await t.cell(caseScenario(c), { ...CELL, driver: c.driver[0]!, registry: c.registry[0]! }, expected);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const stepRecord = (r: Awaited<ReturnType<typeof runCase>>, argv0: string) => r.evidence.commands.find((c) => c.argv.slice(0, 3).join(' ') === argv0);

describe('interactive steps', () => {
  it('drives a buildx debug shell: waits for the prompt, types a command, sees its output on the screen', async () => {
    const r = await runCase(`title: a shell in the built container through buildx debug
driver: docker-container
env: {BUILDX_EXPERIMENTAL: "1"}
steps:
  - id: debug
    buildx: [debug, --invoke, /bin/sh, --on, always, build, --progress, plain, --build-arg, "BASE=\${base}", .]
    interact:
      - expect: "# $"
        timeout: 180
      - send: "cat /hello.txt /built.txt\\n"
      - expect: "built"
      - send: "exit\\n"
      - sendControl: d
    timeout: 300
symptom:
  - output: 'hi from a case\\s+built'
    step: debug
  - output: "cat /hello.txt"
    step: debug
`);
    const screen = stepRecord(r, 'docker buildx debug');
    expect(r.summary, `${r.error?.message ?? ''}\n${screen?.stdout}\n${screen?.stderr}\n${r.evidence.facts.join('\n')}`).toMatch(/^symptom PRESENT/);
    // the evidence is the rendered screen: no escape sequences, the typed command echoed where it was typed
    expect(screen?.stdout).not.toMatch(/\x1b\[/);
    expect(r.evidence.facts.join('\n')).toMatch(/interact\[2\] expect matched "built"/);
  });

  it('stops the script at an expect that never matches, keeps the screen, and ends the command', async () => {
    const r = await runCase(
      `title: a prompt that never comes
steps:
  - id: wait
    docker: [run, --rm, -i, "\${base}", sh, -c, "echo waiting; sleep 300"]
    interact:
      - expect: "waiting"
        timeout: 60
      - expect: "never printed"
        timeout: 2
      - send: "not typed\\n"
    timeout: 120
symptom:
  - output: "waiting"
    step: wait
  - notOutput: "not typed"
    step: wait
  - output: "interact.1.: the expect saw no match within 2 s; the script stopped there"
    step: wait
  - notOutput: "never printed"
    step: wait
  - exitCode: 137
    step: wait
`,
    );
    expect(r.summary, `${r.error?.message ?? ''}\n${r.evidence.facts.join('\n')}`).toMatch(/^symptom PRESENT/);
  });
});

describe('steps in time', () => {
  it("makes a node unreachable (its endpoint a closed port): Buildx's rm then stops at it (docker/buildx#3934, before v0.36.0)", async () => {
    const r = await runCase(
      readFileSync(new URL('../../fixtures/cases/3934-rm-unreachable-node-leaks/case.yaml', import.meta.url), 'utf8')
        .replace(/^versions:.*$/m, '')
        .replace(/^expect:[\s\S]*$/m, ''),
    );
    // v0.29.1 is before the fix: the reachable node's container outlives the builder
    expect(r.summary, `${r.error?.message ?? ''}\n${r.evidence.facts.join('\n')}`).toMatch(/^symptom PRESENT/);
    expect(r.evidence.facts.join('\n')).toMatch(/action unreachable-node: node c[0-9a-z]+0's endpoint \(docker context c[0-9a-z]+-n0\) is now tcp:\/\/127\.0\.0\.1:1, exit 0/);
    expect(stepRecord(r, 'docker buildx rm')?.stderr).toMatch(/Cannot connect to the Docker daemon at tcp:\/\/127\.0\.0\.1:1/);
  });

  it('removes a node of a multi-node builder as a user would (create --leave), and its container with it', async () => {
    const r = await runCase(`title: a node taken out of a two-node builder
driver: docker-container
builder:
  nodes: [{platforms: [linux/amd64]}, {platforms: [linux/amd64]}]
steps:
  - id: remove
    action: remove-node
  - id: inspect
    buildx: [inspect]
  - id: gone
    docker: [inspect, "buildx_buildkit_\${builder}1"]
  - id: kept
    docker: [inspect, "buildx_buildkit_\${builder}0"]
symptom:
  - exitCode: zero
    step: remove
  - output: "\${builder}0"
    step: inspect
  - notOutput: "\${builder}1"
    step: inspect
  - exitCode: nonzero
    step: gone
  - exitCode: zero
    step: kept
  - state: {path: "instances/\${builder}", json: {pointer: /Nodes, count: 1}}
`);
    expect(r.summary, `${r.error?.message ?? ''}\n${r.evidence.facts.join('\n')}`).toMatch(/^symptom PRESENT/);
    expect(r.evidence.facts.join('\n')).toMatch(/action remove-node: buildx create --leave --node c[0-9a-z]+1 exit 0; docker rm -f -v buildx_buildkit_c[0-9a-z]+1 exit 0/);
  });

  it('runs a build in the background, waits for its slow RUN, stops the builder under it, and awaits the build', async () => {
    const r = await runCase(`title: the builder stopped mid-build
driver: docker-container
steps:
  - id: slow
    buildx: [build, --progress, plain, --build-arg, "BASE=\${base}", -f, Dockerfile.slow, .]
    background: true
    waitFor: {pattern: "slow-step-started", timeout: 240}
    timeout: 600
  - id: stop
    action: stop-builder
  - await: slow
    timeout: 120
  - id: ls
    buildx: [ls]
symptom:
  - exitCode: zero
    step: stop
  - exitCode: nonzero
    step: slow
  - output: "slow-step-started"
    step: slow
  - output: "stopped|inactive"
    step: ls
`);
    expect(r.summary, `${r.error?.message ?? ''}\n${r.evidence.facts.join('\n')}`).toMatch(/^symptom PRESENT/);
    expect(r.evidence.commands.map((c) => c.argv.slice(0, 2).join(' '))).toContain('docker stop');
    expect(r.evidence.facts.join('\n')).toMatch(/step slow: waitFor matched "slow-step-started"[\s\S]*action stop-builder: docker stop buildx_buildkit_c[0-9a-f]+0 exit 0/);
  });

  it('ends a background step at its timeout and one still running when the steps end, and records them so; runs Buildx standalone', async () => {
    const r = await runCase(`title: a background step left running
steps:
  - id: sleeper
    docker: [run, --rm, "\${base}", sh, -c, "echo started; sleep 600"]
    background: true
    waitFor: started
  - id: short
    docker: [run, --rm, "\${base}", sleep, "600"]
    background: true
    timeout: 5
  - await: short
    timeout: 60
  - id: after
    buildx: [--help]
    standalone: true
symptom:
  - exitCode: 137
    step: sleeper
  - output: "still running when the steps ended: killed"
    step: sleeper
  - exitCode: 124
    step: short
  - output: "killed after 5000 ms timeout"
    step: short
  - output: '(?m)^\\s+buildx \\[command\\]'
    step: after
`);
    expect(r.summary, `${r.error?.message ?? ''}\n${r.evidence.facts.join('\n')}`).toMatch(/^symptom PRESENT/);
    // the standalone binary ran as `buildx`, not as the docker CLI's plugin
    expect(r.evidence.commands.some((c) => c.argv.join(' ') === 'buildx --help')).toBe(true);
  });

  it('says inconclusive when a waitFor never matches: the next step did not run when the case asked', async () => {
    const r = await runCase(
      `title: waitFor that never matches
steps:
  - id: quick
    buildx: [version]
    background: true
    waitFor: {pattern: "never printed", timeout: 5}
  - buildx: [ls]
symptom:
  - exitCode: zero
`,
      'reproduced',
    );
    expect(r.summary).toMatch(/symptom INCONCLUSIVE \(step quick: waitFor \/never printed\/ did not match before the step ended\)/);
  });

  it('boots the builder as a step: the steps before it run without it, the ones after it build on it and stop it', async () => {
    const r = await runCase(`title: the lab's builder boots as a step
driver: docker-container
steps:
  - id: before
    buildx: [ls]
  - id: boot
    action: boot-builder
  - id: build
    buildx: [build, --build-arg, "BASE=\${base}", .]
  - id: stop
    action: stop-builder
symptom:
  - notOutput: "docker-container"
    step: before
  - exitCode: zero
    step: boot
  - output: "inspect --bootstrap|Booting builder|buildkitd"
    step: boot
  - exitCode: zero
    step: build
  - exitCode: zero
    step: stop
`);
    expect(r.summary, `${r.error?.message ?? ''}\n${r.evidence.facts.join('\n')}`).toMatch(/^symptom PRESENT/);
    // the boot pulled the lab's BuildKit image afresh, through the registry, with no fault on it
    expect(r.evidence.facts).toContain('fault: none');
  });
});
