import { describe, expect, it } from 'vitest';
import { MASK, lastAtOrBefore, maskSpans, plainView, toOriginalSpans, type Span } from './spans.ts';

const span = (start: number, end: number): Span => ({ start, end });

describe('maskSpans', () => {
  it.each<[string, Span[], string]>([
    ['no span', [], 'abcdefghij'],
    ['an empty span', [span(3, 3)], 'abcdefghij'],
    ['a reversed span', [span(5, 2)], 'abcdefghij'],
    ['one span', [span(2, 5)], 'ab#fghij'],
    ['a span at each end', [span(0, 2), span(8, 10)], '#cdefgh#'],
    ['two apart, given in reverse order', [span(6, 8), span(1, 3)], 'a#def#ij'],
    ['overlapping spans merge', [span(1, 4), span(3, 6)], 'a#ghij'],
    ['touching spans merge', [span(1, 4), span(4, 6)], 'a#ghij'],
    ['a span inside another', [span(1, 8), span(2, 3)], 'a#ij'],
    ['a chain of three', [span(1, 3), span(2, 5), span(4, 7), span(9, 10)], 'a#hi#'],
  ])('%s', (_name, spans, want) => {
    expect(maskSpans('abcdefghij', spans, '#')).toBe(want);
  });

  it('does not change the spans it is given', () => {
    const spans = [span(3, 6), span(1, 4)];
    maskSpans('abcdefghij', spans, '#');
    expect(spans).toEqual([span(3, 6), span(1, 4)]);
  });
});

describe('plainView', () => {
  it('is the text itself when it has no escape sequence', () => {
    const view = plainView('plain text');
    expect(view.plain).toBe('plain text');
    expect([0, 5, 10].map(view.toOriginal)).toEqual([0, 5, 10]);
  });

  it('drops CSI and OSC sequences and maps each plain index back', () => {
    const text = '\u001b[1mab\u001b[0m c\u001b]0;title\u0007d';
    const view = plainView(text);
    expect(view.plain).toBe('ab cd');
    // a (4) b (5) ' ' (10) c (11) d (22), and the end maps to the end
    expect(Array.from({ length: 6 }, (_, i) => view.toOriginal(i))).toEqual([4, 5, 10, 11, 22, text.length]);
  });

  it('drops two-character escapes, and keeps an escape that is none', () => {
    expect(plainView('a\u001bMb\u001b7c').plain).toBe('ab\u001b7c');
  });

  it('maps spans back over the sequences inside and around them', () => {
    const text = 'x \u001b[33msecret\u001b[0m y';
    const view = plainView(text);
    const [found] = toOriginalSpans(view, [span(2, 8)]);
    expect(text.slice(found!.start, found!.end)).toBe('secret');
    expect(maskSpans(text, [found!], MASK)).toBe(`x \u001b[33m${MASK}\u001b[0m y`);
    // an empty span stays empty, at its place: before the sequence that precedes the next character
    expect(toOriginalSpans(view, [span(2, 2)])).toEqual([span(7, 7)]);
  });
});

describe('lastAtOrBefore', () => {
  it.each([
    [[0, 10, 20], -1, 0],
    [[0, 10, 20], 0, 0],
    [[0, 10, 20], 9, 0],
    [[0, 10, 20], 10, 1],
    [[0, 10, 20], 19, 1],
    [[0, 10, 20], 20, 2],
    [[0, 10, 20], 99, 2],
    [[0, 10, 20, 30, 40], 31, 3],
    [[5], 1, 0],
    [[], 7, 0],
  ])('in %j, position %i is at entry %i', (starts, pos, want) => {
    expect(lastAtOrBefore(starts, pos)).toBe(want);
  });
});
