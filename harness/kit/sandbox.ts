// What a cell's steps run in: Buildx bound to one binary inside one DinD engine, with the cell's own
// DOCKER_CONFIG and BUILDX_CONFIG (as docker/buildx's integration sandbox does), its own directories,
// the environment the cell asks for, and every command recorded for the evidence.
import path from 'node:path';
import type { BuildxBinary } from '../buildx/buildx.ts';
import { BUILDX_MOUNT, FIXTURES_MOUNT, resetScript, type StartedDindContainer } from '../dind/dind.ts';
import { HarnessError, UsageError } from '../errors.ts';
import type { RunResult, RunningProcess } from '../exec.ts';
import type { CommandRecord } from '../model.ts';
import { shellQuote } from '../text.ts';
import { homePathProblem } from './lab-owned.ts';

/**
 * buildkitd.toml that lets a docker-container or remote builder talk plain HTTP to the lab registry. A
 * case's own config comes first, so its top-level keys (insecure-entitlements, debug) stay top-level.
 */
export function buildkitdToml(registryHost: string, extra = ''): string {
  return `${extra.trim() ? `${extra.trim()}\n\n` : ''}[registry."${registryHost}"]\n  http = true\n  insecure = true\n`;
}

/** A path of the cell as the engine's kernel would reach it: every symlink followed. */
export interface CellPath {
  /** as the case named it (relative to the step's directory, or absolute inside the context) */
  path: string;
  /** the real path; for a missing path, its deepest existing directory resolved, then the rest */
  real: string;
  kind: 'file' | 'dir' | 'none' | 'other';
}

/**
 * Ends the process whose pid is in the file $0 and everything it started: STOP first, so nothing forks while
 * the tree is walked, then KILL each. Children are read from /proc/<pid>/stat (the parent is the second
 * field after the parenthesised name, which may hold spaces), not `ps --ppid`: the official docker:<v>-dind
 * image is Alpine, whose busybox ps has no --ppid, so only the top process would have died there.
 */
export const KILL_TREE = `kids() { p=$1; for f in /proc/[0-9]*/stat; do s=$(cat "$f" 2>/dev/null) || continue; s=\${s##*) }; set -- $s; [ "$2" = "$p" ] && { d=\${f%/stat}; echo "\${d#/proc/}"; }; done; }
t() { kill -STOP "$1" 2>/dev/null; for c in $(kids "$1"); do t "$c"; done; kill -KILL "$1" 2>/dev/null; }
p=$(cat "$0" 2>/dev/null) && [ -n "$p" ] && t "$p"; rm -f "$0"`;

/**
 * Resolves paths inside the engine ($1: the context, then absolute paths): the deepest part that exists
 * (a dangling symlink included) through `readlink -f`, the missing rest appended. POSIX sh over coreutils
 * or busybox; paths travel as arguments, never through the script's text.
 */
const RESOLVE = `ctx=$(readlink -f "$1") || exit 3
shift
for p in "$@"; do
  q=$p; rest=
  while [ ! -e "$q" ] && [ ! -L "$q" ]; do rest="/\${q##*/}$rest"; q=\${q%/*}; [ -n "$q" ] || q=/; done
  r=$(readlink -f "$q") || r=
  if [ -z "$r" ]; then k=unresolved
  elif [ -n "$rest" ] || [ ! -e "$r" ]; then k=none
  elif [ -d "$r" ]; then k=dir
  elif [ -f "$r" ]; then k=file
  else k=other; fi
  printf '%s\t%s%s\n' "$k" "$r" "$rest"
done
printf 'ctx\t%s\n' "$ctx"`;

/**
 * The cell's unprivileged user (a step's `user: lab`, or `sudo: true`: root under sudo from it). Lab-owned:
 * a case never chooses its ids or its home (the cell's HOME). 1000 is the first uid Debian's adduser gives.
 */
export const LAB_USER = { name: 'lab', uid: 1000, gid: 1000 } as const;

/** How a step runs besides as plain root: under sudo from the lab's user, or as that user. */
export type RunAs = 'sudo' | 'lab';

/**
 * Runs "$@" ($0: the cell directory, $1: sudo | lab) in a mount namespace of its own (the caller's
 * `unshare --mount`, private propagation), where the cell's passwd and group (which hold the lab's user,
 * its home the cell's HOME) are bound over /etc's: the engine's own files, which its later cells share,
 * are never written. `lab` then drops to the lab's uid and gid (no supplementary groups) before the exec.
 */
const AS_LAB_USER = `mount --bind "$0/etc/passwd" /etc/passwd && mount --bind "$0/etc/group" /etc/group || exit 125
m=$1; shift
[ "$m" = lab ] && exec unshare --setgid ${LAB_USER.gid} --setuid ${LAB_USER.uid} -- "$@"
exec "$@"`;

/** The PATH of the engines' images (Debian's default for root). */
const ENGINE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Whether `proc` ends within `ms` (true), or is still running then (false); it is left running either way. */
export async function endsWithin(proc: { done: Promise<unknown> }, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const ended = await Promise.race([proc.done.then(() => true), new Promise<false>((res) => (timer = setTimeout(() => res(false), ms)))]);
  clearTimeout(timer);
  return ended;
}

/** How long a scripted step's command (interact, dap) may take to end after its script, before the lab ends it. */
export const AFTER_SCRIPT_MS = 10_000;

/**
 * After a scripted step: `proc` has AFTER_SCRIPT_MS (no later than `deadline`) to end by itself; then the
 * lab ends it. Returns the note saying so (`what` names the process), or undefined when it ended by itself.
 */
export async function endAfterScript(proc: EngineProcess, deadline: number, what: string): Promise<string | undefined> {
  const grace = Math.max(0, Math.min(AFTER_SCRIPT_MS, deadline - Date.now()));
  if (await endsWithin(proc, grace)) return undefined;
  await proc.stop();
  return `${what} was still running ${grace / 1000} s after the script: the lab ended it`;
}

/** A process started in the engine (CellSandbox.start). */
export interface EngineProcess {
  proc: RunningProcess;
  /** its record, argv as the step gave it (never rejects) */
  done: Promise<CommandRecord>;
  /** ends it and what it started in the engine, then waits for its record */
  stop(): Promise<void>;
  ended(): boolean;
}

export interface CommandOptions {
  env?: Record<string, string>;
  /** working directory inside the engine's container; default: the cell's build context */
  cwd?: string;
  timeoutMs?: number;
  /** the command's stdin */
  input?: Buffer;
  /** keep stdout's bytes too, at most this many (the command is killed past it) */
  stdoutBytes?: number;
  /** run under sudo from the lab's user, or as it (after useLabUser) */
  as?: RunAs;
}

export interface SandboxOptions {
  signal?: AbortSignal;
  /** a fixture directory (under fixtures/) copied into the context, stamped with the cell id */
  fixture?: string;
  /** environment every command of the cell gets (a case's `env:`) */
  env?: Record<string, string>;
  /** reset the engine first (StartedDindContainer.resetState), in the same exec as the set-up */
  reset?: ResetOptions;
}

export interface ResetOptions {
  keepImages?: readonly string[];
}

export class CellSandbox {
  readonly commands: CommandRecord[] = [];
  readonly dir: string;
  /** the fixture already copied into contextDir, if any */
  preparedFixture?: string;
  /** whether the cell's commands run with HOME in the cell (a case that places files there, config.home) */
  private ownHome = false;
  /** whether the cell's commands get KUBECONFIG (a kubernetes builder: the run's cluster) */
  private ownKube = false;
  /** whether the cell has the lab's user (useLabUser): its config then lives under that user's HOME */
  private labUser = false;

  private constructor(
    readonly dind: StartedDindContainer,
    readonly binary: BuildxBinary,
    /** the binary's path inside the DinD container */
    readonly pluginPath: string,
    readonly cellId: string,
    readonly opts: SandboxOptions,
  ) {
    this.dir = `/tmp/cells/${cellId}`;
  }

  /**
   * Creates the cell's directories and installs the binary as the `docker buildx` CLI plugin, in one exec
   * (each costs ~0.1 s); `fixture` is copied into the context and stamped with the cell id, so every cell
   * pushes its own digests.
   */
  static async create(dind: StartedDindContainer, binary: BuildxBinary, cacheRoot: string, cellId: string, registryHost: string, opts: SandboxOptions = {}): Promise<CellSandbox> {
    const rel = path.relative(cacheRoot, binary.path);
    if (rel.startsWith('..') || path.isAbsolute(rel)) throw new HarnessError(`buildx binary ${binary.path} is outside the mounted cache ${cacheRoot}`);
    if (!/^c[0-9a-z]+$/.test(cellId)) throw new HarnessError(`cell id '${cellId}' is not of the lab's form`);
    const sb = new CellSandbox(dind, binary, `${BUILDX_MOUNT}/${rel}`, cellId, opts);
    await sb.prepare(registryHost, opts.reset);
    return sb;
  }

  /**
   * Makes the cell's directories (again, after a reset): plugin link, buildkitd.toml, fixture. With `reset`,
   * the engine is reset first in the same exec (one `docker exec` a cell instead of two).
   */
  async prepare(registryHost: string, reset?: ResetOptions): Promise<void> {
    const { cellId, opts } = this;
    const script = [
      `rm -rf ${this.dir}`,
      `mkdir -p ${this.dir}/docker/cli-plugins ${this.dir}/buildx ${this.dir}/ctx ${this.dir}/out`,
      `ln -sf ${shellQuote(this.pluginPath)} ${this.dir}/docker/cli-plugins/docker-buildx`,
      // the same binary as a standalone `buildx` (a step's `standalone: true`), found through the lab's PATH
      `mkdir -p ${this.dir}/bin ${this.dir}/run && ln -sf ${shellQuote(this.pluginPath)} ${this.dir}/bin/buildx`,
      `printf '%s' ${shellQuote(buildkitdToml(registryHost))} > ${this.dir}/buildkitd.toml`,
      ...(opts.fixture ? [`cp -r ${shellQuote(this.fixture(opts.fixture))}/. ${this.contextDir}/`, `echo ${cellId} > ${this.contextDir}/cell-id.txt`] : []),
    ].join(' && ');
    this.preparedFixture = opts.fixture;
    this.ownHome = false;
    this.ownKube = false;
    this.labUser = false;
    const r = reset
      ? await this.dind.exec(['sh', '-ec', `${resetScript(reset)}\n${script}`], { timeoutMs: 150_000 })
      : await this.dind.exec(['sh', '-c', script], { timeoutMs: 30_000 });
    if (r.exitCode !== 0) throw new HarnessError(`${reset ? 'resetting DinD and ' : ''}preparing cell directory in ${this.dind.name} failed: ${r.stderr.trim()}`);
  }

  get contextDir(): string {
    return `${this.dir}/ctx`;
  }

  get dockerConfigDir(): string {
    return this.labUser ? `${this.homeDir}/.docker` : `${this.dir}/docker`;
  }

  get buildxConfigDir(): string {
    return this.labUser ? `${this.homeDir}/.docker/buildx` : `${this.dir}/buildx`;
  }

  get homeDir(): string {
    return `${this.dir}/home`;
  }

  /** What the lab owns in every command's environment: set last, so nothing a case gives replaces it. */
  private get owned(): Record<string, string> {
    return {
      DOCKER_CONFIG: this.dockerConfigDir,
      BUILDX_CONFIG: this.buildxConfigDir,
      ...(this.ownHome || this.labUser ? { HOME: this.homeDir } : {}),
      ...(this.ownKube ? { KUBECONFIG: this.kubeconfigPath } : {}),
    };
  }

  get kubeconfigPath(): string {
    return `${this.dir}/kube/config`;
  }

  /** The cluster's kubeconfig in the cell (0600: it is the cluster's admin), KUBECONFIG for every later command. */
  async placeKubeconfig(content: string): Promise<void> {
    await this.writeFiles([{ rel: 'kube/config', content, mode: 0o600 }]);
    this.ownKube = true;
  }

  /**
   * Places files under the cell's own HOME (`config.home`: Docker Desktop's markers) and runs every later
   * command with HOME there, not the engine's /root, which the engine's other cells share. Paths are held
   * to homePathProblem (lab-owned.ts) here too.
   */
  async placeHome(files: readonly { rel: string; content: Buffer }[]): Promise<void> {
    for (const f of files) {
      const why = homePathProblem(f.rel);
      if (why) throw new UsageError(`config.home: ${f.rel} ${why}`);
    }
    await this.writeFiles([{ rel: 'home/.keep', content: '' }, ...files.map((f) => ({ rel: `home/${f.rel}`, content: f.content }))]);
    this.ownHome = true;
  }

  /**
   * Gives the cell the lab's user (LAB_USER), for steps that run as it or under sudo from it: the client's
   * config moves to where a user's is, `~/.docker` and `~/.docker/buildx` under the cell's HOME (Buildx
   * v0.18+ chowns to the sudo user only what is under its home), that home becomes the user's own, and a
   * passwd and group holding the user are made for the cell (bound over /etc's only for those steps: see
   * AS_LAB_USER). Call after the config files are placed; then checks that a step can run as the user
   * there, so that a broken wrapper is the lab's error, never a step's exit code a check would misread.
   */
  async useLabUser(): Promise<void> {
    const { uid, gid, name } = LAB_USER;
    const script = [
      `cd ${this.dir} && mkdir -p home/.docker/buildx etc`,
      'cp -a docker/. home/.docker/ && cp -a buildx/. home/.docker/buildx/ && rm -rf docker buildx',
      `chown -R ${uid}:${gid} home`,
      // the engine's entries but any with the user's name or ids, then the user: its home the cell's HOME
      `awk -F: '$1 != "${name}" && $3 != ${uid}' /etc/passwd > etc/passwd && echo '${name}:x:${uid}:${gid}:buildx-lab user:${this.homeDir}:/bin/sh' >> etc/passwd`,
      `awk -F: '$1 != "${name}" && $3 != ${gid}' /etc/group > etc/group && echo '${name}:x:${gid}:' >> etc/group`,
    ].join(' && ');
    const r = await this.dind.exec(['sh', '-c', script], { timeoutMs: 30_000, signal: this.opts.signal });
    if (r.exitCode !== 0) throw new HarnessError(`giving the cell the lab's user in ${this.dind.name} failed: ${r.stderr.trim()}`);
    this.labUser = true;
    const probe = await this.dind.exec(this.runAs(['sh', '-c', 'id -u; awk -F: -v u="$(id -u)" \'$3 == u { print $6 }\' /etc/passwd'], 'lab'), {
      timeoutMs: 30_000,
      signal: this.opts.signal,
    });
    const want = `${uid}\n${this.homeDir}`;
    if (probe.exitCode !== 0 || probe.stdout.trim() !== want)
      throw new HarnessError(
        `a step cannot run as the lab's user in ${this.dind.name} (the engine image needs util-linux unshare with --setuid, and mount): exit ${probe.exitCode}, ${JSON.stringify(probe.stdout.trim())} ${probe.stderr.trim()}`,
      );
  }

  /** argv as run in the engine: as it is, or (as: sudo | lab) inside the lab user's wrapper. */
  private runAs(argv: readonly string[], as: RunAs | undefined): string[] {
    if (!as) return [...argv];
    if (!this.labUser) throw new HarnessError(`a step runs as ${as === 'sudo' ? 'root under sudo from ' : ''}the lab's user, but the cell has none (useLabUser first)`);
    return ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', AS_LAB_USER, this.dir, as, ...argv];
  }

  /**
   * What sudo puts in a command's environment (sudo(8): SUDO_COMMAND, SUDO_USER, SUDO_UID, SUDO_GID), the
   * lab's user as the one who ran it; HOME stays that user's, as under `sudo -E` or an env_keep of HOME
   * (the case docker/buildx#2745 fixed). Lab-owned: a case's env may not set them (kit/lab-owned.ts).
   */
  private sudoEnv(argv: readonly string[], as: RunAs | undefined): Record<string, string> {
    if (as !== 'sudo') return {};
    return { SUDO_COMMAND: argv.join(' '), SUDO_USER: LAB_USER.name, SUDO_UID: String(LAB_USER.uid), SUDO_GID: String(LAB_USER.gid) };
  }

  get env(): Record<string, string> {
    // Bake's own check that a bake file writes only under its directory: v0.19.x only warns unless this is
    // set (v0.20+ enforces it by default); a case may not unset it (kit/lab-owned.ts).
    return { BUILDKIT_PROGRESS: 'plain', DOCKER_CLI_HINTS: 'false', ...this.opts.env, BUILDX_BAKE_ENTITLEMENTS_FS: '1', ...this.owned };
  }

  get buildkitdConfig(): string {
    return `${this.dir}/buildkitd.toml`;
  }

  /** A fixture directory as seen inside DinD (read-only). */
  fixture(name: string): string {
    return `${FIXTURES_MOUNT}/${name}`;
  }

  /** Writes files into the cell (paths relative to the cell directory; never outside it). */
  async writeFiles(files: readonly { rel: string; content: string | Buffer; mode?: number }[]): Promise<void> {
    for (const f of files) {
      const norm = path.posix.normalize(f.rel);
      if (norm.startsWith('..') || path.posix.isAbsolute(norm)) throw new HarnessError(`cell file ${f.rel} leaves the cell directory`);
    }
    await this.dind.copyFiles(files.map((f) => ({ content: f.content, target: `${this.dir}/${path.posix.normalize(f.rel)}`, mode: f.mode ?? 0o644 })));
  }

  /**
   * Where `paths` (relative to `cwd`, itself relative to the context; or absolute) really are in the
   * engine, symlinks followed; throws UsageError when one leaves the cell's context, so a symlink an
   * earlier step wrote (`out -> /usr/local/bin`) is never read through or written through. Run with the
   * lab's environment, not the case's.
   */
  resolveInContext(paths: readonly string[], cwd = '.'): Promise<CellPath[]> {
    return this.resolveWithin(this.contextDir, "the cell's context", paths, cwd);
  }

  /**
   * The same for Buildx's own state (`BUILDX_CONFIG`: instances, defaults, activity, refs): a `state`
   * check reads there, and a symlink in it (a case's step could write one through Buildx) must not take
   * the read elsewhere in the engine.
   */
  resolveInState(paths: readonly string[]): Promise<CellPath[]> {
    return this.resolveWithin(this.buildxConfigDir, "the cell's Buildx state (BUILDX_CONFIG)", paths, '.');
  }

  private async resolveWithin(root: string, what: string, paths: readonly string[], cwd: string): Promise<CellPath[]> {
    const abs = paths.map((p) => {
      if (/[\0\r\n]/.test(p)) throw new UsageError(`${JSON.stringify(p)} holds a control character; give a plain path inside ${what}`);
      return path.posix.normalize(p.startsWith('/') ? p : `${root}/${cwd}/${p}`).replace(/(.)\/$/, '$1');
    });
    if (!abs.length) return [];
    const r = await this.dind.exec(['sh', '-c', RESOLVE, 'sh', root, ...abs], { timeoutMs: 60_000, signal: this.opts.signal });
    const lines = r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf('\t')), l.slice(l.indexOf('\t') + 1)] as const);
    const top = lines.at(-1);
    if (r.exitCode !== 0 || top?.[0] !== 'ctx' || lines.length !== abs.length + 1)
      throw new HarnessError(`resolving paths of the cell in ${this.dind.name} failed: ${r.stderr.trim()}`);
    return lines.slice(0, -1).map(([kind, realRaw], i) => {
      const real = path.posix.normalize(realRaw);
      const rel = path.posix.relative(top[1], real);
      if (kind === 'unresolved' || rel.startsWith('..') || path.posix.isAbsolute(rel)) {
        throw new UsageError(
          `${JSON.stringify(paths[i])} ${kind === 'unresolved' ? 'is a symlink that cannot be resolved' : `resolves to ${real}`}, outside ${what}: an earlier step left a symlink there; a case's files and outputs stay inside ${what}`,
        );
      }
      return { path: paths[i]!, real, kind: kind as CellPath['kind'] };
    });
  }

  /** PATH of a standalone `buildx` step: the cell's own bin directory first (the lab's, like the plugin link). */
  get standalonePath(): string {
    return `${this.dir}/bin:${ENGINE_PATH}`;
  }

  /**
   * Starts argv in the engine without waiting: a background step, or (with `tty`) an interactive one under
   * a pseudo-terminal made by util-linux `script` in the engine, driven through `docker exec -i`. The
   * process's pid is kept in the cell's run directory, so `stop()` ends it and everything it started in
   * the engine (killing the `docker exec` client alone would leave them running). The record of `done` is
   * not yet in the cell's commands: the caller adds it once it is final (addRecord).
   */
  start(argv: readonly string[], opts: CommandOptions & { tty?: { cols: number; rows: number }; name: string; stdin?: boolean }): EngineProcess {
    // the lab's user runs foreground steps only (case-build.ts refuses the rest): never ignore it silently
    if (opts.as) throw new HarnessError(`process ${opts.name}: a started process runs as root; as: ${opts.as} applies to foreground commands`);
    const pidFile = this.pidFile(opts.name);
    // The lab's wrapper: the command travels as arguments, never through the script's text.
    const inner = opts.tty ? ['script', '-qfec', `stty cols ${opts.tty.cols} rows ${opts.tty.rows} 2>/dev/null; exec ${argv.map(shellQuote).join(' ')}`, '/dev/null'] : [...argv];
    const timeoutMs = opts.timeoutMs ?? 300_000;
    const proc = this.dind.start(['sh', '-c', 'echo $$ > "$0" && exec "$@"', pidFile, ...inner], {
      // script runs the command with $SHELL: the lab's shell, whatever the case's environment says
      env: { ...this.env, ...opts.env, ...(opts.tty ? { TERM: 'xterm-256color', SHELL: '/bin/sh' } : {}), ...this.owned },
      workdir: opts.cwd ?? this.contextDir,
      // the step's timeout is kept below (it must end the process in the engine too); this is a backstop
      timeoutMs: timeoutMs + 60_000,
      ...(this.opts.signal ? { signal: this.opts.signal } : {}),
      // a terminal's keys, or a protocol spoken over stdin (a DAP step)
      stdin: opts.tty !== undefined || opts.stdin === true,
    });
    let ended = false;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void stop();
    }, timeoutMs);
    const done = proc.done.then((r) => {
      ended = true;
      clearTimeout(timer);
      return {
        ...r,
        argv: [...argv],
        ...(timedOut ? { exitCode: 124, stderr: `${r.stderr}\n[buildx-lab] killed after ${timeoutMs} ms timeout` } : {}),
      };
    });
    const stop = async (): Promise<void> => {
      // STOP first, so nothing forks while the tree is walked; then KILL every process in it
      if (!ended) await this.dind.exec(['sh', '-c', KILL_TREE, pidFile], { timeoutMs: 30_000 });
      proc.kill();
      await done;
    };
    return { proc, done, stop, ended: () => ended };
  }

  /**
   * The pid in the engine of the process start() named `name` (the pid file its wrapper writes first), or
   * undefined when the file is not there within ~2 s.
   */
  async pidOf(name: string): Promise<number | undefined> {
    const file = this.pidFile(name);
    for (let i = 0; i < 10; i++) {
      const r = await this.look('cat "$1" 2>/dev/null', { timeoutMs: 10_000 }, [file]);
      if (/^\d+\s*$/.test(r.stdout)) return Number(r.stdout.trim());
      await new Promise((res) => setTimeout(res, 200));
    }
    return undefined;
  }

  /** Where start() keeps the pid of the process it named `name`. */
  private pidFile(name: string): string {
    if (!/^[a-z0-9-]+$/.test(name)) throw new HarnessError(`process name '${name}' is not of the lab's form`);
    return `${this.dir}/run/${name}.pid`;
  }

  /** Adds a record to the cell's commands (the evidence), for a process started with start(). */
  addRecord(rec: CommandRecord): void {
    this.commands.push(rec);
  }

  /** `docker buildx <args>` through the docker CLI of the engine under test. */
  buildx(args: readonly string[], opts: CommandOptions = {}): Promise<RunResult> {
    return this.record(['docker', 'buildx', ...args], opts);
  }

  /** `buildx <args>`: the same binary run standalone, not as the docker CLI's plugin. */
  buildxStandalone(args: readonly string[], opts: CommandOptions = {}): Promise<RunResult> {
    return this.record(['buildx', ...args], { ...opts, env: { ...opts.env, PATH: this.standalonePath } });
  }

  docker(args: readonly string[], opts: CommandOptions = {}): Promise<RunResult> {
    return this.record(['docker', ...args], opts);
  }

  sh(script: string, opts: CommandOptions = {}): Promise<CommandRecord> {
    return this.record(['sh', '-c', script], opts);
  }

  /**
   * The lab's own look at the cell (a file check, a ${read:FILE}, the Git context): run, but not recorded
   * as the cell's command, and without the case's environment (a GIT_* or loader variable is the case's
   * business in its own steps, not in the lab's).
   */
  look(script: string, opts: CommandOptions = {}, args: readonly string[] = []): Promise<RunResult> {
    // args reach the script as $1...: paths travel as arguments, never through the script's text
    return this.dind.exec(['sh', '-c', script, ...(args.length ? ['sh', ...args] : [])], {
      env: { ...opts.env, ...this.owned },
      workdir: opts.cwd ?? this.contextDir,
      timeoutMs: opts.timeoutMs ?? 60_000,
      signal: this.opts.signal,
      ...(opts.input ? { input: opts.input } : {}),
      ...(opts.stdoutBytes !== undefined ? { stdoutBytes: opts.stdoutBytes } : {}),
    });
  }

  private async record(argv: string[], opts: CommandOptions): Promise<RunResult> {
    const { bytes, ...r } = await this.dind.exec(this.runAs(argv, opts.as), {
      env: { ...this.env, ...opts.env, ...this.owned, ...this.sudoEnv(argv, opts.as) },
      workdir: opts.cwd ?? this.contextDir,
      timeoutMs: opts.timeoutMs ?? 300_000,
      signal: this.opts.signal,
      ...(opts.input ? { input: opts.input } : {}),
      ...(opts.stdoutBytes !== undefined ? { stdoutBytes: opts.stdoutBytes } : {}),
    });
    // Evidence shows the command as run inside DinD, not the `docker exec` wrapper around it (and its text, not its bytes).
    const rec: CommandRecord = { ...r, argv };
    this.commands.push(rec);
    return bytes ? { ...rec, bytes } : rec;
  }
}
