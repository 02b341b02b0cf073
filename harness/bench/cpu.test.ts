// The bench's CPU split: /proc stat parsing, cgroup reading (v1 and v2 layouts) and the summary line.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scratchDir } from '../scratch.test-helpers.ts';
import { containerCpuSeconds, describeCpu, parseProcStat, procTimes } from './cpu.ts';

describe('parseProcStat', () => {
  it('counts fields from the last parenthesis, so a command name with spaces and parentheses does not shift them', () => {
    // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime ...
    const stat = '4242 (node (x) y) S 1 2 3 4 5 6 7 8 9 10 250 50 1200 300 20 0 1 0 987654 0';
    expect(parseProcStat(stat)).toEqual({ command: 'node (x) y', start: '987654', self: 3, children: 15 });
  });
  it('reads this process', () => {
    const t = procTimes('self');
    expect(t?.self).toBeGreaterThan(0);
    expect(procTimes(2 ** 30)).toBeUndefined();
  });
});

describe('containerCpuSeconds', () => {
  const root = scratchDir('cgroup');
  it('reads cgroup v1 cpuacct.usage (nanoseconds)', () => {
    mkdirSync(path.join(root, 'cpuacct/buildx-lab/aaa'), { recursive: true });
    writeFileSync(path.join(root, 'cpuacct/buildx-lab/aaa/cpuacct.usage'), '2500000000\n');
    expect(containerCpuSeconds('aaa', root)).toBe(2.5);
  });
  it('reads cgroup v2 cpu.stat usage_usec', () => {
    mkdirSync(path.join(root, 'buildx-lab/bbb'), { recursive: true });
    writeFileSync(path.join(root, 'buildx-lab/bbb/cpu.stat'), 'usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n');
    expect(containerCpuSeconds('bbb', root)).toBe(1.5);
  });
  it('gives nothing for a container whose cgroup is gone', () => {
    expect(containerCpuSeconds('gone', root)).toBeUndefined();
  });
});

describe('describeCpu', () => {
  it('sums the shares, divides by the cells that ran and lists images largest first', () => {
    const line = describeCpu({ lab: 2, hostProcesses: 4, containers: { registry: 1, 'dind-26.1.5': 3 } }, 5);
    expect(line).toBe('10.0 CPU-s = 2.00 CPU-s a cell that ran: the lab 2.0, host processes it ran (Buildx, docker CLI, git) 4.0, containers 4.0 (dind-26.1.5 3.0, registry 1.0)');
  });
});
