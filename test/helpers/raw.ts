/**
 * Byte-level test helpers for the HTTP/1.1 conformance and hostile-input suites:
 *
 * - `parseResponse`: a small, strict HTTP/1.1 response reader (Content-Length, chunked with
 *   trailers, close-delimited, bodiless statuses and HEAD), so tests can read exactly what the
 *   sidecar put on the wire, one message at a time.
 * - `RawClient`: one persistent client connection (keep-alive, pipelining, 100-continue).
 * - `startRawApp`: a `net` server standing in for the app, recording every byte it received
 *   per connection, for tests that must prove nothing reached the app or that need full control
 *   of the response bytes.
 * - `drip`: a slow client that stops as soon as the server closes (slowloris tests).
 *
 * Strings are latin1 throughout: one char per byte, so lengths are byte counts.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface ParsedResponse {
  version: string;
  status: number;
  reason: string;
  /** Field lines in order as received: [name as sent, value]. */
  fields: [string, string][];
  /** Lower-cased name → values joined with ', '. */
  headers: Record<string, string>;
  /** The payload (de-chunked), latin1. */
  body: string;
  framing: 'none' | 'length' | 'chunked' | 'close';
  /** Lower-cased trailer name → value (chunked only). */
  trailers: Record<string, string>;
  /** The message exactly as received. */
  raw: string;
}

/** Thrown for bytes that are not a valid HTTP/1.x response: a test failure, never "fixed". */
export class BadResponse extends Error {}

function parseFields(lines: string[]): { fields: [string, string][]; headers: Record<string, string> } {
  const fields: [string, string][] = [];
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new BadResponse(`bad field line ${JSON.stringify(line.slice(0, 120))}`);
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    fields.push([name, value]);
    const lower = name.toLowerCase();
    headers[lower] = headers[lower] === undefined ? value : `${headers[lower]}, ${value}`;
  }
  return { fields, headers };
}

/**
 * Reads one response from the start of `data`. Returns null when more bytes are needed (a
 * close-delimited body is complete only when `ended`). `method` is the request's (HEAD
 * responses have no body). 1xx responses are returned as messages of their own.
 */
export function parseResponse(data: string, opts: { method?: string; ended?: boolean } = {}): { response: ParsedResponse; rest: string } | null {
  const end = data.indexOf('\r\n\r\n');
  if (end === -1) {
    if (opts.ended && data.length > 0) throw new BadResponse(`connection closed inside a response head: ${JSON.stringify(data.slice(0, 200))}`);
    return null;
  }
  const lines = data.slice(0, end).split('\r\n');
  const m = /^(HTTP\/1\.[01]) (\d{3}) ?(.*)$/.exec(lines[0] ?? '');
  if (!m) throw new BadResponse(`bad status line ${JSON.stringify((lines[0] ?? '').slice(0, 120))}`);
  const status = Number(m[2]);
  const { fields, headers } = parseFields(lines.slice(1));
  const bodyStart = end + 4;
  const done = (body: string, framing: ParsedResponse['framing'], stop: number, trailers: Record<string, string> = {}): { response: ParsedResponse; rest: string } => ({
    response: { version: m[1]!, status, reason: m[3] ?? '', fields, headers, body, framing, trailers, raw: data.slice(0, stop) },
    rest: data.slice(stop),
  });
  // RFC 9112 §6.3: HEAD responses, 1xx, 204 and 304 end at the head.
  if (opts.method === 'HEAD' || status < 200 || status === 204 || status === 304) return done('', 'none', bodyStart);
  const te = headers['transfer-encoding'];
  if (te !== undefined) {
    if (te.toLowerCase() !== 'chunked') throw new BadResponse(`unexpected transfer-encoding ${te}`);
    let i = bodyStart;
    let body = '';
    for (;;) {
      const nl = data.indexOf('\r\n', i);
      if (nl === -1) return null;
      const sizeText = data.slice(i, nl).split(';')[0]!.trim();
      if (!/^[0-9a-fA-F]+$/.test(sizeText)) throw new BadResponse(`bad chunk size ${JSON.stringify(sizeText)}`);
      const size = parseInt(sizeText, 16);
      i = nl + 2;
      if (size === 0) break;
      if (data.length < i + size + 2) return null;
      body += data.slice(i, i + size);
      if (data.slice(i + size, i + size + 2) !== '\r\n') throw new BadResponse('chunk data not followed by CRLF');
      i += size + 2;
    }
    const tEnd = data.indexOf('\r\n\r\n', i - 2);
    if (tEnd === -1) return null;
    const trailerLines = data.slice(i, tEnd).split('\r\n').filter((l) => l.length > 0);
    return done(body, 'chunked', tEnd + 4, parseFields(trailerLines).headers);
  }
  const cl = headers['content-length'];
  if (cl !== undefined) {
    if (!/^\d+$/.test(cl)) throw new BadResponse(`bad content-length ${cl}`);
    const n = Number(cl);
    if (data.length < bodyStart + n) {
      if (opts.ended) throw new BadResponse(`connection closed after ${data.length - bodyStart} of ${n} body bytes`);
      return null;
    }
    return done(data.slice(bodyStart, bodyStart + n), 'length', bodyStart + n);
  }
  if (!opts.ended) return null;
  return done(data.slice(bodyStart), 'close', data.length);
}

/** Reads every complete response in `data` (after the connection ended), e.g. from rawExchange. */
export function parseAll(data: string, methods: string[] = []): ParsedResponse[] {
  const out: ParsedResponse[] = [];
  let rest = data;
  let i = 0;
  while (rest.length > 0) {
    const r = parseResponse(rest, { method: methods[i] ?? 'GET', ended: true });
    if (!r) break;
    out.push(r.response);
    if (r.response.status >= 200) i++;
    rest = r.rest;
  }
  return out;
}

interface Waiter {
  check: () => boolean;
  resolve: () => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** One client connection, read response by response. */
export class RawClient {
  readonly socket: net.Socket;
  /** Everything received and not yet consumed by `read`, latin1. */
  pending = '';
  /** Everything received, latin1. */
  received = '';
  ended = false;
  closed = false;
  #waiters: Waiter[] = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (c: Buffer) => {
      const s = c.toString('latin1');
      this.pending += s;
      this.received += s;
      this.#wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.#wake();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.ended = true;
      this.closed = true;
      this.#wake();
    });
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawClient(socket));
      });
    });
  }

  #wake(): void {
    for (const w of [...this.#waiters]) {
      let ok: boolean;
      try {
        ok = w.check();
      } catch (err) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.reject(err as Error);
        continue;
      }
      if (ok) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.resolve();
      }
    }
  }

  /** Resolves when `check` is true (it is re-run on every byte and on close). */
  waitUntil(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        reject(new Error(`timed out waiting for ${what}; unread: ${JSON.stringify(this.pending.slice(0, 300))}`));
      }, timeoutMs);
      const w: Waiter = { check, resolve, reject, timer };
      this.#waiters.push(w);
      this.#wake();
    });
  }

  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** The next response (a 1xx is a response of its own). Fails if the connection closes first. */
  async read(method = 'GET', timeoutMs = 5000): Promise<ParsedResponse> {
    let result: { response: ParsedResponse; rest: string } | null = null;
    await this.waitUntil(
      () => {
        result = parseResponse(this.pending, { method, ended: this.ended });
        if (!result && this.ended) throw new BadResponse(`connection closed before a response; unread: ${JSON.stringify(this.pending.slice(0, 300))}`);
        return result !== null;
      },
      `a response to ${method}`,
      timeoutMs,
    );
    const r = result as unknown as { response: ParsedResponse; rest: string };
    this.pending = r.rest;
    return r.response;
  }

  /** Resolves when the server has closed (or half-closed) the connection. */
  waitEnded(timeoutMs = 5000): Promise<void> {
    return this.waitUntil(() => this.ended, 'the server to close the connection', timeoutMs);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export interface RawAppConnection {
  socket: net.Socket;
  /** Everything this connection received from the sidecar. */
  received: Buffer;
  /** The sidecar's port of this connection (identifies the upstream connection). */
  remotePort: number;
  ended: boolean;
  closed: boolean;
}

export interface RawApp {
  port: number;
  connections: RawAppConnection[];
  /** Bytes received over all connections. */
  totalBytes(): number;
  /** Everything received over all connections, latin1, in connection order. */
  allReceived(): string;
  /** A mark of how much each connection has received so far, for `since`. */
  mark(): Map<RawAppConnection, number>;
  /** What each connection received after `mark`, latin1, one string per connection that got bytes. */
  since(mark: Map<RawAppConnection, number>): string[];
  close(): Promise<void>;
}

export type RawAppBehaviour = (conn: RawAppConnection, chunk: Buffer) => void;

/** Answers every complete request head it receives with a small 200 (bodies are ignored). */
export function answerHeads(body = 'app\n'): RawAppBehaviour {
  const answered = new WeakMap<RawAppConnection, number>();
  return (conn) => {
    const text = conn.received.toString('latin1');
    let heads = 0;
    for (let i = text.indexOf('\r\n\r\n'); i !== -1; i = text.indexOf('\r\n\r\n', i + 4)) heads++;
    const done = answered.get(conn) ?? 0;
    for (let k = done; k < heads; k++) conn.socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\nx-from: raw-app\r\n\r\n${body}`, 'latin1');
    answered.set(conn, heads);
  };
}

/** A raw `net` app on loopback port 0 that records every byte and lets `behaviour` answer. */
export async function startRawApp(behaviour: RawAppBehaviour = answerHeads(), onConnection?: (conn: RawAppConnection) => void): Promise<RawApp> {
  const connections: RawAppConnection[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    const conn: RawAppConnection = { socket, received: Buffer.alloc(0), remotePort: socket.remotePort ?? 0, ended: false, closed: false };
    connections.push(conn);
    socket.on('data', (c: Buffer) => {
      conn.received = Buffer.concat([conn.received, c]);
      behaviour(conn, c);
    });
    socket.on('end', () => {
      conn.ended = true;
      if (!socket.destroyed) socket.end();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => (conn.closed = true));
    onConnection?.(conn);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    connections,
    totalBytes: () => connections.reduce((n, c) => n + c.received.length, 0),
    allReceived: () => connections.map((c) => c.received.toString('latin1')).join(''),
    mark: () => new Map(connections.map((c) => [c, c.received.length])),
    since: (mark) => connections.map((c) => c.received.toString('latin1', mark.get(c) ?? 0)).filter((t) => t.length > 0),
    close: () =>
      new Promise<void>((r) => {
        for (const c of connections) c.socket.destroy();
        server.close(() => r());
      }),
  };
}

/**
 * Sends `parts` one by one, `gapMs` apart, and stops sending as soon as the server closes.
 * Resolves with what was received, how long until the server closed, and how many parts went out.
 */
export function drip(port: number, parts: string[], gapMs: number, timeoutMs = 10_000): Promise<{ received: string; elapsedMs: number; sent: number; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const started = performance.now();
    let received = '';
    let sent = 0;
    let closed = false;
    let timer: NodeJS.Timeout | null = null;
    const finish = (byServer: boolean): void => {
      if (closed) return;
      closed = true;
      if (timer) clearTimeout(timer);
      clearTimeout(deadline);
      socket.destroy();
      resolve({ received, elapsedMs: performance.now() - started, sent, closedByServer: byServer });
    };
    const deadline = setTimeout(() => finish(false), timeoutMs);
    socket.on('data', (c: Buffer) => (received += c.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    const next = (): void => {
      if (closed) return;
      const p = parts[sent];
      if (p === undefined) return; // all sent: wait for the server (or the deadline)
      socket.write(p, 'latin1');
      sent++;
      timer = setTimeout(next, gapMs);
    };
    socket.on('connect', next);
  });
}

/** Sum of the samples of metric `name` (exact family sample name) whose labels include `labels`. */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => have.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Connects, sends `parts` (`gapMs` apart), and collects what comes back until the server closes,
 * `until` is true, or `timeoutMs` passes. Never rejects: `closedByServer` says whether the server
 * closed, so a test can assert on a hang as precisely as on an answer.
 */
export function exchange(
  port: number,
  parts: string | Buffer | (string | Buffer)[],
  opts: { timeoutMs?: number; gapMs?: number; until?: (received: string) => boolean } = {},
): Promise<{ received: string; closedByServer: boolean; elapsedMs: number }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    const started = performance.now();
    let received = '';
    let done = false;
    const finish = (byServer: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ received, closedByServer: byServer, elapsedMs: performance.now() - started });
    };
    const timer = setTimeout(() => finish(false), opts.timeoutMs ?? 5000);
    socket.on('data', (c: Buffer) => {
      received += c.toString('latin1');
      if (opts.until?.(received)) finish(false);
    });
    socket.on('error', () => undefined);
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('connect', () => {
      void (async () => {
        for (const p of Array.isArray(parts) ? parts : [parts]) {
          if (done) return;
          socket.write(typeof p === 'string' ? Buffer.from(p, 'latin1') : p);
          if (opts.gapMs) await sleep(opts.gapMs);
        }
      })();
    });
  });
}
