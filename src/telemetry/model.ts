/**
 * The one telemetry data model (see docs/architecture.md): what the proxy records for every
 * request and every opaque TCP connection, when it ends. The recorder aggregates these into
 * series; reports, /metrics, the tap and the dashboard all speak in these terms.
 */

export type Direction = 'inbound' | 'outbound';

/**
 * The closed set of error codes. Empty string: no proxy-level error (the app's own 5xx is not
 * an error code; it is a status). Proxy-made responses carry the code in `x-skiff-error`.
 */
export const ERROR_CODES = [
  '',
  'upstream_refused', // connect refused / unreachable → 503
  'upstream_timeout', // no response head within the timeout → 504
  'upstream_reset', // reset or closed before/during the response → 502 (or cut)
  'client_abort', // the client went away before the response completed
  'bad_request', // malformed or ambiguous request → 400 family, never forwarded
  'header_timeout', // request head not received in time (slowloris) → 408
  'headers_too_large', // → 431
  'upstream_bad_response', // the app answered with something that is not valid HTTP/1.x → 502
  'draining', // refused because the sidecar is shutting down
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** One HTTP request/response exchange (or one upgraded connection), recorded once at its end. */
export interface RequestRecord {
  direction: Direction;
  /** The other service when known (caller for inbound, destination for outbound), else ''. */
  peer: string;
  method: string;
  /** Raw path without the query string; the recorder turns it into a route template. */
  path: string;
  /** Host/:authority as sent by the client (for the tap only; never a label). */
  authority: string;
  /** 0 when no response was sent (client abort before the head, or a cut connection). */
  statusCode: number;
  error: ErrorCode;
  /** Wall-clock start, ms since epoch. */
  startTime: number;
  /** Request start to last response byte, ms. */
  durationMs: number;
  /** Request start to first response byte, ms (0 when none). */
  ttfbMs: number;
  /** Body bytes only (not heads), as they crossed the proxy. */
  requestBytes: number;
  responseBytes: number;
  /** Time the sidecar itself added (head parsing, connect wait excluded), ms. */
  overheadMs: number;
  /** True for a connection upgraded with `Upgrade` (WebSocket): bytes are the tunnel's. */
  upgraded: boolean;
  /** `x-request-id` as forwarded (kept or generated). */
  requestId: string;
  /** Request and response heads, only collected while a tap with headers is attached. */
  requestHeaders?: Record<string, string>;
  responseHeaders?: Record<string, string>;
  /** The first bytes of each body (decoded from chunked), only while a tap sampling bodies is attached. */
  requestBody?: Buffer;
  responseBody?: Buffer;
}

/**
 * One TCP connection accepted by a listener, recorded when it closes: every connection, HTTP
 * or not (`protocol` tells which), so that `skiff_tcp_*` counts all traffic on the wire.
 */
export interface TcpRecord {
  direction: Direction;
  peer: string;
  /** `http`: parsed as HTTP/1.x; `opaque`: relayed as bytes (not HTTP, server-first, or declared opaque). */
  protocol: 'http' | 'opaque';
  startTime: number;
  durationMs: number;
  /** Bytes on the wire (heads included) from the client to the app, and back. */
  bytesIn: number;
  bytesOut: number;
  error: ErrorCode;
}

/** Resource usage of the pod (or process) at one instant. */
export interface ResourceSample {
  /** Where the numbers come from: the container's cgroup (v1 or v2), or this process. */
  source: 'cgroup2' | 'cgroup1' | 'process';
  /** Cumulative CPU time used, seconds. */
  cpuSecondsTotal: number;
  /** CPU limit in cores, or null when unlimited. */
  cpuLimitCores: number | null;
  memoryBytes: number;
  /** Memory limit in bytes, or null when unlimited. */
  memoryLimitBytes: number | null;
}

/** Identity of the sidecar and its service. */
export interface Identity {
  service: string;
  namespace: string;
  pod: string;
}

/**
 * What the proxy writes its observations to (implemented by the telemetry recorder).
 * Every method runs on the request path: it must be cheap (a few map look-ups and integer
 * updates), never throw, never do I/O.
 */
export interface TelemetrySink {
  /** A connection was accepted (counted at once, so open connections are visible). */
  connectionOpened(direction: Direction, protocol: 'http' | 'opaque'): void;
  /** The connection closed; `protocol` may differ from the opened one once detection decided. */
  connectionClosed(record: TcpRecord): void;
  /** One finished HTTP exchange (or an upgraded connection, when it closes). */
  recordRequest(record: RequestRecord): void;
  /** True while a consumer (a tap asking for headers) wants request/response heads collected. */
  readonly wantsHeaders: boolean;
  /** Body bytes to sample per message while a tap asks for bodies; 0 (the usual case) = none. */
  readonly wantsBodies: number;
}
