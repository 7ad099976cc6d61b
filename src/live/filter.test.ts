import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FilterError, filterToQuery, matchesIdentity, matchesRecord, parseFilter } from './filter.ts';
import type { RequestRecord } from '../telemetry/model.ts';
import { SseParser } from './sse.ts';

function rec(over: Partial<RequestRecord> = {}): RequestRecord {
  return {
    direction: 'inbound', peer: '', method: 'GET', path: '/api/users/1', authority: 'x', statusCode: 200, error: '', startTime: 0,
    durationMs: 10, ttfbMs: 5, requestBytes: 0, responseBytes: 2, overheadMs: 0.1, upgraded: false, requestId: 'r', ...over,
  };
}

void test('filters parse from a query and back', () => {
  const q = new URLSearchParams('service=web&namespace=shop&direction=outbound&method=POST&path=/api/&status=5XX&min-latency=1.5s');
  const f = parseFilter(q);
  assert.deepEqual(f, { service: 'web', namespace: 'shop', direction: 'outbound', method: 'POST', pathPrefix: '/api/', status: '5xx', minLatencyMs: 1500 });
  assert.deepEqual(parseFilter(filterToQuery(f)), f);
  assert.deepEqual(parseFilter(new URLSearchParams('min-latency=20')), { minLatencyMs: 20 });
  for (const bad of ['direction=up', 'method=G%20T', 'status=6xx', 'min-latency=fast', `path=${'a'.repeat(600)}`]) {
    assert.throws(() => parseFilter(new URLSearchParams(bad)), FilterError, bad);
  }
});

void test('filters keep exactly the matching records', () => {
  assert.ok(matchesRecord({}, rec()));
  assert.ok(!matchesRecord({ direction: 'outbound' }, rec()));
  assert.ok(!matchesRecord({ method: 'POST' }, rec()));
  assert.ok(matchesRecord({ pathPrefix: '/api/' }, rec()));
  assert.ok(!matchesRecord({ pathPrefix: '/web' }, rec()));
  assert.ok(matchesRecord({ status: '2xx' }, rec()));
  assert.ok(!matchesRecord({ status: '5xx' }, rec()));
  assert.ok(matchesRecord({ status: '5xx' }, rec({ statusCode: 502, error: 'upstream_reset' })), 'a proxy-made 502 is a 5xx the client saw');
  assert.ok(matchesRecord({ status: 'error' }, rec({ statusCode: 502, error: 'upstream_reset' })));
  assert.ok(matchesRecord({ status: 'error' }, rec({ statusCode: 0, error: 'client_abort' })));
  assert.ok(!matchesRecord({ status: 'error' }, rec({ statusCode: 500 })));
  assert.ok(matchesRecord({ minLatencyMs: 10 }, rec()));
  assert.ok(!matchesRecord({ minLatencyMs: 10.5 }, rec()));
  assert.ok(matchesIdentity({ service: 'a' }, { service: 'a', namespace: 'n', pod: 'p' }));
  assert.ok(!matchesIdentity({ service: 'a', namespace: 'm' }, { service: 'a', namespace: 'n', pod: 'p' }));
});

void test('the SSE parser handles any chunking, CRLF, comments and multi-line data', () => {
  const stream = '\ufeffretry: 2000\r\nevent: hello\r\ndata: {"a":1}\r\n\r\n: ping\n\ndata: one\ndata: two\n\nevent: dropped\rdata: 3\r\rdata:x\n\n';
  const want = [
    { event: 'hello', data: '{"a":1}' },
    { event: 'message', data: 'one\ntwo' },
    { event: 'dropped', data: '3' },
    { event: 'message', data: 'x' },
  ];
  for (let size = 1; size <= stream.length; size++) {
    const p = new SseParser();
    const got = [];
    for (let i = 0; i < stream.length; i += size) got.push(...p.push(stream.slice(i, i + size)));
    assert.deepEqual(got, want, `chunk size ${size}`);
  }
  const small = new SseParser(10);
  assert.throws(() => small.push(`data: ${'x'.repeat(20)}`));
});
