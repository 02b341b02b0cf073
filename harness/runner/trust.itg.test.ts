import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labConfig } from '../config.ts';
import { inspectEngine, probeEngine } from '../engine/host.ts';
import { RootlessEngine, ROOTLESS_UID_BASE } from '../engine/rootless.ts';
import { silentProgress } from '../progress.ts';
import { CLI, labDockerEnv, labResources } from './cli.test-helpers.ts';
import { FIXTURE_CASES } from './trust.ts';
import { hostCanaries, type HostCanaries } from '../engine/host-canaries.test-helpers.ts';

const SHIPPED = '2969-ls-json-duplicates';
let dir: string;
let canaries: HostCanaries;
let env: NodeJS.ProcessEnv;
let rootful = true;
/** the lab's rootless engine was running before: then it is left running after, else stopped (the host as it was) */
let rootlessWasRunning = false;

beforeAll(async () => {
  dir = realpathSync(mkdtempSync(path.join(tmpdir(), 'trust-itg-')));
  cpSync(path.join(FIXTURE_CASES, SHIPPED), path.join(dir, SHIPPED), { recursive: true });
  env = await labDockerEnv();
  rootful = !(await probeEngine(labConfig(), env.DOCKER_HOST!)).isolated;
  rootlessWasRunning = (await inspectEngine(labConfig(), new RootlessEngine(labConfig(), silentProgress).host)) !== undefined;
  canaries = await hostCanaries();
});
afterAll(async () => {
  if (!rootlessWasRunning) await new RootlessEngine(labConfig(), silentProgress).stop();
  canaries?.close();
  rmSync(dir, { recursive: true, force: true });
});

const repro = (caseDir: string, reportDir: string, extraEnv: NodeJS.ProcessEnv = {}) =>
  execa('node', [CLI, 'repro', caseDir, '--report-dir', reportDir], { env: { ...env, ...extraEnv }, reject: false, all: true, timeout: 30 * 60_000 });

/** The run id a report directory's run spec names. */
const runIdOf = (reportDir: string) => (JSON.parse(readFileSync(path.join(reportDir, 'run-spec.json'), 'utf8')) as { runId: string }).runId;

describe('an untrusted case, the user engine being rootful', () => {
  it(
    'runs on the lab rootless engine and gives the shipped case verdicts',
    async (t) => {
      if (!rootful) t.skip(`the engine at ${env.DOCKER_HOST} is isolated: the lab uses it as it is`);
      const reportDir = path.join(dir, 'report-run');
      const r = await repro(path.join(dir, SHIPPED), reportDir);
      expect(r.exitCode, r.all).toBe(0);
      expect(r.all).toMatch(/cells on the rootless engine unix:\/\/\S+, relayed from its network namespace/);
      expect(r.all).toMatch(/v0\.20\.1 +symptom PRESENT .*\(as declared\)/);
      expect(r.all).toMatch(/v0\.21\.1 +symptom ABSENT .*\(as declared\)/);
      const results = readFileSync(path.join(reportDir, 'results.json'), 'utf8');
      expect(results).toContain(`isolated (the lab's rootless engine`);
      expect(results).toContain(`is uid ${ROOTLESS_UID_BASE} on the host`);
      expect(await labResources(runIdOf(reportDir))).toBe(0);
    },
    30 * 60_000,
  );

  it(
    'contains root in a privileged container, beside a builder granted security.insecure: no host file, loopback, process or disk',
    async (t) => {
      if (!rootful) t.skip(`the engine at ${env.DOCKER_HOST} is isolated: the lab uses it as it is`);
      const caseDir = path.join(dir, 'hostile');
      mkdirSync(caseDir);
      // Each line is tagged with $T, so the checks tell what the attack printed from an echo of its script.
      const attack = [
        'T=@@',
        'echo "$T-caps $(grep CapEff /proc/self/status)"',
        `echo "$T-read $(cat ${canaries.dir}/secret 2>&1)"`,
        `(timeout 3 bash -c "echo > /dev/tcp/127.0.0.1/${canaries.port}" 2>/dev/null && echo "$T-loopback reached") || echo "$T-loopback unreachable"`,
        `echo "$T-host-process-seen $(grep -l "[${canaries.marker[0]}]${canaries.marker.slice(1)}" /proc/[0-9]*/cmdline 2>/dev/null | wc -l)"`,
        'for d in /sys/block/*/dev; do n=$(cat $d); mknod /tmp/blk b ${n%:*} ${n#*:} 2>/dev/null; mkdir -p /mnt/b; mount -o ro /tmp/blk /mnt/b 2>/dev/null && echo "$T-mounted $d" && ls /mnt/b; umount /mnt/b 2>/dev/null; rm -f /tmp/blk; done; echo "$T-mounts-tried"',
      ].join('; ');
      writeFileSync(path.join(caseDir, 'attack.sh'), `${attack}\n`);
      // The image to run it in: the lab's base, loaded into the DinD by a build (a step cannot pull by itself).
      writeFileSync(path.join(caseDir, 'Dockerfile'), 'ARG BASE\nFROM ${BASE}\nCOPY attack.sh /attack.sh\n');
      // A builder of its own with security.insecure granted, as entitlement bugs need (docker/buildx#2683: with
      // network=host, Buildx's own flag replaces a config's list, so the grant goes by flag).
      writeFileSync(path.join(caseDir, 'buildkitd.toml'), '[registry."registry:5000"]\n  http = true\n  insecure = true\n');
      writeFileSync(
        path.join(caseDir, 'case.yaml'),
        [
          'title: "hostile: root in a privileged container reaches for the host"',
          'versions: ["0.22.0"]',
          'driver: docker-container',
          'buildkit: [v0.17.1]',
          'steps:',
          '  - id: create',
          '    buildx: [create, --name, "hostile-${cell}", --driver, docker-container, --driver-opt, "image=${buildkitImage}", --driver-opt, network=host, --buildkitd-config, buildkitd.toml, --buildkitd-flags, "--allow-insecure-entitlement=security.insecure --allow-insecure-entitlement=network.host", --bootstrap]',
          '  - id: build',
          '    buildx: [build, --builder, "hostile-${cell}", --allow, security.insecure, --load, -t, "hostile:${cell}", --build-arg, "BASE=${base}", .]',
          '  - id: attack',
          '    docker: [run, --rm, --privileged, "hostile:${cell}", bash, /attack.sh]',
          'symptom:',
          '  - exitCode: zero',
          '    step: build',
          '  - exitCode: zero',
          '    step: attack',
          // present only when the container really was privileged and every attack was contained
          '  - output: "@@-caps CapEff:.000001ffffffffff"',
          '    step: attack',
          '  - output: "@@-loopback unreachable"',
          '    step: attack',
          '  - output: "@@-host-process-seen 0"',
          '    step: attack',
          '  - output: "@@-mounts-tried"',
          '    step: attack',
          '  - notOutput: "@@-mounted "',
          '  - notOutput: "@@-read [0-9a-f]{24}"',
          'expect: {"*": present}',
          '',
        ].join('\n'),
      );
      const reportDir = path.join(dir, 'report-hostile');
      const r = await repro(caseDir, reportDir);
      expect(r.exitCode, r.all).toBe(0);
      expect(r.all).toMatch(/symptom PRESENT .*\(as declared\)/);
      expect(r.all).not.toContain(canaries.secret);
      expect(readFileSync(path.join(reportDir, 'results.json'), 'utf8')).not.toContain(canaries.secret);
      expect(canaries.connections()).toBe(0);
      expect(canaries.process.exitCode).toBeNull();
      expect(readFileSync(path.join(canaries.dir, 'secret'), 'utf8')).toBe(canaries.secret);
      expect(readdirSync(canaries.dir)).toEqual(['secret']);
      expect(await labResources(runIdOf(reportDir))).toBe(0);
    },
    30 * 60_000,
  );

  it('is refused with exit 2 before provisioning when the rootless engine is ruled out, naming why and the fix', async (t) => {
    if (!rootful) t.skip(`the engine at ${env.DOCKER_HOST} is isolated (nothing to refuse)`);
    const reportDir = path.join(dir, 'report-refused');
    const t0 = Date.now();
    const r = await repro(path.join(dir, SHIPPED), reportDir, { BUILDX_LAB_ROOTLESS: '0' });
    expect(r.exitCode, r.all).toBe(2);
    expect(r.all).toMatch(new RegExp(`refusing to run the untrusted case ${path.join(dir, SHIPPED)}: it is not in this checkout's fixtures/cases`));
    expect(r.all).toMatch(/rootful engine \(docker info lists no name=rootless\).*; and the lab's rootless engine could not be had: BUILDX_LAB_ROOTLESS=0 says not to start it/);
    expect(r.all).toMatch(/root in the case would be root on this host/);
    expect(r.all).toMatch(/Fix: let the lab run it on its own rootless engine .* or read the case .* and pass --trust/);
    // Nothing was provisioned or started: no spec, no status, no cell, no run.
    expect(r.all).not.toMatch(/\brun r[0-9a-z]+: \d+ cells/);
    const left = existsSync(reportDir) ? readdirSync(reportDir) : [];
    expect(left.filter((f) => f !== '.buildx-lab-report')).toEqual([]);
    expect(Date.now() - t0).toBeLessThan(60_000);
  });
});
