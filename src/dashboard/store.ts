/**
 * The dashboard's store: one SQLite file (`DATA/dashboard.db`, WAL) plus the open time buckets
 * in memory.
 *
 * Write path (docs/dashboard.md, "Storage"):
 * 1. `commit(batch)`: in ONE transaction, every report of the batch is recorded as seen
 *    (`seen`, unique per sidecar id and seq: duplicates are recognised durably), its compact form
 *    (codec.ts `encodeReport`: a quarter of the JSON) is
 *    appended to `journal` with the 10 s bucket it counts in, and its sidecar's row is updated.
 *    Only after COMMIT are the reports added to the open buckets in memory and acknowledged
 *    (by the caller). With WAL and synchronous=NORMAL a committed transaction is in the WAL file
 *    before COMMIT returns, so it survives the process being killed (kill -9); `fsync: true`
 *    (synchronous=FULL) also survives power loss, at one fsync per batch.
 * 2. `maintain(now)`: a 10 s bucket closes GRACE after its end. Closing writes its aggregates to
 *    the `*_10s` tables (in slices, merging each row into the open 1 min bucket), then moves the
 *    level's watermark (`closedBefore`, in `meta`) in one last transaction; its journal rows,
 *    now below the watermark (skipped by a restart), are deleted afterwards, in slices. A
 *    closing minute is written to `*_1m` and merged into the open hour; a closing hour is
 *    written to `*_1h`.
 * 3. On open, memory is rebuilt from what is stored: open 10 s buckets from the journal, the
 *    open minute from 10 s rows after its watermark, the open hour from 1 min rows.
 * Rows older than their level's retention are deleted by `maintain`.
 *
 * Everything here is synchronous (node:sqlite): callers batch, so that one commit serves many
 * reports. Memory is bounded: open buckets (a few), sidecars (MAX_SIDECARS), seq windows.
 */
import { DatabaseSync } from 'node:sqlite';
import type { StatementSync, SQLInputValue } from 'node:sqlite';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Sketch } from '../telemetry/sketch.ts';
import type { ReportV1 } from '../telemetry/report-format.ts';
import { validateReport } from '../telemetry/report.ts';
import { SkiffError, ErrorCodes } from '../errors.ts';
import { silentLogger } from '../log.ts';
import type { Logger } from '../log.ts';
import { Bucket, addCounts, mergeSketch, mergeStats, mergePod } from './aggregate.ts';
import type { CpuSample, PodAgg } from './aggregate.ts';
import { decodeReport, encodeReport, encodeSketch } from './codec.ts';
import type { SketchSource } from './codec.ts';
import { DAY, HOUR, LEVELS, LEVEL_NAMES, MINUTE, SECOND, alignDown } from './window.ts';
import type { LevelIndex, Span } from './window.ts';
import type { TapTarget } from './tap.ts';

export const DB_FILE = 'dashboard.db';
const SCHEMA_VERSION = 1;
/** A bucket closes this long after its end: reports sent at the end of an interval arrive late. */
export const GRACE = 5 * SECOND;
/** Sequence numbers remembered per sidecar below its newest; older ones count as seen. */
export const SEQ_WINDOW = 1024;
/** Sidecars tracked at once; a report from one more is refused (503) until others expire. */
export const MAX_SIDECARS = 100_000;
/** A sidecar silent this long is forgotten (with its remembered sequence numbers). */
export const SIDECAR_TTL = DAY;
const HOUSEKEEPING_EVERY = MINUTE;
const CHECKPOINT_EVERY_MS = 1000;
/** Rows written (or deletes run) per transaction while closing buckets: a few ms each. */
const SLICE = 200;
const SLICE_MS = 5;
/** How journal bodies are written (the `encoding` column, so that a later format can coexist). */
const JOURNAL_ENCODING = 'report-v1';
/** Memory for cached rows of written buckets (approximate: blob bytes plus a per-row overhead). */
const ROW_CACHE_BYTES = 64 * 1024 * 1024;

export interface Retention {
  /** How long each level's buckets are kept: 10 s, 1 min, 1 h. */
  tenSeconds: number;
  minutes: number;
  hours: number;
}

/** What the API can read, with a margin (docs/dashboard.md, "Retention"): longer costs disk and buys nothing. */
export const DEFAULT_RETENTION: Retention = { tenSeconds: 2 * HOUR, minutes: 3 * DAY, hours: 30 * DAY };
/** Windows up to 1 h read 10 s buckets, up to 60 h 1 min buckets (see window.ts). */
export const MIN_RETENTION: Retention = { tenSeconds: HOUR, minutes: 3 * DAY, hours: 3 * DAY };

export interface StoreOptions {
  /** Directory of the database file (must exist). */
  dir: string;
  /** Time of opening (ms since epoch): sets the first watermarks of a new store. */
  now: number;
  retention?: Partial<Retention>;
  /** synchronous=FULL: fsync each commit (survives power loss, not only a crash). */
  fsync?: boolean;
  /**
   * Checkpoint the WAL from a worker thread (checkpointer.ts) instead of in whichever commit
   * crosses the threshold: no stalls of the event loop. The server turns it on.
   */
  backgroundCheckpoint?: boolean;
  log?: Logger;
}

/** One accepted report on its way into the store. */
export interface JournalItem {
  report: ReportV1;
  receivedAt: number;
}

export interface SidecarInfo {
  sidecarId: string;
  namespace: string;
  service: string;
  pod: string;
  firstSeen: number;
  lastSeen: number;
  firstSeq: number;
  maxSeq: number;
  received: number;
  /** What the sidecar says it dropped from its own queue since it started. */
  droppedReports: number;
  /** Where its admin port (live tap) is reachable, as its latest report says; undefined when not. */
  admin: string | undefined;
}

interface SidecarState extends SidecarInfo {
  /** Ring bitmap of the seqs in (maxSeq − SEQ_WINDOW, maxSeq] that were stored. */
  bits: Uint8Array;
  /** Seen rows at or below this seq have been pruned. */
  prunedTo: number;
}

/** Rows as the query side sees them: from a table (sketches as stored blobs) or an open bucket (Sketch). */
export interface ServiceRow {
  t: number;
  namespace: string;
  service: string;
  requests: number;
  ok: number;
  latency: SketchSource;
  requestBytes: SketchSource;
  responseBytes: SketchSource;
  errors: Readonly<Record<string, number>>;
  statusCodes: Readonly<Record<string, number>>;
  pods: Iterable<string>;
}
export interface RouteRowData {
  t: number;
  namespace: string;
  service: string;
  method: string;
  route: string;
  requests: number;
  ok: number;
  latency: SketchSource;
  requestBytes: SketchSource;
  responseBytes: SketchSource;
}
export interface EdgeRowData {
  t: number;
  namespace: string;
  service: string;
  peer: string;
  requests: number;
  ok: number;
  latency: SketchSource;
}
export type PodRowData = PodAgg & { t: number };

export interface ServiceKey {
  namespace: string;
  service: string;
}

type Row = Record<string, unknown>;

/** A piece of maintenance, done in slices (see `maintain`). */
interface Job {
  level: LevelIndex | 'housekeeping' | 'journal';
  tasks: (() => void)[];
  next: number;
  /** The last transaction (watermark, journal). */
  finish: () => void;
  /** After its commit: memory follows. */
  done?: () => void;
}
/** Which part of a query's buckets: all, those written to tables, or the open ones in memory. */
export type Part = 'all' | 'written' | 'open';

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));
const str = (v: unknown): string => (typeof v === 'string' ? v : String(v));
const blob = (v: unknown): Uint8Array | null => (v instanceof Uint8Array ? v : null);

function encode(s: Sketch): Uint8Array | null {
  return s.isEmpty ? null : encodeSketch(s.toJSON());
}

function parseCounts(text: unknown): Record<string, number> {
  if (typeof text !== 'string' || text === '{}') return {};
  return JSON.parse(text) as Record<string, number>;
}

function schema(level: string): string {
  return `
    CREATE TABLE IF NOT EXISTS svc_${level} (
      t INTEGER NOT NULL, namespace TEXT NOT NULL, service TEXT NOT NULL,
      requests INTEGER NOT NULL, ok INTEGER NOT NULL,
      latency BLOB, req_bytes BLOB, resp_bytes BLOB, req_total INTEGER NOT NULL, resp_total INTEGER NOT NULL,
      errors TEXT NOT NULL, status TEXT NOT NULL,
      pods TEXT NOT NULL, -- pod names, one per line (labels never hold control characters)
      PRIMARY KEY (t, namespace, service)) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS svc_${level}_by_service ON svc_${level} (namespace, service, t);
    CREATE TABLE IF NOT EXISTS route_${level} (
      namespace TEXT NOT NULL, service TEXT NOT NULL, t INTEGER NOT NULL, method TEXT NOT NULL, route TEXT NOT NULL,
      requests INTEGER NOT NULL, ok INTEGER NOT NULL, latency BLOB, req_bytes BLOB, resp_bytes BLOB,
      PRIMARY KEY (namespace, service, t, method, route)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS edge_${level} (
      t INTEGER NOT NULL, namespace TEXT NOT NULL, service TEXT NOT NULL, peer TEXT NOT NULL,
      requests INTEGER NOT NULL, ok INTEGER NOT NULL, latency BLOB,
      PRIMARY KEY (t, namespace, service, peer)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS pod_${level} (
      namespace TEXT NOT NULL, service TEXT NOT NULL, t INTEGER NOT NULL, sidecar_id TEXT NOT NULL, pod TEXT NOT NULL,
      requests INTEGER NOT NULL, reports INTEGER NOT NULL, min_seq INTEGER NOT NULL, max_seq INTEGER NOT NULL, last_seen INTEGER NOT NULL,
      first_t INTEGER, first_cpu REAL, last_t INTEGER, last_cpu REAL,
      memory INTEGER, cpu_limit REAL, memory_limit REAL, source TEXT,
      PRIMARY KEY (namespace, service, t, sidecar_id)) WITHOUT ROWID;`;
}

const BASE_SCHEMA = `
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY, bucket INTEGER NOT NULL, received INTEGER NOT NULL, encoding TEXT NOT NULL, body BLOB NOT NULL);
  CREATE INDEX IF NOT EXISTS journal_by_bucket ON journal (bucket);
  CREATE TABLE IF NOT EXISTS seen (sidecar_id TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (sidecar_id, seq)) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS sidecars (
    sidecar_id TEXT PRIMARY KEY, namespace TEXT NOT NULL, service TEXT NOT NULL, pod TEXT NOT NULL,
    first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, first_seq INTEGER NOT NULL, max_seq INTEGER NOT NULL,
    received INTEGER NOT NULL, dropped_reports INTEGER NOT NULL, admin TEXT) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS services (
    namespace TEXT NOT NULL, service TEXT NOT NULL, last_seen INTEGER NOT NULL, PRIMARY KEY (namespace, service)) WITHOUT ROWID;`;

export class DashboardStore {
  readonly retention: Retention;
  readonly path: string;
  readonly #db: DatabaseSync;
  readonly #log: Logger;
  readonly #stmts = new Map<string, StatementSync>();
  /** Open buckets per level, by start time. */
  readonly #open: [Map<number, Bucket>, Map<number, Bucket>, Map<number, Bucket>] = [new Map<number, Bucket>(), new Map<number, Bucket>(), new Map<number, Bucket>()];
  /** Per level: every bucket that starts before this is written to the level's tables. */
  #written: [number, number, number] = [0, 0, 0];
  /** Buckets being written (maintain's current job), still read from memory by queries. */
  #closing: [Bucket[], Bucket[], Bucket[]] = [[], [], []];
  /** Reports count in no 10 s bucket before this (≥ #written[0] while one is closing). */
  #floor = 0;
  #job: Job | null = null;
  /** The journal may hold rows of written buckets (deleted lazily by #journalJob). */
  #journalBehind = true;
  readonly #sidecars = new Map<string, SidecarState>();
  /** Services with stored rows (namespace NUL service → last bucket seen). */
  readonly #services = new Map<string, ServiceKey & { lastSeen: number }>();
  /** Rows of written buckets read by the global queries (services list, edges): they never change. */
  readonly #rowCache = new RowCache(ROW_CACHE_BYTES);
  #lastHousekeeping = 0;
  #generation = 0;
  #checkpointer: Worker | undefined;
  #closed = false;

  private constructor(options: StoreOptions) {
    this.#log = options.log ?? silentLogger;
    this.retention = { ...DEFAULT_RETENTION, ...options.retention };
    this.path = join(options.dir, DB_FILE);
    try {
      this.#db = new DatabaseSync(this.path);
      this.#db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = ${options.fsync ? 'FULL' : 'NORMAL'};`);
      // busy_timeout: in WAL mode the checkpointer's connection never blocks this writer for long;
      // should it ever hold a lock a moment (its start), wait rather than fail a commit.
      this.#db.exec('PRAGMA journal_size_limit = 67108864; PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY; PRAGMA busy_timeout = 1000;');
      // Fewer, larger checkpoints when this connection does them: a few MB/s are written at scale.
      this.#db.exec(`PRAGMA wal_autocheckpoint = ${options.backgroundCheckpoint ? 0 : 4000}`);
      this.#db.exec(BASE_SCHEMA + LEVEL_NAMES.map(schema).join('\n'));
      const version = this.#meta('schema');
      if (version !== null && version !== SCHEMA_VERSION) {
        throw new Error(`the store has schema ${version}; this skiff reads schema ${SCHEMA_VERSION}`);
      }
      this.#setMeta('schema', SCHEMA_VERSION);
    } catch (err) {
      throw new SkiffError(ErrorCodes.STORE, `cannot open the store ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    this.#load(options.now);
    if (options.backgroundCheckpoint) this.#startCheckpointer();
  }

  #startCheckpointer(): void {
    const worker = new Worker(new URL('./checkpointer.ts', import.meta.url), { workerData: { path: this.path, everyMs: CHECKPOINT_EVERY_MS } });
    const fallBack = (why: string): void => {
      if (this.#checkpointer !== worker) return;
      this.#checkpointer = undefined;
      this.#log.warn('background checkpoints stopped; checkpointing on commit instead', { error: why });
      if (!this.#closed) this.#db.exec('PRAGMA wal_autocheckpoint = 4000');
    };
    worker.on('message', (m: { error?: string }) => {
      if (m.error) this.#log.warn('WAL checkpoint failed', { error: m.error });
    });
    worker.on('error', (err: Error) => fallBack(err.message));
    worker.on('exit', (code) => {
      if (!this.#closed) fallBack(`exited with ${code}`);
    });
    // After the listeners (a 'message' listener refs the worker again): it must never keep the
    // process alive on its own.
    worker.unref();
    this.#checkpointer = worker;
  }

  /**
   * Opens (or creates) the store in `dir` and rebuilds the open buckets from it.
   * @example
   * const store = DashboardStore.open({ dir: '.skiff/dashboard', now: Date.now() });
   */
  static open(options: StoreOptions): DashboardStore {
    return new DashboardStore(options);
  }

  /** Changes whenever written rows may have been deleted (retention) or memory was rebuilt. */
  get generation(): number {
    return this.#generation;
  }

  /** Per level: buckets that start before this are in the level's tables. */
  get closedBefore(): readonly number[] {
    return this.#written;
  }

  // ─── write path ──────────────────────────────────────────────────────────────────────────

  /** True when this report is already stored (or too far behind its sidecar to tell: see SEQ_WINDOW). */
  isSeen(sidecarId: string, seq: number): boolean {
    const s = this.#sidecars.get(sidecarId);
    if (!s || seq > s.maxSeq) return false;
    if (seq <= s.maxSeq - SEQ_WINDOW) return true;
    return hasBit(s.bits, seq);
  }

  /** False when a report from this sidecar would exceed MAX_SIDECARS. */
  canAdmit(sidecarId: string): boolean {
    return this.#sidecars.has(sidecarId) || this.#sidecars.size < MAX_SIDECARS;
  }

  /**
   * Stores a batch of new reports in one transaction; returns once they are committed (then
   * they may be acknowledged). Throws (and stores nothing) when the database fails.
   */
  commit(items: readonly JournalItem[], now: number): void {
    if (items.length === 0) return;
    this.#assertOpen();
    const current = alignDown(now, LEVELS[0]);
    const buckets: number[] = [];
    this.#transaction(() => {
      const insertSeen = this.#stmt('INSERT INTO seen (sidecar_id, seq) VALUES (?, ?)');
      const insertJournal = this.#stmt('INSERT INTO journal (bucket, received, encoding, body) VALUES (?, ?, ?, ?)');
      const upsertSidecar = this.#stmt(`
        INSERT INTO sidecars (sidecar_id, namespace, service, pod, first_seen, last_seen, first_seq, max_seq, received, dropped_reports, admin)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)
        ON CONFLICT (sidecar_id) DO UPDATE SET namespace = excluded.namespace, service = excluded.service, pod = excluded.pod, admin = excluded.admin,
          last_seen = max(last_seen, excluded.last_seen), first_seq = min(first_seq, excluded.first_seq),
          max_seq = max(max_seq, excluded.max_seq), received = received + 1,
          dropped_reports = max(dropped_reports, excluded.dropped_reports)`);
      for (const { report: r, receivedAt } of items) {
        const bucket = this.#bucketFor(r, current);
        buckets.push(bucket);
        insertSeen.run(r.sidecarId, r.seq);
        insertJournal.run(bucket, receivedAt, JOURNAL_ENCODING, encodeReport(r));
        const id = r.identity;
        upsertSidecar.run(r.sidecarId, id.namespace, id.service, id.pod, receivedAt, receivedAt, r.seq, r.seq, r.droppedReports, r.admin ?? null);
      }
    });
    // Committed: now (and only now) the reports count.
    items.forEach((item, i) => {
      this.#markSeen(item.report, item.receivedAt);
      this.#openBucket(0, buckets[i]!).addReport(item.report, item.receivedAt);
    });
  }

  /**
   * A report counts in the 10 s bucket holding its end (the sidecar's clock), but never in a
   * bucket already written (a late retry counts now) nor in the future (clock skew).
   */
  #bucketFor(r: ReportV1, current: number): number {
    const floor = this.#floor;
    let b = alignDown(r.end - 1, LEVELS[0]);
    if (b > current) b = current;
    if (b < floor) b = Math.max(current, floor);
    return b;
  }

  #markSeen(r: ReportV1, receivedAt: number): void {
    let s = this.#sidecars.get(r.sidecarId);
    const id = r.identity;
    if (!s) {
      s = {
        sidecarId: r.sidecarId, namespace: id.namespace, service: id.service, pod: id.pod, firstSeen: receivedAt, lastSeen: receivedAt,
        firstSeq: r.seq, maxSeq: 0, received: 0, droppedReports: 0, admin: undefined, bits: new Uint8Array(SEQ_WINDOW / 8), prunedTo: 0,
      };
      this.#sidecars.set(r.sidecarId, s);
    }
    s.namespace = id.namespace;
    s.service = id.service;
    s.pod = id.pod;
    s.admin = r.admin;
    s.lastSeen = Math.max(s.lastSeen, receivedAt);
    s.firstSeq = Math.min(s.firstSeq, r.seq);
    s.received++;
    s.droppedReports = Math.max(s.droppedReports, r.droppedReports);
    advance(s, r.seq);
  }

  #openBucket(level: LevelIndex, t: number): Bucket {
    const open = this.#open[level];
    let b = open.get(t);
    if (!b) {
      b = new Bucket(t);
      open.set(t, b);
    }
    return b;
  }

  /**
   * Closes the buckets whose time has passed (GRACE after their end), rolls them up, and once a
   * minute deletes what retention no longer keeps. Call it every second or so.
   *
   * The work is sliced: each slice is a small transaction, and with `budgetMs` the call returns
   * `true` once that much time is spent and work remains (call again soon: the server does so
   * on the next turn of the event loop), so that closing a bucket of thousands of rows never
   * holds up reports and queries for long. Without a budget it runs to the end (tests).
   * Rows are written with INSERT OR REPLACE and a level's watermark moves (with the journal
   * delete) only in the last slice, so a crash between slices redoes the bucket, identically.
   */
  maintain(now: number, budgetMs = Infinity): boolean {
    this.#assertOpen();
    const deadline = performance.now() + budgetMs;
    for (;;) {
      this.#job ??= this.#nextJob(now);
      const job = this.#job;
      if (!job) return false;
      try {
        while (job.next < job.tasks.length) {
          // One slice: up to SLICE tasks or SLICE_MS, whichever comes first, in one transaction.
          const sliceEnd = Math.min(deadline, performance.now() + SLICE_MS);
          this.#transaction(() => {
            const end = Math.min(job.tasks.length, job.next + SLICE);
            while (job.next < end) {
              job.tasks[job.next]!();
              job.next++;
              if (performance.now() >= sliceEnd) break;
            }
          });
          if (performance.now() >= deadline) return true;
        }
        this.#transaction(job.finish);
        this.#job = null;
        job.done?.();
      } catch (err) {
        if (job.level === 'housekeeping' || job.level === 'journal') {
          // Retention can wait for the next round; say why.
          this.#job = null;
          this.#log.error('store housekeeping failed', { error: (err as Error).message });
          return false;
        }
        // Memory may hold merges of a rolled-back slice: rebuild it from the file.
        this.#reload(now);
        throw err;
      }
      if (performance.now() >= deadline) return true;
    }
  }

  /** The next piece of work: the finest level with a bucket to close, else housekeeping. */
  #nextJob(now: number): Job | null {
    for (const level of [0, 1, 2] as const) {
      let target = alignDown(now - GRACE, LEVELS[level]);
      // A coarser bucket closes only once every finer bucket in it is written and merged into it.
      if (level > 0) target = Math.min(target, alignDown(this.#written[level - 1]!, LEVELS[level]));
      if (target > this.#written[level]) return this.#closeJob(level, target);
      if (level === 0 && this.#journalBehind) return this.#journalJob();
    }
    if (now - this.#lastHousekeeping >= HOUSEKEEPING_EVERY) {
      this.#lastHousekeeping = now;
      return this.#housekeepingJob(now);
    }
    return null;
  }

  #closeJob(level: LevelIndex, target: number): Job {
    const open = this.#open[level];
    const closing = [...open.values()].filter((b) => b.t < target).sort((a, b) => a.t - b.t);
    for (const b of closing) open.delete(b.t);
    // From now on reports go to later buckets; queries still read these from memory.
    this.#closing[level] = closing;
    if (level === 0) this.#floor = target;
    const n = LEVEL_NAMES[level];
    const up = level < 2 ? (t: number): Bucket => this.#openBucket((level + 1) as LevelIndex, alignDown(t, LEVELS[level + 1]!)) : undefined;
    const svc = this.#stmt(`INSERT OR REPLACE INTO svc_${n} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    const route = this.#stmt(`INSERT OR REPLACE INTO route_${n} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    const edge = this.#stmt(`INSERT OR REPLACE INTO edge_${n} VALUES (?, ?, ?, ?, ?, ?, ?)`);
    const pod = this.#stmt(`INSERT OR REPLACE INTO pod_${n} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    const tasks: (() => void)[] = [];
    for (const b of closing) {
      for (const s of b.services.values()) {
        tasks.push(() => {
          svc.run(
            b.t, s.namespace, s.service, s.requests, s.ok, encode(s.latency), encode(s.requestBytes), encode(s.responseBytes),
            s.requestBytesTotal, s.responseBytesTotal, JSON.stringify(s.errors), JSON.stringify(s.statusCodes), [...s.pods].join('\n'),
          );
          up?.(b.t).mergeService(s);
        });
      }
      for (const r of b.routes.values()) {
        tasks.push(() => {
          route.run(r.namespace, r.service, b.t, r.method, r.route, r.requests, r.ok, encode(r.latency), encode(r.requestBytes), encode(r.responseBytes));
          up?.(b.t).mergeRoute(r);
        });
      }
      for (const e of b.edges.values()) {
        tasks.push(() => {
          edge.run(b.t, e.namespace, e.service, e.peer, e.requests, e.ok, encode(e.latency));
          up?.(b.t).mergeEdge(e);
        });
      }
      for (const p of b.pods.values()) {
        tasks.push(() => {
          pod.run(
            p.namespace, p.service, b.t, p.sidecarId, p.pod, p.requests, p.reports, p.minSeq, p.maxSeq, p.lastSeen,
            p.first?.t ?? null, p.first?.cpu ?? null, p.last?.t ?? null, p.last?.cpu ?? null,
            p.memoryBytes, p.cpuLimitCores, p.memoryLimitBytes, p.source,
          );
          up?.(b.t).mergePod(p);
        });
      }
    }
    return {
      level,
      tasks,
      next: 0,
      finish: () => {
        if (level === 0) {
          // The journal rows of these buckets are deleted afterwards, in slices (#journalJob):
          // until then they are below the watermark, which is how a restart knows to skip them.
          const seen = this.#stmt('INSERT INTO services (namespace, service, last_seen) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)');
          for (const b of closing) for (const s of b.services.values()) seen.run(s.namespace, s.service, b.t);
        }
        this.#setMeta(`closed_${n}`, target);
      },
      done: () => {
        this.#written[level] = target;
        this.#closing[level] = [];
        if (level === 0) this.#journalBehind = true;
        for (const b of closing) {
          if (b.dropped > 0) this.#log.warn('series dropped: a bound was reached', { level: n, bucket: b.t, dropped: b.dropped });
          if (level !== 0) continue;
          for (const s of b.services.values()) {
            const key = s.namespace + '\u0000' + s.service;
            const known = this.#services.get(key);
            if (known) known.lastSeen = Math.max(known.lastSeen, b.t);
            else this.#services.set(key, { namespace: s.namespace, service: s.service, lastSeen: b.t });
          }
        }
      },
    };
  }

  /** Deletes journal rows of written buckets, a few at a time (each can be tens of KB). */
  #journalJob(): Job {
    const below = this.#written[0];
    const n = num(this.#stmt('SELECT count(*) AS n FROM journal WHERE bucket < ?').get(below)?.n ?? 0);
    const del = this.#stmt('DELETE FROM journal WHERE id IN (SELECT id FROM journal WHERE bucket < ? LIMIT 20)');
    const tasks = Array.from({ length: Math.ceil(n / 20) }, () => () => del.run(below));
    return {
      level: 'journal',
      tasks,
      next: 0,
      finish: () => undefined,
      done: () => {
        this.#journalBehind = false;
      },
    };
  }

  #housekeepingJob(now: number): Job {
    const cutoff = [now - this.retention.tenSeconds, now - this.retention.minutes, now - this.retention.hours];
    this.#generation++;
    this.#rowCache.dropBefore(cutoff);
    const tasks: (() => void)[] = [];
    LEVEL_NAMES.forEach((n, i) => {
      const before = cutoff[i]!;
      tasks.push(() => this.#stmt(`DELETE FROM svc_${n} WHERE t < ?`).run(before));
      tasks.push(() => this.#stmt(`DELETE FROM edge_${n} WHERE t < ?`).run(before));
      for (const s of this.#services.values()) {
        tasks.push(() => this.#stmt(`DELETE FROM route_${n} WHERE namespace = ? AND service = ? AND t < ?`).run(s.namespace, s.service, before));
        tasks.push(() => this.#stmt(`DELETE FROM pod_${n} WHERE namespace = ? AND service = ? AND t < ?`).run(s.namespace, s.service, before));
      }
    });
    // Sequence numbers too old to matter, and sidecars gone for good.
    const pruneSeen = this.#stmt('DELETE FROM seen WHERE sidecar_id = ? AND seq <= ?');
    const gone: string[] = [];
    for (const [id, s] of this.#sidecars) {
      if (s.lastSeen < now - SIDECAR_TTL) {
        gone.push(id);
        tasks.push(() => pruneSeen.run(id, Number.MAX_SAFE_INTEGER));
      } else if (s.maxSeq - SEQ_WINDOW > s.prunedTo) {
        const upTo = s.maxSeq - SEQ_WINDOW;
        tasks.push(() => {
          pruneSeen.run(id, upTo);
          s.prunedTo = upTo;
        });
      }
    }
    // Services with nothing left in any table.
    const longest = Math.min(...cutoff);
    const forget = [...this.#services.entries()].filter(([, s]) => s.lastSeen < longest);
    return {
      level: 'housekeeping',
      tasks,
      next: 0,
      finish: () => {
        const dropSidecar = this.#stmt('DELETE FROM sidecars WHERE sidecar_id = ?');
        for (const id of gone) dropSidecar.run(id);
        const drop = this.#stmt('DELETE FROM services WHERE namespace = ? AND service = ?');
        for (const [, s] of forget) drop.run(s.namespace, s.service);
      },
      done: () => {
        // Queries may have cached rows of these buckets while they were being deleted.
        this.#generation++;
        this.#rowCache.dropBefore(cutoff);
        for (const id of gone) this.#sidecars.delete(id);
        for (const [key] of forget) this.#services.delete(key);
      },
    };
  }

  // ─── rebuild ─────────────────────────────────────────────────────────────────────────────

  #reload(now: number): void {
    this.#generation++;
    this.#rowCache.clear();
    this.#job = null;
    this.#journalBehind = true;
    this.#closing = [[], [], []];
    for (const m of this.#open) m.clear();
    this.#sidecars.clear();
    this.#services.clear();
    this.#load(now);
  }

  #load(now: number): void {
    for (const level of [0, 1, 2] as const) {
      const stored = this.#meta(`closed_${LEVEL_NAMES[level]}`);
      this.#written[level] = stored ?? alignDown(now - GRACE, LEVELS[level]);
      if (stored === null) this.#setMeta(`closed_${LEVEL_NAMES[level]}`, this.#written[level]);
    }
    this.#floor = this.#written[0];
    for (const row of this.#stmt('SELECT namespace, service, last_seen FROM services').all()) {
      this.#services.set(`${str(row.namespace)}\u0000${str(row.service)}`, { namespace: str(row.namespace), service: str(row.service), lastSeen: num(row.last_seen) });
    }
    for (const row of this.#stmt('SELECT * FROM sidecars').all()) {
      const s: SidecarState = {
        sidecarId: str(row.sidecar_id), namespace: str(row.namespace), service: str(row.service), pod: str(row.pod),
        firstSeen: num(row.first_seen), lastSeen: num(row.last_seen), firstSeq: num(row.first_seq), maxSeq: num(row.max_seq),
        received: num(row.received), droppedReports: num(row.dropped_reports), admin: typeof row.admin === 'string' ? row.admin : undefined,
        bits: new Uint8Array(SEQ_WINDOW / 8), prunedTo: 0,
      };
      this.#sidecars.set(s.sidecarId, s);
    }
    for (const row of this.#stmt('SELECT sidecar_id, seq FROM seen').iterate()) {
      const s = this.#sidecars.get(str(row.sidecar_id));
      const seq = num(row.seq);
      if (s && seq > s.maxSeq - SEQ_WINDOW) setBit(s.bits, seq);
    }
    // The open hour: 1 min rows not yet rolled into it; the open minute: 10 s rows likewise.
    const [c10, c1m, c1h] = this.#written;
    this.#mergeRows(1, c1h, c1m, (t) => this.#openBucket(2, alignDown(t, HOUR)));
    this.#mergeRows(0, c1m, c10, (t) => this.#openBucket(1, alignDown(t, MINUTE)));
    let bad = 0;
    // Rows below the watermark are already in the 10 s tables (their deletion was pending).
    for (const row of this.#stmt('SELECT bucket, received, encoding, body FROM journal WHERE bucket >= ? ORDER BY id').iterate(this.#written[0])) {
      const report = parseJournalBody(blob(row.body), str(row.encoding));
      if (!report) {
        bad++;
        continue;
      }
      // Its sidecar's counters and seen bits were stored with it: only the bucket needs it back.
      this.#openBucket(0, num(row.bucket)).addReport(report, num(row.received));
    }
    if (bad > 0) this.#log.warn('journal rows that no longer validate were skipped', { rows: bad });
  }

  /** Adds the stored rows of `level` with t in [from, to) into the buckets `target` picks. */
  #mergeRows(level: LevelIndex, from: number, to: number, target: (t: number) => Bucket): void {
    if (from >= to) return;
    const span: Span = { level, from, to };
    this.eachService([span], null, (r) => {
      const s = target(r.t).service(r.namespace, r.service);
      if (!s) return;
      mergeStats(s, r);
      addCounts(s.errors, r.errors);
      addCounts(s.statusCodes, r.statusCodes);
      for (const p of r.pods) s.pods.add(p);
    });
    for (const key of this.#services.values()) {
      this.eachRoute([span], key, (r) => {
        const b = target(r.t);
        const s = b.service(r.namespace, r.service);
        if (s) mergeStats(b.route(s, r.method, r.route), r);
      });
      this.eachPod([span], key, (p) => mergePod(target(p.t).pod(p.sidecarId, p.namespace, p.service, p.pod), p));
    }
    this.eachEdge([span], (e) => {
      const b = target(e.t);
      const s = b.service(e.namespace, e.service);
      if (!s) return;
      const edge = b.edge(s, e.peer);
      edge.requests += e.requests;
      edge.ok += e.ok;
      mergeSketch(edge.latency, e.latency);
    });
  }

  // ─── read path ───────────────────────────────────────────────────────────────────────────

  /**
   * Calls `each` for every stored or open part of `spans`: a level's table for buckets it has,
   * and the open 10 s buckets (not yet written) for the most recent part. `part` restricts it to
   * the written part (which never changes: callers may cache what they compute from it) or to
   * the open part.
   */
  #spans(spans: readonly Span[], table: (level: LevelIndex, from: number, to: number) => void, open: (b: Bucket) => void, part: Part = 'all'): void {
    for (const s of spans) {
      const written = s.level === 0 ? Math.min(s.to, this.#written[0]) : s.to;
      if (s.from < written && part !== 'open') table(s.level, s.from, written);
      if (s.level === 0 && s.to > this.#written[0] && part !== 'written') {
        const lo = Math.max(s.from, this.#written[0]);
        for (const b of this.#closing[0]) if (b.t >= lo && b.t < s.to) open(b);
        for (const b of this.#open[0].values()) if (b.t >= lo && b.t < s.to) open(b);
      }
    }
  }

  /** The part of `spans` that is written to tables (immutable once written: a cache key). */
  written(spans: readonly Span[]): Span[] {
    const out: Span[] = [];
    for (const s of spans) {
      const to = s.level === 0 ? Math.min(s.to, this.#written[0]) : s.to;
      if (s.from < to) out.push({ level: s.level, from: s.from, to });
    }
    return out;
  }

  eachService(spans: readonly Span[], only: ServiceKey | null, each: (row: ServiceRow) => void, part: Part = 'all'): void {
    this.#spans(
      spans,
      (level, from, to) => {
        const n = LEVEL_NAMES[level];
        const toRow = (r: Row): ServiceRow => ({
          t: num(r.t), namespace: str(r.namespace), service: str(r.service), requests: num(r.requests), ok: num(r.ok),
          latency: blob(r.latency), requestBytes: blob(r.req_bytes), responseBytes: blob(r.resp_bytes),
          errors: parseCounts(r.errors), statusCodes: parseCounts(r.status), pods: splitLines(r.pods),
        });
        if (only) {
          const rows = this.#stmt(`SELECT * FROM svc_${n} WHERE namespace = ? AND service = ? AND t >= ? AND t < ?`).all(only.namespace, only.service, from, to);
          for (const r of rows) each(toRow(r));
          return;
        }
        const select = this.#stmt(`SELECT * FROM svc_${n} WHERE t = ?`);
        for (let t = from; t < to; t += LEVELS[level]) {
          for (const row of this.#rowCache.get(`svc:${level}:${t}`, () => select.all(t).map(toRow))) each(row);
        }
      },
      (b) => {
        for (const s of b.services.values()) {
          if (only && (s.namespace !== only.namespace || s.service !== only.service)) continue;
          each({ ...s, t: b.t });
        }
      },
      part,
    );
  }

  eachRoute(spans: readonly Span[], only: ServiceKey, each: (row: RouteRowData) => void): void {
    this.#spans(
      spans,
      (level, from, to) => {
        const rows = this.#stmt(`SELECT * FROM route_${LEVEL_NAMES[level]} WHERE namespace = ? AND service = ? AND t >= ? AND t < ?`).all(only.namespace, only.service, from, to);
        for (const r of rows) {
          each({
            t: num(r.t), namespace: str(r.namespace), service: str(r.service), method: str(r.method), route: str(r.route),
            requests: num(r.requests), ok: num(r.ok),
            latency: blob(r.latency), requestBytes: blob(r.req_bytes), responseBytes: blob(r.resp_bytes),
          });
        }
      },
      (b) => {
        for (const r of b.routes.values()) if (r.namespace === only.namespace && r.service === only.service) each({ ...r, t: b.t });
      },
    );
  }

  eachEdge(spans: readonly Span[], each: (row: EdgeRowData) => void, part: Part = 'all'): void {
    this.#spans(
      spans,
      (level, from, to) => {
        const select = this.#stmt(`SELECT * FROM edge_${LEVEL_NAMES[level]} WHERE t = ?`);
        const toRow = (r: Row): EdgeRowData => ({
          t: num(r.t), namespace: str(r.namespace), service: str(r.service), peer: str(r.peer), requests: num(r.requests), ok: num(r.ok), latency: blob(r.latency),
        });
        for (let t = from; t < to; t += LEVELS[level]) {
          for (const row of this.#rowCache.get(`edge:${level}:${t}`, () => select.all(t).map(toRow))) each(row);
        }
      },
      (b) => {
        for (const e of b.edges.values()) each({ ...e, t: b.t });
      },
      part,
    );
  }

  eachPod(spans: readonly Span[], only: ServiceKey, each: (row: PodRowData) => void): void {
    this.#spans(
      spans,
      (level, from, to) => {
        const rows = this.#stmt(`SELECT * FROM pod_${LEVEL_NAMES[level]} WHERE namespace = ? AND service = ? AND t >= ? AND t < ?`).all(only.namespace, only.service, from, to);
        for (const r of rows) each(podFromRow(r));
      },
      (b) => {
        for (const p of b.pods.values()) if (p.namespace === only.namespace && p.service === only.service) each({ ...p, t: b.t });
      },
    );
  }

  /** True when the service has stored rows or is in an open bucket. */
  hasService(key: ServiceKey): boolean {
    if (this.#services.has(key.namespace + '\u0000' + key.service)) return true;
    const k = key.namespace + '\u0000' + key.service;
    return this.#open.some((m) => [...m.values()].some((b) => b.services.has(k))) || this.#closing.some((l) => l.some((b) => b.services.has(k)));
  }

  /** Every sidecar heard from within SIDECAR_TTL (copies). */
  sidecars(): SidecarInfo[] {
    return [...this.#sidecars.values()].map(({ bits: _bits, prunedTo: _pruned, ...info }) => info);
  }

  /** The sidecars the live tap may reach (src/dashboard/tap.ts picks the live ones). */
  tapTargets(): TapTarget[] {
    return [...this.#sidecars.values()].map((s) => ({ sidecarId: s.sidecarId, service: s.service, namespace: s.namespace, pod: s.pod, admin: s.admin, lastSeen: s.lastSeen }));
  }

  /** Reports in the journal not yet rolled into 10 s rows: for tests and the bench. */
  journalRows(): number {
    return num(this.#stmt('SELECT count(*) AS n FROM journal WHERE bucket >= ?').get(this.#written[0])?.n ?? 0);
  }

  /** Closes the database (and stops the checkpointer, which checkpoints one last time). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
    this.#checkpointer?.postMessage('stop');
    this.#checkpointer = undefined;
  }

  // ─── helpers ─────────────────────────────────────────────────────────────────────────────

  #assertOpen(): void {
    if (this.#closed) throw new SkiffError(ErrorCodes.STORE, 'the store is closed');
  }

  #stmt(sql: string): StatementSync {
    let s = this.#stmts.get(sql);
    if (!s) {
      s = this.#db.prepare(sql);
      this.#stmts.set(sql, s);
    }
    return s;
  }

  #transaction(body: () => void): void {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      body();
      this.#db.exec('COMMIT');
    } catch (err) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      throw new SkiffError(ErrorCodes.STORE, `store write failed: ${(err as Error).message}`, { cause: err });
    }
  }

  #meta(key: string): number | null {
    const row = this.#stmt('SELECT value FROM meta WHERE key = ?').get(key);
    return row ? num(row.value) : null;
  }

  #setMeta(key: string, value: SQLInputValue): void {
    this.#stmt('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
  }
}

function splitLines(v: unknown): string[] {
  return typeof v === 'string' && v !== '' ? v.split('\n') : [];
}

function podFromRow(r: Row): PodRowData {
  const sample = (t: unknown, cpu: unknown): CpuSample | null => (t === null || t === undefined ? null : { t: num(t), cpu: num(cpu) });
  const source = r.source;
  return {
    t: num(r.t), namespace: str(r.namespace), service: str(r.service), sidecarId: str(r.sidecar_id), pod: str(r.pod),
    requests: num(r.requests), reports: num(r.reports), minSeq: num(r.min_seq), maxSeq: num(r.max_seq), lastSeen: num(r.last_seen),
    first: sample(r.first_t, r.first_cpu), last: sample(r.last_t, r.last_cpu),
    memoryBytes: numOrNull(r.memory), cpuLimitCores: numOrNull(r.cpu_limit), memoryLimitBytes: numOrNull(r.memory_limit),
    source: source === 'cgroup2' || source === 'cgroup1' || source === 'process' ? source : null,
  };
}

function parseJournalBody(body: Uint8Array | null, encoding: string): ReportV1 | null {
  if (!body) return null;
  try {
    const value: unknown = encoding === JOURNAL_ENCODING ? decodeReport(body) : JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
    // Validated again: the file is outside this process's control.
    const result = validateReport(value);
    return result.ok ? result.report : null;
  } catch {
    return null;
  }
}

function hasBit(bits: Uint8Array, seq: number): boolean {
  const i = seq % SEQ_WINDOW;
  return ((bits[i >> 3]! >> (i & 7)) & 1) === 1;
}

function setBit(bits: Uint8Array, seq: number): void {
  const i = seq % SEQ_WINDOW;
  bits[i >> 3]! |= 1 << (i & 7);
}

function clearBit(bits: Uint8Array, seq: number): void {
  const i = seq % SEQ_WINDOW;
  bits[i >> 3]! &= ~(1 << (i & 7));
}

/** Records `seq` as stored; moving the window forward forgets the seqs that fall out of it. */
function advance(s: SidecarState, seq: number): void {
  if (seq > s.maxSeq) {
    if (seq - s.maxSeq >= SEQ_WINDOW) s.bits.fill(0);
    else for (let q = s.maxSeq + 1; q < seq; q++) clearBit(s.bits, q);
    clearBit(s.bits, seq);
    s.maxSeq = seq;
  }
  setBit(s.bits, seq);
}

/**
 * Rows of written buckets, by `kind:level:t`, least recently used first out, bounded by an
 * estimate of their memory. Why: node:sqlite turns every row into JS values (strings, one
 * buffer per blob), which is most of a cold query's time; a written bucket never changes, so a
 * window that slides by one bucket reads one bucket from SQLite, not all of them again.
 */
class RowCache {
  readonly #max: number;
  #bytes = 0;
  readonly #entries = new Map<string, { rows: readonly (ServiceRow | EdgeRowData)[]; bytes: number; level: number; t: number }>();

  constructor(maxBytes: number) {
    this.#max = maxBytes;
  }

  get<T extends ServiceRow | EdgeRowData>(key: string, fetch: () => T[]): readonly T[] {
    const hit = this.#entries.get(key);
    if (hit) {
      this.#entries.delete(key);
      this.#entries.set(key, hit);
      return hit.rows as readonly T[];
    }
    const rows = fetch();
    let bytes = 64;
    for (const r of rows) {
      bytes += 256;
      for (const v of Object.values(r)) if (v instanceof Uint8Array) bytes += v.byteLength;
    }
    const [, level, t] = key.split(':');
    this.#entries.set(key, { rows, bytes, level: Number(level), t: Number(t) });
    this.#bytes += bytes;
    for (const [k, e] of this.#entries) {
      if (this.#bytes <= this.#max) break;
      this.#entries.delete(k);
      this.#bytes -= e.bytes;
    }
    return rows;
  }

  /** Forgets buckets older than their level's cutoff (retention deleted their rows). */
  dropBefore(cutoff: readonly number[]): void {
    for (const [k, e] of this.#entries) {
      if (e.t < (cutoff[e.level] ?? -Infinity)) {
        this.#entries.delete(k);
        this.#bytes -= e.bytes;
      }
    }
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }
}
