/**
 * Prometheus text exposition format 0.0.4: pure functions from metric families to text.
 * https://prometheus.io/docs/instrumenting/exposition_formats/ — every family gets its HELP and
 * TYPE lines (even with no samples, so the list of families is stable and checkable against
 * docs/metrics.md), histograms get cumulative `_bucket` lines ending in `le="+Inf"`, then `_sum`
 * and `_count`.
 */
import type { ResourceSample } from './model.ts';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type Labels = Readonly<Record<string, string>>;

export interface ScalarSample {
  labels: Labels;
  value: number;
}

export interface HistogramSample {
  labels: Labels;
  /** Upper bounds (inclusive, ascending), in the unit of the family. */
  bounds: readonly number[];
  /** Per-bucket counts, not cumulative: `counts[i]` holds values in (bounds[i-1], bounds[i]]; one extra last entry for values above the last bound. */
  counts: ArrayLike<number>;
  sum: number;
}

export type MetricFamily =
  | { name: string; help: string; type: 'counter' | 'gauge'; samples: readonly ScalarSample[] }
  | { name: string; help: string; type: 'histogram'; samples: readonly HistogramSample[] };

/** Request duration buckets, seconds. */
export const DURATION_BUCKETS_SECONDS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const KI = 1024;
const MI = KI * KI;
const GI = KI * MI;
/** Body size buckets, bytes: 0 (no body) then ×4 steps from 64 B to 1 GiB. */
export const BYTES_BUCKETS: readonly number[] = [0, 64, 256, KI, 4 * KI, 16 * KI, 64 * KI, 256 * KI, MI, 4 * MI, 16 * MI, 64 * MI, 256 * MI, GI];
/** Time the sidecar adds, seconds: 10 µs to 50 ms. */
export const OVERHEAD_BUCKETS_SECONDS: readonly number[] = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05];

/** Label values escape `\`, `"` and newline (the format's only escapes). */
export function escapeLabelValue(v: string): string {
  return /[\\"\n]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v;
}

/** HELP text escapes `\` and newline. */
function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** A sample value as Go's ParseFloat reads it, without exponents for ordinary bucket bounds. */
export function formatNumber(n: number): string {
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  if (Number.isNaN(n)) return 'NaN';
  const s = String(n);
  if (!s.includes('e') || Math.abs(n) >= 1) return s;
  // 1e-5 → 0.00001: readable bucket bounds; toFixed(20) then trimmed is exact for our bounds.
  return n.toFixed(20).replace(/0+$/, '');
}

function labelText(constLabels: string, labels: Labels, extra?: string): string {
  let s = constLabels;
  for (const k in labels) {
    s += `${s ? ',' : ''}${k}="${escapeLabelValue(labels[k]!)}"`;
  }
  if (extra) s += `${s ? ',' : ''}${extra}`;
  return s ? `{${s}}` : '';
}

/**
 * Renders families as exposition text. `constLabels` (service, namespace) come first on every
 * series.
 *
 * @example
 * renderMetrics([{ name: 'skiff_up', help: 'Always 1.', type: 'gauge', samples: [{ labels: {}, value: 1 }] }])
 * // '# HELP skiff_up Always 1.\n# TYPE skiff_up gauge\nskiff_up 1\n'
 */
export function renderMetrics(families: readonly MetricFamily[], constLabels: Labels = {}): string {
  let constText = '';
  for (const k in constLabels) constText += `${constText ? ',' : ''}${k}="${escapeLabelValue(constLabels[k]!)}"`;
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    if (f.type === 'histogram') {
      for (const h of f.samples) {
        let cumulative = 0;
        for (let i = 0; i < h.bounds.length; i++) {
          cumulative += h.counts[i] ?? 0;
          out.push(`${f.name}_bucket${labelText(constText, h.labels, `le="${formatNumber(h.bounds[i]!)}"`)} ${formatNumber(cumulative)}`);
        }
        cumulative += h.counts[h.bounds.length] ?? 0;
        const lt = labelText(constText, h.labels);
        out.push(
          `${f.name}_bucket${labelText(constText, h.labels, 'le="+Inf"')} ${formatNumber(cumulative)}`,
          `${f.name}_sum${lt} ${formatNumber(h.sum)}`,
          `${f.name}_count${lt} ${formatNumber(cumulative)}`,
        );
      }
    } else {
      for (const s of f.samples) out.push(`${f.name}${labelText(constText, s.labels)} ${formatNumber(s.value)}`);
    }
  }
  return out.length ? out.join('\n') + '\n' : '';
}

/**
 * Index of the bucket a value falls in (`value <= bounds[i]`), or `bounds.length` above the
 * last bound. Linear: our bucket lists are short and most values land in the first few.
 */
export function bucketIndex(bounds: readonly number[], value: number): number {
  let i = 0;
  while (i < bounds.length && value > bounds[i]!) i++;
  return i;
}

/** Pod resource families (cgroup or process numbers); a limit series is absent when unlimited. */
export function resourceFamilies(sample: ResourceSample | null): MetricFamily[] {
  const labels: Labels = sample ? { source: sample.source } : {};
  const one = (v: number | null | undefined): ScalarSample[] => (sample && v !== null && v !== undefined ? [{ labels, value: v }] : []);
  return [
    { name: 'skiff_pod_cpu_seconds_total', help: 'CPU time used by the pod (its cgroup), or by the sidecar process when there is no cgroup, seconds.', type: 'counter', samples: one(sample?.cpuSecondsTotal) },
    { name: 'skiff_pod_cpu_limit_cores', help: 'CPU limit of the pod in cores; absent when unlimited.', type: 'gauge', samples: one(sample?.cpuLimitCores) },
    { name: 'skiff_pod_memory_bytes', help: 'Memory used by the pod (its cgroup), or the sidecar process resident set when there is no cgroup, bytes.', type: 'gauge', samples: one(sample?.memoryBytes) },
    { name: 'skiff_pod_memory_limit_bytes', help: 'Memory limit of the pod in bytes; absent when unlimited.', type: 'gauge', samples: one(sample?.memoryLimitBytes) },
  ];
}

/** The sidecar's own process: resident memory and CPU time. */
export function processFamilies(rssBytes: number, cpuSeconds: number): MetricFamily[] {
  return [
    { name: 'skiff_process_resident_memory_bytes', help: 'Resident memory of the sidecar process, bytes.', type: 'gauge', samples: [{ labels: {}, value: rssBytes }] },
    { name: 'skiff_process_cpu_seconds_total', help: 'CPU time (user + system) used by the sidecar process, seconds.', type: 'counter', samples: [{ labels: {}, value: cpuSeconds }] },
  ];
}

export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface ParsedExposition {
  /** Family name → TYPE and HELP. */
  families: Map<string, { type: string; help: string }>;
  samples: ParsedSample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y;
const SAMPLE_VALUE = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN)$/;

/**
 * A strict reader of the text format (what skiff emits, and what `skiff top` may read back):
 * every line must be a HELP, a TYPE or a sample of a declared family; label values are
 * unescaped. Throws with the line number on the first line that does not parse.
 */
export function parseExposition(text: string): ParsedExposition {
  const families = new Map<string, { type: string; help: string }>();
  const samples: ParsedSample[] = [];
  const withSamples = new Set<string>();
  const lines = text.split('\n');
  if (lines.pop() !== '') throw new Error('the text must end with a newline');
  lines.forEach((line, i) => {
    const where = `line ${i + 1}`;
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      if (!METRIC_NAME.test(name)) throw new Error(`${where}: bad metric name ${name}`);
      const f = families.get(name) ?? { type: 'untyped', help: '' };
      if (kind === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`${where}: bad type ${rest}`);
        if (withSamples.has(name)) throw new Error(`${where}: TYPE after samples`);
        f.type = rest;
      } else f.help = rest.replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
      families.set(name, f);
      return;
    }
    if (line.startsWith('#')) return; // a comment
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`${where}: not a sample: ${line.slice(0, 80)}`);
    const name = m[1]!;
    const labels: Record<string, string> = {};
    if (m[3]) {
      const body = m[3];
      LABEL_PAIR.lastIndex = 0;
      let pos = 0;
      while (pos < body.length) {
        LABEL_PAIR.lastIndex = pos;
        const lp = LABEL_PAIR.exec(body);
        if (!lp) throw new Error(`${where}: bad labels at ${body.slice(pos, pos + 40)}`);
        if (Object.hasOwn(labels, lp[1]!)) throw new Error(`${where}: label ${lp[1]!} twice`);
        labels[lp[1]!] = lp[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
        pos = LABEL_PAIR.lastIndex;
      }
    }
    if (!SAMPLE_VALUE.test(m[4]!)) throw new Error(`${where}: bad value ${m[4]!}`);
    const family = familyOf(name, families);
    if (family === null) throw new Error(`${where}: sample ${name} of no declared family`);
    withSamples.add(family);
    samples.push({ name, labels, value: m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : Number(m[4]) });
  });
  return { families, samples };
}

function familyOf(sample: string, families: Map<string, { type: string }>): string | null {
  if (families.has(sample)) return sample;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (sample.endsWith(suffix)) {
      const base = sample.slice(0, -suffix.length);
      if (families.get(base)?.type === 'histogram') return base;
    }
  }
  return null;
}
