// The lean BuildKit base, built for real from Debian's packages: every program in it finds its shared
// libraries through the image's own loader, git fetches a submodule (git-submodule is a shell script: busybox
// sh and sed), and none of Perl, apt or dpkg came along.
import { beforeAll, describe, expect, it } from 'vitest';
import { childEnv, labConfig, withEngine, type LabConfig } from '../config.ts';
import { HostEngine } from '../engine/host.ts';
import { run } from '../exec.ts';
import { stderrProgress } from '../progress.ts';
import { BUILDKIT_BASE } from './catalog.ts';
import { ensureImage } from './images.ts';

let config: LabConfig;
let ref: string;

beforeAll(async () => {
  config = withEngine(labConfig(), (await new HostEngine(labConfig(), stderrProgress).ensure()).host);
  ref = (await ensureImage(config, BUILDKIT_BASE, stderrProgress)).ref;
}, 900_000);

const inImage = (script: string) =>
  run(['docker', 'run', '--rm', '--network', 'none', '--entrypoint', '/bin/sh', ref, '-ec', script], { env: childEnv(config), timeoutMs: 120_000 });

describe('buildkit-base', () => {
  it('resolves every shared library of its programs inside the image', async () => {
    const r = await inImage(`for f in /usr/bin/* /usr/lib/git-core/*; do
  [ -L "$f" ] && continue
  head -c 4 "$f" | grep -q ELF || continue
  /lib64/ld-linux-x86-64.so.2 --list "$f" >/tmp/l 2>&1 || { echo "static $f"; continue; }
  grep 'not found' /tmp/l && echo "MISSING $f"
  echo "dynamic $f"
done`);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).not.toContain('MISSING');
    expect(r.stdout).toContain('dynamic /usr/bin/git');
    expect(r.stdout).toContain('dynamic /usr/lib/git-core/git-remote-http');
    expect(r.stdout).toContain('dynamic /usr/bin/newuidmap');
  });

  it('runs git submodule update (a shell script) and carries no Perl, apt or dpkg', async () => {
    const r = await inImage(`export HOME=/tmp GIT_AUTHOR_NAME=a GIT_AUTHOR_EMAIL=a@b GIT_COMMITTER_NAME=a GIT_COMMITTER_EMAIL=a@b
cd /tmp && git init -q sub 2>&1 && cd sub && echo from-sub > f && git add f && git commit -qm s && cd ..
git init -q main && cd main && git -c protocol.file.allow=always submodule add -q /tmp/sub sub && git commit -qm m && cd ..
git clone -q /tmp/main clone && cd clone && git -c protocol.file.allow=always submodule update --init --recursive >/dev/null 2>&1 && cat sub/f
# files, not command -v: busybox's shell would name its own applets (it has a dpkg one)
for p in /usr/bin/perl /usr/bin/apt-get /usr/bin/dpkg /var/lib/dpkg /usr/bin/bash; do ! test -e $p || echo "HAS $p"; done
test -s /etc/ssl/certs/ca-certificates.crt && echo ca-ok`);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('from-sub');
    expect(r.stdout).not.toContain('HAS ');
    expect(r.stdout).toContain('ca-ok');
    // BuildKit's git source runs git init: a warning there would land in every git context's build log
    expect(r.stdout).not.toContain('templates not found');
  });
});
