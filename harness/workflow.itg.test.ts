// actionlint over every workflow: syntax, expressions and their contexts, action inputs and outputs,
// job dependencies. An integration test because the first run may build actionlint from the Go module
// proxy (harness/tools/actionlint.ts); later runs use the cached binary and need no network.
// shellcheck is turned off so the result does not depend on what the host has installed; the run:
// scripts are exercised by workflow.test.ts instead.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { childEnv, labConfig } from './config.ts';
import { run } from './exec.ts';
import { ensureActionlint } from './tools/actionlint.ts';

const root = path.resolve(import.meta.dirname, '..');
const workflows = readdirSync(path.join(root, '.github', 'workflows'))
  .filter((f) => /\.ya?ml$/.test(f))
  .map((f) => path.join('.github', 'workflows', f));

describe('actionlint', () => {
  it.each(workflows)('finds nothing in %s', async (file) => {
    const config = labConfig();
    const bin = await ensureActionlint(config);
    const r = await run([bin, '-no-color', '-shellcheck=', '-pyflakes=', file], { env: childEnv(config), cwd: root, timeoutMs: 60_000 });
    // Exit 1 means findings; anything else non-zero is actionlint itself failing. Both fail the test.
    expect(`exit ${r.exitCode}\n${r.stdout}${r.stderr}`).toBe('exit 0\n');
  });
});
