import { describe, expect, it } from 'vitest';
import { currentOwner, isLocalOwner, judgeOwner, probeProcess, statStartTime, type HeartbeatProbe, type Owner, type OwnerEvidence, type ProcessProbe } from './owner.ts';
import { labelsFor, ownerFromLabels } from './labels.ts';

const me: Owner = { host: 'm1', boot: 'b1', pidNs: '4026531836', pid: 100, start: '5000' };
const policy = { staleMs: 120_000, graceMs: 600_000 };
const fresh: HeartbeatProbe = { kind: 'age', ms: 3_000 };
const stale: HeartbeatProbe = { kind: 'age', ms: 121_000 };
const missing: HeartbeatProbe = { kind: 'missing' };
const unreadable: HeartbeatProbe = { kind: 'unreadable', why: 'docker exec exited 1' };
const running = (start: string): ProcessProbe => ({ kind: 'running', start });
const gone: ProcessProbe = { kind: 'gone' };
/** what /proc of our namespace holds: pid 200 runs since tick 7000, pid 300 since 9000 */
const procOf = (pid: number): ProcessProbe => (pid === 200 ? running('7000') : pid === 300 ? running('9000') : gone);

const local = (pid: number, start: string): Partial<Owner> => ({ ...me, pid, start });
const otherNs = (pid: number): Partial<Owner> => ({ ...me, pidNs: '4026532178', pid, start: '7000' });

type Row = [string, Partial<Owner>, HeartbeatProbe, number, 'alive' | 'abandoned' | 'unknown', RegExp];
const rows: Row[] = [
  // Same host, boot and pid namespace: the pid and its start time decide, whatever the heartbeat says.
  ['local, running, same start', local(200, '7000'), stale, 0, 'alive', /pid 200 on this host is running/],
  ['local, pid gone', local(201, '7000'), fresh, 0, 'abandoned', /pid 201 on this host is gone/],
  ['local, pid reused by another process', local(300, '7000'), fresh, 0, 'abandoned', /now another process/],
  // Another pid namespace (a dev container, unshare --pid): the pid proves nothing, even when it looks dead here.
  ['other pid namespace, fresh heartbeat', otherNs(201), fresh, 0, 'alive', /heartbeat 3 s ago \(another pid namespace\)/],
  ['other pid namespace, heartbeat at the bound', otherNs(201), { kind: 'age', ms: 120_000 }, 0, 'alive', /heartbeat 120 s ago/],
  ['other pid namespace, stale heartbeat', otherNs(201), stale, 0, 'abandoned', /stale: last 121 s ago, more than 120 s/],
  ['other pid namespace, heartbeat unreadable', otherNs(201), unreadable, 10_000_000, 'unknown', /unreadable: docker exec exited 1/],
  ['other pid namespace, starting (no heartbeat yet)', otherNs(201), missing, 30_000, 'unknown', /no heartbeat yet, created 30 s ago/],
  ['other pid namespace, no heartbeat and old', otherNs(201), missing, 601_000, 'abandoned', /no heartbeat, and nothing created in the last 600 s/],
  // Another host, or this host before a reboot: same pid number, still no proof.
  ['other host, pid alive here', { ...me, host: 'm2', pid: 200, start: '7000' }, fresh, 0, 'alive', /host m2/],
  ['other host, stale', { ...me, host: 'm2', pid: 200, start: '7000' }, stale, 0, 'abandoned', /host m2/],
  ['earlier boot, pid alive here', { ...me, boot: 'b0', pid: 200, start: '7000' }, stale, 0, 'abandoned', /an earlier boot/],
  // Resources of an older lab version carry only a pid: alive when it runs here, heartbeat rules otherwise.
  ['older version, pid runs here', { pid: 200 }, missing, 10_000_000, 'alive', /older lab version/],
  ['older version, pid not here, young', { pid: 201 }, missing, 5_000, 'unknown', /may still be starting/],
  ['older version, pid not here, old', { pid: 201 }, missing, 10_000_000, 'abandoned', /older lab version/],
  ['no labels at all, old', {}, missing, 10_000_000, 'abandoned', /no heartbeat/],
];

describe('judgeOwner', () => {
  it.each(rows)('%s', (_name, owner, heartbeat, newestMs, state, reason) => {
    const e: OwnerEvidence = { owner, me, process: procOf, heartbeat, newestMs, policy };
    const v = judgeOwner(e);
    expect(v.state).toBe(state);
    expect(v.reason).toMatch(reason);
  });

  it('never decides by pid when this process does not know its own boot or pid namespace', () => {
    const blind = { ...me, boot: 'unknown', pidNs: 'unknown' };
    const v = judgeOwner({ owner: { ...blind, pid: 201, start: '7000' }, me: blind, process: procOf, heartbeat: fresh, newestMs: 0, policy });
    expect(v.state).toBe('alive');
  });

  it('reads the pid only when it is ours to read', () => {
    const asked: number[] = [];
    judgeOwner({
      owner: otherNs(201),
      me,
      process: (p) => {
        asked.push(p);
        return gone;
      },
      heartbeat: fresh,
      newestMs: 0,
      policy,
    });
    expect(asked).toEqual([]);
    expect(isLocalOwner(local(201, '1'), me)).toBe(true);
    expect(isLocalOwner({ ...local(201, '1'), start: undefined }, me)).toBe(false);
  });
});

describe('statStartTime', () => {
  it.each([
    ['27171 (cat) R 27168 27168 3802 0 -1 4194304 101 0 0 0 0 0 0 0 20 0 1 0 355512 3231744 454', '355512'],
    // a command name with spaces and parentheses must not shift the fields
    ['42 (a) b (c) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987 1000 10', '987'],
  ])('%s -> %s', (stat, start) => {
    expect(statStartTime(stat)).toBe(start);
  });
  it('gives nothing for a truncated line', () => {
    expect(statStartTime('1 (init) S 0')).toBeUndefined();
  });
});

describe('this process as an owner', () => {
  it('is alive by its own labels, and round-trips through them', () => {
    const owner = currentOwner();
    expect(owner.pid).toBe(process.pid);
    expect(probeProcess(process.pid)).toEqual({ kind: 'running', start: owner.start });
    const back = ownerFromLabels(labelsFor('r1', owner));
    expect(back).toEqual(owner);
    expect(judgeOwner({ owner: back, me: owner, process: probeProcess, heartbeat: missing, newestMs: 1e9, policy }).state).toBe('alive');
  });
  it('reads labels of older lab versions as a bare pid', () => {
    expect(ownerFromLabels({ 'buildx-lab.run': 'r1', 'buildx-lab.pid': '77' })).toEqual({ pid: 77 });
    expect(ownerFromLabels(null)).toEqual({});
  });
});
