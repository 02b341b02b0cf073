// case.yaml's schema: the zod schema of every key, with YAML positions and messages, so every error is a
// UsageError naming case.yaml's line and the field. A case is a stranger's code: its docker steps, buildx
// argv, env, builder options and config.json go through the allowlists of kit/docker-argv.ts and
// kit/lab-owned.ts here, and again when each step runs. What the schema cannot say alone (files of the
// case directory, steps that name each other) is case-build.ts's.
import path from 'node:path';
import { LineCounter, isCollection, isMap, parseDocument, visit, type Document } from 'yaml';
import { z } from 'zod';
import { UsageError } from '../errors.ts';
import { DRIVERS, PULL_FAULTS, REGISTRY_BEHAVIOURS, STORES } from '../model.ts';
import { validateCheck } from '../kit/checks.ts';
import { KUBE_OBJECT_KINDS } from '../lab/kube-cluster.ts';
import { checkDockerArgv } from '../kit/docker-argv.ts';
import { REMOTE_PROXIES } from '../kit/grpc-proxy.ts';
import { checkBuildxArgv, driverOptsProblem, homePathProblem, labOwnedEnv } from '../kit/lab-owned.ts';
import { parseFree } from '../kit/engine-disk.ts';
import { ACTIONS } from '../kit/steps.ts';
import { controlByte } from '../kit/terminal.ts';
import { SERVE_LIMITS, SOURCE_KINDS, credentialProblem, refNameProblem, repoNameProblem, servedPathProblem, submodulePathProblem } from '../serve/spec.ts';
import { S3_VALUES, s3ServeSchema } from '../serve/s3-spec.ts';
import { dapScriptSchema } from './dap-step.ts';
import { spansShape, tracesSchema } from './traces.ts';
import { CASE_FILE } from './case-files.ts';
import { oldFormProblem } from './case-old-form.ts';

/** GOOS/GOARCH values an OCI platform may name; a typo (linux/amd65) must not become a silent cell. */
const OSES = ['linux', 'windows', 'darwin', 'freebsd', 'netbsd', 'openbsd', 'solaris', 'illumos', 'aix', 'plan9', 'wasip1', 'js'];
const ARCHES = ['amd64', '386', 'arm', 'arm64', 'ppc64le', 'ppc64', 's390x', 'riscv64', 'mips', 'mipsle', 'mips64', 'mips64le', 'loong64', 'wasm'];
export const isPlatform = (p: string): boolean => {
  const [os, arch, variant, ...rest] = p.split('/');
  return OSES.includes(os!) && ARCHES.includes(arch ?? '') && (variant === undefined || /^v\d+$/.test(variant)) && rest.length === 0;
};

/** Lab values a step's argv, env and checks may name as ${name}. */
export const LAB_VALUES = ['target', 'repository', 'tag', 'registry', 'builder', 'buildkitImage', 'base', 'cell', 'context', 'http', 'git', 'otlp', ...S3_VALUES] as const;
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
export type ServeInput = z.infer<typeof serveSchema>;

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
  // root, or the cell's unprivileged user (a step's user: lab, or sudo: true from it)
  owner: choice(['root', 'lab']).optional(),
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
    // an object of the cell's own namespace (driver: kubernetes); the namespace is the lab's, never the case's
    kube: z.strictObject({ get: choice(KUBE_OBJECT_KINDS), name: labText(253), exists: z.boolean().optional(), json: jsonExpectation.optional() }).optional(),
    image: z.strictObject({ ref: labText(500), exists: z.boolean().optional(), platforms: z.array(platform).max(20).optional() }).optional(),
    registry: z
      .strictObject({
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
      })
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
  .refine((c) => Object.keys(c).some((k) => k !== 'step'), 'needs a check: output, notOutput, panic, exitCode, file, state, kube, image, registry, requests or spans');
export type CheckShape = z.infer<typeof checkShape>;

const symptomSchema = z.union([checkShape, z.array(checkShape).min(1).max(50)]);

/** Load-time stand-ins for lab values the argv rules compare against (filled in again before each step runs). */
export const AT_LOAD = { buildkitImage: '${buildkitImage}', context: '${context}' };

/** An argv rule as a schema refinement: its message on the argv's field. */
const argvRule = (rule: (a: string[]) => unknown) => (a: string[], ctx: z.core.$RefinementCtx<string[]>) => {
  try {
    rule(a);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
  }
};

/** Seconds a step waits for a pattern (an `expect`, a `waitFor`) when it names none, and at most. */
export const WAIT_DEFAULT_S = 30;
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
    action: choice(ACTIONS).optional(),
    // boot-builder: the pull of the builder's BuildKit image fails this way (`404` is a YAML number)
    fault: z.preprocess((v) => (typeof v === 'number' ? String(v) : v), choice(PULL_FAULTS)).optional(),
    // remove-node, unreachable-node: which of builder.nodes (default the last)
    node: z.number().int().min(0).max(7).optional(),
    // fill-engine-disk: what the engine's storage keeps free, "16MiB" (kit/engine-disk.ts bounds it)
    free: z
      .unknown()
      .transform((v, ctx) => {
        try {
          return parseFree(v);
        } catch (e) {
          ctx.addIssue({ code: 'custom', message: (e as Error).message });
          return z.NEVER;
        }
      })
      .optional(),
    standalone: z.boolean().optional(),
    // root under sudo from the cell's unprivileged user (SUDO_* set, HOME kept), or as that user
    sudo: z.boolean().optional(),
    user: choice(['root', 'lab']).optional(),
    interact: z.array(interactAction).min(1, 'is empty; give expect, send or sendControl lines').max(100).optional(),
    // a DAP script played against `buildx dap build` (repro/dap-step.ts)
    dap: dapScriptSchema(labText(4096), waitSeconds).optional(),
    // a dap step's answer to Buildx's runInTerminal: the script the lab's own `dap attach` terminal plays (kit/dap.ts)
    runInTerminal: z.array(interactAction).min(1, 'is empty; give expect, send or sendControl lines').max(100).optional(),
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
export type StepInput = z.infer<typeof stepSchema>;

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
  driver: oneOrMany(z.string().refine((d) => (DRIVERS as readonly string[]).includes(d), `is not one of ${DRIVERS.join(', ')}`)).optional(),
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
      remote: z.strictObject({ transport: choice(['tcp', 'unix']), tls: z.boolean().optional(), proxy: choice(REMOTE_PROXIES).optional() }).optional(),
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
  symptom: symptomSchema.optional(),
  expect: z.record(z.string(), choice(['present', 'absent'])).optional(),
});
export type CaseInput = z.infer<typeof caseSchema>;

export type Key = string | number;

/** Positions and messages for one case.yaml. */
export class Source {
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

/** case.yaml's text parsed and checked against the schema: its positions (for later messages) and its input. */
export function parseCaseYaml(text: string): { src: Source; input: CaseInput } {
  const src = new Source(text);
  const err = src.doc.errors[0];
  // (without prettyErrors the parser leaves linePos unset: the line comes from the error's offset)
  if (err) throw new UsageError(`${CASE_FILE}:${src.lineOf(err.pos[0])}: invalid YAML: ${err.message.split('\n')[0]}`);
  if (!isMap(src.doc.contents)) throw new UsageError(`${CASE_FILE}:1: the document must be a mapping (title, steps, symptom, ...)`);
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
  // the one-command form, refused with the steps that mean the same
  const old = oldFormProblem(raw as Record<string, unknown>);
  if (old) src.fail(old.at, old.message);
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
  return { src, input: parsed.data! };
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
  if (at.at(-1) === 'kube') return "get, name, exists, json (the namespace is the cell's, never the case's)";
  if (top === 'symptom' || at.includes('symptom')) return 'output, notOutput, panic, exitCode, step, file, state, kube, image, registry, requests, spans';
  if (top === 'steps' && at.includes('interact')) return 'one of expect (with its timeout), send, sendControl';
  if (top === 'steps' && at.includes('waitFor')) return 'pattern, timeout';
  if (top === 'steps' && at.includes('runInTerminal')) return 'one of expect (with its timeout), send, sendControl';
  if (top === 'steps' && at.includes('dap')) return 'request (with arguments), event, await, id, timeout';
  if (top === 'steps')
    return 'id, buildx, docker, action, fault, node, free, standalone, sudo, user, interact, dap, runInTerminal, background, waitFor, await, env, cwd, timeout, stdout, stdin, symptom';
  if (top === 'serve') return 'http (files, faults), git (repos, auth), s3 (true, or region); repos take commits (tree, message, tags, branches) and submodules';
  return 'the keys in fixtures/cases/README.md';
}
