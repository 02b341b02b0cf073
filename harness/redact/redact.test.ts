import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSecretKey } from './patterns.ts';
import { MASK, MAX_DEPTH, TOO_DEEP, redactDeep, redactSecrets, redactStrings } from './redact.ts';
import { lookAlikes, secretShapes } from './secret-shapes.test-helpers.ts';
import { secretlintRuleIds, secretlintSpans } from './secretlint.ts';

/** Every 8-character window of a secret: none may survive (a partial mask still leaks). */
function windows(secret: string): string[] {
  const clean = secret.replace(/\\"/g, '"');
  return clean.length < 8 ? [clean] : Array.from({ length: clean.length - 7 }, (_, i) => clean.slice(i, i + 8));
}

describe('redactSecrets masks real secret shapes', () => {
  const shapes = secretShapes();
  it('has at least 40 shapes', () => expect(shapes.length).toBeGreaterThanOrEqual(40));

  it.each(shapes)('%s', (_name, text, secret) => {
    const out = redactSecrets(text);
    expect(out).toContain(MASK);
    // the one-letter YAML password: check the line, since 'x' occurs in ordinary words
    if (secret.length < 4) expect(out).toMatch(/password: \[REDACTED\]\n/);
    else for (const w of windows(secret)) expect(out, `"${w}" of the secret survived in ${JSON.stringify(out)}`).not.toContain(w);
  });

  it('is idempotent', () => {
    for (const [, text] of shapes) expect(redactSecrets(redactSecrets(text))).toBe(redactSecrets(text));
  });
});

describe('redactSecrets leaves look-alikes alone', () => {
  const alikes = lookAlikes();
  it('has at least 20 look-alikes', () => expect(alikes.length).toBeGreaterThanOrEqual(20));
  it.each(alikes)('%s', (_name, text) => expect(redactSecrets(text)).toBe(text));
});

describe('what is kept around a secret', () => {
  it.each([
    ['the user of a URL', 'https://labuser:pw-123456@registry:5000/v2/', `https://labuser:${MASK}@registry:5000/v2/`],
    ['the auth scheme', 'Authorization: Basic bGFiOnB3LTEyMzQ1Ng==', `Authorization: Basic ${MASK}`],
    ['JSON quotes', '{"password":"pa\\"ss","user":"lab"}', `{"password":"${MASK}","user":"lab"}`],
    ['escaped JSON quotes', '{\\"auth\\":\\"bGFiOnB3LTEyMzQ1Ng==\\"}', `{\\"auth\\":\\"${MASK}\\"}`],
    ['ANSI colours outside the secret', '\u001b[31mERROR\u001b[0m token=abc123def', `\u001b[31mERROR\u001b[0m token=${MASK}`],
    ['the next field of a Go map', 'map[Authorization:[Bearer abc123def456] X:[1]]', `map[Authorization:[Bearer ${MASK}] X:[1]]`],
    [
      "a private key's BEGIN and END lines",
      '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----',
      `-----BEGIN PRIVATE KEY-----${MASK}-----END PRIVATE KEY-----`,
    ],
    [
      'what follows a typed private key',
      '-----BEGIN RSA PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END RSA PRIVATE KEY-----\nafter',
      `-----BEGIN RSA PRIVATE KEY-----${MASK}-----END RSA PRIVATE KEY-----\nafter`,
    ],
    [
      'what follows a private key deep in a long log',
      `${'x'.repeat(70_000)}\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----\nafter`,
      `${'x'.repeat(70_000)}\n-----BEGIN PRIVATE KEY-----${MASK}-----END PRIVATE KEY-----\nafter`,
    ],
    ['a JSON password ending in a backslash', JSON.stringify({ password: 'p\\' }), `{"password":"${MASK}"}`],
    ['the rest of a line when the key does not start it', 'x password: two words', `x password: ${MASK} words`],
    ['the spaces after a value that ends its line', 'password: two words \r\nnext: 1', `password: ${MASK} \r\nnext: 1`],
    ['a list item: the value runs to the end of its line', 'a\n  - password: two words\nb', `a\n  - password: ${MASK}\nb`],
    ['a tab-indented list item', '\t-\tpassword: two words', `\t-\tpassword: ${MASK}`],
    ['a list item at the very start', '- password: two words', `- password: ${MASK}`],
    ['an indented key at the very start', ' password: two words', ` password: ${MASK}`],
    ['a dash that is no list item', 'ab - password: two words', `ab - password: ${MASK} words`],
    ['a coloured header that does not start its line', '> Authorization: \u001b[1mBearer\u001b[0m s3cr3tv4lue9 sent', `> Authorization: \u001b[1mBearer\u001b[0m ${MASK} sent`],
    ['the second space after an auth scheme', 'retry with Bearer  AbCd1234EfGh', `retry with Bearer  ${MASK}`],
    ['the second space after a secret flag', 'run --password  hunter2 --user x', `run --password  ${MASK} --user x`],
    ['the second space after login -p', 'docker login -u u -p  hunter2 r:5000', `docker login -u u -p  ${MASK} r:5000`],
    ['the user of curl -u', 'curl -u lab:hunter2 http://r/', `curl -u lab:${MASK} http://r/`],
    [
      "a block scalar's indicator and indentation, and the next key",
      'a:\n  password: |\n    line one\n\n    line two\n  user: lab',
      `a:\n  password: |\n    ${MASK}\n\n    ${MASK}\n  user: lab`,
    ],
    ['a block scalar indicator with nothing under it is the value', 'password: |\nuser: lab', `password: ${MASK}\nuser: lab`],
    ['the dashes of a list', 'tokens:\n- one1\n-   two2\n  more\nuser: lab', `tokens:\n- ${MASK}\n-   ${MASK}\n  ${MASK}\nuser: lab`],
    ['the items of a flow list, quotes and all', 'tokens: [one1, "two2"]', `tokens: [${MASK}, "${MASK}"]`],
    ['the other values of a connection string', 'AccountName=lab;AccountKey=abc+/==;EndpointSuffix=x', `AccountName=lab;AccountKey=${MASK};EndpointSuffix=x`],
    ['the other query parameters of a SAS URL', 'https://a.blob/c?sv=1&sig=abc%2B&se=2', `https://a.blob/c?sv=1&sig=${MASK}&se=2`],
  ])('%s', (_name, input, want) => expect(redactSecrets(input)).toBe(want));

  it.each([
    ['#ci:pw-123456', 'I'],
    ['dev:pw-123456', 'Z'],
    ['hal:pw-123456', 'a'],
    ['~u:pw-1234567', 'f'],
  ])('masks base64 %s, whose encoding starts with %s (an end of the printable range)', (auth, first) => {
    const token = Buffer.from(auth).toString('base64');
    expect(token[0]).toBe(first);
    expect(redactSecrets(`using ${token} now`)).toBe(`using ${MASK} now`);
  });

  it('cannot be switched off by a secretlint-disable comment in the text', () => {
    const token = `ghp_${'a1B2c3D4e5'.repeat(3)}a1B2c3`;
    expect(redactSecrets(`// secretlint-disable\n${token}\n// secretlint-enable-line`)).not.toContain(token);
  });
});

describe('secretlint host', () => {
  it('runs the preset scanners synchronously, without the comment filter or the whole-URL rules', () => {
    const ids = secretlintRuleIds();
    expect(ids.length).toBeGreaterThanOrEqual(20);
    expect(ids).toEqual(expect.arrayContaining(['@secretlint/secretlint-rule-github', '@secretlint/secretlint-rule-aws', '@secretlint/secretlint-rule-privatekey']));
    expect(ids).not.toContain('@secretlint/secretlint-rule-filter-comments');
    expect(ids).not.toContain('@secretlint/secretlint-rule-basicauth');
    // every scanner answers synchronously (secretlintSpans throws on a Promise)
    expect(() =>
      secretlintSpans(
        secretShapes()
          .map(([, t]) => t)
          .join('\n'),
      ),
    ).not.toThrow();
  });

  it('finds the vendor formats by itself (the hand list does not carry them)', () => {
    // (its private-key rule checks the key's structure, so the hand rule masks any PEM body as well)
    const vendor = secretShapes().filter(([n]) => /GitHub|GitLab|npm access|AWS|Slack|Stripe|SendGrid|OpenAI|Anthropic|Hugging|Docker Hub/.test(n));
    expect(vendor.length).toBeGreaterThanOrEqual(18);
    for (const [name, text] of vendor) expect(secretlintSpans(text).length, name).toBeGreaterThan(0);
  });

  it('masks the whole AWS secret although the rule reports a shifted range', () => {
    const key = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYzzzzzzzzzz';
    const out = redactSecrets(`aws_secret_access_key = ${key}`);
    for (const w of windows(key)) expect(out).not.toContain(w);
  });
});

describe("the lab's own secrets", () => {
  const secret = `buildx-lab-secret-${'0123456789abcdef01234567890abcdef0123456'.slice(0, 40)}`;
  it.each([
    ['a build log line with no key around it', `#9 0.3 echo ${secret}`],
    ['a --build-arg of another name', `--build-arg X=${secret}`],
    ['inside a cache flag', `type=s3,bucket=b,secret_access_key=${secret},region=us-east-1`],
    ['a JSON value under a plain key', `{"note":"${secret}"}`],
  ])('masks one made by the S3 endpoint anywhere: %s', (_, text) => {
    const out = redactSecrets(text);
    for (const w of windows(secret.slice('buildx-lab-secret-'.length))) expect(out).not.toContain(w);
  });

  it('masks one cut short (a fact clipped to 200 characters), down to a single hex digit', () => {
    expect(redactSecrets(`dap[3] evaluate: failed: ${secret.slice(0, -1)}…`)).toBe('dap[3] evaluate: failed: [REDACTED]…');
    expect(redactSecrets(`${secret.slice(0, 19)}`)).toBe('[REDACTED]');
    expect(redactSecrets('buildx-lab-secret- buildx-lab-secret-x')).toBe('buildx-lab-secret- buildx-lab-secret-x');
  });
});

describe('isSecretKey', () => {
  it.each([
    'password',
    'DOCKER_PASSWORD',
    'accessToken',
    'api_key',
    'apiKey',
    'x-api-key',
    'GITHUB_TOKEN',
    'identitytoken',
    'registrytoken',
    'auth',
    'X-Registry-Auth',
    'AWS_SECRET_ACCESS_KEY',
    'client_secret',
    '_authToken',
    'private_key',
    // every last word, and every last two
    'passwd',
    'DB_PWD',
    'passphrase',
    'secret',
    'Authorization',
    'credential',
    'AWS_CREDENTIALS',
    'apikey',
    'accesstoken',
    'refreshtoken',
    'authtoken',
    'secret_key',
    'signing_key',
    'session_key',
    'GITHUB_TOKEN_',
    `${'x'.repeat(119)}_password`,
  ])('%s is a secret key', (k) => expect(isSecretKey(k)).toBe(true));
  it.each(['PGPASSWORD', 'DB_PASS', 'dbPass', 'AccountKey', 'SharedAccessSignature', 'MYSQLPASSWORD'])('%s is a secret key too', (k) => expect(isSecretKey(k)).toBe(true));
  it.each(['pass', 'bypass', 'OLDPWD', 'signature', 'compass'])('%s is not either', (k) => expect(isSecretKey(k)).toBe(false));
  it.each([
    'author',
    'auths',
    'max_tokens',
    'token_type',
    'PASSWORD_FILE',
    'key',
    'digest',
    'mediaType',
    'aws_access_key_id',
    'tokenizer',
    'monkey',
    `${'x'.repeat(120)}_password`,
  ])('%s is not', (k) => expect(isSecretKey(k)).toBe(false));
});

describe('redactDeep', () => {
  it('masks argv values after secret flags, secret-named keys, and secret keys themselves', () => {
    const out = redactDeep({
      argv: ['docker', 'login', '-u', 'u', '-p', 'hunter2'],
      push: ['buildx', '--token', 'abc', '--password-stdin'],
      cfg: { password: 'hunter2', n: 1, auths: { r: { auth: 'bGFiOnB3', identitytoken: 'idt' } } },
      manifests: { 'https://lab:pw-123456@registry:5000/v2/': 1 },
    });
    expect(out).toEqual({
      argv: ['docker', 'login', '-u', 'u', '-p', MASK],
      push: ['buildx', '--token', MASK, '--password-stdin'],
      cfg: { password: MASK, n: 1, auths: { r: { auth: MASK, identitytoken: MASK } } },
      manifests: { [`https://lab:${MASK}@registry:5000/v2/`]: 1 },
    });
  });

  it('masks a private key split over two strings of one batch, each string up to its own end', () => {
    const body = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7'.repeat(3);
    expect(redactStrings(['before', `key: -----BEGIN PRIVATE KEY-----\n${body}`, `${body}\n-----END PRIVATE KEY-----\nafter`, 'next'])).toEqual([
      'before',
      `key: ${MASK}`,
      `${MASK}\nafter`,
      'next',
    ]);
  });

  it('judges the strings of a batch apart: a token is not made of two', () => {
    const texts = ['see ghp_', 'a1B2c3D4e5a1B2c3D4e5a1B2c3D4e5a1B2c3'];
    expect(redactStrings(texts)).toEqual(texts);
  });

  it('masks whole strings only: numbers and objects under secret keys or after secret flags keep their shape, an empty secret stays empty', () => {
    const value = { password: '', token: 7, auth: { user: 'u' }, argv: ['--token', 42, 'login', '-p', true, { '--password': 1 }, 'x'] };
    expect(redactDeep(value)).toEqual(value);
  });

  it('keeps a "__proto__" key as a key of its own (JSON.parse makes one), and redacts under it', () => {
    const out = redactDeep(JSON.parse('{"__proto__": {"password": "hunter2"}, "a": 1}') as object);
    expect(Object.keys(out)).toEqual(['__proto__', 'a']);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(JSON.stringify(out)).toBe(`{"__proto__":{"password":"${MASK}"},"a":1}`);
  });

  it('masks the value after every secret flag', () => {
    const argv = ['--password', 'a', '--token', 'b', '--identity-token', 'c', '--registry-token', 'd', '--secret-value', 'e', '--user', 'f'];
    expect(redactDeep(argv)).toEqual(['--password', MASK, '--token', MASK, '--identity-token', MASK, '--registry-token', MASK, '--secret-value', MASK, '--user', 'f']);
  });

  it('masks the password after -u/--user in argv, keeping the user and numeric uid:gid', () => {
    expect(redactDeep(['curl', '-u', 'lab:hunter2', '--user', 'lab:pw', '-fsSu', 'x:y', '--proxy-user', 'p:q', 'docker', '-u', '1000:1000'])).toEqual([
      'curl',
      '-u',
      `lab:${MASK}`,
      '--user',
      `lab:${MASK}`,
      '-fsSu',
      `x:${MASK}`,
      '--proxy-user',
      `p:${MASK}`,
      'docker',
      '-u',
      '1000:1000',
    ]);
  });

  it('masks a secret build arg or env value in argv', () => {
    expect(redactDeep(['build', '--build-arg', 'DB_PASS=hunter2', '-e', 'PGPASSWORD=hunter2', '--build-arg', 'VERSION=1'])).toEqual([
      'build',
      '--build-arg',
      `DB_PASS=${MASK}`,
      '-e',
      `PGPASSWORD=${MASK}`,
      '--build-arg',
      'VERSION=1',
    ]);
  });

  it('keeps the secret specs of a bake target and the names under secrets:', () => {
    const bake = { target: { app: { secret: ['id=npmrc,src=.npmrc', 'id=TOKEN,env=TOKEN'] } }, secrets: ['npm_token'] };
    expect(redactDeep(bake)).toEqual(bake);
  });

  it('masks each string of a list under a secret key, plural or not', () => {
    expect(redactDeep({ tokens: ['a', 'b', 3], password: ['c'], platforms: ['linux/amd64'] })).toEqual({ tokens: [MASK, MASK, 3], password: [MASK], platforms: ['linux/amd64'] });
  });

  it("masks a docker config's auths, an object under a plural secret key, without taking it for a list", () => {
    expect(redactDeep({ auths: { 'registry:5000': { auth: 'bGFiOnB3LTEyMzQ1Ng==' } } })).toEqual({ auths: { 'registry:5000': { auth: MASK } } });
  });

  it('keeps an empty string in a list under a secret key empty', () => {
    expect(redactDeep({ tokens: ['', 'abc'] })).toEqual({ tokens: ['', MASK] });
  });

  it('gives the same strings however a long list is cut into batches', () => {
    const texts = ['token=abc123def', 'plain', 'password: hunter2', `${'x'.repeat(50)} GITHUB_TOKEN=ghx`, 'last'];
    const whole = redactStrings(texts);
    expect(whole).toEqual([`token=${MASK}`, 'plain', `password: ${MASK}`, `${'x'.repeat(50)} GITHUB_TOKEN=${MASK}`, 'last']);
    for (const batchChars of [1, 20, 40]) expect(redactStrings(texts, batchChars)).toEqual(whole);
  });

  it('keeps numbers, booleans and null', () => expect(redactDeep({ a: 1, b: true, c: null, d: [2.5] })).toEqual({ a: 1, b: true, c: null, d: [2.5] }));
});

describe('properties', () => {
  // printable values without the characters JSON would need to escape twice over; fast-check finds the rest
  const value = fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' });

  it('a JSON password is masked whole, and the JSON stays valid', () => {
    fc.assert(
      fc.property(value, (pw) => {
        const out = redactSecrets(JSON.stringify({ user: 'lab', password: pw }));
        expect(JSON.parse(out)).toEqual({ user: 'lab', password: MASK });
      }),
      { numRuns: 500 },
    );
  });

  it('a password in JSON escaped inside another JSON string is masked whole', () => {
    fc.assert(
      fc.property(value, (pw) => {
        const out = redactSecrets(JSON.stringify({ stdout: JSON.stringify({ password: pw }) }));
        expect(JSON.parse(JSON.parse(out).stdout)).toEqual({ password: MASK });
      }),
      { numRuns: 500 },
    );
  });

  it('an env var secret is masked up to the next space or quote', () => {
    // (a leading '>' would make `=>`, Ruby's hash arrow, which the key-value rule reads as a separator)
    const envValue = fc.stringMatching(/^[^\s"'`>][^\s"'`]{0,40}$/);
    fc.assert(
      fc.property(envValue, (v) => {
        expect(redactSecrets(`NPM_TOKEN=${v} npm publish`)).toBe(`NPM_TOKEN=${MASK} npm publish`);
      }),
      { numRuns: 500 },
    );
  });

  it('keeps the shape of any JSON value and is idempotent on it', () => {
    // the value with every string (keys included) left out: numbers, booleans, nulls and nesting stay
    const shape = (x: unknown): unknown =>
      typeof x === 'string' ? 'string' : Array.isArray(x) ? x.map(shape) : x !== null && typeof x === 'object' ? Object.values(x).map(shape) : x;
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const once = redactDeep(v);
        expect(shape(once)).toEqual(shape(v));
        expect(redactDeep(once)).toEqual(once);
      }),
      { numRuns: 300 },
    );
  });

  it('never throws and is idempotent on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (t) => {
        const once = redactSecrets(t);
        expect(redactSecrets(once)).toBe(once);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('redactDeep on JSON nested thousands deep (a registry answer or a shard from elsewhere)', () => {
  it('leaves out what lies deeper than MAX_DEPTH instead of overflowing the stack, and keeps masking above it', () => {
    let deep: unknown = { password: 'hunter2-deep' };
    for (let i = 0; i < 5000; i++) deep = { n: deep };
    const out = JSON.stringify(redactDeep({ password: 'hunter2-top', deep }));
    expect(out).toContain(TOO_DEEP);
    expect(out).not.toContain('hunter2');
  });

  it('keeps every string above the cut in its own place, and the values after the deep one', () => {
    // a string at every level: gathering and rebuilding must stop at the same depth, or every string
    // after the cut shifts by one (the sibling `after` would receive a deep string)
    let deep: unknown = 'leaf';
    for (let level = 299; level >= 0; level--) deep = [`s${level}`, deep];
    const out = redactDeep({ deep, after: 'kept' }) as unknown as { deep: unknown; after: string };
    const kept: unknown[] = [];
    let node = out.deep;
    for (; Array.isArray(node); node = node[1]) kept.push(node[0]);
    // the root object is level 0: the arrays fill levels 1 to MAX_DEPTH, the strings in them levels 2 to MAX_DEPTH + 1
    expect(kept).toEqual([...Array.from({ length: MAX_DEPTH - 1 }, (_, level) => `s${level}`), TOO_DEEP]);
    expect(node).toBe(TOO_DEEP);
    expect(out.after).toBe('kept');
  });
});
