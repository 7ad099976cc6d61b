/**
 * The sidecar, assembled: inbound listener, outbound listeners, admin server, drain.
 *
 * This is the one place where the proxy's parts are put together; the order matters:
 * admin first (so /livez answers as soon as anything does), then the listeners, and on drain
 * the reverse — stop accepting, let exchanges finish, close the admin last so /readyz can
 * say "draining" until the very end.
 */
import type { AddressInfo } from 'node:net';
import { UpstreamPool } from './pool.ts';
import { GcPacer } from './memory.ts';
import type { Target } from './pool.ts';
import { Listener } from './listener.ts';
import type { ListenerLimits, ProxyRuntime } from './listener.ts';
import { Destinations, serviceOfHost } from './destinations.ts';
import { createAdminServer } from './admin.ts';
import type { AdminHandler, AdminServer } from './admin.ts';
import type { HostPort } from '../config/options.ts';
import type { Identity, TelemetrySink } from '../telemetry/model.ts';
import type { Logger } from '../log.ts';

/** A declared upstream port: `--upstream reviews=127.0.0.1:7001@127.0.0.1:15011`. */
export interface UpstreamPort {
  name: string;
  listen: HostPort;
  /** Where NAME is; undefined → resolved like outbound traffic (--resolve, else DNS NAME at the listen port). */
  target?: HostPort;
}

export interface SidecarConfig {
  identity: Identity;
  listen: HostPort;
  app: HostPort;
  admin: HostPort;
  outbound?: HostPort | undefined;
  upstreams: readonly UpstreamPort[];
  resolve: ReadonlyMap<string, HostPort>;
  opaquePorts: ReadonlySet<number>;
  limits: ListenerLimits;
  connectTimeoutMs: number;
  maxConnections: number;
  maxIdleUpstream: number;
}

export interface SidecarDeps {
  sink: TelemetrySink;
  metrics: () => string;
  log: Logger;
  adminRoutes?: ReadonlyMap<string, AdminHandler>;
}

export interface Sidecar {
  readonly inbound: AddressInfo;
  readonly admin: AddressInfo;
  readonly outbound: AddressInfo | null;
  readonly upstreams: ReadonlyMap<string, AddressInfo>;
  readonly draining: boolean;
  /** Client connections open now, over all listeners. */
  connectionCount(): number;
  /** Graceful drain; resolves 'drained' when every connection closed, 'timeout' if cut at the deadline. */
  drain(timeoutMs: number): Promise<'drained' | 'timeout'>;
  /** Immediate close (tests, or after a drain). */
  close(): Promise<void>;
}

export async function createSidecar(config: SidecarConfig, deps: SidecarDeps): Promise<Sidecar> {
  const pool = new UpstreamPool({ connectTimeoutMs: config.connectTimeoutMs, maxIdle: config.maxIdleUpstream, idleTimeoutMs: 4000 });
  const runtime: ProxyRuntime = { sink: deps.sink, pool, log: deps.log, draining: false, localService: config.identity.service, gc: new GcPacer() };
  const destinations = new Destinations(config.resolve);
  const listeners: Listener[] = [];
  let admin: AdminServer | null = null;

  const closeAll = async (): Promise<void> => {
    for (const l of listeners) l.destroyAll();
    pool.closeIdle();
    if (admin) {
      const a = admin;
      admin = null;
      await a.close();
    }
  };

  try {
    admin = createAdminServer({ app: config.app, isDraining: () => runtime.draining, metrics: deps.metrics, ...(deps.adminRoutes ? { routes: deps.adminRoutes } : {}) });
    const adminAddress = await admin.listen(config.admin);

    const appTarget: Target = { key: `${config.app.host}:${config.app.port}`, host: config.app.host, port: config.app.port, peer: '' };
    const inbound = new Listener(
      {
        name: 'inbound',
        direction: 'inbound',
        mode: 'fixed',
        target: appTarget,
        opaque: config.opaquePorts.has(config.app.port),
        limits: config.limits,
        maxConnections: config.maxConnections,
      },
      runtime,
    );
    listeners.push(inbound);
    const inboundAddress = await inbound.listen(config.listen.host, config.listen.port);

    let outboundAddress: AddressInfo | null = null;
    if (config.outbound) {
      const outbound = new Listener(
        {
          name: 'outbound',
          direction: 'outbound',
          mode: 'proxy',
          target: null,
          resolve: (authority, port) => destinations.resolve(authority, port),
          opaque: false,
          limits: config.limits,
          maxConnections: config.maxConnections,
        },
        runtime,
      );
      listeners.push(outbound);
      outboundAddress = await outbound.listen(config.outbound.host, config.outbound.port);
    }

    const upstreamAddresses = new Map<string, AddressInfo>();
    for (const u of config.upstreams) {
      const t = u.target
        ? { key: `${u.target.host}:${u.target.port}`, host: u.target.host, port: u.target.port, peer: serviceOfHost(u.name) }
        : destinations.resolve(`${u.name}:${u.listen.port}`, u.listen.port);
      if (!t) throw new Error(`invalid upstream ${u.name}`);
      const target: Target = { ...t, peer: serviceOfHost(u.name) };
      const l = new Listener(
        {
          name: `upstream ${u.name}`,
          direction: 'outbound',
          mode: 'fixed',
          target,
          opaque: config.opaquePorts.has(target.port),
          limits: config.limits,
          maxConnections: config.maxConnections,
        },
        runtime,
      );
      listeners.push(l);
      upstreamAddresses.set(u.name, await l.listen(u.listen.host, u.listen.port));
    }

    return {
      inbound: inboundAddress,
      admin: adminAddress,
      outbound: outboundAddress,
      upstreams: upstreamAddresses,
      get draining() {
        return runtime.draining;
      },
      connectionCount: () => listeners.reduce((n, l) => n + l.connections.size, 0),
      async drain(timeoutMs: number) {
        runtime.draining = true;
        for (const l of listeners) l.drain();
        pool.closeIdle();
        const deadline = Date.now() + timeoutMs;
        let result: 'drained' | 'timeout' = 'drained';
        while (listeners.some((l) => l.connections.size > 0)) {
          if (Date.now() >= deadline) {
            result = 'timeout';
            break;
          }
          await new Promise((r) => setTimeout(r, 20));
        }
        await closeAll();
        return result;
      },
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
