/**
 * The recorder: the proxy's TelemetrySink. It aggregates every request and connection into
 * bounded series, and serves them two ways:
 * - cumulative, as Prometheus text (`metrics()`, for /metrics): never reset;
 * - as deltas since the previous call (`takeDelta()`, for the reporter), with DDSketches of
 *   latency and body sizes so the dashboard can merge percentiles exactly.
 *
 * `recordRequest` runs on the request path of every request (~30k/s on one core), so it does a
 * few Map look-ups keyed by small integers, updates numbers and sketches in place, and allocates
 * nothing once a series exists. Labels are bounded: methods to a closed set, routes by the route
 * budget, peers by the peer budget, and the number of series by `maxSeries` (docs/metrics.md).
 */
import { readFileSync } from 'node:fs';
import { ERROR_CODES } from './model.ts';
import type { Direction, ErrorCode, Identity, RequestRecord, ResourceSample, TcpRecord, TelemetrySink } from './model.ts';
import type { RequestSeriesDelta, TcpSeriesDelta } from './report-format.ts';
import { Sketch } from './sketch.ts';
import { createRouteTable } from './routes.ts';
import {
  BYTES_BUCKETS,
  DURATION_BUCKETS_SECONDS,
  OVERHEAD_BUCKETS_SECONDS,
  bucketIndex,
  processFamilies,
  renderMetrics,
  resourceFamilies,
} from './prometheus.ts';
import type { HistogramSample, MetricFamily, ScalarSample } from './prometheus.ts';
import { readResources } from './resources.ts';

/** Methods kept as labels (RFC 9110 §9 plus PATCH, RFC 5789); any other token is `OTHER`. */
export const STANDARD_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;
export const OTHER_METHOD = 'OTHER';
const METHOD_NAMES: readonly string[] = [...STANDARD_METHODS, OTHER_METHOD];
const OTHER_METHOD_INDEX = STANDARD_METHODS.length;
export const OTHER_PEER = 'other';
/** Request series kept before new keys fold into per-status-class overflow series. */
export const DEFAULT_MAX_SERIES = 9_500;
const ERROR_INDEX: ReadonlyMap<string, number> = new Map(ERROR_CODES.map((c, i) => [c, i]));
const DIRECTIONS: readonly Direction[] = ['inbound', 'outbound'];
const PROTOCOLS = ['http', 'opaque'] as const;
// Peer names are service names (DNS labels, dots): anything else is not a name we can label by.
const PEER_NAME = /^[\x21-\x7e]{1,256}$/;

const PACKAGE_VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
})();

export interface RecorderOptions {
  identity: Identity;
  /** Distinct route templates per service; the rest are `other`. */
  routeBudget: number;
  /** Distinct peers; the rest are `other`. Default 100. */
  peerBudget?: number;
  /** Most request series (labels combinations); default 9,500, so a report stays under 10,000. */
  maxSeries?: number;
  /** Clock for delta intervals, ms since epoch. */
  now?: () => number;
  /** Reported in `skiff_build_info`; default: package.json's version. */
  version?: string;
  /** Pod resources for /metrics; default `readResources()` (cgroup, else the process). */
  resources?: () => ResourceSample | null;
}

export interface RecorderDelta {
  requests: RequestSeriesDelta[];
  tcp: TcpSeriesDelta[];
  /** The interval covered, ms since epoch: `start` is the previous call's `end`; start < end. */
  start: number;
  end: number;
}

export type RequestListener = (record: RequestRecord) => void;

export interface Recorder extends TelemetrySink {
  /**
   * Calls `listener` with every request record, after it is recorded (live taps). A listener that
   * throws is ignored. With `headers: true`, `wantsHeaders` is true while it stays attached.
   * Returns the function that detaches it.
   */
  onRequest(listener: RequestListener, options?: { headers?: boolean; bodyBytes?: number }): () => void;
  /** Forces `wantsHeaders` on (in addition to header listeners), e.g. for a tap fan-out. */
  setWantsHeaders(on: boolean): void;
  /** Adds families to `metrics()` (the proxy's and the reporter's own); returns a remover. */
  addCollector(collect: () => readonly MetricFamily[]): () => void;
  /** Every family, cumulative since start (for tests and other renderers). */
  families(): MetricFamily[];
  /** Prometheus text exposition (0.0.4) of `families()`, with service and namespace labels. */
  metrics(): string;
  /** What changed since the previous call; resets the delta state (never the cumulative one). */
  takeDelta(): RecorderDelta;
  /** Request series in memory (bounded by maxSeries plus a few overflow series). */
  readonly seriesCount: number;
}

/** One request series: cumulative numbers for Prometheus, delta numbers and sketches for reports. */
class RequestSeries {
  readonly direction: Direction;
  readonly peer: string;
  readonly method: string;
  readonly route: string;
  readonly statusCode: number;
  readonly error: ErrorCode;
  readonly labels: Readonly<Record<string, string>>;
  count = 0;
  requestBytes = 0;
  responseBytes = 0;
  durationSumSeconds = 0;
  readonly durationCounts = new Float64Array(DURATION_BUCKETS_SECONDS.length + 1);
  readonly requestCounts = new Float64Array(BYTES_BUCKETS.length + 1);
  readonly responseCounts = new Float64Array(BYTES_BUCKETS.length + 1);
  dirty = false;
  dCount = 0;
  dRequestBytes = 0;
  dResponseBytes = 0;
  readonly latency = new Sketch();
  readonly requestSketch = new Sketch();
  readonly responseSketch = new Sketch();

  constructor(direction: Direction, peer: string, method: string, route: string, statusCode: number, error: ErrorCode) {
    this.direction = direction;
    this.peer = peer;
    this.method = method;
    this.route = route;
    this.statusCode = statusCode;
    this.error = error;
    this.labels = { direction, peer, method, route, status_code: String(statusCode), error };
  }
}

class TcpSeries {
  readonly direction: Direction;
  readonly peer: string;
  readonly protocol: 'http' | 'opaque';
  readonly labels: Readonly<Record<string, string>>;
  opened = 0;
  closed = 0;
  bytesIn = 0;
  bytesOut = 0;
  readonly errors = new Float64Array(ERROR_CODES.length);
  dirty = false;
  dOpened = 0;
  dClosed = 0;
  dBytesIn = 0;
  dBytesOut = 0;
  readonly dErrors = new Float64Array(ERROR_CODES.length);

  constructor(direction: Direction, peer: string, protocol: 'http' | 'opaque') {
    this.direction = direction;
    this.peer = peer;
    this.protocol = protocol;
    this.labels = { direction, peer, protocol };
  }
}

function methodIndex(m: string): number {
  switch (m) {
    case 'GET': return 0;
    case 'HEAD': return 1;
    case 'POST': return 2;
    case 'PUT': return 3;
    case 'DELETE': return 4;
    case 'CONNECT': return 5;
    case 'OPTIONS': return 6;
    case 'TRACE': return 7;
    case 'PATCH': return 8;
    default: return OTHER_METHOD_INDEX;
  }
}

/** A non-negative finite number (NaN, negatives and ±Infinity become 0: never poison a sum). */
function clean(v: number): number {
  return v > 0 && v < Infinity ? v : 0;
}

/** Byte counts as non-negative safe integers (reports require them). */
function cleanBytes(v: number): number {
  return v > 0 && v <= Number.MAX_SAFE_INTEGER ? Math.floor(v) : 0;
}

/**
 * Creates the recorder for one sidecar.
 *
 * @example
 * const recorder = createRecorder({ identity, routeBudget: 200 });
 * recorder.recordRequest(record);           // on the request path
 * res.end(recorder.metrics());              // GET /metrics
 * const delta = recorder.takeDelta();       // every report interval
 */
export function createRecorder(options: RecorderOptions): Recorder {
  const now = options.now ?? Date.now;
  const peerBudget = Math.max(0, options.peerBudget ?? 100);
  const maxSeries = Math.max(0, options.maxSeries ?? DEFAULT_MAX_SERIES);
  const version = options.version ?? PACKAGE_VERSION;
  const resources = options.resources ?? (() => readResources());
  const constLabels = { service: options.identity.service, namespace: options.identity.namespace };
  const routes = createRouteTable(options.routeBudget);

  // Peers: id 0 is '' (unknown), id 1 is `other`; known names get ids up to the budget.
  const peerNames: string[] = ['', OTHER_PEER];
  const peerIds = new Map<string, number>([['', 0]]);
  const peerStride = peerBudget + 2;
  const peerId = (peer: string): number => {
    const id = peerIds.get(peer);
    if (id !== undefined) return id;
    // `other` as a real peer name would merge with the overflow: it is the overflow.
    if (peerNames.length - 2 >= peerBudget || !PEER_NAME.test(peer) || peer === OTHER_PEER) return 1;
    peerNames.push(peer);
    peerIds.set(peer, peerNames.length - 1);
    return peerNames.length - 1;
  };

  // Request series: by route id, then by one integer for (status, error, method, direction, peer).
  const byRoute: (Map<number, RequestSeries> | undefined)[] = [];
  let seriesCount = 0;
  const allSeries: RequestSeries[] = [];
  let dirtySeries: RequestSeries[] = [];

  const lookup = (routeId: number, status: number, err: number, method: number, dir: number, peer: number): RequestSeries => {
    const hit = byRoute[routeId]?.get((((status * 16 + err) * 16 + method) * 2 + dir) * peerStride + peer);
    if (hit) return hit;
    if (seriesCount < maxSeries) return create(routeId, status, err, method, dir, peer);
    // Over the series cap: fold into an overflow series per (direction, status class, error),
    // at most 2 × 10 × 11 of them, so memory and report size stay bounded whatever arrives.
    const statusClass = Math.floor(status / 100) * 100;
    // Stored like any series, so a key never has two series (labels stay unique).
    const key = (((statusClass * 16 + err) * 16 + OTHER_METHOD_INDEX) * 2 + dir) * peerStride + 1;
    return byRoute[0]?.get(key) ?? create(0, statusClass, err, OTHER_METHOD_INDEX, dir, 1);
  };
  const create = (routeId: number, status: number, err: number, method: number, dir: number, peer: number): RequestSeries => {
    const s = new RequestSeries(DIRECTIONS[dir]!, peerNames[peer]!, METHOD_NAMES[method]!, routes.routeName(routeId), status, ERROR_CODES[err]!);
    let m = byRoute[routeId];
    if (!m) {
      m = new Map();
      byRoute[routeId] = m;
    }
    m.set((((status * 16 + err) * 16 + method) * 2 + dir) * peerStride + peer, s);
    allSeries.push(s);
    seriesCount++;
    return s;
  };

  // TCP series by (peer, direction, protocol); open connections per direction.
  const tcpByKey = new Map<number, TcpSeries>();
  const allTcp: TcpSeries[] = [];
  let dirtyTcp: TcpSeries[] = [];
  const openConnections = [0, 0];
  const tcpSeries = (dir: number, peer: number, proto: number): TcpSeries => {
    const key = (peer * 2 + dir) * 2 + proto;
    let s = tcpByKey.get(key);
    if (!s) {
      s = new TcpSeries(DIRECTIONS[dir]!, peerNames[peer]!, PROTOCOLS[proto]!);
      tcpByKey.set(key, s);
      allTcp.push(s);
    }
    if (!s.dirty) {
      s.dirty = true;
      dirtyTcp.push(s);
    }
    return s;
  };

  const overheadCounts = [new Float64Array(OVERHEAD_BUCKETS_SECONDS.length + 1), new Float64Array(OVERHEAD_BUCKETS_SECONDS.length + 1)];
  const overheadSums = [0, 0];

  let listeners: { fn: RequestListener; headers: boolean; bodyBytes: number }[] = [];
  let forcedHeaders = false;
  let wantsHeaders = false;
  let wantsBodies = 0;
  const updateWantsHeaders = (): void => {
    wantsHeaders = forcedHeaders || listeners.some((l) => l.headers);
    wantsBodies = listeners.reduce((m, l) => Math.max(m, l.bodyBytes), 0);
  };
  const collectors = new Set<() => readonly MetricFamily[]>();
  let deltaStart = now();

  const recorder: Recorder = {
    get wantsHeaders() {
      return wantsHeaders;
    },
    get wantsBodies() {
      return wantsBodies;
    },
    get seriesCount() {
      return seriesCount;
    },

    recordRequest(r) {
      const dir = r.direction === 'outbound' ? 1 : 0;
      const sc = r.statusCode;
      const status = sc >= 0 && sc <= 999 ? sc | 0 : 0;
      const err = r.error === '' ? 0 : (ERROR_INDEX.get(r.error) ?? 0);
      const s = lookup(routes.routeId(r.path), status, err, methodIndex(r.method), dir, r.peer === '' ? 0 : peerId(r.peer));
      const ms = clean(r.durationMs);
      const seconds = ms / 1000;
      const reqBytes = cleanBytes(r.requestBytes);
      const respBytes = cleanBytes(r.responseBytes);
      s.count++;
      s.requestBytes += reqBytes;
      s.responseBytes += respBytes;
      s.durationSumSeconds += seconds;
      s.durationCounts[bucketIndex(DURATION_BUCKETS_SECONDS, seconds)]!++;
      s.requestCounts[bucketIndex(BYTES_BUCKETS, reqBytes)]!++;
      s.responseCounts[bucketIndex(BYTES_BUCKETS, respBytes)]!++;
      if (!s.dirty) {
        s.dirty = true;
        dirtySeries.push(s);
      }
      s.dCount++;
      s.dRequestBytes += reqBytes;
      s.dResponseBytes += respBytes;
      // Every record goes into all three sketches, so their counts equal the series count.
      s.latency.add(ms);
      s.requestSketch.add(reqBytes);
      s.responseSketch.add(respBytes);
      const overhead = clean(r.overheadMs) / 1000;
      overheadCounts[dir]![bucketIndex(OVERHEAD_BUCKETS_SECONDS, overhead)]!++;
      overheadSums[dir]! += overhead;
      if (listeners.length !== 0) {
        for (const l of listeners) {
          try {
            l.fn(r);
          } catch {
            // A tap's failure must never cost a request its telemetry (or the proxy its life).
          }
        }
      }
    },

    connectionOpened(direction, protocol) {
      const dir = direction === 'outbound' ? 1 : 0;
      // The peer is not known yet at accept: opened connections are counted under peer ''.
      const s = tcpSeries(dir, 0, protocol === 'opaque' ? 1 : 0);
      s.opened++;
      s.dOpened++;
      openConnections[dir]!++;
    },

    connectionClosed(r: TcpRecord) {
      const dir = r.direction === 'outbound' ? 1 : 0;
      const s = tcpSeries(dir, r.peer === '' ? 0 : peerId(r.peer), r.protocol === 'opaque' ? 1 : 0);
      const bytesIn = cleanBytes(r.bytesIn);
      const bytesOut = cleanBytes(r.bytesOut);
      s.closed++;
      s.dClosed++;
      s.bytesIn += bytesIn;
      s.dBytesIn += bytesIn;
      s.bytesOut += bytesOut;
      s.dBytesOut += bytesOut;
      if (r.error !== '') {
        const e = ERROR_INDEX.get(r.error);
        if (e !== undefined && e !== 0) {
          s.errors[e]!++;
          s.dErrors[e]!++;
        }
      }
      if (openConnections[dir]! > 0) openConnections[dir]!--;
    },

    onRequest(fn, opts = {}) {
      const entry = { fn, headers: opts.headers === true, bodyBytes: Math.max(0, Math.floor(opts.bodyBytes ?? 0)) };
      listeners = [...listeners, entry]; // copy on write: recordRequest iterates without a guard
      updateWantsHeaders();
      return () => {
        listeners = listeners.filter((l) => l !== entry);
        updateWantsHeaders();
      };
    },

    setWantsHeaders(on) {
      forcedHeaders = on;
      updateWantsHeaders();
    },

    addCollector(collect) {
      collectors.add(collect);
      return () => collectors.delete(collect);
    },

    families() {
      const requestsTotal: ScalarSample[] = [];
      const durations: HistogramSample[] = [];
      const requestBytes: HistogramSample[] = [];
      const responseBytes: HistogramSample[] = [];
      for (const s of allSeries) {
        requestsTotal.push({ labels: s.labels, value: s.count });
        durations.push({ labels: s.labels, bounds: DURATION_BUCKETS_SECONDS, counts: s.durationCounts, sum: s.durationSumSeconds });
        requestBytes.push({ labels: s.labels, bounds: BYTES_BUCKETS, counts: s.requestCounts, sum: s.requestBytes });
        responseBytes.push({ labels: s.labels, bounds: BYTES_BUCKETS, counts: s.responseCounts, sum: s.responseBytes });
      }
      const connections: ScalarSample[] = [];
      const tcpBytes: ScalarSample[] = [];
      const tcpErrors: ScalarSample[] = [];
      for (const s of allTcp) {
        if (s.closed > 0) connections.push({ labels: s.labels, value: s.closed });
        if (s.bytesIn > 0 || s.bytesOut > 0 || s.closed > 0) {
          tcpBytes.push({ labels: { ...s.labels, flow: 'client_to_server' }, value: s.bytesIn }, { labels: { ...s.labels, flow: 'server_to_client' }, value: s.bytesOut });
        }
        s.errors.forEach((n, e) => {
          if (n > 0) tcpErrors.push({ labels: { ...s.labels, error: ERROR_CODES[e]! }, value: n });
        });
      }
      let sample: ResourceSample | null;
      try {
        sample = resources();
      } catch {
        sample = null; // resources are best-effort; a scrape must still succeed
      }
      const cpu = process.cpuUsage();
      const families: MetricFamily[] = [
        { name: 'skiff_requests_total', help: 'HTTP requests that ended (one per response, proxy-made ones included).', type: 'counter', samples: requestsTotal },
        { name: 'skiff_request_duration_seconds', help: 'Time from the start of a request to the last byte of its response, seconds.', type: 'histogram', samples: durations },
        { name: 'skiff_request_bytes', help: 'Request body sizes (not heads), bytes.', type: 'histogram', samples: requestBytes },
        { name: 'skiff_response_bytes', help: 'Response body sizes (not heads), bytes.', type: 'histogram', samples: responseBytes },
        {
          name: 'skiff_proxy_overhead_seconds',
          help: 'Time the sidecar itself added to a request (parsing, routing, recording), seconds.',
          type: 'histogram',
          samples: DIRECTIONS.map((d, i) => ({ labels: { direction: d }, bounds: OVERHEAD_BUCKETS_SECONDS, counts: overheadCounts[i]!, sum: overheadSums[i]! })),
        },
        { name: 'skiff_tcp_connections_total', help: 'TCP connections that closed, by the peer and protocol known at close.', type: 'counter', samples: connections },
        {
          name: 'skiff_tcp_connections_open',
          help: 'TCP connections open now.',
          type: 'gauge',
          samples: DIRECTIONS.map((d, i) => ({ labels: { direction: d }, value: openConnections[i]! })),
        },
        { name: 'skiff_tcp_bytes_total', help: 'Bytes on the wire (heads included) of closed TCP connections, by flow: client_to_server or server_to_client.', type: 'counter', samples: tcpBytes },
        { name: 'skiff_tcp_connection_errors_total', help: 'TCP connections that ended with an error, by error code.', type: 'counter', samples: tcpErrors },
        ...resourceFamilies(sample),
        ...processFamilies(process.memoryUsage.rss(), (cpu.user + cpu.system) / 1e6),
        { name: 'skiff_build_info', help: 'Always 1; the version label says which skiff is running.', type: 'gauge', samples: [{ labels: { version }, value: 1 }] },
      ];
      for (const collect of collectors) {
        try {
          families.push(...collect());
        } catch {
          // One broken collector must not take /metrics down.
        }
      }
      return families;
    },

    metrics() {
      return renderMetrics(recorder.families(), constLabels);
    },

    takeDelta() {
      const start = deltaStart;
      const end = Math.max(now(), start + 1); // reports require start < end
      deltaStart = end;
      const requests: RequestSeriesDelta[] = dirtySeries.map((s) => {
        const d: RequestSeriesDelta = {
          direction: s.direction,
          peer: s.peer,
          method: s.method,
          route: s.route,
          statusCode: s.statusCode,
          error: s.error,
          count: s.dCount,
          requestBytesTotal: s.dRequestBytes,
          responseBytesTotal: s.dResponseBytes,
          latencyMs: s.latency.toJSON(),
          requestBytes: s.requestSketch.toJSON(),
          responseBytes: s.responseSketch.toJSON(),
        };
        s.dirty = false;
        s.dCount = 0;
        s.dRequestBytes = 0;
        s.dResponseBytes = 0;
        s.latency.clear();
        s.requestSketch.clear();
        s.responseSketch.clear();
        return d;
      });
      dirtySeries = [];
      const tcp: TcpSeriesDelta[] = dirtyTcp.map((s) => {
        const errors: Partial<Record<ErrorCode, number>> = {};
        s.dErrors.forEach((n, e) => {
          if (n > 0) errors[ERROR_CODES[e]!] = n;
        });
        const d: TcpSeriesDelta = {
          direction: s.direction,
          peer: s.peer,
          protocol: s.protocol,
          opened: s.dOpened,
          closed: s.dClosed,
          bytesIn: s.dBytesIn,
          bytesOut: s.dBytesOut,
          errors,
        };
        s.dirty = false;
        s.dOpened = 0;
        s.dClosed = 0;
        s.dBytesIn = 0;
        s.dBytesOut = 0;
        s.dErrors.fill(0);
        return d;
      });
      dirtyTcp = [];
      return { requests, tcp, start, end };
    },
  };
  return recorder;
}
