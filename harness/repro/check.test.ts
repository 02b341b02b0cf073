// The one line `buildx-lab check` prints about a valid case.
import { describe, expect, it } from 'vitest';
import { describeCase } from './check.ts';

const base = { dir: '/c', steps: [], checks: [{ kind: 'panic' as const }], versions: ['0.20.1'], expect: [], uses: new Set<string>() };

describe('describeCase', () => {
  it("says which BuildKit a case's builders run: the named ones, or each Buildx's day", () => {
    expect(describeCase({ ...base, driver: ['docker-container'], buildkit: [] }, true)).toContain("driver docker-container; buildkit of each Buildx's day;");
    expect(describeCase({ ...base, driver: ['remote'], buildkit: ['v0.17.1'] }, true)).toContain('driver remote; buildkit v0.17.1;');
    expect(describeCase({ ...base, driver: ['docker'], buildkit: [], uses: new Set(['buildkitImage']) }, true)).toContain("buildkit of each Buildx's day");
  });
  it('says nothing of BuildKit when the case runs none (the docker driver uses the engine’s own)', () => {
    expect(describeCase({ ...base, driver: ['docker'], buildkit: [] }, true)).not.toContain('buildkit');
  });
});
