// Steps as data (a case's `steps:`): argv for `docker buildx` or a docker client command, with lab values
// named as ${target}, ${registry}, ${builder}, ${read:FILE} … filled in just before each step runs, so a
// step can use what an earlier one wrote (an --iidfile, a --metadata-file). The filled-in argv goes
// through the allowlists again (docker-argv.ts, lab-owned.ts), and the paths it names are resolved in the
// engine, before the step runs. A step's stdout may go to a file of the context (`stdout:`), and its
// stdin may come from a file or from an earlier step's stdout (`stdin:`): pipes without a shell, bytes
// exact, sizes bounded, every path confined to the context like the others.
import { RE2JS } from 're2js';
import { UsageError } from '../errors.ts';
import type { RunResult } from '../exec.ts';
import type { CommandRecord } from '../model.ts';
import type { Check, RecordedStep } from './checks.ts';
import type { Kit } from './context.ts';
import { checkDockerArgv } from './docker-argv.ts';
import { checkBuildxArgv, labOwnedEnv } from './lab-owned.ts';
import type { CellPath } from './sandbox.ts';

export interface Step {
  id: string;
  tool: 'buildx' | 'docker';
  argv: string[];
  env: Record<string, string>;
  /** relative to the cell's context */
  cwd?: string;
  timeoutMs?: number;
  /** a file of the context that receives the step's stdout, byte for byte */
  stdout?: string;
  /** the step's stdin: a file of the context, or the stdout of an earlier step */
  stdin?: StepStdin;
}

export type StepStdin = { file: string } | { step: string };

/** Most bytes a step's stdout may hold when it is kept (`stdout:`, or a later step's `stdin:`), and a stdin file. */
export const STDIO_LIMIT = 16 << 20;

/** The lab values of one run of the steps. */
export interface LabValues {
  target: string;
  repository: string;
  tag: string;
  registry: string;
  builder: string;
  buildkitImage?: string;
  base?: string;
  cell: string;
  context: string;
  platforms: string;
  /** base URLs of what the case serves (serve.http, serve.git), as the engines reach them */
  http?: string;
  git?: string;
  /** ${target:NAME}: another push target of the cell */
  targetNamed(name: string): string;
}

/** Largest file a ${read:FILE} may substitute. */
const READ_LIMIT = 4096;

/** Fills ${name} from `values`; ${read:FILE} goes through `read`. Unknown names were refused at load time. */
export async function interpolate(
  text: string,
  values: LabValues,
  read: (file: string) => Promise<string>,
  /** how a value enters the text: as it is, or quoted (a value in an RE2 pattern is literal) */
  quote: (value: string) => string = (v) => v,
): Promise<string> {
  let out = '';
  let last = 0;
  for (const m of text.matchAll(/\$\{([^}]*)\}/g)) {
    out += text.slice(last, m.index);
    last = m.index! + m[0].length;
    const [name, arg] = m[1]!.split(':', 2) as [string, string | undefined];
    if (name === 'read' && arg) out += quote(await read(arg));
    else if (name === 'target' && arg) out += quote(values.targetNamed(arg));
    else {
      const v = (values as unknown as Record<string, string | undefined>)[name];
      if (typeof v !== 'string')
        throw new UsageError(
          `\${${m[1]}} has no value in this cell (${name === 'buildkitImage' ? 'the case has no docker-container or remote builder' : name === 'base' ? 'no base image' : name === 'http' || name === 'git' ? `the case has no serve.${name}` : 'unknown'})`,
        );
      out += quote(v);
    }
  }
  return out + text.slice(last);
}

/** Fills lab values in every string of a check. */
export async function interpolateCheck(check: Check, values: LabValues, read: (file: string) => Promise<string>): Promise<Check> {
  // requests.reference is an RE2 pattern: `${tag}` in it means that tag, not a pattern
  if (check.kind === 'requests' && check.reference !== undefined) {
    const { reference, ...rest } = check;
    return { ...((await interpolateCheck(rest, values, read)) as typeof rest), reference: await interpolate(reference, values, read, RE2JS.quote) };
  }
  const fill = async (v: unknown): Promise<unknown> => {
    if (typeof v === 'string') return interpolate(v, values, read);
    if (Array.isArray(v)) return Promise.all(v.map(fill));
    if (v && typeof v === 'object') return Object.fromEntries(await Promise.all(Object.entries(v).map(async ([k, x]) => [k, await fill(x)])));
    return v;
  };
  return (await fill(check)) as Check;
}

/** Runs steps in order (every step runs, whatever the one before did: the checks decide); returns them recorded. */
export async function runSteps(kit: Kit, steps: readonly Step[], values: LabValues, commonEnv: Record<string, string> = {}): Promise<RecordedStep[]> {
  const read = (file: string) => readContextFile(kit, file);
  const recorded: RecordedStep[] = [];
  /** the exact stdout of the steps a later step's stdin names */
  const piped = new Map<string, Buffer>();
  const pipedFrom = new Set(steps.flatMap((s) => (s.stdin && 'step' in s.stdin ? [s.stdin.step] : [])));
  for (const step of steps) {
    const argv = await Promise.all(step.argv.map((a) => interpolate(a, values, read)));
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...commonEnv, ...step.env })) env[k] = await interpolate(v, values, read);
    await checkFinal(kit, step, argv, env, values);
    // where its stdout will land, before it runs (and again after: the step itself may have left a symlink)
    if (step.stdout !== undefined) await stdoutTarget(kit, step.stdout, `step ${step.id}: stdout: ${step.stdout}`);
    const input = step.stdin ? await stdinOf(kit, step, piped) : undefined;
    if (input) kit.fact(`step ${step.id}: stdin (${input.length} bytes) from ${'step' in step.stdin! ? `step ${step.stdin.step}` : step.stdin!.file}`);
    const keep = step.stdout !== undefined || pipedFrom.has(step.id);
    const cwd = step.cwd ? `${values.context}/${step.cwd}` : values.context;
    const opts = { env, cwd, ...(step.timeoutMs ? { timeoutMs: step.timeoutMs } : {}), ...(input ? { input } : {}), ...(keep ? { stdoutBytes: STDIO_LIMIT } : {}) };
    const { bytes, ...record }: RunResult = step.tool === 'buildx' ? await kit.buildx(argv, opts) : await kit.docker(argv, opts);
    kit.fact(`step ${step.id}: ${step.tool} ${argv[0] ?? ''} exit ${record.exitCode}`);
    recorded.push({ id: step.id, record: record as CommandRecord });
    if (bytes?.overflow)
      throw new UsageError(
        `step ${step.id}: its stdout passed ${STDIO_LIMIT >> 20} MiB, the most the lab keeps for stdout: or stdin:; write large outputs with the command's own -o/--output`,
      );
    if (bytes && step.stdout !== undefined) {
      await writeContextFile(kit, step.stdout, bytes.stdout, `step ${step.id}: stdout: ${step.stdout}`);
      kit.fact(`step ${step.id}: stdout (${bytes.stdout.length} bytes) written to ${step.stdout}`);
    }
    if (bytes && pipedFrom.has(step.id)) piped.set(step.id, bytes.stdout);
  }
  return recorded;
}

/** A step's stdin: an earlier step's exact stdout, or a file of the context (at most STDIO_LIMIT). */
async function stdinOf(kit: Kit, step: Step, piped: ReadonlyMap<string, Buffer>): Promise<Buffer> {
  const from = step.stdin!;
  if ('step' in from) {
    const out = piped.get(from.step);
    if (!out) throw new UsageError(`step ${step.id}: stdin: step ${from.step} has not run before it; name an earlier step`);
    return out;
  }
  const where = `step ${step.id}: stdin: ${from.file}`;
  const at = await contextPath(kit, from.file, where);
  if (at.kind !== 'file') throw new UsageError(`${where}: ${at.kind === 'none' ? 'the file is not there; did an earlier step write it?' : 'is not a regular file'}`);
  const r = await kit.sandbox.look('head -c "$2" "$1"', { stdoutBytes: STDIO_LIMIT + 1 }, [at.real, String(STDIO_LIMIT + 1)]);
  if (r.exitCode !== 0 || !r.bytes) throw new UsageError(`${where}: cannot be read (${r.stderr.trim()})`);
  if (r.bytes.stdout.length > STDIO_LIMIT || r.bytes.overflow) throw new UsageError(`${where} is larger than ${STDIO_LIMIT >> 20} MiB, the most a step's stdin may hold`);
  return r.bytes.stdout;
}

/** A path of the context, for the lab's own reads and writes: relative, without `..`, its real path inside the context. */
async function contextPath(kit: Kit, file: string, where: string): Promise<CellPath> {
  if (file.split('/').includes('..') || file.startsWith('/')) throw new UsageError(`${where} must name a file inside the cell's context`);
  const [at] = await kit.sandbox.resolveInContext([file]).catch((e: Error) => {
    throw e instanceof UsageError ? new UsageError(`${where}: ${e.message}`) : e;
  });
  return at!;
}

/** Where a step's stdout may land: a new or regular file of the context, its real path inside the context. */
async function stdoutTarget(kit: Kit, file: string, where: string): Promise<CellPath> {
  const at = await contextPath(kit, file, where);
  if (at.kind === 'dir' || at.kind === 'other') throw new UsageError(`${where}: is ${at.kind === 'dir' ? 'a directory' : 'not a regular file'}; name a new file`);
  return at;
}

/**
 * Writes `bytes` to `file` in the cell's context (a step's `stdout:`). The path was resolved in the engine
 * first: a symlink an earlier step left there is refused, never written through; an existing file is
 * replaced (removed, then written), and missing directories are made inside the context.
 */
export async function writeContextFile(kit: Kit, file: string, bytes: Buffer, where: string): Promise<void> {
  const at = await stdoutTarget(kit, file, where);
  const r = await kit.sandbox.look('mkdir -p "${1%/*}" && rm -f "$1" && cat > "$1"', { input: bytes }, [at.real]);
  if (r.exitCode !== 0) throw new UsageError(`${where}: cannot be written (${r.stderr.trim()})`);
}

/**
 * The allowlists again, on the argv and environment as they will run (a lab value or ${read:FILE} may have
 * brought a flag in), then the paths the step reads or writes, and its directory, resolved in the engine:
 * a symlink an earlier step wrote must not take them out of the context. Throws UsageError naming the step.
 */
async function checkFinal(kit: Kit, step: Step, argv: string[], env: Record<string, string>, values: LabValues): Promise<void> {
  let paths: string[];
  try {
    for (const name of Object.keys(env)) {
      const why = labOwnedEnv(name);
      if (why) throw new Error(`${why}; the lab sets it for the cell`);
    }
    paths = step.tool === 'docker' ? checkDockerArgv(argv, values.context).paths : checkBuildxArgv(argv, values.buildkitImage, values.context).paths;
  } catch (e) {
    throw new UsageError(`step ${step.id}: ${(e as Error).message}`);
  }
  const cwd = step.cwd ?? '.';
  const within = [...(step.cwd ? ['.'] : []), ...paths];
  try {
    await kit.sandbox.resolveInContext(within, cwd);
  } catch (e) {
    if (e instanceof UsageError) throw new UsageError(`step ${step.id}: ${e.message}`);
    throw e;
  }
}

/** A file in the cell's context, for ${read:FILE}: at most 4 KiB, trimmed; its real path stays inside the context. */
export async function readContextFile(kit: Kit, file: string): Promise<string> {
  const at = await contextPath(kit, file, `\${read:${file}}`);
  if (at.kind !== 'file') throw new UsageError(`\${read:${file}}: ${at.kind === 'none' ? 'the file is not there; did an earlier step write it?' : 'is not a regular file'}`);
  const r = await kit.sandbox.look(`head -c ${READ_LIMIT + 1} "$1"`, {}, [at.real]);
  if (r.exitCode !== 0) throw new UsageError(`\${read:${file}}: the file is not there (${r.stderr.trim()}); did an earlier step write it?`);
  if (r.stdout.length > READ_LIMIT) throw new UsageError(`\${read:${file}} is larger than ${READ_LIMIT} bytes`);
  return r.stdout.trim();
}
