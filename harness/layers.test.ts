// Imports point one way: CLI -> commands -> runner -> scenario -> kit -> lab -> containers/registry/oci -> model.
// A small test over the import graph (every relative import of every source file) keeps the layers.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');

/** Layers from the top (0) down; a file may import its own layer or a lower one. */
const LAYERS: [string, RegExp][] = [
  ['cli', /^harness\/cli\//],
  ['commands', /^harness\/(.+\/command\.ts|bench\/)/],
  ['runner', /^(harness\/(runner|repro|bisect|qualify|bundle)\/|scenarios\/)/],
  ['scenario', /^harness\/scenario\//],
  ['kit', /^harness\/kit\//],
  ['lab', /^harness\/lab\//],
  ['containers', /^harness\/(dind|registry|serve|images|engine|buildkit|buildx|provision|tools|report)\//],
  ['oci', /^harness\/oci\//],
  ['model', /^harness\/(redact\/|git\/|ownership\/|[^/]+\.ts$)/],
];

function layerOf(file: string): number {
  const i = LAYERS.findIndex(([, re]) => re.test(file));
  if (i < 0) throw new Error(`${file} is in no layer; add its folder to LAYERS`);
  return i;
}

/** Pairs of folders of one layer that must not lean on each other (their shared part lives below them). */
const SIBLINGS_APART: [RegExp, RegExp][] = [[/^harness\/bisect\//, /^harness\/qualify\//]];

function sources(dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return sources(rel);
    return e.name.endsWith('.ts') && !/\.test\.ts$|\.test-helpers\.ts$|\.vitest\.ts$/.test(e.name) ? [rel] : [];
  });
}

/** Relative imports of a file, resolved to project paths; pure over the text. */
function importsOf(file: string, text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+'(\.{1,2}\/[^']+)'/gm)) out.push(path.posix.normalize(path.posix.join(path.posix.dirname(file), m[1]!)));
  for (const m of text.matchAll(/import\(\s*'(\.{1,2}\/[^']+)'\s*\)/g)) out.push(path.posix.normalize(path.posix.join(path.posix.dirname(file), m[1]!)));
  return out;
}

describe('layers', () => {
  const files = [...sources('harness'), ...sources('scenarios')];

  it('puts every source file in a layer', () => {
    for (const f of files) expect(() => layerOf(f), f).not.toThrow();
  });

  it('imports only downwards (or within a layer)', () => {
    const upward = files.flatMap((f) =>
      importsOf(f, readFileSync(path.join(root, f), 'utf8'))
        .filter((to) => !to.includes('node_modules') && layerOf(to) < layerOf(f))
        .map((to) => `${f} (${LAYERS[layerOf(f)]![0]}) imports ${to} (${LAYERS[layerOf(to)]![0]})`),
    );
    expect(upward).toEqual([]);
  });

  it('keeps bisect and qualify apart: what they share lives in the runner', () => {
    const across = files.flatMap((f) =>
      importsOf(f, readFileSync(path.join(root, f), 'utf8'))
        .filter((to) => SIBLINGS_APART.some(([a, b]) => (a.test(f) && b.test(to)) || (b.test(f) && a.test(to))))
        .map((to) => `${f} -> ${to}`),
    );
    expect(across).toEqual([]);
  });

  it('has no folders that import each other', () => {
    // A folder's command.ts is the commands layer, above every folder: its imports do not count.
    const folderOf = (f: string) => (/\/command\.ts$/.test(f) ? undefined : /^harness\/([^/]+)\//.exec(f)?.[1]);
    const edges = new Set<string>();
    for (const f of files) {
      const from = folderOf(f);
      if (!from) continue;
      for (const to of importsOf(f, readFileSync(path.join(root, f), 'utf8'))) {
        const into = folderOf(to);
        if (into && into !== from) edges.add(`${from} -> ${into}`);
      }
    }
    const loops = [...edges].filter((e) => edges.has(e.split(' -> ').reverse().join(' -> '))).filter((e) => e < e.split(' -> ').reverse().join(' -> '));
    expect(loops.sort()).toEqual([]);
  });

  it("has no import cycle between the kit's files: builders take a port, not the Kit that calls them", () => {
    const kit = files.filter((f) => f.startsWith('harness/kit/'));
    const edges = new Map(kit.map((f) => [f, importsOf(f, readFileSync(path.join(root, f), 'utf8')).filter((to) => to.startsWith('harness/kit/'))]));
    const cycles: string[] = [];
    const walk = (f: string, trail: string[]) => {
      if (trail.includes(f)) return void cycles.push([...trail.slice(trail.indexOf(f)), f].join(' -> '));
      for (const to of edges.get(f) ?? []) walk(to, [...trail, f]);
    };
    for (const f of kit) walk(f, []);
    expect(cycles).toEqual([]);
  });

  it('would catch an upward import', () => {
    const file = 'harness/oci/client.ts';
    const upward = importsOf(file, "import { Lab } from '../lab/lab.ts';\n").filter((to) => layerOf(to) < layerOf(file));
    expect(upward).toEqual(['harness/lab/lab.ts']);
  });
});
