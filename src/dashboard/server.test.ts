// The dashboard over real HTTP on loopback, a real SQLite file in a temp dir, and a clock the
// tests hold still (then move) so that window arithmetic is exact.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { ReportV1 } from '../telemetry/report-format.ts';
import type { ApiError, EdgesResponse, ReportAck, ServiceDetailResponse, ServicesResponse } from './api-types.ts';
import type { SidecarsResponse } from './query.ts';
import { createDashboardServer } from './server.ts';
import type { DashboardServer } from './server.ts';
import { merged, report, series, sketchOf } from './testing.ts';
import { HOUR, MINUTE, SECOND } from './window.ts';

const TOKEN = 'test-token-0123456789abcdef';
const BASE = Date.UTC(2026, 0, 1, 12, 0, 0);
let now = BASE + 10 * MINUTE + 7 * SECOND;
let dash: DashboardServer;
let root: string;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'skiff-dash-'));
  const web = join(root, 'web');
  mkdirSync(join(web, 'assets'), { recursive: true });
  writeFileSync(join(web, 'index.html'), '<!doctype html><title>skiff</title><script type="module" src="/assets/app-Ab12Cd34.js"></script>');
  writeFileSync(join(web, 'assets', 'app-Ab12Cd34.js'), 'console.log("ui")');
  dash = await createDashboardServer({
    dataDir: join(root, 'data'),
    token: TOKEN,
    listen: { host: '127.0.0.1', port: 0 },
    clock: () => now,
    maintainEveryMs: 0,
    webRoot: web,
    maxReportBytes: 64 * 1024,
  });
});

after(async () => {
  await dash.close();
  rmSync(root, { recursive: true, force: true });
});

const bearer = { authorization: `Bearer ${TOKEN}` };

function post(body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${dash.url}/api/reports`, {
    method: 'POST',
    headers: { ...bearer, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
  });
}

async function postOk(r: ReportV1): Promise<ReportAck> {
  const res = await post(r);
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as ReportAck;
}

async function get<T>(path: string, headers: Record<string, string> = bearer): Promise<T> {
  const res = await fetch(`${dash.url}${path}`, { headers });
  assert.equal(res.status, 200, `${path}: ${await res.clone().text()}`);
  return (await res.json()) as T;
}

async function sidecars(): Promise<SidecarsResponse['sidecars']> {
  return (await get<SidecarsResponse>('/api/sidecars')).sidecars;
}

void test('health needs no token; the API answers 401 without one; the UI sends to the login page', async () => {
  const health = await fetch(`${dash.url}/healthz`);
  assert.equal(health.status, 200);
  for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: TOKEN }, { cookie: `skiff_session=${TOKEN}` }]) {
    const res = await fetch(`${dash.url}/api/services`, { headers });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
    assert.equal(((await res.json()) as ApiError).error, 'unauthorized');
  }
  const noToken = await fetch(`${dash.url}/api/reports`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  assert.equal(noToken.status, 401);
  const ui = await fetch(`${dash.url}/services/default/web?window=1h`, { redirect: 'manual' });
  assert.equal(ui.status, 303);
  assert.equal(ui.headers.get('location'), `/login?next=${encodeURIComponent('/services/default/web?window=1h')}`);
});

void test('logging in sets an HttpOnly session cookie (not the token) that opens the API for reading only', async () => {
  const page = await fetch(`${dash.url}/login`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<form method="post" action="\/login">/);
  const csp = page.headers.get('content-security-policy') ?? '';
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(page.headers.get('referrer-policy'), 'no-referrer');

  const form = (token: string): Promise<Response> =>
    fetch(`${dash.url}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token, next: '/services/default/web' }).toString(),
    });
  const wrong = await form('nope');
  assert.equal(wrong.status, 401);
  assert.equal(wrong.headers.getSetCookie().length, 0);

  const ok = await form(TOKEN);
  assert.equal(ok.status, 303);
  assert.equal(ok.headers.get('location'), '/services/default/web');
  const setCookie = ok.headers.getSetCookie()[0] ?? '';
  assert.match(setCookie, /^skiff_session=[^;]+; HttpOnly; SameSite=Strict; Path=\//);
  assert.ok(!setCookie.includes(TOKEN), 'the cookie must not carry the token');
  const cookie = setCookie.split(';')[0]!;

  assert.ok(Array.isArray((await get<ServicesResponse>('/api/services', { cookie })).services));
  const ui = await fetch(`${dash.url}/`, { headers: { cookie } });
  assert.equal(ui.status, 200);
  // A session may read, never write: reports need the Bearer token.
  const write = await fetch(`${dash.url}/api/reports`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: '{}' });
  assert.equal(write.status, 401);
  // A forged or stale cookie is refused.
  const [expires, mac] = cookie.slice('skiff_session='.length).split('.');
  for (const bad of [`${Number(expires) + 1}.${mac}`, `${expires}.${'A'.repeat(43)}`]) {
    assert.equal((await fetch(`${dash.url}/api/services`, { headers: { cookie: `skiff_session=${bad}` } })).status, 401);
  }

  // The printed login URL: sets the session and redirects (off-site `next` is ignored).
  const link = await fetch(`${dash.url}/login?token=${TOKEN}&next=//evil.example/`, { redirect: 'manual' });
  assert.equal(link.status, 303);
  assert.equal(link.headers.get('location'), '/');
  assert.match(link.headers.getSetCookie()[0] ?? '', /HttpOnly/);
  assert.equal((await fetch(`${dash.url}/login?token=wrong`, { redirect: 'manual' })).status, 401);

  const out = await fetch(`${dash.url}/logout`, { method: 'POST', headers: { cookie }, redirect: 'manual' });
  assert.equal(out.status, 303);
  assert.match(out.headers.getSetCookie()[0] ?? '', /^skiff_session=; .*Max-Age=0/);
});

void test('invalid reports get 400 (or 413, 415) naming the problem, and store nothing', async () => {
  const good = report({ sidecarId: 'bad-1', seq: 1, end: now, service: 'web', requests: [series({ latencies: [1] })] });
  const journal = dash.store.journalRows();
  const cases: [unknown, number, string, RegExp, Record<string, string>?][] = [
    [{ ...good, version: 2 }, 400, 'invalid_report', /^version/],
    [{ ...good, seq: '1' }, 400, 'invalid_report', /^seq/],
    [{ ...good, requests: [{ ...good.requests[0], count: -1 }] }, 400, 'invalid_report', /^requests\[0\]\.count/],
    [{ ...good, requests: [{ ...good.requests[0], latencyMs: { ...sketchOf([1]), bins: [1, 'x'] } }] }, 400, 'invalid_report', /requests\[0\]\.latencyMs/],
    ['{"version":1,', 400, 'invalid_json', /JSON/],
    [good, 415, 'unsupported_media_type', /application\/json/, { 'content-type': 'text/plain' }],
    [{ ...good, padding: 'x'.repeat(70 * 1024) }, 413, 'too_large', /limit/],
    [gzipSync(JSON.stringify({ ...good, padding: 'x'.repeat(200 * 1024) })), 413, 'too_large', /limit/, { 'content-encoding': 'gzip' }],
  ];
  for (const [body, status, error, message, headers] of cases) {
    const res = await post(body, headers);
    assert.equal(res.status, status, `${error}: ${await res.clone().text()}`);
    const answer = (await res.json()) as ApiError;
    assert.equal(answer.error, error);
    assert.match(answer.message, message);
  }
  assert.equal(dash.store.journalRows(), journal, 'nothing stored');
  assert.ok(!(await sidecars()).some((s) => s.sidecarId === 'bad-1'));
  // The same report, valid and gzipped, is fine.
  const res = await post(gzipSync(JSON.stringify(good)), { 'content-encoding': 'gzip' });
  assert.equal(res.status, 200);
});

void test('a duplicate report is acknowledged once more but never counted twice', async () => {
  const r = report({ sidecarId: 'dup-1', seq: 1, end: now - 2 * SECOND, service: 'dup', requests: [series({ latencies: [1, 2, 3] })] });
  assert.deepEqual(await postOk(r), { accepted: true, duplicate: false, sidecarId: 'dup-1', seq: 1 });
  assert.deepEqual(await postOk(r), { accepted: true, duplicate: true, sidecarId: 'dup-1', seq: 1 });
  // Two copies in flight at once: one is stored, the other is the duplicate.
  const r2 = { ...r, seq: 2 };
  const acks = await Promise.all([postOk(r2), postOk(r2)]);
  assert.deepEqual(acks.map((a) => a.duplicate).sort(), [false, true]);
  const svc = (await get<ServicesResponse>('/api/services')).services.find((s) => s.name === 'dup');
  assert.equal(svc?.requests, 6);
  const sc = (await sidecars()).find((s) => s.sidecarId === 'dup-1');
  assert.deepEqual([sc?.received, sc?.lastSeq, sc?.gaps], [2, 2, 0]);
});

void test('a missing sequence number shows as a gap, for the sidecar and for its pod in the window', async () => {
  for (const seq of [1, 2, 4, 5]) {
    await postOk(report({ sidecarId: 'gap-1', seq, end: now - (6 - seq) * 5 * SECOND, service: 'gappy', pod: 'gappy-0', requests: [series({ latencies: [1] })] }));
  }
  const sc = (await sidecars()).find((s) => s.sidecarId === 'gap-1');
  assert.deepEqual([sc?.received, sc?.lastSeq, sc?.gaps], [4, 5, 1]);
  const detail = await get<ServiceDetailResponse>('/api/services/default/gappy');
  assert.equal(detail.pods[0]?.gaps, 1);
  // The lost report arrives after all (a late retry): the gap closes.
  await postOk(report({ sidecarId: 'gap-1', seq: 3, end: now - 15 * SECOND, service: 'gappy', pod: 'gappy-0', requests: [series({ latencies: [1] })] }));
  assert.equal((await sidecars()).find((s) => s.sidecarId === 'gap-1')?.gaps, 0);
});

void test('services, detail and edges: exact counts, merged percentiles, rps over the window, null without traffic', async () => {
  const t0 = now - MINUTE;
  const lat = { a1: [5, 7, 9, 300], a2: [11, 12], b1: [50, 60, 70], err: [1000] };
  const reports = [
    report({
      sidecarId: 'rev-1', seq: 1, end: t0, service: 'reviews', pod: 'reviews-1',
      resources: { source: 'cgroup2', cpuSecondsTotal: 10, cpuLimitCores: 1, memoryBytes: 100e6, memoryLimitBytes: 512e6 },
      requests: [
        series({ route: '/reviews/{id}', latencies: lat.a1, requestBytes: [0, 0, 0, 0], responseBytes: [200, 300, 400, 5000] }),
        series({ route: '/reviews/{id}', statusCode: 504, error: 'upstream_timeout', latencies: lat.err }),
        series({ direction: 'outbound', peer: 'ratings', route: '/ratings', latencies: [3, 4] }),
      ],
    }),
    report({
      sidecarId: 'rev-1', seq: 2, end: t0 + 5 * SECOND, service: 'reviews', pod: 'reviews-1',
      resources: { source: 'cgroup2', cpuSecondsTotal: 11, cpuLimitCores: 1, memoryBytes: 120e6, memoryLimitBytes: 512e6 },
      requests: [series({ route: '/reviews/{id}', latencies: lat.a2, responseBytes: [250, 260] })],
    }),
    report({
      sidecarId: 'rev-2', seq: 1, end: t0 + 2 * SECOND, service: 'reviews', pod: 'reviews-2',
      requests: [
        series({ method: 'POST', route: '/reviews', statusCode: 201, latencies: lat.b1, requestBytes: [900, 1000, 1100] }),
        series({ direction: 'outbound', peer: 'ratings', route: '/ratings', statusCode: 500, latencies: [20] }),
      ],
    }),
    // A sidecar whose app received nothing: it is listed, with no data rather than zeros.
    report({ sidecarId: 'idle-1', seq: 1, end: t0, service: 'idle', pod: 'idle-0', requests: [series({ direction: 'outbound', peer: 'reviews', latencies: [8] })] }),
  ];
  for (const r of reports) await postOk(r);

  const check = async (phase: string): Promise<void> => {
    const list = await get<ServicesResponse>('/api/services?window=5m');
    assert.equal(list.window, '5m');
    const rev = list.services.find((s) => s.name === 'reviews' && s.namespace === 'default');
    assert.ok(rev, phase);
    const inbound = reports.flatMap((r) => (r.identity.service === 'reviews' ? r.requests.filter((s) => s.direction === 'inbound') : []));
    const requests = inbound.reduce((n, s) => n + s.count, 0);
    assert.equal(rev.requests, 10, phase);
    assert.equal(rev.requests, requests);
    assert.equal(rev.rps, 10 / 300, phase);
    assert.equal(rev.successRate, 9 / 10, phase);
    assert.equal(rev.pods, 2);
    assert.deepEqual(rev.errors, { upstream_timeout: 1 });
    const latency = merged(...inbound.map((s) => s.latencyMs));
    assert.deepEqual(rev.latencyMs, { p50: latency.quantile(0.5), p95: latency.quantile(0.95), p99: latency.quantile(0.99) }, phase);
    const respBytes = merged(...inbound.map((s) => s.responseBytes));
    assert.deepEqual(rev.responseBytes, { p50: respBytes.quantile(0.5), p99: respBytes.quantile(0.99) });
    // Sanity of the merge itself: within 1% of the true p99 (rank 0.99·(n−1)) of all ten latencies.
    const all = [...lat.a1, ...lat.a2, ...lat.b1, ...lat.err].sort((a, b) => a - b);
    const truth = all[Math.floor(0.99 * (all.length - 1))]!;
    assert.ok(Math.abs((rev.latencyMs.p99 ?? 0) - truth) <= truth * 0.01, `${rev.latencyMs.p99} vs ${truth}`);

    const idle = list.services.find((s) => s.name === 'idle');
    assert.deepEqual(
      idle && [idle.requests, idle.rps, idle.successRate, idle.latencyMs.p50, idle.pods],
      [0, 0, null, null, 1],
      `${phase}: no traffic is null, never 0`,
    );

    const d = await get<ServiceDetailResponse>('/api/services/default/reviews?window=5m');
    assert.deepEqual(d.summary, rev);
    assert.equal(d.stepMs, 10 * SECOND);
    assert.equal(d.series.length, 30);
    assert.equal(d.series.reduce((n, p) => n + p.requests, 0), 10, `${phase}: series add up to the summary`);
    assert.ok(d.series.every((p, i) => i === 0 || p.t - d.series[i - 1]!.t === 10 * SECOND));
    const busiest = d.series.find((p) => p.requests > 0)!;
    assert.equal(busiest.rps, busiest.requests / 10);
    assert.deepEqual(d.statusCodes, { '200': 6, '504': 1, '201': 3 });
    assert.deepEqual(
      d.routes.map((r) => [r.method, r.route, r.requests, r.successRate]),
      [['GET', '/reviews/{id}', 7, 6 / 7], ['POST', '/reviews', 3, 1]],
    );
    const post = merged(sketchOf(lat.b1));
    assert.deepEqual(d.routes[1]?.latencyMs, { p50: post.quantile(0.5), p95: post.quantile(0.95), p99: post.quantile(0.99) });
    assert.equal(d.routes[0]?.rps, 7 / 300);
    const [p1, p2] = d.pods;
    assert.deepEqual([p1?.pod, p1?.sidecarId, p1?.requests, p1?.gaps], ['reviews-1', 'rev-1', 7, 0]);
    assert.equal(p1?.cpuCores, (11 - 10) / 5, 'ΔCPU seconds / Δt');
    assert.deepEqual([p1?.memoryBytes, p1?.memoryLimitBytes, p1?.cpuLimitCores, p1?.resourceSource], [120e6, 512e6, 1, 'cgroup2']);
    assert.deepEqual([p2?.pod, p2?.requests, p2?.cpuCores, p2?.memoryBytes, p2?.resourceSource], ['reviews-2', 3, null, null, null]);

    const edges = (await get<EdgesResponse>('/api/edges?window=5m')).edges;
    const toRatings = edges.find((e) => e.source === 'reviews' && e.destination === 'ratings');
    const edgeLatency = merged(sketchOf([3, 4]), sketchOf([20]));
    assert.deepEqual(toRatings, {
      source: 'reviews', sourceNamespace: 'default', destination: 'ratings', requests: 3, rps: 3 / 300, successRate: 2 / 3,
      latencyMs: { p50: edgeLatency.quantile(0.5), p95: edgeLatency.quantile(0.95), p99: edgeLatency.quantile(0.99) },
    });
    assert.ok(edges.some((e) => e.source === 'idle' && e.destination === 'reviews' && e.requests === 1));
  };

  // From the open buckets in memory…
  await check('open buckets');
  // …from the 10 s tables once the buckets closed…
  now += 30 * SECOND;
  dash.maintain();
  await check('10 s rows');
  // …and with the 5 min window read partly from 1 min rows.
  now += 2 * MINUTE;
  dash.maintain();
  assert.ok(dash.store.closedBefore[1]! > t0);
  await check('1 min rows');

  assert.equal((await fetch(`${dash.url}/api/services/default/nope`, { headers: bearer })).status, 404);
  const badWindow = await fetch(`${dash.url}/api/services?window=soon`, { headers: bearer });
  assert.equal(badWindow.status, 400);
  assert.equal(((await badWindow.json()) as ApiError).error, 'invalid_window');
  // An hour later the 5 min window is empty, but longer windows still see everything.
  now += HOUR;
  dash.maintain();
  assert.ok(!(await get<ServicesResponse>('/api/services?window=5m')).services.some((s) => s.name === 'reviews'));
  const day = (await get<ServicesResponse>('/api/services?window=24h')).services.find((s) => s.name === 'reviews');
  assert.equal(day?.requests, 10);
  assert.equal(day?.rps, 10 / 86400);
});

void test('the UI: built files with their types and caching, client routes fall back to index.html', async () => {
  const h = bearer;
  const index = await fetch(`${dash.url}/`, { headers: h });
  assert.equal(index.status, 200);
  assert.match(index.headers.get('content-type') ?? '', /^text\/html/);
  assert.match(index.headers.get('content-security-policy') ?? '', /default-src 'self'/);
  assert.equal(index.headers.get('cache-control'), 'no-cache');
  const asset = await fetch(`${dash.url}/assets/app-Ab12Cd34.js`, { headers: h });
  assert.match(asset.headers.get('content-type') ?? '', /^text\/javascript/);
  assert.match(asset.headers.get('cache-control') ?? '', /immutable/);
  assert.equal(await asset.text(), 'console.log("ui")');
  const route = await fetch(`${dash.url}/services/default/reviews`, { headers: h });
  assert.equal(route.status, 200);
  assert.match(await route.text(), /<title>skiff<\/title>/);
  assert.equal((await fetch(`${dash.url}/assets/missing-Zz99Yy88.js`, { headers: h })).status, 404);
  // Encoded slashes decode to a path outside the bundle: refused.
  assert.equal((await fetch(`${dash.url}/..%2f..%2f..%2fetc%2fpasswd`, { headers: h })).status, 404);

  const bare = await createDashboardServer({ dataDir: join(root, 'bare'), token: TOKEN, listen: { host: '127.0.0.1', port: 0 }, webRoot: join(root, 'none'), maintainEveryMs: 0 });
  try {
    const res = await fetch(`${bare.url}/`, { headers: h });
    assert.match(await res.text(), /npm run build:ui/);
  } finally {
    await bare.close();
  }
});

void test('the live tap is mounted at /api/tap behind the same auth, and its streams end on close', async () => {
  assert.equal((await fetch(`${dash.url}/api/tap?service=web`)).status, 401);
  const bad = await fetch(`${dash.url}/api/tap?rate=0`, { headers: bearer });
  assert.equal(bad.status, 400);
  assert.equal(((await bad.json()) as ApiError).error, 'bad_filter');
  // A stream stays open; closing the dashboard ends it (the server must not wait for it forever).
  const other = await createDashboardServer({ dataDir: join(root, 'tap'), token: TOKEN, listen: { host: '127.0.0.1', port: 0 }, maintainEveryMs: 0 });
  const res = await fetch(`${other.url}/api/tap?service=nobody`, { headers: bearer });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const reading = res.text();
  await other.close();
  await reading.catch(() => '');
});
