// `traces:` in case.yaml: the lab's OTLP receiver (${otlp}, serve/otlp-receiver.ts) for the case, what
// exports to it, and the `spans` check on what it received. The schema parts and the rules between them
// live here; case.ts only names them. Buildx reads OTEL_EXPORTER_OTLP_TRACES_ENDPOINT and
// OTEL_EXPORTER_OTLP_TRACES_PROTOCOL (moby/buildkit util/tracing/detect, vendored by Buildx); the lab
// serves OTLP/HTTP only, so it sets http/protobuf (Buildx's default is gRPC). A docker-container builder's
// buildkitd reads the same variables, given as `env.*` driver options.
import { z } from 'zod';
import { countHolds, type Check } from '../kit/checks.ts';
import { TRACES_PATH } from '../serve/otlp-receiver.ts';
import type { SpanRecord } from '../serve/otlp-spans.ts';

export interface TracesSpec {
  /** every step gets the OTEL_* variables naming ${otlp} (default true) */
  client: boolean;
  /** the lab's docker-container builder gets them as env.* driver options (default true) */
  builder: boolean;
}

export const TRACE_CHECK_LIMITS = { attributes: 20, key: 256 } as const;

/** `traces: true` or `{client, builder}`; false or absent: no receiver. */
export const tracesSchema = z.union([
  z.boolean({ error: 'is true, false or a mapping {client: true|false, builder: true|false}' }),
  z.strictObject({ client: z.boolean().optional(), builder: z.boolean().optional() }),
]);

/** The `spans` check as YAML writes it; `pattern` is the case schema's RE2 pattern field (validated there). */
export const spansShape = (pattern: z.ZodType<string>, count: z.ZodType<string, string | number>) =>
  z.strictObject({
    // named when missing (the number-or-comparison union alone would say "expected number")
    count: z
      .unknown()
      .refine((v) => v !== undefined, 'is required: a number or a comparison like ">=1"')
      .pipe(count),
    name: pattern.optional(),
    service: pattern.optional(),
    attributes: z
      .record(z.string().min(1, 'is empty').max(TRACE_CHECK_LIMITS.key, `is longer than ${TRACE_CHECK_LIMITS.key} characters`), pattern)
      .refine((m) => Object.keys(m).length >= 1 && Object.keys(m).length <= TRACE_CHECK_LIMITS.attributes, `needs 1 to ${TRACE_CHECK_LIMITS.attributes} attributes`)
      .optional(),
    status: z.enum(['unset', 'ok', 'error'], { error: (i) => `${JSON.stringify(i.input)} is not one of unset, ok, error` }).optional(),
  });

/** `traces:` as the lab runs it; undefined: no receiver. Pure. */
export function tracesSpec(input: z.infer<typeof tracesSchema> | undefined): TracesSpec | undefined {
  if (input === undefined || input === false) return undefined;
  if (input === true) return { client: true, builder: true };
  return { client: input.client ?? true, builder: input.builder ?? true };
}

/**
 * What does not fit between `traces:`, ${otlp}, the `spans` checks and the drivers, as [field, message]
 * (empty: nothing). Pure.
 */
export function tracesProblems(spec: TracesSpec | undefined, uses: ReadonlySet<string>, checks: readonly Check[], driver: readonly string[]): [string[], string][] {
  const out: [string[], string][] = [];
  if (!spec) {
    if (uses.has('otlp')) out.push([['traces'], 'the case names ${otlp} but has no receiver: add traces: true (see fixtures/cases/README.md)']);
    if (checks.some((c) => c.kind === 'spans')) out.push([['traces'], "a spans check reads what the lab's OTLP receiver got: add traces: true"]);
    return out;
  }
  if (!spec.client && !spec.builder && !uses.has('otlp'))
    out.push([['traces'], 'exports nothing: client and builder are off and no step names ${otlp}; turn one on, or pass ${otlp} yourself']);
  if (spec.builder && !spec.client && !driver.includes('docker-container'))
    out.push([
      ['traces', 'builder'],
      "applies to driver: docker-container (the lab gives its buildkitd the OTEL_* variables); the docker and remote drivers' BuildKit is not the lab's to configure",
    ]);
  return out;
}

/** The variables every step gets: Buildx (and the docker CLI) export their spans to ${otlp}; pure. */
export function tracesEnv(url: string): Record<string, string> {
  return {
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${url}${TRACES_PATH}`,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
  };
}

/** The same for a docker-container builder's buildkitd, as driver options; its batches go every 500 ms. Pure. */
export function tracesDriverOpts(url: string): Record<string, string> {
  return {
    ...Object.fromEntries(Object.entries(tracesEnv(url)).map(([k, v]) => [`env.${k}`, v])),
    'env.OTEL_BSP_SCHEDULE_DELAY': '500',
  };
}

/**
 * Whether a cell with no span at all cannot answer these checks: one needs a span to exist (its count does
 * not admit 0). Such a cell is inconclusive, not absent: its exporter never reached the receiver. Pure.
 */
export function needsSpans(checks: readonly Check[]): boolean {
  return checks.some((c) => c.kind === 'spans' && !countHolds(c.count, 0));
}

export type { SpanRecord };
