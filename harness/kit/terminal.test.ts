import { describe, expect, it } from 'vitest';
import { MAX_PATTERN_INSTRUCTIONS } from './checks.ts';
import { OutputLog, Screen, controlByte, typed, waitForMatch } from './terminal.ts';

describe('controlByte and typed', () => {
  it.each([
    ['c', '\x03'],
    ['C', '\x03'],
    ['d', '\x04'],
    ['[', '\x1b'],
    ['\\', '\x1c'],
    ['@', '\x00'],
    ['_', '\x1f'],
  ])('sendControl %s', (key, byte) => expect(controlByte(key)).toBe(byte));

  it.each(['', 'cc', '1', '?', ' ', 'é'])('refuses %j, naming what it takes', (key) => expect(() => controlByte(key)).toThrow(/is not a control key; give one letter/));

  it('types a line break as Enter (a carriage return)', () => {
    expect(typed('ls -la\n')).toBe('ls -la\r');
    expect(typed('a\r\nb')).toBe('a\rb');
  });
});

describe('Screen', () => {
  it('matches the rendered text, not the bytes: colours gone, a line redrawn in place shows its last state', async () => {
    const s = new Screen(40, 5);
    await s.write('\x1b[31mred\x1b[0m text\r\nprogress 10%\rprogress 100%\r\n');
    expect(s.find('red text')).toBe('red text');
    expect(s.find('10%\\s')).toBeUndefined();
    expect(s.find('progress 100%')).toBe('progress 100%');
    expect(s.text()).toBe('red text\nprogress 100%');
    s.dispose();
  });

  it('searches on from the end of the last match: a second prompt is a new prompt', async () => {
    const s = new Screen(40, 5);
    await s.write('/ # ');
    expect(s.find('# $')).toBe('# ');
    expect(s.find('# $')).toBeUndefined();
    await s.write('ls\r\nbin  etc\r\n/ # ');
    expect(s.find('bin')).toBe('bin');
    expect(s.find('# $')).toBe('# ');
    s.dispose();
  });

  it('keeps its place when the screen scrolls past it, and sees a line the terminal wrapped as one', async () => {
    const s = new Screen(10, 3);
    await s.write('MARK\r\n');
    expect(s.find('MARK')).toBe('MARK');
    await s.write('1\r\n2\r\n3\r\n4\r\n0123456789abcdef\r\n');
    expect(s.find('MARK')).toBeUndefined();
    expect(s.find('89ab')).toBe('89ab');
    expect(s.text()).toBe('MARK\n1\n2\n3\n4\n0123456789abcdef');
    s.dispose();
  });

  it('waits for a pattern until it shows, and gives up after the timeout or once the command ended', async () => {
    const s = new Screen(40, 5);
    const never = new Promise<void>(() => undefined);
    const later = s.expect('ready', 2000, never);
    await s.write('not yet\r\n');
    setTimeout(() => void s.write('ready\r\n'), 20);
    expect(await later).toBe('ready');
    const t0 = Date.now();
    expect(await s.expect('absent', 100, never)).toBeUndefined();
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(await s.expect('absent', 10_000, Promise.resolve())).toBeUndefined();
    s.dispose();
  });
});

describe('waitForMatch', () => {
  it('tries again as the output grows, and once more when the command ends', async () => {
    const log = new OutputLog();
    let end = () => {};
    const ended = { promise: new Promise<void>((r) => (end = r)), resolve: () => end() };
    const hit = waitForMatch(
      () => (/#\d+ RUN sleep/.exec(log.text) ?? undefined)?.[0],
      (l) => log.onChange(l),
      5000,
      ended.promise,
    );
    log.append(Buffer.from('#1 [internal] load\n#5 RU'));
    log.append(Buffer.from('N sleep 30\n'));
    expect(await hit).toBe('#5 RUN sleep');

    const late = waitForMatch(
      () => (log.text.includes('DONE') ? 'DONE' : undefined),
      () => () => undefined,
      5000,
      ended.promise,
    );
    log.append(Buffer.from('DONE\n'));
    ended.resolve();
    expect(await late).toBe('DONE');
  });

  it('passes on the error of a pattern too costly to try (never a silent timeout)', async () => {
    const big = `(${'a?'.repeat(MAX_PATTERN_INSTRUCTIONS)})`;
    const s = new Screen(10, 3);
    await expect(s.expect(big, 1000, new Promise(() => undefined))).rejects.toThrow(/over the limit/);
    s.dispose();
  });
});
