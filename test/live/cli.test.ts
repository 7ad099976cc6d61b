// `skiff tap` and `skiff top` as a user runs them (node bin/skiff.ts), against a real sidecar's
// admin port and against the dashboard's fan-out, with real traffic.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { NODE, SKIFF, runSkiff, runSkiffToEnd } from '../helpers/process.ts';
import { rawExchange, waitFor } from '../helpers/sidecar.ts';
import { send, startApp, startTapFront, startTappedSidecar } from './helpers.ts';
import type { TappedSidecar } from './helpers.ts';
import type { TapRecord } from '../../src/live/record.ts';

const TOKEN = 'cli-token';
let app: Awaited<ReturnType<typeof startApp>>;
let open: TappedSidecar; // no token: open tap
let locked: TappedSidecar; // with a token
let front: Awaited<ReturnType<typeof startTapFront>>;

before(async () => {
  app = await startApp((req, res) => {
    req.resume();
    const url = new URL(req.url ?? '/', 'http://x');
    const status = Number(url.searchParams.get('status') ?? 200);
    const delay = Number(url.searchParams.get('delay') ?? 0);
    req.on('end', () => setTimeout(() => res.writeHead(status).end('hello'), delay));
  });
  open = await startTappedSidecar(app.port, {}, { service: 'web', namespace: 'default', pod: 'web-0' });
  locked = await startTappedSidecar(app.port, { token: TOKEN, allowHeaders: true }, { service: 'api', namespace: 'default', pod: 'api-0' });
  front = await startTapFront({ token: TOKEN, sidecars: () => [{ sidecarId: 'a', ...locked.identity, admin: `http://127.0.0.1:${locked.adminPort}`, lastSeen: Date.now() }] });
});

after(async () => {
  await front?.close();
  await open?.close();
  await locked?.close();
  await app?.close();
});

const ENV = { SKIFF_TOKEN: '', SKIFF_DASHBOARD: '' };

void test('tap --admin prints one JSON line per request and stops after --max', async () => {
  const run = runSkiff(['tap', '--admin', `127.0.0.1:${open.adminPort}`, '--max', '3', '-o', 'json'], { env: ENV });
  await waitFor(() => open.tap.clients === 1, 15_000, 'the CLI to attach');
  await send(open.port, { path: '/one' });
  await send(open.port, { method: 'POST', path: '/two?status=201', body: 'abc' });
  await send(open.port, { path: '/three?status=503' });
  await send(open.port, { path: '/four' });
  const { code } = await run.exited;
  assert.equal(code, 0, run.stderr());
  const lines = run.stdout().trim().split('\n');
  assert.equal(lines.length, 3);
  const recs = lines.map((l) => JSON.parse(l) as TapRecord);
  assert.deepEqual(recs.map((r) => [r.method, r.path, r.status, r.requestBytes, r.responseBytes]), [
    ['GET', '/one', 200, 0, 5],
    ['POST', '/two', 201, 3, 5],
    ['GET', '/three', 503, 0, 5],
  ]);
  assert.equal(run.stderr(), '');
});

void test('tap text lines, filters, and notes on stderr', async () => {
  const run = runSkiff(['tap', 'web', '--admin', `127.0.0.1:${open.adminPort}`, '--max', '2', '--status', '5xx', '--headers'], { env: ENV });
  await waitFor(() => open.tap.clients === 1, 15_000, 'the CLI to attach');
  await send(open.port, { path: '/fine' });
  await send(open.port, { path: '/bad/1?status=500', headers: { 'x-skiff-peer': 'gateway' } });
  await send(open.port, { path: '/fine2' });
  await send(open.port, { path: '/slow-bad?status=502&delay=30' });
  const { code } = await run.exited;
  assert.equal(code, 0, run.stderr());
  const lines = run.stdout().trim().split('\n');
  assert.equal(lines.length, 2, run.stdout());
  assert.match(lines[0]!, /^\d\d:\d\d:\d\d\.\d{3} web-0 inbound from=gateway GET \/bad\/1 500 [\d.]+m?s 0B→5B$/);
  assert.match(lines[1]!, /^\d\d:\d\d:\d\d\.\d{3} web-0 inbound GET \/slow-bad 502 \d+ms 0B→5B$/);
  assert.match(run.stderr(), /^skiff tap: note: headers are off on this sidecar \(start it with --tap-headers\)\n$/);
});

void test('header values with terminal escapes are printed harmless', async () => {
  const run = runSkiff(['tap', '--admin', `127.0.0.1:${locked.adminPort}`, '--max', '1', '--headers'], { env: { ...ENV, SKIFF_TOKEN: TOKEN } });
  await waitFor(() => locked.tap.clients === 1, 15_000, 'the CLI to attach');
  // Field values may carry obs-text (RFC 9110 §5.5): bytes ≥ 0x80, read as Latin-1. 0x9b is then
  // the C1 control CSI, which some terminals obey like ESC [.
  const raw = Buffer.concat([Buffer.from('GET /evil HTTP/1.1\r\nhost: x\r\nx-evil: a'), Buffer.from([0x9b]), Buffer.from('31mred\r\nconnection: close\r\n\r\n')]);
  await rawExchange(locked.port, raw);
  const { code } = await run.exited;
  assert.equal(code, 0, run.stderr());
  assert.ok(!/[\x00-\x09\x0b-\x1f\x7f-\x9f]/.test(run.stdout()), JSON.stringify(run.stdout()));
  assert.match(run.stdout(), /^ {2}> x-evil: a\\x9b31mred$/m);
});

void test('tap through the dashboard needs the token; with it, records arrive tagged', async () => {
  const noToken = await runSkiffToEnd(['tap', 'api', '--dashboard', front.url, '--max', '1'], { env: ENV });
  assert.equal(noToken.code, 1);
  assert.equal(noToken.stderr, `skiff tap: the dashboard at ${front.url} needs a token: set SKIFF_TOKEN (401)\n`);
  const wrong = await runSkiffToEnd(['tap', 'api', '--dashboard', front.url, '--max', '1'], { env: { ...ENV, SKIFF_TOKEN: 'nope' } });
  assert.equal(wrong.code, 1);
  assert.equal(wrong.stderr, `skiff tap: the dashboard at ${front.url} refused the token in SKIFF_TOKEN (401)\n`);

  const run = runSkiff(['tap', 'api', '--max', '2', '-o', 'json', '--headers'], { env: { SKIFF_TOKEN: TOKEN, SKIFF_DASHBOARD: front.url } });
  await waitFor(() => locked.tap.clients === 1, 15_000, 'the fan-out to attach');
  await send(locked.port, { path: '/x', headers: { cookie: 'session=secret' } });
  await send(locked.port, { path: '/y' });
  const { code } = await run.exited;
  assert.equal(code, 0, run.stderr());
  const recs = run.stdout().trim().split('\n').map((l) => JSON.parse(l) as TapRecord);
  assert.deepEqual(recs.map((r) => `${r.pod} ${r.path}`), ['api-0 /x', 'api-0 /y']);
  assert.equal(recs[0]!.requestHeaders?.cookie, '[redacted]');
});

void test('errors are one line: unreachable (1), bad usage (2)', async () => {
  const down = await runSkiffToEnd(['tap', '--dashboard', 'http://127.0.0.1:1'], { env: ENV });
  assert.equal(down.code, 1);
  assert.equal(down.stderr, 'skiff tap: cannot reach the dashboard at http://127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1\n');
  const adminDown = await runSkiffToEnd(['top', '--admin', '127.0.0.1:1'], { env: ENV });
  assert.equal(adminDown.code, 1);
  assert.equal(adminDown.stderr, 'skiff top: cannot reach the sidecar at 127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1\n');
  const wrongService = await runSkiffToEnd(['tap', 'reviews', '--admin', `127.0.0.1:${open.adminPort}`], { env: ENV });
  assert.equal(wrongService.code, 1);
  assert.match(wrongService.stderr, /^skiff tap: the sidecar at 127\.0\.0\.1:\d+ answered 404: this sidecar is default\/web \(pod web-0\): no such service or pod here\n$/);
  for (const args of [['tap', '--status', '6xx'], ['tap', '-o', 'yaml'], ['tap', 'a', 'b'], ['top', '--max', '0'], ['tap', '--dashboard', 'ftp://x'], ['tap', '--min-latency', 'soon']]) {
    const r = await runSkiffToEnd(args, { env: ENV });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.split('\n').filter(Boolean).length, 2, r.stderr); // the reason, and where to find usage
  }
  for (const cmd of ['tap', 'top', 'stat']) {
    const help = await runSkiffToEnd([cmd, '--help'], { env: ENV });
    assert.equal(help.code, 0);
    assert.match(help.stdout, new RegExp(`^Usage: skiff ${cmd} \\[SERVICE\\] \\[options\\]`));
  }
});

void test('top counts a known traffic mix: counts, success rates, latency percentiles', async () => {
  const total = 30 + 10 + 5;
  const run = runSkiff(['top', '--admin', `127.0.0.1:${open.adminPort}`, '--max', String(total), '--interval', '10s'], { env: ENV });
  await waitFor(() => open.tap.clients === 1, 15_000, 'top to attach');
  for (let i = 0; i < 30; i++) await send(open.port, { path: `/users/${i}` });
  for (let i = 0; i < 10; i++) await send(open.port, { method: 'POST', path: `/orders?status=${i % 2 === 0 ? 500 : 201}` });
  for (let i = 0; i < 5; i++) await send(open.port, { path: '/slow?delay=150' });
  const { code } = await run.exited;
  assert.equal(code, 0, run.stderr());
  const out = run.stdout();
  const lines = out.trim().split('\n');
  assert.match(lines[0]!, /^skiff top: the mesh via the sidecar at 127\.0\.0\.1:\d+: 45 requests \(/);
  assert.deepEqual(lines[1]!.split(/\s+/), ['DIRECTION', 'METHOD', 'ROUTE', 'COUNT', 'RPS', 'SUCCESS', 'P50', 'P99']);
  const rows = lines.slice(2).map((l) => l.split(/\s+/));
  assert.deepEqual(rows.map((r) => r.slice(0, 4)), [
    ['inbound', 'GET', '/users/{id}', '30'],
    ['inbound', 'POST', '/orders', '10'],
    ['inbound', 'GET', '/slow', '5'],
  ]);
  assert.equal(rows[0]![5], '100%');
  assert.equal(rows[1]![5], '50.0%');
  assert.equal(rows[2]![5], '100%');
  const ms = (s: string): number => (s.endsWith('ms') ? Number(s.slice(0, -2)) : Number(s.slice(0, -1)) * 1000);
  assert.ok(ms(rows[2]![6]!) >= 145 && ms(rows[2]![6]!) < 1000, `p50 of /slow: ${rows[2]![6]}`);
  assert.ok(ms(rows[0]![6]!) < ms(rows[2]![6]!), 'the fast route is faster');
  assert.ok(ms(rows[0]![7]!) >= ms(rows[0]![6]!), 'p99 ≥ p50');
});

void test('top in a terminal redraws in place on the alternate screen and leaves it on exit', { skip: !existsSync('/usr/bin/script') && 'util-linux script(1) is needed for a pseudo-terminal' }, async () => {
  // script(1) runs the command on a pseudo-terminal, so stdout.isTTY is true as in a real terminal.
  const cmd = [NODE, SKIFF, 'top', '--admin', `127.0.0.1:${open.adminPort}`, '--duration', '3s', '--interval', '200ms'].map((a) => `'${a}'`).join(' ');
  const child = spawn('/usr/bin/script', ['-qfec', cmd, '/dev/null'], { env: { ...process.env, ...ENV, TERM: 'xterm', COLUMNS: '120', LINES: '30' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  await waitFor(() => open.tap.clients === 1, 15_000, 'top to attach');
  for (let i = 0; i < 4; i++) await send(open.port, { path: `/tty/${i}` });
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(code, 0, out);
  const altOn = out.indexOf('\x1b[?1049h');
  const altOff = out.indexOf('\x1b[?1049l');
  assert.ok(altOn !== -1 && altOff > altOn, 'enters and leaves the alternate screen');
  assert.ok(out.slice(altOn, altOff).split('\x1b[H\x1b[2J').length > 3, 'redraws in place several times');
  assert.match(out.slice(altOff), /GET\s+\/tty\/\{id\}\s+4\s/, 'the final table stays on the normal screen');
});
