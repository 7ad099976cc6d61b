/**
 * The tap's wire format: what `GET /tap` (sidecar) and `GET /api/tap` (dashboard) stream, as
 * server-sent events (WHATWG HTML §9.2), one event per message:
 *
 *   event: hello      once, first: who is tapped and what this stream was granted
 *   (no event name)   one request: `data: <TapRecord as JSON>`
 *   event: dropped    records this client lost since the previous notice, and why
 *   event: source     dashboard only: a sidecar joined, left or refused the fan-out
 *   : ping            a comment every 15 s, so idle streams are seen to be alive
 *
 * docs/live.md documents the same shapes for users.
 */
// No imports: the web UI reads these types too (its type-check has no Node types).

/** A sampled body as a tap shows it. */
export interface TapBody {
  /** `utf8`: `text` is the body; `base64`: `text` is the base64 of the (binary) body. */
  encoding: 'utf8' | 'base64';
  text: string;
  /** Bytes sampled (at most the cap). */
  bytes: number;
  /** True when the body was longer than what was sampled. */
  truncated: boolean;
  /** True when at least one field was replaced by `[redacted]`. */
  redacted?: boolean;
  /** Set when the body is not shown at all, with the reason (`text` is then empty). */
  withheld?: string;
}

/** One request, as a tap shows it. */
export interface TapRecord {
  /** When the request started, RFC 3339 (UTC, milliseconds). */
  time: string;
  service: string;
  namespace: string;
  pod: string;
  direction: 'inbound' | 'outbound';
  /** The other service when known (the caller of an inbound request, the callee of an outbound one). */
  peer: string;
  method: string;
  /** Host as sent by the client. */
  authority: string;
  /** The raw path, without the query string (queries carry tokens and personal data). */
  path: string;
  /** The route template the metrics use (`/users/{id}`). */
  route: string;
  /** Response status; 0 when no response was sent. */
  status: number;
  /** Start of the request to the last response byte, ms. */
  latencyMs: number;
  /** Start of the request to the first response byte, ms (0 when none). */
  ttfbMs: number;
  requestBytes: number;
  responseBytes: number;
  /** '' or a proxy error code (upstream_refused, client_abort, …). */
  error: string;
  requestId: string;
  /** Only when the sidecar allows it (`--tap-headers`) and the client asked (`headers=1`). */
  requestHeaders?: Record<string, string>;
  responseHeaders?: Record<string, string>;
  /** Only with `--tap-bodies`, `bodies=1` and the token. */
  requestBody?: TapBody;
  responseBody?: TapBody;
}

/** `event: hello`: the first event of every stream. */
export interface TapHello {
  /** The tapped sidecar (sidecar streams), or the selection (dashboard streams). */
  service: string | null;
  namespace: string | null;
  pod: string | null;
  /** Records per second this stream will carry at most (the rest are dropped and counted). */
  rate: number;
  headers: boolean;
  bodies: boolean;
  /** Why something asked for was not granted (one line each). */
  notes: string[];
}

export type DropReason = 'rate' | 'slow';

/** `event: dropped`: records lost since the previous notice (`count`) and since the start (`total`). */
export interface TapDropped {
  count: number;
  total: number;
  reason: DropReason;
  /** Set when a sidecar dropped them (dashboard streams pass its notices on). */
  pod?: string;
  service?: string;
}

/** `event: source` (dashboard streams): the state of one sidecar in the fan-out. */
export interface TapSource {
  pod: string;
  service: string;
  namespace: string;
  state: 'connected' | 'disconnected' | 'failed';
  /** Why it failed or left (one line), when it did. */
  message?: string;
  /** What the sidecar did not grant (its hello's notes), when connected. */
  notes?: string[];
  /** Sidecars connected now. */
  connected: number;
}

/** One server-sent event, ready to write. `data` must not contain line breaks (JSON never does). */
export function sseEvent(event: string | null, data: string): string {
  return `${event === null ? '' : `event: ${event}\n`}data: ${data}\n\n`;
}

export const SSE_PING = ': ping\n\n';
/** How long a client waits before reconnecting (the `retry:` field), ms. */
export const SSE_RETRY_MS = 2000;
export const PING_EVERY_MS = 15_000;

const str = (v: unknown, max = 16_384): string => (typeof v === 'string' ? v.slice(0, max) : '');
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

function strMap(v: unknown): Record<string, string> | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const out: Record<string, string> = {};
  let n = 0;
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string' || n++ >= 200) continue;
    out[k.slice(0, 256)] = val.slice(0, 16_384);
  }
  return out;
}

function body(v: unknown): TapBody | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const b = v as Record<string, unknown>;
  const out: TapBody = { encoding: b.encoding === 'base64' ? 'base64' : 'utf8', text: str(b.text, 1 << 20), bytes: num(b.bytes), truncated: b.truncated === true };
  if (b.redacted === true) out.redacted = true;
  if (typeof b.withheld === 'string') out.withheld = str(b.withheld, 500);
  return out;
}

/**
 * A record received from elsewhere (a sidecar, the dashboard), reduced to the known fields with
 * the right types, so that nothing unexpected is passed on or rendered. Null when it is not an
 * object at all.
 */
export function normalizeRecord(v: unknown): TapRecord | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const r = v as Record<string, unknown>;
  const out: TapRecord = {
    time: str(r.time, 64),
    service: str(r.service, 256),
    namespace: str(r.namespace, 256),
    pod: str(r.pod, 256),
    direction: r.direction === 'outbound' ? 'outbound' : 'inbound',
    peer: str(r.peer, 256),
    method: str(r.method, 64),
    authority: str(r.authority, 1024),
    path: str(r.path),
    route: str(r.route, 1024),
    status: num(r.status),
    latencyMs: num(r.latencyMs),
    ttfbMs: num(r.ttfbMs),
    requestBytes: num(r.requestBytes),
    responseBytes: num(r.responseBytes),
    error: str(r.error, 64),
    requestId: str(r.requestId, 256),
  };
  const reqH = strMap(r.requestHeaders);
  if (reqH) out.requestHeaders = reqH;
  const respH = strMap(r.responseHeaders);
  if (respH) out.responseHeaders = respH;
  const reqB = body(r.requestBody);
  if (reqB) out.requestBody = reqB;
  const respB = body(r.responseBody);
  if (respB) out.responseBody = respB;
  return out;
}
