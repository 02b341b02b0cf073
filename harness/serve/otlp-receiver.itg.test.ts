// ${otlp} against real parts: a real Buildx in a real DinD engine, with a docker-container builder running
// BuildKit v0.17.1, exports its trace to the lab's real OpenTelemetry Collector through the journaled front;
// the spans checks see the client's spans and buildkitd's, and a request for anything but POST /v1/traces
// is refused by the front (journaled, never forwarded).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCase } from '../repro/case.ts';
import { caseScenario } from '../repro/scenario.ts';
import { labConfig } from '../config.ts';
import { Journal } from '../registry/journal.ts';
import { BUILDKIT_17, ENGINE_26, SID_BUILDX, startTestLab, type TestLab } from '../runner/lab.test-helpers.ts';
import { MAX_EXPORT_BYTES, ensureCollector } from './otlp-collector.ts';
import { OtlpReceiver } from './otlp-receiver.ts';

let t: TestLab;
const dirs: string[] = [];

beforeAll(async () => {
  t = await startTestLab('itgotlp', [SID_BUILDX, ENGINE_26, BUILDKIT_17]);
}, 60 * 60_000);
afterAll(async () => {
  await t?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function runCase(yaml: string) {
  const dir = mkdtempSync(path.join(tmpdir(), 'bxl-otlp-case-'));
  dirs.push(dir);
  writeFileSync(path.join(dir, 'case.yaml'), yaml);
  writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /\n');
  writeFileSync(path.join(dir, 'hello.txt'), 'hi\n');
  const c = loadCase(dir);
  const r = await t.cell(
    caseScenario(c),
    { buildx: 'v0.29.1-debian', engine: '26.1.5', store: 'containerd', driver: c.driver[0]!, registry: 'plain', ...(c.buildkit[0] ? { buildkit: c.buildkit[0] } : {}) },
    'reproduced',
  );
  const why = `${r.summary}\n${r.error?.message ?? ''}\n${r.evidence.facts.join('\n')}\n${r.evidence.commands.map((x) => `${x.argv.join(' ')}\n${x.stderr.slice(-1500)}`).join('\n')}`;
  return { r, why };
}

describe("the lab's OTLP receiver", () => {
  it('gets the spans of Buildx and of a docker-container builder, per cell, and refuses everything but POST /v1/traces', async () => {
    const { r, why } = await runCase(`title: Buildx and BuildKit export their traces to the lab
driver: docker-container
buildkit: v0.17.1
traces: true
steps:
  - id: build
    buildx: [build, --build-arg, "TOKEN=secret-in-argv", -o, out, .]
  - id: probe
    buildx: [build, -o, out2, "\${otlp}/admin"]
symptom:
  - exitCode: zero
    step: build
  - spans: {service: "buildx", name: "^build", count: ">=1"}
  - spans: {service: "^buildkitd$", count: ">=1"}
  - requests: {server: otlp, method: POST, path: "^/v1/traces$", status: "200", count: ">=2"}
  - requests: {server: otlp, path: "^/admin$", status: "404", count: ">=1"}
`);
    expect(r.outcome, why).toBe('reproduced');
    expect(r.evidence.facts.join('\n')).toMatch(/traces: \d+ span\(s\) in \d+ export request\(s\) to the lab's OTLP receiver \(.*buildkitd \d+/);
    // the front journaled the probe and forwarded nothing of it
    expect(r.evidence.journal.filter((e) => e.kind === 'otlp' && e.path === '/admin').every((e) => e.status === 404 && e.intervention === 'refused')).toBe(true);
  });
});

describe('the OTLP receiver against a hostile exporter', () => {
  it(
    "attributes spans by the front's own seq (a sent header or resource attribute cannot claim another), bounds bodies, listens on no port",
    async () => {
      const journal = new Journal();
      const r = await OtlpReceiver.start(await ensureCollector(labConfig(), () => {}), journal, [{ host: '127.0.0.1', port: 0 }]);
      try {
        const spoof = { key: 'buildx_lab.request', value: { stringValue: '999' } };
        const body = JSON.stringify({
          resourceSpans: [
            { resource: { attributes: [spoof] }, scopeSpans: [{ spans: [{ traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', name: 'mine' }] }] },
          ],
        });
        const ok = await fetch(`${r.url}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-buildx-lab-request': '999' }, body });
        expect(ok.status).toBe(200);
        const big = await fetch(`${r.url}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: Buffer.alloc(MAX_EXPORT_BYTES + 1) });
        expect(big.status).toBe(413);
        const other = await fetch(`${r.url}/v1/logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
        expect(other.status).toBe(404);
        const [first] = journal.entries();
        expect(r.spansOf([first!.seq]).map((s) => s.name)).toEqual(['mine']);
        expect(r.spansOf([999])).toEqual([]);
        expect(journal.entries().map((e) => [e.path, e.status, e.intervention])).toEqual([
          ['/v1/traces', 200, undefined],
          ['/v1/traces', 413, 'refused'],
          ['/v1/logs', 404, 'refused'],
        ]);
        // the collector: a unix socket and no TCP listener; as nobody when the lab is root
        const ss = execFileSync('ss', ['-ltnpH']).toString();
        expect(ss).not.toMatch(/otelcol/);
        if (process.getuid?.() === 0) expect(execFileSync('ps', ['-o', 'user=', '-C', 'otelcol']).toString()).toMatch(/nobody/);
      } finally {
        await r.stop();
      }
    },
    15 * 60_000,
  );
});
