// ${otlp}: the lab's trace sink for one case. The builders reach only a front (a HostServer like ${http} and
// ${git}, on the lab network's gateway or behind a relay, journaled per request as kind `otlp`) that takes
// exactly `POST /v1/traces` (OTLP/HTTP, protobuf or JSON, identity or gzip, at most 4 MiB) and forwards it
// to the real collector (otlp-collector.ts) over its private unix socket, with the request's journal seq
// in a header the front alone sets. Nothing else is forwarded: no other path, method or header, so a case
// cannot use the endpoint to reach anything but the collector's OTLP receiver. The collector tags the
// spans with that seq and exports them as OTLP/JSON to a loopback sink here; the spans are then kept by
// seq, so a cell's spans are those of its own journal entries (the same attribution as its requests).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HarnessError } from '../errors.ts';
import type { ProgressSink } from '../progress.ts';
import type { Journal } from '../registry/journal.ts';
import { closeServers } from '../registry/listen-address.ts';
import { HostServer, type ListenAddress, type SourceRequest } from './host-server.ts';
import { CollectorProcess, MAX_EXPORT_BYTES, REQUEST_HEADER, SINK_SECRET_HEADER, sinkSecret, type CollectorBinary } from './otlp-collector.ts';
import { flattenExport, type SpanRecord } from './otlp-spans.ts';

/** The one path the front forwards: OTLP/HTTP traces (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = ${otlp}/v1/traces). */
export const TRACES_PATH = '/v1/traces';
const CONTENT_TYPES = ['application/x-protobuf', 'application/json'];
const ENCODINGS = ['identity', 'gzip'];

export const RECEIVER_LIMITS = {
  /** spans kept for the whole case (every cell); past it the oldest requests' spans are dropped */
  spans: 200_000,
  /** the JSON the collector exports for one request (it is larger than the protobuf the client sent) */
  sinkBytes: 64 << 20,
} as const;

/** Why the front refuses a request (undefined: forward it); pure. */
export function frontRefusal(method: string, path: string, headers: http.IncomingHttpHeaders): { status: number; why: string } | undefined {
  if (path !== TRACES_PATH) return { status: 404, why: `only ${TRACES_PATH} is served here (OTLP/HTTP traces); set OTEL_EXPORTER_OTLP_TRACES_ENDPOINT to \${otlp}${TRACES_PATH}` };
  if (method !== 'POST') return { status: 405, why: `${TRACES_PATH} takes POST` };
  const type = String(headers['content-type'] ?? '')
    .split(';')[0]!
    .trim()
    .toLowerCase();
  if (!CONTENT_TYPES.includes(type))
    return {
      status: 415,
      why: `content-type ${JSON.stringify(type)} is not OTLP/HTTP (${CONTENT_TYPES.join(' or ')}); gRPC is not served: set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf`,
    };
  const enc = String(headers['content-encoding'] ?? 'identity').toLowerCase();
  if (!ENCODINGS.includes(enc)) return { status: 415, why: `content-encoding ${JSON.stringify(enc)} is not one of ${ENCODINGS.join(', ')}` };
  const length = headers['content-length'];
  if (length !== undefined && Number(length) > MAX_EXPORT_BYTES) return { status: 413, why: `an export request is at most ${MAX_EXPORT_BYTES >> 20} MiB` };
  return undefined;
}

/** Reads a body up to `max` bytes; undefined when it is larger (the rest is left unread). */
function readBody(req: http.IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > max) {
        req.pause();
        resolve(undefined);
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export class OtlpReceiver {
  readonly #spans = new Map<number, SpanRecord[]>();
  #kept = 0;
  /** seqs whose spans were dropped to stay within RECEIVER_LIMITS.spans, or past SPAN_LIMITS.perRequest */
  readonly #incomplete = new Set<number>();
  #inFlight = 0;
  #lastExportAt = 0;
  #sinkRefused = 0;

  private constructor(
    private readonly collector: CollectorProcess,
    private readonly front: HostServer,
    private readonly sink: http.Server,
  ) {}

  /** Starts the collector, its sink and the front; `listen`: where the front listens (the lab decides). */
  static async start(bin: CollectorBinary, journal: Journal, listen: readonly ListenAddress[], progress: ProgressSink = () => {}): Promise<OtlpReceiver> {
    const secret = sinkSecret();
    let self: OtlpReceiver | undefined;
    const sink = http.createServer({ maxHeaderSize: 16 * 1024 }, (req, res) => void self?.sinkRequest(req, res, secret));
    await new Promise<void>((resolve, reject) => {
      sink.once('error', reject);
      sink.listen(0, '127.0.0.1', resolve);
    });
    let collector: CollectorProcess | undefined;
    try {
      collector = await CollectorProcess.start(bin, `http://127.0.0.1:${(sink.address() as AddressInfo).port}${TRACES_PATH}`, secret);
      const started = collector;
      const front = await HostServer.start('otlp', journal, listen, (x) => self!.forward(x, started), { maxConnections: 128 });
      self = new OtlpReceiver(started, front, sink);
      progress(`OTLP receiver: ${self.url} -> OpenTelemetry Collector (${bin.goVersion}) as ${started.as} on ${started.socket}`);
      return self;
    } catch (e) {
      await collector?.stop();
      await closeServers([sink]);
      throw e;
    }
  }

  /** Base URL the builders export to: ${otlp} (OTLP/HTTP traces at ${otlp}/v1/traces). */
  get url(): string {
    return this.front.urlFor();
  }

  private async forward(x: SourceRequest, collector: CollectorProcess): Promise<void> {
    const refused = frontRefusal(x.method, x.path, x.req.headers);
    if (refused) {
      x.interventions.push('refused');
      return x.answer(refused.status, refused.why);
    }
    const body = await readBody(x.req, MAX_EXPORT_BYTES);
    if (!body) {
      x.interventions.push('refused');
      return x.answer(413, `an export request is at most ${MAX_EXPORT_BYTES >> 20} MiB`, { connection: 'close' });
    }
    x.requestBytes = body.length;
    this.#inFlight++;
    try {
      const answer = await new Promise<{ status: number; type: string; body: Buffer }>((resolve, reject) => {
        const out = http.request(
          {
            socketPath: collector.socket,
            method: 'POST',
            path: TRACES_PATH,
            // a fresh set: nothing the client sent but the body's type and encoding reaches the collector
            headers: {
              'content-type': String(x.req.headers['content-type']),
              ...(x.req.headers['content-encoding'] ? { 'content-encoding': String(x.req.headers['content-encoding']) } : {}),
              'content-length': body.length,
              [REQUEST_HEADER]: String(x.seq),
            },
            timeout: 30_000,
          },
          (res) => {
            readBody(res, 1 << 20).then(
              (b) => resolve({ status: res.statusCode ?? 502, type: String(res.headers['content-type'] ?? 'application/octet-stream'), body: b ?? Buffer.alloc(0) }),
              reject,
            );
          },
        );
        out.on('timeout', () => out.destroy(new Error('the collector did not answer within 30 s')));
        out.on('error', reject);
        out.end(body);
      });
      x.res.writeHead(answer.status, { 'content-type': answer.type, 'content-length': answer.body.length });
      x.responseBytes = answer.body.length;
      x.res.end(answer.body);
    } catch (e) {
      x.interventions.push('collector-error');
      x.answer(502, `the lab's OTLP receiver failed: ${(e as Error).message}${collector.running ? '' : ` (collector: ${collector.logTail()})`}`);
    } finally {
      this.#inFlight--;
      this.#lastExportAt = Date.now();
    }
  }

  private async sinkRequest(req: http.IncomingMessage, res: http.ServerResponse, secret: string): Promise<void> {
    const answer = (status: number, text: string) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(text);
    };
    if (req.method !== 'POST' || req.url !== TRACES_PATH || req.headers[SINK_SECRET_HEADER] !== secret) {
      this.#sinkRefused++;
      return answer(404, '{}');
    }
    const body = await readBody(req, RECEIVER_LIMITS.sinkBytes).catch(() => undefined);
    if (!body) return answer(413, '{}');
    let doc: unknown;
    try {
      doc = JSON.parse(body.toString('utf8'));
    } catch {
      return answer(400, '{}');
    }
    const { spans, dropped } = flattenExport(doc);
    for (const s of spans) {
      const list = this.#spans.get(s.request) ?? [];
      if (!list.length) this.#spans.set(s.request, list);
      list.push(s);
    }
    if (dropped) for (const seq of new Set(spans.map((s) => s.request))) this.#incomplete.add(seq);
    this.#kept += spans.length;
    this.#evict();
    answer(200, '{}');
  }

  /** Past the bound, the oldest requests' spans go (Map order is arrival order), and their seqs are marked. */
  #evict(): void {
    for (const [seq, list] of this.#spans) {
      if (this.#kept <= RECEIVER_LIMITS.spans) break;
      this.#spans.delete(seq);
      this.#kept -= list.length;
      this.#incomplete.add(seq);
    }
  }

  /**
   * The spans that the export requests `seqs` carried (a cell's own journal entries of kind otlp), in
   * arrival order. Throws when some of them were dropped: a count over a partial set would mislead.
   */
  spansOf(seqs: readonly number[]): SpanRecord[] {
    const lost = seqs.filter((s) => this.#incomplete.has(s));
    if (lost.length)
      throw new HarnessError(
        `the OTLP receiver dropped spans of export request(s) ${lost.slice(0, 5).join(', ')} (limits: ${RECEIVER_LIMITS.spans} spans per case): the traces would be incomplete`,
      );
    return [...seqs].sort((a, b) => a - b).flatMap((s) => this.#spans.get(s) ?? []);
  }

  /**
   * Waits at least `minMs` (a builder exports its batch after the steps), then until no export is in flight
   * and none came for `quietMs`; at most `maxMs` in all.
   */
  async settle(minMs: number, quietMs = 1000, maxMs = 15_000): Promise<void> {
    const t0 = Date.now();
    const busy = () => Date.now() - t0 < minMs || this.#inFlight > 0 || Date.now() - this.#lastExportAt < quietMs;
    while (Date.now() - t0 < maxMs && busy()) await new Promise((r) => setTimeout(r, 100));
  }

  /** Requests to the sink without the secret (anything but the collector): none expected. */
  get sinkRefused(): number {
    return this.#sinkRefused;
  }

  async stop(): Promise<void> {
    await this.front.stop();
    await this.collector.stop();
    await closeServers([this.sink]);
  }
}
