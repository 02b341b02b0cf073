import { describe, expect, it } from 'vitest';
import { command, immutableTagCells, makeCell, pullStreamCells } from './fixtures.test-helpers.ts';
import { escapeXml, toJUnitXml } from './junit.ts';
import { redactDeep } from '../redact/redact.ts';

interface XmlNode {
  name: string;
  attrs: Record<string, string>;
  children: XmlNode[];
  text: string;
}

/** A small strict structural parser: balanced tags, quoted attributes, only known entities, no control characters. */
function parseXml(xml: string): XmlNode {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/.test(xml)) throw new Error('control character in XML');
  const body = xml.replace(/^<\?xml[^?]*\?>\s*/, '');
  const root: XmlNode = { name: '#root', attrs: {}, children: [], text: '' };
  const stack = [root];
  const re = /<(\/?)([A-Za-z][\w-]*)((?:\s+[\w-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/gy;
  let m: RegExpExecArray | null;
  let pos = 0;
  while (pos < body.length) {
    re.lastIndex = pos;
    m = re.exec(body);
    if (!m) throw new Error(`malformed XML at ${pos}: ${body.slice(pos, pos + 40)}`);
    pos = re.lastIndex;
    const top = stack[stack.length - 1]!;
    if (m[5] !== undefined) {
      if (/&(?!(amp|lt|gt|quot|apos);)/.test(m[5])) throw new Error(`bad entity in ${m[5]}`);
      top.text += m[5];
      continue;
    }
    const [, close, name, rawAttrs, selfClose] = m;
    if (close) {
      if (top.name !== name) throw new Error(`</${name}> closes <${top.name}>`);
      stack.pop();
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const a of rawAttrs!.matchAll(/([\w-]+)="([^"]*)"/g)) {
      if (/&(?!(amp|lt|gt|quot|apos);)/.test(a[2]!)) throw new Error(`bad entity in attribute ${a[1]}`);
      attrs[a[1]!] = a[2]!;
    }
    const node: XmlNode = { name: name!, attrs, children: [], text: '' };
    top.children.push(node);
    if (!selfClose) stack.push(node);
  }
  if (stack.length !== 1) throw new Error(`unclosed <${stack[stack.length - 1]!.name}>`);
  if (root.children.length !== 1) throw new Error('expected one root element');
  return root.children[0]!;
}

const unescapeXml = (s: string) =>
  s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');

describe('toJUnitXml', () => {
  const results = [...pullStreamCells(), ...immutableTagCells()];
  const xml = toJUnitXml(redactDeep(results), { suiteName: 'buildx-lab <run & "1">' });
  const root = parseXml(xml);

  it('is well-formed with one testsuite per scenario', () => {
    expect(root.name).toBe('testsuites');
    expect(unescapeXml(root.attrs['name']!)).toBe('buildx-lab <run & "1">');
    expect(root.children.map((s) => s.attrs['name'])).toEqual(['pull-stream-errors', 'immutable-tags-push']);
    expect(root.attrs).toMatchObject({ tests: '9', failures: '2', errors: '1', skipped: '1' });
  });

  const cases = root.children.flatMap((s) => s.children);
  const byName = (name: string) => cases.filter((c) => unescapeXml(c.attrs['name']!) === name);

  it.each(results.map((r, i) => [r.name, i] as const))('%s has a testcase with classname and time', (name, i) => {
    const tc = byName(name)[results.filter((r, j) => r.name === name && j < i).length]!;
    expect(tc.name).toBe('testcase');
    expect(tc.attrs['classname']).toBe(results[i]!.scenario);
    expect(tc.attrs['time']).toBe('4.500');
  });

  it.each([
    [0, []],
    [1, []],
    [2, ['failure']],
    [3, ['error']],
    [4, []],
    [6, ['failure']],
    [7, ['skipped']],
  ])('result %i yields %j', (i, kinds) => {
    const r = results[i]!;
    const tcs = byName(r.name);
    const tc = tcs.length > 1 ? tcs[i - 5]! : tcs[0]!;
    expect(tc.children.map((c) => c.name).filter((n) => n !== 'system-out')).toEqual(kinds);
  });

  it('puts summary and stderr tail in the failure body, escaped', () => {
    const err = byName(results[3]!.name)[0]!.children.find((c) => c.name === 'error')!;
    expect(err.attrs['type']).toBe('engine-start');
    const body = unescapeXml(err.text);
    expect(body).toContain('the DinD engine died before the build');
    expect(body).toContain('failed to start containerd: timeout & <odd> "chars" \\u0007');
    const fail = byName(results[2]!.name)[0]!.children.find((c) => c.name === 'failure')!;
    expect(unescapeXml(fail.attrs['message']!)).toContain('<script>alert(1)</script>');
    expect(fail.attrs['type']).toBe('expected fixed, got unexpected');
  });

  it('keeps only the last 30 stderr lines', () => {
    const stderr = Array.from({ length: 100 }, (_, i) => `line ${i}`).join('\n');
    const r = makeCell({
      axes: { buildx: 'v0.1.0' },
      outcome: 'unexpected',
      expected: 'fixed',
      evidence: { commands: [command(['x'], 1, stderr)], journal: [], manifests: {}, facts: [] },
    });
    const text = toJUnitXml(redactDeep([r]), { suiteName: 's' });
    expect(text).toContain('line 99');
    expect(text).toContain('line 70\n');
    expect(text).not.toContain('line 69\n');
  });

  it('is well-formed for an empty run', () => {
    expect(parseXml(toJUnitXml(redactDeep([]), { suiteName: 's' })).attrs['tests']).toBe('0');
  });
});

describe('escapeXml', () => {
  it.each([
    ['a & b', 'a &amp; b'],
    ['<x y="1">\'', '&lt;x y=&quot;1&quot;&gt;&apos;'],
    ['bell\u0007 nul\u0000', 'bell\\u0007 nul\\u0000'],
    ['\u001b[31mred\u001b[0m', 'red'],
    ['tab\tnewline\n', 'tab\tnewline\n'],
    ['lone \uD800 surrogate', 'lone \\ud800 surrogate'],
    ['pair \u{1F600}', 'pair \u{1F600}'],
  ])('%j', (input, want) => expect(escapeXml(input)).toBe(want));
});

describe('attributes', () => {
  it('keep line breaks and tabs as character references, which XML parsers do not fold into spaces', () => {
    const r = makeCell({ axes: { buildx: 'v0.1.0' }, outcome: 'unexpected', expected: 'fixed', summary: 'line 1\nline 2\tend' });
    expect(toJUnitXml(redactDeep([r]), { suiteName: 's' })).toContain('message="line 1&#10;line 2&#9;end"');
  });
});
