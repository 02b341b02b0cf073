// The example workflow (.github/workflows/*.yml) cannot run here, so its scripts are checked the way
// GitHub would run them: expressions substituted, then bash. actionlint runs in workflow.itg.test.ts.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseGitBuildxSpec } from './buildx/git-source.ts';
import { program } from './cli/main.ts';
import { parse } from 'yaml';

const root = path.resolve(import.meta.dirname, '..');
const workflowDir = path.join(root, '.github', 'workflows');

interface Step {
  name?: string;
  id?: string;
  run?: string;
  uses?: string;
  env?: Record<string, string>;
}
interface Job {
  env?: Record<string, string>;
  steps: Step[];
}
interface Workflow {
  env?: Record<string, string>;
  jobs: Record<string, Job>;
}

const workflows = readdirSync(workflowDir)
  .filter((f) => /\.ya?ml$/.test(f))
  .map((f) => ({ file: f, wf: parse(readFileSync(path.join(workflowDir, f), 'utf8')) as Workflow }));
// The qualify action (action.yml) is a composite action: its steps are held to the same rules, as one job.
const action = parse(readFileSync(path.join(root, 'action.yml'), 'utf8')) as { runs: { steps: Step[] } };
workflows.push({ file: 'action.yml', wf: { jobs: { action: { steps: action.runs.steps } } } });

const runSteps = () =>
  workflows.flatMap(({ file, wf }) =>
    Object.entries(wf.jobs).flatMap(([jobId, job]) =>
      job.steps.filter((s) => s.run !== undefined).map((step) => ({ file, wf, jobId, job, step, where: `${file} ${jobId} '${step.name ?? step.run!.split('\n')[0]}'` })),
    ),
  );

/**
 * GitHub's `${{ a.b }}` substitution, for plain context references only. Anything else (operators,
 * functions) throws: the checks below must not pass by guessing what an expression would give.
 */
function substitute(text: string, contexts: Record<string, unknown>): string {
  return text.replace(/\$\{\{\s*(.*?)\s*\}\}/g, (_m, expr: string) => {
    if (!/^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*$/.test(expr)) throw new Error(`expression the test cannot evaluate: \${{ ${expr} }}`);
    let v: unknown = contexts;
    for (const key of expr.split('.')) v = (v as Record<string, unknown> | undefined)?.[key];
    return v === undefined || v === null ? '' : String(v);
  });
}

/** A call of the CLI: `buildx-lab …`, `bin/buildx-lab.mjs …`, or the action's `node "$LAB" …`. */
const LAB_CALL = /(buildx-lab(\.mjs)?|node "\$LAB") /;

describe('workflow run: scripts', () => {
  it('hold no ${{ }} expression: values reach the shell only through env:, where they are data', () => {
    const offenders = runSteps()
      .filter(({ step }) => step.run!.includes('${{'))
      .map(({ where, step }) => `${where}: ${step.run!.match(/\$\{\{.*?\}\}/)![0]}`);
    expect(offenders).toEqual([]);
  });

  it('pass only flags the CLI defines, each to the command that defines it', () => {
    const cli = program();
    const unknown = runSteps()
      .filter(({ step }) => LAB_CALL.test(step.run!))
      .flatMap(({ where, step }) =>
        step
          .run!.split('\n')
          .filter((l) => LAB_CALL.test(l))
          .map((line) => ({ where, line })),
      )
      .flatMap(({ where, line }) => {
        const words = line.slice(line.search(LAB_CALL)).replace(LAB_CALL, '').split(/\s+/);
        let cmd: Command | undefined = cli;
        for (const w of words) {
          const sub: Command | undefined = cmd?.commands.find((c) => c.name() === w);
          if (!sub) break;
          cmd = sub;
        }
        return [...line.matchAll(/(?<![\w-])--[a-z][a-z-]*/g)]
          .map((m) => m[0])
          .filter((flag) => !cmd!.options.some((o) => o.long === flag))
          .map((flag) => `${where}: ${cmd!.name()} has no ${flag}`);
      });
    expect(unknown).toEqual([]);
  });
});

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'lab-workflow-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Runs a step as GitHub would (bash -eo pipefail), with `node` and `npx` recording their argv instead of
 * running; returns their argv, the files left in the working directory and the step's outputs.
 */
function runStep(
  found: ReturnType<typeof runSteps>[number] | undefined,
  contexts: Record<string, unknown>,
  runnerEnv: Record<string, string> = {},
): { argv: string[][]; files: string[]; outputs: string } {
  expect(found, 'the step').toBeDefined();
  const { wf, job, step } = found!;
  const env: Record<string, string> = {};
  for (const scope of [wf.env, job.env, step.env]) {
    // what the runner gives, and expressions the test cannot evaluate (hashFiles), come from runnerEnv
    for (const [k, v] of Object.entries(scope ?? {})) env[k] = k in runnerEnv ? runnerEnv[k]! : substitute(String(v), { ...contexts, env });
  }
  // a directory of its own: a test may run the step more than once
  const d = mkdtempSync(path.join(dir, 'step-'));
  const outputs = path.join(d, 'outputs');
  writeFileSync(outputs, '');
  const bin = path.join(d, 'bin');
  const work = path.join(d, 'work');
  mkdirSync(bin);
  mkdirSync(work);
  const log = path.join(d, 'argv.log');
  for (const tool of ['node', 'npx']) {
    writeFileSync(path.join(bin, tool), `#!/bin/sh\nprintf '%s\\0' "$#" "$@" >> '${log}'\n`);
    chmodSync(path.join(bin, tool), 0o755);
  }
  const script = path.join(d, 'step.sh');
  writeFileSync(script, substitute(step.run!, contexts));
  execFileSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', script], {
    cwd: work,
    env: { ...env, ...runnerEnv, PATH: `${bin}:/usr/bin:/bin`, GITHUB_STEP_SUMMARY: path.join(d, 'summary.md'), GITHUB_OUTPUT: outputs },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const fields = existsSync(log) ? readFileSync(log, 'utf8').split('\0').slice(0, -1) : [];
  const argv: string[][] = [];
  for (let i = 0; i < fields.length; ) {
    const n = Number(fields[i]);
    argv.push(fields.slice(i + 1, i + 1 + n));
    i += n + 1;
  }
  return { argv, files: readdirSync(work), outputs: readFileSync(outputs, 'utf8') };
}

describe('the shard step', () => {
  const shard = runSteps().find(({ step }) => step.run!.includes('--shard'));
  const runShard = (buildx: string) => runStep(shard, { inputs: { buildx }, matrix: { shard: 2 }, strategy: { 'job-total': 4 }, env: {} });

  const base = ['bin/buildx-lab.mjs', 'run', '--matrix', 'full', '--shard', '2/4', '--report-dir', 'reports/shard-2'];

  it.each([
    ['a range with spaces and redirections', '>=0.20 <0.23'],
    ['a quote and a command', `0.21.1'"; touch pwned; echo "`],
    ['a command substitution', '$(touch pwned)`touch pwned`'],
  ])('hands %s to --buildx as one argument, and runs nothing else', (_what, buildx) => {
    const { argv, files } = runShard(buildx);
    expect(argv).toEqual([[...base, '--buildx', buildx]]);
    expect(files).toEqual([]);
  });

  it('leaves --buildx out when the input is empty (scheduled runs)', () => {
    expect(runShard('').argv).toEqual([base]);
  });
});

describe("the action's bundle key", () => {
  const keyStep = runSteps().find(({ file, step }) => file === 'action.yml' && step.run!.includes('sha256sum'));
  const keyOf = (candidate: string, baseline = '0.22.0') =>
    /^key=(.*)$/m.exec(
      runStep(
        keyStep,
        { inputs: { baseline, candidate, matrix: 'quick' }, github: { action_path: '/lab' }, steps: {} },
        { RUNNER_OS: 'Linux', RUNNER_ARCH: 'X64', RUNNER_TEMP: dir, LAB: 'hash-of-the-lab' },
      ).outputs,
    )?.[1];

  it('is one for every head of a pull request (a candidate from Git), so each push does not save a bundle of its own', () => {
    const a = keyOf('git:/home/runner/work/buildx/buildx/buildx-head@0a1b2c3d4e5f60718293a4b5c6d7e8f901234567');
    expect(a).toMatch(/^buildx-lab-qualify-Linux-X64-[0-9a-f]{32}$/);
    expect(keyOf('git:/home/runner/work/buildx/buildx/buildx-head@ffffffffffffffffffffffffffffffffffffffff')).toBe(a);
    // releases keep keys of their own, and the baseline still counts
    expect(keyOf('0.23.0')).not.toBe(a);
    expect(keyOf('0.23.0')).not.toBe(keyOf('0.24.0'));
    expect(keyOf('git:/x@main', '0.21.1')).not.toBe(a);
  });
});

describe('the pull request example (qualify the head of a pull request to a Buildx fork)', () => {
  const wf = workflows.find((w) => w.file === 'qualify-pull-request-example.yml')!.wf as Workflow & { on: Record<string, unknown> };
  const steps = Object.values(wf.jobs)[0]!.steps as (Step & { with?: Record<string, string> })[];
  const head = steps.find((s) => s.with?.path !== undefined)!;
  const lab = steps.find((s) => s.uses === './')!;

  it('runs on pull_request (read-only for a fork), never pull_request_target', () => {
    expect(Object.keys(wf.on)).toContain('pull_request');
    expect(Object.keys(wf.on)).not.toContain('pull_request_target');
  });

  it("checks out the head with its whole history, and hands the action that clone at the head's commit as a spec the CLI takes", () => {
    expect(head.with).toMatchObject({ ref: '${{ github.event.pull_request.head.sha || github.sha }}', 'fetch-depth': 0, 'persist-credentials': false });
    expect(lab.with!.candidate).toBe(`git:\${{ github.workspace }}/${head.with!.path}@${head.with!.ref}`);
    expect(lab.with!.cases).toBe('fixtures/cases');
    // as GitHub fills it in on a runner: a local clone at a full hash, which qualify --candidate takes
    const spec = `git:/home/runner/work/buildx/buildx/${head.with!.path}@0a1b2c3d4e5f60718293a4b5c6d7e8f901234567`;
    expect(parseGitBuildxSpec(spec)).toEqual({ kind: 'path', repo: `/home/runner/work/buildx/buildx/${head.with!.path}`, rev: '0a1b2c3d4e5f60718293a4b5c6d7e8f901234567' });
    const qualify = program().commands.find((c) => c.name() === 'qualify')!;
    expect(qualify.options.map((o) => o.long)).toEqual(expect.arrayContaining(['--baseline', '--candidate']));
  });
});
