/**
 * The dashboard's HTTP server. Endpoints (docs/api.md):
 *
 *   GET  /healthz                         liveness, no auth
 *   GET  /login, POST /login, POST /logout the login page (login.ts)
 *   POST /api/reports                     sidecar reports: Bearer token only (ingest.ts)
 *   GET  /api/services?window=5m          every service's inbound golden metrics
 *   GET  /api/services/:namespace/:name   one service: series, routes, status codes, pods
 *   GET  /api/edges?window=5m             who calls whom
 *   GET  /api/sidecars                    reporting sidecars, last seen, sequence gaps
 *   GET  /api/tap?service=…               live requests of the live sidecars, merged (SSE; tap.ts)
 *   GET  /*                               the web UI (static.ts); to /login without a session
 *
 * Every endpoint but /healthz and the login page needs the token: `Authorization: Bearer`, or
 * for GETs the session cookie the login page sets. Query strings are never logged (the login
 * URL carries the token).
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { mkdirSync } from 'node:fs';
import type { HostPort } from '../config/options.ts';
import { SkiffError, ErrorCodes, describeError } from '../errors.ts';
import { silentLogger } from '../log.ts';
import type { Logger } from '../log.ts';
import { Auth } from './auth.ts';
import { sendError, sendJson } from './http.ts';
import { DEFAULT_MAX_REPORT_BYTES, Ingestor, handleReport } from './ingest.ts';
import { handleLoginGet, handleLoginPost, handleLogout } from './login.ts';
import { queryEdges, queryService, queryServices, querySidecars } from './query.ts';
import { serveStatic } from './static.ts';
import { createTapFanout } from './tap.ts';
import { DashboardStore } from './store.ts';
import type { Retention } from './store.ts';
import { WindowError } from './window.ts';

/** Longest stretch of bucket closing between two turns of the event loop. */
const MAINTAIN_SLICE_MS = 8;

export const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../../dist/web/', import.meta.url));

export interface DashboardServerOptions {
  /** Where to listen; port 0 picks a free port. Default 127.0.0.1:15080. */
  listen?: HostPort;
  /** Data directory (created 0700 when missing): the SQLite file lives here. */
  dataDir: string;
  /** The token every client must present (see auth.ts for where it comes from). */
  token: string;
  /** The built UI (dist/web). */
  webRoot?: string;
  /** Time source (ms since epoch); tests move it. */
  clock?: () => number;
  log?: Logger;
  retention?: Partial<Retention>;
  fsync?: boolean;
  maxReportBytes?: number;
  /** How often buckets are closed and rolled up; 0 disables the timer (tests call `maintain`). */
  maintainEveryMs?: number;
  /** Group commit window for reports (ms). */
  batchDelayMs?: number;
}

export interface DashboardServer {
  /** Base URL, e.g. http://127.0.0.1:15080 (loopback when listening on all interfaces). */
  readonly url: string;
  readonly address: HostPort;
  readonly store: DashboardStore;
  /** Closes due buckets now, all at once (the timer does it every second, in slices). */
  maintain(): void;
  /** Stops accepting, commits what is queued, waits for requests in flight, closes the store. */
  close(): Promise<void>;
}

function urlHost(host: string): string {
  const h = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return h.includes(':') ? `[${h}]` : h;
}

/**
 * Opens the store, then listens.
 * @example
 * const dash = await createDashboardServer({ dataDir: '/tmp/d', token: 's3cret', listen: { host: '127.0.0.1', port: 0 } });
 * console.log(dash.url); await dash.close();
 */
export async function createDashboardServer(options: DashboardServerOptions): Promise<DashboardServer> {
  const clock = options.clock ?? Date.now;
  const log = options.log ?? silentLogger;
  const listen = options.listen ?? { host: '127.0.0.1', port: 15080 };
  const webRoot = options.webRoot ?? DEFAULT_WEB_ROOT;
  const maxReportBytes = options.maxReportBytes ?? DEFAULT_MAX_REPORT_BYTES;
  try {
    mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new SkiffError(ErrorCodes.STORE, `cannot create the data directory ${options.dataDir}: ${describeError(err)}`, { cause: err });
  }
  const store = DashboardStore.open({ dir: options.dataDir, now: clock(), log, backgroundCheckpoint: true, ...(options.retention ? { retention: options.retention } : {}), ...(options.fsync ? { fsync: true } : {}) });
  const auth = new Auth(options.token, clock);
  // The live tap reaches sidecars' admin ports with the same token (the mesh shares one).
  const tap = createTapFanout({ token: options.token, sidecars: () => store.tapTargets(), clock, log });
  const ingestor = new Ingestor({ store, clock, log, ...(options.batchDelayMs !== undefined ? { batchDelayMs: options.batchDelayMs } : {}) });

  // Bucket closing runs in slices of MAINTAIN_SLICE_MS, one per turn of the event loop, so that
  // reports and queries are served in between (a 10 s bucket can be thousands of rows).
  let continuing = false;
  const step = (): void => {
    try {
      if (store.maintain(clock(), MAINTAIN_SLICE_MS) && !continuing) {
        continuing = true;
        setImmediate(() => {
          continuing = false;
          if (!closingDown) step();
        });
      }
    } catch (err) {
      log.error('closing buckets failed; will retry', { error: describeError(err) });
    }
  };
  const maintain = (): void => {
    try {
      store.maintain(clock());
    } catch (err) {
      log.error('closing buckets failed; will retry', { error: describeError(err) });
    }
  };
  let closingDown = false;

  const unauthorized = (res: ServerResponse): void =>
    sendError(res, 401, 'unauthorized', 'send the dashboard token as Authorization: Bearer TOKEN, or log in at /login', {
      'www-authenticate': 'Bearer realm="skiff"', // RFC 6750 §3
    });

  const api = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const path = url.pathname;
    if (path === '/api/reports') {
      if (req.method !== 'POST') return sendError(res, 405, 'method_not_allowed', 'POST reports here', { allow: 'POST' });
      // Sidecars only: a browser session must not be able to write data.
      if (!auth.checkBearer(req.headers.authorization)) return unauthorized(res);
      return handleReport(req, res, { ingestor, clock, maxBytes: maxReportBytes, log });
    }
    if (!auth.checkBearer(req.headers.authorization) && !auth.checkCookie(req.headers.cookie)) return unauthorized(res);
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendError(res, 405, 'method_not_allowed', 'the query API is read-only (GET)', { allow: 'GET, HEAD' });
    const window = url.searchParams.get('window');
    const now = clock();
    try {
      if (path === '/api/services') return sendJson(res, 200, queryServices(store, now, window));
      if (path === '/api/edges') return sendJson(res, 200, queryEdges(store, now, window));
      if (path === '/api/sidecars') return sendJson(res, 200, querySidecars(store, now));
      if (path === '/api/tap') return tap.handle(req, res, url);
      const parts = path.split('/');
      if (parts.length === 5 && parts[2] === 'services' && parts[3] && parts[4]) {
        let key;
        try {
          key = { namespace: decodeURIComponent(parts[3]), service: decodeURIComponent(parts[4]) };
        } catch {
          return sendError(res, 400, 'bad_request', 'bad percent-encoding in the service path');
        }
        const detail = queryService(store, now, window, key);
        if (!detail) return sendError(res, 404, 'not_found', `no service ${key.namespace}/${key.service} is known`);
        return sendJson(res, 200, detail);
      }
    } catch (err) {
      if (err instanceof WindowError) return sendError(res, 400, 'invalid_window', err.message);
      throw err;
    }
    sendError(res, 404, 'not_found', `no API endpoint ${path}`);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // Only the path matters for routing; the query stays out of every log line.
    const url = new URL(req.url ?? '/', 'http://dashboard');
    const path = url.pathname;
    if (path === '/healthz') {
      req.resume();
      return sendJson(res, 200, { status: 'ok' });
    }
    if (path === '/login') {
      if (req.method === 'GET' || req.method === 'HEAD') return handleLoginGet(req, res, url, auth);
      if (req.method === 'POST') return handleLoginPost(req, res, auth);
      return sendError(res, 405, 'method_not_allowed', 'GET or POST /login', { allow: 'GET, POST' });
    }
    if (path === '/logout') {
      if (req.method === 'POST') return handleLogout(req, res);
      return sendError(res, 405, 'method_not_allowed', 'POST /logout', { allow: 'POST' });
    }
    if (path === '/api' || path.startsWith('/api/')) return api(req, res, url);
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendError(res, 405, 'method_not_allowed', 'the UI is read-only', { allow: 'GET, HEAD' });
    if (!auth.checkCookie(req.headers.cookie) && !auth.checkBearer(req.headers.authorization)) {
      res.writeHead(303, { location: `/login?next=${encodeURIComponent(path + url.search)}`, 'cache-control': 'no-store' });
      res.end();
      return;
    }
    return serveStatic(req, res, path, webRoot);
  };

  const server = createServer({ requestTimeout: 60_000, headersTimeout: 15_000, keepAliveTimeout: 30_000 }, (req, res) => {
    const started = performance.now();
    res.on('finish', () => {
      log.debug('request', { method: req.method, path: (req.url ?? '').split('?')[0], status: res.statusCode, ms: Math.round(performance.now() - started) });
    });
    handle(req, res).catch((err: unknown) => {
      log.error('request failed', { method: req.method, path: (req.url ?? '').split('?')[0], error: describeError(err) });
      if (!res.headersSent) sendError(res, 500, 'internal', 'the dashboard failed to answer; see its log');
      else res.destroy();
    });
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listen.port, listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    store.close();
    throw new SkiffError(ErrorCodes.LISTEN_FAILED, `cannot listen on ${listen.host}:${listen.port}: ${describeError(err)}`, { cause: err });
  }
  const bound = server.address() as AddressInfo;
  const address = { host: bound.address, port: bound.port };
  const timer = options.maintainEveryMs === 0 ? undefined : setInterval(step, options.maintainEveryMs ?? 1000);
  timer?.unref();
  step();

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      closingDown = true;
      clearInterval(timer);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      tap.close(); // live streams never end by themselves
      server.closeIdleConnections();
      // Commit what is queued: those requests get their acks; later ones a 503.
      ingestor.close();
      const force = setTimeout(() => server.closeAllConnections(), 5000);
      await closed;
      clearTimeout(force);
      store.close();
    })();
    return closing;
  };

  return { url: `http://${urlHost(address.host)}:${address.port}`, address, store, maintain, close };
}
