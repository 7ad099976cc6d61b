/**
 * Turns the API's time series into the column arrays uPlot draws (x in seconds), pure so that
 * it is unit-tested in Node. "No data" stays null, which uPlot draws as a gap, never as 0.
 */
import type { SeriesPoint } from '../../api-types.ts';

export type Column = (number | null)[];

export interface ChartColumns {
  x: number[];
  rps: Column;
  /** Success rate in percent. */
  successPct: Column;
  p50: Column;
  p95: Column;
  p99: Column;
  reqP50: Column;
  reqP99: Column;
  respP50: Column;
  respP99: Column;
}

export function chartColumns(series: readonly SeriesPoint[]): ChartColumns {
  const sorted = [...series].sort((a, b) => a.t - b.t);
  const col = (f: (p: SeriesPoint) => number | null): Column => sorted.map(f);
  return {
    x: sorted.map((p) => p.t / 1000),
    rps: col((p) => p.rps),
    successPct: col((p) => (p.successRate === null ? null : p.successRate * 100)),
    p50: col((p) => p.latencyMs.p50),
    p95: col((p) => p.latencyMs.p95),
    p99: col((p) => p.latencyMs.p99),
    reqP50: col((p) => p.requestBytes.p50),
    reqP99: col((p) => p.requestBytes.p99),
    respP50: col((p) => p.responseBytes.p50),
    respP99: col((p) => p.responseBytes.p99),
  };
}

/** Status codes sorted by code, with their share of the total; "0" means no response was sent. */
export function statusRows(codes: Record<string, number>): { code: string; label: string; count: number; share: number; klass: string }[] {
  const entries = Object.entries(codes).filter(([, n]) => n > 0);
  const total = entries.reduce((sum, [, n]) => sum + n, 0);
  return entries
    .sort(([a], [b]) => Number(a) - Number(b) || a.localeCompare(b))
    .map(([code, count]) => ({
      code,
      label: code === '0' ? 'no response' : code,
      count,
      share: total > 0 ? count / total : 0,
      klass: code === '0' ? 'none' : `${code.charAt(0)}xx`,
    }));
}
