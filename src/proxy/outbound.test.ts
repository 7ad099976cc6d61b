/**
 * The outbound side: an app calls other services through its sidecar, as an HTTP proxy
 * (absolute-form requests, CONNECT tunnels) or through declared upstream ports. Each call is
 * recorded as outbound with the destination as peer; the receiving sidecar records the caller.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { startSidecar, startHttpServer, waitFor } from '../../test/helpers/sidecar.ts';
import type { TestSidecar } from '../../test/helpers/sidecar.ts';

let reviewsApp: Awaited<ReturnType<typeof startHttpServer>>;
let reviews: TestSidecar;
let frontend: TestSidecar;
const seenHeaders: http.IncomingHttpHeaders[] = [];

before(async () => {
  reviewsApp = await startHttpServer((req, res) => {
    seenHeaders.push(req.headers);
    res.end(`reviews for ${req.url ?? ''}`);
  });
  reviews = await startSidecar(reviewsApp.port, { identity: { service: 'reviews', namespace: 'shop', pod: 'reviews-1' } });
  frontend = await startSidecar(1, {
    identity: { service: 'frontend', namespace: 'shop', pod: 'frontend-1' },
    outbound: { host: '127.0.0.1', port: 0 },
    resolve: new Map([['reviews', { host: '127.0.0.1', port: reviews.port }]]),
    upstreams: [{ name: 'reviews', listen: { host: '127.0.0.1', port: 0 }, target: { host: '127.0.0.1', port: reviews.port } }],
  });
});
after(async () => {
  await frontend.close();
  await reviews.close();
  await reviewsApp.close();
});

function viaProxy(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // What an HTTP_PROXY-aware client does: absolute-form request-target to the proxy.
    http
      .request({ host: '127.0.0.1', port: frontend.sidecar.outbound!.port, path: `http://reviews.shop.svc.cluster.local:9080${path}`, headers: { host: 'reviews.shop.svc.cluster.local:9080' } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject)
      .end();
  });
}

test('HTTP proxy mode: outbound recorded with the destination, inbound with the caller', async () => {
  const r = await viaProxy('/books/7');
  assert.equal(r.status, 200);
  assert.equal(r.body, 'reviews for /books/7', 'origin-form reached the app');
  await waitFor(() => frontend.records.length === 1 && reviews.records.length === 1);
  const out = frontend.records[0]!;
  assert.equal(out.direction, 'outbound');
  assert.equal(out.peer, 'reviews');
  assert.equal(out.statusCode, 200);
  const inb = reviews.records[0]!;
  assert.equal(inb.direction, 'inbound');
  assert.equal(inb.peer, 'frontend');
  assert.equal(seenHeaders.at(-1)!['x-skiff-peer'], undefined, 'the mesh header never reaches the app');
});

test('declared upstream port: plain HTTP to a local port reaches the named service', async () => {
  const port = frontend.sidecar.upstreams.get('reviews')!.port;
  const res = await fetch(`http://127.0.0.1:${port}/books/8`);
  assert.equal(await res.text(), 'reviews for /books/8');
  await waitFor(() => frontend.records.some((r) => r.path === '/books/8'));
  const out = frontend.records.find((r) => r.path === '/books/8')!;
  assert.equal(out.direction, 'outbound');
  assert.equal(out.peer, 'reviews');
  await waitFor(() => reviews.records.some((r) => r.path === '/books/8' && r.peer === 'frontend'));
});

test('CONNECT tunnels carrying plain HTTP (what fetch does with NODE_USE_ENV_PROXY) are recorded request by request', async () => {
  const before = frontend.records.length;
  const reply = await new Promise<string>((resolve, reject) => {
    const s = net.connect(frontend.sidecar.outbound!.port, '127.0.0.1');
    let got = '';
    s.write('CONNECT reviews:9080 HTTP/1.1\r\nHost: reviews:9080\r\n\r\n');
    s.on('data', (c: Buffer) => {
      got += c.toString();
      if (got === 'HTTP/1.1 200 Connection Established\r\n\r\n') {
        s.write('GET /tunnelled HTTP/1.1\r\nHost: reviews:9080\r\nConnection: close\r\n\r\n');
      }
    });
    s.on('end', () => resolve(got));
    s.on('error', reject);
  });
  assert.match(reply, /^HTTP\/1\.1 200 Connection Established\r\n\r\nHTTP\/1\.1 200 OK/);
  assert.match(reply, /reviews for \/tunnelled$/);
  await waitFor(() => frontend.records.length === before + 1);
  const r = frontend.records.at(-1)!;
  assert.equal(r.direction, 'outbound');
  assert.equal(r.peer, 'reviews');
  assert.equal(r.path, '/tunnelled');
  await waitFor(() => reviews.records.some((x) => x.path === '/tunnelled' && x.peer === 'frontend'));
});

test('CONNECT tunnels carrying TLS (or anything not HTTP) are relayed and counted as outbound TCP', async () => {
  // A TLS-speaking "server": it answers any bytes with a fixed blob.
  const tlsish = net.createServer((s) => s.on('data', () => s.end(Buffer.from([0x16, 0x03, 0x03, 0x00, 0x01, 0x02]))));
  await new Promise<void>((r) => tlsish.listen(0, '127.0.0.1', r));
  const port = (tlsish.address() as net.AddressInfo).port;
  try {
    const got = await new Promise<Buffer>((resolve, reject) => {
      const s = net.connect(frontend.sidecar.outbound!.port, '127.0.0.1');
      const chunks: Buffer[] = [];
      let established = false;
      s.write(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
      s.on('data', (c: Buffer) => {
        if (!established) {
          established = c.toString('latin1').startsWith('HTTP/1.1 200');
          s.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5])); // a ClientHello-like record
          return;
        }
        chunks.push(c);
      });
      s.on('end', () => resolve(Buffer.concat(chunks)));
      s.on('error', reject);
    });
    assert.deepEqual([...got], [0x16, 0x03, 0x03, 0x00, 0x01, 0x02]);
    // TCP series are recorded when the connection closes.
    const want = /skiff_tcp_connections_total\{[^\n]*direction="outbound",peer="127\.0\.0\.1",protocol="opaque"\} 1/;
    let text = '';
    for (let i = 0; i < 100 && !want.test(text); i++) {
      text = await frontend.metrics();
      if (!want.test(text)) await new Promise((r) => setTimeout(r, 20));
    }
    assert.match(text, want);
  } finally {
    tlsish.close();
  }
});

test('an unreachable destination gives 503 upstream_refused to the app', async () => {
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    http
      .request({ host: '127.0.0.1', port: frontend.sidecar.outbound!.port, path: 'http://127.0.0.1:1/x', headers: { host: '127.0.0.1:1' } }, resolve)
      .on('error', reject)
      .end();
  });
  res.resume();
  assert.equal(res.statusCode, 503);
  assert.equal(res.headers['x-skiff-error'], 'upstream_refused');
});
