// The lab's OTLP trace receiver process: a real OpenTelemetry Collector (its OTLP receiver, the contrib
// resource processor, the OTLP/HTTP exporter), built from the Go module proxy out of the sources ocb
// generated (serve/otelcol/, see its manifest.yaml) and cached under <cache>/tools/otelcol-<hash>/.
//
// It runs as nobody when the lab is root (unprivileged.ts), and listens on nothing the engines can reach:
// its receiver is a unix socket in a 0700 directory, fed only by the lab's front (otlp-receiver.ts), and it
// has no other listener (its own metrics are off). Each request's spans get the resource attribute buildx_lab.request from the header the front sets,
// and go out as OTLP/JSON to the lab's sink on loopback, which only takes requests carrying a per-process
// secret header. No sending queue and no retries: the spans reach the sink before the exporting client
// gets its answer, so what a step exported is in the lab when the step ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LabConfig } from '../config.ts';
import { HarnessError } from '../errors.ts';
import type { ProgressSink } from '../progress.ts';
import { ensureGoTool, type GoTool, type GoToolOptions } from '../provision/go-tool.ts';
import { NOBODY, asNobody, dropsToNobody } from './unprivileged.ts';

/** serve/otelcol/: the generated distribution's sources. */
export const COLLECTOR_SOURCES = path.join(import.meta.dirname, 'otelcol');
/** The resource attribute the collector sets from the front's header: the journal seq of the export request. */
export const REQUEST_ATTRIBUTE = 'buildx_lab.request';
export const REQUEST_HEADER = 'x-buildx-lab-request';
export const SINK_SECRET_HEADER = 'x-buildx-lab-sink';
/** Largest export request body the receiver takes (the front refuses larger ones first). */
export const MAX_EXPORT_BYTES = 4 << 20;

export interface CollectorBinary {
  path: string;
  /** hash of the sources it was built from */
  sourceHash: string;
  goVersion: string;
  /** the build, when this call made it */
  builtMs?: number;
}

/** sha256 over the names and contents of the distribution's sources (manifest, Go files, go.mod, go.sum). */
export function collectorSourceHash(dir = COLLECTOR_SOURCES): string {
  const h = createHash('sha256');
  for (const name of readdirSync(dir).sort()) {
    h.update(`${name}\0`);
    h.update(readFileSync(path.join(dir, name)));
    h.update('\0');
  }
  return h.digest('hex');
}

/** The collector binary, built once per source hash (ensureGoTool: the machine-wide compile lock). */
export async function ensureCollector(config: LabConfig, progress: ProgressSink, opts: GoToolOptions = {}): Promise<CollectorBinary> {
  const sourceHash = collectorSourceHash();
  const t0 = Date.now();
  const bin = await ensureGoTool(config, collectorTool(sourceHash), progress, opts);
  return { path: bin.path, sourceHash, goVersion: bin.goVersion ?? 'unknown', ...(bin.built ? { builtMs: Date.now() - t0 } : {}) };
}

/** The collector as a Go tool: the shipped sources as its tree, in the directory it always had. */
export function collectorTool(sourceHash: string): GoTool {
  return {
    name: 'otelcol',
    module: 'buildx-lab/otelcol',
    version: `v0.165.0-${sourceHash.slice(0, 12)}`,
    dir: `otelcol-${sourceHash.slice(0, 16)}`,
    label: 'the OTLP receiver (OpenTelemetry Collector v0.165.0)',
    pkg: '.',
    tags: [],
    tree: {
      revision: sourceHash,
      fill: async (into) => {
        mkdirSync(into, { recursive: true });
        for (const name of readdirSync(COLLECTOR_SOURCES)) writeFileSync(path.join(into, name), readFileSync(path.join(COLLECTOR_SOURCES, name)));
      },
    },
  };
}

/** The collector's configuration; pure. `socket`: where its receiver listens; `sinkUrl`/`secret`: where spans go. */
export function collectorConfig(socket: string, sinkUrl: string, secret: string): string {
  // JSON is YAML: no quoting rules to get wrong
  return JSON.stringify(
    {
      receivers: {
        otlp: {
          protocols: {
            http: { transport: 'unix', endpoint: socket, include_metadata: true, max_request_body_size: MAX_EXPORT_BYTES },
          },
        },
      },
      processors: {
        resource: { attributes: [{ key: REQUEST_ATTRIBUTE, from_context: `metadata.${REQUEST_HEADER}`, action: 'upsert' }] },
      },
      exporters: {
        otlp_http: {
          traces_endpoint: sinkUrl,
          encoding: 'json',
          compression: 'none',
          headers: { [SINK_SECRET_HEADER]: secret },
          sending_queue: { enabled: false },
          retry_on_failure: { enabled: false },
          timeout: '10s',
        },
      },
      service: {
        telemetry: { logs: { level: 'warn' }, metrics: { level: 'none' } },
        pipelines: { traces: { receivers: ['otlp'], processors: ['resource'], exporters: ['otlp_http'] } },
      },
    },
    null,
    2,
  );
}

/** A running collector; stop() ends it and removes its directory. */
export class CollectorProcess {
  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    /** its receiver's unix socket */
    readonly socket: string,
    private readonly log: string[],
    /** who it runs as */
    readonly as: string,
  ) {}

  static async start(bin: CollectorBinary, sinkUrl: string, secret: string): Promise<CollectorProcess> {
    // 0700 (mkdtemp): only the lab (and, dropped to nobody, the collector) reaches the socket and reads the
    // config, which holds the sink's secret. As nobody it runs a copy of the binary in that directory: the
    // lab's cache under /root is not nobody's to read.
    const dir = mkdtempSync(path.join(tmpdir(), 'bxl-otel-'));
    const socket = path.join(dir, 'otlp.sock');
    const config = path.join(dir, 'config.yaml');
    writeFileSync(config, collectorConfig(socket, sinkUrl, secret), { mode: 0o600 });
    const nobody = dropsToNobody();
    let program = bin.path;
    if (nobody) {
      program = path.join(dir, 'otelcol');
      copyFileSync(bin.path, program);
      chmodSync(program, 0o500);
      for (const p of [dir, config, program]) chownSync(p, NOBODY, NOBODY);
    }
    const run = asNobody([program, '--config', `file:${config}`], process.getuid?.(), nobody);
    const log: string[] = [];
    const child = spawn(run.argv[0]!, run.argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/bin:/bin' } });
    const keep = (b: Buffer) => {
      log.push(b.toString('utf8'));
      if (log.length > 200) log.splice(0, log.length - 200);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const p = new CollectorProcess(child, dir, socket, log, run.as);
    try {
      await p.waitForSocket(30_000);
    } catch (e) {
      await p.stop();
      throw e;
    }
    return p;
  }

  private async waitForSocket(ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (!existsSync(this.socket)) {
      if (this.child.exitCode !== null) throw new HarnessError(`the OTLP receiver (OpenTelemetry Collector) exited ${this.child.exitCode}: ${this.logTail()}`);
      if (Date.now() > until) throw new HarnessError(`the OTLP receiver did not listen within ${ms / 1000} s: ${this.logTail()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  logTail(): string {
    return this.log.join('').trim().split('\n').slice(-5).join(' / ') || '(no output)';
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async stop(): Promise<void> {
    if (this.running) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGTERM');
      const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A fresh secret for the sink's header. */
export function sinkSecret(): string {
  return randomBytes(24).toString('hex');
}
