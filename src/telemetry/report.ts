/**
 * Report v1 (report-format.ts): strict validation of what arrives at the dashboard's ingest, and
 * the builder the reporter uses. A report is untrusted input: every field is checked for type,
 * range and size, and the validated report is a fresh object holding only the known fields, so
 * nothing unexpected (extra keys, prototypes, huge strings) reaches the store.
 *
 * Field reference and examples: docs/reporting.md.
 */
import { ERROR_CODES } from './model.ts';
import type { Direction, ErrorCode, Identity, ResourceSample } from './model.ts';
import { REPORT_VERSION } from './report-format.ts';
import type { ReportV1, RequestSeriesDelta, TcpSeriesDelta } from './report-format.ts';
import { validateSketchData } from './sketch.ts';
import type { SketchData } from './sketch.ts';

export const SUPPORTED_REPORT_VERSIONS: readonly number[] = [REPORT_VERSION];
/** Most request series (and, separately, tcp series) in one report; the recorder stays below it. */
export const MAX_REPORT_SERIES = 10_000;
/** Longest label string (service, namespace, pod, peer, method). */
export const MAX_LABEL_LENGTH = 256;
/** Longest route template (routes.ts caps templates at this length). */
export const MAX_ROUTE_LENGTH = 512;

const SIDECAR_ID = /^[A-Za-z0-9._-]{1,128}$/;
// C0 controls, DEL and C1 controls: they would corrupt logs, Prometheus text and terminals.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const ERROR_SET: ReadonlySet<string> = new Set(ERROR_CODES);
const RESOURCE_SOURCES: ReadonlySet<string> = new Set(['cgroup2', 'cgroup1', 'process']);

export type ValidationResult = { ok: true; report: ReportV1 } | { ok: false; reason: string };

/** Thrown inside the validator only; carries the field path. Never escapes `validateReport`. */
class Invalid extends Error {}

function fail(path: string, what: string): never {
  throw new Invalid(`${path}: ${what}`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function obj(v: unknown, path: string): Record<string, unknown> {
  if (!isRecord(v)) fail(path, 'must be an object');
  return v;
}

function str(v: unknown, path: string, opts: { max?: number; empty?: boolean } = {}): string {
  const max = opts.max ?? MAX_LABEL_LENGTH;
  if (typeof v !== 'string') fail(path, 'must be a string');
  if (v.length === 0 && !opts.empty) fail(path, 'must not be empty');
  if (v.length > max) fail(path, `longer than ${max} characters`);
  if (CONTROL.test(v)) fail(path, 'contains control characters');
  return v;
}

function count(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(path, 'must be a non-negative safe integer');
  return v;
}

function nonNegative(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail(path, 'must be a finite number ≥ 0');
  return v;
}

function direction(v: unknown, path: string): Direction {
  if (v !== 'inbound' && v !== 'outbound') fail(path, 'must be "inbound" or "outbound"');
  return v;
}

function errorCode(v: unknown, path: string): ErrorCode {
  if (typeof v !== 'string' || !ERROR_SET.has(v)) fail(path, `must be one of ${ERROR_CODES.map((c) => JSON.stringify(c)).join(', ')}`);
  return v as ErrorCode;
}

function sketch(v: unknown, path: string, expectedCount: number): SketchData {
  const problem = validateSketchData(v);
  if (problem !== null) {
    // Point at the sub-field the sketch validator names ("bins must be…", "offset out of range").
    const field = problem.includes('bin') ? 'bins' : /^(count|sum|min|max|zero|offset)\b/.exec(problem)?.[1];
    fail(field ? `${path}.${field}` : path, problem);
  }
  const d = v as SketchData;
  if (d.count !== expectedCount) fail(`${path}.count`, `${d.count} differs from the series count ${expectedCount}`);
  return { count: d.count, sum: d.sum, min: d.min, max: d.max, zero: d.zero, offset: d.offset, bins: d.bins.slice() };
}

function array(v: unknown, path: string, max: number): unknown[] {
  if (!Array.isArray(v)) fail(path, 'must be an array');
  if (v.length > max) fail(path, `more than ${max} entries`);
  return v;
}

function identity(v: unknown, path: string): Identity {
  const o = obj(v, path);
  return {
    service: str(o.service, `${path}.service`),
    namespace: str(o.namespace, `${path}.namespace`),
    pod: str(o.pod, `${path}.pod`),
  };
}

function resources(v: unknown, path: string): ResourceSample | null {
  if (v === null) return null;
  const o = obj(v, path);
  if (typeof o.source !== 'string' || !RESOURCE_SOURCES.has(o.source)) fail(`${path}.source`, 'must be "cgroup2", "cgroup1" or "process"');
  const limit = (x: unknown, p: string): number | null => {
    if (x === null) return null;
    if (typeof x !== 'number' || !Number.isFinite(x) || x <= 0) fail(p, 'must be a positive finite number or null');
    return x;
  };
  return {
    source: o.source as ResourceSample['source'],
    cpuSecondsTotal: nonNegative(o.cpuSecondsTotal, `${path}.cpuSecondsTotal`),
    cpuLimitCores: limit(o.cpuLimitCores, `${path}.cpuLimitCores`),
    memoryBytes: count(o.memoryBytes, `${path}.memoryBytes`),
    memoryLimitBytes: limit(o.memoryLimitBytes, `${path}.memoryLimitBytes`),
  };
}

function requestSeries(v: unknown, path: string): RequestSeriesDelta {
  const o = obj(v, path);
  const statusCode = o.statusCode;
  if (typeof statusCode !== 'number' || !Number.isInteger(statusCode) || statusCode < 0 || statusCode > 999) {
    fail(`${path}.statusCode`, 'must be an integer from 0 to 999');
  }
  const n = count(o.count, `${path}.count`);
  return {
    direction: direction(o.direction, `${path}.direction`),
    peer: str(o.peer, `${path}.peer`, { empty: true }),
    method: str(o.method, `${path}.method`),
    route: str(o.route, `${path}.route`, { max: MAX_ROUTE_LENGTH }),
    statusCode,
    error: errorCode(o.error, `${path}.error`),
    count: n,
    requestBytesTotal: count(o.requestBytesTotal, `${path}.requestBytesTotal`),
    responseBytesTotal: count(o.responseBytesTotal, `${path}.responseBytesTotal`),
    latencyMs: sketch(o.latencyMs, `${path}.latencyMs`, n),
    requestBytes: sketch(o.requestBytes, `${path}.requestBytes`, n),
    responseBytes: sketch(o.responseBytes, `${path}.responseBytes`, n),
  };
}

function tcpSeries(v: unknown, path: string): TcpSeriesDelta {
  const o = obj(v, path);
  if (o.protocol !== 'http' && o.protocol !== 'opaque') fail(`${path}.protocol`, 'must be "http" or "opaque"');
  const errorsIn = obj(o.errors, `${path}.errors`);
  const errors: Partial<Record<ErrorCode, number>> = {};
  for (const [code, n] of Object.entries(errorsIn)) {
    // The empty code means "no error": it has no place among the errors.
    if (code === '' || !ERROR_SET.has(code)) fail(`${path}.errors`, `unknown error code ${JSON.stringify(code.slice(0, 64))}`);
    errors[code as ErrorCode] = count(n, `${path}.errors.${code}`);
  }
  return {
    direction: direction(o.direction, `${path}.direction`),
    peer: str(o.peer, `${path}.peer`, { empty: true }),
    protocol: o.protocol,
    opened: count(o.opened, `${path}.opened`),
    closed: count(o.closed, `${path}.closed`),
    bytesIn: count(o.bytesIn, `${path}.bytesIn`),
    bytesOut: count(o.bytesOut, `${path}.bytesOut`),
    errors,
  };
}

/**
 * Validates an untrusted report (parsed JSON). On success returns a clean copy that holds only
 * the fields of ReportV1; on failure, a one-line reason that starts with the field path.
 *
 * @example
 * const r = validateReport(JSON.parse(body));
 * if (!r.ok) return reply(400, r.reason); // "requests[3].latencyMs.bins: …"
 */
export function validateReport(value: unknown): ValidationResult {
  try {
    return { ok: true, report: parseReport(value) };
  } catch (err) {
    if (err instanceof Invalid) return { ok: false, reason: err.message };
    throw err;
  }
}

function parseReport(value: unknown): ReportV1 {
  if (!isRecord(value)) fail('report', 'must be a JSON object');
  if (value.version !== REPORT_VERSION) {
    const got = typeof value.version === 'number' || typeof value.version === 'string' ? JSON.stringify(value.version) : typeof value.version;
    fail('version', `unsupported version ${got.slice(0, 32)}; supported: ${SUPPORTED_REPORT_VERSIONS.join(', ')}`);
  }
  if (typeof value.sidecarId !== 'string' || !SIDECAR_ID.test(value.sidecarId)) {
    fail('sidecarId', 'must be 1 to 128 characters of A-Z a-z 0-9 . _ -');
  }
  const seq = value.seq;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) fail('seq', 'must be a positive safe integer');
  const start = count(value.start, 'start');
  const end = count(value.end, 'end');
  if (!(start < end)) fail('end', `must be after start (start ${start}, end ${end})`);
  const id = identity(value.identity, 'identity');
  const res = resources(value.resources, 'resources');
  const requests = array(value.requests, 'requests', MAX_REPORT_SERIES).map((s, i) => requestSeries(s, `requests[${i}]`));
  const tcp = array(value.tcp, 'tcp', MAX_REPORT_SERIES).map((s, i) => tcpSeries(s, `tcp[${i}]`));
  checkUnique(requests, (s) => [s.direction, s.peer, s.method, s.route, s.statusCode, s.error], 'requests');
  checkUnique(tcp, (s) => [s.direction, s.peer, s.protocol], 'tcp');
  return {
    version: REPORT_VERSION,
    sidecarId: value.sidecarId,
    seq,
    start,
    end,
    identity: id,
    resources: res,
    requests,
    tcp,
    droppedReports: count(value.droppedReports, 'droppedReports'),
    ...(value.admin === undefined ? {} : { admin: adminUrl(value.admin) }),
  };
}

/** The optional admin URL: http(s), host and port only, bounded. */
function adminUrl(v: unknown): string {
  if (typeof v !== 'string' || v.length > 256 || !/^https?:\/\/[A-Za-z0-9.\-[\]:]+:\d{1,5}$/.test(v)) fail('admin', 'must be an http(s)://HOST:PORT URL');
  return v;
}

/** Two entries with the same series key would be ambiguous for the store: reject them. */
function checkUnique<T>(series: readonly T[], key: (s: T) => unknown[], path: string): void {
  const seen = new Map<string, number>();
  series.forEach((s, i) => {
    const k = JSON.stringify(key(s));
    const first = seen.get(k);
    if (first !== undefined) fail(`${path}[${i}]`, `same series as ${path}[${first}]`);
    seen.set(k, i);
  });
}

/** What the reporter supplies: the report without its version. */
export type ReportParts = Omit<ReportV1, 'version'>;

/** Assembles a v1 report (the reporter's side; it is what `validateReport` accepts). */
export function buildReport(parts: ReportParts): ReportV1 {
  return {
    version: REPORT_VERSION,
    sidecarId: parts.sidecarId,
    seq: parts.seq,
    start: parts.start,
    end: parts.end,
    identity: { service: parts.identity.service, namespace: parts.identity.namespace, pod: parts.identity.pod },
    resources: parts.resources,
    requests: parts.requests,
    tcp: parts.tcp,
    droppedReports: parts.droppedReports,
    ...(parts.admin ? { admin: parts.admin } : {}),
  };
}
