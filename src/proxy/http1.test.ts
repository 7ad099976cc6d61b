/**
 * Unit tests of the HTTP/1.x framing core (http1.ts): request and response heads, the chunked
 * scanner and protocol detection, in process. The same rules are exercised over real sockets
 * in conformance.test.ts and hostile.test.ts; these tests pin down which function decides.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkedScanner, HttpParseError, detectProtocol, fieldLines, findHeadEnd, isValidHost, parseRequestHead, parseResponseHead } from './http1.ts';

const limits = { maxHeaders: 100 };

/** `lines` joined with CRLF: a head as the relay passes it (without the final CRLF CRLF). */
function head(...lines: string[]): string {
  return lines.join('\r\n');
}

function refusal(fn: () => unknown): number {
  try {
    fn();
  } catch (err) {
    if (err instanceof HttpParseError) return err.status;
    throw err;
  }
  return 0;
}

void describe('parseRequestHead', () => {
  void test('reads the request line and the fields the relay needs', () => {
    const h = parseRequestHead(
      head('POST /orders/42?x=1 HTTP/1.1', 'Host: shop.example', 'Content-Length: 12', 'X-Request-Id: abc', 'Expect: 100-continue', 'X-Forwarded-Proto: https', 'Accept: */*'),
      limits,
    );
    assert.equal(h.method, 'POST');
    assert.equal(h.target, '/orders/42?x=1');
    assert.equal(h.path, '/orders/42');
    assert.equal(h.minor, 1);
    assert.equal(h.host, 'shop.example');
    assert.equal(h.contentLength, 12);
    assert.equal(h.chunked, false);
    assert.equal(h.close, false);
    assert.equal(h.expectContinue, true);
    assert.equal(h.requestId, 'abc');
    assert.equal(h.forwardedProto, 'https');
    // Field lines are forwarded verbatim, in order (names keep their case).
    assert.deepEqual(fieldLines(h.fields), ['Host: shop.example', 'Content-Length: 12', 'X-Request-Id: abc', 'Expect: 100-continue', 'X-Forwarded-Proto: https', 'Accept: */*']);
  });

  void test('path for telemetry from every target form', () => {
    assert.equal(parseRequestHead(head('GET http://a.example:8080/p/q?z HTTP/1.1', 'Host: a.example'), limits).path, '/p/q');
    assert.equal(parseRequestHead(head('GET http://a.example HTTP/1.1', 'Host: a.example'), limits).path, '/');
    assert.equal(parseRequestHead(head('OPTIONS * HTTP/1.1', 'Host: a'), limits).path, '*');
    assert.equal(parseRequestHead(head('GET /?q HTTP/1.1', 'Host: a'), limits).path, '/');
  });

  void test('persistence: HTTP/1.1 keeps alive unless "close"; HTTP/1.0 closes unless "keep-alive" (RFC 9112 §9.3)', () => {
    assert.equal(parseRequestHead(head('GET / HTTP/1.1', 'Host: a'), limits).close, false);
    assert.equal(parseRequestHead(head('GET / HTTP/1.1', 'Host: a', 'Connection: Close'), limits).close, true);
    assert.equal(parseRequestHead(head('GET / HTTP/1.1', 'Host: a', 'Connection: x-foo', 'Connection: close'), limits).close, true);
    assert.equal(parseRequestHead(head('GET / HTTP/1.0'), limits).close, true);
    assert.equal(parseRequestHead(head('GET / HTTP/1.0', 'Connection: Keep-Alive'), limits).close, false);
  });

  void test('hop-by-hop fields and those named in Connection are not forwarded (RFC 9110 §7.6.1)', () => {
    const h = parseRequestHead(
      head(
        'GET / HTTP/1.1',
        'Host: a',
        'Connection: keep-alive, X-Secret',
        'Keep-Alive: timeout=5',
        'Proxy-Connection: keep-alive',
        'TE: trailers',
        'Trailer: x-sum',
        'Upgrade: websocket',
        'x-secret: 1',
        'Connection: X-Other',
        'X-Other: 2',
        'X-Kept: 3',
      ),
      limits,
      true,
    );
    assert.deepEqual(fieldLines(h.fields), ['Host: a', 'X-Kept: 3']);
    assert.deepEqual(h.headers, { host: 'a', 'x-kept': '3' });
    // Upgrade without the "upgrade" connection option is not an upgrade request.
    assert.equal(h.upgrade, '');
  });

  void test('an upgrade needs Connection: upgrade and HTTP/1.1', () => {
    assert.equal(parseRequestHead(head('GET /ws HTTP/1.1', 'Host: a', 'Connection: Upgrade', 'Upgrade: websocket'), limits).upgrade, 'websocket');
    assert.equal(parseRequestHead(head('GET /ws HTTP/1.0', 'Connection: Upgrade', 'Upgrade: websocket'), limits).upgrade, '');
  });

  void test('X-Forwarded-For lines are merged (and re-added by the relay); x-skiff-peer is consumed and bounded', () => {
    const h = parseRequestHead(head('GET / HTTP/1.1', 'Host: a', 'X-Forwarded-For: 10.0.0.1', 'x-forwarded-for: 10.0.0.2, 10.0.0.3', `x-skiff-peer: ${'p'.repeat(300)}`), limits);
    assert.equal(h.forwardedFor, '10.0.0.1, 10.0.0.2, 10.0.0.3');
    assert.equal(h.peer, 'p'.repeat(128));
    assert.deepEqual(fieldLines(h.fields), ['Host: a']);
  });

  void test('chunked requests: Transfer-Encoding is normalised; the value is case-insensitive', () => {
    const h = parseRequestHead(head('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: Chunked'), limits);
    assert.equal(h.chunked, true);
    assert.equal(h.contentLength, -1);
    assert.deepEqual(fieldLines(h.fields), ['Host: a', 'transfer-encoding: chunked']);
  });

  void test('Content-Length: optional whitespace around the value and leading zeros are valid', () => {
    // RFC 9110 §5.5: OWS around a field value is not part of it; §8.6: 1*DIGIT.
    assert.equal(parseRequestHead(head('POST / HTTP/1.1', 'Host: a', 'Content-Length:  5 '), limits).contentLength, 5);
    assert.equal(parseRequestHead(head('POST / HTTP/1.1', 'Host: a', 'Content-Length: 007'), limits).contentLength, 7);
    assert.equal(parseRequestHead(head('POST / HTTP/1.1', 'Host: a', 'Content-Length: 0'), limits).contentLength, 0);
  });

  void test('valid Host values: names, IPv4, IPv6 literals, ports, empty', () => {
    for (const h of ['a.example', 'a.example:8080', '10.0.0.1:80', '[::1]', '[2001:db8::1]:443', 'xn--bcher-kva.example', '']) {
      assert.equal(parseRequestHead(head('GET / HTTP/1.1', `Host: ${h}`), limits).host, h);
    }
  });

  void test('HTTP/1.0 needs no Host; an empty Host is a Host', () => {
    assert.equal(parseRequestHead(head('GET / HTTP/1.0'), limits).host, '');
    assert.equal(parseRequestHead(head('GET / HTTP/1.1', 'Host:'), limits).host, '');
  });

  void test('limits: exactly maxHeaders fields pass, one more is 431; a 32-character method passes, 33 is 400', () => {
    const fields = (n: number): string[] => ['Host: a', ...Array.from({ length: n - 1 }, (_, i) => `X-${i}: v`)];
    assert.equal(fieldLines(parseRequestHead(head('GET / HTTP/1.1', ...fields(100)), limits).fields).length, 100);
    assert.equal(refusal(() => parseRequestHead(head('GET / HTTP/1.1', ...fields(101)), limits)), 431);
    assert.equal(parseRequestHead(head(`${'M'.repeat(32)} / HTTP/1.1`, 'Host: a'), limits).method, 'M'.repeat(32));
    assert.equal(refusal(() => parseRequestHead(head(`${'M'.repeat(33)} / HTTP/1.1`, 'Host: a'), limits)), 400);
  });

  // Each row: a head (without the final CRLF CRLF) → the status it must be refused with.
  const refused: [string, string, number][] = [
    ['missing version', head('GET /', 'Host: a'), 400],
    ['only a method', head('GET', 'Host: a'), 400],
    ['two spaces after the method', head('GET  / HTTP/1.1', 'Host: a'), 400],
    ['trailing space after the version', head('GET / HTTP/1.1 ', 'Host: a'), 400],
    ['tabs as separators', head('GET\t/\tHTTP/1.1', 'Host: a'), 400],
    ['lower-case protocol name (RFC 9112 §2.3: case-sensitive)', head('GET / http/1.1', 'Host: a'), 400],
    ['HTTP/1.2 (this proxy speaks 1.0 and 1.1 only)', head('GET / HTTP/1.2', 'Host: a'), 505],
    ['HTTP/2.0 request line', head('GET / HTTP/2.0', 'Host: a'), 505],
    ['HTTP/1.10', head('GET / HTTP/1.10', 'Host: a'), 400],
    ['empty target', head('GET  HTTP/1.1', 'Host: a'), 400],
    ['space in the target', head('GET /a b HTTP/1.1', 'Host: a'), 400],
    ['control character in the target', head('GET /a\x01b HTTP/1.1', 'Host: a'), 400],
    ['NUL in the target', head('GET /a\x00 HTTP/1.1', 'Host: a'), 400],
    ['DEL in the target', head('GET /a\x7f HTTP/1.1', 'Host: a'), 400],
    ['non-ASCII in the target', head('GET /caf\xe9 HTTP/1.1', 'Host: a'), 400],
    ['method with @', head('GE@T / HTTP/1.1', 'Host: a'), 400],
    ['method with non-ASCII', head('G\xc9T / HTTP/1.1', 'Host: a'), 400],
    ['1000-character method', head(`${'A'.repeat(1000)} / HTTP/1.1`, 'Host: a'), 400],
    ['Content-Length -1', head('POST / HTTP/1.1', 'Host: a', 'Content-Length: -1'), 400],
    ['Content-Length 1e3', head('POST / HTTP/1.1', 'Host: a', 'Content-Length: 1e3'), 400],
    ['Content-Length 0x10', head('POST / HTTP/1.1', 'Host: a', 'Content-Length: 0x10'), 400],
    ['Content-Length +5', head('POST / HTTP/1.1', 'Host: a', 'Content-Length: +5'), 400],
    ['Content-Length empty', head('POST / HTTP/1.1', 'Host: a', 'Content-Length:'), 400],
    ['Content-Length 5,5', head('POST / HTTP/1.1', 'Host: a', 'Content-Length: 5,5'), 400],
    ['Content-Length twice, equal', head('POST / HTTP/1.1', 'Host: a', 'Content-Length: 5', 'Content-Length: 5'), 400],
    ['Content-Length twice, different', head('POST / HTTP/1.1', 'Host: a', 'Content-Length: 5', 'Content-Length: 6'), 400],
    ['Content-Length with 20 digits', head('POST / HTTP/1.1', 'Host: a', 'Content-Length: 99999999999999999999'), 400],
    ['Content-Length then Transfer-Encoding', head('POST / HTTP/1.1', 'Host: a', 'Content-Length: 5', 'Transfer-Encoding: chunked'), 400],
    ['Transfer-Encoding then Content-Length', head('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked', 'Content-Length: 5'), 400],
    // RFC 9112 §6.3 (4): chunked not final in a request → the server MUST respond 400.
    ['Transfer-Encoding: chunked, identity (chunked not final)', head('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked, identity'), 400],
    ['Transfer-Encoding: gzip (chunked not final)', head('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: gzip'), 400],
    // RFC 9112 §6.1: a transfer coding the server does not understand → 501.
    ['Transfer-Encoding: gzip, chunked (unsupported coding)', head('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: gzip, chunked'), 501],
    ['Transfer-Encoding twice', head('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'), 400],
    ['Transfer-Encoding in HTTP/1.0 (RFC 9112 §6.1: faulty framing)', head('POST / HTTP/1.0', 'Transfer-Encoding: chunked'), 400],
    ['Transfer-Encoding with obs-fold', head('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding:', ' chunked'), 400],
    ['Transfer-Encoding: xchunked', head('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: xchunked'), 400],
    ['header without a colon', head('GET / HTTP/1.1', 'Host: a', 'X-Foo bar'), 400],
    ['empty header name', head('GET / HTTP/1.1', 'Host: a', ': bar'), 400],
    ['space before the colon (RFC 9112 §5.1)', head('GET / HTTP/1.1', 'Host: a', 'X-Foo : bar'), 400],
    ['tab before the colon', head('GET / HTTP/1.1', 'Host: a', 'X-Foo\t: bar'), 400],
    ['non-token header name', head('GET / HTTP/1.1', 'Host: a', 'X(Foo): bar'), 400],
    ['obs-fold continuation line (RFC 9112 §5.2)', head('GET / HTTP/1.1', 'Host: a', 'X-Foo: a', '  b'), 400],
    ['obs-fold with a tab', head('GET / HTTP/1.1', 'Host: a', 'X-Foo: a', '\tb'), 400],
    ['NUL in a value', head('GET / HTTP/1.1', 'Host: a', 'X-Foo: a\x00b'), 400],
    ['ESC in a value', head('GET / HTTP/1.1', 'Host: a', 'X-Foo: a\x1bb'), 400],
    ['DEL in a value', head('GET / HTTP/1.1', 'Host: a', 'X-Foo: a\x7fb'), 400],
    ['bare CR in a value', head('GET / HTTP/1.1', 'Host: a', 'X-Foo: a\rb'), 400],
    ['bare LF in a value', head('GET / HTTP/1.1', 'Host: a', 'X-Foo: a\nb'), 400],
    ['bare LF line endings', 'GET / HTTP/1.1\nHost: a', 400],
    ['missing Host on HTTP/1.1 (RFC 9112 §3.2)', head('GET / HTTP/1.1'), 400],
    ['two Host fields', head('GET / HTTP/1.1', 'Host: a', 'Host: b'), 400],
    ['two Host fields on HTTP/1.0', head('GET / HTTP/1.0', 'Host: a', 'Host: b'), 400],
    // RFC 9112 §3.2: a Host field with an invalid value (not uri-host [":" port]) MUST get a 400.
    ['Host with a space inside', head('GET / HTTP/1.1', 'Host: a b'), 400],
    ['Host with userinfo', head('GET / HTTP/1.1', 'Host: user@evil.example'), 400],
    ['Host with a path', head('GET / HTTP/1.1', 'Host: a.example/x'), 400],
  ];
  for (const [name, h, status] of refused) {
    void test(`refused: ${name} → ${status}`, () => {
      assert.equal(refusal(() => parseRequestHead(h, limits)), status);
    });
  }

  void test('refused: Transfer-Encoding: chunked, chunked (chunked applied twice) → 400 or 501', () => {
    // RFC 9112 §6.1: a sender MUST NOT apply chunked more than once. The RFC names no status
    // for the recipient; either refusal is acceptable, forwarding is not.
    const s = refusal(() => parseRequestHead(head('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked, chunked'), limits));
    assert.ok(s === 400 || s === 501, `status ${s}`);
  });

  void test('error messages never echo control characters or long input', () => {
    try {
      parseRequestHead(head('GET / HTTP/1.1', 'Host: a', `X\x01${'y'.repeat(500)}: v`), limits);
      assert.fail('accepted');
    } catch (err) {
      assert.ok(err instanceof HttpParseError);
      assert.doesNotMatch(err.message, /[\x00-\x1f]/);
      assert.ok(err.message.length < 120, err.message);
    }
  });
});

void describe('parseResponseHead', () => {
  void test('reads status, framing and persistence', () => {
    const r = parseResponseHead(head('HTTP/1.1 201 Created', 'Content-Length: 10', 'Content-Type: text/plain'));
    assert.deepEqual([r.minor, r.status, r.reason, r.contentLength, r.chunked, r.close], [1, 201, 'Created', 10, false, false]);
    assert.deepEqual(fieldLines(r.fields), ['Content-Length: 10', 'Content-Type: text/plain']);
    assert.equal(parseResponseHead(head('HTTP/1.1 200')).reason, '');
    assert.equal(parseResponseHead(head('HTTP/1.1 200 ')).reason, '');
    assert.equal(parseResponseHead(head('HTTP/1.0 200 OK')).close, true);
    assert.equal(parseResponseHead(head('HTTP/1.0 200 OK', 'Connection: keep-alive')).close, false);
    assert.equal(parseResponseHead(head('HTTP/1.1 200 OK', 'Connection: close')).close, true);
  });

  void test('equal repeated Content-Length collapses; different values are a bad response', () => {
    const r = parseResponseHead(head('HTTP/1.1 200 OK', 'Content-Length: 3', 'Content-Length: 3'));
    assert.equal(r.contentLength, 3);
    assert.deepEqual(fieldLines(r.fields), ['Content-Length: 3']);
    assert.equal(refusal(() => parseResponseHead(head('HTTP/1.1 200 OK', 'Content-Length: 3', 'Content-Length: 4'))), 502);
  });

  void test('chunked wins over Content-Length, which is removed (RFC 9112 §6.3)', () => {
    const r = parseResponseHead(head('HTTP/1.1 200 OK', 'Content-Length: 3', 'Transfer-Encoding: chunked'));
    assert.equal(r.chunked, true);
    assert.equal(r.contentLength, -1);
    assert.deepEqual(fieldLines(r.fields), []);
  });

  void test('hop-by-hop fields and those named in Connection are removed', () => {
    const r = parseResponseHead(head('HTTP/1.1 200 OK', 'Connection: keep-alive, X-App-Secret', 'Keep-Alive: timeout=5', 'Proxy-Connection: keep-alive', 'X-App-Secret: s', 'Trailer: x-sum', 'X-Kept: k'), true);
    assert.deepEqual(fieldLines(r.fields), ['X-Kept: k']);
    assert.deepEqual(r.headers, { 'x-kept': 'k' });
  });

  void test('Upgrade named in Connection is removed from a non-101 response (RFC 9110 §7.6.1), kept on 101', () => {
    // An app may advertise `Upgrade: h2c` on a 200; that offer is about the app's hop, which
    // the client does not share, and Connection names it, so an intermediary MUST remove it.
    const r = parseResponseHead(head('HTTP/1.1 200 OK', 'Connection: Upgrade', 'Upgrade: h2c', 'Content-Length: 0'));
    assert.deepEqual(fieldLines(r.fields), ['Content-Length: 0']);
    const s = parseResponseHead(head('HTTP/1.1 101 Switching Protocols', 'Connection: Upgrade', 'Upgrade: websocket'));
    assert.deepEqual(fieldLines(s.fields), ['Upgrade: websocket']);
  });

  const bad: [string, string][] = [
    ['no status code', head('HTTP/1.1 OK')],
    ['two-digit status', head('HTTP/1.1 20 OK')],
    ['four-digit status', head('HTTP/1.1 2000 OK')],
    ['status below 100', head('HTTP/1.1 099 Odd')],
    ['HTTP/2 status line', head('HTTP/2 200')],
    ['lower-case protocol', head('http/1.1 200 OK')],
    ['control character in the reason', head('HTTP/1.1 200 O\x01K')],
    ['invalid Content-Length', head('HTTP/1.1 200 OK', 'Content-Length: abc')],
    ['Transfer-Encoding without chunked', head('HTTP/1.1 200 OK', 'Transfer-Encoding: gzip')],
    ['Transfer-Encoding twice', head('HTTP/1.1 200 OK', 'Transfer-Encoding: chunked', 'Transfer-Encoding: chunked')],
    ['obs-fold', head('HTTP/1.1 200 OK', 'X-A: 1', ' 2')],
    ['bare LF', 'HTTP/1.1 200 OK\nContent-Length: 0'],
    ['NUL in a value', head('HTTP/1.1 200 OK', 'X-A: \x00')],
  ];
  for (const [name, h] of bad) {
    void test(`bad response: ${name} → 502`, () => {
      assert.equal(refusal(() => parseResponseHead(h)), 502);
    });
  }
});

void describe('ChunkedScanner', () => {
  const body = '5\r\nhello\r\n6;ext=1;q="a b"\r\n world\r\n0\r\nx-sum: 42\r\n\r\n';

  void test('finds the end of the body, counts payload bytes, hands out the data', () => {
    const next = 'GET /next HTTP/1.1\r\n';
    const buf = Buffer.from(body + next, 'latin1');
    const s = new ChunkedScanner(400);
    let data = '';
    const end = s.scan(buf, 0, (b, st, e) => (data += b.toString('latin1', st, e)));
    assert.equal(end, body.length);
    assert.equal(s.done, true);
    assert.equal(s.dataBytes, 11);
    assert.equal(data, 'hello world');
    // Once done, it consumes nothing more.
    assert.equal(s.scan(buf, end), end);
  });

  void test('byte-at-a-time feeding gives the same result', () => {
    const s = new ChunkedScanner(400);
    let data = '';
    for (let i = 0; i < body.length; i++) {
      assert.equal(s.done, false, `done early at byte ${i}`);
      const end = s.scan(Buffer.from(body[i]!, 'latin1'), 0, (b, st, e) => (data += b.toString('latin1', st, e)));
      assert.equal(end, 1);
    }
    assert.equal(s.done, true);
    assert.equal(data, 'hello world');
    assert.equal(s.dataBytes, 11);
  });

  void test('a chunk containing what looks like a message boundary is just data', () => {
    const payload = 'HTTP/1.1 200 OK\r\n\r\n0\r\n\r\n';
    const b = `${payload.length.toString(16)}\r\n${payload}\r\n0\r\n\r\n`;
    const s = new ChunkedScanner(400);
    assert.equal(s.scan(Buffer.from(b, 'latin1'), 0), b.length);
    assert.equal(s.dataBytes, payload.length);
    assert.equal(s.done, true);
  });

  void test('started: only once the first size line is complete and valid', () => {
    const s = new ChunkedScanner(400);
    s.scan(Buffer.from('5\r'), 0);
    assert.equal(s.started, false);
    s.scan(Buffer.from('\n'), 0);
    assert.equal(s.started, true);
  });

  void test('scan from an offset', () => {
    const s = new ChunkedScanner(400);
    const buf = Buffer.from(`HEAD${body}`, 'latin1');
    assert.equal(s.scan(buf, 4), buf.length);
    assert.equal(s.done, true);
  });

  const bad: [string, string][] = [
    ['non-hex size', 'zz\r\n'],
    ['negative size', '-1\r\n'],
    ['0x prefix', '0x10\r\n'],
    ['20 hex digits', `${'f'.repeat(20)}\r\n`],
    ['13 hex digits', `${'1'.repeat(13)}\r\n`],
    ['empty size line', '\r\n'],
    ['space inside the size', '1 0\r\n'],
    ['whitespace after the size without an extension', '5 \r\n'],
    ['bare LF after the size', '5\nhello\r\n0\r\n\r\n'],
    ['bare CR in the size line', '5\rx\r\n'],
    ['missing CRLF after data', '5\r\nhelloXX0\r\n\r\n'],
    ['LF only after data', '5\r\nhello\n0\r\n\r\n'],
    ['chunk extension longer than the line limit', `5;${'a'.repeat(5000)}\r\nhello\r\n0\r\n\r\n`],
    ['bad second chunk', '5\r\nhello\r\nzz\r\n'],
    ['trailer without a colon', '0\r\nbad trailer\r\n\r\n'],
    ['obs-fold in trailers', '0\r\nx-a: 1\r\n 2\r\n\r\n'],
    ['bare LF ending the trailers', '0\r\nx-a: 1\n\n'],
    ['trailers too large', `0\r\n${'x-a: 1234567890\r\n'.repeat(2000)}\r\n`],
  ];
  for (const [name, b] of bad) {
    void test(`bad chunked framing: ${name} → the error status, whole or byte by byte`, () => {
      assert.equal(refusal(() => new ChunkedScanner(400).scan(Buffer.from(b, 'latin1'), 0)), 400);
      const s = new ChunkedScanner(502);
      assert.equal(
        refusal(() => {
          for (let i = 0; i < b.length; i++) s.scan(Buffer.from(b[i]!, 'latin1'), 0);
        }),
        502,
      );
    });
  }

  void test('a long chunk extension is caught while it arrives, not after buffering it all', () => {
    const s = new ChunkedScanner(400);
    let status = 0;
    let fed = 0;
    try {
      for (; fed < 100; fed++) s.scan(Buffer.alloc(1000, 'a'), 0);
    } catch (err) {
      status = err instanceof HttpParseError ? err.status : -1;
    }
    assert.equal(status, 400);
    assert.ok(fed <= 5, `fed ${fed} KB before refusing`);
  });
});

void describe('findHeadEnd', () => {
  void test('returns the index just past CRLF CRLF, or -1', () => {
    const b = Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\nbody', 'latin1');
    assert.equal(findHeadEnd(b, 0), b.length - 4);
    assert.equal(findHeadEnd(b, 10), b.length - 4);
    assert.equal(findHeadEnd(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r', 'latin1'), 0), -1);
  });
});

void describe('detectProtocol', () => {
  const max = 16384;
  const cases: [string, string | Buffer, 'http' | 'opaque' | 'more'][] = [
    ['empty', '', 'more'],
    ['a known method and a space', 'GET ', 'http'],
    ['every known method', 'PATCH /x', 'http'],
    ['a method prefix', 'GE', 'more'],
    ['a long token still without a newline', 'PROPFIN', 'more'],
    ['an unknown method with a full HTTP/1.1 line', 'PROPFIND / HTTP/1.1\r\n', 'http'],
    ['a malformed line ending in HTTP/1.1', 'FOO@BAR / HTTP/1.1\r\n', 'http'],
    ['a lower-case method ending in HTTP/1.1', 'get / HTTP/1.1\r\n', 'http'],
    ['TLS ClientHello', Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]), 'opaque'],
    ['HTTP/2 prior knowledge', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'opaque'],
    ['Redis inline PING', 'PING\r\n', 'opaque'],
    ['Redis RESP', '*1\r\n$4\r\nPING\r\n', 'opaque'],
    ['AMQP header', Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'), 'opaque'],
    ['a text line that is not HTTP', 'HELLO WORLD\r\n', 'opaque'],
    ['a long unknown token without a newline beyond the limit', 'X'.repeat(max), 'opaque'],
    // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request-line,
    // and Node's own server does: such a connection is HTTP, and must be checked as HTTP.
    ['a request after a leading CRLF', '\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n', 'http'],
    // The line is HTTP (a known method, then whitespace); it must be refused as malformed
    // HTTP, not relayed to an app that may be lenient about the separators.
    ['a request line separated by tabs', 'GET\t/\tHTTP/1.1\r\nHost: a\r\n\r\n', 'http'],
    // A method-like token, a space and a line longer than the limit: an oversized request line,
    // to be answered 414/431 as HTTP, not relayed as opaque bytes.
    ['an unknown method with a request line beyond the limit', `PROPFIND /${'a'.repeat(max)}`, 'http'],
  ];
  for (const [name, bytes, verdict] of cases) {
    void test(`${name} → ${verdict}`, () => {
      assert.equal(detectProtocol(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes, max), verdict);
    });
  }
});

describe('Host values (RFC 3986 §3.2.2 host, then an optional port)', () => {
  const valid = ['', 'a', 'app', 'a:', 'a:80', 'exa_mple.com:443', 'x%20y', '[::1]', '[::1]:8080', '[::1]:', '[1.2.3.4]', "a-b.c~!$&'()*+,;=", '127.0.0.1:18001', ':80'];
  const invalid = ['[]', '[::1', '[::1]x', '[::g]', 'a b', 'a:8a', 'a:80:90', '::1', 'é', 'a@b', 'a/b', 'a\tb', '[:]x'];
  for (const h of valid) test(`accepts ${JSON.stringify(h)}`, () => assert.equal(isValidHost(h), true));
  for (const h of invalid) test(`refuses ${JSON.stringify(h)}`, () => assert.equal(isValidHost(h), false));
  test('a request with an invalid Host is refused with 400', () => {
    assert.throws(() => parseRequestHead('GET / HTTP/1.1\r\nHost: a b', limits), (e: unknown) => e instanceof HttpParseError && e.status === 400);
  });
});
