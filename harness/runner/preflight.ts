// Checks a run before anything starts: every scenario file is imported (outside vitest it registers
// nothing and exports its Scenario), and its matrix is expanded with the run's filters, so unknown axis
// values and empty selections fail at once, naming what exists.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { UsageError } from '../errors.ts';
import type { LabConfig } from '../config.ts';
import { expandScenario, type Scenario } from './scenario.ts';

const root = new URL('../../', import.meta.url).pathname;

export interface Selected {
  file: string;
  scenario: string;
  cells: number;
}

export async function preflight(files: readonly string[], run: Pick<LabConfig, 'matrix' | 'axisFilters'>): Promise<Selected[]> {
  const selected: Selected[] = [];
  for (const file of files) {
    const mod = (await import(pathToFileURL(path.join(root, file)).href)) as { default?: Scenario<unknown> };
    if (!mod.default) continue;
    const cells = expandScenario(mod.default, run).length;
    if (cells > 0) selected.push({ file, scenario: mod.default.id, cells });
  }
  if (selected.length === 0) {
    const f = Object.entries(run.axisFilters).map(([k, v]) => `--${k} ${v.join(',')}`).join(' ');
    throw new UsageError(`no cell to run: the filters${f ? ` (${f})` : ''} select nothing in ${files.join(', ')}. A scenario without a filtered axis is left out (e.g. --fault selects pull-stream only).`);
  }
  return selected;
}
