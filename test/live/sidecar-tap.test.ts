// The sidecar's /tap over real sockets: a real sidecar (src/proxy) in front of a real app, the
// tap mounted on its admin port as `skiff proxy` mounts it, and real requests through it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startApp, startTappedSidecar, openTap, send } from './helpers.ts';
import type { TappedSidecar } from './helpers.ts';

const TOKEN = 'tap-test-token';
let app: Awaited<ReturnType<typeof startApp>>;
const sidecars: TappedSidecar[] = [];

before(async () => {
  app = await startApp((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const status = Number(url.searchParams.get('status') ?? 200);
      const delay = Number(url.searchParams.get('delay') ?? 0);
      setTimeout(() => {
        const echo = Buffer.concat(chunks);
        res.writeHead(status, { 'content-type': req.headers['content-type'] ?? 'text/plain', 'set-cookie': 'sid=secret-session', 'x-app': 'yes' });
        res.end(url.pathname === '/echo' ? echo : `ok ${url.pathname}`);
      }, delay);
    });
  });
});

after(async () => {
  for (const s of sidecars) await s.close();
  await app.close();
});

async function sidecar(...args: Parameters<typeof startTappedSidecar> extends [number, ...infer R] ? R : never): Promise<TappedSidecar> {
  const s = await startTappedSidecar(app.port, ...args);
  sidecars.push(s);
  return s;
}

const admin = (s: TappedSidecar): string => `http://127.0.0.1:${s.adminPort}`;

void test('a tap sees exactly the requests sent, in order, with their numbers', async () => {
  const s = await sidecar();
  const tap = await openTap(admin(s));
  assert.equal(tap.status, 200);
  assert.match(String(tap.headers['content-type']), /^text\/event-stream/);
  await tap.until((t) => t.hello() !== undefined, 5000, 'hello');
  assert.deepEqual(tap.hello(), { service: 'web', namespace: 'default', pod: 'web-0', rate: 100, headers: false, bodies: false, notes: [] });

  const sent = [
    { method: 'GET', path: '/users/1', status: 200 },
    { method: 'POST', path: '/orders', status: 201, body: 'x'.repeat(100) },
    { method: 'GET', path: '/missing', status: 404 },
    { method: 'DELETE', path: '/users/2', status: 500 },
    { method: 'GET', path: '/slow', status: 200, delay: 60 },
  ];
  for (const r of sent) {
    const q = `?status=${r.status}${r.delay ? `&delay=${r.delay}` : ''}&secret=query`;
    const res = await send(s.port, { method: r.method, path: r.path + q, ...(r.body ? { body: r.body } : {}), headers: { 'x-request-id': `req-${r.path}` } });
    assert.equal(res.status, r.status);
  }
  await tap.until((t) => t.records().length >= sent.length, 10_000, '5 records');
  const got = tap.records();
  assert.equal(got.length, sent.length);
  got.forEach((r, i) => {
    const want = sent[i]!;
    assert.equal(r.method, want.method);
    assert.equal(r.path, want.path, 'the path, never the query string');
    assert.equal(r.status, want.status);
    assert.equal(r.direction, 'inbound');
    assert.equal(r.service, 'web');
    assert.equal(r.pod, 'web-0');
    assert.equal(r.requestId, `req-${want.path}`);
    assert.equal(r.requestBytes, want.body?.length ?? 0);
    assert.equal(r.responseBytes, `ok ${want.path}`.length);
    assert.equal(r.error, '');
    assert.match(r.authority, /^127\.0\.0\.1:\d+$/);
    assert.ok(Date.now() - Date.parse(r.time) < 60_000);
    assert.equal(r.requestHeaders, undefined, 'no headers unless asked and allowed');
    assert.equal(r.requestBody, undefined);
    assert.ok(!JSON.stringify(r).includes('secret=query'));
  });
  assert.equal(got[0]!.route, '/users/{id}');
  assert.ok(got[4]!.latencyMs >= 55, `latency of /slow: ${got[4]!.latencyMs}`);
  assert.ok(got[0]!.latencyMs < got[4]!.latencyMs);
  assert.equal(tap.dropped().length, 0);
  tap.close();
});

void test('filters: each tap sees exactly its subset of the same traffic', async () => {
  const s = await sidecar();
  const base = admin(s);
  const taps = {
    all: await openTap(base),
    post: await openTap(base, 'method=POST'),
    api: await openTap(base, 'path=/api/'),
    s5xx: await openTap(base, 'status=5xx'),
    s4xx: await openTap(base, 'status=4xx'),
    error: await openTap(base, 'status=error'),
    // Far apart: a loaded CI machine can stall a fast request by tens of milliseconds.
    slow: await openTap(base, 'min-latency=300ms'),
    outbound: await openTap(base, 'direction=outbound'),
    mine: await openTap(base, 'service=web&namespace=default'),
  };
  await Promise.all(Object.values(taps).map((t) => t.until((x) => x.hello() !== undefined)));
  const traffic: { method: string; path: string }[] = [
    { method: 'GET', path: '/api/a?status=200' },
    { method: 'POST', path: '/api/b?status=201' },
    { method: 'POST', path: '/web/c?status=503' },
    { method: 'GET', path: '/web/d?status=404' },
    { method: 'GET', path: '/api/slow?delay=400' },
    { method: 'PUT', path: '/apix?status=500' },
  ];
  for (const t of traffic) await send(s.port, t);
  await taps.all.until((t) => t.records().length === traffic.length, 10_000, 'all records');
  // Give the filtered taps the same chance to receive (they are flushed in the same turn).
  await new Promise((r) => setTimeout(r, 200));
  const paths = (k: keyof typeof taps): string[] => taps[k].records().map((r) => r.path);
  assert.deepEqual(paths('all'), ['/api/a', '/api/b', '/web/c', '/web/d', '/api/slow', '/apix']);
  assert.deepEqual(paths('post'), ['/api/b', '/web/c']);
  assert.deepEqual(paths('api'), ['/api/a', '/api/b', '/api/slow']);
  assert.deepEqual(paths('s5xx'), ['/web/c', '/apix']);
  assert.deepEqual(paths('s4xx'), ['/web/d']);
  assert.deepEqual(paths('error'), []);
  assert.deepEqual(paths('slow'), ['/api/slow']);
  assert.deepEqual(paths('outbound'), []);
  assert.deepEqual(paths('mine'), paths('all'));
  for (const t of Object.values(taps)) t.close();
});

void test('proxy errors are their own status class', async () => {
  const dead = await startApp(() => undefined);
  const port = dead.port;
  await dead.close(); // nothing listens there now: the sidecar answers 503 upstream_refused
  const s = await sidecar({}, { service: 'gone', namespace: 'default', pod: 'gone-0' }, { app: { host: '127.0.0.1', port } });
  const errors = await openTap(admin(s), 'status=error');
  const fives = await openTap(admin(s), 'status=5xx');
  await errors.until((t) => t.hello() !== undefined);
  const res = await send(s.port, { path: '/x' });
  assert.equal(res.status, 503);
  await errors.until((t) => t.records().length === 1);
  await fives.until((t) => t.records().length === 1);
  assert.equal(errors.records()[0]!.error, 'upstream_refused');
  errors.close();
  fives.close();
});

void test('bad filters, another service, other methods and too many taps are refused', async () => {
  const s = await sidecar({ maxClients: 2 });
  const base = admin(s);
  const bad = await openTap(base, 'status=7xx');
  assert.equal(bad.status, 400);
  assert.match(bad.text, /status must be one of/);
  assert.equal((await openTap(base, 'rate=0')).status, 400);
  const other = await openTap(base, 'service=reviews');
  assert.equal(other.status, 404);
  assert.match(other.text, /this sidecar is default\/web/);
  const post = await fetch(`${base}/tap`, { method: 'POST' });
  assert.equal(post.status, 405);
  const a = await openTap(base);
  const b = await openTap(base);
  const c = await openTap(base);
  assert.equal(a.status, 200);
  assert.equal(b.status, 200);
  assert.equal(c.status, 429);
  assert.equal(s.tap.clients, 2);
  a.close();
  await new Promise((r) => setTimeout(r, 100));
  const d = await openTap(base);
  assert.equal(d.status, 200, 'a slot frees when a tap leaves');
  b.close();
  d.close();
});

void test('headers: only with --tap-headers and headers=1, sensitive ones always redacted', async () => {
  const off = await sidecar();
  const tapOff = await openTap(admin(off), 'headers=1');
  await tapOff.until((t) => t.hello() !== undefined);
  assert.equal(tapOff.hello()!.headers, false);
  assert.match(tapOff.hello()!.notes.join(' '), /--tap-headers/);
  await send(off.port, { path: '/h', headers: { authorization: 'Bearer very-secret' } });
  await tapOff.until((t) => t.records().length === 1);
  assert.equal(tapOff.records()[0]!.requestHeaders, undefined);
  tapOff.close();

  const on = await sidecar({ allowHeaders: true, redactHeaders: ['X-Api-Key'] });
  const plain = await openTap(admin(on));
  const withHeaders = await openTap(admin(on), 'headers=1');
  await withHeaders.until((t) => t.hello() !== undefined);
  assert.equal(withHeaders.hello()!.headers, true);
  await send(on.port, {
    path: '/h',
    headers: { authorization: 'Bearer very-secret', cookie: 'sid=abc', 'x-api-key': 'key-123', 'proxy-authorization': 'Basic eA==', 'x-visible': 'hello' },
  });
  await withHeaders.until((t) => t.records().length === 1);
  await plain.until((t) => t.records().length === 1);
  const r = withHeaders.records()[0]!;
  assert.equal(r.requestHeaders!.authorization, '[redacted]');
  assert.equal(r.requestHeaders!.cookie, '[redacted]');
  assert.equal(r.requestHeaders!['x-api-key'], '[redacted]');
  assert.equal(r.requestHeaders!['x-visible'], 'hello');
  assert.equal(r.responseHeaders!['set-cookie'], '[redacted]');
  assert.equal(r.responseHeaders!['x-app'], 'yes');
  const text = JSON.stringify(withHeaders.events);
  for (const secret of ['very-secret', 'sid=abc', 'key-123', 'secret-session', 'eA==']) assert.ok(!text.includes(secret), `${secret} leaked`);
  assert.equal(plain.records()[0]!.requestHeaders, undefined, 'a tap that did not ask gets no headers');
  plain.close();
  withHeaders.close();
});

void test('bodies: only with --tap-bodies, bodies=1 and the token; capped; JSON fields redacted', async () => {
  // Without a token on the sidecar: never bodies (and the tap is open, like /metrics).
  const open = await sidecar({ allowBodies: true });
  const tapOpen = await openTap(admin(open), 'bodies=1');
  await tapOpen.until((t) => t.hello() !== undefined);
  assert.equal(tapOpen.hello()!.bodies, false);
  assert.match(tapOpen.hello()!.notes.join(' '), /token/);
  await send(open.port, { method: 'POST', path: '/echo', body: 'secret body' });
  await tapOpen.until((t) => t.records().length === 1);
  assert.equal(tapOpen.records()[0]!.requestBody, undefined);
  tapOpen.close();

  const s = await sidecar({ token: TOKEN, allowBodies: true, bodyBytes: 100, redactFields: ['password', 'card'] });
  const base = admin(s);
  const noToken = await openTap(base, 'bodies=1');
  assert.equal(noToken.status, 401);
  assert.equal(noToken.headers['www-authenticate'], 'Bearer realm="skiff"');
  assert.equal((await openTap(base, '', { token: 'wrong' })).status, 401);
  const notAsked = await openTap(base, '', { token: TOKEN });
  const tap = await openTap(base, 'bodies=1', { token: TOKEN });
  assert.equal(tap.status, 200);
  await tap.until((t) => t.hello() !== undefined);
  assert.equal(tap.hello()!.bodies, true);

  const json = JSON.stringify({ user: 'ann', password: 'hunter2', nested: { card: '4111-1111' }, note: 'fine' });
  await send(s.port, { method: 'POST', path: '/echo', headers: { 'content-type': 'application/json' }, body: json });
  const long = '{"user":"bob","items":[1,2,3],"filler":"' + 'y'.repeat(40) + '","password":"cut-off-secret-value"}';
  await send(s.port, { method: 'POST', path: '/echo', headers: { 'content-type': 'application/json' }, body: long });
  await send(s.port, { method: 'POST', path: '/echo', headers: { 'content-type': 'text/plain' }, body: 'z'.repeat(200) });
  await send(s.port, { method: 'POST', path: '/echo', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from([0xff, 0xfe, 0x00, 0x01]) });
  await tap.until((t) => t.records().length === 4);
  const [a, b, c, d] = tap.records();
  assert.deepEqual(a!.requestBody, { encoding: 'utf8', text: '{"user":"ann","password":"[redacted]","nested":{"card":"[redacted]"},"note":"fine"}', bytes: json.length, truncated: false, redacted: true });
  assert.equal(a!.responseBody!.text, a!.requestBody?.text, 'the echoed response is redacted the same way');
  assert.equal(b!.requestBody!.bytes, 100);
  assert.equal(b!.requestBody!.truncated, true);
  assert.ok(long.slice(0, 100).includes('"password":"cut'), 'the cap cuts inside the secret');
  assert.equal(b!.requestBody!.text, long.slice(0, long.indexOf('"password":') + 11) + '"[redacted]"');
  assert.deepEqual(c!.requestBody, { encoding: 'utf8', text: 'z'.repeat(100), bytes: 100, truncated: true });
  assert.equal(d!.requestBody!.withheld, 'binary: fields cannot be redacted');
  const all = JSON.stringify(tap.events);
  for (const secret of ['hunter2', '4111', 'cut-off']) assert.ok(!all.includes(secret), `${secret} leaked`);
  assert.equal(a!.requestHeaders, undefined, 'content type is read for bodies, headers are still not shown');
  await notAsked.until((t) => t.records().length === 4);
  assert.equal(notAsked.records()[0]!.requestBody, undefined);
  tap.close();
  notAsked.close();
});

void test('the rate limit drops and counts what is over it; metrics count drops', async () => {
  const s = await sidecar();
  const tap = await openTap(admin(s), 'rate=5');
  await tap.until((t) => t.hello()?.rate === 5);
  const n = 40;
  for (let i = 0; i < n; i++) await send(s.port, { path: `/r/${i}` });
  const delivered = (t: typeof tap): number => t.records().length + t.dropped().reduce((sum, d) => sum + d.count, 0);
  await tap.until((t) => delivered(t) === n, 10_000, 'records plus dropped = sent');
  const kept = tap.records().length;
  assert.ok(kept >= 5 && kept < n, `kept ${kept}`);
  assert.ok(tap.dropped().every((d) => d.reason === 'rate'));
  assert.equal(tap.dropped().at(-1)!.total, n - kept);
  assert.equal(s.tap.dropped.rate, n - kept);
  const metrics = s.recorder.metrics();
  assert.match(metrics, new RegExp(`^skiff_tap_records_dropped_total\\{service="web",namespace="default",reason="rate"\\} ${n - kept}$`, 'm'));
  assert.match(metrics, /^skiff_tap_clients\{service="web",namespace="default"\} 1$/m);
  tap.close();
});

void test('with no tap attached the proxy collects no headers or bodies', async () => {
  const s = await sidecar({ token: TOKEN, allowHeaders: true, allowBodies: true });
  assert.equal(s.recorder.wantsHeaders, false);
  assert.equal(s.recorder.wantsBodies, 0);
  const tap = await openTap(admin(s), 'headers=1&bodies=1', { token: TOKEN });
  await tap.until((t) => t.hello() !== undefined);
  assert.equal(s.recorder.wantsHeaders, true);
  assert.equal(s.recorder.wantsBodies, 4096);
  tap.close();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(s.recorder.wantsHeaders, false);
  assert.equal(s.recorder.wantsBodies, 0);
  assert.equal(s.tap.clients, 0);
});
