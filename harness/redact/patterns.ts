// The hand half of the redactor: what secretlint's preset does not cover, because it is about the
// shape of the text around a secret rather than a vendor's token format: `key=value` / `key: value`
// pairs whose key names a secret (env vars, YAML, JSON, escaped JSON, Go maps, headers), credentials
// in URLs, bare Bearer/Basic credentials, secret argv flags, docker's base64 `user:password` auths,
// and the few token formats the preset lacks (JWTs, Google API keys, any PEM private key).
import { MASK, type Span } from './spans.ts';

/** The mask as a regexp, so that a second pass leaves a masked value alone. */
const MASKED = MASK.replace(/[[\]]/g, '\\$&');

/** A detector reads the plain text (no ANSI sequences) and adds the spans to mask to `out` (a report
 * redacts a million short strings: no arrays per string). */
export type Detector = (text: string, out: Span[]) => void;

const LAST_WORDS = new Set([
  'password',
  'passwd',
  'pwd',
  'passphrase',
  'secret',
  'token',
  'auth',
  'authorization',
  'credential',
  'credentials',
  'apikey',
  'identitytoken',
  'registrytoken',
  'accesstoken',
  'refreshtoken',
  'authtoken',
  'secretkey',
  'privatekey',
]);
const SECRET_STEM = /pwd|pass|secret|token|auth|credential|key|signature/i;
const LAST_TWO_WORDS = new Set([
  'apikey',
  'accesskey',
  'secretkey',
  'privatekey',
  'signingkey',
  'clientsecret',
  'sessionkey',
  // Azure connection strings: AccountKey=…;SharedAccessSignature=…
  'accountkey',
  'accesssignature',
]);
/** Secret words a name may glue a prefix to (PGPASSWORD, MYSQLPASSWORD); short ones (pwd: OLDPWD is a directory) may not. */
const GLUED = /(?:password|passwd|passphrase|secret|token)$/;

/**
 * True when a key (JSON/YAML key, env var, header, flag name without dashes) names a secret: its last
 * word is password, token, secret, auth, ... or its last two are api key, access key, private key, ...
 * `accessToken`, `api_key`, `GITHUB_TOKEN`, `X-Registry-Auth`, `AWS_SECRET_ACCESS_KEY` are;
 * `author`, `max_tokens`, `token_type`, `auths` (an object of auths) are not.
 */
export function isSecretKey(key: string): boolean {
  // most keys (a report has a million: seq, method, path, ...) hold none of the words: skip the split
  if (key.length > 128 || !SECRET_STEM.test(key)) return false;
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
  // (SECRET_STEM matched, so there is a last word)
  const last = words.at(-1) ?? '';
  // `pass` only after another word (DB_PASS, dbPass): alone it is a count or a flag as often as a password
  return LAST_WORDS.has(last) || GLUED.test(last) || (last === 'pass' && words.length > 1) || LAST_TWO_WORDS.has(words.slice(-2).join(''));
}

/** isSecretKey, or a plural of a secret key (`tokens:`, `passwords:`), for keys that hold a list. Not
 * `secrets:`: in Docker's files (compose, bake, workflows) that lists secret names and specs, not values. */
export function isSecretListKey(key: string): boolean {
  return isSecretKey(key) || (key.endsWith('s') && !/secrets$/i.test(key) && isSecretKey(key.slice(0, -1)));
}

const SPEC_KEY = '(?:type|id|src|source|env|target|required|mode|uid|gid)=[^,\\s]*';
const SECRET_SPEC = new RegExp(`^${SPEC_KEY}(?:,${SPEC_KEY})*$`);
/** A Buildx/BuildKit secret spec (`id=npmrc,src=.npmrc`, `id=TOKEN,env=TOKEN`): where a secret comes
 * from, not the secret; a bake target's `secret` list holds these, and bugs about secrets need them shown. */
export function isSecretReference(item: string): boolean {
  return SECRET_SPEC.test(item);
}

/** An env var name that names a secret: isSecretKey's, and any *_KEY (STRIPE_LIVE_KEY, MASTER_KEY) (a
 * public GPG_KEY fingerprint gets masked too: cheaper than a key that leaks). */
function isSecretEnvName(name: string): boolean {
  return isSecretKey(name) || /_KEY$/.test(name);
}

const AUTH_SCHEME = String.raw`(?:Basic|Bearer|Token|Digest|Negotiate)[ \t]+`;
// value forms: "json string", \"escaped json string\" (inside another JSON string), 'single', bare
const DQ = String.raw`"(?:[^"\\\n]|\\.)*"`;
const ESC_DQ = String.raw`\\"(?:[^"\\]|\\\\\\"|\\\\\\\\|\\\\[^"\\]|\\[^"\\])*\\"`;
const SQ = String.raw`'[^'\n]*'`;
// A bare value is matched by its first character only; where it ends is found by ValueEnds, once per run
// of value characters (a regex running to the end of every value rescanned `token=token=token=…`, whose
// pairs nest, quadratically: 80 KB of it took 1.8 s).
const BARE_START = String.raw`[^\s"'\`,;&)\]}{=:]`;
const BARE_CHAR = /[^\s"'`,;&)\]}]/;
// The lookbehind after the key is a cheap prefilter (most `k=v` pairs in a log are not secrets);
// isSecretKey decides.
const KEY_VALUE = new RegExp(
  String.raw`(?<![\w.\\-])(?:\\?["'])?(?<key>[A-Za-z_][\w.-]{0,80})(?<=pwd|pass|passwd|password|passphrase|secret|token|auth|authorization|credentials?|key|signature)(?:\\?["'])?(?<sep>[ \t]*(?:=>|:|=)[ \t]*)(?!\[?(?:${AUTH_SCHEME})?${MASKED})\[?(?:${AUTH_SCHEME})?(?<value>${ESC_DQ}|${DQ}|${SQ}|${BARE_START})`,
  'gi',
);

/** `password: x`, `"token":"…"`, `GITHUB_TOKEN=…`, `map[Authorization:[Bearer …]]`, `\"auth\":\"…\"`. */
const keyValues: Detector = (text, spans) => {
  const re = KEY_VALUE;
  re.lastIndex = 0;
  const ends = new ValueEnds(text);
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const g = m.groups!;
    const matched = g['value']!;
    const start = m.index + m[0].length - matched.length;
    // a bare value's first character is all the pattern matched (BARE_START holds no quote); a quoted one is longer
    const bare = matched.length === 1;
    const end = bare ? ends.bare(start) : start + matched.length;
    const value = bare ? text.slice(start, end) : matched;
    // the next pair may start inside this one's value (`env: GITHUB_TOKEN=…`)
    re.lastIndex = start;
    if (!isSecretKey(g['key']!)) continue;
    // a YAML block scalar's indicator (`password: |`): yamlBlocks masks the lines that hold the value
    if (BLOCK_INDICATOR.test(value) && /^[ \t]*(?:#[^\n]*)?\r?(?:\n|$)/.test(text.slice(end, end + 200))) continue;
    // keep the quotes: the reader still sees the value was a string
    // Stryker disable next-line MethodExpression: a quoted value ends with the quote it starts with, and a bare one holds none
    const quote = value.startsWith('\\"') ? 2 : value.startsWith('"') || value.startsWith("'") ? 1 : 0;
    // a bake target's `secret = ["id=…,src=…"]` names where a secret comes from
    // Stryker disable next-line ArithmeticOperator: a spec's last value takes any character, so its closing quote cannot change the verdict
    if (isSecretReference(value.slice(quote, value.length - quote))) continue;
    if (quote) spans.push({ start: start + quote, end: end - quote });
    // a `key: value` alone on its line: the value runs to the end of the line (`password: two words`)
    else spans.push({ start, end: g['sep']!.includes(':') && startsLine(text, m.index) ? Math.max(end, ends.line(end)) : end });
  }
};

/** Where values end, each run of characters scanned once however many matches fall inside it. */
class ValueEnds {
  // Stryker disable UnaryOperator: the first call scans whatever the empty cache's bounds are
  #runFrom = -1;
  #runEnd = -1;
  #lineFrom = -1;
  #lineEnd = -1;
  // Stryker restore UnaryOperator
  constructor(private readonly text: string) {}

  /** The end of the bare value starting at `at`: the next space or delimiter. */
  bare(at: number): number {
    // Stryker disable next-line EqualityOperator: a value starts inside a run or after its delimiter, never on its bounds: they decide only whether to scan again
    if (at < this.#runFrom || at >= this.#runEnd) {
      let i = at;
      while (i < this.text.length && BARE_CHAR.test(this.text[i]!)) i++;
      this.#runFrom = at;
      this.#runEnd = i;
    }
    return this.#runEnd;
  }

  /** The end of the line holding `at`, less its trailing blanks. */
  line(at: number): number {
    // Stryker disable next-line EqualityOperator: likewise: scanning a line again gives the same end
    if (at < this.#lineFrom || at > this.#lineEnd) {
      let eol = this.text.indexOf('\n', at);
      if (eol === -1) eol = this.text.length;
      this.#lineFrom = at;
      // Stryker disable next-line ConditionalExpression,EqualityOperator: text[at - 1] ends a value, never a blank
      while (eol > at && /[ \t\r]/.test(this.text[eol - 1]!)) eol--;
      this.#lineEnd = eol;
    }
    return this.#lineEnd;
  }
}

/** True when only indentation (and a YAML list dash) precedes `index` on its line. */
function startsLine(text: string, index: number): boolean {
  let i = index - 1;
  // Stryker disable next-line ConditionalExpression: text[-1] is undefined, neither blank nor dash
  while (i >= 0 && (text[i] === ' ' || text[i] === '\t')) i--;
  // Stryker disable next-line ConditionalExpression: likewise
  if (i >= 0 && text[i] === '-') for (i--; i >= 0 && (text[i] === ' ' || text[i] === '\t'); ) i--;
  return i < 0 || text[i] === '\n';
}

// An env var assignment (`DOCKER_PASSWORD=a,b;c`, `env` output, `docker inspect` Env): the value is
// everything up to a space or a quote, punctuation included.
const ENV_ASSIGNMENT = new RegExp(
  String.raw`(?<![\w.-])(?<key>[A-Z][A-Z0-9_]{0,80})(?<=PWD|PASS|PASSWD|PASSWORD|PASSPHRASE|SECRET|TOKEN|AUTH|AUTHORIZATION|CREDENTIALS?|KEY)=(?!${MASKED})(?<value>[^\s"'\`]+)`,
  'g',
);

const envAssignments: Detector = (text, spans) => {
  for (const m of text.matchAll(ENV_ASSIGNMENT)) {
    if (isSecretEnvName(m.groups!['key']!)) spans.push({ start: m.index + m[0].length - m.groups!['value']!.length, end: m.index + m[0].length });
  }
};

/** A userinfo that is a plain user name (git, deploy, labuser) rather than a token. */
const PLAIN_USER = /^[a-z][a-z._-]{0,31}$/;
// scheme://userinfo@host; the greedy userinfo runs to the last @ of the authority (passwords with a raw @),
// and an image reference's @sha256: digest is not a host
const URL_USERINFO = /(?<![\w+.-])[a-z][a-z0-9+.-]{0,30}:\/\/(?<userinfo>[^\s/?#"'<>`]+)@(?!sha256:|sha384:|sha512:)/dgi;

/** `https://user:pass@host` (masks the password) and `https://TOKEN@host` (masks the token). */
const urlCredentials: Detector = (text, spans) => {
  for (const m of text.matchAll(URL_USERINFO)) {
    const [start, end] = m.indices!.groups!['userinfo']!;
    const userinfo = m.groups!['userinfo']!;
    const colon = userinfo.indexOf(':');
    if (colon !== -1) spans.push({ start: start + colon + 1, end });
    else if (!PLAIN_USER.test(userinfo)) spans.push({ start, end });
  }
};

/** `|`, `>-`, `|2+`: a YAML block scalar's header. */
const BLOCK_INDICATOR = /^[|>][1-9+-]{0,2}$/;
// A key alone on its line (or with a block indicator), whose value is on the lines below it.
// (the lookbehind after the key is a cheap prefilter, as in KEY_VALUE; isSecretListKey decides)
const SECRET_LIST_END = '(?<=(?:pwd|pass|passwd|password|passphrase|secret|token|auth|authorization|credentials?|key|signature)s?)';
const YAML_HEADER = new RegExp(
  String.raw`^(?<indent>[ \t]*(?:-[ \t]+)?)(?<q>["']?)(?<key>[A-Za-z_][\w.-]{0,80})${SECRET_LIST_END}\k<q>[ \t]*:(?:[ \t]*(?<indicator>[|>][1-9+-]{0,2}))?(?:[ \t]+#[^\n]*|[ \t]*)\r?$`,
  'gim',
);
/** A line of a block mapping (`user: lab`, `"a b": 1`, `key:`), as opposed to a scalar's text. */
const MAPPING_LINE = /^(?:"[^"\n]*"|'[^'\n]*'|[^\s#'"-][^:\n]*?)[ \t]*:(?:[ \t]|$)/;

/**
 * The value of a secret key that YAML puts on the lines below it: a block scalar (`password: |`), a
 * plain scalar on the next line, or a list (`tokens:` then `- value` items, indented or not). A
 * mapping below the key is left to the key-value rule, which judges each of its keys.
 */
const yamlBlocks: Detector = (text, spans) => {
  for (const m of text.matchAll(YAML_HEADER)) {
    if (!isSecretListKey(m.groups!['key']!)) continue;
    const column = m.groups!['indent']!.length;
    const indicator = m.groups!['indicator'];
    let lineStart = m.index + m[0].length + 1;
    let kind: 'scalar' | 'list' | undefined = indicator ? 'scalar' : undefined;
    const found = spans.length;
    // Stryker disable next-line EqualityOperator: at the end of the text the one more line is empty, and skipped
    while (lineStart < text.length) {
      let lineEnd = text.indexOf('\n', lineStart);
      if (lineEnd === -1) lineEnd = text.length;
      const line = text.slice(lineStart, lineEnd);
      const body = line.trimStart();
      const indent = line.length - body.length;
      const content = body.trimEnd();
      if (content) {
        const item = content === '-' || content.startsWith('- ') || content.startsWith('-\t');
        // a list may sit at its key's own indentation; anything else belongs to the key only when deeper
        if (!(indent > column || (indent === column && item && kind !== 'scalar'))) break;
        kind ??= item ? 'list' : MAPPING_LINE.test(content) ? undefined : 'scalar';
        if (!kind) break;
        // an item keeps its dash; a scalar line, or an item's continuation, is masked whole
        const afterDash = body.slice(1);
        const from = kind === 'list' && item ? indent + 1 + afterDash.length - afterDash.trimStart().length : indent;
        const to = indent + content.length;
        // (an empty span, an item that is a bare dash, is dropped by maskSpans)
        if (!isSecretReference(line.slice(from, to).replace(/^(["'])(.*)\1$/, '$2'))) spans.push({ start: lineStart + from, end: lineStart + to });
      }
      lineStart = lineEnd + 1;
    }
    // a block indicator with no lines under it: mask it as the value it then is
    if (indicator && spans.length === found) {
      const at = m.index + m[0].lastIndexOf(indicator);
      spans.push({ start: at, end: at + indicator.length });
    }
  }
};

// `"tokens": ["a", "b"]`, `passwords: [a, b]`: every item of a one-line list under a secret key.
// (a Go map's `Authorization:[Bearer …]` and a value already masked are the key-value rule's)
// Found from the `: [` / `= [` (a cheap scan: most text has none), then the key before it is read back.
const FLOW_OPEN = new RegExp(String.raw`[:=][ \t]*(?!${MASKED})\[(?![\[{]|${AUTH_SCHEME})`, 'g');
const KEY_BEFORE = new RegExp(String.raw`(?<![\w.\\-])(?<q>\\?["']?)(?<key>[A-Za-z_][\w.-]{0,80})${SECRET_LIST_END}\k<q>[ \t]*$`);
const FLOW_ITEMS = new RegExp(String.raw`(?:${DQ}|${SQ}|[^\]\n"']){1,4096}(?=\])`, 'y');
const FLOW_ITEM = /(?:\\?"(?:[^"\\]|\\.)*"|'[^']*'|[^,\s][^,]*)/g;
const flowLists: Detector = (text, spans) => {
  for (const open of text.matchAll(FLOW_OPEN)) {
    const key = KEY_BEFORE.exec(text.slice(Math.max(0, open.index - 90), open.index))?.groups?.['key'];
    if (!key || !isSecretListKey(key)) continue;
    const from = open.index + open[0].length;
    FLOW_ITEMS.lastIndex = from;
    const items = FLOW_ITEMS.exec(text)?.[0];
    if (!items) continue;
    for (const item of items.matchAll(FLOW_ITEM)) {
      const raw = item[0].trimEnd();
      const quote = raw.startsWith('\\"') ? 2 : raw.startsWith('"') || raw.startsWith("'") ? 1 : 0;
      const start = from + item.index + quote;
      const end = from + item.index + raw.length - quote;
      const value = raw.slice(quote, raw.length - quote);
      // (an empty item is an empty span, dropped by maskSpans; a masked one masks to itself)
      if (!isSecretReference(value)) spans.push({ start, end });
    }
  }
};

// `curl -u user:pw`, `--user user:pw`, `--user=user:pw`, `-uuser:pw`, `-fsSu user:pw`, `--proxy-user`, `-U`:
// the part after the colon. A numeric uid:gid (`docker run -u 1000:1000`) is no credential.
const USER_FLAG = new RegExp(
  String.raw`(?<![\w-])(?:--(?:proxy-)?user(?:=|[ \t]+)|-[A-Za-z]{0,16}[uU](?:[ \t]+|(?=[^\s:'"]{1,256}:)))(?<quote>['"]?)(?<user>[^\s:'"]*):(?!${MASKED})(?<value>[^\s'"]+)`,
  'dg',
);
const userFlags: Detector = (text, spans) => {
  for (const m of text.matchAll(USER_FLAG)) {
    if (/^\d*$/.test(m.groups!['user']!) && /^\d+$/.test(m.groups!['value']!)) continue;
    const [start, end] = m.indices!.groups!['value']!;
    // a quoted password may hold spaces: it runs to its closing quote on the line
    const quote = m.groups!['quote']!;
    const close = quote ? text.indexOf(quote, end) : -1;
    spans.push({ start, end: close !== -1 && !text.slice(end, close).includes('\n') ? close : end });
  }
};

// An env var given as a name/value pair: Kubernetes and compose-style `- name: DB_PASS` / `value: …`
// (YAML), `{"name":"DB_PASS","value":"…"}` (JSON). The value's key names nothing; the name does.
const NAME_VALUE = new RegExp(
  String.raw`(?<![\w-])(?<q>["']?)name\k<q>[ 	]*[:=][ 	]*["']?(?<name>[A-Za-z_][\w.-]{0,80})["']?[ 	]*(?:,[ 	]*|
?
[ 	]*(?:-[ 	]+)?)(?<q2>["']?)value\k<q2>[ 	]*[:=][ 	]*(?!["']?${MASKED})(?<value>${DQ}|${SQ}|[^\s,}\]]+)`,
  'dgi',
);
const nameValues: Detector = (text, spans) => {
  for (const m of text.matchAll(NAME_VALUE)) {
    if (!isSecretEnvName(m.groups!['name']!)) continue;
    const [start, end] = m.indices!.groups!['value']!;
    const quoted = /^["']/.test(m.groups!['value']!) ? 1 : 0;
    spans.push({ start: start + quoted, end: end - quoted });
  }
};

/** The password after `-u`/`--user` when argv keeps it as its own string (`user:pw`), or undefined. */
export function userFlagSecret(flag: string, value: string): Span | undefined {
  if (!/^(?:--(?:proxy-)?user|-[A-Za-z]*[uU])$/.test(flag)) return undefined;
  const colon = value.indexOf(':');
  if (colon === -1 || value.slice(colon + 1) === MASK || /^\d*:\d+$/.test(value)) return undefined;
  return { start: colon + 1, end: value.length };
}

// A signature in a query string or connection string: Azure SAS (`sig=`), AWS and Google presigned URLs.
const QUERY_SIGNATURE = new RegExp(String.raw`(?<=[?&;=])(?:sig|signature|x-amz-signature|x-goog-signature)=(?!${MASKED})(?<value>[^&\s;#"'<>\`]+)`, 'dgi');

// A credential after an auth scheme outside any header: it has a digit or token punctuation, so the
// prose "Basic authentication required" and "Bearer realm=..." stay.
const SCHEME_CREDENTIAL = /\b(?:Bearer|Basic|Token)[ \t]+(?<value>(?=[A-Za-z0-9._~+/-]*[0-9._~+/])[A-Za-z0-9._~+/-]{8,}=*)/dg;

/** Secret argv flags written out as text: `--password x`, `--token=x`, `docker login -p x` (not `--password-stdin`). */
const FLAG_VALUE = /(?<![\w-])(?:--password|--token|--identity-token|--registry-token|--secret-value)(?:=|[ \t]+)(?<value>[^\s-][^\s]*)/dg;
const LOGIN_P = /\blogin\b[^\n]*?[ \t]-p(?:=|[ \t]+)(?<value>[^\s-][^\s]*)/dg;

// Secrets the lab makes itself (serve/s3-spec.ts's credentials): masked wherever they appear, whatever the context.
// Any number of its hex digits: a fact clipped to its first N characters can cut one short.
const LAB_MADE_SECRET = /buildx-lab-secret-[0-9a-f]{1,40}/g;

// The token formats secretlint's preset lacks.
const JWT = /\beyJ[A-Za-z0-9_-]{6,}\.eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*/g;
const GOOGLE_API_KEY = /\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])/g;
const PEM_BEGIN = /-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----/g;
const PEM_END = /-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----/g;
/** Longest private key body masked when its END line is missing (cut output). */
const PEM_MAX = 64 * 1024;

/** Everything between a private key's BEGIN and END lines (to the end of the text if it was cut). */
const privateKeys: Detector = (text, spans) => {
  // the END found for one BEGIN serves every later BEGIN before it (searching anew from each rescanned
  // the text once per BEGIN: quadratic on text made of BEGIN lines)
  let end: RegExpExecArray | null | undefined;
  for (const m of text.matchAll(PEM_BEGIN)) {
    const start = m.index + m[0].length;
    if (end === undefined || (end !== null && end.index < start)) {
      PEM_END.lastIndex = start;
      end = PEM_END.exec(text);
    }
    // Stryker disable next-line EqualityOperator: a body of exactly PEM_MAX ends at the same index either way
    spans.push({ start, end: end && end.index - start <= PEM_MAX ? end.index : Math.min(text.length, start + PEM_MAX) });
  }
};

/** A base64 token that decodes to printable "user:secret" is a docker auth even when no key names it. */
const BASE64_TOKEN = /(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{12,}={0,2}/g;
function looksLikeBasicAuth(token: string): boolean {
  if (token.length % 4 === 1) return false;
  // Before decoding: printable ASCII (0x20-0x7e) puts the first character of every 4-character group in
  // I-Z or a-f. Paths (/v2/...), hex digests and most words fail at once.
  // (Stryker: widening this necessary condition only costs time, the decoded text is judged below; the
  // ends of the range are tested, and the comparisons' mutants stay)
  // Stryker disable next-line ConditionalExpression,EqualityOperator,BlockStatement
  for (let i = 0; i < token.length; i += 4) {
    const c = token.charCodeAt(i);
    // Stryker disable next-line ConditionalExpression,LogicalOperator
    if (!((c >= 73 && c <= 90) || (c >= 97 && c <= 102))) return false;
  }
  const decoded = Buffer.from(token, 'base64').toString('latin1');
  return /^[\x21-\x7e]{1,128}:[\x20-\x7e]{1,256}$/.test(decoded) && !decoded.startsWith('sha256:');
}

function groupSpans(re: RegExp, group = 'value'): Detector {
  return (text, spans) => {
    for (const m of text.matchAll(re)) {
      const [start, end] = m.indices!.groups![group]!;
      spans.push({ start, end });
    }
  };
}

function wholeMatches(re: RegExp, keep: (match: string) => boolean = () => true): Detector {
  return (text, spans) => {
    for (const m of text.matchAll(re)) if (keep(m[0])) spans.push({ start: m.index, end: m.index + m[0].length });
  };
}

/** Detectors that need a word around the secret (a key, a scheme, a flag, a URL, a token prefix). */
const CONTEXT_DETECTORS: readonly Detector[] = [
  keyValues,
  envAssignments,
  yamlBlocks,
  flowLists,
  userFlags,
  nameValues,
  groupSpans(QUERY_SIGNATURE),
  urlCredentials,
  groupSpans(SCHEME_CREDENTIAL),
  groupSpans(FLAG_VALUE),
  groupSpans(LOGIN_P),
  wholeMatches(JWT),
  wholeMatches(GOOGLE_API_KEY),
  wholeMatches(LAB_MADE_SECRET),
  privateKeys,
];
/** A word at least one context detector needs (a superset of each one's literal part). Most journal
 * fields and progress lines have none, and skip the scans. */
const CONTEXT_TRIGGER = /pwd|pass|secret|token|auth|credential|key|bearer|basic|login|eyJ|AIza|:\/\/|--(?:proxy-)?user|sig|(?:^|\s)-[A-Za-z]*[uU]/i;
const base64Auths = wholeMatches(BASE64_TOKEN, looksLikeBasicAuth);

/** Adds the spans of the hand list's secrets in `text` (plain: no ANSI sequences) to `spans`. */
export function handSpans(text: string, spans: Span[]): void {
  base64Auths(text, spans);
  // Stryker disable next-line ConditionalExpression: a prefilter (each detector needs one of its words): always scanning only costs time
  if (CONTEXT_TRIGGER.test(text)) for (const detect of CONTEXT_DETECTORS) detect(text, spans);
}

/** Argv flags whose next argument is a secret, for argv kept as an array (the text rules see one word at a time). */
export const SECRET_FLAGS: ReadonlySet<string> = new Set(['--password', '--token', '--identity-token', '--registry-token', '--secret-value']);
