import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRecorder } from '../telemetry/recorder.ts';
import { silentLogger } from '../log.ts';
import { bearerMatches, createSidecarTap, parseRate } from './sidecar-tap.ts';
import { FilterError } from './filter.ts';

const identity = { service: 'web', namespace: 'shop', pod: 'web-0' };

void test('the tap adds its families to /metrics, and each is documented in docs/metrics.md', () => {
  const recorder = createRecorder({ identity, routeBudget: 10, resources: () => null });
  const tap = createSidecarTap({ recorder, identity, allowHeaders: false, allowBodies: false, bodyBytes: 0, redactHeaders: [], redactFields: [], log: silentLogger });
  const text = recorder.metrics();
  assert.match(text, /^# TYPE skiff_tap_records_dropped_total counter$/m);
  assert.match(text, /^skiff_tap_records_dropped_total\{service="web",namespace="shop",reason="slow"\} 0$/m);
  assert.match(text, /^skiff_tap_clients\{service="web",namespace="shop"\} 0$/m);
  const doc = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
  for (const f of tap.families()) assert.ok(doc.includes(`### \`${f.name}\` (${f.type})`), `${f.name} is not documented`);
});

void test('bearer tokens compare exactly, scheme case-insensitively', () => {
  assert.ok(bearerMatches('Bearer s3cret', 's3cret'));
  assert.ok(bearerMatches('bearer  s3cret ', 's3cret'));
  assert.ok(!bearerMatches('Bearer s3cret2', 's3cret'));
  assert.ok(!bearerMatches('Basic s3cret', 's3cret'));
  assert.ok(!bearerMatches(undefined, 's3cret'));
});

void test('rates are whole numbers within bounds', () => {
  assert.equal(parseRate(new URLSearchParams(''), 100), 100);
  assert.equal(parseRate(new URLSearchParams('rate=5'), 100), 5);
  for (const bad of ['rate=0', 'rate=-1', 'rate=1.5', 'rate=100000', 'rate=x']) assert.throws(() => parseRate(new URLSearchParams(bad), 100), FilterError, bad);
});
