import { describe, expect, it } from 'vitest';
import { MAX_CGI_HEAD, cgiEnv, parseCgiHead } from './cgi.ts';

describe('parseCgiHead', () => {
  it('reads Status and headers, drops hop-by-hop ones, and says where the body starts', () => {
    const buf = Buffer.from('Status: 404 Not Found\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nbody');
    const h = parseCgiHead(buf)!;
    expect(h.status).toBe(404);
    expect(h.headers).toEqual({ 'content-type': 'text/plain' });
    expect(buf.subarray(h.bodyStart).toString()).toBe('body');
  });
  it('takes bare LF line ends and defaults to 200', () => {
    const h = parseCgiHead(Buffer.from('Content-Type: application/x-git-upload-pack-advertisement\n\nPACK'))!;
    expect(h.status).toBe(200);
    expect(h.bodyStart).toBe(Buffer.from('Content-Type: application/x-git-upload-pack-advertisement\n\n').length);
  });
  it('waits for the rest of a head', () => expect(parseCgiHead(Buffer.from('Content-Type: x\r\n'))).toBeUndefined());
  it.each([
    ['a line without a colon', 'oops\r\n\r\n', /malformed header line/],
    ['a bad status', 'Status: abc\r\n\r\n', /not a status code/],
    ['a status out of range', 'Status: 700\r\n\r\n', /not a status code/],
    ['a head past the bound', `X: ${'a'.repeat(MAX_CGI_HEAD + 1)}`, /over 65536 bytes/],
  ])('refuses %s', (_n, text, why) => expect(() => parseCgiHead(Buffer.from(text))).toThrow(why));
});

describe('cgiEnv', () => {
  it('passes only the request fields git reads, each in its own alphabet', () => {
    const env = cgiEnv(
      {
        method: 'post',
        headers: {
          'content-type': 'application/x-git-upload-pack-request',
          'content-length': '12',
          'content-encoding': 'gzip',
          'git-protocol': 'version=2',
          authorization: 'Basic eDp5',
          cookie: 'c=1',
        },
      },
      '/app.git/git-upload-pack',
      '',
      '172.18.0.3',
    );
    expect(env).toEqual({
      GATEWAY_INTERFACE: 'CGI/1.1',
      SERVER_PROTOCOL: 'HTTP/1.1',
      REQUEST_METHOD: 'POST',
      PATH_INFO: '/app.git/git-upload-pack',
      QUERY_STRING: '',
      REMOTE_ADDR: '172.18.0.3',
      CONTENT_TYPE: 'application/x-git-upload-pack-request',
      CONTENT_LENGTH: '12',
      HTTP_CONTENT_ENCODING: 'gzip',
      GIT_PROTOCOL: 'version=2',
    });
  });
  it('drops a hostile Git-Protocol, a length that is not a number and an unknown encoding', () => {
    const env = cgiEnv(
      { method: 'GET', headers: { 'git-protocol': 'version=2\nX=1', 'content-length': '-1', 'content-encoding': 'br' } },
      '/a.git/info/refs',
      'service=git-upload-pack',
      undefined,
    );
    expect(env.GIT_PROTOCOL).toBeUndefined();
    expect(env.CONTENT_LENGTH).toBeUndefined();
    expect(env.HTTP_CONTENT_ENCODING).toBeUndefined();
  });
});
