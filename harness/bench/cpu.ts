// CPU-seconds of one bench run, by who spent them: the lab's own process, the processes it ran on the host
// (Buildx, the docker CLI, git), and its containers on the lab's engine (the DinD engines with the BuildKit
// inside them, the registry). Read from /proc and from the containers' cgroups, so other load on the machine
// does not count, as it does in wall time. Linux only; elsewhere the split is absent.
import http from 'node:http';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { LAB_CGROUP_PARENT } from '../engine/host.ts';
import { LAB_LABEL, ownerFromLabels, PID_LABEL } from '../ownership/labels.ts';
import { statFields } from '../ownership/owner.ts';

/** A process's command name and start time (what makes its pid its own), and the CPU-seconds of itself and
 * of the children it has waited for. */
export interface ProcTimes {
  command: string;
  start: string;
  self: number;
  children: number;
}

export interface CpuSplit {
  /** the lab's own Node processes (the CLI, the cells' runner and its workers) */
  lab: number;
  /** what the lab ran on the host and waited for: Buildx, the docker CLI, git (and the CLI wrapper) */
  hostProcesses: number;
  /** the run's containers, by their `buildx-lab.image` label (dind-26.1.5, registry, ...) */
  containers: Record<string, number>;
}

// the label the lab's images give their containers (images/images.ts), naming the recipe
const IMAGE_LABEL = `${LAB_LABEL}.image`;

// /proc reports in USER_HZ, which Linux fixes at 100 for user space on every architecture it exports it.
const USER_HZ = 100;

/** The command name, start time, utime+stime and cutime+cstime from the text of /proc/<pid>/stat; pure. */
export function parseProcStat(text: string): ProcTimes {
  const fields = statFields(text);
  const field = (n: number) => fields[n - 3] ?? '';
  const seconds = (n: number) => Number(field(n)) / USER_HZ;
  return {
    command: text.slice(text.indexOf('(') + 1, text.lastIndexOf(')')),
    start: field(22),
    self: seconds(14) + seconds(15),
    children: seconds(16) + seconds(17),
  };
}

export function procTimes(pid: number | 'self'): ProcTimes | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** A container's CPU-seconds so far, from its cgroup under the lab's parent (v1 cpuacct, or v2 cpu.stat). */
export function containerCpuSeconds(id: string, root = '/sys/fs/cgroup'): number | undefined {
  try {
    return Number(readFileSync(`${root}/cpuacct/${LAB_CGROUP_PARENT}/${id}/cpuacct.usage`, 'utf8')) / 1e9;
  } catch {}
  try {
    const usec = /^usage_usec (\d+)$/m.exec(readFileSync(`${root}/${LAB_CGROUP_PARENT}/${id}/cpu.stat`, 'utf8'));
    return usec ? Number(usec[1]) / 1e6 : undefined;
  } catch {
    return undefined;
  }
}

/** The children of every thread of a process: a child spawned from a worker thread is listed under it. */
function childPids(pid: number): number[] {
  const pids: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      try {
        pids.push(...readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
      } catch {}
    }
  } catch {}
  return pids;
}

// By the executable: Node 24 names its main thread, so the command name reads `MainThread`.
function isNode(pid: number): boolean {
  try {
    return path.basename(readlinkSync(`/proc/${pid}/exe`)) === 'node';
  } catch {
    return false;
  }
}

function descendants(pid: number): number[] {
  const all: number[] = [];
  for (let todo = childPids(pid); todo.length; ) {
    const next = todo.pop()!;
    all.push(next);
    todo.push(...childPids(next));
  }
  return all;
}

interface ListedContainer {
  Id: string;
  Labels?: Record<string, string>;
}

/** The lab's containers (each labelled with the pid that made it), through the engine API: no `docker`
 * process of the bench's own. */
function labContainers(socketPath: string): Promise<ListedContainer[]> {
  const filters = encodeURIComponent(JSON.stringify({ label: [PID_LABEL] }));
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: `/containers/json?all=1&filters=${filters}`, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => {
        try {
          const list: unknown = JSON.parse(body);
          resolve(Array.isArray(list) ? (list as ListedContainer[]) : []);
        } catch {
          resolve([]);
        }
      });
    });
    req.on('error', () => resolve([]));
    req.on('timeout', () => req.destroy());
  });
}

/**
 * Follows one CLI run: every second it reads the CPU of the run's Node processes (the CLI and the runner it
 * starts) and of each container one of them made, and keeps the last value seen. Processes are told apart by
 * pid and start time, as the lab's ownership labels are (pids wrap within minutes on a busy host), so a
 * container counts only if its `buildx-lab.pid` and `buildx-lab.start` name one of them.
 * - A process's or container's last second is missed; a Node process's lands in `hostProcesses`.
 */
export class CpuMeter {
  private readonly before = procTimes('self');
  private readonly labProcesses = new Map<string, number>();
  private readonly containers = new Map<string, { image: string; seconds: number }>();
  private readonly timer: NodeJS.Timeout;
  private busy = false;

  constructor(
    private readonly wrapperPid: number,
    private readonly engineSocket: string | undefined,
  ) {
    this.timer = setInterval(() => void this.sample(), 1000);
  }

  private async sample(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      for (const pid of descendants(this.wrapperPid)) {
        const t = isNode(pid) ? procTimes(pid) : undefined;
        if (t) this.labProcesses.set(`${pid}/${t.start}`, t.self);
      }
      if (!this.engineSocket) return;
      for (const c of await labContainers(this.engineSocket)) {
        const owner = ownerFromLabels(c.Labels);
        if (!this.labProcesses.has(`${owner.pid}/${owner.start}`)) continue;
        const seconds = containerCpuSeconds(c.Id);
        const seen = this.containers.get(c.Id);
        if (seconds !== undefined && seconds >= (seen?.seconds ?? 0)) this.containers.set(c.Id, { image: c.Labels?.[IMAGE_LABEL] ?? 'other', seconds });
      }
    } finally {
      this.busy = false;
    }
  }

  /** Call once the run has exited (its processes waited for); undefined when /proc cannot be read. */
  stop(): CpuSplit | undefined {
    clearInterval(this.timer);
    const after = procTimes('self');
    if (!this.before || !after) return undefined;
    const host = after.children - this.before.children;
    const containers: Record<string, number> = {};
    for (const { image, seconds } of this.containers.values()) containers[image] = (containers[image] ?? 0) + seconds;
    const lab = [...this.labProcesses.values()].reduce((n, x) => n + x, 0);
    return { lab, hostProcesses: Math.max(0, host - lab), containers };
  }
}

/** One line: the total, then each share. Pure. */
export function describeCpu(split: CpuSplit, cells?: number): string {
  const containerTotal = Object.values(split.containers).reduce((n, x) => n + x, 0);
  const total = split.lab + split.hostProcesses + containerTotal;
  const f = (x: number) => x.toFixed(1);
  const byImage = Object.entries(split.containers)
    .sort((a, b) => b[1] - a[1])
    .map(([image, x]) => `${image} ${f(x)}`)
    .join(', ');
  const perCell = cells ? ` = ${(total / cells).toFixed(2)} CPU-s a cell that ran` : '';
  return `${f(total)} CPU-s${perCell}: the lab ${f(split.lab)}, host processes it ran (Buildx, docker CLI, git) ${f(split.hostProcesses)}, containers ${f(containerTotal)}${byImage ? ` (${byImage})` : ''}`;
}
