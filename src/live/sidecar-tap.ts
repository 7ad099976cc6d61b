/**
 * The sidecar's live tap: `GET /tap` on the admin port, a server-sent event stream of the
 * requests this sidecar proxies (format: record.ts; filters: filter.ts; docs/live.md).
 *
 *   GET /tap?direction=inbound&status=5xx&rate=50&headers=1&bodies=1
 *
 * The one rule: a tap never slows traffic. The recorder calls each client's listener
 * synchronously at the end of every request, so the listener only compares fields, takes a
 * token from the client's rate bucket and puts a reference to the (immutable) record in the
 * client's bounded queue. Serialising, redacting and writing happen later, off the request
 * path, and only while the client's socket takes data: a client that reads slowly (or asks
 * for more than its rate) loses records, which are counted (`event: dropped`, and
 * `skiff_tap_records_dropped_total`). With no client attached, the recorder has no listener
 * and the proxy collects no headers or bodies: an idle tap costs nothing.
 *
 * Access: with a token (SKIFF_TOKEN) every tap needs `Authorization: Bearer <token>`; without
 * one the tap is open like /metrics (the admin port is loopback by default), but bodies are
 * never served. Headers need `--tap-headers`; bodies need `--tap-bodies`, the token and
 * `bodies=1`. Sensitive headers and configured JSON fields are always redacted (redact.ts).
 */
import type { AdminHandler, AdminRequest, AdminResponse, AdminStream } from '../proxy/admin.ts';
import type { Logger } from '../log.ts';
import type { Identity, RequestRecord } from '../telemetry/model.ts';
import type { MetricFamily } from '../telemetry/prometheus.ts';
import type { Recorder } from '../telemetry/recorder.ts';
import { templatePath } from '../telemetry/routes.ts';
import { FilterError, matchesIdentity, matchesRecord, parseFilter } from './filter.ts';
import type { TapFilter } from './filter.ts';
import type { DropReason, TapDropped, TapHello, TapRecord } from './record.ts';
import { PING_EVERY_MS, SSE_PING, SSE_RETRY_MS, sseEvent } from './record.ts';
import { headerRedactions, redactHeaders, showBody } from './redact.ts';

export const DEFAULT_TAP_RATE = 100;
export const MAX_TAP_RATE = 10_000;
export const DEFAULT_MAX_TAPS = 16;
/** Records a client may have waiting; more are dropped (`slow`). */
export const DEFAULT_QUEUE_RECORDS = 256;
/** Approximate bytes a client may have waiting (bodies count in full). */
export const DEFAULT_QUEUE_BYTES = 512 * 1024;
/** Drop notices are sent with the next record, or after this long. */
const NOTICE_EVERY_MS = 1000;
/** Records serialised per turn of the event loop. */
const FLUSH_BATCH = 32;
/** What a queued record costs without its bodies and headers, roughly. */
const RECORD_COST = 256;

export interface SidecarTapOptions {
  recorder: Pick<Recorder, 'onRequest' | 'addCollector'>;
  identity: Identity;
  /** SKIFF_TOKEN; undefined or '' = no token (open tap, never bodies). */
  token?: string | undefined;
  /** `--tap-headers` */
  allowHeaders: boolean;
  /** `--tap-bodies` */
  allowBodies: boolean;
  /** `--tap-body-bytes` */
  bodyBytes: number;
  /** `--redact-headers` (added to authorization, cookie, set-cookie, proxy-authorization). */
  redactHeaders: readonly string[];
  /** `--redact-fields` */
  redactFields: readonly string[];
  log: Logger;
  /** Concurrent taps; more get 429. Default 16. */
  maxClients?: number;
  defaultRate?: number;
  queueRecords?: number;
  queueBytes?: number;
  pingMs?: number;
}

export interface SidecarTap {
  /** Mount at `/tap` on the admin server. */
  readonly handler: AdminHandler;
  /** Clients attached now. */
  readonly clients: number;
  /** Records dropped since start, by reason. */
  readonly dropped: Readonly<Record<DropReason, number>>;
  /** `skiff_tap_records_dropped_total` and `skiff_tap_clients` (already added to the recorder). */
  families(): MetricFamily[];
  /** Ends every stream and detaches from the recorder (on drain). */
  close(): void;
}

// node:crypto is loaded on the first authenticated tap, not when the proxy starts (its memory
// counts in every sidecar: docs/performance.md).
function digest(s: string): Buffer {
  return process.getBuiltinModule('node:crypto').createHash('sha256').update(s).digest();
}

/** `Authorization: Bearer <token>` (RFC 6750 §2.1), compared in constant time. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  if (!header) return false;
  const m = /^bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return m !== null && process.getBuiltinModule('node:crypto').timingSafeEqual(digest(m[1]!), digest(token));
}

function flag(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  return v !== null && ['', '1', 'true', 'yes', 'on'].includes(v.toLowerCase());
}

/** `rate=N` records per second, 1…MAX_TAP_RATE. */
export function parseRate(q: URLSearchParams, fallback: number): number {
  const v = q.get('rate');
  if (v === null || v === '') return fallback;
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > MAX_TAP_RATE) throw new FilterError(`rate must be an integer from 1 to ${MAX_TAP_RATE}, not "${v}"`);
  return Number(v);
}

export interface RecordPolicy {
  identity: Identity;
  headers: boolean;
  bodies: boolean;
  bodyBytes: number;
  redactHeaders: ReadonlySet<string>;
  redactFields: ReadonlySet<string>;
}

const round = (ms: number): number => (ms > 0 && ms < Infinity ? Math.round(ms * 1000) / 1000 : 0);

/** A request record as the tap shows it (headers and bodies only as the policy allows). */
export function toTapRecord(r: RequestRecord, p: RecordPolicy): TapRecord {
  const q = r.path.indexOf('?');
  const path = q === -1 ? r.path : r.path.slice(0, q);
  const out: TapRecord = {
    time: new Date(r.startTime).toISOString(),
    service: p.identity.service,
    namespace: p.identity.namespace,
    pod: p.identity.pod,
    direction: r.direction,
    peer: r.peer,
    method: r.method,
    authority: r.authority,
    path,
    route: templatePath(path),
    status: r.statusCode,
    latencyMs: round(r.durationMs),
    ttfbMs: round(r.ttfbMs),
    requestBytes: r.requestBytes,
    responseBytes: r.responseBytes,
    error: r.error,
    requestId: r.requestId,
  };
  if (p.headers) {
    out.requestHeaders = redactHeaders(r.requestHeaders ?? {}, p.redactHeaders);
    out.responseHeaders = redactHeaders(r.responseHeaders ?? {}, p.redactHeaders);
  }
  if (p.bodies) {
    if (r.requestBody) out.requestBody = showBody(r.requestBody, r.requestBytes, p.bodyBytes, r.requestHeaders, p.redactFields);
    if (r.responseBody) out.responseBody = showBody(r.responseBody, r.responseBytes, p.bodyBytes, r.responseHeaders, p.redactFields);
  }
  return out;
}

function headersCost(h: Readonly<Record<string, string>> | undefined): number {
  if (!h) return 0;
  let n = 0;
  for (const k in h) n += k.length + h[k]!.length + 8;
  return n;
}

/** Roughly what a queued record holds on to, so that the queue is bounded in bytes too. */
function costOf(r: RequestRecord): number {
  return RECORD_COST + r.path.length + r.authority.length + (r.requestBody?.length ?? 0) + (r.responseBody?.length ?? 0) + headersCost(r.requestHeaders) + headersCost(r.responseHeaders);
}

/**
 * One attached tap client: its filter, rate bucket and bounded queue. `offer` runs on the
 * request path; everything else runs from the event loop.
 */
class TapClient {
  readonly #stream: AdminStream;
  readonly #filter: TapFilter;
  readonly #policy: RecordPolicy;
  readonly #rate: number;
  readonly #maxRecords: number;
  readonly #maxBytes: number;
  readonly #onDrop: (reason: DropReason) => void;
  #queue: RequestRecord[] = [];
  #head = 0;
  #queuedBytes = 0;
  #tokens: number;
  #refilled = performance.now();
  #writable = true;
  #scheduled = false;
  readonly #pending: Record<DropReason, number> = { rate: 0, slow: 0 };
  #total = 0;
  #noticeTimer: NodeJS.Timeout | undefined;

  constructor(stream: AdminStream, filter: TapFilter, policy: RecordPolicy, rate: number, maxRecords: number, maxBytes: number, onDrop: (reason: DropReason) => void) {
    this.#stream = stream;
    this.#filter = filter;
    this.#policy = policy;
    this.#rate = rate;
    this.#tokens = rate; // a burst of one second's worth, then `rate` per second
    this.#maxRecords = maxRecords;
    this.#maxBytes = maxBytes;
    this.#onDrop = onDrop;
    stream.onDrain(() => {
      this.#writable = true;
      this.#schedule();
    });
  }

  /** On the request path: filter, rate, enqueue. Never blocks, never throws. */
  readonly offer = (r: RequestRecord): void => {
    if (!matchesRecord(this.#filter, r)) return;
    const now = performance.now();
    this.#tokens = Math.min(this.#rate, this.#tokens + ((now - this.#refilled) * this.#rate) / 1000);
    this.#refilled = now;
    if (this.#tokens < 1) return this.#drop('rate');
    const cost = costOf(r);
    if (this.#queue.length - this.#head >= this.#maxRecords || this.#queuedBytes + cost > this.#maxBytes) return this.#drop('slow');
    this.#tokens -= 1;
    this.#queue.push(r);
    this.#queuedBytes += cost;
    this.#schedule();
  };

  #drop(reason: DropReason): void {
    this.#pending[reason]++;
    this.#total++;
    this.#onDrop(reason);
    // One notice per second at most (and before the next record): a client far over its rate
    // must not get a notice per request instead.
    if (this.#noticeTimer === undefined) {
      this.#noticeTimer = setTimeout(() => {
        this.#noticeTimer = undefined;
        this.#schedule();
      }, NOTICE_EVERY_MS);
      this.#noticeTimer.unref();
    }
  }

  close(): void {
    clearTimeout(this.#noticeTimer);
  }

  #schedule(): void {
    if (this.#scheduled || !this.#writable) return;
    this.#scheduled = true;
    setImmediate(this.#flush);
  }

  /** Off the request path: drop notices first (they say what is missing before what follows), then records. */
  readonly #flush = (): void => {
    this.#scheduled = false;
    if (this.#stream.closed) return;
    for (const reason of ['rate', 'slow'] as const) {
      const count = this.#pending[reason];
      if (count === 0 || !this.#writable) continue;
      this.#pending[reason] = 0;
      const notice: TapDropped = { count, total: this.#total, reason };
      this.#writable = this.#stream.write(sseEvent('dropped', JSON.stringify(notice)));
    }
    // A bounded slice of work per turn of the event loop, so that serialising and redacting a
    // full queue never holds up the proxy's own I/O for long.
    let budget = FLUSH_BATCH;
    while (this.#writable && this.#head < this.#queue.length) {
      if (budget-- === 0) {
        this.#schedule();
        break;
      }
      const r = this.#queue[this.#head]!;
      this.#queue[this.#head++] = undefined as unknown as RequestRecord; // let the record go
      this.#queuedBytes -= costOf(r);
      let text: string;
      try {
        text = sseEvent(null, JSON.stringify(toTapRecord(r, this.#policy)));
      } catch {
        continue; // a record we cannot show is skipped, never a broken stream
      }
      this.#writable = this.#stream.write(text);
    }
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1024) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  };

  ping(): void {
    if (this.#writable && !this.#stream.closed) this.#writable = this.#stream.write(SSE_PING);
  }
}

/**
 * Creates the tap and registers its metrics with the recorder.
 *
 * @example
 * const tap = createSidecarTap({ recorder, identity, token: env.SKIFF_TOKEN, allowHeaders: v['tap-headers'], … });
 * await createSidecar(config, { sink: recorder, metrics, log, adminRoutes: new Map([['/tap', tap.handler]]) });
 */
export function createSidecarTap(options: SidecarTapOptions): SidecarTap {
  const token = options.token ?? '';
  const maxClients = options.maxClients ?? DEFAULT_MAX_TAPS;
  const defaultRate = options.defaultRate ?? DEFAULT_TAP_RATE;
  const queueRecords = options.queueRecords ?? DEFAULT_QUEUE_RECORDS;
  const queueBytes = options.queueBytes ?? DEFAULT_QUEUE_BYTES;
  const pingMs = options.pingMs ?? PING_EVERY_MS;
  const headerSet = headerRedactions(options.redactHeaders);
  const fieldSet: ReadonlySet<string> = new Set(options.redactFields.map((f) => f.trim().toLowerCase()).filter(Boolean));
  const bodyBytes = Math.max(0, Math.floor(options.bodyBytes));
  const dropped: Record<DropReason, number> = { rate: 0, slow: 0 };
  const streams = new Set<AdminStream>();
  const log = options.log;

  const families = (): MetricFamily[] => [
    {
      name: 'skiff_tap_records_dropped_total',
      help: 'Tap records not delivered to a tap client: over its rate (rate) or while it read too slowly (slow).',
      type: 'counter',
      samples: [
        { labels: { reason: 'rate' }, value: dropped.rate },
        { labels: { reason: 'slow' }, value: dropped.slow },
      ],
    },
    { name: 'skiff_tap_clients', help: 'Live tap streams attached now.', type: 'gauge', samples: [{ labels: {}, value: streams.size }] },
  ];
  options.recorder.addCollector(families);

  const refuse = (res: AdminResponse, status: number, message: string, headers?: Record<string, string>): void => {
    res.send(status, `${message}\n`, 'text/plain; charset=utf-8', headers);
  };

  const handler: AdminHandler = (req: AdminRequest, res: AdminResponse) => {
    if (req.method !== 'GET') return refuse(res, 405, 'the tap is GET /tap', { allow: 'GET' });
    if (token !== '' && !bearerMatches(req.headers.authorization, token)) {
      // RFC 6750 §3: say which scheme is expected.
      return refuse(res, 401, 'this sidecar has a token: send Authorization: Bearer $SKIFF_TOKEN', { 'www-authenticate': 'Bearer realm="skiff"' });
    }
    let filter: TapFilter;
    let rate: number;
    try {
      filter = parseFilter(req.query);
      rate = parseRate(req.query, defaultRate);
    } catch (err) {
      if (err instanceof FilterError) return refuse(res, 400, err.message);
      throw err;
    }
    if (!matchesIdentity(filter, options.identity)) {
      const id = options.identity;
      return refuse(res, 404, `this sidecar is ${id.namespace}/${id.service} (pod ${id.pod}): no such service or pod here`);
    }
    if (streams.size >= maxClients) return refuse(res, 429, `too many taps on this sidecar (at most ${maxClients}); try again later`, { 'retry-after': '5' });

    const notes: string[] = [];
    const wantHeaders = flag(req.query, 'headers');
    const wantBodies = flag(req.query, 'bodies');
    const headers = wantHeaders && options.allowHeaders;
    if (wantHeaders && !headers) notes.push('headers are off on this sidecar (start it with --tap-headers)');
    let bodies = false;
    if (wantBodies) {
      if (!options.allowBodies || bodyBytes === 0) notes.push('body sampling is off on this sidecar (start it with --tap-bodies)');
      else if (token === '') notes.push('bodies are only shown to token holders, and this sidecar has no SKIFF_TOKEN');
      else bodies = true;
    }
    const policy: RecordPolicy = { identity: options.identity, headers, bodies, bodyBytes, redactHeaders: headerSet, redactFields: fieldSet };

    const stream = res.stream(200, 'text/event-stream; charset=utf-8', { 'x-content-type-options': 'nosniff', 'x-accel-buffering': 'no' });
    streams.add(stream);
    const hello: TapHello = { service: options.identity.service, namespace: options.identity.namespace, pod: options.identity.pod, rate, headers, bodies, notes };
    stream.write(`retry: ${SSE_RETRY_MS}\n` + sseEvent('hello', JSON.stringify(hello)));
    const client = new TapClient(stream, filter, policy, rate, queueRecords, queueBytes, (reason) => dropped[reason]++);
    // Bodies need the content type (is it JSON?) even when headers are not shown.
    const detach = options.recorder.onRequest(client.offer, { headers: headers || bodies, bodyBytes: bodies ? bodyBytes : 0 });
    const ping = setInterval(() => client.ping(), pingMs);
    ping.unref();
    log.info('client attached', { taps: streams.size, headers, bodies, rate });
    stream.onClose(() => {
      detach();
      client.close();
      clearInterval(ping);
      streams.delete(stream);
      log.info('client detached', { taps: streams.size });
    });
  };

  return {
    handler,
    get clients() {
      return streams.size;
    },
    dropped,
    families,
    close() {
      for (const s of [...streams]) s.end();
    },
  };
}
