/**
 * POST /api/reports: from a request to an acknowledgement, and the group commit behind it.
 *
 * The steps, in order (each stops early with its own status):
 *   415 not JSON (or an unknown Content-Encoding) → 413 body over the limit → 400 not JSON text
 *   → 400 not a valid report (validateReport names the field) → duplicate? 200 {duplicate:true}
 *   → queue for the next commit (503 when the queue is full) → COMMIT → 200 {accepted:true}.
 *
 * Group commit: reports that arrive within `batchDelayMs` of each other are stored in one
 * SQLite transaction, then all of them are acknowledged. An ack therefore always means
 * "committed": after a crash, nothing acknowledged is missing. A duplicate of a report still
 * waiting for its commit is answered after that commit.
 */
import { gunzipSync } from 'node:zlib';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ReportV1 } from '../telemetry/report-format.ts';
import { validateReport } from '../telemetry/report.ts';
import { describeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { ReportAck } from './api-types.ts';
import type { DashboardStore, JournalItem } from './store.ts';
import { BodyTooLarge, mediaType, readBody, sendError, sendJson } from './http.ts';

export const DEFAULT_MAX_REPORT_BYTES = 4 * 1024 * 1024;

export class IngestBusy extends Error {
  override name = 'IngestBusy';
}

interface Pending {
  item: JournalItem;
  resolve: (ack: ReportAck) => void;
  reject: (err: unknown) => void;
}

export interface IngestorOptions {
  store: DashboardStore;
  clock: () => number;
  log: Logger;
  /** How long the first report of a batch waits for others (ms). */
  batchDelayMs?: number;
  /** A batch this large commits at once. */
  maxBatch?: number;
  /** Reports waiting for a commit; beyond it, 503 (the sidecar retries later). */
  maxQueue?: number;
}

/** Batches accepted reports into few transactions and acknowledges them after COMMIT. */
export class Ingestor {
  readonly #store: DashboardStore;
  readonly #clock: () => number;
  readonly #log: Logger;
  readonly #delay: number;
  readonly #maxBatch: number;
  readonly #maxQueue: number;
  #queue: Pending[] = [];
  /** sidecarId NUL seq of queued reports → settles when their batch is committed. */
  readonly #inQueue = new Map<string, Promise<unknown>>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: IngestorOptions) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#log = options.log;
    this.#delay = options.batchDelayMs ?? 2;
    this.#maxBatch = options.maxBatch ?? 512;
    this.#maxQueue = options.maxQueue ?? 4096;
  }

  get queued(): number {
    return this.#queue.length;
  }

  /** Stores the report (or recognises it as a duplicate); resolves with the ack once committed. */
  async submit(report: ReportV1, receivedAt: number): Promise<ReportAck> {
    const { sidecarId, seq } = report;
    const duplicate: ReportAck = { accepted: true, duplicate: true, sidecarId, seq };
    if (this.#store.isSeen(sidecarId, seq)) return duplicate;
    const key = `${sidecarId}\u0000${seq}`;
    const waiting = this.#inQueue.get(key);
    if (waiting) {
      await waiting;
      return duplicate;
    }
    if (this.#closed) throw new IngestBusy('the dashboard is shutting down');
    if (this.#queue.length >= this.#maxQueue) throw new IngestBusy('too many reports waiting to be stored');
    if (!this.#store.canAdmit(sidecarId)) throw new IngestBusy('too many sidecars');
    const promise = new Promise<ReportAck>((resolve, reject) => {
      this.#queue.push({ item: { report, receivedAt }, resolve, reject });
    });
    this.#inQueue.set(key, promise);
    if (this.#queue.length >= this.#maxBatch) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), this.#delay);
    try {
      return await promise;
    } finally {
      this.#inQueue.delete(key);
    }
  }

  /** Commits what is queued now (synchronously), then settles every waiting request. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#queue;
    if (batch.length === 0) return;
    this.#queue = [];
    try {
      this.#store.commit(
        batch.map((p) => p.item),
        this.#clock(),
      );
    } catch (err) {
      this.#log.error('reports not stored', { reports: batch.length, error: describeError(err) });
      for (const p of batch) p.reject(err);
      return;
    }
    for (const p of batch) p.resolve({ accepted: true, duplicate: false, sidecarId: p.item.report.sidecarId, seq: p.item.report.seq });
  }

  /** Commits what is queued and refuses further reports. */
  close(): void {
    this.#closed = true;
    this.flush();
  }
}

export interface ReportHandlerOptions {
  ingestor: Ingestor;
  clock: () => number;
  maxBytes: number;
  log: Logger;
}

/** Handles an authenticated POST /api/reports. */
export async function handleReport(req: IncomingMessage, res: ServerResponse, o: ReportHandlerOptions): Promise<void> {
  if (mediaType(req) !== 'application/json') {
    sendError(res, 415, 'unsupported_media_type', 'reports must be sent as Content-Type: application/json');
    req.resume();
    return;
  }
  const contentEncoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (contentEncoding !== 'identity' && contentEncoding !== 'gzip') {
    sendError(res, 415, 'unsupported_media_type', 'Content-Encoding must be gzip or absent');
    req.resume();
    return;
  }
  let body: Buffer;
  try {
    body = await readBody(req, o.maxBytes);
  } catch (err) {
    if (err instanceof BodyTooLarge) {
      // Do not read the rest of a huge body: answer and close (RFC 9110 §15.5.14).
      sendError(res, 413, 'too_large', err.message, { connection: 'close' });
    } else {
      sendError(res, 400, 'bad_request', `could not read the body: ${describeError(err)}`, { connection: 'close' });
    }
    return;
  }
  const receivedAt = o.clock();
  let text: Buffer = body;
  if (contentEncoding === 'gzip') {
    try {
      // Synchronous on purpose: a report inflates in ~0.15 ms (bounded by maxOutputLength), while
      // the asynchronous stream machinery costs twice that in CPU in all (measured at 400/s).
      text = gunzipSync(body, { maxOutputLength: o.maxBytes });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || (err as RangeError).name === 'RangeError') {
        sendError(res, 413, 'too_large', `decompressed body is larger than the limit of ${o.maxBytes} bytes`);
      } else sendError(res, 400, 'invalid_gzip', 'the body is not valid gzip');
      return;
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(text.toString('utf8'));
  } catch (err) {
    sendError(res, 400, 'invalid_json', `the body is not JSON: ${describeError(err)}`);
    return;
  }
  const result = validateReport(value);
  if (!result.ok) {
    sendError(res, 400, 'invalid_report', result.reason);
    return;
  }
  try {
    const ack = await o.ingestor.submit(result.report, receivedAt);
    sendJson(res, 200, ack);
  } catch (err) {
    if (err instanceof IngestBusy) sendError(res, 503, 'busy', err.message, { 'retry-after': '1' });
    else sendError(res, 503, 'store_unavailable', 'the report could not be stored; retry later');
  }
}
