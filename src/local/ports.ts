/**
 * Ports for local processes: is a port free, and which free ports to hand out.
 *
 * A free port is found by binding port 0 and closing the socket again; the child binds it a
 * moment later. Another program could take it in between; that race is accepted for a dev mesh
 * and shows as a clear "address in use" from the process that lost it.
 */
import { createServer } from 'node:net';

/** Resolves with the error code (EADDRINUSE, EACCES…) when `host:port` cannot be bound, else undefined. */
export function tryBind(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'EADDRINUSE'));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

/** A free port on `host`, not one of `taken`. */
export async function freePort(host: string, taken: ReadonlySet<number> = new Set()): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen({ host, port: 0, exclusive: true }, () => {
        const address = server.address();
        const p = typeof address === 'object' && address ? address.port : 0;
        server.close(() => resolve(p));
      });
    });
    if (!taken.has(port)) return port;
  }
  throw new Error('no free port found');
}

/** `n` distinct free ports on `host`, none of them in `taken`. */
export async function freePorts(host: string, n: number, taken: ReadonlySet<number> = new Set()): Promise<number[]> {
  const seen = new Set(taken);
  const out: number[] = [];
  while (out.length < n) {
    const p = await freePort(host, seen);
    seen.add(p);
    out.push(p);
  }
  return out;
}

/** A one-line reason for a bind error code, for the user. */
export function bindProblem(code: string, port: number): string {
  if (code === 'EADDRINUSE') return `port ${port} is already in use`;
  if (code === 'EACCES') return `port ${port} needs privileges (use a port above 1023)`;
  return `port ${port} cannot be used (${code})`;
}
