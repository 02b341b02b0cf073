// The online path, with stand-ins: an engine whose registry mirror holds docker:26.1.5-dind,
// moby/buildkit:v0.17.1 and registry:3 (stand-ins built here from the lab's own images, with the official
// entrypoints, TLS default, ports and volumes: images/stand-ins.test-helpers.ts) runs the lab's CLI as a user's
// would. The lab must take the official images (pulled, not built), and the case's cells must pass on them.
//
// The test engine is a DinD container of the lab's own engine image in the host's network namespace (so the
// lab's proxy, on its networks' gateways, is reachable as on any engine), iptables and forwarding off like
// the lab's engine, its socket in a directory of this test's, and the lab's cache and fixtures mounted at the
// same paths (the lab bind-mounts them into the containers it starts there). Everything is labelled with this
// test's run id, and removed at the end.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labConfig, withEngine, type LabConfig } from '../config.ts';
import { HostEngine } from '../engine/host.ts';
import { OFFICIAL_REGISTRY_CONFIG_PATH, REGISTRY_CONFIG_PATH } from '../images/catalog.ts';
import { STAND_IN_LABEL, buildStandIn, buildkitStandIn, dindStandIn, registryStandIn } from '../images/stand-ins.test-helpers.ts';
import { labelsFor, ROLE_LABEL } from '../ownership/labels.ts';
import { stderrProgress } from '../progress.ts';
import { Provisioner, type ImageResult } from '../runner/provision.ts';
import { readStatus } from '../runner/provision-status.ts';
import { requirementId, type Requirement } from '../runner/run-spec.ts';
import { BUILDKIT_17, ENGINE_26 } from '../runner/lab.test-helpers.ts';
import { CLI } from '../runner/cli.test-helpers.ts';

const root = new URL('../../', import.meta.url).pathname;
const CASE = path.join(root, 'fixtures/cases/2955-imagetools-create-tag-puts');
const REGISTRY: Requirement = { kind: 'image', id: 'registry' };
const runId = `official${Date.now().toString(36)}`;
const labels = Object.entries({ ...labelsFor(runId), [ROLE_LABEL]: 'official-images-test' }).flatMap(([k, v]) => ['--label', `${k}=${v}`]);

let config: LabConfig;
let work: string;
let testEngine: string;
const started: string[] = [];

const docker = (args: string[], host = config.dockerHost) => execa('docker', args, { env: { ...process.env, DOCKER_HOST: host }, all: true });

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

async function until(what: string, ok: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

beforeAll(async () => {
  config = withEngine(labConfig(), (await new HostEngine(labConfig(), stderrProgress).ensure()).host);
  work = mkdtempSync(path.join(tmpdir(), 'bxl-official-'));
  // the lab's own images, as a run provisions them on the lab's engine: the stand-ins' bases
  const reqs = [REGISTRY, ENGINE_26, BUILDKIT_17];
  const provisionDir = path.join(work, 'provision');
  mkdirSync(provisionDir);
  // (the lab's builds, never an official image the engine may hold: those are what the stand-ins stand in for)
  await new Provisioner(
    { ...config, preferOfficialImages: false },
    { reportDir: provisionDir, requirements: Object.fromEntries(reqs.map((r) => [requirementId(r), r])) },
    stderrProgress,
  ).start().done;
  const ref = (r: Requirement) => {
    const e = readStatus(provisionDir)?.requirements[requirementId(r)];
    if (e?.state !== 'ready') throw new Error(`${requirementId(r)} is not ready: ${JSON.stringify(e)}`);
    return e.result as unknown as ImageResult;
  };

  // the mirror: a registry on the host's loopback, its storage in this test's directory
  const port = await freePort();
  const mirror = `127.0.0.1:${port}`;
  const registry = ref(REGISTRY);
  mkdirSync(path.join(work, 'mirror'));
  writeFileSync(path.join(work, 'mirror.yml'), `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\nhttp:\n  addr: ${mirror}\n`);
  const configPath = registry.source.startsWith('official') ? OFFICIAL_REGISTRY_CONFIG_PATH : REGISTRY_CONFIG_PATH;
  const reg = await docker(['run', '-d', ...labels, '--network', 'host', '-v', `${work}/mirror.yml:${configPath}:ro`, '-v', `${work}/mirror:/var/lib/registry`, registry.ref]);
  started.push(reg.stdout.trim());
  await until('the mirror did not answer', async () => (await fetch(`http://${mirror}/v2/`).catch(() => undefined))?.ok === true, 30_000);

  // the stand-ins, pushed under the official names as Docker Hub's paths; never tagged officially here
  for (const s of [dindStandIn('26.1.5', ref(ENGINE_26).ref), buildkitStandIn('v0.17.1', ref(BUILDKIT_17).ref), registryStandIn(registry.ref)]) {
    const tag = await buildStandIn(config, s, mirror);
    await docker(['push', '--quiet', tag]);
    await docker(['image', 'rm', tag]);
  }

  // the test engine: DinD of the lab's engine image, configured with the mirror
  const sockDir = path.join(work, 'sock');
  mkdirSync(sockDir);
  mkdirSync(path.join(work, 'data'));
  testEngine = `unix://${sockDir}/docker.sock`;
  writeFileSync(
    path.join(work, 'daemon.json'),
    JSON.stringify({
      hosts: [testEngine],
      'registry-mirrors': [`http://${mirror}`],
      'insecure-registries': [mirror],
      iptables: false,
      ip6tables: false,
      'ip-forward': false,
      'ip-masq': false,
      bridge: 'none',
      // the last of the default /16s: far from where the lab's engine, in the same namespace, takes its own
      'default-address-pools': [{ base: '172.31.0.0/16', size: 24 }],
    }),
  );
  const engine = await docker([
    'run',
    '-d',
    ...labels,
    '--privileged',
    '--network',
    'host',
    '--cgroupns',
    'private',
    '-v',
    `${work}/daemon.json:/etc/docker/daemon.json:ro`,
    '-v',
    `${work}/data:/var/lib/docker`,
    '-v',
    `${sockDir}:${sockDir}`,
    '-v',
    `${config.cacheDir}:${config.cacheDir}`,
    '-v',
    `${root}fixtures:${root}fixtures:ro`,
    ref(ENGINE_26).ref,
    'dockerd',
    '--config-file=/etc/docker/daemon.json',
  ]); // prettier-ignore
  started.push(engine.stdout.trim());
  await until('the test engine did not answer', async () => (await docker(['version'], testEngine).catch(() => undefined))?.exitCode === 0, 60_000);
}, 40 * 60_000);

afterAll(async () => {
  if (started.length) await docker(['rm', '-f', '-v', ...started.reverse()]).catch(() => undefined);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('official images through a registry mirror (stand-ins)', () => {
  it('the lab pulls docker:<v>-dind, moby/buildkit and registry:3, says so per cell, and the cells pass on them', async () => {
    const reportDir = path.join(work, 'report');
    const r = await execa('node', [CLI, 'repro', CASE, '--buildx', '0.21.1,0.22.0', '--engine', '26.1.5', '--report-dir', reportDir], {
      env: { ...process.env, DOCKER_HOST: testEngine, BUILDX_LAB_OFFLINE: '0' },
      all: true,
      reject: false,
      timeout: 30 * 60_000,
    });
    expect(r.exitCode, r.all?.slice(-6000)).toBe(0);
    const status = readStatus(reportDir)!;
    const result = (id: string) => {
      const e = status.requirements[id];
      return e?.state === 'ready' ? (e.result as unknown as ImageResult) : e;
    };
    expect(result('engine:26.1.5')).toMatchObject({ ref: 'docker:26.1.5-dind', source: 'official-pulled' });
    expect(result('buildkit:v0.17.1')).toMatchObject({ ref: 'moby/buildkit:v0.17.1', source: 'official-pulled' });
    expect(result('image:registry')).toMatchObject({ ref: 'registry:3', source: 'official-pulled' });
    // what was pulled is the stand-in: the test proves the path, not Docker Hub's images
    for (const ref of ['docker:26.1.5-dind', 'moby/buildkit:v0.17.1', 'registry:3'])
      expect((await docker(['image', 'inspect', '--format', `{{index .Config.Labels "${STAND_IN_LABEL}"}}`, ref], testEngine)).stdout).toBe(ref);
    const json = JSON.parse(readFileSync(path.join(reportDir, 'results.json'), 'utf8')) as { results: { outcome: string; evidence: { facts: string[] } }[] };
    // as the case declares: the bug in v0.21.1, fixed in v0.22.0
    expect(json.results.map((c) => c.outcome).sort()).toEqual(['fixed', 'reproduced']);
    for (const c of json.results) {
      const facts = c.evidence.facts.join('\n');
      expect(facts).toMatch(/engine image docker:26\.1\.5-dind \(official image, pulled\)/);
      expect(facts).toMatch(/BuildKit image moby\/buildkit:v0\.17\.1 \(official image, pulled\)/);
      expect(facts).toMatch(/registry image registry:3 \(official image, pulled\)/);
      expect(facts).toMatch(/buildx v0\.2[12]\.\d+ \((release download|source build)/);
    }
    // and the HTML report shows it with each cell's evidence
    const page = readFileSync(path.join(reportDir, 'report.html'), 'utf8');
    expect(page.match(/<li>engine image docker:26\.1\.5-dind \(official image, pulled\)<\/li>/g)).toHaveLength(2);
    expect(page).toContain('<li>registry image registry:3 (official image, pulled)</li>');
  });

  it('the docker:<v>-dind stand-in, started as its documentation shows (no arguments), serves TLS on 2376 with the certificates it made', async () => {
    const c = (await docker(['run', '-d', '--privileged', '--network', 'none', 'docker:26.1.5-dind'], testEngine)).stdout.trim();
    try {
      await until('the stand-in did not listen on 2376', async () => /API listen on \[::\]:2376/.test((await docker(['logs', c], testEngine)).all ?? ''), 60_000);
      const client = ['--tlsverify', '--tlscacert', '/certs/client/ca.pem', '--tlscert', '/certs/client/cert.pem', '--tlskey', '/certs/client/key.pem'];
      const tls = await docker(['exec', c, 'docker', '-H', 'tcp://localhost:2376', ...client, 'version', '--format', '{{.Server.Version}}'], testEngine);
      expect(tls.stdout).toBe('26.1.5');
      // and nothing without a client certificate
      const plain = await docker(['exec', c, 'docker', '-H', 'tcp://127.0.0.1:2376', 'version'], testEngine).catch((e: { exitCode: number }) => e);
      expect(plain.exitCode).not.toBe(0);
    } finally {
      await docker(['rm', '-f', '-v', c], testEngine).catch(() => undefined);
    }
  });
});
