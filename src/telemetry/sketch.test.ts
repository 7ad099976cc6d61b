import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sketch, validateSketchData, RELATIVE_ACCURACY } from './sketch.ts';

function exactQuantile(sorted: number[], q: number): number {
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

test('quantiles are within 1% of the exact values (log-normal latencies)', () => {
  const rnd = lcg(42);
  const values: number[] = [];
  const s = new Sketch();
  for (let i = 0; i < 50_000; i++) {
    const u = Math.max(rnd(), 1e-12);
    const v = Math.exp(Math.log(20) + 0.8 * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rnd()));
    values.push(v);
    s.add(v);
  }
  values.sort((a, b) => a - b);
  for (const q of [0.5, 0.9, 0.95, 0.99, 0.999]) {
    const exact = exactQuantile(values, q);
    const got = s.quantile(q)!;
    assert.ok(Math.abs(got - exact) / exact <= RELATIVE_ACCURACY + 1e-9, `q${q}: ${got} vs ${exact}`);
  }
  assert.equal(s.count, 50_000);
});

test('merging sketches equals sketching the union', () => {
  const a = new Sketch();
  const b = new Sketch();
  const all = new Sketch();
  for (let i = 1; i <= 1000; i++) {
    (i % 3 ? a : b).add(i);
    all.add(i);
  }
  const merged = new Sketch();
  merged.merge(a);
  merged.merge(b.toJSON());
  assert.deepEqual(merged.toJSON(), all.toJSON());
});

test('zeros are counted exactly and round-trip through JSON', () => {
  const s = new Sketch();
  s.add(0, 5);
  s.add(100);
  assert.equal(s.quantile(0.5), 0);
  assert.equal(s.quantile(1), 100);
  const back = Sketch.fromJSON(JSON.parse(JSON.stringify(s)) as never);
  assert.deepEqual(back.toJSON(), s.toJSON());
});

test('empty sketch has no quantiles', () => {
  assert.equal(new Sketch().quantile(0.99), null);
});

test('validation rejects inconsistent data', () => {
  assert.match(validateSketchData({ count: 2, sum: 1, min: 0, max: 1, zero: 0, offset: 0, bins: [1] }) ?? '', /add up/);
  assert.match(validateSketchData({ count: 1, sum: 1, min: 0, max: 1, zero: 0, offset: 0, bins: [-1] }) ?? '', /non-negative/);
  assert.equal(validateSketchData({ count: 1, sum: 1, min: 1, max: 1, zero: 0, offset: 0, bins: [1] }), null);
});

test('a huge range collapses low bins but keeps high quantiles accurate', () => {
  const s = new Sketch();
  for (let e = -300; e <= 300; e += 0.05) s.add(Math.pow(10, e));
  assert.ok(s.toJSON().bins.length <= 2048);
  const p99 = s.quantile(0.99)!;
  assert.ok(p99 > 1e290);
});
