/**
 * The demo `npm start` brings up (examples/shop/skiff.yaml), started as `skiff up` with the
 * dashboard on a free port and its data in a temp dir: within a bounded time every service and
 * every edge of the shop shows live traffic, the service pages show templated routes, and
 * Ctrl-C leaves nothing behind. It also measures how long live data takes to appear (the demo
 * promises 15 s on a developer machine; the bound here is looser, for busy CI hosts).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import type { EdgesResponse, ServiceDetailResponse, ServicesResponse } from '../../src/dashboard/api-types.ts';
import { eventually, startUp, survivors, type Up } from './helpers.ts';

const SHOP = join(import.meta.dirname, '..', '..', 'examples', 'shop');
const EDGES = ['loadgen→frontend', 'frontend→catalog', 'frontend→reviews', 'reviews→ratings'];

let up: Up | undefined;
after(async () => {
  await up?.cleanup();
});

function shopYaml(): string {
  const doc = parseDocument(readFileSync(join(SHOP, 'skiff.yaml'), 'utf8'));
  doc.setIn(['dashboard'], doc.createNode({ port: 0 }));
  const services = doc.get('services') as { items: { key: { value: string } }[] };
  for (const item of services.items) doc.setIn(['services', item.key.value, 'cwd'], SHOP);
  return doc.toString();
}

void test('the shop shows live data on every service and edge, with templated routes; Ctrl-C stops it all', async (t) => {
  const t0 = Date.now();
  up = await startUp(shopYaml());
  const u = up;
  const upMs = Date.now() - t0;
  const live = await eventually(
    'live data for every shop service and edge',
    async () => {
      const s = await u.api<ServicesResponse>('/api/services?window=5m');
      const e = await u.api<EdgesResponse>('/api/edges?window=5m');
      const busy = new Set(s.services.filter((x) => x.namespace === 'shop' && x.requests > 0).map((x) => x.name));
      const edges = new Set(e.edges.filter((x) => x.requests > 0).map((x) => `${x.source}→${x.destination}`));
      const ok = ['frontend', 'catalog', 'reviews', 'ratings'].every((n) => busy.has(n)) && EDGES.every((x) => edges.has(x));
      return ok ? { s, e } : undefined;
    },
    60_000,
    250,
  );
  const liveMs = Date.now() - t0;
  t.diagnostic(`skiff up printed the URL after ${upMs} ms; every service and edge had live data after ${liveMs} ms`);
  assert.ok(liveMs < 60_000);
  assert.deepEqual(live.s.services.map((x) => x.name).sort(), ['catalog', 'frontend', 'loadgen', 'ratings', 'reviews']);
  assert.deepEqual(live.e.edges.map((x) => `${x.source}→${x.destination}`).sort(), [...EDGES].sort());

  const frontend = await eventually('frontend routes', async () => {
    const d = await u.api<ServiceDetailResponse>('/api/services/shop/frontend?window=5m');
    return d.routes.some((r) => r.route === '/products/{id}') ? d : undefined;
  });
  assert.ok(frontend.routes.every((r) => !/\/\d+(\/|$)/.test(r.route)), `ids are templated: ${frontend.routes.map((r) => r.route).join(' ')}`);
  const reviews = await eventually('both reviews replicas', async () => {
    const d = await u.api<ServiceDetailResponse>('/api/services/shop/reviews?window=5m');
    return d.pods.length === 2 ? d : undefined;
  });
  assert.deepEqual(reviews.pods.map((p) => p.pod).sort(), ['reviews-1', 'reviews-2']);

  u.state();
  const pids = [...u.seenPids];
  u.child.kill('SIGINT');
  assert.equal(await u.exited, 0, u.stderr());
  assert.deepEqual(survivors(pids), []);
});
