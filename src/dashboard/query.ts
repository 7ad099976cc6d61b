/**
 * The query API's answers (shapes in api-types.ts, documented in docs/api.md), computed from the
 * store's buckets for a window.
 *
 * - Percentiles come from sketches merged across pods and buckets (never averaged).
 * - Counts are exact sums of the reported deltas.
 * - Any ratio or percentile over no traffic is null ("no data"), never 0.
 * - rps is requests divided by the window in seconds (a series point: by its step).
 * - Every list is bounded (MAX_ constants) and sorted busiest first.
 */
import type {
  Edge, EdgesResponse, Percentiles2, Percentiles3, PodRow, RouteRow, SeriesPoint, ServiceDetailResponse, ServiceSummary, ServicesResponse,
} from './api-types.ts';
import { addCounts, mergePod } from './aggregate.ts';
import type { PodAgg, StatsLike } from './aggregate.ts';
import { SketchSum } from './codec.ts';
import type { DashboardStore, EdgeRowData, ServiceKey, ServiceRow } from './store.ts';
import { levelOf, parseWindow, plan, windowSpan } from './window.ts';
import type { Span, WindowSpan } from './window.ts';

export const MAX_SERVICES_LISTED = 2_000;
export const MAX_ROUTES_LISTED = 200;
export const MAX_PODS_LISTED = 500;
export const MAX_EDGES_LISTED = 5_000;
export const MAX_SIDECARS_LISTED = 5_000;

/** GET /api/sidecars: every sidecar heard from in the last day (not in api-types.ts yet). */
export interface SidecarRow {
  sidecarId: string;
  namespace: string;
  service: string;
  pod: string;
  firstSeen: number;
  lastSeen: number;
  /** Highest sequence number received. */
  lastSeq: number;
  /** Reports stored (duplicates not counted). */
  received: number;
  /** Sequence numbers missing between the first and the last received: lost reports. */
  gaps: number;
  /** Reports the sidecar says it dropped from its own full queue. */
  droppedReports: number;
  /** Its admin URL for live taps, as its latest report says; null when it gave none. */
  admin: string | null;
}
export interface SidecarsResponse {
  now: number;
  sidecars: SidecarRow[];
}

const SEP = '\u0000';

/**
 * Sums over the written part of a query's buckets. Written buckets never change, so a query
 * asked again (the UI polls every 5 s) only adds the open buckets to a copy of these. The key
 * is the written spans (they move when the window slides or a bucket closes) and the store's
 * generation (retention deletes, rebuilds). A few entries per store: one per window in use.
 */
class WrittenCache<V> {
  readonly #max: number;
  readonly #entries = new Map<string, V>();
  constructor(max: number) {
    this.#max = max;
  }
  get(key: string, compute: () => V): V {
    let v = this.#entries.get(key);
    if (v !== undefined) {
      this.#entries.delete(key); // most recently used last
    } else {
      v = compute();
      if (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value!);
    }
    this.#entries.set(key, v);
    return v;
  }
}

interface StoreCaches {
  services: WrittenCache<Map<string, ServiceAcc>>;
  edges: WrittenCache<Map<string, EdgeAcc>>;
}
const caches = new WeakMap<DashboardStore, StoreCaches>();

function cachesOf(store: DashboardStore): StoreCaches {
  let c = caches.get(store);
  if (!c) {
    c = { services: new WrittenCache(8), edges: new WrittenCache(8) };
    caches.set(store, c);
  }
  return c;
}

function writtenKey(store: DashboardStore, spans: readonly Span[]): string {
  return `${store.generation}|${store.written(spans).map((s) => `${s.level}:${s.from}:${s.to}`).join(',')}`;
}

const Q3 = [0.5, 0.95, 0.99];
const Q2 = [0.5, 0.99];

function p3(sum: SketchSum): Percentiles3 {
  const [p50 = null, p95 = null, p99 = null] = sum.quantiles(Q3);
  return { p50, p95, p99 };
}

function p2(sum: SketchSum): Percentiles2 {
  const [p50 = null, p99 = null] = sum.quantiles(Q2);
  return { p50, p99 };
}

/** Counts and sketch sums of a group of rows. */
interface Sums {
  requests: number;
  ok: number;
  latency: SketchSum;
  requestBytes: SketchSum;
  responseBytes: SketchSum;
}

function emptySums(): Sums {
  return { requests: 0, ok: 0, latency: new SketchSum(), requestBytes: new SketchSum(), responseBytes: new SketchSum() };
}

function addSums(into: Sums, row: StatsLike): void {
  into.requests += row.requests;
  into.ok += row.ok;
  into.latency.add(row.latency);
  into.requestBytes.add(row.requestBytes);
  into.responseBytes.add(row.responseBytes);
}

function rate(ok: number, requests: number): number | null {
  return requests === 0 ? null : ok / requests;
}

interface ServiceAcc extends Sums, ServiceKey {
  errors: Record<string, number>;
  statusCodes: Record<string, number>;
  pods: Set<string>;
}

interface EdgeAcc {
  namespace: string;
  service: string;
  peer: string;
  requests: number;
  ok: number;
  latency: SketchSum;
}

function cloneSums<T extends Sums>(s: T): T {
  return { ...s, latency: s.latency.clone(), requestBytes: s.requestBytes.clone(), responseBytes: s.responseBytes.clone() };
}

function cloneService(a: ServiceAcc): ServiceAcc {
  return { ...cloneSums(a), errors: { ...a.errors }, statusCodes: { ...a.statusCodes }, pods: new Set(a.pods) };
}

function newServiceAcc(key: ServiceKey): ServiceAcc {
  return { namespace: key.namespace, service: key.service, ...emptySums(), errors: {}, statusCodes: {}, pods: new Set() };
}

function addServiceRow(acc: ServiceAcc, row: ServiceRow): void {
  addSums(acc, row);
  addCounts(acc.errors, row.errors);
  addCounts(acc.statusCodes, row.statusCodes);
  for (const p of row.pods) acc.pods.add(p);
}

function summary(acc: ServiceAcc, seconds: number): ServiceSummary {
  return {
    name: acc.service,
    namespace: acc.namespace,
    pods: acc.pods.size,
    requests: acc.requests,
    rps: acc.requests / seconds,
    successRate: rate(acc.ok, acc.requests),
    latencyMs: p3(acc.latency),
    requestBytes: p2(acc.requestBytes),
    responseBytes: p2(acc.responseBytes),
    errors: acc.errors,
  };
}

function spanOf(text: string | null, now: number): { span: WindowSpan; window: string; seconds: number } {
  const windowMs = parseWindow(text);
  return { span: windowSpan(now, windowMs), window: text === null || text === '' ? '5m' : text, seconds: windowMs / 1000 };
}

/** Busiest first, then by name: a stable order for bounded lists. */
function busiest<T extends { requests: number }>(items: Iterable<T>, name: (t: T) => string, max: number): T[] {
  return [...items].sort((a, b) => b.requests - a.requests || (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0)).slice(0, max);
}

/**
 * GET /api/services?window=5m: the inbound traffic of every service that reported in the window.
 * Throws WindowError for a bad window.
 */
export function queryServices(store: DashboardStore, now: number, windowText: string | null): ServicesResponse {
  const { span, window, seconds } = spanOf(windowText, now);
  const spans = plan(span.from, span.to, store.closedBefore);
  const add = (into: Map<string, ServiceAcc>) => (row: ServiceRow): void => {
    const key = row.namespace + SEP + row.service;
    let a = into.get(key);
    if (!a) {
      a = newServiceAcc(row);
      into.set(key, a);
    }
    addServiceRow(a, row);
  };
  const written = cachesOf(store).services.get(writtenKey(store, spans), () => {
    const m = new Map<string, ServiceAcc>();
    store.eachService(spans, null, add(m), 'written');
    return m;
  });
  const acc = new Map<string, ServiceAcc>();
  for (const [k, a] of written) acc.set(k, cloneService(a));
  store.eachService(spans, null, add(acc), 'open');
  const services = busiest(acc.values(), (a) => a.namespace + SEP + a.service, MAX_SERVICES_LISTED)
    .map((a) => summary(a, seconds))
    .sort((a, b) => (a.namespace === b.namespace ? (a.name < b.name ? -1 : 1) : a.namespace < b.namespace ? -1 : 1));
  return { window, now, services };
}

/** GET /api/services/:namespace/:name: null when the store knows nothing of the service. */
export function queryService(store: DashboardStore, now: number, windowText: string | null, key: ServiceKey): ServiceDetailResponse | null {
  const { span, window, seconds } = spanOf(windowText, now);
  if (!store.hasService(key)) return null;
  const closed = store.closedBefore;
  // The series reads buckets no wider than its step; the same rows make the summary, so the
  // two always agree.
  const total = newServiceAcc(key);
  const points: Sums[] = Array.from({ length: span.points }, emptySums);
  store.eachService(plan(span.from, span.to, closed, levelOf(span.step)), key, (row) => {
    addServiceRow(total, row);
    const point = points[Math.floor((row.t - span.from) / span.step)];
    if (point) addSums(point, row);
  });
  const stepSeconds = span.step / 1000;
  const series: SeriesPoint[] = points.map((p, i) => ({
    t: span.from + i * span.step,
    requests: p.requests,
    rps: p.requests / stepSeconds,
    successRate: rate(p.ok, p.requests),
    latencyMs: p3(p.latency),
    requestBytes: p2(p.requestBytes),
    responseBytes: p2(p.responseBytes),
  }));

  const totals = plan(span.from, span.to, closed);
  const routes = new Map<string, Sums & { method: string; route: string }>();
  store.eachRoute(totals, key, (row) => {
    const k = row.method + SEP + row.route;
    let r = routes.get(k);
    if (!r) {
      r = { method: row.method, route: row.route, ...emptySums() };
      routes.set(k, r);
    }
    addSums(r, row);
  });
  const routeRows: RouteRow[] = busiest(routes.values(), (r) => r.method + SEP + r.route, MAX_ROUTES_LISTED).map((r) => ({
    method: r.method,
    route: r.route,
    requests: r.requests,
    rps: r.requests / seconds,
    successRate: rate(r.ok, r.requests),
    latencyMs: p3(r.latency),
    requestBytes: p2(r.requestBytes),
    responseBytes: p2(r.responseBytes),
  }));

  const pods = new Map<string, PodAgg>();
  store.eachPod(totals, key, (row) => {
    const p = pods.get(row.sidecarId);
    if (p) mergePod(p, row);
    else pods.set(row.sidecarId, { ...row });
  });
  const podRows: PodRow[] = busiest(pods.values(), (p) => p.pod + SEP + p.sidecarId, MAX_PODS_LISTED)
    .map((p) => ({
      pod: p.pod,
      sidecarId: p.sidecarId,
      lastSeen: p.lastSeen,
      requests: p.requests,
      cpuCores: p.first && p.last && p.last.t > p.first.t ? Math.max(0, p.last.cpu - p.first.cpu) / ((p.last.t - p.first.t) / 1000) : null,
      cpuLimitCores: p.cpuLimitCores,
      memoryBytes: p.memoryBytes,
      memoryLimitBytes: p.memoryLimitBytes,
      resourceSource: p.source,
      gaps: Math.max(0, p.maxSeq - p.minSeq + 1 - p.reports),
    }))
    .sort((a, b) => (a.pod === b.pod ? (a.sidecarId < b.sidecarId ? -1 : 1) : a.pod < b.pod ? -1 : 1));

  return { window, now, summary: summary(total, seconds), stepMs: span.step, series, routes: routeRows, statusCodes: total.statusCodes, pods: podRows };
}

/** GET /api/edges?window=5m: who calls whom, from the callers' outbound series. */
export function queryEdges(store: DashboardStore, now: number, windowText: string | null): EdgesResponse {
  const { span, window, seconds } = spanOf(windowText, now);
  const spans = plan(span.from, span.to, store.closedBefore);
  const add = (into: Map<string, EdgeAcc>) => (row: EdgeRowData): void => {
    const k = row.namespace + SEP + row.service + SEP + row.peer;
    let e = into.get(k);
    if (!e) {
      e = { namespace: row.namespace, service: row.service, peer: row.peer, requests: 0, ok: 0, latency: new SketchSum() };
      into.set(k, e);
    }
    e.requests += row.requests;
    e.ok += row.ok;
    e.latency.add(row.latency);
  };
  const written = cachesOf(store).edges.get(writtenKey(store, spans), () => {
    const m = new Map<string, EdgeAcc>();
    store.eachEdge(spans, add(m), 'written');
    return m;
  });
  const acc = new Map<string, EdgeAcc>();
  for (const [k, e] of written) acc.set(k, { ...e, latency: e.latency.clone() });
  store.eachEdge(spans, add(acc), 'open');
  const edges: Edge[] = busiest(acc.values(), (e) => e.namespace + SEP + e.service + SEP + e.peer, MAX_EDGES_LISTED).map((e) => ({
    source: e.service,
    sourceNamespace: e.namespace,
    destination: e.peer,
    requests: e.requests,
    rps: e.requests / seconds,
    successRate: rate(e.ok, e.requests),
    latencyMs: p3(e.latency),
  }));
  return { window, now, edges };
}

/** GET /api/sidecars: every sidecar heard from recently, most recent first. */
export function querySidecars(store: DashboardStore, now: number): SidecarsResponse {
  const sidecars = store
    .sidecars()
    .sort((a, b) => b.lastSeen - a.lastSeen || (a.sidecarId < b.sidecarId ? -1 : 1))
    .slice(0, MAX_SIDECARS_LISTED)
    .map((s) => ({
      sidecarId: s.sidecarId,
      namespace: s.namespace,
      service: s.service,
      pod: s.pod,
      firstSeen: s.firstSeen,
      lastSeen: s.lastSeen,
      lastSeq: s.maxSeq,
      received: s.received,
      gaps: Math.max(0, s.maxSeq - s.firstSeq + 1 - s.received),
      droppedReports: s.droppedReports,
      admin: s.admin ?? null,
    }));
  return { now, sidecars };
}
