// engineIsolation over what `docker info` reports as SecurityOptions: only rootless mode is a boundary for
// a privileged DinD. (Kept apart from host.test.ts, which covers choosing, installing and starting engines.)
import { describe, expect, it } from 'vitest';
import { engineIsolation } from './host.ts';

describe('engineIsolation', () => {
  it.each([
    ['a rootless engine (Docker 2x, cgroup v2)', ['name=seccomp,profile=builtin', 'name=rootless', 'name=cgroupns'], true, /rootless engine \(name=rootless\)/],
    ['rootless listed first, with an option after its name', ['name=rootless', 'name=seccomp,profile=default'], true, /rootless/],
    ['a name that is not first in its entry', ['profile=x,name=rootless'], true, /rootless/],
    ['a rootful engine', ['name=apparmor', 'name=seccomp,profile=builtin', 'name=cgroupns'], false, /rootful engine.*root on the host/],
    ['a rootful engine with no security options at all', [], false, /rootful engine/],
    ['user-namespace remapping', ['name=seccomp,profile=builtin', 'name=userns'], false, /name=userns.*--userns=host/],
    ['an engine before 1.13 (bare names)', ['apparmor', 'seccomp'], false, /rootful engine/],
    ['a name that only starts like rootless', ['name=rootlessish'], false, /rootful engine/],
    ["rootless only as another key's value", ['profile=rootless'], false, /rootful engine/],
    ['SecurityOptions missing', undefined, false, /lists no security options/],
    ['SecurityOptions not a list', 'name=rootless', false, /lists no security options/],
    ['a list with a non-string in it', ['name=rootless', 7], false, /lists no security options/],
    ['null', null, false, /lists no security options/],
  ])('%s', (_what, securityOptions, isolated, reason) => {
    const got = engineIsolation({ SecurityOptions: securityOptions });
    expect(got.isolated).toBe(isolated);
    expect(got.reason).toMatch(reason);
  });
});
