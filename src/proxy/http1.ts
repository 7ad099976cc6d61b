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
// field-value characters: VCHAR, obs-text, SP, HTAB (RFC 9110 §5.5); anything else (CTLs, NUL) is rejected.
// (Checked with loops, not regexes: a regex test per field was ~1% of the sidecar's CPU.)
const MAX_METHOD_LENGTH = 32;
const MAX_CHUNK_LINE = 4096;

/** Methods we know; unknown tokens are still forwarded (WebDAV, custom verbs). */
export const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

/**
 * Hop-by-hop fields (RFC 9110 §7.6.1) describe one connection and are never forwarded:
 * connection, keep-alive, proxy-connection, te, upgrade, trailer, proxy-authorization and
 * proxy-authenticate (see fieldKind). Transfer-Encoding is handled separately (we relay
 * chunked bodies as they are).
 */

export interface RequestHead {
  method: string;
  /** Request target as received (origin-form, absolute-form, authority-form or `*`). */
  target: string;
  /** Path without query, for telemetry (from any form). */
  path: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: number;
  host: string;
  hasHost: boolean;
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
  /**
   * The header lines to forward verbatim, each ending in CRLF (hop-by-hop and skiff's own
   * removed). Kept as one string: in the common case it is a slice of the received head.
   */
  fields: string;
  /** Lower-cased name → value of forwarded fields (only filled when `collectHeaders`). */
  headers?: Record<string, string>;
}

/**
 * What parseRequestHead returns: a class, so that every head has one shape and is allocated
 * inline (a 16-property object literal is copied from a boilerplate by the runtime).
 */
class ParsedRequestHead implements RequestHead {
  method = '';
  target = '';
  path = '';
  minor = 1;
  host = '';
  hasHost = false;
  contentLength = -1;
  chunked = false;
  close = false;
  upgrade = '';
  expectContinue = false;
  requestId = '';
  forwardedFor = '';
  forwardedProto = '';
  peer = '';
  fields = '';
  headers: Record<string, string> | undefined = undefined;
}

export interface ResponseHead {
  minor: number;
  status: number;
  reason: string;
  contentLength: number;
  chunked: boolean;
  /** The app will close after this response (Connection: close, or HTTP/1.0 without keep-alive). */
  close: boolean;
  /** Header lines to forward, each ending in CRLF. */
  fields: string;
  headers?: Record<string, string>;
}

/** The lines of a `fields` string (for tests and tools; the relay uses `fields` as it is). */
export function fieldLines(fields: string): string[] {
  return fields === '' ? [] : fields.slice(0, -2).split('\r\n');
}

export interface HeadLimits {
  maxHeaders: number;
}

// One pass over a header section for control characters other than HTAB, CR and LF; bare CR
// or LF are found line by line in walkFields. (One regex with look-arounds for both was a
// quarter of the parse time.)
/** tchar (RFC 9110 §5.6.2) as a lookup table: name checks are a loop, not a regex. */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;

/** request-target: visible ASCII only (RFC 9112 §3.2; obs-text and spaces are not allowed). */
function isVisibleAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

/** A field value or reason phrase: no control characters other than HTAB (RFC 9110 §5.5). */
function hasBadValueChar(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 9) || c === 0x7f) return true;
  }
  return false;
}

/** reg-name characters of RFC 3986 §3.2.2: unreserved, sub-delims and `%`. */
const REG_NAME = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=%") REG_NAME[c.charCodeAt(0)] = 1;

/** RFC 3986 §3.2.2 host (IP-literal or reg-name; IPv4 is a reg-name syntactically), then an optional `:port`. */
export function isValidHost(h: string): boolean {
  const n = h.length;
  let i = 0;
  if (n > 0 && h.charCodeAt(0) === 91) {
    // IP-literal: [ hex digits, ':' and '.' ]
    i = 1;
    for (; i < n; i++) {
      const c = h.charCodeAt(i);
      if (c === 93) break;
      const ok = (c >= 48 && c <= 58) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102) || c === 46;
      if (!ok) return false;
    }
    if (i === n || i === 1) return false;
    i++;
  } else {
    for (; i < n; i++) {
      const c = h.charCodeAt(i);
      if (c === 58) break;
      if (c > 127 || REG_NAME[c] === 0) return false;
    }
  }
  if (i === n) return true;
  if (h.charCodeAt(i) !== 58) return false;
  for (i++; i < n; i++) {
    const c = h.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** True when s[from..to) is a non-empty token. */
export function isToken(s: string, from: number, to: number): boolean {
  if (from >= to) return false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || TCHAR[c] === 0) return false;
  }
  return true;
}

/** Case-insensitive comparison of `s[at..at+lower.length)` with an all-lowercase token. */
function nameIs(s: string, at: number, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) {
    if ((s.charCodeAt(at + i) | 0x20) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** Which field a name is, by length then letters, without allocating the name. */
const enum_ = {
  OTHER: 0,
  HOST: 1,
  CONTENT_LENGTH: 2,
  TRANSFER_ENCODING: 3,
  CONNECTION: 4,
  UPGRADE: 5,
  EXPECT: 6,
  REQUEST_ID: 7,
  FORWARDED_FOR: 8,
  FORWARDED_PROTO: 9,
  SKIFF_PEER: 10,
  HOP: 11,
} as const;
type FieldKind = (typeof enum_)[keyof typeof enum_];

function fieldKind(s: string, at: number, len: number): FieldKind {
  switch (len) {
    case 2:
      return nameIs(s, at, 'te') ? enum_.HOP : enum_.OTHER;
    case 4:
      return nameIs(s, at, 'host') ? enum_.HOST : enum_.OTHER;
    case 6:
      return nameIs(s, at, 'expect') ? enum_.EXPECT : enum_.OTHER;
    case 7:
      return nameIs(s, at, 'upgrade') ? enum_.UPGRADE : nameIs(s, at, 'trailer') ? enum_.HOP : enum_.OTHER;
    case 10:
      return nameIs(s, at, 'connection') ? enum_.CONNECTION : nameIs(s, at, 'keep-alive') ? enum_.HOP : enum_.OTHER;
    case 12:
      return nameIs(s, at, 'x-request-id') ? enum_.REQUEST_ID : nameIs(s, at, 'x-skiff-peer') ? enum_.SKIFF_PEER : enum_.OTHER;
    case 14:
      return nameIs(s, at, 'content-length') ? enum_.CONTENT_LENGTH : enum_.OTHER;
    case 15:
      return nameIs(s, at, 'x-forwarded-for') ? enum_.FORWARDED_FOR : enum_.OTHER;
    case 16:
      return nameIs(s, at, 'proxy-connection') ? enum_.HOP : enum_.OTHER;
    case 17:
      return nameIs(s, at, 'transfer-encoding') ? enum_.TRANSFER_ENCODING : nameIs(s, at, 'x-forwarded-proto') ? enum_.FORWARDED_PROTO : enum_.OTHER;
    case 18:
      return nameIs(s, at, 'proxy-authenticate') ? enum_.HOP : enum_.OTHER;
    case 19:
      return nameIs(s, at, 'proxy-authorization') ? enum_.HOP : enum_.OTHER;
    default:
      return enum_.OTHER;
  }
}

/**
 * Walks the header lines of `head` from `pos` (just after the start line's CRLF), validating
 * each name (RFC 9110 §5.6.2 token, no whitespace before the colon — RFC 9112 §5.1, no obs-fold
 * — RFC 9112 §5.2) and calling `visit(kind, valueStart, lineStart, lineEnd)`; `visit` returns
 * true to keep the line in the forwarded fields. Returns the kept lines, each ending in CRLF.
 */
function walkFields(head: string, pos: number, status: number, maxFields: number, visit: (kind: FieldKind, colon: number, lineStart: number, lineEnd: number) => boolean): string {
  // One pass over the characters, no regex and no per-line searches: a request head costs a few
  // instructions per byte (a regex plus four indexOf calls per line cost several times that).
  let fields = '';
  let runStart = pos;
  let count = 0;
  const n = head.length;
  while (pos < n) {
    if (++count > maxFields) throw new HttpParseError(431, `more than ${maxFields} header fields`);
    let c = head.charCodeAt(pos);
    if (c === 32 || c === 9) throw new HttpParseError(status, 'obsolete line folding is not allowed');
    // field-name = token, then ":" with no whitespace before it (RFC 9112 §5.1).
    let i = pos;
    while (i < n) {
      c = head.charCodeAt(i);
      if (c > 127 || TCHAR[c] === 0) break;
      i++;
    }
    if (c !== 58 || i === pos || i === n) {
      if (c === 13 || c === 10 || i === n) throw new HttpParseError(status, 'header line without a name');
      throw new HttpParseError(status, `invalid header name "${printable(head.slice(pos, head.indexOf(':', pos) === -1 ? i + 1 : head.indexOf(':', pos)))}"`);
    }
    const colon = i;
    // field-value: VCHAR, obs-text, SP, HTAB up to CRLF (RFC 9110 §5.5). A bare CR or LF is
    // refused: RFC 9112 §2.2 allows a bare LF, but a proxy that accepts what its upstream might
    // read differently is a smuggling vector.
    for (i = colon + 1; i < n; i++) {
      c = head.charCodeAt(i);
      if (c < 32 || c === 127) {
        if (c === 9) continue;
        if (c === 13) break;
        if (c === 10) throw new HttpParseError(status, 'bare CR or LF in the head');
        throw new HttpParseError(status, `invalid character in header ${printable(head.slice(pos, colon))}`);
      }
    }
    const eol = i;
    if (eol < n && head.charCodeAt(eol + 1) !== 10) throw new HttpParseError(status, 'bare CR or LF in the head');
    if (!visit(fieldKind(head, pos, colon - pos), colon, pos, eol)) {
      // Drop this line: flush the run of kept lines before it.
      if (pos > runStart) fields += head.slice(runStart, pos);
      runStart = eol + 2;
    }
    pos = eol + 2;
  }
  if (runStart < n) fields += head.slice(runStart, n) + '\r\n';
  return fields;
}

/** Validates one field line on its own (a trailer). */
function checkFieldLine(line: string, status: number): void {
  walkFields(line, 0, status, 1, () => true);
}

/** The trimmed value of a line whose colon is at `colon`. */
function valueOf(head: string, colon: number, eol: number): string {
  return head.slice(colon + 1, eol).trim();
}

/** Lower-cased name → value map of `fields` (for taps: off the fast path). */
function collect(fields: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of fieldLines(fields)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return headers;
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
  const n = value.length;
  if (n === 0 || n > 15) throw new HttpParseError(status, 'invalid Content-Length');
  let v = 0;
  for (let i = 0; i < n; i++) {
    const d = value.charCodeAt(i) - 48;
    if (d < 0 || d > 9) throw new HttpParseError(status, 'invalid Content-Length');
    v = v * 10 + d;
  }
  return v;
}

/** Fields named in Connection are hop-by-hop too (RFC 9110 §7.6.1): drops them from `fields`. */
function removeConnectionNamed(connection: string, fields: string): string {
  if (!connection) return fields;
  const lower = connection.length <= 10 ? connection.toLowerCase() : '';
  if (lower === 'close' || lower === 'keep-alive' || lower === 'upgrade') return fields; // the usual values name nothing
  const named = connection.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t && t !== 'close' && t !== 'keep-alive' && t !== 'upgrade');
  if (named.length === 0) return fields;
  let out = '';
  for (const line of fieldLines(fields)) if (!named.includes(line.slice(0, line.indexOf(':')).toLowerCase())) out += line + '\r\n';
  return out;
}

function hasToken(list: string, token: string): boolean {
  if (list === '') return false;
  // The usual case: a single value, compared without splitting.
  if (list.indexOf(',') === -1) return list.length === token.length ? nameIs(list, 0, token) : list.trim().toLowerCase() === token;
  for (const part of list.split(',')) if (part.trim().toLowerCase() === token) return true;
  return false;
}

/**
 * Parses a request head (without the final CRLF CRLF). Throws HttpParseError with the status
 * to answer: 400 malformed, 431 too many fields, 501 unsupported transfer coding,
 * 505 unsupported version.
 */
export function parseRequestHead(head: string, limits: HeadLimits, collectHeaders = false): RequestHead {
  let lineEnd = head.indexOf('\r\n');
  if (lineEnd === -1) lineEnd = head.length;
  const requestLine = head.slice(0, lineEnd);
  if (requestLine.includes('\n') || requestLine.includes('\r')) throw new HttpParseError(400, 'bare CR or LF in the head');
  // RFC 9112 §3: method SP request-target SP HTTP-version, single spaces.
  const sp1 = requestLine.indexOf(' ');
  const sp2 = requestLine.lastIndexOf(' ');
  if (sp1 <= 0 || sp2 === sp1) throw new HttpParseError(400, 'malformed request line');
  const method = requestLine.slice(0, sp1);
  const target = requestLine.slice(sp1 + 1, sp2);
  const version = requestLine.slice(sp2 + 1);
  if (sp1 > MAX_METHOD_LENGTH || !isToken(requestLine, 0, sp1)) throw new HttpParseError(400, 'invalid method');
  if (target.length === 0 || !isVisibleAscii(target)) throw new HttpParseError(400, 'invalid request target');
  let minor: number;
  if (version === 'HTTP/1.1') minor = 1;
  else if (version === 'HTTP/1.0') minor = 0;
  else if (/^HTTP\/\d\.\d$/.test(version)) throw new HttpParseError(505, `HTTP version ${version.slice(5)} is not supported`);
  else throw new HttpParseError(400, 'malformed request line');

  const fieldsStart = Math.min(lineEnd + 2, head.length);
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
  let fields = walkFields(head, fieldsStart, 400, limits.maxHeaders, (kind, colon, _start, eol) => {
    switch (kind) {
      case enum_.OTHER:
        return true;
      case enum_.HOST:
        hostCount++;
        host = valueOf(head, colon, eol);
        return true;
      case enum_.CONTENT_LENGTH:
        contentLength = parseContentLength(valueOf(head, colon, eol), contentLength, 400);
        return true;
      case enum_.TRANSFER_ENCODING:
        teCount++;
        transferEncoding = valueOf(head, colon, eol);
        return false; // re-added in normalised form below
      case enum_.CONNECTION: {
        const v = valueOf(head, colon, eol);
        connection = connection ? `${connection},${v}` : v;
        return false;
      }
      case enum_.UPGRADE:
        upgradeValue = valueOf(head, colon, eol);
        return false;
      case enum_.EXPECT:
        expect = valueOf(head, colon, eol);
        return true;
      case enum_.REQUEST_ID:
        requestId = valueOf(head, colon, eol);
        return true;
      case enum_.FORWARDED_FOR: {
        const v = valueOf(head, colon, eol);
        forwardedFor = forwardedFor ? `${forwardedFor}, ${v}` : v;
        return false; // re-added with the client appended
      }
      case enum_.FORWARDED_PROTO:
        forwardedProto = valueOf(head, colon, eol);
        return true;
      case enum_.SKIFF_PEER:
        peer = valueOf(head, colon, eol).slice(0, 128);
        return false;
      default:
        return false; // hop-by-hop
    }
  });

  // RFC 9112 §3.2: a server MUST respond 400 to an HTTP/1.1 request that lacks Host or has
  // more than one.
  if (minor === 1 && hostCount !== 1) throw new HttpParseError(400, hostCount === 0 ? 'missing Host header' : 'more than one Host header');
  if (hostCount > 1) throw new HttpParseError(400, 'more than one Host header');
  // RFC 9112 §3.2: Host = uri-host [ ":" port ]; an invalid field value MUST get a 400.
  if (hostCount === 1 && !isValidHost(host)) throw new HttpParseError(400, 'invalid Host header');

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
    fields += 'transfer-encoding: chunked\r\n';
  }

  let close = minor === 0 ? !hasToken(connection, 'keep-alive') : hasToken(connection, 'close');
  let upgrade = '';
  if (upgradeValue && hasToken(connection, 'upgrade') && minor === 1) upgrade = upgradeValue;
  fields = removeConnectionNamed(connection, fields);
  if (method === 'CONNECT') close = false;

  const q = target.indexOf('?');
  let path = q === -1 ? target : target.slice(0, q);
  if (path.charCodeAt(0) !== 47 && path !== '*') {
    // absolute-form: scheme://authority/path → /path
    const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/]*(\/.*)?$/.exec(path);
    path = m ? (m[1] ?? '/') : path;
  }

  const result = new ParsedRequestHead();
  result.method = method;
  result.target = target;
  result.path = path;
  result.minor = minor;
  result.host = host;
  result.hasHost = hostCount === 1;
  result.contentLength = contentLength;
  result.chunked = chunked;
  result.close = close;
  result.upgrade = upgrade;
  result.expectContinue = expect.length === 12 && expect.toLowerCase() === '100-continue';
  result.requestId = requestId;
  result.forwardedFor = forwardedFor;
  result.forwardedProto = forwardedProto;
  result.peer = peer;
  result.fields = fields;
  if (collectHeaders) result.headers = collect(fields);
  return result;
}

/** Parses a response head (without the final CRLF CRLF). Throws HttpParseError(502) when invalid. */
export function parseResponseHead(head: string, collectHeaders = false): ResponseHead {
  let lineEnd = head.indexOf('\r\n');
  if (lineEnd === -1) lineEnd = head.length;
  const statusLine = head.slice(0, lineEnd);
  if (statusLine.includes('\n') || statusLine.includes('\r')) throw new HttpParseError(502, 'bare CR or LF in the head');
  // RFC 9112 §4: HTTP-version SP 3DIGIT SP [ reason-phrase ] — read by position, no regex.
  const d = (i: number): number => statusLine.charCodeAt(i) - 48;
  const minor = d(7);
  if (!statusLine.startsWith('HTTP/1.') || (minor !== 0 && minor !== 1) || statusLine.charCodeAt(8) !== 32) throw new HttpParseError(502, 'malformed status line');
  const d1 = d(9);
  const d2 = d(10);
  const d3 = d(11);
  if (!(d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9 && d3 >= 0 && d3 <= 9) || (statusLine.length > 12 && statusLine.charCodeAt(12) !== 32)) {
    throw new HttpParseError(502, 'malformed status line');
  }
  const status = d1 * 100 + d2 * 10 + d3;
  if (status < 100) throw new HttpParseError(502, 'invalid status code');
  const reason = statusLine.length > 13 ? statusLine.slice(13) : '';
  if (hasBadValueChar(reason)) throw new HttpParseError(502, 'invalid reason phrase');
  const fieldsStart = Math.min(lineEnd + 2, head.length);
  let contentLength = -1;
  let te = '';
  let teCount = 0;
  let connection = '';
  let fields = walkFields(head, fieldsStart, 502, Infinity, (kind, colon, _start, eol) => {
    switch (kind) {
      case enum_.OTHER:
      case enum_.HOST:
      case enum_.EXPECT:
      case enum_.REQUEST_ID:
      case enum_.FORWARDED_FOR:
      case enum_.FORWARDED_PROTO:
      case enum_.SKIFF_PEER:
        return true;
      case enum_.CONTENT_LENGTH: {
        // Responses: identical repeated values are common from some frameworks; RFC 9110 §8.6
        // lets a recipient collapse them. Different values are fatal.
        const v = valueOf(head, colon, eol);
        if (contentLength !== -1) {
          if (String(contentLength) !== v) throw new HttpParseError(502, 'conflicting Content-Length in response');
          return false;
        }
        contentLength = parseContentLength(v, -1, 502);
        return true;
      }
      case enum_.TRANSFER_ENCODING:
        teCount++;
        te = valueOf(head, colon, eol);
        return false;
      case enum_.CONNECTION: {
        const v = valueOf(head, colon, eol);
        connection = connection ? `${connection},${v}` : v;
        return false;
      }
      case enum_.UPGRADE:
        return status === 101; // hop-by-hop, except on the 101 that switches protocols
      default:
        return false; // hop-by-hop
    }
  });
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
      fields = fieldLines(fields)
        .filter((l) => !/^content-length:/i.test(l))
        .map((l) => l + '\r\n')
        .join('');
    }
  }
  const close = minor === 0 ? !hasToken(connection, 'keep-alive') : hasToken(connection, 'close');
  fields = removeConnectionNamed(connection, fields);
  const result: ResponseHead = { minor, status, reason, contentLength, chunked, close, fields };
  if (collectHeaders) result.headers = collect(fields);
  return result;
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
          checkFieldLine(line.slice(0, -2), this.#status);
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
