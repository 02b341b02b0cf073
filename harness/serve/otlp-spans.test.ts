// OTLP/JSON as the collector exports it, flattened into the records checks read: every value type,
// the request seq the collector set, and the bounds on what a hostile exporter can make the lab keep.
import { describe, expect, it } from 'vitest';
import { REQUEST_ATTRIBUTE } from './otlp-collector.ts';
import { SPAN_LIMITS, anyValueText, describeSpans, flattenExport } from './otlp-spans.ts';

const kv = (key: string, value: unknown) => ({ key, value });

/** One export as the collector's otlp_http exporter writes it (encoding: json). */
function exportOf(spans: unknown[], resource: unknown[] = [kv('service.name', { stringValue: 'buildx' }), kv(REQUEST_ATTRIBUTE, { stringValue: '42' })]) {
  return { resourceSpans: [{ resource: { attributes: resource }, scopeSpans: [{ scope: {}, spans }] }] };
}

describe('flattenExport', () => {
  it('keeps name, ids, kind, status, events, attributes as text, and the request seq', () => {
    const { spans, dropped } = flattenExport(
      exportOf([
        {
          traceId: '5B8EFFF798038103D269B633813FC60C',
          spanId: 'eee19b7ec3c1b174',
          parentSpanId: 'aaaa',
          name: 'build',
          kind: 3,
          attributes: [
            kv('command', { stringValue: 'docker-buildx buildx build --cache-to type=gha,token=t .' }),
            kv('n', { intValue: '7' }),
            kv('ok', { boolValue: true }),
            kv('files', { arrayValue: { values: [{ stringValue: 'a' }, { intValue: 2 }] } }),
            kv('map', { kvlistValue: { values: [kv('k', { stringValue: 'v' })] } }),
          ],
          status: { code: 2, message: 'failed to solve' },
          events: [{ name: 'exception' }],
        },
      ]),
    );
    expect(dropped).toBe(0);
    expect(spans).toEqual([
      {
        request: 42,
        traceId: '5b8efff798038103d269b633813fc60c',
        spanId: 'eee19b7ec3c1b174',
        parentSpanId: 'aaaa',
        name: 'build',
        kind: 'client',
        service: 'buildx',
        attributes: { command: 'docker-buildx buildx build --cache-to type=gha,token=t .', n: '7', ok: 'true', files: '["a","2"]', map: '{"k":"v"}' },
        resource: { 'service.name': 'buildx' },
        status: 'error',
        statusMessage: 'failed to solve',
        events: ['exception'],
      },
    ]);
  });

  it('reads anything else as nothing, without throwing', () => {
    for (const doc of [null, 3, 'x', [], { resourceSpans: 'no' }, { resourceSpans: [null, { scopeSpans: [{ spans: [null, 5] }] }] }]) {
      expect(() => flattenExport(doc)).not.toThrow();
    }
    const { spans } = flattenExport({ resourceSpans: [{ scopeSpans: [{ spans: [{ name: 7, traceId: '../x', kind: 99, status: { code: 9 } }] }] }] });
    expect(spans[0]).toMatchObject({ request: 0, name: '', traceId: '', kind: 'unspecified', status: 'unset' });
  });

  it('attributes no span of a resource that names the request twice (upsert rewrote only the first)', () => {
    const forged = exportOf(
      [{ name: 'forged' }, { name: 'forged too' }],
      [kv(REQUEST_ATTRIBUTE, { stringValue: '41' }), kv('service.name', { stringValue: 'x' }), kv(REQUEST_ATTRIBUTE, { stringValue: '7' })],
    );
    const honest = exportOf([{ name: 'kept' }], [kv(REQUEST_ATTRIBUTE, { stringValue: '41' })]).resourceSpans;
    const r = flattenExport({ resourceSpans: [...forged.resourceSpans, ...honest] });
    expect(r.spans.map((s) => [s.request, s.name])).toEqual([[41, 'kept']]);
    expect(r.dropped).toBe(2);
  });

  it('bounds spans per request, attributes per span, and text per value', () => {
    const many = Array.from({ length: SPAN_LIMITS.perRequest + 3 }, (_, i) => ({ name: `s${i}` }));
    const r = flattenExport(exportOf(many));
    expect(r.spans).toHaveLength(SPAN_LIMITS.perRequest);
    expect(r.dropped).toBe(3);
    const attrs = Array.from({ length: SPAN_LIMITS.attributes + 10 }, (_, i) => kv(`k${i}`, { stringValue: 'v' }));
    const big = flattenExport(exportOf([{ name: 'x'.repeat(10_000), attributes: [...attrs] }])).spans[0]!;
    expect(Object.keys(big.attributes)).toHaveLength(SPAN_LIMITS.attributes);
    expect(big.name).toMatch(/^x{4096}…\(10000 chars\)$/);
  });

  it('stops at a nesting depth (a hostile kvlist cannot recurse without end)', () => {
    let v: unknown = { stringValue: 'deep' };
    for (let i = 0; i < 50; i++) v = { arrayValue: { values: [v] } };
    expect(anyValueText(v)).toContain('…');
  });
});

describe('describeSpans', () => {
  it('counts spans per service', () => {
    const { spans } = flattenExport(exportOf([{ name: 'a' }, { name: 'b' }]));
    expect(describeSpans(spans, 1)).toBe("traces: 2 span(s) in 1 export request(s) to the lab's OTLP receiver (buildx 2)");
    expect(describeSpans([], 0)).toBe("traces: 0 span(s) in 0 export request(s) to the lab's OTLP receiver");
  });
});
