// What a case may not change about the cell the lab builds around it, as pure rules: the builder's image
// and network, the environment variables that choose the client's config, engine, programs and loader,
// the keys of a docker config.json that run programs, and the paths Buildx reads and writes (inside the
// cell's context, never beside or above it). Each rule runs at load time on the case's text (lab values
// still as ${name}) and again on the final argv just before a step runs, when ${read:FILE} and the lab
// values are filled in. A rule answers with the reason it refuses, naming the fix; the caller says where.
import path from 'node:path';

/**
 * Environment variables a case's `env:` may not set, and why. The lab owns the client's config
 * (DOCKER_CONFIG, BUILDX_CONFIG, HOME: credentials, builders, CLI plugins, the buildx binary itself), the
 * engine it talks to (DOCKER_HOST, DOCKER_CERT_PATH, DOCKER_TLS_VERIFY) and what programs run (PATH, and
 * the variables by which the dynamic loader or a shell load code into every program the lab runs in the
 * cell, its own `sh` included).
 */
const LAB_OWNED_ENV: Record<string, string> = {
  DOCKER_CONFIG: "is the cell's own client config (credentials, contexts, the buildx plugin); use config.dockerConfig for a config.json",
  BUILDX_CONFIG: "is the cell's own Buildx config (its builders); use config.buildkitdDefault for buildkitd.default.toml",
  HOME: "holds the client's fallback config; the lab sets DOCKER_CONFIG and BUILDX_CONFIG for the cell",
  DOCKER_HOST: "is the cell's own engine; a case talks to no other",
  DOCKER_CERT_PATH: "points the client at TLS material outside the cell; the cell's engine needs none",
  DOCKER_TLS_VERIFY: 'applies to a DOCKER_HOST, which the lab owns',
  PATH: 'chooses the programs the lab runs; the cell has the docker CLI and its buildx plugin',
  SSH_AUTH_SOCK: "is the socket `--ssh default` forwards into a build (it could name the engine's own API socket); give --ssh ID=PATH inside the context",
  BUILDX_BAKE_ENTITLEMENTS_FS:
    "turns off bake's own check that a bake file reads and writes only under the working directory (Buildx >= 0.19); grant a path inside the context with --allow fs=PATH",
  BAKE_ALLOW_REMOTE_FS_ACCESS: "turns off bake's filesystem check for a remote bake definition",
  SHELL: "chooses the program that runs an interactive step's command under its terminal (util-linux script runs $SHELL); the lab sets /bin/sh",
  GCONV_PATH: 'makes the C library load code from a path',
  ENV: 'makes a shell run a file at start',
  BASH_ENV: 'makes a shell run a file at start',
};

/**
 * git's own variables, every one: some run programs (ssh, askpass, proxy, exec path), the rest choose the
 * repository or config git reads (GIT_DIR, GIT_CONFIG*), where core.fsmonitor or core.sshCommand runs one;
 * and XDG_CONFIG_HOME, whose git/config git reads as the global config (review s4 F5). Left to cases: a
 * commit's author and committer, and GIT_AUTH_TOKEN and GIT_AUTH_HEADER, BuildKit's build-secret names.
 */
const GIT_PROGRAMS = /^(GIT_(?!(AUTH_(TOKEN|HEADER)|(AUTHOR|COMMITTER)_(NAME|EMAIL|DATE))$).*|SSH_ASKPASS|XDG_CONFIG_HOME)$/;

/** Why `name` may not be set by a case, or undefined when it may. Pure. */
export function labOwnedEnv(name: string): string | undefined {
  if (GIT_PROGRAMS.test(name)) return `${name} makes git run a program or read a config or repository that can (Buildx runs git on the context for its labels)`;
  if (name.startsWith('SUDO_')) return `${name} is sudo's word on who ran it, which Buildx chowns its config to (docker/buildx#2745); write sudo: true on the step instead`;
  if (name.startsWith('LD_')) return `${name} is the dynamic loader's (LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT, ...): it would load code into every program the lab runs in the cell`;
  const why = LAB_OWNED_ENV[name];
  return why ? `${name} ${why}` : undefined;
}

/**
 * The fields of a comma-separated value as Go's encoding/csv and tonistiigi/go-csvvalue read it (Buildx's
 * --output, --cache-to, --driver-opt; pflag's key=value maps): a field starting with `"` is quoted, `""`
 * in it is a quote; a quote elsewhere is an error. Hand-written because what counts is reading a value
 * exactly as the Go side will: a JavaScript CSV library trims, relaxes or joins lines differently. Throws
 * on what Go refuses, and on a line break (older Buildx read only the first line of such a value).
 */
export function csvFields(value: string): string[] {
  if (/[\r\n]/.test(value)) throw new Error(`${JSON.stringify(value)} holds a line break`);
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (value[i] === '"') {
      i++;
      for (;;) {
        if (i >= value.length) throw new Error(`${JSON.stringify(value)} has an unclosed quote`);
        if (value[i] === '"') {
          if (value[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += value[i++];
      }
      if (i < value.length && value[i] !== ',') throw new Error(`${JSON.stringify(value)} has text after a closing quote`);
    } else {
      const end = value.indexOf(',', i);
      field = value.slice(i, end < 0 ? value.length : end);
      if (field.includes('"')) throw new Error(`${JSON.stringify(value)} has a quote inside a field`);
      i = end < 0 ? value.length : end;
    }
    out.push(field);
    if (i >= value.length) return out;
    i++; // the comma
  }
}

/** key=value fields of a CSV value, keys lower-cased and trimmed as Buildx does. */
function csvMap(value: string): [string, string][] {
  return csvFields(value).map((f) => {
    const eq = f.indexOf('=');
    return eq < 0 ? [f.trim().toLowerCase(), ''] : [f.slice(0, eq).trim().toLowerCase(), f.slice(eq + 1)];
  });
}

/**
 * Why a path a step reads or writes is refused, or undefined: relative to the step's directory without
 * `..`, or absolute inside the cell's context (`${context}/...`). `-` (stdin, stdout) is not a path.
 * Lexical only; the step runner resolves symlinks inside the engine before the step runs.
 */
export function cellPathProblem(p: string, context: string): string | undefined {
  if (p === '-') return undefined;
  if (p === '') return 'is empty';
  if (/[\0\r\n]/.test(p)) return 'holds a control character';
  const parts = p.split('/');
  if (parts.includes('..')) return "leaves the cell's context (`..`); give a path inside it";
  if (p.startsWith('/')) {
    const rel = path.posix.relative(context, path.posix.normalize(p));
    if (rel.startsWith('..') || path.posix.isAbsolute(rel)) return `is outside the cell's context; give a relative path or \${context}/...`;
  }
  return undefined;
}

/**
 * Why a file may not go under the cell's own HOME (`config.home`), or undefined. Only under `.docker/`,
 * where Docker Desktop's markers live (`.docker/desktop-build/.lastaccess`): other dotfiles make programs
 * run (`.gitconfig`'s core.fsmonitor and core.sshCommand, `.ssh/config`'s ProxyCommand; Buildx runs git on
 * the context), and the client's config and plugins are DOCKER_CONFIG's (config.dockerConfig). Pure.
 */
export function homePathProblem(p: string): string | undefined {
  if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(p)) return 'is not a plain relative path (letters, digits, . _ - and /)';
  const parts = p.split('/');
  if (parts.some((x) => x === '.' || x === '..')) return 'names . or ..; give a path under HOME';
  if (parts[0] !== '.docker' || parts.length < 2)
    return "is not under .docker/: only Docker's own files go in the cell's HOME (a .gitconfig or .ssh/config would make programs run)";
  if (parts[1] === 'config.json' || parts[1] === 'cli-plugins' || parts[1] === 'buildx')
    return `.docker/${parts[1]} is the client's config, which the lab keeps in DOCKER_CONFIG and BUILDX_CONFIG: use config.dockerConfig or config.buildkitdDefault`;
  return undefined;
}

/** The builder network values a case may choose: the lab's own (host) and the engine's own, both inside the DinD. */
export const BUILDER_NETWORKS = ['host', 'bridge', 'none'] as const;

/**
 * Why docker-container driver options are refused, or undefined. `image` must be the lab's BuildKit image
 * (`labImage`; undefined: the case may not name one at all), since Buildx runs that image privileged;
 * `network` one of BUILDER_NETWORKS.
 */
export function driverOptsProblem(opts: Iterable<[string, string]>, labImage: string | undefined): string | undefined {
  for (const [k, v] of opts) {
    const key = k.trim().toLowerCase();
    if (key === 'image' && v !== labImage) {
      return labImage === undefined
        ? `driver option image is the lab's (its BuildKit image, run privileged); choose the version with buildkit: [v0.17.1, ...]`
        : `driver option image=${v} is not the lab's BuildKit image; write image=\${buildkitImage} (choose the version with buildkit:)`;
    }
    if (key === 'network' && !(BUILDER_NETWORKS as readonly string[]).includes(v))
      return `driver option network=${v} is not one the lab allows; use ${BUILDER_NETWORKS.join(', ')}`;
  }
  return undefined;
}

/**
 * The kubernetes driver's options a builder spec may give (Buildx's driver/kubernetes/factory.go): sizes,
 * scheduling and timeouts. Not image (the lab's), namespace (the cell's: cells share the cluster),
 * serviceaccount (the cluster's accounts are the lab's) or qemu.* (qemu.image names another image to run).
 */
export const KUBE_DRIVER_OPTS = [
  'replicas',
  'requests.cpu',
  'requests.memory',
  'requests.ephemeral-storage',
  'limits.cpu',
  'limits.memory',
  'limits.ephemeral-storage',
  'nodeselector',
  'annotations',
  'labels',
  'tolerations',
  'rootless',
  'loadbalance',
  'timeout',
  'buildkit-root-volume-memory',
  'default-load',
] as const;

/** Why kubernetes driver options are refused, or undefined; pure. */
export function kubeDriverOptsProblem(opts: Iterable<[string, string]>): string | undefined {
  for (const [k] of opts) {
    const key = k.trim().toLowerCase();
    if (!(KUBE_DRIVER_OPTS as readonly string[]).includes(key)) {
      return `driver option ${k} is not one a kubernetes builder may set here (image and namespace are the lab's); use ${KUBE_DRIVER_OPTS.join(', ')}`;
    }
  }
  return undefined;
}

/** A flag read from an argv in any pflag spelling: `--name v`, `--name=v`, `-n v`, `-nv`, `-abn v`. */
interface FlagUse {
  flag: string;
  value: string | undefined;
}

/**
 * Every use of the named flags in `argv`, whatever else the argv holds. Without Buildx's whole flag table
 * this reads conservatively: every token that may be a flag is looked at (even one that might be another
 * flag's value, or after `--`), every letter of a short group may start its value, and a flag given
 * without an attached value takes the next token, as pflag does whatever that token looks like.
 */
function flagUses(argv: readonly string[], long: readonly string[], short: string): FlagUse[] {
  const out: FlagUse[] = [];
  argv.forEach((a, i) => {
    const next = argv[i + 1];
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = a.slice(2, eq < 0 ? undefined : eq);
      if (long.includes(name)) out.push({ flag: `--${name}`, value: eq < 0 ? next : a.slice(eq + 1) });
    } else if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        if (!short.includes(a[j]!)) continue;
        const rest = a.slice(j + 1);
        out.push({ flag: `-${a[j]}`, value: rest === '' ? next : rest.startsWith('=') ? rest.slice(1) : rest });
      }
    }
  });
  return out;
}

/** Where the buildx subcommand is: the first argument that is not a flag, past the root's --builder NAME (-1: none). */
function subcommandAt(argv: readonly string[]): number {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--builder') i++;
    else if (!argv[i]!.startsWith('-')) return i;
  }
  return -1;
}

/** The buildx subcommand (see subcommandAt). */
function subcommand(argv: readonly string[]): string | undefined {
  const at = subcommandAt(argv);
  return at < 0 ? undefined : argv[at];
}

/**
 * The words after `dap` that cobra may take as dap's subcommand: up to the first word that stands after a
 * non-flag word. A word after a flag without `=` may be that flag's value or, if the flag is a boolean, the
 * subcommand, so both it and the next are kept (`dap --builder build attach S` attaches).
 */
function dapSubcommandWords(argv: readonly string[]): string[] {
  const words: string[] = [];
  for (let j = subcommandAt(argv) + 1; j < argv.length; j++) {
    const w = argv[j]!;
    if (w.startsWith('-')) continue;
    words.push(w);
    const prev = argv[j - 1]!;
    if (!(prev.startsWith('-') && !prev.includes('='))) break;
  }
  return words;
}

/** What an accepted buildx argv names: the paths the step will read or write (resolved in the engine before it runs). */
export interface BuildxArgvCheck {
  paths: string[];
}

/**
 * Checks a `docker buildx` argv against what the lab owns: paths read or written (-f/--file, --config,
 * --buildkitd-config, --metadata-file, --iidfile, --output dest, --cache-to dest, --cache-from src,
 * --secret src, --ssh, a local --build-context, bake's --set of outputs, caches, dockerfile and context,
 * and bake's --allow fs grants) stay inside the cell's context; `create --driver-opt` keeps the lab's image and a
 * lab network. `labImage` and `context` are the lab values (or `${buildkitImage}`, `${context}` at load
 * time). Throws an Error naming the flag and the fix; returns the paths to resolve in the engine. Pure.
 */
export function checkBuildxArgv(argv: readonly string[], labImage: string | undefined, context: string): BuildxArgvCheck {
  const paths: string[] = [];
  // `dap attach PATH` (hidden) joins stdin and stdout to any unix socket of the engine: its API socket would
  // take docker requests past the docker steps' allowlist. A case speaks DAP through `dap build` (dap:).
  // A flag's value must not hide it; an `attach` past the subcommand (`dap build --target attach`) is a value.
  if (subcommand(argv) === 'dap' && dapSubcommandWords(argv).includes('attach'))
    throw new Error('dap attach connects to any unix socket in the engine (its API socket too); speak DAP to `dap build` with a dap: script');
  const path_ = (flag: string, p: string | undefined) => {
    if (p === undefined) return;
    const why = cellPathProblem(p, context);
    if (why) throw new Error(`${flag} ${p} ${why}`);
    if (p !== '-') paths.push(p);
  };
  const csv = (flag: string, v: string) => {
    try {
      return csvMap(v);
    } catch (e) {
      throw new Error(`${flag}: ${(e as Error).message}`);
    }
  };
  const output = (flag: string, v: string | undefined) => {
    if (v === undefined) return;
    // Buildx: one field without `=` that is the whole value is a local destination (or `-`, a tar on stdout).
    const fields = csv(flag, v);
    if (fields.length === 1 && !v.includes('=') && !v.startsWith('type=')) return path_(flag, v);
    for (const [k, x] of fields) if (k === 'dest') path_(`${flag} dest=`, x);
  };
  const cache = (flag: string, v: string | undefined, key: 'dest' | 'src') => {
    if (v === undefined) return;
    for (const [k, x] of csv(flag, v)) if (k === key) path_(`${flag} ${key}=`, x);
  };
  for (const u of flagUses(argv, ['file', 'config', 'buildkitd-config', 'metadata-file', 'iidfile'], 'f')) path_(u.flag, u.value);
  for (const u of flagUses(argv, ['output'], 'o')) output(u.flag, u.value);
  for (const u of flagUses(argv, ['cache-to'], '')) cache(u.flag, u.value, 'dest');
  for (const u of flagUses(argv, ['cache-from'], '')) cache(u.flag, u.value, 'src');
  // Files a build reads from the client's side: the engine holds other cells' directories and the lab's own.
  for (const u of flagUses(argv, ['secret'], ''))
    if (u.value !== undefined) for (const [k, x] of csv(u.flag, u.value)) if (k === 'src' || k === 'source') path_(`${u.flag} ${k}=`, x);
  for (const u of flagUses(argv, ['ssh'], '')) {
    const eq = u.value?.indexOf('=') ?? -1;
    if (eq >= 0) for (const x of u.value!.slice(eq + 1).split(',')) path_(u.flag, x);
  }
  for (const u of flagUses(argv, ['build-context'], '')) {
    const v = u.value?.slice(u.value.indexOf('=') + 1);
    if (v === undefined || !u.value!.includes('=')) continue;
    // a local directory, or an OCI layout on disk; other sources (docker-image://, target:, URLs) are not paths
    if (v.startsWith('oci-layout://')) path_(u.flag, v.slice('oci-layout://'.length).split(/[@:]/)[0]!);
    else if (!/^[a-z][a-z0-9+.-]*:/i.test(v) && !/^git@/.test(v)) path_(u.flag, v);
  }
  // bake's filesystem entitlements (Buildx >= 0.19) guard the paths a bake file names: a grant stays inside too.
  for (const u of flagUses(argv, ['allow'], '')) {
    const m = u.value === undefined ? null : /^(fs|fs\.read|fs\.write)=(.*)$/s.exec(u.value);
    if (!m) continue;
    if (m[2] === '*') throw new Error(`--allow ${u.value} grants bake every path of the engine; grant a path inside the context (--allow ${m[1]}=out)`);
    path_(`--allow ${m[1]}=`, m[2]);
  }
  for (const u of flagUses(argv, ['set'], '')) {
    // bake --set TARGET.KEY=VALUE (TARGET may be a pattern, KEY may carry an index)
    const m = u.value === undefined ? null : /^[^=]*\.([a-z-]+)(?:\[[^\]]*\])?=(.*)$/s.exec(u.value);
    if (!m) continue;
    const [, key, v] = m as unknown as [string, string, string];
    if (key === 'output') output(`--set ${key}`, v);
    else if (key === 'cache-to') cache(`--set ${key}`, v, 'dest');
    else if (key === 'cache-from') cache(`--set ${key}`, v, 'src');
    else if (key === 'dockerfile' || key === 'context') path_(`--set ${key}`, v);
  }
  let image = false;
  for (const u of flagUses(argv, ['driver-opt'], '')) {
    if (u.value === undefined) continue;
    const opts = csv(u.flag, u.value);
    const why = driverOptsProblem(opts, labImage);
    if (why) throw new Error(`--driver-opt ${u.value}: ${why}`);
    image ||= opts.some(([k]) => k === 'image');
  }
  // Without an image option Buildx runs whatever the engine holds under moby/buildkit's default name,
  // which a step can build and load first.
  const driver = flagUses(argv, ['driver'], '').at(-1)?.value ?? 'docker-container';
  // `create --leave` takes a node out of a builder and starts nothing (pflag's true spellings)
  // Only a create that does nothing else: `--leave` may be another flag's value (`--config --leave`), and a
  // create that also names a driver, options, config or bootstrap starts a builder (review s4 F4).
  const leave =
    argv.some((a) => a === '--leave' || /^--leave=(1|t|T|TRUE|true|True)$/.test(a)) &&
    !argv.some((a) => /^--(driver|driver-opt|bootstrap|config|buildkitd-config|buildkitd-flags|platform|append|use)(=|$)/.test(a));
  if (subcommand(argv) === 'create' && !['remote', 'docker'].includes(driver) && !image && !leave) {
    throw new Error(`create of a ${driver} builder must name the lab's BuildKit image: add --driver-opt image=\${buildkitImage} (Buildx runs the image privileged)`);
  }
  return { paths };
}

/**
 * Keys of a docker config.json the lab passes on to the client; anything else is refused. Left out:
 * `credsStore` and `credHelpers` (the client runs docker-credential-<name>, which a case could ship) and
 * `cliPluginsExtraDirs` (plugin directories searched before the cell's own: a case's binary would run as
 * `docker buildx`). `proxies` only sets variables in the containers the client starts; `currentContext`
 * can only name a context of the cell's own config, whose endpoints the `context create` rule bounds.
 */
export const DOCKER_CONFIG_KEYS = [
  'auths',
  'HttpHeaders',
  'psFormat',
  'imagesFormat',
  'networksFormat',
  'pluginsFormat',
  'volumesFormat',
  'statsFormat',
  'detachKeys',
  'serviceInspectFormat',
  'servicesFormat',
  'tasksFormat',
  'secretFormat',
  'configFormat',
  'nodesFormat',
  'pruneFilters',
  'proxies',
  'experimental',
  'currentContext',
  'plugins',
  'aliases',
  'features',
] as const;

const CONFIG_REFUSED: Record<string, string> = {
  credsStore: 'names a credential helper program the client would run',
  credHelpers: 'names credential helper programs the client would run',
  cliPluginsExtraDirs: "makes the client run CLI plugins from other directories before the cell's own buildx",
};

/** Why a docker config.json's text is refused, or undefined. Pure. */
export function dockerConfigProblem(text: string): string | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return `is not JSON (${(e as Error).message})`;
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) return 'is not a JSON object';
  // Go's encoding/json matches keys case-insensitively: CREDSSTORE is credsStore to the client.
  const known = (keys: readonly string[], key: string) => keys.find((k) => k.toLowerCase() === key.toLowerCase());
  for (const key of Object.keys(json)) {
    const refused = known(Object.keys(CONFIG_REFUSED), key);
    if (refused) return `${key} ${CONFIG_REFUSED[refused]}; put credentials in auths`;
    if (!known(DOCKER_CONFIG_KEYS, key)) return `${JSON.stringify(key)} is not a key the lab passes on; it takes ${DOCKER_CONFIG_KEYS.join(', ')}`;
  }
  return undefined;
}
