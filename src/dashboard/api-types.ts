/**
 * The dashboard's query API, as types: the contract between the server (src/dashboard), the web
 * UI (src/dashboard/web) and the CLI views (src/live). docs/api.md documents the same shapes.
 * Every endpoint takes `window` (5m, 1h, 24h, 7d, or any duration such as 30s, 15m).
 *
 * Percentiles are merged from sketches (never averaged); any statistic over no traffic is
 * `null` ("no data"), never 0.
 */

export interface Percentiles3 {
  p50: number | null;
  p95: number | null;
  p99: number | null;
}
export interface Percentiles2 {
  p50: number | null;
  p99: number | null;
}

/** GET /api/services?window=5m → { window, services: ServiceSummary[] } (inbound traffic of each service). */
export interface ServiceSummary {
  name: string;
  namespace: string;
  /** Pods that reported within the window. */
  pods: number;
  requests: number;
  rps: number;
  /** Share of requests that were not 5xx and had no proxy error; null when there was no traffic. */
  successRate: number | null;
  latencyMs: Percentiles3;
  requestBytes: Percentiles2;
  responseBytes: Percentiles2;
  /** Proxy-level error codes (upstream_refused, client_abort, …) with their counts. */
  errors: Record<string, number>;
}
export interface ServicesResponse {
  window: string;
  /** Server time of the answer, ms since epoch. */
  now: number;
  services: ServiceSummary[];
}

/** One point of a service's time series (one step of the window). */
export interface SeriesPoint {
  /** Start of the step, ms since epoch. */
  t: number;
  requests: number;
  rps: number;
  successRate: number | null;
  latencyMs: Percentiles3;
  requestBytes: Percentiles2;
  responseBytes: Percentiles2;
}

export interface RouteRow {
  method: string;
  route: string;
  requests: number;
  rps: number;
  successRate: number | null;
  latencyMs: Percentiles3;
  requestBytes: Percentiles2;
  responseBytes: Percentiles2;
}

export interface PodRow {
  pod: string;
  sidecarId: string;
  /** Last report received, ms since epoch. */
  lastSeen: number;
  requests: number;
  /** CPU used over the window, in cores (from the cumulative CPU seconds); null when unknown. */
  cpuCores: number | null;
  cpuLimitCores: number | null;
  memoryBytes: number | null;
  memoryLimitBytes: number | null;
  resourceSource: 'cgroup2' | 'cgroup1' | 'process' | null;
  /** Reports missing from this sidecar's sequence within the window (lost, not retried). */
  gaps: number;
}

/** GET /api/services/:namespace/:name?window=… */
export interface ServiceDetailResponse {
  window: string;
  now: number;
  summary: ServiceSummary;
  /** Step of the time series, ms. */
  stepMs: number;
  series: SeriesPoint[];
  routes: RouteRow[];
  /** Status code → count; "0" for requests that got no response. */
  statusCodes: Record<string, number>;
  pods: PodRow[];
}

/** GET /api/edges?window=5m: who calls whom, from the callers' outbound records. */
export interface Edge {
  source: string;
  sourceNamespace: string;
  destination: string;
  requests: number;
  rps: number;
  successRate: number | null;
  latencyMs: Percentiles3;
}
export interface EdgesResponse {
  window: string;
  now: number;
  edges: Edge[];
}

/** POST /api/reports → 200 with this body (also for a duplicate, with duplicate: true). */
export interface ReportAck {
  accepted: boolean;
  duplicate: boolean;
  sidecarId: string;
  seq: number;
}

/** Any 4xx/5xx from the API. */
export interface ApiError {
  error: string;
  message: string;
}
