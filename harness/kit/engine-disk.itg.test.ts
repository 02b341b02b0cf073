// fill-engine-disk against real parts: a real DinD engine of each image store whose storage the action
// leaves nearly full, and a real `docker load` (the engine's own load, which Buildx's --load drives) that
// fails with "no space left on device"; then the engine that served the cell is gone, and the next cell of
// its key gets one with its whole disk. And the action as a case step, from case.yaml.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCase } from '../repro/case.ts';
import { caseScenario } from '../repro/scenario.ts';
import { ENGINE_26, SID_BUILDX, probeScenario, startTestLab, type TestLab } from '../runner/lab.test-helpers.ts';
import { ENGINE_STORAGE } from '../dind/dind.ts';
import { fillEngineDisk } from './engine-disk.ts';

let t: TestLab;

beforeAll(async () => {
  t = await startTestLab('itgdisk', [SID_BUILDX, ENGINE_26, { kind: 'image', id: 'case-base' }]);
}, 60 * 60_000);
afterAll(async () => {
  await t?.close();
});

/** A docker load into the cell's engine once fill-engine-disk left it 1 MiB: its exit and output. */
const loadIntoFullEngine = probeScenario('itg-disk-load', async (cell) => {
  const base = await cell.baseImage();
  // the tarball goes to the context (the engine's overlay root), not to the storage being filled
  for (const argv of [
    ['pull', base],
    ['image', 'save', '-o', 'base.tar', base],
    ['image', 'rm', base],
  ]) {
    const r = await cell.docker(argv);
    if (r.exitCode !== 0) throw new Error(`docker ${argv.join(' ')}: ${r.stderr}`);
  }
  const fill = await fillEngineDisk(cell, 1 << 20);
  const load = await cell.docker(['load', '-i', 'base.tar']);
  // the kernel's sizes at the edges: a fill asking for more than the disk has free does not grow it, and
  // free: 0 leaves the empty containerd mount one page (size=0 would be a tmpfs without limit)
  const more = await fillEngineDisk(cell, 1 << 30);
  const none = await fillEngineDisk(cell, 0);
  return { fill: fill.stdout, exitCode: load.exitCode, output: `${load.stdout}\n${load.stderr}`, more: more.stdout, none: none.stdout };
});

/** The size in KiB of the engine's data root, as the cell's engine sees it. */
const dataRoot = probeScenario('itg-disk-size', async (cell) => {
  const r = await cell.sandbox.look(`df -kP ${ENGINE_STORAGE[0]} | awk 'NR==2{print $2}'`);
  return Number(r.stdout.trim());
});

describe.each(['containerd', 'classic'])('fill-engine-disk, %s store', (store) => {
  const axes = { buildx: 'v0.29.1-debian', engine: '26.1.5', store };

  it(
    'makes a real docker load fail with no space left on device, and the next cell gets a fresh engine with its whole disk',
    async () => {
      const r = await t.cell(loadIntoFullEngine, axes);
      expect(r.outcome, `${r.summary}\n${r.error?.message ?? ''}`).toBe('control');
      const seen = JSON.parse(r.summary) as { fill: string; exitCode: number; output: string; more: string; none: string };
      expect(seen.fill).toMatch(/^\/var\/lib\/docker size=\d+k used=\d+k available=1024k$/m);
      const size = (out: string, m: string) => new RegExp(`^${m} size=(\\d+)k`, 'm').exec(out)?.[1];
      for (const m of ENGINE_STORAGE) {
        expect(size(seen.more, m), seen.more).toBe(size(seen.fill, m));
        expect(seen.more).toMatch(new RegExp(`^${m} size=\\d+k .*\\(it had less than 1048576k free: its size kept, not grown\\)$`, 'm'));
      }
      expect(seen.none).toMatch(/^\/var\/lib\/containerd size=4k used=0k available=4k \(empty: one page, as size=0 would be no limit\)$/m);
      expect(seen.exitCode, seen.output).not.toBe(0);
      expect(seen.output).toMatch(/no space left on device/);
      expect(r.evidence.facts.join('\n')).toMatch(/the engine is discarded after this cell/);
      // the shrunk engine was discarded: this key's next engine has the tmpfs's default size (half the host's memory)
      const next = await t.cell(dataRoot, axes);
      expect(Number(next.summary)).toBeGreaterThan(1 << 20);
    },
    15 * 60_000,
  );
});

describe('fill-engine-disk as a case step', () => {
  it(
    'runs from case.yaml: a pull into the filled engine fails with no space left on device',
    async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'bxl-disk-case-'));
      try {
        writeFileSync(
          path.join(dir, 'case.yaml'),
          `title: a pull into a full engine
steps:
  - id: fill
    action: fill-engine-disk
    free: 1MiB
  - id: pull
    docker: [pull, "\${base}"]
symptom:
  - exitCode: nonzero
    step: pull
  - output: "no space left on device"
    step: pull
`,
        );
        const c = loadCase(dir);
        const r = await t.cell(caseScenario(c), { buildx: 'v0.29.1-debian', engine: '26.1.5', store: 'containerd', driver: c.driver[0]!, registry: c.registry[0]! }, 'reproduced');
        const pull = r.evidence.commands.find((x) => x.argv.slice(0, 2).join(' ') === 'docker pull');
        expect(r.summary, `${r.error?.message ?? ''}\n${pull?.stdout}\n${pull?.stderr}`).toMatch(/^symptom PRESENT/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    15 * 60_000,
  );
});
