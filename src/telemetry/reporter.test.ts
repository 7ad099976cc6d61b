import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { gunzipSync } from 'node:zlib';
import type { IncomingMessage, ServerResponse, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createReporter } from './reporter.ts';
import type { Reporter, ReporterOptions } from './reporter.ts';
import { createRecorder } from './recorder.ts';
import { validateReport } from './report.ts';
import type { ReportV1 } from './report-format.ts';
import type { RequestRecord } from './model.ts';
import { silentLogger } from '../log.ts';
import type { Logger, LogFields } from '../log.ts';

const identity = { service: 'reviews', namespace: 'shop', pod: 'reviews-0' };
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

interface Dashboard {
  url: string;
  /** Every valid report answered 2xx, in arrival order. */
  accepted: ReportV1[];
  /** Every request seen (any answer). */
  hits: { seq: number; auth: string | undefined; contentType: string | undefined; gzip: boolean; bytes: number }[];
  respond: (report: ReportV1) => number;
  server: Server;
}

/** A stand-in dashboard: a real HTTP server that validates what it gets. */
async function dashboard(respond: (report: ReportV1) => number = () => 202): Promise<Dashboard> {
  const d: Dashboard = { url: '', accepted: [], hits: [], respond, server: undefined as unknown as Server };
  d.server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/api/reports') {
        res.writeHead(404).end();
        return;
      }
      const gzip = req.headers['content-encoding'] === 'gzip';
      const raw = Buffer.concat(chunks);
      const v = validateReport(JSON.parse((gzip ? gunzipSync(raw) : raw).toString('utf8')));
      if (!v.ok) {
        res.writeHead(400).end(v.reason);
        return;
      }
      d.hits.push({ seq: v.report.seq, auth: req.headers.authorization, contentType: req.headers['content-type'], gzip, bytes: raw.length });
      const status = d.respond(v.report);
      if (status >= 200 && status < 300) d.accepted.push(v.report);
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => d.server.listen(0, '127.0.0.1', resolve));
  d.url = `http://127.0.0.1:${(d.server.address() as AddressInfo).port}`;
  cleanups.push(() => new Promise<void>((resolve) => {
    d.server.closeAllConnections();
    d.server.close(() => resolve());
  }));
  return d;
}

async function until(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function reporter(over: Partial<ReporterOptions> & Pick<ReporterOptions, 'url'>, recorder = createRecorder({ identity, routeBudget: 50, resources: () => null })): Reporter {
  const r = createReporter({
    intervalMs: 50,
    queueBytes: 1 << 20,
    identity,
    takeDelta: () => recorder.takeDelta(),
    readResources: () => ({ source: 'process', cpuSecondsTotal: 1, cpuLimitCores: null, memoryBytes: 1000, memoryLimitBytes: null }),
    log: silentLogger,
    random: () => 0.5,
    backoffBaseMs: 20,
    backoffMaxMs: 100,
    stopTimeoutMs: 2000,
    ...over,
  });
  cleanups.push(() => r.stop());
  return r;
}

function req(path: string): RequestRecord {
  return {
    direction: 'inbound', peer: '', method: 'GET', path, authority: 'x', statusCode: 200, error: '', startTime: 0,
    durationMs: 3, ttfbMs: 1, requestBytes: 10, responseBytes: 20, overheadMs: 0.1, upgraded: false, requestId: '',
  };
}

function assertConsecutive(seqs: number[]): void {
  assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1));
}

void test('reports arrive in seq order with the recorded deltas, auth and content type', async () => {
  const d = await dashboard();
  const recorder = createRecorder({ identity, routeBudget: 50, resources: () => null });
  const r = reporter({ url: d.url + '/', token: 's3cret' }, recorder);
  r.start();
  let recorded = 0;
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 100; i++, recorded++) recorder.recordRequest(req(`/users/${i}`));
    const before = d.accepted.length;
    await until(() => d.accepted.length > before, 'a report');
  }
  await r.stop();
  assertConsecutive(d.accepted.map((x) => x.seq));
  const total = d.accepted.flatMap((x) => x.requests).reduce((a, s) => a + s.count, 0);
  assert.equal(total, recorded);
  const bytes = d.accepted.flatMap((x) => x.requests).reduce((a, s) => a + s.requestBytesTotal, 0);
  assert.equal(bytes, recorded * 10);
  for (let i = 1; i < d.accepted.length; i++) assert.equal(d.accepted[i]!.start, d.accepted[i - 1]!.end, 'intervals are contiguous');
  assert.ok(d.accepted.every((x) => x.sidecarId === r.sidecarId && x.identity.pod === 'reviews-0'));
  assert.ok(d.hits.every((h) => h.auth === 'Bearer s3cret' && h.contentType === 'application/json'));
  assert.equal(r.stats().sent, d.accepted.length);
  assert.equal(r.stats().queueBytes, 0);
});

void test('dashboard failing with 503 then recovering: every report arrives, in order, none twice', async () => {
  let failing = true;
  const d = await dashboard(() => (failing ? 503 : 200));
  const r = reporter({ url: d.url });
  r.start();
  await until(() => r.stats().failed >= 8, '8 failed attempts');
  assert.equal(d.accepted.length, 0);
  assert.ok(d.hits.length >= 8);
  assert.ok(r.stats().queueLength >= 2, 'reports queued while failing');
  failing = false;
  const seqAtRecovery = r.stats().seq;
  await until(() => d.accepted.length >= seqAtRecovery + 2, 'the backlog and new reports');
  await r.stop();
  const seqs = d.accepted.map((x) => x.seq);
  assertConsecutive(seqs);
  assert.equal(new Set(seqs).size, seqs.length);
  // Retries resent the same report: the 503'd attempts were all of seq 1.
  assert.ok(d.hits.filter((h) => h.seq === 1).length >= 8);
  assert.equal(r.stats().droppedQueueFull, 0);
});

void test('dashboard down: the queue stays within its byte bound and the oldest reports are dropped', async () => {
  const d = await dashboard();
  const url = d.url;
  await new Promise<void>((resolve) => d.server.close(() => resolve())); // nothing listens there now
  // An empty report is ~450 bytes: room for a few.
  const queueBytes = 2200;
  const r = reporter({ url, queueBytes, backoffBaseMs: 10, backoffMaxMs: 30 });
  r.start();
  let maxSeen = 0;
  await until(() => {
    maxSeen = Math.max(maxSeen, r.stats().queueBytes);
    return r.stats().droppedQueueFull >= 5;
  }, '5 dropped reports');
  const s = r.stats();
  assert.ok(maxSeen <= queueBytes, `queue reached ${maxSeen} bytes`);
  assert.ok(s.queueLength >= 1, `${s.queueLength} queued`);
  assert.ok(s.failed > 0);
  assert.equal(s.sent, 0);
  const fam = r.families().find((f) => f.name === 'skiff_reports_dropped_total');
  assert.equal(fam?.type === 'counter' ? fam.samples.find((x) => x.labels.reason === 'queue_full')?.value : -1, s.droppedQueueFull);
});

void test('after an outage, reports carry droppedReports and the newest ones arrive', async () => {
  let down = true;
  const d = await dashboard(() => (down ? 503 : 200));
  const r = reporter({ url: d.url, queueBytes: 2200 });
  r.start();
  await until(() => r.stats().droppedQueueFull >= 3, '3 dropped reports');
  down = false;
  await until(() => d.accepted.length >= 3, 'reports after recovery');
  await r.stop();
  // A POST that timed out on a loaded machine may have reached the dashboard and be sent again
  // (the dashboard ignores the duplicate): seqs never go backwards.
  const seqs = d.accepted.map((x) => x.seq);
  assert.ok(seqs[0]! > 1, 'the oldest were dropped');
  for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i]! >= seqs[i - 1]!, `in order: ${seqs.join(',')}`);
  assert.ok(d.accepted.at(-1)!.droppedReports >= 3);
});

void test('400: dropped, not retried, logged once', async () => {
  const d = await dashboard(() => 400);
  const errors: string[] = [];
  const log: Logger = { ...silentLogger, error: (m: string, _f?: LogFields) => errors.push(m), child: () => log };
  const r = reporter({ url: d.url, log });
  r.start();
  await until(() => r.stats().droppedRejected >= 5, '5 rejected reports');
  await r.stop();
  const seqs = d.hits.map((h) => h.seq);
  assert.equal(new Set(seqs).size, seqs.length, 'no report sent twice');
  assertConsecutive(seqs);
  assert.equal(r.stats().failed, 0);
  assert.equal(r.stats().droppedRejected, seqs.length);
  assert.equal(errors.length, 1);
});

void test('429 and 408 are retried', async () => {
  let n = 0;
  const d = await dashboard(() => (++n <= 2 ? 429 : n <= 4 ? 408 : 200));
  const r = reporter({ url: d.url });
  r.start();
  await until(() => d.accepted.length >= 2, 'accepted reports');
  await r.stop();
  assertConsecutive(d.accepted.map((x) => x.seq));
  assert.equal(r.stats().failed, 4);
  assert.equal(r.stats().droppedRejected, 0);
});

void test('stop() sends the last interval at once', async () => {
  const d = await dashboard();
  const recorder = createRecorder({ identity, routeBudget: 50, resources: () => null });
  const r = reporter({ url: d.url, intervalMs: 60_000 }, recorder);
  r.start();
  recorder.recordRequest(req('/a'));
  recorder.recordRequest(req('/b'));
  await r.stop();
  assert.equal(d.accepted.length, 1);
  assert.equal(d.accepted[0]!.seq, 1);
  assert.equal(d.accepted[0]!.requests.reduce((a, s) => a + s.count, 0), 2);
});

void test('stop() gives up within its timeout when the dashboard is down', async () => {
  const d = await dashboard(() => 503);
  const r = reporter({ url: d.url, intervalMs: 60_000, stopTimeoutMs: 300 });
  r.start();
  const t0 = Date.now();
  await r.stop();
  const took = Date.now() - t0;
  assert.ok(took < 5000, `stop took ${took} ms`);
  assert.ok(d.hits.length >= 1);
  assert.equal(r.stats().queueLength, 1);
});

void test('large reports are sent gzip-compressed; small ones as they are', async () => {
  const d = await dashboard();
  const recorder = createRecorder({ identity, routeBudget: 500, resources: () => null });
  const r = reporter({ url: d.url, intervalMs: 60_000, gzipMinBytes: 2048 }, recorder);
  r.start();
  for (let i = 0; i < 200; i++) recorder.recordRequest(req(`/route${String.fromCharCode(97 + (i % 26))}${String.fromCharCode(97 + Math.floor(i / 26))}`));
  await r.stop();
  const r2 = reporter({ url: d.url, intervalMs: 60_000, gzipMinBytes: 2048 });
  r2.start();
  await r2.stop();
  assert.equal(d.accepted.length, 2);
  assert.equal(d.accepted[0]!.requests.reduce((a, s) => a + s.count, 0), 200);
  assert.equal(d.hits[0]!.gzip, true);
  assert.equal(d.hits[1]!.gzip, false);
  const plain = Buffer.byteLength(JSON.stringify(d.accepted[0]));
  assert.ok(d.hits[0]!.bytes * 3 < plain, `gzip ${d.hits[0]!.bytes} vs ${plain} bytes`);
});
