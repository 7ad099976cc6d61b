/**
 * The dashboard's percentiles come from merging the sidecars' sketches across pods and time
 * buckets, never from averaging. Three real sidecars in front of three apps with known latency
 * distributions; the exact per-request latencies come from the sidecars' own live taps (what
 * they measured); the dashboard's p50/p95/p99 must be within 2% of the exact values over the same
 * requests, and its request count exact.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Mesh } from '../ui/harness.ts';
import type { Dashboard, Sidecar } from '../ui/harness.ts';
import type { ServicesResponse } from '../../src/dashboard/api-types.ts';

const mesh = new Mesh();
after(() => mesh.close());

/** Each app sleeps for the delay the client asks for (?d=ms): the distribution is the client's. */
function sleepyApp(): http.RequestListener {
  return (req, res) => {
    const d = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('d') ?? 0);
    setTimeout(() => res.end('ok'), d);
  };
}

/** Three different shapes: uniform, heavy-tailed, bimodal (deterministic, no randomness). */
const DISTRIBUTIONS: ((i: number) => number)[] = [
  (i) => 5 + ((i * 37) % 45), // uniform-ish 5..49 ms
  (i) => 10 + (((i * 7919) % 100) ** 2) / 60, // skewed: 10..173 ms
  (i) => (i % 10 === 0 ? 150 : 8 + (i % 7)), // bimodal: 8..14 ms and 150 ms
];
const PER_SIDECAR = 150;

/** Collects the latencies a sidecar's tap reports for `path`. */
function collectTap(sidecar: Sidecar, token: string, path: string, signal: AbortSignal): { latencies: number[]; ready: Promise<void> } {
  const latencies: number[] = [];
  const ready = (async () => {
    const res = await fetch(`http://127.0.0.1:${sidecar.adminPort}/tap?rate=10000`, { headers: { authorization: `Bearer ${token}` }, signal });
    assert.equal(res.status, 200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let buf = '';
    void (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          buf += decoder.decode(value, { stream: true });
          let nl: number;
          while ((nl = buf.indexOf('\n')) !== -1) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (!line.startsWith('data: ')) continue;
            const rec = JSON.parse(line.slice(6)) as { path?: string; latencyMs?: number };
            if (rec.path === path && typeof rec.latencyMs === 'number') latencies.push(rec.latencyMs);
          }
        }
      } catch {
        // aborted at the end of the test
      }
    })();
  })();
  return { latencies, ready };
}

async function send(port: number, delays: number[], concurrency: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const queue = [...delays];
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let d = queue.shift(); d !== undefined; d = queue.shift()) {
        await new Promise<void>((resolve, reject) => {
          http
            .get({ host: '127.0.0.1', port, path: `/work?d=${d}`, agent }, (res) => {
              res.resume();
              res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
            })
            .on('error', reject);
        });
      }
    }),
  );
  agent.destroy();
}

function exact(sorted: number[], q: number): number {
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

async function services(dash: Dashboard): Promise<ServicesResponse> {
  const res = await fetch(`${dash.url}/api/services?window=5m`, { headers: { authorization: `Bearer ${dash.token}` } });
  return (await res.json()) as ServicesResponse;
}

test('three sidecars: the dashboard\'s p50/p95/p99 are within 2% of the exact values, and the count is exact', async () => {
  const dash = await mesh.dashboard();
  const stop = new AbortController();
  const taps: { latencies: number[] }[] = [];
  const sidecars: Sidecar[] = [];
  for (let k = 0; k < 3; k++) {
    const app = await mesh.app(sleepyApp());
    const sidecar = await mesh.sidecar({ service: 'accuracy', pod: `accuracy-${k}`, app, dashboard: dash });
    const tap = collectTap(sidecar, dash.token, '/work', stop.signal);
    await tap.ready;
    taps.push(tap);
    sidecars.push(sidecar);
  }
  await Promise.all(sidecars.map((s, k) => send(s.port, Array.from({ length: PER_SIDECAR }, (_, i) => DISTRIBUTIONS[k]!(i)), 10)));

  const total = 3 * PER_SIDECAR;
  const deadline = Date.now() + 30_000;
  while (taps.reduce((n, t) => n + t.latencies.length, 0) < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const all = taps.flatMap((t) => t.latencies).sort((a, b) => a - b);
  assert.equal(all.length, total, 'every request was seen by its sidecar');

  let summary = (await services(dash)).services.find((s) => s.name === 'accuracy');
  while ((summary?.requests ?? 0) < total && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    summary = (await services(dash)).services.find((s) => s.name === 'accuracy');
  }
  stop.abort();
  assert.ok(summary, 'the service is listed');
  assert.equal(summary.requests, total, 'request count exact');
  assert.equal(summary.pods, 3);
  for (const [q, got] of [
    [0.5, summary.latencyMs.p50],
    [0.95, summary.latencyMs.p95],
    [0.99, summary.latencyMs.p99],
  ] as const) {
    const want = exact(all, q);
    assert.ok(got !== null, `p${q * 100} present`);
    assert.ok(Math.abs(got - want) / want <= 0.02, `p${q * 100}: dashboard ${got.toFixed(3)} ms vs exact ${want.toFixed(3)} ms`);
  }
});
