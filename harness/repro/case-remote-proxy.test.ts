// builder.remote.proxy in case.yaml: the one proxy kind, and the combinations the lab refuses at load.
import { describe, expect, it } from 'vitest';
import { loadCase } from './case.ts';
import { STEP, caseDir, usageError } from './case.test-helpers.ts';

describe('loadCase: a remote builder behind an HTTP/2 proxy', () => {
  it('takes proxy: http2 over tcp, and the shipped case', () => {
    expect(loadCase(caseDir(`${STEP}driver: remote\nbuilder: {remote: {transport: tcp, proxy: http2}}\n`)).builder.remote).toEqual({ transport: 'tcp', proxy: 'http2' });
    const shipped = loadCase(new URL('../../fixtures/cases/3928-remote-proxy-authority/', import.meta.url).pathname);
    expect(shipped.builder.remote?.proxy).toBe('http2');
  });

  it.each([
    ['an unknown proxy kind', `${STEP}driver: remote\nbuilder: {remote: {transport: tcp, proxy: envoy}}\n`, /^case\.yaml:5: builder\.remote\.proxy: "envoy" is not one of http2$/],
    [
      'a proxy that is not a word',
      `${STEP}driver: remote\nbuilder: {remote: {transport: tcp, proxy: {kind: http2}}}\n`,
      /^case\.yaml:5: builder\.remote\.proxy: .*is not one of http2$/,
    ],
    [
      'a proxy over a unix socket',
      `${STEP}driver: remote\nbuilder: {remote: {transport: unix, proxy: http2}}\n`,
      /^case\.yaml:5: builder\.remote\.proxy: the proxy listens on TCP: set transport: tcp$/,
    ],
    [
      'a proxy with TLS',
      `${STEP}driver: remote\nbuilder: {remote: {transport: tcp, tls: true, proxy: http2}}\n`,
      /^case\.yaml:5: builder\.remote\.proxy: the proxy speaks cleartext HTTP\/2 \(h2c\) to Buildx: drop tls: true, or drop proxy$/,
    ],
    ['a proxy without the remote driver', `${STEP}driver: docker-container\nbuilder: {remote: {transport: tcp, proxy: http2}}\n`, /builder\.remote: applies to driver: remote$/],
  ])('refuses %s, naming the line and the fix', (_, yaml, message) => {
    expect(usageError(caseDir(yaml))).toMatch(message);
  });
});
