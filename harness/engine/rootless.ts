// The lab's rootless engine: the isolation boundary for cases the user has not vouched for.
//
// The lab's engine binaries run as dockerd --rootless inside a user namespace where root is an unprivileged
// host uid (ROOTLESS_UID_BASE, a range no account or /etc/subuid entry uses). This is the kernel mechanism
// Docker's rootless mode stands on (rootlesskit is its usual launcher; the lab is root, so it writes the
// namespace's uid/gid maps itself instead of going through setuid newuidmap and /etc/subuid). A privileged
// DinD in this engine, and a privileged container inside that DinD, are root only in the namespace: on
// the host they are uid ROOTLESS_UID_BASE, with no capability outside it (no host mounts, devices, modules
// or sysctls). The engine has its own network namespace holding only loopback, so nothing in it reaches
// the host's loopback listeners.
//
// cgroup v1 hosts give no unprivileged cgroups, and runc inside a DinD fails without them ("mkdir
// /sys/fs/cgroup/cpuset/docker: permission denied"), so the lab delegates one cgroup per hierarchy to the
// range (chown, the v1 delegation model) and binds it over the hierarchy's mount point inside the engine's
// mount namespace, under a cgroup namespace rooted there.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  lstatSync,
  readlinkSync,
  closeSync,
  existsSync,
  linkSync,
  copyFileSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import type { LabConfig } from '../config.ts';
import { EngineStartError, RequirementError, UsageError } from '../errors.ts';
import type { ProgressSink } from '../progress.ts';
import { lastLines } from '../text.ts';
import type { CellEngine } from '../model.ts';
import { inspectEngine, labEnginePaths, pidAlive, probeEngine, readText, type EngineInfo } from './host.ts';

/** First host uid (and gid) of the namespace: 0x70000000, far above account ranges and the usual subuid ranges. */
export const ROOTLESS_UID_BASE = 0x7000_0000;
export const ROOTLESS_UID_COUNT = 65_536;
/** The cgroup each hierarchy delegates to the namespace. */
export const ROOTLESS_CGROUP = 'buildx-lab-rootless';
/** The files of a delegated cgroup that its delegatee owns (v1 and v2): moving tasks, enabling controllers. */
const DELEGATED_FILES = ['cgroup.procs', 'tasks', 'cgroup.threads', 'cgroup.subtree_control'];
/** Processes (threads count) the whole rootless engine may hold at once: a quarter of the host's, at most 8192. */
export function rootlessPidsMax(hostPidMax: number): number {
  return Math.max(1024, Math.min(8192, Math.floor(hostPidMax / 4)));
}

/** Memory the whole rootless engine may use: three quarters of the host's. */
export function rootlessMemoryMax(hostMemTotalKiB: number): number {
  return Math.floor(hostMemTotalKiB * 1024 * 0.75);
}

export interface RootlessPaths {
  /** binaries (hard links to the lab engine's), daemon.json, data root, log: traversable by the namespace's root */
  home: string;
  bin: string;
  dataRoot: string;
  runDir: string;
  execRoot: string;
  socket: string;
  pidFile: string;
  log: string;
  configFile: string;
  /** root's, traversable: per-run mirrors of host directories and the registry's socket (lab/lab.ts) */
  share: string;
  /** root's, 0700: the lab's own links to sockets the namespace's root made (pinSocket) */
  hostSockets: string;
  /** its cgroup's name under each hierarchy: one per home, so two engines never share or remove each other's */
  cgroup: string;
}

export const DEFAULT_ROOTLESS_HOME = '/var/lib/buildx-lab-rootless';

/** The marker that says a directory is the rootless engine's, so that uninstall removes nothing else. */
export const ROOTLESS_MARKER = '.buildx-lab-rootless';

/**
 * Everything under one prefix the namespace's root can traverse (the user's home, where the rootful engine
 * lives, is not): its runtime directory too, since the engine's mount namespace has a /run of its own.
 */
export function rootlessPaths(home = DEFAULT_ROOTLESS_HOME): RootlessPaths {
  const runDir = path.join(home, 'run');
  return {
    home,
    bin: path.join(home, 'bin'),
    dataRoot: path.join(home, 'data'),
    runDir,
    execRoot: path.join(runDir, 'exec'),
    socket: path.join(runDir, 'docker.sock'),
    pidFile: path.join(runDir, 'dockerd.pid'),
    log: path.join(home, 'dockerd.log'),
    configFile: path.join(home, 'daemon.json'),
    share: path.join(home, 'share'),
    hostSockets: path.join(home, 'host-sockets'),
    cgroup: home === DEFAULT_ROOTLESS_HOME ? ROOTLESS_CGROUP : `${ROOTLESS_CGROUP}-${createHash('sha256').update(home).digest('hex').slice(0, 8)}`,
  };
}

/**
 * A socket the namespace's root made, as host root may use it: hard-linked into `intoDir` (root's, 0700),
 * after checking it is a socket that uid `owner` owns. Host root then connects to that inode, whatever the
 * namespace's root later puts at the original path (a symlink to a host socket, say, which host root would
 * follow). A stale link (the owner restarted) fails closed: nothing listens on the old inode.
 */
export function pinSocket(socket: string, intoDir: string, owner: number): string {
  mkdirSync(intoDir, { recursive: true, mode: 0o700 });
  chmodSync(intoDir, 0o700);
  const pinned = path.join(intoDir, path.basename(socket));
  const staged = `${pinned}.${process.pid}`;
  rmSync(staged, { force: true });
  // link(2) does not follow a symlink: a link put there is linked as a link, and refused below
  linkSync(socket, staged);
  const st = lstatSync(staged);
  if (st.isSocket() && st.uid === owner) {
    // renamed into place, so another run using the pinned link never finds it missing
    renameSync(staged, pinned);
    return pinned;
  }
  rmSync(staged, { force: true });
  throw new RequirementError(
    `${socket} is not a socket of uid ${owner} (it is ${st.isSymbolicLink() ? 'a symlink' : st.isSocket() ? `a socket of uid ${st.uid}` : 'not a socket'}): refusing to use it`,
  );
}

/** An id range from /etc/subuid or /etc/subgid ("name:start:count" lines); pure. */
export function parseSubIds(text: string): { owner: string; start: number; count: number }[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .flatMap((l) => {
      const [owner = '', start, count] = l.split(':');
      const s = Number(start);
      const c = Number(count);
      return Number.isInteger(s) && Number.isInteger(c) ? [{ owner, start: s, count: c }] : [];
    });
}

/** Why the namespace's id range cannot be used here (an account or a subordinate range holds part of it); pure. */
export function idRangeConflict(opts: { passwd: string; group: string; subuid: string; subgid: string }, base = ROOTLESS_UID_BASE, count = ROOTLESS_UID_COUNT): string | undefined {
  const inRange = (n: number) => n >= base && n < base + count;
  for (const [file, text] of [
    ['/etc/passwd', opts.passwd],
    ['/etc/group', opts.group],
  ] as const) {
    for (const line of text.split('\n')) {
      const [name, , id] = line.split(':');
      if (name && inRange(Number(id))) return `${file} has '${name}' with id ${id}, inside the lab's rootless range ${base}-${base + count - 1}`;
    }
  }
  for (const [file, text] of [
    ['/etc/subuid', opts.subuid],
    ['/etc/subgid', opts.subgid],
  ] as const) {
    for (const r of parseSubIds(text)) {
      if (r.start < base + count && base < r.start + r.count)
        return `${file} gives '${r.owner}' ${r.start}-${r.start + r.count - 1}, which overlaps the lab's rootless range ${base}-${base + count - 1}`;
    }
  }
  return undefined;
}

/** The cgroup hierarchies mounted on this host (v1 controllers and a v2 tree), from /proc/self/mountinfo; pure. */
export function cgroupMounts(mountinfo: string): string[] {
  const points: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const [pre, post] = line.split(' - ');
    const fsType = post?.split(' ')[0];
    const point = pre?.split(' ')[4];
    if (point && (fsType === 'cgroup' || fsType === 'cgroup2')) points.push(point.replace(/\\040/g, ' '));
  }
  return points;
}

/** The rootless engine's daemon.json; pure. */
export function rootlessDaemonConfig(p: RootlessPaths): Record<string, unknown> {
  return {
    hosts: [`unix://${p.socket}`],
    'data-root': p.dataRoot,
    'exec-root': p.execRoot,
    pidfile: p.pidFile,
    rootless: true,
    // Its network namespace holds loopback only: no NAT, no default bridge; the lab makes its own networks.
    iptables: false,
    ip6tables: false,
    bridge: 'none',
    // nothing is published from it
    'userland-proxy': false,
    'log-driver': 'json-file',
    'log-opts': { 'max-size': '10m', 'max-file': '2' },
  };
}

/**
 * What runs inside the new namespaces: wait until the lab has written the id maps, make the mounts private
 * to this namespace, give dockerd its own /run and the delegated cgroups, then become dockerd. Pure text.
 */
export function innerScript(p: RootlessPaths, cgroups: readonly string[]): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return [
    'set -e',
    // The parent writes the maps once it has read this pid; until then we are nobody and hold no capability.
    'echo "$$"',
    `while [ "$(awk 'NR==1{print $2}' /proc/self/uid_map)" != ${ROOTLESS_UID_BASE} ]; do sleep 0.05; done`,
    `exec >>${q(p.log)} 2>&1`,
    'ip link set lo up',
    'mount --make-rslave /',
    'mount -t tmpfs -o mode=755 tmpfs /run',
    ...cgroups.map((c) => `mount --bind ${q(path.join(c, p.cgroup))} ${q(c)}`),
    // containerd, its shim and runc come from the same prefix
    `export PATH=${q(p.bin)}:"$PATH"`,
    `exec ${q(path.join(p.bin, 'dockerd'))} --config-file ${q(p.configFile)}`,
  ].join('\n');
}

export class RootlessEngine {
  constructor(
    private readonly config: LabConfig,
    private readonly progress: ProgressSink,
    readonly paths: RootlessPaths = rootlessPaths(),
  ) {}

  get host(): string {
    return `unix://${this.paths.socket}`;
  }

  /** Starts it (idempotent) from the lab engine's installed binaries; the lab's rootful engine must be installed. */
  async start(timeoutMs = 60_000): Promise<EngineInfo> {
    const running = await inspectEngine(this.config, this.host);
    if (running) return { ...running, owner: 'lab' };
    this.checkHost();
    const p = this.paths;
    const cgroups = cgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8'));
    this.prepareDirs(cgroups);
    const log = openSync(p.log, 'a');
    closeSync(log);
    // Root joins the delegated cgroups, then drops to the range's first uid and makes the namespaces: the
    // user namespace is owned by that uid, so nothing in it has a capability over anything outside it.
    const join = cgroups.map((c) => `echo $$ > '${path.join(c, p.cgroup, 'cgroup.procs')}'`).join('; ');
    const child = spawn(
      'sh',
      [
        '-c',
        `${join}; exec setpriv --reuid=${ROOTLESS_UID_BASE} --regid=${ROOTLESS_UID_BASE} --clear-groups unshare --user --mount --net --cgroup --fork sh -c "$0"`,
        innerScript(p, cgroups),
      ],
      {
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', XDG_RUNTIME_DIR: p.runDir, HOME: p.home },
      },
    );
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const innerPid = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /^(\d+)\n/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new EngineStartError(`the rootless engine's namespace did not start (exit ${code})`, stderr)));
    });
    // The kernel lets a process with CAP_SETUID over the parent namespace map any ids: the lab writes what
    // setuid newuidmap would, for the lab's own range only.
    const map = `0 ${ROOTLESS_UID_BASE} ${ROOTLESS_UID_COUNT}\n`;
    // The pid came from the namespace's first process; it must still be our child's child, running as the
    // range's uid, or the maps would go to whatever process now holds that pid.
    const status = readText(`/proc/${innerPid}/status`);
    if (Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]) !== child.pid || Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]) !== ROOTLESS_UID_BASE) {
      child.kill('SIGKILL');
      throw new EngineStartError(`the rootless engine's namespace process ${innerPid} is gone or not ours: not writing its id maps`, stderr);
    }
    writeFileSync(`/proc/${innerPid}/uid_map`, map);
    writeFileSync(`/proc/${innerPid}/gid_map`, map);
    child.unref();
    child.stdout.destroy();
    this.progress(`starting the lab's rootless engine (namespace pid ${innerPid}, uid ${ROOTLESS_UID_BASE} on the host, socket ${p.socket})`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const info = await inspectEngine(this.config, this.host);
      if (info) return { ...info, owner: 'lab' };
      if (!pidAlive(innerPid) || Date.now() > deadline) {
        throw new EngineStartError(
          `the lab's rootless dockerd ${pidAlive(innerPid) ? `did not answer within ${timeoutMs / 1000} s` : 'exited'} on ${p.socket}`,
          lastLines(`${stderr}\n${readText(p.log)}`, 25),
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /**
   * Starts it if needed and describes it as a place for cells: the network namespace of its dockerd (checked
   * to be this engine's, run as the namespace's root), its share directory and its ID, which must say rootless.
   */
  async cellEngine(): Promise<CellEngine> {
    await this.start();
    if (lstatSync(this.paths.socket).isSymbolicLink())
      throw new RequirementError(`the rootless engine's socket ${this.paths.socket} is a symlink: stop it ('buildx-lab engine stop --rootless') and start again`);
    const pid = Number(readText(this.paths.pidFile).trim());
    if (!pid || !isEngineProcess(pid, path.join(this.paths.bin, 'dockerd')))
      throw new RequirementError(`the rootless engine's pid file ${this.paths.pidFile} does not name its dockerd (got '${pid || ''}')`);
    // The lab talks to it through a link of its own to the socket's inode: the socket's directory is the
    // namespace root's, who could swap the socket for a symlink to a rootful engine's.
    const host = `unix://${pinSocket(this.paths.socket, this.paths.hostSockets, ROOTLESS_UID_BASE)}`;
    const probe = await probeEngine(this.config, host);
    if (!probe.isolated || !probe.engineId) throw new RequirementError(`the engine at ${host} is not rootless: ${probe.reason}`);
    return { host, netns: `/proc/${pid}/ns/net`, shareDir: this.paths.share, rootUid: ROOTLESS_UID_BASE, engineId: probe.engineId };
  }

  /** Stops it: dockerd first (its containers die with its namespaces), then the delegated cgroups go. */
  async stop(timeoutMs = 30_000): Promise<boolean> {
    // The pid file is in a directory the namespace's root can write: signal only a process that is this
    // engine's dockerd, running as the namespace's root, or root here would kill whatever it names.
    const named = Number(readText(this.paths.pidFile).trim()) || undefined;
    const pid = named && isEngineProcess(named, path.join(this.paths.bin, 'dockerd')) ? named : undefined;
    const wasRunning = pidAlive(pid);
    if (pid && wasRunning) {
      process.kill(pid, 'SIGTERM');
      const deadline = Date.now() + timeoutMs;
      while (pidAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    for (const c of cgroupMounts(readText('/proc/self/mountinfo'))) removeCgroupTree(path.join(c, this.paths.cgroup));
    return wasRunning;
  }

  /** Removes its data root, binaries and runtime directory (stopping it first). */
  async uninstall(): Promise<void> {
    await this.stop();
    if (existsSync(this.paths.home) && !existsSync(path.join(this.paths.home, ROOTLESS_MARKER))) {
      throw new UsageError(
        `${this.paths.home} has no ${ROOTLESS_MARKER} marker: it is not the lab's rootless engine, so the lab leaves it alone. Remove it yourself if it is yours to remove.`,
      );
    }
    // The data root belongs to the namespace's root; overlay mounts died with its mount namespace.
    rmSync(this.paths.home, { recursive: true, force: true });
  }

  private checkHost(): void {
    if (process.getuid?.() !== 0)
      throw new RequirementError(`the rootless engine is set up by root (it maps a uid range and delegates cgroups), and this is uid ${process.getuid?.()}`);
    const conflict = idRangeConflict({ passwd: readText('/etc/passwd'), group: readText('/etc/group'), subuid: readText('/etc/subuid'), subgid: readText('/etc/subgid') });
    if (conflict) throw new RequirementError(`${conflict}. The lab will not share ids with anything else on the host; free that range for the lab.`);
    if (!existsSync(path.join(labEnginePaths(this.config).bin, 'dockerd')))
      throw new RequirementError(
        `the rootless engine runs the lab engine's binaries, which are not installed under ${labEnginePaths(this.config).bin}: run 'buildx-lab engine install'`,
      );
  }

  private prepareDirs(cgroups: readonly string[]): void {
    const p = this.paths;
    const range = ROOTLESS_UID_BASE;
    if (existsSync(p.home) && readdirSync(p.home).length && !existsSync(path.join(p.home, ROOTLESS_MARKER))) {
      throw new UsageError(`${p.home} holds files and no ${ROOTLESS_MARKER} marker: the lab will not set its rootless engine up there. Give an empty or new directory.`);
    }
    mkdirSync(p.bin, { recursive: true });
    writeFileSync(path.join(p.home, ROOTLESS_MARKER), "the lab's rootless engine: buildx-lab engine uninstall removes this directory\n");
    // The namespace's root is "other" here: it must be able to traverse to its binaries and data root.
    chmodSync(p.home, 0o755);
    // Hard links when on one file system (no copy), copies otherwise: the engine's own prefix under the
    // user's home is not traversable by the namespace's root.
    const from = labEnginePaths(this.config).bin;
    for (const f of readdirSync(from)) {
      const dst = path.join(p.bin, f);
      rmSync(dst, { force: true });
      try {
        linkSync(path.join(from, f), dst);
      } catch {
        copyFileSync(path.join(from, f), dst);
      }
    }
    writeFileSync(p.configFile, JSON.stringify(rootlessDaemonConfig(p), null, 2));
    for (const d of [p.dataRoot, p.runDir]) {
      mkdirSync(d, { recursive: true });
      chownSync(d, range, range);
    }
    if (!existsSync(p.log)) writeFileSync(p.log, '');
    chownSync(p.log, range, range);
    for (const c of cgroups) {
      const dir = path.join(c, p.cgroup);
      mkdirSync(dir, { recursive: true });
      // cpuset children start empty, and a task cannot join a cpuset without cpus and mems.
      for (const f of ['cpuset.cpus', 'cpuset.mems']) if (existsSync(path.join(c, f))) writeFileSync(path.join(dir, f), readFileSync(path.join(c, f)));
      // Delegated as the kernel's docs say: the directory (to make children in) and the files that move
      // tasks; its own limits stay root's, so the namespace cannot raise them.
      // (Files an older lab delegated are taken back.)
      chownSync(dir, range, range);
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isFile()) chownSync(path.join(dir, e.name), DELEGATED_FILES.includes(e.name) ? range : 0, DELEGATED_FILES.includes(e.name) ? range : 0);
      }
      // A fork bomb or a runaway build in a case stops here, not at the host's limits.
      if (existsSync(path.join(dir, 'pids.max'))) writeFileSync(path.join(dir, 'pids.max'), String(rootlessPidsMax(Number(readText('/proc/sys/kernel/pid_max').trim()) || 32_768)));
      const memTotal = Number(/^MemTotal:\s+(\d+)/m.exec(readText('/proc/meminfo'))?.[1]);
      if (memTotal && existsSync(path.join(dir, 'memory.limit_in_bytes'))) writeFileSync(path.join(dir, 'memory.limit_in_bytes'), String(rootlessMemoryMax(memTotal)));
      if (memTotal && existsSync(path.join(dir, 'memory.max'))) writeFileSync(path.join(dir, 'memory.max'), String(rootlessMemoryMax(memTotal)));
    }
  }
}

/** Whether `pid` runs `exe` as the namespace's root (host uid ROOTLESS_UID_BASE). */
function isEngineProcess(pid: number, exe: string): boolean {
  try {
    const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return readlinkSync(`/proc/${pid}/exe`) === exe && Number(uid) === ROOTLESS_UID_BASE;
  } catch {
    return false;
  }
}

/** cgroup directories go leaves first; a cgroup with tasks left in it stays (rmdir says busy). */
function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeCgroupTree(path.join(dir, e.name));
  try {
    rmdirSync(dir);
  } catch {
    /* busy: a process of a killed engine is still exiting; the next stop removes it */
  }
}
