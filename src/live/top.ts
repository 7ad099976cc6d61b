/**
 * The core of `skiff top`: tap records folded into one row per route (service, direction,
 * method, route template), with a count, the success rate and a latency sketch for p50/p99.
 * Pure (no I/O, no clock but the record times), so it is tested with plain records.
 *
 * Bounded: at most `maxRows` rows; records of further routes fold into one `other` row per
 * service and direction.
 */
import { Sketch } from '../telemetry/sketch.ts';
import { templatePath } from '../telemetry/routes.ts';
import type { TapRecord } from './record.ts';
import { formatMs, formatPercent, formatRps, renderTable } from './format.ts';
import type { Align } from './format.ts';
import { clean } from './format.ts';

export interface TopRow {
  service: string;
  namespace: string;
  direction: 'inbound' | 'outbound';
  method: string;
  route: string;
  count: number;
  /** Requests that were not 5xx and had no proxy error. */
  ok: number;
  latency: Sketch;
  /** Times (ms since epoch) of the first and last request seen. */
  first: number;
  last: number;
}

export const DEFAULT_TOP_ROWS = 1000;

export class TopTable {
  readonly #rows = new Map<string, TopRow>();
  readonly #max: number;
  #total = 0;
  #dropped = 0;
  #first = Infinity;
  #last = -Infinity;

  constructor(maxRows = DEFAULT_TOP_ROWS) {
    this.#max = maxRows;
  }

  /** Records seen. */
  get total(): number {
    return this.#total;
  }

  /** Records the stream said it dropped (not in the table). */
  get dropped(): number {
    return this.#dropped;
  }

  noteDropped(n: number): void {
    this.#dropped += n;
  }

  add(r: TapRecord): void {
    const route = r.route || templatePath(r.path);
    let key = `${r.namespace}\u0000${r.service}\u0000${r.direction}\u0000${r.method}\u0000${route}`;
    let row = this.#rows.get(key);
    if (!row && this.#rows.size >= this.#max) {
      key = `${r.namespace}\u0000${r.service}\u0000${r.direction}\u0000\u0000other`;
      row = this.#rows.get(key);
    }
    const t = Date.parse(r.time);
    const time = Number.isFinite(t) ? t : 0;
    if (!row) {
      const folded = this.#rows.size >= this.#max;
      row = { service: r.service, namespace: r.namespace, direction: r.direction, method: folded ? '*' : r.method, route: folded ? 'other' : route, count: 0, ok: 0, latency: new Sketch(), first: time, last: time };
      this.#rows.set(key, row);
    }
    row.count++;
    // Success as the dashboard counts it: not a 5xx, and no proxy error.
    if (r.error === '' && r.status < 500) row.ok++;
    row.latency.add(r.latencyMs);
    row.first = Math.min(row.first, time);
    row.last = Math.max(row.last, time);
    this.#total++;
    this.#first = Math.min(this.#first, time);
    this.#last = Math.max(this.#last, time);
  }

  /** Busiest first (then by route, for a stable order). */
  rows(): TopRow[] {
    return [...this.#rows.values()].sort((a, b) => b.count - a.count || (a.route < b.route ? -1 : a.route > b.route ? 1 : a.method < b.method ? -1 : 1));
  }

  /** Requests per second of a row over the span of the whole table (null below one second of data). */
  rps(row: TopRow): number | null {
    const span = (this.#last - this.#first) / 1000;
    return span >= 1 ? row.count / span : null;
  }

  /** The table as text: at most `limit` rows; SERVICE shown when more than one service is in it. */
  render(limit: number): string {
    const rows = this.rows();
    const services = new Set(rows.map((r) => `${r.namespace}/${r.service}`));
    const multi = services.size > 1;
    const header = [...(multi ? ['SERVICE'] : []), 'DIRECTION', 'METHOD', 'ROUTE', 'COUNT', 'RPS', 'SUCCESS', 'P50', 'P99'];
    const align: Align[] = [...(multi ? ['left' as const] : []), 'left', 'left', 'left', 'right', 'right', 'right', 'right', 'right'];
    const shown = rows.slice(0, Math.max(1, limit)).map((r) => [
      ...(multi ? [clean(`${r.namespace}/${r.service}`)] : []),
      r.direction,
      clean(r.method),
      clean(r.route),
      String(r.count),
      formatRps(this.rps(r)),
      formatPercent(r.count > 0 ? r.ok / r.count : null),
      formatMs(r.latency.quantile(0.5)),
      formatMs(r.latency.quantile(0.99)),
    ]);
    let out = renderTable(header, shown, align);
    if (rows.length > shown.length) out += `… ${rows.length - shown.length} more routes\n`;
    return out;
  }
}
