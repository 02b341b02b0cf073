// ${s3} against real parts: versitygw built from the Go module proxy behind the lab's front, a real Buildx
// (v0.11.0) driving a docker-container builder (BuildKit v0.17.1) in a real DinD engine, `--cache-to` and
// `--cache-from type=s3`. The checks count the server's own journal, so a cache that never reached the
// server (a local cache, a wrong endpoint) fails; a write to another bucket must be refused by the front;
// the run's secret must be in the raw evidence and in no redacted one.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labConfig } from '../config.ts';
import { ensureGoTool } from '../provision/go-tool.ts';
import { redactDeep } from '../redact/redact.ts';
import { loadCase } from '../repro/case.ts';
import { caseScenario } from '../repro/scenario.ts';
import { startTestLab, type TestLab } from '../runner/lab.test-helpers.ts';
import { expandScenario } from '../runner/scenario.ts';
import { VERSITYGW } from './s3-server.ts';

const S3 = 'endpoint_url=${s3},bucket=${s3Bucket},region=${s3Region},access_key_id=${s3AccessKeyId},secret_access_key=${s3SecretAccessKey},use_path_style=true';
const CASE = `title: type=s3 cache through the lab's S3 endpoint
versions: ["0.11.0"]
driver: docker-container
buildkit: v0.17.1
serve: {s3: true}
steps:
  - id: export
    buildx: [build, --cache-to, "type=s3,${S3},mode=max", .]
  - id: prune
    buildx: [prune, -af]
  - id: import
    buildx: [build, --cache-from, "type=s3,${S3}", .]
  - id: other
    buildx: [build, --no-cache, --cache-to, "type=s3,${S3.replace('${s3Bucket}', 'lab-someone-else-1')}", .]
symptom:
  - exitCode: zero
    step: export
  - exitCode: zero
    step: import
  - output: "#\\\\d+ CACHED"
    step: import
  - exitCode: nonzero
    step: other
  - output: "StatusCode: 403"
    step: other
  - requests: {server: s3, method: PUT, status: "200", reference: "blobs/sha256:[0-9a-f]{64}", count: ">=1"}
  - requests: {server: s3, method: PUT, status: "200", reference: "manifests/.*", count: ">=1"}
  - requests: {server: s3, method: GET, status: "200", count: ">=1"}
  - requests: {server: s3, status: "403", count: ">=1"}
`;

let t: TestLab;
let dir = '';
const planned = () => {
  const s = caseScenario(loadCase(dir));
  return { s, ...expandScenario(s, { matrix: 'full', filters: {}, repeat: 1, source: { kind: 'case', dir, trust: 'user' } }) };
};

describe('${s3}: the lab serves a real S3 endpoint', () => {
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'bxl-s3-'));
    writeFileSync(path.join(dir, 'case.yaml'), CASE);
    // a layer of the cell's own, so every cell exports a blob no other cell has
    writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY cell-id.txt /\n');
    const t0 = Date.now();
    const bin = await ensureGoTool(labConfig(), VERSITYGW, (line) => console.log(line));
    console.log(
      `versitygw ${VERSITYGW.version}: ${bin.built ? `built in ${bin.built.durationMs} ms (compile ${bin.built.compileMs} ms)` : 'cached'}, ready in ${Date.now() - t0} ms`,
    );
    t = await startTestLab('itgs3', Object.values(planned().requirements));
  }, 60 * 60_000);
  afterAll(async () => {
    await t?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('exports and imports a cache through it, journaled per cell, and refuses another bucket; the secret stays out of reports', async () => {
    const { s, cells } = planned();
    const r = await t.run(s, cells[0]!);
    const why = `${r.summary}\n${r.error?.message ?? ''}\n${r.evidence.commands.map((c) => `${c.argv.join(' ')}\n${c.stderr.slice(-1500)}`).join('\n')}`;
    expect(r.outcome, why).toBe('reproduced');
    const s3 = r.evidence.journal.filter((e) => e.kind === 's3');
    // every S3 request of the cell came from its own engine, to its own bucket (or was refused)
    const bucket = /s3 bucket (lab-c[0-9a-f]{8}-1)/.exec(r.evidence.facts.join('\n'))?.[1];
    expect(bucket, r.evidence.facts.join('\n')).toBeDefined();
    for (const e of s3) expect(e.status === 403 || e.repository === bucket, JSON.stringify(e)).toBe(true);
    expect(s3.filter((e) => e.status === 403).every((e) => e.intervention === 'refused-AccessDenied')).toBe(true);
    // the secret reached the steps (it is in the raw argv), and redaction takes it out of everything written
    const raw = JSON.stringify(r);
    expect(raw).toMatch(/buildx-lab-secret-[0-9a-f]{40}/);
    expect(JSON.stringify(redactDeep(r))).not.toMatch(/buildx-lab-secret-[0-9a-f]{8}/);
  });
});
