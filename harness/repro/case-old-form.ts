// The one-command form of the first cases (command: build | bake | create, with args, bakeFile, context,
// platforms, push, fault, the registry words and the expect words reproduced / fixed) is gone: a case is
// steps. A case.yaml still written that way is refused at its first such key, with the keys that mean the
// same written out in the step form, so the fix is a copy. Pure over the parsed YAML (not yet validated:
// every value is read defensively).
import { stringify } from 'yaml';
import type { Key } from './case-schema.ts';

export interface OldFormProblem {
  at: Key[];
  message: string;
}

/** Keys only the one-command form had, in the order they are reported. */
const ONE_COMMAND_KEYS = ['command', 'args', 'bakeFile', 'context', 'platforms', 'push', 'fault'] as const;
const REGISTRY_WORDS = ['missing-platforms', 'not-an-index', 'push-refused', 'incomplete'];
const EXPECT_WORDS: Record<string, string> = { reproduced: 'present', fixed: 'absent' };
const SEE = 'see "Steps" in fixtures/cases/README.md';

type Raw = Record<string, unknown>;
const isMapping = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);
const words = (v: unknown): string[] => (v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]).map((x) => String(x));

/** `key: value` in YAML's flow style, on one line. */
const flow = (key: string, value: unknown) => `${key}: ${stringify(value, { collectionStyle: 'flow', lineWidth: 0 }).trim()}`;

/** The first key of `raw` that belongs to the one-command form, with what to write instead; undefined when there is none. */
export function oldFormProblem(raw: Raw): OldFormProblem | undefined {
  if ('command' in raw) return { at: ['command'], message: commandMessage(raw) };
  const key = ONE_COMMAND_KEYS.find((k) => k in raw);
  if (key) return { at: [key], message: `belongs to the one-command form, which is gone: write it in a step (e.g. steps: [{buildx: [build, ...]}]); ${SEE}` };
  for (const [at, shape] of symptomShapes(raw)) {
    const word = shape.registry;
    if (typeof word === 'string' && REGISTRY_WORDS.includes(word))
      return { at: [...at, 'registry'], message: `${word} was a word of the one-command form, which is gone; write ${flow(...registryCheck(word, []))}` };
  }
  const expect = isMapping(raw.expect) ? raw.expect : {};
  for (const [range, word] of Object.entries(expect))
    if (typeof word === 'string' && word in EXPECT_WORDS)
      return { at: ['expect', range], message: `${word} was a word of the one-command form, which is gone; write ${EXPECT_WORDS[word]} (reproduced is present, fixed is absent)` };
  return undefined;
}

/** `command:` with the keys that replace the form's, written out from the case's own values. */
function commandMessage(raw: Raw): string {
  const instead: [string, unknown][] = [];
  const platforms = words(raw.platforms);
  if (raw.command === 'create') {
    const fault = isMapping(raw.fault) ? raw.fault.kind : raw.fault;
    // the form's create booted a docker-container builder; a case naming its driver keeps its own line
    if (raw.driver === undefined) instead.push(['driver', 'docker-container']);
    instead.push(['steps', [{ id: 'boot', action: 'boot-builder', ...(fault !== undefined ? { fault: String(fault) } : {}) }]]);
  } else if (raw.command === 'bake') {
    const env = { TAG: '${target}', ...(platforms.length ? { PLATFORMS: platforms.join(',') } : {}) };
    instead.push(['steps', [{ id: 'bake', buildx: ['bake', '-f', String(raw.bakeFile ?? 'docker-bake.hcl'), ...words(raw.args)], env }]]);
  } else {
    const push = raw.push !== false;
    const argv = [
      'build',
      ...(platforms.length ? ['--platform', platforms.join(',')] : []),
      ...(push ? ['--push', '-t', '${target}'] : []),
      ...words(raw.args),
      String(raw.context ?? '.'),
    ];
    instead.push(['steps', [{ id: 'build', buildx: argv }]]);
  }
  // the symptom and expect words of the form, translated too, so the whole fix is one copy
  const symptom = translatedSymptom(raw.symptom, platforms);
  if (symptom !== undefined) instead.push(['symptom', symptom]);
  if (isMapping(raw.expect) && Object.values(raw.expect).some((w) => typeof w === 'string' && w in EXPECT_WORDS))
    instead.push(['expect', Object.fromEntries(Object.entries(raw.expect).map(([r, w]) => [r, typeof w === 'string' ? (EXPECT_WORDS[w] ?? w) : w]))]);
  const drop = ONE_COMMAND_KEYS.filter((k) => k in raw);
  return `the one-command form is gone: a case is steps. Write ${instead.map(([k, v]) => flow(k, v)).join(', ')}; and drop ${drop.join(', ')} (${SEE})`;
}

/** The case's symptom with the registry words as checks of the same meaning; undefined when it holds none. */
function translatedSymptom(symptom: unknown, platforms: string[]): unknown {
  const one = (s: unknown) => {
    if (!isMapping(s) || typeof s.registry !== 'string' || !REGISTRY_WORDS.includes(s.registry)) return s;
    const { registry, ...rest } = s;
    const [key, check] = registryCheck(registry, platforms);
    return { ...rest, [key]: check };
  };
  const out = Array.isArray(symptom) ? symptom.map(one) : one(symptom);
  return JSON.stringify(out) === JSON.stringify(symptom) ? undefined : out;
}

/** A registry word of the one-command form as the check it meant (with the case's platforms, else a placeholder). */
function registryCheck(word: string, platforms: string[]): [string, Raw] {
  const listed = platforms.length ? platforms : ['PLATFORM', '...'];
  switch (word) {
    case 'not-an-index':
      return ['registry', { index: false }];
    case 'missing-platforms':
      return ['registry', { lacks: listed }];
    case 'incomplete':
      return ['registry', { platforms: listed, complete: false }];
    default:
      return ['requests', { method: 'PUT', on: 'manifests', reference: '${tag}', status: '4xx', count: '>=1' }];
  }
}

/** Every check mapping of the case's symptoms (its own and its steps'), with where it sits. */
function symptomShapes(raw: Raw): [Key[], Raw][] {
  const shapes = (s: unknown, at: Key[]): [Key[], Raw][] =>
    Array.isArray(s) ? s.flatMap((x, i) => (isMapping(x) ? [[[...at, i], x] as [Key[], Raw]] : [])) : isMapping(s) ? [[at, s]] : [];
  const steps = Array.isArray(raw.steps) ? raw.steps : [];
  return [...shapes(raw.symptom, ['symptom']), ...steps.flatMap((s, i) => (isMapping(s) ? shapes(s.symptom, ['steps', i, 'symptom']) : []))];
}
