/**
 * The Live page's pure logic (unit-tested in Node, test/live/ui-model.test.ts): filters as
 * URL query ↔ state ↔ the /api/tap request, the bounded row list, and the sources summary.
 *
 * The filters ride in the page URL (`/live?service=shop/web&status=5xx`), so a shared link opens
 * the same live view.
 */
import type { TapRecord, TapSource } from '../../../../live/record.ts';

/** Rows kept on screen; older ones drop off the bottom. */
export const MAX_ROWS = 500;

export const DIRECTIONS = ['', 'inbound', 'outbound'] as const;
export const STATUS_CLASSES = ['', '2xx', '3xx', '4xx', '5xx', 'error'] as const;
export const METHODS = ['', 'GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;

export interface LiveFilters {
  /** `namespace/name`, or '' for the whole mesh. */
  service: string;
  direction: (typeof DIRECTIONS)[number];
  method: string;
  path: string;
  status: (typeof STATUS_CLASSES)[number];
  /** Minimum latency in ms, as typed ('' = none). */
  minLatency: string;
  headers: boolean;
  bodies: boolean;
}

export const NO_FILTERS: LiveFilters = { service: '', direction: '', method: '', path: '', status: '', minLatency: '', headers: false, bodies: false };

function oneOf<T extends string>(list: readonly T[], v: string | null): T {
  return (list as readonly string[]).includes(v ?? '') ? (v as T) : list[0]!;
}

export function parseLiveFilters(search: string): LiveFilters {
  const q = new URLSearchParams(search);
  const minLatency = q.get('min-latency') ?? '';
  const method = q.get('method') ?? '';
  return {
    service: (q.get('service') ?? '').slice(0, 512),
    direction: oneOf(DIRECTIONS, q.get('direction')),
    method: /^[A-Za-z]{1,32}$/.test(method) ? method.toUpperCase() : '',
    path: (q.get('path') ?? '').slice(0, 512),
    status: oneOf(STATUS_CLASSES, q.get('status')),
    minLatency: /^\d{1,7}(\.\d+)?$/.test(minLatency) ? minLatency : '',
    headers: q.get('headers') === '1',
    bodies: q.get('bodies') === '1',
  };
}

/** The page's query string for these filters ('' when none: `/live`). */
export function liveSearch(f: LiveFilters): string {
  const q = new URLSearchParams();
  if (f.service) q.set('service', f.service);
  if (f.direction) q.set('direction', f.direction);
  if (f.method) q.set('method', f.method);
  if (f.path) q.set('path', f.path);
  if (f.status) q.set('status', f.status);
  if (f.minLatency) q.set('min-latency', f.minLatency);
  if (f.headers) q.set('headers', '1');
  if (f.bodies) q.set('bodies', '1');
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** The dashboard's fan-out request for these filters. */
export function tapApiPath(f: LiveFilters): string {
  const q = new URLSearchParams();
  if (f.service) {
    const slash = f.service.indexOf('/');
    if (slash > 0) {
      q.set('namespace', f.service.slice(0, slash));
      q.set('service', f.service.slice(slash + 1));
    } else q.set('service', f.service);
  }
  if (f.direction) q.set('direction', f.direction);
  if (f.method) q.set('method', f.method);
  if (f.path) q.set('path', f.path);
  if (f.status) q.set('status', f.status);
  if (f.minLatency) q.set('min-latency', `${f.minLatency}ms`);
  if (f.headers) q.set('headers', '1');
  if (f.bodies) q.set('bodies', '1');
  const s = q.toString();
  return `/api/tap${s ? `?${s}` : ''}`;
}

export interface LiveRow {
  /** Arrival order, unique for the page's lifetime (the row's key). */
  seq: number;
  record: TapRecord;
}

/** Newest first, at most `max`: new rows on top, the oldest drop off the bottom. */
export function addRows(rows: readonly LiveRow[], incoming: readonly LiveRow[], max = MAX_ROWS): LiveRow[] {
  if (incoming.length === 0) return rows as LiveRow[];
  const fresh = incoming.length >= max ? incoming.slice(incoming.length - max) : incoming;
  const out = [...fresh].reverse();
  for (const r of rows) {
    if (out.length >= max) break;
    out.push(r);
  }
  return out;
}

/** The latest state of each sidecar in the fan-out, keyed by namespace/service/pod. */
export function applySource(sources: ReadonlyMap<string, TapSource>, s: TapSource, max = 500): Map<string, TapSource> {
  const next = new Map(sources);
  const key = `${s.namespace}/${s.service}/${s.pod}`;
  next.delete(key);
  next.set(key, s);
  while (next.size > max) next.delete(next.keys().next().value!);
  return next;
}

/** `12:00:01.123` in the viewer's time zone (RFC 3339 in, local time out). */
export function clockTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso.slice(0, 23);
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** The class of a status cell: bad for 5xx and proxy errors, warn for 4xx. */
export function statusTone(r: TapRecord): 'bad' | 'warn' | '' {
  if (r.error !== '' || r.status >= 500 || r.status === 0) return 'bad';
  if (r.status >= 400) return 'warn';
  return '';
}
