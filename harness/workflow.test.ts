// The example workflow (.github/workflows/*.yml) cannot run here, so its scripts are checked the way
// GitHub would run them: expressions substituted, then bash. actionlint runs in workflow.itg.test.ts.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
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

describe('the shard step', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'lab-workflow-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const shard = runSteps().find(({ step }) => step.run!.includes('--shard'));

  /** Runs the step as GitHub would (bash -eo pipefail), with `node` and `npx` recording their argv instead of running. */
  function runShard(buildx: string): { argv: string[][]; files: string[] } {
    expect(shard, 'a run: step passing --shard').toBeDefined();
    const { wf, job, step } = shard!;
    const contexts = { inputs: { buildx }, matrix: { shard: 2 }, strategy: { 'job-total': 4 }, env: {} as Record<string, string> };
    const env: Record<string, string> = {};
    for (const scope of [wf.env, job.env, step.env]) {
      for (const [k, v] of Object.entries(scope ?? {})) env[k] = substitute(String(v), { ...contexts, env });
    }
    const bin = path.join(dir, 'bin');
    const work = path.join(dir, 'work');
    mkdirSync(bin);
    mkdirSync(work);
    const log = path.join(dir, 'argv.log');
    for (const tool of ['node', 'npx']) {
      writeFileSync(path.join(bin, tool), `#!/bin/sh\nprintf '%s\\0' "$#" "$@" >> '${log}'\n`);
      chmodSync(path.join(bin, tool), 0o755);
    }
    const script = path.join(dir, 'step.sh');
    writeFileSync(script, substitute(step.run!, contexts));
    execFileSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', script], {
      cwd: work,
      env: { ...env, PATH: `${bin}:/usr/bin:/bin`, GITHUB_STEP_SUMMARY: path.join(dir, 'summary.md') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const fields = readFileSync(log, 'utf8').split('\0').slice(0, -1);
    const argv: string[][] = [];
    for (let i = 0; i < fields.length; ) {
      const n = Number(fields[i]);
      argv.push(fields.slice(i + 1, i + 1 + n));
      i += n + 1;
    }
    return { argv, files: readdirSync(work) };
  }

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
