// The image archive check rewrites what it read: the engine must get the same members, bytes and links
// (real tar on both sides), and only names the lab owns.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkImageArchive, isLabImageName, memberName, namesIn } from './image-archive.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tmp = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'image-archive-'));
  dirs.push(d);
  return d;
};
const LAB = 'buildx-lab/engine-base:0123456789ab';

describe('checkImageArchive', () => {
  it('writes the same members, bytes and links, and returns the names', async () => {
    const src = tmp();
    mkdirSync(path.join(src, 'blobs/sha256'), { recursive: true });
    mkdirSync(path.join(src, 'l'));
    writeFileSync(path.join(src, 'manifest.json'), JSON.stringify([{ Config: 'blobs/sha256/c', RepoTags: [LAB], Layers: ['l/layer.tar'] }]));
    writeFileSync(path.join(src, 'blobs/sha256/c'), Buffer.alloc(300_000, 7));
    symlinkSync('../blobs/sha256/c', path.join(src, 'l/layer.tar'));
    const out = tmp();
    execFileSync('tar', ['-C', src, '-cf', path.join(out, 'in.tar'), 'manifest.json', 'blobs', 'l']);
    expect(await checkImageArchive(path.join(out, 'in.tar'), path.join(out, 'out.tar'), [`docker.io/${LAB}`])).toEqual([LAB]);
    const back = tmp();
    execFileSync('tar', ['-C', back, '-xf', path.join(out, 'out.tar')]);
    expect(readFileSync(path.join(back, 'manifest.json'), 'utf8')).toBe(readFileSync(path.join(src, 'manifest.json'), 'utf8'));
    expect(readFileSync(path.join(back, 'l/layer.tar')).equals(Buffer.alloc(300_000, 7))).toBe(true);
    expect(execFileSync('readlink', [path.join(back, 'l/layer.tar')], { encoding: 'utf8' }).trim()).toBe('../blobs/sha256/c');
  });

  it('refuses a file that is not a tar', async () => {
    const out = tmp();
    writeFileSync(path.join(out, 'in.tar'), 'not a tar'.repeat(100));
    await expect(checkImageArchive(path.join(out, 'in.tar'), path.join(out, 'out.tar'), [LAB])).rejects.toThrow(/not a readable tar|neither manifest.json/);
  });
});

describe('names', () => {
  it.each([
    [LAB, true],
    [`docker.io/${LAB}`, true],
    ['alpine:latest', false],
    ['buildx-lab/x:latest', false],
    ['evil.io/buildx-lab/x:0123456789ab', false],
    ['buildx-lab/x:0123456789ab@sha256:00', false],
  ])('isLabImageName(%s) is %s', (ref, want) => {
    expect(isLabImageName(ref)).toBe(want);
  });
  it('needs the full name beside a bare OCI ref.name', () => {
    const idx = JSON.stringify({ manifests: [{ annotations: { 'org.opencontainers.image.ref.name': '0123456789ab' } }] });
    expect(namesIn({ 'index.json': idx })).toEqual({ refused: 'index.json manifest 0 has no io.containerd.image.name' });
  });
  it.each([
    ['./manifest.json', 'manifest.json'],
    ['a//b/', 'a/b'],
    ['a/../manifest.json', 'manifest.json'],
  ])('reads member %s as %s', (raw, want) => {
    expect(memberName(raw)).toBe(want);
  });
  it.each(['/etc/passwd', '../x', 'a/../../x', '.', ''])('refuses member %j', (raw) => {
    expect(memberName(raw)).toMatchObject({ refused: expect.stringContaining('leaves the archive') });
  });
});
