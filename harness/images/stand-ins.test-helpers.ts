// Test support: stand-ins for the official images the lab prefers (docker:<v>-dind, moby/buildkit:<v>,
// registry:3), built here from the lab's own images, offline, with the official images' documented
// entrypoints, environment, ports and volumes (stand-ins/ holds their scripts). Tests push them to a local
// registry under the official names and let an engine pull them through a registry mirror; they are never
// tagged under an official name on the lab's engine, where the lab itself would take them.
import { fileURLToPath } from 'node:url';
import type { LabConfig } from '../config.ts';
import { commitLayer, type LayerCommit } from './images.ts';

const script = (name: string) => fileURLToPath(new URL(`./stand-ins/${name}`, import.meta.url));
export const STAND_IN_SCRIPTS = {
  dockerdEntrypoint: script('dockerd-entrypoint.sh'),
  dind: script('dind'),
  registryEntrypoint: script('registry-entrypoint.sh'),
  registryConfig: script('registry-config.yml'),
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

/** A stand-in of `official` on the lab's image `base`, labelled as one. */
function standIn(official: string, base: string, layer: Omit<LayerCommit, 'labels'>): StandIn {
  return { official, base, layer: { ...layer, labels: { [STAND_IN_LABEL]: official } } };
}

/** docker:<v>-dind: dockerd-entrypoint.sh, the dind wrapper, TLS under /certs by default, 2375/2376. */
export function dindStandIn(version: string, labDindRef: string): StandIn {
  return standIn(`docker:${version}-dind`, labDindRef, {
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
  });
}

/** moby/buildkit:<v>: ENTRYPOINT ["buildkitd"], its state a volume. */
export function buildkitStandIn(version: string, labBuildkitRef: string): StandIn {
  return standIn(`moby/buildkit:${version}`, labBuildkitRef, { files: {}, entrypoint: ['buildkitd'], cmd: [], volumes: ['/var/lib/buildkit'] });
}

/** registry:3: /entrypoint.sh serving /etc/distribution/config.yml on :5000, storage in /var/lib/registry. */
export function registryStandIn(labRegistryRef: string): StandIn {
  return standIn('registry:3', labRegistryRef, {
    files: {
      '/entrypoint.sh': { source: STAND_IN_SCRIPTS.registryEntrypoint, mode: 0o755 },
      '/etc/distribution/config.yml': { source: STAND_IN_SCRIPTS.registryConfig, mode: 0o644 },
    },
    run: 'ln -sf /usr/bin/docker-registry /bin/registry && mkdir -p /var/lib/registry',
    entrypoint: ['/entrypoint.sh'],
    cmd: ['/etc/distribution/config.yml'],
    volumes: ['/var/lib/registry'],
    expose: [5000],
  });
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
