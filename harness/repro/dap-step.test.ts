// case.yaml's `dap:`: what loads, and every refusal with its line and field.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../errors.ts';
import { parseCase } from './case.ts';
import { dapStepProblem } from './dap-step.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'dap-case-'));
writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\n');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A case whose one step is a dap step with these lines (YAML, indented under `dap:`) and these extra step keys. */
const dapCase = (lines: string, extra = '') => `title: t
steps:
  - buildx: [dap, build, .]
${extra}    dap:
${lines}
symptom: {exitCode: zero}
`;

/** parseCase refuses `text` with a UsageError whose message matches `why`. */
function refuses(text: string, why: RegExp): void {
  expect(() => parseCase(text, dir)).toThrow(UsageError);
  expect(() => parseCase(text, dir)).toThrow(why);
}

describe('dap: steps', () => {
  it('loads a script: requests with arguments and references, events with timeouts', () => {
    const c = parseCase(
      dapCase(`      - request: initialize
        arguments: {clientID: lab}
      - request: launch
        arguments: {dockerfile: Dockerfile, stopOnEntry: true}
      - event: stopped
        id: stop
        timeout: 90
      - request: stackTrace
        arguments: {threadId: {from: stop, pointer: /body/threadId}}
      - request: setBreakpoints
        arguments: {source: {path: "\${context}/Dockerfile"}, breakpoints: [{line: 1}]}`),
      dir,
    );
    expect(c.steps[0]!.dap).toEqual([
      { request: 'initialize', arguments: { clientID: 'lab' }, timeoutMs: 30_000 },
      { request: 'launch', arguments: { dockerfile: 'Dockerfile', stopOnEntry: true }, timeoutMs: 30_000 },
      { event: 'stopped', id: 'stop', timeoutMs: 90_000 },
      { request: 'stackTrace', arguments: { threadId: { from: 'stop', pointer: '/body/threadId' } }, timeoutMs: 30_000 },
      { request: 'setBreakpoints', arguments: { source: { path: '${context}/Dockerfile' }, breakpoints: [{ line: 1 }] }, timeoutMs: 30_000 },
    ]);
    expect(c.uses.has('context')).toBe(true);
  });

  it('refuses bad lines with their line and field', () => {
    refuses(
      dapCase('      - request: initialize\n        event: stopped'),
      /^case\.yaml:\d+: steps\[0\]\.dap\[0\]: a line is one of request: NAME \(with arguments\) or event: NAME/,
    );
    refuses(dapCase('      - event: stopped\n        arguments: {x: 1}'), /steps\[0\]\.dap\[0\]: arguments belong to a request line/);
    refuses(dapCase('      - request: "stack trace"'), /steps\[0\]\.dap\[0\]\.request: is not a DAP command or event name/);
    refuses(
      dapCase('      - request: next\n        wait: 3'),
      /^case\.yaml:\d+: steps\[0\]\.dap\[0\]\.wait: unknown key; steps\[0\]\.dap\[0\] takes request \(with arguments\), event, id, timeout/,
    );
    refuses(dapCase('      - event: stopped\n        timeout: 601'), /steps\[0\]\.dap\[0\]\.timeout/);
    refuses('title: t\nsteps:\n  - buildx: [dap, build, .]\n    dap: []\nsymptom: {exitCode: zero}\n', /^case\.yaml:4: steps\[0\]\.dap: is empty/);
    refuses(dapCase('      - request: evaluate\n        arguments: {expression: "${nope}"}'), /\$\{nope\} is not a lab value/);
  });

  it('refuses references to lines that are not before, and ids used twice, at their line', () => {
    refuses(
      dapCase('      - request: next\n        arguments: {threadId: {from: stop, pointer: /body/threadId}}\n      - event: stopped\n        id: stop'),
      /^case\.yaml:6: steps\[0\]\.dap\[0\]\.arguments: takes from stop, which is no line before this one/,
    );
    refuses(dapCase('      - event: stopped\n        id: s\n      - event: stopped\n        id: s'), /steps\[0\]\.dap\[1\]\.id: s is used twice/);
    refuses(
      dapCase('      - event: stopped\n        id: s\n      - request: next\n        arguments: {threadId: {from: s, pointer: body}}'),
      /steps\[0\]\.dap\[1\]\.arguments: json\.pointer "body" is not a JSON Pointer/,
    );
  });

  it("refuses launch arguments beyond Buildx's, and paths that leave the context", () => {
    refuses(dapCase('      - request: launch\n        arguments: {contextPath: /}'), /steps\[0\]\.dap\[0\]\.arguments: launch contextPath \//);
    refuses(dapCase('      - request: launch\n        arguments: {dockerfile: ../x}'), /launch dockerfile \.\.\/x/);
    refuses(dapCase('      - request: launch\n        arguments: {program: /bin/sh}'), /launch takes dockerfile, contextPath, target, stopOnEntry, not program/);
  });

  it('needs a foreground buildx dap step, whose stdin is the protocol', () => {
    const text = (argv: string, extra: string) => `title: t\nsteps:\n  - buildx: ${argv}\n${extra}    dap: [{request: initialize}]\nsymptom: {exitCode: zero}\n`;
    refuses(text('[build, .]', ''), /steps\[0\]\.dap: applies to a buildx: \[dap, build, \.\.\.\] step/);
    refuses(text('[dap, attach, /var/run/docker.sock]', ''), /steps\[0\]\.buildx: dap attach connects to any unix socket/);
    refuses(text('[dap, build, .]', '    stdin: Dockerfile\n'), /steps\[0\]\.stdin: a dap step's stdin carries the protocol/);
    refuses(text('[dap, build, .]', '    background: true\n'), /steps\[0\]\.background: a dap step runs in the foreground/);
    refuses(`title: t\nsteps:\n  - docker: [version]\n    dap: [{request: initialize}]\nsymptom: {exitCode: zero}\n`, /steps\[0\]\.dap: applies to a buildx/);
    expect(dapStepProblem({ buildx: ['dap', 'build'], interact: [] })).toEqual(['interact', expect.stringContaining('not keys at a terminal')]);
    // stdout: keeps the transcript
    expect(parseCase(text('[dap, build, .]', '    stdout: dap.json\n'), dir).steps[0]!.stdout).toBe('dap.json');
  });
});
