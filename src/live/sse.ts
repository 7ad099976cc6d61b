/**
 * An incremental parser of server-sent events (WHATWG HTML §9.2.6, "interpreting an event
 * stream"), fed text as it arrives. Used by the CLI, the dashboard's fan-out and the web UI,
 * so it needs nothing but strings (no Node or DOM types).
 *
 * Bounded: an event larger than `maxEventChars` is an error (a tap record is a few KiB at most).
 */

export interface SseMessage {
  /** The `event:` field, or `message` when there was none. */
  event: string;
  data: string;
}

export class SseError extends Error {
  override name = 'SseError';
}

export class SseParser {
  readonly #max: number;
  #buf = '';
  #event = '';
  #data: string[] = [];
  #size = 0;
  #started = false;

  constructor(maxEventChars = 1 << 20) {
    this.#max = maxEventChars;
  }

  /** Feeds decoded text; returns the events it completed (possibly none). */
  push(text: string): SseMessage[] {
    let chunk = text;
    if (!this.#started && chunk.length > 0) {
      this.#started = true;
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1); // one leading BOM is ignored
    }
    this.#buf += chunk;
    const out: SseMessage[] = [];
    let start = 0;
    const buf = this.#buf;
    for (let i = 0; i < buf.length; i++) {
      const c = buf.charCodeAt(i);
      if (c !== 0x0a && c !== 0x0d) continue;
      // A CR at the very end may be the first half of a CRLF: wait for the next chunk.
      if (c === 0x0d && i === buf.length - 1) break;
      this.#line(buf.slice(start, i), out);
      if (c === 0x0d && buf.charCodeAt(i + 1) === 0x0a) i++;
      start = i + 1;
    }
    this.#buf = buf.slice(start);
    if (this.#buf.length + this.#size > this.#max) throw new SseError(`event larger than ${this.#max} characters`);
    return out;
  }

  #line(line: string, out: SseMessage[]): void {
    if (line === '') {
      if (this.#data.length > 0) out.push({ event: this.#event || 'message', data: this.#data.join('\n') });
      this.#event = '';
      this.#data = [];
      this.#size = 0;
      return;
    }
    if (line.charCodeAt(0) === 0x3a) return; // a comment (`: ping`)
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 0x20) value = value.slice(1);
    if (field === 'data') {
      this.#data.push(value);
      this.#size += value.length;
    } else if (field === 'event') this.#event = value;
    // `id` and `retry` are not used: a tap does not resume, and clients pick their own backoff.
  }
}
