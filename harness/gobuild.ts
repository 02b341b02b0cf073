// Builds binaries of a released Go module from the Go module proxy, the way the lab builds Buildx and
// BuildKit when no release download is at hand. `go install pkg@v` is not used: go.mod of Buildx
// v0.20.0 to v0.30.x (and BuildKit from v0.19.0) has `exclude` directives, which it refuses.
// The module zip carries vendor/modules.txt but not the vendored code, hence -mod=mod.
import { cpSync, chmodSync, mkdirSync, readFileSync, rmSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { childEnv, type LabConfig } from './config.ts';
import { ProvisionError, RequirementError } from './errors.ts';
import { run } from './exec.ts';
import { withHeartbeat, type ProgressSink } from './progress.ts';

export interface GoBuildRequest {
  module: string;
  /** v-prefixed tag */
  version: string;
  targets: { pkg: string; out: string }[];
  /** -X assignments; `{{revision}}` is replaced by the tag commit when the proxy reports it */
  ldflagsX: Record<string, string>;
  tags?: string[];
  /** scratch space, removed afterwards */
  workDir: string;
  goArch?: string;
}

export interface GoBuildResult {
  revision?: string;
  goVersion: string;
  durationMs: number;
}

/** argv of the build; pure, for unit tests. */
export function goBuildArgv(req: GoBuildRequest, target: { pkg: string; out: string }, revision: string | undefined): string[] {
  const x = Object.entries(req.ldflagsX).map(([k, v]) => `-X ${k}=${v.replace('{{revision}}', revision ?? 'unknown')}`);
  const argv = ['go', 'build', '-mod=mod', '-trimpath', '-ldflags', ['-s', '-w', ...x].join(' '), '-o', target.out];
  if (req.tags?.length) argv.splice(2, 0, '-tags', req.tags.join(' '));
  return [...argv, target.pkg];
}

export async function goVersion(config: LabConfig): Promise<string | undefined> {
  const r = await run(['go', 'env', 'GOVERSION'], { env: childEnv(config, config.goEnv), timeoutMs: 30_000 }).catch(() => undefined);
  return r && r.exitCode === 0 ? r.stdout.trim() : undefined;
}

export async function goModuleBuild(config: LabConfig, req: GoBuildRequest, progress: ProgressSink): Promise<GoBuildResult> {
  const t0 = Date.now();
  const gv = await goVersion(config);
  if (!gv) {
    throw new RequirementError(
      `Go is needed to build ${req.module}@${req.version} from the Go module proxy, and 'go' was not found. ` +
        `Fix: install Go (apt-get install golang-go, or go.dev/dl), or use a source that needs no Go: an official release download ` +
        `(BUILDX_LAB_RELEASES_URL for a mirror) or a Debian-packaged version (debian-trixie, debian-sid).`,
    );
  }
  const env = childEnv(config, { ...config.goEnv, CGO_ENABLED: '0', GOFLAGS: '-buildvcs=false', ...(req.goArch ? { GOARCH: req.goArch } : {}) });
  mkdirSync(req.workDir, { recursive: true });
  try {
    const dl = await run(['go', 'mod', 'download', '-json', `${req.module}@${req.version}`], { env, cwd: req.workDir, timeoutMs: 10 * 60_000 });
    let info: { Dir?: string; Info?: string; Error?: string } = {};
    try { info = JSON.parse(dl.stdout) as typeof info; } catch { /* reported below */ }
    if (dl.exitCode !== 0 || !info.Dir) {
      throw new ProvisionError(`the Go module proxy could not provide ${req.module}@${req.version}: ${info.Error ?? dl.stderr.trim()}`);
    }
    const revision = readRevision(info.Info);
    const src = path.join(req.workDir, 'src');
    cpSync(info.Dir, src, { recursive: true });
    makeWritable(src); // the module cache is read-only; go build -mod=mod rewrites go.sum
    for (const target of req.targets) {
      const argv = goBuildArgv(req, target, revision);
      const r = await withHeartbeat(progress, `go build ${req.module}@${req.version} ${target.pkg} (${gv})`, () =>
        run(argv, { env, cwd: src, timeoutMs: 30 * 60_000 }),
      );
      if (r.exitCode !== 0) {
        throw new ProvisionError(`building ${req.module}@${req.version} (${target.pkg}) with ${gv} failed:\n${r.stderr.trim().split('\n').slice(-15).join('\n')}`);
      }
    }
    return { revision, goVersion: gv, durationMs: Date.now() - t0 };
  } finally {
    rmSync(path.join(req.workDir, 'src'), { recursive: true, force: true });
  }
}

function readRevision(infoPath: string | undefined): string | undefined {
  if (!infoPath) return undefined;
  try {
    const info = JSON.parse(readFileSync(infoPath, 'utf8')) as { Origin?: { Hash?: string } };
    return info.Origin?.Hash;
  } catch {
    return undefined;
  }
}

function makeWritable(dir: string): void {
  for (const entry of readdirSync(dir)) {
    const p = path.join(dir, entry);
    const st = statSync(p);
    chmodSync(p, st.mode | 0o200);
    if (st.isDirectory()) makeWritable(p);
  }
  chmodSync(dir, statSync(dir).mode | 0o200);
}
