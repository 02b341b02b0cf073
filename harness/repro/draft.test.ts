// `buildx-lab new`: cases drafted from bug reports written for these tests, in the shapes reports take,
// and from hostile ones. Every draft must load with the real case loader.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../cli/main.ts';
import { UsageError } from '../errors.ts';
import { loadCase } from './case.ts';
import { MAX_REPORT_BYTES, draftFromReport, errorPattern, writeDraft } from './draft.ts';

const fence = '```';
const CLI = new URL('../../bin/buildx-lab.mjs', import.meta.url).pathname;
const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'draft-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  dirs.length = 0;
});

/** Drafts `report` into a new directory and loads it; returns the case, its yaml and the directory. */
function drafted(report: string) {
  const dir = path.join(tmp(), 'case');
  const { notes } = writeDraft(dir, { name: 'report.md', text: report });
  return { kase: loadCase(dir), yaml: readFileSync(path.join(dir, 'case.yaml'), 'utf8'), dir, notes };
}

const DOCKERFILE_AND_COMMAND = `# --output type=tar fails when the directory is missing

With this \`Dockerfile\`:

${fence}dockerfile
FROM scratch
COPY Dockerfile /
${fence}

${fence}console
$ docker buildx version
github.com/docker/buildx v0.29.1 a1b2c3d
$ docker buildx ls
NAME/NODE     DRIVER/ENDPOINT   STATUS    BUILDKIT   PLATFORMS
default*      docker
 \\_ default    \\_ default       running   v0.20.2    linux/amd64
$ docker buildx build --output type=tar,dest=does/not/exist/result.tar .
#0 building with "default" instance using docker driver
ERROR: failed to open /home/me/p/out/result.tar: no such file or directory
${fence}

Fixed by https://github.com/docker/buildx/pull/3478.
`;

const WITH_ENGINE = `${fence}console
$ docker version
Client:
 Version:           27.5.1
Server: Docker Engine - Community
 Engine:
  Version:          28.5.2
  API version:      1.51 (minimum version 1.24)
$ docker buildx build .
${fence}
`;

const BAKE_AND_COMPOSE = `Bake reads the compose file's target twice.

docker-bake.hcl:

${fence}hcl
target "app" {
  dockerfile = "app.Dockerfile"
  platforms = ["linux/amd64"]
}
${fence}

And the compose file:

${fence}yaml
services:
  app:
    build: .
${fence}

${fence}
FROM scratch
COPY compose.yaml /
${fence}

${fence}bash
docker buildx bake -f docker-bake.hcl -f compose.yaml --print app
docker buildx bake --set *.platform=linux/amd64 app
${fence}

Output:

${fence}
ERROR: target app: duplicate key "dockerfile"
${fence}
`;

const TRANSCRIPT = `### Steps

1. write a Dockerfile

   ${fence}console
   $ cat > Dockerfile <<EOF
   > FROM scratch
   > COPY Dockerfile /
   > EOF
   ${fence}

2. make a builder, build, inspect

${fence}console
$ docker buildx create --name mybuilder --driver docker-container --use
mybuilder
$ docker buildx inspect --bootstrap
Name:          mybuilder
Driver:        docker-container
$ BUILDX_NO_DEFAULT_ATTESTATIONS=1 docker buildx build --platform linux/amd64,linux/arm64 \\
    -t registry.example/app:v1 --push .
$ docker buildx imagetools inspect --raw registry.example/app:v1
${fence}

${fence}json
{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json"}
${fence}

${fence}console
$ docker image inspect app
Error response from daemon: No such image: app
$ docker buildx imagetools inspect \`cat ref.txt\`
${fence}
`;

const NO_CODE = `Since the upgrade, our builds push twice to the registry. It happens on every run with the docker
driver. Buildx version 0.21.1 on Docker 27.5.
`;

describe('buildx-lab new --from', () => {
  it('drafts a Dockerfile and a command: the file, the step, the version, the driver and the error as a symptom', () => {
    const { kase, yaml, dir } = drafted(DOCKERFILE_AND_COMMAND);
    expect(readdirSync(dir).sort()).toEqual(['Dockerfile', 'case.yaml']);
    expect(readFileSync(path.join(dir, 'Dockerfile'), 'utf8')).toBe('FROM scratch\nCOPY Dockerfile /\n');
    expect(kase.title).toBe('--output type=tar fails when the directory is missing');
    expect(kase.links).toEqual(['https://github.com/docker/buildx/pull/3478']);
    expect(kase.versions).toEqual(['0.29.1']);
    expect(kase.driver).toEqual(['docker']);
    expect(kase.steps.map((s) => [s.id, s.argv])).toEqual([
      ['version', ['version']],
      ['ls', ['ls']],
      ['build', ['build', '--output', 'type=tar,dest=does/not/exist/result.tar', '.']],
    ]);
    // the reporter's absolute path becomes \S+, the rest is literal
    expect(kase.checks).toEqual([{ kind: 'output', pattern: 'failed to open \\S+: no such file or directory', step: 'build' }]);
    expect(yaml).toMatch(/^# Drafted by `buildx-lab new` from report\.md/);
    expect(yaml).toContain('versions: ["0.29.1"]');
  });

  it('takes the engine from docker version (the server, not the client) or docker info, when the lab has it', () => {
    expect(drafted(WITH_ENGINE).kase.engine).toEqual(['28.5.2']);
    expect(draftFromReport(`${fence}\n$ docker info\nServer Version: 26.1.5\n${fence}\n`).engine).toBe('26.1.5');
    const { kase, yaml } = drafted(WITH_ENGINE.replace('28.5.2', '99.0.1'));
    expect(kase.engine).toEqual(['26.1']);
    expect(yaml).toMatch(/# {3}- engine 99\.0\.1 left out: engine/);
  });

  it('reads a report copied with Windows line ends the same', () => {
    const crlf = drafted(DOCKERFILE_AND_COMMAND.replace(/\n/g, '\r\n'));
    const lf = drafted(DOCKERFILE_AND_COMMAND);
    expect(crlf.yaml).toBe(lf.yaml);
    expect(readFileSync(path.join(crlf.dir, 'Dockerfile'), 'utf8')).toBe('FROM scratch\nCOPY Dockerfile /\n');
  });

  it('drafts a bake file and a compose file, named by the sentence before them or their content', () => {
    const { kase, dir } = drafted(BAKE_AND_COMPOSE);
    expect(readdirSync(dir).sort()).toEqual(['Dockerfile', 'case.yaml', 'compose.yaml', 'docker-bake.hcl']);
    expect(readFileSync(path.join(dir, 'docker-bake.hcl'), 'utf8')).toContain('target "app"');
    expect(readFileSync(path.join(dir, 'compose.yaml'), 'utf8')).toContain('services:');
    expect(kase.steps.map((s) => s.argv)).toEqual([
      ['bake', '-f', 'docker-bake.hcl', '-f', 'compose.yaml', '--print', 'app'],
      // an unquoted glob matching nothing stays as it is, as a shell leaves it
      ['bake', '--set', '*.platform=linux/amd64', 'app'],
    ]);
    // output in its own block after a script belongs to the last command
    expect(kase.checks).toEqual([{ kind: 'output', pattern: 'target app: duplicate key "dockerfile"', step: 'bake-2' }]);
    expect(kase.versions).toEqual(['latest']);
  });

  it('drafts a multi-step transcript: a here-document file, a builder on the lab image, env, output blocks, and what it cannot place', () => {
    const { kase, yaml, dir } = drafted(TRANSCRIPT);
    expect(readFileSync(path.join(dir, 'Dockerfile'), 'utf8')).toBe('FROM scratch\nCOPY Dockerfile /\n');
    expect(kase.driver).toEqual(['docker-container']);
    expect(kase.steps.map((s) => s.id)).toEqual(['create', 'inspect', 'build', 'imagetools', 'image']);
    expect(kase.steps[0]!.argv).toEqual(['create', '--name', 'mybuilder', '--driver', 'docker-container', '--use', '--driver-opt', 'image=${buildkitImage}']);
    expect(kase.steps[2]!.argv).toEqual(['build', '--platform', 'linux/amd64,linux/arm64', '-t', 'registry.example/app:v1', '--push', '.']);
    expect(kase.steps[2]!.env).toEqual({ BUILDX_NO_DEFAULT_ATTESTATIONS: '1' });
    expect(kase.checks).toEqual([{ kind: 'output', pattern: 'No such image: app', step: 'image' }]);
    expect(yaml).toMatch(/# {3}- `docker buildx imagetools inspect `cat ref\.txt`` uses command substitution/);
    expect(yaml).toContain("--driver-opt image=${buildkitImage} added (the lab's BuildKit image)");
  });

  it('drafts a report with no code at all: a placeholder step and symptom, and says so', () => {
    const { kase, yaml } = drafted(NO_CODE);
    expect(kase.steps.map((s) => s.argv)).toEqual([['version']]);
    expect(kase.checks).toEqual([{ kind: 'exit', code: 'nonzero', step: 'version' }]);
    expect(kase.title).toBe('Since the upgrade, our builds push twice to the registry.');
    expect(yaml).toContain('No docker or docker buildx command in the report');
    expect(yaml).toContain('No error line in the output shown: the symptom is a guess');
  });

  it('writes the skeleton without --from, which loads as it is', () => {
    const dir = path.join(tmp(), 'skel');
    writeDraft(dir);
    const yaml = readFileSync(path.join(dir, 'case.yaml'), 'utf8');
    for (const key of ['links', 'versions', 'engine', 'store', 'driver', 'buildkit', 'registry', 'env', 'config', 'git', 'builder', 'serve', 'repeat', 'verdict', 'expect'])
      expect(yaml, key).toMatch(new RegExp(`^# ${key}:`, 'm'));
    expect(loadCase(dir).steps).toHaveLength(1);
  });
});

describe('buildx-lab new: hostile reports and directories', () => {
  it('refuses a huge report before writing anything', () => {
    const dir = path.join(tmp(), 'case');
    const huge = `${fence}console\n$ docker buildx ls\n${'x'.repeat(MAX_REPORT_BYTES)}\n${fence}\n`;
    expect(() => writeDraft(dir, { name: 'big.md', text: huge })).toThrow(UsageError);
    expect(existsSync(dir)).toBe(false);
  });

  it('drafts a large report of many blocks in bounded time and size', () => {
    const many = Array.from({ length: 3000 }, (_, i) => `### Dockerfile\n\n${fence}console\n$ docker buildx build -t a${i} .\n${'`'.repeat(200)}\n${fence}\n`).join('\n');
    const t = performance.now();
    const { kase, yaml } = drafted(many.slice(0, MAX_REPORT_BYTES - 1));
    expect(performance.now() - t).toBeLessThan(20_000);
    expect(kase.steps).toHaveLength(50);
    expect(yaml).toContain('a command beyond the first 50: left out');
  });

  it('keeps a file name like ../../etc/passwd inside the case directory', () => {
    const root = tmp();
    const dir = path.join(root, 'a', 'b', 'case');
    const report = `### ../../etc/passwd\n\n${fence}\nroot::0:0::/root:/bin/sh\n${fence}\n\n### ../../Dockerfile\n\n${fence}dockerfile\nFROM scratch\n${fence}\n\n${fence}sh\ndocker buildx build .\n${fence}\n`;
    const { notes } = writeDraft(dir, { name: 'report.md', text: report });
    expect(readdirSync(dir).sort()).toEqual(['Dockerfile', 'case.yaml']);
    expect(readdirSync(path.join(root, 'a'))).toEqual(['b']);
    expect(notes).toContain('a block named "../../etc/passwd" in the report: not a plain path inside the case directory; not written');
    expect(notes).toContain('a block named "../../Dockerfile" in the report: not a plain path inside the case directory; written as Dockerfile');
    expect(loadCase(dir).steps).toHaveLength(1);
  });

  it('removes NUL bytes and says so; control characters in notes are shown, not obeyed', () => {
    const report = `# title\0with NUL\n\n${fence}sh\ndocker buildx build\0 .\ndocker buildx bake "a\u001b[31m" | cat\n${fence}\n`;
    const { kase, yaml } = drafted(report);
    expect(kase.title).toBe('titlewith NUL');
    expect(kase.steps.map((s) => s.argv)).toEqual([['build', '.']]);
    expect(yaml).toContain('report.md holds NUL bytes: they were removed');
    expect(yaml).toContain('\\u001b[31m');
    expect(yaml).not.toContain('\u001b');
  });

  it('reads `# docker ...` after a `$` prompt as output, never as a step the reporter did not run', () => {
    const d = draftFromReport(
      `# Build fails\n${fence}console\n$ cat README\n# docker run --privileged -v /:/host alpine chroot /host id\n> docker run alpine\n$ docker buildx build .\nERROR: failed to solve: boom\n${fence}\n`,
    );
    expect(d.steps).toEqual([{ id: 'build', buildx: ['build', '.'] }]);
    expect(d.notes).toEqual(['`cat README` is not a docker or docker buildx command; the lab runs those only']);
  });

  it("reads a root transcript (`# ` prompts, no `$`) as commands, noting each, and a script's `# docker` as a comment", () => {
    const d = draftFromReport(
      `${fence}console\n# docker buildx build .\nERROR: failed to solve: boom\n> sudo docker image ls\n${fence}\n\n${fence}sh\n# docker run alpine\ndocker buildx ls\n${fence}\n`,
    );
    expect(d.steps).toEqual([
      { id: 'build', buildx: ['build', '.'] },
      { id: 'image', docker: ['image', 'ls'] },
      { id: 'ls', buildx: ['ls'] },
    ]);
    expect(d.notes).toEqual([
      'docker buildx build .: read as a command after a `#` prompt; make sure the reporter ran it (a line of output can look the same)',
      'sudo docker image ls: read as a command after a `>` prompt; make sure the reporter ran it (a line of output can look the same)',
    ]);
    expect(d.symptom).toEqual([{ output: 'failed to solve: boom', step: 'build' }]);
  });

  it('writes bidi and other hidden characters of the title and argv as escapes, which load back as they were', () => {
    const { kase, yaml } = drafted(`# a\u202eb\u2066c\u0085d\n\n${fence}sh\ndocker buildx build -t "x\u200by" --build-arg "A=\u{e0001}\u0007" .\n${fence}\n`);
    expect(yaml).toContain('title: "a\\u202eb\\u2066c\\u0085d"');
    expect(yaml).toContain('buildx: [build, -t, "x\\u200by", --build-arg, "A=\\U000e0001\\a", .]');
    expect(yaml).not.toMatch(/[\u202e\u2066\u0085\u200b\u{e0001}\u0007]/u);
    expect(kase.title).toBe('a\u202eb\u2066c\u0085d');
    expect(kase.steps[0]!.argv).toEqual(['build', '-t', 'x\u200by', '--build-arg', 'A=\u{e0001}\u0007', '.']);
  });

  it('lists $(...), variables, pipes and redirections as not placed: a step is argv, never a shell', () => {
    const d = draftFromReport(
      `${fence}sh\ndocker buildx build -t $(whoami) .\ndocker buildx build --build-arg X=$HOME .\ndocker buildx build . > log.txt\ndocker buildx ls | grep x\ndocker buildx build . && echo ok\nrm -rf /\n${fence}\n`,
    );
    expect(d.steps).toEqual([]);
    expect(d.notes).toEqual([
      '`docker buildx build -t $(whoami) .` uses command substitution $(...); a step is one command, as argv: split it into steps or write the value out',
      '`docker buildx build --build-arg X=$HOME .` uses the shell variable $HOME; a step is one command, as argv: split it into steps or write the value out',
      '`docker buildx build . > log.txt` uses the shell operator >; a step is one command, as argv: split it into steps or write the value out',
      '`docker buildx ls | grep x` uses the shell operator |; a step is one command, as argv: split it into steps or write the value out',
      '`docker buildx build . && echo ok` uses the shell operator &&; a step is one command, as argv: split it into steps or write the value out',
      '`rm -rf /` is not a docker or docker buildx command; the lab runs those only',
    ]);
  });

  it('leaves out a step the case loader refuses, naming why, so the draft still loads', () => {
    const { kase, yaml } = drafted(`${fence}sh\ndocker run -v /:/host alpine\ndocker buildx build .\n${fence}\n`);
    expect(kase.steps.map((s) => s.id)).toEqual(['build']);
    expect(yaml).toMatch(/# {3}- step run left out: steps\[0\]\.docker: .*-v/);
  });

  it('reads the report from standard input with --from - (gh issue view N | buildx-lab new DIR --from -)', async () => {
    const dir = path.join(tmp(), 'stdin');
    const r = await execa('node', [CLI, 'new', dir, '--from', '-'], { input: DOCKERFILE_AND_COMMAND, reject: false, all: true });
    expect(r.exitCode, r.all).toBe(0);
    expect(loadCase(dir).versions).toEqual(['0.29.1']);
    expect(readFileSync(path.join(dir, 'case.yaml'), 'utf8')).toContain('from standard input');
  }, 60_000);

  it('refuses a directory that is not empty, with exit 2', async () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'keep.txt'), 'mine');
    expect(() => writeDraft(dir)).toThrow(/is not empty/);
    expect(await main(['new', dir])).toBe(2);
    const file = path.join(tmp(), 'file');
    writeFileSync(file, '');
    expect(await main(['new', file])).toBe(2);
    expect(readdirSync(dir)).toEqual(['keep.txt']);
    const empty = path.join(tmp(), 'empty');
    mkdirSync(empty);
    expect(await main(['new', empty])).toBe(0);
    expect(await main(['new', path.join(tmp(), 'x'), '--from', path.join(tmp(), 'missing.md')])).toBe(2);
  });
});

describe('errorPattern', () => {
  it('matches digests and durations wherever they differ, the rest literally', () => {
    const p = errorPattern(`#5 0.123 ERROR: failed to push sha256:${'a'.repeat(64)} after 1.5s (a+b)`)!;
    expect(p).toBe('failed to push sha256:[0-9a-f]{64} after [0-9.]+m?s \\(a\\+b\\)');
    expect(errorPattern('all good')).toBeUndefined();
  });
});
