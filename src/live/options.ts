/**
 * Options shared by `skiff tap`, `skiff top` and `skiff stat`: where the data comes from, and
 * the tap filters (the same names as the query parameters of /tap, see filter.ts). Options that
 * only make sense per invocation are not read from the environment (`env: false`), and neither
 * are names a sidecar's environment already uses for something else (SKIFF_ADMIN, SKIFF_NAMESPACE).
 */
import type { OptionTable } from '../config/options.ts';
import { UsageError } from '../errors.ts';
import { DEFAULT_DASHBOARD, dashboardEndpoint, sidecarEndpoint } from './client.ts';
import type { Endpoint } from './client.ts';
import { FilterError, parseFilter, filterToQuery } from './filter.ts';
import type { TapFilter } from './filter.ts';

export const sourceOptions = {
  dashboard: { type: 'string', default: DEFAULT_DASHBOARD, placeholder: 'URL', description: 'the dashboard to ask (token from SKIFF_TOKEN)' },
} as const satisfies OptionTable;

export const tapSourceOptions = {
  ...sourceOptions,
  admin: { type: 'string', env: false, placeholder: 'HOST:PORT', description: "tap one sidecar's admin port directly, without a dashboard" },
} as const satisfies OptionTable;

export const filterOptions = {
  namespace: { type: 'string', short: 'n', env: false, placeholder: 'NAME', description: 'only this namespace' },
  pod: { type: 'string', env: false, placeholder: 'NAME', description: 'only this pod' },
  direction: { type: 'string', env: false, placeholder: 'inbound|outbound', description: 'only requests in this direction' },
  method: { type: 'string', env: false, placeholder: 'METHOD', description: 'only this method (GET, POST…)' },
  path: { type: 'string', env: false, placeholder: 'PREFIX', description: 'only paths starting with PREFIX' },
  status: { type: 'string', env: false, placeholder: '2xx|…|5xx|error', description: 'only this status class, or requests with a proxy error' },
  'min-latency': { type: 'string', env: false, placeholder: 'DURATION', description: 'only requests that took at least this long (50ms, 1.5s)' },
  rate: { type: 'integer', env: false, default: '100', description: 'most records per second the tap sends (the rest are dropped and counted)' },
} as const satisfies OptionTable;

interface FilterValues {
  namespace: string | undefined;
  pod: string | undefined;
  direction: string | undefined;
  method: string | undefined;
  path: string | undefined;
  status: string | undefined;
  'min-latency': string | undefined;
}

/** The filter from flags and the SERVICE positional, validated like the server would. */
export function filterFrom(v: FilterValues, service: string | undefined): TapFilter {
  const q = new URLSearchParams();
  if (service !== undefined) q.set('service', service);
  for (const k of ['namespace', 'pod', 'direction', 'method', 'path', 'status', 'min-latency'] as const) {
    const value = v[k];
    if (value !== undefined) q.set(k, value);
  }
  try {
    return parseFilter(q);
  } catch (err) {
    if (err instanceof FilterError) throw new UsageError(err.message);
    throw err;
  }
}

/** Query parameters of a tap stream: the filter, the rate, and what else to include. */
export function tapQuery(filter: TapFilter, rate: number, extra: { headers?: boolean; bodies?: boolean } = {}): URLSearchParams {
  if (rate < 1) throw new UsageError('--rate must be at least 1');
  const q = filterToQuery(filter);
  q.set('rate', String(rate));
  if (extra.headers) q.set('headers', '1');
  if (extra.bodies) q.set('bodies', '1');
  return q;
}

/** `[SERVICE]`: at most one positional (`ns/name` is accepted as a shorthand for -n ns name). */
export function servicePositional(positionals: readonly string[], namespace: string | undefined): { service: string | undefined; namespace: string | undefined } {
  if (positionals.length > 1) throw new UsageError(`expected at most one SERVICE, got ${positionals.length}: ${positionals.join(' ')}`);
  const p = positionals[0];
  if (p === undefined) return { service: undefined, namespace };
  const slash = p.indexOf('/');
  if (slash > 0 && namespace === undefined) return { service: p.slice(slash + 1), namespace: p.slice(0, slash) };
  return { service: p, namespace };
}

/** The data source: `--admin` (one sidecar) wins over the dashboard. */
export function tapEndpoint(v: { dashboard: string; admin: string | undefined }, env: Readonly<Record<string, string | undefined>>): { ep: Endpoint; path: string } {
  if (v.admin !== undefined) return { ep: sidecarEndpoint(v.admin, env), path: '/tap' };
  return { ep: dashboardEndpoint(v.dashboard, env), path: '/api/tap' };
}
