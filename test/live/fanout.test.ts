// The dashboard's fan-out (src/dashboard/tap.ts) over real sockets: real sidecars with their
// taps, real traffic, one merged stream. The sidecar list is what the dashboard's store would
// give; the test changes it to make sidecars come and go.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { openTap, send, startApp, startTapFront, startTappedSidecar } from './helpers.ts';
import type { TappedSidecar } from './helpers.ts';
import type { TapTarget } from '../../src/dashboard/tap.ts';

const TOKEN = 'fanout-token';
let app: Awaited<ReturnType<typeof startApp>>;
let front: Awaited<ReturnType<typeof startTapFront>>;
let web0: TappedSidecar;
let web1: TappedSidecar;
let api0: TappedSidecar;
const extra: TappedSidecar[] = [];
let targets: TapTarget[] = [];

function target(s: TappedSidecar, id = s.identity.pod): TapTarget {
  return { sidecarId: id, ...s.identity, admin: `http://127.0.0.1:${s.adminPort}`, lastSeen: Date.now() };
}

before(async () => {
  app = await startApp((req, res) => {
    req.resume();
    const status = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('status') ?? 200);
    req.on('end', () => res.writeHead(status).end('ok'));
  });
  const opts = { token: TOKEN, allowHeaders: true, allowBodies: true };
  web0 = await startTappedSidecar(app.port, opts, { service: 'web', namespace: 'shop', pod: 'web-0' });
  web1 = await startTappedSidecar(app.port, opts, { service: 'web', namespace: 'shop', pod: 'web-1' });
  api0 = await startTappedSidecar(app.port, opts, { service: 'api', namespace: 'shop', pod: 'api-0' });
  targets = [target(web0), target(web1), target(api0)];
  front = await startTapFront({ token: TOKEN, sidecars: () => targets.map((t) => ({ ...t, lastSeen: t.lastSeen === 0 ? 0 : Date.now() })) });
});

after(async () => {
  await front?.close();
  for (const s of [web0, web1, api0, ...extra]) await s?.close();
  await app?.close();
});

const tapUrl = (): string => front.url;

void test('a service tap merges every pod of that service, tagged, and nothing else', async () => {
  const tap = await openTap(tapUrl(), 'service=web&namespace=shop', { token: TOKEN, path: '/api/tap' });
  assert.equal(tap.status, 200);
  await tap.until((t) => t.sources().filter((s) => s.state === 'connected').length === 2, 10_000, 'two sidecars connected');
  for (let i = 0; i < 3; i++) {
    await send(web0.port, { path: `/w0/${i}` });
    await send(web1.port, { path: `/w1/${i}` });
    await send(api0.port, { path: `/a/${i}` });
  }
  await tap.until((t) => t.records().length >= 6, 10_000, '6 records');
  await new Promise((r) => setTimeout(r, 300));
  const recs = tap.records();
  assert.equal(recs.length, 6, 'no api records in a web tap');
  assert.deepEqual(recs.filter((r) => r.pod === 'web-0').map((r) => r.path), ['/w0/0', '/w0/1', '/w0/2']);
  assert.deepEqual(recs.filter((r) => r.pod === 'web-1').map((r) => r.path), ['/w1/0', '/w1/1', '/w1/2']);
  assert.ok(recs.every((r) => r.service === 'web' && r.namespace === 'shop'));
  assert.deepEqual(tap.hello(), { service: 'web', namespace: 'shop', pod: null, rate: 100, headers: false, bodies: false, notes: [] });
  tap.close();
});

void test('the whole mesh, with filters passed on to every sidecar', async () => {
  const tap = await openTap(tapUrl(), 'status=5xx&method=POST', { token: TOKEN, path: '/api/tap' });
  await tap.until((t) => t.sources().filter((s) => s.state === 'connected').length === 3, 10_000, 'three sidecars');
  for (const s of [web0, web1, api0]) {
    await send(s.port, { method: 'POST', path: '/p?status=503' });
    await send(s.port, { method: 'POST', path: '/p?status=200' });
    await send(s.port, { method: 'GET', path: '/g?status=500' });
  }
  await tap.until((t) => t.records().length >= 3, 10_000, '3 records');
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(tap.records().map((r) => `${r.pod} ${r.method} ${r.status}`).sort(), ['api-0 POST 503', 'web-0 POST 503', 'web-1 POST 503']);
  tap.close();
});

void test('sidecars that come and go are tapped and let go; failures are said once', async () => {
  const tap = await openTap(tapUrl(), 'service=web', { token: TOKEN, path: '/api/tap' });
  await tap.until((t) => t.sources().filter((s) => s.state === 'connected').length === 2, 10_000, 'two');
  const web2 = await startTappedSidecar(app.port, { token: TOKEN }, { service: 'web', namespace: 'shop', pod: 'web-2' });
  extra.push(web2);
  targets.push(target(web2));
  await tap.until((t) => t.sources().some((s) => s.pod === 'web-2' && s.state === 'connected'), 10_000, 'web-2 joins');
  await send(web2.port, { path: '/new' });
  await tap.until((t) => t.records().some((r) => r.pod === 'web-2' && r.path === '/new'), 10_000, 'a record from web-2');

  // web-1 stops reporting: the dashboard lets it go.
  targets = targets.map((t) => (t.pod === 'web-1' ? { ...t, lastSeen: 0 } : t));
  await tap.until((t) => t.sources().some((s) => s.pod === 'web-1' && s.state === 'disconnected'), 10_000, 'web-1 leaves');
  const before = tap.records().length;
  await send(web1.port, { path: '/after-leaving' });
  await send(web2.port, { path: '/still-here' });
  await tap.until((t) => t.records().some((r) => r.path === '/still-here'), 10_000, 'web-2 still tapped');
  assert.ok(!tap.records().slice(before).some((r) => r.path === '/after-leaving'));

  // web-2's process goes away while still listed: disconnected, then failing to reconnect (said once).
  await web2.close();
  await tap.until((t) => t.sources().some((s) => s.pod === 'web-2' && s.state === 'disconnected'), 10_000, 'web-2 gone');
  await tap.until((t) => t.sources().some((s) => s.pod === 'web-2' && s.state === 'failed'), 10_000, 'web-2 refused');
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(tap.sources().filter((s) => s.pod === 'web-2' && s.state === 'failed').length, 1);
  targets = targets.filter((t) => t.pod !== 'web-2').map((t) => (t.pod === 'web-1' ? { ...t, lastSeen: Date.now() } : t));
  tap.close();
});

void test('a sidecar with another token or no admin URL is reported, the others still flow', async () => {
  const stranger = await startTappedSidecar(app.port, { token: 'another-token' }, { service: 'odd', namespace: 'shop', pod: 'odd-0' });
  extra.push(stranger);
  targets.push(target(stranger), { sidecarId: 'odd-1', service: 'odd', namespace: 'shop', pod: 'odd-1', admin: undefined, lastSeen: Date.now() });
  const tap = await openTap(tapUrl(), 'service=odd', { token: TOKEN, path: '/api/tap' });
  await tap.until((t) => t.sources().filter((s) => s.state === 'failed').length === 2, 10_000, 'two failures');
  const byPod = Object.fromEntries(tap.sources().map((s) => [s.pod, s.message ?? '']));
  assert.match(byPod['odd-0']!, /refused the dashboard token/);
  assert.match(byPod['odd-1']!, /no admin URL/);
  tap.close();
  targets = targets.filter((t) => t.service !== 'odd');
});

void test('the merged stream is rate-limited per client, and drops are counted', async () => {
  const tap = await openTap(tapUrl(), 'service=web&rate=5', { token: TOKEN, path: '/api/tap' });
  await tap.until((t) => t.sources().filter((s) => s.state === 'connected').length === 2, 10_000, 'two');
  const n = 30;
  for (let i = 0; i < n; i++) {
    await send(web0.port, { path: `/r/${i}` });
    await send(web1.port, { path: `/r/${i}` });
  }
  // Every record is either delivered or counted as dropped (by a sidecar or by the dashboard).
  await tap.until((t) => t.counts.records + t.counts.dropped === 2 * n, 15_000, 'records + dropped = sent');
  assert.ok(tap.counts.records >= 5 && tap.counts.records <= 15, `delivered ${tap.counts.records}`);
  assert.ok(tap.dropped().every((d) => d.reason === 'rate'));
  tap.close();
});

void test('headers and bodies pass through when the sidecars grant them', async () => {
  const tap = await openTap(tapUrl(), 'service=api&headers=1&bodies=1', { token: TOKEN, path: '/api/tap' });
  await tap.until((t) => t.sources().some((s) => s.state === 'connected'), 10_000, 'api');
  await send(api0.port, { method: 'POST', path: '/b', headers: { authorization: 'Bearer app-secret', 'content-type': 'text/plain' }, body: 'hello body' });
  await tap.until((t) => t.records().length === 1);
  const r = tap.records()[0]!;
  assert.equal(r.requestHeaders?.authorization, '[redacted]');
  assert.equal(r.requestBody?.text, 'hello body');
  tap.close();
});

void test('a client that stops reading makes the sidecars drop for it, and is told how many', async () => {
  const tap = await openTap(tapUrl(), 'service=api&rate=10000', { token: TOKEN, path: '/api/tap' });
  await tap.until((t) => t.sources().some((s) => s.state === 'connected'), 10_000, 'api');
  tap.pause();
  const long = 'x'.repeat(4000);
  let sent = 0;
  while (api0.tap.dropped.slow === 0 && sent < 20_000) {
    await send(api0.port, { path: `/${sent++}/${long}` });
  }
  assert.ok(api0.tap.dropped.slow > 0, `the sidecar never had to drop after ${sent} requests`);
  for (let i = 0; i < 50; i++) await send(api0.port, { path: `/more/${i}` });
  sent += 50;
  tap.resume();
  await tap.until((t) => t.counts.records + t.counts.dropped === sent, 20_000, `records + dropped = ${sent}`);
  assert.ok(tap.dropped().some((d) => d.pod === 'api-0' && d.reason === 'slow'));
  tap.close();
});

void test('bad filters get 400, no token 401, too many streams 429', async () => {
  const bad = await openTap(tapUrl(), 'direction=sideways', { token: TOKEN, path: '/api/tap' });
  assert.equal(bad.status, 400);
  assert.match(bad.text, /direction must be inbound or outbound/);
  const unauth = await openTap(tapUrl(), '', { path: '/api/tap' });
  assert.equal(unauth.status, 401);
  const small = await startTapFront({ token: TOKEN, sidecars: () => [], options: { maxClients: 1 } });
  try {
    const first = await openTap(small.url, '', { token: TOKEN, path: '/api/tap' });
    const second = await openTap(small.url, '', { token: TOKEN, path: '/api/tap' });
    assert.equal(first.status, 200);
    assert.equal(second.status, 429);
    first.close();
  } finally {
    await small.close();
  }
});
