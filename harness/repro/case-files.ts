// The case directory's file safety: the directory is the user's, only read, and nothing outside it may be
// reached through it (absolute paths, `..`, symlinks), because its files are copied into a privileged
// DinD engine and pushed to a registry. Every read checks the path again (the directory may change after
// the case loaded), and the whole case is bounded in files and bytes.
import { lstatSync, readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.ts';
import { dockerConfigProblem } from '../kit/lab-owned.ts';
import type { CaseSource } from '../serve/http-files.ts';

export const CASE_FILE = 'case.yaml';
/** A case is a bug report, not a repository: bound what gets copied into the engine. */
export const MAX_FILES = 1000;
export const MAX_BYTES = 64 << 20;

export interface CaseFile {
  /** path inside the case directory, '/'-separated */
  rel: string;
  /** the real file on the host (a symlink inside the case resolves here) */
  real: string;
  mode: number;
}

/** The real path of the case directory `dir` and its case.yaml's text (at most 1 MiB, inside the directory). */
export function readCaseYaml(dir: string): { root: string; text: string } {
  let root: string;
  try {
    root = realpathSync(dir);
    if (!statSync(root).isDirectory()) throw new Error('not a directory');
  } catch (e) {
    throw new UsageError(`case directory ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; give a directory holding ${CASE_FILE}`);
  }
  let text: string;
  try {
    const file = caseFilePath(root, CASE_FILE);
    if (statSync(file).size > 1 << 20) throw new UsageError(`${CASE_FILE} is larger than 1 MiB; a case file describes a bug, it does not carry it`);
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${path.join(root, CASE_FILE)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; a case directory needs a ${CASE_FILE}`);
  }
  return { root, text };
}

/** The real path of `rel` inside `root`; throws when it is absolute, escapes, or is missing. */
export function caseFilePath(root: string, rel: string, kind: 'file' | 'dir' = 'file'): string {
  if (path.isAbsolute(rel)) throw new UsageError(`${JSON.stringify(rel)} is absolute; give a path inside the case directory`);
  const lexical = path.resolve(root, rel);
  if (!inside(root, lexical)) throw new UsageError(`${JSON.stringify(rel)} leaves the case directory`);
  let real: string;
  try {
    real = realpathSync(lexical);
  } catch (e) {
    throw new UsageError(`${JSON.stringify(rel)} does not exist in the case directory (${(e as NodeJS.ErrnoException).code})`);
  }
  if (!inside(root, real)) throw new UsageError(`${JSON.stringify(rel)} is a symlink to ${real}, outside the case directory`);
  const st = statSync(real);
  if (kind === 'file' ? !st.isFile() : !st.isDirectory()) throw new UsageError(`${JSON.stringify(rel)} is not a ${kind === 'file' ? 'regular file' : 'directory'}`);
  return real;
}

function inside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** Every file the case ships (what the build may see); symlinks must stay inside, other kinds are refused. */
export function caseFiles(root: string): CaseFile[] {
  const out: CaseFile[] = [];
  let bytes = 0;
  const walk = (relDir: string) => {
    for (const name of readdirSync(path.join(root, relDir)).sort()) {
      if (name === '.git') continue;
      const rel = relDir ? `${relDir}/${name}` : name;
      const lst = lstatSync(path.join(root, rel));
      if (lst.isDirectory()) {
        walk(rel);
        continue;
      }
      if (!lst.isFile() && !lst.isSymbolicLink()) throw new UsageError(`case file ${rel}: only regular files, directories and symlinks inside the case are allowed`);
      let real: string;
      try {
        real = caseFilePath(root, rel);
      } catch (e) {
        // a link to a directory inside: the lab copies files, and a directory link could loop
        if (lst.isSymbolicLink() && /is not a regular file/.test((e as Error).message))
          throw new UsageError(`case file ${JSON.stringify(rel)} is a symlink to a directory; the lab copies the case's files, not directory links: replace it with the directory`);
        throw new UsageError(`case file ${(e as Error).message}`);
      }
      const st = statSync(real);
      bytes += st.size;
      out.push({ rel, real, mode: st.mode & 0o111 ? 0o755 : 0o644 });
      if (out.length > MAX_FILES || bytes > MAX_BYTES)
        throw new UsageError(`case directory ${root} holds more than ${MAX_FILES} files or ${MAX_BYTES >> 20} MiB; a case should hold only what the build needs`);
    }
  };
  walk('');
  return out;
}

/** The case's docker config.json, checked again at read time: no credential helper, no plugin directory (lab-owned.ts). */
export function readDockerConfig(root: string, rel: string): Buffer {
  const bytes = readCaseFile(root, { rel });
  const why = dockerConfigProblem(bytes.toString('utf8'));
  if (why) throw new UsageError(`${JSON.stringify(rel)}: ${why}`);
  return bytes;
}

/** The case's files as the lab's servers read them (serve:): confined to the case directory at every read. */
export function caseSource(c: { dir: string; files: readonly CaseFile[] }): CaseSource {
  return {
    file: (rel) => readCaseFile(c.dir, { rel }),
    dir: (rel) => {
      const prefix = rel.replace(/\/+$/, '') === '.' ? '' : `${rel.replace(/^\.\//, '').replace(/\/+$/, '')}/`;
      caseFilePath(c.dir, rel, 'dir');
      return c.files.filter((f) => f.rel.startsWith(prefix)).map((f) => ({ rel: f.rel.slice(prefix.length), content: readCaseFile(c.dir, f), mode: f.mode }));
    },
  };
}

/** A case file's bytes, checked again at read time (the directory may have changed since loadCase). */
export function readCaseFile(root: string, f: Pick<CaseFile, 'rel'>): Buffer {
  return readFileSync(caseFilePath(root, f.rel));
}
