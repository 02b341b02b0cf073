// The cell's unprivileged user for real: steps run as it (`user: lab`) and as root under sudo from it
// (`sudo: true`) in a real DinD engine, its passwd entry seen only inside those steps; and the shipped case
// of docker/buildx#2745 through the CLI, with the real Buildx v0.17.1 (bad) and v0.18.0 (fixed).
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCellResults } from '../report/cell-file.ts';
import { CLI } from '../runner/cli.test-helpers.ts';
import { scratchPath } from '../scratch.test-helpers.ts';
import { ENGINE_26, SID_BUILDX, probeScenario, startTestLab, type TestLab } from '../runner/lab.test-helpers.ts';

const CASE = new URL('../../fixtures/cases/2745-sudo-config-ownership', import.meta.url).pathname;

describe("the lab's user in a real engine", () => {
  let t: TestLab;
  beforeAll(async () => {
    t = await startTestLab('itgsudo', [SID_BUILDX, ENGINE_26]);
  }, 60 * 60_000);
  afterAll(async () => {
    await t?.close();
  });

  it(
    'runs a step as the user and one as root under sudo from it; the engine and its later cells never see the user',
    async () => {
      const WHO = 'id -u; id -g; id -G; awk -F: \'$1 == "lab" { print $6 }\' /etc/passwd; env | grep ^SUDO_ | sort; echo "HOME=$HOME"';
      const probe = probeScenario('itg-sudo', async (cell) => {
        const sb = cell.sandbox;
        await sb.useLabUser();
        const lab = await sb.sh(WHO, { as: 'lab' });
        const sudo = await sb.sh(WHO, { as: 'sudo' });
        // really unprivileged: /etc is not its own; its HOME and Buildx config are
        const writes = await sb.sh('touch /etc/lab-was-here; touch "$BUILDX_CONFIG/mine" && stat -c %u:%g "$BUILDX_CONFIG/mine"', { as: 'lab' });
        // the engine's API socket is root's: the user's steps do without the engine
        const engine = await sb.docker(['version', '--format', '{{.Server.Version}}'], { as: 'lab' });
        // the lab's own look, outside any step: the engine's passwd and group as they were, nothing bound over them
        const outside = await sb.look('grep -c "^lab:" /etc/passwd /etc/group; grep -c " /etc/passwd " /proc/self/mountinfo; ls /etc/lab-was-here 2>&1; true');
        return { home: sb.homeDir, config: sb.buildxConfigDir, lab, sudo, writes, engine, outside: outside.stdout };
      });
      const r = await t.cell(probe, { buildx: 'v0.29.1-debian', engine: '26.1.5', store: 'containerd' });
      expect(r.outcome, `${r.summary}\n${r.error?.message ?? ''}`).toBe('control');
      type Run = { stdout: string; stderr: string; exitCode: number };
      const o = JSON.parse(r.summary) as { home: string; config: string; outside: string; lab: Run; sudo: Run; writes: Run; engine: Run };
      expect(o.config).toBe(`${o.home}/.docker/buildx`);
      expect(o.lab.stdout.trim().split('\n')).toEqual(['1000', '1000', '1000', o.home, `HOME=${o.home}`]);
      expect(o.sudo.stdout.trim().split('\n')).toEqual([
        '0',
        '0',
        expect.stringMatching(/^0( |$)/),
        o.home,
        `SUDO_COMMAND=sh -c ${WHO}`,
        'SUDO_GID=1000',
        'SUDO_UID=1000',
        'SUDO_USER=lab',
        `HOME=${o.home}`,
      ]);
      expect(o.writes.stdout.trim()).toBe('1000:1000');
      expect(o.writes.stderr).toMatch(/touch: cannot touch '\/etc\/lab-was-here': Permission denied/);
      expect(o.engine.exitCode).not.toBe(0);
      expect(o.engine.stderr).toMatch(/permission denied while trying to connect to the Docker daemon socket/);
      expect(o.outside.trim().split('\n')).toEqual(['/etc/passwd:0', '/etc/group:0', '0', expect.stringMatching(/No such file or directory/)]);
    },
    20 * 60_000,
  );
});

describe('the shipped case of docker/buildx#2745 (sudo leaves root-owned files in the user config)', () => {
  it('tells the bug (v0.17.1: root-owned, the user refused) from the fix (v0.18.0: chowned to the user)', async () => {
    const reportDir = scratchPath('sudo');
    const r = await execa('node', [CLI, 'repro', CASE, '--report-dir', reportDir], { reject: false, all: true, timeout: 1_200_000 });
    // the report's own reader: every cell file validated against its schema
    const cells = readCellResults(reportDir);
    const by = new Map(cells.map((c) => [c.axes.buildx, c]));
    expect(cells.length, r.all).toBe(2);
    expect(by.get('v0.17.1')?.observed, r.all).toBe('reproduced');
    expect(by.get('v0.18.0')?.observed, r.all).toBe('fixed');
    for (const c of cells) {
      const facts = c.evidence.facts.join('\n');
      expect(facts).toMatch(/the cell's user lab \(uid 1000\): HOME \/tmp\/cells\/c[0-9a-z]+\/home, DOCKER_CONFIG and BUILDX_CONFIG its ~\/\.docker and ~\/\.docker\/buildx/);
      expect(facts).toMatch(/step sudo-create: runs as root under sudo from lab \(SUDO_UID=1000, HOME kept\)/);
      // the user's own create and sudo's work in both: only what the user can do next differs
      expect(facts).toMatch(/step user-create: buildx create exit 0/);
      expect(facts).toMatch(/step sudo-create: buildx create exit 0/);
      const rm = c.evidence.commands.find((x) => x.argv.slice(0, 3).join(' ') === 'docker buildx rm')!;
      if (c.axes.buildx === 'v0.17.1') expect(rm.stderr).toMatch(/open \/tmp\/cells\/c[0-9a-z]+\/home\/\.docker\/buildx\/instances\/s-c[0-9a-z]+: permission denied/);
      else expect(rm.stderr).toMatch(/s-c[0-9a-z]+ removed/);
    }
    expect(r.all).toMatch(/v0\.17\.1 +symptom PRESENT \(state instances\/s-c[0-9a-z]+: owned by root \(0:0\);/);
    expect(r.exitCode, r.all).toBe(0);
  }, 1_300_000);
});
