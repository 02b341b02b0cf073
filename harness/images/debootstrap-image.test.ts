// The debootstrap recipe with a mirror that carries credentials (BUILDX_LAB_DEBIAN_MIRROR=https://user:pass@…):
// they reach debootstrap and nothing else, not its log lines, not its error, not the image (a bundle ships
// it). debootstrap and docker are stand-ins here that do what the script relies on (debootstrap writes the
// mirror into the rootfs's sources.list; docker import reads a tar), so the script itself runs for real.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { publicUrl } from '../config.ts';
import { recipeScriptPath } from './catalog.ts';

const MIRROR = 'https://lab:pw-secret-456@mirror.example/debian?token=tok-secret-789';
const leaks = (text: string) => text.includes('pw-secret-456') || text.includes('tok-secret-789');

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'debootstrap-recipe-'));
  mkdirSync(path.join(dir, 'bin'));
  const script = (name: string, body: string) => {
    writeFileSync(path.join(dir, 'bin', name), `#!/bin/sh\n${body}\n`);
    chmodSync(path.join(dir, 'bin', name), 0o755);
  };
  // debootstrap [opts] SUITE TARGET MIRROR, as the recipe calls it
  script(
    'debootstrap',
    `for a; do :; done; eval "target=\\\${$(($#-1))}"; eval "suite=\\\${$(($#-2))}"
mkdir -p "$target/etc/apt"; printf 'deb %s %s main\\n' "$a" "$suite" >"$target/etc/apt/sources.list"
printf '%s' "$a" >"${dir}/mirror-arg"; echo "I: Retrieving InRelease from $a"; [ -z "$FAIL" ] || { echo "E: Failed getting release file $a/dists/$suite/Release"; exit 1; }`,
  );
  script('docker', `case "$1" in import) cat >"${dir}/image.tar";; image) echo 1000000;; esac`);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function runRecipe(extra: Record<string, string> = {}) {
  return spawnSync('bash', [recipeScriptPath], {
    encoding: 'utf8',
    env: {
      PATH: `${path.join(dir, 'bin')}:/usr/bin:/bin`,
      TAG: 'lab/test:1',
      SUITE: 'trixie',
      PACKAGES: '',
      ENTRYPOINT: '["/bin/sh"]',
      CMD: '[]',
      LABELS: '',
      MIRROR,
      MIRROR_SHOWN: publicUrl(MIRROR),
      DEBOOTSTRAP: path.join(dir, 'bin', 'debootstrap'),
      DEBOOTSTRAP_DIR: dir,
      ROOTFS: path.join(dir, 'rootfs'),
      ...extra,
    },
  });
}

describe('debootstrap-image.sh with a mirror that carries credentials', () => {
  it('logs the mirror without them and leaves them out of the image', () => {
    const r = runRecipe();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('debootstrap trixie from https://mirror.example/debian?token=***');
    expect(leaks(r.stderr + r.stdout)).toBe(false);
    const sources = execFileSync('tar', ['-xOf', path.join(dir, 'image.tar'), './etc/apt/sources.list'], { encoding: 'utf8' });
    expect(sources).toBe('deb https://mirror.example/debian?token=*** trixie main\n');
  });

  it('names the mirror without them when debootstrap fails', () => {
    const r = runRecipe({ FAIL: '1' });
    expect(r.status).toBe(4);
    expect(r.stderr).toContain('the Debian mirror https://mirror.example/debian?token=*** must be reachable');
    // (debootstrap's own log tail quotes the URL; images.ts scrubs it with scrubUrl before it reaches an error)
    expect(
      leaks(
        r.stderr
          .split('\n')
          .filter((l) => !l.startsWith('I: ') && !l.startsWith('E: '))
          .join('\n'),
      ),
    ).toBe(false);
  });

  it('passes the mirror to debootstrap whole: the request needs them', () => {
    runRecipe();
    expect(readFileSync(path.join(dir, 'mirror-arg'), 'utf8')).toBe(MIRROR);
  });
});
