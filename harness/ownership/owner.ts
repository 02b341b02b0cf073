// Who owns a lab resource, and whether that owner is provably gone. A pid alone proves nothing: a run in
// another PID namespace (a dev container, `unshare --pid`) or on another host sharing the engine has a pid
// that means something else here. So an owner is (host, boot, pid namespace, pid, process start time),
// and the pid is only decisive when the boot and the pid namespace are ours. Everywhere else, the owner's
// heartbeat decides: fresh means alive, stale means abandoned, unreadable means unknown (left alone).
import { readFileSync, readlinkSync, readdirSync } from 'node:fs';
import { hostname } from 'node:os';
import type { OwnerPolicy } from '../config.ts';

export interface Owner {
  /** /etc/machine-id, else the hostname */
  host: string;
  /** /proc/sys/kernel/random/boot_id: pids and pid namespaces mean something only within one boot */
  boot: string;
  /** inode of /proc/self/ns/pid */
  pidNs: string;
  pid: number;
  /** field 22 of /proc/<pid>/stat: clock ticks after boot, the same in every pid namespace */
  start: string;
}

/** The heartbeat as a sweeper could read it. */
export type HeartbeatProbe =
  | { kind: 'age'; ms: number }
  /** nothing written (yet): no heartbeat file, or nothing that could hold one */
  | { kind: 'missing' }
  /** the read failed (timeout, engine error): no conclusion either way */
  | { kind: 'unreadable'; why: string };

/** What /proc says about a pid in our namespace: gone, or running since `start`. */
export type ProcessProbe = { kind: 'gone' } | { kind: 'running'; start: string };

export type Verdict = { state: 'alive' | 'abandoned' | 'unknown'; reason: string };

export interface OwnerEvidence {
  /** what the resource's labels (or a marker file) say; fields missing for resources of older lab versions */
  owner: Partial<Owner>;
  me: Owner;
  /** only consulted when the owner shares our boot and pid namespace (or carries nothing but a pid) */
  process: (pid: number) => ProcessProbe;
  heartbeat: HeartbeatProbe;
  /** age of the owner's newest resource: a run with no heartbeat yet is starting while this is young */
  newestMs: number;
  policy: OwnerPolicy;
}

const secs = (ms: number) => `${Math.round(ms / 1000)} s`;

/** Whether the owner's pid means the same process here: same host, same boot, same pid namespace. Pure. */
export function isLocalOwner(o: Partial<Owner>, me: Owner): o is Owner {
  const known = me.boot !== 'unknown' && me.pidNs !== 'unknown';
  return known && o.host === me.host && o.boot === me.boot && o.pidNs === me.pidNs && !!o.pid && !!o.start;
}

/** Whether the owner is provably gone; pure over its evidence. */
export function judgeOwner(e: OwnerEvidence): Verdict {
  const o = e.owner;
  if (isLocalOwner(o, e.me)) {
    const p = e.process(o.pid);
    if (p.kind === 'gone') return { state: 'abandoned', reason: `pid ${o.pid} on this host is gone` };
    if (p.start !== o.start) return { state: 'abandoned', reason: `pid ${o.pid} on this host is now another process` };
    return { state: 'alive', reason: `pid ${o.pid} on this host is running` };
  }
  // A resource of an older lab version carries only a pid: a live pid here may be it, so keep it;
  // a dead one proves nothing (another namespace), so the heartbeat rules below decide.
  const legacy = o.host === undefined && o.boot === undefined && o.pidNs === undefined;
  if (legacy && o.pid && e.process(o.pid).kind === 'running') return { state: 'alive', reason: `pid ${o.pid} runs here (a resource of an older lab version)` };
  const where = legacy ? 'an older lab version' : o.host !== e.me.host ? `host ${o.host}` : o.boot !== e.me.boot ? 'an earlier boot' : 'another pid namespace';
  const hb = e.heartbeat;
  switch (hb.kind) {
    case 'age':
      return hb.ms <= e.policy.staleMs
        ? { state: 'alive', reason: `heartbeat ${secs(hb.ms)} ago (${where})` }
        : { state: 'abandoned', reason: `heartbeat stale: last ${secs(hb.ms)} ago, more than ${secs(e.policy.staleMs)} (${where})` };
    case 'unreadable':
      return { state: 'unknown', reason: `heartbeat unreadable: ${hb.why} (${where})` };
    case 'missing':
      return e.newestMs < e.policy.graceMs
        ? { state: 'unknown', reason: `no heartbeat yet, created ${secs(e.newestMs)} ago: may still be starting (${where})` }
        : { state: 'abandoned', reason: `no heartbeat, and nothing created in the last ${secs(e.policy.graceMs)} (${where})` };
  }
}

/** The fields of a /proc/<pid>/stat line after the command name, which may hold spaces and parentheses, so
 * they are counted from its last closing parenthesis: index 0 is field 3 (state). Pure. */
export function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** The start time (field 22) of a /proc/<pid>/stat line; pure. */
export function statStartTime(stat: string): string | undefined {
  const start = statFields(stat)[22 - 3];
  return start && /^\d+$/.test(start) ? start : undefined;
}

/** What /proc (of our pid namespace) says about `pid`. */
export function probeProcess(pid: number): ProcessProbe {
  try {
    const start = statStartTime(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    return start ? { kind: 'running', start } : { kind: 'gone' };
  } catch {
    return { kind: 'gone' };
  }
}

function readTrimmed(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** 'pid:[4026531836]' -> '4026531836' */
function pidNamespace(link = '/proc/self/ns/pid'): string {
  try {
    return /\[(\d+)\]/.exec(readlinkSync(link))?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

let mine: Owner | undefined;

/** This process, as an owner. */
export function currentOwner(): Owner {
  if (!mine) {
    const self = probeProcess(process.pid);
    mine = {
      host: readTrimmed('/etc/machine-id') ?? hostname(),
      boot: readTrimmed('/proc/sys/kernel/random/boot_id') ?? 'unknown',
      pidNs: pidNamespace(),
      pid: process.pid,
      start: self.kind === 'running' ? self.start : 'unknown',
    };
  }
  return mine;
}

/** The kernel's initial pid namespace has this fixed inode (PROC_PID_INIT_INO). */
const INIT_PID_NS = '4026531836';

/**
 * Every pid some process on this host has, in any pid namespace, or undefined when this process cannot
 * see them all (it runs in a pid namespace of its own). From the initial namespace /proc lists every
 * process, and NSpid gives its pid in each namespace it belongs to.
 */
export function pidsInAnyNamespace(): Set<number> | undefined {
  if (pidNamespace() !== INIT_PID_NS) return undefined;
  const pids = new Set<number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    pids.add(Number(d));
    const status = readTrimmed(`/proc/${d}/status`);
    const nspid = status && /^NSpid:\s*(.*)$/m.exec(status)?.[1];
    for (const p of nspid ? nspid.trim().split(/\s+/) : []) pids.add(Number(p));
  }
  return pids;
}
