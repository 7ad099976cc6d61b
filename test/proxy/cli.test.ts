/**
 * `skiff proxy` as a user runs it: a real process, its flags and env, its errors and exit
 * codes, its identity defaults, and SIGTERM draining to exit 0.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startHttpServer } from '../helpers/sidecar.ts';
import { runSkiff, runSkiffToEnd, startProxyProcess } from '../helpers/process.ts';

const app = await startHttpServer((req, res) => {
  if (req.url === '/slow') setTimeout(() => res.end('slow done'), 400);
  else res.end('ok');
});
after(() => app.close());

test('--help prints every option with its env name, exit 0', async () => {
  const r = await runSkiffToEnd(['proxy', '--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /--listen HOST:PORT .*\[SKIFF_LISTEN\]/);
  assert.match(r.stdout, /--drain-timeout .*\[SKIFF_DRAIN_TIMEOUT\]/);
});

test('bad usage exits 2 with a one-line reason', async () => {
  const unknown = await runSkiffToEnd(['proxy', '--no-such-flag']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^skiff proxy: .*no-such-flag/);
  const bad = await runSkiffToEnd(['proxy', '--app', 'not-a-port']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--app: "not-a-port" is not HOST:PORT/);
  const env = await runSkiffToEnd(['proxy'], { env: { SKIFF_TIMEOUT: 'soon' } });
  assert.equal(env.code, 2);
  assert.match(env.stderr, /SKIFF_TIMEOUT.*not a duration/);
  const cmd = await runSkiffToEnd(['frobnicate']);
  assert.equal(cmd.code, 2);
  assert.match(cmd.stderr, /unknown command "frobnicate"/);
});

test('a port already in use is a one-line error, exit 1, no stack trace', async () => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const port = (blocker.address() as net.AddressInfo).port;
  try {
    const r = await runSkiffToEnd(['proxy', '--listen', `127.0.0.1:${port}`, '--admin', '127.0.0.1:0', '--app', `127.0.0.1:${app.port}`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot listen: .*EADDRINUSE/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  } finally {
    blocker.close();
  }
});

test('flags come from SKIFF_* env; identity defaults from the Downward API env and the pod name', async () => {
  const r = runSkiff(['proxy'], {
    env: {
      SKIFF_LISTEN: '127.0.0.1:0',
      SKIFF_ADMIN: '127.0.0.1:0',
      SKIFF_APP: `127.0.0.1:${app.port}`,
      SKIFF_SERVICE: undefined,
      POD_NAME: 'reviews-v1-7d9f8c6b5-x2x7k',
      POD_NAMESPACE: 'shop',
    },
  });
  try {
    const m = await r.waitForLine(/ready service=(\S+) namespace=(\S+) pod=(\S+) .*inbound=127\.0\.0\.1:(\d+)/);
    assert.equal(m[1], 'reviews-v1');
    assert.equal(m[2], 'shop');
    assert.equal(m[3], 'reviews-v1-7d9f8c6b5-x2x7k');
    const res = await fetch(`http://127.0.0.1:${m[4]!}/`);
    assert.equal(await res.text(), 'ok');
  } finally {
    r.kill('SIGKILL');
  }
});

test('SIGTERM: in-flight requests finish, then the process exits 0', async () => {
  const p = await startProxyProcess(app.port);
  const inflight = fetch(`http://127.0.0.1:${p.port}/slow`).then(async (r) => ({ status: r.status, body: await r.text(), connection: r.headers.get('connection') }));
  await new Promise((r) => setTimeout(r, 150));
  p.kill('SIGTERM');
  const res = await inflight;
  assert.equal(res.status, 200);
  assert.equal(res.body, 'slow done');
  assert.equal(res.connection, 'close');
  const exit = await p.exited;
  assert.equal(exit.code, 0);
  assert.match(p.stderr(), /draining signal=SIGTERM/);
  assert.match(p.stderr(), /drained/);
});

test('version', async () => {
  const r = await runSkiffToEnd(['version']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^skiff \d+\.\d+\.\d+ \(node v24\./);
});

test('doctor checks this machine and exits 0 when the required parts are there', async () => {
  const r = await runSkiffToEnd(['doctor']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^ok\s+node\s+v24\./m);
  assert.match(r.stdout, /loopback/);
  const bad = await runSkiffToEnd(['doctor', '--dashboard', 'http://127.0.0.1:1']);
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /FAIL\s+dashboard\s+unreachable/);
});

test('the admin port serves the live tap: each request through the sidecar appears as it happens', async () => {
  const p = await startProxyProcess(app.port);
  try {
    const ctl = new AbortController();
    const res = await fetch(`http://127.0.0.1:${p.adminPort}/tap`, { signal: ctl.signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    for (const path of ['/one', '/two/3']) await (await fetch(`http://127.0.0.1:${p.port}${path}`)).text();
    let text = '';
    const paths: string[] = [];
    while (paths.length < 2) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
      paths.splice(0, paths.length, ...[...text.matchAll(/^data: (.*)$/gm)].map((m) => (JSON.parse(m[1]!) as { path?: string }).path ?? '').filter(Boolean));
    }
    assert.deepEqual(paths, ['/one', '/two/3']);
    ctl.abort();
  } finally {
    p.kill('SIGKILL');
  }
});
