// The kubernetes driver against real parts: the run's k3s node (built from the Go module proxy) on the lab
// network, real Buildx creating a kubernetes builder in the cell's namespace with the lab's BuildKit image
// (pulled by the node from the lab registry), and a build through the pod; a `kube:` check reading what the
// driver made in the cell's namespace.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageResult } from '../runner/provision.ts';
import type { Requirement } from '../runner/run-spec.ts';
import { BUILDKIT_17, ENGINE_26, probeScenario, startTestLab, type TestLab } from '../runner/lab.test-helpers.ts';

const BUILDX_20: Requirement = { kind: 'buildx', label: 'v0.20.1', spec: 'v0.20.1', version: 'v0.20.1', via: 'exact' };
const CELL = { buildx: 'v0.20.1', engine: '26.1.5', store: 'containerd' };

let t: TestLab;
beforeAll(async () => {
  t = await startTestLab('itgk8s', [BUILDX_20, ENGINE_26, BUILDKIT_17, { kind: 'image', id: 'k3s-node' }]);
}, 60 * 60_000);
afterAll(async () => {
  await t?.close();
});

/** Boots a kubernetes builder, builds the fixture into the cell, and asks the cluster what the driver made. */
const kubeBuild = probeScenario(
  'itg-kubernetes',
  async (cell) => {
    const builder = await cell.bootBuilder({ driver: 'kubernetes' });
    if (builder.failed) return { failed: `${builder.failed.argv.join(' ')}: ${builder.failed.stderr.slice(-2000)}` };
    const dir = await cell.context('multiplatform-scratch');
    const build = await cell.buildx(['build', ...builder.args, '--output', 'type=local,dest=out', dir]);
    const copied = await cell.sandbox.dind.exec(['cat', `${cell.sandbox.contextDir}/out/cell-id.txt`]);
    const cluster = await cell.lab.kubeCluster((await t.need<ImageResult>('image:k3s-node')).ref);
    const deployments = await cluster.kubectl(['get', 'deployments', '-n', cell.id, '-o', 'jsonpath={.items[*].metadata.name}']);
    const inspect = await cell.buildx(['inspect', builder.name]);
    return {
      id: cell.id,
      build: build.exitCode,
      stderr: build.exitCode ? build.stderr.slice(-2000) : '',
      cellId: copied.stdout.trim(),
      deployments: deployments.stdout.trim(),
      driver: /Driver:\s+(\S+)/.exec(inspect.stdout)?.[1],
      facts: cell.evidence.facts.filter((f) => f.startsWith('kubernetes:')),
    };
  },
  (o) => ({
    observed: 'build' in o && o.build === 0 && o.cellId === o.id && o.deployments === `${o.id}0` && o.driver === 'kubernetes' ? 'control' : 'unexpected',
    summary: JSON.stringify(o),
  }),
);

/** Boots a kubernetes builder and reads what the driver made through `kube:` checks (the cell's namespace, kubectl on the node). */
const kubeChecks = probeScenario(
  'itg-kubernetes-check',
  async (cell) => {
    const builder = await cell.bootBuilder({ driver: 'kubernetes' });
    if (builder.failed) return { failed: `${builder.failed.argv.join(' ')}: ${builder.failed.stderr.slice(-2000)}` };
    const node = `${builder.name}0`;
    const results = await cell.check(
      [
        { kind: 'kube', get: 'deployment', name: node, json: { pointer: '/spec/template/spec/containers/0/image', equals: builder.image! } },
        { kind: 'kube', get: 'deployment', name: node, json: { pointer: '/metadata/namespace', equals: cell.id } },
        { kind: 'kube', get: 'configmap', name: `${node}-config`, json: { pointer: '/data/buildkitd.toml', matches: 'registry:5000' } },
        { kind: 'kube', get: 'deployment', name: 'no-such-builder0', exists: false },
        { kind: 'kube', get: 'deployment', name: 'no-such-builder0' },
      ],
      [],
      cell.mark(),
    );
    return { image: builder.image, results };
  },
  (o) => ({
    observed: 'results' in o && o.results?.map((r) => r.holds).join() === 'true,true,true,true,false' ? 'control' : 'unexpected',
    summary: JSON.stringify(o),
  }),
);

describe('the kubernetes driver', () => {
  it("kube: reads the Deployment and ConfigMap the driver made in the cell's namespace, and says when one is absent", async () => {
    const r = await t.cell(kubeChecks, CELL);
    expect(r.outcome, `${r.summary}\n${r.error?.message ?? ''}`).toBe('control');
    expect(r.summary).toContain('deployment no-such-builder0: absent');
    expect(r.summary).toMatch(/configmap c[0-9a-z]+0-config: at \\"\/data\/buildkitd\.toml\\": /);
  });

  it("boots a builder on the run's k3s node in the cell's namespace and builds through it", async () => {
    const r = await t.cell(kubeBuild, CELL);
    expect(r.outcome, `${r.summary}\n${r.error?.message ?? ''}`).toBe('control');
    expect(r.summary).toMatch(/"facts":\["kubernetes: k3s v1\.35\.1\+k3s-lab .*, node \d+\.\d+\.\d+\.\d+ \(Ready in [\d.]+ s\), namespace c[0-9a-z]+"\]/);
    // the cell's commands got the cluster's kubeconfig, which the lab owns
    expect(r.evidence.commands.find((c) => c.argv.includes('create'))?.argv.join(' ')).toMatch(
      /--driver kubernetes --driver-opt image=registry:5000\/\S+ --driver-opt namespace=c[0-9a-z]+/,
    );
  });
});
