// The rootless BuildKit image (moby/buildkit:<v>-rootless, built here) as a docker-container builder,
// end to end: a case with `builder: {rootless: true}`, planned as `repro` plans it, boots it, runs a RUN
// step and exports its result. What shows it rootless is the kernel's own word: a RUN step's uid map is
// rootlesskit's user namespace (root inside is uid 1000 outside), where a rootful builder's is the whole range.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCase } from '../repro/case.ts';
import { caseScenario } from '../repro/scenario.ts';
import { expandScenario } from '../runner/scenario.ts';
import { startTestLab, type TestLab } from '../runner/lab.test-helpers.ts';

const caseYaml = (rootless: boolean) => `title: rootless BuildKit
versions: ["0.38.2"]
engine: [26.1.5]
driver: docker-container
buildkit: v0.34.2
builder: {rootless: ${rootless}}
steps:
  - buildx: [build, --progress, plain, --build-arg, "BASE=\${base}", --output, "type=local,dest=out", .]
symptom:
  - exitCode: 0
  - file: {path: out/uid_map, ${rootless ? 'notContains' : 'contains'}: "4294967295"}
${rootless ? '  - file: {path: out/uid_map, contains: "1000"}\n' : ''}`;
const DOCKERFILE = 'ARG BASE\nFROM $BASE\nRUN cat /proc/self/uid_map > /uid_map && id -u > /id\nFROM scratch\nCOPY --from=0 /uid_map /id /\n';

let t: TestLab;
const dirs: Record<'rootless' | 'rootful', string> = { rootless: '', rootful: '' };
const planned = (dir: string) => {
  const s = caseScenario(loadCase(dir));
  return { s, ...expandScenario(s, { matrix: 'full', filters: {}, repeat: 1, source: { kind: 'case', dir, trust: 'user' } }) };
};

describe('rootless BuildKit', () => {
  beforeAll(async () => {
    for (const kind of ['rootless', 'rootful'] as const) {
      dirs[kind] = mkdtempSync(path.join(tmpdir(), `bxl-${kind}-`));
      writeFileSync(path.join(dirs[kind], 'case.yaml'), caseYaml(kind === 'rootless'));
      writeFileSync(path.join(dirs[kind], 'Dockerfile'), DOCKERFILE);
    }
    const reqs = { ...planned(dirs.rootless).requirements, ...planned(dirs.rootful).requirements };
    t = await startTestLab('itgrootless', Object.values(reqs));
  }, 60 * 60_000);
  afterAll(async () => {
    await t?.close();
    for (const d of Object.values(dirs)) if (d) rmSync(d, { recursive: true, force: true });
  });

  it('a docker-container builder on the rootless image builds a RUN step inside rootlesskit’s user namespace', async () => {
    const { s, cells, requirements } = planned(dirs.rootless);
    expect(Object.keys(requirements)).toContain('buildkit:v0.34.2-rootless');
    const r = await t.run(s, cells[0]!);
    expect(
      r.outcome,
      `${r.summary}\n${r.error?.message ?? ''}\n${r.evidence.commands
        .map((c) => c.stderr)
        .join('\n')
        .slice(-3000)}`,
    ).toBe('reproduced');
    // root in the RUN step is uid 1000 (rootlesskit's user) outside it, not the whole range
    expect(r.summary).toMatch(/out\/uid_map: does not hold "4294967295".*out\/uid_map: holds "1000"/);
    const create = r.evidence.commands.find((c) => c.argv.includes('create'));
    expect(create?.argv.join(' ')).toContain('moby/buildkit:v0.34.2-rootless');
  });

  it('the same case on the rootful image sees the whole id range (the check tells them apart)', async () => {
    const { s, cells } = planned(dirs.rootful);
    const r = await t.run(s, cells[0]!);
    expect(r.outcome, `${r.summary}\n${r.error?.message ?? ''}`).toBe('reproduced');
    expect(r.summary).toMatch(/out\/uid_map: holds "4294967295"/);
  });
});
