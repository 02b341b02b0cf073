// Pure matrix logic: expansion into cells, deterministic names (BuildKit's `Test/worker=X/k=v`, keys
// sorted), the command line's filters, and the order cells run in. The axes themselves are the
// scenario's (scenario/definition.ts).
import { UsageError } from '../errors.ts';
import type { Axes } from '../model.ts';
import { AXES, type AxisName } from '../scenario/definition.ts';

export type MatrixAxes = Partial<Record<AxisName, readonly string[]>> & { buildx: readonly string[] };

export function cellName(axes: Axes): string {
  return Object.keys(axes)
    .sort()
    .map((k) => `${k}=${axes[k]}`)
    .join('/');
}

/** Cross product in declaration order of values, keys sorted in names. */
export function crossProduct(axes: Partial<Record<string, readonly string[]>>): Axes[] {
  let out: Record<string, string>[] = [{}];
  for (const [k, values] of Object.entries(axes)) {
    if (!values || values.length === 0) continue;
    out = out.flatMap((partial) => values.map((v) => ({ ...partial, [k]: v })));
  }
  return out;
}

/**
 * Applies user filters (--engine 28.5.2, --store classic ...) to a scenario's axes. Values are checked
 * against the scenario's full matrix (`declared`), so a filter can reach beyond the quick matrix; a value
 * it does not declare is an error listing what exists. buildx takes any spec. A scenario without a
 * filtered axis (no `fault` axis, say) is not selected: undefined.
 */
export function applyFilters(scenarioId: string, axes: MatrixAxes, filters: Record<string, readonly string[]>, declared: MatrixAxes = axes): MatrixAxes | undefined {
  const out: Record<string, readonly string[]> = { ...axes };
  let selected = true;
  for (const [k, values] of Object.entries(filters)) {
    if (!(AXES as readonly string[]).includes(k)) throw new UsageError(`unknown axis filter '${k}'; axes are ${AXES.join(', ')}`);
    // versions take any spec; the scenario's expectations say what each shows
    if (k === 'buildx' || k === 'engine' || k === 'buildkit') {
      out[k] = values;
      continue;
    }
    const known = declared[k as AxisName];
    if (!known) {
      selected = false;
      continue;
    }
    const unknown = values.filter((v) => !known.includes(v));
    if (unknown.length) throw new UsageError(`scenario ${scenarioId}: ${k}=${unknown.join(',')} is not in its matrix; it declares ${k} = ${known.join(', ')}`);
    out[k] = values;
  }
  return selected ? (out as MatrixAxes) : undefined;
}

/** Round-robin over (engine, store) groups, keeping each group's order; pure. */
export function interleaveByEngine<T extends { axes: Axes }>(cells: readonly T[]): T[] {
  const groups = new Map<string, T[]>();
  for (const c of cells) {
    const key = `${c.axes.engine}/${c.axes.store}`;
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  const out: T[] = [];
  const queues = [...groups.values()];
  for (let i = 0; out.length < cells.length; i++) for (const q of queues) if (q[i]) out.push(q[i]!);
  return out;
}
