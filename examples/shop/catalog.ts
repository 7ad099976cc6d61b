/**
 * catalog: the products. Payload sizes differ a lot (a 24-item page is ~20 KB, one product
 * ~1-2 KB), search is the slow route (120-450 ms), product ids run 1-200 (others are 404),
 * and reserving stock sometimes conflicts (409) or fails (1%, 500).
 *
 *   GET  /products?page=N        → a page of 24 products
 *   GET  /products/{id}          → one product
 *   GET  /search?q=WORD          → matching products (slow)
 *   POST /reserve                → { sku, quantity } → 201 | 409 | 500
 */
import { between, chance, json, lorem, serve } from './lib.ts';

const PRODUCTS = 200;

function product(id: number): Record<string, unknown> {
  return {
    id,
    sku: `SKU-${String(id).padStart(5, '0')}`,
    name: `Product ${id}`,
    priceCents: 499 + ((id * 7919) % 20000),
    description: lorem(id, 600 + ((id * 131) % 1200)),
    tags: ['home', 'garden', 'kitchen', 'outdoor'].filter((_, i) => (id >> i) & 1),
  };
}

serve('catalog', [
  {
    method: 'GET',
    path: /^\/products$/,
    handler: (req) => {
      const page = Math.max(1, Number(new URL(req.url ?? '/', 'http://x').searchParams.get('page') ?? '1') || 1);
      const first = ((page - 1) * 24) % PRODUCTS;
      const items = Array.from({ length: 24 }, (_, i) => product(((first + i) % PRODUCTS) + 1));
      return { body: { page, items }, delayMs: between(15, 40) };
    },
  },
  {
    method: 'GET',
    path: /^\/products\/(\d+)$/,
    handler: (_req, m) => {
      const id = Number(m[1]);
      if (id < 1 || id > PRODUCTS) return { status: 404, body: { error: `no product ${id}` }, delayMs: between(2, 5) };
      return { body: product(id), delayMs: between(5, 15) };
    },
  },
  {
    method: 'GET',
    path: /^\/search$/,
    handler: (req) => {
      const q = new URL(req.url ?? '/', 'http://x').searchParams.get('q') ?? '';
      const hits = Array.from({ length: q.length % 10 }, (_, i) => product(((q.length * 17 + i * 23) % PRODUCTS) + 1));
      return { body: { q, hits }, delayMs: between(120, 450) };
    },
  },
  {
    method: 'POST',
    path: /^\/reserve$/,
    handler: (_req, _m, body) => {
      const order = json<{ items?: unknown[] }>(body, {});
      if (!Array.isArray(order.items) || order.items.length === 0) return { status: 400, body: { error: 'no items' } };
      if (chance(0.01)) return { status: 500, body: { error: 'stock service unavailable' }, delayMs: between(20, 60) };
      if (chance(0.04)) return { status: 409, body: { error: 'out of stock' }, delayMs: between(10, 30) };
      return { status: 201, body: { reserved: order.items.length }, delayMs: between(10, 30) };
    },
  },
]);
