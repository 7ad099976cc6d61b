/**
 * The report a sidecar sends to the dashboard every interval (POST /api/reports), version 1.
 * Documented for users in docs/reporting.md; validated on ingest by `validateReport` (report.ts).
 *
 * Reports carry deltas (what happened since the previous report), so the dashboard adds them.
 * `sidecarId` (random per sidecar process) with `seq` (1, 2, 3… per sidecarId) makes every
 * report unique: a retried report is recognised and ignored; a missing seq is a visible gap.
 */
import type { Direction, ErrorCode, Identity, ResourceSample } from './model.ts';
import type { SketchData } from './sketch.ts';

export const REPORT_VERSION = 1;

export interface RequestSeriesDelta {
  direction: Direction;
  peer: string;
  method: string;
  /** Route template (`/users/{id}`) or `other` once the route budget is spent. */
  route: string;
  statusCode: number;
  error: ErrorCode;
  count: number;
  requestBytesTotal: number;
  responseBytesTotal: number;
  /** Duration to last byte, milliseconds. */
  latencyMs: SketchData;
  requestBytes: SketchData;
  responseBytes: SketchData;
}

export interface TcpSeriesDelta {
  direction: Direction;
  peer: string;
  protocol: 'http' | 'opaque';
  opened: number;
  closed: number;
  bytesIn: number;
  bytesOut: number;
  /** Connections that ended with an error, by error code. */
  errors: Partial<Record<ErrorCode, number>>;
}

export interface ReportV1 {
  version: 1;
  sidecarId: string;
  seq: number;
  /** The interval this report covers, ms since epoch (end exclusive). */
  start: number;
  end: number;
  identity: Identity;
  /** Resource usage at `end` (CPU is cumulative: the dashboard differentiates). */
  resources: ResourceSample | null;
  requests: RequestSeriesDelta[];
  tcp: TcpSeriesDelta[];
  /** Reports this sidecar dropped since it started because its queue was full (for gap display). */
  droppedReports: number;
  /**
   * Where the dashboard can reach this sidecar's admin port for live taps (`http://10.1.2.3:15000`);
   * optional: absent when the admin port is not reachable from outside the pod.
   */
  admin?: string;
}
