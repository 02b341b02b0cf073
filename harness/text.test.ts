import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { clip, describeGoPanic, errorLine, escapeMarkup, forTerminal, lastLines, shellJoin, shellQuote, stripAnsi, unshownChars } from './text.ts';

describe('forTerminal', () => {
  it.each([
    ['a bidi override (Trojan Source)', 'ok\u202Egnp.exe', 'ok\\u202egnp.exe'],
    ['bidi isolates and marks', '\u2066a\u2069\u200E\u200F\u061C', '\\u2066a\\u2069\\u200e\\u200f\\u061c'],
    ['C1 controls: a one-character CSI and NEL', 'a\u009b2Jb\u0085c', 'a\\u009b2Jb\\u0085c'],
    ['a bare ESC (reset the terminal)', 'a\u001bcb', 'a\\u001bcb'],
    ['CR, which would overwrite the line', 'ok\rFAILED', 'ok\\u000dFAILED'],
    ['NUL, BEL and DEL', '\u0000\u0007\u007f', '\\u0000\\u0007\\u007f'],
    ['escape sequences, removed', '\u001b[31mred\u001b[0m \u001b]52;c;cHduZWQ=\u0007x', 'red x'],
    ['tab and newline, kept', 'a\tb\nc', 'a\tb\nc'],
  ])('shows %s', (_name, input, want) => expect(forTerminal(input)).toBe(want));
});

describe('unshownChars', () => {
  it('keeps only the characters asked for', () => {
    expect('\t\n\r\u202E'.replace(unshownChars('\t\n'), '.')).toBe('\t\n..');
    expect('\t\n'.replace(unshownChars(), '.')).toBe('..');
    expect('plain text, é and 漢字'.replace(unshownChars(), '.')).toBe('plain text, é and 漢字');
  });

  it('serves escapeMarkup', () => expect(escapeMarkup('<\u202E>', unshownChars(), '&#39;')).toBe('&lt;\\u202e&gt;'));
});

describe('shellQuote', () => {
  it.each([
    ['registry:5000/a:b', 'registry:5000/a:b'],
    ["it's", `'it'\\''s'`],
    ['', "''"],
    ['$(touch /tmp/x)', `'$(touch /tmp/x)'`],
    ['a b', `'a b'`],
  ])('%j -> %s', (arg, want) => expect(shellQuote(arg)).toBe(want));

  it.each(["/home/o'brien/.cache", '$(id)', '`id`', 'a\nb', "'; rm -rf / #", '${HOME}', '\\'])('round-trips %j through a real sh', (arg) => {
    expect(execFileSync('sh', ['-c', `printf '%s' ${shellQuote(arg)}`]).toString()).toBe(arg);
  });

  it('joins argv so arguments with spaces stay one', () => {
    expect(shellJoin(['sh', '-c', "echo 'hi' there"])).toBe(`sh -c 'echo '\\''hi'\\'' there'`);
    expect(shellJoin(['docker', 'buildx', 'build', '-t', 'registry:5000/a:b', '.'])).toBe('docker buildx build -t registry:5000/a:b .');
    expect(shellJoin(['x', ''])).toBe("x ''");
  });
});

describe('text helpers', () => {
  it('strips ANSI and finds the error line', () => {
    expect(stripAnsi('\u001b[31mred\u001b[0m')).toBe('red');
    expect(errorLine('#1 ok\nERROR: failed to push\n#2 done')).toBe('ERROR: failed to push');
    expect(lastLines('a\nb\nc\n', 2)).toBe('b\nc');
  });
});

describe('describeGoPanic', () => {
  const log =
    'time="x" level=warning msg="reference for unknown type"\npanic: send on closed channel\n\ngoroutine 6355 [running]:\ngithub.com/containerd/containerd/remotes/docker.(*pushWriter).setPipe(...)\n\tpusher.go:364\n';
  it('names the panic and the function it happened in', () => {
    expect(describeGoPanic(log)).toBe('panic: send on closed channel in github.com/containerd/containerd/remotes/docker.(*pushWriter).setPipe(...)');
  });
  it('reads a fatal error without a goroutine trace, and nothing in a clean log', () => {
    expect(describeGoPanic('\u001b[31mfatal error: all goroutines are asleep\u001b[0m')).toBe('fatal error: all goroutines are asleep');
    expect(describeGoPanic('level=info msg="no panic: here" \nok')).toBeUndefined();
  });
  it('keeps the line short', () => {
    expect(describeGoPanic(`panic: ${'x'.repeat(1000)}`)!.length).toBe(300);
  });
});

describe('clip', () => {
  it('puts text on one line and cuts it to n characters', () => {
    expect(clip('a\n  b\tc')).toBe('a b c');
    expect(clip('x'.repeat(10), 10)).toBe('x'.repeat(10));
    expect(clip('x'.repeat(11), 10)).toBe(`${'x'.repeat(7)}...`);
  });
});
