// The Live page's pure logic (src/dashboard/web/src/pages/live-model.ts), run in Node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_ROWS, NO_FILTERS, addRows, applySource, liveSearch, parseLiveFilters, statusTone, tapApiPath } from '../../src/dashboard/web/src/pages/live-model.ts';
import type { LiveRow } from '../../src/dashboard/web/src/pages/live-model.ts';
import type { TapRecord } from '../../src/live/record.ts';
import { parseFilter } from '../../src/live/filter.ts';

function row(seq: number, over: Partial<TapRecord> = {}): LiveRow {
  return {
    seq,
    record: {
      time: '2026-01-02T12:00:00.000Z', service: 'web', namespace: 'default', pod: 'web-0', direction: 'inbound', peer: '', method: 'GET', authority: 'web',
      path: `/${seq}`, route: '/{id}', status: 200, latencyMs: 1, ttfbMs: 1, requestBytes: 0, responseBytes: 0, error: '', requestId: String(seq), ...over,
    },
  };
}

void test('filters round-trip through the page URL, and junk is ignored', () => {
  const f = { ...NO_FILTERS, service: 'shop/web', direction: 'outbound' as const, method: 'POST', path: '/api/', status: '5xx' as const, minLatency: '250', headers: true, bodies: false };
  assert.deepEqual(parseLiveFilters(liveSearch(f)), f);
  assert.equal(liveSearch(NO_FILTERS), '');
  assert.deepEqual(parseLiveFilters('?direction=up&status=7xx&method=G%20T&min-latency=soon'), NO_FILTERS);
});

void test('the tap request splits namespace/name and passes filters the server accepts', () => {
  const f = { ...NO_FILTERS, service: 'shop/web', status: 'error' as const, minLatency: '12.5', path: '/a b', headers: true };
  const path = tapApiPath(f);
  assert.equal(path, '/api/tap?namespace=shop&service=web&path=%2Fa+b&status=error&min-latency=12.5ms&headers=1');
  assert.deepEqual(parseFilter(new URL(path, 'http://x').searchParams), { namespace: 'shop', service: 'web', pathPrefix: '/a b', status: 'error', minLatencyMs: 12.5 });
  assert.equal(tapApiPath(NO_FILTERS), '/api/tap');
});

void test('rows: newest first, bounded, oldest drop off', () => {
  let rows: LiveRow[] = [];
  rows = addRows(rows, [row(1), row(2), row(3)]);
  assert.deepEqual(rows.map((r) => r.seq), [3, 2, 1]);
  for (let i = 4; i < 1200; i += 50) rows = addRows(rows, Array.from({ length: 50 }, (_, k) => row(i + k)));
  assert.equal(rows.length, MAX_ROWS);
  assert.equal(rows[0]!.seq, 1203);
  assert.equal(rows.at(-1)!.seq, 1203 - MAX_ROWS + 1);
  assert.equal(addRows(rows, []), rows);
  assert.equal(addRows([], Array.from({ length: 2000 }, (_, k) => row(k))).length, MAX_ROWS);
});

void test('sources keep the latest state per pod; tones mark failures', () => {
  let m = applySource(new Map(), { pod: 'a', service: 's', namespace: 'n', state: 'connected', connected: 1 });
  m = applySource(m, { pod: 'a', service: 's', namespace: 'n', state: 'failed', message: 'x', connected: 0 });
  assert.equal(m.size, 1);
  assert.equal([...m.values()][0]!.state, 'failed');
  assert.equal(statusTone(row(1).record), '');
  assert.equal(statusTone(row(1, { status: 404 }).record), 'warn');
  assert.equal(statusTone(row(1, { status: 503 }).record), 'bad');
  assert.equal(statusTone(row(1, { status: 200, error: 'client_abort' }).record), 'bad');
});
