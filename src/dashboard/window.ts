/**
 * Time windows and storage levels: which buckets answer a query.
 *
 * The store keeps the same aggregates at three levels of time buckets (10 s, 1 min, 1 h).
 * A query for "the last W" is answered over an exact range of 10 s buckets `[from, to)`:
 *
 * - the series step is the coarsest level that still gives ≥ 60 points (5m → 10 s, 6h → 1 min,
 *   7d → 1 h), widened to a multiple of that level when it would give more than MAX_POINTS;
 * - `from` is aligned to the step, so every point covers whole buckets of its level;
 * - totals (summaries, routes, edges, pods) cover the same range but read it with the fewest
 *   buckets: whole closed hours from the 1 h table, whole closed minutes from the 1 min table,
 *   the rest from 10 s buckets (`plan`). A 5 min total merges ~14 buckets, not 30; a 7 d total
 *   ~290, not 60 480.
 *
 * Pure functions of their inputs (no clock, no I/O).
 */
import { parseDuration } from '../config/options.ts';

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** Bucket widths, finest first. Each divides the next. */
export const LEVELS = [10 * SECOND, MINUTE, HOUR] as const;
export type Level = (typeof LEVELS)[number];
export type LevelIndex = 0 | 1 | 2;
/** Suffixes of the level's tables (`svc_10s`, `svc_1m`, `svc_1h`). */
export const LEVEL_NAMES = ['10s', '1m', '1h'] as const;

export const MIN_WINDOW = 10 * SECOND;
export const MAX_WINDOW = 400 * DAY;
/** A window's series has at least this many points when a level allows it… */
export const MIN_POINTS = 60;
/** …and at most this many (the step is widened to a multiple of the level beyond it). */
export const MAX_POINTS = 720;
export const DEFAULT_WINDOW = '5m';

export class WindowError extends Error {
  override name = 'WindowError';
}

/** Parses `?window=` (5m, 1h, 24h, 7d, 30s…): 10 s to 400 d, a whole number of seconds. */
export function parseWindow(text: string | null | undefined): number {
  const raw = text === null || text === undefined || text === '' ? DEFAULT_WINDOW : text;
  if (raw.length > 32) throw new WindowError('window is too long (examples: 5m, 1h, 24h, 7d)');
  let ms: number;
  try {
    ms = parseDuration(raw);
  } catch (err) {
    throw new WindowError((err as Error).message);
  }
  if (ms < MIN_WINDOW || ms > MAX_WINDOW) throw new WindowError(`window must be between 10s and 400d, got "${raw}"`);
  // Buckets are 10 s wide: round to them so `rps` is requests over exactly the covered span.
  return Math.ceil(ms / LEVELS[0]) * LEVELS[0];
}

export function alignDown(t: number, step: number): number {
  return Math.floor(t / step) * step;
}

export function alignUp(t: number, step: number): number {
  return Math.ceil(t / step) * step;
}

/** The level a step is a multiple of (the coarsest one). */
export function levelOf(step: number): LevelIndex {
  for (let i = LEVELS.length - 1; i >= 0; i--) if (step % LEVELS[i]! === 0) return i as LevelIndex;
  throw new RangeError(`step ${step} is not a multiple of 10s`);
}

/** Series step for a window: coarsest level with ≥ MIN_POINTS points, widened to ≤ MAX_POINTS. */
export function chooseStep(windowMs: number): number {
  let level: number = LEVELS[0];
  for (const l of LEVELS) if (windowMs / l >= MIN_POINTS) level = l;
  const points = Math.ceil(windowMs / level);
  return level * Math.max(1, Math.ceil(points / MAX_POINTS));
}

export interface WindowSpan {
  windowMs: number;
  step: number;
  /** First bucket of the series (aligned to `step`). */
  from: number;
  /** Exclusive end: the end of the bucket that holds `now`. */
  to: number;
  points: number;
}

/**
 * The buckets a window covers at `now`: `points` steps ending with the one that holds `now`
 * (the current, partial step). The covered time is within one step of the window.
 */
export function windowSpan(now: number, windowMs: number): WindowSpan {
  const step = chooseStep(windowMs);
  const points = Math.ceil(windowMs / step);
  const last = alignDown(now, step);
  return { windowMs, step, from: last - (points - 1) * step, to: last + step, points };
}

/** A run of consecutive buckets of one level: `[from, to)`. */
export interface Span {
  level: LevelIndex;
  from: number;
  to: number;
}

/**
 * The fewest buckets that cover `[from, to)` (both multiples of 10 s): whole buckets of a
 * coarser level where that level has them (`closedBefore[level]`: every bucket that starts
 * before it is written), finer ones at the edges and for the recent part not yet rolled up.
 * `maxLevel` caps the level (a series must not read buckets wider than its step).
 */
export function plan(from: number, to: number, closedBefore: readonly number[], maxLevel: LevelIndex = 2): Span[] {
  const out: Span[] = [];
  const cover = (a: number, b: number, level: LevelIndex): void => {
    if (a >= b) return;
    if (level === 0) {
      out.push({ level, from: a, to: b });
      return;
    }
    const width = LEVELS[level];
    const lo = alignUp(a, width);
    const hi = Math.min(alignDown(b, width), alignDown(closedBefore[level] ?? -Infinity, width));
    const finer = (level - 1) as LevelIndex;
    if (lo >= hi) {
      cover(a, b, finer);
      return;
    }
    cover(a, lo, finer);
    out.push({ level, from: lo, to: hi });
    cover(hi, b, finer);
  };
  cover(from, to, maxLevel);
  return out;
}
