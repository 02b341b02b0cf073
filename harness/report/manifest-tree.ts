// What landed in the registry, drawn as a tree: index -> manifests -> their platforms and attestations,
// each child the index names marked as read back or missing (the registry did not have it). Built from
// the manifests a cell's verifier read (evidence.manifests, by digest or reference); the bodies are the
// registry's, so they are read defensively and shown only through the `html` tag. Pure.
import { html, type SafeHtml } from './markup.ts';

const MAX_NODES = 500;

interface Descriptor {
  digest: string;
  mediaType?: string;
  size?: number;
  platform?: { os?: unknown; architecture?: unknown; variant?: unknown };
  annotations?: Record<string, unknown>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function descriptorsOf(body: unknown): Descriptor[] | undefined {
  if (!isObject(body) || !Array.isArray(body.manifests)) return undefined;
  return body.manifests.filter((d): d is Descriptor => isObject(d) && typeof d.digest === 'string');
}

const ATTESTATION = 'vnd.docker.reference.type';
const ATTESTED = 'vnd.docker.reference.digest';

/** What a descriptor stands for: a platform, or the attestation of one. */
function describe(d: Descriptor, platformOf: Map<string, string>): { label: string; attestation: boolean } {
  if (str(d.annotations?.[ATTESTATION]) === 'attestation-manifest') {
    const of = str(d.annotations?.[ATTESTED]);
    return { label: `attestation${of ? ` for ${platformOf.get(of) ?? short(of)}` : ''}`, attestation: true };
  }
  const p = d.platform;
  const label = p ? [str(p.os), str(p.architecture), str(p.variant)].filter(Boolean).join('/') : '';
  return { label: label || 'no platform', attestation: false };
}

const short = (digest: string) => digest.replace(/^(sha256:[0-9a-f]{12})[0-9a-f]{52}$/, '$1…');

/** One image manifest's contents in a line: its media type, config and layers. */
function manifestLine(body: unknown): string {
  if (!isObject(body)) return 'not a JSON object';
  const layers = Array.isArray(body.layers) ? body.layers.length : undefined;
  const media = str(body.mediaType) ?? (isObject(body.config) ? str(body.config.mediaType) : undefined) ?? 'no media type';
  const artifact = str(body.artifactType);
  return [media, artifact && `artifact ${artifact}`, layers !== undefined && `${layers} layer(s)`].filter(Boolean).join(', ');
}

/** The tree of everything read back; empty markup when nothing was. */
export function manifestTree(manifests: Readonly<Record<string, unknown>>): SafeHtml {
  const keys = Object.keys(manifests);
  if (!keys.length) return html``;
  const referenced = new Set<string>();
  for (const k of keys) for (const d of descriptorsOf(manifests[k]) ?? []) referenced.add(d.digest);
  // roots: what no index read back names (the tag's own manifest, or one read by reference)
  const unnamed = keys.filter((k) => !referenced.has(k));
  // an index that names itself (a hostile registry) has no root: start from the first read
  const roots = unnamed.length ? unnamed : keys.slice(0, 1);
  let nodes = 0;
  let missing = 0;
  const node = (key: string, body: unknown, depth: number): SafeHtml => {
    nodes++;
    const children = descriptorsOf(body);
    if (!children) return html`<span class="node manifest">manifest <code>${short(key)}</code> <span class="detail">${manifestLine(body)}</span></span>`;
    const platformOf = new Map(children.map((d) => [d.digest, describe(d, new Map()).label]));
    const items = children.map((d) => {
      if (nodes >= MAX_NODES) return html``;
      const what = describe(d, platformOf);
      const landed = Object.hasOwn(manifests, d.digest);
      if (!landed) missing++;
      const cls = `${what.attestation ? 'attestation' : 'platform'} ${landed ? 'landed' : 'missing'}`;
      const inner = landed
        ? depth < 4 && descriptorsOf(manifests[d.digest])
          ? node(d.digest, manifests[d.digest], depth + 1)
          : html`<span class="detail">${manifestLine(manifests[d.digest])}</span>`
        : html`<span class="missing-mark">missing: the registry did not return it</span>`;
      nodes++;
      return html`<li class="${cls}" data-digest="${d.digest}"><span class="node">${what.label}</span> <code>${short(d.digest)}</code> ${inner}</li>`;
    });
    const annotations = isObject(body) && isObject(body.annotations) ? Object.keys(body.annotations).length : 0;
    return html`<span class="node index">index <code>${short(key)}</code> <span class="detail">${str((body as Record<string, unknown>).mediaType) ?? 'no media type'}, ${children.length} manifest(s)${annotations ? `, ${annotations} annotation(s)` : ''}</span></span><ul>${items}</ul>`;
  };
  const trees = roots.map((k) => html`<li class="root">${node(k, manifests[k], 0)}</li>`);
  return html`<figure class="manifest-tree"><figcaption>What landed: ${roots.length} root(s), ${missing} missing</figcaption><ul class="tree">${trees}</ul></figure>`;
}
