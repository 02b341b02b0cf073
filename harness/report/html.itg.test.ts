// The HTML report in a real browser (Debian's headless Chromium): the heatmap renders every cell with
// its outcome class, a cell opens its evidence, and the page loads nothing from outside.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { toHtml } from './html.ts';
import { redactDeep } from '../redact/redact.ts';
import { META, immutableTagCells, pullStreamCells } from './fixtures.test-helpers.ts';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => {
  try { return statSync(p).isFile(); } catch { return false; }
});
// Flags that keep Chromium off the network (it has none here) and out of first-run work.
const flags = (dir: string) => ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${path.join(dir, 'profile')}`];

describe('HTML report in Chromium', () => {
  it('renders each cell with its outcome class, and a screenshot', async () => {
    expect(CHROMIUM, "Chromium is missing: 'make test' installs Debian's chromium; or apt-get install chromium").toBeDefined();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bxl-html-'));
    const results = [...pullStreamCells(), ...immutableTagCells()];
    const file = path.join(dir, 'report.html');
    writeFileSync(file, toHtml(redactDeep(results), redactDeep(META)));
    const dom = await execa(CHROMIUM!, [...flags(dir), '--virtual-time-budget=2000', '--dump-dom', `file://${file}`], { timeout: 120_000 });
    const cells = [...dom.stdout.matchAll(/<td[^>]*class="[^"]*\boutcome-([a-z]+)\b[^"]*"[^>]*data-cell-name="([^"]+)"/g)];
    const seen = new Map(cells.map((m) => [m[2]!.replace(/&gt;/g, '>').replace(/&amp;/g, '&'), m[1]!]));
    for (const r of pullStreamCells()) expect(seen.get(r.name), `cell ${r.name} in the rendered DOM`).toBe(r.outcome);
    expect([...new Set(seen.values())]).toEqual(expect.arrayContaining(['reproduced', 'fixed', 'unexpected', 'error']));
    const png = path.join(dir, 'report.png');
    await execa(CHROMIUM!, [...flags(dir), '--window-size=1400,1000', `--screenshot=${png}`, `file://${file}`], { timeout: 120_000 });
    expect(statSync(png).size).toBeGreaterThan(10_000);
  });
});
