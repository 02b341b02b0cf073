// A bug report as data: `<case-dir>/case.yaml` plus the files it builds. Parsing and validation only
// (a zod schema), every error a UsageError naming case.yaml's line and the field. The case directory is
// the user's: it is only read, and nothing outside it may be reached through it (absolute paths, `..`,
// symlinks), because its files are copied into a privileged DinD engine and pushed to a registry. A case
// is a stranger's code: its docker steps, buildx argv, env, builder options and config.json go through
// the allowlists of kit/docker-argv.ts and kit/lab-owned.ts here, and again when each step runs.
import { lstatSync, readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import semver from 'semver';
import { LineCounter, isCollection, isMap, parseDocument, visit, type Document } from 'yaml';
import { z } from 'zod';
import { loadReleases, resolveSpec } from '../buildx/spec.ts';
import { parseGitBuildxSpec } from '../buildx/git-source.ts';
import { parseLocalGitSpec } from '../provision/git-tree.ts';
import { isGitSpec } from '../git/revision.ts';
import { resolveEngineSpec } from '../engine/spec.ts';
import { UsageError } from '../errors.ts';
import { DRIVERS, PULL_FAULTS, REGISTRY_BEHAVIOURS, STORES, UNSUPPORTED_DRIVERS } from '../model.ts';
import { validateCheck, type Check } from '../kit/checks.ts';
import { checkDockerArgv } from '../kit/docker-argv.ts';
import { checkBuildxArgv, dockerConfigProblem, driverOptsProblem, homePathProblem, labOwnedEnv } from '../kit/lab-owned.ts';
import { FAULT_ACTIONS, type InteractAction, NODE_ACTIONS, removeNodeProblem, type Step } from '../kit/steps.ts';
import { controlByte } from '../kit/terminal.ts';
import { checkBuildkitVersion } from '../buildkit/image.ts';
import type { CaseSource } from '../serve/http-files.ts';
import { spansShape, tracesProblems, tracesSchema, tracesSpec, type TracesSpec } from './traces.ts';
import { dapScript, dapScriptSchema, dapStepProblem } from './dap-step.ts';
import { SERVE_LIMITS, credentialProblem, refNameProblem, repoBuildOrder, repoNameProblem, servedPathProblem, submodulePathProblem, type ServeSpec } from '../serve/spec.ts';
import { S3_VALUES, SOURCE_KINDS, s3ServeSchema, s3UseProblem } from '../serve/s3-spec.ts';

export const CASE_FILE = 'case.yaml';
/** A case is a bug report, not a repository: bound what gets copied into the engine. */
export const MAX_FILES = 1000;
export const MAX_BYTES = 64 << 20;

/** GOOS/GOARCH values an OCI platform may name; a typo (linux/amd65) must not become a silent cell. */
const OSES = ['linux', 'windows', 'darwin', 'freebsd', 'netbsd', 'openbsd', 'solaris', 'illumos', 'aix', 'plan9', 'wasip1', 'js'];
const ARCHES = ['amd64', '386', 'arm', 'arm64', 'ppc64le', 'ppc64', 's390x', 'riscv64', 'mips', 'mipsle', 'mips64', 'mips64le', 'loong64', 'wasm'];
export const isPlatform = (p: string): boolean => {
  const [os, arch, variant, ...rest] = p.split('/');
  return OSES.includes(os!) && ARCHES.includes(arch ?? '') && (variant === undefined || /^v\d+$/.test(variant)) && rest.length === 0;
};

/** Lab values a step's argv, env and checks may name as ${name}. */
export const LAB_VALUES = [
  'target',
  'repository',
  'tag',
  'registry',
  'builder',
  'buildkitImage',
  'base',
  'cell',
  'context',
  'platforms',
  'http',
  'git',
  'otlp',
  ...S3_VALUES,
] as const;
const PARAMETRIC = ['target', 'read'] as const;

/** Every ${...} in `text` names a lab value; returns the names used. Throws on an unknown one. Pure. */
export function labValuesIn(text: string): string[] {
  const used: string[] = [];
  for (const m of text.matchAll(/\$\{([^}]*)\}/g)) {
    const [name, arg] = m[1]!.split(':', 2) as [string, string | undefined];
    if ((LAB_VALUES as readonly string[]).includes(name) && arg === undefined) used.push(name);
    else if ((PARAMETRIC as readonly string[]).includes(name) && arg && /^[A-Za-z0-9][A-Za-z0-9._/-]{0,200}$/.test(arg) && !arg.split('/').includes('..')) used.push(name);
    else throw new Error(`\${${m[1]}} is not a lab value; use ${LAB_VALUES.map((v) => `\${${v}}`).join(', ')}, \${target:NAME} or \${read:FILE}`);
  }
  return used;
}

/** An enum whose error reads like the rest: '"run" is not one of build, bake, create'. */
const choice = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: (i) => (i.input === undefined ? 'is required' : `${JSON.stringify(i.input)} is not one of ${values.join(', ')}`) });

const oneOrMany = <T extends z.ZodType>(item: T) =>
  z.union([item, z.array(item).min(1, 'is empty; leave it out for the default').max(50)]).transform((v) => (Array.isArray(v) ? v : [v]) as z.infer<T>[]);
const nonEmpty = (max = 4096) =>
  z
    .string({
      error: (i) =>
        i.input === undefined ? 'is required' : typeof i.input === 'number' ? `${i.input} is a number: quote it ("0.20")` : `${JSON.stringify(i.input)} is not a string`,
    })
    .min(1, 'is empty')
    .max(max, `is longer than ${max} characters`);
const labText = (max = 4096) =>
  nonEmpty(max).superRefine((v, ctx) => {
    try {
      labValuesIn(v);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
    }
  });
const argv = z.array(labText()).min(1, 'needs at least the subcommand').max(200);
const envName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,100}$/, 'is not an environment variable name')
  .superRefine((n, ctx) => {
    const why = labOwnedEnv(n);
    if (why) ctx.addIssue({ code: 'custom', message: `${why}; the lab sets it for the cell` });
  });
const envMap = z
  .record(envName, labText().or(z.number().transform(String)).or(z.boolean().transform(String)))
  .refine((m) => Object.keys(m).length <= 50, 'has more than 50 variables');
const relPath = nonEmpty(500).refine((p) => !path.isAbsolute(p) && !p.replace(/\\/g, '/').split('/').includes('..'), 'must be a path inside the case directory');
const regex = nonEmpty(2000).superRefine((v, ctx) => {
  try {
    validateCheck({ kind: 'output', pattern: v });
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
  }
});
/** builder.driverOpts: the builder's image is the lab's, its network one the lab allows. */
const driverOpts = z.record(z.string().max(100), z.string().max(1000)).superRefine((m, ctx) => {
  const why = driverOptsProblem(Object.entries(m), undefined);
  if (why) ctx.addIssue({ code: 'custom', message: why });
});
const platform = nonEmpty(100).refine(isPlatform, 'is not a platform (expected os/arch[/variant], e.g. linux/arm64)');
/** A string held to one of serve/spec.ts's pure rules. */
const ruled = (max: number, problem: (v: string) => string | undefined) =>
  nonEmpty(max).superRefine((v, ctx) => {
    const why = problem(v);
    if (why) ctx.addIssue({ code: 'custom', message: why });
  });
const refName = ruled(100, refNameProblem);
const repoName = ruled(63, repoNameProblem);
const count = (n: number, what: string) => (m: Record<string, unknown>) => (Object.keys(m).length >= 1 && Object.keys(m).length <= n ? true : `needs 1 to ${n} ${what}`);
const atMost = <T extends z.ZodType>(n: number, what: string, schema: T) =>
  schema.superRefine((m, ctx) => {
    const ok = count(n, what)(m as Record<string, unknown>);
    if (ok !== true) ctx.addIssue({ code: 'custom', message: ok });
  });
/** `serve:` what the lab serves to the case's builds: ${http} (files, tarballs, faults) and ${git} (repositories). */
const serveSchema = z
  .strictObject({
    http: z
      .strictObject({
        files: atMost(SERVE_LIMITS.files, 'files', z.record(ruled(1200, servedPathProblem), z.union([relPath, z.strictObject({ tar: relPath, gzip: z.boolean().optional() })]))),
        faults: z
          .array(
            z.strictObject({
              path: ruled(1200, servedPathProblem),
              kind: choice(['slow', 'truncate', 'wrong-length']),
              ms: z.number().int().min(1).max(120_000).optional(),
              afterBytes: z.number().int().min(0).optional(),
              by: z
                .number()
                .int()
                .min(-(1 << 20))
                .max(1 << 20)
                .refine((n) => n !== 0, 'is 0: the length would be right')
                .optional(),
              times: z.number().int().min(1).max(1000).optional(),
            }),
          )
          .max(SERVE_LIMITS.faults)
          .optional(),
      })
      .optional(),
    git: z
      .strictObject({
        auth: z
          .union([
            z.strictObject({ token: ruled(SERVE_LIMITS.credential, (v) => credentialProblem(v, 'token')) }),
            z.strictObject({
              username: ruled(SERVE_LIMITS.credential, (v) => credentialProblem(v, 'username')),
              password: ruled(SERVE_LIMITS.credential, (v) => credentialProblem(v, 'password')),
            }),
          ])
          .optional(),
        repos: atMost(
          SERVE_LIMITS.repos,
          'repositories',
          z.record(
            repoName,
            z.strictObject({
              commits: z
                .array(
                  z.strictObject({
                    tree: relPath,
                    message: nonEmpty(1000).optional(),
                    tags: z
                      .array(z.union([refName, z.strictObject({ name: refName, message: nonEmpty(1000) })]))
                      .max(SERVE_LIMITS.refsPerCommit)
                      .optional(),
                    branches: z.array(refName).max(SERVE_LIMITS.refsPerCommit).optional(),
                  }),
                )
                .max(SERVE_LIMITS.commits)
                .optional(),
              submodules: z
                .record(ruled(1000, submodulePathProblem), repoName)
                .refine((m) => Object.keys(m).length <= SERVE_LIMITS.submodules, `has more than ${SERVE_LIMITS.submodules} submodules`)
                .optional(),
            }),
          ),
        ),
      })
      .optional(),
    s3: s3ServeSchema.optional(),
  })
  .refine((s) => s.http !== undefined || s.git !== undefined || s.s3 !== undefined, 'needs http:, git: or s3:');
type ServeInput = z.infer<typeof serveSchema>;

const stepId = z.string().regex(/^[a-z0-9][a-z0-9-]{0,40}$/, 'is not a step id (lower-case letters, digits, -)');

/** How a JSON document answers at a JSON Pointer (kit/checks.ts validates the pointer and the pattern). */
const jsonExpectation = z.strictObject({
  pointer: z.string().max(500, 'is longer than 500 characters'),
  exists: z.boolean().optional(),
  equals: z.union([z.string().max(4096), z.number(), z.boolean(), z.null()]).optional(),
  matches: regex.optional(),
  count: z.union([z.number().int().min(0).transform(String), nonEmpty(20)]).optional(),
});
/** A `file` (in the context) or `state` (under BUILDX_CONFIG) check; validateCheck refuses what the shape cannot. */
const pathExpectation = z.strictObject({
  // lab values allowed: a builder's state is named after it (instances/${builder})
  path: labText(500).refine(
    (p) => !path.isAbsolute(p) && !p.replace(/\\/g, '/').split('/').includes('..'),
    "must be a path inside the cell's context (file) or its Buildx state (state): relative, without ..",
  ),
  exists: z.boolean().optional(),
  directory: z.boolean().optional(),
  contains: nonEmpty().optional(),
  notContains: nonEmpty().optional(),
  matches: regex.optional(),
  json: jsonExpectation.optional(),
});

/** The symptom checks a case (or a step) may declare, as YAML writes them. */
const checkShape = z
  .strictObject({
    output: regex.optional(),
    notOutput: regex.optional(),
    panic: z.literal(true).optional(),
    exitCode: z.union([choice(['zero', 'nonzero']), z.number().int().min(0).max(255)]).optional(),
    step: stepId.optional(),
    file: pathExpectation.optional(),
    state: pathExpectation.optional(),
    image: z.strictObject({ ref: labText(500), exists: z.boolean().optional(), platforms: z.array(platform).max(20).optional() }).optional(),
    registry: z
      .union([
        choice(['missing-platforms', 'not-an-index', 'push-refused', 'incomplete']),
        z.strictObject({
          ref: labText(500).optional(),
          exists: z.boolean().optional(),
          platforms: z.array(platform).max(20).optional(),
          exactPlatforms: z.boolean().optional(),
          lacks: z.array(platform).min(1).max(20).optional(),
          index: z.boolean().optional(),
          complete: z.boolean().optional(),
          attestations: z.boolean().optional(),
          annotations: z.record(z.string().max(200), z.string().max(2000)).optional(),
          lacksAnnotations: z.array(nonEmpty(200)).min(1).max(50).optional(),
        }),
      ])
      .optional(),
    spans: spansShape(regex, z.union([z.number().int().min(0).transform(String), nonEmpty(20)])).optional(),
    requests: z
      .strictObject({
        count: z.union([z.number().int().min(0).transform(String), nonEmpty(20)]),
        server: choice(['registry', ...SOURCE_KINDS]).optional(),
        path: regex.optional(),
        method: choice(['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE']).optional(),
        on: choice(['manifests', 'blobs', 'uploads', 'tags']).optional(),
        reference: labText(200).optional(),
        repository: labText(300).optional(),
        status: z
          .string()
          .regex(/^[1-5][0-9x]{0,2}$/i)
          .optional(),
        userAgent: regex.optional(),
      })
      .optional(),
  })
  .refine((c) => Object.keys(c).some((k) => k !== 'step'), 'needs a check: output, notOutput, panic, exitCode, file, state, image, registry, requests or spans');
type CheckShape = z.infer<typeof checkShape>;

const symptomSchema = z.union([checkShape, z.array(checkShape).min(1).max(50)]);

/** Load-time stand-ins for lab values the argv rules compare against (filled in again before each step runs). */
const AT_LOAD = { buildkitImage: '${buildkitImage}', context: '${context}' };

/** An argv rule as a schema refinement: its message on the argv's field. */
const argvRule = (rule: (a: string[]) => unknown) => (a: string[], ctx: z.core.$RefinementCtx<string[]>) => {
  try {
    rule(a);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
  }
};

/** Seconds a step waits for a pattern (an `expect`, a `waitFor`) when it names none, and at most. */
const WAIT_DEFAULT_S = 30;
const WAIT_MAX_S = 600;
const waitSeconds = z.number().int().min(1).max(WAIT_MAX_S);

/** One line of an interactive step's script: one of expect (with its timeout), send, sendControl. */
const interactAction = z
  .strictObject({
    expect: regex.optional(),
    timeout: waitSeconds.optional(),
    send: labText(4096).optional(),
    sendControl: z
      .string()
      .superRefine((k, ctx) => {
        try {
          controlByte(k);
        } catch (e) {
          ctx.addIssue({ code: 'custom', message: (e as Error).message });
        }
      })
      .optional(),
  })
  .refine((a) => [a.expect, a.send, a.sendControl].filter((x) => x !== undefined).length === 1, 'a line is one of expect: PATTERN, send: TEXT or sendControl: KEY')
  .refine((a) => a.timeout === undefined || a.expect !== undefined, 'timeout belongs to an expect line');

const stepSchema = z
  .strictObject({
    id: stepId.optional(),
    buildx: argv.superRefine(argvRule((a) => checkBuildxArgv(a, AT_LOAD.buildkitImage, AT_LOAD.context))).optional(),
    docker: argv.superRefine(argvRule((a) => checkDockerArgv(a, AT_LOAD.context))).optional(),
    action: choice(FAULT_ACTIONS).optional(),
    // remove-node, unreachable-node: which of builder.nodes (default the last)
    node: z.number().int().min(0).max(7).optional(),
    standalone: z.boolean().optional(),
    interact: z.array(interactAction).min(1, 'is empty; give expect, send or sendControl lines').max(100).optional(),
    // a DAP script played against `buildx dap build` (repro/dap-step.ts)
    dap: dapScriptSchema(labText(4096), waitSeconds).optional(),
    background: z.boolean().optional(),
    waitFor: z.union([regex, z.strictObject({ pattern: regex, timeout: waitSeconds.optional() })]).optional(),
    await: oneOrMany(stepId).optional(),
    env: envMap.optional(),
    cwd: relPath.optional(),
    timeout: z.number().int().min(1).max(3600).optional(),
    // a file of the context: the step's stdout goes there, byte for byte (kit/steps.ts bounds it)
    stdout: relPath.optional(),
    // a file of the context, or an earlier step's stdout
    stdin: z.union([relPath.transform((file) => ({ file })), z.strictObject({ file: relPath }), z.strictObject({ step: stepId })]).optional(),
    symptom: symptomSchema.optional(),
  })
  .refine(
    (s) => (s.buildx ? 1 : 0) + (s.docker ? 1 : 0) + (s.action ? 1 : 0) === (s.await && !s.buildx && !s.docker && !s.action ? 0 : 1),
    'a step is one of buildx: [...], docker: [...] or action: ..., or only await: ID',
  );
type StepInput = z.infer<typeof stepSchema>;

const caseSchema = z.strictObject({
  title: nonEmpty(300),
  links: oneOrMany(
    z
      .string()
      .regex(/^https?:\/\/\S+$/, 'is not an http(s) URL')
      .max(2000),
  ).optional(),
  versions: oneOrMany(nonEmpty(200)).optional(),
  engine: oneOrMany(nonEmpty(100)).optional(),
  store: oneOrMany(choice(STORES)).optional(),
  driver: oneOrMany(z.string().refine((d) => (DRIVERS as readonly string[]).includes(d) || d in UNSUPPORTED_DRIVERS, `is not one of ${DRIVERS.join(', ')}`)).optional(),
  buildkit: oneOrMany(nonEmpty(200)).optional(),
  registry: oneOrMany(choice(REGISTRY_BEHAVIOURS)).optional(),
  builder: z
    .strictObject({
      nodes: z
        .array(z.strictObject({ platforms: z.array(platform).min(1).max(10).optional(), driverOpts: driverOpts.optional() }))
        .min(1)
        .max(8)
        .optional(),
      driverOpts: driverOpts.optional(),
      buildkitdConfig: relPath.optional(),
      remote: z.strictObject({ transport: choice(['tcp', 'unix']), tls: z.boolean().optional() }).optional(),
      bootstrap: z.boolean().optional(),
      rootless: z.boolean().optional(),
    })
    .optional(),
  env: envMap.optional(),
  config: z
    .strictObject({
      buildkitdDefault: relPath.optional(),
      dockerConfig: relPath.optional(),
      // files under the cell's own HOME, which the lab then sets: path under HOME -> case file
      home: atMost(20, 'files', z.record(ruled(300, homePathProblem), relPath)).optional(),
    })
    .optional(),
  // true, or the files to leave out of the commit: a dirty working tree
  git: z.union([z.boolean(), z.strictObject({ uncommitted: z.array(relPath).min(1).max(50) })]).optional(),
  serve: serveSchema.optional(),
  traces: tracesSchema.optional(),
  repeat: z.number().int().min(1).max(20).optional(),
  verdict: choice(['any', 'majority']).optional(),
  steps: z.array(stepSchema).min(1).max(50).optional(),
  // the one-command form
  command: choice(['build', 'bake', 'create']).optional(),
  args: oneOrMany(labText()).optional(),
  bakeFile: relPath.optional(),
  context: relPath.optional(),
  platforms: oneOrMany(platform).optional(),
  push: z.boolean().optional(),
  fault: z.strictObject({ kind: z.preprocess((v) => (typeof v === 'number' ? String(v) : v), choice(PULL_FAULTS)) }).optional(),
  symptom: symptomSchema.optional(),
  expect: z.record(z.string(), choice(['present', 'absent', 'reproduced', 'fixed'])).optional(),
});
type CaseInput = z.infer<typeof caseSchema>;

export interface CaseFile {
  /** path inside the case directory, '/'-separated */
  rel: string;
  /** the real file on the host (a symlink inside the case resolves here) */
  real: string;
  mode: number;
}

/** A step of the kit, with the checks that judge it alone. */
export interface CaseStep extends Step {
  checks: Check[];
}

export interface ReproCase {
  /** real path of the case directory */
  dir: string;
  title: string;
  links: string[];
  versions: string[];
  engine: string[];
  store: string[];
  driver: string[];
  buildkit: string[];
  registry: string[];
  builder: NonNullable<CaseInput['builder']>;
  env: Record<string, string>;
  config: NonNullable<CaseInput['config']>;
  git: boolean;
  /** with git: case files left out of the commit (untracked), so the working tree is dirty */
  gitUncommitted: string[];
  /** what the lab serves to the builds (${http}, ${git}); absent: no server starts */
  serve?: ServeSpec;
  /** the lab's OTLP receiver (${otlp}) and what exports to it; absent: none starts */
  traces?: TracesSpec;
  repeat: number;
  verdict: 'any' | 'majority';
  platforms: string[];
  fault?: (typeof PULL_FAULTS)[number];
  /** `command: create`: the builder's boot is the step under test */
  bootIsTheStep: boolean;
  steps: CaseStep[];
  /** checks on the whole case; with the steps' own, all must hold for "present" */
  checks: Check[];
  /** buildx range -> whether the symptom is expected, first match wins; empty when the case declares none */
  expect: { range: string; present: boolean }[];
  /** lab values the steps and checks name */
  uses: Set<string>;
  files: CaseFile[];
}

type Key = string | number;

/** Positions and messages for one case.yaml. */
class Source {
  readonly lines = new LineCounter();
  readonly doc: Document;
  constructor(text: string) {
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false, uniqueKeys: true });
  }

  lineOf(offset: number | undefined): number {
    return offset === undefined ? 1 : this.lines.linePos(offset).line;
  }

  /** Line of the node at `at` (a key's own line when `key`), else of its nearest existing parent. */
  lineAt(at: readonly Key[], key?: string): number {
    if (key !== undefined) {
      const parent = this.doc.getIn(at, true);
      if (isMap(parent)) {
        const pair = parent.items.find((p) => String((p.key as { value?: unknown } | null)?.value ?? p.key) === key);
        const range = (pair?.key as { range?: [number, number, number] } | null)?.range;
        if (range) return this.lineOf(range[0]);
      }
    }
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
export function fieldName(at: readonly Key[]): string {
  return at.map((k, i) => (typeof k === 'number' ? `[${k}]` : /^[A-Za-z_][\w-]*$/.test(k) ? `${i ? '.' : ''}${k}` : `${i ? '.' : ''}${visibleKey(k)}`)).join('') || '(document)';
}

/** A key that is not a plain name, quoted, with invisible characters (a BOM, a right-to-left mark, controls) spelled out. */
function visibleKey(k: string): string {
  return `"${k.slice(0, 100).replace(/["\\]|[\p{C}\p{Z}]/gu, (c) => (c === ' ' ? c : c === '"' || c === '\\' ? `\\${c}` : `\\u{${c.codePointAt(0)!.toString(16)}}`))}${k.length > 100 ? '…' : ''}"`;
}

/** Reads and validates `<dir>/case.yaml` and lists the files to copy. */
export function loadCase(dir: string): ReproCase {
  let root: string;
  try {
    root = realpathSync(dir);
    if (!statSync(root).isDirectory()) throw new Error('not a directory');
  } catch (e) {
    throw new UsageError(`case directory ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; give a directory holding ${CASE_FILE}`);
  }
  let text: string;
  try {
    const file = caseFilePath(root, CASE_FILE);
    if (statSync(file).size > 1 << 20) throw new UsageError(`${CASE_FILE} is larger than 1 MiB; a case file describes a bug, it does not carry it`);
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${path.join(root, CASE_FILE)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; a case directory needs a ${CASE_FILE}`);
  }
  return parseCase(text, root);
}

/** Validates case.yaml's text against the case directory `root` (a real path). */
export function parseCase(text: string, root: string): ReproCase {
  const src = new Source(text);
  const err = src.doc.errors[0];
  // (without prettyErrors the parser leaves linePos unset: the line comes from the error's offset)
  if (err) throw new UsageError(`${CASE_FILE}:${src.lineOf(err.pos[0])}: invalid YAML: ${err.message.split('\n')[0]}`);
  if (!isMap(src.doc.contents)) throw new UsageError(`${CASE_FILE}:1: the document must be a mapping (title, steps or command, symptom, ...)`);
  // A list or mapping as a key: refused here, before toJS would stringify it (with a process warning).
  visit(src.doc, {
    Pair(_, pair) {
      if (isCollection(pair.key)) throw new UsageError(`${CASE_FILE}:${src.lineOf(pair.key.range?.[0])}: a key must be a word, not a list or mapping`);
    },
  });
  let raw: unknown;
  try {
    raw = src.doc.toJS({ maxAliasCount: 50 });
  } catch (e) {
    throw new UsageError(`${CASE_FILE}:1: ${(e as Error).message}`);
  }
  const parsed = caseSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = mostSpecific(parsed.error.issues[0]!);
    const at = issue.path as Key[];
    if (issue.code === 'unrecognized_keys')
      src.fail(
        [...at, issue.keys[0]!],
        `unknown key; ${fieldName(at) === '(document)' ? 'see fixtures/cases/README.md for the keys' : `${fieldName(at)} takes ${knownKeys(at)}`}`,
        src.lineAt(at, issue.keys[0]),
      );
    src.fail(at, issue.message);
  }
  return buildCase(src, parsed.data!, root);
}

type Issue = z.core.$ZodIssue;

/** In a union (a value that may be a word or a mapping), the branch that got furthest says what is wrong. */
function mostSpecific(issue: Issue): Issue {
  // A bad record key or element carries the reason inside.
  if ((issue.code === 'invalid_key' || issue.code === 'invalid_element') && issue.issues[0]) return { ...issue, message: mostSpecific(issue.issues[0]).message };
  if (issue.code !== 'invalid_union' || !issue.errors.length) return issue;
  const branches = issue.errors.map((errs) => errs.map((e) => ({ ...e, path: [...issue.path, ...e.path] }) as Issue));
  const score = (errs: Issue[]) => (errs[0] ? errs[0].path.length * 2 + (errs[0].code === 'invalid_type' ? 0 : 1) : -1);
  const best = branches.reduce((a, b) => (score(b) > score(a) ? b : a));
  return best[0] ? mostSpecific(best[0]) : issue;
}

function knownKeys(at: readonly Key[]): string {
  const top = at[0];
  if (top === 'symptom' || at.includes('symptom')) return 'output, notOutput, panic, exitCode, step, file, state, image, registry, requests, spans';
  if (top === 'steps' && at.includes('interact')) return 'one of expect (with its timeout), send, sendControl';
  if (top === 'steps' && at.includes('waitFor')) return 'pattern, timeout';
  if (top === 'steps' && at.includes('dap')) return 'request (with arguments), event, id, timeout';
  if (top === 'steps') return 'id, buildx, docker, action, node, standalone, interact, dap, background, waitFor, await, env, cwd, timeout, stdout, stdin, symptom';
  if (top === 'serve') return 'http (files, faults), git (repos, auth), s3 (true, or region); repos take commits (tree, message, tags, branches) and submodules';
  return 'the keys in fixtures/cases/README.md';
}

function buildCase(src: Source, c: CaseInput, root: string): ReproCase {
  const releases = loadReleases();
  const versions = c.versions ?? ['latest'];
  versions.forEach((v, i) => {
    try {
      // a git spec is checked here for its form; the commit is resolved when a run is planned
      if (isGitSpec(v)) parseGitBuildxSpec(v);
      else resolveSpec(v, releases, { includePrerelease: /-rc/.test(v) });
    } catch (e) {
      src.fail(Array.isArray(src.doc.toJS().versions) ? ['versions', i] : ['versions'], (e as Error).message);
    }
  });
  const engine = c.engine ?? ['26.1'];
  engine.forEach((e, i) => {
    try {
      resolveEngineSpec(e);
    } catch (x) {
      src.fail(Array.isArray(src.doc.toJS().engine) ? ['engine', i] : ['engine'], (x as Error).message);
    }
  });
  const buildkit = c.buildkit ?? [];
  buildkit.forEach((b, i) => {
    try {
      // a git spec is checked here for its form; the commit is resolved when a run is planned
      if (isGitSpec(b)) parseLocalGitSpec(b, 'BuildKit');
      else checkBuildkitVersion(b);
    } catch (x) {
      src.fail(['buildkit', i], (x as Error).message);
    }
  });
  const legacy = c.command !== undefined;
  if (legacy && c.steps) src.fail(['steps'], 'give either steps: or the one-command form (command:), not both');
  if (!legacy && !c.steps) src.fail(['steps'], 'is required (or the one-command form: command: build | bake | create)');
  const driverDefault = c.command === 'create' ? 'docker-container' : 'docker';
  const driver = c.driver ?? [driverDefault];
  driver.forEach((d, i) => {
    if (d in UNSUPPORTED_DRIVERS) src.fail(Array.isArray(src.doc.toJS().driver) ? ['driver', i] : ['driver'], `${d} is not supported: ${UNSUPPORTED_DRIVERS[d]}`);
  });
  if (c.command === 'create' && driver.some((d) => d !== 'docker-container')) src.fail(['driver'], 'command: create boots a docker-container builder; other drivers do not apply');
  if (c.fault && c.command !== 'create') src.fail(['fault'], 'applies to command: create only (it faults the BuildKit image pull)');
  if (c.builder?.remote && !driver.includes('remote')) src.fail(['builder', 'remote'], 'applies to driver: remote');
  if (c.builder?.rootless && (driver.some((d) => d !== 'docker-container') || c.command === 'create'))
    src.fail(['builder', 'rootless'], 'applies to driver: docker-container (the rootless BuildKit image), with steps');
  if (c.builder?.nodes && driver.some((d) => d !== 'docker-container'))
    src.fail(['builder', 'nodes'], 'a multi-node builder is a docker-container builder: set driver: docker-container');
  for (const k of ['bakeFile', 'context', 'platforms', 'push', 'args'] as const)
    if (c[k] !== undefined && !legacy) src.fail([k], 'belongs to the one-command form (command:); with steps, write the command in a step');
  if (c.bakeFile !== undefined && c.command !== 'bake') src.fail(['bakeFile'], 'applies to command: bake only');
  if (c.context !== undefined && c.command !== 'build') src.fail(['context'], 'applies to command: build only (a bake file names its own context)');
  if (c.command === 'create')
    for (const k of ['args', 'platforms', 'push', 'registry'] as const) if (c[k] !== undefined) src.fail([k], 'applies to build and bake, not to command: create');
  const platforms = c.platforms ?? [];
  const push = c.push ?? (legacy && c.command !== 'create');
  if (legacy && push && platforms.length === 0) src.fail(['platforms'], 'is required when pushing: the lab verifies each platform in the registry');

  const symptoms = c.symptom === undefined ? [] : Array.isArray(c.symptom) ? c.symptom : [c.symptom];
  if (!symptoms.length && !(c.steps ?? []).some((s) => s.symptom))
    src.fail(['symptom'], 'is required: what shows the bug (output, notOutput, panic, exitCode, file, state, image, registry, requests)');
  const checks = symptoms.flatMap((s, i) => toChecks(src, s, Array.isArray(c.symptom) ? ['symptom', i] : ['symptom'], undefined, platforms, push));

  const steps: CaseStep[] = legacy
    ? legacySteps(c, platforms, push)
    : (c.steps ?? []).map((s, i) => {
        const id = s.id ?? `${i + 1}`;
        const own = s.symptom === undefined ? [] : Array.isArray(s.symptom) ? s.symptom : [s.symptom];
        return {
          ...timedStep(src, s, i, driver, c.builder?.nodes?.length ?? 0),
          id,
          env: s.env ?? {},
          ...(s.cwd ? { cwd: s.cwd } : {}),
          ...(s.timeout ? { timeoutMs: s.timeout * 1000 } : {}),
          ...(s.stdout ? { stdout: s.stdout } : {}),
          ...(s.stdin ? { stdin: s.stdin } : {}),
          checks: own.flatMap((x, j) => toChecks(src, { step: id, ...x }, Array.isArray(s.symptom) ? ['steps', i, 'symptom', j] : ['steps', i, 'symptom'], id, platforms, push)),
        };
      });
  const ids = new Set<string>();
  // background steps not yet awaited, as the steps go
  const backgrounded = new Set<string>();
  steps.forEach((s, i) => {
    if (ids.has(s.id)) src.fail(['steps', i, 'id'], `step id ${s.id} is used twice`);
    if (s.stdin && 'step' in s.stdin && !ids.has(s.stdin.step))
      src.fail(['steps', i, 'stdin', 'step'], `names step ${s.stdin.step}, which does not run before this one${ids.size ? ` (earlier steps: ${[...ids].join(', ')})` : ''}`);
    for (const a of s.await ?? []) {
      if (!backgrounded.has(a))
        src.fail(
          ['steps', i, 'await'],
          `${a} is not a background step before this one${ids.has(a) ? ' (or it was awaited already)' : ''}; await names an earlier step with background: true`,
        );
      backgrounded.delete(a);
    }
    ids.add(s.id);
    if (s.background) backgrounded.add(s.id);
  });
  for (const [i, ch] of [...checks, ...steps.flatMap((s) => s.checks)].entries()) {
    const step = 'step' in ch ? ch.step : undefined;
    if (step !== undefined && !ids.has(step)) src.fail(['symptom'], `check ${i + 1} names step ${step}, which the case does not have (steps: ${[...ids].join(', ')})`);
  }

  const expect: ReproCase['expect'] = [];
  for (const [range, word] of Object.entries(c.expect ?? {})) {
    if (!semver.validRange(range, { includePrerelease: true })) src.fail(['expect', range], `${JSON.stringify(range)} is not a semver range`);
    expect.push({ range, present: word === 'present' || word === 'reproduced' });
  }
  const uses = new Set<string>();
  const scan = (t: string) => {
    for (const n of labValuesIn(t)) uses.add(n);
  };
  for (const s of steps) {
    s.argv.forEach(scan);
    for (const a of s.interact ?? []) if ('send' in a) scan(a.send);
    for (const a of s.dap ?? []) if ('request' in a && a.arguments !== undefined) scan(JSON.stringify(a.arguments));
    Object.values(s.env).forEach(scan);
  }
  Object.values(c.env ?? {}).forEach(scan);
  for (const ch of [...checks, ...steps.flatMap((s) => s.checks)]) for (const m of JSON.stringify(ch).matchAll(/\$\{[^}]*\}/g)) scan(m[0]);

  for (const [k, v] of [
    ['bakeFile', c.bakeFile],
    ['context', c.context],
    ['builder.buildkitdConfig', c.builder?.buildkitdConfig],
    ['config.buildkitdDefault', c.config?.buildkitdDefault],
    ['config.dockerConfig', c.config?.dockerConfig],
  ] as const) {
    if (v === undefined) continue;
    try {
      caseFilePath(root, v, k === 'context' ? 'dir' : 'file');
    } catch (e) {
      src.fail(k.split('.'), (e as Error).message);
    }
  }
  for (const [at, rel] of Object.entries(c.config?.home ?? {})) {
    try {
      caseFilePath(root, rel);
    } catch (e) {
      src.fail(['config', 'home', at], (e as Error).message);
    }
  }
  if (c.config?.dockerConfig !== undefined) {
    try {
      readDockerConfig(root, c.config.dockerConfig);
    } catch (e) {
      src.fail(['config', 'dockerConfig'], (e as Error).message);
    }
  }
  // The one-command form's args join the lab's argv: the same rules as a step's.
  if (legacy)
    for (const s of steps) {
      try {
        checkBuildxArgv(s.argv, AT_LOAD.buildkitImage, AT_LOAD.context);
      } catch (e) {
        src.fail(['args'], (e as Error).message);
      }
    }
  if (typeof c.git === 'object')
    c.git.uncommitted.forEach((rel, i) => {
      try {
        caseFilePath(root, rel);
      } catch (e) {
        src.fail(['git', 'uncommitted', i], (e as Error).message);
      }
    });
  for (const v of ['http', 'git'] as const)
    if (uses.has(v) && !c.serve?.[v]) src.fail(['serve'], `the case names \${${v}} but serves nothing there: add serve.${v} (see fixtures/cases/README.md)`);
  for (const [at, why] of tracesProblems(tracesSpec(c.traces), uses, [...checks, ...steps.flatMap((s) => s.checks)], driver)) src.fail(at, why);
  const s3Problem = s3UseProblem(c.serve?.s3 !== undefined, uses);
  if (s3Problem) src.fail(c.serve?.s3 ? ['serve', 's3'] : ['serve'], s3Problem);
  if (c.command === 'bake' && c.bakeFile === undefined) {
    try {
      caseFilePath(root, 'docker-bake.hcl');
    } catch (e) {
      src.fail(['bakeFile'], `default docker-bake.hcl: ${(e as Error).message}`);
    }
  }
  return {
    dir: root,
    title: c.title,
    links: c.links ?? [],
    versions,
    engine,
    store: c.store ?? ['containerd'],
    driver,
    buildkit,
    registry: c.registry ?? ['plain'],
    builder: c.builder ?? {},
    env: c.env ?? {},
    config: c.config ?? {},
    git: c.git !== undefined && c.git !== false,
    gitUncommitted: typeof c.git === 'object' ? c.git.uncommitted : [],
    ...(c.serve ? { serve: serveSpec(src, c.serve, root, uses) } : {}),
    ...(tracesSpec(c.traces) ? { traces: tracesSpec(c.traces) } : {}),
    repeat: c.repeat ?? 1,
    verdict: c.verdict ?? 'any',
    platforms,
    ...(c.fault ? { fault: c.fault.kind } : {}),
    bootIsTheStep: c.command === 'create',
    steps,
    checks,
    expect,
    uses,
    files: caseFiles(root),
  };
}

/** `serve:` checked against the case directory and itself (paths exist inside, faults name served paths, refs unique, submodules acyclic). */
function serveSpec(src: Source, s: ServeInput, root: string, uses: Set<string>): ServeSpec {
  const at = (...k: Key[]) => ['serve', ...k];
  const inCase = (where: Key[], rel: string, kind: 'file' | 'dir') => {
    try {
      caseFilePath(root, rel, kind);
    } catch (e) {
      src.fail(where, (e as Error).message);
    }
  };
  const out: ServeSpec = {};
  if (s.http) {
    const files = s.http.files;
    for (const [p, what] of Object.entries(files)) {
      if (typeof what === 'string') inCase(at('http', 'files', p), what, 'file');
      else inCase(at('http', 'files', p, 'tar'), what.tar, 'dir');
    }
    const faults = s.http.faults ?? [];
    faults.forEach((f, i) => {
      if (!(f.path in files)) src.fail(at('http', 'faults', i, 'path'), `${f.path} is not served (serve.http.files: ${Object.keys(files).join(', ')})`);
      const own = { slow: 'ms', truncate: 'afterBytes', 'wrong-length': 'by' }[f.kind];
      for (const k of ['ms', 'afterBytes', 'by'] as const)
        if (f[k] !== undefined && k !== own)
          src.fail(
            at('http', 'faults', i, k),
            `applies to kind ${Object.entries({ slow: 'ms', truncate: 'afterBytes', 'wrong-length': 'by' }).find(([, v]) => v === k)![0]}, not ${f.kind}`,
          );
    });
    if (!uses.has('http')) src.fail(at('http'), 'is served but no step names ${http}; use it (e.g. [build, "${http}/ctx.tar"]) or leave it out');
    out.http = {
      files: Object.fromEntries(Object.entries(files).map(([p, w]) => [p, typeof w === 'string' ? { file: w } : { tar: w.tar, ...(w.gzip ? { gzip: true } : {}) }])),
      faults: faults.map((f) => ({ ...f })),
    };
  }
  if (s.git) {
    const repos: NonNullable<ServeSpec['git']>['repos'] = {};
    for (const [name, r] of Object.entries(s.git.repos)) {
      const seen = new Set<string>();
      const commits = (r.commits ?? []).map((c, i) => {
        inCase(at('git', 'repos', name, 'commits', i, 'tree'), c.tree, 'dir');
        const tags = (c.tags ?? []).map((t) => (typeof t === 'string' ? { name: t } : t));
        const branches = c.branches ?? [];
        for (const [kind, n] of [...tags.map((t) => ['tag', t.name] as const), ...branches.map((b) => ['branch', b] as const)]) {
          if (kind === 'branch' && n === 'main')
            src.fail(at('git', 'repos', name, 'commits', i, 'branches'), 'main is the branch the commits are on (it points at the last one); name another');
          if (seen.has(`${kind}:${n}`)) src.fail(at('git', 'repos', name, 'commits', i), `${kind} ${n} is named twice in repository ${name}`);
          seen.add(`${kind}:${n}`);
        }
        return { tree: c.tree, ...(c.message ? { message: c.message } : {}), tags, branches };
      });
      repos[name] = { commits, submodules: r.submodules ?? {} };
    }
    try {
      repoBuildOrder(repos);
    } catch (e) {
      src.fail(at('git', 'repos'), (e as Error).message);
    }
    if (!uses.has('git')) src.fail(at('git'), 'is served but no step names ${git}; use it (e.g. [build, "${git}/app.git#v1"]) or leave it out');
    out.git = { repos, ...(s.git.auth ? { auth: s.git.auth } : {}) };
  }
  if (s.s3) out.s3 = s.s3;
  return out;
}

/** A step's command and how it runs in time (interact, background, waitFor, await, action), checked together. */
function timedStep(src: Source, s: StepInput, i: number, driver: string[], nodes: number): Omit<Step, 'id' | 'env' | 'cwd' | 'timeoutMs'> {
  const at = (k: string) => ['steps', i, k];
  const command = s.buildx !== undefined || s.docker !== undefined;
  if (s.standalone !== undefined && s.buildx === undefined) src.fail(at('standalone'), 'applies to buildx: steps (it runs the binary as `buildx ...`)');
  if (s.interact && s.background) src.fail(at('interact'), 'an interactive step runs in the foreground; drop background, or put the waiting in the script (expect)');
  if ((s.interact || s.background) && !command) src.fail(at(s.interact ? 'interact' : 'background'), 'needs a command: buildx: [...] or docker: [...]');
  if (s.waitFor !== undefined && !s.background) src.fail(at('waitFor'), 'applies to background: true steps (the next step starts once their output matches)');
  for (const k of ['stdout', 'stdin'] as const)
    if (s[k] !== undefined && (s.interact || s.background || s.action || !command))
      src.fail(
        at(k),
        `applies to a foreground command step (buildx: or docker:), not to ${s.interact ? 'an interactive' : s.background ? 'a background' : 'an action or await'} step`,
      );
  if (s.node !== undefined && !(s.action && NODE_ACTIONS.includes(s.action)))
    src.fail(at('node'), 'applies to action: remove-node or unreachable-node (which node of builder.nodes)');
  if (s.action && NODE_ACTIONS.includes(s.action)) {
    const why = removeNodeProblem(s.node, nodes);
    if (why) src.fail(at(s.node !== undefined && nodes >= 2 ? 'node' : 'action'), why);
  }
  if (s.action) {
    for (const k of ['env', 'cwd', 'timeout'] as const) if (s[k] !== undefined) src.fail(at(k), `does not apply to action: ${s.action} (the lab does it)`);
    if (driver.includes('docker'))
      src.fail(at('action'), `${s.action} needs a builder container; the docker driver builds in the engine itself: set driver: docker-container (or remote)`);
  }
  const waitFor = typeof s.waitFor === 'string' ? { pattern: s.waitFor } : s.waitFor;
  const dap = s.dap && dapScript(s.dap, WAIT_DEFAULT_S);
  const dapBad = s.dap && dapStepProblem(s);
  if (dapBad) src.fail(at(dapBad[0]), dapBad[1]);
  for (const [j, field, message] of dap?.problems ?? []) src.fail(['steps', i, 'dap', j, field], message);
  return {
    tool: s.buildx ? 'buildx' : s.docker ? 'docker' : s.action ? 'action' : 'await',
    argv: s.buildx ?? s.docker ?? [],
    ...(s.standalone ? { standalone: true } : {}),
    ...(s.interact
      ? {
          interact: s.interact.map(
            (a): InteractAction =>
              a.expect !== undefined
                ? { expect: a.expect, timeoutMs: (a.timeout ?? WAIT_DEFAULT_S) * 1000 }
                : a.send !== undefined
                  ? { send: a.send }
                  : { sendControl: a.sendControl! },
          ),
        }
      : {}),
    ...(s.background ? { background: waitFor ? { waitFor: { pattern: waitFor.pattern, timeoutMs: (waitFor.timeout ?? WAIT_DEFAULT_S * 4) * 1000 } } : {} } : {}),
    ...(s.await ? { await: s.await } : {}),
    ...(s.action ? { action: s.action } : {}),
    ...(s.node !== undefined ? { node: s.node } : {}),
    ...(dap ? { dap: dap.script } : {}),
  };
}

/** The one-command form as steps, with the same meaning as before steps existed. */
function legacySteps(c: CaseInput, platforms: string[], push: boolean): CaseStep[] {
  const args = c.args ?? [];
  switch (c.command) {
    case 'bake':
      // The bake file reads the push target from TAG (and may read PLATFORMS); see fixtures/cases/README.md.
      return [
        {
          id: 'bake',
          tool: 'buildx',
          argv: ['bake', '--progress', 'plain', '-f', c.bakeFile ?? 'docker-bake.hcl', ...args],
          env: { TAG: '${target}', ...(platforms.length ? { PLATFORMS: platforms.join(',') } : {}) },
          checks: [],
        },
      ];
    case 'build':
      return [
        {
          id: 'build',
          tool: 'buildx',
          env: {},
          checks: [],
          argv: [
            'build',
            '--progress',
            'plain',
            ...(platforms.length ? ['--platform', platforms.join(',')] : []),
            ...(push ? ['--push', '-t', '${target}'] : []),
            ...args,
            `\${context}/${c.context ?? '.'}`,
          ],
        },
      ];
    default:
      return [];
  }
}

/** One YAML check mapping (possibly holding several checks) as kit checks. */
function toChecks(src: Source, s: CheckShape, at: Key[], step: string | undefined, platforms: string[], push: boolean): Check[] {
  const out: Check[] = [];
  const st = s.step ?? step;
  const on = st !== undefined ? { step: st } : {};
  if (s.output !== undefined) out.push({ kind: 'output', pattern: s.output, ...on });
  if (s.notOutput !== undefined) out.push({ kind: 'output', pattern: s.notOutput, negate: true, ...on });
  if (s.panic) out.push({ kind: 'panic', ...on });
  if (s.exitCode !== undefined) out.push({ kind: 'exit', code: s.exitCode, ...on });
  if (s.file) out.push({ kind: 'file', ...s.file });
  if (s.state) out.push({ kind: 'state', ...s.state });
  if (s.image) out.push({ kind: 'image', ...s.image });
  if (s.requests) out.push({ kind: 'requests', ...s.requests, count: String(s.requests.count) });
  if (s.spans) out.push({ kind: 'spans', ...s.spans, count: String(s.spans.count) });
  if (s.registry !== undefined) {
    if (typeof s.registry === 'string') {
      if (!push) src.fail([...at, 'registry'], 'needs push: true (there is nothing in the registry to judge)');
      out.push(...legacyRegistryCheck(s.registry, platforms));
    } else {
      out.push({ kind: 'registry', ref: s.registry.ref ?? '${target}', ...s.registry });
    }
  }
  for (const c of out) {
    try {
      validateCheck(c);
    } catch (e) {
      src.fail(at, (e as Error).message);
    }
  }
  return out;
}

/** The registry symptoms of the one-command form, as checks of the same meaning. */
function legacyRegistryCheck(word: 'missing-platforms' | 'not-an-index' | 'push-refused' | 'incomplete', platforms: string[]): Check[] {
  switch (word) {
    case 'not-an-index':
      return [{ kind: 'registry', ref: '${target}', index: false }];
    case 'missing-platforms':
      return [{ kind: 'registry', ref: '${target}', lacks: platforms }];
    case 'push-refused':
      return [{ kind: 'requests', method: 'PUT', on: 'manifests', reference: '${tag}', status: '4', count: '>=1' }];
    case 'incomplete':
      return [{ kind: 'registry', ref: '${target}', platforms, complete: false }];
  }
}

/** The real path of `rel` inside `root`; throws when it is absolute, escapes, or is missing. */
export function caseFilePath(root: string, rel: string, kind: 'file' | 'dir' = 'file'): string {
  if (path.isAbsolute(rel)) throw new UsageError(`${JSON.stringify(rel)} is absolute; give a path inside the case directory`);
  const lexical = path.resolve(root, rel);
  if (!inside(root, lexical)) throw new UsageError(`${JSON.stringify(rel)} leaves the case directory`);
  let real: string;
  try {
    real = realpathSync(lexical);
  } catch (e) {
    throw new UsageError(`${JSON.stringify(rel)} does not exist in the case directory (${(e as NodeJS.ErrnoException).code})`);
  }
  if (!inside(root, real)) throw new UsageError(`${JSON.stringify(rel)} is a symlink to ${real}, outside the case directory`);
  const st = statSync(real);
  if (kind === 'file' ? !st.isFile() : !st.isDirectory()) throw new UsageError(`${JSON.stringify(rel)} is not a ${kind === 'file' ? 'regular file' : 'directory'}`);
  return real;
}

function inside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** Every file the case ships (what the build may see); symlinks must stay inside, other kinds are refused. */
export function caseFiles(root: string): CaseFile[] {
  const out: CaseFile[] = [];
  let bytes = 0;
  const walk = (relDir: string) => {
    for (const name of readdirSync(path.join(root, relDir)).sort()) {
      if (name === '.git') continue;
      const rel = relDir ? `${relDir}/${name}` : name;
      const lst = lstatSync(path.join(root, rel));
      if (lst.isDirectory()) {
        walk(rel);
        continue;
      }
      if (!lst.isFile() && !lst.isSymbolicLink()) throw new UsageError(`case file ${rel}: only regular files, directories and symlinks inside the case are allowed`);
      let real: string;
      try {
        real = caseFilePath(root, rel);
      } catch (e) {
        // a link to a directory inside: the lab copies files, and a directory link could loop
        if (lst.isSymbolicLink() && /is not a regular file/.test((e as Error).message))
          throw new UsageError(`case file ${JSON.stringify(rel)} is a symlink to a directory; the lab copies the case's files, not directory links: replace it with the directory`);
        throw new UsageError(`case file ${(e as Error).message}`);
      }
      const st = statSync(real);
      bytes += st.size;
      out.push({ rel, real, mode: st.mode & 0o111 ? 0o755 : 0o644 });
      if (out.length > MAX_FILES || bytes > MAX_BYTES)
        throw new UsageError(`case directory ${root} holds more than ${MAX_FILES} files or ${MAX_BYTES >> 20} MiB; a case should hold only what the build needs`);
    }
  };
  walk('');
  return out;
}

/** The case's docker config.json, checked again at read time: no credential helper, no plugin directory (lab-owned.ts). */
export function readDockerConfig(root: string, rel: string): Buffer {
  const bytes = readCaseFile(root, { rel });
  const why = dockerConfigProblem(bytes.toString('utf8'));
  if (why) throw new UsageError(`${JSON.stringify(rel)}: ${why}`);
  return bytes;
}

/** A case file's bytes, checked again at read time (the directory may have changed since loadCase). */
/** The case's files as the lab's servers read them (serve:): confined to the case directory at every read. */
export function caseSource(c: Pick<ReproCase, 'dir' | 'files'>): CaseSource {
  return {
    file: (rel) => readCaseFile(c.dir, { rel }),
    dir: (rel) => {
      const prefix = rel.replace(/\/+$/, '') === '.' ? '' : `${rel.replace(/^\.\//, '').replace(/\/+$/, '')}/`;
      caseFilePath(c.dir, rel, 'dir');
      return c.files.filter((f) => f.rel.startsWith(prefix)).map((f) => ({ rel: f.rel.slice(prefix.length), content: readCaseFile(c.dir, f), mode: f.mode }));
    },
  };
}

export function readCaseFile(root: string, f: Pick<CaseFile, 'rel'>): Buffer {
  return readFileSync(caseFilePath(root, f.rel));
}
