// Test support: stand-ins for the official images the lab prefers (docker:<v>-dind, moby/buildkit:<v>,
// registry:3), built here from the lab's own images, offline, with the official images' documented
// entrypoints, environment, ports and volumes (stand-ins/ holds their scripts). Tests push them to a local
// registry under the official names and let an engine pull them through a registry mirror; they are never
// tagged under an official name on the lab's engine, where the lab itself would take them.
import { fileURLToPath } from 'node:url';
import type { LabConfig } from '../config.ts';
import { commitLayer, type LayerCommit } from './images.ts';

const standIn = (name: string) => fileURLToPath(new URL(`./stand-ins/${name}`, import.meta.url));
export const STAND_IN_SCRIPTS = {
  dockerdEntrypoint: standIn('dockerd-entrypoint.sh'),
  dind: standIn('dind'),
  registryEntrypoint: standIn('registry-entrypoint.sh'),
  registryConfig: standIn('registry-config.yml'),
} as const;

/** Marks a stand-in, so a test (or a person) can tell it from the real image. */
export const STAND_IN_LABEL = 'buildx-lab.stand-in';

export interface StandIn {
  /** the official name, without a registry: docker:26.1.5-dind */
  official: string;
  /** the lab's image it is committed on */
  base: string;
  layer: LayerCommit;
}

/** docker:<v>-dind: dockerd-entrypoint.sh, the dind wrapper, TLS under /certs by default, 2375/2376. */
export function dindStandIn(version: string, labDindRef: string): StandIn {
  const official = `docker:${version}-dind`;
  return {
    official,
    base: labDindRef,
    layer: {
      files: {
        '/usr/local/bin/dockerd-entrypoint.sh': { source: STAND_IN_SCRIPTS.dockerdEntrypoint, mode: 0o755 },
        '/usr/local/bin/dind': { source: STAND_IN_SCRIPTS.dind, mode: 0o755 },
      },
      // the official image ships docker-init (tini) beside dockerd; the lab's image links it at start instead
      run: 'ln -sf /usr/bin/tini-static /usr/local/bin/docker-init && mkdir -p /certs/client && chmod 1777 /certs /certs/client',
      entrypoint: ['dockerd-entrypoint.sh'],
      cmd: [],
      env: { DOCKER_TLS_CERTDIR: '/certs' },
      volumes: ['/var/lib/docker'],
      expose: [2375, 2376],
      labels: { [STAND_IN_LABEL]: official },
    },
  };
}

/** moby/buildkit:<v>: ENTRYPOINT ["buildkitd"], its state a volume. */
export function buildkitStandIn(version: string, labBuildkitRef: string): StandIn {
  const official = `moby/buildkit:${version}`;
  return {
    official,
    base: labBuildkitRef,
    layer: { files: {}, entrypoint: ['buildkitd'], cmd: [], volumes: ['/var/lib/buildkit'], labels: { [STAND_IN_LABEL]: official } },
  };
}

/** registry:3: /entrypoint.sh serving /etc/distribution/config.yml on :5000, storage in /var/lib/registry. */
export function registryStandIn(labRegistryRef: string): StandIn {
  const official = 'registry:3';
  return {
    official,
    base: labRegistryRef,
    layer: {
      files: {
        '/entrypoint.sh': { source: STAND_IN_SCRIPTS.registryEntrypoint, mode: 0o755 },
        '/etc/distribution/config.yml': { source: STAND_IN_SCRIPTS.registryConfig, mode: 0o644 },
      },
      run: 'ln -sf /usr/bin/docker-registry /bin/registry && mkdir -p /var/lib/registry',
      entrypoint: ['/entrypoint.sh'],
      cmd: ['/etc/distribution/config.yml'],
      volumes: ['/var/lib/registry'],
      expose: [5000],
      labels: { [STAND_IN_LABEL]: official },
    },
  };
}

/** Docker Hub's path of an official name, as a mirror serves it: docker:26.1.5-dind -> library/docker:26.1.5-dind. */
export function mirrorPath(official: string): string {
  return official.includes('/') ? official : `library/${official}`;
}

/** Commits the stand-in on the engine of `config` as `<registry>/<mirror path>`, ready to push there. */
export async function buildStandIn(config: LabConfig, s: StandIn, registry: string): Promise<string> {
  const ref = `${registry}/${mirrorPath(s.official)}`;
  await commitLayer(config, s.base, ref, s.layer);
  return ref;
}
