// Steps as data (a case's `steps:`): argv for `docker buildx` or a docker client command, with lab values
// named as ${target}, ${registry}, ${builder}, ${read:FILE} … filled in just before each step runs, so a
// step can use what an earlier one wrote (an --iidfile, a --metadata-file). The filled-in argv goes
// through the allowlists again (docker-argv.ts, lab-owned.ts), and the paths it names are resolved in the
// engine, before the step runs.
import { UsageError } from '../errors.ts';
import type { CommandRecord } from '../model.ts';
import { shellQuote } from '../text.ts';
import type { Check, RecordedStep } from './checks.ts';
import type { Kit } from './context.ts';
import { checkDockerArgv } from './docker-argv.ts';
import { checkBuildxArgv, labOwnedEnv } from './lab-owned.ts';

export interface Step {
  id: string;
  tool: 'buildx' | 'docker';
  argv: string[];
  env: Record<string, string>;
  /** relative to the cell's context */
  cwd?: string;
  timeoutMs?: number;
}

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
export async function interpolate(text: string, values: LabValues, read: (file: string) => Promise<string>): Promise<string> {
  let out = '';
  let last = 0;
  for (const m of text.matchAll(/\$\{([^}]*)\}/g)) {
    out += text.slice(last, m.index);
    last = m.index! + m[0].length;
    const [name, arg] = m[1]!.split(':', 2) as [string, string | undefined];
    if (name === 'read' && arg) out += await read(arg);
    else if (name === 'target' && arg) out += values.targetNamed(arg);
    else {
      const v = (values as unknown as Record<string, string | undefined>)[name];
      if (typeof v !== 'string')
        throw new UsageError(
          `\${${m[1]}} has no value in this cell (${name === 'buildkitImage' ? 'the case has no docker-container or remote builder' : name === 'base' ? 'no base image' : name === 'http' || name === 'git' ? `the case has no serve.${name}` : 'unknown'})`,
        );
      out += v;
    }
  }
  return out + text.slice(last);
}

/** Fills lab values in every string of a check. */
export async function interpolateCheck(check: Check, values: LabValues, read: (file: string) => Promise<string>): Promise<Check> {
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
  for (const step of steps) {
    const argv = await Promise.all(step.argv.map((a) => interpolate(a, values, read)));
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...commonEnv, ...step.env })) env[k] = await interpolate(v, values, read);
    await checkFinal(kit, step, argv, env, values);
    const cwd = step.cwd ? `${values.context}/${step.cwd}` : values.context;
    const opts = { env, cwd, ...(step.timeoutMs ? { timeoutMs: step.timeoutMs } : {}) };
    const record: CommandRecord = step.tool === 'buildx' ? await kit.buildx(argv, opts) : await kit.docker(argv, opts);
    kit.fact(`step ${step.id}: ${step.tool} ${argv[0] ?? ''} exit ${record.exitCode}`);
    recorded.push({ id: step.id, record });
  }
  return recorded;
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
  if (file.split('/').includes('..') || file.startsWith('/')) throw new UsageError(`\${read:${file}} must name a file inside the cell's context`);
  const [at] = await kit.sandbox.resolveInContext([file]).catch((e: Error) => {
    throw e instanceof UsageError ? new UsageError(`\${read:${file}}: ${e.message}`) : e;
  });
  if (at!.kind !== 'file') throw new UsageError(`\${read:${file}}: ${at!.kind === 'none' ? 'the file is not there; did an earlier step write it?' : 'is not a regular file'}`);
  const r = await kit.sandbox.look(`head -c ${READ_LIMIT + 1} ${shellQuote(at!.real)}`);
  if (r.exitCode !== 0) throw new UsageError(`\${read:${file}}: the file is not there (${r.stderr.trim()}); did an earlier step write it?`);
  if (r.stdout.length > READ_LIMIT) throw new UsageError(`\${read:${file}} is larger than ${READ_LIMIT} bytes`);
  return r.stdout.trim();
}
