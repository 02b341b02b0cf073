// The Git repositories ${git} serves, made by the lab from the case's description: bare repositories
// written with `git fast-import` (no work tree, so no checkout filters, attributes or hooks run), in a
// clean environment (GIT_CONFIG_NOSYSTEM, no global config, an empty template: no hooks), with a config
// only the lab writes. A case never ships a .git directory: a repository config it wrote could make
// upload-pack run a program (uploadpack.packObjectsHook, core.fsmonitor ...).
//
// Commits, tags and dates are fixed, so the same description gives the same object ids every time.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { HarnessError } from '../errors.ts';
import { runChecked } from '../exec.ts';
import type { CaseSource } from './http-files.ts';
import { repoBuildOrder, type RepoSpec } from './spec.ts';

export const GIT = '/usr/bin/git';
const WHO = 'buildx-lab <lab@buildx-lab.invalid>';
/** 2023-11-14: commit i is one minute after commit i-1 */
const EPOCH = 1_700_000_000;

/** The environment every git the lab runs gets: no system or global config, no prompt, no pager. */
export function cleanGitEnv(home: string): Record<string, string> {
  return { PATH: '/usr/bin:/bin', HOME: home, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' };
}

export interface SubmoduleLink {
  /** commit id the gitlink points at */
  commit: string;
  url: string;
}

type TreeFiles = { rel: string; content: Buffer; mode: number }[];

function data(body: Buffer | string): Buffer[] {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  return [Buffer.from(`data ${b.length}\n`), b, Buffer.from('\n')];
}

/** .gitmodules for `links` (path -> url), in path order. Paths and URLs were validated before; pure. */
export function gitmodules(links: Record<string, SubmoduleLink>): string {
  return Object.keys(links)
    .sort()
    .map((p) => `[submodule "${p}"]\n\tpath = ${p}\n\turl = ${links[p]!.url}\n`)
    .join('');
}

/**
 * A path as a fast-import command takes it; pure. Case file names are the case author's: a line break in one
 * would start a command of its own, so any name with a control character, a quote or a backslash (or one
 * that starts with a quote) goes C-style quoted, as fast-import reads it.
 */
export function fastImportPath(p: string): string {
  if (!/[\x00-\x1f\x7f"\\]/.test(p)) return p;
  const esc: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\t': '\\t' };
  return `"${p.replace(/[\x00-\x1f\x7f"\\]/g, (c) => esc[c] ?? `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`)}"`;
}

/**
 * The fast-import stream of one repository: every commit on main with its whole tree (plus .gitmodules and
 * gitlinks when it has submodules), then its branches and tags. `tree` gives a case directory's files. Pure.
 */
export function fastImportStream(repo: RepoSpec, tree: (dir: string) => TreeFiles, links: Record<string, SubmoduleLink>): Buffer {
  const out: Buffer[] = [];
  const line = (s: string) => out.push(Buffer.from(`${s}\n`));
  const refs: Buffer[] = [];
  repo.commits.forEach((c, i) => {
    const mark = i + 1;
    const when = `${EPOCH + i * 60} +0000`;
    line('commit refs/heads/main');
    line(`mark :${mark}`);
    line(`author ${WHO} ${when}`);
    line(`committer ${WHO} ${when}`);
    out.push(...data(c.message ?? `commit ${mark}: ${c.tree}`));
    if (i > 0) line(`from :${mark - 1}`);
    line('deleteall');
    for (const f of tree(c.tree)) {
      line(`M ${f.mode & 0o111 ? '100755' : '100644'} inline ${fastImportPath(f.rel)}`);
      out.push(...data(f.content));
    }
    if (Object.keys(links).length) {
      line('M 100644 inline .gitmodules');
      out.push(...data(gitmodules(links)));
      for (const [p, l] of Object.entries(links)) line(`M 160000 ${l.commit} ${fastImportPath(p)}`);
    }
    line('');
    for (const b of c.branches) refs.push(Buffer.from(`reset refs/heads/${b}\nfrom :${mark}\n\n`));
    for (const t of c.tags) {
      if (t.message === undefined) refs.push(Buffer.from(`reset refs/tags/${t.name}\nfrom :${mark}\n\n`));
      else refs.push(Buffer.from(`tag ${t.name}\nfrom :${mark}\ntagger ${WHO} ${when}\n`), ...data(t.message));
    }
  });
  out.push(...refs, Buffer.from('done\n'));
  return Buffer.concat(out);
}

/**
 * Makes every repository of `repos` under `root` (NAME.git), submodules' repositories first; `urlOf` gives
 * the URL a repository is served at (for .gitmodules). Returns each repository's main commit ('' when empty).
 */
export async function makeRepos(root: string, repos: Record<string, RepoSpec>, source: CaseSource, urlOf: (name: string) => string): Promise<Record<string, string>> {
  const home = path.join(root, '.home');
  mkdirSync(home, { recursive: true });
  const env = cleanGitEnv(home);
  const heads: Record<string, string> = {};
  const trees = new Map<string, TreeFiles>();
  const tree = (dir: string) => {
    if (!trees.has(dir)) trees.set(dir, source.dir(dir));
    return trees.get(dir)!;
  };
  for (const name of repoBuildOrder(repos)) {
    const spec = repos[name]!;
    const dir = path.join(root, `${name}.git`);
    const git = (args: string[], input?: Buffer) => runChecked([GIT, '-C', dir, ...args], { env, timeoutMs: 120_000, ...(input ? { input } : {}) });
    await runChecked([GIT, 'init', '--quiet', '--bare', '--template=', '--initial-branch=main', dir], { env, timeoutMs: 60_000 });
    // Only what serving needs: fetch by commit id (BuildKit does, for #<sha>), filters; never a push.
    for (const [k, v] of [
      ['uploadpack.allowReachableSHA1InWant', 'true'],
      ['uploadpack.allowFilter', 'true'],
      ['http.receivepack', 'false'],
    ] as const)
      await git(['config', k, v]);
    if (!spec.commits.length) {
      heads[name] = '';
      continue;
    }
    const links = Object.fromEntries(Object.entries(spec.submodules).map(([p, dep]) => [p, { commit: heads[dep]!, url: urlOf(dep) }]));
    try {
      await git(['fast-import', '--quiet', '--done', '--date-format=raw'], fastImportStream(spec, tree, links));
    } catch (e) {
      throw new HarnessError(`making repository ${name} failed: ${(e as Error).message}`, { cause: e });
    }
    heads[name] = (await git(['rev-parse', 'refs/heads/main'])).stdout.trim();
  }
  return heads;
}
