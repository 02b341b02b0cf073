// A Buildx binary as the lab knows it (version, path, where it came from) and the pure parsers of its own
// output, in the style of docker/actions-toolkit's Buildx class. Commands run through the kit's sandbox.
import { gitTreeText } from '../provision/git-tree.ts';

export type BuildxSource = 'cache' | 'release' | 'go' | 'debian' | 'git';

/** Where a Buildx built from Git came from (git-source.ts). */
export interface BuildxGitOrigin {
  /** the real path of the repository */
  repo: string;
  commit: string;
  /** the release tag on the commit, if any */
  tag?: string;
  /** -mod=vendor (the tree's own vendor/) or module mode through the proxy */
  mode: 'vendor' | 'mod';
}

export interface BuildxBinary {
  /** v-prefixed, as reported by the binary itself */
  version: string;
  path: string;
  /** where it originally came from (a cache hit keeps the original source in `origin`) */
  source: BuildxSource;
  origin: Exclude<BuildxSource, 'cache'>;
  sha256: string;
  size: number;
  arch: string;
  /** the spec that selected it, e.g. "debian-sid" or "^0.21" */
  spec?: string;
  /** origin 'git': the commit it was built from */
  git?: BuildxGitOrigin;
}

export interface BuildxMeta {
  version: string;
  origin: Exclude<BuildxSource, 'cache'>;
  sha256: string;
  size: number;
  arch: string;
  installedAt: string;
  durationMs: number;
  revision?: string;
  detail?: string;
  /** Go builds: the checksum database the module downloads were checked against ("off" when not) */
  sumdb?: string;
  /** release downloads: checked against an independent pin, or only against the server's checksums.txt */
  checksum?: { pinned: boolean; against: string[] };
  /** builds from Git: the commit */
  git?: BuildxGitOrigin;
}

const ORIGINS: Readonly<Record<Exclude<BuildxSource, 'cache'>, string>> = {
  release: 'release download',
  go: 'source build, Go module proxy',
  debian: "Debian's package",
  git: 'source build, git',
};

/**
 * A binary's origin as a cell's evidence says it, in the words the README's "Where things come from" uses:
 * "release download", "source build, Go module proxy", "source build, git commit 3f82… (tag v0.21.0-rc2) of
 * /src/buildx, -mod=vendor".
 */
export function originText(b: Pick<BuildxBinary, 'origin' | 'git'>): string {
  if (b.origin !== 'git' || !b.git) return ORIGINS[b.origin] ?? b.origin;
  return `source build, ${gitTreeText(b.git)}, -mod=${b.git.mode}`;
}

/**
 * Parses `buildx version` output. Upstream: "github.com/docker/buildx v0.21.1 abc123"; Debian's builds
 * print the package version instead: "github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3". Returns "v0.21.1".
 */
export function parseVersionOutput(stdout: string): string | undefined {
  const m = /github\.com\/docker\/buildx\s+v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)(?:\+\S*)?/.exec(stdout);
  return m ? `v${m[1]}` : undefined;
}

/** Debian's "0.13.1+ds1" carries no prerelease, so equality ignores build metadata only. */
export function sameVersion(a: string, b: string): boolean {
  const norm = (v: string) => v.replace(/^v/, '').replace(/\+.*$/, '');
  return norm(a) === norm(b);
}
