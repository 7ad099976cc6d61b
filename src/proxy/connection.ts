/**
 * One client connection through the sidecar: protocol detection, then either an HTTP/1.x
 * exchange loop or an opaque byte relay, with telemetry recorded as each exchange ends.
 *
 * Why a hand-written relay on raw sockets rather than node:http: a full parse-and-reserialise
 * proxy costs 2–3× the CPU of one that moves bytes and only finds message boundaries
 * (docs/performance.md). Here bodies are forwarded as the original bytes; only heads are parsed
 * and rewritten (hop-by-hop fields out, X-Forwarded-*, X-Request-Id in).
 *
 * The life of a connection (phases):
 *
 *   DETECT ──first bytes are HTTP──► HEAD ◄───────────────────────────┐
 *     │  └─first bytes not HTTP, or the app spoke first──► OPAQUE     │ response done,
 *     ▼                                                               │ keep-alive
 *   HEAD ──head parsed & valid──► BODY ──body done──► AWAIT ──────────┘
 *     └─invalid──► 4xx + close      (response streamed back meanwhile; 101 → TUNNEL)
 *
 * Requests on one connection are handled one at a time: bytes of a pipelined next request are
 * held (and the client paused) until the current response completes, so responses come back
 * in order (RFC 9112 §9.3.2) and a failure of one exchange never corrupts the next.
 */
import type net from 'node:net';
import { ChunkedScanner, HttpParseError, detectProtocol, findHeadEnd, parseRequestHead, parseResponseHead, printable } from './http1.ts';
import type { RequestHead } from './http1.ts';
import type { Target, Upstream, UpstreamOwner } from './pool.ts';
import { nextRequestId } from './request-id.ts';
import { ReadRegion, readDirect } from './read-buffers.ts';
import type { Direction, ErrorCode, RequestRecord } from '../telemetry/model.ts';
import type { Listener } from './listener.ts';
import { performance } from 'node:perf_hooks';
// (The `performance` global is a lazy getter on globalThis: every use of it is a global lookup
// and a getter call that optimized code cannot fold away; the import is a constant.)

const DETECT = 0;
const HEAD = 1;
const BODY = 2;
const AWAIT = 3;
const OPAQUE = 4;
const TUNNEL = 5;
const CLOSED = 6;
type Phase = 0 | 1 | 2 | 3 | 4 | 5 | 6;

const RESP_HEAD = 0;
const RESP_BODY = 1;
const RESP_DONE = 2;

/** A response head larger than this from the app is treated as a bad response. */
const MAX_RESPONSE_HEAD = 65536;

export const REASONS: Record<number, string> = {
  400: 'Bad Request',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Content Too Large',
  414: 'URI Too Long',
  431: 'Request Header Fields Too Large',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

function concat(a: Buffer | null, b: Buffer): Buffer {
  return a === null || a.length === 0 ? b : Buffer.concat([a, b]);
}

const EMPTY = Buffer.alloc(0);

/** Keeps a copy of at most `limit` bytes of a body for a tap; returns the new count. */
function sampleInto(list: Buffer[], have: number, limit: number, b: Buffer, s: number, e: number): number {
  const n = Math.min(e - s, limit - have);
  if (n > 0) list.push(Buffer.from(b.subarray(s, s + n)));
  return have + Math.max(n, 0);
}

/** One request/response exchange on a connection. */
class Exchange {
  readonly head: RequestHead;
  readonly target: Target;
  readonly peer: string;
  readonly t0: number;
  readonly startTime: number;
  readonly requestId: string;
  /** The head as sent upstream (kept for one retry on a stale keep-alive connection). */
  upstreamHead: string;
  /** Held until the first chunk-size line is validated, so a bad chunked body never reaches the app. */
  headPending = false;
  attempt = 0;
  reqFraming: 0 | 1 | 2 = 0; // none, length, chunked
  reqRemaining = 0;
  reqScanner: ChunkedScanner | null = null;
  reqBytes = 0;
  reqDone = false;
  respPhase = RESP_HEAD;
  respBuf: Buffer | null = null;
  respHeadSent = false;
  respFraming: 0 | 1 | 2 | 3 = 0; // none, length, chunked, close-delimited
  respRemaining = 0;
  respScanner: ChunkedScanner | null = null;
  respBytes = 0;
  respClose = false;
  dechunk = false;
  willClose = false;
  status = 0;
  ttfbMs = 0;
  overheadMs = 0;
  error: ErrorCode = '';
  responseHeaders: Record<string, string> | undefined;
  /** Any byte of the response received from the app (a retry is only safe before that). */
  respStarted = false;
  /** Body bytes to sample for a tap (0: none — the usual case, one check per chunk). */
  sample = 0;
  reqSample: Buffer[] | null = null;
  reqSampled = 0;
  respSample: Buffer[] | null = null;
  respSampled = 0;

  constructor(head: RequestHead, target: Target, peer: string, t0: number, startTime: number, requestId: string, upstreamHead: string) {
    this.head = head;
    this.target = target;
    this.peer = peer;
    this.t0 = t0;
    this.startTime = startTime;
    this.requestId = requestId;
    this.upstreamHead = upstreamHead;
  }
}

/**
 * What an exchange hands the telemetry sink. A class rather than an object literal: one shape
 * for every exchange's record (the recorder's loads stay monomorphic) and an inline allocation
 * instead of a runtime copy of a 19-property boilerplate. (Refused requests, a rare path, are
 * recorded from a literal in #reject.)
 */
class ExchangeRecord implements RequestRecord {
  readonly direction: Direction;
  readonly peer: string;
  readonly method: string;
  readonly path: string;
  readonly authority: string;
  readonly statusCode: number;
  readonly error: ErrorCode;
  readonly startTime: number;
  readonly durationMs: number;
  readonly ttfbMs: number;
  readonly requestBytes: number;
  readonly responseBytes: number;
  readonly overheadMs: number;
  readonly upgraded: boolean;
  readonly requestId: string;
  readonly requestHeaders: Record<string, string> | undefined;
  readonly responseHeaders: Record<string, string> | undefined;
  readonly requestBody: Buffer | undefined;
  readonly responseBody: Buffer | undefined;

  constructor(direction: Direction, ex: Exchange, upgraded: boolean, now: number) {
    const h = ex.head;
    this.direction = direction;
    this.peer = ex.peer;
    this.method = h.method;
    this.path = h.path;
    this.authority = h.host;
    this.statusCode = ex.status;
    this.error = ex.error;
    this.startTime = ex.startTime;
    this.durationMs = now - ex.t0;
    this.ttfbMs = ex.ttfbMs;
    this.requestBytes = ex.reqBytes;
    this.responseBytes = ex.respBytes;
    this.overheadMs = ex.overheadMs;
    this.upgraded = upgraded;
    this.requestId = ex.requestId;
    this.requestHeaders = h.headers;
    this.responseHeaders = ex.responseHeaders;
    this.requestBody = ex.reqSample ? Buffer.concat(ex.reqSample) : undefined;
    this.responseBody = ex.respSample ? Buffer.concat(ex.respSample) : undefined;
  }
}

export class ClientConnection implements UpstreamOwner {
  readonly client: net.Socket;
  readonly #l: Listener;
  readonly #clientIp: string;
  #phase: Phase = DETECT;
  #buf: Buffer | null = null;
  #stash: Buffer | null = null;
  #up: Upstream | null = null;
  #ex: Exchange | null = null;
  #protocol: 'http' | 'opaque' | '' = '';
  #bytesIn = 0;
  #bytesOut = 0;
  #opened = 0;
  #openedAt = Date.now();
  #headStart = 0;
  #headStartTime = 0;
  #clientEnded = false;
  #pausedForUpstream = false;
  #pausedForPipeline = false;
  #upPaused = false;
  #peer = '';
  #tunnelRecord: Exchange | null = null;
  #connectPending = false;
  /** A response head waiting to go out with the first body bytes (see #writeClient). */
  #headOut: string | null = null;
  /** The destination of a CONNECT tunnel: every request inside it goes there. */
  #connectTarget: Target | null = null;
  /** Where the bare-LF scan of a head that is still arriving resumes. */
  #lfScanFrom = 0;
  /** performance.now() deadline and what happens when it passes (see Listener.sweep). */
  deadline = 0;
  deadlineKind: 'idle' | 'header' | 'body' | 'response' | '' = '';
  readonly #region = new ReadRegion();

  constructor(client: net.Socket, listener: Listener) {
    this.client = client;
    this.#l = listener;
    this.#opened = performance.now();
    const ip = client.remoteAddress ?? '';
    this.#clientIp = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
    // Client bytes arrive through `onread` (read-buffers.ts), or 'data' events where this Node lacks it.
    const direct = readDirect(client, this.#region, (n, buf) => {
      this.#onClientData(Buffer.from(buf.buffer, buf.byteOffset, n));
      this.#region.held = this.holdsReadBytes();
      return true;
    });
    if (!direct) client.on('data', (chunk: Buffer) => this.#onClientData(chunk));
    client.on('end', () => this.#onClientEnd());
    client.on('drain', () => this.#onClientDrain());
    client.on('error', () => undefined); // 'close' follows; resets are normal client behaviour
    client.on('close', () => this.#onClientClose());

    const cfg = listener.config;
    if (cfg.opaque && cfg.target) {
      this.#startOpaque(EMPTY);
    } else if (cfg.target) {
      // Connect at once: a server-speaks-first protocol (MySQL, SMTP) must not wait for a
      // client byte that never comes, and HTTP clients get a warm connection.
      this.#up = listener.runtime.pool.acquire(cfg.target, this);
      this.#setDeadline('idle', cfg.limits.idleTimeoutMs);
    } else {
      this.#setDeadline('idle', cfg.limits.idleTimeoutMs);
    }
  }

  /**
   * Whether bytes of the last read (client or upstream) may still be referenced: held for a head
   * or a pipelined request, or queued on a socket. Then that socket's next read goes elsewhere
   * (read-buffers.ts). Conservative: anything pending counts.
   */
  holdsReadBytes(): boolean {
    return (
      (this.#buf !== null && this.#buf.length > 0) ||
      this.#stash !== null ||
      this.client.writableLength > 0 ||
      (this.#up !== null && this.#up.socket.writableLength > 0) ||
      (this.#ex !== null && this.#ex.respBuf !== null)
    );
  }

  get busy(): boolean {
    return this.#ex !== null || this.#phase === OPAQUE || this.#phase === TUNNEL || (this.#buf !== null && this.#buf.length > 0);
  }

  #setDeadline(kind: 'idle' | 'header' | 'body' | 'response', ms: number): void {
    this.deadlineKind = kind;
    this.deadline = performance.now() + ms;
  }

  #clearDeadline(): void {
    this.deadlineKind = '';
    this.deadline = 0;
  }

  // ───────────────────────────── client side ─────────────────────────────

  #onClientData(chunk: Buffer): void {
    this.#bytesIn += chunk.length;
    this.#l.runtime.gc.account(chunk.length);
    switch (this.#phase) {
      case DETECT:
        this.#detect(chunk);
        return;
      case HEAD:
        if (this.#buf === null || this.#buf.length === 0) {
          this.#markHeadStart();
          this.#setDeadline('header', this.#l.config.limits.headerTimeoutMs);
        }
        this.#buf = concat(this.#buf, chunk);
        this.#processHead();
        return;
      case BODY:
        this.#setDeadline('body', this.#l.config.limits.idleTimeoutMs);
        this.#feedBody(chunk, 0);
        return;
      case AWAIT:
        // A pipelined request: hold it until the current response is complete.
        this.#stash = concat(this.#stash, chunk);
        if (!this.#pausedForPipeline) {
          this.#pausedForPipeline = true;
          this.client.pause();
        }
        return;
      case OPAQUE:
      case TUNNEL:
        if (this.#tunnelRecord) this.#tunnelRecord.reqBytes += chunk.length;
        if (this.#up && !this.#up.socket.write(chunk)) this.#pauseClientForUpstream();
        return;
      default:
        return;
    }
  }

  /** First client bytes (or the first bytes inside a CONNECT tunnel): HTTP or opaque? */
  #detect(chunk: Buffer): void {
    this.#buf = concat(this.#buf, chunk);
    if (this.#headStart === 0) this.#markHeadStart();
    const verdict = detectProtocol(this.#buf, this.#l.config.limits.maxHeaderBytes);
    if (verdict === 'more') {
      // Deciding must not give a slow client more time than the header timeout.
      if (this.deadlineKind !== 'header') this.#setDeadline('header', this.#l.config.limits.headerTimeoutMs);
      return;
    }
    if (verdict === 'opaque') {
      const initial = this.#buf;
      this.#buf = null;
      this.#startOpaque(initial);
      return;
    }
    this.#phase = HEAD;
    if (this.deadlineKind !== 'header') this.#setDeadline('header', this.#l.config.limits.headerTimeoutMs);
    this.#processHead();
  }

  #markHeadStart(): void {
    this.#headStart = performance.now();
    this.#headStartTime = Date.now();
  }

  /** Counts the connection once, when its protocol is known (a CONNECT makes it opaque). */
  #setProtocol(p: 'http' | 'opaque'): void {
    if (this.#protocol !== '') return;
    this.#protocol = p;
    this.#l.runtime.sink.connectionOpened(this.#l.config.direction, p);
  }

  #pauseClientForUpstream(): void {
    if (!this.#pausedForUpstream) {
      this.#pausedForUpstream = true;
      this.client.pause();
    }
  }

  #onClientDrain(): void {
    if (this.#upPaused && this.#up) {
      this.#upPaused = false;
      this.#up.socket.resume();
    }
  }

  #processHead(): void {
    const buf = this.#buf;
    if (buf === null) return;
    const limits = this.#l.config.limits;
    if (buf[0] === 13 && buf[1] === 10) {
      // RFC 9112 §2.2: ignore empty lines before the request-line.
      let s = 0;
      while (buf[s] === 13 && buf[s + 1] === 10) s += 2;
      this.#buf = buf.subarray(s);
      if (this.#buf.length > 0) this.#processHead();
      return;
    }
    const end = findHeadEnd(buf, 0);
    if (end === -1) {
      // RFC 9112 §2.2: we require CRLF; a bare LF is refused when seen, not waited on.
      for (let i = buf.indexOf(10, this.#lfScanFrom); i !== -1; i = buf.indexOf(10, i + 1)) {
        if (i === 0 || buf[i - 1] !== 13) {
          this.#lfScanFrom = 0;
          this.#reject(400, 'bad_request', 'bare LF in the request head');
          return;
        }
      }
      this.#lfScanFrom = buf.length;
      // The limit is on the head; up to 3 bytes of an incomplete CRLF CRLF may follow it.
      if (buf.length > limits.maxHeaderBytes + 3) {
        this.#reject(431, 'headers_too_large', `request head larger than ${limits.maxHeaderBytes} bytes`);
      }
      return;
    }
    if (end - 4 > limits.maxHeaderBytes) {
      this.#reject(431, 'headers_too_large', `request head larger than ${limits.maxHeaderBytes} bytes`);
      return;
    }
    const rest = end === buf.length ? EMPTY : buf.subarray(end);
    this.#buf = null;
    this.#lfScanFrom = 0;
    let head: RequestHead;
    try {
      head = parseRequestHead(buf.toString('latin1', 0, end - 4), limits, this.#l.runtime.sink.wantsHeaders);
    } catch (err) {
      if (err instanceof HttpParseError) {
        this.#reject(err.status, err.status === 431 ? 'headers_too_large' : 'bad_request', err.message);
        return;
      }
      throw err;
    }
    this.#startExchange(head, rest);
  }

  #startExchange(head: RequestHead, rest: Buffer): void {
    const cfg = this.#l.config;
    const rt = this.#l.runtime;
    const tHead = performance.now();

    if (head.method !== 'CONNECT' || cfg.mode !== 'proxy') this.#setProtocol('http');
    if (head.method === 'CONNECT') {
      if (cfg.mode === 'proxy' && !this.#connectTarget) {
        this.#startConnect(head, rest);
        return;
      }
      this.#reject(405, 'bad_request', 'CONNECT is only accepted by the outbound listener');
      return;
    }

    // Where does it go?
    let target: Target;
    let forwardTarget = head.target;
    let addHost = '';
    const fixed = this.#connectTarget ?? cfg.target;
    if (fixed) {
      target = fixed;
    } else {
      let authority = head.host;
      if (head.target[0] !== '/' && head.target !== '*') {
        const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)(.*)$/.exec(head.target);
        if (!m) {
          this.#reject(400, 'bad_request', 'invalid absolute-form request target');
          return;
        }
        if (m[1]!.toLowerCase() !== 'http') {
          this.#reject(400, 'bad_request', `scheme ${printable(m[1]!)} is not proxied (use CONNECT for https)`);
          return;
        }
        authority = m[2]!.replace(/^[^@]*@/, '');
        forwardTarget = m[3] || '/';
        if (!head.host) addHost = authority;
      }
      if (!authority) {
        this.#reject(400, 'bad_request', 'no destination: use an absolute URL or a Host header');
        return;
      }
      const resolved = cfg.resolve?.(authority, 80);
      if (!resolved) {
        this.#reject(400, 'bad_request', `invalid destination "${printable(authority)}"`);
        return;
      }
      target = resolved;
    }
    const peer = cfg.direction === 'inbound' ? head.peer : target.peer;
    this.#peer = peer;

    // The head the app will see: our version, the client's fields minus hop-by-hop ones, plus
    // the forwarding fields a proxy owes (X-Forwarded-For/-Proto, X-Request-Id).
    let requestId = head.requestId;
    let out = `${head.method} ${forwardTarget} HTTP/1.1\r\n`;
    out += head.fields;
    if (addHost) out += `host: ${addHost}\r\n`;
    // Forwarded as HTTP/1.1, which requires Host (RFC 9112 §3.2): empty when the authority is unknown.
    else if (!head.hasHost) out += 'host: \r\n';
    out += `x-forwarded-for: ${head.forwardedFor ? `${head.forwardedFor}, ` : ''}${this.#clientIp}\r\n`;
    if (!head.forwardedProto) out += 'x-forwarded-proto: http\r\n';
    if (!requestId) {
      requestId = nextRequestId();
      out += `x-request-id: ${requestId}\r\n`;
    }
    if (cfg.direction === 'outbound' && rt.localService) out += `x-skiff-peer: ${rt.localService}\r\n`;
    if (head.upgrade) out += `connection: upgrade\r\nupgrade: ${head.upgrade}\r\n`;
    out += '\r\n';

    const ex = new Exchange(head, target, peer, this.#headStart || tHead, this.#headStartTime || Date.now(), requestId, out);
    const sample = rt.sink.wantsBodies;
    if (sample > 0) {
      ex.sample = sample;
      ex.reqSample = [];
      ex.respSample = [];
    }
    this.#headStart = 0;
    this.#headStartTime = 0;
    this.#ex = ex;
    if (this.#up && (this.#up.dead || this.#up.target.key !== target.key)) {
      this.#releaseUpstream();
    }
    if (!this.#up) this.#up = rt.pool.acquire(target, this);
    this.#up.uses++;
    if (this.#upPaused) {
      this.#upPaused = false;
      this.#up.socket.resume();
    }

    if (head.chunked) {
      ex.reqFraming = 2;
      ex.reqScanner = new ChunkedScanner(400);
      ex.headPending = true;
    } else if (head.contentLength > 0) {
      ex.reqFraming = 1;
      ex.reqRemaining = head.contentLength;
    }
    if (!ex.headPending) this.#up.socket.write(out, 'latin1');
    ex.overheadMs = performance.now() - tHead;

    if (ex.reqFraming === 0) {
      if (rest.length > 0) this.#stash = concat(this.#stash, rest);
      this.#onRequestComplete();
    } else {
      this.#phase = BODY;
      this.#setDeadline('body', cfg.limits.idleTimeoutMs);
      if (rest.length > 0) this.#feedBody(rest, 0);
    }
  }

  #feedBody(chunk: Buffer, start: number): void {
    const ex = this.#ex;
    const up = this.#up;
    if (!ex || !up) return;
    let end: number;
    if (ex.reqFraming === 1) {
      const take = Math.min(ex.reqRemaining, chunk.length - start);
      end = start + take;
      ex.reqRemaining -= take;
      ex.reqBytes += take;
      if (ex.reqSample && ex.reqSampled < ex.sample) ex.reqSampled = sampleInto(ex.reqSample, ex.reqSampled, ex.sample, chunk, start, end);
      if (take > 0 && !up.socket.write(start === 0 && end === chunk.length ? chunk : chunk.subarray(start, end))) {
        this.#pauseClientForUpstream();
      }
      if (ex.reqRemaining === 0) ex.reqDone = true;
    } else {
      const scanner = ex.reqScanner!;
      try {
        end = ex.reqSample
          ? scanner.scan(chunk, start, (b, bs, be) => {
              if (ex.reqSample && ex.reqSampled < ex.sample) ex.reqSampled = sampleInto(ex.reqSample, ex.reqSampled, ex.sample, b, bs, be);
            })
          : scanner.scan(chunk, start);
      } catch (err) {
        if (!(err instanceof HttpParseError)) throw err;
        // Part of the body may already be with the app: cancel that request by closing its
        // connection (an incomplete body can never be read as a second request).
        if (!ex.headPending) this.#dropUpstream();
        ex.error = 'bad_request';
        this.#reject(err.status, 'bad_request', err.message);
        return;
      }
      if (ex.headPending && scanner.started) {
        ex.headPending = false;
        up.socket.cork();
        up.socket.write(ex.upstreamHead, 'latin1');
        up.socket.write(chunk.subarray(start, end));
        up.socket.uncork();
        if (up.socket.writableNeedDrain) this.#pauseClientForUpstream();
      } else if (!ex.headPending && end > start) {
        if (!up.socket.write(start === 0 && end === chunk.length ? chunk : chunk.subarray(start, end))) this.#pauseClientForUpstream();
      } else if (ex.headPending && end > start) {
        // Still before the first size line completes: keep these bytes with the held head.
        ex.upstreamHead += chunk.toString('latin1', start, end);
      }
      ex.reqBytes = scanner.dataBytes;
      if (scanner.done) ex.reqDone = true;
    }
    if (ex.reqDone) {
      if (end < chunk.length) this.#stash = concat(this.#stash, chunk.subarray(end));
      this.#onRequestComplete();
    }
  }

  #onRequestComplete(): void {
    const ex = this.#ex!;
    ex.reqDone = true;
    if (ex.respPhase === RESP_DONE) {
      this.#finishExchange();
      return;
    }
    this.#phase = AWAIT;
    if (!ex.respHeadSent) this.#setDeadline('response', this.#l.config.limits.responseTimeoutMs);
    else this.#clearDeadline();
    if (this.#stash && !this.#pausedForPipeline) {
      this.#pausedForPipeline = true;
      this.client.pause();
    }
  }

  #onClientEnd(): void {
    this.#clientEnded = true;
    switch (this.#phase) {
      case OPAQUE:
      case TUNNEL:
        this.#up?.socket.end();
        return;
      case AWAIT:
      case BODY:
      case HEAD:
        // A FIN while an exchange is in progress is a client that went away: like nginx (499)
        // and Envoy, we cancel the upstream request rather than keep the app working for
        // nobody. (Half-closing HTTP clients that still wait for the answer are rare; in the
        // BODY phase a FIN also means the body was cut short, which must never reach the app
        // as a complete request.)
        if (this.#ex) {
          this.#ex.error = 'client_abort';
          this.#dropUpstream();
          this.client.destroy();
          return;
        }
        this.client.end();
        return;
      default:
        this.client.end();
        return;
    }
  }

  #onClientClose(): void {
    const wasPhase = this.#phase;
    this.#phase = CLOSED;
    this.#clearDeadline();
    const ex = this.#ex;
    if (ex && !(ex.reqDone && ex.respPhase === RESP_DONE)) {
      ex.error = ex.error || 'client_abort';
      // Cancel the upstream request: the app should stop working for nobody.
      this.#dropUpstream();
      this.#record(ex);
      this.#ex = null;
    }
    if (this.#tunnelRecord) {
      this.#recordTunnel();
    }
    if (wasPhase === OPAQUE || wasPhase === TUNNEL) {
      this.#up?.socket.destroy();
      this.#up = null;
    } else {
      this.#releaseUpstream();
    }
    if (this.#protocol === '') this.#setProtocol('opaque');
    this.#l.runtime.sink.connectionClosed({
      direction: this.#l.config.direction,
      peer: this.#peer,
      protocol: this.#protocol === 'http' ? 'http' : 'opaque',
      startTime: this.#openedAt,
      durationMs: performance.now() - this.#opened,
      bytesIn: this.#bytesIn,
      bytesOut: this.#bytesOut,
      error: '',
    });
    this.#l.forget(this);
  }

  /** Graceful drain: close now if idle, else after the current response (which says close). */
  drain(): void {
    if (this.#phase === CLOSED) return;
    if (this.#ex) {
      this.#ex.willClose = true;
      return;
    }
    if (this.#phase === OPAQUE || this.#phase === TUNNEL) return; // cut at the drain deadline
    if (this.#buf && this.#buf.length > 0) return; // a head is arriving: answer it, with close
    this.client.end();
    this.#releaseUpstream();
  }

  /** Called by the listener's sweep when `deadline` has passed. */
  onDeadline(): void {
    const kind = this.deadlineKind;
    this.#clearDeadline();
    switch (kind) {
      case 'idle':
        this.client.end();
        this.#releaseUpstream();
        return;
      case 'header':
        this.#reject(408, 'header_timeout', `request head not received within ${this.#l.config.limits.headerTimeoutMs} ms`);
        return;
      case 'body': {
        const ex = this.#ex;
        if (ex) ex.error = 'client_abort';
        this.#dropUpstream();
        if (ex && !ex.respHeadSent) this.#reject(408, 'client_abort', 'request body stalled');
        else this.client.destroy();
        return;
      }
      case 'response': {
        const ex = this.#ex;
        if (!ex || ex.respHeadSent) return;
        this.#dropUpstream();
        this.#proxyError(504, 'upstream_timeout', `the app did not answer within ${this.#l.config.limits.responseTimeoutMs} ms`);
        return;
      }
      default:
        return;
    }
  }

  // ───────────────────────────── upstream side ─────────────────────────────

  onUpstreamConnect(up: Upstream): void {
    if (up !== this.#up) return;
    if (this.#connectPending) {
      // CONNECT tunnel established (RFC 9110 §9.3.6: any 2xx means the tunnel is open).
      this.#connectPending = false;
      this.client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    }
  }

  onUpstreamDrain(up: Upstream): void {
    if (up !== this.#up) return;
    if (this.#pausedForUpstream) {
      this.#pausedForUpstream = false;
      this.client.resume();
    }
  }

  onUpstreamData(up: Upstream, chunk: Buffer): void {
    if (up !== this.#up) {
      up.destroy();
      return;
    }
    this.#bytesOut += chunk.length;
    this.#l.runtime.gc.account(chunk.length);
    switch (this.#phase) {
      case DETECT: {
        // The app spoke first (MySQL, SMTP…): this is not HTTP; relay bytes from now on.
        const initial = this.#buf ?? EMPTY;
        this.#buf = null;
        this.#startOpaque(initial);
        this.#writeClient(chunk);
        return;
      }
      case OPAQUE:
      case TUNNEL:
        if (this.#tunnelRecord) this.#tunnelRecord.respBytes += chunk.length;
        this.#writeClient(chunk);
        return;
      case CLOSED:
        return;
      default: {
        const ex = this.#ex;
        if (!ex) {
          // Bytes from the app with no request outstanding: not a reusable connection.
          this.#dropUpstream();
          return;
        }
        ex.respStarted = true;
        this.#onResponseBytes(ex, chunk, 0);
      }
    }
  }

  #writeClient(chunk: Buffer | string): void {
    const head = this.#headOut;
    if (head !== null) {
      this.#headOut = null;
      if (typeof chunk === 'string') chunk = head + chunk;
      else if (chunk.length <= 16384) {
        // Copying a small body is cheaper than a second write or a writev.
        const merged = Buffer.allocUnsafe(head.length + chunk.length);
        merged.write(head, 0, 'latin1');
        chunk.copy(merged, head.length);
        chunk = merged;
      } else this.client.write(head, 'latin1');
    }
    const ok = typeof chunk === 'string' ? this.client.write(chunk, 'latin1') : this.client.write(chunk);
    if (!ok && this.#up && !this.#upPaused) {
      this.#upPaused = true;
      this.#up.socket.pause();
    }
  }

  #onResponseBytes(ex: Exchange, chunk: Buffer, start: number): void {
    for (;;) {
      if (ex.respPhase === RESP_HEAD) {
        if (start >= chunk.length) return;
        const buf = ex.respBuf === null ? (start === 0 ? chunk : chunk.subarray(start)) : concat(ex.respBuf, chunk.subarray(start));
        const end = findHeadEnd(buf, 0);
        if (end === -1) {
          if (buf.length > MAX_RESPONSE_HEAD) {
            this.#badResponse('response head too large');
            return;
          }
          ex.respBuf = buf;
          return;
        }
        ex.respBuf = null;
        const tHead = performance.now();
        let rh;
        try {
          rh = parseResponseHead(buf.toString('latin1', 0, end - 4), this.#l.runtime.sink.wantsHeaders);
        } catch (err) {
          if (err instanceof HttpParseError) {
            this.#badResponse(err.message);
            return;
          }
          throw err;
        }
        chunk = end === buf.length ? EMPTY : buf.subarray(end);
        start = 0;
        if (rh.status < 200) {
          if (rh.status === 101) {
            if (!ex.head.upgrade) {
              this.#badResponse('101 Switching Protocols without an upgrade request');
              return;
            }
            const out = `HTTP/1.1 101 ${rh.reason}\r\n${rh.fields}connection: upgrade\r\n\r\n`;
            ex.status = 101;
            ex.ttfbMs = tHead - ex.t0;
            ex.respHeadSent = true;
            this.#writeClient(out);
            this.#startTunnel(ex, chunk);
            return;
          }
          // Interim responses (100 Continue, 103 Early Hints) go to HTTP/1.1 clients only
          // (RFC 9110 §15.2: a server must not send 1xx to an HTTP/1.0 client).
          if (ex.head.minor === 1) {
            this.#writeClient(`HTTP/1.1 ${rh.status} ${rh.reason}\r\n${rh.fields}\r\n`);
          }
          continue;
        }
        ex.status = rh.status;
        ex.ttfbMs = tHead - ex.t0;
        ex.respClose = rh.close;
        if (rh.headers) ex.responseHeaders = rh.headers;
        // RFC 9112 §6.3: responses to HEAD, and 204/304, never have a body whatever they say.
        if (ex.head.method === 'HEAD' || rh.status === 204 || rh.status === 304) ex.respFraming = 0;
        else if (rh.chunked) {
          ex.respFraming = 2;
          ex.respScanner = new ChunkedScanner(502);
          ex.dechunk = ex.head.minor === 0; // an HTTP/1.0 client cannot read chunked
        } else if (rh.contentLength >= 0) {
          ex.respFraming = 1;
          ex.respRemaining = rh.contentLength;
        } else ex.respFraming = 3; // close-delimited
        ex.willClose ||= ex.head.close || this.#l.runtime.draining || ex.respFraming === 3 || ex.dechunk || this.#clientEnded;
        let out = `HTTP/1.1 ${rh.status} ${rh.reason}\r\n${rh.fields}`;
        if (ex.respFraming === 2 && !ex.dechunk) out += 'transfer-encoding: chunked\r\n';
        if (ex.willClose) out += 'connection: close\r\n';
        else if (ex.head.minor === 0) out += 'connection: keep-alive\r\n';
        out += '\r\n';
        ex.respHeadSent = true;
        if (this.deadlineKind === 'response') this.#clearDeadline();
        // The head goes out with the first body bytes in one write (one syscall, no writev).
        this.#headOut = out;
        ex.overheadMs += performance.now() - tHead;
        if (ex.respFraming === 0 || (ex.respFraming === 1 && ex.respRemaining === 0)) {
          ex.respPhase = RESP_DONE;
          if (start < chunk.length) ex.respClose = true; // bytes beyond the framed message
        } else {
          ex.respPhase = RESP_BODY;
          this.#forwardResponseBody(ex, chunk, start);
        }
        if (this.#headOut !== null) this.#writeClient(EMPTY);
        break;
      }
      if (ex.respPhase === RESP_BODY) {
        this.#forwardResponseBody(ex, chunk, start);
        break;
      }
      // RESP_DONE and more bytes: the app sent more than it framed; the connection is not reusable.
      if (start < chunk.length) ex.respClose = true;
      break;
    }
    if (ex.respPhase === RESP_DONE && this.#ex === ex) {
      if (ex.reqDone) this.#finishExchange();
      else if (ex.respClose) {
        // Early response and the app will close: the rest of the request body is not wanted.
        ex.willClose = true;
        this.#finishExchange();
      }
    }
  }

  /** Forwards body bytes `chunk[start..]` of the response per its framing; marks RESP_DONE at the end. */
  #forwardResponseBody(ex: Exchange, chunk: Buffer, start: number): void {
    if (start >= chunk.length) return;
    switch (ex.respFraming) {
      case 1: {
        const take = Math.min(ex.respRemaining, chunk.length - start);
        if (take > 0) this.#writeClient(start === 0 && take === chunk.length ? chunk : chunk.subarray(start, start + take));
        if (ex.respSample && ex.respSampled < ex.sample) ex.respSampled = sampleInto(ex.respSample, ex.respSampled, ex.sample, chunk, start, start + take);
        ex.respRemaining -= take;
        ex.respBytes += take;
        if (ex.respRemaining === 0) {
          ex.respPhase = RESP_DONE;
          if (start + take < chunk.length) ex.respClose = true; // extra bytes after the body
        }
        return;
      }
      case 2: {
        const scanner = ex.respScanner!;
        let end: number;
        try {
          const sampling = ex.respSample !== null && ex.respSampled < ex.sample;
          end =
            ex.dechunk || sampling
              ? scanner.scan(chunk, start, (b, bs, be) => {
                  if (ex.dechunk) this.#writeClient(b.subarray(bs, be));
                  if (ex.respSample && ex.respSampled < ex.sample) ex.respSampled = sampleInto(ex.respSample, ex.respSampled, ex.sample, b, bs, be);
                })
              : scanner.scan(chunk, start);
        } catch (err) {
          if (!(err instanceof HttpParseError)) throw err;
          // The response has started: all we can do is cut the client connection, so it
          // cannot mistake a truncated body for a complete one.
          ex.error = 'upstream_bad_response';
          this.#dropUpstream();
          this.#cutClient(ex);
          return;
        }
        if (!ex.dechunk && end > start) this.#writeClient(start === 0 && end === chunk.length ? chunk : chunk.subarray(start, end));
        ex.respBytes = scanner.dataBytes;
        if (scanner.done) {
          ex.respPhase = RESP_DONE;
          if (end < chunk.length) ex.respClose = true;
        }
        return;
      }
      case 3:
        if (ex.respSample && ex.respSampled < ex.sample) ex.respSampled = sampleInto(ex.respSample, ex.respSampled, ex.sample, chunk, start, chunk.length);
        ex.respBytes += chunk.length - start;
        this.#writeClient(start === 0 ? chunk : chunk.subarray(start));
        return;
      default:
        ex.respClose = true;
        return;
    }
  }

  onUpstreamEnd(up: Upstream): void {
    if (up !== this.#up) return;
    switch (this.#phase) {
      case OPAQUE:
      case TUNNEL:
        this.client.end();
        return;
      case DETECT:
        if (!this.#buf || this.#buf.length === 0) {
          // The app closed before anyone spoke; let the client see that.
          this.#up = null;
          up.destroy();
          this.client.end();
        } else up.destroy();
        return;
      default: {
        const ex = this.#ex;
        if (ex && ex.respPhase === RESP_BODY && ex.respFraming === 3) {
          // Close-delimited body (RFC 9112 §6.3 (8)): the close is its end.
          ex.respPhase = RESP_DONE;
          ex.respClose = true;
          this.#up = null;
          up.destroy();
          if (ex.reqDone) this.#finishExchange();
          else {
            ex.willClose = true;
            this.#finishExchange();
          }
          return;
        }
        up.destroy(); // 'close' decides what it means for the exchange
      }
    }
  }

  onUpstreamClose(up: Upstream, err: Error | undefined): void {
    if (up !== this.#up) return;
    this.#up = null;
    this.#upPaused = false;
    if (this.#connectPending) {
      this.#connectPending = false;
      this.#phase = CLOSED;
      this.#setProtocol('opaque');
      this.#proxyErrorRaw(503, 'upstream_refused', `could not connect to ${printable(up.target.key)}`, true);
      this.client.end();
      return;
    }
    if (this.#pausedForUpstream) {
      this.#pausedForUpstream = false;
      if (this.#phase !== CLOSED) this.client.resume();
    }
    switch (this.#phase) {
      case OPAQUE:
      case TUNNEL:
        this.client.end();
        return;
      case CLOSED:
        return;
      default: {
        const ex = this.#ex;
        if (!ex) return; // idle keep-alive connection closed by the app: fine
        if (ex.respPhase === RESP_DONE) return;
        if (ex.respHeadSent) {
          ex.error = ex.error || 'upstream_reset';
          this.#cutClient(ex);
          return;
        }
        // Nothing of the response yet. A keep-alive connection the app closed just as we reused
        // it is a race, not a failure: retry once on a new connection when nothing of the
        // request body was consumed (idempotency is then not a question: the app saw nothing
        // it could have acted on — RFC 9110 §9.2.2 allows automatic retry of such requests).
        if (up.uses > 1 && up.connected && !ex.respStarted && ex.reqFraming === 0 && ex.attempt === 0) {
          ex.attempt++;
          const fresh = this.#l.runtime.pool.acquireFresh(ex.target, this);
          this.#up = fresh;
          fresh.uses++;
          fresh.socket.write(ex.upstreamHead, 'latin1');
          return;
        }
        if (!up.connected) {
          const code = err && 'code' in err ? String(err.code) : '';
          this.#proxyError(503, 'upstream_refused', code === 'ETIMEDOUT' ? 'the app did not accept the connection in time' : 'the app refused the connection');
        } else {
          this.#proxyError(502, 'upstream_reset', 'the app closed the connection before responding');
        }
      }
    }
  }

  // ───────────────────────────── endings ─────────────────────────────

  #finishExchange(): void {
    const ex = this.#ex!;
    this.#ex = null;
    this.#record(ex);
    const up = this.#up;
    if (up && (ex.respClose || ex.respFraming === 3 || ex.error)) {
      this.#up = null;
      up.destroy();
    }
    if (ex.willClose || this.#l.runtime.draining) {
      this.#phase = CLOSED;
      this.#clearDeadline();
      this.client.end();
      this.#releaseUpstream();
      return;
    }
    this.#phase = HEAD;
    this.#setDeadline('idle', this.#l.config.limits.idleTimeoutMs);
    if (this.#pausedForPipeline) {
      this.#pausedForPipeline = false;
      if (!this.#pausedForUpstream) this.client.resume();
    }
    const stash = this.#stash;
    if (stash) {
      this.#stash = null;
      this.#markHeadStart();
      this.#setDeadline('header', this.#l.config.limits.headerTimeoutMs);
      this.#buf = stash;
      this.#processHead();
    }
  }

  #record(ex: Exchange, upgraded = false): void {
    this.#l.runtime.sink.recordRequest(new ExchangeRecord(this.#l.config.direction, ex, upgraded, performance.now()));
  }

  #recordTunnel(): void {
    const ex = this.#tunnelRecord!;
    this.#tunnelRecord = null;
    ex.status = 101;
    this.#record(ex, true);
  }

  /** The response has started and cannot be completed: cut the connection (no silent truncation). */
  #cutClient(ex: Exchange): void {
    this.#ex = null;
    this.#record(ex);
    this.#phase = CLOSED;
    this.client.destroy();
  }

  #badResponse(message: string): void {
    const ex = this.#ex;
    this.#dropUpstream();
    if (ex && ex.respHeadSent) {
      ex.error = 'upstream_bad_response';
      this.#cutClient(ex);
      return;
    }
    this.#proxyError(502, 'upstream_bad_response', `the app sent an invalid response: ${message}`);
  }

  #dropUpstream(): void {
    const up = this.#up;
    if (!up) return;
    this.#up = null;
    up.owner = null;
    up.destroy();
  }

  #releaseUpstream(): void {
    const up = this.#up;
    if (!up) return;
    this.#up = null;
    if (this.#ex || this.#upPaused) up.destroy();
    else this.#l.runtime.pool.release(up);
  }

  /** A proxy-made answer for the current exchange (502/503/504), recorded with its error code. */
  #proxyError(status: number, code: ErrorCode, message: string): void {
    const ex = this.#ex;
    const close = !ex || !ex.reqDone || ex.willClose || ex.head.close || this.#clientEnded || this.#l.runtime.draining;
    if (ex) {
      ex.status = status;
      ex.error = code;
      ex.ttfbMs = performance.now() - ex.t0;
      ex.respPhase = RESP_DONE;
      ex.respHeadSent = true;
      ex.willClose = close;
    }
    this.#proxyErrorRaw(status, code, message, close, ex?.head.method === 'HEAD');
    if (ex) {
      if (ex.reqDone) this.#finishExchange();
      else {
        this.#ex = null;
        this.#record(ex);
        this.#phase = CLOSED;
        this.client.end();
      }
    }
  }

  #proxyErrorRaw(status: number, code: ErrorCode, message: string, close: boolean, headOnly = false): void {
    const body = `skiff: ${message}\n`;
    let out = `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-skiff-error: ${code}\r\n`;
    if (close) out += 'connection: close\r\n';
    out += '\r\n';
    if (!headOnly) out += body;
    if (!this.client.destroyed) this.client.write(out, 'utf8');
  }

  /**
   * Refuses a request the proxy will not forward (malformed, hostile, too slow): a precise
   * status, `x-skiff-error`, a one-line body, `Connection: close` — and nothing reaches the app.
   */
  #reject(status: number, code: ErrorCode, message: string): void {
    const ex = this.#ex;
    this.#ex = null;
    this.#buf = null;
    this.#stash = null;
    this.#clearDeadline();
    this.#setProtocol('http');
    if (ex && ex.respHeadSent) {
      this.#cutClient(ex);
      return;
    }
    this.#proxyErrorRaw(status, code, message, true);
    const now = performance.now();
    this.#l.runtime.sink.recordRequest({
      direction: this.#l.config.direction,
      peer: ex?.peer ?? '',
      method: ex?.head.method ?? '',
      path: ex?.head.path ?? '',
      authority: ex?.head.host ?? '',
      statusCode: status,
      error: code,
      startTime: ex?.startTime ?? (this.#headStartTime || Date.now()),
      durationMs: now - (ex?.t0 ?? (this.#headStart || now)),
      ttfbMs: now - (ex?.t0 ?? (this.#headStart || now)),
      requestBytes: ex?.reqBytes ?? 0,
      responseBytes: 0,
      overheadMs: 0,
      upgraded: false,
      requestId: ex?.requestId ?? '',
      requestHeaders: undefined,
      responseHeaders: undefined,
      requestBody: undefined,
      responseBody: undefined,
    });
    this.#phase = CLOSED;
    this.client.end();
    // Do not read further from a client we refused; give it a moment to read our answer.
    this.client.pause();
    setTimeout(() => this.client.destroy(), 2000).unref();
    if (ex) this.#dropUpstream();
    else this.#releaseUpstream();
  }

  // ───────────────────────────── opaque and tunnels ─────────────────────────────

  #startOpaque(initial: Buffer): void {
    this.#setProtocol('opaque');
    this.#phase = OPAQUE;
    this.#clearDeadline();
    const target = this.#l.config.target;
    if (!this.#up) {
      if (!target) {
        this.client.destroy();
        return;
      }
      this.#up = this.#l.runtime.pool.acquire(target, this);
    }
    this.#peer = this.#up.target.peer;
    if (initial.length > 0 && !this.#up.socket.write(initial)) this.#pauseClientForUpstream();
  }

  #startTunnel(ex: Exchange, rest: Buffer): void {
    // The exchange becomes a tunnel: it is recorded once, when the tunnel closes, with its bytes.
    this.#ex = null;
    this.#phase = TUNNEL;
    this.#clearDeadline();
    ex.reqBytes = 0;
    ex.respBytes = rest.length;
    this.#tunnelRecord = ex;
    if (rest.length > 0) this.#writeClient(rest);
    if (this.#stash) {
      const s = this.#stash;
      this.#stash = null;
      ex.reqBytes += s.length;
      this.#up?.socket.write(s);
    }
    if (this.#pausedForPipeline) {
      this.#pausedForPipeline = false;
      this.client.resume();
    }
  }

  #startConnect(head: RequestHead, rest: Buffer): void {
    const resolved = this.#l.config.resolve?.(head.target, 443);
    if (!resolved || !/^[^/?#\s]+:\d+$/.test(head.target)) {
      this.#reject(400, 'bad_request', 'CONNECT needs host:port');
      return;
    }
    // What flows inside the tunnel is detected like any new connection: TLS stays opaque
    // (counted in skiff_tcp_*), but plain HTTP is parsed and recorded request by request —
    // Node's fetch, with NODE_USE_ENV_PROXY, tunnels even http:// calls through CONNECT.
    this.#peer = resolved.peer;
    this.#connectTarget = resolved;
    this.#headStart = 0;
    this.#headStartTime = 0;
    this.#releaseUpstream();
    this.#up = this.#l.runtime.pool.acquireFresh(resolved, this);
    this.#connectPending = true;
    this.#phase = DETECT;
    this.#setDeadline('idle', this.#l.config.limits.idleTimeoutMs);
    if (rest.length > 0) this.#detect(rest);
  }
}

export type { Direction };
