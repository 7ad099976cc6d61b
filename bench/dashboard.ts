/**
 * The dashboard benchmark: one `skiff dashboard` process ingests real-format reports from many
 * simulated sidecars while a reader polls `GET /api/services?window=5m`.
 *
 * Target (issue 3): 2,000 sidecars × 50 series, one report each per 5 s (400 reports/s), with the
 * dashboard under one core and `/api/services` under 100 ms at p95.
 *
 * How it measures:
 * - the dashboard runs as its own process (`node bin/skiff.ts dashboard`), so its CPU is
 *   `utime + stime` of /proc/PID/stat (proc(5)) over the measured period, and its memory the
 *   peak resident set (VmHWM);
 * - the sidecars are simulated by client processes (forks of this file), each holding a
 *   keep-alive pool: every sidecar posts once per interval at its own phase, so the load is
 *   smooth, as from real sidecars. Reports are real ReportV1 with sketches made by Sketch from
 *   sampled latencies and sizes; only seq, start and end change between a sidecar's reports;
 * - after a warm-up, the reader sends one GET at a time and records each answer's latency.
 *
 * Standalone: `node bench/dashboard.ts [--sidecars 2000] [--series 50] [--warmup 20] [--duration 40] [--no-gzip]`;
 * profile the dashboard with `--dashboard-node-args '--cpu-prof --cpu-prof-dir=/tmp/prof'`.
 * `runDashboardBench(options)` is what `npm run bench` calls; it returns the figures and `text`.
 */
import { fork, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Sketch } from '../src/telemetry/sketch.ts';
import type { RequestSeriesDelta } from '../src/telemetry/report-format.ts';
import type { ServicesResponse } from '../src/dashboard/api-types.ts';

const SELF = fileURLToPath(import.meta.url);
const ROOT = resolve(import.meta.dirname, '..');
const TOKEN = 'bench-token-0123456789abcdef';
const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) is 100 on Linux

export interface DashboardBenchOptions {
  sidecars?: number;
  /** Request series per report (4/5 inbound, 1/5 outbound). */
  series?: number;
  /** Pods per service (services = sidecars / pods). */
  podsPerService?: number;
  intervalMs?: number;
  /** Seconds of load before measuring (buckets fill, connections warm). */
  warmupSeconds?: number;
  /** Seconds measured. */
  durationSeconds?: number;
  /** Client processes simulating the sidecars. */
  clients?: number;
  /** Send gzip bodies, as the reporter does for bodies over 1 KiB (default true). */
  gzip?: boolean;
  /** Extra Node.js flags for the dashboard process (e.g. `--cpu-prof` to profile it). */
  dashboardNodeArgs?: readonly string[];
  /** `npm run bench -- --quick`: a short run. */
  quick?: boolean;
  node?: string;
  root?: string;
  tmp?: string;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export interface DashboardBenchResult {
  sidecars: number;
  seriesPerReport: number;
  services: number;
  targetReportsPerSecond: number;
  reportsPerSecond: number;
  reportBytes: number;
  /** Average bytes on the wire (gzip) per report. */
  wireBytes: number;
  acked: number;
  failed: number;
  dashboardCpuCores: number;
  /** Dashboard CPU time per acknowledged report (includes the queries and bucket closing). */
  cpuMsPerReport: number;
  /** What the simulated sidecars cost (they share the machine). */
  clientsCpuCores: number;
  dashboardPeakRssMB: number;
  servicesQueries: number;
  servicesP50Ms: number;
  servicesP95Ms: number;
  servicesMaxMs: number;
  servicesListed: number;
  storeMB: number;
  warmupSeconds: number;
  durationSeconds: number;
  text: string;
}

// ─── the simulated sidecars (client processes) ───────────────────────────────────────────────

interface ClientConfig {
  url: string;
  first: number;
  count: number;
  total: number;
  series: number;
  podsPerService: number;
  intervalMs: number;
  gzip: boolean;
}

interface ClientStats {
  sent: number;
  acked: number;
  failed: number;
  /** JSON bytes, and bytes on the wire (gzip). */
  bytes: number;
  wireBytes: number;
}

/** A small deterministic PRNG (mulberry32): every run posts the same data. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function logNormal(rnd: () => number, median: number, sigma: number): number {
  const u = Math.max(rnd(), 1e-12);
  const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rnd());
  return median * Math.exp(sigma * z);
}

/** The request series of one service's pods: routes × outcomes inbound, calls to two peers outbound. */
export function serviceSeries(service: number, services: number, n: number): RequestSeriesDelta[] {
  const rnd = prng(service + 1);
  const out: RequestSeriesDelta[] = [];
  const outcomes = [
    { method: 'GET', status: 200, count: 60 },
    { method: 'POST', status: 201, count: 12 },
    { method: 'GET', status: 404, count: 4 },
    { method: 'GET', status: 503, count: 1 },
  ];
  const inbound = Math.round(n * 0.8);
  for (let i = 0; out.length < n; i++) {
    const isIn = out.length < inbound;
    const o = outcomes[i % outcomes.length]!;
    const count = Math.max(1, Math.round(o.count * (0.5 + rnd())));
    const median = 5 + 40 * rnd();
    const latency = new Sketch();
    const req = new Sketch();
    const resp = new Sketch();
    let reqTotal = 0;
    let respTotal = 0;
    for (let k = 0; k < count; k++) {
      latency.add(logNormal(rnd, median, 0.6));
      const q = o.method === 'POST' ? Math.round(logNormal(rnd, 800, 0.4)) : 0;
      const r = Math.round(logNormal(rnd, 2000, 0.5));
      req.add(q);
      resp.add(r);
      reqTotal += q;
      respTotal += r;
    }
    out.push({
      direction: isIn ? 'inbound' : 'outbound',
      peer: isIn ? '' : `svc-${(service + 1 + (i % 2)) % services}`,
      method: o.method,
      route: `/api/v1/res${Math.floor(i / outcomes.length) % 20}/{id}`,
      statusCode: o.status,
      error: '',
      count,
      requestBytesTotal: reqTotal,
      responseBytesTotal: respTotal,
      latencyMs: latency.toJSON(),
      requestBytes: req.toJSON(),
      responseBytes: resp.toJSON(),
    });
  }
  return out;
}

async function runClient(config: ClientConfig, send: (m: unknown) => void, onMessage: (fn: (m: unknown) => void) => void): Promise<void> {
  const services = Math.ceil(config.total / config.podsPerService);
  const seriesJson = new Map<number, string>();
  const url = new URL(config.url);
  const agent = new Agent({ keepAlive: true, maxSockets: 24 });
  const stats: ClientStats = { sent: 0, acked: 0, failed: 0, bytes: 0, wireBytes: 0 };
  const sidecars = Array.from({ length: config.count }, (_, i) => {
    const index = config.first + i;
    const service = index % services;
    if (!seriesJson.has(service)) seriesJson.set(service, JSON.stringify(serviceSeries(service, services, config.series)));
    return {
      id: `bench-${index.toString(36)}-${process.pid.toString(36)}`,
      service,
      pod: `svc-${service}-${Math.floor(index / services)}`,
      seq: 0,
      cpu: 0,
      // Spread the sidecars evenly over the interval, as independent processes would be.
      next: Date.now() + (index / config.total) * config.intervalMs,
    };
  });
  let inflight = 0;
  let stopped = false;
  const post = (s: (typeof sidecars)[number]): void => {
    s.seq++;
    s.cpu += 0.01 + 0.02 * ((s.seq * 7) % 5);
    const end = Date.now();
    const body =
      `{"version":1,"sidecarId":"${s.id}","seq":${s.seq},"start":${end - config.intervalMs},"end":${end},` +
      `"identity":{"service":"svc-${s.service}","namespace":"bench","pod":"${s.pod}"},` +
      `"resources":{"source":"cgroup2","cpuSecondsTotal":${s.cpu.toFixed(3)},"cpuLimitCores":1,"memoryBytes":${50_000_000 + s.seq},"memoryLimitBytes":268435456},` +
      `"requests":${seriesJson.get(s.service)!},"tcp":[],"droppedReports":0}`;
    inflight++;
    stats.sent++;
    stats.bytes += Buffer.byteLength(body);
    // Level 1 keeps the simulated sidecars cheap; the dashboard's inflate costs the same either way.
    const wire = config.gzip ? gzipSync(body, { level: 1 }) : Buffer.from(body);
    stats.wireBytes += wire.length;
    const headers: Record<string, string | number> = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'content-length': wire.length };
    if (config.gzip) headers['content-encoding'] = 'gzip';
    const req = request(
      { host: url.hostname, port: url.port, path: '/api/reports', method: 'POST', agent, headers },
      (res) => {
        res.resume();
        res.on('end', () => {
          inflight--;
          if (res.statusCode === 200) stats.acked++;
          else stats.failed++;
        });
      },
    );
    req.on('error', () => {
      inflight--;
      stats.failed++;
    });
    req.end(wire);
  };
  const tick = (): void => {
    if (stopped) return;
    const now = Date.now();
    for (const s of sidecars) {
      if (s.next > now) continue;
      s.next += config.intervalMs;
      // A real reporter queues when the dashboard is slow; here the bound is the pool's.
      if (inflight < 256) post(s);
      else stats.failed++;
    }
    setTimeout(tick, 5);
  };
  onMessage((m) => {
    if (m === 'stats') send({ stats: { ...stats } });
    if (m === 'stop') {
      stopped = true;
      agent.destroy();
      send({ stats: { ...stats }, stopped: true });
    }
  });
  send({ ready: true });
  tick();
  await new Promise<void>(() => undefined);
}

// ─── the measuring side ──────────────────────────────────────────────────────────────────────

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
}

function peakRssKb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1)))]!;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    }, { once: true });
  });
}

function startDashboard(node: string, root: string, data: string, nodeArgs: readonly string[]): Promise<{ child: ChildProcess; url: string; log: () => string }> {
  const child = spawn(node, [...nodeArgs, join(root, 'bin/skiff.ts'), 'dashboard', '--listen', '127.0.0.1:0', '--data', data, '--log-level', 'warn'], {
    env: { PATH: process.env.PATH ?? '', SKIFF_TOKEN: TOKEN },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let text = '';
  let started = false;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the dashboard did not start: ${text}`)), 30_000);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      text = (text + chunk).slice(-16_384);
      const m = started ? null : /skiff dashboard: (http:\/\/\S+?)\/ \(log in/.exec(text);
      if (m) {
        started = true;
        clearTimeout(timer);
        resolve({ child, url: m[1]!, log: () => text });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the dashboard exited (${code}): ${text}`));
    });
  });
}

function getJson(url: string): Promise<{ ms: number; body: unknown }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { authorization: `Bearer ${TOKEN}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const ms = performance.now() - started;
        if (res.statusCode !== 200) reject(new Error(`GET ${url}: ${res.statusCode}`));
        else resolve({ ms, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown });
      });
    });
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Runs the benchmark and returns its figures (and `text`, a short human summary).
 * @example
 * const r = await runDashboardBench({ sidecars: 200, durationSeconds: 10 });
 * console.log(r.text);
 */
export async function runDashboardBench(options: DashboardBenchOptions = {}): Promise<DashboardBenchResult> {
  const log = options.log ?? (() => undefined);
  const sidecarCount = options.sidecars ?? 2000;
  const series = options.series ?? 50;
  const podsPerService = options.podsPerService ?? 10;
  const intervalMs = options.intervalMs ?? 5000;
  const warmupSeconds = options.warmupSeconds ?? (options.quick ? 10 : 20);
  const durationSeconds = options.quick ? Math.min(options.durationSeconds ?? 15, 15) : (options.durationSeconds ?? 40);
  const clientCount = options.clients ?? 2;
  const node = options.node ?? process.execPath;
  const root = options.root ?? ROOT;
  const tmp = mkdtempSync(join(options.tmp ?? tmpdir(), 'skiff-dash-bench-'));
  const children: ChildProcess[] = [];
  try {
    const dash = await startDashboard(node, root, join(tmp, 'data'), options.dashboardNodeArgs ?? []);
    children.push(dash.child);
    log(`  dashboard at ${dash.url} (pid ${dash.child.pid}); ${sidecarCount} sidecars × ${series} series every ${intervalMs / 1000}s`);

    const clients: { child: ChildProcess; stats: (final?: boolean) => Promise<ClientStats> }[] = [];
    const per = Math.ceil(sidecarCount / clientCount);
    for (let c = 0; c < clientCount; c++) {
      const config: ClientConfig = { url: dash.url, first: c * per, count: Math.min(per, sidecarCount - c * per), total: sidecarCount, series, podsPerService, intervalMs, gzip: options.gzip ?? true };
      const child = fork(SELF, ['--client', JSON.stringify(config)], { execPath: node, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      children.push(child);
      await new Promise<void>((resolve, reject) => {
        child.once('message', () => resolve());
        child.once('exit', (code) => reject(new Error(`bench client exited (${code})`)));
      });
      clients.push({
        child,
        stats: (final = false) =>
          new Promise((resolve) => {
            child.once('message', (m) => resolve((m as { stats: ClientStats }).stats));
            child.send(final ? 'stop' : 'stats');
          }),
      });
    }
    const sum = async (final = false): Promise<ClientStats> => {
      const all = await Promise.all(clients.map((c) => c.stats(final)));
      return all.reduce((a, b) => ({ sent: a.sent + b.sent, acked: a.acked + b.acked, failed: a.failed + b.failed, bytes: a.bytes + b.bytes, wireBytes: a.wireBytes + b.wireBytes }));
    };

    log(`  warming up for ${warmupSeconds}s`);
    await sleep(warmupSeconds * 1000, options.signal);
    const pid = dash.child.pid!;
    const before = await sum();
    const clientTicks = (): number => clients.reduce((n, c) => n + (c.child.pid ? cpuTicks(c.child.pid) : 0), 0);
    const clientTicks0 = clientTicks();
    const ticks0 = cpuTicks(pid);
    const t0 = performance.now();
    log(`  measuring for ${durationSeconds}s`);
    const latencies: number[] = [];
    let listed = 0;
    const deadline = t0 + durationSeconds * 1000;
    while (performance.now() < deadline) {
      options.signal?.throwIfAborted();
      const { ms, body } = await getJson(`${dash.url}/api/services?window=5m`);
      latencies.push(ms);
      listed = (body as ServicesResponse).services.length;
      await sleep(200, options.signal);
    }
    const elapsed = (performance.now() - t0) / 1000;
    const ticks1 = cpuTicks(pid);
    const clientTicks1 = clientTicks();
    const afterStats = await sum(true);
    const rss = peakRssKb(pid);
    dash.child.kill('SIGTERM');
    await new Promise((r) => dash.child.once('exit', r));
    let storeBytes = 0;
    for (const f of ['dashboard.db', 'dashboard.db-wal']) {
      try {
        storeBytes += statSync(join(tmp, 'data', f)).size;
      } catch {
        // no WAL after a clean close
      }
    }
    latencies.sort((a, b) => a - b);
    const acked = afterStats.acked - before.acked;
    const sent = afterStats.sent - before.sent;
    const result: Omit<DashboardBenchResult, 'text'> = {
      sidecars: sidecarCount,
      seriesPerReport: series,
      services: Math.ceil(sidecarCount / podsPerService),
      targetReportsPerSecond: sidecarCount / (intervalMs / 1000),
      reportsPerSecond: acked / elapsed,
      reportBytes: Math.round((afterStats.bytes - before.bytes) / Math.max(1, sent)),
      wireBytes: Math.round((afterStats.wireBytes - before.wireBytes) / Math.max(1, sent)),
      acked,
      failed: afterStats.failed - before.failed,
      dashboardCpuCores: (ticks1 - ticks0) / CLK_TCK / elapsed,
      cpuMsPerReport: ((ticks1 - ticks0) / CLK_TCK / Math.max(1, acked)) * 1000,
      clientsCpuCores: (clientTicks1 - clientTicks0) / CLK_TCK / elapsed,
      dashboardPeakRssMB: Math.round(rss / 1024),
      servicesQueries: latencies.length,
      servicesP50Ms: quantile(latencies, 0.5),
      servicesP95Ms: quantile(latencies, 0.95),
      servicesMaxMs: latencies.at(-1) ?? NaN,
      servicesListed: listed,
      storeMB: Math.round(storeBytes / 1e6),
      warmupSeconds,
      durationSeconds: Math.round(elapsed),
    };
    // What the dashboard logged (warnings and errors only: it runs with --log-level warn).
    const logged = dash.log().split('\n').filter((l) => / (warn|error) /.test(l));
    const text = [
      `dashboard: ${result.sidecars} sidecars × ${series} series (${result.services} services), ${result.reportsPerSecond.toFixed(0)} reports/s acknowledged of ${result.targetReportsPerSecond} target, ${(result.reportBytes / 1024).toFixed(1)} KiB of JSON each (${(result.wireBytes / 1024).toFixed(1)} KiB ${options.gzip ?? true ? 'gzip' : 'plain'} on the wire), ${result.failed} failed`,
      `  dashboard CPU ${result.dashboardCpuCores.toFixed(2)} cores (${result.cpuMsPerReport.toFixed(2)} ms per report; the simulated sidecars used ${result.clientsCpuCores.toFixed(2)} cores), peak RSS ${result.dashboardPeakRssMB} MB, store ${result.storeMB} MB after ${warmupSeconds + result.durationSeconds}s`,
      `  GET /api/services?window=5m while ingesting: p50 ${result.servicesP50Ms.toFixed(1)} ms, p95 ${result.servicesP95Ms.toFixed(1)} ms, max ${result.servicesMaxMs.toFixed(1)} ms (${result.servicesQueries} queries, ${listed} services listed)`,
      ...(logged.length > 0 ? [`  the dashboard logged ${logged.length} warnings/errors; last: ${logged.at(-1)!.slice(0, 300)}`] : []),
    ].join('\n');
    return { ...result, text };
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    rmSync(tmp, { recursive: true, force: true });
  }
}

// ─── entry points ────────────────────────────────────────────────────────────────────────────

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      client: { type: 'string' },
      sidecars: { type: 'string' },
      series: { type: 'string' },
      warmup: { type: 'string' },
      duration: { type: 'string' },
      clients: { type: 'string' },
      'dashboard-node-args': { type: 'string' },
      'no-gzip': { type: 'boolean' },
    },
  });
  if (values.client !== undefined) {
    await runClient(
      JSON.parse(values.client) as ClientConfig,
      (m) => process.send?.(m),
      (fn) => process.on('message', fn),
    );
  } else {
    const controller = new AbortController();
    process.on('SIGINT', () => controller.abort(new Error('interrupted')));
    const num = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));
    const r = await runDashboardBench({
      sidecars: num(values.sidecars),
      series: num(values.series),
      warmupSeconds: num(values.warmup),
      durationSeconds: num(values.duration),
      clients: num(values.clients),
      gzip: !values['no-gzip'],
      dashboardNodeArgs: values['dashboard-node-args']?.split(' ').filter(Boolean) ?? [],
      signal: controller.signal,
      log: (line) => process.stderr.write(`${line}\n`),
    });
    const { text, ...figures } = r;
    process.stdout.write(`${text}\n${JSON.stringify(figures)}\n`);
  }
}
