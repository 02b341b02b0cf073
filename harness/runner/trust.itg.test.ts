// The trust gate through the real CLI on the real engine: a copy of a shipped case outside the checkout's
// fixtures is untrusted, and on a rootful engine (what the lab's own engine is) it is refused with exit 2,
// saying why and the fix, before anything is provisioned: no run spec, no provisioning status, no cell.
import { cpSync, existsSync, mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labConfig } from '../config.ts';
import { CLI, labDockerEnv } from './cli.test-helpers.ts';
import { probeEngine } from '../engine/host.ts';
import { FIXTURE_CASES } from './trust.ts';

const SHIPPED = '2969-ls-json-duplicates';
let dir: string;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  dir = realpathSync(mkdtempSync(path.join(tmpdir(), 'trust-itg-')));
  cpSync(path.join(FIXTURE_CASES, SHIPPED), path.join(dir, SHIPPED), { recursive: true });
  env = await labDockerEnv();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('an untrusted case on a rootful engine', () => {
  it('is refused with exit 2 before provisioning, naming why and the fix', async (t) => {
    const isolation = await probeEngine(labConfig(), env.DOCKER_HOST!);
    if (isolation.isolated) t.skip(`the engine at ${env.DOCKER_HOST} is isolated (${isolation.reason}): nothing to refuse`);
    const reportDir = path.join(dir, 'report');
    const t0 = Date.now();
    const r = await execa('node', [CLI, 'repro', path.join(dir, SHIPPED), '--report-dir', reportDir], { env, reject: false, all: true, timeout: 120_000 });
    expect(r.exitCode, r.all).toBe(2);
    expect(r.all).toMatch(new RegExp(`refusing to run the untrusted case ${path.join(dir, SHIPPED)}: it is not in this checkout's fixtures/cases`));
    expect(r.all).toMatch(/rootful engine \(docker info lists no name=rootless\)/);
    expect(r.all).toMatch(/root in the case would be root on this host/);
    expect(r.all).toMatch(/Fix: read the case .* and pass --trust, or run it on a rootless engine/);
    // Nothing was provisioned or started: no spec, no status, no cell, no run.
    expect(r.all).not.toMatch(/\brun r[0-9a-z]+: \d+ cells/);
    const left = existsSync(reportDir) ? readdirSync(reportDir) : [];
    expect(left.filter((f) => f !== '.buildx-lab-report')).toEqual([]);
    expect(Date.now() - t0).toBeLessThan(60_000);
  });
});
