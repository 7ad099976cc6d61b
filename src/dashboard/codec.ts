/**
 * Compact binary form of a sketch for the store's BLOB columns.
 *
 * Why not the JSON wire form: bucket tables hold millions of sketches, and a bin count such as
 * 17 takes three characters of JSON ("17,") but one varint byte. The layout:
 *
 *   sum, min, max   float64 little-endian (24 bytes)
 *   zero            unsigned LEB128 varint
 *   offset          zigzag LEB128 varint
 *   bins.length     unsigned varint, then the bins: a count > 0 as an unsigned varint; a run
 *                   of k zero bins as 0 followed by varint k − 1 (sketches are dense arrays with
 *                   many empty bins between the populated ones)
 *
 * `count` is not stored: it is `zero` plus the bins. Decoding untrusted bytes is not a concern
 * (only this process writes them), but a truncated blob still throws instead of looping.
 */
import { MAX_BINS, RELATIVE_ACCURACY, Sketch } from '../telemetry/sketch.ts';
import type { SketchData } from '../telemetry/sketch.ts';
import type { ReportV1 } from '../telemetry/report-format.ts';

/** The same γ as sketch.ts (same expression, so the same double). */
const GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY);

const EMPTY: SketchData = { count: 0, sum: 0, min: 0, max: 0, zero: 0, offset: 0, bins: [] };

/** A growable byte buffer for the encoders (one allocation per report, not one per sketch). */
class Writer {
  buf: Uint8Array;
  view: DataView;
  p = 0;

  constructor(size = 4096) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }

  ensure(n: number): void {
    if (this.p + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.p + n));
    next.set(this.buf.subarray(0, this.p));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  /** An unsigned LEB128 varint of a safe integer (callers ensure room: 10 bytes at most). */
  varint(n: number): void {
    const buf = this.buf;
    if (n < 0x80) {
      buf[this.p++] = n;
      return;
    }
    while (n >= 0x80) {
      buf[this.p++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    buf[this.p++] = n;
  }

  sketch(s: SketchData): void {
    const bins = s.bins;
    this.ensure(24 + 10 * (3 + bins.length));
    this.view.setFloat64(this.p, s.sum, true);
    this.view.setFloat64(this.p + 8, s.min, true);
    this.view.setFloat64(this.p + 16, s.max, true);
    this.p += 24;
    this.varint(s.zero);
    this.varint(s.offset >= 0 ? s.offset * 2 : -s.offset * 2 - 1);
    this.varint(bins.length);
    const buf = this.buf;
    const n = bins.length;
    for (let i = 0; i < n; i++) {
      const b = bins[i]!;
      if (b === 0) {
        let run = 1;
        while (i + run < n && bins[i + run] === 0) run++;
        buf[this.p++] = 0;
        this.varint(run - 1);
        i += run - 1;
      } else if (b < 0x80) buf[this.p++] = b; // most bins: one byte, no arithmetic
      else this.varint(b);
    }
  }

  bytes(): Uint8Array {
    return this.buf.slice(0, this.p);
  }
}

/** A cursor over encoded bytes; throws on truncation instead of reading past the end. */
class Reader {
  readonly buf: Uint8Array;
  readonly view: DataView;
  p: number;

  constructor(buf: Uint8Array, p = 0) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.p = p;
  }

  varint(): number {
    let n = 0;
    let mul = 1;
    for (;;) {
      if (this.p >= this.buf.length) throw new RangeError('encoded sketch is truncated');
      const byte = this.buf[this.p++]!;
      n += (byte & 0x7f) * mul;
      if (byte < 0x80) return n;
      mul *= 0x80;
    }
  }

  sketch(): SketchData {
    if (this.p + 27 > this.buf.length) throw new RangeError('encoded sketch is truncated');
    const sum = this.view.getFloat64(this.p, true);
    const min = this.view.getFloat64(this.p + 8, true);
    const max = this.view.getFloat64(this.p + 16, true);
    this.p += 24;
    const zero = this.varint();
    const z = this.varint();
    const offset = z % 2 === 0 ? z / 2 : -(z + 1) / 2;
    const length = this.varint();
    const bins = new Array<number>(length).fill(0);
    let count = zero;
    for (let i = 0; i < length; i++) {
      const b = this.varint();
      if (b === 0) i += this.varint();
      else {
        bins[i] = b;
        count += b;
      }
    }
    return { count, sum, min, max, zero, offset, bins };
  }
}

export function encodeSketch(s: SketchData): Uint8Array {
  const w = new Writer(24 + 10 * (3 + s.bins.length));
  w.sketch(s);
  return w.buf.subarray(0, w.p);
}

export function decodeSketch(buf: Uint8Array | null | undefined): SketchData {
  if (!buf || buf.length === 0) return EMPTY;
  return new Reader(buf).sketch();
}

/** Where a sketch comes from on the read path: an open bucket, a wire form, or a stored blob. */
export type SketchSource = Sketch | SketchData | Uint8Array | null;

export function toSketchData(src: SketchSource): SketchData {
  if (src === null) return EMPTY;
  if (src instanceof Uint8Array) return decodeSketch(src);
  if (src instanceof Sketch) return src.toJSON();
  return src;
}

/**
 * A sum of many sketches, for queries: stored blobs are added straight from their bytes into
 * one dense array (no intermediate arrays, no per-bin bounds logic), and one Sketch is built at
 * the end, so quantiles are exactly what `Sketch.merge` of every part would give.
 *
 * Why: an answer such as /api/services over 5 min merges thousands of sketches of hundreds of
 * bins each; this is ~10× faster than merging them one by one into a Sketch.
 * The span is bounded like the Sketch's (MAX_BINS): lower bins collapse into the lowest kept.
 */
export class SketchSum {
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  zero = 0;
  #bins = new Float64Array(0);
  /** Bin index of #bins[0]. */
  #offset = 0;

  add(src: SketchSource): void {
    if (src === null) return;
    if (src instanceof Uint8Array) this.#addEncoded(src);
    else this.#addData(src instanceof Sketch ? src.toJSON() : src);
  }

  /** Makes room for bins [lo, hi] (beyond MAX_BINS of span, the lowest collapse into the lowest kept). */
  #cover(lo: number, hi: number): void {
    const bins = this.#bins;
    const empty = bins.length === 0;
    if (!empty && lo >= this.#offset && hi < this.#offset + bins.length) return;
    const needLo = empty ? lo : Math.min(this.#offset, lo);
    const needHi = empty ? hi : Math.max(this.#offset + bins.length - 1, hi);
    // Room to grow at both ends, so that a sum of similar sketches reallocates rarely.
    const slack = 32;
    const start = needHi - needLo + 1 > MAX_BINS ? needHi - MAX_BINS + 1 : needLo - slack;
    const next = new Float64Array(needHi + slack - start + 1);
    for (let i = 0; i < bins.length; i++) {
      const c = bins[i]!;
      if (c !== 0) next[Math.max(this.#offset + i, start) - start]! += c;
    }
    this.#bins = next;
    this.#offset = start;
  }

  #stats(count: number, sum: number, min: number, max: number, zero: number): void {
    this.count += count;
    this.sum += sum;
    if (min < this.min) this.min = min;
    if (max > this.max) this.max = max;
    this.zero += zero;
  }

  #addData(d: SketchData): void {
    if (d.count === 0) return;
    this.#stats(d.count, d.sum, d.min, d.max, d.zero);
    const n = d.bins.length;
    if (n === 0) return;
    this.#cover(d.offset, d.offset + n - 1);
    const bins = this.#bins;
    const lowest = this.#offset;
    for (let k = 0; k < n; k++) {
      const c = d.bins[k]!;
      if (c !== 0) bins[Math.max(d.offset + k, lowest) - lowest]! += c;
    }
  }

  #addEncoded(buf: Uint8Array): void {
    if (buf.length === 0) return;
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const end = buf.length;
    let p = 24;
    const get = (): number => {
      let n = 0;
      let mul = 1;
      for (;;) {
        if (p >= end) throw new RangeError('sketch blob is truncated');
        const byte = buf[p++]!;
        n += (byte & 0x7f) * mul;
        if (byte < 0x80) return n;
        mul *= 0x80;
      }
    };
    const zero = get();
    const z = get();
    const offset = z % 2 === 0 ? z / 2 : -(z + 1) / 2;
    const n = get();
    let count = zero;
    if (n > 0) {
      this.#cover(offset, offset + n - 1);
      const bins = this.#bins;
      const lowest = this.#offset;
      // The hot loop of every query: bins are mostly one-byte varints, so take that path inline.
      let at = offset - lowest;
      for (let k = 0; k < n; k++, at++) {
        if (p >= end) throw new RangeError('sketch blob is truncated');
        let c = buf[p++]!;
        if (c === 0) {
          const skip = get();
          k += skip;
          at += skip;
          continue;
        }
        if (c >= 0x80) {
          p--;
          c = get();
        }
        bins[at < 0 ? 0 : at]! += c;
        count += c;
      }
    }
    if (count > 0) this.#stats(count, view.getFloat64(0, true), view.getFloat64(8, true), view.getFloat64(16, true), zero);
  }

  clone(): SketchSum {
    const c = new SketchSum();
    c.count = this.count;
    c.sum = this.sum;
    c.min = this.min;
    c.max = this.max;
    c.zero = this.zero;
    c.#bins = this.#bins.slice();
    c.#offset = this.#offset;
    return c;
  }

  /**
   * Quantiles of the sum, by the very rule of `Sketch.quantile` (a test pins them equal), in one
   * pass over the bins for all of `qs` (ascending): answering 200 services × 5 quantiles this
   * way costs a fraction of building 600 Sketch objects.
   */
  quantiles(qs: readonly number[]): (number | null)[] {
    const out: (number | null)[] = [];
    if (this.count === 0) return qs.map(() => null);
    const bins = this.#bins;
    let seen = this.zero;
    let k = 0;
    for (const q of qs) {
      if (q <= 0) {
        out.push(this.min);
        continue;
      }
      if (q >= 1) {
        out.push(this.max);
        continue;
      }
      const rank = q * (this.count - 1);
      if (rank < this.zero) {
        out.push(Math.max(this.min, 0) === 0 ? 0 : this.min);
        continue;
      }
      while (k < bins.length && !(rank < seen + bins[k]!)) seen += bins[k++]!;
      if (k >= bins.length) {
        out.push(this.max);
        continue;
      }
      const v = (2 * Math.pow(GAMMA, this.#offset + k)) / (GAMMA + 1);
      out.push(Math.min(Math.max(v, this.min), this.max));
    }
    return out;
  }

  /** The sum as a Sketch (for its quantiles). */
  toSketch(): Sketch {
    const s = new Sketch();
    if (this.count === 0) return s;
    const bins = this.#bins;
    let lo = 0;
    let hi = bins.length;
    while (lo < hi && bins[lo] === 0) lo++;
    while (hi > lo && bins[hi - 1] === 0) hi--;
    s.merge({ count: this.count, sum: this.sum, min: this.min, max: this.max, zero: this.zero, offset: this.#offset + lo, bins: Array.from(bins.subarray(lo, hi)) });
    return s;
  }
}

/**
 * The journal's form of a validated report: its JSON without the sketches, then the sketches in
 * the binary form above, one after the other (each is self-delimiting): 3 per request series.
 * About half the report's JSON size and cheap to write, which matters because the journal
 * writes (and WAL checkpoints copy) every report at the full ingest rate.
 *
 *   u32 LE  length of the JSON head
 *   bytes   JSON head: the report with `requests` as arrays of the series' other fields
 *           (SERIES_FIELDS order: arrays stringify and parse faster than objects)
 *   then per request series: latencyMs, requestBytes, responseBytes
 */
export function encodeReport(r: ReportV1): Uint8Array {
  const head = JSON.stringify({
    ...r,
    requests: r.requests.map((s) => [s.direction, s.peer, s.method, s.route, s.statusCode, s.error, s.count, s.requestBytesTotal, s.responseBytesTotal]),
  });
  const w = new Writer();
  w.ensure(4 + head.length * 3);
  const written = new TextEncoder().encodeInto(head, w.buf.subarray(4)).written;
  w.view.setUint32(0, written, true);
  w.p = 4 + written;
  for (const s of r.requests) {
    w.sketch(s.latencyMs);
    w.sketch(s.requestBytes);
    w.sketch(s.responseBytes);
  }
  return w.bytes();
}

/** The parsed value of a journal body (still to be validated by the caller). */
export function decodeReport(buf: Uint8Array): unknown {
  const reader = new Reader(buf);
  const headLength = reader.view.getUint32(0, true);
  const head = JSON.parse(Buffer.from(buf.buffer, buf.byteOffset + 4, headLength).toString('utf8')) as Record<string, unknown>;
  reader.p = 4 + headLength;
  const rows = Array.isArray(head.requests) ? (head.requests as unknown[][]) : [];
  head.requests = rows.map((f) => ({
    direction: f[0], peer: f[1], method: f[2], route: f[3], statusCode: f[4], error: f[5], count: f[6], requestBytesTotal: f[7], responseBytesTotal: f[8],
    latencyMs: reader.sketch(), requestBytes: reader.sketch(), responseBytes: reader.sketch(),
  }));
  return head;
}
