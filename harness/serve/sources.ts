// The sources one case serves to its builds: ${http}, ${git} and ${s3}, each started only when the case
// asks for it, and what the steps get from them (lab values, and the Git credentials as GIT_AUTH_TOKEN or
// GIT_AUTH_HEADER for a build secret). The S3 bucket is each cell's own: the cell opens it (openBucket).
import type { Journal } from '../registry/journal.ts';
import { GitServer } from './git-server.ts';
import type { ListenAddress } from './host-server.ts';
import { HttpFileServer, type CaseSource } from './http-files.ts';
import { S3Server, VERSITYGW } from './s3-server.ts';
import type { S3ValueName } from './s3-spec.ts';
import type { GitAuth, ServeSpec, SourceKind } from './spec.ts';

export interface StartedSources {
  http?: HttpFileServer;
  git?: GitServer;
  s3?: S3Server;
  /** lab values: ${http}, ${git}, ${s3} and its region and credentials (the bucket is the cell's) */
  values: { http?: string; git?: string } & Partial<Record<Exclude<S3ValueName, 's3Bucket'>, string>>;
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

/**
 * `listen`: where each server listens (lab/lab.ts decides: the lab network's gateway, or a relay's socket).
 * `s3Binary`: versitygw's path, built on first need.
 */
export async function startSources(
  spec: ServeSpec,
  source: CaseSource,
  journal: Journal,
  listen: (kind: SourceKind) => Promise<readonly ListenAddress[]> | readonly ListenAddress[],
  s3Binary: () => Promise<string> = () => Promise.reject(new Error('no S3 server binary was provided')),
): Promise<StartedSources> {
  let http: HttpFileServer | undefined;
  let git: GitServer | undefined;
  let s3: S3Server | undefined;
  const stop = async () => {
    await Promise.allSettled([http?.stop(), git?.stop(), s3?.stop()]);
  };
  try {
    http = spec.http ? await HttpFileServer.start(spec.http, source, journal, await listen('http')) : undefined;
    git = spec.git ? await GitServer.start(spec.git, source, journal, await listen('git')) : undefined;
    s3 = spec.s3 ? await S3Server.start(spec.s3, await s3Binary(), journal, await listen('s3')) : undefined;
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    http,
    git,
    s3,
    values: {
      ...(http ? { http: http.url } : {}),
      ...(git ? { git: git.url } : {}),
      ...(s3 ? { s3: s3.url, s3Region: s3.spec.region, s3AccessKeyId: s3.credentials.accessKeyId, s3SecretAccessKey: s3.credentials.secretAccessKey } : {}),
    },
    env: gitAuthEnv(spec.git?.auth),
    describe: () =>
      [
        http && `http ${http.url} (${Object.keys(spec.http!.files).length} file(s))`,
        git &&
          `git ${git.url} (${Object.entries(git.heads)
            .map(([n, h]) => `${n}.git${h ? `@${h.slice(0, 12)}` : ' empty'}`)
            .join(', ')}; http-backend as ${git.backend.as})`,
        s3 && `s3 ${s3.url} (versitygw ${VERSITYGW.version}, posix backend, region ${s3.spec.region}, as ${s3.backend.as}; a bucket per cell)`,
      ]
        .filter(Boolean)
        .join(', '),
    stop,
  };
}
