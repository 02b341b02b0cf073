// The DAP step for real: the shipped case of docker/buildx#3436 through the CLI, on the lab's engine, with
// the real `buildx dap build` of v0.29.0 (fixed) and, when a docker/buildx clone is at hand
// (BUILDX_LAB_BUILDX_GIT, or the read-only mirror of this workplace), of v0.29.0-rc1 built from its tag,
// the commit just before the fix. The transcript is the step's evidence and the context's dap.json.
// And the terminal a step opens for Buildx's runInTerminal: the shipped case of docker/buildx#3701 with
// v0.32.1 (the exec shell refused after a failed step) and v0.33.0 (the shell runs).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import type { CellResult } from '../model.ts';
import { CLI } from '../runner/cli.test-helpers.ts';
import { scratchPath } from '../scratch.test-helpers.ts';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { DapTranscript } from './dap.ts';

const CASE = new URL('../../fixtures/cases/3436-dap-file-explorer-mount-path', import.meta.url).pathname;
const EXEC_CASE = new URL('../../fixtures/cases/3701-dap-exec-after-failed-step', import.meta.url).pathname;
const CLONE = [process.env.BUILDX_LAB_BUILDX_GIT, '/work/.mirror/docker+buildx/repo'].find((d) => d && existsSync(d));

describe('dap: steps with the real buildx dap build', () => {
  it('plays the script, keeps the transcript, and tells the bug (rc1) from the fix (v0.29.0)', async () => {
    const reportDir = scratchPath('dap');
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

  it("answers Buildx's runInTerminal with the lab's own `dap attach` terminal, its screen kept (#3701: v0.32.1 vs v0.33.0)", async () => {
    const reportDir = scratchPath('dap-term');
    const r = await execa('node', [CLI, 'repro', EXEC_CASE, '--buildx', '0.32.1,0.33.0', '--report-dir', reportDir], { reject: false, all: true, timeout: 1_200_000 });
    const cells = readdirSync(path.join(reportDir, 'cells')).map((f) => JSON.parse(readFileSync(path.join(reportDir, 'cells', f), 'utf8')) as CellResult);
    const byVersion = new Map(cells.map((c) => [c.axes.buildx, c]));
    for (const [version, observed, shows] of [
      ['v0.32.1', 'reproduced', /^Attached to build process\.\nBuild container is not executable\. \(reason: stat error: /],
      // the shell's prompt and the echo of the typed-ahead `cat` land in either order on the screen: the file's
      // content, not the layout, shows the shell ran in the failed step's state
      ['v0.33.0', 'fixed', /^Attached to build process\.\nRunning \/bin\/sh in build container from line 3\.[\s\S]*left-by-the-failed-step/],
    ] as const) {
      const cell = byVersion.get(version)!;
      expect(cell.observed, `${version}\n${r.all}`).toBe(observed);
      const dap = cell.evidence.commands.find((c) => c.argv.slice(0, 4).join(' ') === 'docker buildx dap build')!;
      const t = JSON.parse(dap.stdout) as DapTranscript;
      // Buildx asked (evaluate of exec), the lab ran its own argv for the socket only, and answered with its pid
      const asked = t.messages.find((m) => m.dir === 'received' && (m.message as { command?: string }).command === 'runInTerminal')!.message as DebugProtocol.RunInTerminalRequest;
      const socket = asked.arguments.args.at(-1)!;
      expect(socket).toMatch(/^\/tmp\/buildx-dap-exec\d+\/s\.sock$/);
      const answer = t.messages.find((m) => m.dir === 'sent' && (m.message as { request_seq?: number }).request_seq === asked.seq)!.message as DebugProtocol.RunInTerminalResponse;
      expect(answer.success).toBe(true);
      expect(answer.body.processId).toBeGreaterThan(0);
      expect(t.terminals).toHaveLength(1);
      expect(t.terminals![0]).toMatchObject({ argv: ['docker', 'buildx', 'dap', 'attach', socket], socket, processId: answer.body.processId! });
      expect(t.terminals![0]!.screen).toMatch(shows);
      expect(t.stopped).toBeUndefined();
      // the terminal is a command of the cell's evidence, its stdout the screen
      const term = cell.evidence.commands.find((c) => c.argv.join(' ') === `docker buildx dap attach ${socket}`)!;
      expect(term.stdout).toBe(t.terminals![0]!.screen);
      expect(cell.evidence.facts.join('\n')).toContain(`runInTerminal: the lab opened terminal 0: docker buildx dap attach ${socket}`);
    }
    expect(r.exitCode, r.all).toBe(0);
  }, 1_300_000);
});
