// `buildx-lab new`: a case directory to start from, drafted from a bug report's Markdown (as copied from
// a GitHub issue) or, without one, a commented skeleton of every key. The report is a stranger's text:
// it is parsed by a Markdown lexer (marked) and its commands by a shell-words parser (shell-quote), never
// run, never expanded; what the draft cannot place is listed at the top of case.yaml, and the draft is
// settled by the case loader itself, so what it writes always loads.
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { marked, type Token, type Tokens } from 'marked';
import { RE2JS } from 're2js';
import { parse as shellWords } from 'shell-quote';
import { Document, isScalar, isSeq, visit } from 'yaml';
import { UsageError } from '../errors.ts';
import { DRIVERS } from '../model.ts';
import { CASE_FILE, parseCase } from './case.ts';
import { MAX_BYTES } from './case-files.ts';

/** A GitHub issue body holds at most 65,536 characters; a copied thread with its comments is longer, but not this. */
export const MAX_REPORT_BYTES = 2 << 20;
/** Bounds on what one report may add to a draft (a case takes at most 50 steps). */
const MAX_STEPS = 50;
const MAX_FILES = 50;
const MAX_NOTES = 60;

export interface DraftStep {
  id: string;
  buildx?: string[];
  docker?: string[];
  env?: Record<string, string>;
}

export interface DraftCheck {
  output?: string;
  exitCode?: 'nonzero';
  step: string;
}

/** What a report gave, before the loader settles it. */
export interface Draft {
  title: string;
  links: string[];
  versions: string[];
  /** the reporter's Docker engine, from `docker version` or `docker info` output */
  engine?: string;
  driver?: string;
  /** case-relative path -> content */
  files: Map<string, string>;
  steps: DraftStep[];
  symptom: DraftCheck[];
  /** what could not be placed, one line each (the top comment of case.yaml) */
  notes: string[];
}

/** Language tags of blocks that hold commands, or commands with their output. */
const SHELL_LANGS = new Set([
  '',
  'sh',
  'bash',
  'shell',
  'zsh',
  'console',
  'shell-session',
  'shellsession',
  'terminal',
  'text',
  'txt',
  'plaintext',
  'plain',
  'cmd',
  'bat',
  'powershell',
  'ps1',
  'pwsh',
  'log',
  'output',
]);
/** Untagged or plain-text blocks: a file, output or commands, by what they hold. */
const PLAIN_LANGS = new Set(['', 'text', 'txt', 'plaintext', 'plain', 'log', 'output']);
/** A line that starts with a shell prompt. */
const PROMPTED = /^\s*(?:\$|%|PS [^>]*>|[\w.@~:/-]+[$%])\s+\S/;
/** Blocks whose lines are all commands (a script), rather than a transcript with prompts. */
const SCRIPT_LANGS = new Set(['sh', 'bash', 'shell', 'zsh']);

type Kind = 'dockerfile' | 'bake-hcl' | 'bake-json' | 'compose';
const DEFAULT_NAMES: Record<Kind, string> = { dockerfile: 'Dockerfile', 'bake-hcl': 'docker-bake.hcl', 'bake-json': 'docker-bake.json', compose: 'compose.yaml' };

/** A file name a report's text may give a block: a token with a dot or a Dockerfile, as `name` or before a colon. */
const NAMED = /(?:^|[\s`"'(])((?![a-z]+:\/\/)[^\s`"'()]*(?:Dockerfile|Containerfile|\.[A-Za-z0-9]{1,10}|\/[^\s`"'()/]+)):?$/;
/** Each part of a case file's path: no dot-dirs, no hidden tricks. */
const SAFE_SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$/;

/** What kind of case file a name is, if any. */
function kindOfName(name: string): Kind | undefined {
  const base = name.split('/').at(-1)!;
  if (/(?:^|\.)(?:Dockerfile|Containerfile)(?:\.|$)/i.test(base)) return 'dockerfile';
  if (/\.hcl$/i.test(base)) return 'bake-hcl';
  if (/bake.*\.json$/i.test(base)) return 'bake-json';
  if (/compose.*\.ya?ml$/i.test(base)) return 'compose';
  return undefined;
}

function kindOfLang(lang: string): Kind | undefined {
  if (['dockerfile', 'docker', 'containerfile'].includes(lang)) return 'dockerfile';
  if (['hcl', 'terraform', 'tf'].includes(lang)) return 'bake-hcl';
  return undefined;
}

/** A block without a telling tag or name, by its first line of content. */
function kindOfContent(text: string, lang: string, context: string): Kind | undefined {
  const first = text.split('\n').find((l) => l.trim() && !/^\s*#(?!\s*syntax=)/.test(l)) ?? '';
  const mentions = (w: RegExp) => w.test(context);
  if (/^\s*#\s*syntax=|^\s*FROM\s+\S/i.test(first) && !SCRIPT_LANGS.has(lang)) return 'dockerfile';
  if (/^\s*(target|group|variable|function)\s+"[^"]*"\s*\{/.test(first)) return 'bake-hcl';
  if (lang === 'json' && (mentions(/bake/i) || /"target"\s*:\s*\{/.test(text))) return 'bake-json';
  if (['yaml', 'yml', ''].includes(lang) && /^services:\s*$/m.test(text) && (mentions(/compose/i) || lang !== '')) return 'compose';
  return undefined;
}

/** A case-relative path from a name in the report, or why it cannot be one. */
function safeRel(name: string): { rel?: string; why?: string } {
  const segs = name.replace(/^\.\//, '').split('/');
  if (name.startsWith('/') || name.includes('\\') || segs.length > 4 || !segs.every((s) => SAFE_SEGMENT.test(s))) return { why: 'not a plain path inside the case directory' };
  return { rel: segs.join('/') };
}

/** Characters a reader does not see as they are: controls, and format characters (bidi overrides reorder a line). */
const HIDDEN = /[\p{Cc}\p{Cf}\u2028\u2029]/u;
const HIDDEN_ALL = new RegExp(HIDDEN.source, 'gu');
/** A hidden character as a YAML double-quoted escape (\uXXXX, or \UXXXXXXXX past the BMP), which a comment shows as well. */
function escaped(c: string): string {
  const cp = c.codePointAt(0)!;
  return cp > 0xffff ? `\\U${cp.toString(16).padStart(8, '0')}` : `\\u${cp.toString(16).padStart(4, '0')}`;
}

/** One line for case.yaml's top comment: control characters shown, no line breaks, cut. */
function noteText(s: string): string {
  const one = s.replace(HIDDEN_ALL, (c) => (c === '\n' || c === '\t' ? ' ' : escaped(c)));
  return one.length > 240 ? `${one.slice(0, 237)}...` : one;
}

/** Text the Markdown shows (code spans and HTML tags reduced to their text), for names and titles. */
function plainText(t: Token): string {
  if (t.type === 'html') return (t as Tokens.HTML).text.replace(/<[^>]*>/g, ' ');
  return 'text' in t && typeof t.text === 'string' ? t.text : '';
}

interface Block {
  lang: string;
  text: string;
  /** the heading or sentence just before */
  context: string;
}

/** The report's fenced and indented code blocks, each with the text before it, in order. */
function blocksOf(tokens: Token[], out: { blocks: Block[]; context: string; title?: string; prose: string[] }): void {
  for (const t of tokens) {
    if (t.type === 'code') {
      const c = t as Tokens.Code;
      out.blocks.push({
        lang: (c.lang ?? '')
          .trim()
          .split(/[\s{,]/)[0]!
          .toLowerCase(),
        text: c.text,
        context: out.context,
      });
      out.context = '';
      continue;
    }
    if (t.type === 'heading' || t.type === 'paragraph' || t.type === 'html' || t.type === 'text') {
      const text = plainText(t).trim();
      if (text) {
        if (t.type === 'heading' && out.title === undefined) out.title = text;
        out.context = text.slice(-300);
        out.prose.push(text.slice(0, 2000));
      }
    }
    const children = (t as { tokens?: Token[]; items?: Token[] }).items ?? (t.type === 'heading' || t.type === 'paragraph' ? undefined : (t as { tokens?: Token[] }).tokens);
    if (children) blocksOf(children, out);
  }
}

/** A shell prompt before a command in a transcript: `$ `, `% `, `PS C:\> `, `user@host:~/x$ `. */
const USER_PROMPT = /^(?:PS [^>]*>|[\w.@~:/-]*[$%])\s+(?=\S)/;
/** A root shell's `# ` (or a `> `) prompt, only before docker: a line of output can look the same. */
const ROOT_PROMPT = /^[#>](?=\s+(?:sudo\s+)?docker\s)\s+(?=\S)/;
/** Either prompt, as continuation lines may carry one. */
const PROMPT = new RegExp(`${USER_PROMPT.source}|${ROOT_PROMPT.source}`);

interface Command {
  line: string;
  output: string[];
  /** the `#` or `>` prompt the command was read after (a root transcript), which output can fake */
  rootPrompt?: string;
}

/** Splits a shell block into commands, the output printed after each, and files written by `cat > F <<EOF`. */
function commandsOf(b: Block, last: Command | undefined): { commands: Command[]; orphan: string[]; heredocs: { name: string; text: string }[] } {
  const raw = b.text.split('\n');
  // `# docker ...` after a `$` prompt is output (a comment cat printed, a log line), never a command: a root
  // prompt counts only in a block with no other prompt, and never in a script, where `#` starts a comment
  const userPrompted = raw.some((l) => PROMPTED.test(l));
  const rootPrompted = !userPrompted && !SCRIPT_LANGS.has(b.lang) && raw.some((l) => ROOT_PROMPT.test(l.trimStart()));
  const prompted = userPrompted || rootPrompted;
  const prompt = rootPrompted ? ROOT_PROMPT : USER_PROMPT;
  const script = !prompted && SCRIPT_LANGS.has(b.lang);
  const commands: Command[] = [];
  const orphan: string[] = [];
  const heredocs: { name: string; text: string }[] = [];
  let current: Command | undefined = last;
  for (let i = 0; i < raw.length; i++) {
    const trimmed = raw[i]!.trimStart();
    const cmdLine = prompted ? (prompt.test(trimmed) ? trimmed.replace(prompt, '') : undefined) : script || /^(sudo\s+)?docker\s/.test(trimmed) ? trimmed.trimEnd() : undefined;
    if (cmdLine === undefined) {
      (current ? current.output : orphan).push(raw[i]!);
      continue;
    }
    if (script && (cmdLine === '' || cmdLine.startsWith('#'))) continue;
    let line = cmdLine;
    // continuation lines (`\` at the end) belong to the same command
    while (/\\\s*$/.test(line) && i + 1 < raw.length) line = `${line.replace(/\\\s*$/, '')} ${raw[++i]!.trim().replace(PROMPT, '')}`;
    // a here-document: its lines are not commands; `cat > NAME <<EOF` writes a case file
    const here = /<<-?\s*(['"]?)([A-Za-z_]\w*)\1/.exec(line);
    if (here) {
      const body: string[] = [];
      // in a transcript, the shell's `> ` continuation prompt stands before each line
      const bodyLine = (l: string) => (prompted ? l.trimStart().replace(/^>\s?/, '') : l);
      while (i + 1 < raw.length && bodyLine(raw[i + 1]!).trim() !== here[2]) body.push(bodyLine(raw[++i]!));
      i++;
      const target = /^cat\s+(?:<<-?\s*\S+\s+)?>\s*(\S+)(?:\s+<<-?\s*\S+)?\s*$/.exec(line)?.[1];
      if (target) {
        heredocs.push({ name: target.replace(/^['"]|['"]$/g, ''), text: `${body.join('\n')}\n` });
        continue;
      }
    }
    current = { line, output: [], ...(rootPrompted ? { rootPrompt: trimmed[0] } : {}) };
    commands.push(current);
  }
  return { commands, orphan, heredocs };
}

/** A safe step id from a command's first words, unique in the draft. */
function stepId(words: string[], taken: Set<string>): string {
  const first = words.find((w) => !w.startsWith('-')) ?? 'step';
  const base =
    first
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, '')
      .slice(0, 30) || 'step';
  let id = base;
  for (let n = 2; taken.has(id); n++) id = `${base}-${n}`;
  taken.add(id);
  return id;
}

/** One report command as a step, or why it cannot be one. Shell is never run: its syntax is refused. */
function toStep(line: string, taken: Set<string>): { step?: DraftStep; why?: string; note?: string } {
  if (/`/.test(line)) return { why: 'uses command substitution (`...`); a step is one command, as argv' };
  const env: Record<string, string> = {};
  let words: string[];
  try {
    const parsed = shellWords(line, (name) => ({ op: `$${name}` }) as never);
    // an unquoted glob with nothing to match is passed on as it is (bake's --set *.x=y)
    const words_ = parsed.map((w) => (typeof w === 'object' && 'op' in w && w.op === 'glob' ? (w as { pattern: string }).pattern : w));
    const bad = words_.find((w) => typeof w !== 'string' && !('comment' in w));
    if (bad !== undefined && typeof bad !== 'string') {
      const op = 'op' in bad ? String(bad.op) : '';
      const what = op === '(' || op === ')' || op === '$' ? 'command substitution $(...)' : op.startsWith('$') ? `the shell variable ${op}` : `the shell operator ${op}`;
      return { why: `uses ${what}; a step is one command, as argv: split it into steps or write the value out` };
    }
    words = words_.filter((w): w is string => typeof w === 'string');
  } catch (e) {
    return { why: `cannot be split into words (${(e as Error).message})` };
  }
  while (words[0] && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0])) {
    const [k, ...v] = words.shift()!.split('=');
    env[k!] = v.join('=');
  }
  if (words[0] === 'sudo') words.shift();
  if (words[0] !== 'docker') return { why: 'is not a docker or docker buildx command; the lab runs those only' };
  const rest = words.slice(1);
  const withEnv = (s: DraftStep): DraftStep => (Object.keys(env).length ? { ...s, env } : s);
  if (rest[0] === 'buildx') {
    const argv = rest.slice(1);
    if (!argv.length) return { why: 'names no buildx subcommand' };
    let note: string | undefined;
    // the lab's engines pull only through the lab registry: a created builder runs the lab's BuildKit
    if (argv[0] === 'create' && !argv.some((a) => /(?:^|,)image=/.test(a)) && !/--driver[= ](?:docker|remote)(?:\s|$)/.test(argv.join(' '))) {
      argv.push('--driver-opt', 'image=${buildkitImage}');
      note = `${line}: --driver-opt image=\${buildkitImage} added (the lab's BuildKit image)`;
    }
    return { step: withEnv({ id: stepId(argv, taken), buildx: argv }), note };
  }
  if (rest[0] === 'build' || rest[0] === 'builder') {
    // `docker build` is Buildx's build since Docker 23; `docker builder build` the same
    const argv = rest[0] === 'builder' ? rest.slice(1) : rest;
    if (argv[0] !== 'build') return { why: "docker builder is Buildx's: write it as docker buildx ..." };
    return { step: withEnv({ id: stepId(argv, taken), buildx: argv }), note: `${line}: run as docker buildx build (docker build is Buildx since Docker 23)` };
  }
  if (rest[0] === 'compose') return { why: 'docker compose is not a step the lab runs; docker buildx bake -f compose.yaml builds the same file' };
  if (!rest.length || rest[0]!.startsWith('-')) return { why: "docker global flags are the lab's (each cell has its own engine and config)" };
  return { step: withEnv({ id: stepId(rest, taken), docker: rest }) };
}

/** Where the Buildx version shows in output: `docker buildx version`, `docker info`, `docker version`. */
const VERSION_PATTERNS = [/github\.com\/docker\/buildx\s+v(\d+\.\d+\.\d+(?:-[\w.]+)?)/g, /Docker Buildx \(Docker Inc\.?,?\)?\s*(?:Version:\s*)?v(\d+\.\d+\.\d+(?:-[\w.]+)?)/g];

/** The engine's version: `docker version`'s Server section, or `docker info`'s `Server Version:`. */
const ENGINE_PATTERNS = [/^Server Version:\s*(\d+\.\d+\.\d+)/m, /^Server:[^\n]*\n(?:[^\n]*\n){0,3}?\s*Engine:\s*\n\s*Version:\s*(\d+\.\d+\.\d+)/m];

/** The driver of the current builder, from `buildx ls` (its `*` row) or `buildx inspect` (`Driver:`). */
function driverOf(output: string): string | undefined {
  const inspect = /^Driver:\s+(\S+)/m.exec(output)?.[1];
  if (inspect) return inspect;
  for (const row of output.split('\n')) {
    const m = /^(\S+?)\s*\*\s+(\S+)/.exec(row);
    if (m) return m[2];
  }
  return undefined;
}

/** `ERROR: `, `error: `, `Error response from daemon: `, `ERROR [build 2/3]: ` (and `panic: `, kept in the message). */
const ERROR_LINE = /^(?:(?:ERROR|Error|error)\b[^:]{0,40}:\s|(?=(?:panic|fatal error):\s))/;

/** An error line in a command's output, as an RE2 pattern that the lab's output can match. */
export function errorPattern(output: string): string | undefined {
  const line = output
    .split('\n')
    .map((l) =>
      l
        .replace(/\r/g, '')
        .replace(/^#\d+\s+(?:\d+\.\d+\s+)?/, '')
        .trim(),
    )
    .find((l) => ERROR_LINE.test(l));
  if (!line) return undefined;
  const message = line.replace(ERROR_LINE, '').slice(0, 200).trim();
  if (!message) return undefined;
  // what differs between the reporter's machine and a cell (digests, absolute paths, durations) becomes a
  // pattern; the rest is matched literally
  const VARYING = /sha256:[0-9a-f]{64}|(?<![\w.])\/(?:[\w.@+-]+\/)+[\w.@+-]*|\b\d+(?:\.\d+)?m?s\b/g;
  let pattern = '';
  let at = 0;
  for (const m of message.matchAll(VARYING)) {
    pattern += RE2JS.quote(message.slice(at, m.index)) + (m[0].startsWith('sha256:') ? 'sha256:[0-9a-f]{64}' : m[0].startsWith('/') ? '\\S+' : '[0-9.]+m?s');
    at = m.index + m[0].length;
  }
  return pattern + RE2JS.quote(message.slice(at));
}

/** Reads a report's Markdown into a draft. Pure. */
export function draftFromReport(markdown: string, reportName = 'the report'): Draft {
  const notes: string[] = [];
  const note = (s: string) => {
    if (notes.length < MAX_NOTES) notes.push(noteText(s));
    else if (notes.length === MAX_NOTES) notes.push('... and more: the report holds more than a draft can list');
  };
  if (markdown.includes('\0')) {
    note(`${reportName} holds NUL bytes: they were removed`);
    markdown = markdown.replaceAll('\0', '');
  }
  const out = { blocks: [] as Block[], context: '', title: undefined as string | undefined, prose: [] as string[] };
  blocksOf(marked.lexer(markdown, { gfm: true }), out);
  const draft: Draft = { title: '', links: [], versions: [], files: new Map(), steps: [], symptom: [], notes };
  const taken = new Set<string>();
  let last: Command | undefined;
  const stepOf = new Map<Command, string>();
  const outputs: { step?: string; text: string }[] = [];
  const addFile = (kind: Kind | undefined, name: string | undefined, text: string) => {
    if (draft.files.size >= MAX_FILES) return note(`a file beyond the first ${MAX_FILES}: left out`);
    let rel = name;
    if (rel !== undefined) {
      const safe = safeRel(rel);
      if (safe.why) {
        note(`a block named ${JSON.stringify(rel)} in the report: ${safe.why}; ${kind ? `written as ${DEFAULT_NAMES[kind]}` : 'not written'}`);
        rel = kind ? DEFAULT_NAMES[kind] : undefined;
      } else rel = safe.rel;
    } else if (kind) rel = DEFAULT_NAMES[kind];
    if (rel === undefined) return;
    if (rel.toLowerCase() === CASE_FILE || rel === 'cell-id.txt') return note(`a block named ${rel}: that name is the lab's; not written`);
    const base = rel;
    for (let n = 2; draft.files.has(rel) || [...draft.files.keys()].some((f) => f.startsWith(`${rel}/`) || rel!.startsWith(`${f}/`)); n++) rel = `${base}.${n}`;
    if (rel !== base) note(`a second ${base} in the report: written as ${rel}; point the steps at the one that shows the bug`);
    draft.files.set(rel, text.endsWith('\n') ? text : `${text}\n`);
  };
  for (const b of out.blocks) {
    const named = NAMED.exec(b.context.replace(/:\s*$/, '').trim())?.[1];
    // a block tagged as a shell, or showing prompts, is commands whatever the sentence before it names
    const transcript = (SHELL_LANGS.has(b.lang) && !PLAIN_LANGS.has(b.lang)) || b.text.split('\n').some((l) => PROMPTED.test(l));
    const kind = transcript ? undefined : (kindOfLang(b.lang) ?? (named ? kindOfName(named) : undefined) ?? kindOfContent(b.text, b.lang, b.context));
    if (kind) {
      addFile(kind, named && (kindOfName(named) === kind || !kindOfName(named)) ? named : undefined, b.text);
      if (kind === 'dockerfile' && /^\s*FROM\s+(?!scratch\b|\$)/im.test(b.text))
        note(
          `the Dockerfile's FROM names an image from outside: a cell pulls only through the lab registry; use ARG BASE / FROM \${BASE} with --build-arg BASE=\${base}, or FROM scratch`,
        );
      continue;
    }
    if (named && !transcript && !/^\s*(?:sudo\s+)?docker\s/m.test(b.text)) {
      // a named file of another kind (hello.txt, buildkitd.toml): the report's files, as they are
      addFile(undefined, named, b.text);
      continue;
    }
    if (!SHELL_LANGS.has(b.lang)) {
      // json, yaml, ... without a name: output shown, as a user pastes it after a command
      if (last) last.output.push(...b.text.split('\n'));
      else note(`a ${b.lang} block that is neither a named file nor output of a command: left out`);
      continue;
    }
    const { commands, orphan, heredocs } = commandsOf(b, last);
    for (const h of heredocs) addFile(kindOfName(h.name) ?? kindOfContent(h.text, '', h.name), h.name, h.text);
    if (orphan.some((l) => l.trim())) outputs.push({ text: orphan.join('\n') });
    for (const c of commands) {
      last = c;
      if (draft.steps.length >= MAX_STEPS) {
        note(`a command beyond the first ${MAX_STEPS}: left out`);
        continue;
      }
      const r = toStep(c.line, taken);
      if (r.note) note(r.note);
      if (r.step && c.rootPrompt) note(`${c.line}: read as a command after a \`${c.rootPrompt}\` prompt; make sure the reporter ran it (a line of output can look the same)`);
      if (r.step) {
        draft.steps.push(r.step);
        stepOf.set(c, r.step.id);
      } else note(`\`${c.line.slice(0, 160)}\` ${r.why}`);
    }
  }
  // output read once all blocks are in (a json block after a console block adds to its command)
  for (const [c, id] of stepOf) outputs.push({ step: id, text: c.output.join('\n') });
  const everything = out.blocks.map((b) => b.text).join('\n');
  for (const p of VERSION_PATTERNS)
    for (const m of everything.matchAll(p)) {
      const v = m[1]!.replace(/-desktop\.\d+$/, '');
      if (v !== m[1]) note(`Buildx ${m[1]} is Docker Desktop's build: the draft runs the release ${v}`);
      if (!draft.versions.includes(v) && draft.versions.length < 5) draft.versions.push(v);
    }
  draft.engine = ENGINE_PATTERNS.map((p) => p.exec(everything)?.[1]).find(Boolean);
  for (const o of outputs) {
    const d = o.step !== undefined && /^(ls|inspect)(-\d+)?$/.test(o.step) ? driverOf(o.text) : undefined;
    if (d && !draft.driver) {
      if ((DRIVERS as readonly string[]).includes(d)) draft.driver = d;
      else note(`the report's builder uses the ${d} driver: not a driver the lab runs`);
    }
    const pattern = errorPattern(o.text);
    if (pattern && !draft.symptom.length) {
      if (o.step) draft.symptom.push({ output: pattern, step: o.step });
      else note(`an error line in output of no command: ${o.text.slice(0, 160)}`);
    }
  }
  draft.title = (out.title ?? out.prose[0]?.split(/(?<=[.!?])\s/)[0] ?? '').replace(/\s+/g, ' ').trim().slice(0, 200);
  for (const m of out.prose.join('\n').matchAll(/https:\/\/github\.com\/docker\/[\w.-]+\/(?:issues|pull)\/\d+/g))
    if (!draft.links.includes(m[0]) && draft.links.length < 5) draft.links.push(m[0]);
  return draft;
}

/** The case.yaml of a draft, its notes in the top comment. Pure. */
export function draftYaml(d: Draft, from: string): string {
  const steps = d.steps.length ? d.steps : [{ id: 'version', buildx: ['version'] }];
  const guessed = !d.symptom.length;
  const symptom = guessed ? [{ exitCode: 'nonzero', step: steps.at(-1)!.id }] : d.symptom;
  const body: Record<string, unknown> = {
    title: d.title || 'TODO: what goes wrong, in one line',
    ...(d.links.length ? { links: d.links } : {}),
    ...(d.versions.length ? { versions: d.versions } : {}),
    ...(d.engine ? { engine: [d.engine] } : {}),
    ...(d.driver ? { driver: d.driver } : {}),
    steps,
    symptom,
  };
  const doc = new Document(body);
  visit(doc, {
    Pair(_, pair) {
      const key = String((pair.key as { value?: unknown }).value);
      if ((key === 'buildx' || key === 'docker' || key === 'links' || key === 'versions') && isSeq(pair.value)) pair.value.flow = true;
      // YAML reads an unquoted 0.20 as a number
      if (key === 'versions' && isSeq(pair.value)) for (const v of pair.value.items) if (isScalar(v)) v.type = 'QUOTE_DOUBLE';
    },
    // the only style that can show a hidden character as an escape (below): a title or argv with a bidi
    // override would otherwise read in another order than it runs
    Scalar(_, node) {
      if (typeof node.value === 'string' && HIDDEN.test(node.value)) node.type = 'QUOTE_DOUBLE';
    },
  });
  const head = [
    `Drafted by \`buildx-lab new\` from ${noteText(from)}: read every line before trusting it.`,
    ...(d.steps.length ? [] : ['No docker or docker buildx command in the report: the step is a placeholder.']),
    ...(guessed ? ['No error line in the output shown: the symptom is a guess; say what shows the bug (fixtures/cases/README.md, "Symptoms and checks").'] : []),
    ...(d.versions.length ? [] : ['No Buildx version in the report (`docker buildx version` output): the draft runs latest.']),
    ...(d.notes.length ? ['Not placed (edit by hand):', ...d.notes.map((n) => `  - ${n}`)] : []),
  ];
  doc.commentBefore = head.map((l) => ` ${l}`).join('\n');
  // the yaml library escapes C0 controls in a double-quoted scalar, not format characters: escape what is
  // left. Outside the line breaks, a hidden character can stand only in a double-quoted scalar (above; the
  // comments went through noteText), where a \u escape reads back as the same character
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false }).replace(HIDDEN_ALL, (c) => (c === '\n' ? c : escaped(c)));
}

/** Without a report: every key, commented, around a case that loads as it is. */
export const SKELETON = `# A case: a bug report as data. Every key is in fixtures/cases/README.md; uncomment what the bug needs.
title: "TODO: what goes wrong, in one line"      # required
# links: [https://github.com/docker/buildx/issues/NNNN]
# versions: ["0.21.1", latest]                  # Buildx specs (quote them); default latest
# engine: ["26.1"]                              # Docker engine specs; default 26.1
# store: [containerd]                           # containerd | classic
# driver: [docker]                              # docker | docker-container | remote
# buildkit: [v0.17.1]                           # BuildKit of docker-container / remote builders
# registry: [plain]                             # plain | immutable-tags | known-index-not-retagged | subject-must-exist | late-blob-visibility
# platforms: [linux/amd64]                      # \${platforms}
# env: {BUILDX_NO_DEFAULT_ATTESTATIONS: "1"}    # for every command
# config: {buildkitdDefault: buildkitd.default.toml, dockerConfig: config.json}
# git: true                                     # the context becomes a Git repository
# builder: {buildkitdConfig: buildkitd.toml, driverOpts: {memory: 2g}, bootstrap: true}
# serve: {http: {files: {/Dockerfile: Dockerfile}}}   # \${http}; git: {repos: ...} for \${git}
# repeat: 1                                     # intermittent bugs: runs per cell
# verdict: any                                  # any | majority
steps:                                          # each one command, as argv (never a shell string)
  - id: version
    buildx: [version]
    # docker: [image, inspect, "\${read:iid.txt}"]   # a docker command instead of buildx
    # env: {DOCKER_CLI_HINTS: "false"}
    # cwd: sub
    # timeout: 600
    # stdout: out.json                            # stdin: file | {step: ID}
    # background: true                            # waitFor: PATTERN; await: ID; action: kill-builder
    # interact: [{expect: "# $"}, {send: "exit\\n"}]
symptom:                                        # all must hold for "present"
  - exitCode: nonzero                           # zero | nonzero | N
    step: version
  # - output: "ERROR: .*"                       # notOutput, panic: true
  # - file: {path: out/hello.txt, exists: true}
  # - image: {ref: "app-\${cell}", exists: true}
  # - registry: {ref: "\${target}", index: true, platforms: [linux/amd64]}
  # - requests: {method: PUT, on: manifests, reference: "\${tag}", count: ">1"}
  # - state: {path: "instances/\${builder}", exists: true}
# expect:                                       # Buildx range -> present | absent
#   "<0.22.0": present
#   ">=0.22.0": absent
`;

/** The target directory: absent (it is made) or empty; anything else is refused. */
function prepareDir(dir: string): string {
  let st: ReturnType<typeof statSync> | undefined;
  try {
    st = statSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new UsageError(`${dir}: ${(e as NodeJS.ErrnoException).code}; give a new directory for the case`);
  }
  if (st && !st.isDirectory()) throw new UsageError(`${dir} exists and is not a directory; give a new or empty directory for the case`);
  if (st && readdirSync(dir).length) throw new UsageError(`${dir} is not empty; give a new or empty directory (a draft never overwrites a case)`);
  mkdirSync(dir, { recursive: true });
  return path.resolve(dir);
}

/** The step index a loader message names (`case.yaml:9: steps[2].buildx: ...`), or the top field. */
function blamed(message: string): { step?: number; field?: string } {
  const m = /^case\.yaml:\d+: (?:steps\[(\d+)\]|(\w+))/.exec(message);
  return m?.[1] !== undefined ? { step: Number(m[1]) } : { field: m?.[2] };
}

/** Drops what the loader refuses (naming why) until the draft loads; returns case.yaml's text. */
export function settleDraft(d: Draft, root: string, from: string): string {
  for (let round = 0; round < MAX_STEPS + 10; round++) {
    const text = draftYaml(d, from);
    try {
      parseCase(text, root);
      return text;
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      const { step, field } = blamed(e.message);
      const reason = e.message.replace(/^case\.yaml:\d+: /, '');
      if (step !== undefined && d.steps[step]) {
        const [gone] = d.steps.splice(step, 1);
        d.symptom = d.symptom.filter((c) => c.step !== gone!.id);
        d.notes.push(noteText(`step ${gone!.id} left out: ${reason}`));
      } else if (field === 'versions' && d.versions.length) {
        d.notes.push(noteText(`versions ${d.versions.join(', ')} left out: ${reason}`));
        d.versions = [];
      } else if (field === 'engine' && d.engine) {
        d.notes.push(noteText(`engine ${d.engine} left out: ${reason}`));
        d.engine = undefined;
      } else if (field === 'driver' && d.driver) {
        d.notes.push(noteText(`driver ${d.driver} left out: ${reason}`));
        d.driver = undefined;
      } else if (field === 'symptom' && d.symptom.length) {
        d.notes.push(noteText(`symptom left out: ${reason}`));
        d.symptom = [];
      } else if (field === 'links' && d.links.length) d.links = [];
      else if (field === 'title') d.title = '';
      else throw new Error(`a draft the case loader refuses (a bug of buildx-lab new): ${e.message}`);
    }
  }
  throw new Error('a draft that does not settle (a bug of buildx-lab new)');
}

/**
 * Writes a case directory: from a report's Markdown, or the skeleton. `dir` must be new or empty. Files
 * are created, never overwritten (`wx`), inside `dir` only. Returns what it wrote and what it left out.
 */
export function writeDraft(dir: string, report?: { name: string; text: string }): { files: string[]; notes: string[] } {
  if (report && Buffer.byteLength(report.text) > MAX_REPORT_BYTES)
    throw new UsageError(`${report.name} is larger than ${MAX_REPORT_BYTES >> 20} MiB; give the issue's text (the body and the comments that show the bug)`);
  const root = prepareDir(dir);
  if (!report) {
    writeFileSync(path.join(root, CASE_FILE), SKELETON, { flag: 'wx' });
    return { files: [CASE_FILE], notes: [] };
  }
  const d = draftFromReport(report.text, report.name);
  let bytes = 0;
  for (const [rel, text] of d.files) {
    bytes += Buffer.byteLength(text);
    if (bytes > MAX_BYTES) throw new UsageError(`${report.name}: its files pass the ${MAX_BYTES >> 20} MiB a case may hold`);
    const file = path.join(root, rel);
    if (path.relative(root, file).startsWith('..')) throw new Error(`a case file outside the case directory: ${rel}`); // safeRel keeps this from happening
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text, { flag: 'wx' });
  }
  const text = settleDraft(d, root, report.name);
  writeFileSync(path.join(root, CASE_FILE), text, { flag: 'wx' });
  return { files: [...d.files.keys(), CASE_FILE], notes: d.notes };
}
