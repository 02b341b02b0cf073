// The sources one case serves to its builds: ${http} and ${git}, each started only when the case asks for
// it, and what the steps get from them (lab values, and the Git credentials as GIT_AUTH_TOKEN or
// GIT_AUTH_HEADER for a build secret).
import type { Journal } from '../registry/journal.ts';
import { GitServer } from './git-server.ts';
import type { ListenAddress } from './host-server.ts';
import { HttpFileServer, type CaseSource } from './http-files.ts';
import type { GitAuth, ServeSpec } from './spec.ts';

export interface StartedSources {
  http?: HttpFileServer;
  git?: GitServer;
  /** lab values: ${http}, ${git} */
  values: { http?: string; git?: string };
  /** for every step: the Git credentials as BuildKit reads them from a build secret */
  env: Record<string, string>;
  /** one line for the progress and the cells' facts */
  describe(): string;
  stop(): Promise<void>;
}

/** The Git credentials as the variables a build secret reads (GIT_AUTH_TOKEN, or GIT_AUTH_HEADER for a user and password); pure. */
export function gitAuthEnv(auth: GitAuth | undefined): Record<string, string> {
  if (!auth) return {};
  if ('token' in auth) return { GIT_AUTH_TOKEN: auth.token };
  return { GIT_AUTH_HEADER: `basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` };
}

/** `listen`: where each server listens (lab/lab.ts decides: the lab network's gateway, or a relay's socket). */
export async function startSources(
  spec: ServeSpec,
  source: CaseSource,
  journal: Journal,
  listen: (kind: 'http' | 'git') => Promise<readonly ListenAddress[]> | readonly ListenAddress[],
): Promise<StartedSources> {
  const http = spec.http ? await HttpFileServer.start(spec.http, source, journal, await listen('http')) : undefined;
  let git: GitServer | undefined;
  try {
    git = spec.git ? await GitServer.start(spec.git, source, journal, await listen('git')) : undefined;
  } catch (e) {
    await http?.stop();
    throw e;
  }
  return {
    http,
    git,
    values: { ...(http ? { http: http.url } : {}), ...(git ? { git: git.url } : {}) },
    env: gitAuthEnv(spec.git?.auth),
    describe: () =>
      [
        http && `http ${http.url} (${Object.keys(spec.http!.files).length} file(s))`,
        git &&
          `git ${git.url} (${Object.entries(git.heads)
            .map(([n, h]) => `${n}.git${h ? `@${h.slice(0, 12)}` : ' empty'}`)
            .join(', ')}; http-backend as ${git.backend.as})`,
      ]
        .filter(Boolean)
        .join(', '),
    stop: async () => {
      await Promise.allSettled([http?.stop(), git?.stop()]);
    },
  };
}
