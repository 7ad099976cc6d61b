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
