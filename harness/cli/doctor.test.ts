import { describe, expect, it } from 'vitest';
import type { Verdict } from '../ownership/owner.ts';
import type { LabResource } from '../ownership/sweep.ts';
import { runLines, untrustedPlace } from './doctor.ts';

const res = (kind: LabResource['kind']): LabResource => ({ kind, id: kind, runId: 'r', labels: {}, createdMs: 0 });
const runOf = (runId: string, state: Verdict['state'], reason: string) => ({ runId, verdict: { state, reason }, resources: [res('container'), res('container'), res('network')] });

describe('doctor on the runs of an engine', () => {
  it('names every live run and advises no clean while one goes', () => {
    const lines = runLines('unix:///s', [
      runOf('ra', 'alive', 'pid 7 on this host is running'),
      runOf('rb', 'alive', 'heartbeat 2 s ago (another pid namespace)'),
      runOf('rc', 'abandoned', 'pid 9 on this host is gone'),
    ]);
    expect(lines.map((l) => l.what)).toEqual([
      'lab runs on unix:///s: 2 alive or undecided, 1 abandoned',
      'run ra: alive, pid 7 on this host is running (2 containers, 1 networks, 0 volumes)',
      'run rb: alive, heartbeat 2 s ago (another pid namespace) (2 containers, 1 networks, 0 volumes)',
      'run rc: abandoned, pid 9 on this host is gone (2 containers, 1 networks, 0 volumes)',
    ]);
    expect(lines.filter((l) => !l.ok).map((l) => l.what)).toEqual([expect.stringMatching(/^run rc/)]);
    expect(lines.map((l) => `${l.what} ${l.fix ?? ''}`).join('\n')).not.toMatch(/clean/);
  });

  it('counts an undecided run as live', () => {
    const lines = runLines('h', [runOf('ru', 'unknown', 'no heartbeat yet'), runOf('rc', 'abandoned', 'stale')]);
    expect(lines.find((l) => !l.ok)?.fix).toMatch(/next run's start.*1 live run/);
  });

  it("advises 'buildx-lab clean' when only abandoned runs are left", () => {
    const lines = runLines('h', [runOf('rc', 'abandoned', 'stale')]);
    expect(lines.find((l) => !l.ok)?.fix).toBe("'buildx-lab clean' removes it");
    expect(runLines('h', [])).toEqual([{ ok: true, what: 'lab runs on h: none' }]);
  });
});

describe('where doctor says an untrusted case runs', () => {
  const rootful = { isolated: false, reason: 'rootful engine (docker info lists no name=rootless)' };
  it('on an engine that isolates, there', () => {
    expect(untrustedPlace({ isolated: true, reason: "the lab's rootless engine" }, undefined)).toMatch(/^run on this engine/);
  });
  it("on a rootful engine, on the lab's rootless engine when it can be had (not 'refused', as before)", () => {
    expect(untrustedPlace(rootful, undefined)).toBe("run on the lab's own rootless engine, started on demand (this engine: rootful engine (docker info lists no name=rootless))");
  });
  it('refused, with both reasons, when the rootless engine cannot be had', () => {
    expect(untrustedPlace(rootful, 'BUILDX_LAB_ROOTLESS=0 says not to start it')).toMatch(/^refused: .*rootful engine.*BUILDX_LAB_ROOTLESS=0/);
  });
});
