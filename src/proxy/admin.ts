/**
 * The sidecar's admin server (loopback by default). Endpoints:
 *
 *   GET /livez    200 while the process runs (the event loop answers)
 *   GET /readyz   200 only while the app's port accepts connections and we are not draining
 *   GET /metrics  Prometheus text exposition (telemetry/prometheus.ts)
 *   …             extra routes mounted by features (the live tap: GET /tap)
 *
 * Served on a raw `net` server with the proxy's own HTTP/1.1 head parser rather than
 * `node:http`: loading node:http also loads undici and http2, about 17 MiB of resident memory
 * that a sidecar with a 60 MiB budget cannot spare for three small endpoints.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { HostPort } from '../config/options.ts';
import { HttpParseError, findHeadEnd, parseRequestHead } from './http1.ts';

export interface AdminRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  /** Lower-cased header names. */
  headers: Record<string, string>;
}

export interface AdminStream {
  /** Writes a piece of the body; false when the client is not keeping up (see onDrain). */
  write(text: string): boolean;
  end(): void;
  onDrain(fn: () => void): void;
  /** Called once when the client goes away or the stream ends. */
  onClose(fn: () => void): void;
  readonly closed: boolean;
}

export interface AdminResponse {
  send(status: number, body: string, contentType?: string, headers?: Record<string, string>): void;
  /** Starts a streamed (chunked) response, e.g. server-sent events. */
  stream(status: number, contentType: string, headers?: Record<string, string>): AdminStream;
}

export type AdminHandler = (req: AdminRequest, res: AdminResponse) => void;

export interface AdminOptions {
  app: HostPort;
  isDraining: () => boolean;
  metrics: () => string;
  routes?: ReadonlyMap<string, AdminHandler>;
  probeTimeoutMs?: number;
}

const STATUS_TEXT: Record<number, string> = { 200: 'OK', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 429: 'Too Many Requests', 431: 'Request Header Fields Too Large', 500: 'Internal Server Error', 503: 'Service Unavailable' };

/** Resolves true when a TCP connection to `hp` opens within `timeoutMs`. */
export function canConnect(hp: HostPort, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: hp.host, port: hp.port });
    const done = (ok: boolean): void => {
      clearTimeout(t);
      s.destroy();
      resolve(ok);
    };
    const t = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export interface AdminServer {
  listen(hp: HostPort): Promise<AddressInfo>;
  close(): Promise<void>;
}

export function createAdminServer(options: AdminOptions): AdminServer {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    serveConnection(socket, options);
  });
  return {
    async listen(hp) {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(hp.port, hp.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      return server.address() as AddressInfo;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function serveConnection(socket: net.Socket, options: AdminOptions): void {
  let buf: Buffer | null = null;
  let busy = false; // one request at a time; a streamed response owns the connection
  const idle = setTimeout(() => socket.destroy(), 30_000);
  socket.on('error', () => undefined);
  socket.on('close', () => clearTimeout(idle));

  const respond = (status: number, body: string, close: boolean, contentType = 'text/plain; charset=utf-8', headers: Record<string, string> = {}, headOnly = false): void => {
    let head = `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Status'}\r\ncontent-type: ${contentType}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`;
    for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
    if (close) head += 'connection: close\r\n';
    socket.write(head + '\r\n' + (headOnly ? '' : body));
    if (close) socket.end();
  };

  const next = (): void => {
    if (busy || buf === null) return;
    const end = findHeadEnd(buf, 0);
    if (end === -1) {
      if (buf.length > 16384) respond(431, 'request head too large\n', true);
      return;
    }
    const headText = buf.toString('latin1', 0, end - 4);
    buf = end === buf.length ? null : buf.subarray(end);
    let head;
    try {
      head = parseRequestHead(headText, { maxHeaders: 100 }, true);
    } catch (err) {
      respond(err instanceof HttpParseError ? err.status : 400, `${(err as Error).message}\n`, true);
      return;
    }
    if (head.contentLength > 0 || head.chunked) {
      respond(400, 'the admin endpoints take no request body\n', true);
      return;
    }
    idle.refresh();
    const q = head.target.indexOf('?');
    const req: AdminRequest = {
      method: head.method,
      path: head.path,
      query: new URLSearchParams(q === -1 ? '' : head.target.slice(q + 1)),
      headers: head.headers ?? {},
    };
    const close = head.close;
    const headOnly = head.method === 'HEAD';
    busy = true;
    let done = false;
    const finish = (): void => {
      done = true;
      busy = false;
      if (!close) setImmediate(next);
    };
    const res: AdminResponse = {
      send(status, body, contentType, headers) {
        if (done) return;
        respond(status, body, close, contentType, headers, headOnly);
        finish();
      },
      stream(status, contentType, headers = {}) {
        clearTimeout(idle); // streams are long-lived by design
        let head2 = `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Status'}\r\ncontent-type: ${contentType}\r\ntransfer-encoding: chunked\r\ncache-control: no-store\r\n`;
        for (const [k, v] of Object.entries(headers)) head2 += `${k}: ${v}\r\n`;
        socket.write(head2 + '\r\n');
        const closers: (() => void)[] = [];
        let closed = false;
        const fireClose = (): void => {
          if (closed) return;
          closed = true;
          for (const fn of closers) fn();
        };
        socket.once('close', fireClose);
        return {
          write(text) {
            if (closed) return false;
            const n = Buffer.byteLength(text);
            if (n === 0) return true;
            return socket.write(`${n.toString(16)}\r\n${text}\r\n`);
          },
          end() {
            if (closed) return;
            socket.write('0\r\n\r\n');
            fireClose();
            finish();
          },
          onDrain(fn) {
            socket.on('drain', fn);
          },
          onClose(fn) {
            closers.push(fn);
          },
          get closed() {
            return closed;
          },
        };
      },
    };
    route(req, res, options, headOnly);
  };

  socket.on('data', (chunk: Buffer) => {
    buf = buf === null ? chunk : Buffer.concat([buf, chunk]);
    next();
  });
}

function route(req: AdminRequest, res: AdminResponse, options: AdminOptions, headOnly: boolean): void {
  const extra = options.routes?.get(req.path);
  if (extra) {
    extra(req, res);
    return;
  }
  if (req.method !== 'GET' && !headOnly) {
    res.send(405, 'method not allowed\n', undefined, { allow: 'GET, HEAD' });
    return;
  }
  switch (req.path) {
    case '/livez':
      res.send(200, 'ok\n');
      return;
    case '/readyz':
      if (options.isDraining()) {
        res.send(503, 'draining\n');
        return;
      }
      void canConnect(options.app, options.probeTimeoutMs ?? 1000).then((ok) => {
        if (ok) res.send(200, 'ready\n');
        else res.send(503, `app not accepting connections on ${options.app.host}:${options.app.port}\n`);
      });
      return;
    case '/metrics': {
      let body: string;
      try {
        body = options.metrics();
      } catch (err) {
        res.send(500, `metrics failed: ${(err as Error).message}\n`);
        return;
      }
      res.send(200, body, 'text/plain; version=0.0.4; charset=utf-8');
      return;
    }
    default:
      res.send(404, 'not found: try /livez, /readyz, /metrics\n');
  }
}
