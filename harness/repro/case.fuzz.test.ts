// case.yaml fuzzing (the adversarial suite): whatever a case file holds, `loadCase` either loads it or
// fails with a UsageError naming case.yaml's line and field. It never throws anything else, never takes
// long, and a case that loads names only files inside its directory.
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { UsageError } from '../errors.ts';
import { loadCase, type ReproCase } from './case.ts';

const outside = mkdtempSync(path.join(tmpdir(), 'case-fuzz-outside-'));
writeFileSync(path.join(outside, 'secret.txt'), "not the case's\n");
const dir = mkdtempSync(path.join(tmpdir(), 'case-fuzz-'));
for (const [name, text] of Object.entries({ Dockerfile: 'FROM scratch\n', 'docker-bake.hcl': 'target "app" {}\n', 'buildkitd.toml': '', 'app/Dockerfile': 'FROM scratch\n' })) {
  mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
  writeFileSync(path.join(dir, name), text);
}
symlinkSync('app/Dockerfile', path.join(dir, 'app-link')); // a file link that stays inside is fine
// A second case directory with the links a hostile case might lean on: out of the directory, to a file
// outside, to an absolute path. Such a directory is refused whatever its case.yaml says.
const hostileDir = mkdtempSync(path.join(tmpdir(), 'case-fuzz-hostile-'));
symlinkSync(outside, path.join(hostileDir, 'out-dir'));
symlinkSync(path.join(outside, 'secret.txt'), path.join(hostileDir, 'out-file'));
symlinkSync('/etc/passwd', path.join(hostileDir, 'passwd'));
const realDir = realpathSync(dir);
afterAll(() => {
  for (const d of [dir, hostileDir, outside]) rmSync(d, { recursive: true, force: true });
});

/** The error a bad case must give: a UsageError that starts with case.yaml's line, or names the case file at fault. */
const CASE_ERROR = /^(case\.yaml:\d+: \S|case file \S)/;
/** Far above a real load (a few ms); a load this slow is a hang in the making. */
const SLOW_MS = 2000;

type Loaded = { ok: true; value: ReproCase } | { ok: false; error: unknown };

function load(text: string, caseDir = dir): Loaded {
  writeFileSync(path.join(caseDir, 'case.yaml'), text);
  const t0 = performance.now();
  let loaded: Loaded;
  try {
    loaded = { ok: true, value: loadCase(caseDir) };
  } catch (error) {
    loaded = { ok: false, error };
  }
  const ms = performance.now() - t0;
  if (ms > SLOW_MS) throw new Error(`loading took ${Math.round(ms)} ms:\n${text.slice(0, 500)}`);
  return loaded;
}

const inside = (p: string) => p === realDir || p.startsWith(realDir + path.sep);

function holds(text: string): void {
  const r = load(text);
  if (!r.ok) {
    if (!(r.error instanceof UsageError) || !CASE_ERROR.test(r.error.message)) {
      throw new Error(
        `not a line-and-field error: ${r.error instanceof Error ? `${r.error.name}: ${r.error.message}` : String(r.error)}\n--- case.yaml ---\n${text.slice(0, 500)}`,
      );
    }
    return;
  }
  // A case that loads names only what is inside its directory, symlinks resolved.
  for (const f of r.value.files) {
    if (!inside(f.real)) throw new Error(`case file ${f.rel} resolves to ${f.real}, outside ${realDir}\n${text}`);
  }
}

// Values that are valid somewhere in a case, and values that are hostile anywhere.
const pathish = fc.constantFrom(
  '.',
  'app',
  'app-link',
  'app-link/x',
  'Dockerfile',
  'docker-bake.hcl',
  'buildkitd.toml',
  'out-dir',
  'out-file',
  'out-dir/secret.txt',
  'passwd',
  '../x',
  '/etc/passwd',
  'app/../../x',
  'a\\..\\..\\x',
  '',
  'missing',
  'app/',
  './app',
  '~/.docker/config.json',
);
const word = fc.constantFrom(
  '0.21.1',
  'latest',
  '>=0.20 <0.23',
  '26.1',
  'containerd',
  'classic',
  'docker',
  'docker-container',
  'remote',
  'kubernetes',
  'plain',
  'linux/amd64',
  'linux/arm64/v8',
  'bake',
  'build',
  'create',
  'corrupt',
  '404',
  'present',
  'absent',
  'any',
  'majority',
  '${target}',
  '${read:iid.txt}',
  '${read:../x}',
  '${nope}',
  '$',
  '${',
  '(a+)+$',
  '(\\s*\\S+\\s*)+No such image',
  '[',
  '(?=x)',
  '\\1',
  'zero',
  'nonzero',
  'GET',
  'PUT',
  'manifests',
  '>1',
  '<=0',
  'x'.repeat(3000),
);
const hostileScalar = fc.oneof(
  word,
  pathish,
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.integer({ min: -1, max: 70000 }),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
);
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    hostileScalar,
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(
      fc.oneof(
        fc.constantFrom(
          'path',
          'exists',
          'ref',
          'platforms',
          'count',
          'method',
          'on',
          'step',
          'id',
          'buildx',
          'docker',
          'env',
          'cwd',
          'timeout',
          'symptom',
          'output',
          'kind',
          'transport',
          'tls',
          'nodes',
          'driverOpts',
        ),
        fc.string({ maxLength: 8 }),
      ),
      tie('v'),
      { maxKeys: 4 },
    ),
  ),
})).v;

const TOP_KEYS = [
  'title',
  'links',
  'versions',
  'engine',
  'store',
  'driver',
  'buildkit',
  'registry',
  'builder',
  'env',
  'config',
  'git',
  'repeat',
  'verdict',
  'steps',
  'command',
  'args',
  'bakeFile',
  'context',
  'platforms',
  'push',
  'fault',
  'symptom',
  'expect',
] as const;
const check = fc.record(
  {
    output: word,
    notOutput: word,
    panic: fc.constantFrom(true, false, 'yes'),
    exitCode: fc.oneof(word, fc.integer({ min: -5, max: 300 })),
    step: fc.oneof(fc.constantFrom('1', '2', 'build', 'Build!'), word),
    file: fc.record({ path: pathish, exists: fc.boolean(), contains: word }, { requiredKeys: ['path'] }),
    image: fc.record({ ref: word, platforms: fc.array(word, { maxLength: 3 }) }, { requiredKeys: [] }),
    registry: fc.oneof(
      word,
      fc.record(
        { ref: word, platforms: fc.array(word, { maxLength: 3 }), annotations: fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 })) },
        { requiredKeys: [] },
      ),
    ),
    requests: fc.record({ count: fc.oneof(word, fc.integer()), method: word, on: word, userAgent: word, status: fc.constantFrom('4xx', '200', '9', 'x') }, { requiredKeys: [] }),
  },
  { requiredKeys: [] },
);
const step = fc.record(
  {
    id: fc.oneof(fc.constantFrom('build', 'inspect', '1'), word),
    buildx: fc.array(fc.oneof(word, pathish), { maxLength: 5 }),
    docker: fc.oneof(fc.constant(['run', '--privileged', 'x']), fc.constant(['image', 'inspect', '${read:iid.txt}']), fc.array(word, { maxLength: 4 })),
    env: fc.dictionary(fc.oneof(fc.constantFrom('BUILDX_X', 'A', '1BAD', 'PATH'), fc.string({ maxLength: 6 })), fc.oneof(word, fc.integer())),
    cwd: pathish,
    timeout: fc.integer({ min: -1, max: 5000 }),
    symptom: fc.oneof(check, fc.array(check, { maxLength: 3 })),
  },
  { requiredKeys: [] },
);
/** A case near the schema: mostly right keys, values right or hostile, sometimes an unknown key. */
const nearCase = fc
  .record(
    {
      title: fc.oneof(fc.constant('t'), word, hostileScalar),
      versions: fc.oneof(word, fc.array(word, { maxLength: 3 })),
      driver: fc.oneof(word, fc.array(word, { maxLength: 2 })),
      builder: fc.record(
        {
          buildkitdConfig: pathish,
          nodes: fc.array(fc.record({ platforms: fc.array(word, { maxLength: 2 }) }), { maxLength: 3 }),
          remote: fc.record({ transport: word, tls: fc.boolean(), proxy: fc.oneof(fc.constantFrom('http2', 'envoy'), word, hostileScalar) }, { requiredKeys: ['transport'] }),
          driverOpts: fc.dictionary(fc.string({ maxLength: 5 }), word),
        },
        { requiredKeys: [] },
      ),
      config: fc.record({ buildkitdDefault: pathish, dockerConfig: pathish }, { requiredKeys: [] }),
      steps: fc.array(step, { maxLength: 4 }),
      command: word,
      context: pathish,
      bakeFile: pathish,
      platforms: fc.array(word, { maxLength: 3 }),
      fault: fc.record({ kind: fc.oneof(word, fc.integer()) }),
      symptom: fc.oneof(check, fc.array(check, { maxLength: 3 })),
      expect: fc.dictionary(word, word, { maxKeys: 3 }),
      repeat: fc.integer({ min: -1, max: 30 }),
      verdict: word,
      git: fc.oneof(fc.boolean(), word),
      extra: fc.dictionary(fc.oneof(fc.constantFrom(...TOP_KEYS), fc.string({ maxLength: 8 })), value, { maxKeys: 2 }),
    },
    { requiredKeys: ['title'] },
  )
  .map(({ extra, ...c }) => ({ ...c, ...extra }));

// YAML's own hostile shapes, spliced between lines of a valid case.
const yamlNoise = fc.constantFrom(
  '&a [*a]',
  '*undefined_alias',
  '!!binary x',
  '!!python/object:os.system ls',
  '? [a, b]\n: c',
  '<<: *a',
  '---\nx: 1',
  '%YAML 9.9',
  '"\\u0000"',
  '\t- tab',
  'key: [unclosed',
  'a: b: c',
  '- - - -',
  'title: dup',
  '{"title": "t", "steps": [{"buildx": ["ls"]}], "symptom": {"panic": true}}',
  'symptom: {output: "(a|aa)*$"}',
  'steps: !!str x',
  '\u202etitle: rtl',
  '\ufefftitle: bom',
);
const VALID = 'title: t\nversions: ["0.21.1"]\nsteps:\n  - id: build\n    buildx: [build, --load, -t, app, .]\nsymptom:\n  exitCode: nonzero\n  step: build\n';

const RUNS = { raw: 1500, near: 2000, spliced: 1500, hostileDir: 300 };
/** a few ms an input; generous for a loaded 2-core CI machine */
const FUZZ_TIMEOUT_MS = 120_000;

describe('case.yaml fuzzing', () => {
  it(
    `random text (${RUNS.raw} inputs) loads or fails with a line-and-field error`,
    () => {
      fc.assert(
        fc.property(
          fc.oneof(
            fc.string({ unit: 'grapheme', maxLength: 400 }),
            fc.string({ unit: 'binary', maxLength: 200 }),
            fc.array(fc.oneof(yamlNoise, fc.string({ maxLength: 20 })), { maxLength: 12 }).map((l) => l.join('\n')),
          ),
          holds,
        ),
        { numRuns: RUNS.raw },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    `cases near the schema (${RUNS.near} inputs) load or fail with a line-and-field error, and never name a file outside`,
    () => {
      fc.assert(
        fc.property(nearCase, (c) => holds(stringify(c, { aliasDuplicateObjects: false }))),
        { numRuns: RUNS.near },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    `YAML noise spliced into a valid case (${RUNS.spliced} inputs)`,
    () => {
      const lines = VALID.split('\n');
      fc.assert(
        fc.property(fc.nat({ max: lines.length }), yamlNoise, (at, noise) => holds([...lines.slice(0, at), noise, ...lines.slice(at)].join('\n'))),
        { numRuns: RUNS.spliced },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    `a case directory with a symlink out of it is refused, whatever its case.yaml (${RUNS.hostileDir} inputs)`,
    () => {
      fc.assert(
        fc.property(nearCase, (c) => {
          const r = load(stringify(c, { aliasDuplicateObjects: false }), hostileDir);
          if (r.ok) throw new Error('a case directory linking outside itself loaded');
          if (!(r.error instanceof UsageError) || !CASE_ERROR.test(r.error.message)) throw r.error;
        }),
        { numRuns: RUNS.hostileDir },
      );
      const valid = load(VALID, hostileDir);
      expect(valid.ok ? 'loaded' : String(valid.error)).toMatch(/^UsageError: case file "(out-dir|out-file|passwd)"/);
    },
    FUZZ_TIMEOUT_MS,
  );

  it('an alias bomb is refused quickly, not expanded', () => {
    const levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 12; i++)
      levels.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(',')}]`,
      );
    holds(`title: t\n${levels.join('\n')}\nsteps: [{buildx: [ls]}]\nsymptom: {args: *l}\n`);
    const r = load(`title: t\nx: &x [1]\nsteps: [{buildx: *x}]\nsymptom: {panic: true}\n`);
    expect(r.ok).toBe(false);
  });

  it('the valid case used as the splice base loads (so the splices test something)', () => {
    const r = load(VALID);
    expect(r.ok ? 'loaded' : String(r.error)).toBe('loaded');
  });
});
