/**
 * The UI's routes and the time window, as pure functions of the URL (unit-tested in Node).
 * History routing: the dashboard serves index.html for every non-API path, so the URLs are
 * the plain ones users share:
 *
 *   /                              overview: every service
 *   /services/:namespace/:name     one service
 *   /graph                         service graph (who calls whom)
 *   /live                          live tap stream
 *
 * The window rides in the query (`?window=1h`) so that a shared link shows the same view;
 * the default (5m) is left out of URLs.
 */

export type Route =
  | { page: 'overview' }
  | { page: 'service'; namespace: string; name: string }
  | { page: 'graph' }
  | { page: 'live' }
  | { page: 'not-found'; path: string };

export const WINDOWS = ['5m', '1h', '24h', '7d'] as const;
export type TimeWindow = (typeof WINDOWS)[number];
export const DEFAULT_WINDOW: TimeWindow = '5m';

/** Length of each window in ms (for chart ranges). */
export const WINDOW_MS: Readonly<Record<TimeWindow, number>> = {
  '5m': 5 * 60_000,
  '1h': 3_600_000,
  '24h': 86_400_000,
  '7d': 7 * 86_400_000,
};

function decode(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null; // malformed %-escape: not a route of ours
  }
}

export function parseRoute(pathname: string): Route {
  const path = pathname.length > 1 ? pathname.replace(/\/+$/, '') : pathname;
  if (path === '/' || path === '') return { page: 'overview' };
  if (path === '/graph') return { page: 'graph' };
  if (path === '/live') return { page: 'live' };
  const m = /^\/services\/([^/]+)\/([^/]+)$/.exec(path);
  if (m) {
    const namespace = decode(m[1]!);
    const name = decode(m[2]!);
    if (namespace !== null && name !== null && namespace !== '' && name !== '') {
      return { page: 'service', namespace, name };
    }
  }
  return { page: 'not-found', path: pathname };
}

export function servicePath(namespace: string, name: string): string {
  return `/services/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`;
}

export function parseWindow(search: string): TimeWindow {
  const w = new URLSearchParams(search).get('window');
  return (WINDOWS as readonly string[]).includes(w ?? '') ? (w as TimeWindow) : DEFAULT_WINDOW;
}

/** `path` with the window in its query (left out when it is the default). */
export function withWindow(path: string, window: TimeWindow): string {
  return window === DEFAULT_WINDOW ? path : `${path}?window=${window}`;
}

/** The API path for a route's data, or null when the page fetches nothing. */
export function serviceApiPath(namespace: string, name: string, window: TimeWindow): string {
  return `/api${servicePath(namespace, name)}?window=${window}`;
}
