/**
 * Compact binary form of a sketch for the store's BLOB columns.
 *
 * Why not the JSON wire form: bucket tables hold millions of sketches, and a bin count such as
 * 17 takes three characters of JSON ("17,") but one varint byte. The layout:
 *
 *   sum, min, max   float64 little-endian (24 bytes)
 *   zero            unsigned LEB128 varint
 *   offset          zigzag LEB128 varint
 *   bins.length     unsigned varint, then one unsigned varint per bin
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

export function encodeSketch(s: SketchData): Uint8Array {
  // 10 bytes is the longest varint of a safe integer: a tight upper bound for the buffer.
  const buf = new Uint8Array(24 + 10 * (3 + s.bins.length));
  const view = new DataView(buf.buffer);
  view.setFloat64(0, s.sum, true);
  view.setFloat64(8, s.min, true);
  view.setFloat64(16, s.max, true);
  let p = 24;
  const put = (n: number): void => {
    while (n >= 0x80) {
      buf[p++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    buf[p++] = n;
  };
  put(s.zero);
  put(s.offset >= 0 ? s.offset * 2 : -s.offset * 2 - 1);
  put(s.bins.length);
  for (const b of s.bins) put(b);
  return buf.subarray(0, p);
}

export function decodeSketch(buf: Uint8Array | null | undefined): SketchData {
  if (!buf || buf.length === 0) return EMPTY;
  if (buf.length < 27) throw new RangeError('sketch blob is truncated');
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let p = 24;
  const get = (): number => {
    let n = 0;
    let mul = 1;
    for (;;) {
      if (p >= buf.length) throw new RangeError('sketch blob is truncated');
      const byte = buf[p++]!;
      n += (byte & 0x7f) * mul;
      if (byte < 0x80) return n;
      mul *= 0x80;
    }
  };
  const zero = get();
  const z = get();
  const offset = z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  const length = get();
  const bins = new Array<number>(length);
  let count = zero;
  for (let i = 0; i < length; i++) {
    const b = get();
    bins[i] = b;
    count += b;
  }
  return { count, sum: view.getFloat64(0, true), min: view.getFloat64(8, true), max: view.getFloat64(16, true), zero, offset, bins };
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
        if (c >= 0x80) {
          p--;
          c = get();
        }
        if (c !== 0) {
          bins[at < 0 ? 0 : at]! += c;
          count += c;
        }
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
 * the compact binary form above (3 per request series, each prefixed by its byte length as a
 * varint). About a quarter of the report's JSON size, which is what the journal writes (and
 * the WAL checkpoints copy) for every report at the full ingest rate.
 *
 *   u32 LE  length of the JSON head
 *   bytes   JSON head (the report, request series without latencyMs/requestBytes/responseBytes)
 *   then per request series: latencyMs, requestBytes, responseBytes as (varint length, blob)
 */
export function encodeReport(r: ReportV1): Uint8Array {
  const blobs: Uint8Array[] = [];
  const head = {
    ...r,
    requests: r.requests.map(({ latencyMs, requestBytes, responseBytes, ...rest }) => {
      blobs.push(encodeSketch(latencyMs), encodeSketch(requestBytes), encodeSketch(responseBytes));
      return rest;
    }),
  };
  const json = Buffer.from(JSON.stringify(head), 'utf8');
  let size = 4 + json.length;
  for (const b of blobs) size += 5 + b.length;
  const out = new Uint8Array(size);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 4);
  let p = 4 + json.length;
  for (const b of blobs) {
    let n = b.length;
    while (n >= 0x80) {
      out[p++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    out[p++] = n;
    out.set(b, p);
    p += b.length;
  }
  return out.subarray(0, p);
}

/** The parsed value of a journal body (still to be validated by the caller). */
export function decodeReport(buf: Uint8Array): unknown {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const headLength = view.getUint32(0, true);
  const head = JSON.parse(Buffer.from(buf.buffer, buf.byteOffset + 4, headLength).toString('utf8')) as { requests?: Record<string, unknown>[] };
  let p = 4 + headLength;
  const next = (): SketchData => {
    let n = 0;
    let shift = 0;
    for (;;) {
      if (p >= buf.length) throw new RangeError('journal body is truncated');
      const byte = buf[p++]!;
      n |= (byte & 0x7f) << shift;
      if (byte < 0x80) break;
      shift += 7;
    }
    const blob = buf.subarray(p, p + n);
    p += n;
    return decodeSketch(blob);
  };
  for (const s of head.requests ?? []) {
    s.latencyMs = next();
    s.requestBytes = next();
    s.responseBytes = next();
  }
  return head;
}
