/**
 * From raw runs to what the bench prints: medians over rounds, latency added over direct, the
 * ratios skiff/nginx, skiff/direct and skiff/node-relay, and a PASS/MISS mark per target (against
 * nginx only: node-relay is a reference, never a target's baseline). Pure: no I/O.
 */
import type { WrkResult } from './wrk.ts';
import { errorCount } from './wrk.ts';
import type { LoadCase } from './targets.ts';

/** The sidecar issue's targets, for skiff with telemetry on, on the 2-core machines. */
export const TARGETS = {
  /** throughput at saturation ≥ this × nginx's (one worker) */
  throughputVsNginx: 0.8,
  /** CPU seconds per 1,000 requests (at the CPU rate) */
  cpuPer1k: 0.07,
  /** latency added over direct at the lower fixed rate ≤ this × what nginx adds (p50 and p99) */
  addedLatencyVsNginx: 1.2,
  /** peak RSS after the higher fixed rate */
  peakRssBytes: 60 * 1024 * 1024,
  /** spawn → admin /readyz answers 200, median of several starts */
  readyMs: 200,
} as const;

/**
 * Added latency below this (ms) is indistinguishable from run-to-run noise on these machines
 * (medians of two 10 s runs of the same case differ by about that much), so a ratio to it is
 * not a limit: the added-latency targets use at least this as nginx's figure.
 */
export const ADDED_LATENCY_FLOOR_MS = 0.02;

export interface FixedRun {
  targetRate: number;
  wrk: WrkResult;
  /** CPU seconds of the serving processes during the run (proxies only). */
  cpuSeconds?: number;
}

export interface RoundResult {
  round: number;
  /** The latency runs, at the fixed rates in order (1k, 5k). */
  latency: FixedRun[];
  /** Peak RSS (VmHWM) right after the higher fixed rate. */
  peakRssBytes?: number;
  /** The CPU run (4k req/s). */
  cpu?: FixedRun;
  saturation?: { wrk: WrkResult; cpuSeconds?: number; peakRssBytes?: number };
  large?: { download?: WrkResult; upload?: WrkResult };
}

export interface CaseResult {
  name: LoadCase;
  available: boolean;
  reason?: string;
  /** What went wrong after a successful start (a crash, a failed run), for the warnings. */
  problems: string[];
  rounds: RoundResult[];
  /** Start-up times in ms, one per start. */
  startup?: { readyzMs: number[]; firstResponseMs: number[] };
}

export interface LatencySummary {
  rate: number;
  achievedRate?: number;
  p50?: number;
  p99?: number;
  /** Over direct, same run (ms). */
  addedP50?: number;
  addedP99?: number;
}

export interface CaseSummary {
  name: LoadCase;
  available: boolean;
  reason?: string;
  saturationRps?: number;
  /** Median achieved rate of the CPU run (its target is the CPU rate). */
  cpuRunRate?: number;
  cpuRate?: number;
  latency: LatencySummary[];
  cpuPer1k?: number;
  cpuPer1kAtSaturation?: number;
  peakRssBytes?: number;
  peakRssAtSaturationBytes?: number;
  readyzMs?: number;
  firstResponseMs?: number;
  largeDownloadRps?: number;
  largeUploadRps?: number;
  requests: number;
  errors: number;
  problems: string[];
}

export function median(values: readonly number[]): number | undefined {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1]! + v[mid]!) / 2;
}

function maxOf(values: readonly (number | undefined)[]): number | undefined {
  const v = values.filter((x): x is number => x !== undefined);
  return v.length ? Math.max(...v) : undefined;
}

const defined = <T>(xs: readonly (T | undefined)[]): T[] => xs.filter((x): x is T => x !== undefined);

/** CPU seconds per 1,000 requests of a run, when its CPU was measured. */
export function cpuPer1k(requests: number, cpuSeconds: number | undefined): number | undefined {
  if (cpuSeconds === undefined || requests <= 0) return undefined;
  return cpuSeconds / (requests / 1000);
}

function allRuns(r: RoundResult): WrkResult[] {
  return defined([...r.latency.map((f) => f.wrk), r.cpu?.wrk, r.saturation?.wrk, r.large?.download, r.large?.upload]);
}

/** Medians over rounds of one case (latency added over direct is filled in by `summarize`). */
export function summarizeCase(c: CaseResult, rates: readonly number[]): CaseSummary {
  const rounds = c.rounds;
  const latency = rates.map((rate, i): LatencySummary => {
    const runs = defined(rounds.map((r) => r.latency[i]));
    return {
      rate,
      achievedRate: median(runs.map((f) => f.wrk.rate)),
      p50: median(runs.map((f) => f.wrk.latency.p50)),
      p99: median(runs.map((f) => f.wrk.latency.p99)),
    };
  });
  const runs = rounds.flatMap(allRuns);
  return {
    name: c.name,
    available: c.available,
    reason: c.reason,
    saturationRps: median(defined(rounds.map((r) => r.saturation?.wrk.rate))),
    latency,
    cpuRunRate: median(defined(rounds.map((r) => r.cpu?.wrk.rate))),
    cpuRate: rounds.find((r) => r.cpu)?.cpu?.targetRate,
    cpuPer1k: median(defined(rounds.map((r) => (r.cpu ? cpuPer1k(r.cpu.wrk.requests, r.cpu.cpuSeconds) : undefined)))),
    cpuPer1kAtSaturation: median(defined(rounds.map((r) => (r.saturation ? cpuPer1k(r.saturation.wrk.requests, r.saturation.cpuSeconds) : undefined)))),
    // A peak, so the worst round rather than the median.
    peakRssBytes: maxOf(rounds.map((r) => r.peakRssBytes)),
    peakRssAtSaturationBytes: maxOf(rounds.map((r) => r.saturation?.peakRssBytes)),
    readyzMs: c.startup ? median(c.startup.readyzMs) : undefined,
    firstResponseMs: c.startup ? median(c.startup.firstResponseMs) : undefined,
    largeDownloadRps: median(defined(rounds.map((r) => r.large?.download?.rate))),
    largeUploadRps: median(defined(rounds.map((r) => r.large?.upload?.rate))),
    requests: runs.reduce((n, w) => n + w.requests, 0),
    errors: runs.reduce((n, w) => n + errorCount(w), 0),
    problems: c.problems,
  };
}

/**
 * Added latency of a proxied case: its median p50/p99 minus direct's, per rate. Computed from
 * the medians of each side (both from the same run).
 */
export function withAddedLatency(s: CaseSummary, direct: CaseSummary | undefined): CaseSummary {
  if (s.name === 'direct' || !direct) return s;
  return {
    ...s,
    latency: s.latency.map((l, i) => {
      const d = direct.latency[i];
      return {
        ...l,
        addedP50: l.p50 !== undefined && d?.p50 !== undefined ? l.p50 - d.p50 : undefined,
        addedP99: l.p99 !== undefined && d?.p99 !== undefined ? l.p99 - d.p99 : undefined,
      };
    }),
  };
}

export function summarize(cases: readonly CaseResult[], rates: readonly number[]): CaseSummary[] {
  const base = cases.map((c) => summarizeCase(c, rates));
  const direct = base.find((s) => s.name === 'direct');
  return base.map((s) => withAddedLatency(s, direct));
}

/** a / b, or `undefined` when either is missing or b is not positive. */
export function ratio(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined || b === undefined || !(b > 0)) return undefined;
  return a / b;
}

export type Verdict = 'PASS' | 'MISS' | 'n/a';

export interface TargetCheck {
  target: string;
  measured: string;
  verdict: Verdict;
  note?: string;
}

const fmtMs = (v: number | undefined, digits = 3): string => (v === undefined ? '—' : v.toFixed(digits));
const fmtSigned = (v: number | undefined): string => (v === undefined ? '—' : `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(3)}`);
const fmtRps = (v: number | undefined): string => (v === undefined ? '—' : Math.round(v).toLocaleString('en-US'));
const fmtMiB = (v: number | undefined): string => (v === undefined ? '—' : `${(v / 1024 / 1024).toFixed(1)} MiB`);
const fmtRatio = (v: number | undefined): string => (v === undefined ? '—' : `${v.toFixed(2)}×`);

function verdict(ok: boolean | undefined): Verdict {
  return ok === undefined ? 'n/a' : ok ? 'PASS' : 'MISS';
}

/** skiff against the issue's targets; `n/a` where skiff or the baseline was not measured. */
export function checkTargets(summaries: readonly CaseSummary[], rates: readonly number[]): TargetCheck[] {
  const by = (n: LoadCase): CaseSummary | undefined => summaries.find((s) => s.name === n && s.available);
  const skiff = by('skiff');
  const nginx = by('nginx');
  const checks: TargetCheck[] = [];

  const tput = ratio(skiff?.saturationRps, nginx?.saturationRps);
  checks.push({
    target: `throughput at saturation ≥ ${TARGETS.throughputVsNginx}× nginx`,
    measured: tput === undefined ? '—' : `${fmtRps(skiff?.saturationRps)} vs ${fmtRps(nginx?.saturationRps)} req/s = ${fmtRatio(tput)}`,
    verdict: verdict(tput === undefined ? undefined : tput >= TARGETS.throughputVsNginx),
  });

  const cpu = skiff?.cpuPer1k;
  checks.push({
    target: `CPU-s per 1,000 requests ≤ ${TARGETS.cpuPer1k}`,
    measured: cpu === undefined ? '—' : cpu.toFixed(3),
    verdict: verdict(cpu === undefined ? undefined : cpu <= TARGETS.cpuPer1k),
  });

  for (const q of ['p50', 'p99'] as const) {
    const key = q === 'p50' ? 'addedP50' : 'addedP99';
    const s = skiff?.latency[0]?.[key];
    const n = nginx?.latency[0]?.[key];
    const target = `added ${q} at ${fmtRps(rates[0])} req/s ≤ ${TARGETS.addedLatencyVsNginx}× nginx's`;
    if (s === undefined || n === undefined) {
      checks.push({ target, measured: '—', verdict: 'n/a' });
    } else {
      // Below the noise floor nginx's figure is noise, and 1.2× noise is no limit: use the floor.
      const floored = n < ADDED_LATENCY_FLOOR_MS;
      const limit = TARGETS.addedLatencyVsNginx * Math.max(n, ADDED_LATENCY_FLOOR_MS);
      checks.push({
        target,
        measured: `${fmtSigned(s)} vs ${fmtSigned(n)} ms${floored ? '' : ` (${fmtRatio(s / n)})`}`,
        verdict: verdict(s <= limit),
        note: floored ? `nginx added < ${ADDED_LATENCY_FLOOR_MS} ms (noise): limit ${limit.toFixed(3)} ms` : undefined,
      });
    }
  }

  const rss = skiff?.peakRssBytes;
  checks.push({
    target: `peak RSS at ${fmtRps(rates[1])} req/s ≤ ${fmtMiB(TARGETS.peakRssBytes)}`,
    measured: fmtMiB(rss),
    verdict: verdict(rss === undefined ? undefined : rss <= TARGETS.peakRssBytes),
  });

  const ready = skiff?.readyzMs;
  checks.push({
    target: `listening and ready ≤ ${TARGETS.readyMs} ms after spawn (median)`,
    measured: ready === undefined ? '—' : `${ready.toFixed(0)} ms`,
    verdict: verdict(ready === undefined ? undefined : ready <= TARGETS.readyMs),
  });
  return checks;
}

export interface RatioRow {
  metric: string;
  skiffVsNginx?: number;
  skiffVsDirect?: number;
  /** Against the bare `node:net` relay: how much of skiff's cost is skiff's own, not Node's. */
  skiffVsNodeRelay?: number;
}

/** skiff/nginx, skiff/direct and skiff/node-relay for each figure that both sides have. */
export function ratioRows(summaries: readonly CaseSummary[], rates: readonly number[]): RatioRow[] {
  const get = (n: LoadCase): CaseSummary | undefined => summaries.find((s) => s.name === n && s.available);
  const skiff = get('skiff');
  const nginx = get('nginx');
  const direct = get('direct');
  const relay = get('node-relay');
  // One figure, skiff against each baseline. Added latency, CPU and RSS have no direct figure.
  const row = (metric: string, pick: (c: CaseSummary | undefined) => number | undefined, againstDirect = true): RatioRow => ({
    metric,
    skiffVsNginx: ratio(pick(skiff), pick(nginx)),
    ...(againstDirect ? { skiffVsDirect: ratio(pick(skiff), pick(direct)) } : {}),
    skiffVsNodeRelay: ratio(pick(skiff), pick(relay)),
  });
  const rows: RatioRow[] = [row('throughput at saturation', (c) => c?.saturationRps)];
  rates.forEach((rate, i) => {
    for (const q of ['p50', 'p99'] as const) rows.push(row(`${q} latency at ${fmtRps(rate)} req/s`, (c) => c?.latency[i]?.[q]));
    for (const q of ['p50', 'p99'] as const) {
      const key = q === 'p50' ? 'addedP50' : 'addedP99';
      rows.push(row(`added ${q} at ${fmtRps(rate)} req/s`, (c) => c?.latency[i]?.[key], false));
    }
  });
  rows.push(row('CPU-s per 1k requests', (c) => c?.cpuPer1k, false));
  rows.push(row('peak RSS', (c) => c?.peakRssBytes, false));
  if (skiff?.largeDownloadRps !== undefined) {
    rows.push(row('1 MiB responses req/s', (c) => c?.largeDownloadRps));
    rows.push(row('1 MiB uploads req/s', (c) => c?.largeUploadRps));
  }
  return rows;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export interface ReportMeta {
  title: string;
  lines: readonly string[];
}

/** The text the bench prints on stdout. */
export function formatReport(meta: ReportMeta, summaries: readonly CaseSummary[], rates: readonly number[], dashboard?: string): string {
  const nginx = summaries.find((s) => s.name === 'nginx' && s.available);
  const out: string[] = [meta.title, ...meta.lines, ''];
  const [low, high] = [rates[0], rates[1]];
  const header = ['case', 'sat req/s', '÷nginx', `p50 / p99 @${fmtRps(low)} (added) ms`, `p50 / p99 @${fmtRps(high)} (added) ms`, 'CPU-s/1k', 'peak RSS', 'ready ms'];
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const s of summaries) {
    if (!s.available) {
      rows.push([s.name, 'n/a', '', 'not available (see below)']);
      notes.push(`${s.name}: not available: ${s.reason ?? 'failed'}`);
      continue;
    }
    const lat = (l: LatencySummary | undefined): string => {
      if (!l) return '—';
      const base = `${fmtMs(l.p50)} / ${fmtMs(l.p99)}`;
      return l.addedP50 === undefined ? base : `${base} (${fmtSigned(l.addedP50)} / ${fmtSigned(l.addedP99)})`;
    };
    const ready = s.name === 'skiff' ? s.readyzMs : s.firstResponseMs;
    rows.push([
      s.name,
      fmtRps(s.saturationRps),
      fmtRatio(ratio(s.saturationRps, nginx?.saturationRps)),
      lat(s.latency[0]),
      lat(s.latency[1]),
      s.cpuPer1k === undefined ? '—' : s.cpuPer1k.toFixed(3),
      fmtMiB(s.peakRssBytes),
      ready === undefined ? '—' : ready.toFixed(0),
    ]);
    for (const l of s.latency) {
      if (l.achievedRate !== undefined && Math.abs(l.achievedRate - l.rate) / l.rate > 0.05) {
        notes.push(`${s.name}: the ${fmtRps(l.rate)} req/s run achieved only ${fmtRps(l.achievedRate)} req/s`);
      }
    }
    if (s.cpuRate !== undefined && s.cpuRunRate !== undefined && (s.cpuRate - s.cpuRunRate) / s.cpuRate > 0.05) {
      notes.push(`${s.name}: the ${fmtRps(s.cpuRate)} req/s CPU run achieved only ${fmtRps(s.cpuRunRate)} req/s`);
    }
    for (const p of s.problems) notes.push(`${s.name}: ${p}`);
    if (s.errors > 0) notes.push(`${s.name}: ${s.errors} failed requests (socket errors or status ≥ 400) out of ${s.requests}`);
  }
  out.push(table(header, rows));
  out.push('', 'ready ms: skiff from spawn to admin /readyz → 200; the others from spawn to the first proxied 200.');
  out.push('CPU-s/1k: at the CPU rate, serving processes only (nginx: the worker). peak RSS: VmHWM after the higher fixed rate.');
  if (summaries.some((s) => s.name === 'node-relay')) out.push('node-relay: a plain node:net relay on the same Node, parsing nothing — the floor of any Node sidecar (a reference, not a target).');

  const large = summaries.filter((s) => s.available && (s.largeDownloadRps !== undefined || s.largeUploadRps !== undefined));
  if (large.length > 0) {
    out.push('', table(['large bodies', '1 MiB responses req/s', '1 MiB uploads req/s'], large.map((s) => [s.name, fmtRps(s.largeDownloadRps), fmtRps(s.largeUploadRps)])));
  }

  out.push('', table(['ratio', 'skiff/nginx', 'skiff/direct', 'skiff/node-relay'], ratioRows(summaries, rates).map((r) => [r.metric, fmtRatio(r.skiffVsNginx), fmtRatio(r.skiffVsDirect), fmtRatio(r.skiffVsNodeRelay)])));
  const checks = checkTargets(summaries, rates);
  out.push('', table(['skiff target (telemetry on)', 'measured', 'mark'], checks.map((c) => [c.target, c.measured + (c.note ? ` — ${c.note}` : ''), c.verdict])));
  if (dashboard) out.push('', dashboard.trimEnd());
  if (notes.length > 0) out.push('', 'Warnings:', ...notes.map((n) => `  - ${n}`));
  return out.join('\n') + '\n';
}
