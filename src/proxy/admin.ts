/**
 * The sidecar's admin server (loopback by default). Endpoints:
 *
 *   GET /livez    200 while the process runs (the event loop answers)
 *   GET /readyz   200 only while the app's port accepts connections and we are not draining
 *   GET /metrics  Prometheus text exposition (telemetry/prometheus.ts)
 *   …             extra routes mounted by features (the live tap: GET /tap)
 *
 * node:http is fine here: this is off the request path.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { HostPort } from '../config/options.ts';

export type AdminHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export interface AdminOptions {
  app: HostPort;
  isDraining: () => boolean;
  metrics: () => string;
  routes?: ReadonlyMap<string, AdminHandler>;
  probeTimeoutMs?: number;
}

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

export function createAdminServer(options: AdminOptions): http.Server {
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const path = url.split('?')[0]!;
    const extra = options.routes?.get(path);
    if (extra) {
      extra(req, res);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    switch (path) {
      case '/livez':
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
        return;
      case '/readyz':
        if (options.isDraining()) {
          res.writeHead(503, { 'content-type': 'text/plain' }).end('draining\n');
          return;
        }
        void canConnect(options.app, options.probeTimeoutMs ?? 1000).then((ok) => {
          if (ok) res.writeHead(200, { 'content-type': 'text/plain' }).end('ready\n');
          else res.writeHead(503, { 'content-type': 'text/plain' }).end(`app not accepting connections on ${options.app.host}:${options.app.port}\n`);
        });
        return;
      case '/metrics': {
        let body: string;
        try {
          body = options.metrics();
        } catch (err) {
          res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(err as Error).message}\n`);
          return;
        }
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(body);
        return;
      }
      default:
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /livez, /readyz, /metrics\n');
    }
  });
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 0; // /tap streams
  return server;
}

export async function listenHttp(server: http.Server, hp: HostPort): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(hp.port, hp.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server.address() as AddressInfo;
}
