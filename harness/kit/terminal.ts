// The screen of an interactive step: the bytes its pseudo-terminal wrote, rendered by a real terminal
// emulator (@xterm/headless, xterm.js without a browser) so that cursor moves, clears, colours and
// redraws land where a user would see them. `expect` patterns match the rendered text, expect-style: each
// search starts where the last match ended (a marker that follows the line as the screen scrolls), so a
// second `expect` of a prompt waits for the next prompt, not the one already matched. The final screen,
// scrollback included, is the step's evidence. Also: waiting for a pattern in any growing text (a
// background step's output), throttled and bounded like every user pattern (checks.ts). And the player of
// an expect/send/sendControl script against a screen, which an interactive step and the terminal a DAP
// step opens for `runInTerminal` (dap.ts) share.
import * as xtermModule from '@xterm/headless';
import { clip } from '../text.ts';
import { matchAt, matchBudget } from './checks.ts';

/** One line of a terminal's script (`interact:`, a DAP step's `runInTerminal:`). */
export type InteractAction = { expect: string; timeoutMs: number } | { send: string } | { sendControl: string };

/** Node loads the package's CommonJS build (the class on its default export); vite's runner, which runs the
 * cells, resolves its ESM build (the class by name). */
const xterm = ((xtermModule as { default?: typeof xtermModule }).default ?? xtermModule) as typeof xtermModule;

/** The size of an interactive step's terminal; the command sees it through `stty`. */
export const COLS = 120;
export const ROWS = 40;
/** Lines kept above the screen: the evidence and what `expect` can still search. */
const SCROLLBACK = 5000;
/** How often a waiting pattern is tried again while output arrives. */
const RETRY_MS = 50;

/** The byte `sendControl: X` sends: Ctrl+X, as a terminal does (c -> 0x03, [ -> ESC). Pure. */
export function controlByte(key: string): string {
  const k = key.length === 1 ? key.toUpperCase() : '';
  const code = k.charCodeAt(0);
  if (!(code >= 0x40 && code <= 0x5f)) throw new Error(`${JSON.stringify(key)} is not a control key; give one letter (c for Ctrl+C, d for Ctrl+D) or one of @ [ \\ ] ^ _`);
  return String.fromCharCode(code - 0x40);
}

/** What `send: TEXT` types: the text, with a line break sent as Enter (a carriage return, as a terminal's Enter key). Pure. */
export function typed(text: string): string {
  return text.replace(/\r?\n/g, '\r');
}

export class Screen {
  private readonly term: InstanceType<typeof xterm.Terminal>;
  private pending = Promise.resolve();
  private readonly listeners = new Set<() => void>();
  /** where the next search starts: a marker on the line of the last match's end, and its column */
  private from?: { marker: NonNullable<ReturnType<InstanceType<typeof xterm.Terminal>['registerMarker']>>; col: number };

  constructor(cols = COLS, rows = ROWS) {
    this.term = new xterm.Terminal({ cols, rows, scrollback: SCROLLBACK, allowProposedApi: true });
  }

  /** Feeds output (raw bytes, split anywhere: the emulator decodes UTF-8 across chunks); resolves once rendered. */
  write(chunk: Uint8Array | string): Promise<void> {
    this.pending = this.pending.then(
      () =>
        new Promise<void>((resolve) =>
          this.term.write(chunk, () => {
            resolve();
            for (const l of this.listeners) l();
          }),
        ),
    );
    return this.pending;
  }

  /** Everything rendered so far (scrollback and screen), lines right-trimmed, trailing blank lines dropped. */
  text(): string {
    return this.region(0, 0).text.trimEnd();
  }

  /**
   * The rendered text from buffer line `line`, column `col` on: a line the terminal wrapped is joined to the
   * one before it (a pattern may span the wrap), with each buffer line's offset in the text.
   */
  private region(line: number, col: number): { text: string; lines: { line: number; at: number; col: number }[] } {
    const buf = this.term.buffer.active;
    const cursor = buf.baseY + buf.cursorY;
    const lines: { line: number; at: number; col: number }[] = [];
    let text = '';
    for (let i = line; i < buf.length; i++) {
      const l = buf.getLine(i);
      if (!l) continue;
      const nextWrapped = buf.getLine(i + 1)?.isWrapped === true;
      let s = l.translateToString(!nextWrapped);
      // the cursor's line keeps its blanks up to the cursor: a prompt's trailing space (`# $`) is there
      if (i === cursor && !nextWrapped) s = l.translateToString(false).slice(0, Math.max(s.length, buf.cursorX));
      const c0 = i === line ? Math.min(col, s.length) : 0;
      s = s.slice(c0);
      if (i > line && !l.isWrapped) text += '\n';
      lines.push({ line: i, at: text.length, col: c0 });
      text += s;
    }
    return { text: text.replace(/\n+$/, ''), lines };
  }

  /**
   * Searches the screen from the end of the last match for `pattern`; on a match, the next search starts
   * after it. Only the last matchBudget(pattern) characters are searched, so one search costs at most
   * MAX_MATCH_WORK whatever the command printed.
   */
  find(pattern: string): string | undefined {
    const start = this.from && !this.from.marker.isDisposed ? { line: this.from.marker.line, col: this.from.col } : { line: 0, col: 0 };
    const r = this.region(start.line, start.col);
    const skip = Math.max(0, r.text.length - matchBudget(pattern));
    const m = matchAt(pattern, r.text.slice(skip));
    if (!m) return undefined;
    const end = skip + m.end;
    const at = r.lines.findLast((l) => l.at <= end) ?? { line: start.line, at: 0, col: start.col };
    const buf = this.term.buffer.active;
    this.from?.marker.dispose();
    const marker = this.term.registerMarker(at.line - (buf.baseY + buf.cursorY));
    if (marker) this.from = { marker, col: at.col + (end - at.at) };
    return m.text;
  }

  /** Resolves with the match once `pattern` shows (see find), or undefined after `timeoutMs` or once `ended` settles without it. */
  expect(pattern: string, timeoutMs: number, ended: Promise<unknown>): Promise<string | undefined> {
    return waitForMatch(
      () => this.find(pattern),
      (l) => this.onChange(l),
      timeoutMs,
      ended.then(() => this.pending),
    );
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Waits until everything written so far is rendered. */
  settled(): Promise<void> {
    return this.pending;
  }

  dispose(): void {
    this.term.dispose();
  }
}

/** What a script plays against: the process's keyboard, and its end. */
export interface Keyboard {
  write(data: string): void;
  done: Promise<unknown>;
  ended(): boolean;
}

/**
 * Plays `script` against `screen` and `keys`, no later than `deadline` (ms since the epoch): `send` types,
 * `sendControl` presses Ctrl+key, `expect` waits for its pattern (its own timeout, within the deadline).
 * An `expect` that does not match stops the script. Returns the note saying where it stopped, or undefined
 * when it played to its end; `fact` hears each expect's outcome (with its pattern, which the note leaves
 * out: the note is part of the output that checks read).
 */
export async function playScript(screen: Screen, keys: Keyboard, script: readonly InteractAction[], deadline: number, fact: (f: string) => void): Promise<string | undefined> {
  for (const [i, a] of script.entries()) {
    if ('expect' in a) {
      const budget = Math.max(0, Math.min(a.timeoutMs, deadline - Date.now()));
      const hit = await screen.expect(a.expect, budget, keys.done);
      if (hit === undefined) {
        fact(`interact[${i}] expect /${a.expect}/ did not match`);
        return `interact[${i}]: the expect saw no match ${keys.ended() ? 'before the command ended' : `within ${budget / 1000} s`}; the script stopped there`;
      }
      fact(`interact[${i}] expect matched "${clip(hit)}"`);
    } else if ('send' in a) keys.write(typed(a.send));
    else keys.write(controlByte(a.sendControl));
  }
  return undefined;
}

/**
 * Tries `find` now and again whenever `subscribe` says something changed (at most every RETRY_MS), until
 * it answers, `timeoutMs` pass, or `ended` settles (then once more: the last output may hold it).
 * Resolves with the answer or undefined; never rejects for a timeout.
 */
export function waitForMatch<T>(find: () => T | undefined, subscribe: (changed: () => void) => () => void, timeoutMs: number, ended: Promise<unknown>): Promise<T | undefined> {
  return new Promise<T | undefined>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const finish = (v: T | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(deadline);
      unsubscribe();
      resolve(v);
    };
    const attempt = () => {
      timer = undefined;
      if (settled) return;
      try {
        const v = find();
        if (v !== undefined) finish(v);
      } catch (e) {
        settled = true;
        clearTimeout(deadline);
        unsubscribe();
        reject(e);
      }
    };
    const unsubscribe = subscribe(() => {
      timer ??= setTimeout(attempt, RETRY_MS);
    });
    const deadline = setTimeout(() => {
      attempt();
      finish(undefined);
    }, timeoutMs);
    ended.then(
      () => {
        attempt();
        finish(undefined);
      },
      () => finish(undefined),
    );
    attempt();
  });
}

/** A growing text (a background step's output) with listeners for each new piece. */
export class OutputLog {
  private text_ = '';
  private readonly listeners = new Set<() => void>();
  private readonly decoder = new TextDecoder();

  append(chunk: Uint8Array): void {
    this.text_ += this.decoder.decode(chunk, { stream: true });
    for (const l of this.listeners) l();
  }

  get text(): string {
    return this.text_;
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
