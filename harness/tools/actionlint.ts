// actionlint, the GitHub Actions workflow linter, as a lab-owned tool: built once from the Go module
// proxy into <cache>/tools/actionlint-<version>/ (BUILDX_LAB_CACHE, default ~/.cache/buildx-lab), never
// taken from PATH, so every machine lints with the same version.
//
//   npx tsx harness/tools/actionlint.ts          install if missing, print the binary's path
//
// The build is `go install` (actionlint's go.mod has no `exclude`, unlike Buildx's) with the lab's Go
// env; it takes 30 to 60 s on 2 cores. GOSUMDB is left as the user has it: the default checks the module
// against sum.golang.org.
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { childEnv, labConfig, type LabConfig } from '../config.ts';
import { goEnvFor } from '../provision/gobuild.ts';
import { RequirementError } from '../errors.ts';
import { run } from '../exec.ts';
import { goVersion } from '../provision/gobuild.ts';

/** The newest version the Go module proxy served when this was written (`@v/list`). */
export const ACTIONLINT_VERSION = 'v1.7.12';
const MODULE = 'github.com/rhysd/actionlint/cmd/actionlint';

export function actionlintPath(config: Pick<LabConfig, 'cacheDir'>, version = ACTIONLINT_VERSION): string {
  return path.join(config.cacheDir, 'tools', `actionlint-${version}`, 'actionlint');
}

/** The binary's path; builds it first when missing. Throws RequirementError naming the fix. */
export async function ensureActionlint(config: LabConfig, version = ACTIONLINT_VERSION): Promise<string> {
  const bin = actionlintPath(config, version);
  if (existsSync(bin)) return bin;
  const dir = path.dirname(bin);
  const missing = `actionlint ${version} is not installed at ${bin}`;
  const fix = 'then run `npx tsx harness/tools/actionlint.ts` (the workflow test also does it)';
  if (!(await goVersion(config))) {
    throw new RequirementError(`${missing}, and building it needs Go, which was not found. Fix: install Go (apt-get install golang-go, or go.dev/dl), ${fix}.`);
  }
  // GOBIN is a private staging dir renamed into place, so a killed build never leaves a half-written binary.
  const stage = `${dir}.tmp-${process.pid}-${Date.now()}`;
  mkdirSync(stage, { recursive: true });
  try {
    const r = await run(['go', 'install', `${MODULE}@${version}`], {
      env: childEnv(config, { ...goEnvFor(config), GOBIN: stage, CGO_ENABLED: '0' }),
      timeoutMs: 15 * 60_000,
    });
    if (r.exitCode !== 0) {
      const why = (r.stderr || r.stdout).trim().split('\n').slice(-5).join(' / ');
      throw new RequirementError(`${missing}, and \`go install ${MODULE}@${version}\` exited ${r.exitCode}: ${why}. Fix: let Go reach the module proxy (GOPROXY), ${fix}.`);
    }
    try {
      renameSync(stage, dir);
    } catch (err) {
      // Another process installed it first: theirs is as good as ours.
      if (!existsSync(bin)) throw err;
    }
    return bin;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.write(`${await ensureActionlint(labConfig())}\n`);
}
