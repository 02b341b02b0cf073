// The images of an offline bundle (`docker save` output) are input from elsewhere: `docker load` applies
// every name the archive carries, so an archive naming `node:22` or `alpine:latest` would replace those
// tags on the user's engine. Before any load, the archive is read once with tar-stream and written again
// as a plain tar of the same members; the names it carries (manifest.json RepoTags, index.json
// annotations, the legacy `repositories` file) are read on the way and must all be lab names. The engine
// then loads the rewritten copy, so what it parses is exactly what was checked: no tar parser of ours can
// read a member differently from the engine's (duplicate names, PAX overrides, links named like
// manifest.json, members written through links are refused or gone).
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import path from 'node:path';
import tar from 'tar-stream';
import { UsageError } from '../errors.ts';

/** The lab's own image names: `buildx-lab/<id>:<recipe hash>` (images/catalog.ts localTag). */
const LAB_NAME = /^(?:docker\.io\/)?buildx-lab\/[a-z0-9]+(?:[._-][a-z0-9]+)*:[0-9a-f]{12}$/;

export function isLabImageName(ref: string): boolean {
  return LAB_NAME.test(ref);
}

/** `docker.io/buildx-lab/x:h` and `buildx-lab/x:h` are one name. */
const familiar = (ref: string) => ref.replace(/^docker\.io\//, '');

/** The top-level files whose content names images; the engine reads each of them. */
const NAMING_FILES = ['manifest.json', 'index.json', 'repositories'] as const;
type NamingFile = (typeof NAMING_FILES)[number];
/** A naming file is a small JSON document; a larger one is refused rather than held in memory. */
const MAX_NAMING_FILE = 16 * 1024 * 1024;

/** A member name as the engine's extraction would place it, or why it is refused; pure. */
export function memberName(raw: string): string | { refused: string } {
  const name = path.posix.normalize(raw).replace(/\/+$/, '');
  if (raw.startsWith('/') || name === '..' || name.startsWith('../') || name === '.' || name === '') return { refused: `member "${raw.slice(0, 200)}" leaves the archive` };
  return name;
}

/**
 * Every image name the naming files give, or why they are refused; pure. Each image must be named, and
 * a bare OCI ref.name (a tag alone) is accepted only beside the full name it abbreviates, since an
 * engine may complete a bare one with a default repository.
 */
export function namesIn(files: Partial<Record<NamingFile, string>>): string[] | { refused: string } {
  const names: string[] = [];
  const json = (f: NamingFile): unknown => {
    try {
      return JSON.parse(files[f]!);
    } catch {
      throw new UsageError(`${f} is not JSON`);
    }
  };
  const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
  try {
    if (files['manifest.json'] !== undefined) {
      const m = json('manifest.json');
      if (!Array.isArray(m)) return { refused: 'manifest.json is not a list of images' };
      for (const [i, img] of m.entries()) {
        const tags = (img as { RepoTags?: unknown } | null)?.RepoTags;
        if (!strings(tags) || tags.length === 0) return { refused: `manifest.json image ${i} has no name (RepoTags)` };
        names.push(...tags);
      }
    }
    if (files['index.json'] !== undefined) {
      const idx = json('index.json') as { manifests?: unknown } | null;
      if (!Array.isArray(idx?.manifests)) return { refused: 'index.json has no manifests list' };
      for (const [i, d] of idx.manifests.entries()) {
        const a = ((d as { annotations?: unknown } | null)?.annotations ?? {}) as Record<string, unknown>;
        const full = a['io.containerd.image.name'];
        const ref = a['org.opencontainers.image.ref.name'];
        if (typeof full !== 'string') return { refused: `index.json manifest ${i} has no io.containerd.image.name` };
        names.push(full);
        if (ref !== undefined) {
          // docker save writes the tag alone here; anything else must be the full name itself
          if (typeof ref !== 'string' || (ref !== full && ref !== full.slice(full.lastIndexOf(':') + 1)))
            return { refused: `index.json manifest ${i} has org.opencontainers.image.ref.name ${JSON.stringify(String(ref).slice(0, 200))}, which is not its name ${full}` };
        }
      }
    }
    if (files.repositories !== undefined) {
      const repos = json('repositories');
      if (typeof repos !== 'object' || repos === null || Array.isArray(repos)) return { refused: 'repositories is not an object' };
      for (const [repo, tags] of Object.entries(repos)) {
        if (typeof tags !== 'object' || tags === null) return { refused: `repositories entry ${repo.slice(0, 200)} is not an object` };
        for (const tag of Object.keys(tags)) names.push(`${repo}:${tag}`);
      }
    }
  } catch (e) {
    if (e instanceof UsageError) return { refused: e.message };
    throw e;
  }
  if (files['manifest.json'] === undefined && files['index.json'] === undefined) return { refused: 'it has neither manifest.json nor index.json (not `docker save` output)' };
  return names;
}

/** Why a set of names may not be loaded, or undefined; pure. `declared` is what bundle.json says it holds. */
export function namesProblem(names: readonly string[], declared: readonly string[]): string | undefined {
  const allowed = new Set(declared.map(familiar));
  for (const n of names) {
    if (!isLabImageName(n)) return `it would put ${JSON.stringify(n.slice(0, 200))} on the engine, which is not a lab image name (buildx-lab/<id>:<hash>)`;
    if (!allowed.has(familiar(n))) return `it holds ${n}, which its bundle.json does not list`;
  }
  return undefined;
}

async function readAll(stream: AsyncIterable<unknown>, max: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const c = chunk as Buffer;
    size += c.length;
    if (size > max) throw new UsageError(`${what} is larger than ${max} bytes`);
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/**
 * Reads the image archive `src`, writes the same members as a plain tar to `dest`, and returns the names
 * it carries once they are all allowed; throws UsageError (the message names the member or the name)
 * otherwise. Only files, directories and symlinks that stay inside the archive pass.
 */
export async function checkImageArchive(src: string, dest: string, declared: readonly string[]): Promise<string[]> {
  const extract = tar.extract();
  const pack = tar.pack();
  const out = createWriteStream(dest);
  pack.pipe(out);
  const input = createReadStream(src);
  input.pipe(extract);
  const failed = new Promise<never>((_, reject) => {
    input.on('error', reject);
    out.on('error', reject);
  });
  failed.catch(() => undefined);
  const seen = new Set<string>();
  const links = new Set<string>();
  const naming: Partial<Record<NamingFile, string>> = {};
  try {
    for await (const entry of extract) {
      const h = entry.header;
      const name = memberName(h.name);
      if (typeof name !== 'string') throw new UsageError(name.refused);
      if (seen.has(name)) throw new UsageError(`member ${name} appears twice`);
      seen.add(name);
      const header = { name, mtime: h.mtime, mode: h.type === 'directory' ? 0o755 : 0o644 };
      if (h.type === 'file' || h.type === 'contiguous-file') {
        if ((NAMING_FILES as readonly string[]).includes(name)) {
          const body = await readAll(entry, MAX_NAMING_FILE, name);
          naming[name as NamingFile] = body.toString('utf8');
          pack.entry({ ...header, type: 'file', size: body.length }, body);
          continue;
        }
        // streamed, with backpressure: a layer is hundreds of MB
        await new Promise<void>((resolve, reject) => {
          const sink = pack.entry({ ...header, type: 'file', size: h.size }, (err) => (err ? reject(err) : resolve()));
          entry.pipe(sink);
        });
      } else if (h.type === 'directory' && !(NAMING_FILES as readonly string[]).includes(name)) {
        pack.entry({ ...header, type: 'directory' });
        entry.resume();
      } else if (h.type === 'symlink' && !(NAMING_FILES as readonly string[]).includes(name)) {
        // docker save links a legacy layer.tar to its blob: a relative target inside the archive
        const target = memberName(path.posix.join(path.posix.dirname(name), h.linkname));
        if (typeof target !== 'string' || path.posix.isAbsolute(h.linkname))
          throw new UsageError(`member ${name} links to ${h.linkname.slice(0, 200)}, which leaves the archive or is its root`);
        pack.entry({ ...header, type: 'symlink', linkname: h.linkname });
        links.add(name);
        entry.resume();
      } else {
        throw new UsageError(`member ${name} is a ${h.type}, not a regular file${(NAMING_FILES as readonly string[]).includes(name) ? '' : ', directory or symlink'}`);
      }
    }
  } catch (e) {
    input.destroy();
    pack.destroy();
    out.destroy();
    if (e instanceof UsageError) throw e;
    throw new UsageError(`it is not a readable tar (${(e as Error).message})`);
  }
  pack.finalize();
  await Promise.race([once(out, 'close'), failed]);
  // An extractor writes `l/x` through a symlink `l`, so a member under a link could land on another one
  // (manifest.json among them): docker save's links are files, and nothing is written through them.
  for (const name of seen) {
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      if (links.has(parent)) throw new UsageError(`member ${name} is written through the symlink ${parent}`);
    }
  }
  const names = namesIn(naming);
  if (!Array.isArray(names)) throw new UsageError(names.refused);
  const problem = namesProblem(names, declared);
  if (problem) throw new UsageError(problem);
  return [...new Set(names.map(familiar))];
}
