/**
 * Reads land in buffers shared between connections (read-buffers.ts). Whatever the relay keeps
 * past a read — a partial head, a pipelined request, a write the kernel has not taken yet —
 * must never be overwritten by another connection's read. These tests interleave two
 * connections so that a second read happens while the first one's bytes are still held.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { ReadRegion, readDirect } from './read-buffers.ts';
import { startHttpServer, startSidecar } from '../../test/helpers/sidecar.ts';
import { RawClient, answerHeads, sleep, startRawApp } from '../../test/helpers/raw.ts';
import type { RawAppConnection } from '../../test/helpers/raw.ts';

test('a partial response head held by one connection survives another connection’s read', async () => {
  const partA = 'HTTP/1.1 201 Created\r\nx-a: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
  const restA = '\r\ncontent-length: 5\r\n\r\nAAAAA';
  let connA: RawAppConnection | null = null;
  const app = await startRawApp((conn) => {
    const text = conn.received.toString('latin1');
    if (!text.endsWith('\r\n\r\n')) return;
    if (text.includes('GET /a ')) {
      connA = conn;
      conn.socket.write(partA);
    } else conn.socket.write('HTTP/1.1 202 Accepted\r\ncontent-length: 5\r\nx-b: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n\r\nBBBBB');
  });
  const sc = await startSidecar(app.port);
  try {
    // Both client connections (and so both upstream connections) exist before any byte moves.
    const a = await RawClient.connect(sc.port);
    const b = await RawClient.connect(sc.port);
    await sleep(50);
    await a.write('GET /a HTTP/1.1\r\nHost: a\r\n\r\n');
    await sleep(100); // the sidecar has read A's partial head and holds it
    await b.write('GET /b HTTP/1.1\r\nHost: b\r\n\r\n');
    const rb = await b.read();
    assert.equal(rb.status, 202);
    assert.equal(rb.body, 'BBBBB');
    assert.ok(connA, 'the app saw request A');
    (connA as RawAppConnection).socket.write(restA);
    const ra = await a.read();
    assert.equal(ra.status, 201);
    assert.equal(ra.headers['x-a'], 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa');
    assert.equal(ra.body, 'AAAAA');
    a.destroy();
    b.destroy();
  } finally {
    await sc.close();
    await app.close();
  }
});

test('a partial request head held by one connection survives another connection’s read', async () => {
  const app = await startRawApp(answerHeads());
  const sc = await startSidecar(app.port);
  try {
    const a = await RawClient.connect(sc.port);
    const b = await RawClient.connect(sc.port);
    await sleep(50);
    await a.write('GET /a HTTP/1.1\r\nHost: a\r\nX-A: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa');
    await sleep(100);
    await b.write('GET /b HTTP/1.1\r\nHost: b\r\nX-B: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n\r\n');
    assert.equal((await b.read()).status, 200);
    await a.write('\r\n\r\n');
    assert.equal((await a.read()).status, 200);
    const seen = app.allReceived();
    assert.match(seen, /GET \/a HTTP\/1\.1\r\nHost: a\r\nX-A: a{30}\r\n/);
    assert.match(seen, /GET \/b HTTP\/1\.1\r\nHost: b\r\nX-B: b{45}\r\n/);
    a.destroy();
    b.destroy();
  } finally {
    await sc.close();
    await app.close();
  }
});

test('a pipelined request held while the first is answered survives other connections’ reads', async () => {
  let hold: RawAppConnection | null = null;
  const answer = answerHeads('ok\n');
  const app = await startRawApp((conn, chunk) => {
    // Hold the first answer on A's connection until the test releases it.
    if (conn.received.toString('latin1').includes('GET /first ') && hold === null) {
      hold = conn;
      return;
    }
    answer(conn, chunk);
  });
  const sc = await startSidecar(app.port);
  try {
    const a = await RawClient.connect(sc.port);
    const b = await RawClient.connect(sc.port);
    await sleep(50);
    await a.write('GET /first HTTP/1.1\r\nHost: a\r\n\r\nGET /second HTTP/1.1\r\nHost: a\r\nX-Second: 22222222222222222222\r\n\r\n');
    await sleep(100);
    for (let i = 0; i < 3; i++) {
      await b.write(`GET /other-${i} HTTP/1.1\r\nHost: b\r\nX-Other: ${'o'.repeat(60)}\r\n\r\n`);
      assert.equal((await b.read()).status, 200);
    }
    answer(hold as unknown as RawAppConnection, Buffer.alloc(0));
    assert.equal((await a.read()).status, 200);
    assert.equal((await a.read()).status, 200);
    assert.match(app.allReceived(), /GET \/second HTTP\/1\.1\r\nHost: a\r\nX-Second: 2{20}\r\n/);
    a.destroy();
    b.destroy();
  } finally {
    await sc.close();
    await app.close();
  }
});

test('accepted sockets are read directly on this Node (the fast path is taken), with end and pause working', async () => {
  const got: string[] = [];
  let direct = false;
  let ended = false;
  const server = net.createServer((socket) => {
    const region = new ReadRegion();
    direct = readDirect(socket, region, (n, buf) => {
      got.push(Buffer.from(buf.buffer, buf.byteOffset, n).toString('latin1'));
      if (got.length === 1) {
        // Paused: nothing more is read until resumed.
        socket.pause();
        setTimeout(() => socket.resume(), 100);
      }
      return true;
    });
    socket.on('end', () => {
      ended = true;
      socket.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const c = net.connect(port, '127.0.0.1');
  await new Promise((r) => c.once('connect', r));
  c.write('first');
  await sleep(30);
  c.write('second');
  await sleep(40);
  assert.equal(direct, true, 'readDirect must find the onread fields on the pinned Node (see read-buffers.ts)');
  assert.deepEqual(got, ['first'], 'a paused socket reads nothing');
  await sleep(100);
  assert.deepEqual(got, ['first', 'second']);
  c.end();
  await new Promise((r) => c.once('close', r));
  assert.equal(ended, true);
  server.close();
});

/** Writes `body` 1,500 bytes at a time, one piece per event-loop turn, then ends `out`. */
function sendInPieces(out: http.ClientRequest | http.ServerResponse, body: Buffer): void {
  let at = 0;
  const next = (): void => {
    if (at >= body.length) {
      out.end();
      return;
    }
    const piece = body.subarray(at, at + 1500);
    at += piece.length;
    if (out.write(piece)) setImmediate(next);
    else out.once('drain', next);
  };
  next();
}

test('an upload sent in small pieces to an app that stops reading arrives intact (writes queue below the high-water mark)', async () => {
  // The sidecar's reads are small; while the app is not reading, its writes to the app queue,
  // and a queue under the high-water mark does not pause the client: the next read must not
  // land on bytes that are still queued.
  const SIZE = 8 * 1024 * 1024;
  const body = randomBytes(SIZE);
  const app = await startHttpServer((req, res) => {
    const hash = createHash('sha256');
    req.pause();
    setTimeout(() => req.resume(), 300);
    req.on('data', (c: Buffer) => hash.update(c));
    req.on('end', () => res.end(hash.digest('hex')));
  });
  const sc = await startSidecar(app.port);
  try {
    const digest = await new Promise<string>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: sc.port, method: 'POST', path: '/up', agent: false, headers: { 'content-length': String(SIZE) } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      sendInPieces(req, body);
    });
    assert.equal(digest, createHash('sha256').update(body).digest('hex'));
  } finally {
    await sc.close();
    await app.close();
  }
});

test('a download sent in small pieces to a client that stops reading arrives intact', async () => {
  const SIZE = 8 * 1024 * 1024;
  const body = randomBytes(SIZE);
  const app = await startHttpServer((_req, res) => {
    res.writeHead(200, { 'content-length': String(SIZE) });
    sendInPieces(res, body);
  });
  const sc = await startSidecar(app.port);
  try {
    const digest = await new Promise<string>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: sc.port, path: '/down', agent: false }, (res) => {
          const hash = createHash('sha256');
          res.pause();
          setTimeout(() => res.resume(), 300);
          res.on('data', (c: Buffer) => hash.update(c));
          res.on('end', () => resolve(hash.digest('hex')));
        })
        .on('error', reject);
    });
    assert.equal(digest, createHash('sha256').update(body).digest('hex'));
  } finally {
    await sc.close();
    await app.close();
  }
});
