// The bench's arithmetic: medians, added latency, ratios and PASS/MISS marks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkTargets, formatReport, median, ratio, ratioRows, summarize } from '../../bench/report.ts';
import type { CaseResult, RatioRow, RoundResult } from '../../bench/report.ts';
import type { WrkResult } from '../../bench/wrk.ts';
import type { LoadCase } from '../../bench/targets.ts';

const rates = [1000, 5000] as const;

function wrk(rate: number, p50: number, p99: number, seconds = 10): WrkResult {
  return {
    requests: rate * seconds,
    durationSeconds: seconds,
    rate,
    bytes: 0,
    errors: { connect: 0, read: 0, write: 0, status: 0, timeout: 0 },
    latency: { mean: p50, p50, p90: p99, p99, p999: p99, max: p99 },
  };
}

interface Shape {
  sat: number;
  p50: number;
  p99: number;
  cpuSeconds?: number;
  rss?: number;
}

function round(n: number, s: Shape): RoundResult {
  return {
    round: n,
    latency: rates.map((rate) => ({ targetRate: rate, wrk: wrk(rate, s.p50, s.p99) })),
    peakRssBytes: s.rss,
    cpu: { targetRate: 4000, wrk: wrk(4000, s.p50, s.p99), cpuSeconds: s.cpuSeconds },
    saturation: { wrk: wrk(s.sat, 1, 2) },
  };
}

function caseOf(name: LoadCase, ...shapes: Shape[]): CaseResult {
  return { name, available: true, problems: [], rounds: shapes.map((s, i) => round(i + 1, s)), startup: name === 'skiff' ? { readyzMs: [150, 120, 400], firstResponseMs: [160, 130, 410] } : undefined };
}

const MiB = 1024 * 1024;

void test('median of odd and even counts; nothing gives undefined', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([]), undefined);
});

void test('ratio refuses a missing or non-positive denominator', () => {
  assert.equal(ratio(8, 10), 0.8);
  assert.equal(ratio(8, 0), undefined);
  assert.equal(ratio(undefined, 10), undefined);
});

function fixture(skiff: Shape): CaseResult[] {
  return [
    caseOf('direct', { sat: 50_000, p50: 0.1, p99: 0.2 }, { sat: 54_000, p50: 0.1, p99: 0.2 }),
    caseOf('skiff', skiff, skiff),
    caseOf('nginx', { sat: 30_000, p50: 0.2, p99: 0.4, cpuSeconds: 1.6, rss: 8 * MiB }, { sat: 34_000, p50: 0.2, p99: 0.4, cpuSeconds: 1.6, rss: 9 * MiB }),
  ];
}

void test('summaries take medians over rounds, the worst peak RSS, and latency added over direct', () => {
  const [direct, skiff, nginx] = summarize(fixture({ sat: 28_000, p50: 0.25, p99: 0.5, cpuSeconds: 2, rss: 50 * MiB }), rates);
  assert.equal(direct!.saturationRps, 52_000);
  assert.equal(nginx!.saturationRps, 32_000);
  assert.equal(nginx!.peakRssBytes, 9 * MiB);
  // 1.6 CPU-s over 40,000 requests
  assert.equal(nginx!.cpuPer1k, 0.04);
  assert.ok(Math.abs(nginx!.latency[0]!.addedP50! - 0.1) < 1e-9);
  assert.ok(Math.abs(skiff!.latency[0]!.addedP99! - 0.3) < 1e-9);
  assert.equal(skiff!.readyzMs, 150);
  assert.equal(direct!.latency[0]!.addedP50, undefined);
});

void test('targets pass when skiff is within them', () => {
  const checks = checkTargets(summarize(fixture({ sat: 28_000, p50: 0.21, p99: 0.44, cpuSeconds: 2, rss: 50 * MiB }), rates), rates);
  assert.deepEqual(checks.map((c) => c.verdict), ['PASS', 'PASS', 'PASS', 'PASS', 'PASS', 'PASS']);
});

void test('each target misses on its own', () => {
  // 25k < 0.8 × 32k; 3.2 CPU-s / 40k = 0.08; added p50 0.2 > 1.2 × 0.1; RSS 61 MiB.
  const checks = checkTargets(summarize(fixture({ sat: 25_000, p50: 0.3, p99: 0.44, cpuSeconds: 3.2, rss: 61 * MiB }), rates), rates);
  assert.deepEqual(checks.map((c) => c.verdict), ['MISS', 'MISS', 'MISS', 'PASS', 'MISS', 'PASS']);
});

void test('without skiff every target is n/a, and the report says why skiff is missing', () => {
  const cases = fixture({ sat: 1, p50: 1, p99: 1 });
  cases[1] = { name: 'skiff', available: false, reason: 'exited with 1: boom', problems: [], rounds: [] };
  const summaries = summarize(cases, rates);
  assert.ok(checkTargets(summaries, rates).every((c) => c.verdict === 'n/a'));
  const text = formatReport({ title: 't', lines: [] }, summaries, rates);
  assert.match(text, /skiff: not available: exited with 1: boom/);
  assert.match(text, /nginx\s+32,000\s+1\.00×/);
});

void test('ratio rows give skiff/nginx and skiff/direct', () => {
  const rows = ratioRows(summarize(fixture({ sat: 26_000, p50: 0.25, p99: 0.5, cpuSeconds: 2, rss: 50 * MiB }), rates), rates);
  const tput = rows.find((r) => r.metric === 'throughput at saturation')!;
  assert.equal(tput.skiffVsNginx, 26_000 / 32_000);
  assert.equal(tput.skiffVsDirect, 26_000 / 52_000);
  const added = rows.find((r) => r.metric === 'added p50 at 1,000 req/s')!;
  assert.ok(Math.abs(added.skiffVsNginx! - 1.5) < 1e-9);
});

void test('ratio rows give skiff/node-relay next to the others, and — without the relay', () => {
  const base = fixture({ sat: 26_000, p50: 0.25, p99: 0.5, cpuSeconds: 2, rss: 50 * MiB });
  // The relay: 40k req/s, p50 0.15 / p99 0.3 (added 0.05 / 0.1), 1 CPU-s over 40k requests, 40 MiB.
  const relay = caseOf('node-relay', { sat: 40_000, p50: 0.15, p99: 0.3, cpuSeconds: 1, rss: 40 * MiB });
  const summaries = summarize([base[0]!, base[1]!, relay, base[2]!], rates);
  const rows = ratioRows(summaries, rates);
  const row = (metric: string): RatioRow => rows.find((r) => r.metric === metric)!;
  assert.equal(row('throughput at saturation').skiffVsNodeRelay, 26_000 / 40_000);
  assert.ok(Math.abs(row('p50 latency at 1,000 req/s').skiffVsNodeRelay! - 0.25 / 0.15) < 1e-9);
  assert.ok(Math.abs(row('p99 latency at 5,000 req/s').skiffVsNodeRelay! - 0.5 / 0.3) < 1e-9);
  // skiff adds 0.15 / 0.3 ms over direct, the relay 0.05 / 0.1.
  assert.ok(Math.abs(row('added p50 at 1,000 req/s').skiffVsNodeRelay! - 3) < 1e-9);
  assert.ok(Math.abs(row('added p99 at 5,000 req/s').skiffVsNodeRelay! - 3) < 1e-9);
  assert.ok(Math.abs(row('CPU-s per 1k requests').skiffVsNodeRelay! - 2) < 1e-9);
  assert.equal(row('peak RSS').skiffVsNodeRelay, 50 / 40);
  // The relay changes neither the other columns nor the targets (still against nginx).
  const without = summarize(base, rates);
  const others = (rs: readonly RatioRow[]): unknown[] => rs.map((r) => [r.metric, r.skiffVsNginx, r.skiffVsDirect]);
  assert.deepEqual(others(rows), others(ratioRows(without, rates)));
  assert.deepEqual(checkTargets(summaries, rates), checkTargets(without, rates));
  assert.ok(ratioRows(without, rates).every((r) => r.skiffVsNodeRelay === undefined));

  const text = formatReport({ title: 't', lines: [] }, summaries, rates);
  assert.match(text, /^ratio\s+skiff\/nginx\s+skiff\/direct\s+skiff\/node-relay$/m);
  assert.match(text, /^throughput at saturation\s+0\.81×\s+0\.50×\s+0\.65×$/m);
  assert.match(text, /^added p50 at 1,000 req\/s\s+1\.50×\s+—\s+3\.00×$/m);
  assert.match(text, /^node-relay\s+40,000\s+1\.25×/m);
  // Not run: its column is all dashes, and the table has no relay row.
  const plain = formatReport({ title: 't', lines: [] }, without, rates);
  assert.match(plain, /^throughput at saturation\s+0\.81×\s+0\.50×\s+—$/m);
  assert.match(plain, /^peak RSS\s+5\.56×\s+—\s+—$/m);
  assert.doesNotMatch(plain, /^node-relay /m);
});

void test('the 1 MiB rows have a skiff/node-relay ratio too', () => {
  const withLarge = (c: CaseResult, download: number, upload: number): CaseResult => ({
    ...c,
    rounds: c.rounds.map((r) => ({ ...r, large: { download: wrk(download, 1, 2), upload: wrk(upload, 1, 2) } })),
  });
  const [direct, skiff, nginx] = fixture({ sat: 26_000, p50: 0.25, p99: 0.5, cpuSeconds: 2, rss: 50 * MiB });
  const relay = caseOf('node-relay', { sat: 40_000, p50: 0.15, p99: 0.3 });
  const rows = ratioRows(summarize([withLarge(direct!, 1000, 500), withLarge(skiff!, 400, 450), withLarge(relay, 800, 300), withLarge(nginx!, 500, 200)], rates), rates);
  const down = rows.find((r) => r.metric === '1 MiB responses req/s')!;
  const up = rows.find((r) => r.metric === '1 MiB uploads req/s')!;
  assert.deepEqual([down.skiffVsNginx, down.skiffVsDirect, down.skiffVsNodeRelay], [0.8, 0.4, 0.5]);
  assert.deepEqual([up.skiffVsNginx, up.skiffVsDirect, up.skiffVsNodeRelay], [2.25, 0.9, 1.5]);
  // A relay that was not available gives no ratio.
  const gone: CaseResult = { name: 'node-relay', available: false, reason: 'did not start', problems: [], rounds: [] };
  const rows2 = ratioRows(summarize([withLarge(direct!, 1000, 500), withLarge(skiff!, 400, 450), gone, withLarge(nginx!, 500, 200)], rates), rates);
  assert.ok(rows2.every((r) => r.skiffVsNodeRelay === undefined));
});

void test('when nginx adds less than the noise floor, the added-latency limit uses the floor', () => {
  // direct p50 0.1 ms; nginx 0.105 (+0.005, below the 0.02 ms floor): limit 1.2 × 0.02 = 0.024 ms.
  const cases = (skiffP50: number): CaseResult[] => [
    caseOf('direct', { sat: 50_000, p50: 0.1, p99: 0.2 }),
    caseOf('skiff', { sat: 28_000, p50: skiffP50, p99: 0.2, cpuSeconds: 2, rss: 50 * MiB }),
    caseOf('nginx', { sat: 30_000, p50: 0.105, p99: 0.2, cpuSeconds: 1.6, rss: 8 * MiB }),
  ];
  const pass = checkTargets(summarize(cases(0.12), rates), rates)[2]!;
  assert.equal(pass.verdict, 'PASS');
  assert.match(pass.note ?? '', /noise/);
  assert.equal(checkTargets(summarize(cases(0.13), rates), rates)[2]!.verdict, 'MISS');
});
