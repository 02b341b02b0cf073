// The docker client commands a case's steps may run: an allowlist of subcommands and, per subcommand, of
// flags, read the way the docker CLI reads an argv (cobra over spf13/pflag): `--flag value`,
// `--flag=value`, `-f value`, `-fvalue`, `-f=value`, combined short flags (`-itd`, `-itv/:/x`), `--` ending
// the options, and flags after positional arguments except where the command stops at its first one
// (`run`: what follows the image is the container's command). Knowing which flags take a value is what
// keeps a value from being read as a flag and a flag from hiding as a value. A flag not on the list is
// refused with the command, the flag and what the command takes. Pure; checked when a case loads and
// again on the final argv before each step runs. The parser is hand-written: there is no pflag for
// JavaScript, and what matters is reading an argv exactly as the Go side will.
import { cellPathProblem, csvFields } from './lab-owned.ts';

interface Flag {
  long: string;
  short?: string;
  value?: true;
  /** why this value is refused, or undefined */
  check?: (value: string) => string | undefined;
  /** a file the client writes or reads: stays inside the cell's context */
  path?: true;
}

interface Command {
  flags: Flag[];
  /** pflag reads flags after positional arguments (cobra's default) */
  interspersed: boolean;
}

const bool = (long: string, short?: string): Flag => ({ long, ...(short ? { short } : {}) });
const val = (long: string, short?: string, extra: Partial<Flag> = {}): Flag => ({ long, ...(short ? { short } : {}), value: true, ...extra });
const FORMAT = [val('format', 'f')];
const PLATFORM = val('platform');

/** Networks a case container may join: the DinD's own bridge, or none. host and container:<id> would share another namespace. */
const RUN_NETWORKS = ['bridge', 'none', 'default'];
const network = (v: string) =>
  RUN_NETWORKS.includes(v)
    ? undefined
    : `would join ${v.startsWith('container:') ? "another container's" : v === 'host' ? "the engine's host" : "a network other than the engine's bridge"} network; --network takes ${RUN_NETWORKS.join(', ')}`;

/** The only endpoint a docker context of the cell may name: the cell's own engine. ssh:// would run ssh; tcp:// would reach other hosts. */
export const CELL_ENGINE = 'unix:///var/run/docker.sock';
const contextEndpoint = (v: string) => {
  let fields: string[];
  try {
    fields = csvFields(v);
  } catch (e) {
    return (e as Error).message;
  }
  for (const f of fields) {
    const [k, x] = [f.slice(0, f.indexOf('=') < 0 ? f.length : f.indexOf('=')), f.slice(f.indexOf('=') + 1)];
    if (k === 'host' && x === CELL_ENGINE) continue;
    if (k === 'skip-tls-verify') continue;
    return `${f}: a context of the cell reaches the cell's own engine only; write --docker host=${CELL_ENGINE}`;
  }
  return undefined;
};

/** docker run flags that cannot reach the engine's host: process, environment, names, limits, health, the bridge network. */
const RUN: Command = {
  interspersed: false,
  flags: [
    bool('detach', 'd'),
    bool('sig-proxy'),
    bool('quiet', 'q'),
    bool('interactive', 'i'),
    bool('tty', 't'),
    bool('rm'),
    bool('read-only'),
    bool('init'),
    // Root over the cell's own DinD engine, which real bugs need (entitlement and device bugs). The
    // boundary, not this list, keeps that from the host: an untrusted case's DinD runs on the lab's
    // rootless engine (engine/rootless.ts), where its root is an unprivileged host uid.
    bool('privileged'),
    bool('no-healthcheck'),
    bool('help'),
    bool('disable-content-trust'),
    val('name'),
    val('detach-keys'),
    val('pull'),
    PLATFORM,
    val('attach', 'a'),
    val('env', 'e'),
    val('entrypoint'),
    val('hostname', 'h'),
    val('domainname'),
    val('label', 'l'),
    val('restart'),
    val('stop-signal'),
    val('stop-timeout'),
    val('user', 'u'),
    val('workdir', 'w'),
    val('cap-drop'),
    val('add-host'),
    val('dns'),
    val('dns-option'),
    val('dns-search'),
    val('expose'),
    val('network', undefined, { check: network }),
    val('net', undefined, { check: network }),
    val('network-alias'),
    val('memory', 'm'),
    val('memory-reservation'),
    val('memory-swap'),
    val('cpus'),
    val('cpu-shares', 'c'),
    val('pids-limit'),
    val('shm-size'),
    val('tmpfs'),
    val('health-cmd'),
    val('health-interval'),
    val('health-retries'),
    val('health-timeout'),
    val('health-start-period'),
    val('health-start-interval'),
  ],
};

/** Flags of docker run that hand the container the engine's host (its devices, namespaces, files, ports, runtime, cgroups): named in the refusal. */
const HOST_FLAGS = new Set([
  'device',
  'device-cgroup-rule',
  'gpus',
  'cap-add',
  'security-opt',
  'volume',
  'v',
  'mount',
  'volumes-from',
  'volume-driver',
  'pid',
  'ipc',
  'uts',
  'userns',
  'cgroupns',
  'cgroup-parent',
  'runtime',
  'isolation',
  'publish',
  'p',
  'publish-all',
  'P',
  'use-api-socket',
  'oom-score-adj',
  'oom-kill-disable',
  'sysctl',
  'ulimit',
  'storage-opt',
  'log-driver',
  'log-opt',
  'env-file',
  'label-file',
  'cidfile',
  'annotation',
]);

const IMAGES: Command = { interspersed: true, flags: [bool('quiet', 'q'), bool('all', 'a'), bool('no-trunc'), bool('digests'), bool('tree'), val('format'), val('filter', 'f')] };
const PULL_PUSH: Command = { interspersed: true, flags: [bool('all-tags', 'a'), bool('quiet', 'q'), bool('disable-content-trust'), PLATFORM] };
const TAG: Command = { interspersed: false, flags: [] };

/** Subcommands a docker step may run: those a bug report around Buildx needs, that act on the cell's own engine and files. */
const DOCKER: Record<string, Command | Record<string, Command>> = {
  image: {
    inspect: { interspersed: true, flags: [...FORMAT, PLATFORM] },
    ls: IMAGES,
    rm: { interspersed: true, flags: [bool('force', 'f'), bool('no-prune'), PLATFORM] },
    tag: TAG,
    save: { interspersed: true, flags: [val('output', 'o', { path: true }), PLATFORM] },
    history: { interspersed: true, flags: [bool('human', 'H'), bool('quiet', 'q'), bool('no-trunc'), val('format'), PLATFORM] },
  },
  manifest: { inspect: { interspersed: true, flags: [bool('insecure'), bool('verbose', 'v')] } },
  context: {
    create: { interspersed: true, flags: [val('description'), val('docker', undefined, { check: contextEndpoint }), val('from')] },
    use: { interspersed: true, flags: [] },
    ls: { interspersed: true, flags: [val('format'), bool('quiet', 'q')] },
    inspect: { interspersed: true, flags: FORMAT },
    rm: { interspersed: true, flags: [bool('force', 'f')] },
  },
  run: RUN,
  pull: PULL_PUSH,
  push: PULL_PUSH,
  tag: TAG,
  inspect: { interspersed: true, flags: [...FORMAT, val('type'), bool('size', 's')] },
  version: { interspersed: true, flags: FORMAT },
  info: { interspersed: true, flags: FORMAT },
  images: IMAGES,
  // a container's log, as a user reads it (a builder's own error); never --follow, which would not end
  logs: { interspersed: true, flags: [bool('timestamps', 't'), bool('details'), val('tail', 'n'), val('since'), val('until')] },
};

/** The docker commands a step may run, for messages. */
export const DOCKER_COMMANDS = Object.keys(DOCKER);

const isCommand = (c: Command | Record<string, Command>): c is Command => 'flags' in c && Array.isArray(c.flags);

/** Every flag of a command, cobra's --help included (-h too, except where -h is something else: run's --hostname). */
function flagsOf(c: Command): Flag[] {
  return c.flags.some((f) => f.long === 'help') ? c.flags : [...c.flags, { long: 'help', ...(c.flags.some((f) => f.short === 'h') ? {} : { short: 'h' }) }];
}

const spell = (f: Flag) => (f.short ? `-${f.short}/--${f.long}` : `--${f.long}`);

/** What the docker command takes, for a refusal's fix. */
function takes(cmd: string, c: Command): string {
  const flags = flagsOf(c).filter((f) => f.long !== 'help');
  return flags.length ? `${cmd} takes ${flags.map(spell).join(', ')}` : `${cmd} takes no flags`;
}

/** A docker step's argv as the docker CLI would read it. */
export interface DockerArgv {
  /** "image inspect", "run", ... */
  command: string;
  flags: { long: string; value?: string }[];
  positionals: string[];
  /** files the client would write or read (image save -o): resolved in the engine before the step runs */
  paths: string[];
}

/**
 * Checks a docker step's argv (without the leading `docker`) against the allowlist; throws an Error naming
 * the command, the flag and what the command takes. `context` is the cell's context (`${context}` at load
 * time). Pure.
 */
export function checkDockerArgv(argv: readonly string[], context: string): DockerArgv {
  const [top, sub] = argv;
  const entry = DOCKER[top ?? ''];
  if (!entry) throw new Error(`docker ${top} is not a step the lab runs; it takes ${DOCKER_COMMANDS.join(', ')}`);
  let cmd: Command;
  let name: string;
  let rest: readonly string[];
  if (isCommand(entry)) {
    cmd = entry;
    name = `docker ${top}`;
    rest = argv.slice(1);
  } else {
    const c = entry[sub ?? ''];
    if (!c) throw new Error(`docker ${top} takes ${Object.keys(entry).join(', ')}`);
    cmd = c;
    name = `docker ${top} ${sub}`;
    rest = argv.slice(2);
  }
  const flags = flagsOf(cmd);
  const refuse = (spelled: string, why?: string): never => {
    const bare = spelled.replace(/^-+/, '');
    const reason = why ?? (top === 'run' && HOST_FLAGS.has(bare) ? "would reach the engine's host; case containers run without it" : 'is not a flag the lab allows');
    throw new Error(`${name} ${spelled} ${reason}. ${takes(name, cmd)}`);
  };
  const out: DockerArgv = { command: name.slice('docker '.length), flags: [], positionals: [], paths: [] };
  const use = (f: Flag, spelled: string, value: string | undefined) => {
    if (f.value && value !== undefined) {
      const why = f.check?.(value) ?? (f.path ? cellPathProblem(value, context) : undefined);
      if (why) refuse(`${spelled}=${value}`, why);
      if (f.path && value !== '-') out.paths.push(value);
    }
    out.flags.push({ long: f.long, ...(value !== undefined ? { value } : {}) });
  };
  let i = 0;
  while (i < rest.length) {
    const a = rest[i++]!;
    if (a === '--') {
      out.positionals.push(...rest.slice(i));
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      out.positionals.push(a);
      if (!cmd.interspersed) {
        out.positionals.push(...rest.slice(i));
        break;
      }
      continue;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const long = a.slice(2, eq < 0 ? undefined : eq);
      if (!long || long.startsWith('-')) refuse(a, 'is bad flag syntax');
      const f = flags.find((x) => x.long === long) ?? refuse(`--${long}`);
      if (eq >= 0) use(f, `--${long}`, a.slice(eq + 1));
      else if (!f.value) use(f, `--${long}`, undefined);
      else if (i < rest.length) use(f, `--${long}`, rest[i++]);
      else refuse(`--${long}`, 'needs a value');
      continue;
    }
    // A group of short flags: each letter a flag; one that takes a value takes the rest of the group
    // (after an optional `=`), or the next argument when it ends the group.
    let s = a.slice(1);
    while (s.length) {
      const c = s[0]!;
      const f = flags.find((x) => x.short === c) ?? refuse(`-${c}`);
      if (s.length > 2 && s[1] === '=') {
        use(f, `-${c}`, s.slice(2));
        s = '';
      } else if (!f.value) {
        use(f, `-${c}`, undefined);
        s = s.slice(1);
      } else if (s.length > 1) {
        use(f, `-${c}`, s.slice(1));
        s = '';
      } else if (i < rest.length) {
        use(f, `-${c}`, rest[i++]);
        s = '';
      } else refuse(`-${c}`, 'needs a value');
    }
  }
  if (top === 'run' && !out.positionals.length) throw new Error(`${name} needs an image`);
  return out;
}
