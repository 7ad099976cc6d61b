/**
 * The little that every shop service shares: an HTTP server with a route table, a client that
 * goes through the mesh, seeded helpers for realistic variety, and a graceful stop on SIGTERM.
 *
 * Calls to other services use node:http with URLs such as `http://reviews/reviews/7`. With
 * `HTTP_PROXY` and `NODE_USE_ENV_PROXY=1` (set by `skiff up`), Node sends them to the sidecar's
 * outbound listener as absolute-form requests, and the sidecar records each one. (fetch would
 * tunnel them with CONNECT instead, which the sidecar can only count as a TCP connection.)
 */
import http from 'node:http';

export interface Reply {
  status?: number;
  body?: unknown;
  /** Extra latency to add before answering, ms (the service "working"). */
  delayMs?: number;
}

export type Handler = (req: http.IncomingMessage, match: RegExpExecArray, body: string) => Reply | Promise<Reply>;

export interface Route {
  method: string;
  path: RegExp;
  handler: Handler;
}

const MAX_BODY = 1 << 20;

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) req.destroy(new Error('body too large'));
      else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A number in [min, max). */
export function between(min: number, max: number): number {
  return min + Math.random() * (max - min);
}

/** True with probability `p`. */
export function chance(p: number): boolean {
  return Math.random() < p;
}

/** Deterministic filler text of about `bytes` bytes (payload sizes that differ per item). */
export function lorem(seed: number, bytes: number): string {
  const words = ['solid', 'oak', 'handmade', 'blue', 'linen', 'travel', 'classic', 'compact', 'durable', 'light', 'warm', 'everyday'];
  let s = '';
  let i = seed;
  while (s.length < bytes) {
    i = (i * 1103515245 + 12345) % 2147483648;
    s += words[i % words.length]! + ' ';
  }
  return s.slice(0, bytes);
}

export interface Service {
  readonly name: string;
  log(msg: string): void;
}

/**
 * Starts the service on PORT and answers with the first matching route. Logs one summary line
 * every 30 s (not one per request: the terminal is shared with every other service).
 */
export function serve(name: string, routes: Route[]): Service {
  const port = Number(process.env.PORT ?? '0');
  const log = (msg: string): void => void process.stdout.write(`${msg}\n`);
  let served = 0;
  let failed = 0;
  const server = http.createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? '/').split('?')[0]!;
      let reply: Reply;
      try {
        const body = await readBody(req);
        const route = routes.find((r) => r.method === req.method && r.path.test(path));
        const match = route ? route.path.exec(path) : null;
        if (req.method === 'GET' && path === '/healthz') reply = { body: { ok: true } };
        else if (!route || !match) reply = { status: 404, body: { error: 'not found' } };
        else reply = await route.handler(req, match, body);
      } catch (err) {
        reply = { status: 500, body: { error: (err as Error).message } };
      }
      if (reply.delayMs) await sleep(reply.delayMs);
      const status = reply.status ?? 200;
      served += 1;
      if (status >= 500) failed += 1;
      const text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body ?? {});
      res.writeHead(status, { 'content-type': typeof reply.body === 'string' ? 'text/html; charset=utf-8' : 'application/json' });
      res.end(text);
    })();
  });
  server.listen(port, '127.0.0.1', () => log(`${name} listening on 127.0.0.1:${port}`));
  const summary = setInterval(() => log(`served ${served} requests in the last 30s, ${failed} failed`), 30_000);
  summary.unref();
  setInterval(() => {
    served = 0;
    failed = 0;
  }, 30_000).unref();
  // Graceful stop: finish in-flight requests, then exit (skiff up sends SIGTERM).
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      server.close(() => process.exit(0));
      server.closeIdleConnections();
      setTimeout(() => process.exit(0), 2000).unref();
    });
  }
  return { name, log };
}

export interface CallResult {
  status: number;
  body: string;
}

// Keep connections to the sidecar alive and bounded: a burst cannot open thousands of sockets.
// A custom agent honours the proxy variables only when given them (`proxyEnv`); the global
// agent does so by itself under NODE_USE_ENV_PROXY=1.
const agent = new http.Agent({ keepAlive: true, maxSockets: 32, proxyEnv: process.env });

/**
 * Calls another service through the mesh: `call('http://catalog/products/7')`. A transport
 * failure (the sidecar unreachable) resolves as status 0 rather than throwing.
 */
export function call(url: string, options: { method?: string; body?: string; timeoutMs?: number } = {}): Promise<CallResult> {
  return new Promise((resolve) => {
    const req = http.request(
      url,
      {
        method: options.method ?? 'GET',
        agent,
        timeout: options.timeoutMs ?? 5000,
        headers: options.body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(options.body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', () => resolve({ status: 0, body: '' }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.end(options.body);
  });
}

/** Parses a JSON body, or returns `fallback` when it is not JSON (an error page). */
export function json<T>(text: string, fallback: T): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}
