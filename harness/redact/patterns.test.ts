// The hand detectors' edges, each as the exact text a reader would see: where a value ends, which
// lines a YAML key owns, which flags carry a password. The shape and look-alike lists in
// redact.test.ts check that secrets go and ordinary text stays; these pin the borders between the two.
import { describe, expect, it } from 'vitest';
import { isSecretListKey, userFlagSecret } from './patterns.ts';
import { MASK, redactSecrets } from './redact.ts';

const cases = (rows: [name: string, input: string, want: string][]) => rows;

describe('key: value pairs', () => {
  it.each(
    cases([
      ['a bare value ends at the next space', 'x token=abc123def more', `x token=${MASK} more`],
      ['a value alone on its line runs to the end of the line', 'password: two words here', `password: ${MASK}`],
      ['a bar that is not a block header (text follows it) is the value', 'password: | foo\nnext: 1', `password: ${MASK}\nnext: 1`],
      ['a block header with trailing blanks leaves the lines below to the block rule', 'password: |  \n  s3cretvalue\nnext: 1', `password: |  \n  ${MASK}\nnext: 1`],
      ['a block header with a comment likewise', 'password: | # a comment\n  s3cretvalue', `password: | # a comment\n  ${MASK}`],
    ]),
  )('%s', (_name, input, want) => expect(redactSecrets(input)).toBe(want));
});

describe('YAML values below their key', () => {
  it.each(
    cases([
      ['a plain scalar on the last line, with no newline after it', 'password:\n  s3cret', `password:\n  ${MASK}`],
      ['a scalar without its trailing blanks', 'password:\n  s3cret  \nnext: 1', `password:\n  ${MASK}  \nnext: 1`],
      ['a scalar, up to the next key at the same indentation', 'password:\n  s3cret\nuser: lab', `password:\n  ${MASK}\nuser: lab`],
      ['a list whose first item is an empty dash', 'tokens:\n-\n- abc123', `tokens:\n-\n- ${MASK}`],
      ['a list item after a tab', 'tokens:\n-\tabc123', `tokens:\n-\t${MASK}`],
      ['a nested list, up to the outer list item that follows', 'items:\n  - tokens:\n    - abc123\n  - name: x', `items:\n  - tokens:\n    - ${MASK}\n  - name: x`],
      ['a block scalar, not the list item at its key own indentation', 'password: |\n  s3cret\n- run: x', `password: |\n  ${MASK}\n- run: x`],
      ['an item that only starts like a quoted secret spec', 'secret:\n  - "id=a,src=b"x', `secret:\n  - ${MASK}`],
      ['an item with a quoted part inside a spec', 'secret:\n  - id=a,"src=b"', `secret:\n  - ${MASK}`],
      ['but not a quoted secret spec', 'secret:\n  - "id=a,src=b"', 'secret:\n  - "id=a,src=b"'],
    ]),
  )('%s', (_name, input, want) => expect(redactSecrets(input)).toBe(want));
});

describe('flow lists', () => {
  const tail = ' and more words'.repeat(10);
  it.each(
    cases([
      ['items under a key at the start of a long text', `tokens: [abc123, def456]${tail}`, `tokens: [${MASK}, ${MASK}]${tail}`],
      ['items without the blanks around them', 'tokens: [abc123 , def456]', `tokens: [${MASK} , ${MASK}]`],
      ['a JSON item ending in an escaped backslash', JSON.stringify({ tokens: ['pw\\'] }), `{"tokens":["${MASK}"]}`],
      ['not a list under a key that names nothing', 'auth ok; list: [a, b]', 'auth ok; list: [a, b]'],
      ['not a list that is never closed', 'tokens: [abc', 'tokens: [abc'],
      ['not the secret specs of a bake target', 'secret = ["id=npmrc,src=.npmrc"]', 'secret = ["id=npmrc,src=.npmrc"]'],
    ]),
  )('%s', (_name, input, want) => expect(redactSecrets(input)).toBe(want));
});

describe('curl -u and --user in text', () => {
  it.each(
    cases([
      ['a numeric password of a named user', 'curl -u lab:1234 x', `curl -u lab:${MASK} x`],
      ['a numeric password of a user whose name ends in a digit', 'curl -u lab1:1234 x', `curl -u lab1:${MASK} x`],
      ['a password after a numeric user', 'curl -u 1000:pw1234 x', `curl -u 1000:${MASK} x`],
      ['a password that starts with digits, after a numeric user', 'docker run -u 1000:1234pw x', `docker run -u 1000:${MASK} x`],
      ['a quoted password with a space, in text of several lines', "curl -u 'lab:two words' x\nnext", `curl -u 'lab:${MASK}' x\nnext`],
    ]),
  )('%s', (_name, input, want) => expect(redactSecrets(input)).toBe(want));
});

describe('userFlagSecret (argv kept as an array)', () => {
  it.each([
    ['-u', 'lab:1234', { start: 4, end: 8 }],
    ['-u', '1000:12ab', { start: 5, end: 9 }],
    ['--proxy-user', 'p:q', { start: 2, end: 3 }],
    ['-u', 'lab', undefined],
    ['-u', '1000:1000', undefined],
    ['-u', `lab:${MASK}`, undefined],
    ['-c', 'user.name:lab', undefined],
    ['--user-agent', 'Mozilla:5.0', undefined],
    ['--menu', 'a:b', undefined],
  ])('%s %s', (flag, value, want) => expect(userFlagSecret(flag, value)).toEqual(want));
});

describe('name/value pairs', () => {
  it.each(
    cases([
      [
        'the value of a secret name, not of the names around it',
        'env:\n- name: LOG_LEVEL\n  value: debug\n- name: DB_PASS\n  value: s3cret',
        `env:\n- name: LOG_LEVEL\n  value: debug\n- name: DB_PASS\n  value: ${MASK}`,
      ],
      ['a JSON value, inside its quotes', '{"name":"DB_PASS","value":"s3cret"}', `{"name":"DB_PASS","value":"${MASK}"}`],
      ['not a name that only holds _KEY in its middle', '- name: MY_KEY_ID\n  value: abc123', '- name: MY_KEY_ID\n  value: abc123'],
    ]),
  )('%s', (_name, input, want) => expect(redactSecrets(input)).toBe(want));
});

describe('private keys', () => {
  const begin = (kind = '') => `-----BEGIN ${kind}PRIVATE KEY-----`;
  const end = (kind = '') => `-----END ${kind}PRIVATE KEY-----`;
  it.each(
    cases([
      [
        'two keys, each to its own END, the text between kept',
        `${begin()}\nAAA\n${end()}\nmid\n${begin('EC ')}\nBBB\n${end('EC ')}\nend`,
        `${begin()}${MASK}${end()}\nmid\n${begin('EC ')}${MASK}${end('EC ')}\nend`,
      ],
      ['a BEGIN inside a key that was cut, to the END of the second', `${begin()}\nAAA\n${begin()}\nBBB\n${end()}\nend`, `${begin()}${MASK}${end()}\nend`],
      ['a key cut short, to the end of the text', `log\n${begin()}\nMIIEvQIBADANBg`, `log\n${begin()}${MASK}`],
    ]),
  )('%s', (_name, input, want) => expect(redactSecrets(input)).toBe(want));

  it('masks at most 64 KiB of a key whose END is missing (what follows a cut key is the log again)', () => {
    const out = redactSecrets(`${begin()}\n${'A'.repeat(70 * 1024)}`);
    expect(out).toBe(`${begin()}${MASK}${'A'.repeat(70 * 1024 + 1 - 64 * 1024)}`);
  });
});

describe('isSecretListKey', () => {
  it.each([
    ['tokens', true],
    ['secrets_tokens', true],
    ['auths', true],
    ['secrets', false],
    ['tokenx', false],
    ['platforms', false],
  ])('%s: %s', (key, want) => expect(isSecretListKey(key)).toBe(want));
});
