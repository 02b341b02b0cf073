// One `docker events` stream, for what the lab used to poll with a `docker` process every 2 s (a cell's
// containers, the engine itself): the engine pushes each event as it happens, and the stream ending
// unasked means the engine stopped answering.
import { createInterface } from 'node:readline';
import { execa, type ResultPromise } from 'execa';
import { childEnv, type LabConfig } from '../config.ts';
import { lastLines } from '../text.ts';

export interface EngineEvent {
  type: string;
  action: string;
  /** the container's (or network's...) full ID */
  id: string;
}

/** A line of `--format '{{.Type}} {{.Action}} {{.Actor.ID}}'`, or undefined for anything else; pure. */
export function parseEventLine(line: string): EngineEvent | undefined {
  const m = /^([a-z]+) ([a-z_]+)(?::[^ ]*)? ([0-9a-f]{12,64}|[^ ]+)$/.exec(line.trim());
  return m ? { type: m[1]!, action: m[2]!, id: m[3]! } : undefined;
}

export class EngineEvents {
  private readonly listeners = new Set<(e: EngineEvent) => void>();
  private readonly endListeners = new Set<(why: string) => void>();
  private stopped = false;
  /** why the stream ended unasked, once it did */
  ended?: string;

  private constructor(
    private readonly proc: ResultPromise<{ reject: false; buffer: { stdout: false }; stdin: 'ignore' }>,
    dockerHost: string,
  ) {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const e = parseEventLine(line);
      if (e) for (const l of this.listeners) l(e);
    });
    void proc.then((r) => {
      if (this.stopped) return;
      this.ended = `the Docker engine at ${dockerHost} stopped answering (its event stream ended${r.exitCode ? `, exit ${r.exitCode}: ${lastLines(r.stderr, 1)}` : ''})`;
      for (const l of this.endListeners) l(this.ended);
    });
  }

  /**
   * Starts `docker events` with these filters (`type=container`, `label=k=v`, ...), from `since` (ms; by
   * default now) so that nothing between the start and the stream's connection is missed.
   */
  static start(config: Pick<LabConfig, 'childPath' | 'home' | 'dockerHost'>, filters: readonly string[], since = Date.now()): EngineEvents {
    const proc = execa(
      'docker',
      ['events', '--since', String(Math.floor(since / 1000) - 1), '--format', '{{.Type}} {{.Action}} {{.Actor.ID}}', ...filters.flatMap((f) => ['--filter', f])],
      {
        env: childEnv(config),
        extendEnv: false,
        reject: false,
        buffer: { stdout: false },
        stdin: 'ignore',
      },
    );
    return new EngineEvents(proc, config.dockerHost);
  }

  /** Calls `listener` for each event; returns its removal. */
  on(listener: (e: EngineEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Calls `listener` once if the stream ends unasked (at once when it already has); returns its removal. */
  onEnd(listener: (why: string) => void): () => void {
    if (this.ended) {
      listener(this.ended);
      return () => undefined;
    }
    this.endListeners.add(listener);
    return () => this.endListeners.delete(listener);
  }

  stop(): void {
    this.stopped = true;
    this.proc.kill();
  }
}
