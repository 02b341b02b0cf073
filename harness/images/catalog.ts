// The images the lab needs, where each may come from, and the recipe of its local build. Pure data and
// pure hashing: building and pulling live in images.ts.
//
// Three kinds of recipe:
// - rootfs: debootstrap a Debian suite with some packages, add files, `docker import` (one layer);
// - debs: a few Debian packages unpacked (no dpkg, apt or maintainer scripts), only the named programs and the
//   shared libraries they load kept, `docker import` (one layer): the BuildKit images' small base;
// - layer: a catalog image plus files (engine, BuildKit and registry binaries) committed on top.
// A local build is tagged buildx-lab/<id>:<hash of its recipe>, so a changed recipe is a new tag and an
// unchanged one is reused. Binaries are identified by their sha256 (from their build's meta.json).
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export type ImageRole = 'base' | 'dind' | 'registry' | 'buildkit' | 'case-base' | 'proxy' | 'k8s-node';

export interface RootfsRecipe {
  kind: 'rootfs';
  suite: string;
  packages: string[];
  entrypoint: string[];
  cmd: string[];
  /** target path -> host file, hashed by content */
  files: Record<string, string>;
}

export interface DebsRecipe {
  kind: 'debs';
  suite: string;
  /** every package whose files are needed, dependencies included (apt resolves nothing here) */
  packages: string[];
  /** programs kept (absolute paths in the packages), each with the shared libraries it loads */
  keep: string[];
  /** link -> what it points to (busybox as sh, git builtins under their dashed names) */
  links: Record<string, string>;
  /** target path -> content */
  text: Record<string, string>;
  entrypoint: string[];
  cmd: string[];
}

export interface LayerFile {
  /** host path */
  source: string;
  /** sha256 of the content when known (built binaries), else the file is hashed */
  sha256?: string;
  mode?: number;
}

export interface LayerRecipe {
  kind: 'layer';
  /** catalog id of the image this one is committed on */
  base: string;
  files: Record<string, LayerFile>;
  entrypoint: string[];
  cmd: string[];
  /** recorded in the image (versions of what it carries) and hashed */
  labels: Record<string, string>;
  /** a shell script run as root on the base with the files in place, before the commit (offline: no network) */
  run?: string;
  /** the image's USER, ENV and VOLUMEs */
  user?: string;
  env?: Record<string, string>;
  volumes?: string[];
}

export interface ImageSpec {
  id: string;
  role: ImageRole;
  description: string;
  /** official images used instead when present or pullable */
  official: string[];
  recipe: RootfsRecipe | DebsRecipe | LayerRecipe;
  /** for the registry: where its config goes */
  registry?: { configPath: string };
}

const recipesDir = new URL('./recipes/', import.meta.url);
export const recipeScriptPath = fileURLToPath(new URL('debootstrap-image.sh', recipesDir));
/** The builder of debs recipes, hashed into their tags as the debootstrap script is into rootfs tags. */
export const debsBuilderPath = fileURLToPath(new URL('./debs-image.ts', import.meta.url));
export const dindEntrypointPath = fileURLToPath(new URL('lab-dind-entrypoint.sh', recipesDir));

/** Everything a DinD engine, BuildKit or the registry needs at run time; the engines' own binaries come on top. */
export const ENGINE_BASE: ImageSpec = {
  id: 'engine-base',
  role: 'base',
  description: 'Debian trixie with what dockerd, containerd and BuildKit need at run time (iptables, git, xz, pigz, openssl, tini as docker-init)',
  official: [],
  recipe: {
    kind: 'rootfs',
    suite: 'trixie',
    // tini: dockerd's docker-init, which `run --init` and Buildx's docker-container driver (Init: true) need
    packages: ['iptables', 'ca-certificates', 'procps', 'iproute2', 'git', 'xz-utils', 'pigz', 'openssl', 'kmod', 'tini'],
    entrypoint: [],
    cmd: ['sh'],
    files: {},
  },
};

/**
 * The BuildKit images' base: git's core (git, git-remote-http(s) and the submodule script) and the shared
 * libraries they load, BuildKit needing the `git` binary for git contexts; busybox for git-submodule's shell and
 * sed; uidmap's newuidmap/newgidmap for the rootless variant; a CA bundle, passwd/group and /tmp. No Perl, apt,
 * dpkg, coreutils, iptables or openssl: a cell's builder needs none of them.
 */
export const BUILDKIT_BASE: ImageSpec = {
  id: 'buildkit-base',
  role: 'base',
  description: "Debian trixie's git core, busybox and uidmap with their shared libraries only, a CA bundle, passwd/group (no apt, dpkg, Perl)",
  official: [],
  recipe: {
    kind: 'debs',
    suite: 'trixie',
    packages: [
      ...['git', 'busybox-static', 'uidmap', 'ca-certificates', 'libc6', 'libgcc-s1', 'zlib1g', 'libexpat1', 'libpcre2-8-0'],
      // libcurl3t64-gnutls and its dependencies (apt-cache depends --recurse, Perl-free)
      ...['libcurl3t64-gnutls', 'libbrotli1', 'libcom-err2', 'libffi8', 'libgmp10', 'libgnutls30t64', 'libgssapi-krb5-2', 'libhogweed6t64'],
      ...['libidn2-0', 'libk5crypto3', 'libkeyutils1', 'libkrb5-3', 'libkrb5support0', 'libldap2', 'libnettle8t64', 'libnghttp2-14'],
      ...['libnghttp3-9', 'libngtcp2-16', 'libngtcp2-crypto-gnutls8', 'libp11-kit0', 'libpsl5t64', 'librtmp1', 'libsasl2-2', 'libssh2-1t64'],
      ...['libssl3t64', 'libtasn1-6', 'libunistring5', 'libzstd1'],
      // uidmap's
      ...['libaudit1', 'libbsd0', 'libmd0', 'libselinux1', 'libcap-ng0'],
    ],
    keep: [
      '/usr/bin/git',
      '/usr/lib/git-core/git-remote-http',
      '/usr/lib/git-core/git-remote-https',
      '/usr/lib/git-core/git-submodule',
      '/usr/lib/git-core/git-sh-setup',
      '/usr/lib/git-core/git-sh-i18n',
      '/usr/lib/git-core/git-sh-i18n--envsubst',
      '/usr/bin/busybox',
      '/usr/bin/newuidmap',
      '/usr/bin/newgidmap',
    ],
    links: {
      // Debian's static busybox is a standalone shell: the sed, basename, mkdir... that git-submodule and the
      // rootless recipe's script run are its own applets, no link needed
      '/usr/bin/sh': 'busybox',
      // builtins run by their dashed names (a local or file:// fetch, as a submodule's, runs git-upload-pack through sh)
      '/usr/lib/git-core/git-upload-pack': '../../bin/git',
      '/usr/lib/git-core/git-receive-pack': '../../bin/git',
    },
    text: {
      '/etc/passwd': 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n',
      '/etc/group': 'root:x:0:\nnogroup:x:65534:\n',
      '/etc/nsswitch.conf': 'passwd: files\ngroup: files\nhosts: files dns\n',
      // a templates directory, so `git init` (BuildKit's git source runs it) logs no "templates not found" into builds
      '/usr/share/git-core/templates/info/exclude': '',
    },
    entrypoint: [],
    cmd: ['sh'],
  },
};

/** A small Debian for cases' RUN steps (linux/amd64 only: no emulation here), offered as ${BASE_IMAGE}. */
export const CASE_BASE: ImageSpec = {
  id: 'case-base',
  role: 'case-base',
  description: 'Debian bookworm minbase, the base image cases may build FROM (as ${BASE_IMAGE})',
  official: [],
  recipe: { kind: 'rootfs', suite: 'bookworm', packages: [], entrypoint: [], cmd: ['sh'], files: {} },
};

/**
 * An HTTP/2 (gRPC-aware) reverse proxy in front of a remote builder: Debian trixie's nginx (its grpc and
 * http2 modules are built in), the binary and the libraries it loads only. Its configuration is the lab's,
 * written per cell (kit/grpc-proxy.ts) and mounted read-only; no package's config or maintainer script.
 */
export const GRPC_PROXY: ImageSpec = {
  id: 'grpc-proxy',
  role: 'proxy',
  description: "Debian trixie's nginx (grpc_pass over HTTP/2), the binary and its shared libraries only",
  official: [],
  recipe: {
    kind: 'debs',
    suite: 'trixie',
    packages: ['nginx', 'libc6', 'libcrypt1', 'libpcre2-8-0', 'libssl3t64', 'zlib1g', 'libzstd1', 'ca-certificates'],
    keep: ['/usr/sbin/nginx'],
    links: {},
    text: {
      '/etc/passwd': 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n',
      '/etc/group': 'root:x:0:\nnogroup:x:65534:\n',
      '/etc/nsswitch.conf': 'passwd: files\ngroup: files\nhosts: files dns\n',
      // the compiled-in prefix and temp paths must exist before nginx reads its configuration
      '/var/lib/nginx/.keep': '',
      '/var/log/nginx/.keep': '',
      '/usr/share/nginx/.keep': '',
    },
    entrypoint: ['/usr/sbin/nginx'],
    cmd: ['-g', 'daemon off;'],
  },
};

/** The Debian-packaged engines, kept as the engine axis' aliases debian-trixie and debian-sid. */
/** bookworm's docker.io (20.10) serves the tests of an engine too old for the lab; trixie and sid are engine aliases. */
export function debianDindSpec(suite: 'bookworm' | 'trixie' | 'sid', version: string): ImageSpec {
  return {
    id: `dind-debian-${suite}`,
    role: 'dind',
    description: `Docker ${version} from Debian ${suite}'s packages (docker.io, docker-cli, containerd, runc)`,
    official: [],
    recipe: {
      kind: 'rootfs',
      suite,
      // bookworm's docker.io still carries the client; later suites split it into docker-cli
      packages: [
        'docker.io',
        ...(suite === 'bookworm' ? [] : ['docker-cli']),
        'containerd',
        'runc',
        'iptables',
        'ca-certificates',
        'procps',
        'iproute2',
        'git',
        'xz-utils',
        'pigz',
      ],
      entrypoint: ['/usr/local/bin/lab-dind-entrypoint'],
      cmd: ['dockerd'],
      files: { '/usr/local/bin/lab-dind-entrypoint': dindEntrypointPath },
    },
  };
}

/** What an engine's built binaries look like to the catalog (engine/binaries.ts EngineBinaries). */
export interface BuiltEngine {
  version: string;
  binDir: string;
  seccomp: boolean;
  parts: { id: string; binaries: { name: string; sha256: string }[]; replacements: { module: string; from: string; to: string }[] }[];
}

/** A Docker engine built from source, laid on engine-base, its parts recorded in labels. */
export function sourceDindSpec(engine: BuiltEngine): ImageSpec {
  const { version } = engine;
  const files: Record<string, LayerFile> = { '/usr/local/bin/lab-dind-entrypoint': { source: dindEntrypointPath, mode: 0o755 } };
  for (const p of engine.parts) for (const b of p.binaries) files[`/usr/local/bin/${b.name}`] = { source: `${engine.binDir}/${b.name}`, sha256: b.sha256, mode: 0o755 };
  const labels = {
    'buildx-lab.engine.version': version,
    'buildx-lab.engine.parts': engine.parts
      .map((p) => `${p.id}${p.replacements.length ? ` (replaced ${p.replacements.map((r) => `${r.module}@${r.from}->${r.to}`).join(', ')})` : ''}`)
      .join('; '),
    'buildx-lab.engine.seccomp': String(engine.seccomp),
  };
  return {
    id: `dind-${version}`,
    role: 'dind',
    description: `Docker ${version} built from the Go module proxy (dockerd, containerd, runc, docker CLI) on engine-base`,
    official: [`docker:${version}-dind`],
    recipe: { kind: 'layer', base: ENGINE_BASE.id, files, entrypoint: ['/usr/local/bin/lab-dind-entrypoint'], cmd: ['dockerd'], labels },
  };
}

export const REGISTRY_CONFIG_PATH = '/etc/buildx-lab/registry.yml';
export const OFFICIAL_REGISTRY_CONFIG_PATH = '/etc/distribution/config.yml';

/** The CNCF distribution registry: Debian trixie's docker-registry binary on engine-base. */
export function registrySpec(binary: { path: string; sha256: string; debVersion: string }): ImageSpec {
  return {
    id: 'registry',
    role: 'registry',
    description: `CNCF distribution registry (Debian's docker-registry ${binary.debVersion})`,
    official: ['registry:3'],
    recipe: {
      kind: 'layer',
      base: ENGINE_BASE.id,
      files: { '/usr/bin/docker-registry': { source: binary.path, sha256: binary.sha256, mode: 0o755 } },
      entrypoint: ['/usr/bin/docker-registry'],
      cmd: ['serve', REGISTRY_CONFIG_PATH],
      labels: { 'buildx-lab.registry.version': binary.debVersion },
    },
    registry: { configPath: REGISTRY_CONFIG_PATH },
  };
}

/** BuildKit for the docker-container and remote drivers: buildkitd, buildctl and runc on buildkit-base. */
/** What a BuildKit image was built from: the Go module proxy, or (its text) a commit of a Git repository. */
export interface BuildkitOrigin {
  /** "git commit <sha> (tag v0.17.1) of /src/buildkit": no official image stands in for it */
  git?: string;
}

/** Image ids are lower case; a Git build's label may carry a tag's capitals. */
const buildkitId = (version: string) => `buildkit-${version.toLowerCase()}`;

export function buildkitSpec(
  version: string,
  binaries: Record<'buildkitd' | 'buildctl' | 'runc', { path: string; sha256: string }>,
  labels: Record<string, string>,
  origin: BuildkitOrigin = {},
): ImageSpec {
  const files: Record<string, LayerFile> = {};
  for (const [name, b] of Object.entries(binaries)) files[`/usr/bin/${name}`] = { source: b.path, sha256: b.sha256, mode: 0o755 };
  return {
    id: buildkitId(version),
    role: 'buildkit',
    description: `BuildKit ${version} (buildkitd, buildctl, runc) built from ${origin.git ?? 'the Go module proxy'}`,
    official: origin.git ? [] : [`moby/buildkit:${version}`],
    recipe: { kind: 'layer', base: BUILDKIT_BASE.id, files, entrypoint: ['buildkitd'], cmd: [], labels },
  };
}

/** The unprivileged user of a rootless BuildKit image, as in moby/buildkit:rootless. */
const ROOTLESS_UID = 1000;

/**
 * moby/buildkit:<v>-rootless, built here: the BuildKit image plus rootlesskit (Go module proxy) and Debian's
 * setuid newuidmap/newgidmap, buildkitd run by rootlesskit as uid 1000 in a user namespace of its own (the
 * subordinate ids of /etc/subuid), its state in that user's home, as upstream's Dockerfile lays it out.
 */
export function buildkitRootlessSpec(
  version: string,
  binaries: Record<'buildkitd' | 'buildctl' | 'runc' | 'rootlesskit' | 'newuidmap' | 'newgidmap', { path: string; sha256: string }>,
  labels: Record<string, string>,
  origin: BuildkitOrigin = {},
): ImageSpec {
  const files: Record<string, LayerFile> = {};
  for (const [name, b] of Object.entries(binaries)) files[`/usr/bin/${name}`] = { source: b.path, sha256: b.sha256, mode: name.startsWith('new') ? 0o4755 : 0o755 };
  const home = '/home/user';
  const run = [
    // busybox's sh and applets: buildkit-base has no useradd
    `echo 'user:x:${ROOTLESS_UID}:${ROOTLESS_UID}::${home}:/bin/sh' >> /etc/passwd`,
    `echo 'user:x:${ROOTLESS_UID}:' >> /etc/group`,
    `mkdir -p /run/user/${ROOTLESS_UID} ${home}/.local/tmp ${home}/.local/share/buildkit`,
    `chown -R ${ROOTLESS_UID}:${ROOTLESS_UID} /run/user/${ROOTLESS_UID} ${home}`,
    'echo user:100000:65536 > /etc/subuid',
    'echo user:100000:65536 > /etc/subgid',
    // docker cp gives the files its own modes; the setuid bit of newuidmap is what rootlesskit needs
    'chmod 4755 /usr/bin/newuidmap /usr/bin/newgidmap',
  ].join(' && ');
  return {
    id: `${buildkitId(version)}-rootless`,
    role: 'buildkit',
    description: `BuildKit ${version}, rootless (rootlesskit, buildkitd as uid ${ROOTLESS_UID}) built from ${origin.git ?? 'the Go module proxy'} and Debian's uidmap`,
    official: origin.git ? [] : [`moby/buildkit:${version}-rootless`],
    recipe: {
      kind: 'layer',
      base: BUILDKIT_BASE.id,
      files,
      entrypoint: ['rootlesskit', 'buildkitd'],
      cmd: [],
      labels,
      run,
      user: `${ROOTLESS_UID}:${ROOTLESS_UID}`,
      env: {
        HOME: home,
        USER: 'user',
        XDG_RUNTIME_DIR: `/run/user/${ROOTLESS_UID}`,
        TMPDIR: `${home}/.local/tmp`,
        BUILDKIT_HOST: `unix:///run/user/${ROOTLESS_UID}/buildkit/buildkitd.sock`,
      },
      volumes: [`${home}/.local/share/buildkit`],
    },
  };
}

export const BASE_IMAGES: Readonly<Record<string, ImageSpec>> = { [ENGINE_BASE.id]: ENGINE_BASE, [CASE_BASE.id]: CASE_BASE, [BUILDKIT_BASE.id]: BUILDKIT_BASE };

type ReadFile = (p: string) => Buffer;

/**
 * Tag of a local build: changes whenever the recipe, the build script, any added file or the base image's
 * own tag changes. `baseTag` resolves a layer recipe's base.
 */
export function recipeHash(
  spec: Pick<ImageSpec, 'id' | 'recipe'>,
  baseTag: (id: string) => string = (id) => localTag(BASE_IMAGES[id]!),
  readFile: ReadFile = readFileSync,
): string {
  const h = createHash('sha256');
  const r = spec.recipe;
  h.update(JSON.stringify({ id: spec.id, kind: r.kind, entrypoint: r.entrypoint, cmd: r.cmd }));
  if (r.kind === 'rootfs') {
    h.update(JSON.stringify({ suite: r.suite, packages: r.packages }));
    h.update(readFile(recipeScriptPath));
    for (const target of Object.keys(r.files).sort()) h.update(target).update(readFile(r.files[target]!));
  } else if (r.kind === 'debs') {
    h.update(JSON.stringify({ suite: r.suite, packages: r.packages, keep: r.keep, links: Object.entries(r.links).sort(), text: Object.entries(r.text).sort() }));
    h.update(readFile(debsBuilderPath));
  } else {
    h.update(baseTag(r.base));
    h.update(JSON.stringify(Object.entries(r.labels).sort()));
    // only when set, so the tags of the recipes that set none stay as they were
    if (r.run !== undefined || r.user !== undefined || r.env !== undefined || r.volumes !== undefined)
      h.update(JSON.stringify({ run: r.run, user: r.user, env: Object.entries(r.env ?? {}).sort(), volumes: r.volumes }));
    for (const target of Object.keys(r.files).sort()) {
      const f = r.files[target]!;
      h.update(`${target}:${f.mode ?? 0o644}:`).update(f.sha256 ?? createHash('sha256').update(readFile(f.source)).digest('hex'));
    }
  }
  return h.digest('hex').slice(0, 12);
}

export function localTag(spec: Pick<ImageSpec, 'id' | 'recipe'>, baseTag?: (id: string) => string, readFile?: ReadFile): string {
  return `buildx-lab/${spec.id}:${recipeHash(spec, baseTag, readFile)}`;
}
