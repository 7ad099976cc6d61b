/**
 * The dashboard's live tap: `GET /api/tap`, one server-sent event stream to a browser or the
 * CLI that merges the `/tap` streams of every live sidecar of a service (or of the whole mesh).
 *
 *   GET /api/tap?service=web&namespace=shop&status=5xx&rate=100[&headers=1][&bodies=1]
 *
 * Filters are those of a sidecar's /tap (src/live/filter.ts); `service`, `namespace` and `pod`
 * pick the sidecars, and everything is passed on to each of them, with the dashboard's token
 * (the sidecars' SKIFF_TOKEN). The caller is already authenticated by the API (token or session
 * cookie), so it may ask for bodies: each sidecar still decides what it grants.
 *
 * Per client, bounded like a sidecar's tap: at most `rate` records per second in all (the rest
 * are dropped and counted: `event: dropped`), and a client that reads slowly stops our reading
 * of its sidecar streams (TCP pushes back), so the sidecars drop and count for it; their notices
 * are passed on, tagged with the pod. Every few seconds the list of sidecars is read again: new
 * ones are tapped, departed ones are let go, failed ones are retried with a backoff. Each change
 * is an `event: source`. Records are re-checked field by field and tagged with the pod, service
 * and namespace the dashboard knows the sidecar by.
 */
import http from 'node:http';
import https from 'node:https';
import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import { silentLogger } from '../log.ts';
import type { Logger } from '../log.ts';
import { describeError } from '../errors.ts';
import { FilterError, filterToQuery, matchesIdentity, parseFilter } from '../live/filter.ts';
import type { TapFilter } from '../live/filter.ts';
import { normalizeRecord, PING_EVERY_MS, SSE_PING, SSE_RETRY_MS, sseEvent } from '../live/record.ts';
import type { TapDropped, TapHello, TapSource } from '../live/record.ts';
import { SseParser } from '../live/sse.ts';
import { BASE_HEADERS, sendError } from './http.ts';

/** A sidecar the dashboard knows, with where its admin port is (from its reports). */
export interface TapTarget {
  sidecarId: string;
  service: string;
  namespace: string;
  pod: string;
  /** `http://10.1.2.3:15000`; undefined when the sidecar did not advertise one. */
  admin: string | undefined;
  /** Last report, ms since epoch. */
  lastSeen: number;
}

export interface TapFanoutOptions {
  /** The sidecars known now (called every `refreshMs` per client: keep it cheap). */
  sidecars: () => readonly TapTarget[];
  /** Sent to sidecars as `Authorization: Bearer`. */
  token: string;
  clock?: () => number;
  log?: Logger;
  /** A sidecar that reported within this long is live. Default 30 s (reports come every 5 s). */
  liveWithinMs?: number;
  refreshMs?: number;
  /** Concurrent fan-out streams; more get 429. Default 32. */
  maxClients?: number;
  /** Sidecars tapped per stream (the most recently seen first). Default 64. */
  maxSidecars?: number;
  defaultRate?: number;
  pingMs?: number;
}

export interface TapFanout {
  /** Serves `GET /api/tap` (the caller has checked auth). */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): void;
  readonly clients: number;
  /** Ends every stream. */
  close(): void;
}

const MAX_RATE = 10_000;
const HEAD_TIMEOUT_MS = 5_000;
const SILENCE_MS = 45_000;
const MAX_ERROR_BODY = 2048;
/** Retry delays after a sidecar failed or left, ms (the last one repeats). */
const BACKOFF_MS = [1000, 2000, 5000, 10_000, 30_000];

interface Upstream {
  key: string;
  target: TapTarget;
  req: ClientRequest | null;
  res: IncomingMessage | null;
  connected: boolean;
  failures: number;
  retryAt: number;
  /** Failed for a reason retrying cannot fix soon (reported once). */
  reported: string;
}

function firstLine(text: string): string {
  return text.split('\n')[0]!.replace(/[\x00-\x1f\x7f]/g, ' ').trim().slice(0, 200);
}

/**
 * @example
 * const tap = createTapFanout({ token, sidecars: () => store.tapTargets() });
 * if (path === '/api/tap') return tap.handle(req, res, url);
 */
export function createTapFanout(options: TapFanoutOptions): TapFanout {
  const clock = options.clock ?? Date.now;
  const log = options.log ?? silentLogger;
  const liveWithin = options.liveWithinMs ?? 30_000;
  const refreshMs = options.refreshMs ?? 2000;
  const maxClients = options.maxClients ?? 32;
  const maxSidecars = options.maxSidecars ?? 64;
  const defaultRate = options.defaultRate ?? 100;
  const pingMs = options.pingMs ?? PING_EVERY_MS;
  const closers = new Set<() => void>();

  const handle = (req: IncomingMessage, res: ServerResponse, url: URL): void => {
    if (req.method !== 'GET') return sendError(res, 405, 'method_not_allowed', 'GET /api/tap', { allow: 'GET' });
    let filter: TapFilter;
    let rate = defaultRate;
    try {
      filter = parseFilter(url.searchParams);
      const r = url.searchParams.get('rate');
      if (r !== null && r !== '') {
        if (!/^\d+$/.test(r) || Number(r) < 1 || Number(r) > MAX_RATE) throw new FilterError(`rate must be an integer from 1 to ${MAX_RATE}`);
        rate = Number(r);
      }
    } catch (err) {
      if (err instanceof FilterError) return sendError(res, 400, 'bad_filter', err.message);
      throw err;
    }
    if (closers.size >= maxClients) return sendError(res, 429, 'too_many_taps', `at most ${maxClients} live taps at once; try again later`, { 'retry-after': '5' });
    const wantHeaders = url.searchParams.get('headers') === '1';
    const wantBodies = url.searchParams.get('bodies') === '1';
    const upstreamQuery = filterToQuery(filter);
    upstreamQuery.set('rate', String(rate));
    if (wantHeaders) upstreamQuery.set('headers', '1');
    if (wantBodies) upstreamQuery.set('bodies', '1');

    res.writeHead(200, {
      ...BASE_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no', // nginx: do not buffer a stream
    });
    res.flushHeaders();
    req.socket.setNoDelay(true);

    const upstreams = new Map<string, Upstream>();
    let closed = false;
    let writable = true;
    let tokens = rate;
    let refilled = performance.now();
    let droppedPending = 0;
    let droppedTotal = 0;

    const write = (text: string): void => {
      if (closed) return;
      if (!res.write(text) && writable) {
        // The client is not keeping up: stop reading the sidecars until it drains.
        writable = false;
        for (const u of upstreams.values()) u.res?.pause();
      }
    };
    res.on('drain', () => {
      writable = true;
      for (const u of upstreams.values()) u.res?.resume();
    });
    const connectedCount = (): number => [...upstreams.values()].filter((u) => u.connected).length;
    const source = (u: Upstream, state: TapSource['state'], message?: string, notes?: string[]): void => {
      const s: TapSource = { pod: u.target.pod, service: u.target.service, namespace: u.target.namespace, state, connected: connectedCount() };
      if (message !== undefined) s.message = message;
      if (notes !== undefined && notes.length > 0) s.notes = notes;
      write(sseEvent('source', JSON.stringify(s)));
    };
    const flushDrops = (): void => {
      if (droppedPending === 0) return;
      const d: TapDropped = { count: droppedPending, total: droppedTotal, reason: 'rate' };
      droppedPending = 0;
      write(sseEvent('dropped', JSON.stringify(d)));
    };

    const onEvent = (u: Upstream, event: string, data: string): void => {
      if (event === 'message') {
        let parsed: unknown;
        try {
          parsed = JSON.parse(data);
        } catch {
          return;
        }
        const r = normalizeRecord(parsed);
        if (!r) return;
        const now = performance.now();
        tokens = Math.min(rate, tokens + ((now - refilled) * rate) / 1000);
        refilled = now;
        if (tokens < 1) {
          droppedPending++;
          droppedTotal++;
          return;
        }
        tokens -= 1;
        flushDrops();
        // The dashboard's name for the sidecar wins over what the stream says.
        r.pod = u.target.pod;
        r.service = u.target.service;
        r.namespace = u.target.namespace;
        write(sseEvent(null, JSON.stringify(r)));
      } else if (event === 'hello') {
        let notes: string[] = [];
        try {
          const h = JSON.parse(data) as Partial<TapHello>;
          if (Array.isArray(h.notes)) notes = h.notes.filter((n): n is string => typeof n === 'string').map(firstLine).slice(0, 5);
        } catch {
          // a hello we cannot read changes nothing
        }
        u.connected = true;
        u.failures = 0;
        u.reported = '';
        source(u, 'connected', undefined, notes);
      } else if (event === 'dropped') {
        try {
          const d = JSON.parse(data) as Partial<TapDropped>;
          if (typeof d.count !== 'number' || typeof d.total !== 'number') return;
          const out: TapDropped = { count: d.count, total: d.total, reason: d.reason === 'rate' ? 'rate' : 'slow', pod: u.target.pod, service: u.target.service };
          write(sseEvent('dropped', JSON.stringify(out)));
        } catch {
          // ignore a notice we cannot read
        }
      }
    };

    const disconnect = (u: Upstream): void => {
      u.connected = false;
      const { req: creq, res: cres } = u;
      u.req = null;
      u.res = null;
      creq?.destroy();
      cres?.destroy();
    };

    const failed = (u: Upstream, message: string, retry: boolean): void => {
      const wasConnected = u.connected;
      disconnect(u);
      if (closed) return;
      u.failures++;
      u.retryAt = clock() + BACKOFF_MS[Math.min(u.failures - 1, BACKOFF_MS.length - 1)]!;
      if (!retry) u.retryAt = clock() + BACKOFF_MS.at(-1)!;
      // Say it once per streak: a sidecar refusing every 30 s is not news every 30 s.
      if (wasConnected) source(u, 'disconnected', message);
      else if (u.reported !== message) source(u, 'failed', message);
      u.reported = message;
      log.debug('tap upstream failed', { pod: u.target.pod, service: u.target.service, error: message });
    };

    const connect = (u: Upstream): void => {
      const admin = u.target.admin!;
      let url2: URL;
      try {
        url2 = new URL(`${admin.replace(/\/+$/, '')}/tap?${upstreamQuery.toString()}`);
        if (url2.protocol !== 'http:' && url2.protocol !== 'https:') throw new Error('not http');
      } catch {
        failed(u, `its admin URL is not an http:// URL`, false);
        return;
      }
      const client = url2.protocol === 'https:' ? https : http;
      const creq = client.get(url2, { agent: false, timeout: HEAD_TIMEOUT_MS, headers: { accept: 'text/event-stream', authorization: `Bearer ${options.token}` } });
      u.req = creq;
      creq.on('timeout', () => creq.destroy(new Error(`no answer within ${HEAD_TIMEOUT_MS / 1000}s`)));
      creq.on('error', (err) => {
        if (u.req === creq) failed(u, `cannot reach ${admin}: ${describeError(err)}`, true);
      });
      creq.on('response', (cres) => {
        if (u.req !== creq) {
          cres.destroy();
          return;
        }
        creq.setTimeout(0);
        u.res = cres;
        cres.setEncoding('utf8');
        if (cres.statusCode !== 200) {
          let text = '';
          cres.on('data', (c: string) => {
            if (text.length < MAX_ERROR_BODY) text += c;
          });
          cres.on('end', () => {
            const status = cres.statusCode ?? 0;
            const why = status === 401 ? 'it refused the dashboard token (is its SKIFF_TOKEN the same?)' : `it answered ${status}: ${firstLine(text)}`;
            failed(u, why, status !== 401 && status !== 404);
          });
          cres.on('error', () => undefined);
          return;
        }
        if (!writable) cres.pause();
        const parser = new SseParser();
        const silence = setTimeout(() => cres.destroy(new Error(`silent for ${SILENCE_MS / 1000}s`)), SILENCE_MS);
        cres.on('data', (chunk: string) => {
          silence.refresh();
          let events;
          try {
            events = parser.push(chunk);
          } catch (err) {
            cres.destroy(err as Error);
            return;
          }
          for (const m of events) onEvent(u, m.event, m.data);
        });
        cres.on('error', () => undefined);
        cres.on('close', () => {
          clearTimeout(silence);
          if (u.res === cres) failed(u, 'its tap stream ended', true);
        });
      });
    };

    const sync = (): void => {
      if (closed) return;
      const now = clock();
      // Live sidecars of the selection, most recently seen first; one per admin URL (a restarted
      // sidecar keeps its address under a new id: tap it once).
      const wanted = new Map<string, TapTarget>();
      const candidates = options
        .sidecars()
        .filter((t) => now - t.lastSeen <= liveWithin && matchesIdentity(filter, t))
        .sort((a, b) => b.lastSeen - a.lastSeen);
      for (const t of candidates) {
        const key = t.admin ?? `id:${t.sidecarId}`;
        if (!wanted.has(key) && wanted.size < maxSidecars) wanted.set(key, t);
      }
      for (const [key, u] of upstreams) {
        if (wanted.has(key)) continue;
        const was = u.connected;
        disconnect(u);
        upstreams.delete(key);
        if (was) source(u, 'disconnected', 'it stopped reporting to the dashboard');
      }
      for (const [key, target] of wanted) {
        let u = upstreams.get(key);
        if (!u) {
          u = { key, target, req: null, res: null, connected: false, failures: 0, retryAt: 0, reported: '' };
          upstreams.set(key, u);
          if (!target.admin) {
            u.reported = 'no admin URL';
            source(u, 'failed', 'it reports no admin URL (start it with --admin-url, or a reachable --admin)');
            continue;
          }
        }
        u.target = target;
        if (target.admin && !u.req && now >= u.retryAt) connect(u);
      }
    };

    const hello: TapHello = { service: filter.service ?? null, namespace: filter.namespace ?? null, pod: filter.pod ?? null, rate, headers: wantHeaders, bodies: wantBodies, notes: [] };
    write(`retry: ${SSE_RETRY_MS}\n` + sseEvent('hello', JSON.stringify(hello)));
    const refresh = setInterval(sync, refreshMs);
    const ping = setInterval(() => {
      flushDrops();
      if (writable) write(SSE_PING);
    }, pingMs);
    // Drop notices are sent with the next record; without one, at least once a second.
    const dropTimer = setInterval(flushDrops, 1000);
    const close = (): void => {
      if (closed) return;
      closed = true;
      clearInterval(refresh);
      clearInterval(ping);
      clearInterval(dropTimer);
      for (const u of upstreams.values()) disconnect(u);
      upstreams.clear();
      closers.delete(close);
      if (!res.writableEnded) res.end();
      log.info('live tap closed', { taps: closers.size });
    };
    closers.add(close);
    // The response closes when the client goes away (req's own 'close' only means its body ended).
    res.on('close', close);
    log.info('live tap opened', { taps: closers.size, service: filter.service ?? '(mesh)' });
    sync();
  };

  return {
    handle,
    get clients() {
      return closers.size;
    },
    close() {
      for (const c of [...closers]) c();
    },
  };
}
