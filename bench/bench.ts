/**
 * The benchmark itself: one upstream, one load generator, every case side by side.
 *
 *   tools ► upstream (own process) ► warm-up ► start-up times (N fresh starts per proxy)
 *   ► rounds: for each case, a fresh proxy ► warm-up ► 1k and 5k req/s (latency; VmHWM after 5k)
 *             ► 4k req/s (CPU) ► saturation ► [1 MiB responses, 1 MiB uploads] ► stop
 *   ► dashboard case (bench/dashboard.ts, when present) ► summary
 *
 * Rounds alternate the order of the cases, so that no case always runs first (on a cold
 * machine) or last. A proxy that cannot start is "not available" and the run goes on.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BenchOptions } from './options.ts';
import { loadCases } from './options.ts';
import type { Supervisor } from './proc.ts';
import { cpuSeconds, isAlive, readPeakRss, sweepOrphans } from './proc.ts';
import type { CaseResult, CaseSummary, RatioRow, RoundResult, TargetCheck } from './report.ts';
import { checkTargets, ratioRows, summarize } from './report.ts';
import type { ProxyCase, StartContext, Started, Tools } from './targets.ts';
import { StartError, nodeListenerReadyMs, startProxy } from './targets.ts';
import { ensureTools } from './tools.ts';
import type { ToolName } from './tools.ts';
import type { ScriptOptions, WrkResult } from './wrk.ts';
import { runWrk } from './wrk.ts';

export interface BenchEnv {
  supervisor: Supervisor;
  signal: AbortSignal;
  /** Progress for people (stderr). */
  log: (line: string) => void;
  /** The repository root. */
  root: string;
  env: NodeJS.ProcessEnv;
  isRoot: boolean;
  /** The pinned Node that runs the upstream and skiff. */
  node: string;
  /** The bench's own pid: it names the temp dir, so that a later run can tell orphans. */
  pid: number;
}

export interface BenchResult {
  version: 1;
  startedAt: string;
  finishedAt: string;
  options: BenchOptions;
  machine: Record<string, string | number | number[]>;
  notes: string[];
  /** Start-up of a bare node:http listener, ms per start (for scale next to skiff's). */
  baselines: { nodeListenerReadyMs?: number[] };
  cases: CaseResult[];
  summaries: CaseSummary[];
  ratios: RatioRow[];
  checks: TargetCheck[];
  dashboard?: { ok: boolean; result?: unknown; error?: string };
}

/** Connections for the 1 MiB cases: fewer, as 32 × 1 MiB in flight measures buffers, not proxies. */
const LARGE_CONNECTIONS = 8;
const LARGE_BODY_BYTES = 1024 * 1024;

function firstLine(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 });
  return `${r.stdout}${r.stderr}`.trim().split('\n')[0] ?? '';
}

async function startUpstream(env: BenchEnv, tmp: string): Promise<{ port: number }> {
  const child = await env.supervisor.spawn('upstream', env.node, [join(env.root, 'bench/upstream.ts')], { stdin: 'pipe', cwd: tmp });
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const m = /\{"port":(\d+)\}/.exec(child.stdout());
    if (m) return { port: Number(m[1]) };
    if (child.exitInfo()) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await env.supervisor.stop(child);
  throw new Error(`the upstream did not start: ${child.stderr().trim() || 'no port printed within 15 s'}`);
}

interface Measured {
  run(label: string, script: ScriptOptions, opts?: { path?: string; connections?: number; durationSeconds?: number }): Promise<{ wrk: WrkResult; cpuSeconds?: number }>;
}

/** Measures one case for one round against `baseUrl`; `pids` are the processes whose CPU counts. */
function measurer(options: BenchOptions, env: BenchEnv, tmp: string, wrk: string, baseUrl: string, pids: readonly number[]): Measured {
  return {
    async run(label, script, opts = {}) {
      const connections = opts.connections ?? options.connections;
      const before = pids.length ? cpuSeconds(pids) : undefined;
      const result = await runWrk(env.supervisor, {
        wrk,
        url: new URL(opts.path ?? '/', baseUrl).href,
        connections,
        threads: Math.min(options.threads, connections),
        durationSeconds: opts.durationSeconds ?? options.durationSeconds,
        script: { ...script, threads: Math.min(options.threads, connections) },
        dir: tmp,
        signal: env.signal,
      });
      const cpu = before === undefined ? undefined : cpuSeconds(pids) - before;
      const lat = result.latency;
      env.log(`      ${label.padEnd(16)} ${Math.round(result.rate).toString().padStart(6)} req/s  p50 ${lat.p50.toFixed(3)} ms  p99 ${lat.p99.toFixed(3)} ms${cpu === undefined ? '' : `  cpu ${cpu.toFixed(2)} s`}`);
      return { wrk: result, cpuSeconds: cpu };
    },
  };
}

interface Contestant {
  result: CaseResult;
  started?: Started;
  pids: readonly number[];
  m: Measured;
  r: RoundResult;
  failed: boolean;
}

interface Phase {
  name: string;
  run(c: Contestant): Promise<void>;
}

/** The measurements of one round, in order; each is taken from every case before the next. */
function phases(options: BenchOptions): Phase[] {
  const t = options.threads;
  const list: Phase[] = [
    {
      name: 'warm-up',
      run: async (c) => {
        await c.m.run('warm-up', { rate: options.cpuRate, threads: t }, { durationSeconds: options.warmupSeconds });
      },
    },
    ...options.latencyRates.map((rate, i): Phase => ({
      name: `${rate} req/s`,
      run: async (c) => {
        c.r.latency.push({ targetRate: rate, ...(await c.m.run(`${rate} req/s`, { rate, threads: t })) });
        // The peak so far: start, warm-up and the fixed rates up to the highest.
        if (i === options.latencyRates.length - 1) c.r.peakRssBytes = sumDefined(c.pids.map(readPeakRss));
      },
    })),
    {
      name: `${options.cpuRate} req/s (cpu)`,
      run: async (c) => {
        c.r.cpu = { targetRate: options.cpuRate, ...(await c.m.run(`${options.cpuRate} req/s (cpu)`, { rate: options.cpuRate, threads: t })) };
      },
    },
    {
      name: 'saturation',
      run: async (c) => {
        const sat = await c.m.run('saturation', { threads: t });
        c.r.saturation = { ...sat, peakRssBytes: sumDefined(c.pids.map(readPeakRss)) };
      },
    },
  ];
  if (options.large) {
    const durationSeconds = Math.max(1, Math.round(options.durationSeconds / 2));
    list.push(
      {
        name: '1 MiB responses',
        run: async (c) => {
          const { wrk } = await c.m.run('1 MiB responses', { threads: t }, { path: '/large', connections: LARGE_CONNECTIONS, durationSeconds });
          c.r.large = { ...c.r.large, download: wrk };
        },
      },
      {
        name: '1 MiB uploads',
        run: async (c) => {
          const { wrk } = await c.m.run('1 MiB uploads', { threads: t, method: 'POST', bodyBytes: LARGE_BODY_BYTES }, { path: '/upload', connections: LARGE_CONNECTIONS, durationSeconds });
          c.r.large = { ...c.r.large, upload: wrk };
        },
      },
    );
  }
  return list;
}

/**
 * One round: every proxy started fresh, then each measurement taken from every case back to
 * back, the order flipping from one measurement to the next. On a machine shared with other
 * work the load changes from minute to minute; interleaving puts the cases under the same
 * conditions, which is what their ratios need.
 */
async function runRound(round: number, cases: readonly CaseResult[], options: BenchOptions, env: BenchEnv, ctx: StartContext, upstreamUrl: string, tmp: string): Promise<void> {
  const contestants: Contestant[] = [];
  try {
    for (const result of cases) {
      if (!result.available) continue;
      let started: Started | undefined;
      if (result.name !== 'direct') {
        try {
          started = await startProxy(result.name, ctx);
        } catch (err) {
          if (!(err instanceof StartError)) throw err;
          result.problems.push(`round ${round}: did not start: ${err.message}`);
          continue;
        }
      }
      const pids = started?.servingPids ?? [];
      contestants.push({ result, started, pids, m: measurer(options, env, tmp, ctx.tools.wrk, started?.url ?? upstreamUrl, pids), r: { round, latency: [] }, failed: false });
    }
    let flip = round % 2 === 0;
    for (const phase of phases(options)) {
      env.log(`  ${phase.name}`);
      const order = flip ? [...contestants].reverse() : contestants;
      flip = !flip;
      for (const c of order) {
        if (c.failed) continue;
        env.signal.throwIfAborted();
        try {
          env.log(`    ${c.result.name}`);
          await phase.run(c);
          const info = c.started?.child.exitInfo();
          if (info) throw new StartError(`exited with ${info.code ?? info.signal}: ${c.started?.child.stderr().trim().split('\n').slice(-3).join(' | ') ?? ''}`);
        } catch (err) {
          env.signal.throwIfAborted();
          c.failed = true;
          c.result.problems.push(`round ${round}, ${phase.name}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    }
  } finally {
    for (const c of contestants) c.result.rounds.push(c.r);
    await Promise.all(contestants.flatMap((c) => (c.started ? [env.supervisor.stop(c.started.child)] : [])));
  }
}

/** Temp dirs of benches that are gone (killed before they could clean up). */
function removeStaleTempDirs(tmpRoot: string): void {
  for (const name of readdirSync(tmpRoot)) {
    const owner = Number(/^skiff-bench-(\d+)-/.exec(name)?.[1]);
    if (Number.isInteger(owner) && !isAlive(owner)) rmSync(join(tmpRoot, name), { recursive: true, force: true });
  }
}

function sumDefined(values: readonly (number | undefined)[]): number | undefined {
  const v = values.filter((x): x is number => x !== undefined);
  return v.length ? v.reduce((a, b) => a + b, 0) : undefined;
}

/** N fresh starts of one proxy: start-up times, or the reason it is not available. */
async function measureStartup(name: ProxyCase, result: CaseResult, starts: number, ctx: StartContext, env: BenchEnv): Promise<void> {
  const readyzMs: number[] = [];
  const firstResponseMs: number[] = [];
  for (let i = 0; i < starts; i++) {
    env.signal.throwIfAborted();
    let s: Started;
    try {
      s = await startProxy(name, ctx);
    } catch (err) {
      if (!(err instanceof StartError)) throw err;
      if (i === 0) {
        result.available = false;
        result.reason = err.message;
        return;
      }
      result.problems.push(`start ${i + 1}: ${err.message}`);
      continue;
    }
    if (s.readyzMs !== undefined) readyzMs.push(s.readyzMs);
    firstResponseMs.push(s.firstResponseMs);
    await env.supervisor.stop(s.child);
  }
  result.startup = { readyzMs, firstResponseMs };
  env.log(`  ${name}: ready in ${(name === 'skiff' ? readyzMs : firstResponseMs).map((x) => x.toFixed(0)).join(', ')} ms`);
}

async function runDashboardCase(options: BenchOptions, env: BenchEnv, tmp: string): Promise<BenchResult['dashboard']> {
  const file = join(env.root, 'bench/dashboard.ts');
  if (!existsSync(file)) return undefined;
  env.log('dashboard case (bench/dashboard.ts)');
  try {
    const mod: unknown = await import(pathToFileURL(file).href);
    const fn = typeof mod === 'object' && mod !== null ? (mod as Record<string, unknown>).runDashboardBench : undefined;
    if (typeof fn !== 'function') return { ok: false, error: 'bench/dashboard.ts does not export runDashboardBench' };
    const result: unknown = await (fn as (o: unknown) => unknown)({
      quick: options.quick,
      ...(options.durationGiven ? { durationSeconds: options.durationSeconds } : {}),
      signal: env.signal,
      log: env.log,
      root: env.root,
      node: env.node,
      tmp,
    });
    return { ok: true, result };
  } catch (err) {
    env.signal.throwIfAborted();
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

/** How the dashboard's result is printed: its own text when it gives one, else its JSON. */
export function dashboardText(d: BenchResult['dashboard']): string | undefined {
  if (!d) return undefined;
  if (!d.ok) return `dashboard: failed: ${d.error ?? 'unknown error'}`;
  const r = d.result;
  if (typeof r === 'string') return r;
  if (typeof r === 'object' && r !== null && typeof (r as Record<string, unknown>).text === 'string') return (r as Record<string, string>).text;
  return `dashboard:\n${JSON.stringify(r, null, 2)}`;
}

export async function runBench(options: BenchOptions, env: BenchEnv): Promise<BenchResult> {
  const startedAt = new Date().toISOString();
  const load = loadCases(options.cases);
  const wanted: ToolName[] = ['wrk'];
  if (load.includes('nginx')) wanted.push('nginx');
  if (load.includes('haproxy')) wanted.push('haproxy');
  const found = ensureTools(wanted, env.env, env.isRoot, env.log);
  const notes = [...found.notes];
  for (const n of notes) env.log(n);
  const wrk = found.paths.wrk;
  if (load.length > 0 && !wrk) throw new Error(`wrk is required and could not be found or installed: ${notes.join('; ') || 'not on PATH'}`);

  const machine: BenchResult['machine'] = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? '',
    kernel: release(),
    loadavgAtStart: loadavg().map((x) => Number(x.toFixed(2))),
    node: firstLine(env.node, ['--version']),
    ...(wrk ? { wrk: firstLine(wrk, ['--version']) } : {}),
    ...(found.paths.nginx ? { nginx: firstLine(found.paths.nginx, ['-v']) } : {}),
    ...(found.paths.haproxy ? { haproxy: firstLine(found.paths.haproxy, ['-v']) } : {}),
  };

  const swept = sweepOrphans(tmpdir());
  if (swept > 0) env.log(`killed ${swept} process(es) left behind by an earlier bench that was killed`);
  removeStaleTempDirs(tmpdir());
  const tmp = mkdtempSync(join(tmpdir(), `skiff-bench-${env.pid}-`));
  const cases: CaseResult[] = load.map((name) => ({ name, available: true, problems: [], rounds: [] }));
  let dashboard: BenchResult['dashboard'];
  const baselines: BenchResult['baselines'] = {};
  try {
    if (load.length > 0 && wrk) {
      const up = await startUpstream(env, tmp);
      const upstreamUrl = `http://127.0.0.1:${up.port}/`;
      const tools: Tools = { node: env.node, wrk, nginx: found.paths.nginx, haproxy: found.paths.haproxy };
      // skiff runs as it does in its image: the JavaScript that `npm run build` strips of types
      // (Node's in-process stripper alone would cost each process ~17 MiB; docs/performance.md).
      let skiffEntry = 'bin/skiff.ts';
      if (cases.some((c) => c.name === 'skiff') && !options.ts) {
        env.log('building dist/js (npm run build)');
        const built = spawnSync(env.node, [join(env.root, 'scripts', 'build.ts')], { cwd: env.root, encoding: 'utf8' });
        if (built.status === 0) skiffEntry = 'dist/js/bin/skiff.js';
        else env.log(`  build failed, benchmarking the TypeScript sources instead: ${(built.stderr || built.stdout).trim().split('\n').slice(-3).join(' ')}`);
      }
      const ctx: StartContext = { supervisor: env.supervisor, tools, root: env.root, tmp, upstreamPort: up.port, startTimeoutMs: 10_000, skiffEntry };
      env.log(`upstream on ${upstreamUrl}; warming it up`);
      await measurer(options, env, tmp, wrk, upstreamUrl, []).run('warm-up', { threads: options.threads }, { durationSeconds: options.warmupSeconds });

      env.log('start-up times');
      if (cases.some((c) => c.name === 'skiff')) {
        const samples: number[] = [];
        for (let i = 0; i < options.starts; i++) {
          const ms = await nodeListenerReadyMs(ctx);
          if (ms !== undefined) samples.push(ms);
        }
        baselines.nodeListenerReadyMs = samples;
        env.log(`  bare node:http listener: ready in ${samples.map((x) => x.toFixed(0)).join(', ')} ms`);
      }
      for (const c of cases) if (c.name !== 'direct') await measureStartup(c.name, c, options.starts, ctx, env);

      for (let round = 1; round <= options.rounds; round++) {
        env.log(`round ${round} of ${options.rounds}`);
        await runRound(round, cases, options, env, ctx, upstreamUrl, tmp);
      }
      for (const c of cases) {
        // Started for the start-up times but never got through a round: not available either.
        if (c.available && c.rounds.every((r) => r.latency.length === 0 && !r.saturation)) {
          c.available = false;
          c.reason = c.problems[0] ?? 'no run completed';
        }
      }
    }
    if (options.cases.includes('dashboard')) dashboard = await runDashboardCase(options, env, tmp);
  } finally {
    await env.supervisor.stopAll();
    // A proxy just stopped may still be writing its temp files; retry a little.
    rmSync(tmp, { recursive: true, force: true, maxRetries: 3 });
  }

  machine.loadavgAtEnd = loadavg().map((x) => Number(x.toFixed(2)));
  const rates = options.latencyRates;
  const summaries = summarize(cases, rates);
  return {
    version: 1,
    startedAt,
    finishedAt: new Date().toISOString(),
    options,
    machine,
    notes,
    baselines,
    cases,
    summaries,
    ratios: ratioRows(summaries, rates),
    checks: checkTargets(summaries, rates),
    dashboard,
  };
}

