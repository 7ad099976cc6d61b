/**
 * The sidecar over real sockets: exact counts and bytes under keep-alive, proxy-made errors,
 * client aborts, readiness, and graceful drain. (HTTP conformance details and the hostile
 * corpus live in conformance.test.ts and hostile.test.ts; opaque TCP and upgrades in
 * opaque.test.ts.)
 */
import { test, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { startSidecar, startHttpServer, rawExchange, splitResponses, waitFor } from '../../test/helpers/sidecar.ts';
import type { TestSidecar } from '../../test/helpers/sidecar.ts';

function metricValue(text: string, name: string, match: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{(.*)\})? (.+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels = m[3] ?? '';
    if (Object.entries(match).every(([k, v]) => labels.includes(`${k}="${v}"`))) sum += Number(m[4]);
  }
  return sum;
}

describe('keep-alive traffic is counted exactly', () => {
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  test('1,000 keep-alive requests of varied sizes: exact count and byte totals in /metrics', async () => {
    const app = await startHttpServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const size = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('size'));
        res.end(Buffer.alloc(size, 'r'));
      });
    });
    cleanup.push(() => app.close());
    const sc = await startSidecar(app.port);
    cleanup.push(() => sc.close());
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    cleanup.push(() => Promise.resolve(agent.destroy()));
    let reqBytes = 0;
    let respBytes = 0;
    const one = (i: number): Promise<void> => {
      const up = (i * 7919) % 5000;
      const down = (i * 104729) % 20000;
      reqBytes += up;
      respBytes += down;
      return new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: sc.port, method: up ? 'POST' : 'GET', path: `/items/${i}?size=${down}`, agent }, (res) => {
          let got = 0;
          res.on('data', (c: Buffer) => (got += c.length));
          res.on('end', () => (got === down && res.statusCode === 200 ? resolve() : reject(new Error(`bad response ${res.statusCode} ${got}/${down}`))));
        });
        req.on('error', reject);
        req.end(up ? Buffer.alloc(up, 'q') : undefined);
      });
    };
    const queue = Array.from({ length: 1000 }, (_, i) => i);
    await Promise.all(Array.from({ length: 8 }, async () => {
      for (let i = queue.shift(); i !== undefined; i = queue.shift()) await one(i);
    }));
    const text = await sc.metrics();
    assert.equal(metricValue(text, 'skiff_requests_total', { direction: 'inbound' }), 1000);
    assert.equal(metricValue(text, 'skiff_request_bytes_sum'), reqBytes);
    assert.equal(metricValue(text, 'skiff_response_bytes_sum'), respBytes);
    assert.equal(metricValue(text, 'skiff_request_duration_seconds_count'), 1000);
    assert.equal(metricValue(text, 'skiff_requests_total', { route: '/items/{id}', status_code: '200' }), 1000);
    // Keep-alive on the client side: far fewer TCP connections than requests.
    assert.ok(metricValue(text, 'skiff_tcp_connections_total') <= 8, 'connections were reused');
  });
});

describe('proxy-made errors', () => {
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  test('app refuses the connection → 503 upstream_refused', async () => {
    const free = net.createServer();
    await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
    const port = (free.address() as net.AddressInfo).port;
    await new Promise<void>((r) => free.close(() => r()));
    const sc = await startSidecar(port);
    cleanup.push(() => sc.close());
    const res = await fetch(`http://127.0.0.1:${sc.port}/x`);
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('x-skiff-error'), 'upstream_refused');
    assert.match(await res.text(), /^skiff: .*refused.*\n$/);
    await waitFor(() => sc.records.length === 1);
    assert.equal(sc.records[0]!.error, 'upstream_refused');
    assert.equal(sc.records[0]!.statusCode, 503);
  });

  test('app too slow → 504 upstream_timeout, and the app sees the request cancelled', async () => {
    let appSawClose = false;
    const app = await startHttpServer((_req, res) => {
      res.on('close', () => (appSawClose = !res.writableFinished));
      setTimeout(() => res.end('late'), 3000).unref();
    });
    cleanup.push(() => app.close());
    const sc = await startSidecar(app.port, { limits: { maxHeaderBytes: 16384, maxHeaders: 100, headerTimeoutMs: 5000, idleTimeoutMs: 30000, responseTimeoutMs: 300 } });
    cleanup.push(() => sc.close());
    const started = Date.now();
    const res = await fetch(`http://127.0.0.1:${sc.port}/slow`);
    assert.equal(res.status, 504);
    assert.equal(res.headers.get('x-skiff-error'), 'upstream_timeout');
    assert.ok(Date.now() - started < 2500, 'answered at the timeout, not when the app answered');
    await waitFor(() => appSawClose, 3000, 'the app to see the cancelled request');
    assert.equal(sc.records.at(-1)!.error, 'upstream_timeout');
  });

  test('app resets before responding → 502 upstream_reset; the connection stays usable', async () => {
    let n = 0;
    const app = await startHttpServer((req, res) => {
      n++;
      if (req.url === '/reset') req.socket.destroy();
      else res.end('ok');
    });
    cleanup.push(() => app.close());
    const sc = await startSidecar(app.port);
    cleanup.push(() => sc.close());
    const raw = await rawExchange(sc.port, 'GET /reset HTTP/1.1\r\nHost: a\r\n\r\nGET /fine HTTP/1.1\r\nHost: a\r\n\r\n', {
      until: (s) => splitResponses(s).length === 2,
    });
    const [first, second] = splitResponses(raw);
    assert.equal(first!.status, 502);
    assert.equal(first!.headers['x-skiff-error'], 'upstream_reset');
    assert.equal(second!.status, 200);
    assert.equal(second!.body, 'ok');
    assert.ok(n >= 2);
  });

  test('app closes mid-response → the client connection is cut, not given a short body', async () => {
    const app = await startHttpServer((_req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('x'.repeat(100));
      setTimeout(() => res.socket?.destroy(), 50);
    });
    cleanup.push(() => app.close());
    const sc = await startSidecar(app.port);
    cleanup.push(() => sc.close());
    const res = await fetch(`http://127.0.0.1:${sc.port}/partial`);
    assert.equal(res.status, 200);
    await assert.rejects(res.text());
    await waitFor(() => sc.records.length === 1);
    assert.equal(sc.records[0]!.error, 'upstream_reset');
    assert.equal(sc.records[0]!.responseBytes, 100);
  });

  test('client goes away → client_abort, and the upstream request is cancelled', async () => {
    let appSawAbort = false;
    const app = await startHttpServer((req, res) => {
      res.on('close', () => (appSawAbort = !res.writableFinished));
      setTimeout(() => res.end('late'), 5000).unref();
    });
    cleanup.push(() => app.close());
    const sc = await startSidecar(app.port);
    cleanup.push(() => sc.close());
    const socket = net.connect(sc.port, '127.0.0.1');
    socket.write('GET /wait HTTP/1.1\r\nHost: a\r\n\r\n');
    await waitFor(() => app.server.listenerCount('request') > 0 && sc.sidecar.connectionCount() === 1);
    await new Promise((r) => setTimeout(r, 100));
    socket.destroy();
    await waitFor(() => appSawAbort, 3000, 'the app to see the abort');
    await waitFor(() => sc.records.length === 1);
    assert.equal(sc.records[0]!.error, 'client_abort');
    assert.equal(sc.records[0]!.statusCode, 0);
  });

  test('a stale keep-alive connection closed by the app is retried once, invisibly', async () => {
    // The app closes every idle keep-alive connection after 100 ms.
    const app = await startHttpServer((_req, res) => res.end('ok'));
    app.server.keepAliveTimeout = 100;
    cleanup.push(() => app.close());
    const sc = await startSidecar(app.port);
    cleanup.push(() => sc.close());
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = (): Promise<number> =>
      new Promise((resolve, reject) => {
        http.get({ host: '127.0.0.1', port: sc.port, path: '/', agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        }).on('error', reject);
      });
    for (let i = 0; i < 5; i++) {
      assert.equal(await get(), 200);
      await new Promise((r) => setTimeout(r, 90 + i * 5));
    }
    agent.destroy();
    assert.ok(sc.records.every((r) => r.statusCode === 200));
  });
});

describe('readiness and drain', () => {
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  test('/livez, and /readyz follows the app', async () => {
    const app = await startHttpServer((_req, res) => res.end('ok'));
    const sc = await startSidecar(app.port);
    cleanup.push(() => sc.close());
    const admin = `http://127.0.0.1:${sc.adminPort}`;
    assert.equal((await fetch(`${admin}/livez`)).status, 200);
    assert.equal((await fetch(`${admin}/readyz`)).status, 200);
    await app.close();
    const r = await fetch(`${admin}/readyz`);
    assert.equal(r.status, 503);
    assert.match(await r.text(), /not accepting/);
    assert.equal((await fetch(`${admin}/livez`)).status, 200);
  });

  test('drain: in-flight requests finish with Connection: close, idle connections close, new ones are refused', async () => {
    const app = await startHttpServer((req, res) => {
      setTimeout(() => res.end(`done ${req.url ?? ''}`), 300);
    });
    cleanup.push(() => app.close());
    const sc: TestSidecar = await startSidecar(app.port);
    cleanup.push(() => sc.close());
    const idle = net.connect(sc.port, '127.0.0.1');
    let idleClosed = false;
    idle.on('close', () => (idleClosed = true));
    idle.on('error', () => undefined);
    const inflight = Array.from({ length: 5 }, (_, i) =>
      rawExchange(sc.port, `GET /r${i} HTTP/1.1\r\nHost: a\r\n\r\n`, { timeoutMs: 5000 }),
    );
    await waitFor(() => sc.sidecar.connectionCount() === 6);
    await new Promise((r) => setTimeout(r, 50));
    const drained = sc.sidecar.drain(5000);
    const ready = await fetch(`http://127.0.0.1:${sc.adminPort}/readyz`).catch(() => null);
    if (ready) assert.equal(ready.status, 503);
    const results = await Promise.all(inflight);
    for (const [i, raw] of results.entries()) {
      const [resp] = splitResponses(raw);
      assert.equal(resp?.status, 200, `request ${i} finished`);
      assert.equal(resp?.headers.connection, 'close');
      assert.equal(resp?.body, `done /r${i}`);
    }
    assert.equal(await drained, 'drained');
    assert.ok(idleClosed, 'the idle connection was closed');
    await assert.rejects(fetch(`http://127.0.0.1:${sc.port}/new`));
    assert.equal(sc.records.filter((r) => r.statusCode === 200).length, 5);
  });
});

describe('body sampling for taps', () => {
  test('off by default; while a tap asks, the first N body bytes are kept (chunked decoded), capped', async () => {
    const app = await startHttpServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.write('response-part-one;');
        res.end('response-part-two');
      });
    });
    const sc = await startSidecar(app.port);
    try {
      await fetch(`http://127.0.0.1:${sc.port}/a`, { method: 'POST', body: 'hello request body' });
      await waitFor(() => sc.records.length === 1);
      assert.equal(sc.records[0]!.requestBody, undefined, 'no sampling without a tap');
      const sampled: { req: string; res: string }[] = [];
      const detach = sc.recorder.onRequest((r) => sampled.push({ req: r.requestBody?.toString() ?? '', res: r.responseBody?.toString() ?? '' }), { bodyBytes: 10 });
      // A chunked request (a stream body) and a chunked response.
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new TextEncoder().encode('chunk-one;'));
          c.enqueue(new TextEncoder().encode('chunk-two'));
          c.close();
        },
      });
      await (await fetch(`http://127.0.0.1:${sc.port}/b`, { method: 'POST', body: stream, duplex: 'half' })).text();
      await waitFor(() => sampled.length === 1);
      assert.deepEqual(sampled[0], { req: 'chunk-one;', res: 'response-p' });
      detach();
      assert.equal(sc.recorder.wantsBodies, 0);
    } finally {
      await sc.close();
      await app.close();
    }
  });
});
