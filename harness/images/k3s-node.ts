// The lab's Kubernetes node: k3s built from the Go module proxy (its one pseudo-version there, built from
// the module's source as k3s's own scripts/build does: its tags, C flags, the manifests it embeds, no
// -trimpath, cgo linked against the libc), containerd's shim of the same build, the lab's static runc,
// Debian's CNI plugins (unpacked, not installed) and a pause image of the lab's own, laid on engine-base as
// one image tagged by its recipe. The cluster that runs it lives in lab/kube-cluster.ts.
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import tar from 'tar-stream';
import type { LabConfig } from '../config.ts';
import { EngineBuilder, engineParts } from '../engine/binaries.ts';
import { hostDefaultRelease } from '../engine/spec.ts';
import { ProvisionError } from '../errors.ts';
import type { ProgressSink } from '../progress.ts';
import { ensureUnpackedDeb } from '../provision/debian.ts';
import { ensureGoTool, type GoTool, type GoToolOptions } from '../provision/go-tool.ts';
import { ENGINE_BASE, type ImageSpec, type LayerFile } from './catalog.ts';
import { ensureImage, type ResolvedImage } from './images.ts';

const recipeDir = fileURLToPath(new URL('./recipes/k3s/', import.meta.url));

/** The only k3s the Go module proxy serves (no release tag of k3s is a valid module version). */
export const K3S_VERSION = 'v1.35.1-0.20260211145931-c5b158798933';
const K3S_COMMIT = 'c5b158798933';
const K3S_LABEL = 'v1.35.1+k3s-lab';
const K3S_DATE = '2026-02-11T14:59:31Z';

/** The pause image's name inside the node's containerd (the node's own store: no other image takes it). */
export const PAUSE_IMAGE = 'docker.io/buildx-lab/k3s-pause:lab';

const versionX = (pkg: string) => ({
  [`${pkg}.gitVersion`]: K3S_LABEL,
  [`${pkg}.gitCommit`]: K3S_COMMIT,
  [`${pkg}.gitTreeState`]: 'clean',
  [`${pkg}.buildDate`]: K3S_DATE,
});

/**
 * k3s as scripts/build of k3s builds it for a non-static Linux binary (TAGS and CGO_CFLAGS as there; no
 * apparmor/seccomp tags: they need libseccomp). Keeping its paths (no -trimpath, as upstream) and one build
 * directory (go-tool.ts) lets a rebuild reuse the Go build cache: 72 s warm against about an hour cold here.
 */
export const K3S: GoTool = {
  name: 'k3s',
  module: 'github.com/k3s-io/k3s',
  version: K3S_VERSION,
  pkg: './cmd/server',
  // the shim of k3s's own containerd (k3s-io/containerd v2.1): a shim of another containerd speaks another protocol
  also: [{ name: 'containerd-shim-runc-v2', pkg: 'github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2' }],
  label: 'k3s (the Kubernetes node)',
  tags: ['ctrd', 'netcgo', 'osusergo', 'providerless', 'urfave_cli_no_docs', 'sqlite_omit_load_extension', 'no_cri_dockerd'],
  ldflagsX: {
    'github.com/k3s-io/k3s/pkg/version.Version': K3S_LABEL,
    'github.com/k3s-io/k3s/pkg/version.GitCommit': K3S_COMMIT.slice(0, 8),
    // the server refuses to start without it ("kubernetes golang build version not set")
    'github.com/k3s-io/k3s/pkg/version.UpstreamGolang': '{{goVersion}}',
    ...versionX('k8s.io/client-go/pkg/version'),
    ...versionX('k8s.io/component-base/version'),
  },
  cgo: { env: { CGO_CFLAGS: '-DSQLITE_ENABLE_DBSTAT_VTAB=1 -DSQLITE_USE_ALLOCA=1' }, dynamic: true },
  trimpath: false,
  // scripts/download puts manifests/ into pkg/deploy/embed: the RBAC k3s's controllers and its cloud
  // controller need (without it the node keeps its "uninitialized" taint and no pod is scheduled)
  prepare: (src) => {
    const manifests = path.join(src, 'manifests');
    if (!existsSync(manifests)) throw new ProvisionError(`k3s ${K3S_VERSION}: its module has no manifests/ to embed`);
    cpSync(manifests, path.join(src, 'pkg/deploy/embed'), { recursive: true });
  },
};

/** The pause program (recipes/k3s/pause), as a Go tool built from its shipped tree. */
export function pauseTool(): GoTool {
  const dir = path.join(recipeDir, 'pause');
  const h = createHash('sha256');
  for (const name of readdirSync(dir).sort())
    h.update(`${name}\0`)
      .update(readFileSync(path.join(dir, name)))
      .update('\0');
  const hash = h.digest('hex');
  return {
    name: 'k3s-pause',
    module: 'buildx-lab/k3s-pause',
    version: `v1.0.0-${hash.slice(0, 12)}`,
    pkg: '.',
    label: "the node's pause program",
    tags: [],
    tree: { revision: hash, fill: async (into) => cpSync(dir, into, { recursive: true }) },
  };
}

/**
 * An OCI image archive (oci-layout, index.json, blobs) of one uncompressed layer holding `/pause`, named
 * `name`: what k3s imports from its airgap images directory. Deterministic for the same program. Pure.
 */
export async function pauseArchive(program: Buffer, name: string = PAUSE_IMAGE): Promise<Buffer> {
  const layer = await tarOf([{ name: 'pause', content: program, mode: 0o755 }]);
  const digest = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  const config = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    config: { Entrypoint: ['/pause'] },
    rootfs: { type: 'layers', diff_ids: [digest(layer)] },
  });
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digest(config), size: Buffer.byteLength(config) },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digest(layer), size: layer.length }],
  });
  const index = JSON.stringify({
    schemaVersion: 2,
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: digest(manifest),
        size: Buffer.byteLength(manifest),
        annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': name.split(':').at(-1) },
      },
    ],
  });
  const blob = (b: Buffer | string) => ({ name: `blobs/sha256/${digest(b).slice(7)}`, content: Buffer.from(b) });
  return tarOf([
    { name: 'oci-layout', content: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
    { name: 'index.json', content: Buffer.from(index) },
    blob(manifest),
    blob(config),
    blob(layer),
  ]);
}

async function tarOf(files: readonly { name: string; content: Buffer; mode?: number }[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c) => chunks.push(c as Buffer));
  const ended = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const f of files) pack.entry({ name: f.name, mode: f.mode ?? 0o644, mtime: new Date(0), uid: 0, gid: 0 }, f.content);
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}

/** Where the node image keeps what its entrypoint puts in place at start (the k3s state is a tmpfs). */
const NODE_FILES = '/opt/buildx-lab/k3s';
/** Debian's containernetworking-plugins: the few the node's bridge config uses, where containerd looks. */
const CNI_PLUGINS = ['bridge', 'host-local', 'loopback', 'portmap'];

export interface NodeParts {
  k3s: { path: string; sha256: string };
  shim: { path: string; sha256: string };
  runc: { path: string; sha256: string; version: string };
  cni: { dir: string; version: string };
  pauseTar: { path: string; sha256: string };
  goVersion: string;
}

/** The node image's recipe over its parts; pure. */
export function k3sNodeSpec(parts: NodeParts): ImageSpec {
  const bin = (p: { path: string; sha256: string }): LayerFile => ({ source: p.path, sha256: p.sha256, mode: 0o755 });
  const recipe = (name: string, mode = 0o644): LayerFile => ({ source: path.join(recipeDir, name), mode });
  const files: Record<string, LayerFile> = {
    '/usr/local/bin/k3s': bin(parts.k3s),
    '/usr/local/bin/containerd-shim-runc-v2': bin(parts.shim),
    '/usr/local/bin/runc': bin(parts.runc),
    '/usr/local/bin/lab-k3s-entrypoint': recipe('entrypoint.sh', 0o755),
    '/etc/cni/net.d/10-lab.conflist': recipe('10-lab.conflist'),
    [`${NODE_FILES}/config-v3.toml.tmpl`]: recipe('config-v3.toml.tmpl'),
    [`${NODE_FILES}/pause.tar`]: { source: parts.pauseTar.path, sha256: parts.pauseTar.sha256 },
  };
  for (const p of CNI_PLUGINS) files[`/opt/cni/bin/${p}`] = { source: path.join(parts.cni.dir, 'usr/lib/cni', p), mode: 0o755 };
  return {
    id: 'k3s-node',
    role: 'k8s-node',
    description: `k3s ${K3S_LABEL} (${K3S_VERSION}) built from the Go module proxy, runc ${parts.runc.version}, Debian's CNI plugins ${parts.cni.version}, on engine-base`,
    official: [],
    recipe: {
      kind: 'layer',
      base: ENGINE_BASE.id,
      files,
      entrypoint: ['/usr/local/bin/lab-k3s-entrypoint'],
      cmd: [],
      // k3s is containerd, kubectl, crictl and ctr by the name it is run as (docker exec kubectl works too)
      run: 'for b in containerd kubectl crictl ctr; do ln -sf k3s /usr/local/bin/$b; done',
      env: { K3S_PAUSE_IMAGE: PAUSE_IMAGE },
      labels: {
        'buildx-lab.k3s.version': K3S_VERSION,
        'buildx-lab.runc.version': parts.runc.version,
        'buildx-lab.cni.version': parts.cni.version,
        'buildx-lab.go.version': parts.goVersion,
      },
    },
  };
}

export interface K3sNodeImage extends ResolvedImage {
  /** what the node's evidence line says it is */
  describe: string;
}

/** The node image: its parts built or taken from the cache (k3s is the long one), then the layer. */
export async function ensureK3sNodeImage(config: LabConfig, progress: ProgressSink, opts: GoToolOptions = {}): Promise<K3sNodeImage> {
  const k3s = await ensureGoTool(config, K3S, progress, opts);
  const pause = await ensureGoTool(config, pauseTool(), progress, opts);
  const release = hostDefaultRelease();
  const runcPart = engineParts(release).find((p) => p.kind === 'runc')!;
  const builder = new EngineBuilder(config, progress);
  const runc = await builder.ensurePart(release, runcPart, opts);
  const cni = await ensureUnpackedDeb(config, { name: 'containernetworking-plugins', suite: 'trixie', ready: 'usr/lib/cni/bridge' }, progress, opts.signal);
  const pauseTar = path.join(path.dirname(pause.path), 'pause-image.tar');
  if (!existsSync(pauseTar)) {
    // deterministic: two runs writing it at once write the same bytes
    writeFileSync(`${pauseTar}.${process.pid}`, await pauseArchive(readFileSync(pause.path)));
    renameSync(`${pauseTar}.${process.pid}`, pauseTar);
  }
  const shimPath = path.join(path.dirname(k3s.path), 'containerd-shim-runc-v2');
  const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
  const spec = k3sNodeSpec({
    k3s,
    shim: { path: shimPath, sha256: sha(shimPath) },
    runc: { path: path.join(builder.partDir(runcPart), 'runc'), sha256: runc.binaries[0]!.sha256, version: runc.version },
    cni,
    pauseTar: { path: pauseTar, sha256: sha(pauseTar) },
    goVersion: k3s.goVersion ?? 'unknown',
  });
  const img = await ensureImage(config, spec, progress, { signal: opts.signal });
  return { ...img, describe: `k3s ${K3S_LABEL} (${K3S_VERSION}, built from the Go module proxy with ${k3s.goVersion ?? 'Go'}), node image ${img.ref}` };
}
