/**
 * Test helpers for the proxy: a real sidecar on loopback port 0 in front of a real upstream,
 * with the real recorder, plus raw-socket clients for byte-exact HTTP tests.
 */
import net from 'node:net';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSidecar } from '../../src/proxy/sidecar.ts';
import type { Sidecar, SidecarConfig } from '../../src/proxy/sidecar.ts';
import { createRecorder } from '../../src/telemetry/recorder.ts';
import type { Recorder } from '../../src/telemetry/recorder.ts';
import { silentLogger } from '../../src/log.ts';
import type { RequestRecord } from '../../src/telemetry/model.ts';

export interface TestSidecar {
  sidecar: Sidecar;
  recorder: Recorder;
  port: number;
  adminPort: number;
  records: RequestRecord[];
  metrics(): Promise<string>;
  close(): Promise<void>;
}

/** A sidecar config for tests: loopback, port 0 everywhere, short timeouts. */
export function testSidecarConfig(appPort: number, identity: SidecarConfig['identity'], overrides: Partial<SidecarConfig> = {}): SidecarConfig {
  return {
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
}

export async function startSidecar(appPort: number, overrides: Partial<SidecarConfig> = {}): Promise<TestSidecar> {
  const identity = { service: 'test', namespace: 'default', pod: 'test-0' };
  const recorder = createRecorder({ identity, routeBudget: 100 });
  const records: RequestRecord[] = [];
  recorder.onRequest((r) => records.push(r));
  const sidecar = await createSidecar(testSidecarConfig(appPort, identity, overrides), { sink: recorder, metrics: () => recorder.metrics(), log: silentLogger });
  return {
    sidecar,
    recorder,
    records,
    port: sidecar.inbound.port,
    adminPort: sidecar.admin.port,
    async metrics() {
      const r = await fetch(`http://127.0.0.1:${sidecar.admin.port}/metrics`);
      return r.text();
    },
    close: () => sidecar.close(),
  };
}

/** A node:http upstream on port 0. */
export async function startHttpServer(handler: http.RequestListener): Promise<{ server: http.Server; port: number; close(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Sends raw bytes and resolves with everything received until the server closes or `until` matches. */
export function rawExchange(port: number, data: string | Buffer | (string | Buffer)[], opts: { until?: (received: string) => boolean; timeoutMs?: number; gapMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`timeout; received so far: ${JSON.stringify(received.slice(0, 500))}`));
    }, opts.timeoutMs ?? 5000);
    socket.on('data', (c: Buffer) => {
      received += c.toString('latin1');
      if (opts.until?.(received)) {
        clearTimeout(timer);
        socket.destroy();
        resolve(received);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(received);
    });
    socket.on('connect', () => {
      void (async () => {
        const parts = Array.isArray(data) ? data : [data];
        for (const p of parts) {
          socket.write(p);
          if (opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
        }
      })();
    });
  });
}

/** Counts complete HTTP responses in a raw byte string (Content-Length framed only). */
export function splitResponses(raw: string): { status: number; headers: Record<string, string>; body: string }[] {
  const out: { status: number; headers: Record<string, string>; body: string }[] = [];
  let rest = raw;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) break;
    const lines = rest.slice(0, end).split('\r\n');
    const status = Number(lines[0]!.split(' ')[1]);
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
    }
    const len = Number(headers['content-length'] ?? 0);
    out.push({ status, headers, body: rest.slice(end + 4, end + 4 + len) });
    rest = rest.slice(end + 4 + len);
  }
  return out;
}

export async function waitFor(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
