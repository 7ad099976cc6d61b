// `skiff dashboard` as a real process: an acknowledged report survives kill -9, and the token
// is generated once, kept in DATA/token (0600), and its login URL printed only that first time.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ReportV1 } from '../telemetry/report-format.ts';
import type { ReportAck, ServicesResponse } from './api-types.ts';
import { report, series } from './testing.ts';

const SKIFF = fileURLToPath(new URL('../../bin/skiff.ts', import.meta.url));
const TOKEN = 'durability-token-0123456789';
const children = new Set<ChildProcess>();
const dirs: string[] = [];

after(() => {
  for (const c of children) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Running {
  child: ChildProcess;
  url: string;
  stderr: () => string;
}

/** Starts `skiff dashboard` on a free port and resolves once it prints its URL. */
function start(data: string, env: Record<string, string | undefined>): Promise<Running> {
  const child = spawn(process.execPath, [SKIFF, 'dashboard', '--listen', '127.0.0.1:0', '--data', data, '--log-level', 'warn'], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  let text = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dashboard did not start: ${text}`)), 30_000);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      text += chunk;
      const m = /skiff dashboard: (http:\/\/\S+?)\/ \(log in/.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1]!, stderr: () => text });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`dashboard exited with ${code}: ${text}`));
    });
  });
}

function killHard(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

async function post(url: string, r: ReportV1): Promise<ReportAck> {
  const res = await fetch(`${url}/api/reports`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(r),
  });
  if (res.status !== 200) throw new Error(`status ${res.status}`);
  return (await res.json()) as ReportAck;
}

/** Runs `fn` over `items` with 16 in flight; results in order. */
async function inParallel<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let i = 0;
  const worker = async (): Promise<void> => {
    while (i < items.length) {
      const k = i++;
      out[k] = await fn(items[k]!);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return out;
}

async function totalRequests(url: string): Promise<number> {
  const res = await fetch(`${url}/api/services?window=1h`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const body = (await res.json()) as ServicesResponse;
  return body.services.filter((s) => s.name.startsWith('dur-')).reduce((n, s) => n + s.requests, 0);
}

void test('after kill -9 and a restart, every acknowledged report is there, once', async () => {
  const data = mkdtempSync(join(tmpdir(), 'skiff-durable-'));
  dirs.push(data);
  let dash = await start(data, { SKIFF_TOKEN: TOKEN });

  // 40 sidecars × 10 reports; report i carries (i % 7) + 1 requests so that sums tell them apart.
  const now = Date.now();
  const all: ReportV1[] = [];
  for (let seq = 1; seq <= 10; seq++) {
    for (let s = 0; s < 40; s++) {
      const n = (all.length % 7) + 1;
      all.push(report({ sidecarId: `dur-${s}`, seq, end: now - (11 - seq) * 1000, service: `dur-${s % 4}`, pod: `dur-${s}`, requests: [series({ latencies: Array.from({ length: n }, (_, i) => i + 1) })] }));
    }
  }
  const count = (r: ReportV1): number => r.requests[0]!.count;

  // Post with 16 requests in flight; kill -9 once 150 are acknowledged, mid-stream.
  const acked: ReportV1[] = [];
  let next = 0;
  let killed: Promise<void> | undefined;
  const worker = async (): Promise<void> => {
    while (next < all.length && !killed) {
      const r = all[next++]!;
      try {
        const ack = await post(dash.url, r);
        if (ack.accepted && !ack.duplicate) acked.push(r);
      } catch {
        return; // the process is gone
      }
      if (acked.length >= 150) killed ??= killHard(dash.child);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  await killed;
  assert.ok(acked.length >= 150, `acked ${acked.length}`);
  assert.ok(acked.length < all.length, 'the kill came before the end');

  dash = await start(data, { SKIFF_TOKEN: TOKEN });
  const ackedSum = acked.reduce((n, r) => n + count(r), 0);
  const sentSum = all.reduce((n, r) => n + count(r), 0);
  const afterRestart = await totalRequests(dash.url);
  assert.ok(afterRestart >= ackedSum, `stored ${afterRestart} < acknowledged ${ackedSum}`);
  assert.ok(afterRestart <= all.slice(0, next).reduce((n, r) => n + count(r), 0), 'nothing invented');
  // Every acknowledged report is known as stored: sending it again is a duplicate.
  const again = await inParallel(acked, (r) => post(dash.url, r));
  again.forEach((ack, i) => assert.equal(ack.duplicate, true, `${acked[i]!.sidecarId}#${acked[i]!.seq}`));
  // Sending everything again (a sidecar retrying what it has no ack for) counts each exactly once.
  await inParallel(all, (r) => post(dash.url, r));
  assert.equal(await totalRequests(dash.url), sentSum);

  // A clean stop (SIGTERM) exits 0.
  const code = await new Promise<number | null>((resolve) => {
    dash.child.once('exit', resolve);
    dash.child.kill('SIGTERM');
  });
  assert.equal(code, 0);
});

void test('without SKIFF_TOKEN a token is generated once, kept 0600 in --data, and its login URL printed once', async () => {
  const parent = mkdtempSync(join(tmpdir(), 'skiff-token-'));
  dirs.push(parent);
  const data = join(parent, 'data');
  const first = await start(data, {});
  const token = readFileSync(join(data, 'token'), 'utf8').trim();
  assert.ok(token.length >= 32);
  assert.equal(statSync(join(data, 'token')).mode & 0o777, 0o600);
  assert.match(first.stderr(), new RegExp(`login at ${first.url}/login\\?token=${token}`));
  // The printed URL logs in.
  const login = await fetch(`${first.url}/login?token=${token}`, { redirect: 'manual' });
  assert.equal(login.status, 303);
  await killHard(first.child);

  const second = await start(data, {});
  assert.ok(!second.stderr().includes(token), 'the token is printed only when generated');
  const res = await fetch(`${second.url}/api/sidecars`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  await killHard(second.child);
});
