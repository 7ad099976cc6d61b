/**
 * HTTP/1.x message framing for the byte relay: parse and validate request and response heads,
 * and find body boundaries (Content-Length, chunked, close-delimited) without buffering bodies.
 *
 * Pure functions and small state machines over Buffers: no sockets here. The relay
 * (connection.ts) forwards the original body bytes and uses these only to know where a message
 * ends and what telemetry needs.
 *
 * The parser is deliberately strict where leniency enables request smuggling (RFC 9112 §11.2):
 * bare LF, obs-fold, whitespace before the colon, invalid or duplicate Content-Length,
 * Content-Length with Transfer-Encoding, and bad chunk sizes are all rejected, never "fixed".
 */

/** A request that must be refused with `status` (and the connection closed). */
export class HttpParseError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

// RFC 9110 §5.6.2: token = 1*tchar
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// field-value characters: VCHAR, obs-text, SP, HTAB (RFC 9110 §5.5); anything else (CTLs, NUL) is rejected.
const BAD_VALUE_CHAR = /[\x00-\x08\x0a-\x1f\x7f]/;
// request-target: visible ASCII only (RFC 9112 §3.2; obs-text and spaces are not allowed).
const BAD_TARGET_CHAR = /[^\x21-\x7e]/;
const MAX_METHOD_LENGTH = 32;
// RFC 3986 §3.2.2 host (IP-literal or reg-name; IPv4 is a reg-name syntactically), then an optional port.
const VALID_HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::\d*)?$/;
const MAX_CHUNK_LINE = 4096;

/** Methods we know; unknown tokens are still forwarded (WebDAV, custom verbs). */
export const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

/**
 * Hop-by-hop fields (RFC 9110 §7.6.1): they describe one connection and are never forwarded.
 * Transfer-Encoding is handled separately (we relay chunked bodies as they are).
 */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'upgrade', 'trailer', 'proxy-authorization', 'proxy-authenticate']);

export interface RequestHead {
  method: string;
  /** Request target as received (origin-form, absolute-form, authority-form or `*`). */
  target: string;
  /** Path without query, for telemetry (from any form). */
  path: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: number;
  host: string;
  /** -1 when absent. */
  contentLength: number;
  chunked: boolean;
  /** The client asked to close after this exchange (or is HTTP/1.0 without keep-alive). */
  close: boolean;
  /** Protocol asked for with `Connection: upgrade` + `Upgrade`, else ''. */
  upgrade: string;
  expectContinue: boolean;
  requestId: string;
  forwardedFor: string;
  forwardedProto: string;
  /** `x-skiff-peer` from a meshed caller's sidecar (telemetry only; stripped before the app). */
  peer: string;
  /** Header lines to forward verbatim (hop-by-hop and skiff's own removed). */
  lines: string[];
  /** Lower-cased name → value of forwarded fields (only filled when `collectHeaders`). */
  headers?: Record<string, string>;
}

export interface ResponseHead {
  minor: number;
  status: number;
  reason: string;
  contentLength: number;
  chunked: boolean;
  /** The app will close after this response (Connection: close, or HTTP/1.0 without keep-alive). */
  close: boolean;
  lines: string[];
  headers?: Record<string, string>;
}

export interface HeadLimits {
  maxHeaders: number;
}

function splitHeadLines(head: string, status: number): string[] {
  // RFC 9112 §2.2 allows a bare LF as a line terminator, but a proxy that accepts what its
  // upstream might read differently is a smuggling vector: require CRLF everywhere.
  const lines = head.split('\r\n');
  for (const l of lines) {
    if (l.includes('\n') || l.includes('\r')) throw new HttpParseError(status, 'bare CR or LF in the head');
  }
  return lines;
}

interface FieldScan {
  name: string;
  value: string;
}

function scanField(line: string, status: number): FieldScan {
  const colon = line.indexOf(':');
  if (colon <= 0) throw new HttpParseError(status, line.length && (line[0] === ' ' || line[0] === '\t') ? 'obsolete line folding is not allowed' : 'header line without a name');
  const name = line.slice(0, colon);
  // RFC 9112 §5.1: no whitespace between the field name and the colon → 400.
  if (!TOKEN.test(name)) throw new HttpParseError(status, `invalid header name "${printable(name)}"`);
  const value = line.slice(colon + 1).trim();
  if (BAD_VALUE_CHAR.test(value)) throw new HttpParseError(status, `invalid character in header ${printable(name)}`);
  return { name, value };
}

/** For messages: never echo raw control characters or long strings back. */
export function printable(s: string): string {
  const t = s.replace(/[^\x20-\x7e]/g, '?');
  return t.length > 40 ? `${t.slice(0, 40)}…` : t;
}

function parseContentLength(value: string, prev: number, status: number): number {
  // RFC 9112 §6.3 (5): an invalid Content-Length is an unrecoverable framing error. We also
  // refuse repeated values (even equal ones): the issue treats duplicates as hostile.
  if (prev !== -1) throw new HttpParseError(status, 'duplicate Content-Length');
  if (!/^\d{1,15}$/.test(value)) throw new HttpParseError(status, 'invalid Content-Length');
  return Number(value);
}

/** Fields named in Connection are hop-by-hop too (RFC 9110 §7.6.1): drop them from `kept`/`headers`. */
function removeConnectionNamed(connection: string, kept: string[], headers: Record<string, string> | undefined): void {
  if (!connection) return;
  const named = connection.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t && t !== 'close' && t !== 'keep-alive' && t !== 'upgrade');
  if (named.length === 0) return;
  for (let i = kept.length - 1; i >= 0; i--) {
    const n = kept[i]!.slice(0, kept[i]!.indexOf(':')).toLowerCase();
    if (named.includes(n)) {
      kept.splice(i, 1);
      if (headers) Reflect.deleteProperty(headers, n);
    }
  }
}

function hasToken(list: string, token: string): boolean {
  for (const part of list.split(',')) if (part.trim().toLowerCase() === token) return true;
  return false;
}

/**
 * Parses a request head (without the final CRLF CRLF). Throws HttpParseError with the status
 * to answer: 400 malformed, 431 too many fields, 501 unsupported transfer coding,
 * 505 unsupported version.
 */
export function parseRequestHead(head: string, limits: HeadLimits, collectHeaders = false): RequestHead {
  const lines = splitHeadLines(head, 400);
  const requestLine = lines[0] ?? '';
  // RFC 9112 §3: method SP request-target SP HTTP-version, single spaces.
  const sp1 = requestLine.indexOf(' ');
  const sp2 = requestLine.lastIndexOf(' ');
  if (sp1 <= 0 || sp2 === sp1) throw new HttpParseError(400, 'malformed request line');
  const method = requestLine.slice(0, sp1);
  const target = requestLine.slice(sp1 + 1, sp2);
  const version = requestLine.slice(sp2 + 1);
  if (method.length > MAX_METHOD_LENGTH || !TOKEN.test(method)) throw new HttpParseError(400, 'invalid method');
  if (target.length === 0 || BAD_TARGET_CHAR.test(target)) throw new HttpParseError(400, 'invalid request target');
  let minor: number;
  if (version === 'HTTP/1.1') minor = 1;
  else if (version === 'HTTP/1.0') minor = 0;
  else if (/^HTTP\/\d\.\d$/.test(version)) throw new HttpParseError(505, `HTTP version ${version.slice(5)} is not supported`);
  else throw new HttpParseError(400, 'malformed request line');

  if (lines.length - 1 > limits.maxHeaders) throw new HttpParseError(431, `more than ${limits.maxHeaders} header fields`);

  let host = '';
  let hostCount = 0;
  let contentLength = -1;
  let transferEncoding = '';
  let teCount = 0;
  let connection = '';
  let upgradeValue = '';
  let expect = '';
  let requestId = '';
  let forwardedFor = '';
  let forwardedProto = '';
  let peer = '';
  const kept: string[] = [];
  const headers: Record<string, string> | undefined = collectHeaders ? {} : undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const { name, value } = scanField(line, 400);
    const lower = name.toLowerCase();
    switch (lower) {
      case 'host':
        hostCount++;
        host = value;
        break;
      case 'content-length':
        contentLength = parseContentLength(value, contentLength, 400);
        break;
      case 'transfer-encoding':
        teCount++;
        transferEncoding = value;
        continue; // re-added in normalised form below
      case 'connection':
        connection = connection ? `${connection},${value}` : value;
        continue;
      case 'upgrade':
        upgradeValue = value;
        continue;
      case 'expect':
        expect = value;
        break;
      case 'x-request-id':
        requestId = value;
        break;
      case 'x-forwarded-for':
        forwardedFor = forwardedFor ? `${forwardedFor}, ${value}` : value;
        continue; // re-added with the client appended
      case 'x-forwarded-proto':
        forwardedProto = value;
        break;
      case 'x-skiff-peer':
        peer = value.slice(0, 128);
        continue;
      default:
        if (HOP_BY_HOP.has(lower)) continue;
    }
    kept.push(line);
    if (headers) headers[lower] = headers[lower] === undefined ? value : `${headers[lower]}, ${value}`;
  }

  // RFC 9112 §3.2: a server MUST respond 400 to an HTTP/1.1 request that lacks Host or has
  // more than one.
  if (minor === 1 && hostCount !== 1) throw new HttpParseError(400, hostCount === 0 ? 'missing Host header' : 'more than one Host header');
  if (hostCount > 1) throw new HttpParseError(400, 'more than one Host header');
  // RFC 9112 §3.2: Host = uri-host [ ":" port ]; an invalid field value MUST get a 400.
  if (hostCount === 1 && !VALID_HOST.test(host)) throw new HttpParseError(400, 'invalid Host header');

  let chunked = false;
  if (teCount > 0) {
    // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing.
    if (minor === 0) throw new HttpParseError(400, 'Transfer-Encoding in an HTTP/1.0 request');
    if (teCount > 1) throw new HttpParseError(400, 'duplicate Transfer-Encoding');
    // RFC 9112 §6.1: CL with TE is a smuggling signature; we refuse rather than pick one.
    if (contentLength !== -1) throw new HttpParseError(400, 'both Content-Length and Transfer-Encoding');
    if (transferEncoding.toLowerCase() !== 'chunked') {
      // RFC 9112 §6.1: chunked must be final; other codings we do not implement → 501.
      // RFC 9112 §6.3 (4): chunked not the final coding of a request → 400.
      const codings = transferEncoding.split(',').map((t) => t.trim().toLowerCase());
      if (codings[codings.length - 1] !== 'chunked') throw new HttpParseError(400, 'chunked is not the final transfer coding');
      throw new HttpParseError(501, `transfer coding "${printable(transferEncoding)}" is not supported`);
    }
    chunked = true;
    kept.push('transfer-encoding: chunked');
  }

  let close = minor === 0 ? !hasToken(connection, 'keep-alive') : hasToken(connection, 'close');
  let upgrade = '';
  if (upgradeValue && hasToken(connection, 'upgrade') && minor === 1) upgrade = upgradeValue;
  removeConnectionNamed(connection, kept, headers);
  if (method === 'CONNECT') close = false;

  const q = target.indexOf('?');
  let path = q === -1 ? target : target.slice(0, q);
  if (path[0] !== '/' && path !== '*') {
    // absolute-form: scheme://authority/path → /path
    const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/]*(\/.*)?$/.exec(path);
    path = m ? (m[1] ?? '/') : path;
  }

  return {
    method,
    target,
    path,
    minor,
    host,
    contentLength,
    chunked,
    close,
    upgrade,
    expectContinue: expect.toLowerCase() === '100-continue',
    requestId,
    forwardedFor,
    forwardedProto,
    peer,
    lines: kept,
    ...(headers ? { headers } : {}),
  };
}

/** Parses a response head (without the final CRLF CRLF). Throws HttpParseError(502) when invalid. */
export function parseResponseHead(head: string, collectHeaders = false): ResponseHead {
  const lines = splitHeadLines(head, 502);
  const statusLine = lines[0] ?? '';
  const m = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/.exec(statusLine);
  if (!m) throw new HttpParseError(502, 'malformed status line');
  const minor = Number(m[1]);
  const status = Number(m[2]);
  if (status < 100) throw new HttpParseError(502, 'invalid status code');
  const reason = m[3] ?? '';
  if (BAD_VALUE_CHAR.test(reason)) throw new HttpParseError(502, 'invalid reason phrase');
  let contentLength = -1;
  let te = '';
  let teCount = 0;
  let connection = '';
  const kept: string[] = [];
  const headers: Record<string, string> | undefined = collectHeaders ? {} : undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const { name, value } = scanField(line, 502);
    const lower = name.toLowerCase();
    if (lower === 'content-length') {
      // Responses: identical repeated values are common from some frameworks; RFC 9110 §8.6
      // lets a recipient collapse them. Different values are fatal.
      if (contentLength !== -1) {
        if (String(contentLength) !== value) throw new HttpParseError(502, 'conflicting Content-Length in response');
        continue;
      }
      contentLength = parseContentLength(value, -1, 502);
    } else if (lower === 'transfer-encoding') {
      teCount++;
      te = value;
      continue;
    } else if (lower === 'connection') {
      connection = connection ? `${connection},${value}` : value;
      continue;
    } else if (HOP_BY_HOP.has(lower) && (lower !== 'upgrade' || status !== 101)) {
      continue;
    }
    kept.push(line);
    if (headers) headers[lower] = headers[lower] === undefined ? value : `${headers[lower]}, ${value}`;
  }
  let chunked = false;
  if (teCount > 0) {
    if (teCount > 1 || !hasToken(te, 'chunked') || te.toLowerCase().trim() !== 'chunked') {
      // We relay bodies without decoding them; only plain chunked framing is understood.
      if (!hasToken(te, 'chunked')) throw new HttpParseError(502, 'response Transfer-Encoding without chunked');
      throw new HttpParseError(502, 'unsupported response transfer coding');
    }
    chunked = true;
    // RFC 9112 §6.3: when both are present, Transfer-Encoding wins and CL must be dropped.
    if (contentLength !== -1) {
      contentLength = -1;
      for (let i = kept.length - 1; i >= 0; i--) if (/^content-length:/i.test(kept[i]!)) kept.splice(i, 1);
    }
  }
  const close = minor === 0 ? !hasToken(connection, 'keep-alive') : hasToken(connection, 'close');
  removeConnectionNamed(connection, kept, headers);
  return { minor, status, reason, contentLength, chunked, close, lines: kept, ...(headers ? { headers } : {}) };
}

/**
 * Streaming chunked-body scanner (RFC 9112 §7.1). Feed it bytes; it reports how many belong to
 * the body (so the relay forwards exactly those), the payload (data) byte count, and when the
 * body (including trailers) is complete. It validates chunk sizes and CRLFs as it goes.
 *
 * `onData` (optional) receives the chunk-data slices, for relays that must de-chunk (an
 * HTTP/1.0 client) or sample bodies.
 */
export class ChunkedScanner {
  // States: size line, data, CRLF after data, trailer lines, done.
  #state: 0 | 1 | 2 | 3 | 4 = 0;
  #line = '';
  #remaining = 0;
  #crlfSeen = 0;
  #trailerBytes = 0;
  /** Payload bytes seen so far (excluding framing). */
  dataBytes = 0;
  readonly #status: number;
  readonly #maxTrailerBytes: number;

  constructor(errorStatus: number, maxTrailerBytes = 16384) {
    this.#status = errorStatus;
    this.#maxTrailerBytes = maxTrailerBytes;
  }

  get done(): boolean {
    return this.#state === 4;
  }

  /** True once the first chunk-size line has been read and validated. */
  get started(): boolean {
    return this.#state !== 0 || this.dataBytes > 0;
  }

  /**
   * Consumes from `buf[start..]`; returns the index just past the last body byte consumed
   * (== buf.length unless the body ended inside `buf`). Throws HttpParseError on bad framing.
   */
  scan(buf: Buffer, start: number, onData?: (b: Buffer, s: number, e: number) => void): number {
    let i = start;
    const n = buf.length;
    while (i < n) {
      switch (this.#state) {
        case 0: {
          // chunk-size [ chunk-ext ] CRLF
          const nl = buf.indexOf(10, i);
          const end = nl === -1 ? n : nl + 1;
          if (this.#line.length + (end - i) > MAX_CHUNK_LINE) throw new HttpParseError(this.#status, 'chunk size line too long');
          this.#line += buf.toString('latin1', i, end);
          i = end;
          if (nl === -1) break;
          const line = this.#line;
          this.#line = '';
          if (!line.endsWith('\r\n')) throw new HttpParseError(this.#status, 'chunk size line not ended by CRLF');
          const m = /^([0-9a-fA-F]{1,12})(?:[ \t]*;[^\r\n]*)?\r\n$/.exec(line);
          if (!m) throw new HttpParseError(this.#status, 'invalid chunk size');
          const size = parseInt(m[1]!, 16);
          if (size === 0) {
            this.#state = 3;
            this.#line = '';
          } else {
            this.#remaining = size;
            this.#state = 1;
          }
          break;
        }
        case 1: {
          const take = Math.min(this.#remaining, n - i);
          if (onData) onData(buf, i, i + take);
          i += take;
          this.#remaining -= take;
          this.dataBytes += take;
          if (this.#remaining === 0) {
            this.#state = 2;
            this.#crlfSeen = 0;
          }
          break;
        }
        case 2: {
          const expected = this.#crlfSeen === 0 ? 13 : 10;
          if (buf[i] !== expected) throw new HttpParseError(this.#status, 'chunk data not followed by CRLF');
          i++;
          if (++this.#crlfSeen === 2) this.#state = 0;
          break;
        }
        case 3: {
          // trailer-section CRLF: lines until an empty one.
          const nl = buf.indexOf(10, i);
          const end = nl === -1 ? n : nl + 1;
          this.#trailerBytes += end - i;
          if (this.#trailerBytes > this.#maxTrailerBytes) throw new HttpParseError(this.#status, 'trailers too large');
          this.#line += buf.toString('latin1', i, end);
          i = end;
          if (nl === -1) break;
          const line = this.#line;
          this.#line = '';
          if (!line.endsWith('\r\n')) throw new HttpParseError(this.#status, 'trailer line not ended by CRLF');
          if (line === '\r\n') {
            this.#state = 4;
            return i;
          }
          scanField(line.slice(0, -2), this.#status);
          break;
        }
        case 4:
          return i;
      }
    }
    return i;
  }
}

/** Finds the end of a head (index just past CRLF CRLF) in `buf`, searching from `from`. -1 if absent. */
export function findHeadEnd(buf: Buffer, from: number): number {
  const i = buf.indexOf('\r\n\r\n', Math.max(0, from), 'latin1');
  return i === -1 ? -1 : i + 4;
}

/**
 * Decides, from the first bytes a client sent, whether the connection speaks HTTP/1.x.
 * Returns 'http', 'opaque', or 'more' (need more bytes to decide). HTTP is recognised by a
 * known method followed by a space, or a first line ending in ` HTTP/d.d`, so that malformed
 * HTTP is still treated as HTTP (and refused) rather than passed through as opaque bytes.
 * `HTTP/2` prior knowledge (`PRI * HTTP/2.0`) is relayed as opaque TCP.
 */
export function detectProtocol(buf: Buffer, maxLine: number): 'http' | 'opaque' | 'more' {
  // RFC 9112 §2.2: servers SHOULD ignore empty lines before the request-line (node:http does).
  let start = 0;
  while (buf[start] === 13 && (buf[start + 1] === 10 || start + 1 === buf.length)) start += 2;
  if (start > 0) buf = buf.subarray(Math.min(start, buf.length));
  const first = buf[0];
  if (first === undefined) return 'more';
  // Every method starts with a letter; binary protocols (TLS 0x16, MySQL, Postgres…) do not.
  if (!((first >= 65 && first <= 90) || (first >= 97 && first <= 122))) return 'opaque';
  const nl = buf.indexOf(10);
  let sp = buf.indexOf(32);
  const tab = buf.indexOf(9);
  if (tab !== -1 && (sp === -1 || tab < sp)) sp = tab;
  if (sp > 0 && sp <= MAX_METHOD_LENGTH) {
    const method = buf.toString('latin1', 0, sp);
    if (KNOWN_METHODS.has(method)) return 'http';
  }
  if (nl === -1) {
    // A method-like token, a space, then a line beyond the limit: an oversized request line.
    if (buf.length >= maxLine) return /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,32} /.test(buf.toString('latin1', 0, 40)) ? 'http' : 'opaque';
    // A prefix that cannot become a method or a request line → decide now, no stall.
    const upto = Math.min(buf.length, MAX_METHOD_LENGTH + 1);
    for (let i = 0; i < upto; i++) {
      const c = buf[i]!;
      if (c === 32) return 'more';
      if (c < 33 || c > 126) return 'opaque';
    }
    return 'more';
  }
  const line = buf.toString('latin1', 0, nl).replace(/\r$/, '');
  const m = /[ \t]HTTP\/(\d)\.(\d)$/.exec(line);
  if (!m) return 'opaque';
  if (m[1] === '2') return 'opaque';
  return 'http';
}
