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
      /^case\.yaml:\d+: steps\[0\]\.dap\[0\]: a line is one of request: NAME \(with arguments\), event: NAME or await: terminal/,
    );
    refuses(dapCase('      - event: stopped\n        arguments: {x: 1}'), /steps\[0\]\.dap\[0\]: arguments belong to a request line/);
    refuses(dapCase('      - request: "stack trace"'), /steps\[0\]\.dap\[0\]\.request: is not a DAP command or event name/);
    refuses(
      dapCase('      - request: next\n        wait: 3'),
      /^case\.yaml:\d+: steps\[0\]\.dap\[0\]\.wait: unknown key; steps\[0\]\.dap\[0\] takes request \(with arguments\), event, await, id, timeout/,
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

describe('dap: steps that answer runInTerminal', () => {
  const init = '      - request: initialize\n        arguments: {supportsRunInTerminalRequest: true}\n';
  const exec = '      - request: evaluate\n        arguments: {expression: exec, context: repl}\n';
  const terminal = (lines: string) => `    runInTerminal:\n${lines}\n`;
  const script = '      - expect: Attached to build process\n        timeout: 60\n      - send: "id\\n"\n      - sendControl: d';

  it('loads runInTerminal: (the interact lines) and await: terminal', () => {
    const c = parseCase(dapCase(`${init}${exec}      - await: terminal\n        id: term\n        timeout: 90`, terminal(script)), dir);
    expect(c.steps[0]!.dap!.slice(2)).toEqual([{ await: 'terminal', id: 'term', timeoutMs: 90_000 }]);
    expect(c.steps[0]!.runInTerminal).toEqual([{ expect: 'Attached to build process', timeoutMs: 60_000 }, { send: 'id\n' }, { sendControl: 'd' }]);
  });

  it('refuses bad input at its line, naming the fix', () => {
    // runInTerminal without an await line: the DAP script would not wait for the terminal
    refuses(dapCase(`${init}${exec}`, terminal(script)), /^case\.yaml:\d+: steps\[0\]\.runInTerminal: needs an `await: terminal` line in dap:/);
    // await: terminal without runInTerminal
    refuses(dapCase(`${init}${exec}      - await: terminal`), /^case\.yaml:9: steps\[0\]\.dap\[2\]\.await: needs runInTerminal: on the step/);
    // awaits only a terminal
    refuses(dapCase(`${init}      - await: stopped`, terminal(script)), /steps\[0\]\.dap\[1\]\.await: awaits only terminal/);
    refuses(
      dapCase(`${init}      - await: terminal\n        event: stopped`, terminal(script)),
      /steps\[0\]\.dap\[1\]: a line is one of request: NAME \(with arguments\), event: NAME or await: terminal/,
    );
    refuses(dapCase(`${init}      - await: terminal\n        arguments: {x: 1}`, terminal(script)), /steps\[0\]\.dap\[1\]: arguments belong to a request line/);
    // a client that did not say it can run a terminal gets none from Buildx
    refuses(
      dapCase(`      - request: initialize\n${exec}      - await: terminal`, terminal(script)),
      /^case\.yaml:\d+: steps\[0\]\.runInTerminal: Buildx asks for a terminal only from a client that says it can: give initialize arguments supportsRunInTerminalRequest: true/,
    );
    // the lines are interact's, held to the same rules
    refuses(dapCase(`${init}      - await: terminal`, terminal('      - expect: "("')), /steps\[0\]\.runInTerminal\[0\]\.expect/);
    refuses(dapCase(`${init}      - await: terminal`, terminal('      - sendControl: ctrl-c')), /steps\[0\]\.runInTerminal\[0\]\.sendControl: "ctrl-c" is not a control key/);
    refuses(dapCase(`${init}      - await: terminal`, terminal('      - send: x\n        timeout: 3')), /steps\[0\]\.runInTerminal\[0\]: timeout belongs to an expect line/);
    refuses(
      dapCase(`${init}      - await: terminal`, terminal('      - run: /bin/sh')),
      /steps\[0\]\.runInTerminal\[0\]\.run: unknown key; steps\[0\]\.runInTerminal\[0\] takes one of expect \(with its timeout\), send, sendControl/,
    );
    refuses(dapCase(`${init}      - await: terminal`, '    runInTerminal: []\n'), /steps\[0\]\.runInTerminal: is empty/);
    refuses(dapCase(`${init}      - await: terminal`, terminal('      - send: "${nope}"')), /\$\{nope\} is not a lab value/);
    // only on a dap step
    refuses(
      `title: t\nsteps:\n  - buildx: [build, .]\n    runInTerminal: [{expect: x}]\nsymptom: {exitCode: zero}\n`,
      /^case\.yaml:4: steps\[0\]\.runInTerminal: applies to a dap: step/,
    );
  });

  it("keeps refusing dap attach in the case's own argv, runInTerminal or not", () => {
    refuses(
      `title: t\nsteps:\n  - buildx: [dap, attach, /tmp/buildx-dap-exec1/s.sock]\n    dap: [{request: initialize, arguments: {supportsRunInTerminalRequest: true}}, {await: terminal}]\n    runInTerminal: [{expect: x}]\nsymptom: {exitCode: zero}\n`,
      /steps\[0\]\.buildx: dap attach connects to any unix socket/,
    );
  });
});
