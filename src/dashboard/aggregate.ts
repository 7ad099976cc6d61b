/**
 * What one time bucket holds, in memory: the pure core of the store.
 *
 * A report's request series are added into four breakdowns, each keyed by what the query API
 * groups by (never by pod for the sketches, so a bucket's size follows services and routes,
 * not the number of pods):
 *
 * - services: inbound series per (namespace, service): counts, success, sketches, proxy error
 *   codes, status codes, and the pods that reported (every reporting sidecar makes its service
 *   appear, even with no inbound traffic: it then has `successRate: null`, not 0);
 * - routes:   inbound series per (namespace, service, method, route);
 * - edges:    outbound series per (namespace, service, peer): who calls whom;
 * - pods:     per sidecar: inbound request count, report sequence range (gaps), first and last
 *   resource sample (CPU is cumulative, so cores = ΔCPU/Δt), memory at the last sample.
 *
 * Buckets merge (sketch bins add, counts add, samples keep the earliest and latest), which is
 * how 10 s buckets roll up into 1 min and 1 h ones. Every map is bounded (see the MAX_ values).
 */
import { Sketch } from '../telemetry/sketch.ts';
import type { ReportV1, RequestSeriesDelta } from '../telemetry/report-format.ts';
import { toSketchData } from './codec.ts';
import type { SketchSource } from './codec.ts';

/** Distinct routes kept per service in one bucket; the rest are added to `other`. */
export const MAX_ROUTES_PER_SERVICE = 500;
/** Distinct peers kept per service in one bucket; the rest are added to `other`. */
export const MAX_PEERS_PER_SERVICE = 500;
/** Services in one bucket; series of further services are dropped (and counted). */
export const MAX_SERVICES = 10_000;
/** Pod names remembered per service and bucket (for the `pods` count). */
export const MAX_PODS_PER_SERVICE = 5_000;
export const OTHER = 'other';
/** Destination name for outbound calls whose peer the sidecar could not tell. */
export const UNKNOWN_PEER = 'unknown';

const SEP = '\u0000';

export interface StatsAgg {
  requests: number;
  /** Requests that were not 5xx and had no proxy error. */
  ok: number;
  latency: Sketch;
  requestBytes: Sketch;
  responseBytes: Sketch;
}

export interface ServiceAgg extends StatsAgg {
  namespace: string;
  service: string;
  requestBytesTotal: number;
  responseBytesTotal: number;
  errors: Record<string, number>;
  statusCodes: Record<string, number>;
  pods: Set<string>;
  /** Routes in this bucket (for the per-service budget). */
  routeCount: number;
  peerCount: number;
}

export interface RouteAgg extends StatsAgg {
  namespace: string;
  service: string;
  method: string;
  route: string;
}

export interface EdgeAgg {
  namespace: string;
  service: string;
  peer: string;
  requests: number;
  ok: number;
  latency: Sketch;
}

/** A cumulative CPU reading at a time (report end), for cores = ΔCPU/Δt. */
export interface CpuSample {
  t: number;
  cpu: number;
}

export interface PodAgg {
  sidecarId: string;
  namespace: string;
  service: string;
  pod: string;
  requests: number;
  /** Reports counted in this bucket, and the range of their sequence numbers (gaps). */
  reports: number;
  minSeq: number;
  maxSeq: number;
  /** When the dashboard received the latest of them, ms since epoch. */
  lastSeen: number;
  first: CpuSample | null;
  last: CpuSample | null;
  /** At the latest sample. */
  memoryBytes: number | null;
  cpuLimitCores: number | null;
  memoryLimitBytes: number | null;
  source: 'cgroup2' | 'cgroup1' | 'process' | null;
}

export function emptyStats(): StatsAgg {
  return { requests: 0, ok: 0, latency: new Sketch(), requestBytes: new Sketch(), responseBytes: new Sketch() };
}

export function isSuccess(s: Pick<RequestSeriesDelta, 'statusCode' | 'error'>): boolean {
  return s.statusCode < 500 && s.error === '';
}

export function addCounts(into: Record<string, number>, from: Readonly<Record<string, number>>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

/** Earlier of two samples (null-safe). */
export function earlier(a: CpuSample | null, b: CpuSample | null): CpuSample | null {
  if (!a) return b;
  if (!b) return a;
  return b.t < a.t ? b : a;
}

export function later(a: CpuSample | null, b: CpuSample | null): CpuSample | null {
  if (!a) return b;
  if (!b) return a;
  return b.t > a.t ? b : a;
}

export class Bucket {
  readonly t: number;
  readonly services = new Map<string, ServiceAgg>();
  readonly routes = new Map<string, RouteAgg>();
  readonly edges = new Map<string, EdgeAgg>();
  readonly pods = new Map<string, PodAgg>();
  /** Series dropped because a bound was reached (logged by the store). */
  dropped = 0;

  constructor(t: number) {
    this.t = t;
  }

  get isEmpty(): boolean {
    return this.services.size === 0 && this.pods.size === 0;
  }

  service(namespace: string, service: string): ServiceAgg | undefined {
    const key = namespace + SEP + service;
    let s = this.services.get(key);
    if (!s) {
      if (this.services.size >= MAX_SERVICES) return undefined;
      s = { namespace, service, ...emptyStats(), requestBytesTotal: 0, responseBytesTotal: 0, errors: {}, statusCodes: {}, pods: new Set(), routeCount: 0, peerCount: 0 };
      this.services.set(key, s);
    }
    return s;
  }

  route(svc: ServiceAgg, method: string, route: string): RouteAgg {
    const key = svc.namespace + SEP + svc.service + SEP + method + SEP + route;
    let r = this.routes.get(key);
    if (!r) {
      if (svc.routeCount >= MAX_ROUTES_PER_SERVICE && route !== OTHER) return this.route(svc, method, OTHER);
      r = { namespace: svc.namespace, service: svc.service, method, route, ...emptyStats() };
      this.routes.set(key, r);
      svc.routeCount++;
    }
    return r;
  }

  edge(svc: ServiceAgg, peer: string): EdgeAgg {
    const key = svc.namespace + SEP + svc.service + SEP + peer;
    let e = this.edges.get(key);
    if (!e) {
      if (svc.peerCount >= MAX_PEERS_PER_SERVICE && peer !== OTHER) return this.edge(svc, OTHER);
      e = { namespace: svc.namespace, service: svc.service, peer, requests: 0, ok: 0, latency: new Sketch() };
      this.edges.set(key, e);
      svc.peerCount++;
    }
    return e;
  }

  pod(sidecarId: string, namespace: string, service: string, pod: string): PodAgg {
    let p = this.pods.get(sidecarId);
    if (!p) {
      p = {
        sidecarId, namespace, service, pod, requests: 0, reports: 0, minSeq: Infinity, maxSeq: 0, lastSeen: 0,
        first: null, last: null, memoryBytes: null, cpuLimitCores: null, memoryLimitBytes: null, source: null,
      };
      this.pods.set(sidecarId, p);
    }
    return p;
  }

  /** Adds one accepted report (its deltas) to this bucket. */
  addReport(report: ReportV1, receivedAt: number): void {
    const { namespace, service, pod } = report.identity;
    const svc = this.service(namespace, service);
    if (!svc) {
      this.dropped += report.requests.length;
      return;
    }
    if (svc.pods.size < MAX_PODS_PER_SERVICE) svc.pods.add(pod);
    const p = this.pod(report.sidecarId, namespace, service, pod);
    p.reports++;
    if (report.seq < p.minSeq) p.minSeq = report.seq;
    if (report.seq > p.maxSeq) p.maxSeq = report.seq;
    if (receivedAt > p.lastSeen) p.lastSeen = receivedAt;
    const res = report.resources;
    if (res) {
      const sample = { t: report.end, cpu: res.cpuSecondsTotal };
      p.first = earlier(p.first, sample);
      if (p.last === null || sample.t >= p.last.t) {
        p.last = sample;
        p.memoryBytes = res.memoryBytes;
        p.cpuLimitCores = res.cpuLimitCores;
        p.memoryLimitBytes = res.memoryLimitBytes;
        p.source = res.source;
      }
    }
    for (const s of report.requests) {
      const ok = isSuccess(s) ? s.count : 0;
      if (s.direction === 'inbound') {
        addSeries(svc, s, ok);
        svc.requestBytesTotal += s.requestBytesTotal;
        svc.responseBytesTotal += s.responseBytesTotal;
        if (s.error !== '') svc.errors[s.error] = (svc.errors[s.error] ?? 0) + s.count;
        const code = String(s.statusCode);
        svc.statusCodes[code] = (svc.statusCodes[code] ?? 0) + s.count;
        addSeries(this.route(svc, s.method, s.route), s, ok);
        p.requests += s.count;
      } else {
        const e = this.edge(svc, s.peer === '' ? UNKNOWN_PEER : s.peer);
        e.requests += s.count;
        e.ok += ok;
        e.latency.merge(s.latencyMs);
      }
    }
  }

  /** Adds everything of `other` (a finer bucket inside this one) to this bucket. */
  merge(other: Bucket): void {
    for (const o of other.services.values()) this.mergeService(o);
    for (const o of other.routes.values()) this.mergeRoute(o);
    for (const o of other.edges.values()) this.mergeEdge(o);
    for (const o of other.pods.values()) this.mergePod(o);
    this.dropped += other.dropped;
  }

  // One item of a finer bucket at a time: the store rolls a closing bucket up in slices.

  mergeService(o: ServiceAgg): void {
    const s = this.service(o.namespace, o.service);
    if (!s) {
      this.dropped++;
      return;
    }
    mergeStats(s, o);
    s.requestBytesTotal += o.requestBytesTotal;
    s.responseBytesTotal += o.responseBytesTotal;
    addCounts(s.errors, o.errors);
    addCounts(s.statusCodes, o.statusCodes);
    for (const pod of o.pods) if (s.pods.size < MAX_PODS_PER_SERVICE) s.pods.add(pod);
  }

  mergeRoute(o: RouteAgg): void {
    const s = this.service(o.namespace, o.service);
    if (s) mergeStats(this.route(s, o.method, o.route), o);
  }

  mergeEdge(o: EdgeAgg): void {
    const s = this.service(o.namespace, o.service);
    if (!s) return;
    const e = this.edge(s, o.peer);
    e.requests += o.requests;
    e.ok += o.ok;
    e.latency.merge(o.latency);
  }

  mergePod(o: PodAgg): void {
    mergePod(this.pod(o.sidecarId, o.namespace, o.service, o.pod), o);
  }
}

function addSeries(into: StatsAgg, s: RequestSeriesDelta, ok: number): void {
  into.requests += s.count;
  into.ok += ok;
  into.latency.merge(s.latencyMs);
  into.requestBytes.merge(s.requestBytes);
  into.responseBytes.merge(s.responseBytes);
}

export interface StatsLike {
  requests: number;
  ok: number;
  latency: SketchSource;
  requestBytes: SketchSource;
  responseBytes: SketchSource;
}

export function mergeSketch(into: Sketch, from: SketchSource): void {
  if (from instanceof Sketch) into.merge(from);
  else if (from !== null) into.merge(toSketchData(from));
}

export function mergeStats(into: StatsAgg, from: StatsLike): void {
  into.requests += from.requests;
  into.ok += from.ok;
  mergeSketch(into.latency, from.latency);
  mergeSketch(into.requestBytes, from.requestBytes);
  mergeSketch(into.responseBytes, from.responseBytes);
}

export function mergePod(into: PodAgg, o: PodAgg): void {
  into.requests += o.requests;
  into.reports += o.reports;
  if (o.minSeq < into.minSeq) into.minSeq = o.minSeq;
  if (o.maxSeq > into.maxSeq) into.maxSeq = o.maxSeq;
  if (o.lastSeen > into.lastSeen) into.lastSeen = o.lastSeen;
  into.first = earlier(into.first, o.first);
  if (o.last && (into.last === null || o.last.t >= into.last.t)) {
    into.last = o.last;
    into.memoryBytes = o.memoryBytes;
    into.cpuLimitCores = o.cpuLimitCores;
    into.memoryLimitBytes = o.memoryLimitBytes;
    into.source = o.source;
  }
  // Identity follows the latest report (a pod keeps its sidecar id, but be exact anyway).
  into.pod = o.pod;
}
