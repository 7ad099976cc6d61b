/**
 * HTTP/1.1 conformance of the sidecar over real sockets: a byte-exact client (RawClient) on
 * one side, a real node:http app (or a raw `net` app where the test needs control of the
 * response bytes) on the other. What the client sees is read message by message with a strict
 * parser (test/helpers/raw.ts), so framing mistakes fail here rather than being smoothed over
 * by a lenient client library.
 *
 * RFC references: RFC 9110 (semantics), RFC 9112 (HTTP/1.1 messages).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { startSidecar, startHttpServer, waitFor } from '../../test/helpers/sidecar.ts';
import type { TestSidecar } from '../../test/helpers/sidecar.ts';
import { RawClient, startRawApp, sleep } from '../../test/helpers/raw.ts';
import type { ParsedResponse, RawApp, RawAppConnection } from '../../test/helpers/raw.ts';

/** What the app saw of one request. */
interface Seen {
  method: string;
  url: string;
  version: string;
  /** [name, value] pairs as received by the app. */
  fields: [string, string][];
  remotePort: number;
  body: string;
  trailers: Record<string, string>;
}

const seen: Seen[] = [];
/** Per-test hooks for the streaming routes. */
const hooks = {
  firstRequestBytes: (): void => undefined,
  clientGotFirst: Promise.resolve(),
};

function fieldsOf(raw: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

function appHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://app');
  const entry: Seen = { method: req.method ?? '', url: req.url ?? '', version: req.httpVersion, fields: fieldsOf(req.rawHeaders), remotePort: req.socket.remotePort ?? 0, body: '', trailers: {} };
  seen.push(entry);
  const chunks: Buffer[] = [];
  let first = true;
  req.on('data', (c: Buffer) => {
    chunks.push(c);
    if (first && url.pathname === '/stream-in') hooks.firstRequestBytes();
    first = false;
  });
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    entry.body = body.toString('latin1');
    for (const [k, v] of Object.entries(req.trailers)) if (v !== undefined) entry.trailers[k] = v;
    const info = JSON.stringify({ remotePort: entry.remotePort, url: entry.url, fields: entry.fields, trailers: entry.trailers });
    switch (url.pathname) {
      case '/echo':
        res.end(body);
        return;
      case '/echo-chunked': {
        // No Content-Length: node:http sends chunked to an HTTP/1.1 peer.
        const half = Math.floor(body.length / 2);
        res.write(body.subarray(0, half));
        res.end(body.subarray(half));
        return;
      }
      case '/stream-in':
        res.end(JSON.stringify({ bytes: body.length, sha: createHash('sha256').update(body).digest('hex') }));
        return;
      case '/stream-out': {
        const size = Number(url.searchParams.get('size'));
        const chunked = url.searchParams.get('framing') === 'chunked';
        res.writeHead(200, chunked ? {} : { 'content-length': String(size * 2) });
        res.write(Buffer.alloc(size, 'a'));
        // The second half only after the client has received bytes of the first: proves the
        // sidecar relays the response as it comes rather than buffering it whole.
        void hooks.clientGotFirst.then(() => res.end(Buffer.alloc(size, 'b')));
        return;
      }
      case '/head':
        // Explicit: node:http omits the length of a HEAD response unless it is set.
        res.setHeader('content-length', '5');
        res.end(req.method === 'HEAD' ? undefined : 'hello');
        return;
      case '/status': {
        const code = Number(url.searchParams.get('code'));
        res.writeHead(code, code === 304 ? { etag: '"v1"' } : {});
        res.end();
        return;
      }
      case '/hints':
        res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' }, () => res.end('final'));
        return;
      case '/close':
        res.setHeader('connection', 'close');
        res.end(info);
        return;
      case '/slow':
        setTimeout(() => res.end('slow'), Number(url.searchParams.get('ms') ?? 50));
        return;
      case '/trailers':
        res.writeHead(200, { trailer: 'x-checksum' });
        res.write('abc');
        res.addTrailers({ 'x-checksum': 'sum-of-abc' });
        res.end('def');
        return;
      default:
        res.end(info);
    }
  });
}

function infoOf(r: ParsedResponse): { remotePort: number; url: string; fields: [string, string][]; trailers: Record<string, string> } {
  assert.equal(r.status, 200, `status ${r.status}: ${r.body.slice(0, 200)}`);
  return JSON.parse(r.body) as { remotePort: number; url: string; fields: [string, string][]; trailers: Record<string, string> };
}

function names(fields: [string, string][]): string[] {
  return fields.map(([n]) => n.toLowerCase());
}

function valuesOf(fields: [string, string][], name: string): string[] {
  return fields.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
}

let app: Awaited<ReturnType<typeof startHttpServer>>;
let sc: TestSidecar;
const clients: RawClient[] = [];
const cleanup: (() => Promise<void>)[] = [];

async function client(port = sc.port): Promise<RawClient> {
  const c = await RawClient.connect(port);
  clients.push(c);
  return c;
}

before(async () => {
  app = await startHttpServer(appHandler);
  sc = await startSidecar(app.port);
});

after(async () => {
  for (const c of clients) c.destroy();
  for (const c of cleanup.reverse()) await c();
  await sc.close();
  await app.close();
});

void describe('keep-alive on both sides', () => {
  void test('requests on one client connection reach the app on one upstream connection', async () => {
    const recordsBefore = sc.records.length;
    const c = await client();
    const ports: number[] = [];
    for (let i = 0; i < 5; i++) {
      await c.write(`GET /info?i=${i} HTTP/1.1\r\nHost: app\r\n\r\n`);
      const r = await c.read();
      assert.equal(r.headers.connection, undefined, 'no Connection: close on a keep-alive exchange');
      ports.push(infoOf(r).remotePort);
    }
    assert.equal(new Set(ports).size, 1, `upstream ports ${ports.join(',')}`);
    assert.equal(c.ended, false);
    await waitFor(() => sc.records.length === recordsBefore + 5, 5000, 'five records');
    assert.deepEqual(
      sc.records.slice(recordsBefore).map((r) => [r.statusCode, r.error, r.path]),
      [0, 1, 2, 3, 4].map(() => [200, '', '/info']),
    );
  });

  void test('a later client connection reuses the pooled upstream connection', async () => {
    const a = await client();
    await a.write('GET /info HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n');
    const ra = await a.read();
    assert.equal(ra.headers.connection, 'close');
    const portA = infoOf(ra).remotePort;
    await a.waitEnded();
    const b = await client();
    await b.write('GET /info HTTP/1.1\r\nHost: app\r\n\r\n');
    assert.equal(infoOf(await b.read()).remotePort, portA);
  });

  void test("the app's Connection: close ends that upstream connection only; the client's stays open", async () => {
    const c = await client();
    await c.write('GET /info HTTP/1.1\r\nHost: app\r\n\r\n');
    const p1 = infoOf(await c.read()).remotePort;
    await c.write('GET /close HTTP/1.1\r\nHost: app\r\n\r\n');
    const rc = await c.read();
    assert.equal(infoOf(rc).remotePort, p1);
    // Connection is hop-by-hop: the app closing its hop says nothing about the client's.
    assert.equal(rc.headers.connection, undefined);
    await c.write('GET /info HTTP/1.1\r\nHost: app\r\n\r\n');
    const p2 = infoOf(await c.read()).remotePort;
    assert.notEqual(p2, p1, 'a new upstream connection after the app closed the old one');
    assert.equal(c.ended, false);
  });
});

void describe('bodies, streamed both ways', () => {
  for (const framing of ['length', 'chunked'] as const) {
    void test(`a ${framing} request body is relayed while it arrives, byte-exact`, async () => {
      const part = Buffer.alloc(256 * 1024);
      for (let i = 0; i < part.length; i++) part[i] = (i * 31) & 0xff;
      const whole = Buffer.concat([part, part.reverse()]);
      const firstArrived = new Promise<void>((r) => (hooks.firstRequestBytes = r));
      const recordsBefore = sc.records.length;
      const result = await new Promise<{ status: number; body: string; sentBefore: boolean }>((resolve, reject) => {
        const req = http.request(
          { host: '127.0.0.1', port: sc.port, method: 'POST', path: '/stream-in', agent: false, headers: framing === 'length' ? { 'content-length': String(whole.length) } : {} },
          (res) => {
            let body = '';
            res.setEncoding('latin1');
            res.on('data', (s: string) => (body += s));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body, sentBefore }));
          },
        );
        req.on('error', reject);
        let sentBefore = false;
        req.write(whole.subarray(0, part.length));
        // Only once the app has bytes of the first half does the client send the second.
        void firstArrived.then(() => {
          sentBefore = true;
          req.end(whole.subarray(part.length));
        });
      });
      assert.equal(result.status, 200);
      assert.ok(result.sentBefore);
      assert.deepEqual(JSON.parse(result.body), { bytes: whole.length, sha: createHash('sha256').update(whole).digest('hex') });
      await waitFor(() => sc.records.length > recordsBefore, 5000, 'the record');
      assert.equal(sc.records.at(-1)!.requestBytes, whole.length, 'request body bytes (payload only) recorded');
    });

    void test(`a ${framing} response body is relayed while the app writes it`, async () => {
      const size = 200 * 1024;
      let gotFirst!: () => void;
      hooks.clientGotFirst = new Promise<void>((r) => (gotFirst = r));
      const recordsBefore = sc.records.length;
      const res = await new Promise<{ status: number; te: string | undefined; cl: string | undefined; body: Buffer }>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port: sc.port, path: `/stream-out?size=${size}&framing=${framing}`, agent: false }, (r) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => {
            chunks.push(c);
            gotFirst();
          });
          r.on('end', () => resolve({ status: r.statusCode ?? 0, te: r.headers['transfer-encoding'], cl: r.headers['content-length'], body: Buffer.concat(chunks) }));
        });
        req.on('error', reject);
      });
      assert.equal(res.status, 200);
      if (framing === 'chunked') assert.equal(res.te, 'chunked');
      else assert.equal(res.cl, String(size * 2));
      assert.ok(res.body.equals(Buffer.concat([Buffer.alloc(size, 'a'), Buffer.alloc(size, 'b')])));
      await waitFor(() => sc.records.length > recordsBefore, 5000, 'the record');
      assert.equal(sc.records.at(-1)!.responseBytes, size * 2, 'response body bytes (payload only) recorded');
    });
  }

  void test('Content-Length request echoed with Content-Length, chunked request echoed chunked', async () => {
    const c = await client();
    await c.write('POST /echo HTTP/1.1\r\nHost: app\r\nContent-Length: 11\r\n\r\nhello world');
    const r1 = await c.read();
    assert.equal(r1.framing, 'length');
    assert.equal(r1.body, 'hello world');
    await c.write('POST /echo-chunked HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n');
    const r2 = await c.read();
    assert.equal(r2.framing, 'chunked');
    assert.equal(r2.body, 'hello world');
    assert.equal(seen.at(-1)!.body, 'hello world');
  });

  for (const framing of ['length', 'chunked'] as const) {
    void test(`a ${framing} body containing "HTTP/1.1 200 OK\\r\\n\\r\\n", split across TCP writes, is just body`, async () => {
      const payload = 'before HTTP/1.1 200 OK\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n after';
      const seenBefore = seen.length;
      const recordsBefore = sc.records.length;
      const c = await client();
      const headLine = framing === 'length' ? `Content-Length: ${payload.length}` : 'Transfer-Encoding: chunked';
      const wire = framing === 'length' ? payload : `${payload.length.toString(16)}\r\n${payload}\r\n0\r\n\r\n`;
      // Split inside the look-alike status line and inside the look-alike request.
      const cut1 = wire.indexOf('HTTP/1.1') + 5;
      const cut2 = wire.indexOf('/smuggled') + 3;
      const parts = [`POST /echo HTTP/1.1\r\nHost: app\r\n${headLine}\r\n\r\n`, wire.slice(0, cut1), wire.slice(cut1, cut2), wire.slice(cut2)];
      for (const p of parts) {
        await c.write(p);
        await sleep(25); // separate TCP segments on loopback
      }
      const r = await c.read();
      assert.equal(r.status, 200);
      assert.equal(r.body, payload);
      await c.write('GET /info HTTP/1.1\r\nHost: app\r\n\r\n');
      infoOf(await c.read());
      assert.deepEqual(
        seen.slice(seenBefore).map((s) => s.url),
        ['/echo', '/info'],
        'the app saw exactly two requests',
      );
      assert.equal(seen[seenBefore]!.body, payload);
      await waitFor(() => sc.records.length === recordsBefore + 2, 5000, 'two records');
      assert.equal(sc.records[recordsBefore]!.requestBytes, payload.length);
      assert.equal(sc.records[recordsBefore]!.responseBytes, payload.length);
    });
  }
});

void describe('messages without a body', () => {
  void test('HEAD: the Content-Length is passed on, no body is expected or forwarded', async () => {
    const c = await client();
    // HEAD and a GET in one write: if the sidecar waited for 5 body bytes after the HEAD
    // response, the GET's response would be read as that body.
    await c.write('HEAD /head HTTP/1.1\r\nHost: app\r\n\r\nGET /head HTTP/1.1\r\nHost: app\r\n\r\n');
    const h = await c.read('HEAD');
    assert.equal(h.status, 200);
    assert.equal(h.headers['content-length'], '5');
    // The next bytes must be the GET's status line, not 5 bytes taken as the HEAD's body.
    const g = await c.read();
    assert.equal(g.status, 200);
    assert.equal(g.body, 'hello');
  });

  for (const code of [204, 304]) {
    void test(`${code} has no body, and the connection goes on`, async () => {
      const c = await client();
      await c.write(`GET /status?code=${code} HTTP/1.1\r\nHost: app\r\n\r\nGET /info HTTP/1.1\r\nHost: app\r\n\r\n`);
      const r = await c.read();
      assert.equal(r.status, code);
      assert.equal(r.headers['transfer-encoding'], undefined);
      infoOf(await c.read());
    });
  }

  void test('304 with the Content-Length of the representation: the sidecar does not wait for a body', async () => {
    // RFC 9110 §8.6: a 304 may carry the Content-Length the 200 would have had.
    const raw = await startRawApp((conn) => {
      const heads = conn.received.toString('latin1').split('\r\n\r\n').length - 1;
      if (heads === 1) conn.socket.write('HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nContent-Length: 100\r\n\r\n');
      if (heads === 2) conn.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    cleanup.push(() => raw.close());
    const s = await startSidecar(raw.port);
    cleanup.push(() => s.close());
    const c = await client(s.port);
    await c.write('GET /a HTTP/1.1\r\nHost: app\r\nIf-None-Match: "v1"\r\n\r\n');
    const r = await c.read();
    assert.equal(r.status, 304);
    await c.write('GET /b HTTP/1.1\r\nHost: app\r\n\r\n');
    const r2 = await c.read();
    assert.equal(r2.body, 'ok');
  });
});

void describe('interim responses', () => {
  void test("Expect: 100-continue: the app's 100 reaches the client, then the final response", async () => {
    const c = await client();
    await c.write('POST /echo HTTP/1.1\r\nHost: app\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n');
    const cont = await c.read();
    assert.equal(cont.status, 100);
    await c.write('hello');
    const r = await c.read();
    assert.equal(r.status, 200);
    assert.equal(r.body, 'hello');
  });

  void test('103 Early Hints reach an HTTP/1.1 client, not an HTTP/1.0 one (RFC 9110 §15.2)', async () => {
    const c = await client();
    await c.write('GET /hints HTTP/1.1\r\nHost: app\r\n\r\n');
    const hints = await c.read();
    assert.equal(hints.status, 103);
    assert.equal(hints.headers.link, '</style.css>; rel=preload; as=style');
    const r = await c.read();
    assert.equal(r.status, 200);
    assert.equal(r.body, 'final');

    const old = await client();
    await old.write('GET /hints HTTP/1.0\r\nHost: app\r\n\r\n');
    const r10 = await old.read();
    assert.equal(r10.status, 200, 'the first response an HTTP/1.0 client sees is the final one');
    assert.equal(r10.body, 'final');
  });
});

void describe('pipelining', () => {
  void test('four requests in one write (with bodies of both framings) are answered in order', async () => {
    const seenBefore = seen.length;
    const c = await client();
    await c.write(
      'GET /slow?ms=60 HTTP/1.1\r\nHost: app\r\n\r\n' +
        'POST /echo HTTP/1.1\r\nHost: app\r\nContent-Length: 5\r\n\r\nfirst' +
        'POST /echo HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nsecond\r\n0\r\n\r\n' +
        'GET /info?last HTTP/1.1\r\nHost: app\r\n\r\n',
    );
    assert.equal((await c.read()).body, 'slow');
    assert.equal((await c.read()).body, 'first');
    assert.equal((await c.read()).body, 'second');
    assert.equal(infoOf(await c.read()).url, '/info?last');
    const mine = seen.slice(seenBefore);
    assert.deepEqual(
      mine.map((s) => s.url),
      ['/slow?ms=60', '/echo', '/echo', '/info?last'],
    );
    assert.equal(new Set(mine.map((s) => s.remotePort)).size, 1, 'one upstream connection');
  });
});

void describe('HTTP/1.0 clients', () => {
  void test('without keep-alive: one response, then the sidecar closes', async () => {
    const c = await client();
    await c.write('GET /info HTTP/1.0\r\nHost: app\r\n\r\n');
    const r = await c.read();
    infoOf(r);
    assert.notEqual(r.headers.connection?.toLowerCase(), 'keep-alive');
    await c.waitEnded();
  });

  void test('with Connection: keep-alive: the connection is kept and says so', async () => {
    const c = await client();
    await c.write('GET /info HTTP/1.0\r\nHost: app\r\nConnection: keep-alive\r\n\r\n');
    const r = await c.read();
    infoOf(r);
    assert.equal(r.headers.connection?.toLowerCase(), 'keep-alive');
    await c.write('GET /info HTTP/1.0\r\nHost: app\r\nConnection: keep-alive\r\n\r\n');
    infoOf(await c.read());
    assert.equal(c.ended, false);
  });

  void test('a chunked app response is de-chunked for HTTP/1.0 and delimited by closing', async () => {
    const c = await client();
    const body = 'x'.repeat(3000);
    await c.write(`POST /echo-chunked HTTP/1.0\r\nHost: app\r\nConnection: keep-alive\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    const r = await c.read();
    assert.equal(r.status, 200);
    assert.equal(r.headers['transfer-encoding'], undefined, 'an HTTP/1.0 client cannot read chunked');
    assert.equal(r.headers.connection?.toLowerCase(), 'close');
    assert.equal(r.framing, 'close');
    assert.equal(r.body, body);
  });

  void test('a request without Host is forwarded to the app as a valid HTTP/1.1 request', async () => {
    // HTTP/1.0 has no Host requirement, but the sidecar forwards as HTTP/1.1, where a request
    // without Host MUST be refused (RFC 9112 §3.2) — as node:http does. The sidecar, being the
    // client on that hop, has to supply one.
    const c = await client();
    await c.write('GET /info HTTP/1.0\r\n\r\n');
    const r = await c.read();
    assert.equal(r.status, 200, `the app answered ${r.status} ${r.body.slice(0, 80)}`);
  });
});

void describe('close-delimited upstream responses', () => {
  for (const version of ['HTTP/1.1', 'HTTP/1.0']) {
    void test(`${version} response with no length, ended by the app closing`, async () => {
      const raw = await startRawApp((conn) => {
        if (!conn.received.includes('\r\n\r\n')) return;
        conn.socket.write(`${version} 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst part, `);
        setImmediate(() => conn.socket.end('second part'));
      });
      cleanup.push(() => raw.close());
      const s = await startSidecar(raw.port);
      cleanup.push(() => s.close());
      const c = await client(s.port);
      await c.write('GET /stream HTTP/1.1\r\nHost: app\r\n\r\n');
      const r = await c.read();
      assert.equal(r.status, 200);
      assert.equal(r.headers.connection, 'close', 'the client must know the close ends the body');
      assert.equal(r.framing, 'close');
      assert.equal(r.body, 'first part, second part');
      await waitFor(() => s.records.length === 1, 5000, 'the record');
      assert.equal(s.records[0]!.responseBytes, 'first part, second part'.length);
      assert.equal(s.records[0]!.error, '');
    });
  }
});

void describe('trailers', () => {
  void test('response trailers reach an HTTP/1.1 client', async () => {
    const got = await new Promise<{ body: string; trailers: NodeJS.Dict<string> }>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: sc.port, path: '/trailers', agent: false }, (res) => {
          let body = '';
          res.setEncoding('latin1');
          res.on('data', (s: string) => (body += s));
          res.on('end', () => resolve({ body, trailers: res.trailers }));
        })
        .on('error', reject);
    });
    assert.equal(got.body, 'abcdef');
    assert.equal(got.trailers['x-checksum'], 'sum-of-abc');
  });

  void test('request trailers reach the app', async () => {
    const c = await client();
    await c.write('POST /info HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Req-Sum: 294\r\n\r\n');
    assert.deepEqual(infoOf(await c.read()).trailers, { 'x-req-sum': '294' });
  });
});

void describe('hop-by-hop fields (RFC 9110 §7.6.1)', () => {
  void test('request: Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade and fields named in Connection are removed', async () => {
    const c = await client();
    await c.write(
      'GET /info HTTP/1.1\r\nHost: app\r\nConnection: keep-alive, X-Secret\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n' +
        'TE: trailers\r\nTrailer: x-sum\r\nUpgrade: websocket\r\nX-Secret: hop\r\nX-Kept: end-to-end\r\n\r\n',
    );
    const r = await c.read();
    const got = names(infoOf(r).fields);
    for (const hop of ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'x-secret']) assert.ok(!got.includes(hop), `${hop} reached the app`);
    assert.ok(got.includes('x-kept'));
    assert.equal(r.status, 200, 'Upgrade without "Connection: upgrade" is an ordinary request');
  });

  void describe('response', () => {
    let raw: RawApp;
    let s: TestSidecar;
    let responseHead = '';
    before(async () => {
      raw = await startRawApp((conn: RawAppConnection) => {
        if (conn.received.toString('latin1').endsWith('\r\n\r\n')) conn.socket.write(`${responseHead}Content-Length: 2\r\n\r\nok`);
      });
      s = await startSidecar(raw.port);
    });
    after(async () => {
      await s.close();
      await raw.close();
    });

    void test('Connection, Keep-Alive, Proxy-Connection, Trailer and fields named in Connection are removed', async () => {
      responseHead = 'HTTP/1.1 200 OK\r\nConnection: keep-alive, X-App-Secret\r\nKeep-Alive: timeout=5, max=100\r\nProxy-Connection: keep-alive\r\nTrailer: x-sum\r\nX-App-Secret: hop\r\nX-Kept: end-to-end\r\n';
      const c = await client(s.port);
      await c.write('GET / HTTP/1.1\r\nHost: app\r\n\r\n');
      const r = await c.read();
      assert.equal(r.body, 'ok');
      assert.deepEqual(names(r.fields).sort(), ['content-length', 'x-kept']);
    });

    void test('Upgrade named in Connection on a non-101 response is removed', async () => {
      // e.g. an app advertising h2c on a 200. The offer concerns the app's hop (the sidecar
      // will not switch the client's connection), and Connection names it: MUST remove.
      responseHead = 'HTTP/1.1 200 OK\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n';
      const c = await client(s.port);
      await c.write('GET / HTTP/1.1\r\nHost: app\r\n\r\n');
      const r = await c.read();
      assert.equal(r.body, 'ok');
      assert.deepEqual(names(r.fields), ['content-length']);
    });
  });
});

void describe('forwarding fields', () => {
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const tracestate = 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE';

  void test('X-Forwarded-For appended, X-Forwarded-Proto and X-Request-Id kept, trace context unchanged', async () => {
    const c = await client();
    await c.write(
      `GET /info HTTP/1.1\r\nHost: app\r\nX-Forwarded-For: 203.0.113.7\r\nX-Forwarded-For: 198.51.100.1\r\nX-Forwarded-Proto: https\r\nX-Request-Id: req-123\r\ntraceparent: ${traceparent}\r\ntracestate: ${tracestate}\r\n\r\n`,
    );
    const f = infoOf(await c.read()).fields;
    assert.deepEqual(valuesOf(f, 'x-forwarded-for'), ['203.0.113.7, 198.51.100.1, 127.0.0.1']);
    assert.deepEqual(valuesOf(f, 'x-forwarded-proto'), ['https']);
    assert.deepEqual(valuesOf(f, 'x-request-id'), ['req-123']);
    assert.deepEqual(valuesOf(f, 'traceparent'), [traceparent]);
    assert.deepEqual(valuesOf(f, 'tracestate'), [tracestate]);
    await waitFor(() => sc.records.at(-1)?.requestId === 'req-123', 5000, 'the record with the request id');
  });

  void test('absent: X-Forwarded-For is the client, X-Forwarded-Proto is http, X-Request-Id is a new UUID', async () => {
    const c = await client();
    await c.write('GET /info HTTP/1.1\r\nHost: app\r\n\r\nGET /info HTTP/1.1\r\nHost: app\r\n\r\n');
    const f1 = infoOf(await c.read()).fields;
    const f2 = infoOf(await c.read()).fields;
    assert.deepEqual(valuesOf(f1, 'x-forwarded-for'), ['127.0.0.1']);
    assert.deepEqual(valuesOf(f1, 'x-forwarded-proto'), ['http']);
    const [id1] = valuesOf(f1, 'x-request-id');
    const [id2] = valuesOf(f2, 'x-request-id');
    assert.match(id1 ?? '', uuid);
    assert.match(id2 ?? '', uuid);
    assert.notEqual(id1, id2, 'one id per request, not per connection');
    await waitFor(() => sc.records.some((r) => r.requestId === id2), 5000, 'the record with the generated id');
  });
});

void describe('head size limits', () => {
  const max = 8192;
  let s: TestSidecar;
  before(async () => {
    s = await startSidecar(app.port, { limits: { maxHeaderBytes: max, maxHeaders: 100, headerTimeoutMs: 5000, idleTimeoutMs: 30000, responseTimeoutMs: 10000 } });
  });
  after(() => s.close());

  /** A request head of exactly `size` bytes, without the final CRLF CRLF. */
  function headOf(size: number): string {
    const start = 'GET /info HTTP/1.1\r\nHost: app\r\nX-Pad: ';
    return start + 'p'.repeat(size - start.length);
  }

  void test('a head of exactly the limit is accepted, one byte more is 431', async () => {
    const c = await client(s.port);
    await c.write(`${headOf(max)}\r\n\r\n`);
    infoOf(await c.read());
    const d = await client(s.port);
    await d.write(`${headOf(max + 1)}\r\n\r\n`);
    assert.equal((await d.read()).status, 431);
  });

  void test('a head of exactly the limit is accepted when its final CRLF CRLF arrives split', async () => {
    // The limit is on the head; the terminator is not part of it. While the terminator is
    // still incomplete, up to 3 of its bytes may sit in the buffer beyond the limit.
    const c = await client(s.port);
    await c.write(`${headOf(max)}\r\n\r`);
    await sleep(30);
    await c.write('\n');
    const r = await c.read();
    assert.equal(r.status, 200, `${r.status} ${r.body}`);
  });

  void test('100 header fields (the limit) are accepted', async () => {
    const fields = Array.from({ length: 99 }, (_, i) => `X-F${i}: ${i}\r\n`).join('');
    const c = await client();
    await c.write(`GET /info HTTP/1.1\r\nHost: app\r\n${fields}\r\n`);
    const f = infoOf(await c.read()).fields;
    assert.equal(valuesOf(f, 'x-f98')[0], '98');
  });
});
