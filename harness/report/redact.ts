// Masks credentials before anything leaves the process. Cells capture whole command output,
// engine logs and docker config files, any of which can carry registry credentials.

export const MASK = '[REDACTED]';

/** JSON keys whose string value is always a secret (docker config.json, token endpoints). */
const SECRET_KEY = /^(auth|password|passwd|identitytoken|identity_token|registrytoken|registry_token|access_token|refresh_token|token|secret|authorization)$/i;

/** Argv flags whose following argument is a secret. */
const SECRET_FLAGS = new Set(['--password', '--token', '--identity-token', '--registry-token', '--secret-value']);

const RULES: ReadonlyArray<[RegExp, string | ((...m: string[]) => string)]> = [
  // "auth": "<base64>", "identitytoken": "...", ... inside JSON text (also with escaped quotes)
  [
    /(\\?"(?:auth|password|passwd|identitytoken|identity_token|registrytoken|registry_token|access_token|refresh_token|token|secret)\\?"\s*:\s*\\?")((?:[^"\\]|\\(?!"))*)(\\?")/gi,
    (_m, a, _v, b) => `${a}${MASK}${b}`,
  ],
  // Authorization: Basic xxx / Bearer xxx (headers, curl -H, logs)
  [/(\bauthorization\b["']?\s*[:=]\s*["']?(?:basic|bearer|token)?\s*)[^\s"',;]+/gi, `$1${MASK}`],
  // bare "Bearer <token>" / "Basic <b64>" outside an Authorization header
  [/\b(Bearer|Basic)\s+(?!\[REDACTED\])(?=[A-Za-z0-9._~+/-]*[0-9._~+/])[A-Za-z0-9._~+/-]{8,}=*/g, `$1 ${MASK}`],
  // key=value forms: password=..., token=..., identitytoken=..., auth=...
  [
    /\b(password|passwd|pwd|identitytoken|identity_token|registrytoken|access_token|refresh_token|token|secret|auth)=(?!\[REDACTED\])[^\s&"',;]+/gi,
    `$1=${MASK}`,
  ],
  // --password value / --password=value (not --password-stdin)
  [/(--(?:password|token|identity-token|registry-token)(?:=|\s+))(?!\[REDACTED\])(?!-)\S+/gi, `$1${MASK}`],
  // scheme://user:pass@host
  [/\b([a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:)[^/\s@]+@/gi, `$1${MASK}@`],
];

/** A base64 token that decodes to printable "user:secret" is a docker auth even when no key names it. */
const BASE64_TOKEN = /[A-Za-z0-9+/]{12,}={0,2}/g;
function looksLikeBasicAuth(token: string): boolean {
  if (token.length % 4 === 1) return false;
  const decoded = Buffer.from(token, 'base64').toString('latin1');
  return /^[\x21-\x7e]{1,128}:[\x20-\x7e]{1,256}$/.test(decoded) && !decoded.startsWith('sha256:');
}

export function redactSecrets(text: string): string {
  let out = text;
  for (const [re, rep] of RULES) out = out.replace(re, rep as string);
  return out.replace(BASE64_TOKEN, (t) => (looksLikeBasicAuth(t) ? MASK : t));
}

function redactArray(values: readonly unknown[]): unknown[] {
  const isLogin = values.includes('login');
  return values.map((v, i) => {
    const prev = values[i - 1];
    // argv arrays split "--password s3cr3t" into two strings, which the text rules cannot see
    if (typeof v === 'string' && typeof prev === 'string' && (SECRET_FLAGS.has(prev) || (isLogin && prev === '-p'))) {
      return MASK;
    }
    return redactDeep(v);
  });
}

/** Returns a copy of `value` with every string (and every value under a secret-named key) masked. */
export function redactDeep<T>(value: T): T {
  if (typeof value === 'string') return redactSecrets(value) as T;
  if (Array.isArray(value)) return redactArray(value) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = typeof v === 'string' && SECRET_KEY.test(k) && v !== '' ? MASK : redactDeep(v);
    }
    return out as T;
  }
  return value;
}
