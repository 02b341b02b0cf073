// Spans as the lab keeps them: OTLP/JSON (what the collector exports to the lab's sink) flattened into one
// plain record per span, attributes as text, bounded. Pure: the checks (kit/checks.ts) and the evidence
// read these records, never the collector's JSON.
import { REQUEST_ATTRIBUTE } from './otlp-collector.ts';

export interface SpanRecord {
  /** journal seq of the export request that carried it (the collector's buildx_lab.request) */
  request: number;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** internal | server | client | producer | consumer | unspecified */
  kind: string;
  /** the resource's service.name (docker-buildx, buildkitd, ...) */
  service?: string;
  attributes: Record<string, string>;
  resource: Record<string, string>;
  status: 'unset' | 'ok' | 'error';
  statusMessage?: string;
  /** names of the span's events (an error recorded, an exception) */
  events: string[];
}

export const SPAN_LIMITS = {
  /** spans kept from one export request; the rest are counted as dropped */
  perRequest: 5000,
  /** attributes kept per span (and per resource) */
  attributes: 128,
  /** characters kept of an attribute's value, a name or a message */
  text: 4096,
} as const;

const KINDS = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];
const STATUS = ['unset', 'ok', 'error'] as const;

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const clipText = (s: string) => (s.length > SPAN_LIMITS.text ? `${s.slice(0, SPAN_LIMITS.text)}…(${s.length} chars)` : s);

/** An OTLP AnyValue as text: a string as it is, numbers and booleans as JSON, arrays and maps as JSON of their texts. */
export function anyValueText(v: unknown, depth = 0): string {
  const o = obj(v);
  if (typeof o.stringValue === 'string') return o.stringValue;
  if (o.intValue !== undefined) return String(o.intValue);
  if (o.doubleValue !== undefined) return String(o.doubleValue);
  if (o.boolValue !== undefined) return String(o.boolValue);
  if (typeof o.bytesValue === 'string') return o.bytesValue;
  if (depth > 4) return '…';
  if (o.arrayValue !== undefined) return JSON.stringify(arr(obj(o.arrayValue).values).map((x) => anyValueText(x, depth + 1)));
  if (o.kvlistValue !== undefined)
    return JSON.stringify(Object.fromEntries(arr(obj(o.kvlistValue).values).map((kv) => [String(obj(kv).key), anyValueText(obj(kv).value, depth + 1)])));
  return '';
}

function attributes(list: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of arr(list).slice(0, SPAN_LIMITS.attributes)) {
    const key = obj(kv).key;
    if (typeof key === 'string' && key.length <= 256) out[key] = clipText(anyValueText(obj(kv).value));
  }
  return out;
}

const hex = (v: unknown) => (typeof v === 'string' && /^[0-9a-fA-F]{1,64}$/.test(v) ? v.toLowerCase() : '');

/**
 * The spans of one OTLP/JSON ExportTraceServiceRequest, each with the seq its resource names (the
 * collector's buildx_lab.request); spans past SPAN_LIMITS.perRequest, and those of a resource that names
 * more than one request, are counted, not kept. Pure.
 */
export function flattenExport(doc: unknown): { spans: SpanRecord[]; dropped: number } {
  const spans: SpanRecord[] = [];
  let dropped = 0;
  for (const rs of arr(obj(doc).resourceSpans)) {
    const list = obj(obj(rs).resource).attributes;
    // The collector's upsert rewrites only the first occurrence of the key and leaves a duplicate as the
    // exporter sent it, so a resource naming two requests could move its spans to another cell: its spans
    // are dropped (counted, so the export's other spans read as incomplete), never attributed.
    if (arr(list).filter((kv) => obj(kv).key === REQUEST_ATTRIBUTE).length > 1) {
      for (const ss of arr(obj(rs).scopeSpans)) dropped += arr(obj(ss).spans).length;
      continue;
    }
    const resource = attributes(list);
    const request = Number(resource[REQUEST_ATTRIBUTE]);
    delete resource[REQUEST_ATTRIBUTE];
    for (const ss of arr(obj(rs).scopeSpans)) {
      for (const s of arr(obj(ss).spans)) {
        if (spans.length >= SPAN_LIMITS.perRequest) {
          dropped++;
          continue;
        }
        const span = obj(s);
        const status = obj(span.status);
        const code = typeof status.code === 'number' ? status.code : 0;
        spans.push({
          request: Number.isSafeInteger(request) ? request : 0,
          traceId: hex(span.traceId),
          spanId: hex(span.spanId),
          ...(hex(span.parentSpanId) ? { parentSpanId: hex(span.parentSpanId) } : {}),
          name: clipText(typeof span.name === 'string' ? span.name : ''),
          kind: KINDS[typeof span.kind === 'number' ? span.kind : 0] ?? 'unspecified',
          ...(resource['service.name'] !== undefined ? { service: resource['service.name'] } : {}),
          attributes: attributes(span.attributes),
          resource,
          status: STATUS[code] ?? 'unset',
          ...(typeof status.message === 'string' && status.message ? { statusMessage: clipText(status.message) } : {}),
          events: arr(span.events)
            .slice(0, SPAN_LIMITS.attributes)
            .map((e) => clipText(String(obj(e).name ?? ''))),
        });
      }
    }
  }
  return { spans, dropped };
}

/** One line for a cell's facts: how many spans, from which services. Pure. */
export function describeSpans(spans: readonly SpanRecord[], requests: number): string {
  const by = new Map<string, number>();
  for (const s of spans) by.set(s.service ?? '(no service.name)', (by.get(s.service ?? '(no service.name)') ?? 0) + 1);
  const services = [...by].map(([k, n]) => `${k} ${n}`).join(', ');
  return `traces: ${spans.length} span(s) in ${requests} export request(s) to the lab's OTLP receiver${services ? ` (${services})` : ''}`;
}
