/**
 * The upstream every case talks to: a `node:http` server with keep-alive, run as its own process
 * (`node bench/upstream.ts`) so that its CPU is not the bench's.
 *
 * Endpoints:
 *   GET  /        a 20-byte body (the small-response case)
 *   GET  /large   a 1 MiB body
 *   POST /upload  reads the whole request body, then answers the 20-byte body
 *   anything else the 20-byte body
 *
 * It prints `{"port":N}` on stdout once listening, and exits when its stdin closes, so that it
 * cannot outlive a bench that was killed outright.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export const SMALL_BODY = Buffer.from('hello, skiff bench!\n');
export const LARGE_BODY_BYTES = 1024 * 1024;

export function createUpstream(): Server {
  const large = Buffer.alloc(LARGE_BODY_BYTES, 'x');
  const server = createServer(
    // Longer than any run, so that no proxy's pooled connection is closed under it mid-run.
    { keepAliveTimeout: 120_000 },
    (req, res) => {
      if (req.method === 'POST') {
        req.resume();
        req.once('end', () => {
          res.writeHead(200, { 'content-type': 'text/plain', 'content-length': SMALL_BODY.length });
          res.end(SMALL_BODY);
        });
        return;
      }
      const body = req.url === '/large' ? large : SMALL_BODY;
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
      res.end(body);
    },
  );
  server.headersTimeout = 125_000;
  return server;
}

/** Entry point: `node bench/upstream.ts [PORT]`. */
async function main(): Promise<void> {
  const server = createUpstream();
  const port = Number(process.argv[2] ?? 0);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
  process.stdin.resume();
  process.stdin.once('close', () => process.exit(0));
  process.stdin.once('end', () => process.exit(0));
  process.once('SIGTERM', () => process.exit(0));
}

if (import.meta.main) await main();
