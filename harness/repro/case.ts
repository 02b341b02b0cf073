// A bug report as data: `<case-dir>/case.yaml` plus the files it builds. Parsing and validation only;
// every error is a UsageError naming case.yaml's line and the field. The case directory is the user's:
// it is only read, and nothing outside it may be reached through it (absolute paths, `..`, symlinks),
// because its files are copied into a privileged DinD engine and pushed to a registry.
import { lstatSync, readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import semver from 'semver';
import { LineCounter, isMap, parseDocument, type Document } from 'yaml';
import { loadReleases, resolveSpec } from '../buildx/spec.ts';
import { UsageError } from '../errors.ts';
import { ENGINE_VERSIONS } from '../images/catalog.ts';
import type { DriverKind, RegistryBehaviour, StoreKind } from '../model.ts';
import { CLOSED_AXIS_VALUES } from '../runner/matrix.ts';
import { PULL_FAULTS, type PullFault } from '../runner/steps.ts';

export const CASE_FILE = 'case.yaml';
export const COMMANDS = ['build', 'bake', 'create'] as const;
export type CaseCommand = (typeof COMMANDS)[number];
export const REGISTRY_SYMPTOMS = ['missing-platforms', 'not-an-index', 'push-refused', 'incomplete'] as const;
export type RegistrySymptom = (typeof REGISTRY_SYMPTOMS)[number];

const KEYS = ['title', 'links', 'command', 'args', 'bakeFile', 'context', 'platforms', 'push', 'engine', 'store', 'driver', 'registry', 'versions', 'fault', 'symptom', 'expect'] as const;
const SYMPTOM_KEYS = ['output', 'registry', 'exitCode'] as const;
/** Keys that mean nothing to `command: create` (it neither builds nor pushes). */
const BUILD_ONLY = ['args', 'bakeFile', 'context', 'platforms', 'push', 'registry'] as const;
/** A case is a bug report, not a repository: bound what gets copied into the engine. */
const MAX_FILES = 1000;
const MAX_BYTES = 64 << 20;
/** GOOS/GOARCH values an OCI platform may name; a typo (linux/amd65) must not become a silent cell. */
const OSES = ['linux', 'windows', 'darwin', 'freebsd', 'netbsd', 'openbsd', 'solaris', 'illumos', 'aix', 'plan9', 'wasip1', 'js'];
const ARCHES = ['amd64', '386', 'arm', 'arm64', 'ppc64le', 'ppc64', 's390x', 'riscv64', 'mips', 'mipsle', 'mips64', 'mips64le', 'loong64', 'wasm'];
const isPlatform = (p: string): boolean => {
  const [os, arch, variant, ...rest] = p.split('/');
  return OSES.includes(os!) && ARCHES.includes(arch ?? '') && (variant === undefined || /^v\d+$/.test(variant)) && rest.length === 0;
};

export interface CaseFile {
  /** path inside the case directory, '/'-separated */
  rel: string;
  /** the real file on the host (a symlink inside the case resolves here) */
  real: string;
  mode: number;
}

export interface ReproCase {
  /** real path of the case directory */
  dir: string;
  title: string;
  links: string[];
  command: CaseCommand;
  args: string[];
  /** relative to dir; bake only */
  bakeFile: string;
  /** relative to dir; build only */
  context: string;
  platforms: string[];
  push: boolean;
  engine: string[];
  store: StoreKind[];
  driver: DriverKind[];
  registry: RegistryBehaviour[];
  versions: string[];
  fault?: PullFault;
  /** every criterion given must hold for the symptom to count as present */
  symptom: { output?: RegExp; registry?: RegistrySymptom; exitCode?: 'zero' | 'nonzero' };
  /** buildx range -> declared outcome, first match wins; empty when the case declares none */
  expect: { range: string; outcome: 'reproduced' | 'fixed' }[];
  files: CaseFile[];
}

type Key = string | number;

/** Positions and messages for one case.yaml. */
class Source {
  readonly lines = new LineCounter();
  readonly doc: Document;
  constructor(readonly file: string, text: string) {
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false });
  }

  lineOf(offset: number | undefined): number {
    return offset === undefined ? 1 : this.lines.linePos(offset).line;
  }

  /** Line of the node at `at`, else of its nearest existing parent. */
  lineAt(at: readonly Key[]): number {
    for (let n = at.length; n >= 0; n--) {
      const node = this.doc.getIn(at.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (node && typeof node === 'object' && node.range) return this.lineOf(node.range[0]);
    }
    return 1;
  }

  fail(at: readonly Key[], message: string, line = this.lineAt(at)): never {
    throw new UsageError(`${CASE_FILE}:${line}: ${fieldName(at)}: ${message}`);
  }
}

/** ['platforms', 1] -> platforms[1]; ['symptom', 'output'] -> symptom.output */
function fieldName(at: readonly Key[]): string {
  return at.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : /^[A-Za-z_][\w-]*$/.test(k) ? `.${k}` : `."${k}"`)).join('') || '(document)';
}

const show = (v: unknown): string => JSON.stringify(v) ?? String(v);

/** Reads and validates `<dir>/case.yaml` and lists the files to copy. */
export function loadCase(dir: string): ReproCase {
  let root: string;
  try {
    root = realpathSync(dir);
    if (!statSync(root).isDirectory()) throw new Error('not a directory');
  } catch (e) {
    throw new UsageError(`case directory ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; give a directory holding ${CASE_FILE}`);
  }
  const file = path.join(root, CASE_FILE);
  let text: string;
  try {
    text = readFileSync(caseFilePath(root, CASE_FILE), 'utf8');
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; a case directory needs a ${CASE_FILE}`);
  }
  return parseCase(text, root);
}

/** Validates case.yaml's text against the case directory `root` (a real path). */
export function parseCase(text: string, root: string): ReproCase {
  const src: Source = new Source(path.join(root, CASE_FILE), text);
  const err = src.doc.errors[0];
  if (err) throw new UsageError(`${CASE_FILE}:${err.linePos?.[0].line ?? 1}: invalid YAML: ${err.message.split('\n')[0]}`);
  const contents = src.doc.contents;
  if (!isMap(contents)) throw new UsageError(`${CASE_FILE}:1: the document must be a mapping of ${KEYS.join(', ')}`);
  const js = src.doc.toJS() as Record<string, unknown>;

  checkKeys(src, [], contents, KEYS);
  const str = (at: Key[], v: unknown): string => {
    if (typeof v !== 'string' || !v.trim()) src.fail(at, `${show(v)} is not a non-empty string${typeof v === 'number' ? ' (quote numbers: "0.20")' : ''}`);
    return v;
  };
  /** A string or a list of strings, each checked by `each`. */
  const strs = (key: string, each: (v: string, at: Key[]) => void = () => undefined): string[] | undefined => {
    const v = js[key];
    if (v === undefined || v === null) return undefined;
    const list = Array.isArray(v) ? v : [v];
    if (list.length === 0) src.fail([key], 'is empty; leave it out for the default');
    return list.map((x, i) => {
      const at = Array.isArray(v) ? [key, i] : [key];
      const s = str(at, x);
      each(s, at);
      return s;
    });
  };
  const oneOf = <T extends string>(allowed: readonly T[]) => (v: string, at: Key[]) => {
    if (!allowed.includes(v as T)) src.fail(at, `${show(v)} is not one of ${allowed.join(', ')}`);
  };

  const title = js.title === undefined ? src.fail(['title'], 'is required') : str(['title'], js.title);
  if (js.command === undefined) src.fail(['command'], `is required (${COMMANDS.join(' | ')})`);
  const command = str(['command'], js.command) as CaseCommand;
  oneOf(COMMANDS)(command, ['command']);
  if (command === 'create') {
    for (const k of BUILD_ONLY) if (js[k] !== undefined) src.fail([k], `applies to build and bake, not to command: create`);
  } else if (js.fault !== undefined) {
    src.fail(['fault'], 'applies to command: create only (it faults the BuildKit image pull)');
  }
  if (js.bakeFile !== undefined && command !== 'bake') src.fail(['bakeFile'], 'applies to command: bake only');
  if (js.context !== undefined && command !== 'build') src.fail(['context'], 'applies to command: build only (a bake file names its own context)');

  const links = strs('links', (v, at) => { if (!/^https?:\/\/\S+$/.test(v)) src.fail(at, `${show(v)} is not an http(s) URL`); }) ?? [];
  const args = strs('args') ?? [];
  const platforms = strs('platforms', (v, at) => { if (!isPlatform(v)) src.fail(at, `${show(v)} is not a platform (expected os/arch[/variant])`); }) ?? [];
  const push = js.push === undefined ? command !== 'create' : js.push;
  if (typeof push !== 'boolean') src.fail(['push'], `${show(push)} is not true or false`);
  if (push && platforms.length === 0) src.fail(['platforms'], 'is required when pushing: the lab verifies each platform in the registry');
  const engine = strs('engine', oneOf(ENGINE_VERSIONS)) ?? [...ENGINE_VERSIONS];
  const store = (strs('store', oneOf(CLOSED_AXIS_VALUES.store!)) ?? ['containerd']) as StoreKind[];
  const driver = (strs('driver', oneOf(CLOSED_AXIS_VALUES.driver!)) ?? [command === 'create' ? 'docker-container' : 'docker']) as DriverKind[];
  if (command === 'create' && driver.includes('docker')) src.fail(['driver'], 'command: create makes a docker-container builder; driver: docker does not apply');
  const registry = (strs('registry', oneOf(CLOSED_AXIS_VALUES.registry!)) ?? ['plain']) as RegistryBehaviour[];
  const releases = loadReleases();
  const versions = strs('versions', (v, at) => {
    try { resolveSpec(v, releases, { includePrerelease: /-rc/.test(v) }); } catch (e) { src.fail(at, (e as Error).message); }
  }) ?? ['latest'];

  let fault: PullFault | undefined;
  if (js.fault !== undefined) {
    const node = src.doc.get('fault', true);
    if (!isMap(node)) src.fail(['fault'], `must be a mapping { kind: ${PULL_FAULTS.join(' | ')} }`);
    checkKeys(src, ['fault'], node, ['kind']);
    const kind = (js.fault as Record<string, unknown>).kind;
    // `kind: 404` is a YAML number; the fault names are strings.
    fault = String(kind ?? src.fail(['fault', 'kind'], `is required (${PULL_FAULTS.join(' | ')})`)) as PullFault;
    oneOf(PULL_FAULTS)(fault, ['fault', 'kind']);
  }

  const symNode = src.doc.get('symptom', true);
  if (js.symptom === undefined) src.fail(['symptom'], `is required: at least one of ${SYMPTOM_KEYS.join(', ')}`);
  if (!isMap(symNode)) src.fail(['symptom'], `must be a mapping with at least one of ${SYMPTOM_KEYS.join(', ')}`);
  checkKeys(src, ['symptom'], symNode, SYMPTOM_KEYS);
  const sym = js.symptom as Record<string, unknown>;
  const symptom: ReproCase['symptom'] = {};
  if (sym.output !== undefined) {
    const re = str(['symptom', 'output'], sym.output);
    try { symptom.output = new RegExp(re); } catch (e) { src.fail(['symptom', 'output'], `${show(re)} is not a regular expression: ${(e as Error).message}`); }
  }
  if (sym.registry !== undefined) {
    const r = str(['symptom', 'registry'], sym.registry);
    oneOf(REGISTRY_SYMPTOMS)(r, ['symptom', 'registry']);
    if (!push) src.fail(['symptom', 'registry'], 'needs push: true (there is nothing in the registry to judge)');
    symptom.registry = r as RegistrySymptom;
  }
  if (sym.exitCode !== undefined) {
    const x = str(['symptom', 'exitCode'], sym.exitCode);
    oneOf(['nonzero', 'zero'] as const)(x, ['symptom', 'exitCode']);
    symptom.exitCode = x as 'zero' | 'nonzero';
  }
  if (!Object.keys(symptom).length) src.fail(['symptom'], `needs at least one of ${SYMPTOM_KEYS.join(', ')}`);

  const expect: ReproCase['expect'] = [];
  if (js.expect !== undefined) {
    if (!isMap(src.doc.get('expect', true))) src.fail(['expect'], 'must be a mapping of buildx range -> reproduced | fixed, e.g. "<0.22.0": reproduced');
    for (const [range, outcome] of Object.entries(js.expect as Record<string, unknown>)) {
      if (!semver.validRange(range, { includePrerelease: true })) src.fail(['expect', range], `${show(range)} is not a semver range`);
      if (outcome !== 'reproduced' && outcome !== 'fixed') src.fail(['expect', range], `${show(outcome)} is not reproduced or fixed`);
      expect.push({ range, outcome });
    }
  }

  const bakeFile = command === 'bake' ? checkCasePath(src, root, ['bakeFile'], js.bakeFile ?? 'docker-bake.hcl', 'file') : 'docker-bake.hcl';
  const context = command === 'build' ? checkCasePath(src, root, ['context'], js.context ?? '.', 'dir') : '.';
  return {
    dir: root, title, links, command, args, bakeFile, context, platforms, push, engine, store, driver, registry, versions,
    ...(fault ? { fault } : {}), symptom, expect, files: caseFiles(root),
  };
}

function checkKeys(src: Source, at: Key[], node: { items: { key: unknown }[] }, known: readonly string[]): void {
  for (const pair of node.items) {
    const key = pair.key as { value?: unknown; range?: [number, number, number] } | null;
    const name = String(key?.value ?? key);
    if (!known.includes(name)) src.fail([...at, name], `unknown key; ${at.length ? `${fieldName(at)} takes` : 'known keys are'} ${known.join(', ')}`, src.lineOf(key?.range?.[0]));
  }
}

/** A case path field: relative, no escape (lexically or through symlinks), of the given kind. */
function checkCasePath(src: Source, root: string, at: Key[], value: unknown, kind: 'file' | 'dir'): string {
  if (typeof value !== 'string' || !value) src.fail(at, `${show(value)} is not a path`);
  try {
    caseFilePath(root, value, kind);
  } catch (e) {
    src.fail(at, (e as Error).message);
  }
  return path.posix.normalize(value.replace(/\\/g, '/'));
}

/** The real path of `rel` inside `root`; throws when it is absolute, escapes, or is missing. */
export function caseFilePath(root: string, rel: string, kind: 'file' | 'dir' = 'file'): string {
  if (path.isAbsolute(rel)) throw new UsageError(`${show(rel)} is absolute; give a path inside the case directory`);
  const lexical = path.resolve(root, rel);
  if (!inside(root, lexical)) throw new UsageError(`${show(rel)} leaves the case directory`);
  let real: string;
  try {
    real = realpathSync(lexical);
  } catch (e) {
    throw new UsageError(`${show(rel)} does not exist in the case directory (${(e as NodeJS.ErrnoException).code})`);
  }
  if (!inside(root, real)) throw new UsageError(`${show(rel)} is a symlink to ${real}, outside the case directory`);
  const st = statSync(real);
  if (kind === 'file' ? !st.isFile() : !st.isDirectory()) throw new UsageError(`${show(rel)} is not a ${kind === 'file' ? 'regular file' : 'directory'}`);
  return real;
}

function inside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** Every file the case ships (what the build may see); symlinks must stay inside, others kinds are refused. */
export function caseFiles(root: string): CaseFile[] {
  const out: CaseFile[] = [];
  let bytes = 0;
  const walk = (relDir: string) => {
    for (const name of readdirSync(path.join(root, relDir)).sort()) {
      if (name === '.git') continue;
      const rel = relDir ? `${relDir}/${name}` : name;
      const lst = lstatSync(path.join(root, rel));
      if (lst.isDirectory()) { walk(rel); continue; }
      if (!lst.isFile() && !lst.isSymbolicLink()) throw new UsageError(`case file ${rel}: only regular files, directories and symlinks inside the case are allowed`);
      let real: string;
      try { real = caseFilePath(root, rel); } catch (e) { throw new UsageError(`case file ${(e as Error).message}`); }
      const st = statSync(real);
      bytes += st.size;
      out.push({ rel, real, mode: st.mode & 0o111 ? 0o755 : 0o644 });
      if (out.length > MAX_FILES || bytes > MAX_BYTES) throw new UsageError(`case directory ${root} holds more than ${MAX_FILES} files or ${MAX_BYTES >> 20} MiB; a case should hold only what the build needs`);
    }
  };
  walk('');
  return out;
}

/** A case file's bytes, checked again at read time (the directory may have changed since loadCase). */
export function readCaseFile(root: string, f: CaseFile): Buffer {
  return readFileSync(caseFilePath(root, f.rel));
}
