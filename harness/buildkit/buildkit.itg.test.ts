// BuildKit images for the docker-container driver, proven end to end: published to the lab registry,
// pulled by a DinD engine as a user's mirror would be, booted by Buildx, and used for a verified push.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINE_26, SID_BUILDX, probeScenario, startTestLab, type TestLab } from '../runner/lab.test-helpers.ts';
import { BUILDKIT_VERSIONS } from './image.ts';

const PLATFORMS = ['linux/amd64', 'linux/arm64', 'linux/s390x'];
let t: TestLab;

const pushWith = (version: string) =>
  probeScenario(`itg-buildkit-${version.replace(/\W/g, '')}`, async (cell) => {
    const builder = await cell.bootBuilder({ driver: 'docker-container', buildkit: version });
    if (builder.failed) return { error: builder.failed.stderr };
    const inspect = builder.commands.at(-1)!.stdout;
    const target = cell.target();
    const push = await cell.buildx(['build', ...builder.args, '--platform', PLATFORMS.join(','), '--push', '-t', target.ref, await cell.context('multiplatform-scratch')]);
    const report = await cell.verify(target, PLATFORMS);
    return { inspect, image: builder.image, push: push.exitCode, problems: report.problems, platforms: report.platforms };
  });

describe('BuildKit images', () => {
  beforeAll(async () => {
    t = await startTestLab('itgbk', [SID_BUILDX, ENGINE_26, ...BUILDKIT_VERSIONS.map((version) => ({ kind: 'buildkit' as const, version }))]);
  }, 60 * 60_000);
  afterAll(async () => {
    await t?.close();
  });

  it.each(BUILDKIT_VERSIONS)('BuildKit %s boots as a docker-container builder in DinD and pushes a verified 3-platform image', async (version) => {
    const r = await t.cell(pushWith(version), { buildx: 'v0.29.1-debian', engine: '26.1.5', store: 'containerd' });
    expect(r.outcome, r.error?.message).toBe('control');
    const o = JSON.parse(r.summary) as { inspect: string; image: string; push: number; problems: unknown[]; platforms: string[] };
    expect(o.image).toBe(`registry:5000/moby/buildkit:${version}`);
    expect(o.inspect).toMatch(new RegExp(`BuildKit version:\\s+${version.replace(/\./g, '\\.')}`));
    expect(o.push).toBe(0);
    expect(o.problems).toEqual([]);
    expect([...o.platforms].sort()).toEqual([...PLATFORMS].sort());
  });
});
