/**
 * Tap filters: which requests a tap client wants to see. One shape, three forms:
 * - query parameters of `GET /tap` (sidecar) and `GET /api/tap` (dashboard);
 * - flags of `skiff tap` / `skiff top` (the same names);
 * - a predicate over a record, run on the request path (so it only compares fields).
 *
 * | parameter     | example          | keeps                                             |
 * |---------------|------------------|---------------------------------------------------|
 * | `service`     | `reviews`        | that service (a sidecar answers 404 for another)  |
 * | `namespace`   | `shop`           | that namespace                                    |
 * | `pod`         | `reviews-7d4-x2` | that pod (dashboard only)                         |
 * | `direction`   | `inbound`        | `inbound` or `outbound`                           |
 * | `method`      | `POST`           | that method (exact, case-sensitive as on the wire)|
 * | `path`        | `/api/`          | paths starting with this prefix                   |
 * | `status`      | `5xx`, `error`   | a status class (1xx…5xx), or any proxy error code |
 * | `min-latency` | `100ms`          | requests that took at least this long             |
 */
import type { Direction, RequestRecord } from '../telemetry/model.ts';

export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'error'] as const;
export type StatusClass = (typeof STATUS_CLASSES)[number];

export interface TapFilter {
  service?: string;
  namespace?: string;
  pod?: string;
  direction?: Direction;
  method?: string;
  pathPrefix?: string;
  status?: StatusClass;
  minLatencyMs?: number;
}

export class FilterError extends Error {
  override name = 'FilterError';
}

/** Longest filter value accepted (a filter is a name or a prefix, not a payload). */
const MAX_VALUE = 512;
// RFC 9110 §5.6.2: a method is a token.
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$/;

/** `100ms`, `1.5s`, `2m`, or a bare number of milliseconds. */
export function parseLatency(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) throw new FilterError(`min-latency "${text}" is not a duration (examples: 50ms, 1.5s, 2m)`);
  const factor = m[2] === 's' ? 1000 : m[2] === 'm' ? 60_000 : 1;
  return Number(m[1]) * factor;
}

function value(q: URLSearchParams, name: string): string | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (v.length > MAX_VALUE) throw new FilterError(`${name} is longer than ${MAX_VALUE} characters`);
  return v;
}

/** Reads a filter from query parameters; throws FilterError (→ 400) on a bad value. */
export function parseFilter(q: URLSearchParams): TapFilter {
  const f: TapFilter = {};
  const service = value(q, 'service');
  if (service !== undefined) f.service = service;
  const namespace = value(q, 'namespace');
  if (namespace !== undefined) f.namespace = namespace;
  const pod = value(q, 'pod');
  if (pod !== undefined) f.pod = pod;
  const direction = value(q, 'direction');
  if (direction !== undefined) {
    if (direction !== 'inbound' && direction !== 'outbound') throw new FilterError(`direction must be inbound or outbound, not "${direction}"`);
    f.direction = direction;
  }
  const method = value(q, 'method');
  if (method !== undefined) {
    if (!TOKEN.test(method)) throw new FilterError(`method "${method}" is not an HTTP method`);
    f.method = method;
  }
  const path = value(q, 'path');
  if (path !== undefined) f.pathPrefix = path;
  const status = value(q, 'status');
  if (status !== undefined) {
    const s = status.toLowerCase();
    if (!(STATUS_CLASSES as readonly string[]).includes(s)) throw new FilterError(`status must be one of ${STATUS_CLASSES.join(', ')}, not "${status}"`);
    f.status = s as StatusClass;
  }
  const minLatency = value(q, 'min-latency');
  if (minLatency !== undefined) f.minLatencyMs = parseLatency(minLatency);
  return f;
}

/** The query parameters for a filter (the inverse of parseFilter). */
export function filterToQuery(f: TapFilter, q = new URLSearchParams()): URLSearchParams {
  if (f.service !== undefined) q.set('service', f.service);
  if (f.namespace !== undefined) q.set('namespace', f.namespace);
  if (f.pod !== undefined) q.set('pod', f.pod);
  if (f.direction !== undefined) q.set('direction', f.direction);
  if (f.method !== undefined) q.set('method', f.method);
  if (f.pathPrefix !== undefined) q.set('path', f.pathPrefix);
  if (f.status !== undefined) q.set('status', f.status);
  if (f.minLatencyMs !== undefined) q.set('min-latency', `${f.minLatencyMs}ms`);
  return q;
}

/**
 * True when a request record passes the filter. Runs on the request path for every request
 * while a tap is attached: field comparisons only, no allocation.
 */
export function matchesRecord(f: TapFilter, r: RequestRecord): boolean {
  if (f.direction !== undefined && r.direction !== f.direction) return false;
  if (f.method !== undefined && r.method !== f.method) return false;
  if (f.pathPrefix !== undefined && !r.path.startsWith(f.pathPrefix)) return false;
  if (f.minLatencyMs !== undefined && !(r.durationMs >= f.minLatencyMs)) return false;
  if (f.status !== undefined) {
    // `5xx` is what the client saw (a 502 the sidecar made included); `error` is any request
    // that ended with a proxy error code, whatever its status (a client abort has none).
    if (f.status === 'error') return r.error !== '';
    if (Math.floor(r.statusCode / 100) !== f.status.charCodeAt(0) - 48) return false;
  }
  return true;
}

/** True when a sidecar's identity passes the identity part of the filter (service, namespace, pod). */
export function matchesIdentity(f: TapFilter, id: { service: string; namespace: string; pod: string }): boolean {
  if (f.service !== undefined && id.service !== f.service) return false;
  if (f.namespace !== undefined && id.namespace !== f.namespace) return false;
  if (f.pod !== undefined && id.pod !== f.pod) return false;
  return true;
}
