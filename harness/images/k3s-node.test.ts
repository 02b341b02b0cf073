import { describe, expect, it } from 'vitest';
import { extract } from 'tar-stream';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { K3S, PAUSE_IMAGE, k3sNodeSpec, pauseArchive } from './k3s-node.ts';

async function entries(tar: Buffer): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const x = extract();
  x.on('entry', (h, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c) => chunks.push(c as Buffer));
    stream.on('end', () => {
      out.set(h.name, Buffer.concat(chunks));
      next();
    });
  });
  const done = new Promise<void>((res) => x.on('finish', () => res()));
  Readable.from(tar).pipe(x);
  await done;
  return out;
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

describe('the pause image archive', () => {
  it('is an OCI layout naming the image for containerd, every blob under its digest', async () => {
    const files = await entries(await pauseArchive(Buffer.from('\x7fELF pause')));
    expect(JSON.parse(files.get('oci-layout')!.toString())).toEqual({ imageLayoutVersion: '1.0.0' });
    const index = JSON.parse(files.get('index.json')!.toString());
    expect(index.manifests[0].annotations['io.containerd.image.name']).toBe(PAUSE_IMAGE);
    for (const [name, content] of files) if (name.startsWith('blobs/sha256/')) expect(sha(content)).toBe(name.slice('blobs/sha256/'.length));
    const manifest = JSON.parse(files.get(`blobs/sha256/${index.manifests[0].digest.slice(7)}`)!.toString());
    const config = JSON.parse(files.get(`blobs/sha256/${manifest.config.digest.slice(7)}`)!.toString());
    expect(config.config.Entrypoint).toEqual(['/pause']);
    const layer = await entries(files.get(`blobs/sha256/${manifest.layers[0].digest.slice(7)}`)!);
    expect(layer.get('pause')!.toString()).toBe('\x7fELF pause');
  });
  it('is the same bytes for the same program (its recipe hash stays put)', async () => {
    expect(sha(await pauseArchive(Buffer.from('p')))).toBe(sha(await pauseArchive(Buffer.from('p'))));
  });
});

describe('the k3s build', () => {
  it("follows k3s's own scripts/build: its tags and C flags, cgo against the libc, paths kept", () => {
    expect(K3S.tags).toEqual(['ctrd', 'netcgo', 'osusergo', 'providerless', 'urfave_cli_no_docs', 'sqlite_omit_load_extension', 'no_cri_dockerd']);
    expect(K3S.cgo).toEqual({ env: { CGO_CFLAGS: '-DSQLITE_ENABLE_DBSTAT_VTAB=1 -DSQLITE_USE_ALLOCA=1' }, dynamic: true });
    expect(K3S.trimpath).toBe(false);
    expect(K3S.ldflagsX?.['github.com/k3s-io/k3s/pkg/version.UpstreamGolang']).toBe('{{goVersion}}');
  });
  it('lays k3s, its shim, runc, the CNI plugins and the pause archive on engine-base', () => {
    const f = { path: '/c/f', sha256: 'a'.repeat(64) };
    const spec = k3sNodeSpec({ k3s: f, shim: f, runc: { ...f, version: 'v1.1.12' }, cni: { dir: '/c/cni', version: '1.1.1' }, pauseTar: f, goVersion: 'go1.26.8' });
    expect(spec.recipe.kind).toBe('layer');
    if (spec.recipe.kind !== 'layer') return;
    expect(spec.recipe.base).toBe('engine-base');
    expect(Object.keys(spec.recipe.files).sort()).toEqual(
      [
        '/etc/cni/net.d/10-lab.conflist',
        '/opt/buildx-lab/k3s/config-v3.toml.tmpl',
        '/opt/buildx-lab/k3s/pause.tar',
        '/opt/cni/bin/bridge',
        '/opt/cni/bin/host-local',
        '/opt/cni/bin/loopback',
        '/opt/cni/bin/portmap',
        '/usr/local/bin/containerd-shim-runc-v2',
        '/usr/local/bin/k3s',
        '/usr/local/bin/lab-k3s-entrypoint',
        '/usr/local/bin/runc',
      ].sort(),
    );
    expect(spec.recipe.files['/opt/cni/bin/bridge']!.source).toBe('/c/cni/usr/lib/cni/bridge');
    expect(spec.recipe.env).toEqual({ K3S_PAUSE_IMAGE: PAUSE_IMAGE });
  });
});
