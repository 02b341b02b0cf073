// The stand-ins' entrypoints behave as the official images' documentation says (run with stub binaries:
// no engine, no image); the images' config is checked where they are built (harness/lab/official-images.itg.test.ts).
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DIND_COMMAND } from '../dind/dind.ts';
import { STAND_IN_SCRIPTS, dindStandIn, mirrorPath, registryStandIn } from './stand-ins.test-helpers.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'bxl-stand-ins-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const stub = (name: string, body: string) => {
  const p = path.join(dir, 'bin', name);
  execFileSync('mkdir', ['-p', path.dirname(p)]);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
};
// stubs print the argv they got, one word a line
stub('dockerd', 'printf "%s\\n" dockerd "$@"');
stub('registry', 'printf "%s\\n" registry "$@"');
const dind = stub('dind-wrapper', 'printf "%s\\n" "[dind]"; exec "$@"');

function entrypoint(script: string, args: string[], env: Record<string, string> = {}): string[] {
  const out = execFileSync('sh', [script, ...args], {
    env: { PATH: `${dir}/bin:/usr/bin:/bin`, STAND_IN_DIND: dind, STAND_IN_RUN_DIRS: path.join(dir, 'run'), ...env },
    encoding: 'utf8',
  });
  return out.trim().split('\n');
}

describe('docker:<v>-dind stand-in: dockerd-entrypoint.sh', () => {
  it('with no arguments and DOCKER_TLS_CERTDIR set, makes certificates and serves TLS on 2376 beside the socket', () => {
    const certs = path.join(dir, 'certs');
    const argv = entrypoint(STAND_IN_SCRIPTS.dockerdEntrypoint, [], { DOCKER_TLS_CERTDIR: certs });
    expect(argv).toEqual([
      '[dind]',
      'dockerd',
      '--host=unix:///var/run/docker.sock',
      '--host=tcp://0.0.0.0:2376',
      '--tlsverify',
      '--tlscacert',
      `${certs}/server/ca.pem`,
      '--tlscert',
      `${certs}/server/cert.pem`,
      '--tlskey',
      `${certs}/server/key.pem`,
    ]);
    for (const who of ['server', 'client']) execFileSync('openssl', ['verify', '-CAfile', `${certs}/${who}/ca.pem`, `${certs}/${who}/cert.pem`]);
    const server = execFileSync('openssl', ['x509', '-in', `${certs}/server/cert.pem`, '-noout', '-text'], { encoding: 'utf8' });
    expect(server).toMatch(/DNS:docker\b/);
    expect(server).toMatch(/DNS:localhost\b/);
    expect(execFileSync('openssl', ['x509', '-in', `${certs}/client/cert.pem`, '-noout', '-text'], { encoding: 'utf8' })).toMatch(/TLS Web Client Authentication/);
    expect(statSync(`${certs}/client/key.pem`).mode & 0o777).toBe(0o644);
  }, 30_000);

  it('keeps its CA across starts (clients that trust it go on working)', () => {
    const certs = path.join(dir, 'certs-again');
    entrypoint(STAND_IN_SCRIPTS.dockerdEntrypoint, [], { DOCKER_TLS_CERTDIR: certs });
    const key = readFileSync(`${certs}/ca/key.pem`, 'utf8');
    entrypoint(STAND_IN_SCRIPTS.dockerdEntrypoint, [], { DOCKER_TLS_CERTDIR: certs });
    expect(readFileSync(`${certs}/ca/key.pem`, 'utf8')).toBe(key);
  }, 30_000);

  it('with DOCKER_TLS_CERTDIR empty, serves plain TCP on 2375 and passes flags on', () => {
    expect(entrypoint(STAND_IN_SCRIPTS.dockerdEntrypoint, ['--debug'], { DOCKER_TLS_CERTDIR: '' })).toEqual([
      '[dind]',
      'dockerd',
      '--host=unix:///var/run/docker.sock',
      '--host=tcp://0.0.0.0:2375',
      '--debug',
    ]);
  });

  it('takes a unix DOCKER_HOST as its socket', () => {
    expect(entrypoint(STAND_IN_SCRIPTS.dockerdEntrypoint, [], { DOCKER_TLS_CERTDIR: '', DOCKER_HOST: 'unix:///run/x.sock' })[2]).toBe('--host=unix:///run/x.sock');
  });

  it('runs `dockerd ...` as given through the dind wrapper: no TCP, no certificates (how the lab starts it)', () => {
    const certs = path.join(dir, 'certs-unused');
    expect(entrypoint(STAND_IN_SCRIPTS.dockerdEntrypoint, ['dockerd', '--host=unix:///var/run/docker.sock'], { DOCKER_TLS_CERTDIR: certs })).toEqual([
      '[dind]',
      'dockerd',
      '--host=unix:///var/run/docker.sock',
    ]);
    expect(existsSync(certs)).toBe(false);
  });

  it("runs the lab's DinD command on its unix socket only: no TCP listener, no certificates, whatever DOCKER_TLS_CERTDIR says", () => {
    const certs = path.join(dir, 'certs-lab');
    const argv = entrypoint(STAND_IN_SCRIPTS.dockerdEntrypoint, [...DIND_COMMAND], { DOCKER_TLS_CERTDIR: certs });
    expect(argv).toEqual(['[dind]', ...DIND_COMMAND]);
    expect(argv.filter((a) => a.includes('tcp://'))).toEqual([]);
    expect(existsSync(certs)).toBe(false);
  });

  it('runs any other command as it is', () => {
    expect(entrypoint(STAND_IN_SCRIPTS.dockerdEntrypoint, ['echo', 'hi'])).toEqual(['hi']);
  });

  it('is configured as the official image: entrypoint, TLS by default, ports, volume', () => {
    const s = dindStandIn('26.1.5', 'buildx-lab/dind-26.1.5:abc');
    expect(s.official).toBe('docker:26.1.5-dind');
    expect(s.layer).toMatchObject({ entrypoint: ['dockerd-entrypoint.sh'], cmd: [], env: { DOCKER_TLS_CERTDIR: '/certs' }, expose: [2375, 2376], volumes: ['/var/lib/docker'] });
    expect(mirrorPath(s.official)).toBe('library/docker:26.1.5-dind');
    expect(mirrorPath('moby/buildkit:v0.17.1')).toBe('moby/buildkit:v0.17.1');
  });
});

describe('registry:3 stand-in: /entrypoint.sh', () => {
  it('serves a config file, hands subcommands to the registry, runs anything else', () => {
    expect(entrypoint(STAND_IN_SCRIPTS.registryEntrypoint, ['/etc/distribution/config.yml'])).toEqual(['registry', 'serve', '/etc/distribution/config.yml']);
    expect(entrypoint(STAND_IN_SCRIPTS.registryEntrypoint, ['garbage-collect', 'c.yml'])).toEqual(['registry', 'garbage-collect', 'c.yml']);
    expect(entrypoint(STAND_IN_SCRIPTS.registryEntrypoint, ['echo', 'hi'])).toEqual(['hi']);
    expect(registryStandIn('buildx-lab/registry:abc').layer).toMatchObject({ entrypoint: ['/entrypoint.sh'], cmd: ['/etc/distribution/config.yml'], expose: [5000] });
  });
});
