// BuildKit images for the docker-container driver, proven end to end: published to the lab registry,
// pulled by a DinD engine as a user's mirror would be, booted by Buildx, and used for a verified push.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labConfig } from '../config.ts';
import { Lab } from '../lab.ts';
import { stderrProgress } from '../progress.ts';
import { BuildxProvisioner, buildxCacheRoot } from '../buildx/provision.ts';
import { CellSandbox } from '../runner/sandbox.ts';
import { verifyImage } from '../oci/verify.ts';
import { BUILDKIT_VERSIONS } from './image.ts';

const config = { ...labConfig(), runId: `itgbk${Date.now().toString(36)}` };
const PLATFORMS = ['linux/amd64', 'linux/arm64', 'linux/s390x'];

describe('BuildKit images', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await Lab.start(config, stderrProgress);
  });
  afterAll(async () => {
    await lab?.stop();
  });

  it.each(BUILDKIT_VERSIONS)('BuildKit %s boots as a docker-container builder in DinD and pushes a verified 3-platform image', async (version) => {
    const bk = await lab.buildkit(version);
    expect(bk.ref).toBe(`registry:5000/moby/buildkit:${version}`);
    const [buildx] = await new BuildxProvisioner(config, stderrProgress).installSpecs(['debian-sid']);
    const lease = await lab.lease('26.1.5', 'containerd');
    try {
      await lease.dind.resetState();
      const id = `bk${version.replace(/\W/g, '')}`;
      const sb = await CellSandbox.create(lease.dind, buildx!, buildxCacheRoot(config), id, 'registry:5000');
      const create = await sb.buildx(['create', '--name', id, '--driver', 'docker-container', '--driver-opt', `image=${bk.ref}`, '--driver-opt', 'network=host', '--buildkitd-config', sb.buildkitdConfig]);
      expect(create.exitCode, create.stderr).toBe(0);
      const boot = await sb.buildx(['inspect', '--bootstrap', id]);
      expect(boot.exitCode, boot.stderr).toBe(0);
      expect(boot.stdout).toMatch(new RegExp(`BuildKit version:\\s+${version.replace(/\./g, '\\.')}`));
      await sb.sh(`cp -r ${sb.fixture('multiplatform-scratch')}/. ${sb.dir}/ctx/ && echo ${id} > ${sb.dir}/ctx/cell-id.txt`);
      const repo = `lab/buildkit/${id}`;
      const push = await sb.buildx(['build', '--builder', id, '--platform', PLATFORMS.join(','), '--push', '-t', `registry:5000/${repo}:v1`, '.']);
      expect(push.exitCode, push.stderr).toBe(0);
      const report = await verifyImage(lab.client(), repo, 'v1', { platforms: PLATFORMS });
      expect(report.problems).toEqual([]);
      expect(report.platforms.sort()).toEqual([...PLATFORMS].sort());
    } finally {
      lease.release();
    }
  });
});
