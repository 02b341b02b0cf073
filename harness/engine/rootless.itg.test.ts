// The isolation boundary against this real machine. A hostile case at its worst is root in a privileged
// DinD, running a privileged container inside it (what `security.insecure` or `docker run --privileged`
// in a step gives). On the lab's rootless engine that container must not touch the host's canaries: a
// root-only file (even with its directory bind-mounted in, as a lab mount gone wrong would), a listener
// on the host's loopback, the host's process list, its block devices. The same attack on the rootful
// engine reads the file: the control that shows the test can fail.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childEnv, labConfig, withEngine, type LabConfig } from '../config.ts';
import { run } from '../exec.ts';
import { stderrProgress } from '../progress.ts';
import { Provisioner, type ImageResult } from '../runner/provision.ts';
import { requirementId, type Requirement } from '../runner/run-spec.ts';
import { HostEngine } from './host.ts';
import { labelsFor } from '../ownership/labels.ts';
import { hostCanaries, type HostCanaries } from './host-canaries.test-helpers.ts';
import { cgroupMounts, RootlessEngine, rootlessPidsMax, ROOTLESS_UID_BASE, rootlessPaths } from './rootless.ts';

const ENGINE_26: Requirement = { kind: 'engine-image', label: '26.1.5', spec: '26.1.5' };
const BASE: Requirement = { kind: 'image', id: 'engine-base' };
const runId = `itgroot${Date.now().toString(36)}`;
const labels = Object.entries(labelsFor(runId)).flatMap(([k, v]) => ['--label', `${k}=${v}`]);

let config: LabConfig;
let rootless: RootlessEngine;
let dindImage: string;
let baseImage: string;
let canaries: HostCanaries;
let rootlessHome: string;

const docker = (host: string, argv: string[], input?: Buffer) =>
  run(['docker', ...argv], { env: childEnv(config, { DOCKER_HOST: host }), timeoutMs: 300_000, ...(input ? { input } : {}) });

/** What the attacker runs as root in a privileged container inside the privileged DinD. */
const attack = (port: number) =>
  [
    'read -r inside outside count < /proc/self/uid_map; echo "uid_map: $inside $outside $count"',
    'echo "read: $(cat /canary/secret 2>&1)"',
    'touch /canary/written 2>/dev/null && echo "write: ok" || echo "write: refused"',
    `timeout 3 bash -c "echo > /dev/tcp/127.0.0.1/${port}" 2>/dev/null && echo "loopback: reached" || echo "loopback: unreachable"`,
    `ps -eo args | grep -c "[s]leep ${canaries.marker}" | sed "s/^/host process seen: /"`,
    // Every block device the kernel has, made and mounted: root on the host could read the host's disk.
    'for d in /sys/block/*/dev; do n=$(cat $d); mknod /tmp/blk b ${n%:*} ${n#*:} 2>/dev/null; mkdir -p /mnt/b; mount -o ro /tmp/blk /mnt/b 2>/dev/null && echo "mount: $d ok"; rm -f /tmp/blk; done; echo "mount: done"',
  ].join('; ');

/** Starts a privileged DinD on `host` with the canary directory bind-mounted, and runs the attack in a privileged container inside it. */
async function attackFrom(host: string): Promise<string> {
  const name = `${runId}-${host.includes('rootless') ? 'rootless' : 'rootful'}`;
  await docker(host, ['rm', '-f', name]);
  const started = await docker(host, [
    'run',
    '-d',
    '--name',
    name,
    ...labels,
    '--privileged',
    '--network',
    'none',
    '-v',
    `${canaries.dir}:/canary`,
    '--tmpfs',
    '/var/lib/docker:exec',
    '--tmpfs',
    '/var/lib/containerd:exec',
    dindImage,
    'dockerd',
    '--host=unix:///var/run/docker.sock',
  ]);
  expect(started.exitCode, started.stderr).toBe(0);
  try {
    for (let i = 0; i < 120; i++) {
      if ((await docker(host, ['exec', name, 'docker', 'version'])).exitCode === 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const load = await run(['sh', '-c', `docker -H ${config.dockerHost} save ${baseImage} | docker -H ${host} exec -i ${name} docker load -q`], {
      env: childEnv(config),
      timeoutMs: 300_000,
    });
    expect(load.exitCode, load.stderr).toBe(0);
    const r = await docker(host, ['exec', name, 'docker', 'run', '--rm', '--privileged', '-v', '/canary:/canary', baseImage, 'sh', '-c', attack(canaries.port)]);
    expect(r.exitCode, r.stderr).toBe(0);
    return r.stdout;
  } finally {
    await docker(host, ['rm', '-f', name]);
  }
}

beforeAll(async () => {
  const engine = await new HostEngine(labConfig(), stderrProgress).ensure();
  config = withEngine(labConfig(), engine.host);
  const reportDir = mkdtempSync(path.join(tmpdir(), 'bxl-rootless-'));
  const status = await new Provisioner(config, { reportDir, requirements: { [requirementId(ENGINE_26)]: ENGINE_26, [requirementId(BASE)]: BASE } }, stderrProgress).start().done;
  rmSync(reportDir, { recursive: true, force: true });
  const ready = (r: Requirement): string => {
    const e = status.requirements[requirementId(r)];
    if (e?.state !== 'ready') throw new Error(`${requirementId(r)} is not ready: ${e?.state === 'failed' ? e.reason : e?.state}`);
    return (e.result as unknown as ImageResult).ref;
  };
  dindImage = ready(ENGINE_26);
  baseImage = ready(BASE);

  canaries = await hostCanaries();

  rootlessHome = mkdtempSync('/var/tmp/bxl-rootless-home-');
  rootless = new RootlessEngine(config, stderrProgress, rootlessPaths(rootlessHome));
  await rootless.start();
  const load = await run(['sh', '-c', `docker -H ${config.dockerHost} save ${dindImage} ${baseImage} | docker -H ${rootless.host} load -q`], {
    env: childEnv(config),
    timeoutMs: 600_000,
  });
  expect(load.exitCode, load.stderr).toBe(0);
}, 90 * 60_000);

afterAll(async () => {
  await rootless?.uninstall();
  canaries?.close();
});

describe('the rootless engine', () => {
  it('says it is rootless', async () => {
    const info = await docker(rootless.host, ['info', '--format', '{{json .SecurityOptions}}']);
    expect(info.stdout).toContain('name=rootless');
  });

  it('contains root of a privileged container in a privileged DinD: no host file, loopback, process or disk', async () => {
    const out = await attackFrom(rootless.host);
    expect(out).toContain(`uid_map: 0 ${ROOTLESS_UID_BASE} 65536`);
    expect(out).not.toContain(canaries.secret);
    expect(out).toContain('write: refused');
    expect(existsSync(path.join(canaries.dir, 'written'))).toBe(false);
    expect(out).toContain('loopback: unreachable');
    expect(out).toContain('host process seen: 0');
    expect(out).not.toMatch(/mount: .* ok/);
    expect(out).toContain('mount: done');
    expect(canaries.connections()).toBe(0);
  });

  it('holds the namespace to its delegated cgroups: tasks it may move, limits it may not raise', () => {
    const pids = cgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8')).find((c) => existsSync(path.join(c, rootless.paths.cgroup, 'pids.max')));
    if (!pids) return;
    const dir = path.join(pids, rootless.paths.cgroup);
    expect(readFileSync(path.join(dir, 'pids.max'), 'utf8').trim()).toBe(String(rootlessPidsMax(Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8')))));
    expect(statSync(path.join(dir, 'pids.max')).uid).toBe(0);
    expect(statSync(path.join(dir, 'cgroup.procs')).uid).toBe(ROOTLESS_UID_BASE);
    expect(statSync(dir).uid).toBe(ROOTLESS_UID_BASE);
  });

  it('stop() signals only its own dockerd, whatever pid the namespace writes into its pid file', async () => {
    const real = readFileSync(rootless.paths.pidFile, 'utf8');
    writeFileSync(rootless.paths.pidFile, String(canaries.process.pid));
    try {
      expect(await rootless.stop(2_000)).toBe(false);
      expect(canaries.process.exitCode).toBeNull();
      expect(canaries.process.signalCode).toBeNull();
    } finally {
      writeFileSync(rootless.paths.pidFile, real);
    }
    expect((await docker(rootless.host, ['version', '--format', '{{.Server.Version}}'])).exitCode).toBe(0);
  });

  it('(control) the same attack on the rootful engine reads the root-only file', async () => {
    const out = await attackFrom(config.dockerHost);
    expect(out).toContain(`read: ${canaries.secret}`);
  });
});
