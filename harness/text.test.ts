import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { errorLine, lastLines, shellJoin, shellQuote, stripAnsi } from './text.ts';

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
  });
});

describe('text helpers', () => {
  it('strips ANSI and finds the error line', () => {
    expect(stripAnsi('\u001b[31mred\u001b[0m')).toBe('red');
    expect(errorLine('#1 ok\nERROR: failed to push\n#2 done')).toBe('ERROR: failed to push');
    expect(lastLines('a\nb\nc\n', 2)).toBe('b\nc');
  });
});
