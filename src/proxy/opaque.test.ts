/**
 * Not HTTP? Pass it through: opaque TCP both ways (client-first and server-first, with no
 * detection stall), declared opaque ports, and WebSocket upgrades tunnelled and recorded as
 * one upgraded call with its bytes.
 */
import { test, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { startSidecar, waitFor } from '../../test/helpers/sidecar.ts';

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

function metric(text: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** Connects, writes `send` (if any), collects bytes until `expectBytes` arrived. */
function talk(port: number, send: Buffer | null, expectBytes: number): Promise<{ data: Buffer; firstByteMs: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let firstByteMs = -1;
    const chunks: Buffer[] = [];
    let n = 0;
    const s = net.connect(port, '127.0.0.1', () => {
      if (send) s.write(send);
    });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`timeout after ${n} bytes`));
    }, 5000);
    s.on('data', (c: Buffer) => {
      if (firstByteMs < 0) firstByteMs = performance.now() - started;
      chunks.push(c);
      n += c.length;
      if (n >= expectBytes) {
        clearTimeout(timer);
        s.end();
        resolve({ data: Buffer.concat(chunks), firstByteMs });
      }
    });
    s.on('error', reject);
  });
}

describe('opaque TCP', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  test('client-first binary protocol is relayed both ways and counted as opaque TCP', async () => {
    // An echo server that doubles every byte it receives.
    const app = net.createServer((s) => s.on('data', (c: Buffer) => s.write(Buffer.concat([c, c]))));
    const appPort = await listen(app);
    cleanup.push(() => void app.close());
    const sc = await startSidecar(appPort);
    cleanup.push(() => sc.close());
    const payload = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]);
    const { data } = await talk(sc.port, payload, payload.length * 2);
    assert.deepEqual(data, Buffer.concat([payload, payload]));
    await waitFor(() => sc.sidecar.connectionCount() === 0);
    const text = await sc.metrics();
    assert.equal(metric(text, 'skiff_tcp_connections_total', { protocol: 'opaque', direction: 'inbound' }), 1);
    assert.ok(metric(text, 'skiff_tcp_bytes_total', { protocol: 'opaque' }) >= payload.length * 3);
    assert.equal(sc.records.length, 0, 'no HTTP request was recorded');
  });

  test('server-speaks-first protocol: the greeting arrives without waiting for the client', async () => {
    // Like MySQL or SMTP: the server writes first; the client sends nothing until then.
    const app = net.createServer((s) => {
      s.write('220 smtp.example ESMTP ready\r\n');
      s.on('data', (c: Buffer) => {
        if (c.toString().startsWith('QUIT')) s.end('221 bye\r\n');
      });
    });
    const appPort = await listen(app);
    cleanup.push(() => void app.close());
    const sc = await startSidecar(appPort);
    cleanup.push(() => sc.close());
    const started = performance.now();
    const greeting = await talk(sc.port, null, '220 smtp.example ESMTP ready\r\n'.length);
    assert.equal(greeting.data.toString(), '220 smtp.example ESMTP ready\r\n');
    assert.ok(performance.now() - started < 1000, 'no detection stall');
    // A full conversation after the greeting: the client's QUIT starts with a method-like word.
    const convo = await new Promise<string>((resolve, reject) => {
      let got = '';
      const s = net.connect(sc.port, '127.0.0.1');
      s.on('data', (c: Buffer) => {
        got += c.toString();
        if (got.includes('220') && !got.includes('QUIT-SENT')) {
          got += 'QUIT-SENT';
          s.write('QUIT\r\n');
        }
      });
      s.on('end', () => resolve(got));
      s.on('error', reject);
    });
    assert.match(convo, /221 bye/);
  });

  test('a port declared opaque is relayed without HTTP parsing, even for HTTP-looking bytes', async () => {
    let received = '';
    const app = net.createServer((s) => {
      s.on('data', (c: Buffer) => {
        received += c.toString('latin1');
        if (received.includes('\r\n\r\n')) s.end('RAW-REPLY');
      });
    });
    const appPort = await listen(app);
    cleanup.push(() => void app.close());
    const sc = await startSidecar(appPort, { opaquePorts: new Set([appPort]) });
    cleanup.push(() => sc.close());
    // Invalid HTTP on purpose: an opaque port must pass it through untouched.
    const request = 'GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n';
    const { data } = await talk(sc.port, Buffer.from(request), 9);
    assert.equal(data.toString(), 'RAW-REPLY');
    assert.equal(received, request);
    assert.equal(sc.records.length, 0);
  });
});

/** A minimal WebSocket echo server (RFC 6455): enough for text frames under 126 bytes. */
function startWebSocketEcho(): Promise<{ port: number; close(): void }> {
  const server = http.createServer((_req, res) => res.end('not a websocket'));
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
    const key = String(req.headers['sec-websocket-key']);
    const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    let buf = Buffer.alloc(0);
    socket.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 6) {
        const opcode = buf[0]! & 0x0f;
        const len = buf[1]! & 0x7f;
        if (buf.length < 6 + len) return;
        const mask = buf.subarray(2, 6);
        const payload = Buffer.from(buf.subarray(6, 6 + len).map((b, i) => b ^ mask[i % 4]!));
        buf = buf.subarray(6 + len);
        if (opcode === 8) {
          socket.end(Buffer.from([0x88, 0]));
          return;
        }
        socket.write(Buffer.concat([Buffer.from([0x81, payload.length]), payload]));
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as net.AddressInfo).port,
        close: () => {
          server.closeAllConnections();
          server.close();
        },
      }),
    ),
  );
}

describe('WebSocket', () => {
  test('an upgraded connection is tunnelled both ways and recorded once with its bytes', async () => {
    const ws = await startWebSocketEcho();
    const sc = await startSidecar(ws.port);
    try {
      const messages: string[] = [];
      await new Promise<void>((resolve, reject) => {
        const client = new WebSocket(`ws://127.0.0.1:${sc.port}/chat/42`);
        client.onopen = () => {
          client.send('hello');
          client.send('world');
        };
        client.onmessage = (e: MessageEvent) => {
          messages.push(String(e.data));
          if (messages.length === 2) client.close();
        };
        client.onclose = () => resolve();
        client.onerror = () => reject(new Error('websocket error'));
      });
      assert.deepEqual(messages, ['hello', 'world']);
      await waitFor(() => sc.records.length === 1, 3000, 'the upgraded call to be recorded');
      const r = sc.records[0]!;
      assert.equal(r.upgraded, true);
      assert.equal(r.statusCode, 101);
      assert.equal(r.path, '/chat/42');
      // Two masked client frames of 5 bytes (11 bytes each) + a close frame; two 7-byte replies + close.
      assert.ok(r.requestBytes >= 22, `request bytes ${r.requestBytes}`);
      assert.ok(r.responseBytes >= 14, `response bytes ${r.responseBytes}`);
      const text = await sc.metrics();
      assert.equal(metric(text, 'skiff_requests_total', { status_code: '101', route: '/chat/{id}' }), 1);
    } finally {
      await sc.close();
      ws.close();
    }
  });
});
