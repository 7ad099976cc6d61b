/**
 * `npm run bench -- [options]` (see `--help` and docs/performance.md). The bench's entry point
 * and the only bench file that touches `process`: it turns signals into an abort, makes sure no
 * child outlives the run, prints the report on stdout (progress goes to stderr) and writes the
 * JSON under bench/results/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { dashboardText, runBench } from './bench.ts';
import { HELP, parseBenchArgs } from './options.ts';
import type { BenchOptions } from './options.ts';
import { Supervisor } from './proc.ts';
import { formatReport, median } from './report.ts';

const root = resolve(import.meta.dirname, '..');
const supervisor = new Supervisor();
const controller = new AbortController();

// Last resort: whatever happens, no child outlives us.
process.on('exit', () => supervisor.killAllSync());
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    if (controller.signal.aborted) {
      supervisor.killAllSync();
      process.exit(130);
    }
    process.stderr.write(`\nbench: ${sig}, stopping every child process…\n`);
    controller.abort(new Error(`interrupted by ${sig}`));
  });
}

/** A line when other work was already using the machine at the start (load ≥ half the CPUs). */
function busyWarning(load: unknown, cpus: unknown): string[] {
  const l1 = Array.isArray(load) ? Number(load[0]) : NaN;
  const n = Number(cpus);
  return l1 >= n / 2 ? [`WARNING: load ${l1} on ${n} CPUs before the bench started: other work competes for the cores; even ratios are noisy.`] : [];
}

function nodeBaseline(samples: readonly number[] | undefined): string[] {
  const ms = median(samples ?? []);
  return ms === undefined ? [] : [`For scale: a bare node:http listener on the same Node answers its first request ${ms.toFixed(0)} ms after spawn (median).`];
}

let options: BenchOptions;
try {
  options = parseBenchArgs(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\nRun \`npm run bench -- --help\` for usage.\n`);
  process.exit(2);
}
if (options.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

try {
  const result = await runBench(options, {
    supervisor,
    signal: controller.signal,
    log: (line) => process.stderr.write(`${line}\n`),
    root,
    env: process.env,
    isRoot: process.getuid?.() === 0,
    node: process.execPath,
    pid: process.pid,
  });
  const file = options.out !== undefined ? resolve(options.out) : join(root, 'bench/results', `bench-${result.startedAt.replace(/[:.]/g, '-')}.json`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  const o = result.options;
  const m = result.machine;
  const title = `skiff bench — ${result.startedAt}`;
  const lines = [
    `${String(m.cpus)} CPUs (${String(m.cpuModel)}), load ${JSON.stringify(m.loadavgAtStart)} → ${JSON.stringify(m.loadavgAtEnd)}; node ${String(m.node)}`,
    `wrk ${o.connections} keep-alive connections, ${o.threads} threads; ${o.durationSeconds} s runs; ${o.rounds} round(s), medians; fixed rates ${o.latencyRates.join(' and ')} req/s, CPU at ${o.cpuRate} req/s`,
    'Other work shares this machine: compare ratios within one run, not absolute figures across runs.',
    ...busyWarning(m.loadavgAtStart, m.cpus),
    ...nodeBaseline(result.baselines.nodeListenerReadyMs),
    `JSON: ${relative(process.cwd(), file) || file}`,
  ];
  process.stdout.write(formatReport({ title, lines }, result.summaries, o.latencyRates, dashboardText(result.dashboard)));
} catch (err) {
  const interrupted = controller.signal.aborted;
  process.stderr.write(`bench: ${interrupted ? 'interrupted' : err instanceof Error ? err.message : String(err)}\n`);
  if (!interrupted && process.env.SKIFF_DEBUG && err instanceof Error) process.stderr.write(`${err.stack ?? ''}\n`);
  process.exitCode = interrupted ? 130 : 1;
} finally {
  await supervisor.stopAll();
}
