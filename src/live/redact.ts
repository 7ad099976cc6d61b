/**
 * What a tap may show of a request's headers and bodies, decided here once for the sidecar:
 *
 * - Headers: `authorization`, `cookie`, `set-cookie`, `proxy-authorization` and every name the
 *   operator adds (`--redact-headers`) are replaced by `[redacted]`, always.
 * - Bodies: the first `--tap-body-bytes`, shown as UTF-8 text, or base64 when they are not text.
 *   With `--redact-fields`, the value of every JSON member with one of those names (at any
 *   depth, case-insensitive) becomes `"[redacted]"`, as does every such field of a form body.
 *   A body that cannot be searched for those fields is withheld rather than shown: JSON that
 *   does not parse, compressed bodies (`content-encoding`), and binary bodies. A JSON body cut
 *   at the byte cap is redacted by a scanner that accepts any valid prefix: a secret whose
 *   value is cut off is still replaced, from its start to the end of the sample.
 *
 * Runs off the request path (when a tap client's queue is flushed), never per request.
 */
import type { TapBody } from './record.ts';

export const REDACTED = '[redacted]';

/** Headers never shown in a tap, whatever the configuration. */
export const ALWAYS_REDACTED_HEADERS: readonly string[] = ['authorization', 'cookie', 'set-cookie', 'proxy-authorization'];

/** A set of lower-cased header names to redact: the fixed ones plus `extra`. */
export function headerRedactions(extra: readonly string[]): ReadonlySet<string> {
  return new Set([...ALWAYS_REDACTED_HEADERS, ...extra.map((h) => h.trim().toLowerCase()).filter(Boolean)]);
}

/** A copy of `headers` (lower-cased names) with sensitive values replaced. */
export function redactHeaders(headers: Readonly<Record<string, string>>, redact: ReadonlySet<string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    out[lower] = redact.has(lower) ? REDACTED : value;
  }
  return out;
}

const REDACTED_JSON = JSON.stringify(REDACTED);

/**
 * Replaces the value of every member named in `fields` (lower-cased) by `"[redacted]"`, at any
 * depth, keeping the rest of the text byte for byte (numbers keep their digits, key order and
 * white space stay). With `truncated`, `text` may stop anywhere: it must be a valid prefix of a
 * JSON text. Returns the redacted text and whether anything was replaced, or null when the text
 * is not JSON (RFC 8259) or, without `truncated`, not a complete JSON text.
 *
 * @example
 * redactJson('{"user":"ann","password":"x"}', new Set(['password']), false)
 * // { text: '{"user":"ann","password":"[redacted]"}', redacted: true }
 */
export function redactJson(text: string, fields: ReadonlySet<string>, truncated: boolean): { text: string; redacted: boolean } | null {
  const n = text.length;
  const stack: number[] = []; // 1: object, 2: array
  // What may come next: a value, a value or `]`, a key, a key or `}`, `:`, `,` or the closer, nothing.
  let expect: Expect = 'value';
  let out = '';
  let last = 0;
  let redactNext = false;
  let redactFrom = -1; // start of the value being skipped
  let redactDepth = 0;
  let redacted = false;
  let i = 0;
  const afterValue = (): Expect => {
    if (redactFrom !== -1 && stack.length === redactDepth) {
      out += text.slice(last, redactFrom) + REDACTED_JSON;
      last = i;
      redactFrom = -1;
      redacted = true;
    }
    return stack.length === 0 ? 'done' : 'next';
  };
  while (i < n) {
    const c = text.charCodeAt(i);
    // RFC 8259 §2: insignificant white space is space, tab, LF, CR.
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) {
      i++;
      continue;
    }
    switch (expect) {
      case 'done':
        return null;
      case 'colon':
        if (c !== 0x3a) return null;
        i++;
        expect = 'value';
        continue;
      case 'next': {
        const top = stack[stack.length - 1];
        if (c === 0x2c) {
          i++;
          expect = top === 1 ? 'key' : 'value';
          continue;
        }
        if ((top === 1 && c === 0x7d) || (top === 2 && c === 0x5d)) {
          i++;
          stack.pop();
          expect = afterValue();
          continue;
        }
        return null;
      }
      case 'key':
      case 'keyOrEnd': {
        if (expect === 'keyOrEnd' && c === 0x7d) {
          i++;
          stack.pop();
          expect = afterValue();
          continue;
        }
        if (c !== 0x22) return null;
        const end = scanString(text, i);
        if (end === INVALID) return null;
        if (end === INCOMPLETE) {
          i = n;
          break;
        }
        if (redactFrom === -1) {
          const key = JSON.parse(text.slice(i, end)) as string;
          redactNext = fields.has(key.toLowerCase());
        }
        i = end;
        expect = 'colon';
        continue;
      }
      case 'value':
      case 'valueOrEnd': {
        if (expect === 'valueOrEnd' && c === 0x5d) {
          i++;
          stack.pop();
          expect = afterValue();
          continue;
        }
        if (redactNext) {
          redactNext = false;
          redactFrom = i;
          redactDepth = stack.length;
        }
        if (c === 0x7b) {
          stack.push(1);
          i++;
          expect = 'keyOrEnd';
          continue;
        }
        if (c === 0x5b) {
          stack.push(2);
          i++;
          expect = 'valueOrEnd';
          continue;
        }
        const end = c === 0x22 ? scanString(text, i) : scanScalar(text, i);
        if (end === INVALID) return null;
        if (end === INCOMPLETE) {
          i = n;
          break;
        }
        i = end;
        expect = afterValue();
        continue;
      }
    }
    break; // ran out of input inside a token
  }
  if (!truncated && expect !== 'done') return null;
  if (redactFrom !== -1) {
    // The sample ends inside a redacted value: hide all of it.
    out += text.slice(last, redactFrom) + REDACTED_JSON;
    last = n;
    redacted = true;
  }
  out += text.slice(last);
  return { text: out, redacted };
}

type Expect = 'value' | 'valueOrEnd' | 'key' | 'keyOrEnd' | 'colon' | 'next' | 'done';
const INVALID = -1;
const INCOMPLETE = -2;

/** End index of the JSON string starting at `i` (a `"`), INVALID, or INCOMPLETE at the end of input. */
function scanString(text: string, i: number): number {
  const n = text.length;
  let j = i + 1;
  while (j < n) {
    const c = text.charCodeAt(j);
    if (c === 0x22) return j + 1;
    if (c < 0x20) return INVALID; // RFC 8259 §7: control characters must be escaped
    if (c === 0x5c) {
      if (j + 1 >= n) return INCOMPLETE;
      const e = text[j + 1]!;
      if (e === 'u') {
        const hex = text.slice(j + 2, j + 6);
        if (!/^[0-9a-fA-F]*$/.test(hex)) return INVALID;
        if (hex.length < 4) return INCOMPLETE;
        j += 6;
      } else if ('"\\/bfnrt'.includes(e)) j += 2;
      else return INVALID;
      continue;
    }
    j++;
  }
  return INCOMPLETE;
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const NUMBER_PREFIX = /^-?(?:0|[1-9]\d*)?(?:\.\d*)?(?:[eE][+-]?\d*)?$/;

/** End index of a number or literal at `i`, INVALID, or INCOMPLETE when the input ends inside one. */
function scanScalar(text: string, i: number): number {
  for (const lit of ['true', 'false', 'null']) {
    if (text.startsWith(lit, i)) return i + lit.length;
    if (i + lit.length > text.length && lit.startsWith(text.slice(i))) return INCOMPLETE;
  }
  NUMBER.lastIndex = i;
  const m = NUMBER.exec(text);
  if (m) {
    const end = i + m[0].length;
    // `1.` or `1e` at the very end is a number still being written.
    if (end < text.length && /[.eE]/.test(text[end]!) && NUMBER_PREFIX.test(text.slice(i))) return INCOMPLETE;
    return end;
  }
  if (text.length - i <= 400 && NUMBER_PREFIX.test(text.slice(i))) return INCOMPLETE;
  return INVALID;
}

/** Redacts fields of an `application/x-www-form-urlencoded` body (WHATWG URL §5). */
export function redactForm(text: string, fields: ReadonlySet<string>): { text: string; redacted: boolean } {
  let redacted = false;
  const parts = text.split('&').map((pair) => {
    const eq = pair.indexOf('=');
    const rawKey = eq === -1 ? pair : pair.slice(0, eq);
    let key: string;
    try {
      key = decodeURIComponent(rawKey.replace(/\+/g, ' '));
    } catch {
      key = rawKey;
    }
    if (!fields.has(key.toLowerCase())) return pair;
    redacted = true;
    return `${rawKey}=${REDACTED}`;
  });
  return { text: parts.join('&'), redacted };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes UTF-8; a sample cut inside a multi-byte character loses that character's first bytes only. */
function decodeUtf8(buf: Uint8Array, truncated: boolean): string | null {
  for (let cut = 0; cut <= (truncated ? 3 : 0) && cut < buf.length; cut++) {
    try {
      return utf8.decode(cut === 0 ? buf : buf.subarray(0, buf.length - cut));
    } catch {
      // try a shorter prefix
    }
  }
  return buf.length === 0 ? '' : null;
}

function isJsonType(contentType: string): boolean {
  // application/json and every structured syntax suffix +json (RFC 6839 §3.1).
  const t = contentType.split(';')[0]!.trim().toLowerCase();
  return t === 'application/json' || t.endsWith('+json') || t === 'text/json';
}

/**
 * Turns a body sample into what a tap shows (see the module comment for the rules).
 *
 * @param sample   the first bytes of the body (decoded from chunked framing)
 * @param total    body bytes that crossed the proxy (≥ sample length when complete)
 * @param cap      the sampling cap: a sample of `cap` bytes with more on the wire is truncated
 * @param headers  the message's headers (content-type, content-encoding), when known
 * @param fields   lower-cased JSON/form field names to redact
 */
export function showBody(sample: Uint8Array, total: number, cap: number, headers: Readonly<Record<string, string>> | undefined, fields: ReadonlySet<string>): TapBody {
  const truncated = sample.length >= cap && total > sample.length;
  const base = { bytes: sample.length, truncated };
  if (sample.length === 0) return { encoding: 'utf8', text: '', ...base };
  const withheld = (why: string): TapBody => ({ encoding: 'utf8', text: '', ...base, withheld: why });
  const coding = (headers?.['content-encoding'] ?? '').trim().toLowerCase();
  const contentType = headers?.['content-type'] ?? '';
  const searchable = fields.size > 0;
  if (coding !== '' && coding !== 'identity') {
    if (searchable) return withheld(`compressed (content-encoding: ${coding.slice(0, 40)}): fields cannot be redacted`);
    return { encoding: 'base64', text: Buffer.from(sample).toString('base64'), ...base };
  }
  const text = decodeUtf8(sample, truncated);
  if (text === null) {
    if (searchable) return withheld('binary: fields cannot be redacted');
    return { encoding: 'base64', text: Buffer.from(sample).toString('base64'), ...base };
  }
  if (!searchable) return { encoding: 'utf8', text, ...base };
  const first = /\S/.exec(text)?.[0];
  if (isJsonType(contentType) || first === '{' || first === '[') {
    const r = redactJson(text, fields, truncated);
    if (r === null) return withheld(truncated ? 'not a JSON prefix: fields cannot be redacted' : 'not valid JSON: fields cannot be redacted');
    return { encoding: 'utf8', text: r.text, ...base, ...(r.redacted ? { redacted: true } : {}) };
  }
  if (contentType.split(';')[0]!.trim().toLowerCase() === 'application/x-www-form-urlencoded') {
    const r = redactForm(text, fields);
    return { encoding: 'utf8', text: r.text, ...base, ...(r.redacted ? { redacted: true } : {}) };
  }
  return { encoding: 'utf8', text, ...base };
}
