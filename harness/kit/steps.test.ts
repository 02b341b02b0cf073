import { describe, expect, it } from 'vitest';
import type { Kit } from './kit.ts';
import { STDIO_LIMIT, bootRecorded, interpolate, interpolateCheck, removeNodeProblem, runSteps, type LabValues, type Step } from './steps.ts';

const values: LabValues = {
  target: 'registry:5000/lab/s/c1/app:v1',
  repository: 'lab/s/c1/app',
  tag: 'v1',
  registry: 'registry:5000',
  builder: 'c1',
  cell: 'c1',
  context: '/tmp/cells/c1/ctx',
  buildkitImage: 'registry:5000/moby/buildkit:v0.17.1',
  targetNamed: (n) => `registry:5000/lab/s/c1/${n}:v1`,
};
const files: Record<string, string> = { 'iid.txt': 'sha256:abc' };
const read = async (f: string) => files[f] ?? Promise.reject(new Error(`no ${f}`));

describe('interpolate', () => {
  it.each([
    ['${target}', 'registry:5000/lab/s/c1/app:v1'],
    ['--cache-to=type=registry,ref=${target:cache}', '--cache-to=type=registry,ref=registry:5000/lab/s/c1/cache:v1'],
    ['${registry}/x:${tag}', 'registry:5000/x:v1'],
    ['${read:iid.txt}', 'sha256:abc'],
    ['no values, $HOME stays', 'no values, $HOME stays'],
  ])('%s', async (text, want) => expect(await interpolate(text, values, read)).toBe(want));

  it('says which value a cell lacks', async () => {
    await expect(interpolate('${base}', values, read)).rejects.toThrow(/\$\{base\} has no value in this cell \(no base image\)/);
  });

  it('fills checks, leaving non-strings alone', async () => {
    expect(await interpolateCheck({ kind: 'registry', ref: '${target}', platforms: ['linux/amd64'], index: true }, values, read)).toEqual({
      kind: 'registry',
      ref: 'registry:5000/lab/s/c1/app:v1',
      platforms: ['linux/amd64'],
      index: true,
    });
  });
});

describe('runSteps checks the argv again once lab values are filled in', () => {
  /** A kit that records what would run; the files of ${read:FILE} come from `files`. Only the checks before a step runs are under test here. */
  const kitFor = (contents: Record<string, string>) => {
    const ran: string[][] = [];
    const record = async (argv: readonly string[]) => {
      ran.push([...argv]);
      return { argv: [...argv], exitCode: 0, stdout: '', stderr: '', durationMs: 0 };
    };
    const sandbox = {
      contextDir: values.context,
      resolveInContext: async (paths: readonly string[]) => paths.map((p) => ({ path: p, real: `${values.context}/${p}`, kind: p in contents ? 'file' : 'none' })),
      look: async (_script: string, _o: unknown, args: string[] = []) => ({
        exitCode: 0,
        stdout: contents[Object.keys(contents).find((f) => args[0]?.endsWith(`/${f}`)) ?? ''] ?? '',
        stderr: '',
      }),
    };
    return { ran, kit: { sandbox, buildx: record, docker: record, fact: () => {} } as unknown as Kit };
  };
  const step = (tool: 'buildx' | 'docker', argv: string[], env: Record<string, string> = {}): Step => ({ id: 's', tool, argv, env });

  it.each<[string, Step, Record<string, string>, RegExp]>([
    ['a flag read from a file', step('docker', ['run', '${read:flags.txt}', 'alpine']), { 'flags.txt': '--pid=host' }, /^step s: docker run --pid would reach the engine's host/],
    [
      'combined flags read from a file',
      step('docker', ['run', '--rm', '${read:flags.txt}', 'alpine']),
      { 'flags.txt': '-itv/:/host' },
      /^step s: docker run -v would reach the engine's host/,
    ],
    [
      'an output path read from a file',
      step('buildx', ['build', '--output', 'type=local,dest=${read:d.txt}', '.']),
      { 'd.txt': '/usr/local/bin' },
      /^step s: --output dest= \/usr\/local\/bin is outside the cell's context/,
    ],
    [
      'a driver option that brings an image with it',
      step('buildx', ['create', '--driver-opt', 'memory=${read:m.txt}']),
      { 'm.txt': '1g,image=evil' },
      /^step s: --driver-opt memory=1g,image=evil: driver option image=evil is not the lab's BuildKit image/,
    ],
    ['a lab-owned variable', step('buildx', ['ls'], { DOCKER_CONFIG: '/tmp' }), {}, /^step s: DOCKER_CONFIG is the cell's own client config/],
    ["sudo's word on who ran it", step('buildx', ['ls'], { SUDO_UID: '0' }), {}, /^step s: SUDO_UID is sudo's word on who ran it, .*write sudo: true on the step/],
  ])('refuses %s, running nothing', async (_what, s, contents, message) => {
    const { ran, kit } = kitFor(contents);
    await expect(runSteps(kit, [s], values)).rejects.toThrow(message);
    expect(ran).toEqual([]);
  });

  it('runs what the lab values fill in as allowed', async () => {
    const { ran, kit } = kitFor({ 'iid.txt': 'sha256:abc' });
    await runSteps(kit, [step('buildx', ['create', '--driver-opt', 'image=${buildkitImage}']), step('docker', ['image', 'inspect', '${read:iid.txt}'])], values);
    expect(ran).toEqual([
      ['create', '--driver-opt', 'image=registry:5000/moby/buildkit:v0.17.1'],
      ['image', 'inspect', 'sha256:abc'],
    ]);
  });
});

describe("runSteps runs a step as the case says: as root, under sudo from the lab's user, or as it", () => {
  it('hands the kit who runs it and says so in the facts', async () => {
    const ran: [string, unknown][] = [];
    const facts: string[] = [];
    const record = async (argv: readonly string[], o: { as?: string }) => {
      ran.push([argv.join(' '), o.as]);
      return { argv: [...argv], exitCode: 0, stdout: '', stderr: '', durationMs: 0 };
    };
    const sandbox = { contextDir: values.context, resolveInContext: async () => [] };
    const kit = { sandbox, buildx: record, docker: record, fact: (f: string) => facts.push(f) } as unknown as Kit;
    await runSteps(
      kit,
      [
        { id: 'a', tool: 'buildx', argv: ['ls'], env: {}, as: 'sudo' },
        { id: 'b', tool: 'docker', argv: ['version'], env: {}, as: 'lab' },
        { id: 'c', tool: 'buildx', argv: ['ls'], env: {} },
      ],
      values,
    );
    expect(ran).toEqual([
      ['ls', 'sudo'],
      ['version', 'lab'],
      ['ls', undefined],
    ]);
    expect(facts.filter((f) => f.includes(' runs '))).toEqual(['step a: runs as root under sudo from lab (SUDO_UID=1000, HOME kept)', 'step b: runs as lab (uid 1000)']);
  });
});

describe('stdout: and stdin: carry bytes between steps without a shell', () => {
  /**
   * A kit whose engine is a map of context files: a step's stdout is what `outputs` says, what it read on
   * stdin is kept; the lab's own looks (read with head, write with cat) work on the map. The real engine
   * is in kit.itg.test.ts; the decisions over its answers are under test here.
   */
  const kitFor = (files: Map<string, Buffer>, outputs: Record<string, Buffer>, kinds: Record<string, 'dir' | 'other'> = {}) => {
    const stdins: (Buffer | undefined)[] = [];
    const asked: (number | undefined)[] = [];
    const record = async (argv: readonly string[], o: { input?: Buffer; stdoutBytes?: number }) => {
      stdins.push(o.input);
      asked.push(o.stdoutBytes);
      const out = outputs[argv.join(' ')] ?? Buffer.alloc(0);
      const overflow = o.stdoutBytes !== undefined && out.length > o.stdoutBytes;
      return {
        argv: [...argv],
        exitCode: overflow ? 1 : 0,
        stdout: out.toString('utf8'),
        stderr: '',
        durationMs: 0,
        ...(o.stdoutBytes !== undefined ? { bytes: { stdout: out.subarray(0, o.stdoutBytes), overflow } } : {}),
      };
    };
    const rel = (real: string) => real.slice(values.context.length + 1);
    const sandbox = {
      contextDir: values.context,
      resolveInContext: async (paths: readonly string[]) => paths.map((p) => ({ path: p, real: `${values.context}/${p}`, kind: kinds[p] ?? (files.has(p) ? 'file' : 'none') })),
      look: async (script: string, o: { input?: Buffer }, args: string[]) => {
        if (script.includes('cat > "$1"')) {
          files.set(rel(args[0]!), Buffer.from(o.input!));
          return { exitCode: 0, stdout: '', stderr: '' };
        }
        const b = files.get(rel(args[0]!)) ?? Buffer.alloc(0);
        return { exitCode: 0, stdout: b.toString('utf8'), stderr: '', bytes: { stdout: b.subarray(0, Number(args[1])), overflow: false } };
      },
    };
    return { stdins, asked, kit: { sandbox, buildx: record, docker: record, fact: () => {} } as unknown as Kit };
  };
  const raw = Buffer.from([0x7b, 0x00, 0xff, 0xfe, 0x7d]); // not UTF-8: must arrive as it left
  const inspect: Step = { id: 'inspect', tool: 'buildx', argv: ['imagetools', 'inspect', '--raw', 'x'], env: {}, stdout: 'raw.json' };

  it("writes a step's stdout to a context file byte for byte, and feeds it to a later step by file and by step", async () => {
    const files = new Map<string, Buffer>();
    const { kit, stdins, asked } = kitFor(files, { 'imagetools inspect --raw x': raw });
    await runSteps(
      kit,
      [inspect, { id: 'a', tool: 'buildx', argv: ['ls'], env: {}, stdin: { file: 'raw.json' } }, { id: 'b', tool: 'buildx', argv: ['ls'], env: {}, stdin: { step: 'inspect' } }],
      values,
    );
    expect(files.get('raw.json')).toEqual(raw);
    expect(stdins).toEqual([undefined, raw, raw]);
    // only the steps whose stdout is kept are bounded and read as bytes
    expect(asked).toEqual([STDIO_LIMIT, undefined, undefined]);
  });

  it.each<[string, Step[], Record<string, 'dir' | 'other'>, RegExp]>([
    ['stdin from a step that has not run', [{ id: 'a', tool: 'buildx', argv: ['ls'], env: {}, stdin: { step: 'later' } }], {}, /^step a: stdin: step later has not run before it/],
    ['stdin from a missing file', [{ id: 'a', tool: 'buildx', argv: ['ls'], env: {}, stdin: { file: 'nope.json' } }], {}, /^step a: stdin: nope\.json: the file is not there/],
    ['stdin from a directory', [{ id: 'a', tool: 'buildx', argv: ['ls'], env: {}, stdin: { file: 'out' } }], { out: 'dir' }, /^step a: stdin: out: is not a regular file/],
    ['stdin from outside the context', [{ id: 'a', tool: 'buildx', argv: ['ls'], env: {}, stdin: { file: '../x' } }], {}, /must name a file inside the cell's context/],
    ['stdout onto a directory', [{ ...inspect, stdout: 'out' }], { out: 'dir' }, /^step inspect: stdout: out: is a directory; name a new file/],
    ['stdout to an absolute path', [{ ...inspect, stdout: '/etc/passwd' }], {}, /must name a file inside the cell's context/],
  ])('refuses %s', async (_what, steps, kinds, message) => {
    const { kit } = kitFor(new Map(), { 'imagetools inspect --raw x': raw }, kinds);
    await expect(runSteps(kit, steps, values)).rejects.toThrow(message);
  });

  it('refuses a stdout onto a directory before the step runs', async () => {
    const { kit, stdins } = kitFor(new Map(), {}, { out: 'dir' });
    await expect(runSteps(kit, [{ ...inspect, stdout: 'out' }], values)).rejects.toThrow(/is a directory/);
    expect(stdins).toEqual([]);
  });

  it('refuses a stdout past the bound, naming the step, and writes nothing', async () => {
    const files = new Map<string, Buffer>();
    const { kit } = kitFor(files, { 'imagetools inspect --raw x': Buffer.alloc(STDIO_LIMIT + 1) });
    await expect(runSteps(kit, [inspect], values)).rejects.toThrow(/^step inspect: its stdout passed 16 MiB/);
    expect(files.size).toBe(0);
  });

  it('refuses a stdin file past the bound', async () => {
    const { kit } = kitFor(new Map([['big', Buffer.alloc(STDIO_LIMIT + 1)]]), {});
    await expect(runSteps(kit, [{ id: 'a', tool: 'buildx', argv: ['ls'], env: {}, stdin: { file: 'big' } }], values)).rejects.toThrow(/^step a: stdin: big is larger than 16 MiB/);
  });

  it('fills lab values into requests.reference as literals, and elsewhere as they are', async () => {
    const dotted = { ...values, tag: 'v1.0' };
    expect(await interpolateCheck({ kind: 'requests', count: '1', reference: '${tag}|sha256:.*', repository: '${repository}' }, dotted, read)).toEqual({
      kind: 'requests',
      count: '1',
      reference: 'v1\\.0|sha256:.*',
      repository: 'lab/s/c1/app',
    });
  });
});

describe('runSteps in time: the order of background, waitFor, await and the end (a scripted engine, no Docker)', () => {
  /** A process that prints `lines` one by one, every 5 ms, then ends with `exit` (never, when `exit` is undefined). */
  const scripted = (lines: string[], exit: number | undefined, log: string[], name: string) => {
    const listeners: ((c: Buffer) => void)[] = [];
    let ended = false;
    let finish: (code: number) => void = () => {};
    const done = new Promise<{ argv: string[]; exitCode: number; stdout: string; stderr: string; durationMs: number }>((resolve) => {
      finish = (code) => {
        if (ended) return;
        ended = true;
        log.push(`${name} ended ${code}`);
        resolve({ argv: [], exitCode: code, stdout: lines.join('\n'), stderr: '', durationMs: 1 });
      };
    });
    for (const [i, l] of lines.entries())
      setTimeout(
        () => {
          for (const f of listeners) f(Buffer.from(`${l}\r\n`));
        },
        5 * (i + 1),
      );
    // it ends well after its last line: a waitFor has matched by then
    if (exit !== undefined) setTimeout(() => finish(exit), 5 * lines.length + 300);
    const written: string[] = [];
    return {
      written,
      proc: {
        proc: { write: (d: string) => written.push(d), endInput: () => {}, onData: (l: (c: Buffer) => void) => listeners.push(l), done, kill: () => {} },
        done,
        stop: async () => {
          log.push(`${name} stopped`);
          if (!ended) finish(137);
        },
        ended: () => ended,
      },
    };
  };
  const kitWith = (procs: Record<string, ReturnType<typeof scripted>>, log: string[]) => {
    const added: string[] = [];
    const record = async (argv: readonly string[]) => {
      log.push(`ran ${argv.join(' ')}`);
      return { argv: [...argv], exitCode: 0, stdout: '', stderr: '', durationMs: 0 };
    };
    const sandbox = {
      contextDir: values.context,
      standalonePath: '/tmp/cells/c1/bin:/usr/bin',
      resolveInContext: async (paths: readonly string[]) => paths.map((p) => ({ path: p, real: `${values.context}/${p}`, kind: 'none' })),
      start: (argv: readonly string[], opts: { name: string; env?: Record<string, string> }) => {
        log.push(`start ${opts.name} ${argv.join(' ')}${opts.env?.PATH ? ` PATH=${opts.env.PATH}` : ''}`);
        return procs[opts.name]!.proc;
      },
      addRecord: (r: { exitCode: number; stderr: string }) => added.push(`${r.exitCode}${r.stderr}`),
      buildxStandalone: async (argv: readonly string[]) => record(['buildx', ...argv]),
      look: async () => ({ exitCode: 0, stdout: 'buildx_buildkit_c10\nbuildx_buildkit_c1x\nother\n', stderr: '' }),
    };
    const facts: string[] = [];
    return { added, facts, kit: { sandbox, buildx: record, docker: record, fact: (f: string) => facts.push(f) } as unknown as Kit };
  };
  const bg = (id: string, argv: string[], waitFor?: string): Step => ({
    id,
    tool: 'buildx',
    argv,
    env: {},
    background: waitFor ? { waitFor: { pattern: waitFor, timeoutMs: 2000 } } : {},
  });

  it('starts the next step only once the background output matches, awaits it, and ends what is left at the end', async () => {
    const log: string[] = [];
    const slow = scripted(['#1 load', '#5 RUN sleep 60', '#5 DONE'], 1, log, 'slow-bg');
    const left = scripted(['serving'], undefined, log, 'left-bg');
    const { kit, added, facts } = kitWith({ 'slow-bg': slow, 'left-bg': left }, log);
    const rec = await runSteps(
      kit,
      [
        bg('slow', ['build', '.'], 'RUN sleep'),
        { id: 'stop', tool: 'action', argv: [], env: {}, action: 'stop-builder' },
        { id: 'w', tool: 'await', argv: [], env: {}, await: ['slow'] },
        bg('left', ['dial-stdio']),
        { id: 'v', tool: 'buildx', argv: ['version'], env: {}, standalone: true },
      ],
      { ...values, builder: 'c1' },
    );
    expect(log).toEqual([
      'start slow-bg docker buildx build .',
      'ran stop buildx_buildkit_c10',
      'slow-bg ended 1',
      'start left-bg docker buildx dial-stdio',
      'ran buildx version',
      'left-bg stopped',
      'left-bg ended 137',
    ]);
    expect(rec.map((r) => [r.id, r.record.exitCode])).toEqual([
      ['slow', 1],
      ['stop', 0],
      ['left', 137],
      ['v', 0],
    ]);
    expect(rec[2]!.record.stderr).toMatch(/still running when the steps ended: killed$/);
    expect(added).toEqual(['1', '137\n[buildx-lab] still running when the steps ended: killed']);
    expect(facts.join('\n')).toMatch(/step slow: waitFor matched "RUN sleep"[\s\S]*action stop-builder: docker stop buildx_buildkit_c10 exit 0/);
  });

  it('marks a background step whose waitFor never matched, so the case says inconclusive', async () => {
    const log: string[] = [];
    const { kit } = kitWith({ 'q-bg': scripted(['done'], 0, log, 'q-bg') }, log);
    const rec = await runSteps(kit, [bg('q', ['version'], 'never printed')], values);
    expect(rec[0]!.missed).toBe('waitFor /never printed/ did not match before the step ended');
  });

  it('ends an awaited step that does not end in time and records it as hung, for the checks (not inconclusive)', async () => {
    const log: string[] = [];
    const { kit, added } = kitWith({ 'h-bg': scripted(['hanging'], undefined, log, 'h-bg') }, log);
    const rec = await runSteps(kit, [bg('h', ['build', '.']), { id: 'w', tool: 'await', argv: [], env: {}, await: ['h'], timeoutMs: 50 }], values);
    expect(log).toEqual(['start h-bg docker buildx build .', 'h-bg stopped', 'h-bg ended 137']);
    expect(rec).toHaveLength(1);
    expect(rec[0]!.missed).toBeUndefined();
    expect(rec[0]!.record.exitCode).toBe(124);
    expect(added).toEqual(['124\n[buildx-lab] awaited for 0.05 s and still running: killed']);
  });

  it('refuses a fault action when the cell has no builder container (the docker driver)', async () => {
    const { kit } = kitWith({}, []);
    await expect(runSteps(kit, [{ id: 'k', tool: 'action', argv: [], env: {}, action: 'kill-builder' }], { ...values, builder: 'default' })).rejects.toThrow(
      /action kill-builder: the cell has no builder container \(the docker driver builds in the engine itself\)/,
    );
  });

  it('types what the script says and keeps the rendered screen, not the bytes, with a note that names no pattern', async () => {
    const log: string[] = [];
    const tty = scripted(['\x1b[32mready\x1b[0m', '# '], undefined, log, 'i-tty');
    const { kit } = kitWith({ 'i-tty': tty }, log);
    const [r] = await runSteps(
      kit,
      [
        {
          id: 'i',
          tool: 'buildx',
          argv: ['debug', 'build', '.'],
          env: {},
          timeoutMs: 800,
          interact: [{ expect: 'ready', timeoutMs: 1000 }, { send: 'ls ${cell}\n' }, { sendControl: 'c' }, { expect: 'secret-pattern', timeoutMs: 50 }, { send: 'never' }],
        },
      ],
      values,
    );
    expect(tty.written).toEqual(['ls c1\r', '\x03']);
    expect(r!.record.stdout).toBe('ready\n#');
    expect(r!.record.exitCode).toBe(137);
    expect(r!.record.stderr).toMatch(/interact\[3\]: the expect saw no match within 0\.05 s; the script stopped there/);
    expect(r!.record.stderr).not.toMatch(/secret-pattern/);
  });
});

describe('removeNodeProblem', () => {
  it('needs two nodes or more, and a node the builder has', () => {
    expect(removeNodeProblem(undefined, 2)).toBeUndefined();
    expect(removeNodeProblem(1, 3)).toBeUndefined();
    expect(removeNodeProblem(undefined, 1)).toMatch(/cannot leave the last node/);
    expect(removeNodeProblem(0, 0)).toMatch(/needs a multi-node builder/);
    expect(removeNodeProblem(2, 2)).toBe("node 2 is not one of the builder's nodes (0 to 1)");
  });
});

describe('a boot-builder step: the lab boots its builder as a step', () => {
  const cmd = (argv: string[], exitCode: number, stderr: string) => ({ argv, exitCode, stdout: `${argv[0]} out`, stderr, durationMs: 10 });
  const create = cmd(['create', '--name', 'c1'], 0, '');
  const bootstrap = cmd(['inspect', '--bootstrap', 'c1'], 1, 'ERROR: No such image');
  const builder = { name: 'c1', driver: 'docker-container' as const, args: ['--builder', 'c1'], commands: [create, bootstrap] };
  const hit = [{ seq: 1 }] as never[];

  it("records the boot as one step: every command's output, the exit and argv of the one that failed", () => {
    expect(bootRecorded({ id: 'boot', pullFault: 'corrupt' }, { builder: { ...builder, failed: bootstrap }, faultHits: hit })).toStrictEqual({
      id: 'boot',
      record: { argv: ['inspect', '--bootstrap', 'c1'], exitCode: 1, stdout: 'create out\ninspect out', stderr: '\nERROR: No such image', durationMs: 20 },
    });
  });

  it('takes the first command that failed, and the last one when none did', () => {
    const failedCreate = cmd(['create'], 17, 'no');
    expect(bootRecorded({ id: 'b' }, { builder: { ...builder, commands: [failedCreate], failed: failedCreate }, faultHits: [] }).record).toMatchObject({
      argv: ['create'],
      exitCode: 17,
    });
    const ok = cmd(['inspect', '--bootstrap', 'c1'], 0, '');
    expect(bootRecorded({ id: 'b' }, { builder: { ...builder, commands: [create, ok] }, faultHits: [] }).record).toMatchObject({ argv: ok.argv, exitCode: 0 });
    expect(bootRecorded({ id: 'b' }, { builder: { ...builder, commands: [] }, faultHits: [] }).record).toStrictEqual({
      argv: [],
      exitCode: 0,
      stdout: '',
      stderr: '',
      durationMs: 0,
    });
  });

  it('marks a boot whose pull fault was never hit, so the case says inconclusive; a boot without a fault never is', () => {
    expect(bootRecorded({ id: 'boot', pullFault: '404' }, { builder, faultHits: [] }).missed).toBe('the 404 fault was never hit (the engine did not fetch the layer)');
    expect('missed' in bootRecorded({ id: 'boot', pullFault: '404' }, { builder, faultHits: hit })).toBe(false);
    expect('missed' in bootRecorded({ id: 'boot' }, { builder, faultHits: [] })).toBe(false);
  });

  it("refuses to boot when the cell has no builder of the lab's to boot", async () => {
    const kit = { fact: () => {} } as unknown as Kit;
    await expect(runSteps(kit, [{ id: 'b', tool: 'action', argv: [], env: {}, action: 'boot-builder' }], values)).rejects.toThrow(
      /^step b: action boot-builder: the cell has no builder of the lab's to boot$/,
    );
  });
});
