// `traces:` and the `spans` check in case.yaml: what loads, what is refused (line and field), and the pure
// rules around them (the variables the lab sets, when a cell without spans cannot answer).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../errors.ts';
import { parseCase } from './case.ts';
import { needsSpans, tracesDriverOpts, tracesEnv, tracesSpec } from './traces.ts';

const root = mkdtempSync(path.join(tmpdir(), 'traces-case-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const HEAD = 'title: t\nversions: ["0.21.2"]\n';
const STEP = 'steps: [{id: build, buildx: [build, .]}]\n';
const SPANS = 'symptom: {spans: {name: "^build", attributes: {command: "token="}, count: ">=1"}}\n';

function refusal(yaml: string): string {
  try {
    parseCase(yaml, root);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('traces: and spans checks in case.yaml', () => {
  it('loads traces: true with a spans check', () => {
    const c = parseCase(`${HEAD}traces: true\n${STEP}${SPANS}`, root);
    expect(c.traces).toEqual({ client: true, builder: true });
    expect(c.checks).toEqual([{ kind: 'spans', name: '^build', attributes: { command: 'token=' }, count: '>=1' }]);
  });

  it('loads the mapping form, ${otlp} in a step, a numeric count, requests to the otlp server', () => {
    const c = parseCase(
      `${HEAD}traces: {client: false}\ndriver: docker-container\nsteps:\n  - buildx: [create, --driver-opt, "env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=\${otlp}/v1/traces", --driver-opt, "image=\${buildkitImage}"]\nsymptom:\n  - spans: {service: buildkitd, status: error, count: 0}\n  - requests: {server: otlp, count: ">=1"}\n`,
      root,
    );
    expect(c.traces).toEqual({ client: false, builder: true });
    expect(c.uses.has('otlp')).toBe(true);
    expect(c.checks).toEqual([
      { kind: 'spans', service: 'buildkitd', status: 'error', count: '0' },
      { kind: 'requests', server: 'otlp', count: '>=1' },
    ]);
  });

  it('starts no receiver for traces: false', () => {
    expect(parseCase(`${HEAD}traces: false\n${STEP}symptom: {exitCode: zero}\n`, root).traces).toBeUndefined();
  });

  it.each([
    ['a spans check without traces:', `${HEAD}${STEP}${SPANS}`, /^case\.yaml:1: traces: a spans check reads what the lab's OTLP receiver got: add traces: true$/],
    [
      '${otlp} without traces:',
      `${HEAD}steps: [{buildx: [build, --build-arg, "E=\${otlp}", .]}]\nsymptom: {exitCode: zero}\n`,
      /traces: the case names \$\{otlp\} but has no receiver/,
    ],
    ['traces: a word', `${HEAD}traces: yes\n${STEP}${SPANS}`, /^case\.yaml:3: traces: is true, false or a mapping \{client: true\|false, builder: true\|false\}$/],
    ['an unknown traces key', `${HEAD}traces: {grpc: true}\n${STEP}${SPANS}`, /^case\.yaml:3: traces\.grpc: unknown key/],
    ['nothing exports', `${HEAD}traces: {client: false, builder: false}\n${STEP}${SPANS}`, /^case\.yaml:3: traces: exports nothing/],
    ['a spans check without count', `${HEAD}traces: true\n${STEP}symptom: {spans: {name: build}}\n`, /^case\.yaml:5: symptom\.spans\.count: is required: a number or a comparison/],
    ['a bad count', `${HEAD}traces: true\n${STEP}symptom: {spans: {name: build, count: "about 3"}}\n`, /^case\.yaml:5: symptom: count "about 3" is not a number/],
    [
      'a bad status',
      `${HEAD}traces: true\n${STEP}symptom: {spans: {status: failed, count: 1}}\n`,
      /^case\.yaml:5: symptom\.spans\.status: "failed" is not one of unset, ok, error$/,
    ],
    ['an unknown spans key', `${HEAD}traces: true\n${STEP}symptom: {spans: {trace: x, count: 1}}\n`, /^case\.yaml:5: symptom\.spans\.trace: unknown key/],
    ['empty attributes', `${HEAD}traces: true\n${STEP}symptom: {spans: {attributes: {}, count: 1}}\n`, /symptom\.spans\.attributes: needs 1 to 20 attributes$/],
    [
      'too many attributes',
      `${HEAD}traces: true\n${STEP}symptom: {spans: {attributes: {${Array.from({ length: 21 }, (_, i) => `a${i}: x`).join(', ')}}, count: 1}}\n`,
      /symptom\.spans\.attributes: needs 1 to 20 attributes$/,
    ],
    ['a lookahead in a name pattern', `${HEAD}traces: true\n${STEP}symptom: {spans: {name: "(?=build)", count: 1}}\n`, /symptom\.spans\.name: .*not an RE2 regular expression/],
    [
      'an attribute pattern over the size limit',
      `${HEAD}traces: true\n${STEP}symptom: {spans: {attributes: {command: "a{600}"}, count: 1}}\n`,
      /symptom\.spans\.attributes\.command: .*over the limit of 500 RE2 instructions/,
    ],
    [
      'an attribute key too long',
      `${HEAD}traces: true\n${STEP}symptom: {spans: {attributes: {${'k'.repeat(257)}: x}, count: 1}}\n`,
      /symptom\.spans\.attributes\.k+: is longer than 256 characters$/,
    ],
  ])('refuses %s, naming line and field', (_, yaml, want) => {
    expect(refusal(yaml)).toMatch(want);
  });
});

describe('traces: pure rules', () => {
  it('sets the traces endpoint and OTLP/HTTP for the client, and the same env.* for a builder', () => {
    expect(tracesEnv('http://10.0.0.1:5003')).toEqual({
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://10.0.0.1:5003/v1/traces',
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    });
    expect(tracesDriverOpts('http://g:1')).toMatchObject({ 'env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT': 'http://g:1/v1/traces', 'env.OTEL_BSP_SCHEDULE_DELAY': '500' });
    expect(tracesSpec({ builder: false })).toEqual({ client: true, builder: false });
  });

  it('a cell without spans cannot answer a check that needs one, and can answer one that admits none', () => {
    expect(needsSpans([{ kind: 'spans', count: '>=1' }])).toBe(true);
    expect(needsSpans([{ kind: 'spans', count: '2' }])).toBe(true);
    expect(needsSpans([{ kind: 'spans', count: '0' }])).toBe(false);
    expect(needsSpans([{ kind: 'spans', count: '<3' }])).toBe(false);
    expect(needsSpans([{ kind: 'exit', code: 'zero' }])).toBe(false);
  });
});
