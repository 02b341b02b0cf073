// A remote builder behind the lab's HTTP/2 proxy, all real: Debian's nginx (grpc_pass) and BuildKit v0.17.1 in
// a real DinD engine, real Buildx releases building through it. Buildx v0.36.0 names the endpoint's host as
// :authority, so the proxy routes every call to BuildKit and the build (Solve, the session stream) goes
// through it; v0.20.1 sends `localhost` (docker/buildx#3880), which the proxy has no route for. Both are read
// from the proxy's own access log in the evidence, so a build that bypassed the proxy would fail the test.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CellResult } from '../model.ts';
import { loadCase } from '../repro/case.ts';
import { caseScenario } from '../repro/scenario.ts';
import { startTestLab, type TestLab } from '../runner/lab.test-helpers.ts';
import { expandScenario } from '../runner/scenario.ts';
import { describeProxyRequests, parseAccessLog } from './grpc-proxy.ts';

const CASE = `title: a build through the lab's HTTP/2 proxy
versions: ["0.20.1", "0.36.0"]
driver: remote
buildkit: v0.17.1
builder:
  remote: {transport: tcp, proxy: http2}
steps:
  - id: inspect
    buildx: [inspect]
  - id: build
    buildx: [build, .]
symptom:
  - exitCode: nonzero
    step: build
  - output: '404 \\(Not Found\\)'
    step: build
expect:
  "<0.36.0": present
  ">=0.36.0": absent
`;

let t: TestLab;
let dir = '';
const planned = () => {
  const s = caseScenario(loadCase(dir));
  return { s, ...expandScenario(s, { matrix: 'full', filters: {}, repeat: 1, source: { kind: 'case', dir, trust: 'user' } }) };
};
const accessLog = (r: CellResult) => parseAccessLog(r.evidence.commands.find((c) => c.argv.join(' ').includes('grpc-proxy/log/access.log'))?.stdout ?? '');
const why = (r: CellResult) =>
  `${r.summary}\n${r.error?.message ?? ''}\n${r.evidence.facts.join('\n')}\n${r.evidence.commands.map((c) => `${c.argv.join(' ')}\n${c.stderr.slice(-1500)}`).join('\n')}`;

describe("a remote builder behind the lab's HTTP/2 proxy (nginx grpc_pass)", () => {
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'bxl-h2-'));
    writeFileSync(path.join(dir, 'case.yaml'), CASE);
    writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY cell-id.txt /\n');
    t = await startTestLab('itgh2', Object.values(planned().requirements));
  }, 60 * 60_000);
  afterAll(async () => {
    await t?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('Buildx v0.36.0 builds through it: every call, Solve included, routed to BuildKit by its :authority', async () => {
    const { s, cells } = planned();
    const r = await t.run(s, cells.find((c) => c.axes.buildx === 'v0.36.0')!);
    expect(r.outcome, why(r)).toBe('fixed');
    // the endpoint Buildx knows is the proxy's port, not buildkitd's
    const proxyLine = /grpc proxy \(nginx, h2c, routes :authority 127\.0\.0\.1\) on 127\.0\.0\.1:(\d+) -> buildkitd 127\.0\.0\.1:(\d+): ready/.exec(r.evidence.facts.join('\n'));
    expect(proxyLine, why(r)).not.toBeNull();
    const inspect = r.evidence.commands.find((c) => c.argv.includes('inspect') && !c.argv.includes('--bootstrap'));
    expect(inspect?.stdout).toContain(`tcp://127.0.0.1:${proxyLine![1]}`);
    // both below Linux's ephemeral range, so no local connection's source port can take them first
    expect(Math.max(Number(proxyLine![1]), Number(proxyLine![2])), proxyLine![0]).toBeLessThan(32_768);
    const log = accessLog(r);
    expect(log.length, why(r)).toBeGreaterThan(0);
    // nginx routes on the host ($host); the evidence says what Buildx sent ($http_host): the endpoint's host and port
    expect(
      log.every((e) => e.authority === '127.0.0.1' && e.authorityRaw === `127.0.0.1:${proxyLine![1]}` && e.vhost === '127.0.0.1' && e.status === 200),
      JSON.stringify(log),
    ).toBe(true);
    expect(
      log.some((e) => e.path === '/moby.buildkit.v1.Control/Solve' && e.grpcStatus === '0'),
      JSON.stringify(log),
    ).toBe(true);
    expect(describeProxyRequests(log)).toEqual([
      expect.stringMatching(new RegExp(`^grpc proxy: \\d+ request\\(s\\) for :authority 127\\.0\\.0\\.1:${proxyLine![1]}, routed to BuildKit `)),
    ]);
    expect(r.evidence.facts).toEqual(expect.arrayContaining(describeProxyRequests(log)));
  });

  it('Buildx v0.20.1 sends :authority localhost, which the proxy has no route for: every call gets its 404', async () => {
    const { s, cells } = planned();
    const r = await t.run(s, cells.find((c) => c.axes.buildx === 'v0.20.1')!);
    expect(r.outcome, why(r)).toBe('reproduced');
    const log = accessLog(r);
    expect(log.length, why(r)).toBeGreaterThan(0);
    expect(
      log.every((e) => e.authority === 'localhost' && e.authorityRaw === 'localhost' && e.vhost === '_' && e.status === 404),
      JSON.stringify(log),
    ).toBe(true);
    expect(
      r.evidence.facts.some((f) => /^grpc proxy: \d+ request\(s\) for :authority localhost, no route \(404 x\d+\)$/.test(f)),
      why(r),
    ).toBe(true);
  });
});
