/**
 * Browser-test harness: Debian's Chromium driven by playwright-core (never a downloaded
 * browser), and a real mesh to point it at: `skiff dashboard` and `skiff proxy` processes
 * (bin/skiff.ts) in front of small node:http apps, all on loopback ports chosen by the OS.
 *
 * @example
 * const mesh = new Mesh();
 * const dash = await mesh.dashboard();
 * const app = await mesh.app((req, res) => res.end('ok'));
 * const web = await mesh.sidecar({ service: 'web', app, dashboard: dash });
 * await sendRequests(web.port, [{ path: '/hello', count: 10 }]);
 * const browser = await launchBrowser();
 * await login(browser.page, dash);
 * // … assertions …
 * await browser.close();
 * await mesh.close();
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { BrowserContext, Page } from 'playwright-core';
import type { Running } from '../helpers/process.ts';
import { ROOT, runSkiff } from '../helpers/process.ts';
import { Sketch } from '../../src/telemetry/sketch.ts';
import type { ReportV1, RequestSeriesDelta } from '../../src/telemetry/report-format.ts';
import type { Identity } from '../../src/telemetry/model.ts';
import type { ReportAck } from '../../src/dashboard/api-types.ts';

export const CHROMIUM = '/usr/bin/chromium';
/** Generous: a loaded 2-core machine runs the dashboard, sidecars, apps and Chromium at once. */
export const SLOW_MS = 60_000;

export const RESULTS_DIR = process.env.SKIFF_TEST_RESULTS ?? join(ROOT, '.test-results');
export const SCREENSHOT_DIR = join(RESULTS_DIR, 'screenshots');

// ── the browser ───────────────────────────────────────────────────────────────────────────

export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  /** Problems the page reported (uncaught errors, console errors, dialogs): none expected. */
  problems: string[];
  /** Dialogs (alert, confirm…) the page opened: any is a script that should not have run. */
  dialogs: string[];
  /** Saves a full-page screenshot as `<SCREENSHOT_DIR>/<name>.png` and returns the path. */
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * Launches headless Chromium with a fresh profile (a temporary --user-data-dir, removed on
 * close). One launch per test file keeps the suite fast.
 */
export async function launchBrowser(options: { colorScheme?: 'light' | 'dark' } = {}): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'skiff-chromium-'));
  // launchPersistentContext is playwright's way to pass --user-data-dir (it refuses the flag in args).
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1400, height: 900 },
    colorScheme: options.colorScheme ?? 'light',
    timeout: SLOW_MS,
  });
  context.setDefaultTimeout(SLOW_MS);
  context.setDefaultNavigationTimeout(SLOW_MS);
  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  const dialogs: string[] = [];
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });
  page.on('dialog', (d) => {
    dialogs.push(`${d.type()}: ${d.message()}`);
    void d.dismiss().catch(() => undefined);
  });
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  return {
    context,
    page,
    problems,
    dialogs,
    async screenshot(name) {
      const path = join(SCREENSHOT_DIR, `${name}.png`);
      await page.screenshot({ path, fullPage: true });
      return path;
    },
    async close() {
      try {
        await context.close();
      } finally {
        rmSync(profile, { recursive: true, force: true });
      }
    },
  };
}

/** Logs in the way the dashboard's printed URL does (`/login?token=…`), landing on `next`. */
export async function login(page: Page, dashboard: Dashboard, next = '/'): Promise<void> {
  await page.goto(`${dashboard.url}/login?token=${encodeURIComponent(dashboard.token)}&next=${encodeURIComponent(next)}`);
}

/**
 * Retries `check` until it stops throwing (or `timeoutMs` passes, then throws its last error).
 * For what playwright's auto-waiting cannot express (a number in a cell reaching a value).
 */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = SLOW_MS, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}

// ── the mesh ──────────────────────────────────────────────────────────────────────────────

export interface Dashboard {
  url: string;
  token: string;
  process: Running;
}

export interface App {
  port: number;
  server: Server;
}

export interface Sidecar {
  service: string;
  /** Inbound listener: send traffic for the app here. */
  port: number;
  adminPort: number;
  process: Running;
}

/** Listens on an OS-chosen loopback port, then frees it: for flags that need a port up front. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Owns every process, server and temp dir it starts; `close()` ends them all. */
export class Mesh {
  #processes: Running[] = [];
  #servers: Server[] = [];
  #dirs: string[] = [];

  /** Starts `skiff dashboard` on a free loopback port with a fresh data dir. */
  async dashboard(options: { token?: string } = {}): Promise<Dashboard> {
    const token = options.token ?? `ui-test-token-${Math.random().toString(36).slice(2)}-${Date.now()}`;
    const data = mkdtempSync(join(tmpdir(), 'skiff-ui-dash-'));
    this.#dirs.push(data);
    const proc = runSkiff(['dashboard', '--listen', '127.0.0.1:0', '--data', data], { env: { SKIFF_TOKEN: token } });
    this.#processes.push(proc);
    const m = await proc.waitForLine(/skiff dashboard: (http:\/\/\S+?)\/ \(log in/, SLOW_MS);
    return { url: m[1]!, token, process: proc };
  }

  /** A small real app: a node:http server on a free loopback port. */
  async app(handler: RequestListener): Promise<App> {
    const server = createServer(handler);
    server.keepAliveTimeout = 1000;
    this.#servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { port: (server.address() as AddressInfo).port, server };
  }

  /** Starts `skiff proxy` in front of `app`, reporting to `dashboard` every second. */
  async sidecar(options: { service: string; namespace?: string; pod?: string; app: App; dashboard: Dashboard; extra?: string[] }): Promise<Sidecar> {
    const args = [
      'proxy',
      '--listen', '127.0.0.1:0',
      '--admin', '127.0.0.1:0',
      '--app', `127.0.0.1:${options.app.port}`,
      '--service', options.service,
      '--namespace', options.namespace ?? 'default',
      '--pod', options.pod ?? `${options.service}-0`,
      '--dashboard', options.dashboard.url,
      '--report-interval', '1s',
      ...(options.extra ?? []),
    ];
    const proc = runSkiff(args, { env: { SKIFF_TOKEN: options.dashboard.token } });
    this.#processes.push(proc);
    const m = await proc.waitForLine(/ready .*inbound=127\.0\.0\.1:(\d+) .*admin=127\.0\.0\.1:(\d+)/, SLOW_MS);
    return { service: options.service, port: Number(m[1]), adminPort: Number(m[2]), process: proc };
  }

  async close(): Promise<void> {
    for (const p of this.#processes) p.kill('SIGTERM');
    await Promise.all(
      this.#processes.map(async (p) => {
        const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
        await p.exited;
        clearTimeout(t);
      }),
    );
    for (const s of this.#servers) s.closeAllConnections();
    await Promise.all(this.#servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    for (const d of this.#dirs) rmSync(d, { recursive: true, force: true });
  }
}

// ── traffic ───────────────────────────────────────────────────────────────────────────────

export interface Traffic {
  path: string;
  method?: string;
  count?: number;
  body?: string;
}

export interface Reply {
  status: number;
  body: string;
}

/**
 * Sends requests to 127.0.0.1:`port` one after the other (deterministic counts), with the raw
 * path as given (node:http sends `<` and `>` unencoded, as a hostile client would).
 */
export async function sendRequests(port: number, traffic: readonly Traffic[]): Promise<Reply[]> {
  const replies: Reply[] = [];
  for (const t of traffic) {
    for (let i = 0; i < (t.count ?? 1); i++) replies.push(await send(port, t));
  }
  return replies;
}

function send(port: number, t: Traffic): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method: t.method ?? 'GET', path: t.path, headers: t.body !== undefined ? { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(t.body) } : {}, timeout: 30_000 },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`request ${t.path} timed out`)));
    req.on('error', reject);
    req.end(t.body);
  });
}

/** Reads a whole request body (for apps that echo or size their answers). */
export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

// ── reports ───────────────────────────────────────────────────────────────────────────────

/**
 * Posts one report in the real wire format (src/telemetry/report-format.ts) to the dashboard,
 * as a sidecar would: for identities no well-behaved sidecar has (a hostile service name).
 * Each request is `{ route, status, ms, count }`; sizes are fixed and small.
 */
export async function postReport(
  dashboard: Dashboard,
  options: { identity: Identity; sidecarId: string; seq: number; requests: { route: string; method?: string; status: number; ms: number; count: number }[] },
): Promise<ReportAck> {
  const end = Date.now();
  const series: RequestSeriesDelta[] = options.requests.map((r) => {
    const latency = new Sketch();
    const reqBytes = new Sketch();
    const respBytes = new Sketch();
    latency.add(r.ms, r.count);
    reqBytes.add(0, r.count);
    respBytes.add(100, r.count);
    return {
      direction: 'inbound',
      peer: '',
      method: r.method ?? 'GET',
      route: r.route,
      statusCode: r.status,
      error: '',
      count: r.count,
      requestBytesTotal: 0,
      responseBytesTotal: 100 * r.count,
      latencyMs: latency.toJSON(),
      requestBytes: reqBytes.toJSON(),
      responseBytes: respBytes.toJSON(),
    };
  });
  const report: ReportV1 = {
    version: 1,
    sidecarId: options.sidecarId,
    seq: options.seq,
    start: end - 1000,
    end,
    identity: options.identity,
    resources: { source: 'process', cpuSecondsTotal: 1, cpuLimitCores: null, memoryBytes: 50 * 1024 * 1024, memoryLimitBytes: null },
    requests: series,
    tcp: [],
    droppedReports: 0,
  };
  const res = await fetch(`${dashboard.url}/api/reports`, {
    method: 'POST',
    headers: { authorization: `Bearer ${dashboard.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(report),
  });
  if (res.status !== 200) throw new Error(`report refused: ${res.status} ${await res.text()}`);
  return (await res.json()) as ReportAck;
}

export type { IncomingMessage, ServerResponse };
