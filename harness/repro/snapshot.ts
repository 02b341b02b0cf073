// A case directory copied once into a directory of the lab's, before it is planned: what is validated and
// what runs is then the same file set. The case's own directory belongs to someone else, who could swap a
// checked file for a symlink to a host file between the check and the read (a race a test once won six
// times in four seconds, reading /etc/hostname). The copy opens every file with O_NOFOLLOW and checks what
// it opened; symlinks are kept as links only when they resolve inside the case, so that the loader's own
// checks (repro/case-files.ts) run again on the copy, which nobody else can change.
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.ts';
import { MAX_BYTES, MAX_FILES } from './case-files.ts';

/** `read`, or the UsageError that says the case changed under the copy (a name gone, a file now a link). */
function changing<T>(rel: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    throw new UsageError(
      `case file ${rel} changed while it was read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); give a case directory nobody else is writing to`,
    );
  }
}

/** Copies the case at `src` into `dest` (which must not exist); throws UsageError naming what it refused. */
export function snapshotCase(src: string, dest: string, limits = { files: MAX_FILES, bytes: MAX_BYTES }): void {
  let files = 0;
  let bytes = 0;
  const over = () => new UsageError(`case directory ${src} holds more than ${limits.files} files or ${limits.bytes >> 20} MiB; a case should hold only what the build needs`);
  // Every lookup goes through an open directory (/proc/self/fd/N/name), never the path again: a directory
  // swapped for a link after it was opened changes nothing, and one swapped before is refused (O_NOFOLLOW).
  const openDir = (at: string, rel: string) => changing(rel, () => openSync(at, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW));
  const copyDir = (dirFd: number, rel: string) => {
    mkdirSync(path.join(dest, rel), { mode: 0o755 });
    const here = `/proc/self/fd/${dirFd}`;
    for (const name of changing(rel || '.', () => readdirSync(here)).sort()) {
      if (name === '.git') continue;
      const r = path.join(rel, name);
      const at = `${here}/${name}`;
      const st = changing(r, () => lstatSync(at));
      if (++files > limits.files) throw over();
      if (st.isDirectory()) {
        const fd = openDir(at, r);
        try {
          copyDir(fd, r);
        } finally {
          closeSync(fd);
        }
      } else if (st.isSymbolicLink())
        copyLink(
          r,
          changing(r, () => readlinkSync(at)),
        );
      else if (st.isFile()) copyFile(at, r);
      else throw new UsageError(`case file ${r}: only regular files, directories and symlinks inside the case are allowed`);
    }
  };
  const copyLink = (rel: string, target: string) => {
    const resolved = path.resolve(path.dirname(path.join(dest, rel)), target);
    const inside = path.relative(dest, resolved);
    if (path.isAbsolute(target) || inside === '' || inside.startsWith('..'))
      throw new UsageError(`case file ${rel} is a symlink to ${JSON.stringify(target)}, outside the case directory; paths must stay inside it`);
    symlinkSync(target, path.join(dest, rel));
  };
  const copyFile = (at: string, rel: string) => {
    // O_NOFOLLOW: a file swapped for a link since the lstat is refused, not followed; O_NONBLOCK: a FIFO does not hang us
    const fd = changing(rel, () => openSync(at, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK));
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new UsageError(`case file ${rel} changed while it was read (it is no longer a regular file)`);
      if (bytes + st.size > limits.bytes) throw over();
      const content = readFileSync(fd);
      // counted as read: a file still growing cannot pass the bound
      bytes += content.length;
      if (bytes > limits.bytes) throw over();
      writeFileSync(path.join(dest, rel), content, { mode: st.mode & 0o111 ? 0o755 : 0o644 });
    } finally {
      closeSync(fd);
    }
  };
  const top = openDir(src, '.');
  try {
    copyDir(top, '');
  } finally {
    closeSync(top);
  }
}
