// The engine's event stream against the real engine: a labelled container's death arrives as it happens,
// and a stream whose engine does not answer ends, naming the engine.
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labConfig, withEngine, type LabConfig } from '../config.ts';
import { stderrProgress } from '../progress.ts';
import { EngineEvents, type EngineEvent } from './events.ts';
import { HostEngine } from './host.ts';

let config: LabConfig;
let image: string;
const docker = (...args: string[]) => execa('docker', args, { env: { ...process.env, DOCKER_HOST: config.dockerHost } });

beforeAll(async () => {
  config = withEngine(labConfig(), (await new HostEngine(labConfig(), stderrProgress).ensure()).host);
  // any lab image with a shell does; none is pulled
  image = (await docker('image', 'ls', '--filter', 'label=buildx-lab.image=engine-base', '--format', '{{.Repository}}:{{.Tag}}')).stdout.split('\n')[0]!;
  expect(image, 'the engine-base image (make lab builds it)').toMatch(/^buildx-lab\/engine-base:/);
}, 600_000);

const label = `buildx-lab.events-test=${process.pid}-${Date.now()}`;
afterAll(async () => {
  const ids = (await docker('ps', '-aq', '--filter', `label=${label}`)).stdout.split('\n').filter(Boolean);
  if (ids.length) await docker('rm', '-f', ...ids);
});

describe('EngineEvents', () => {
  it('reports a labelled container dying and being removed, and nothing of other containers', async () => {
    const events = EngineEvents.start(config, ['type=container', `label=${label}`, 'event=die', 'event=destroy']);
    const seen: EngineEvent[] = [];
    events.on((e) => seen.push(e));
    try {
      const id = (await docker('run', '-d', '--label', label, image, 'sleep', '600')).stdout.trim();
      const other = (await docker('run', '-d', '--label', `${label}-other`, image, 'sh', '-c', 'exit 0')).stdout.trim();
      await docker('rm', '-f', id);
      const t0 = Date.now();
      while (seen.length < 2 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
      expect(seen.map((e) => `${e.action} ${e.id}`)).toEqual([`die ${id}`, `destroy ${id}`]);
      expect(seen.some((e) => e.id === other)).toBe(false);
      await docker('rm', '-f', other);
    } finally {
      events.stop();
    }
  }, 60_000);

  it('ends, naming the engine, when the engine does not answer', async () => {
    const gone = withEngine(config, 'unix:///nonexistent/buildx-lab-events.sock');
    const events = EngineEvents.start(gone, ['type=daemon']);
    const why = await new Promise<string>((resolve) => events.onEnd(resolve));
    expect(why).toMatch(/the Docker engine at unix:\/\/\/nonexistent\/buildx-lab-events.sock stopped answering/);
    // a listener added after the end hears it at once
    expect(await new Promise<string>((resolve) => events.onEnd(resolve))).toBe(why);
  }, 30_000);
});
