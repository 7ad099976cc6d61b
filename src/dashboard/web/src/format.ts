/**
 * Number formatting for the UI, pure so that it is unit-tested in Node (test/ui/format.test.ts).
 *
 * Every formatter takes `null` for "no data" and answers NO_DATA ("—"), never 0: a service
 * without traffic has no success rate, which is not the same as a 0% one.
 */

export const NO_DATA = '—';

const grouped = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** Two significant digits below 1 keeps small rates readable (0.0033, 0.42) without noise. */
function significant(value: number, digits: number): string {
  return String(Number(value.toPrecision(digits)));
}

/** Requests per second: 0, 0.0033, 0.42, 3.45, 12.3, 1,234. */
export function formatRps(rps: number | null | undefined): string {
  if (rps === null || rps === undefined || !Number.isFinite(rps)) return NO_DATA;
  if (rps === 0) return '0';
  if (rps < 1) return significant(rps, 2);
  if (rps < 10) return rps.toFixed(2);
  if (rps < 100) return rps.toFixed(1);
  return grouped.format(rps);
}

/** A count of events: 1,234,567. */
export function formatCount(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return NO_DATA;
  return grouped.format(n);
}

/**
 * A share in [0, 1] as a percentage. Truncated, not rounded, so that 99.996% never shows as
 * "100%": only a perfect record does. Two decimals near the top, where the nines matter.
 */
export function formatPercent(rate: number | null | undefined): string {
  if (rate === null || rate === undefined || !Number.isFinite(rate)) return NO_DATA;
  if (rate >= 1) return '100%';
  if (rate <= 0) return '0%';
  const pct = rate * 100;
  const decimals = pct >= 99 ? 2 : 1;
  const factor = 10 ** decimals;
  return `${(Math.floor(pct * factor) / factor).toFixed(decimals)}%`;
}

/** A duration given in milliseconds: 0.42 ms, 4.2 ms, 42 ms, 420 ms, 1.23 s, 75.0 s, 12 min. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return NO_DATA;
  if (ms === 0) return '0 ms';
  if (ms < 1) return `${significant(ms, 2)} ms`;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 10) return `${s.toFixed(2)} s`;
  if (s < 120) return `${s.toFixed(1)} s`;
  return `${(s / 60).toFixed(1)} min`;
}

const BYTE_UNITS = ['KiB', 'MiB', 'GiB', 'TiB'] as const;

/** Bytes in binary units: 0 B, 512 B, 1.5 KiB, 12 KiB, 3.2 MiB. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return NO_DATA;
  if (Math.abs(bytes) < 1024) return `${Math.round(bytes)} B`;
  let value = bytes;
  let unit: string = 'B';
  for (const u of BYTE_UNITS) {
    if (Math.abs(value) < 1024) break;
    value /= 1024;
    unit = u;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${unit}`;
}

/** CPU in cores, Kubernetes style: 12m below one core, 1.25 above. */
export function formatCores(cores: number | null | undefined): string {
  if (cores === null || cores === undefined || !Number.isFinite(cores)) return NO_DATA;
  if (cores < 1) return `${Math.round(cores * 1000)}m`;
  return cores.toFixed(2);
}

/** How long ago `then` was, relative to `now` (both ms since epoch): 3s ago, 4m ago, 2h ago. */
export function formatAgo(then: number, now: number): string {
  const s = Math.max(0, Math.round((now - then) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

/** A share of a limit as a fraction in [0, 1], or null when either side is unknown. */
export function fractionOf(used: number | null, limit: number | null): number | null {
  if (used === null || limit === null || !(limit > 0)) return null;
  return Math.min(1, Math.max(0, used / limit));
}
