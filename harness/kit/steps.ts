// Steps as data (a case's `steps:`): argv for `docker buildx` (or the standalone `buildx`) or a docker
// client command, with lab values named as ${target}, ${registry}, ${builder}, ${read:FILE} … filled in
// just before each step runs, so a step can use what an earlier one wrote (an --iidfile, a
// --metadata-file). The filled-in argv goes through the allowlists again (docker-argv.ts, lab-owned.ts),
// and the paths it names are resolved in the engine, before the step runs.
//
// Steps in time: a step may run under a pseudo-terminal with an expect-style script (`interact`), run in
// the background while the next ones go on (`background`, `waitFor` a pattern in its output), be awaited
// (`await`), or be something the lab does to its builder (`action`): boot it there, its BuildKit image
// pull faulted or not (`boot-builder`), or stop, kill or restart it; or to its engine (`fill-engine-disk`,
// kit/engine-disk.ts). Background steps still running when
// the steps end are ended and recorded as such.
//
// A step's stdout may go to a file of the context (`stdout:`), and its stdin may come from a file or from
// an earlier step's stdout (`stdin:`): pipes without a shell, bytes exact, sizes bounded, every path
// confined to the context like the others.
import { RE2JS } from 're2js';
import { UsageError } from '../errors.ts';
import type { CommandRecord, PullFault } from '../model.ts';
import { clip, stripAnsi } from '../text.ts';
import type { RunResult } from '../exec.ts';
import { matchAt, matchBudget, type Check, type RecordedStep } from './checks.ts';
import type { BuilderSpec } from './builders.ts';
import { type DapLine, engineTerminalHost, playDap } from './dap.ts';
import type { Kit } from './kit.ts';
import { checkDockerArgv } from './docker-argv.ts';
import { fillEngineDisk } from './engine-disk.ts';
import { bootWithPullFault, type FaultedBoot } from './faults.ts';
import { checkBuildxArgv, labOwnedEnv } from './lab-owned.ts';
import { type CellPath, type EngineProcess, endAfterScript, endsWithin, LAB_USER, type RunAs } from './sandbox.ts';
import { COLS, type InteractAction, OutputLog, ROWS, Screen, playScript, waitForMatch } from './terminal.ts';

export type { InteractAction } from './terminal.ts';

/** Faults the lab does to the cell's builder, as steps. */
export const FAULT_ACTIONS = ['stop-builder', 'kill-builder', 'restart-builder', 'remove-node', 'unreachable-node'] as const;
export type FaultAction = (typeof FAULT_ACTIONS)[number];
/** The actions on one node of a multi-node builder (`node:` chooses it). */
export const NODE_ACTIONS: readonly FaultAction[] = ['remove-node', 'unreachable-node'];

/**
 * Why a node action (`remove-node`, `unreachable-node`; `node` an index into builder.nodes, default the
 * last) cannot run on a builder of `nodes` nodes, or undefined. Buildx refuses to leave a builder's last
 * node, and only the nodes of a multi-node builder have an endpoint (a docker context) of their own. Pure.
 */
export function removeNodeProblem(node: number | undefined, nodes: number): string | undefined {
  if (nodes < 2)
    return 'needs a multi-node builder (builder.nodes with 2 or more entries): Buildx cannot leave the last node of a builder, and a single node has no endpoint of its own';
  if (node !== undefined && node >= nodes) return `node ${node} is not one of the builder's nodes (0 to ${nodes - 1})`;
  return undefined;
}

/** Faults the lab does to the cell's engine, as steps: they apply to every driver. */
export const ENGINE_ACTIONS = ['fill-engine-disk'] as const;
export const isEngineAction = (action: string): boolean => (ENGINE_ACTIONS as readonly string[]).includes(action);

/** What the lab does to its builder as a step: boot it there (instead of before the steps), or a fault. */
export const ACTIONS = ['boot-builder', ...FAULT_ACTIONS, ...ENGINE_ACTIONS] as const;
export type StepAction = (typeof ACTIONS)[number];

export interface Step {
  id: string;
  /** `action`: a fault the lab does (no argv); `await`: only waits for background steps (no argv) */
  tool: 'buildx' | 'docker' | 'action' | 'await';
  argv: string[];
  env: Record<string, string>;
  /** relative to the cell's context */
  cwd?: string;
  timeoutMs?: number;
  /** buildx: run the binary as a standalone `buildx`, not as `docker buildx` */
  standalone?: boolean;
  /** run as root under sudo from the cell's unprivileged user, or as that user (kit/sandbox.ts LAB_USER) */
  as?: RunAs;
  /** run under a pseudo-terminal, typing and waiting as the script says */
  interact?: InteractAction[];
  /** speak the Debug Adapter Protocol on the command's stdin and stdout, as the script says (kit/dap.ts) */
  dap?: DapLine[];
  /** a dap step's answer to runInTerminal: the lab's own `dap attach` under a pseudo-terminal plays this (kit/dap.ts) */
  runInTerminal?: InteractAction[];
  /** run while the next steps go on; with waitFor, the next step starts once the output matches */
  background?: { waitFor?: { pattern: string; timeoutMs: number } };
  /** background steps to wait for (to their end) before this step */
  await?: string[];
  action?: StepAction;
  /** remove-node, unreachable-node: which node (index into builder.nodes; default the last) */
  node?: number;
  /** fill-engine-disk: the bytes the engine's storage keeps free (kit/engine-disk.ts) */
  free?: number;
  /** boot-builder: the fault on the pull of the builder's BuildKit image (kit/faults.ts) */
  pullFault?: PullFault;
  /** a file of the context that receives the step's stdout, byte for byte */
  stdout?: string;
  /** the step's stdin: a file of the context, or the stdout of an earlier step */
  stdin?: StepStdin;
}

export type StepStdin = { file: string } | { step: string };

/** Most bytes a step's stdout may hold when it is kept (`stdout:`, or a later step's `stdin:`), and a stdin file. */
export const STDIO_LIMIT = 16 << 20;

/** How long a step may run when it names no timeout. */
const DEFAULT_TIMEOUT_MS = 300_000;

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
  /** base URLs of what the case serves (serve.http, serve.git), as the engines reach them */
  http?: string;
  git?: string;
  /** base URL of the case's OTLP receiver (traces:) */
  otlp?: string;
  /** serve.s3: the endpoint, the cell's own bucket, the region and the run's credentials */
  s3?: string;
  s3Bucket?: string;
  s3Region?: string;
  s3AccessKeyId?: string;
  s3SecretAccessKey?: string;
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
          `\${${m[1]}} has no value in this cell (${name === 'buildkitImage' ? 'the case has no docker-container or remote builder' : name === 'base' ? 'no base image' : name === 'http' || name === 'git' ? `the case has no serve.${name}` : name === 'otlp' ? 'the case has no traces:' : name.startsWith('s3') ? 'the case has no serve.s3' : 'unknown'})`,
        );
      out += quote(v);
    }
  }
  return out + text.slice(last);
}

/** A terminal script with lab values filled in what it types (`send`). */
function fillSends(script: readonly InteractAction[], values: LabValues, read: (file: string) => Promise<string>): Promise<InteractAction[]> {
  return Promise.all(script.map(async (a) => ('send' in a ? { send: await interpolate(a.send, values, read) } : a)));
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

/**
 * Runs steps in order (every step runs, whatever the one before did: the checks decide); returns them
 * recorded. `builder` is the lab's builder a boot-builder step boots.
 */
export async function runSteps(kit: Kit, steps: readonly Step[], values: LabValues, commonEnv: Record<string, string> = {}, builder?: BuilderSpec): Promise<RecordedStep[]> {
  const read = (file: string) => readContextFile(kit, file);
  const recorded: RecordedStep[] = [];
  const running = new Map<string, { proc: EngineProcess; at: number }>();
  /** the exact stdout of the steps a later step's stdin names */
  const piped = new Map<string, Buffer>();
  const pipedFrom = new Set(steps.flatMap((s) => (s.stdin && 'step' in s.stdin ? [s.stdin.step] : [])));
  try {
    for (const step of steps) {
      for (const id of step.await ?? []) await awaitStep(kit, running, recorded, id, step.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      if (step.tool === 'await') continue;
      if (step.action === 'boot-builder') {
        recorded.push(await bootStep(kit, step, builder));
        continue;
      }
      if (step.action === 'fill-engine-disk') {
        if (step.free === undefined) throw new UsageError(`step ${step.id}: action fill-engine-disk needs free: SIZE, what the engine keeps free (e.g. free: 16MiB)`);
        recorded.push({ id: step.id, record: await fillEngineDisk(kit, step.free) });
        continue;
      }
      if (step.tool === 'action') {
        recorded.push({
          id: step.id,
          record: NODE_ACTIONS.includes(step.action as FaultAction)
            ? await nodeAction(kit, step.action as FaultAction, values, step.node)
            : await faultAction(kit, step.action as FaultAction, values),
        });
        continue;
      }
      const argv = await Promise.all(step.argv.map((a) => interpolate(a, values, read)));
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries({ ...commonEnv, ...step.env })) env[k] = await interpolate(v, values, read);
      await checkFinal(kit, step, argv, env, values);
      const cwd = step.cwd ? `${values.context}/${step.cwd}` : values.context;
      const timeoutMs = step.timeoutMs ?? DEFAULT_TIMEOUT_MS;
      const full = commandOf(step, argv);
      // a standalone buildx is found through the lab's PATH, which holds the cell's own link to the binary
      const stepEnv = step.standalone ? { ...env, PATH: kit.sandbox.standalonePath } : env;
      if (step.interact) {
        const script = await fillSends(step.interact, values, read);
        recorded.push({ id: step.id, record: await interact(kit, step.id, script, full, { env: stepEnv, cwd, timeoutMs }) });
      } else if (step.dap) {
        if (step.stdout !== undefined) await stdoutTarget(kit, step.stdout, `step ${step.id}: stdout: ${step.stdout}`);
        const proc = kit.sandbox.start(full, { env: stepEnv, cwd, timeoutMs, name: `${step.id}-dap`, stdin: true });
        const terminalScript = step.runInTerminal && (await fillSends(step.runInTerminal, values, read));
        const { record, transcript } = await playDap(proc, step.dap, {
          timeoutMs,
          context: values.context,
          fill: (s) => interpolate(s, values, read),
          fact: (f) => kit.fact(`step ${step.id}: ${f}`),
          // the step's own Buildx, `dap attach SOCKET`: the one argv the lab runs for the adapter
          ...(terminalScript
            ? {
                terminal: engineTerminalHost(kit.sandbox, {
                  name: step.id,
                  script: terminalScript,
                  argv: (sock) => commandOf(step, ['dap', 'attach', sock]),
                  env: stepEnv,
                  cwd,
                  deadline: Date.now() + timeoutMs,
                }),
              }
            : {}),
          resolveLaunch: (paths) =>
            kit.sandbox.resolveInContext(paths, step.cwd ?? '.').then(
              () => undefined,
              (e: Error) => {
                throw e instanceof UsageError ? new UsageError(`step ${step.id}: launch: ${e.message}`) : e;
              },
            ),
        });
        kit.sandbox.addRecord(record);
        // a script that stopped short judges nothing: the cell is inconclusive
        recorded.push({ id: step.id, record, ...(transcript.stopped ? { missed: transcript.stopped } : {}) });
        if (step.stdout !== undefined) {
          await writeContextFile(kit, step.stdout, Buffer.from(record.stdout), `step ${step.id}: stdout: ${step.stdout}`);
          kit.fact(`step ${step.id}: the DAP transcript written to ${step.stdout}`);
        }
      } else if (step.background) {
        const log = new OutputLog();
        const proc = kit.sandbox.start(full, { env: stepEnv, cwd, timeoutMs, name: `${step.id}-bg` });
        proc.proc.onData((c) => log.append(c));
        const entry: RecordedStep = { id: step.id, record: { argv: full, exitCode: -1, stdout: '', stderr: '', durationMs: 0 } };
        recorded.push(entry);
        running.set(step.id, { proc, at: recorded.length - 1 });
        kit.fact(`step ${step.id}: ${full.slice(0, 3).join(' ')} started in the background`);
        const wait = step.background.waitFor;
        if (wait) {
          const budget = matchBudget(wait.pattern);
          const hit = await waitForMatch(
            () => matchAt(wait.pattern, stripAnsi(log.text).slice(-budget))?.text,
            (l) => log.onChange(l),
            wait.timeoutMs,
            proc.done,
          );
          if (hit !== undefined) kit.fact(`step ${step.id}: waitFor matched "${clip(hit)}"; the next step starts`);
          else {
            entry.missed = `waitFor /${wait.pattern}/ did not match ${proc.ended() ? 'before the step ended' : `within ${wait.timeoutMs / 1000} s`}`;
            kit.fact(`step ${step.id}: ${entry.missed}`);
          }
        }
        continue;
      } else {
        // where its stdout will land, before it runs (and again after: the step itself may have left a symlink)
        if (step.stdout !== undefined) await stdoutTarget(kit, step.stdout, `step ${step.id}: stdout: ${step.stdout}`);
        const input = step.stdin ? await stdinOf(kit, step, piped) : undefined;
        if (input) kit.fact(`step ${step.id}: stdin (${input.length} bytes) from ${'step' in step.stdin! ? `step ${step.stdin.step}` : step.stdin!.file}`);
        const keep = step.stdout !== undefined || pipedFrom.has(step.id);
        if (step.as) kit.fact(`step ${step.id}: runs ${runAsText(step.as)}`);
        const opts = {
          env,
          cwd,
          ...(step.as ? { as: step.as } : {}),
          ...(step.timeoutMs ? { timeoutMs: step.timeoutMs } : {}),
          ...(input ? { input } : {}),
          ...(keep ? { stdoutBytes: STDIO_LIMIT } : {}),
        };
        const { bytes, ...record }: RunResult =
          step.tool === 'docker' ? await kit.docker(argv, opts) : step.standalone ? await kit.sandbox.buildxStandalone(argv, opts) : await kit.buildx(argv, opts);
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
      kit.fact(`step ${step.id}: ${step.standalone ? 'buildx (standalone)' : step.tool} ${argv[0] ?? ''} exit ${recorded.at(-1)!.record.exitCode}`);
    }
  } finally {
    // what is still running when the steps end (or fail) is ended, and recorded as such
    for (const [id, r] of running) {
      const killed = !r.proc.ended();
      if (killed) {
        await r.proc.stop();
        kit.fact(`step ${id}: still running when the steps ended; the lab ended it`);
      }
      const rec = await r.proc.done;
      recorded[r.at]!.record = killed ? { ...rec, exitCode: 137, stderr: `${rec.stderr}\n[buildx-lab] still running when the steps ended: killed` } : rec;
      kit.sandbox.addRecord(recorded[r.at]!.record);
    }
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

/** Who a step runs as (`sudo: true`, `user: lab`), for its fact. */
const runAsText = (as: RunAs): string =>
  as === 'sudo' ? `as root under sudo from ${LAB_USER.name} (SUDO_UID=${LAB_USER.uid}, HOME kept)` : `as ${LAB_USER.name} (uid ${LAB_USER.uid})`;

/** The command a step runs, as the evidence shows it. */
function commandOf(step: Step, argv: string[]): string[] {
  if (step.tool === 'docker') return ['docker', ...argv];
  return step.standalone ? ['buildx', ...argv] : ['docker', 'buildx', ...argv];
}

/**
 * `await: ID`: waits for a background step to end, at most `timeoutMs`. A step that does not end in time
 * hung, which is what some bugs do: it is ended and recorded so (exit 124 and a note), for the checks.
 */
async function awaitStep(kit: Kit, running: Map<string, { proc: EngineProcess; at: number }>, recorded: RecordedStep[], id: string, timeoutMs: number): Promise<void> {
  const r = running.get(id);
  if (!r) throw new UsageError(`await: ${id} is not a background step that ran before this one`);
  const ended = await endsWithin(r.proc, timeoutMs);
  if (!ended) await r.proc.stop();
  running.delete(id);
  const rec = await r.proc.done;
  recorded[r.at]!.record = ended ? rec : { ...rec, exitCode: 124, stderr: `${rec.stderr}\n[buildx-lab] awaited for ${timeoutMs / 1000} s and still running: killed` };
  kit.fact(`step ${id}: ${ended ? `ended (exit ${rec.exitCode}); awaited` : `still running after ${timeoutMs / 1000} s of await; the lab ended it`}`);
  kit.sandbox.addRecord(recorded[r.at]!.record);
}

/**
 * An interactive step: its command under a pseudo-terminal in the engine, the script played against the
 * rendered screen. An `expect` that does not match in time stops the script (the screen shows what was
 * there instead). After the script the command has AFTER_SCRIPT_MS to end by itself, then the lab ends it.
 * The record's stdout is the final screen; what the lab did is in its facts and at the end of stderr.
 */
async function interact(
  kit: Kit,
  id: string,
  script: readonly InteractAction[],
  argv: string[],
  opts: { env: Record<string, string>; cwd: string; timeoutMs: number },
): Promise<CommandRecord> {
  const screen = new Screen(COLS, ROWS);
  const proc = kit.sandbox.start(argv, { ...opts, tty: { cols: COLS, rows: ROWS }, name: `${id}-tty` });
  proc.proc.onData((c) => void screen.write(c));
  const deadline = Date.now() + opts.timeoutMs;
  const notes: string[] = [];
  try {
    const stopped = await playScript(screen, { write: (d) => proc.proc.write(d), done: proc.done, ended: proc.ended }, script, deadline, (f) => kit.fact(`step ${id}: ${f}`));
    if (stopped) notes.push(stopped);
    const ended = await endAfterScript(proc, deadline, 'the command');
    if (ended) notes.push(ended);
  } finally {
    if (!proc.ended()) await proc.stop();
  }
  const raw = await proc.done;
  await screen.settled();
  const record: CommandRecord = {
    ...raw,
    ...(notes.some((n) => n.startsWith('the command was still running')) ? { exitCode: 137 } : {}),
    stdout: screen.text(),
    stderr: [raw.stderr.trim(), ...notes.map((n) => `[buildx-lab] ${n}`)].filter(Boolean).join('\n'),
  };
  screen.dispose();
  for (const n of notes) kit.fact(`step ${id}: ${n}`);
  kit.sandbox.addRecord(record);
  return record;
}

/**
 * `action: boot-builder`: the lab's builder boots here, as a step: its BuildKit image is removed from the
 * engine and pulled through the lab registry, with `pullFault` on its largest layer when the step names one.
 */
async function bootStep(kit: Kit, step: Step, spec: BuilderSpec | undefined): Promise<RecordedStep> {
  if (!spec) throw new UsageError(`step ${step.id}: action boot-builder: the cell has no builder of the lab's to boot`);
  const recorded = bootRecorded(step, await bootWithPullFault(kit, spec, step.pullFault));
  kit.fact(`step ${step.id}: boot-builder exit ${recorded.record.exitCode}`);
  return recorded;
}

/**
 * A builder's boot as one recorded step: the output of all its commands (a docker context, the creates, the
 * bootstrap), the exit and argv of the one that failed (else the last). A fault that was never hit leaves
 * the step untested: `missed`, so the case says inconclusive. Pure.
 */
export function bootRecorded(step: Pick<Step, 'id' | 'pullFault'>, boot: FaultedBoot): RecordedStep {
  const { commands, failed } = boot.builder;
  const last = failed ?? commands.at(-1);
  const record: CommandRecord = {
    argv: last?.argv ?? [],
    exitCode: last?.exitCode ?? 0,
    stdout: commands.map((c) => c.stdout).join('\n'),
    stderr: commands.map((c) => c.stderr).join('\n'),
    durationMs: commands.reduce((n, c) => n + c.durationMs, 0),
  };
  const missed = step.pullFault && !boot.faultHits.length ? `the ${step.pullFault} fault was never hit (the engine did not fetch the layer)` : undefined;
  return { id: step.id, record, ...(missed ? { missed } : {}) };
}

/**
 * A fault done to the lab's builder: `docker stop|kill|restart` of its containers in the engine (every
 * node of a docker-container builder; the buildkitd of a remote one). Recorded as the step's command.
 */
async function faultAction(kit: Kit, action: FaultAction, values: LabValues): Promise<CommandRecord> {
  const ls = await kit.sandbox.look("docker ps -a --format '{{.Names}}'");
  const name = values.builder;
  const mine = ls.stdout.split('\n').filter((n) => (n.startsWith(`buildx_buildkit_${name}`) ? /^\d+$/.test(n.slice(`buildx_buildkit_${name}`.length)) : n === `${name}-buildkitd`));
  if (name === 'default' || !mine.length)
    throw new UsageError(
      `action ${action}: the cell has no builder container (${name === 'default' ? 'the docker driver builds in the engine itself' : `none named buildx_buildkit_${name}N or ${name}-buildkitd`}); use driver: docker-container or remote`,
    );
  const verb = action.replace(/-builder$/, '') as 'stop' | 'kill' | 'restart';
  const record = await kit.docker([verb, ...mine]);
  kit.fact(`action ${action}: docker ${verb} ${mine.join(' ')} exit ${record.exitCode}`);
  return record;
}

/**
 * A fault on one node of the lab's multi-node builder (default: the last).
 * - `remove-node`: what a user does to take a node out, `buildx create --leave`, then what Buildx leaves
 *   behind removed too (the node's BuildKit container keeps running after a leave): `docker rm -f -v` of
 *   its container and state volume. The leave is the step's record; the removal is in the commands and facts.
 * - `unreachable-node`: the node's machine goes away: its endpoint (the docker context the lab made for
 *   it) now points at a closed port on the engine's own loopback, so every call Buildx makes to that node
 *   is refused. Its container is left as it was. The context update is the step's record.
 */
async function nodeAction(kit: Kit, action: FaultAction, values: LabValues, index: number | undefined): Promise<CommandRecord> {
  const name = values.builder;
  const ls = await kit.sandbox.look("docker ps -a --format '{{.Names}}'");
  const prefix = `buildx_buildkit_${name}`;
  const nodes = ls.stdout
    .split('\n')
    .filter((n) => n.startsWith(prefix) && /^\d+$/.test(n.slice(prefix.length)))
    .map((n) => Number(n.slice(prefix.length)))
    .sort((a, b) => a - b);
  const i = index ?? nodes.at(-1);
  if (i === undefined || !nodes.includes(i))
    throw new UsageError(
      `action ${action}: the builder ${name} has no node ${i ?? ''} container (nodes: ${nodes.join(', ') || 'none'}); it needs builder.nodes with driver: docker-container`,
    );
  if (action === 'unreachable-node') {
    // the context builders.ts made for node i; port 1 on the engine's own loopback: nothing listens, nothing leaves the engine
    const { bytes: _b, ...update } = await kit.docker(['context', 'update', `${name}-n${i}`, '--docker', 'host=tcp://127.0.0.1:1']);
    kit.fact(`action unreachable-node: node ${name}${i}'s endpoint (docker context ${name}-n${i}) is now tcp://127.0.0.1:1, exit ${update.exitCode}`);
    return update;
  }
  const { bytes: _, ...leave } = await kit.buildx(['create', '--leave', '--name', name, '--node', `${name}${i}`]);
  const rm = await kit.docker(['rm', '-f', '-v', `${prefix}${i}`]);
  kit.fact(`action remove-node: buildx create --leave --node ${name}${i} exit ${leave.exitCode}; docker rm -f -v ${prefix}${i} exit ${rm.exitCode}`);
  return leave;
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
