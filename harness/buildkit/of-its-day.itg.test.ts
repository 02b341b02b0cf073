// The BuildKit of its day, end to end: a case that names no BuildKit, planned as `repro` plans it, boots a
// docker-container builder on the BuildKit of its Buildx's day (Buildx v0.38.2 -> BuildKit v0.34.2, both
// cached here), Buildx itself reports that version, and the cell's evidence says which one and why.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCase } from '../repro/case.ts';
import { caseScenario } from '../repro/scenario.ts';
import { expandScenario } from '../runner/scenario.ts';
import { startTestLab, type TestLab } from '../runner/lab.test-helpers.ts';

const CASE = `title: which BuildKit a case gets
versions: ["0.38.2"]
engine: [26.1.5]
driver: docker-container
steps:
  - buildx: [inspect, --bootstrap]
symptom:
  output: "BuildKit version:\\\\s+v0\\\\.34\\\\.2"
`;

let t: TestLab;
let dir: string;

describe('the BuildKit of its day', () => {
  const planned = () => {
    const s = caseScenario(loadCase(dir));
    return { s, ...expandScenario(s, { matrix: 'full', filters: {}, repeat: 1, source: { kind: 'case', dir, trust: 'user' } }) };
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'bxl-of-its-day-'));
    writeFileSync(path.join(dir, 'case.yaml'), CASE);
    t = await startTestLab('itgday', Object.values(planned().requirements));
  }, 60 * 60_000);
  afterAll(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a docker-container case without buildkit: runs the BuildKit of its Buildx day, and its evidence says so', async () => {
    const { s, cells, requirements } = planned();
    expect(cells).toHaveLength(1);
    expect(Object.keys(requirements)).toContain('buildkit:v0.34.2');
    const r = await t.run(s, cells[0]!);
    expect(r.outcome, `${r.summary}\n${r.error?.message ?? ''}`).toBe('reproduced');
    expect(r.evidence.facts).toContainEqual(
      expect.stringMatching(/^BuildKit v0\.34\.2 \(of-its-day\): of its day: the newest stable BuildKit on 2026-11-03 \(Buildx v0\.38\.2 tagged/),
    );
    // what Buildx saw: the builder's own BuildKit, pulled from the lab registry
    const inspect = r.evidence.commands.find((c) => c.argv.includes('inspect'));
    expect(inspect?.stdout).toMatch(/BuildKit version:\s+v0\.34\.2/);
  });
});
