/**
 * `npm run bench -- [options]`: the command line of the benchmark. Pure: argv in, options out.
 */
import { parseArgs } from 'node:util';
import { PROXY_CASES } from './targets.ts';
import type { LoadCase } from './targets.ts';

export const ALL_CASES = ['direct', ...PROXY_CASES, 'dashboard'] as const;
export type BenchCase = (typeof ALL_CASES)[number];

export interface BenchOptions {
  /** The cases to run, in table order; `direct` is always among them when a proxy is. */
  cases: BenchCase[];
  quick: boolean;
  /** Seconds of each measured wrk run. */
  durationSeconds: number;
  /** Whether --duration was given (the dashboard case keeps its own default otherwise). */
  durationGiven: boolean;
  /** Seconds of the warm-up run after each start. */
  warmupSeconds: number;
  rounds: number;
  connections: number;
  threads: number;
  /** The fixed rates, in requests per second. */
  latencyRates: readonly [number, number];
  cpuRate: number;
  /** How many starts the readiness figure is the median of. */
  starts: number;
  /** 1 MiB responses and uploads. */
  large: boolean;
  /** Where the JSON goes; default bench/results/bench-<time>.json. */
  out?: string;
  /** Benchmark skiff's TypeScript sources (bin/skiff.ts) instead of the built JavaScript. */
  ts: boolean;
  help: boolean;
}

export const HELP = `Usage: npm run bench -- [options]

Runs the same upstream directly and through skiff, node-relay, nginx and haproxy, under the same
wrk load, and prints throughput at saturation, latency at fixed rates, CPU seconds per 1,000
requests, peak RSS and start-up time, with the ratios skiff/nginx, skiff/direct and
skiff/node-relay (docs/performance.md). node-relay is a reference, not a proxy: a plain node:net
relay on the same Node that parses nothing, the floor any Node sidecar sits on. The targets
compare skiff with nginx.

Options:
  --quick              a smoke check: 2 s runs, 1 round, 3 starts, no large bodies
  --only LIST          cases to run, comma-separated:
                       direct,skiff,node-relay,nginx,haproxy,dashboard
                       (direct, the baseline, is added whenever a proxy is chosen)
  --duration SECONDS   length of each measured run (default 10; --quick: 2)
  --rounds N           rounds; figures are medians over rounds (default 2; --quick: 1)
  --connections N      wrk keep-alive connections (default 32)
  --threads N          wrk threads (default 2)
  --starts N           starts of each proxy for the readiness median (default 5; --quick: 3)
  --large, --no-large  also 1 MiB responses and 1 MiB uploads (default on; --quick: off)
  --out FILE           write the JSON results there (default bench/results/bench-<time>.json)
  --ts                 run skiff from its TypeScript sources (default: the JavaScript that
                       \`npm run build\` writes to dist/js, as in the container image)
  -h, --help           show this help
`;

function positiveInt(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const t = text.trim().replace(/s$/, '');
  if (!/^\d+$/.test(t) || Number(t) < 1) throw new Error(`--${name} must be a positive whole number, not "${text}"`);
  return Number(t);
}

export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    allowNegative: true,
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      duration: { type: 'string' },
      rounds: { type: 'string' },
      connections: { type: 'string' },
      threads: { type: 'string' },
      starts: { type: 'string' },
      large: { type: 'boolean' },
      out: { type: 'string' },
      ts: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const quick = values.quick;
  let cases: BenchCase[] = [...ALL_CASES];
  if (values.only !== undefined) {
    const wanted = values.only.split(',').map((s) => s.trim()).filter(Boolean);
    for (const w of wanted) {
      if (!(ALL_CASES as readonly string[]).includes(w)) throw new Error(`--only: unknown case "${w}" (choose from ${ALL_CASES.join(', ')})`);
    }
    if (wanted.length === 0) throw new Error('--only needs at least one case');
    // The baseline of "added latency" and of skiff/direct: always measured with a proxy.
    if (wanted.some((w) => (PROXY_CASES as readonly string[]).includes(w))) wanted.push('direct');
    cases = ALL_CASES.filter((c) => wanted.includes(c));
  }
  const durationSeconds = positiveInt('duration', values.duration, quick ? 2 : 10);
  const connections = positiveInt('connections', values.connections, 32);
  const threads = positiveInt('threads', values.threads, 2);
  if (threads > connections) throw new Error('--threads cannot exceed --connections (wrk gives each thread at least one)');
  return {
    cases,
    quick,
    durationSeconds,
    durationGiven: values.duration !== undefined,
    warmupSeconds: quick ? 1 : 2,
    rounds: positiveInt('rounds', values.rounds, quick ? 1 : 2),
    connections,
    threads,
    latencyRates: [1000, 5000],
    cpuRate: 4000,
    starts: positiveInt('starts', values.starts, quick ? 3 : 5),
    large: values.large ?? !quick,
    out: values.out,
    ts: values.ts,
    help: values.help,
  };
}

export function loadCases(cases: readonly BenchCase[]): LoadCase[] {
  return cases.filter((c): c is LoadCase => c !== 'dashboard');
}
