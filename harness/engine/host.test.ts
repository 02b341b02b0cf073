import { describe, expect, it } from 'vitest';
import { chooseEngine, engineProblem, labDaemonConfig, labEnginePaths, DEFAULT_DOCKER_SOCKET } from './host.ts';

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
    expect(c).toMatchObject({ hosts: ['unix:///run/bxl/docker.sock'], 'data-root': '/h/engine/data', 'exec-root': '/run/bxl/exec', pidfile: '/run/bxl/dockerd.pid', iptables: false, ip6tables: false, 'ip-forward': false, bridge: 'none' });
    expect(c).not.toHaveProperty('seccomp-profile');
  });
  it('runs containers unconfined only when runc was built without seccomp', () => {
    expect(labDaemonConfig(p, { seccomp: false })['seccomp-profile']).toBe('unconfined');
  });
});
