// `buildx-lab new --from` fuzzing: whatever a report holds (fences of any language, prompts, shell syntax,
// file names with `..`, control characters), the draft is written inside its directory only and loads
// with the real case loader. The promise is "the draft loads": this is where it is held to it.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, expect, it } from 'vitest';
import { loadCase } from './case.ts';
import { writeDraft } from './draft.ts';

const root = mkdtempSync(path.join(tmpdir(), 'draft-fuzz-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const fence = '```';
const word = fc.constantFrom(
  '.',
  '-t',
  'app',
  '--push',
  '--load',
  '-f',
  'Dockerfile',
  '../x',
  '/etc/passwd',
  '$HOME',
  '$(id)',
  '`id`',
  '|',
  '>',
  '&&',
  ';',
  "'a b'",
  '"c d"',
  '*.x=1',
  '${target}',
  '${nope}',
  '\\',
  '\0',
  '\u202e',
  '--driver',
  'docker-container',
  '--driver-opt',
  'image=evil',
  '-v',
  '/:/h',
  '--privileged',
);
const command = fc
  .tuple(
    fc.constantFrom(
      'docker buildx build',
      'docker buildx bake',
      'docker buildx create',
      'docker buildx ls',
      'docker run',
      'docker image inspect',
      'docker build',
      'docker compose up',
      'sudo docker buildx du',
      'X=1 docker buildx build',
      'cat > Dockerfile <<EOF',
      'rm -rf /',
    ),
    fc.array(word, { maxLength: 8 }),
  )
  .map(([c, w]) => `${c} ${w.join(' ')}`);
const output = fc.constantFrom(
  'ERROR: failed to solve: x',
  'Error response from daemon: No such image: a',
  'github.com/docker/buildx v0.21.1 abc',
  'github.com/docker/buildx v9.9.9 abc',
  'Driver: kubernetes',
  'Server Version: 26.1.5',
  'Server Version: 99.1.1',
  'default* docker',
  'panic: runtime error',
  'EOF',
  '#5 ERROR: /bin/sh: x',
  '{"a":1}',
);
const block = fc
  .tuple(
    fc.constantFrom('', 'sh', 'console', 'dockerfile', 'hcl', 'json', 'yaml', 'text', 'toml', 'x"y', 'Dockerfile {title="a"}'),
    fc.array(
      fc.oneof(
        command.map((c) => `$ ${c}`),
        command,
        output,
        fc.constantFrom('FROM scratch', 'FROM alpine', 'target "app" {}', 'services:', '> FROM scratch', '> EOF', 'EOF'),
      ),
      { maxLength: 8 },
    ),
  )
  .map(([lang, lines]) => `${fence}${lang}\n${lines.join('\n')}\n${fence}`);
const prose = fc.oneof(
  fc.constantFrom(
    '# title',
    '### ../../etc/passwd',
    'Dockerfile:',
    '`docker-bake.hcl`:',
    'compose.yaml',
    '### /abs/Dockerfile',
    'a/b/c/d/e/Dockerfile:',
    'case.yaml:',
    'https://github.com/docker/buildx/issues/1',
    '<details><summary>Dockerfile</summary>',
  ),
  fc.string({ maxLength: 40 }),
);
const report = fc.array(fc.oneof(block, prose), { maxLength: 12 }).map((parts) => parts.join('\n\n'));

let n = 0;
it('drafts any report into a case that loads, written inside its directory only', () => {
  fc.assert(
    fc.property(report, (text) => {
      const parent = path.join(root, `r${n++}`);
      const dir = path.join(parent, 'case');
      writeDraft(dir, { name: 'report.md', text });
      expect(readdirSync(parent)).toEqual(['case']);
      expect(() => loadCase(dir)).not.toThrow();
    }),
    { numRuns: 300 },
  );
}, 120_000);
