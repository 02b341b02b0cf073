// `make browser`: installs Debian's chromium for the HTML report test, but only when that adds packages
// and changes none already installed. apt may upgrade a shared library or pull a newer perl to satisfy
// chromium; on a developer's machine or a CI host that is not ours to decide, so the simulation
// (`apt-get -s`) is read first and any upgrade, downgrade or removal stops the install with the fix.
import { existsSync } from 'node:fs';
import { execa } from 'execa';

export interface AptPlan {
  /** packages the install would add: name and version */
  adds: { name: string; version: string }[];
  /** installed packages the install would change: a new version, or removal */
  changes: { name: string; from?: string; to?: string; removed: boolean }[];
}

// `Inst name [installed version] (new version release [arch])` for a package that is installed;
// `Inst name (new version release [arch])` for a new one; `Remv name [version]` / `Purg name [version]`.
const INST = /^Inst (\S+) (?:\[([^\]]+)\] )?\((\S+)/;
const REMOVE = /^(?:Remv|Purg) (\S+)(?: \[([^\]]+)\])?/;

/** Reads `apt-get -s install …` output (LANG=C). */
export function parseAptSimulation(text: string): AptPlan {
  const plan: AptPlan = { adds: [], changes: [] };
  for (const line of text.split('\n')) {
    const inst = INST.exec(line);
    if (inst) {
      const [, name, from, to] = inst;
      if (from) plan.changes.push({ name: name!, from, to: to!, removed: false });
      else plan.adds.push({ name: name!, version: to! });
      continue;
    }
    const remove = REMOVE.exec(line);
    if (remove) plan.changes.push({ name: remove[1]!, ...(remove[2] ? { from: remove[2] } : {}), removed: true });
  }
  return plan;
}

/** The refusal, naming each change and the fix. */
export function refusal(plan: AptPlan, pkg: string): string {
  const lines = plan.changes.map((c) => `  ${[c.name, c.from, '->', c.removed ? 'removed' : c.to].filter(Boolean).join(' ')}`);
  const upgradable = plan.changes.filter((c) => !c.removed).map((c) => c.name);
  return [
    `[setup] not installing ${pkg}: it would change ${plan.changes.length} package(s) already installed:`,
    ...lines,
    'Fix: bring those packages up to date first' +
      (upgradable.length ? ` (apt-get install --only-upgrade ${upgradable.join(' ')})` : '') +
      `, then run 'make browser' again; or install ${pkg} yourself if those changes are fine on this machine.`,
  ].join('\n');
}

const PACKAGE = 'chromium';
const BINARY = '/usr/bin/chromium';
// recommends would pull a newer perl, systemd and avahi onto a stock Debian 12: the browser needs none of them
const APT_INSTALL = ['install', '--no-install-recommends', PACKAGE];

async function main(): Promise<number> {
  const say = (line: string) => process.stdout.write(`${line}\n`);
  if (existsSync(BINARY)) {
    const v = await execa(BINARY, ['--version'], { reject: false });
    say(`[setup] ${v.stdout.trim() || BINARY} is installed`);
    return 0;
  }
  if (!existsSync('/etc/debian_version') || process.getuid?.() !== 0) {
    say(`[setup] ${PACKAGE} is missing and not installable here (needs Debian and root): the HTML report test will fail, saying how to fix it`);
    return 0;
  }
  const env = { LANG: 'C', LC_ALL: 'C', DEBIAN_FRONTEND: 'noninteractive' };
  const update = await execa('apt-get', ['update', '-qq'], { env, reject: false });
  if (update.exitCode !== 0) say(`[setup] apt-get update failed (${update.stderr.trim().split('\n').at(-1)}); using the package lists as they are`);
  const sim = await execa('apt-get', ['-s', ...APT_INSTALL], { env, reject: false });
  if (sim.exitCode !== 0) {
    say(`[setup] apt-get cannot install ${PACKAGE}: ${sim.stderr.trim().split('\n').at(-1)}`);
    return 1;
  }
  const plan = parseAptSimulation(sim.stdout);
  if (plan.changes.length) {
    say(refusal(plan, PACKAGE));
    return 1;
  }
  say(`[setup] installing Debian's ${PACKAGE} for the HTML report test; it adds ${plan.adds.length} package(s) and changes none:`);
  say(plan.adds.map((a) => `  ${a.name} ${a.version}`).join('\n'));
  const install = await execa('apt-get', ['install', '-y', '-q', ...APT_INSTALL.slice(1)], { env, reject: false, stdout: 'inherit', stderr: 'inherit' });
  if (install.exitCode !== 0) return install.exitCode ?? 1;
  return existsSync(BINARY) ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await main();
