// The images the lab needs, where each may come from, and the recipe of its offline build.
// Pure data and pure hashing: building and pulling live in images.ts.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export type ImageRole = 'dind' | 'registry' | 'buildkit';

export interface DebootstrapRecipe {
  suite: string;
  packages: string[];
  entrypoint: string[];
  cmd: string[];
  /** Files placed into the root file system: target path -> host source path (hashed by content). */
  files: Record<string, string>;
  /** Files added but not hashed (build outputs), identified instead by `hashExtra`. */
  builtFiles?: Record<string, string>;
  /** Identity of the built files, e.g. "buildkit v0.17.1 go1.26.8", so the tag is known before building them. */
  hashExtra?: string;
}

export interface ImageSpec {
  id: string;
  role: ImageRole;
  description: string;
  /** Official images that are used instead when present or pullable. */
  official: string[];
  recipe: DebootstrapRecipe;
  /** For DinD: the engine version this image carries (checked against `docker version` at start). */
  engineVersion?: string;
  /** For the registry: where its config goes, and the command that serves it. */
  registry?: { configPath: string; command: string[] };
}

const recipesDir = new URL('./recipes/', import.meta.url);
export const recipeScriptPath = new URL('debootstrap-image.sh', recipesDir).pathname;
const dindEntrypoint = new URL('lab-dind-entrypoint.sh', recipesDir).pathname;

// What every home-built DinD carries: dockerd, containerd, runc and the docker CLI (trixie's docker.io has no CLI).
const dindPackages = ['docker.io', 'docker-cli', 'containerd', 'runc', 'iptables', 'ca-certificates', 'procps', 'iproute2'];

function dind(suite: string, engineVersion: string): ImageSpec {
  return {
    id: `dind-${suite}`,
    role: 'dind',
    description: `Docker ${engineVersion} from Debian ${suite} (dockerd, containerd, runc, docker CLI)`,
    official: [`docker:${engineVersion}-dind`],
    engineVersion,
    recipe: {
      suite,
      packages: dindPackages,
      entrypoint: ['/usr/local/bin/lab-dind-entrypoint'],
      cmd: ['dockerd'],
      files: { '/usr/local/bin/lab-dind-entrypoint': dindEntrypoint },
    },
  };
}

export const IMAGE_CATALOG: readonly ImageSpec[] = [
  dind('trixie', '26.1.5'),
  dind('sid', '28.5.2'),
  {
    id: 'registry',
    role: 'registry',
    description: 'CNCF distribution registry from Debian trixie (docker-registry 2.8.3)',
    official: ['registry:3'],
    recipe: { suite: 'trixie', packages: ['docker-registry'], entrypoint: ['/usr/bin/docker-registry'], cmd: ['serve', '/etc/buildx-lab/registry.yml'], files: {} },
    registry: { configPath: '/etc/buildx-lab/registry.yml', command: ['serve', '/etc/buildx-lab/registry.yml'] },
  },
];

export const OFFICIAL_REGISTRY = { configPath: '/etc/distribution/config.yml', command: ['serve', '/etc/distribution/config.yml'] };

export function findImageSpec(id: string): ImageSpec {
  const spec = IMAGE_CATALOG.find((s) => s.id === id);
  if (!spec) throw new Error(`unknown image '${id}'; known: ${IMAGE_CATALOG.map((s) => s.id).join(', ')}`);
  return spec;
}

export function dindSpecForEngine(engineVersion: string): ImageSpec | undefined {
  return IMAGE_CATALOG.find((s) => s.role === 'dind' && s.engineVersion === engineVersion);
}

export const ENGINE_VERSIONS: readonly string[] = IMAGE_CATALOG.filter((s) => s.role === 'dind').map((s) => s.engineVersion!);

/** Tag of a local build: changes whenever the recipe, the build script or any added file changes. */
export function recipeHash(spec: Pick<ImageSpec, 'id' | 'recipe'>, readFile: (p: string) => Buffer = readFileSync): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ id: spec.id, suite: spec.recipe.suite, packages: spec.recipe.packages, entrypoint: spec.recipe.entrypoint, cmd: spec.recipe.cmd }));
  h.update(readFile(recipeScriptPath));
  h.update(spec.recipe.hashExtra ?? '');
  for (const target of Object.keys(spec.recipe.files).sort()) {
    h.update(target);
    h.update(readFile(spec.recipe.files[target]!));
  }
  return h.digest('hex').slice(0, 12);
}

export function localTag(spec: Pick<ImageSpec, 'id' | 'recipe'>, readFile?: (p: string) => Buffer): string {
  return `buildx-lab/${spec.id}:${recipeHash(spec, readFile)}`;
}
