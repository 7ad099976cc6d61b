/**
 * The sidecar's report sender, off the request path: every interval it takes the recorder's
 * delta, builds one v1 report (report.ts), serialises it once and queues it; one sender loop
 * POSTs the oldest queued report to `${url}/api/reports`, one at a time, so reports arrive in
 * seq order. docs/reporting.md describes the behaviour for users.
 *
 * - 2xx: delivered, removed.
 * - 4xx other than 408/429: the dashboard says the report is invalid or we are not allowed;
 *   retrying would not help, so it is dropped (counted; logged once per status).
 * - 5xx, 408, 429, network errors, timeouts: the same report is retried with exponential
 *   backoff and full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): a random
 *   delay in [0, min(cap, base·2^attempt)). Retries are safe: the dashboard ignores a
 *   (sidecarId, seq) it already has.
 *
 * The queue is bounded in bytes: when full, the oldest report is dropped (counted, and reported
 * as `droppedReports` so the dashboard can explain the gap). Memory stays flat however long the
 * dashboard is down.
 */
import { promisify } from 'node:util';
import type { Logger } from '../log.ts';
import type { Identity, ResourceSample } from './model.ts';
import type { MetricFamily } from './prometheus.ts';
import type { RecorderDelta } from './recorder.ts';
import { buildReport } from './report.ts';

export interface ReporterOptions {
  /** Dashboard base URL (`http://skiff-dashboard.skiff:8080`). */
  url: string;
  /** Sent as `Authorization: Bearer <token>`; never logged. */
  token?: string | undefined;
  intervalMs: number;
  /** Most bytes of serialised reports kept unsent. */
  queueBytes: number;
  identity: Identity;
  takeDelta: () => RecorderDelta;
  readResources: () => ResourceSample | null;
  log: Logger;
  now?: () => number;
  /** Jitter source in [0, 1). */
  random?: () => number;
  /** Per-attempt timeout. Default 10 s. */
  requestTimeoutMs?: number;
  /** First retry delay bound and cap. Default 1 s doubling to 60 s. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** How long `stop()` may spend sending what is left. Default 3 s. */
  stopTimeoutMs?: number;
  /** Default: random per process. */
  sidecarId?: string;
  /** Advertised admin URL for live taps (see ReportV1.admin). */
  admin?: string | undefined;
  /** Bodies of at least this many bytes are sent gzip-compressed (sketches compress ~10×). Default 1024. */
  gzipMinBytes?: number;
}

export interface ReporterStats {
  sidecarId: string;
  /** Seq of the last report built (0 before the first). */
  seq: number;
  sent: number;
  /** Dropped because the queue was full. */
  droppedQueueFull: number;
  /** Dropped because the dashboard refused them (4xx other than 408/429). */
  droppedRejected: number;
  /** Attempts that failed and will be retried. */
  failed: number;
  queueBytes: number;
  queueLength: number;
  /** When a report was last delivered (ms since epoch), or null. */
  lastSentAt: number | null;
}

export interface Reporter {
  readonly sidecarId: string;
  /** Starts the interval timer and the sender loop. */
  start(): void;
  /** Builds one last report and sends what is queued, within `stopTimeoutMs`; then stops. */
  stop(): Promise<void>;
  stats(): ReporterStats;
  /** The reporter's own Prometheus families (add them with `recorder.addCollector`). */
  families(): MetricFamily[];
}

interface Queued {
  seq: number;
  body: string | Buffer;
  gzip: boolean;
  bytes: number;
}

// node:crypto and node:zlib are loaded when a reporter is created, not when the proxy starts:
// a sidecar without a dashboard never pays their memory (~2 MiB, docs/performance.md).
let gzipAsync: ((body: string) => Promise<Buffer>) | null = null;

type Outcome = { kind: 'sent' } | { kind: 'rejected'; status: number } | { kind: 'retry'; reason: string };

/** Creates a reporter; nothing happens until `start()`. */
export function createReporter(options: ReporterOptions): Reporter {
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  const backoffBaseMs = options.backoffBaseMs ?? 1000;
  const backoffMaxMs = options.backoffMaxMs ?? 60_000;
  const stopTimeoutMs = options.stopTimeoutMs ?? 3000;
  const sidecarId = options.sidecarId ?? process.getBuiltinModule('node:crypto').randomBytes(8).toString('hex');
  gzipAsync ??= promisify(process.getBuiltinModule('node:zlib').gzip);
  const gzipBody = gzipAsync;
  const endpoint = `${options.url.replace(/\/+$/, '')}/api/reports`;
  const gzipMinBytes = options.gzipMinBytes ?? 1024;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const gzipHeaders = { ...headers, 'content-encoding': 'gzip' };
  const log = options.log;

  const queue: Queued[] = [];
  let queueBytes = 0;
  let seq = 0;
  const stats = { sent: 0, droppedQueueFull: 0, droppedRejected: 0, failed: 0, lastSentAt: null as number | null };
  const loggedStatuses = new Set<number>();
  let failing = false;

  let timer: NodeJS.Timeout | null = null;
  let started = false;
  let stopping = false;
  let closed = false;
  let loopDone: Promise<void> = Promise.resolve();
  // Reports being compressed, in seq order.
  let building: Promise<void> = Promise.resolve();
  // Wakes the sender loop (a report was queued, or stop() began) and cuts a backoff sleep short.
  let wake: (() => void) | null = null;
  let inFlight: { item: Queued; abort: AbortController } | null = null;
  // Resolves stop() once the queue is empty.
  let onEmpty: (() => void) | null = null;

  const signal = (): void => {
    const w = wake;
    wake = null;
    w?.();
  };

  const enqueue = (): void => {
    let delta: RecorderDelta;
    let resources: ResourceSample | null;
    try {
      delta = options.takeDelta();
    } catch (err) {
      log.error('cannot take the telemetry delta', { error: (err as Error).message });
      return;
    }
    try {
      resources = options.readResources();
    } catch {
      resources = null;
    }
    seq++;
    const body = JSON.stringify(
      buildReport({ sidecarId, seq, start: delta.start, end: delta.end, identity: options.identity, resources, requests: delta.requests, tcp: delta.tcp, droppedReports: stats.droppedQueueFull, admin: options.admin }),
    );
    const reportSeq = seq;
    const plainBytes = Buffer.byteLength(body);
    // Compression runs on the thread pool (not the event loop the proxy serves traffic on);
    // the chain keeps reports queued in seq order.
    building = building.then(async () => {
      let item: Queued = { seq: reportSeq, body, gzip: false, bytes: plainBytes };
      if (plainBytes >= gzipMinBytes) {
        try {
          const zipped = await gzipBody(body);
          item = { seq: reportSeq, body: zipped, gzip: true, bytes: zipped.length };
        } catch {
          // Send it uncompressed: correct, only larger.
        }
      }
      push(item);
    });
  };

  const push = (item: Queued): void => {
    // Drop the oldest until the new report fits (the one being sent is aborted: the dashboard
    // may still have got it, which is harmless: it is counted as dropped, never twice as data).
    while (queue.length > 0 && queueBytes + item.bytes > options.queueBytes) dropOldest();
    if (item.bytes > options.queueBytes) {
      stats.droppedQueueFull++;
      log.warn('report larger than the queue: dropped', { seq: item.seq, bytes: item.bytes, queue_bytes: options.queueBytes });
      return;
    }
    queue.push(item);
    queueBytes += item.bytes;
    signal();
  };

  const dropOldest = (): void => {
    const item = queue.shift();
    if (!item) return;
    queueBytes -= item.bytes;
    stats.droppedQueueFull++;
    if (inFlight?.item === item) inFlight.abort.abort();
    if (stats.droppedQueueFull === 1 || stats.droppedQueueFull % 100 === 0) {
      log.warn('report queue full: dropping the oldest reports', { dropped_total: stats.droppedQueueFull, queue_bytes: options.queueBytes });
    }
  };

  const removeHead = (item: Queued): void => {
    if (queue[0] === item) {
      queue.shift();
      queueBytes -= item.bytes;
    }
    if (queue.length === 0) onEmpty?.();
  };

  const send = async (item: Queued): Promise<Outcome> => {
    const abort = new AbortController();
    inFlight = { item, abort };
    try {
      const res = await fetch(endpoint, {
        method: 'POST',
        headers: item.gzip ? gzipHeaders : headers,
        body: item.body,
        signal: AbortSignal.any([abort.signal, AbortSignal.timeout(requestTimeoutMs)]),
      });
      // Release the connection; the body is not needed (and never logged).
      await res.body?.cancel().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return { kind: 'sent' };
      // RFC 9110 §15.5.9 (408) and RFC 6585 §4 (429): the request may be repeated later.
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) return { kind: 'rejected', status: res.status };
      return { kind: 'retry', reason: `HTTP ${res.status}` };
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      return { kind: 'retry', reason: e.name === 'TimeoutError' ? 'timeout' : (e.cause?.code ?? e.name) };
    } finally {
      inFlight = null;
    }
  };

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(() => {
        wake = null;
        resolve();
      }, ms);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });

  const waitForWork = (): Promise<void> =>
    new Promise((resolve) => {
      wake = resolve;
    });

  const loop = async (): Promise<void> => {
    let attempt = 0;
    while (!closed) {
      const item = queue[0];
      if (!item) {
        if (stopping) return;
        await waitForWork();
        continue;
      }
      const outcome = await send(item);
      if (closed) return;
      if (outcome.kind === 'sent') {
        stats.sent++;
        stats.lastSentAt = now();
        attempt = 0;
        if (failing) {
          failing = false;
          log.info('dashboard reachable again', { queued: queue.length - 1 });
        }
        removeHead(item);
      } else if (outcome.kind === 'rejected') {
        stats.droppedRejected++;
        attempt = 0;
        if (!loggedStatuses.has(outcome.status)) {
          loggedStatuses.add(outcome.status);
          log.error('dashboard refused a report: dropped (not retried)', { status: outcome.status, seq: item.seq, url: endpoint });
        }
        removeHead(item);
      } else if (queue[0] === item) {
        stats.failed++;
        if (!failing) {
          failing = true;
          log.warn('cannot send report: will retry with backoff', { reason: outcome.reason, url: endpoint });
        }
        attempt++;
        const bound = Math.min(backoffMaxMs, backoffBaseMs * 2 ** (attempt - 1));
        // While stopping there is no time to back off for long: retry at once until the deadline.
        if (!stopping) await sleep(random() * bound);
        else await sleep(Math.min(bound, 50));
      }
      // else: the report was dropped while in flight (queue full): go on with the new head.
    }
  };

  const reporter: Reporter = {
    sidecarId,

    start() {
      if (started) return;
      started = true;
      timer = setInterval(enqueue, options.intervalMs);
      timer.unref(); // the reporter never keeps a process alive by itself
      loopDone = loop().catch((err: unknown) => log.error('report sender stopped', { error: (err as Error).message }));
    },

    async stop() {
      if (!started || stopping) return loopDone;
      stopping = true;
      if (timer) clearInterval(timer);
      enqueue(); // the last interval's data
      await building;
      if (queue.length > 0) {
        let deadline: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          onEmpty = resolve;
          deadline = setTimeout(resolve, stopTimeoutMs);
          signal();
        });
        clearTimeout(deadline);
      }
      closed = true;
      inFlight?.abort.abort();
      signal();
      await loopDone;
      if (queue.length > 0) log.warn('stopped with reports unsent', { queued: queue.length });
    },

    stats() {
      return { sidecarId, seq, ...stats, queueBytes, queueLength: queue.length };
    },

    families() {
      return [
        { name: 'skiff_reports_sent_total', help: 'Reports delivered to the dashboard (2xx).', type: 'counter', samples: [{ labels: {}, value: stats.sent }] },
        {
          name: 'skiff_reports_dropped_total',
          help: 'Reports given up: reason="queue_full" (oldest dropped while the dashboard was unreachable) or reason="rejected" (the dashboard answered 4xx).',
          type: 'counter',
          samples: [
            { labels: { reason: 'queue_full' }, value: stats.droppedQueueFull },
            { labels: { reason: 'rejected' }, value: stats.droppedRejected },
          ],
        },
        { name: 'skiff_reports_failed_total', help: 'Report attempts that failed (network error, timeout, 5xx, 408, 429) and will be retried.', type: 'counter', samples: [{ labels: {}, value: stats.failed }] },
        { name: 'skiff_report_queue_bytes', help: 'Bytes of reports waiting to be sent.', type: 'gauge', samples: [{ labels: {}, value: queueBytes }] },
      ];
    },
  };
  return reporter;
}
