/**
 * Health and ordering of services and routes, pure so that it is unit-tested in Node.
 *
 * A service is *unhealthy* when its success rate is below 95% or the proxy recorded errors
 * (refused, timed out, reset, …) in the window; *idle* when it had no traffic (no success
 * rate: "no data"); otherwise *healthy*.
 *
 * Default order of the overview: unhealthy first (worst success rate first), then by
 * namespace and name. Worst-first puts what needs attention at the top; the name order below
 * it keeps rows still between refreshes, so the table does not jump every 5 seconds.
 */
import type { RouteRow, ServiceSummary } from '../../api-types.ts';

export const SUCCESS_THRESHOLD = 0.95;

export type Health = 'healthy' | 'unhealthy' | 'idle';

export function errorCount(errors: Record<string, number>): number {
  let n = 0;
  for (const v of Object.values(errors)) n += v;
  return n;
}

export function healthOf(s: { successRate: number | null; errors?: Record<string, number> }): Health {
  const errors = s.errors ? errorCount(s.errors) : 0;
  if ((s.successRate !== null && s.successRate < SUCCESS_THRESHOLD) || errors > 0) return 'unhealthy';
  if (s.successRate === null) return 'idle';
  return 'healthy';
}

export const HEALTH_LABEL: Readonly<Record<Health, string>> = {
  healthy: 'healthy',
  unhealthy: 'unhealthy',
  idle: 'no traffic',
};

/** Columns the overview can sort by. */
export type ServiceSortKey =
  | 'health'
  | 'name'
  | 'pods'
  | 'requests'
  | 'rps'
  | 'successRate'
  | 'p50'
  | 'p95'
  | 'p99'
  | 'requestBytes'
  | 'responseBytes';

export type SortDir = 'asc' | 'desc';
export interface Sort<K extends string> {
  key: K;
  dir: SortDir;
}

export const DEFAULT_SERVICE_SORT: Sort<ServiceSortKey> = { key: 'health', dir: 'asc' };

/** The direction a column sorts in on its first click: numbers biggest first, names A→Z. */
export function firstDir(key: string): SortDir {
  return key === 'name' || key === 'health' || key === 'route' || key === 'successRate' ? 'asc' : 'desc';
}

const HEALTH_RANK: Readonly<Record<Health, number>> = { unhealthy: 0, healthy: 1, idle: 2 };

function serviceValue(s: ServiceSummary, key: Exclude<ServiceSortKey, 'health' | 'name'>): number | null {
  switch (key) {
    case 'pods':
      return s.pods;
    case 'requests':
      return s.requests;
    case 'rps':
      return s.rps;
    case 'successRate':
      return s.successRate;
    case 'p50':
    case 'p95':
    case 'p99':
      return s.latencyMs[key];
    case 'requestBytes':
      return s.requestBytes.p99;
    case 'responseBytes':
      return s.responseBytes.p99;
  }
}

export function serviceId(s: { namespace: string; name: string }): string {
  return `${s.namespace}/${s.name}`;
}

function byName(a: ServiceSummary, b: ServiceSummary): number {
  return a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name);
}

/** Compares two possibly-null numbers; nulls ("no data") always go last, whatever the direction. */
export function compareNullable(a: number | null, b: number | null, dir: SortDir): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? 1 : -1;
  return dir === 'asc' ? a - b : b - a;
}

/** A sorted copy; ties fall back to namespace/name so that the order is total and stable. */
export function sortServices(services: readonly ServiceSummary[], sort: Sort<ServiceSortKey>): ServiceSummary[] {
  const sign = sort.dir === 'asc' ? 1 : -1;
  const cmp = (a: ServiceSummary, b: ServiceSummary): number => {
    if (sort.key === 'name') return sign * byName(a, b);
    if (sort.key === 'health') {
      const ha = healthOf(a);
      const hb = healthOf(b);
      const rank = HEALTH_RANK[ha] - HEALTH_RANK[hb];
      if (rank !== 0) return sign * rank;
      if (ha === 'unhealthy') {
        const worse = compareNullable(a.successRate, b.successRate, 'asc');
        if (worse !== 0) return sign * worse;
      }
      return byName(a, b);
    }
    return compareNullable(serviceValue(a, sort.key), serviceValue(b, sort.key), sort.dir) || byName(a, b);
  };
  return [...services].sort(cmp);
}

/** Sums of a service list for the overview's header. */
export function totals(services: readonly ServiceSummary[]): { rps: number; unhealthy: number; pods: number } {
  let rps = 0;
  let unhealthy = 0;
  let pods = 0;
  for (const s of services) {
    rps += s.rps;
    pods += s.pods;
    if (healthOf(s) === 'unhealthy') unhealthy += 1;
  }
  return { rps, unhealthy, pods };
}

/** Columns the routes table can sort by. */
export type RouteSortKey = 'route' | 'requests' | 'rps' | 'successRate' | 'p50' | 'p95' | 'p99';
export const DEFAULT_ROUTE_SORT: Sort<RouteSortKey> = { key: 'requests', dir: 'desc' };

function routeValue(r: RouteRow, key: Exclude<RouteSortKey, 'route'>): number | null {
  switch (key) {
    case 'requests':
      return r.requests;
    case 'rps':
      return r.rps;
    case 'successRate':
      return r.successRate;
    case 'p50':
    case 'p95':
    case 'p99':
      return r.latencyMs[key];
  }
}

function byRoute(a: RouteRow, b: RouteRow): number {
  return a.route.localeCompare(b.route) || a.method.localeCompare(b.method);
}

export function sortRoutes(routes: readonly RouteRow[], sort: Sort<RouteSortKey>): RouteRow[] {
  const cmp = (a: RouteRow, b: RouteRow): number =>
    sort.key === 'route'
      ? (sort.dir === 'asc' ? 1 : -1) * byRoute(a, b)
      : compareNullable(routeValue(a, sort.key), routeValue(b, sort.key), sort.dir) || byRoute(a, b);
  return [...routes].sort(cmp);
}
