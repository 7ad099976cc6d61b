import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextRequestId, requestIdGenerator } from './request-id.ts';

test('request ids are UUID-shaped (v4 layout) and unique', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 10_000; i++) {
    const id = nextRequestId();
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    seen.add(id);
  }
  assert.equal(seen.size, 10_000);
});

test('the counter carries from its low half into its high half, and wraps at 48 bits', () => {
  const prefix = '00000000-0000-4000-8000-';
  const next = requestIdGenerator(Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0x01, 0xff, 0xff, 0xfe]));
  assert.deepEqual([next(), next(), next()], [`${prefix}000001ffffff`, `${prefix}000002000000`, `${prefix}000002000001`]);
  const last = requestIdGenerator(Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]));
  assert.deepEqual([last(), last()], [`${prefix}ffffffffffff`, `${prefix}000000000000`]);
});
