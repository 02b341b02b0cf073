// Realistic secret shapes and look-alikes for the redaction tests. Tokens are generated from a seed, in
// the exact format of each vendor, so no real-looking literal token sits in the source tree.

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const UPPER_NUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const B64 = `${ALNUM}+/`;

const SEED = 0x2545f491;
let seed = SEED;
/** Deterministic pseudo-random characters (xorshift), so failures reproduce. */
export function fake(n: number, chars = ALNUM): string {
  let out = '';
  for (let i = 0; i < n; i++) {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    out += chars[(seed >>> 0) % chars.length];
  }
  return out;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
const b64url = (s: string) => Buffer.from(s).toString('base64url');
const pemBody = (lines: number) => Array.from({ length: lines }, () => fake(64, B64)).join('\n');
const jwt = `${b64url('{"alg":"RS256","typ":"JWT","kid":"lab"}')}.${b64url('{"sub":"labuser","iss":"registry-token-server","exp":1893456000}')}.${fake(86, `${ALNUM}-_`)}`;

/** [name, text, the secret inside it that must not survive] */
export type SecretShape = readonly [name: string, text: string, secret: string];

function shape(name: string, secret: string, wrap: (s: string) => string = (s) => s): SecretShape {
  return [name, wrap(secret), secret];
}

export function secretShapes(): SecretShape[] {
  // the same tokens on every call, however many shapes come before a test's own
  seed = SEED;
  const ghp = `ghp_${fake(36)}`;
  const glpat = `glpat-${fake(20)}`;
  const pw = `Pw-${fake(12)}!`;
  const dockerAuth = b64(`labuser:${pw}`);
  const pemRsa = pemBody(6);
  return [
    // vendor token formats (secretlint's preset)
    shape('GitHub classic PAT', ghp, (s) => `remote: using ${s} for clone`),
    shape('GitHub OAuth token', `gho_${fake(36)}`),
    shape('GitHub user-to-server token', `ghu_${fake(36)}`, (s) => `token=${s}`),
    shape('GitHub app installation token', `ghs_${fake(36)}`, (s) => `x-access-token:${s}`),
    shape('GitHub refresh token', `ghr_${fake(36)}`),
    shape('GitHub fine-grained PAT', `github_pat_${fake(22)}_${fake(59)}`),
    shape('GitLab PAT', glpat, (s) => `Using ${s} as deploy token`),
    shape('npm access token', `npm_${fake(36)}`, (s) => `//registry.npmjs.org/:_authToken=${s}`),
    shape('AWS access key id', `AKIA${fake(16, UPPER_NUM)}`, (s) => `aws_access_key_id = ${s}`),
    shape('AWS secret access key (ini)', fake(40, B64), (s) => `aws_secret_access_key = ${s}`),
    shape('Slack bot token', `xoxb-${fake(12, '0123456789')}-${fake(13, '0123456789')}-${fake(24)}`),
    shape('Slack user token', `xoxp-${fake(12, '0123456789')}-${fake(12, '0123456789')}-${fake(13, '0123456789')}-${fake(32, 'abcdef0123456789')}`),
    shape('Stripe live secret key', `sk_live_${fake(24)}`),
    shape('Stripe restricted key', `rk_live_${fake(24)}`),
    shape('SendGrid API key', `SG.${fake(22)}.${fake(43)}`),
    shape('OpenAI project key', `sk-proj-${fake(74)}T3BlbkFJ${fake(74)}`),
    shape('Anthropic API key', `sk-ant-api03-${fake(93)}AA`),
    shape('Hugging Face token', `hf_${fake(34, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz')}`),
    shape('Docker Hub PAT', `dckr_pat_${fake(27)}`, (s) => `echo ${s} | docker login -u lab --password-stdin`),
    shape('HashiCorp Vault token', `hvs.${fake(24)}`, (s) => `VAULT_TOKEN=${s}`),
    shape('PEM RSA private key', pemRsa, (s) => `-----BEGIN RSA PRIVATE KEY-----\n${s}\n-----END RSA PRIVATE KEY-----\n`),
    // formats the hand list adds
    shape('OpenSSH private key', pemBody(4), (s) => `-----BEGIN OPENSSH PRIVATE KEY-----\n${s}\n-----END OPENSSH PRIVATE KEY-----`),
    shape(
      'PKCS8 key in JSON (service account)',
      fake(64, B64),
      (s) => `{"type":"service_account","private_key":"-----BEGIN PRIVATE KEY-----\\n${s}\\n-----END PRIVATE KEY-----\\n"}`,
    ),
    shape('private key cut before its END line', fake(64, B64), (s) => `-----BEGIN EC PRIVATE KEY-----\n${s}`),
    shape('GCP API key', `AIza${fake(35, `${ALNUM}-_`)}`, (s) => `?key=${s}&alt=json`),
    shape('JWT', jwt, (s) => `got registry token ${s} (expires in 300s)`),
    // credentials recognised by their context
    shape('Authorization: Basic', dockerAuth, (s) => `Authorization: Basic ${s}`),
    shape('Authorization: Bearer', jwt, (s) => `authorization: bearer ${s}`),
    shape('curl -H Bearer', fake(32), (s) => `curl -fsS -H "Authorization: Bearer ${s}" https://registry:5000/v2/`),
    shape("Go's map[Authorization:[Bearer …]]", fake(40), (s) => `header=map[Accept:[*/*] Authorization:[Bearer ${s}] User-Agent:[containerd/1.7]]`),
    shape('ANSI codes inside Authorization', fake(24), (s) => `Authorization: \u001b[1mBearer\u001b[0m \u001b[33m${s}\u001b[0m`),
    shape('X-Registry-Auth header', b64url(`{"username":"lab","password":"${pw}"}`), (s) => `X-Registry-Auth: ${s}`),
    shape('bare Bearer credential', fake(20) + '42', (s) => `retrying with Bearer ${s}`),
    shape('basic-auth URL', pw, (s) => `pushing to https://labuser:${s}@registry:5000/v2/lab/app/manifests/v1`),
    shape('token-only URL', ghp, (s) => `git clone https://${s}@github.com/org/repo.git`),
    shape('token-only URL, a token of no known vendor', fake(20), (s) => `fetching https://${s}@git.example.com/org/repo.git`),
    shape('URL with a user name that starts like no plain word', `X${fake(8, 'abcdefghijklmnopqrstuvwxyz')}`, (s) => `https://${s}@git.example.com/org/repo.git`),
    shape(
      'URL with a user name that ends like no plain word',
      `${fake(8, 'abcdefghijklmnopqrstuvwxyz')}${fake(4, '0123456789')}`,
      (s) => `https://${s}@git.example.com/org/repo.git`,
    ),
    shape('oauth2 URL with a GitLab token', glpat, (s) => `https://oauth2:${s}@gitlab.example.com/group/project.git`),
    shape('database URL', pw, (s) => `postgres://app:${s}@db:5432/app?sslmode=disable`),
    shape('docker config.json auth', dockerAuth, (s) => JSON.stringify({ auths: { 'registry:5000': { auth: s } } }, null, 2)),
    shape('docker config.json identitytoken', fake(32), (s) => `{"auths":{"r":{"identitytoken":"${s}"}}}`),
    shape('docker config.json registrytoken', fake(32), (s) => `{"auths":{"r":{"registrytoken": "${s}"}}}`),
    shape('config.json escaped inside a JSON string', dockerAuth, (s) => JSON.stringify({ stdout: JSON.stringify({ auths: { r: { auth: s } } }) })),
    shape('bare base64 user:password', dockerAuth, (s) => `level=debug msg="using ${s}"`),
    shape('NPM_TOKEN=', `npm_${fake(36)}`, (s) => `NPM_TOKEN=${s} npm publish`),
    shape('GITHUB_TOKEN=', fake(20), (s) => `env: GITHUB_TOKEN=${s}`),
    shape('DOCKER_PASSWORD= with punctuation', `${fake(8)},${fake(4)};x&y`, (s) => `DOCKER_PASSWORD=${s}`),
    shape('AWS_SECRET_ACCESS_KEY=', fake(40, B64), (s) => `export AWS_SECRET_ACCESS_KEY=${s}`),
    shape('password: x (YAML)', 'x', (s) => `registry:\n  username: lab\n  password: ${s}\n`),
    shape('password: two words (YAML)', 'correct horse battery', (s) => `password: ${s}`),
    shape('token: ghp_… (YAML)', ghp, (s) => `- token: ${s}`),
    shape('escaped quote inside a JSON password', `pa\\"${fake(8)}`, (s) => `{"username":"lab","password":"${s}"}`),
    shape('accessToken key', fake(24), (s) => `{"accessToken": "${s}"}`),
    shape('api_key key', fake(24), (s) => `api_key: '${s}'`),
    shape('GITHUB_TOKEN key', fake(24), (s) => `{"GITHUB_TOKEN":"${s}"}`),
    shape('password= query parameter', pw, (s) => `GET /token?account=labuser&password=${s}&scope=x 401`),
    shape('--password value', pw, (s) => `docker login --password ${s} registry:5000`),
    shape('--password=value', pw, (s) => `docker login --password=${s} registry:5000`),
    shape('docker login -p', pw, (s) => `docker login -u labuser -p ${s} registry:5000`),
    shape('secret key after =>', fake(24), (s) => `{:client_secret => "${s}"}`),
    // shapes a hostile review found unmasked (issue 19)
    shape('PGPASSWORD= (a secret word glued to a prefix)', pw, (s) => `PGPASSWORD=${s} psql -h db`),
    shape('DB_PASS=', pw, (s) => `DB_PASS=${s}`),
    shape('db_pass: (YAML)', pw, (s) => `db_pass: ${s}`),
    shape('dbPass in JSON', pw, (s) => `{"dbPass":"${s}"}`),
    shape('any *_KEY env assignment', fake(32), (s) => `export STRIPE_LIVE_KEY=${s}`),
    shape('curl -u user:pw', pw, (s) => `curl -fsS -u labuser:${s} https://registry:5000/v2/`),
    shape('curl --user user:pw', pw, (s) => `curl --user labuser:${s} https://registry:5000/v2/`),
    shape('curl --user=user:pw', pw, (s) => `curl --user=labuser:${s} https://registry:5000/v2/`),
    shape('curl -u glued to its value', pw, (s) => `curl -ulabuser:${s} https://registry:5000/v2/`),
    shape('curl -u combined with other short flags', pw, (s) => `curl -fsSu 'labuser:${s}' https://registry:5000/v2/`),
    shape('--build-arg DB_PASS=', pw, (s) => `docker buildx build --build-arg DB_PASS=${s} .`),
    shape('--build-arg=DB_PASSWORD=', pw, (s) => `docker buildx build --build-arg=DB_PASSWORD=${s} .`),
    shape('Azure AccountKey=', `${fake(86, B64)}==`, (s) => `DefaultEndpointsProtocol=https;AccountName=lab;AccountKey=${s};EndpointSuffix=core.windows.net`),
    shape(
      'Azure SharedAccessSignature sig=',
      `${fake(43, B64)}%3D`,
      (s) => `BlobEndpoint=https://lab.blob.core.windows.net/;SharedAccessSignature=sv=2022-11-02&ss=b&srt=co&sp=r&sig=${s}`,
    ),
    shape('SAS URL sig=', `${fake(43, ALNUM)}%3D`, (s) => `GET https://lab.blob.core.windows.net/c/b?sv=2022-11-02&se=2030-01-01&sig=${s}&sp=r 403`),
    shape('YAML literal block scalar under a secret key', `${fake(20)}\n    ${fake(20)}`, (s) => `registry:\n  password: |\n    ${s}\n  user: lab\n`),
    shape('YAML folded block scalar under a secret key', fake(24), (s) => `private_key: >-\n  ${s}\n  more\nnext: 1`),
    shape('YAML plain scalar on the next line', fake(24), (s) => `token:\n  ${s}\nnext: 1`),
    shape('YAML list under a secret key', fake(24), (s) => `tokens:\n  - ${fake(24)}\n  - ${s}\nnext: 1`),
    shape("YAML list at the key's own indentation", fake(24), (s) => `ci:\n  passwords:\n  - ${s}\n  user: lab`),
    shape('curl -u with a quoted password holding a space', `${fake(8)} ${fake(8)}`, (s) => `curl --user 'labuser:${s}' https://registry:5000/v2/`),
    shape('Kubernetes env name/value (YAML)', pw, (s) => `env:\n  - name: DB_PASS\n    value: ${s}\n  - name: MODE\n    value: prod`),
    shape('env name/value (JSON)', pw, (s) => `{"env":[{"name":"PGPASSWORD","value":"${s}"}]}`),
    shape('flow list under a secret key', fake(24), (s) => `{"tokens": ["${fake(24)}", "${s}"]}`),
  ];
}

/** Text that looks like a secret to a naive rule but is ordinary Buildx, registry or engine output. */
export function lookAlikes(): [name: string, text: string][] {
  const digest = `sha256:${fake(64, 'abcdef0123456789')}`;
  const layer = Buffer.from(Array.from({ length: 96 }, (_, i) => (i * 37 + 11) & 0xff)).toString('base64');
  return [
    ['sha256 digest', digest],
    ['image reference with a digest', `registry:5000/moby/buildkit:v0.17.1@${digest}`],
    ['docker-image:// build context with tag and digest', `--build-context base=docker-image://busybox:1.36@${digest}`],
    ['OCI descriptor', JSON.stringify({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: 1609, platform: { architecture: 'arm64', os: 'linux' } })],
    [
      'OCI annotations',
      JSON.stringify({ 'org.opencontainers.image.revision': fake(40, 'abcdef0123456789'), 'org.opencontainers.image.source': 'https://github.com/docker/buildx' }),
    ],
    ['git commit hash', `commit ${fake(40, 'abcdef0123456789')}\nAuthor: Jane Doe <jane@example.com>`],
    ['UUID', `builder id 6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f`],
    ['base64 layer data in ordinary text', `blob data: ${layer}`],
    ['--secret flag', 'docker buildx build --secret id=foo,src=bar .'],
    ['--secret= flag with id and env', '--secret=id=GITHUB_TOKEN,env=GITHUB_TOKEN'],
    ['RUN --mount=type=secret', 'RUN --mount=type=secret,id=npmrc,target=/root/.npmrc npm ci'],
    ['password as a plain word in prose', 'Error response from daemon: Get "https://registry:5000/v2/": unauthorized: invalid username or password'],
    ['password-stdin flag', 'docker login --password-stdin -u labuser registry:5000'],
    ['Basic as a word', 'Basic authentication required'],
    ['WWW-Authenticate challenge', 'Www-Authenticate: Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"'],
    ['author: field', 'author: Jane Doe'],
    ['token_type and max_tokens', 'token_type: bearer\nmax_tokens: 100\nexpires_in: 300'],
    ['a password prompt', 'Password:\nLogin Succeeded'],
    ['PASSWORD_FILE path', 'export PASSWORD_FILE=/run/secrets/registry-password'],
    ['ssh git URL', 'git clone ssh://git@github.com/docker/buildx.git'],
    ['registry journal path', `GET /v2/moby/buildkit/manifests/${digest} 200`],
    ['Buildx progress', '#8 [internal] load metadata for docker.io/library/alpine:3.20\n#8 DONE 0.4s'],
    ['BuildKit log with auth words', 'level=info msg="fetch failed after status: 401 Unauthorized" host="registry:5000" spanID=4d3c2b1a0f9e8d7c'],
    ['cache-to flag', '--cache-to type=registry,ref=registry:5000/lab/cache:latest,mode=max'],
    ['empty auths', '{"auths": {}, "credsStore": "desktop"}'],
    ['Token as a word', 'Token expired, logging in again'],
    ['Content digest header', `Docker-Content-Digest: ${digest}`],
    ['go assignment', 'token := resolver.Token(ctx)'],
    ['keys that only end like a secret word', 'monkey: banana, turkey=roast\nMONKEY=banana TURKEY=roast'],
    ['a plain user name in a URL', 'git clone https://deploy.bot@git.example.com/org/repo.git'],
    ['base64 of a length no encoder writes', `using ${b64('lab:pw-123456').slice(0, 17)} here`],
    ['base64 of binary with a printable tail', `blob ${Buffer.from('A\u0000bc:defghijk', 'latin1').toString('base64')}`],
    ['base64 of text with a binary tail', `blob ${Buffer.from('lab:pw-1\u0000', 'latin1').toString('base64')}`],
    ['base64 of a digest', `ref ${b64(`sha256:${'ab'.repeat(20)}`)}`],
    ['docker run -u uid:gid', 'docker run --rm -u 1000:1000 --user=0:0 alpine id'],
    ['pass as a word of its own or inside one', 'bypass: true\ncompass=north\nCOMPASS=north\nfirst pass done'],
    ['OLDPWD, a directory', 'OLDPWD=/home/lab'],
    ['a mapping under a secret key (its own keys decide)', 'credentials:\n  username: lab\n  helper: desktop\nnext: 1'],
    ['a list under a key that names no secret', 'platforms:\n  - linux/amd64\n  - linux/arm64\ntags: [v1, latest]'],
    ['a block scalar under a key that names no secret', 'script: |\n  echo hello\n  make\n'],
    ['Buildx secret specs under a secret key', 'secret:\n  - id=npmrc,src=.npmrc\n  - "id=TOKEN,env=TOKEN"\nsecret = ["id=aws,src=/root/.aws/credentials"]'],
    ['secret names listed under secrets: (compose)', 'secrets:\n  - npm_token\n  - db_password'],
    ['an env name/value whose name is no secret', '- name: MODE\n  value: prod'],
    ['a signature outside a query string', '{"signature":"sigvalue1","keyid":"lab"}'],
  ];
}
