// The host engine: which engine the lab uses (pure), its daemon.json (pure), and the ownership of its
// directories (temp dirs, no engine): install, start and uninstall delete only in directories the lab made.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { labConfig, type LabConfig } from '../config.ts';
import { UsageError } from '../errors.ts';
import { DEFAULT_DOCKER_SOCKET } from '../config.ts';
import { chooseEngine, claimEngineDir, ENGINE_DIR_MARKER, engineDirState, engineProblem, HostEngine, labDaemonConfig, labEnginePaths } from './host.ts';

const info = (serverVersion: string, host = DEFAULT_DOCKER_SOCKET) => ({ host, serverVersion, apiVersion: '1.45', os: 'linux', arch: 'amd64' });

describe('engineProblem', () => {
  it.each(['20.10.24+dfsg1', '22.06.0'])('refuses %s, naming why (moby/moby#42933)', (v) => {
    expect(engineProblem({ serverVersion: v })).toMatch(/too old.*moby\/moby#42933/);
  });
  it.each(['23.0.0', '26.1.5+dfsg1', '28.5.2', '29.7.1'])('accepts %s', (v) => {
    expect(engineProblem({ serverVersion: v })).toBeUndefined();
  });
  it('reports a version it cannot parse', () => {
    expect(engineProblem({ serverVersion: 'dev' })).toMatch(/cannot parse/);
  });
});

describe('chooseEngine', () => {
  it("uses the user's DOCKER_HOST when it answers with a usable engine, whatever else runs", () => {
    const c = chooseEngine({ requested: 'tcp://h:2375', requestedInfo: info('27.5.1', 'tcp://h:2375'), labInfo: info('26.1.5', 'unix:///run/buildx-lab/docker.sock') });
    expect(c).toEqual({ use: { ...info('27.5.1', 'tcp://h:2375'), owner: 'user' }, notes: [] });
  });
  it('never installs over DOCKER_HOST: no answer, or too old, is an error naming the fix', () => {
    expect(() => chooseEngine({ requested: 'unix:///x.sock' })).toThrow(/No Docker engine answers at DOCKER_HOST=unix:\/\/\/x.sock.*unset DOCKER_HOST/);
    expect(() => chooseEngine({ requested: 'unix:///x.sock', requestedInfo: info('20.10.24') })).toThrow(/too old.*leaves it alone/);
  });
  it('uses an engine >= 23 at the default socket as it is', () => {
    expect(chooseEngine({ defaultInfo: info('24.0.9') })).toEqual({ use: { ...info('24.0.9'), owner: 'user' }, notes: [] });
  });
  it('leaves an engine < 23 running and uses or starts its own beside it, saying so', () => {
    const started = chooseEngine({ defaultInfo: info('20.10.24') });
    expect(started).toMatchObject({ start: 'lab' });
    expect(started.notes.join()).toMatch(/20\.10\.24, older than 23\.0\.0: leaving it installed and running/);
    const running = chooseEngine({ defaultInfo: info('20.10.24'), labInfo: info('26.1.5', 'unix:///run/buildx-lab/docker.sock') });
    expect(running).toMatchObject({ use: { owner: 'lab', serverVersion: '26.1.5' } });
  });
  it("starts the lab's engine when nothing answers", () => {
    expect(chooseEngine({})).toEqual({ start: 'lab', notes: [] });
  });
});

describe("the lab engine's daemon.json", () => {
  const p = labEnginePaths({ engineHome: '/h/engine', engineRunDir: '/run/bxl' });
  it('keeps everything under its own prefix and leaves the host firewall and sysctls alone', () => {
    const c = labDaemonConfig(p, { seccomp: true });
    expect(c).toMatchObject({
      hosts: ['unix:///run/bxl/docker.sock'],
      'data-root': '/h/engine/data',
      'exec-root': '/run/bxl/exec',
      pidfile: '/run/bxl/dockerd.pid',
      iptables: false,
      ip6tables: false,
      'ip-forward': false,
      bridge: 'none',
    });
    expect(c).not.toHaveProperty('seccomp-profile');
  });
  it('runs containers unconfined only when runc was built without seccomp', () => {
    expect(labDaemonConfig(p, { seccomp: false })['seccomp-profile']).toBe('unconfined');
  });
});

describe("the lab engine's directories are the lab's before anything in them is deleted", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const tmp = () => {
    const d = mkdtempSync(path.join(tmpdir(), 'lab-engine-dirs-'));
    dirs.push(d);
    return d;
  };
  /** A directory holding FILES (relative path -> content). */
  const dirWith = (files: Record<string, string>) => {
    const d = tmp();
    for (const [rel, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(d, rel)), { recursive: true });
      writeFileSync(path.join(d, rel), text);
    }
    return d;
  };
  const hostFor = (home: string, runDir: string): HostEngine => {
    const config: LabConfig = { ...labConfig({ ...process.env, BUILDX_LAB_ENGINE_HOME: home, BUILDX_LAB_ENGINE_RUN_DIR: runDir }), engineHome: home, engineRunDir: runDir };
    return new HostEngine(config, () => undefined);
  };
  // What the lab's engine left before markers existed (this machine's ~/.local/share/buildx-lab/engine, /run/buildx-lab).
  const LEGACY_HOME = { 'bin/dockerd': 'x', 'daemon.json': '{}', 'installed.json': '{"version":"26.1.5"}', 'dockerd.log': '', 'data/image/x': '' };
  const LEGACY_RUN = { 'dockerd.pid': '999999999', 'exec/containerd/x': '' };
  // A user's directory given by mistake, e.g. BUILDX_LAB_ENGINE_RUN_DIR=/var/run, which holds the user's own docker.sock.
  // Its pid file names no live process: before this check, stop() sent SIGTERM to whatever pid it named.
  const USER_FILES = { 'docker.sock': 'the user engine socket', 'notes.txt': 'mine', 'dockerd.pid': '999999998' };

  it.each([
    ['foreign', USER_FILES, 'runDir'],
    ['foreign', { 'installed.json': '{}', 'photos/cat.jpg': 'x' }, 'home'],
    ['legacy', LEGACY_HOME, 'home'],
    ['legacy', LEGACY_RUN, 'runDir'],
    ['foreign', { data: '' }, 'home'], // lab names, but nothing only the lab writes
    ['empty', {}, 'home'],
    ['marked', { [ENGINE_DIR_MARKER]: '', 'anything.txt': '' }, 'home'],
  ] as const)('reads a directory as %s: %j (%s)', (want, files, which) => {
    expect(engineDirState(dirWith(files), which)).toBe(want);
  });

  it('claims a missing, empty or pre-marker directory with a marker, and refuses anything else naming the fix', () => {
    const missing = path.join(tmp(), 'a', 'b');
    claimEngineDir(missing, 'home', () => undefined);
    expect(readdirSync(missing)).toEqual([ENGINE_DIR_MARKER]);
    const notes: string[] = [];
    const legacy = dirWith(LEGACY_HOME);
    claimEngineDir(legacy, 'home', (m) => notes.push(m));
    expect(engineDirState(legacy, 'home')).toBe('marked');
    expect(notes.join()).toMatch(/layout from before ownership markers/);
    const foreign = dirWith(USER_FILES);
    expect(() => claimEngineDir(foreign, 'runDir', () => undefined)).toThrow(UsageError);
    expect(() => claimEngineDir(foreign, 'runDir', () => undefined)).toThrow(
      new RegExp(
        `^${foreign} \\(BUILDX_LAB_ENGINE_RUN_DIR\\) is not a directory of the lab's engine.*no ${ENGINE_DIR_MARKER}.*Fix: set BUILDX_LAB_ENGINE_RUN_DIR to an empty or new directory`,
      ),
    );
    expect(existsSync(path.join(foreign, ENGINE_DIR_MARKER))).toBe(false);
  });

  it.each([
    ['the engine home', () => dirWith({ ...USER_FILES, 'bin/dockerd': 'x' }), () => dirWith(LEGACY_RUN), 'BUILDX_LAB_ENGINE_HOME'],
    ['the run directory', () => dirWith(LEGACY_HOME), () => dirWith(USER_FILES), 'BUILDX_LAB_ENGINE_RUN_DIR'],
  ])("uninstall refuses when %s is not the lab's, and deletes nothing in either", async (_what, home, runDir, setting) => {
    const [h, r] = [home(), runDir()];
    const before = [readdirSync(h, { recursive: true }), readdirSync(r, { recursive: true })];
    await expect(hostFor(h, r).uninstall()).rejects.toThrow(new RegExp(`\\(${setting}\\) is not a directory of the lab's engine`));
    expect([readdirSync(h, { recursive: true }), readdirSync(r, { recursive: true })]).toEqual(before);
  });

  it('uninstall removes marked directories and adopts the layout from before markers', async () => {
    const marked = hostFor(dirWith({ [ENGINE_DIR_MARKER]: '', 'bin/dockerd': 'x' }), dirWith({ [ENGINE_DIR_MARKER]: '' }));
    await marked.uninstall();
    expect([existsSync(marked.paths.home), existsSync(marked.paths.runDir)]).toEqual([false, false]);
    const legacy = hostFor(dirWith(LEGACY_HOME), dirWith(LEGACY_RUN));
    await legacy.uninstall();
    expect([existsSync(legacy.paths.home), existsSync(legacy.paths.runDir)]).toEqual([false, false]);
  });

  it("start refuses a run directory that is not the lab's, before deleting the socket or pid file in it", async () => {
    const home = dirWith({ [ENGINE_DIR_MARKER]: '', 'bin/dockerd': '#!/bin/sh\nexit 3\n' });
    const runDir = dirWith(USER_FILES);
    await expect(hostFor(home, runDir).start(2_000)).rejects.toThrow(/\(BUILDX_LAB_ENGINE_RUN_DIR\) is not a directory of the lab's engine/);
    expect(readFileSync(path.join(runDir, 'docker.sock'), 'utf8')).toBe('the user engine socket');
    expect(readdirSync(runDir).sort()).toEqual(Object.keys(USER_FILES).sort());
  });

  it("stop refuses a run directory that is not the lab's: its pid file names someone else's process", async () => {
    // a process of this test's own stands for the user's daemon
    const other = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const runDir = dirWith({ ...USER_FILES, 'dockerd.pid': String(other.pid) });
      await expect(hostFor(dirWith({}), runDir).stop(1_000)).rejects.toThrow(/\(BUILDX_LAB_ENGINE_RUN_DIR\) is not a directory of the lab's engine/);
      expect(other.exitCode === null && other.signalCode === null).toBe(true);
    } finally {
      other.kill('SIGKILL');
    }
  });

  it("install refuses a home that is not the lab's before building anything", async () => {
    const home = dirWith({ 'bin/dockerd': 'the user dockerd', 'notes.txt': 'mine' });
    await expect(hostFor(home, dirWith({})).install()).rejects.toThrow(/\(BUILDX_LAB_ENGINE_HOME\) is not a directory of the lab's engine/);
    expect(readFileSync(path.join(home, 'bin/dockerd'), 'utf8')).toBe('the user dockerd');
  });
});
