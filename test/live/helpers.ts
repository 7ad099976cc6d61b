/**
 * Helpers for the live-tap tests: a real sidecar (src/proxy) with the tap mounted on its admin
 * port, exactly as `skiff proxy` mounts it, in front of a real node:http app; and a tap client
 * that reads the event stream over a real socket and can stall on purpose.
 */
import http from 'node:http';
import type { IncomingMessage, RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSidecar } from '../../src/proxy/sidecar.ts';
import type { Sidecar, SidecarConfig } from '../../src/proxy/sidecar.ts';
import { createRecorder } from '../../src/telemetry/recorder.ts';
import type { Recorder } from '../../src/telemetry/recorder.ts';
import { createReporter } from '../../src/telemetry/reporter.ts';
import { silentLogger } from '../../src/log.ts';
import type { Identity } from '../../src/telemetry/model.ts';
import { createSidecarTap } from '../../src/live/sidecar-tap.ts';
import { testSidecarConfig } from '../helpers/sidecar.ts';
import type { SidecarTap, SidecarTapOptions } from '../../src/live/sidecar-tap.ts';
import { SseParser } from '../../src/live/sse.ts';
import type { SseMessage } from '../../src/live/sse.ts';
import type { TapDropped, TapHello, TapRecord, TapSource } from '../../src/live/record.ts';
import { Auth } from '../../src/dashboard/auth.ts';
import { createTapFanout } from '../../src/dashboard/tap.ts';
import type { TapFanout, TapFanoutOptions, TapTarget } from '../../src/dashboard/tap.ts';

export interface TappedSidecar {
  sidecar: Sidecar;
  recorder: Recorder;
  tap: SidecarTap;
  identity: Identity;
  port: number;
  adminPort: number;
  /** Every request the recorder saw (a listener of its own, like startSidecar's). */
  recorded: () => number;
  close(): Promise<void>;
}

/**
 * A sidecar with its tap. With `report`, it also reports to a dashboard every 500 ms with its
 * admin URL, as `skiff proxy --dashboard` does, so the dashboard's own /api/tap finds it.
 */
export async function startTappedSidecar(
  appPort: number,
  tapOptions: Partial<Omit<SidecarTapOptions, 'recorder' | 'identity' | 'log'>> = {},
  identity: Identity = { service: 'web', namespace: 'default', pod: 'web-0' },
  overrides: Partial<SidecarConfig> = {},
  report?: { dashboard: string; token: string },
): Promise<TappedSidecar> {
  const recorder = createRecorder({ identity, routeBudget: 100 });
  let count = 0;
  recorder.onRequest(() => count++);
  const tap = createSidecarTap({
    recorder,
    identity,
    token: undefined,
    allowHeaders: false,
    allowBodies: false,
    bodyBytes: 4096,
    redactHeaders: [],
    redactFields: [],
    log: silentLogger,
    ...tapOptions,
  });
  const sidecar = await createSidecar(testSidecarConfig(appPort, identity, overrides), { sink: recorder, metrics: () => recorder.metrics(), log: silentLogger, adminRoutes: new Map([['/tap', tap.handler]]) });
  const reporter = report
    ? createReporter({
        url: report.dashboard,
        token: report.token,
        intervalMs: 500,
        queueBytes: 1 << 20,
        identity,
        takeDelta: () => recorder.takeDelta(),
        readResources: () => null,
        log: silentLogger,
        admin: `http://127.0.0.1:${sidecar.admin.port}`,
      })
    : undefined;
  reporter?.start();
  return {
    sidecar,
    recorder,
    tap,
    identity,
    port: sidecar.inbound.port,
    adminPort: sidecar.admin.port,
    recorded: () => count,
    async close() {
      await reporter?.stop();
      tap.close();
      await sidecar.close();
    },
  };
}

/** A node:http app on a loopback port chosen by the OS. */
export async function startApp(handler: RequestListener): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer(handler);
  server.keepAliveTimeout = 2000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

/** One request through the sidecar (keep-alive); resolves with status, headers and body. */
export function send(
  port: number,
  o: { method?: string; path?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: o.method ?? 'GET', path: o.path ?? '/', headers: o.headers ?? {}, agent, timeout: 20_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(o.body);
  });
}

export interface TapReader {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The body of a refused tap (non-200). */
  text: string;
  events: SseMessage[];
  /** Records received and records the stream said were dropped (running totals, cheap to poll). */
  counts: { records: number; dropped: number };
  hello(): TapHello | undefined;
  records(): TapRecord[];
  dropped(): TapDropped[];
  sources(): TapSource[];
  /** Resolves when `cond` holds over the events so far. */
  until(cond: (r: TapReader) => boolean, timeoutMs?: number, what?: string): Promise<void>;
  pause(): void;
  resume(): void;
  close(): void;
}

/** Opens a tap (`/tap` of a sidecar or `/api/tap` of a dashboard) and collects its events. */
export function openTap(base: string, query = '', o: { token?: string; cookie?: string; path?: string } = {}): Promise<TapReader> {
  const url = new URL(`${base}${o.path ?? '/tap'}${query ? `?${query}` : ''}`);
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  if (o.cookie) headers.cookie = o.cookie;
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, (res: IncomingMessage) => {
      const events: SseMessage[] = [];
      const counts = { records: 0, dropped: 0 };
      const parser = new SseParser();
      let text = '';
      const waiters = new Set<() => void>();
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (res.statusCode !== 200) text += chunk;
        else {
          for (const m of parser.push(chunk)) {
            events.push(m);
            if (m.event === 'message') counts.records++;
            else if (m.event === 'dropped') counts.dropped += (JSON.parse(m.data) as TapDropped).count;
          }
        }
        for (const w of [...waiters]) w();
      });
      res.on('error', () => undefined);
      const of = <T>(name: string): T[] => events.filter((e) => e.event === name).map((e) => JSON.parse(e.data) as T);
      const reader: TapReader = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        get text() {
          return text;
        },
        events,
        counts,
        hello: () => of<TapHello>('hello')[0],
        records: () => of<TapRecord>('message'),
        dropped: () => of<TapDropped>('dropped'),
        sources: () => of<TapSource>('source'),
        until(cond, timeoutMs = 15_000, what = 'tap events') {
          if (cond(reader)) return Promise.resolve();
          return new Promise((ok, fail) => {
            const check = (): void => {
              if (cond(reader)) {
                clearTimeout(t);
                waiters.delete(check);
                ok();
              }
            };
            const t = setTimeout(() => {
              waiters.delete(check);
              fail(new Error(`timed out waiting for ${what}; got ${events.length} events: ${JSON.stringify(events.slice(-5))}`));
            }, timeoutMs);
            waiters.add(check);
          });
        },
        pause: () => res.pause(),
        resume: () => res.resume(),
        close: () => {
          req.destroy();
          res.destroy();
        },
      };
      if (res.statusCode !== 200) res.on('end', () => resolve(reader));
      else resolve(reader);
    });
    req.on('error', reject);
  });
}

export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/**
 * A stand-in for the dashboard's `/api/tap` route until it is mounted in src/dashboard/server.ts:
 * the real fan-out (src/dashboard/tap.ts) behind the real auth check (src/dashboard/auth.ts), on
 * a node:http server. Other paths are forwarded to `upstream` (a real `skiff dashboard`) when given.
 */
export async function startTapFront(o: { token: string; sidecars: () => readonly TapTarget[]; upstream?: string; options?: Partial<TapFanoutOptions> }): Promise<{ url: string; fanout: TapFanout; close(): Promise<void> }> {
  const auth = new Auth(o.token);
  const fanout = createTapFanout({ token: o.token, sidecars: o.sidecars, refreshMs: 200, ...o.options });
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://front');
    if (url.pathname === '/api/tap') {
      if (!auth.checkBearer(req.headers.authorization) && !auth.checkCookie(req.headers.cookie)) {
        res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer realm="skiff"' });
        res.end(JSON.stringify({ error: 'unauthorized', message: 'send the dashboard token as Authorization: Bearer TOKEN, or log in at /login' }));
        return;
      }
      fanout.handle(req, res, url);
      return;
    }
    if (!o.upstream) {
      res.writeHead(404).end();
      return;
    }
    // Forward anything else to the real dashboard, byte for byte.
    const up = http.request(new URL(req.url ?? '/', o.upstream), { method: req.method, headers: { ...req.headers, host: new URL(o.upstream).host } }, (ures) => {
      res.writeHead(ures.statusCode ?? 502, ures.headers);
      ures.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    fanout,
    close: () =>
      new Promise<void>((r) => {
        fanout.close();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
