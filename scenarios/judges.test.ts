// Each scenario's judge over observations as real runs recorded them: the error lines, progress lines and
// registry PUTs below are copied from cells of the lab's own runs (Buildx v0.20.1/v0.21.1 pull-stream cells,
// v0.21.1/v0.22.0 bake cells on Docker 26.1.5 and 28.5.2), trimmed to what the judge reads. A judge that
// misreads one of them turns a table row red here, without an engine.
import { describe, expect, it } from 'vitest';
import type { CommandRecord, JournalEntry } from '../harness/model.ts';
import type { VerificationReport } from '../harness/oci/verify.ts';
import { analyzePush } from '../harness/registry/journal.ts';
import bake from './3070-bake-multiplatform-push.scenario.ts';
import pullStream from './49453-pull-stream-errors.scenario.ts';
import smoke from './smoke-multiplatform-push.scenario.ts';

const run = (exitCode: number, stderr: string, stdout = ''): CommandRecord => ({ argv: ['docker', 'buildx'], exitCode, stderr, stdout, durationMs: 1 });

const complete = (platforms: string[]): VerificationReport => ({ ref: 'registry:5000/lab/x:v1', ok: true, platforms, attestations: platforms.length, problems: [], manifests: {} });
const singleManifest: VerificationReport = {
  ref: 'registry:5000/lab/x:v1',
  ok: false,
  platforms: ['linux/amd64'],
  attestations: 0,
  problems: [{ code: 'not-an-index', where: 'registry:5000/lab/x:v1', detail: 'application/vnd.oci.image.manifest.v1+json' }],
  manifests: {},
};

// Recorded refusals: Buildx >= 0.13 and the older wording.
const REFUSED_NEW = run(
  1,
  'ERROR: Multi-platform build is not supported for the docker driver.\nSwitch to a different driver, or turn on the containerd image store, and try again.\n',
);
const REFUSED_OLD = run(
  1,
  'ERROR: multiple platforms feature is currently not supported for docker driver. Please switch to a different driver (eg. "docker buildx create --use")\n',
);

describe('smoke judge', () => {
  const axes = (store: 'containerd' | 'classic') => ({ buildx: 'v0.29.1-debian', engine: '26.1.5', store });
  it.each([
    ['classic, refused (new wording)', 'classic', { build: REFUSED_NEW }, 'control'],
    ['classic, refused (old wording)', 'classic', { build: REFUSED_OLD }, 'control'],
    ['classic, pushed anyway', 'classic', { build: run(0, '#6 DONE 0.4s\n') }, 'unexpected'],
    [
      'classic, failed for another reason',
      'classic',
      { build: run(1, 'ERROR: failed to solve: failed to push registry:5000/lab/x:v1: 500 Internal Server Error\n') },
      'unexpected',
    ],
    ['containerd, complete index', 'containerd', { build: run(0, '#6 DONE 0.4s\n'), registry: complete(['linux/amd64', 'linux/arm64']) }, 'control'],
    ['containerd, index incomplete', 'containerd', { build: run(0, '#6 DONE 0.4s\n'), registry: singleManifest }, 'unexpected'],
    ['containerd, refused', 'containerd', { build: REFUSED_NEW }, 'unexpected'],
  ] as const)('%s -> %s', (_name, store, observation, observed) => {
    const verdict = smoke.judge(observation, axes(store));
    expect(verdict.observed).toBe(observed);
    // what the report says of the cell, as a reader sees it (reviewed when written: scenarios/__snapshots__)
    expect(verdict.summary).toMatchSnapshot();
  });
});

describe('pull-stream judge', () => {
  const hit: JournalEntry = {
    seq: 31,
    atMs: 44100,
    client: '172.31.0.2',
    method: 'GET',
    path: '/v2/moby/buildkit/blobs/sha256:8fe3',
    kind: 'blobs',
    status: 200,
    requestBytes: 0,
    responseBytes: 1,
    durationMs: 1,
    intervention: 'corrupt',
  };
  const axes = (fault: 'none' | 'corrupt') => ({ buildx: '0.20.1', engine: '26.1.5', store: 'containerd', driver: 'docker-container', fault }) as const;
  // v0.20.1: the pull "succeeds", then the container create fails.
  const NO_SUCH = run(
    1,
    '#1 pulling image registry:5000/moby/buildkit:v0.17.1 5.9s done\n#1 creating container buildx_buildkit_ce74f032c0 0.0s done\n#1 ERROR: Error response from daemon: No such image: registry:5000/moby/buildkit:v0.17.1\n------\n > [internal] booting buildkit:\n------\nERROR: Error response from daemon: No such image: registry:5000/moby/buildkit:v0.17.1\n',
  );
  // v0.21.1: the pull stream's own error.
  const PULL_ERROR = run(
    1,
    ' > [internal] booting buildkit:\n------\nERROR: failed commit on ref "layer-sha256:8fe30e455969": commit failed: unexpected commit digest sha256:c53bdba0d653, expected sha256:8fe30e455969: failed precondition\n',
  );
  it.each([
    ['corrupt, "No such image"', 'corrupt', { failed: NO_SUCH, faultHits: [hit] }, 'reproduced'],
    ['corrupt, the pull error', 'corrupt', { failed: PULL_ERROR, faultHits: [hit] }, 'fixed'],
    ['corrupt, never hit (image cached)', 'corrupt', { failed: NO_SUCH, faultHits: [] }, 'unexpected'],
    ['corrupt, booted anyway', 'corrupt', { faultHits: [hit] }, 'unexpected'],
    ['no fault, booted and pushed', 'none', { faultHits: [], build: run(0, '#8 DONE 0.2s\n'), registry: complete(['linux/amd64']) }, 'control'],
    ['no fault, boot failed', 'none', { faultHits: [], failed: PULL_ERROR }, 'unexpected'],
    ['no fault, build failed', 'none', { faultHits: [], build: run(1, 'ERROR: failed to solve\n') }, 'unexpected'],
    ['no fault, incomplete push', 'none', { faultHits: [], build: run(0, ''), registry: singleManifest }, 'unexpected'],
  ] satisfies [string, 'none' | 'corrupt', Parameters<typeof pullStream.judge>[0], string][])('%s -> %s', (_name, fault, observation, observed) => {
    const verdict = pullStream.judge(observation, axes(fault));
    expect(verdict.observed).toBe(observed);
    // what the report says of the cell, as a reader sees it (reviewed when written: scenarios/__snapshots__)
    expect(verdict.summary).toMatchSnapshot();
  });
});

describe('bake judge', () => {
  const repo = 'lab/bake/c1/app';
  let seq = 0;
  const put = (reference: string, userAgent: string, index: boolean): JournalEntry => ({
    seq: ++seq,
    atMs: seq,
    client: '172.24.0.2',
    method: 'PUT',
    path: `/v2/${repo}/manifests/${reference}`,
    kind: 'manifests',
    repository: repo,
    reference,
    status: 201,
    requestMediaType: index ? 'application/vnd.oci.image.index.v1+json' : 'application/vnd.oci.image.manifest.v1+json',
    userAgent,
    requestBytes: 1,
    responseBytes: 0,
    durationMs: 1,
  });
  const BUILDKIT = 'buildkit/v0.13';
  const ENGINE = 'docker/26.1.5 go/go1.26.8 git-commit/unknown kernel/6.18.44 os/linux arch/amd64';
  const byBuildkit = [put('sha256:f6d7', BUILDKIT, false), put('sha256:c610', BUILDKIT, false), put('v1', BUILDKIT, true)];
  // Recorded on 26.1.5 before #3023: the engine's second push PUTs each manifest to the tag, then the index.
  const byEngineToo = [...byBuildkit, put('v1', ENGINE, false), put('v1', ENGINE, false), put('v1', ENGINE, true)];
  const BAKED = '#6 pushing manifest for registry:5000/lab/bake/c1/app:v1@sha256:1da9 0.1s done\n#6 DONE 0.4s\n';
  const SECOND_PUSH = `${BAKED}\n#7 pushing registry:5000/lab/bake/c1/app:v1 with docker\n#7 pushing layer f5fe4c99493b 0.3s done\n#7 DONE 0.4s\n`;
  const observe = (stderr: string, entries: JournalEntry[], registry?: VerificationReport, exitCode = 0) => ({
    push: run(exitCode, stderr),
    analysis: analyzePush(entries, repo, 'v1'),
    ...(registry ? { registry } : {}),
    secondPushInProgress: /pushing \S+ with docker/.test(stderr),
  });
  const axes = (over: Partial<{ engine: string; store: string; driver: string }> = {}) =>
    ({ buildx: '0.21.1', engine: '26.1.5', store: 'containerd', driver: 'docker', command: 'bake', registry: 'plain', ...over }) as Parameters<typeof bake.judge>[1];
  const full = complete(['linux/amd64', 'linux/arm64', 'linux/s390x']);
  it.each([
    ['26.1: the engine pushed again', axes(), observe(SECOND_PUSH, byEngineToo, singleManifest), 'reproduced'],
    ['28.5: progress shows the second push, no PUT', axes({ engine: '28.5.2' }), observe(SECOND_PUSH, byBuildkit, full), 'reproduced'],
    ['26.1: the second push made no PUT (not what 26.1 does)', axes(), observe(SECOND_PUSH, byBuildkit, full), 'unexpected'],
    ['28.5: the engine PUT to the tag (not what 28.5 does)', axes({ engine: '28.5.2' }), observe(SECOND_PUSH, byEngineToo, full), 'unexpected'],
    ['after #3023: one index PUT by BuildKit', axes(), observe(BAKED, byBuildkit, full), 'fixed'],
    ['after #3023, but the tag is incomplete', axes(), observe(BAKED, byBuildkit, singleManifest), 'unexpected'],
    ['bake failed', axes(), observe('ERROR: failed to solve\n', [], undefined, 1), 'unexpected'],
    ['docker-container: BuildKit pushed once', axes({ driver: 'docker-container' }), observe(BAKED, byBuildkit, full), 'control'],
    ['docker-container: two clients PUT', axes({ driver: 'docker-container' }), observe(BAKED, byEngineToo, full), 'unexpected'],
    ['classic store: refused', axes({ store: 'classic' }), observe(REFUSED_NEW.stderr, [], undefined, 1), 'control'],
    ['classic store: pushed', axes({ store: 'classic' }), observe(BAKED, byBuildkit, full), 'unexpected'],
  ] as const)('%s -> %s', (_name, cellAxes, observation, observed) => {
    const verdict = bake.judge(observation, cellAxes);
    expect(verdict.observed).toBe(observed);
    // what the report says of the cell, as a reader sees it (reviewed when written: scenarios/__snapshots__)
    expect(verdict.summary).toMatchSnapshot();
  });
});
