// What the OTLP front forwards to the collector (one path, one method, OTLP/HTTP bodies only) and the
// collector's configuration (one private listener, no retries or queue). The real collector and Buildx
// exporting to it: otlp-receiver.itg.test.ts.
import { describe, expect, it } from 'vitest';
import { MAX_EXPORT_BYTES, collectorConfig, collectorSourceHash } from './otlp-collector.ts';
import { frontRefusal } from './otlp-receiver.ts';

const PB = { 'content-type': 'application/x-protobuf' };

describe('frontRefusal', () => {
  it('forwards POST /v1/traces with OTLP protobuf or JSON, identity or gzip', () => {
    expect(frontRefusal('POST', '/v1/traces', PB)).toBeUndefined();
    expect(frontRefusal('POST', '/v1/traces', { 'content-type': 'application/json; charset=utf-8', 'content-encoding': 'gzip' })).toBeUndefined();
  });

  it.each([
    ['another path', 'POST', '/v1/metrics', PB, 404],
    ['a path that tries to leave', 'POST', '/v1/traces/../../admin', PB, 404],
    ['an absolute target', 'POST', 'http://127.0.0.1:8888/metrics', PB, 404],
    ['GET', 'GET', '/v1/traces', PB, 405],
    ['gRPC', 'POST', '/v1/traces', { 'content-type': 'application/grpc' }, 415],
    ['no content type', 'POST', '/v1/traces', {}, 415],
    ['zstd', 'POST', '/v1/traces', { ...PB, 'content-encoding': 'zstd' }, 415],
    ['a body over the limit', 'POST', '/v1/traces', { ...PB, 'content-length': String(MAX_EXPORT_BYTES + 1) }, 413],
  ])('refuses %s', (_, method, path, headers, status) => {
    expect(frontRefusal(method, path, headers)?.status).toBe(status);
  });

  it('says how to fix a gRPC exporter', () => {
    expect(frontRefusal('POST', '/v1/traces', { 'content-type': 'application/grpc' })?.why).toMatch(/OTEL_EXPORTER_OTLP_PROTOCOL=http\/protobuf/);
  });
});

describe('collectorConfig', () => {
  it('listens only on its unix socket and exports only to the sink, with the secret, without queue or retries', () => {
    const c = JSON.parse(collectorConfig('/run/x/otlp.sock', 'http://127.0.0.1:4000/v1/traces', 's3cret'));
    expect(Object.keys(c.receivers.otlp.protocols)).toEqual(['http']);
    expect(c.receivers.otlp.protocols.http).toMatchObject({ transport: 'unix', endpoint: '/run/x/otlp.sock', include_metadata: true, max_request_body_size: MAX_EXPORT_BYTES });
    expect(c.exporters.otlp_http).toMatchObject({
      traces_endpoint: 'http://127.0.0.1:4000/v1/traces',
      encoding: 'json',
      headers: { 'x-buildx-lab-sink': 's3cret' },
      sending_queue: { enabled: false },
      retry_on_failure: { enabled: false },
    });
    expect(c.service.telemetry.metrics).toEqual({ level: 'none' });
    expect(c.processors.resource.attributes).toEqual([{ key: 'buildx_lab.request', from_context: 'metadata.x-buildx-lab-request', action: 'upsert' }]);
  });

  it('hashes the distribution sources stably', () => {
    expect(collectorSourceHash()).toMatch(/^[0-9a-f]{64}$/);
    expect(collectorSourceHash()).toBe(collectorSourceHash());
  });
});
