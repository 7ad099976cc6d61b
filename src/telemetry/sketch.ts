/**
 * A DDSketch (Masson, Rim & Lee, VLDB 2019) with 1% relative accuracy: a mergeable
 * distribution in which every quantile is within 1% of a true value of the data.
 *
 * Why: averages of percentiles are wrong, and fixed histogram buckets give percentiles that
 * are only as good as the bucket bounds. Sketches from many pods and many time buckets merge
 * exactly (bin counts add), so the dashboard's p99 over a week of a whole service is as
 * accurate as one pod's over 10 seconds.
 *
 * Values ≤ 0 (an empty body, a zero duration) go to a separate zero bin, so sizes of 0 bytes
 * are counted exactly. Bins are a dense array from `offset`; if a sketch ever spans more than
 * MAX_BINS bins, the lowest ones are collapsed (high quantiles stay exact to 1%).
 */

export const RELATIVE_ACCURACY = 0.01;
const GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY);
const LN_GAMMA = Math.log(GAMMA);
/** Positive values below this are treated as zero (1e-9 ms = 1 femtosecond, 1e-9 bytes). */
const MIN_INDEXABLE = 1e-9;
export const MAX_BINS = 2048;

/** Wire form of a sketch (in reports and in the dashboard's store). Documented in docs/reporting.md. */
export interface SketchData {
  /** Number of values, including zeros. */
  count: number;
  sum: number;
  min: number;
  max: number;
  /** Values ≤ 0. */
  zero: number;
  /** Index of bins[0]; bin i covers (γ^(i-1), γ^i] with γ = 1.01/0.99. */
  offset: number;
  bins: number[];
}

export class Sketch {
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  zero = 0;
  #offset = 0;
  #bins: number[] = [];

  get isEmpty(): boolean {
    return this.count === 0;
  }

  add(value: number, n = 1): void {
    if (!(n > 0) || Number.isNaN(value)) return;
    this.count += n;
    this.sum += value * n;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    if (value <= MIN_INDEXABLE) {
      this.zero += n;
      return;
    }
    this.#addToBin(Math.ceil(Math.log(value) / LN_GAMMA), n);
  }

  #addToBin(index: number, n: number): void {
    const bins = this.#bins;
    if (bins.length === 0) {
      this.#offset = index;
      bins.push(n);
      return;
    }
    let i = index - this.#offset;
    if (i < 0) {
      // Grow downwards: rare after warm-up, so the O(bins) shift is fine.
      const grow = -i;
      if (bins.length + grow > MAX_BINS) {
        bins[0] = (bins[0] ?? 0) + n; // collapse into the lowest bin we keep
        return;
      }
      bins.unshift(...new Array<number>(grow).fill(0));
      this.#offset = index;
      i = 0;
    } else if (i >= bins.length) {
      while (bins.length <= i) bins.push(0);
      if (bins.length > MAX_BINS) this.#collapseLowest();
      i = index - this.#offset;
    }
    bins[i] = (bins[i] ?? 0) + n;
  }

  #collapseLowest(): void {
    const bins = this.#bins;
    const excess = bins.length - MAX_BINS;
    let moved = 0;
    for (let k = 0; k <= excess; k++) moved += bins[k] ?? 0;
    bins.splice(0, excess);
    bins[0] = moved;
    this.#offset += excess;
  }

  /** Adds every value of `other` to this sketch (exact: counts add). */
  merge(other: Sketch | SketchData): void {
    const data = other instanceof Sketch ? other.toJSON() : other;
    if (data.count === 0) return;
    this.count += data.count;
    this.sum += data.sum;
    if (data.min < this.min) this.min = data.min;
    if (data.max > this.max) this.max = data.max;
    this.zero += data.zero;
    for (let k = 0; k < data.bins.length; k++) {
      const c = data.bins[k] ?? 0;
      if (c > 0) this.#addToBin(data.offset + k, c);
    }
  }

  /**
   * The value at quantile q (0..1), within 1% of a value of the data at that rank;
   * null when the sketch is empty.
   */
  quantile(q: number): number | null {
    if (this.count === 0) return null;
    if (q <= 0) return this.min;
    if (q >= 1) return this.max;
    const rank = q * (this.count - 1);
    let seen = this.zero;
    if (rank < seen) return Math.max(this.min, 0) === 0 ? 0 : this.min;
    const bins = this.#bins;
    for (let k = 0; k < bins.length; k++) {
      seen += bins[k] ?? 0;
      if (rank < seen) {
        // Midpoint of the bin in the relative sense: within RELATIVE_ACCURACY of any value in it.
        const v = (2 * Math.pow(GAMMA, this.#offset + k)) / (GAMMA + 1);
        return Math.min(Math.max(v, this.min), this.max);
      }
    }
    return this.max;
  }

  mean(): number | null {
    return this.count === 0 ? null : this.sum / this.count;
  }

  clear(): void {
    this.count = 0;
    this.sum = 0;
    this.min = Infinity;
    this.max = -Infinity;
    this.zero = 0;
    this.#offset = 0;
    this.#bins = [];
  }

  toJSON(): SketchData {
    // Trim zero bins at both ends so the wire form stays small.
    const bins = this.#bins;
    let lo = 0;
    let hi = bins.length;
    while (lo < hi && bins[lo] === 0) lo++;
    while (hi > lo && bins[hi - 1] === 0) hi--;
    return {
      count: this.count,
      sum: this.sum,
      min: this.count ? this.min : 0,
      max: this.count ? this.max : 0,
      zero: this.zero,
      offset: this.#offset + lo,
      bins: bins.slice(lo, hi),
    };
  }

  static fromJSON(data: SketchData): Sketch {
    const problem = validateSketchData(data);
    if (problem) throw new Error(`invalid sketch: ${problem}`);
    const s = new Sketch();
    s.merge(data);
    return s;
  }
}

/** Returns a reason when `data` is not a valid SketchData, else null (used on untrusted input). */
export function validateSketchData(data: unknown): string | null {
  if (typeof data !== 'object' || data === null) return 'not an object';
  const d = data as Record<string, unknown>;
  for (const k of ['count', 'sum', 'min', 'max', 'zero', 'offset'] as const) {
    if (typeof d[k] !== 'number' || !Number.isFinite(d[k])) return `${k} must be a finite number`;
  }
  const count = d.count as number;
  const zero = d.zero as number;
  if (count < 0 || zero < 0 || !Number.isInteger(count) || !Number.isInteger(zero)) return 'count and zero must be non-negative integers';
  if (!Number.isInteger(d.offset) || Math.abs(d.offset as number) > 100_000) return 'offset out of range';
  if (!Array.isArray(d.bins)) return 'bins must be an array';
  if (d.bins.length > MAX_BINS) return `more than ${MAX_BINS} bins`;
  let total = zero;
  for (const b of d.bins) {
    if (typeof b !== 'number' || !Number.isInteger(b) || b < 0) return 'bins must be non-negative integers';
    total += b;
  }
  if (total !== count) return `bin counts (${total}) do not add up to count (${count})`;
  return null;
}
