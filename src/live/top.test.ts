import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TopTable } from './top.ts';
import { clean, formatTapLine, renderTable } from './format.ts';
import { normalizeRecord } from './record.ts';
import type { TapRecord } from './record.ts';

function rec(over: Partial<TapRecord> = {}): TapRecord {
  return {
    time: '2026-01-02T12:00:00.000Z', service: 'web', namespace: 'default', pod: 'web-0', direction: 'inbound', peer: '', method: 'GET',
    authority: 'web', path: '/users/1', route: '/users/{id}', status: 200, latencyMs: 10, ttfbMs: 5, requestBytes: 0, responseBytes: 10, error: '', requestId: 'r',
    ...over,
  };
}

void test('top folds records into routes with counts, success and percentiles', () => {
  const t = new TopTable();
  for (let i = 0; i < 100; i++) t.add(rec({ latencyMs: i + 1, time: `2026-01-02T12:00:${String(i % 10).padStart(2, '0')}.000Z` }));
  for (let i = 0; i < 4; i++) t.add(rec({ method: 'POST', path: '/orders', route: '', status: i < 3 ? 201 : 503 }));
  t.add(rec({ method: 'POST', path: '/orders', route: '', status: 0, error: 'client_abort' }));
  const rows = t.rows();
  assert.deepEqual(rows.map((r) => [r.method, r.route, r.count, r.ok]), [
    ['GET', '/users/{id}', 100, 100],
    ['POST', '/orders', 5, 3],
  ]);
  const p50 = rows[0]!.latency.quantile(0.5)!;
  const p99 = rows[0]!.latency.quantile(0.99)!;
  assert.ok(Math.abs(p50 - 50) <= 1, `p50 ${p50}`);
  assert.ok(Math.abs(p99 - 99) <= 1.5, `p99 ${p99}`);
  assert.equal(t.rps(rows[0]!), 100 / 9);
  const text = t.render(10);
  assert.match(text, /^DIRECTION {2}METHOD {2}ROUTE +COUNT +RPS +SUCCESS +P50 +P99\n/);
  assert.match(text, /inbound +POST +\/orders +5 +0\.56 +60\.0%/);
});

void test('top is bounded: routes beyond the cap fold into "other"', () => {
  const t = new TopTable(3);
  for (let i = 0; i < 10; i++) t.add(rec({ route: `/r${i}` }));
  assert.equal(t.rows().length, 4);
  assert.deepEqual(t.rows()[0], { ...t.rows()[0]!, route: 'other', method: '*', count: 7 });
  assert.equal(t.total, 10);
  t.add(rec({ service: 'api' }));
  assert.match(t.render(2), /^SERVICE +DIRECTION/);
  assert.match(t.render(2), /… 3 more routes\n$/);
});

void test('terminal text: control characters and bidi overrides are escaped', () => {
  assert.equal(clean('a\x1b[31mb\nc\u202ed\x9b'), 'a\\x1b[31mb\\nc\\u202ed\\x9b');
  const line = formatTapLine(rec({ peer: 'gw', path: '/x\x1b', requestHeaders: { 'x-a': 'v\x07' }, requestBody: { encoding: 'utf8', text: 'line1\nline2', bytes: 11, truncated: true, redacted: true }, responseBody: { encoding: 'utf8', text: '', bytes: 3, truncated: false, withheld: 'binary: fields cannot be redacted' } }));
  assert.equal(line, '12:00:00.000 web-0 inbound from=gw GET /x\\x1b 200 10ms 0B→10B\n  > x-a: v\\x07\n  > body (11B, truncated, redacted): line1\\nline2\n  < body (3B) withheld: binary: fields cannot be redacted\n');
  assert.equal(renderTable(['A', 'BB'], [['xxx', '1'], ['y', '22']], ['left', 'right']), 'A    BB\nxxx   1\ny    22\n');
});

void test('records from elsewhere are reduced to known fields of the right types', () => {
  assert.equal(normalizeRecord('x'), null);
  const r = normalizeRecord({ ...rec(), status: '200', extra: '<script>', requestHeaders: { a: 'b', c: 1 }, requestBody: { text: 'hi', encoding: 'weird', bytes: 2 } });
  assert.equal(r!.status, 0);
  assert.ok(!('extra' in r!));
  assert.deepEqual(r!.requestHeaders, { a: 'b' });
  assert.deepEqual(r!.requestBody, { encoding: 'utf8', text: 'hi', bytes: 2, truncated: false });
});
