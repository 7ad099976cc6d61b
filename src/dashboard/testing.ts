/**
 * Builders for the dashboard's tests and bench: real-format reports (ReportV1) with sketches
 * made by the real Sketch, so what the tests post is what a sidecar posts.
 */
import { Sketch } from '../telemetry/sketch.ts';
import type { SketchData } from '../telemetry/sketch.ts';
import type { ReportV1, RequestSeriesDelta } from '../telemetry/report-format.ts';
import type { ErrorCode, ResourceSample } from '../telemetry/model.ts';

export function sketchOf(values: readonly number[]): SketchData {
  const s = new Sketch();
  for (const v of values) s.add(v);
  return s.toJSON();
}

export interface SeriesSpec {
  direction?: 'inbound' | 'outbound';
  peer?: string;
  method?: string;
  route?: string;
  statusCode?: number;
  error?: ErrorCode;
  /** One latency per request (ms): the series count is its length. */
  latencies: readonly number[];
  requestBytes?: readonly number[];
  responseBytes?: readonly number[];
}

export function series(spec: SeriesSpec): RequestSeriesDelta {
  const n = spec.latencies.length;
  const req = spec.requestBytes ?? new Array<number>(n).fill(0);
  const resp = spec.responseBytes ?? new Array<number>(n).fill(100);
  return {
    direction: spec.direction ?? 'inbound',
    peer: spec.peer ?? '',
    method: spec.method ?? 'GET',
    route: spec.route ?? '/',
    statusCode: spec.statusCode ?? 200,
    error: spec.error ?? '',
    count: n,
    requestBytesTotal: req.reduce((a, b) => a + b, 0),
    responseBytesTotal: resp.reduce((a, b) => a + b, 0),
    latencyMs: sketchOf(spec.latencies),
    requestBytes: sketchOf(req),
    responseBytes: sketchOf(resp),
  };
}

export interface ReportSpec {
  sidecarId: string;
  seq: number;
  /** End of the interval (ms since epoch); the interval is 5 s. */
  end: number;
  service: string;
  namespace?: string;
  pod?: string;
  requests?: RequestSeriesDelta[];
  resources?: ResourceSample | null;
  droppedReports?: number;
}

export function report(spec: ReportSpec): ReportV1 {
  return {
    version: 1,
    sidecarId: spec.sidecarId,
    seq: spec.seq,
    start: spec.end - 5000,
    end: spec.end,
    identity: { service: spec.service, namespace: spec.namespace ?? 'default', pod: spec.pod ?? `${spec.service}-0` },
    resources: spec.resources ?? null,
    requests: spec.requests ?? [],
    tcp: [],
    droppedReports: spec.droppedReports ?? 0,
  };
}

/** A sketch holding every value of the given sketches (the test's own merge). */
export function merged(...parts: SketchData[]): Sketch {
  const s = new Sketch();
  for (const p of parts) s.merge(p);
  return s;
}
