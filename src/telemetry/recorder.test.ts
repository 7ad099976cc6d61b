import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRecorder } from './recorder.ts';
import type { Recorder } from './recorder.ts';
import { parseExposition } from './prometheus.ts';
import type { ParsedSample } from './prometheus.ts';
import { validateReport, buildReport } from './report.ts';
import type { RequestRecord, TcpRecord } from './model.ts';

const identity = { service: 'reviews', namespace: 'shop', pod: 'reviews-v1-abc12-x2x7k' };

function req(over: Partial<RequestRecord> = {}): RequestRecord {
  return {
    direction: 'inbound',
    peer: '',
    method: 'GET',
    path: '/users/1',
    authority: 'reviews',
    statusCode: 200,
    error: '',
    startTime: 0,
    durationMs: 12,
    ttfbMs: 5,
    requestBytes: 0,
    responseBytes: 100,
    overheadMs: 0.2,
    upgraded: false,
    requestId: 'r',
    ...over,
  };
}

function tcp(over: Partial<TcpRecord> = {}): TcpRecord {
  return { direction: 'inbound', peer: '', protocol: 'http', startTime: 0, durationMs: 5, bytesIn: 100, bytesOut: 200, error: '', ...over };
}

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

function recorder(over: Partial<Parameters<typeof createRecorder>[0]> = {}): Recorder {
  return createRecorder({ identity, routeBudget: 50, version: '9.9.9', resources: () => null, ...over });
}

function samples(r: Recorder, name: string): ParsedSample[] {
  return parseExposition(r.metrics()).samples.filter((s) => s.name === name);
}

void test('counts and byte totals are exact over 1,000 requests', () => {
  const r = recorder();
  let reqBytes = 0;
  let respBytes = 0;
  for (let i = 0; i < 1000; i++) {
    const rq = (i * 7919) % 5000;
    const rs = (i * 104729) % 100_000;
    reqBytes += rq;
    respBytes += rs;
    r.recordRequest(req({ path: `/users/${i}`, requestBytes: rq, responseBytes: rs, durationMs: 1 + (i % 50) }));
  }
  const d = r.takeDelta();
  assert.equal(d.requests.length, 1);
  const s = d.requests[0]!;
  assert.equal(s.count, 1000);
  assert.equal(s.requestBytesTotal, reqBytes);
  assert.equal(s.responseBytesTotal, respBytes);
  assert.equal(s.latencyMs.count, 1000);
  assert.equal(s.route, '/users/{id}');
  const [total] = samples(r, 'skiff_requests_total');
  assert.equal(total?.value, 1000);
  assert.equal(samples(r, 'skiff_request_bytes_sum')[0]?.value, reqBytes);
  assert.equal(samples(r, 'skiff_response_bytes_sum')[0]?.value, respBytes);
  assert.equal(samples(r, 'skiff_request_duration_seconds_count')[0]?.value, 1000);
});

void test('series are keyed by direction, peer, method, route, status and error', () => {
  const r = recorder();
  r.recordRequest(req());
  r.recordRequest(req({ path: '/users/2' })); // same series
  r.recordRequest(req({ statusCode: 404 }));
  r.recordRequest(req({ method: 'POST' }));
  r.recordRequest(req({ direction: 'outbound', peer: 'ratings' }));
  r.recordRequest(req({ statusCode: 0, error: 'upstream_refused' }));
  r.recordRequest(req({ path: '/health' }));
  const d = r.takeDelta();
  assert.equal(d.requests.length, 6);
  assert.equal(d.requests.find((s) => s.statusCode === 200 && s.route === '/users/{id}' && s.method === 'GET' && s.direction === 'inbound')?.count, 2);
  assert.ok(d.requests.some((s) => s.peer === 'ratings' && s.direction === 'outbound'));
  assert.ok(d.requests.some((s) => s.error === 'upstream_refused' && s.statusCode === 0));
});

void test('methods outside the standard set are OTHER; bad status codes are 0', () => {
  const r = recorder();
  r.recordRequest(req({ method: 'PROPFIND' }));
  r.recordRequest(req({ method: 'get' }));
  r.recordRequest(req({ method: 'PATCH' }));
  r.recordRequest(req({ statusCode: 1234 }));
  r.recordRequest(req({ statusCode: Number.NaN }));
  const d = r.takeDelta();
  const methods = new Set(d.requests.map((s) => s.method));
  assert.deepEqual([...methods].sort(), ['GET', 'OTHER', 'PATCH']);
  assert.equal(d.requests.find((s) => s.statusCode === 0)?.count, 2);
  assert.equal(d.requests.find((s) => s.method === 'OTHER')?.count, 2);
});

void test('peers beyond the budget, and unlabelable peers, are "other"', () => {
  const r = recorder({ peerBudget: 2 });
  for (const peer of ['a', 'b', 'c', 'd', 'bad peer', 'x'.repeat(300)]) r.recordRequest(req({ direction: 'outbound', peer }));
  const peers = r.takeDelta().requests.map((s) => s.peer).sort();
  assert.deepEqual(peers, ['a', 'b', 'other']);
});

void test('routes beyond the budget are "other"', () => {
  const r = recorder({ routeBudget: 2 });
  for (const p of ['/a', '/b', '/c', '/d/1', '/a']) r.recordRequest(req({ path: p }));
  const d = r.takeDelta();
  assert.deepEqual(d.requests.map((s) => `${s.route}:${s.count}`).sort(), ['/a:2', '/b:1', 'other:2']);
});

void test('the number of series is capped; extra keys fold into overflow series', () => {
  const r = recorder({ maxSeries: 20, routeBudget: 1000 });
  for (let i = 0; i < 500; i++) r.recordRequest(req({ path: `/r${String.fromCharCode(97 + (i % 26))}${String.fromCharCode(97 + Math.floor(i / 26))}`, statusCode: 200 + (i % 3) }));
  assert.ok(r.seriesCount <= 20 + 220, `${r.seriesCount}`);
  const d = r.takeDelta();
  assert.equal(d.requests.reduce((a, s) => a + s.count, 0), 500);
  const overflow = d.requests.filter((s) => s.route === 'other' && s.peer === 'other' && s.method === 'OTHER');
  assert.equal(overflow.length, 1);
  assert.equal(overflow[0]!.statusCode, 200); // folded to its status class
  // Labels stay unique, so the delta is a valid report.
  const v = validateReport(JSON.parse(JSON.stringify(buildReport({ sidecarId: 's', seq: 1, identity, resources: null, droppedReports: 0, ...d }))));
  assert.ok(v.ok, v.ok ? '' : v.reason);
});

void test('takeDelta returns changes since the previous call; /metrics stays cumulative', () => {
  const c = clock();
  const r = recorder({ now: c.now });
  r.recordRequest(req());
  r.recordRequest(req());
  c.advance(5000);
  const d1 = r.takeDelta();
  assert.equal(d1.start, 1_000_000);
  assert.equal(d1.end, 1_005_000);
  assert.equal(d1.requests[0]!.count, 2);
  r.recordRequest(req());
  c.advance(5000);
  const d2 = r.takeDelta();
  assert.equal(d2.start, 1_005_000);
  assert.equal(d2.requests[0]!.count, 1);
  assert.equal(d2.requests[0]!.latencyMs.count, 1);
  const d3 = r.takeDelta();
  assert.equal(d3.requests.length, 0);
  assert.ok(d3.start < d3.end, 'start < end even when the clock did not move');
  assert.equal(samples(r, 'skiff_requests_total')[0]?.value, 3);
});

void test('sketches in a delta give latency quantiles within 1%', () => {
  const r = recorder();
  for (let i = 1; i <= 1000; i++) r.recordRequest(req({ durationMs: i }));
  const s = r.takeDelta().requests[0]!;
  assert.equal(s.latencyMs.min, 1);
  assert.equal(s.latencyMs.max, 1000);
  assert.equal(s.latencyMs.sum, 500_500);
});

void test('histogram buckets are exact and cumulative', () => {
  const r = recorder();
  for (const ms of [0.1, 0.5, 0.6, 1, 7, 100, 70_000]) r.recordRequest(req({ durationMs: ms }));
  const buckets = new Map(samples(r, 'skiff_request_duration_seconds_bucket').map((s) => [s.labels.le, s.value]));
  assert.equal(buckets.get('0.0005'), 2); // 0.1 ms and exactly 0.5 ms
  assert.equal(buckets.get('0.001'), 4);
  assert.equal(buckets.get('0.01'), 5);
  assert.equal(buckets.get('0.1'), 6);
  assert.equal(buckets.get('60'), 6);
  assert.equal(buckets.get('+Inf'), 7);
  const bytes = new Map(samples(r, 'skiff_request_bytes_bucket').map((s) => [s.labels.le, s.value]));
  assert.equal(bytes.get('0'), 7); // no request bodies
});

void test('bad numbers never poison sums or break the sketch counts', () => {
  const r = recorder();
  r.recordRequest(req({ durationMs: Number.NaN, requestBytes: -5, responseBytes: Infinity, overheadMs: Number.NaN }));
  r.recordRequest(req({ durationMs: -1, requestBytes: 1.7 }));
  const d = r.takeDelta();
  const s = d.requests[0]!;
  assert.equal(s.count, 2);
  assert.equal(s.requestBytesTotal, 1);
  assert.equal(s.responseBytesTotal, 100); // Infinity counted as 0, plus the default 100
  const v = validateReport(JSON.parse(JSON.stringify(buildReport({ sidecarId: 's', seq: 1, identity, resources: null, droppedReports: 0, ...d }))));
  assert.ok(v.ok, v.ok ? '' : v.reason);
  assert.doesNotThrow(() => parseExposition(r.metrics()));
});

void test('tcp: opened, open gauge, closed by peer and protocol, bytes by flow, errors', () => {
  const r = recorder();
  r.connectionOpened('inbound', 'http');
  r.connectionOpened('inbound', 'http');
  r.connectionOpened('outbound', 'opaque');
  assert.deepEqual(
    samples(r, 'skiff_tcp_connections_open').map((s) => [s.labels.direction, s.value]),
    [['inbound', 2], ['outbound', 1]],
  );
  r.connectionClosed(tcp({ bytesIn: 10, bytesOut: 20 }));
  r.connectionClosed(tcp({ bytesIn: 1, bytesOut: 2, error: 'client_abort' }));
  r.connectionClosed(tcp({ direction: 'outbound', peer: 'db', protocol: 'opaque', bytesIn: 5, bytesOut: 7, error: 'upstream_reset' }));
  const open = samples(r, 'skiff_tcp_connections_open');
  assert.deepEqual(open.map((s) => s.value), [0, 0]);
  const total = samples(r, 'skiff_tcp_connections_total');
  assert.deepEqual(total.map((s) => `${s.labels.direction}/${s.labels.peer}/${s.labels.protocol}=${s.value}`).sort(), ['inbound//http=2', 'outbound/db/opaque=1']);
  const bytes = samples(r, 'skiff_tcp_bytes_total').map((s) => `${s.labels.peer}:${s.labels.flow}=${s.value}`).sort();
  assert.deepEqual(bytes, [':client_to_server=11', ':server_to_client=22', 'db:client_to_server=5', 'db:server_to_client=7']);
  const errors = samples(r, 'skiff_tcp_connection_errors_total').map((s) => `${s.labels.error}=${s.value}`).sort();
  assert.deepEqual(errors, ['client_abort=1', 'upstream_reset=1']);

  const d = r.takeDelta();
  const inbound = d.tcp.find((s) => s.direction === 'inbound')!;
  assert.deepEqual(inbound, { direction: 'inbound', peer: '', protocol: 'http', opened: 2, closed: 2, bytesIn: 11, bytesOut: 22, errors: { client_abort: 1 } });
  const outOpened = d.tcp.find((s) => s.direction === 'outbound' && s.peer === '')!;
  assert.equal(outOpened.opened, 1);
  assert.equal(d.tcp.find((s) => s.peer === 'db')?.errors.upstream_reset, 1);
  assert.equal(r.takeDelta().tcp.length, 0);
});

void test('listeners see every record after it is recorded; a throwing one breaks nothing', () => {
  const r = recorder();
  const seen: string[] = [];
  const offBad = r.onRequest(() => {
    throw new Error('tap bug');
  });
  const off = r.onRequest((rec) => seen.push(rec.path));
  assert.equal(r.wantsHeaders, false);
  r.recordRequest(req({ path: '/users/42' }));
  off();
  r.recordRequest(req({ path: '/users/43' }));
  offBad();
  assert.deepEqual(seen, ['/users/42']); // the raw path, for the tap
  assert.equal(r.takeDelta().requests[0]!.count, 2);
});

void test('wantsHeaders is true while a header listener is attached, or when forced', () => {
  const r = recorder();
  const off = r.onRequest(() => undefined, { headers: true });
  assert.equal(r.wantsHeaders, true);
  off();
  assert.equal(r.wantsHeaders, false);
  r.setWantsHeaders(true);
  assert.equal(r.wantsHeaders, true);
  r.setWantsHeaders(false);
  assert.equal(r.wantsHeaders, false);
});

void test('metrics(): valid exposition, service and namespace on every series, collectors included', () => {
  const r = recorder({ resources: () => ({ source: 'cgroup1', cpuSecondsTotal: 3, cpuLimitCores: null, memoryBytes: 1024, memoryLimitBytes: 2048 }) });
  r.recordRequest(req({ path: '/x"y\\z' }));
  r.connectionOpened('inbound', 'http');
  const remove = r.addCollector(() => [{ name: 'skiff_extra_total', help: 'Extra.', type: 'counter', samples: [{ labels: {}, value: 4 }] }]);
  r.addCollector(() => {
    throw new Error('broken collector');
  });
  const parsed = parseExposition(r.metrics());
  for (const s of parsed.samples) {
    assert.equal(s.labels.service, 'reviews', s.name);
    assert.equal(s.labels.namespace, 'shop', s.name);
  }
  assert.equal(parsed.samples.find((s) => s.name === 'skiff_requests_total')?.labels.route, '/x"y\\z');
  assert.equal(parsed.samples.find((s) => s.name === 'skiff_extra_total')?.value, 4);
  assert.equal(parsed.samples.find((s) => s.name === 'skiff_build_info')?.labels.version, '9.9.9');
  assert.equal(parsed.samples.find((s) => s.name === 'skiff_pod_memory_limit_bytes')?.value, 2048);
  assert.equal(parsed.samples.some((s) => s.name === 'skiff_pod_cpu_limit_cores'), false);
  assert.ok((parsed.samples.find((s) => s.name === 'skiff_process_resident_memory_bytes')?.value ?? 0) > 0);
  remove();
  assert.equal(parseExposition(r.metrics()).families.has('skiff_extra_total'), false);
});

void test('overhead is a histogram per direction', () => {
  const r = recorder();
  r.recordRequest(req({ overheadMs: 0.01 }));
  r.recordRequest(req({ overheadMs: 0.3 }));
  r.recordRequest(req({ direction: 'outbound', overheadMs: 100 }));
  const count = samples(r, 'skiff_proxy_overhead_seconds_count').map((s) => `${s.labels.direction}=${s.value}`);
  assert.deepEqual(count, ['inbound=2', 'outbound=1']);
  const b = samples(r, 'skiff_proxy_overhead_seconds_bucket').filter((s) => s.labels.direction === 'inbound');
  assert.equal(b.find((s) => s.labels.le === '0.00001')?.value, 1);
  assert.equal(b.find((s) => s.labels.le === '0.0005')?.value, 2);
});

void test('every family /metrics emits is documented in docs/metrics.md, and every documented one exists', async () => {
  const { readFileSync } = await import('node:fs');
  const { createReporter } = await import('./reporter.ts');
  const { silentLogger } = await import('../log.ts');
  const doc = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
  const documented = new Set([...doc.matchAll(/^### `(skiff_[a-z_]+)` \((counter|gauge|histogram)\)$/gm)].map((m) => `${m[1]!} ${m[2]!}`));
  const r = recorder({ resources: () => ({ source: 'cgroup2', cpuSecondsTotal: 1, cpuLimitCores: 1, memoryBytes: 1, memoryLimitBytes: 1 }) });
  const reporter = createReporter({
    url: 'http://127.0.0.1:9', intervalMs: 1000, queueBytes: 1000, identity, takeDelta: () => r.takeDelta(), readResources: () => null, log: silentLogger,
  });
  r.addCollector(() => reporter.families());
  // The proxy's own family (src/proxy/command.ts adds it the same way).
  r.addCollector(() => [{ name: 'skiff_proxy_client_connections', help: 'x', type: 'gauge', samples: [] }]);
  // The live tap's families (src/live/sidecar-tap.ts adds them; its own test checks them too).
  r.addCollector(() => [
    { name: 'skiff_tap_records_dropped_total', help: 'x', type: 'counter', samples: [] },
    { name: 'skiff_tap_clients', help: 'x', type: 'gauge', samples: [] },
  ]);
  const emitted = new Set([...parseExposition(r.metrics()).families].map(([name, f]) => `${name} ${f.type}`));
  for (const f of emitted) assert.ok(documented.has(f), `${f} is not documented in docs/metrics.md`);
  for (const f of documented) assert.ok(emitted.has(f), `docs/metrics.md documents ${f}, which is not emitted`);
});
