/**
 * Turns `skiff proxy` options into a SidecarConfig, validating what the option parser cannot
 * (upstream specs, resolve entries, port lists). Errors are UsageErrors: exit code 2.
 */
import { parseHostPort } from '../config/options.ts';
import type { HostPort, Resolved } from '../config/options.ts';
import { UsageError } from '../errors.ts';
import type { Identity } from '../telemetry/model.ts';
import type { proxyOptions } from './options.ts';
import type { SidecarConfig, UpstreamPort } from './sidecar.ts';

const NAME = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/i;

function hostPort(text: string, what: string): HostPort {
  try {
    return parseHostPort(text, '127.0.0.1');
  } catch (err) {
    throw new UsageError(`${what}: ${(err as Error).message}`);
  }
}

/** `NAME=HOST:PORT[@TARGET_HOST:TARGET_PORT]` */
export function parseUpstream(spec: string): UpstreamPort {
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new UsageError(`--upstream "${spec}": expected NAME=HOST:PORT[@TARGET]`);
  const name = spec.slice(0, eq);
  if (!NAME.test(name)) throw new UsageError(`--upstream "${spec}": "${name}" is not a service name`);
  const [listen, target] = spec.slice(eq + 1).split('@');
  const u: UpstreamPort = { name, listen: hostPort(listen ?? '', `--upstream ${name}`) };
  if (target !== undefined) u.target = hostPort(target, `--upstream ${name} target`);
  return u;
}

export function parseResolve(specs: readonly string[]): Map<string, HostPort> {
  const map = new Map<string, HostPort>();
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    const name = spec.slice(0, eq).toLowerCase();
    if (eq <= 0 || !NAME.test(name)) throw new UsageError(`--resolve "${spec}": expected NAME=HOST:PORT`);
    map.set(name, hostPort(spec.slice(eq + 1), `--resolve ${name}`));
  }
  return map;
}

export function parsePorts(list: readonly string[]): Set<number> {
  const ports = new Set<number>();
  for (const p of list) {
    if (!/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535) throw new UsageError(`--opaque-ports: "${p}" is not a port`);
    ports.add(Number(p));
  }
  return ports;
}

function positive(n: number, what: string): number {
  if (!(n > 0)) throw new UsageError(`--${what} must be greater than 0`);
  return n;
}

export function buildSidecarConfig(v: Resolved<typeof proxyOptions>, identity: Identity): SidecarConfig {
  return {
    identity,
    listen: v.listen,
    app: v.app,
    admin: v.admin,
    outbound: v.outbound,
    upstreams: v.upstream.map(parseUpstream),
    resolve: parseResolve(v.resolve),
    opaquePorts: parsePorts(v['opaque-ports']),
    limits: {
      maxHeaderBytes: positive(v['max-header-bytes'], 'max-header-bytes'),
      maxHeaders: positive(v['max-headers'], 'max-headers'),
      headerTimeoutMs: positive(v['header-timeout'], 'header-timeout'),
      idleTimeoutMs: positive(v['idle-timeout'], 'idle-timeout'),
      responseTimeoutMs: positive(v.timeout, 'timeout'),
    },
    connectTimeoutMs: positive(v['connect-timeout'], 'connect-timeout'),
    maxConnections: positive(v['max-connections'], 'max-connections'),
    maxIdleUpstream: v['max-idle-upstream'],
  };
}
