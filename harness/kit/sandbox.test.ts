import { describe, expect, it } from 'vitest';
import type { BuildxBinary } from '../buildx/buildx.ts';
import type { StartedDindContainer } from '../dind/dind.ts';
import { CellSandbox } from './sandbox.ts';

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
