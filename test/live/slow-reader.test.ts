// A tap client that stops reading must not slow the traffic it watches, and must be told how
// many records it lost. A real sidecar in front of a real app; the same fixed series of
// requests is timed with no tap (before and after) and with a stalled tap whose socket and
// queue are full. Figures are compared relative to each other (2-core machine, shared).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { openTap, percentile, send, startApp, startTappedSidecar } from './helpers.ts';
import type { TappedSidecar } from './helpers.ts';

let app: Awaited<ReturnType<typeof startApp>>;
let s: TappedSidecar;

before(async () => {
  app = await startApp((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  s = await startTappedSidecar(app.port);
});

after(async () => {
  await s?.close();
  await app?.close();
});

// Long paths make big records, so a stalled reader's socket buffers (which the kernel grows to
// a few MiB) fill after a few hundred requests rather than ten thousand.
const LONG = 'p'.repeat(4000);

/** Latencies (ms) of `n` sequential keep-alive requests through the sidecar. */
async function series(n: number, tag: string): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await send(s.port, { path: `/${tag}/${i}/${LONG}` });
    out.push(performance.now() - t0);
  }
  return out;
}

function stats(xs: number[]): { p50: number; p99: number } {
  const sorted = [...xs].sort((a, b) => a - b);
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) };
}

void test('a stalled tap reader does not slow proxied traffic, and learns how many records it lost', async () => {
  await series(300, 'warmup');
  const before1 = await series(400, 'a');

  // A tap client that reads its hello and then nothing more.
  const tap = await openTap(`http://127.0.0.1:${s.adminPort}`, 'rate=10000');
  await tap.until((t) => t.hello() !== undefined);
  tap.pause();
  const recordedAtAttach = s.recorded();
  // Fill its socket buffers and its queue until the sidecar starts dropping for it.
  let filled = 0;
  while (s.tap.dropped.slow === 0 && filled < 30_000) {
    await send(s.port, { path: `/fill/${filled++}/${LONG}` });
  }
  assert.ok(s.tap.dropped.slow > 0, `the stalled reader never filled up after ${filled} requests`);

  const stalled1 = await series(400, 'b');
  const stalled2 = await series(400, 'c');
  const offered = s.recorded() - recordedAtAttach;
  const droppedWhileStalled = s.tap.dropped.slow;
  assert.ok(droppedWhileStalled >= 800, `every record of the timed series was dropped, not queued: ${droppedWhileStalled}`);

  // Now it reads again: everything it got plus what it was told it lost is exactly what happened.
  tap.resume();
  await tap.until((t) => t.counts.records + t.counts.dropped === offered, 20_000, `records + dropped = ${offered}`);
  assert.ok(tap.dropped().length >= 1);
  assert.ok(tap.dropped().every((d) => d.reason === 'slow'));
  assert.equal(tap.dropped().at(-1)!.total, droppedWhileStalled);
  assert.equal(tap.records().length, offered - droppedWhileStalled);
  tap.close();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(s.tap.clients, 0);

  const before2 = await series(400, 'd');
  const base = stats([...before1, ...before2]);
  const slow = stats([...stalled1, ...stalled2]);
  const figures = `no tap p50=${base.p50.toFixed(3)}ms p99=${base.p99.toFixed(3)}ms; stalled tap p50=${slow.p50.toFixed(3)}ms p99=${slow.p99.toFixed(3)}ms; filled after ${filled} requests`;
  process.stderr.write(`slow reader: ${figures}\n`);
  // Generous, relative bounds: noise on a shared 2-core machine is large; a tap that blocked
  // traffic on its reader would add milliseconds per request, far beyond these.
  assert.ok(slow.p50 <= base.p50 * 1.5 + 0.3, `p50 moved: ${figures}`);
  assert.ok(slow.p99 <= base.p99 * 2.5 + 2, `p99 moved: ${figures}`);
});
