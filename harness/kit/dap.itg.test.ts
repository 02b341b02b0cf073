// The DAP step for real: the shipped case of docker/buildx#3436 through the CLI, on the lab's engine, with
// the real `buildx dap build` of v0.29.0 (fixed) and, when a docker/buildx clone is at hand
// (BUILDX_LAB_BUILDX_GIT, or the read-only mirror of this workplace), of v0.29.0-rc1 built from its tag,
// the commit just before the fix. The transcript is the step's evidence and the context's dap.json.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import type { CellResult } from '../model.ts';
import { CLI } from '../runner/cli.test-helpers.ts';
import type { DapTranscript } from './dap.ts';

const CASE = new URL('../../fixtures/cases/3436-dap-file-explorer-mount-path', import.meta.url).pathname;
const CLONE = [process.env.BUILDX_LAB_BUILDX_GIT, '/work/.mirror/docker+buildx/repo'].find((d) => d && existsSync(d));

describe('dap: steps with the real buildx dap build', () => {
  it('plays the script, keeps the transcript, and tells the bug (rc1) from the fix (v0.29.0)', async () => {
    const reportDir = path.join(os.tmpdir(), `bxl-dap-${Date.now()}`);
    const buildx = ['0.29.0', ...(CLONE ? [`git:${CLONE}@v0.29.0-rc1`] : [])].join(',');
    const r = await execa('node', [CLI, 'repro', CASE, '--buildx', buildx, '--report-dir', reportDir], { reject: false, all: true, timeout: 1_500_000 });
    const cells = readdirSync(path.join(reportDir, 'cells')).map((f) => JSON.parse(readFileSync(path.join(reportDir, 'cells', f), 'utf8')) as CellResult);
    const byVersion = new Map(cells.map((c) => [c.axes.buildx, c]));
    const fixed = byVersion.get('v0.29.0')!;
    expect(fixed.observed, r.all).toBe('fixed');
    const dap = fixed.evidence.commands.find((c) => c.argv.join(' ') === 'docker buildx dap build .')!;
    const t = JSON.parse(dap.stdout) as DapTranscript;
    // every line ran: requests answered, events seen, the value of one taken into the next
    expect(t.stopped).toBeUndefined();
    expect(t.lines.trace?.request?.arguments).toEqual({ threadId: (t.lines.copied!.event!.body as { threadId: number }).threadId });
    expect((t.lines.sub!.response!.body as { variables: { name: string }[] }).variables.map((v) => v.name)).toEqual(['.', 'hello.txt']);
    expect(t.messages.filter((m) => m.dir === 'received').some((m) => (m.message as { event?: string }).event === 'terminated')).toBe(true);
    expect(dap.exitCode).toBe(0);
    expect(fixed.evidence.facts.join('\n')).toContain('step dap: the DAP transcript written to dap.json');
    if (CLONE) {
      const rc1 = cells.find((c) => c.axes.buildx?.startsWith('v0.29.0-rc1'))!;
      expect(rc1.observed, r.all).toBe('reproduced');
      expect(rc1.outcome).toBe('reproduced');
      expect(rc1.evidence.facts.join('\n')).toMatch(/git commit 285dd76b25004562ccc9c548e910cc947933741b/);
    }
    expect(r.exitCode, r.all).toBe(0);
  }, 1_600_000);
});
