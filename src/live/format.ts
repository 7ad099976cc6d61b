/**
 * Text for the terminal: numbers, tables, and tap lines. Everything that came from traffic
 * (paths, peers, header values, bodies) goes through `clean` first, so that a request can never
 * move the cursor, recolour the screen or hide text in someone's terminal (escape sequences,
 * C1 controls, bidirectional overrides).
 */
import type { TapBody, TapRecord } from './record.ts';

export const NO_DATA = '-';

// C0 and C1 controls, DEL, and the Unicode bidi controls ("Trojan Source", CVE-2021-42574).
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** `s` with every control character shown as an escape (`\x1b`, `\n`, `\u202e`). */
export function clean(s: string): string {
  return s.replace(UNSAFE, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** Milliseconds: 0.42ms, 4.2ms, 42ms, 1.23s, 75.0s. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return NO_DATA;
  if (ms < 1) return `${Number(ms.toPrecision(2))}ms`;
  if (ms < 10) return `${ms.toFixed(1)}ms`;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  return s < 10 ? `${s.toFixed(2)}s` : `${s.toFixed(1)}s`;
}

/** Bytes in binary units: 0B, 512B, 1.5KiB, 12KiB, 3.2MiB. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return NO_DATA;
  if (bytes < 1024) return `${Math.round(bytes)}B`;
  let v = bytes;
  let unit = 'B';
  for (const u of ['KiB', 'MiB', 'GiB', 'TiB']) {
    if (v < 1024) break;
    v /= 1024;
    unit = u;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)}${unit}`;
}

/** A share as a percentage, truncated (99.996% never shows as 100%); null is "no data". */
export function formatPercent(rate: number | null | undefined): string {
  if (rate === null || rate === undefined || !Number.isFinite(rate)) return NO_DATA;
  if (rate >= 1) return '100%';
  if (rate <= 0) return '0%';
  const pct = rate * 100;
  const decimals = pct >= 99 ? 2 : 1;
  const f = 10 ** decimals;
  return `${(Math.floor(pct * f) / f).toFixed(decimals)}%`;
}

export function formatRps(rps: number | null | undefined): string {
  if (rps === null || rps === undefined || !Number.isFinite(rps)) return NO_DATA;
  if (rps === 0) return '0';
  if (rps < 1) return String(Number(rps.toPrecision(2)));
  if (rps < 100) return rps.toFixed(1);
  return String(Math.round(rps));
}

export type Align = 'left' | 'right';

/** A plain-text table: a header row, then rows, columns separated by two spaces. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[], align: readonly Align[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (align[i] === 'right' ? c.padStart(widths[i]!) : i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

function hhmmss(iso: string): string {
  // RFC 3339 `2026-01-02T12:00:01.123Z` → `12:00:01.123` (UTC, as the records are).
  return iso.length >= 23 ? iso.slice(11, 23) : iso;
}

function bodyLine(arrow: string, b: TapBody): string {
  const flags = [`${b.bytes}B`, ...(b.truncated ? ['truncated'] : []), ...(b.redacted ? ['redacted'] : [])].join(', ');
  if (b.withheld !== undefined) return `  ${arrow} body (${flags}) withheld: ${clean(b.withheld)}`;
  if (b.bytes === 0) return `  ${arrow} body (empty)`;
  return `  ${arrow} body (${flags})${b.encoding === 'base64' ? ' base64' : ''}: ${clean(b.text)}`;
}

/**
 * One request as one line (headers and bodies, when present, on indented lines after it):
 * `12:00:01.123 web-7d9-x2 inbound from=gateway GET /users/42 200 12ms 0B→1.2KiB`
 */
export function formatTapLine(r: TapRecord): string {
  const peer = r.peer === '' ? '' : r.direction === 'inbound' ? ` from=${clean(r.peer)}` : ` to=${clean(r.peer)}`;
  const status = r.status === 0 ? '---' : String(r.status);
  const error = r.error === '' ? '' : ` error=${clean(r.error)}`;
  let line = `${hhmmss(r.time)} ${clean(r.pod || r.service)} ${r.direction}${peer} ${clean(r.method) || '-'} ${clean(r.path) || '-'} ${status} ${formatMs(r.latencyMs)} ${formatBytes(r.requestBytes)}→${formatBytes(r.responseBytes)}${error}`;
  if (r.requestHeaders) for (const [k, v] of Object.entries(r.requestHeaders)) line += `\n  > ${clean(k)}: ${clean(v)}`;
  if (r.requestBody) line += `\n${bodyLine('>', r.requestBody)}`;
  if (r.responseHeaders) for (const [k, v] of Object.entries(r.responseHeaders)) line += `\n  < ${clean(k)}: ${clean(v)}`;
  if (r.responseBody) line += `\n${bodyLine('<', r.responseBody)}`;
  return line + '\n';
}
