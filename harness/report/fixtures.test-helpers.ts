// Realistic CellResults for the report tests, modelled on the pull-stream and immutable-tags scenarios.
import type { Axes, CellResult, CommandRecord, JournalEntry, Outcome } from '../model.ts';
import type { ReportMeta } from './json.ts';

export const FAKE_SECRET = 's3cr3t-fake';
export const FAKE_AUTH = Buffer.from(`labuser:${FAKE_SECRET}`).toString('base64'); // bGFidXNlcjpzM2NyM3QtZmFrZQ==

const PULL = 'pull-stream-errors';
const BASE_AXES = { engine: '26.1.5', store: 'containerd', driver: 'docker', fault: 'corrupt' };

export function cellName(scenario: string, axes: Axes): string {
  return `${scenario} > ${Object.keys(axes)
    .sort()
    .map((k) => `${k}=${axes[k]}`)
    .join('/')}`;
}

export function command(argv: string[], exitCode: number, stderr = '', stdout = ''): CommandRecord {
  return { argv, exitCode, stdout, stderr, durationMs: 1234 };
}

export function journal(seq: number, over: Partial<JournalEntry> = {}): JournalEntry {
  return {
    seq,
    atMs: seq * 10,
    method: 'GET',
    path: '/v2/moby/buildkit/manifests/v0.17.1',
    repository: 'moby/buildkit',
    kind: 'manifests',
    reference: 'v0.17.1',
    status: 200,
    responseMediaType: 'application/vnd.oci.image.index.v1+json',
    userAgent: 'containerd/v1.7.20',
    requestBytes: 0,
    responseBytes: 1609,
    durationMs: 3,
    ...over,
  };
}

/** Text that would act on a reader's screen: bidi overrides and isolates (Trojan Source), marks, C1
 * controls (U+009B is a one-character CSI, U+0085 a line break), a bare ESC, CR and NUL. */
export const HOSTILE_TEXT = 'ok\u202Egnp.exe\u202C \u2066iso\u2069 \u200E\u200F\u061C c1\u0085\u009b2J esc\u001bc\u001b[2J cr\rnul\u0000 end';
/** Every character of HOSTILE_TEXT that must not reach a terminal, a Markdown summary or an HTML report as it is. */
export const HOSTILE_CHARS = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C\u0080-\u009F\u001b\r\u0000]/;

export function makeCell(over: Partial<CellResult> & { axes: Axes; outcome: Outcome }): CellResult {
  const scenario = over.scenario ?? PULL;
  return {
    scenario,
    name: cellName(scenario, over.axes),
    expected: over.outcome,
    expectedReason: 'declared for this version range',
    summary: `${over.outcome}`,
    evidence: { commands: [], journal: [], manifests: {}, facts: [] },
    timings: { startMs: 0, buildxMs: 4000, verifyMs: 500, totalMs: 4500 },
    startedAt: '2025-11-27T02:50:00.000Z',
    ...over,
  };
}

const buildArgv = (v: string) => [`/opt/buildx/${v}/docker-buildx`, 'build', '--push', '-t', 'registry:5000/lab/app:latest', '.'];

export function pullStreamCells(): CellResult[] {
  const reproduced = makeCell({
    axes: { ...BASE_AXES, buildx: 'v0.20.1' },
    outcome: 'reproduced',
    expectedReason: 'buildx < v0.21.0 lets the daemon pull the buildkit image and loses the stream error',
    summary: 'the pull error was replaced by "No such image"',
    evidence: {
      commands: [
        command(['docker', 'buildx', 'create', '--driver', 'docker-container', '--name', 'lab'], 0, '', 'lab\n'),
        command(
          buildArgv('v0.20.1'),
          1,
          '#1 [internal] booting buildkit\n#1 pulling image registry:5000/moby/buildkit:v0.17.1\n\u001b[31mERROR: Error response from daemon: No such image: registry:5000/moby/buildkit:v0.17.1\u001b[0m\n',
        ),
      ],
      journal: [journal(1), journal(2, { path: '/v2/moby/buildkit/blobs/sha256:4976aa', kind: 'blobs', status: 200, intervention: 'corrupt' })],
      manifests: { 'moby/buildkit:v0.17.1': { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] } },
      engineLog: 'level=error msg="Error pulling image" error="unexpected commit digest"\n',
      facts: ['1 corrupted blob response', 'last error: No such image'],
    },
  });
  const fixed = makeCell({
    axes: { ...BASE_AXES, buildx: 'v0.21.0' },
    outcome: 'fixed',
    summary: 'the stream error reached the user',
    evidence: {
      commands: [
        command(
          buildArgv('v0.21.0'),
          1,
          'ERROR: failed commit on ref "layer-sha256:4976aa5e": unexpected commit digest sha256:0000, expected sha256:4976aa5e: failed precondition\n',
        ),
      ],
      journal: [journal(1)],
      manifests: {},
      facts: ['last error: unexpected commit digest'],
    },
  });
  const unexpected = makeCell({
    axes: { ...BASE_AXES, buildx: 'v0.21.1' },
    expected: 'fixed',
    outcome: 'unexpected',
    summary: 'the build succeeded although the proxy corrupted a layer <script>alert(1)</script>',
    evidence: { commands: [command(buildArgv('v0.21.1'), 0, '#8 DONE 0.4s\n')], journal: [], manifests: {}, facts: ['0 errors'] },
  });
  const error = makeCell({
    axes: { ...BASE_AXES, buildx: 'v0.22.0' },
    expected: 'fixed',
    outcome: 'error',
    summary: 'the DinD engine died before the build',
    error: { kind: 'engine-start', message: 'dockerd exited with code 1\n--- last log lines ---\nfailed to start containerd' },
    evidence: {
      commands: [command(['dockerd', '--host', 'tcp://0.0.0.0:2375'], 1, 'failed to start containerd: timeout & <odd> "chars" \u0007\n')],
      journal: [],
      manifests: {},
      facts: [],
    },
  });
  const control = makeCell({
    axes: { ...BASE_AXES, fault: 'none', buildx: 'v0.20.1' },
    outcome: 'control',
    summary: 'without a fault the build succeeds',
  });
  return [reproduced, fixed, unexpected, error, control];
}

/** A second scenario with a repeated cell whose runs disagree, a skipped cell and a non-semver version. */
export function immutableTagCells(): CellResult[] {
  const scenario = 'immutable-tags-push';
  const axes = { engine: '27.5.1', store: 'classic', driver: 'docker-container', registry: 'immutable-tags' };
  return [
    makeCell({ scenario, axes: { ...axes, buildx: 'v0.19.3' }, outcome: 'reproduced', startedAt: '2025-11-27T02:51:00.000Z' }),
    makeCell({ scenario, axes: { ...axes, buildx: 'v0.19.3' }, expected: 'reproduced', outcome: 'fixed', startedAt: '2025-11-27T02:52:00.000Z' }),
    makeCell({ scenario, axes: { ...axes, buildx: 'master' }, expected: 'fixed', outcome: 'skipped', summary: 'go toolchain missing' }),
    makeCell({ scenario, axes: { ...axes, buildx: 'v0.9.1' }, outcome: 'reproduced' }),
  ];
}

/** A cell whose evidence carries the fake credential in every form the redactor promises to mask. */
export function secretCell(): CellResult {
  const config = JSON.stringify({ auths: { 'registry:5000': { auth: FAKE_AUTH, identitytoken: 'idtok-fake-123' } } }, null, 2);
  return makeCell({
    axes: { ...BASE_AXES, buildx: 'v0.21.0', fault: 'auth' },
    outcome: 'fixed',
    summary: `login worked for https://labuser:${FAKE_SECRET}@registry:5000/v2/`,
    evidence: {
      commands: [
        command(['docker', 'login', 'registry:5000', '-u', 'labuser', '--password', FAKE_SECRET], 0, '', 'Login Succeeded\n'),
        command(['sh', '-c', `docker login -u labuser --password ${FAKE_SECRET} registry:5000`], 0),
        command(['cat', '/root/.docker/config.json'], 0, '', config),
        command(['curl', '-H', `Authorization: Basic ${FAKE_AUTH}`, `https://labuser:${FAKE_SECRET}@registry:5000/v2/`], 22, `curl: (22) password=${FAKE_SECRET} rejected\n`),
      ],
      journal: [journal(1, { path: `/token?account=labuser&password=${FAKE_SECRET}`, kind: 'other', status: 401 })],
      manifests: { 'lab/app:latest': { annotations: { 'org.example.auth': `Basic ${FAKE_AUTH}` }, auth: FAKE_AUTH } },
      engineLog: `time="x" level=debug msg="Authorization: Bearer ${FAKE_AUTH}"\nlevel=debug msg="using ${FAKE_AUTH}"\n`,
      facts: [`auth=${FAKE_AUTH}`],
    },
  });
}

export const META: ReportMeta = {
  runId: 'run-20251127-0250',
  startedAt: '2025-11-27T02:50:00.000Z',
  finishedAt: '2025-11-27T02:59:00.000Z',
  host: { node: 'v20.20.2', engineVersion: '28.0.1' },
  argv: ['buildx-lab', 'test', '--repeat', '2'],
};

const d = (c: string) => `sha256:${c.repeat(64)}`;
/** A bake double push as the evidence shows it: BuildKit pushes the index, the engine pushes the tag again
 * (refused once by an immutable-tags registry), the lab's verifier reads it back and finds arm64 missing.
 * The tag, a log and an annotation carry markup, which the report must show as text. */
export function doublePushCell(): CellResult {
  const tag = 'v1<script>window.__pwned="tag"</script>';
  const repo = 'lab/bake/app';
  const req = (seq: number, atMs: number, over: Partial<JournalEntry>) => journal(seq, { atMs, repository: repo, durationMs: 40, responseMediaType: undefined, ...over });
  const BK = 'buildkit/v0.17.1';
  const DOCKER = 'docker/26.1.5 go/go1.22.5 git-commit/unknown kernel/6.1.0 os/linux arch/amd64';
  const entries: JournalEntry[] = [
    req(1, 0, { method: 'HEAD', path: `/v2/${repo}/blobs/${d('1')}`, kind: 'blobs', reference: d('1'), status: 404, userAgent: BK }),
    req(2, 60, { method: 'POST', path: `/v2/${repo}/blobs/uploads/`, kind: 'uploads', status: 202, userAgent: BK }),
    req(3, 120, { method: 'PUT', path: `/v2/${repo}/blobs/uploads/u1`, kind: 'uploads', status: 201, userAgent: BK, durationMs: 300 }),
    req(4, 500, { method: 'PUT', path: `/v2/${repo}/manifests/${d('a')}`, kind: 'manifests', reference: d('a'), status: 201, userAgent: BK }),
    req(5, 560, {
      method: 'PUT',
      path: `/v2/${repo}/manifests/${tag}`,
      kind: 'manifests',
      reference: tag,
      status: 201,
      userAgent: BK,
      requestMediaType: 'application/vnd.oci.image.index.v1+json',
    }),
    req(6, 900, { method: 'PUT', path: `/v2/${repo}/manifests/${tag}`, kind: 'manifests', reference: tag, status: 400, userAgent: DOCKER, intervention: 'immutable-tags' }),
    req(7, 980, {
      method: 'PUT',
      path: `/v2/${repo}/manifests/${tag}`,
      kind: 'manifests',
      reference: tag,
      status: 201,
      userAgent: DOCKER,
      requestMediaType: 'application/vnd.oci.image.manifest.v1+json',
    }),
    req(8, 1400, { method: 'GET', path: `/v2/${repo}/manifests/${tag}`, kind: 'manifests', reference: tag, status: 200, userAgent: 'buildx-lab-verify', client: '127.0.0.1' }),
    req(9, 1450, {
      method: 'GET',
      path: `/v2/${repo}/manifests/${d('a')}`,
      kind: 'manifests',
      reference: d('a'),
      status: 200,
      userAgent: 'buildx-lab-verify',
      client: '127.0.0.1',
    }),
    req(10, 1470, {
      method: 'GET',
      path: `/v2/${repo}/manifests/${d('b')}`,
      kind: 'manifests',
      reference: d('b'),
      status: 404,
      userAgent: 'buildx-lab-verify',
      client: '127.0.0.1',
    }),
  ];
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    annotations: { 'org.opencontainers.image.title': '<script>window.__pwned="annotation"</script>' },
    manifests: [
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d('a'), size: 500, platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d('b'), size: 500, platform: { os: 'linux', architecture: 'arm64' } },
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: d('c'),
        size: 300,
        platform: { os: 'unknown', architecture: 'unknown' },
        annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': d('a') },
      },
    ],
  };
  const image = (layers: number) => ({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { digest: d('f'), size: 10 },
    layers: Array.from({ length: layers }, () => ({ digest: d('e'), size: 1 })),
  });
  const progress = Array.from({ length: 200 }, (_, i) => `#${i + 3} [stage ${i}] RUN step ${i}\n#${i + 3} DONE 0.${i % 10}s`).join('\n');
  return makeCell({
    scenario: 'bake-double-push',
    axes: { buildx: 'v0.21.1', engine: '26.1.5', store: 'containerd', driver: 'docker', registry: 'immutable-tags' },
    outcome: 'reproduced',
    summary: '2 PUTs to the tag: BuildKit, then the engine',
    evidence: {
      commands: [
        command(
          ['docker', 'buildx', 'bake', '--push', 'app'],
          1,
          `${progress}\nERROR: failed to push ${repo}:${tag}: tag is immutable <script>window.__pwned="log"</script>\n#999 pushing with docker`,
        ),
      ],
      journal: entries,
      manifests: { [d('9')]: index, [d('a')]: image(3), [d('c')]: { ...image(1), artifactType: 'application/vnd.in-toto+json' } },
      facts: ['2 PUTs to the tag: 1 index by buildkit, then 1 manifest by docker'],
    },
  });
}
