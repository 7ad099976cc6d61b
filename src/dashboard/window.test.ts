import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DAY, HOUR, LEVELS, MAX_POINTS, MINUTE, SECOND, WindowError, chooseStep, parseWindow, plan, windowSpan } from './window.ts';
import type { LevelIndex } from './window.ts';
import { SketchSum, decodeSketch, encodeSketch } from './codec.ts';
import { Sketch } from '../telemetry/sketch.ts';

void test('parseWindow accepts durations and rounds to 10 s buckets; rejects the rest', () => {
  assert.equal(parseWindow('5m'), 5 * MINUTE);
  assert.equal(parseWindow(null), 5 * MINUTE);
  assert.equal(parseWindow('7d'), 7 * DAY);
  assert.equal(parseWindow('15s'), 20 * SECOND);
  for (const bad of ['x', '-5m', '5 minutes', '1s', '401d', '1'.repeat(40)]) {
    assert.throws(() => parseWindow(bad), WindowError, bad);
  }
});

void test('the step is the coarsest level giving at least 60 points, widened to at most 720', () => {
  assert.equal(chooseStep(5 * MINUTE), 10 * SECOND);
  assert.equal(chooseStep(59 * MINUTE), 10 * SECOND);
  assert.equal(chooseStep(HOUR), MINUTE);
  assert.equal(chooseStep(6 * HOUR), MINUTE);
  assert.equal(chooseStep(24 * HOUR), 2 * MINUTE);
  assert.equal(chooseStep(7 * DAY), HOUR);
  for (const w of [10 * SECOND, 5 * MINUTE, 59 * HOUR, 30 * DAY, 400 * DAY]) {
    assert.ok(Math.ceil(w / chooseStep(w)) <= MAX_POINTS, `points for ${w}`);
  }
});

void test('windowSpan ends with the bucket holding now and covers at most the window', () => {
  const now = Date.UTC(2026, 0, 1, 12, 3, 47);
  const s = windowSpan(now, 5 * MINUTE);
  assert.equal(s.step, 10 * SECOND);
  assert.equal(s.points, 30);
  assert.equal(s.to, Date.UTC(2026, 0, 1, 12, 3, 50));
  assert.equal(s.to - s.from, 5 * MINUTE);
  assert.ok(now - s.from <= 5 * MINUTE && now - s.from > 5 * MINUTE - s.step);
});

void test('plan covers [from, to) exactly once, with coarse buckets only where they are closed', () => {
  // A deterministic pseudo-random sweep (no Math.random: failures must reproduce).
  let seed = 42;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const base = Date.UTC(2026, 0, 1);
  for (let i = 0; i < 500; i++) {
    const from = base + rnd(8640 * 3) * 10 * SECOND;
    const to = from + rnd(8640 * 2) * 10 * SECOND;
    const closed = [to, base + rnd(8640 * 4) * 10 * SECOND, base + rnd(8640 * 4) * 10 * SECOND];
    const maxLevel = rnd(3) as LevelIndex;
    const spans = plan(from, to, closed, maxLevel);
    let at = from;
    for (const s of spans) {
      assert.equal(s.from, at, 'contiguous');
      assert.ok(s.to > s.from);
      assert.ok(s.level <= maxLevel);
      const width = LEVELS[s.level];
      assert.equal(s.from % width, 0);
      assert.equal(s.to % width, 0);
      if (s.level > 0) assert.ok(s.to <= closed[s.level]!, 'coarse buckets only where written');
      at = s.to;
    }
    assert.equal(at, from === to ? from : to);
  }
  // A 5 min window reads whole closed minutes from the 1 min table.
  const from = Date.UTC(2026, 0, 1, 12, 3, 40);
  const spans = plan(from, from + 5 * MINUTE, [Infinity, Date.UTC(2026, 0, 1, 12, 8), Date.UTC(2026, 0, 1, 12)]);
  assert.deepEqual(
    spans.map((s) => [s.level, (s.to - s.from) / LEVELS[s.level]]),
    [[0, 2], [1, 4], [0, 4]],
  );
});

void test('the store codec round-trips sketches exactly', () => {
  const cases = [[], [0, 0, 1], [0.001, 0.5, 3, 3, 3, 1e6], Array.from({ length: 1000 }, (_, i) => (i % 37) * 1.7 + 0.01)];
  for (const values of cases) {
    const s = new Sketch();
    for (const v of values) s.add(v);
    const data = s.toJSON();
    const back = decodeSketch(encodeSketch(data));
    assert.deepEqual(back, data);
    const again = Sketch.fromJSON(back);
    for (const q of [0.5, 0.95, 0.99]) assert.equal(again.quantile(q), s.quantile(q));
  }
  assert.deepEqual(decodeSketch(null).count, 0);
  assert.throws(() => decodeSketch(new Uint8Array(10)), RangeError);
});

void test('SketchSum adds blobs, wire forms and Sketches into exactly what Sketch.merge gives', () => {
  let seed = 7;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (let round = 0; round < 50; round++) {
    const reference = new Sketch();
    const sum = new SketchSum();
    const parts = 1 + Math.floor(rnd() * 20);
    for (let p = 0; p < parts; p++) {
      const s = new Sketch();
      const n = Math.floor(rnd() * 50);
      const scale = 10 ** Math.floor(rnd() * 6 - 2);
      for (let i = 0; i < n; i++) s.add(rnd() < 0.1 ? 0 : rnd() * scale);
      reference.merge(s);
      const kind = p % 3;
      sum.add(kind === 0 ? encodeSketch(s.toJSON()) : kind === 1 ? s.toJSON() : s);
    }
    const qs = [0, 0.25, 0.5, 0.95, 0.99, 1];
    assert.deepEqual(sum.quantiles(qs), qs.map((q) => reference.quantile(q)), `round ${round}`);
    assert.deepEqual(sum.toSketch().toJSON(), reference.toJSON());
    const copy = sum.clone();
    copy.add(encodeSketch(reference.toJSON()));
    assert.equal(copy.count, 2 * sum.count);
    assert.deepEqual(sum.quantiles(qs), qs.map((q) => reference.quantile(q)), 'a clone is independent');
  }
  assert.deepEqual(new SketchSum().quantiles([0.5]), [null]);
});
