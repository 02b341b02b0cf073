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

function refusal(text: string): string {
  try {
    parseCase(text, dir);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error('parseCase accepted the case');
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
    expect(refusal(dapCase('      - request: initialize\n        event: stopped'))).toMatch(
      /^case\.yaml:\d+: steps\[0\]\.dap\[0\]: a line is one of request: NAME \(with arguments\) or event: NAME/,
    );
    expect(refusal(dapCase('      - event: stopped\n        arguments: {x: 1}'))).toMatch(/steps\[0\]\.dap\[0\]: arguments belong to a request line/);
    expect(refusal(dapCase('      - request: "stack trace"'))).toMatch(/steps\[0\]\.dap\[0\]\.request: is not a DAP command or event name/);
    expect(refusal(dapCase('      - request: next\n        wait: 3'))).toMatch(
      /^case\.yaml:\d+: steps\[0\]\.dap\[0\]\.wait: unknown key; steps\[0\]\.dap\[0\] takes request \(with arguments\), event, id, timeout/,
    );
    expect(refusal(dapCase('      - event: stopped\n        timeout: 601'))).toMatch(/steps\[0\]\.dap\[0\]\.timeout/);
    expect(refusal('title: t\nsteps:\n  - buildx: [dap, build, .]\n    dap: []\nsymptom: {exitCode: zero}\n')).toMatch(/^case\.yaml:4: steps\[0\]\.dap: is empty/);
    expect(refusal(dapCase('      - request: evaluate\n        arguments: {expression: "${nope}"}'))).toMatch(/\$\{nope\} is not a lab value/);
  });

  it('refuses references to lines that are not before, and ids used twice, at their line', () => {
    const later = refusal(dapCase('      - request: next\n        arguments: {threadId: {from: stop, pointer: /body/threadId}}\n      - event: stopped\n        id: stop'));
    expect(later).toMatch(/^case\.yaml:6: steps\[0\]\.dap\[0\]\.arguments: takes from stop, which is no line before this one/);
    expect(refusal(dapCase('      - event: stopped\n        id: s\n      - event: stopped\n        id: s'))).toMatch(/steps\[0\]\.dap\[1\]\.id: s is used twice/);
    expect(refusal(dapCase('      - event: stopped\n        id: s\n      - request: next\n        arguments: {threadId: {from: s, pointer: body}}'))).toMatch(
      /steps\[0\]\.dap\[1\]\.arguments: json\.pointer "body" is not a JSON Pointer/,
    );
  });

  it("refuses launch arguments beyond Buildx's, and paths that leave the context", () => {
    expect(refusal(dapCase('      - request: launch\n        arguments: {contextPath: /}'))).toMatch(/steps\[0\]\.dap\[0\]\.arguments: launch contextPath \//);
    expect(refusal(dapCase('      - request: launch\n        arguments: {dockerfile: ../x}'))).toMatch(/launch dockerfile \.\.\/x/);
    expect(refusal(dapCase('      - request: launch\n        arguments: {program: /bin/sh}'))).toMatch(/launch takes dockerfile, contextPath, target, stopOnEntry, not program/);
  });

  it('needs a foreground buildx dap step, whose stdin is the protocol', () => {
    const text = (argv: string, extra: string) => `title: t\nsteps:\n  - buildx: ${argv}\n${extra}    dap: [{request: initialize}]\nsymptom: {exitCode: zero}\n`;
    expect(refusal(text('[build, .]', ''))).toMatch(/steps\[0\]\.dap: applies to a buildx: \[dap, build, \.\.\.\] step/);
    expect(refusal(text('[dap, build, .]', '    stdin: Dockerfile\n'))).toMatch(/steps\[0\]\.stdin: a dap step's stdin carries the protocol/);
    expect(refusal(text('[dap, build, .]', '    background: true\n'))).toMatch(/steps\[0\]\.background: a dap step runs in the foreground/);
    expect(refusal(`title: t\nsteps:\n  - docker: [version]\n    dap: [{request: initialize}]\nsymptom: {exitCode: zero}\n`)).toMatch(/steps\[0\]\.dap: applies to a buildx/);
    expect(dapStepProblem({ buildx: ['dap', 'build'], interact: [] })).toEqual(['interact', expect.stringContaining('not keys at a terminal')]);
    // stdout: keeps the transcript
    expect(parseCase(text('[dap, build, .]', '    stdout: dap.json\n'), dir).steps[0]!.stdout).toBe('dap.json');
  });
});
