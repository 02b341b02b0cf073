import { describe, expect, it } from 'vitest';
import { cellPathProblem, checkBuildxArgv, csvFields, dockerConfigProblem, driverOptsProblem, homePathProblem, kubeDriverOptsProblem, labOwnedEnv } from './lab-owned.ts';

const CTX = '/tmp/cells/c1/ctx';
const IMAGE = 'registry:5000/buildx-lab/buildkit:v0.17.1';
const buildx = (...argv: string[]) => checkBuildxArgv(argv, IMAGE, CTX);

describe('csvFields reads a value as Go does', () => {
  it.each([
    ['a=1,b=2', ['a=1', 'b=2']],
    ['', ['']],
    ['a,', ['a', '']],
    ['"dest=/x,y",type=local', ['dest=/x,y', 'type=local']],
    ['"a""b"', ['a"b']],
  ])('%s', (v, want) => expect(csvFields(v)).toEqual(want));
  it.each(['a"b', '"ab', '"a"b', 'a\nb'])('refuses %j', (v) => expect(() => csvFields(v)).toThrow());
});

describe('buildx argv: paths stay inside the cell context', () => {
  it.each([
    [
      ['build', '-f', 'sub/Dockerfile', '--iidfile', 'iid.txt', '--metadata-file=md.json', '.'],
      ['sub/Dockerfile', 'iid.txt', 'md.json'],
    ],
    [['build', '--output', 'type=tar,dest=does/not/exist/result.tar', '.'], ['does/not/exist/result.tar']],
    [['build', '-o', 'out', '.'], ['out']],
    [['build', '-o', '-', '.'], []],
    [
      ['build', '--output', 'type=image,push=true', '--cache-to', 'type=local,dest=cache', '--cache-from', 'type=local,src=cache', '.'],
      ['cache', 'cache'],
    ],
    [['build', '--cache-to', 'registry:5000/x:cache', '.'], []],
    [['build', '--output', `type=local,dest=${CTX}/out`, '.'], [`${CTX}/out`]],
    [
      ['bake', '--set', '*.output=type=local,dest=out', '--set', 'app.args.X=/etc', '-f', 'docker-bake.hcl'],
      ['docker-bake.hcl', 'out'],
    ],
    [['bake', '--print', '--set', '*.cache-to='], []],
    [['create', '--name', 'x', '--driver', 'docker-container', '--driver-opt', `image=${IMAGE}`, '--driver-opt', 'memory=1g', '--buildkitd-config', 'bk.toml'], ['bk.toml']],
    [['create', '--driver-opt', `network=bridge,memory=1g,image=${IMAGE}`], []],
    [['create', '--name', 'r', '--driver', 'remote', 'tcp://127.0.0.1:1234'], []],
    [['imagetools', 'create', '-t', 'registry:5000/a', 'registry:5000/b'], []],
    [['ls'], []],
    [
      ['bake', '--allow', 'fs.read=.', '--allow', 'fs=out', '--allow', 'security.insecure'],
      ['.', 'out'],
    ],
    [['prune', '-f', '--all'], ['--all']],
    [['imagetools', 'create', '-t', 'registry:5000/a', '-f', 'descr.json'], ['descr.json']],
    [
      [
        'build',
        '--secret',
        'id=a,env=A',
        '--secret',
        'id=b,src=b.txt',
        '--ssh',
        'default',
        '--build-context',
        'base=docker-image://alpine',
        '--build-context',
        't=target:x',
        '--build-context',
        'sub=./sub',
        '.',
      ],
      ['b.txt', './sub'],
    ],
  ])('%j', (argv, paths) => expect(buildx(...argv).paths).toEqual(paths));

  it.each([
    [['build', '--output', 'type=local,dest=/usr/local/bin', '.'], "--output dest= /usr/local/bin is outside the cell's context"],
    [['build', '-o', '/usr/local/bin', '.'], '-o /usr/local/bin is outside'],
    [['build', '-o/usr/local/bin', '.'], '-o /usr/local/bin is outside'],
    [['build', '-qo=/usr/local/bin', '.'], '-o /usr/local/bin is outside'],
    [['build', '--output=type=local,DEST=/x', '.'], '--output dest= /x is outside'],
    [['build', '--output', 'type=local," dest=/x"', '.'], '--output dest= /x is outside'],
    [['build', '--output', 'type=local,dest=out\ndest=/x', '.'], 'holds a line break'],
    [['build', '--output', 'type=local,dest="/x', '.'], 'quote'],
    [['build', '--output', 'dest=../../../usr/local/bin', '.'], "leaves the cell's context"],
    [['build', '--metadata-file', '/etc/cron.d/x', '.'], '--metadata-file /etc/cron.d/x is outside'],
    [['build', '--iidfile=/usr/local/bin/docker', '.'], '--iidfile /usr/local/bin/docker is outside'],
    [['build', '-f', '/etc/shadow', '.'], '-f /etc/shadow is outside'],
    [['build', '--file=../x', '.'], "--file ../x leaves the cell's context"],
    [['build', '--cache-to', 'type=local,dest=/var/lib/docker', '.'], '--cache-to dest= /var/lib/docker is outside'],
    [['build', '--cache-from=type=local,src=/', '.'], '--cache-from src= / is outside'],
    [['create', '--config', '/etc/buildkit/buildkitd.toml'], '--config /etc/buildkit/buildkitd.toml is outside'],
    [['create', '--buildkitd-config=/x.toml'], '--buildkitd-config /x.toml is outside'],
    [['bake', '--set', '*.output=type=local,dest=/usr/local/bin'], '--set output dest= /usr/local/bin is outside'],
    [['bake', '--set=app.cache-to=type=local,dest=/x'], '--set cache-to dest= /x is outside'],
    [['bake', '--set', 'app.dockerfile=/etc/passwd'], '--set dockerfile /etc/passwd is outside'],
    [['build', '-o', `${CTX}/../buildx`, '.'], "leaves the cell's context"],
    [['build', '-o', '/tmp/cells/c1/ctx2', '.'], 'is outside'],
    [['build', '--secret', 'id=cfg,src=/tmp/cells/c0/docker/config.json', '.'], '--secret src= /tmp/cells/c0/docker/config.json is outside'],
    [['build', '--secret=id=k,type=file,source=../../x', '.'], '--secret source= ../../x leaves'],
    [['build', '--ssh', 'default=/var/run/docker.sock', '.'], '--ssh /var/run/docker.sock is outside'],
    [['build', '--build-context', 'other=/tmp/cells/c0', '.'], '--build-context /tmp/cells/c0 is outside'],
    [['build', '--build-context=l=oci-layout:///var/lib/x@sha256:ab', '.'], '--build-context /var/lib/x is outside'],
    [['bake', '--allow', 'fs.write=/usr/local/bin'], '--allow fs.write= /usr/local/bin is outside'],
    [['bake', '--allow=fs=*'], '--allow fs=* grants bake every path of the engine'],
    // a path flag's value is taken as pflag takes it, even when it looks like a flag
    [['build', '--iidfile', '--output=dest=/x', '.'], '--output dest= /x is outside'],
  ])('%j', (argv, message) => expect(() => buildx(...argv)).toThrow(message));
});

describe("buildx argv: the builder image and network are the lab's", () => {
  it.each([
    [['create', '--driver-opt', 'image=moby/buildkit:latest'], "driver option image=moby/buildkit:latest is not the lab's BuildKit image; write image=${buildkitImage}"],
    [['create', '--driver-opt=memory=1g,image=evil'], 'image=evil is not the lab'],
    [['create', '--driver-opt', 'Image=evil'], 'image=evil is not the lab'],
    [['create', '--driver-opt', '"image=evil"'], 'image=evil is not the lab'],
    [['create', '--driver-opt', 'network=container:x'], 'driver option network=container:x is not one the lab allows; use host, bridge, none'],
    // no image at all: Buildx would run what the engine holds as moby/buildkit:buildx-stable-1, which a step can load
    [
      ['create', '--name', 'b', '--driver', 'docker-container', '--bootstrap'],
      "create of a docker-container builder must name the lab's BuildKit image: add --driver-opt image=${buildkitImage}",
    ],
    [['--builder', 'x', 'create', '--driver-opt', 'memory=1g'], 'create of a docker-container builder must name'],
    [['create', '--driver=kubernetes'], 'create of a kubernetes builder must name'],
  ])('%j', (argv, message) => expect(() => buildx(...argv)).toThrow(message));

  it('takes the lab value, at load time as ${buildkitImage}', () => {
    expect(() => checkBuildxArgv(['create', '--driver-opt', 'image=${buildkitImage}'], '${buildkitImage}', '${context}')).not.toThrow();
    expect(() => checkBuildxArgv(['create', '--driver-opt', 'image=${buildkitImage}x'], '${buildkitImage}', '${context}')).toThrow(/is not the lab's BuildKit image/);
  });

  it('refuses an image in builder.driverOpts, which has no lab value', () => {
    expect(driverOptsProblem([['image', IMAGE]], undefined)).toMatch(/^driver option image is the lab's .*choose the version with buildkit:/);
    expect(
      driverOptsProblem(
        [
          ['network', 'bridge'],
          ['memory', '2g'],
        ],
        undefined,
      ),
    ).toBeUndefined();
  });
});

describe('cellPathProblem', () => {
  it.each([
    ['out/x', undefined],
    ['-', undefined],
    ['.', undefined],
    [CTX, undefined],
    [`${CTX}/a`, undefined],
    ['${context}/a', undefined],
  ])('%s', (p, want) => {
    expect(cellPathProblem(p, p.startsWith('${') ? '${context}' : CTX)).toBe(want);
  });
  it.each(['/etc', '../x', 'a/../../x', '', '/tmp/cells/c1', 'a\nb'])('refuses %j', (p) => expect(cellPathProblem(p, CTX)).toBeDefined());
});

describe('buildx argv: dap attach, which joins stdio to any unix socket of the engine', () => {
  it('refuses dap attach, and takes dap build', () => {
    expect(() => buildx('dap', 'attach', '/var/run/docker.sock')).toThrow(/dap attach connects to any unix socket/);
    expect(() => buildx('--debug', 'dap', 'attach', '/run/x.sock')).toThrow(/dap attach/);
    expect(() => buildx('--builder', 'b', 'dap', '--builder', 'c', 'attach', '/run/x.sock')).toThrow(/dap attach/);
    expect(buildx('dap', 'build', '-f', 'Dockerfile', '.').paths).toEqual(['Dockerfile']);
  });

  it('refuses attach where cobra may take it as the subcommand, and takes it as a value past dap build', () => {
    expect(() => buildx('dap', '--builder', 'build', 'attach', '/run/x.sock')).toThrow(/dap attach/);
    expect(() => buildx('dap', '-D', 'attach', '/run/x.sock')).toThrow(/dap attach/);
    expect(buildx('dap', 'build', '--target', 'attach', '.').paths).toEqual([]);
    expect(buildx('dap', '--builder=b', 'build', '-t', 'attach', 'attach').paths).toEqual([]);
  });
});

describe('buildx argv: create --leave starts nothing, so it names no image', () => {
  it('takes a leave, and still wants the image when --leave is false', () => {
    expect(buildx('create', '--leave', '--name', 'b', '--node', 'b1').paths).toEqual([]);
    expect(buildx('create', '--name', 'b', '--leave=true', '--node', 'b1').paths).toEqual([]);
    expect(() => buildx('create', '--name', 'b', '--leave=false', '--node', 'b1')).toThrow(/must name the lab's BuildKit image/);
    expect(() => buildx('create', '--name', 'b', '--node', 'b1')).toThrow(/must name the lab's BuildKit image/);
  });

  it("is no leave when --leave is another flag's value or the create also boots a builder (review s4 F4)", () => {
    expect(() => buildx('create', '--name', 'evil', '--driver', 'docker-container', '--config', '--leave', '--bootstrap')).toThrow(/must name the lab's BuildKit image/);
    expect(() => buildx('create', '--name', 'evil', '--driver', 'docker-container', '--buildkitd-config', '--leave', '--bootstrap')).toThrow(/must name the lab's BuildKit image/);
    expect(() => buildx('create', '--leave', '--name', 'b', '--node', 'b1', '--bootstrap')).toThrow(/must name the lab's BuildKit image/);
  });
});

describe("homePathProblem: files under the cell's own HOME", () => {
  it.each(['.docker/desktop-build/.lastaccess', '.docker/features.json', '.docker/desktop/x-y_z.1'])('takes %s', (p) => expect(homePathProblem(p)).toBeUndefined());
  it.each([
    ['.gitconfig', /not under \.docker\//],
    ['.ssh/config', /not under \.docker\//],
    ['.config/git/config', /not under \.docker\//],
    ['.docker', /not under \.docker\//],
    ['.docker/config.json', /client's config.*config\.dockerConfig/],
    ['.docker/cli-plugins/docker-x', /client's config/],
    ['.docker/buildx/instances/x', /client's config/],
    ['.docker/../.gitconfig', /names \. or \.\./],
    ['.docker/./x', /names \. or \.\./],
    ['/root/.docker/x', /not a plain relative path/],
    ['.docker//x', /not a plain relative path/],
    ['.docker/a b', /not a plain relative path/],
    ['.docker/x\n', /not a plain relative path/],
  ])('refuses %j', (p, why) => expect(homePathProblem(p)).toMatch(why));
});

describe('env a case may not set', () => {
  it.each([
    'DOCKER_CONFIG',
    'BUILDX_CONFIG',
    'DOCKER_HOST',
    'PATH',
    'HOME',
    'SSH_AUTH_SOCK',
    'BUILDX_BAKE_ENTITLEMENTS_FS',
    'GIT_SSH_COMMAND',
    'GIT_CONFIG_COUNT',
    'GIT_CONFIG_KEY_0',
    'GIT_CONFIG_PARAMETERS',
    'GIT_EXEC_PATH',
    // git's repository and global config, where core.fsmonitor runs a program (review s4 F5)
    'GIT_DIR',
    'GIT_WORK_TREE',
    'GIT_INDEX_FILE',
    'XDG_CONFIG_HOME',
    'LD_PRELOAD',
    'LD_LIBRARY_PATH',
    'LD_AUDIT',
    'DOCKER_CERT_PATH',
    'GCONV_PATH',
    'BASH_ENV',
    // sudo's word on who ran it: Buildx chowns its config to that user (docker/buildx#2745); `sudo: true` sets them
    'SUDO_COMMAND',
    'SUDO_UID',
    'SUDO_GID',
    'SUDO_USER',
  ])('%s', (name) => {
    expect(labOwnedEnv(name)).toMatch(new RegExp(`^${name} `));
  });
  it("names sudo: true as the way to run a step under sudo (the lab's own user in SUDO_*)", () => {
    expect(labOwnedEnv('SUDO_UID')).toMatch(/^SUDO_UID is sudo's word on who ran it, .*write sudo: true on the step/);
  });
  it.each([
    'SOURCE_DATE_EPOCH',
    'BUILDX_NO_DEFAULT_ATTESTATIONS',
    'BUILDX_GIT_LABELS',
    'GIT_AUTHOR_NAME',
    'GIT_COMMITTER_DATE',
    'GIT_AUTH_TOKEN',
    'BUILDX_BUILDER',
    'DOCKER_CONTEXT',
    'TAG',
    'HTTP_PROXY',
    'BUILDKIT_PROGRESS',
  ])('takes %s', (name) => {
    expect(labOwnedEnv(name)).toBeUndefined();
  });
});

describe('a docker config.json from a case', () => {
  it.each([
    ['{}', undefined],
    ['{"auths": {"registry:5000": {"auth": "eDp5"}}, "proxies": {"default": {"httpProxy": "http://p:3128"}}, "currentContext": "n", "experimental": "enabled"}', undefined],
    ['{"credsStore": "evil"}', 'credsStore names a credential helper program the client would run; put credentials in auths'],
    ['{"credHelpers": {"registry:5000": "evil"}}', 'credHelpers names credential helper programs'],
    ['{"CREDSSTORE": "evil"}', 'CREDSSTORE names a credential helper'],
    ['{"cliPluginsExtraDirs": ["/tmp/cells/c1/ctx/plugins"]}', "cliPluginsExtraDirs makes the client run CLI plugins from other directories before the cell's own buildx"],
    ['{"bogus": 1}', '"bogus" is not a key the lab passes on; it takes auths, '],
    ['[]', 'is not a JSON object'],
    ['{', 'is not JSON'],
  ])('%s', (text, want) => {
    if (want === undefined) expect(dockerConfigProblem(text)).toBeUndefined();
    else expect(dockerConfigProblem(text)).toContain(want);
  });
});

describe('kubernetes driver options', () => {
  it.each([
    ['replicas', '2'],
    ['requests.memory', '64Mi'],
    ['rootless', 'true'],
    ['Timeout', '60s'],
    ['nodeselector', 'a=b'],
    ['buildkit-root-volume-memory', '1Gi'],
  ])('takes %s', (k, v) => expect(kubeDriverOptsProblem([[k, v]])).toBeUndefined());
  it.each([['image'], ['namespace'], ['qemu.image'], ['qemu.install'], ['serviceaccount'], ['schedulername'], ['network']])('refuses %s, naming what it may set', (k) =>
    expect(kubeDriverOptsProblem([[k, 'x']])).toMatch(
      new RegExp(`^driver option ${k.replace('.', '\\.')} is not one a kubernetes builder may set here \\(image and namespace are the lab's\\); use replicas, `),
    ),
  );
});
