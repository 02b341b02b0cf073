// serve.s3 and the ${s3...} values as a case file states them: what loads, and each refusal with its line
// and field (the schema lives in s3-spec.ts; repro/case.ts only places it).
import { describe, expect, it } from 'vitest';
import { loadCase } from '../repro/case.ts';
import { caseDir, usageError } from '../repro/case.test-helpers.ts';
import { caseScenario } from '../repro/scenario.ts';
import { expandScenario } from '../runner/scenario.ts';

const DOCKERFILE = { Dockerfile: 'FROM scratch\nCOPY cell-id.txt /\n' };
const load = (yaml: string) => loadCase(caseDir(yaml, DOCKERFILE));
const refusal = (yaml: string): string => usageError(caseDir(yaml, DOCKERFILE));

const CACHE = 'type=s3,endpoint_url=${s3},bucket=${s3Bucket},region=${s3Region},access_key_id=${s3AccessKeyId},secret_access_key=${s3SecretAccessKey},use_path_style=true';
const STEP = `steps: [{buildx: [build, --cache-to, "${CACHE}", .]}]\nsymptom: {requests: {server: s3, method: PUT, count: ">=1"}}\n`;

describe('loadCase: serve.s3', () => {
  it('loads s3: true with every ${s3...} value and a requests check on the s3 server', () => {
    const c = load(`title: t\ndriver: docker-container\nserve: {s3: true}\n${STEP}`);
    expect(c.serve).toEqual({ s3: { region: 'us-east-1' } });
    expect([...c.uses].filter((v) => v.startsWith('s3')).sort()).toEqual(['s3', 's3AccessKeyId', 's3Bucket', 's3Region', 's3SecretAccessKey']);
    expect(c.checks[0]).toEqual({ kind: 'requests', server: 's3', method: 'PUT', count: '>=1' });
  });

  it('makes versitygw a requirement of its cells, probed and built before any cell starts', () => {
    const c = load(`title: t\ndriver: docker-container\nversions: ["0.11.0"]\nserve: {s3: true}\n${STEP}`);
    const plan = expandScenario(caseScenario(c), { matrix: 'full', filters: {}, repeat: 1, source: { kind: 'case', dir: c.dir, trust: 'user' } });
    expect(plan.requirements['tool:versitygw']).toEqual({ kind: 'tool', id: 'versitygw' });
    expect(plan.cells.every((cell) => cell.requires.includes('tool:versitygw'))).toBe(true);
    const without = load(`title: t\nsteps: [{buildx: [ls]}]\nsymptom: {exitCode: zero}\n`);
    expect(
      Object.keys(expandScenario(caseScenario(without), { matrix: 'full', filters: {}, repeat: 1, source: { kind: 'case', dir: without.dir, trust: 'user' } }).requirements),
    ).not.toContain('tool:versitygw');
  });

  it('takes a region', () => {
    expect(load(`title: t\nserve:\n  s3: {region: eu-west-3}\n${STEP}`).serve?.s3).toEqual({ region: 'eu-west-3' });
  });

  it.each([
    ['${s3} without serve.s3', `title: t\n${STEP}`, /^case\.yaml:1: serve: the case names \$\{s3\} but serves no S3 endpoint: add serve\.s3/],
    [
      'the secret without serve.s3',
      `title: t\nsteps: [{buildx: [build, --build-arg, "K=\${s3SecretAccessKey}", .]}]\nsymptom: {exitCode: zero}\n`,
      /serve: the case names \$\{s3SecretAccessKey\}/,
    ],
    [
      'serve.s3 no step names',
      `title: t\nserve: {s3: true}\nsteps: [{buildx: [ls]}]\nsymptom: {exitCode: zero}\n`,
      /^case\.yaml:2: serve\.s3: is served but no step names \$\{s3\}/,
    ],
    ['serve.s3: false', `title: t\nserve: {s3: false}\n${STEP}`, /^case\.yaml:2: serve\.s3: /],
    ['a region with a space', `title: t\nserve:\n  s3: {region: "us east"}\n${STEP}`, /^case\.yaml:3: serve\.s3\.region: is not a region name/],
    ['a region that is a flag', `title: t\nserve:\n  s3: {region: --debug}\n${STEP}`, /^case\.yaml:3: serve\.s3\.region: is not a region name/],
    ['a bucket of its own choosing', `title: t\nserve:\n  s3: {bucket: other}\n${STEP}`, /^case\.yaml:3: serve\.s3\.bucket: unknown key/],
    [
      'an unknown ${s3...} value',
      `title: t\nserve: {s3: true}\nsteps: [{buildx: [build, --cache-to, "endpoint_url=\${s3},x=\${s3Root}", .]}]\nsymptom: {exitCode: zero}\n`,
      /steps\[0\]\.buildx\[2\]: \$\{s3Root\} is not a lab value/,
    ],
    [
      'an unknown requests server',
      `title: t\nserve: {s3: true}\n${STEP.replace('server: s3', 'server: minio')}`,
      /requests\.server: "minio" is not one of registry, http, git, s3/,
    ],
  ])('refuses %s, naming the line and field', (_, yaml, message) => {
    expect(refusal(yaml)).toMatch(message);
  });
});
