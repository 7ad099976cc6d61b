/**
 * Where outbound traffic goes: service names to addresses, and the telemetry peer of each.
 *
 * In Kubernetes a name resolves through DNS (`reviews`, `reviews.shop.svc.cluster.local`);
 * in a local mesh `--resolve reviews=127.0.0.1:15011` says where the reviews sidecar listens.
 * The peer label is the service name: the first DNS label of a host name, or the IP itself.
 */
import { isIP } from 'node:net';
import type { HostPort } from '../config/options.ts';
import type { Target } from './pool.ts';

/** `reviews.shop.svc.cluster.local` → `reviews`; an IP stays an IP. */
export function serviceOfHost(host: string): string {
  const h = host.startsWith('[') ? host.slice(1, -1) : host;
  if (isIP(h)) return h;
  return h.split('.')[0]!.toLowerCase();
}

/** Splits `host[:port]` (IPv6 in brackets); null when malformed. */
export function splitAuthority(authority: string, defaultPort: number): { host: string; port: number } | null {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s/@]+)(?::(\d{1,5}))?$/.exec(authority);
  if (!m) return null;
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (port < 1 || port > 65535) return null;
  const host = m[1]!;
  return { host: host.startsWith('[') ? host.slice(1, -1) : host, port };
}

export class Destinations {
  readonly #map: ReadonlyMap<string, HostPort>;
  readonly #cache = new Map<string, Target | null>();

  /** `resolve`: service name (or full host name) → address, from `--resolve NAME=HOST:PORT`. */
  constructor(resolve: ReadonlyMap<string, HostPort>) {
    this.#map = resolve;
  }

  /** The target for `authority` (host[:port]); cached, since it runs per request. */
  resolve(authority: string, defaultPort: number): Target | null {
    const cacheKey = `${authority}|${defaultPort}`;
    const hit = this.#cache.get(cacheKey);
    if (hit !== undefined) return hit;
    const a = splitAuthority(authority, defaultPort);
    let target: Target | null = null;
    if (a) {
      const lower = a.host.toLowerCase();
      const peer = serviceOfHost(lower);
      const mapped = this.#map.get(lower) ?? this.#map.get(peer);
      const host = mapped ? mapped.host : a.host;
      const port = mapped ? mapped.port : a.port;
      target = { key: `${host}:${port}`, host, port, peer };
    }
    if (this.#cache.size > 10_000) this.#cache.clear();
    this.#cache.set(cacheKey, target);
    return target;
  }
}
