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
import { silentLogger } from '../../src/log.ts';
import type { Identity } from '../../src/telemetry/model.ts';
import { createSidecarTap } from '../../src/live/sidecar-tap.ts';
import type { SidecarTap, SidecarTapOptions } from '../../src/live/sidecar-tap.ts';
import { SseParser } from '../../src/live/sse.ts';
import type { SseMessage } from '../../src/live/sse.ts';
import type { TapDropped, TapHello, TapRecord, TapSource } from '../../src/live/record.ts';

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

export async function startTappedSidecar(
  appPort: number,
  tapOptions: Partial<Omit<SidecarTapOptions, 'recorder' | 'identity' | 'log'>> = {},
  identity: Identity = { service: 'web', namespace: 'default', pod: 'web-0' },
  overrides: Partial<SidecarConfig> = {},
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
  const config: SidecarConfig = {
    identity,
    listen: { host: '127.0.0.1', port: 0 },
    app: { host: '127.0.0.1', port: appPort },
    admin: { host: '127.0.0.1', port: 0 },
    upstreams: [],
    resolve: new Map(),
    opaquePorts: new Set(),
    limits: { maxHeaderBytes: 16384, maxHeaders: 100, headerTimeoutMs: 5000, idleTimeoutMs: 30000, responseTimeoutMs: 10000 },
    connectTimeoutMs: 2000,
    maxConnections: 1000,
    maxIdleUpstream: 16,
    ...overrides,
  };
  const sidecar = await createSidecar(config, { sink: recorder, metrics: () => recorder.metrics(), log: silentLogger, adminRoutes: new Map([['/tap', tap.handler]]) });
  return {
    sidecar,
    recorder,
    tap,
    identity,
    port: sidecar.inbound.port,
    adminPort: sidecar.admin.port,
    recorded: () => count,
    async close() {
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
