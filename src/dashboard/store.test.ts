// The store on a real SQLite file in a temp dir, with a clock the tests move: bucket closing,
// roll-ups, rebuild after a restart, retention, duplicates and late reports.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Sketch } from '../telemetry/sketch.ts';
import type { ReportV1 } from '../telemetry/report-format.ts';
import { DashboardStore, GRACE, MIN_RETENTION, SEQ_WINDOW } from './store.ts';
import type { ServiceRow } from './store.ts';
import { queryServices } from './query.ts';
import { mergeSketch } from './aggregate.ts';
import { report, series } from './testing.ts';
import { DAY, HOUR, MINUTE, SECOND } from './window.ts';
import type { LevelIndex } from './window.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'skiff-store-'));
  dirs.push(d);
  return d;
}

const BASE = Date.UTC(2026, 0, 1, 10, 0, 0);

/** Report k of sidecar `id`: ends at BASE + 5 s·k, latencies that change with k. */
function nth(id: string, k: number, service = 'api'): ReportV1 {
  return report({
    sidecarId: id,
    seq: k,
    end: BASE + 5 * SECOND * k,
    service,
    pod: `${service}-${id}`,
    requests: [
      series({ route: '/a', latencies: [k % 7, 3 + (k % 5), 40 + k] }),
      series({ route: '/b', statusCode: 503, latencies: [100 + k] }),
      series({ direction: 'outbound', peer: 'db', latencies: [2, 4] }),
    ],
    resources: { source: 'process', cpuSecondsTotal: k * 0.5, cpuLimitCores: null, memoryBytes: 1000 + k, memoryLimitBytes: null },
  });
}

function commit(store: DashboardStore, r: ReportV1, at: number): void {
  store.commit([{ report: r, receivedAt: at }], at);
}

function totals(store: DashboardStore, level: LevelIndex, from: number, to: number): { requests: number; ok: number; latency: Sketch; rows: number } {
  const latency = new Sketch();
  let requests = 0;
  let ok = 0;
  let rows = 0;
  store.eachService([{ level, from, to }], null, (r: ServiceRow) => {
    requests += r.requests;
    ok += r.ok;
    mergeSketch(latency, r.latency);
    rows++;
  });
  return { requests, ok, latency, rows };
}

function expected(reports: ReportV1[]): { requests: number; ok: number; latency: Sketch } {
  const latency = new Sketch();
  let requests = 0;
  let ok = 0;
  for (const r of reports) {
    for (const s of r.requests) {
      if (s.direction !== 'inbound') continue;
      requests += s.count;
      if (s.statusCode < 500) ok += s.count;
      latency.merge(s.latencyMs);
    }
  }
  return { requests, ok, latency };
}

function sameQuantiles(a: Sketch, b: Sketch, what: string): void {
  for (const q of [0.5, 0.95, 0.99]) assert.equal(a.quantile(q), b.quantile(q), `${what} q${q}`);
}

void test('10 s buckets close after their grace and roll up into minutes and hours without loss', () => {
  const store = DashboardStore.open({ dir: tempDir(), now: BASE });
  try {
    const sent: ReportV1[] = [];
    for (let k = 1; k <= 36; k++) {
      const r = nth('s1', k);
      sent.push(r);
      commit(store, r, r.end + 100);
      store.maintain(r.end + 100);
    }
    // 3 minutes of reports; a bucket is written GRACE after its end, never before.
    assert.equal(store.closedBefore[0], BASE + 3 * MINUTE - 10 * SECOND);
    store.maintain(BASE + 3 * MINUTE + GRACE);
    assert.equal(store.closedBefore[0], BASE + 3 * MINUTE + 0);
    assert.equal(store.journalRows(), 0, 'the report ending at 3:00 counts in the bucket 2:50');
    store.maintain(BASE + HOUR + GRACE);
    assert.equal(store.closedBefore[2], BASE + HOUR);
    assert.equal(store.journalRows(), 0);

    const want = expected(sent);
    for (const level of [0, 1, 2] as const) {
      const got = totals(store, level, BASE - HOUR, BASE + 2 * HOUR);
      assert.equal(got.requests, want.requests, `requests at level ${level}`);
      assert.equal(got.ok, want.ok, `ok at level ${level}`);
      sameQuantiles(got.latency, want.latency, `latency at level ${level}`);
    }
    assert.equal(totals(store, 2, BASE - HOUR, BASE + 2 * HOUR).rows, 1, 'one hourly row');
    assert.equal(totals(store, 1, BASE - HOUR, BASE + 2 * HOUR).rows, 3, 'three minutes (0:00, 1:00, 2:00)');
  } finally {
    store.close();
  }
});

void test('after a restart, open buckets are rebuilt from the journal and the finer tables', () => {
  const dir = tempDir();
  const sent: ReportV1[] = [];
  let store = DashboardStore.open({ dir, now: BASE });
  try {
    // 90 s in: the first minute is written, the second is half in 10 s rows, the rest in the journal.
    for (let k = 1; k <= 18; k++) {
      const r = nth('s1', k);
      sent.push(r);
      commit(store, r, r.end + 100);
      store.maintain(r.end + 100);
    }
    assert.ok(store.journalRows() > 0);
    store.close();
    // A restart (also what a crash between commits looks like: the file is all there is).
    store = DashboardStore.open({ dir, now: BASE + 91 * SECOND });
    assert.ok(store.isSeen('s1', 18) && store.isSeen('s1', 1) && !store.isSeen('s1', 19));
    for (let k = 19; k <= 30; k++) {
      const r = nth('s1', k);
      sent.push(r);
      commit(store, r, r.end + 100);
      store.maintain(r.end + 100);
    }
    store.close();
    store = DashboardStore.open({ dir, now: BASE + 151 * SECOND });
    store.maintain(BASE + 2 * HOUR);
    const want = expected(sent);
    for (const level of [0, 1, 2] as const) {
      const got = totals(store, level, BASE - HOUR, BASE + 2 * HOUR);
      assert.equal(got.requests, want.requests, `requests at level ${level}`);
      sameQuantiles(got.latency, want.latency, `latency at level ${level}`);
    }
  } finally {
    store.close();
  }
});

void test('retention deletes old fine buckets while coarser ones keep answering', () => {
  const retention = { ...MIN_RETENTION, hours: 7 * DAY };
  const store = DashboardStore.open({ dir: tempDir(), now: BASE, retention });
  try {
    const sent: ReportV1[] = [];
    for (let k = 1; k <= 24; k++) {
      const r = nth('s1', k);
      sent.push(r);
      commit(store, r, r.end + 100);
      store.maintain(r.end + 100);
    }
    const now = BASE + 3 * HOUR;
    store.maintain(now);
    assert.equal(totals(store, 0, BASE - HOUR, now).rows, 0, '10 s rows past 1 h are gone');
    const want = expected(sent);
    assert.equal(totals(store, 1, BASE - HOUR, now).requests, want.requests, '1 min rows remain');
    // A 4 h window reads 1 min buckets: the numbers are all there.
    const answer = queryServices(store, now, '4h');
    assert.equal(answer.services[0]?.requests, want.requests);
    assert.equal(answer.services[0]?.rps, want.requests / (4 * 3600));

    store.maintain(now + 4 * DAY);
    assert.equal(totals(store, 1, BASE - HOUR, now).rows, 0, '1 min rows past 3 d are gone');
    assert.equal(totals(store, 2, BASE - HOUR, now).requests, want.requests, '1 h rows remain');
    store.maintain(now + 8 * DAY);
    assert.equal(totals(store, 2, BASE - HOUR, now).rows, 0, 'and go after their retention');
  } finally {
    store.close();
  }
});

void test('duplicates are recognised across restarts; far-behind seqs count as seen', () => {
  const dir = tempDir();
  let store = DashboardStore.open({ dir, now: BASE });
  try {
    for (const k of [1, 2, 4]) commit(store, nth('s1', k), BASE + 5 * SECOND * k);
    assert.ok(store.isSeen('s1', 1) && store.isSeen('s1', 2) && store.isSeen('s1', 4));
    assert.ok(!store.isSeen('s1', 3) && !store.isSeen('s1', 5) && !store.isSeen('s2', 1));
    store.close();
    store = DashboardStore.open({ dir, now: BASE + MINUTE });
    assert.ok(store.isSeen('s1', 2) && !store.isSeen('s1', 3));
    const info = store.sidecars().find((s) => s.sidecarId === 's1');
    assert.deepEqual([info?.firstSeq, info?.maxSeq, info?.received], [1, 4, 3]);
    // Far ahead: everything more than SEQ_WINDOW behind is treated as already seen.
    commit(store, nth('s1', SEQ_WINDOW + 10), BASE + MINUTE);
    assert.ok(store.isSeen('s1', 3), 'seq 3 is now too far behind to tell');
    assert.ok(!store.isSeen('s1', SEQ_WINDOW + 9));
  } finally {
    store.close();
  }
});

void test('a late report counts in the bucket open when it arrives; a future one in the current bucket', () => {
  const store = DashboardStore.open({ dir: tempDir(), now: BASE });
  try {
    const now = BASE + 2 * MINUTE + 3 * SECOND;
    store.maintain(now);
    const late = nth('s1', 1); // ends at BASE + 5 s: long written
    const future = report({ sidecarId: 's2', seq: 1, end: now + HOUR, service: 'api', requests: [series({ latencies: [1] })] });
    commit(store, late, now);
    commit(store, future, now);
    const buckets = new Set<number>();
    store.eachService([{ level: 0, from: BASE - HOUR, to: BASE + 3 * HOUR }], null, (r) => buckets.add(r.t));
    assert.deepEqual([...buckets], [BASE + 2 * MINUTE]);
  } finally {
    store.close();
  }
});

void test('closing in slices: queries stay exact mid-way, and a crash mid-way redoes the bucket identically', () => {
  const dir = tempDir();
  let store = DashboardStore.open({ dir, now: BASE });
  const sent: ReportV1[] = [];
  try {
    // 40 sidecars × 6 reports: 1,200 rows to write, several slices' worth.
    for (let k = 1; k <= 6; k++) {
      for (let s = 0; s < 40; s++) {
        const r = nth(`s${s}`, k, `svc${s}`);
        sent.push(r);
        commit(store, r, r.end + 100);
      }
    }
    const want = expected(sent);
    const all = (st: DashboardStore): number => {
      let n = 0;
      st.eachService([{ level: 0, from: BASE - HOUR, to: BASE + HOUR }], null, (r) => (n += r.requests));
      return n;
    };
    const now = BASE + MINUTE + GRACE;
    // A zero budget: one slice per call, and the answer "more to do".
    let slices = 0;
    while (store.maintain(now, 0)) {
      slices++;
      assert.equal(all(store), want.requests, `exact after ${slices} slices`);
      if (slices === 3) break;
    }
    assert.equal(slices, 3, 'the work took several slices');
    assert.ok(store.closedBefore[0]! < BASE + MINUTE, 'still closing the 10 s buckets');
    // "Crash": drop the store mid-close (no final slice: the watermark has not moved).
    store.close();
    store = DashboardStore.open({ dir, now });
    assert.equal(all(store), want.requests, 'after the restart');
    store.maintain(now);
    assert.equal(store.closedBefore[0], BASE + MINUTE);
    assert.equal(store.journalRows(), 0);
    for (const level of [0, 1] as const) {
      const got = totals(store, level, BASE - HOUR, BASE + HOUR);
      assert.equal(got.requests, want.requests, `level ${level}`);
      sameQuantiles(got.latency, want.latency, `level ${level}`);
    }
  } finally {
    store.close();
  }
});
