// Where scenario definitions come from: the files under scenarios/ (plain modules exporting a Scenario:
// importing one has no side effect) and case directories (a case.yaml turned into a Scenario).
import { fileURLToPath } from 'node:url';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { UsageError } from '../errors.ts';
import { caseScenario } from '../repro/scenario.ts';
import { loadCase } from '../repro/case.ts';
import type { CellSource } from './run-spec.ts';
import type { RunnableScenario } from '../scenario/definition.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SUFFIX = '.scenario.ts';

/** scenarios/*.scenario.ts, as paths relative to the project root. */
export function scenarioModules(): string[] {
  return readdirSync(path.join(ROOT, 'scenarios'))
    .filter((f) => f.endsWith(SUFFIX))
    .sort()
    .map((f) => `scenarios/${f}`);
}

const shortName = (module: string) => path.basename(module, SUFFIX);

/** `pull-stream` -> scenarios/49453-pull-stream-errors.scenario.ts; unknown or ambiguous names list what exists. */
export function selectScenarioModules(names: readonly string[]): string[] {
  const all = scenarioModules();
  if (names.length === 0) return all;
  return names.map((n) => {
    const hits = all.filter((f) => shortName(f) === n || shortName(f).includes(n));
    const exact = hits.find((f) => shortName(f) === n || shortName(f).replace(/^\d+-/, '') === n);
    if (exact) return exact;
    if (hits.length !== 1) throw new UsageError(`${hits.length ? 'ambiguous' : 'unknown'} scenario '${n}'; scenarios: ${all.map(shortName).join(', ')}`);
    return hits[0]!;
  });
}

function isScenario(v: unknown): v is RunnableScenario {
  const s = v as Partial<RunnableScenario> | undefined;
  return !!s && typeof s.id === 'string' && typeof s.observe === 'function' && typeof s.judge === 'function' && Array.isArray(s.axes?.buildx);
}

export async function loadScenario(source: CellSource): Promise<RunnableScenario> {
  if (source.kind === 'case') return caseScenario(loadCase(source.dir));
  const file = path.resolve(ROOT, source.module);
  if (path.relative(path.join(ROOT, 'scenarios'), file).startsWith('..')) throw new UsageError(`scenario module ${source.module} is not under scenarios/`);
  const mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
  if (!isScenario(mod.default)) throw new UsageError(`${source.module} does not export a scenario as its default (export default defineScenario({...}))`);
  return mod.default;
}
