import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BuildxBinary } from '../buildx/buildx.ts';
import type { StartedDindContainer } from '../dind/dind.ts';
import { CellSandbox, KILL_TREE } from './sandbox.ts';

describe("the environment of the cell's commands", () => {
  // Only the environment the sandbox hands to the engine is under test: an engine stand-in that records it.
  const envs: Record<string, string>[] = [];
  const dind = {
    name: 'd',
    exec: async (_argv: string[], o: { env?: Record<string, string> }) => {
      envs.push(o.env ?? {});
      return { argv: [], exitCode: 0, stdout: '', stderr: '', durationMs: 1 };
    },
  } as unknown as StartedDindContainer;
  const binary = { path: '/cache/buildx/v0.21.1/docker-buildx', version: 'v0.21.1' } as BuildxBinary;

  it("keeps the lab's config directories whatever a caller passes, and keeps the case's variables out of the lab's own looks", async () => {
    const sb = await CellSandbox.create(dind, binary, '/cache', 'c1', 'registry:5000', {
      env: { DOCKER_CONFIG: '/evil', GIT_SSH_COMMAND: 'evil', TAG: 'x', BUILDX_BAKE_ENTITLEMENTS_FS: '0' },
    });
    envs.length = 0;
    await sb.docker(['version'], { env: { BUILDX_CONFIG: '/evil' } });
    await sb.look('true');
    expect(envs[0]).toMatchObject({ DOCKER_CONFIG: '/tmp/cells/c1/docker', BUILDX_CONFIG: '/tmp/cells/c1/buildx', TAG: 'x', BUILDX_BAKE_ENTITLEMENTS_FS: '1' });
    expect(envs[1]).toEqual({ DOCKER_CONFIG: '/tmp/cells/c1/docker', BUILDX_CONFIG: '/tmp/cells/c1/buildx' });
  });
});

describe("the lab's user (a step's user: lab, or sudo: true from it)", () => {
  // What the sandbox hands to the engine is under test (the wrapper itself runs in a real engine: kit/sudo.itg.test.ts).
  const calls: { argv: string[]; env: Record<string, string> }[] = [];
  const engine = (probe: string) =>
    ({
      name: 'd',
      exec: async (argv: string[], o: { env?: Record<string, string> }) => {
        calls.push({ argv, env: o.env ?? {} });
        const isProbe = argv.includes('unshare') && argv.at(-1)?.includes('/etc/passwd');
        return { argv: [], exitCode: 0, stdout: isProbe ? probe : '', stderr: '', durationMs: 1 };
      },
    }) as unknown as StartedDindContainer;
  const binary = { path: '/cache/buildx/v0.17.1/docker-buildx', version: 'v0.17.1' } as BuildxBinary;

  it("puts the client's config under the user's HOME and runs sudo steps wrapped, with sudo's variables the lab's", async () => {
    const sb = await CellSandbox.create(engine('1000\n/tmp/cells/c1/home\n'), binary, '/cache', 'c1', 'registry:5000', { env: { SUDO_UID: '0', TAG: 'x' } });
    await expect(sb.buildx(['ls'], { as: 'sudo' })).rejects.toThrow(/the cell has none \(useLabUser first\)/);
    calls.length = 0;
    await sb.useLabUser();
    // the move, the passwd and group of the cell (never the engine's own), then the probe as the user
    expect(calls[0]!.argv.join(' ')).toMatch(
      /cp -a docker\/\. home\/\.docker\/ .*chown -R 1000:1000 home .*> etc\/passwd && echo 'lab:x:1000:1000:buildx-lab user:\/tmp\/cells\/c1\/home:\/bin\/sh' >> etc\/passwd/,
    );
    expect(calls[0]!.argv.join(' ')).not.toMatch(/>>? \/etc\//);
    expect(calls[1]!.argv.slice(0, 6)).toEqual(['unshare', '--mount', '--propagation', 'private', '--', 'sh']);
    calls.length = 0;
    await sb.buildx(['create', '--name', 's'], { as: 'sudo', env: { SUDO_USER: 'root' } });
    await sb.buildx(['rm', 's'], { as: 'lab' });
    await sb.buildx(['ls']);
    const [sudo, lab, plain] = calls;
    expect(sudo!.argv.slice(-7)).toEqual(['/tmp/cells/c1', 'sudo', 'docker', 'buildx', 'create', '--name', 's']);
    expect(sudo!.env).toMatchObject({
      HOME: '/tmp/cells/c1/home',
      DOCKER_CONFIG: '/tmp/cells/c1/home/.docker',
      BUILDX_CONFIG: '/tmp/cells/c1/home/.docker/buildx',
      SUDO_COMMAND: 'docker buildx create --name s',
      SUDO_USER: 'lab',
      SUDO_UID: '1000',
      SUDO_GID: '1000',
      TAG: 'x',
    });
    expect(lab!.argv.slice(-6)).toEqual(['/tmp/cells/c1', 'lab', 'docker', 'buildx', 'rm', 's']);
    expect(lab!.argv.at(-7)).toContain('exec unshare --setgid 1000 --setuid 1000 -- "$@"');
    // not sudo: none of sudo's variables from the lab (a case's own are refused at load: kit/lab-owned.ts)
    expect(lab!.env.SUDO_COMMAND).toBeUndefined();
    expect(plain!.argv).toEqual(['docker', 'buildx', 'ls']);
    expect(plain!.env).toMatchObject({ HOME: '/tmp/cells/c1/home', BUILDX_CONFIG: '/tmp/cells/c1/home/.docker/buildx' });
  });

  it("is the lab's error, not a step's exit, when a step cannot run as the user there", async () => {
    const sb = await CellSandbox.create(engine('0\n'), binary, '/cache', 'c1', 'registry:5000');
    await expect(sb.useLabUser()).rejects.toThrow(/a step cannot run as the lab's user in d \(the engine image needs util-linux unshare/);
  });

  it('is refused, not ignored, for a started process (background, interactive and dap steps run as root)', async () => {
    const sb = await CellSandbox.create(engine('1000\n/tmp/cells/c1/home'), binary, '/cache', 'c1', 'registry:5000');
    await sb.useLabUser();
    expect(() => sb.start(['docker', 'buildx', 'ls'], { name: 'bg', as: 'sudo' })).toThrow(/a started process runs as root; as: sudo applies to foreground commands/);
  });

  it('is undone by a new set-up of the cell (repeat: runs)', async () => {
    const sb = await CellSandbox.create(engine('1000\n/tmp/cells/c1/home'), binary, '/cache', 'c1', 'registry:5000');
    await sb.useLabUser();
    await sb.prepare('registry:5000');
    expect([sb.dockerConfigDir, sb.buildxConfigDir]).toEqual(['/tmp/cells/c1/docker', '/tmp/cells/c1/buildx']);
    await expect(sb.docker(['version'], { as: 'lab' })).rejects.toThrow(/useLabUser first/);
  });
});

describe('a process started in the engine (background and interactive steps)', () => {
  const started: { argv: readonly string[]; env: Record<string, string>; stdin: boolean }[] = [];
  const execs: string[][] = [];
  let finish: () => void = () => {};
  const dind = {
    name: 'd',
    exec: async (argv: string[]) => {
      execs.push(argv);
      // the kill script ends the process, so its docker exec returns
      if (argv.join(' ').includes('kill -KILL')) finish();
      return { argv: [], exitCode: 0, stdout: '', stderr: '', durationMs: 1 };
    },
    start: (argv: readonly string[], o: { env: Record<string, string>; stdin: boolean }) => {
      started.push({ argv, env: o.env, stdin: o.stdin });
      const done = new Promise<{ argv: string[]; exitCode: number; stdout: string; stderr: string; durationMs: number }>((r) => {
        finish = () => r({ argv: [], exitCode: 137, stdout: '', stderr: '', durationMs: 1 });
      });
      return { write: () => {}, endInput: () => {}, onData: () => {}, done, kill: () => {} };
    },
  } as unknown as StartedDindContainer;
  const binary = { path: '/cache/buildx/v0.21.1/docker-buildx', version: 'v0.21.1' } as BuildxBinary;

  it("runs the command under `script` with the lab's shell, the argv quoted, its pid kept; stop() ends it in the engine", async () => {
    const sb = await CellSandbox.create(dind, binary, '/cache', 'c1', 'registry:5000', { env: { SHELL: '/evil', TERM: 'dumb' } });
    const p = sb.start(['docker', 'buildx', 'debug', "x'; touch /pwned; '"], { name: 'd-tty', tty: { cols: 120, rows: 40 } });
    const s = started[0]!;
    expect(s.stdin).toBe(true);
    expect(s.argv.slice(0, 4)).toEqual(['sh', '-c', 'echo $$ > "$0" && exec "$@"', '/tmp/cells/c1/run/d-tty.pid']);
    expect(s.argv.slice(4)).toEqual(['script', '-qfec', `stty cols 120 rows 40 2>/dev/null; exec docker buildx debug 'x'\\''; touch /pwned; '\\'''`, '/dev/null']);
    expect(s.env).toMatchObject({ SHELL: '/bin/sh', TERM: 'xterm-256color', DOCKER_CONFIG: '/tmp/cells/c1/docker' });
    await p.stop();
    expect(execs.at(-1)).toEqual(['sh', '-c', expect.stringContaining('kill -STOP'), '/tmp/cells/c1/run/d-tty.pid']);
    expect((await p.done).argv).toEqual(['docker', 'buildx', 'debug', "x'; touch /pwned; '"]);
    expect(p.ended()).toBe(true);
  });

  it("refuses a process name that is not of the lab's form (it names the pid file)", async () => {
    const sb = await CellSandbox.create(dind, binary, '/cache', 'c1', 'registry:5000');
    expect(() => sb.start(['true'], { name: '../x' })).toThrow(/process name '..\/x' is not of the lab's form/);
  });
});

describe("a cell's set-up", () => {
  const execs: string[][] = [];
  const dind = {
    name: 'd',
    exec: async (argv: string[]) => {
      execs.push(argv);
      return { argv: [], exitCode: 0, stdout: '', stderr: '', durationMs: 1 };
    },
  } as unknown as StartedDindContainer;
  const binary = { path: '/cache/buildx/v0.21.1/docker-buildx', version: 'v0.21.1' } as BuildxBinary;

  it('resets the engine and makes the cell directory in one exec, the reset first, keeping the images asked for', async () => {
    const keep = 'registry:5000/moby/buildkit:v0.17.1';
    const sb = await CellSandbox.create(dind, binary, '/cache', 'c1', 'registry:5000', { reset: { keepImages: [keep] } });
    expect(execs).toHaveLength(1);
    const [sh, flags, script] = execs[0]!;
    expect([sh, flags]).toEqual(['sh', '-ec']);
    expect(script!.indexOf('docker rm -f -v')).toBeGreaterThanOrEqual(0);
    expect(script!.indexOf('docker rm -f -v')).toBeLessThan(script!.indexOf('mkdir -p /tmp/cells/c1/docker/cli-plugins'));
    expect(script).toContain(` ${keep} `);
    execs.length = 0;
    await sb.prepare('registry:5000');
    expect(execs[0]!.join(' ')).not.toContain('docker rm');
  });
});

describe('KILL_TREE, which stops a background step and all it started in the engine', () => {
  /** alive and not a zombie */
  const alive = (pid: number) => existsSync(`/proc/${pid}/stat`) && !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));

  it('ends the whole tree with the tools of the official dind image (busybox ps has no --ppid), names with spaces included', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bxl-kill-tree-'));
    const pids: number[] = [];
    try {
      // busybox's answer to --ppid, in place of the host's procps
      writeFileSync(path.join(dir, 'ps'), '#!/bin/sh\necho "ps: unrecognized option \'--ppid\'" >&2; exit 1\n');
      chmodSync(path.join(dir, 'ps'), 0o755);
      const pidFile = path.join(dir, 'step.pid');
      // a step: its shell, a child shell named with a space and a parenthesis, and a grandchild sleep
      const tree = `echo $$ > "$0"; (exec -a 'odd (name) x' sh -c 'sleep 300 & echo $! > "$0.gc"; echo $$ > "$0.c"; wait' "$0") & wait`;
      const top = spawn('bash', ['-c', tree, pidFile], { stdio: 'ignore' });
      const read = (f: string) => Number(readFileSync(f, 'utf8'));
      const deadline = Date.now() + 10_000;
      while (!(existsSync(pidFile) && existsSync(`${pidFile}.c`) && existsSync(`${pidFile}.gc`))) {
        if (Date.now() > deadline) throw new Error('the process tree did not start');
        await new Promise((r) => setTimeout(r, 50));
      }
      pids.push(read(pidFile), read(`${pidFile}.c`), read(`${pidFile}.gc`));
      expect(pids.every(alive)).toBe(true);
      const r = spawnSync('sh', ['-c', KILL_TREE, pidFile], { env: { PATH: `${dir}:/usr/bin:/bin` }, encoding: 'utf8' });
      expect(r.status).toBe(0);
      const until = Date.now() + 5_000;
      while (pids.some(alive) && Date.now() < until) await new Promise((res) => setTimeout(res, 50));
      expect(pids.filter(alive)).toEqual([]);
      expect(existsSync(pidFile)).toBe(false);
      top.kill('SIGKILL');
    } finally {
      // a failing run must not leave its sleeps behind
      for (const pid of pids.filter(alive)) process.kill(pid, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
