// Builds a debs recipe: its Debian packages downloaded and unpacked (never installed: no dpkg database, no
// maintainer scripts), then only the named programs and the shared libraries they load copied into a fresh
// rootfs with merged-/usr links, a CA bundle, the recipe's text files and links, and `docker import`ed.
// The libraries come from the unpacked loader's own `--list` (the dynamic linker resolves exactly what it
// would load at run time), so an image that builds has every program's libraries, or the build fails naming
// the missing one.
import {
  chmodSync,
  copyFileSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  closeSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { childEnv, type LabConfig } from '../config.ts';
import { ProvisionError } from '../errors.ts';
import { run, runChecked } from '../exec.ts';
import type { ProgressSink } from '../progress.ts';
import { PrivateApt, type DebianSuite } from '../provision/debian.ts';
import type { DebsRecipe } from './catalog.ts';

const LOADER = '/usr/lib64/ld-linux-x86-64.so.2';
const LIB_DIR = '/usr/lib/x86_64-linux-gnu';
const CA_SOURCES = '/usr/share/ca-certificates';
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/** Whether an ELF file asks for a program interpreter (is dynamically linked); pure over its header. */
export function isDynamicElf(head: Buffer): boolean {
  if (head.length < 64 || head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2 || head[5] !== 1) return false;
  const phoff = Number(head.readBigUInt64LE(32));
  const phentsize = head.readUInt16LE(54);
  const phnum = head.readUInt16LE(56);
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + 4 > head.length) return false;
    if (head.readUInt32LE(at) === 3) return true; // PT_INTERP
  }
  return false;
}

/**
 * The files `ld.so --list` resolved, as paths inside `root`; throws naming any library it did not find there
 * (a path outside `root` is the host's library, which the image would not have). Pure over the output.
 */
export function librariesFromList(output: string, root: string, program: string): string[] {
  const files: string[] = [];
  for (const line of output.split('\n')) {
    const m = /^\s*(\S+)(?: => (\S+))? \(0x[0-9a-f]+\)$/.exec(line) ?? /^\s*(\S+) => (not found)$/.exec(line);
    if (!m) continue;
    const [, name, resolved] = m;
    if (name === 'linux-vdso.so.1' || (!resolved && !name!.startsWith('/'))) continue;
    const file = resolved ?? name!;
    if (file === 'not found' || !file.startsWith(`${root}/`)) {
      throw new ProvisionError(
        `${program} needs ${name}, which none of the recipe's packages holds. Fix: add the package that ships ${name} to the recipe (harness/images/catalog.ts).`,
      );
    }
    files.push(file.slice(root.length));
  }
  return files;
}

function readHead(file: string): Buffer {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(4096);
    return buf.subarray(0, readSync(fd, buf, 0, buf.length, 0));
  } finally {
    closeSync(fd);
  }
}

/**
 * Copies `rel` from `from` to `to` (a symlink as a symlink, then what it points to; a hard link to a file
 * already copied as a hard link: git's builtins are one binary under many names), with its mode.
 */
function copyInto(from: string, to: string, rel: string, copied: Map<string, string>): void {
  const src = path.join(from, rel);
  const dest = path.join(to, rel);
  if (existsSync(dest) || lstatSync(dest, { throwIfNoEntry: false })) return;
  mkdirSync(path.dirname(dest), { recursive: true });
  const st = lstatSync(src);
  if (st.isSymbolicLink()) {
    const target = readlinkSync(src);
    symlinkSync(target, dest);
    copyInto(from, to, target.startsWith('/') ? target : path.join(path.dirname(rel), target), copied);
    return;
  }
  const inode = `${st.dev}:${st.ino}`;
  const first = copied.get(inode);
  if (first) {
    linkSync(first, dest);
    return;
  }
  copied.set(inode, dest);
  copyFileSync(src, dest);
  chmodSync(dest, st.mode & 0o7777);
}

export async function buildDebsImage(
  config: LabConfig,
  recipe: DebsRecipe,
  tag: string,
  labels: Record<string, string>,
  progress: ProgressSink,
  signal?: AbortSignal,
): Promise<void> {
  const work = path.join(config.cacheDir, 'tmp', `image-${tag.replace(/[/:]/g, '_')}-${process.pid}`);
  const unpacked = path.join(work, 'unpacked');
  const root = path.join(work, 'rootfs');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  try {
    const apt = new PrivateApt(config, progress);
    progress(`image ${tag}: unpacking ${recipe.packages.length} packages of Debian ${recipe.suite}`);
    for (const deb of await apt.downloadAll(recipe.packages, recipe.suite as DebianSuite, path.join(work, 'debs'), signal)) await apt.extract(deb.file, unpacked);
    // merged /usr, as Debian's base-files lays it out: programs ask for /lib64/ld-linux-x86-64.so.2
    for (const d of ['usr/bin', 'usr/lib', 'usr/lib64', 'usr/sbin']) mkdirSync(path.join(root, d), { recursive: true });
    for (const [link, target] of [
      ['bin', 'usr/bin'],
      ['lib', 'usr/lib'],
      ['lib64', 'usr/lib64'],
      ['sbin', 'usr/sbin'],
    ])
      symlinkSync(target!, path.join(root, link!));
    const env = childEnv(config);
    const copied = new Map<string, string>();
    for (const program of recipe.keep) {
      if (!lstatSync(path.join(unpacked, program), { throwIfNoEntry: false })) throw new ProvisionError(`image ${tag}: no package of the recipe holds ${program}`);
      copyInto(unpacked, root, program, copied);
      const real = path.join(root, program);
      if (!isDynamicElf(readHead(real))) continue;
      // the image's own loader, its library path only and no host ld.so.cache: what resolves is what the image has
      const r = await run([path.join(unpacked, LOADER), '--inhibit-cache', '--library-path', path.join(unpacked, LIB_DIR), '--list', path.join(unpacked, program)], {
        env,
        timeoutMs: 60_000,
      });
      if (r.exitCode !== 0) throw new ProvisionError(`image ${tag}: listing ${program}'s libraries failed: ${r.stderr.trim()}`);
      for (const lib of librariesFromList(r.stdout, unpacked, program)) copyInto(unpacked, root, lib, copied);
    }
    for (const [link, target] of Object.entries(recipe.links)) {
      mkdirSync(path.dirname(path.join(root, link)), { recursive: true });
      symlinkSync(target, path.join(root, link));
    }
    // what update-ca-certificates would write: every certificate the package ships, concatenated
    const certs = readdirSync(path.join(unpacked, CA_SOURCES), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.crt'))
      .sort();
    if (certs.length) {
      mkdirSync(path.dirname(path.join(root, CA_BUNDLE)), { recursive: true });
      writeFileSync(path.join(root, CA_BUNDLE), certs.map((f) => readFileSync(path.join(unpacked, CA_SOURCES, f), 'utf8')).join(''));
    }
    for (const [target, content] of Object.entries(recipe.text)) {
      mkdirSync(path.dirname(path.join(root, target)), { recursive: true });
      writeFileSync(path.join(root, target), content);
    }
    for (const [dir, mode] of [
      ['tmp', 0o1777],
      ['root', 0o700],
    ] as const) {
      mkdirSync(path.join(root, dir), { recursive: true });
      chmodSync(path.join(root, dir), mode);
    }
    const tar = path.join(work, 'rootfs.tar');
    await runChecked(['tar', '-C', root, '--numeric-owner', '--owner=0', '--group=0', '-cf', tar, '.'], { env, timeoutMs: 10 * 60_000, signal });
    const changes = [
      `ENTRYPOINT ${JSON.stringify(recipe.entrypoint)}`,
      `CMD ${JSON.stringify(recipe.cmd)}`,
      ...Object.entries(labels).map(([k, v]) => `LABEL ${k}=${JSON.stringify(v)}`),
    ];
    await runChecked(['docker', 'import', ...changes.flatMap((c) => ['--change', c]), tar, tag], { env, timeoutMs: 10 * 60_000, signal });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
