/**
 * A service address for a service with several replicas: a TCP port that hands each new
 * connection to the next replica's sidecar, round-robin (what a Kubernetes Service does with
 * kube-proxy). Balancing is per connection: a caller that keeps one connection alive stays on
 * one replica until it opens another, exactly as behind a ClusterIP.
 *
 * A replica whose sidecar refuses the connection (being restarted) is skipped; the client's
 * bytes wait (paused) until a replica accepts, so nothing is lost or reordered.
 */
import { createServer, connect, type Socket } from 'node:net';

export interface BalancerOptions {
  readonly host: string;
  readonly port: number;
  readonly backends: readonly { host: string; port: number }[];
  /** Most concurrent client connections; more are closed at once. */
  readonly maxConnections?: number;
  readonly connectTimeoutMs?: number;
}

export interface Balancer {
  readonly port: number;
  close(): Promise<void>;
}

export async function createBalancer(options: BalancerOptions): Promise<Balancer> {
  const { backends } = options;
  const connectTimeoutMs = options.connectTimeoutMs ?? 2000;
  const sockets = new Set<Socket>();
  let next = 0;

  const dial = (client: Socket, tries: number): void => {
    const backend = backends[next % backends.length]!;
    next = (next + 1) % backends.length;
    const upstream = connect({ host: backend.host, port: backend.port });
    sockets.add(upstream);
    upstream.setTimeout(connectTimeoutMs, () => upstream.destroy(new Error('connect timeout')));
    const onError = (): void => {
      sockets.delete(upstream);
      if (tries > 1 && !client.destroyed) dial(client, tries - 1);
      else client.destroy();
    };
    upstream.once('error', onError);
    upstream.once('connect', () => {
      upstream.setTimeout(0);
      upstream.off('error', onError);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      // A clean close is carried by pipe() as an end(); only a broken side tears down the other.
      upstream.on('close', (hadError) => {
        sockets.delete(upstream);
        if (hadError) client.destroy();
      });
      client.on('close', (hadError) => {
        if (hadError) upstream.destroy();
      });
      // pipe() carries backpressure both ways and half-closes (FIN) in order.
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
  };

  const server = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    dial(client, backends.length);
  });
  server.maxConnections = options.maxConnections ?? 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host, port: options.port, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : options.port,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}
