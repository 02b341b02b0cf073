// What a person watching a run sees. On a terminal: one live line per running task (a build, an image, a
// cell) with its elapsed time and what it waits on, redrawn in place (log-update), finished tasks and
// messages scrolling above. Elsewhere (CI, pipes): plain lines, a start and an end per task, and at most
// one heartbeat per task every 30 s. Every line goes through consoleText first (secrets masked, controls shown).
import { createLogUpdate } from 'log-update';
import { PLAIN_HEARTBEAT_MS, consoleText, type ProgressSink } from './progress.ts';

interface Task {
  label: string;
  detail: string;
  startedAt: number;
  lastPlainAt: number;
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export interface BoardOptions {
  live: boolean;
  stream?: NodeJS.WriteStream;
  now?: () => number;
}

export class ProgressBoard {
  private readonly tasks = new Map<number, Task>();
  private nextId = 0;
  private frame = 0;
  private readonly t0: number;
  private readonly stream: NodeJS.WriteStream;
  private readonly live?: ReturnType<typeof createLogUpdate>;
  private timer?: NodeJS.Timeout;
  private readonly now: () => number;

  constructor(opts: BoardOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.now = opts.now ?? Date.now;
    this.t0 = this.now();
    if (opts.live) {
      this.live = createLogUpdate(this.stream, { showCursor: true });
      this.timer = setInterval(() => this.render(), 120);
    } else {
      this.timer = setInterval(() => this.heartbeats(), 5_000);
    }
    this.timer.unref();
  }

  /** The board as a ProgressSink: messages scroll, tasks show live. */
  get sink(): ProgressSink {
    const sink = ((message: string) => this.log(message)) as ProgressSink;
    sink.task = (label, work) => this.run(label, work);
    return sink;
  }

  log(message: string): void {
    const line = `[${this.elapsed(this.t0).padStart(6)}] ${consoleText(message)}`;
    if (this.live) {
      this.live.clear();
      this.stream.write(`${line}\n`);
      this.render();
    } else {
      this.stream.write(`${line}\n`);
    }
  }

  start(label: string, detail = ''): { update(detail: string): void; end(summary: string): void } {
    const id = this.nextId++;
    const now = this.now();
    this.tasks.set(id, { label: consoleText(label), detail: consoleText(detail), startedAt: now, lastPlainAt: now });
    if (!this.live) this.log(`${label}${detail ? `: ${detail}` : ''} ...`);
    return {
      update: (d) => {
        const t = this.tasks.get(id);
        if (t) t.detail = consoleText(d);
      },
      end: (summary) => {
        const t = this.tasks.get(id);
        this.tasks.delete(id);
        if (t) this.log(`${t.label}: ${summary} (${this.elapsed(t.startedAt)})`);
      },
    };
  }

  async run<T>(label: string, work: (update: (detail: string) => void) => Promise<T>): Promise<T> {
    const t = this.start(label);
    try {
      const r = await work((d) => t.update(d));
      t.end('done');
      return r;
    } catch (e) {
      t.end(`failed: ${(e as Error).message.split('\n')[0]}`);
      throw e;
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.live?.clear();
    this.live?.done();
  }

  private elapsed(since: number): string {
    const s = Math.round((this.now() - since) / 1000);
    return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
  }

  private render(): void {
    if (!this.live) return;
    this.frame = (this.frame + 1) % SPINNER.length;
    const width = this.stream.columns ?? 120;
    const lines = [...this.tasks.values()].map((t) => `${SPINNER[this.frame]} ${t.label} ${this.elapsed(t.startedAt)}${t.detail ? ` · ${t.detail}` : ''}`.slice(0, width - 1));
    this.live(lines.join('\n'));
  }

  /** Plain mode: one line per task that has run PLAIN_HEARTBEAT_MS since its last line. */
  private heartbeats(): void {
    const now = this.now();
    for (const t of this.tasks.values()) {
      if (now - t.lastPlainAt < PLAIN_HEARTBEAT_MS) continue;
      t.lastPlainAt = now;
      this.stream.write(`[${this.elapsed(this.t0).padStart(6)}] ${t.label}: still running (${this.elapsed(t.startedAt)})${t.detail ? `, ${t.detail}` : ''}\n`);
    }
  }
}
