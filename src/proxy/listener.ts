/**
 * A listener of the sidecar: accepts client connections and hands each to a ClientConnection.
 *
 * Three kinds, one mechanism:
 * - inbound (`--listen`): every connection goes to the app (`mode: 'fixed'`);
 * - declared upstream ports (`--upstream NAME=…`): every connection goes to service NAME;
 * - the outbound HTTP proxy (`--outbound`): each request names its destination
 *   (absolute-form, Host, or CONNECT) (`mode: 'proxy'`).
 *
 * Timeouts are enforced by one periodic sweep over the listener's connections rather than a
 * timer per request: setting a deadline on the request path is then a number assignment.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { ClientConnection } from './connection.ts';
import type { Target, UpstreamPool } from './pool.ts';
import type { Direction, TelemetrySink } from '../telemetry/model.ts';
import type { Logger } from '../log.ts';
import type { GcPacer } from './memory.ts';
import { performance } from 'node:perf_hooks';

export interface ListenerLimits {
  maxHeaderBytes: number;
  maxHeaders: number;
  headerTimeoutMs: number;
  idleTimeoutMs: number;
  responseTimeoutMs: number;
}

export interface ListenerConfig {
  /** For logs: `inbound`, `outbound`, `upstream reviews`. */
  name: string;
  direction: Direction;
  mode: 'fixed' | 'proxy';
  /** The one destination of a fixed listener. */
  target: Target | null;
  /** Destination of a request on a proxy listener (`authority` is host[:port]). */
  resolve?: (authority: string, defaultPort: number) => Target | null;
  /** Relay every connection as opaque TCP, with no HTTP detection. */
  opaque: boolean;
  limits: ListenerLimits;
  maxConnections: number;
}

/** State shared by every listener of one sidecar. */
export interface ProxyRuntime {
  sink: TelemetrySink;
  pool: UpstreamPool;
  log: Logger;
  /** Set on SIGTERM: responses say `Connection: close`, idle connections are closed. */
  draining: boolean;
  /** This sidecar's service, sent as `x-skiff-peer` on outbound requests. */
  localService: string;
  /** Frees relayed buffers promptly (memory.ts). */
  gc: GcPacer;
}

export class Listener {
  readonly config: ListenerConfig;
  readonly runtime: ProxyRuntime;
  readonly server: net.Server;
  readonly connections = new Set<ClientConnection>();
  #sweepTimer: NodeJS.Timeout | null = null;

  constructor(config: ListenerConfig, runtime: ProxyRuntime) {
    this.config = config;
    this.runtime = runtime;
    // allowHalfOpen: a client may send its request and half-close; it still gets its response.
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
      if (runtime.draining) {
        socket.destroy();
        return;
      }
      this.connections.add(new ClientConnection(socket, this));
    });
    this.server.maxConnections = config.maxConnections;
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port, backlog: 4096 }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const l = this.config.limits;
    const period = Math.min(1000, Math.max(25, Math.min(l.headerTimeoutMs, l.idleTimeoutMs, l.responseTimeoutMs) / 4));
    this.#sweepTimer = setInterval(() => this.sweep(), period);
    this.#sweepTimer.unref();
    return this.server.address() as AddressInfo;
  }

  forget(conn: ClientConnection): void {
    this.connections.delete(conn);
  }

  sweep(): void {
    const now = performance.now();
    for (const c of this.connections) {
      if (c.deadline !== 0 && now >= c.deadline) c.onDeadline();
    }
    this.runtime.pool.sweep(now);
  }

  /** Stops accepting and asks every connection to finish its current exchange and close. */
  drain(): void {
    this.server.close();
    for (const c of this.connections) c.drain();
  }

  /** Closes whatever is left (the drain deadline passed). */
  destroyAll(): void {
    this.server.close();
    for (const c of this.connections) c.client.destroy();
    if (this.#sweepTimer) clearInterval(this.#sweepTimer);
  }

  stopSweeping(): void {
    if (this.#sweepTimer) clearInterval(this.#sweepTimer);
  }
}
