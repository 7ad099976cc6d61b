/**
 * loadgen: the shop's customers. Sends RATE requests a second (default 12) to frontend, in a
 * mix of browsing, product pages (ids 1-220: some do not exist), searches and carts, with
 * at most 32 in flight. It is a service like the others (behind its own sidecar), so the
 * dashboard's graph starts at loadgen → frontend.
 *
 *   GET /stats → what was sent and how it went since start
 */
import { call, chance, lorem, serve } from './lib.ts';

const rate = Math.max(0.1, Number(process.env.RATE ?? '12') || 12);
const target = process.env.TARGET ?? 'http://frontend';
const MAX_IN_FLIGHT = 32;
const stats = { sent: 0, ok: 0, clientErrors: 0, serverErrors: 0, failed: 0, skipped: 0 };

const svc = serve('loadgen', [{ method: 'GET', path: /^\/stats$/, handler: () => ({ body: stats }) }]);

const words = ['lamp', 'oak', 'chair', 'mug', 'linen', 'desk', 'kettle', 'rug'];
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

function nextRequest(): { path: string; method?: string; body?: string } {
  const r = Math.random();
  if (r < 0.2) return { path: '/' };
  if (r < 0.4) return { path: `/products/${pick([3, 7, 12, 42, 97])}` }; // the popular ones
  if (r < 0.75) return { path: `/products/${1 + Math.floor(Math.random() * 220)}` };
  if (r < 0.88) return { path: `/search?q=${pick(words)}` };
  const items = Array.from({ length: 1 + Math.floor(Math.random() * 6) }, (_, i) => ({ sku: `SKU-${i}`, quantity: 1, note: lorem(i, chance(0.2) ? 1500 : 80) }));
  return { path: '/cart', method: 'POST', body: JSON.stringify({ items }) };
}

let inFlight = 0;
function tick(): void {
  if (inFlight >= MAX_IN_FLIGHT) {
    stats.skipped += 1;
    return;
  }
  const req = nextRequest();
  inFlight += 1;
  stats.sent += 1;
  void call(`${target}${req.path}`, { method: req.method ?? 'GET', ...(req.body === undefined ? {} : { body: req.body }) }).then((res) => {
    inFlight -= 1;
    if (res.status === 0) stats.failed += 1;
    else if (res.status >= 500) stats.serverErrors += 1;
    else if (res.status >= 400) stats.clientErrors += 1;
    else stats.ok += 1;
  });
}

// Poisson arrivals (exponential gaps) look like real users, not a metronome.
function schedule(): void {
  const gap = -Math.log(1 - Math.random()) * (1000 / rate);
  setTimeout(() => {
    tick();
    schedule();
  }, gap);
}
svc.log(`sending ~${rate} requests/s to ${target}`);
schedule();
setInterval(() => svc.log(`sent ${stats.sent}: ${stats.ok} ok, ${stats.clientErrors} 4xx, ${stats.serverErrors} 5xx, ${stats.failed} failed`), 30_000).unref();
