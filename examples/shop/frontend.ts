/**
 * frontend: the shop's web tier. It calls catalog and reviews by name through the mesh
 * (http://catalog/…, http://reviews/…: HTTP_PROXY points at its sidecar). Product 97 has a
 * rendering bug and always fails with 500, the kind of error only a per-route view shows.
 *
 *   GET  /                 → home page (catalog page 1), ~25 KB of HTML
 *   GET  /products/{id}    → product + reviews, JSON
 *   GET  /search?q=WORD    → catalog search (slow)
 *   POST /cart             → reserve stock in catalog
 */
import { between, call, json, serve } from './lib.ts';

serve('frontend', [
  {
    method: 'GET',
    path: /^\/$/,
    handler: async () => {
      const r = await call('http://catalog/products?page=1');
      if (r.status !== 200) return { status: 502, body: { error: 'catalog unavailable' } };
      const page = json<{ items: { id: number; name: string; description: string }[] }>(r.body, { items: [] });
      const cards = page.items.map((p) => `<article><h2><a href="/products/${p.id}">${p.name}</a></h2><p>${p.description}</p></article>`);
      return { body: `<!doctype html><title>skiff shop</title><main>${cards.join('\n')}</main>`, delayMs: between(2, 6) };
    },
  },
  {
    method: 'GET',
    path: /^\/products\/(\d+)$/,
    handler: async (_req, m) => {
      const id = Number(m[1]);
      const [p, r] = await Promise.all([call(`http://catalog/products/${id}`), call(`http://reviews/reviews/${id}`)]);
      if (p.status === 404) return { status: 404, body: { error: `no product ${id}` } };
      if (p.status !== 200) return { status: 502, body: { error: 'catalog unavailable' } };
      if (id === 97) return { status: 500, body: { error: 'template error: price is undefined' } };
      // Reviews are optional: a failing reviews service degrades the page, it does not break it.
      return { body: { product: json(p.body, {}), reviews: r.status === 200 ? json(r.body, null) : null }, delayMs: between(1, 4) };
    },
  },
  {
    method: 'GET',
    path: /^\/search$/,
    handler: async (req) => {
      const q = new URL(req.url ?? '/', 'http://x').searchParams.get('q') ?? '';
      const r = await call(`http://catalog/search?q=${encodeURIComponent(q)}`);
      if (r.status !== 200) return { status: 502, body: { error: 'search unavailable' } };
      return { body: json(r.body, {}) };
    },
  },
  {
    method: 'POST',
    path: /^\/cart$/,
    handler: async (_req, _m, body) => {
      const r = await call('http://catalog/reserve', { method: 'POST', body });
      if (r.status === 201) return { status: 201, body: json(r.body, {}) };
      if (r.status === 409 || r.status === 400) return { status: r.status, body: json(r.body, {}) };
      return { status: 503, body: { error: 'cannot reserve stock now' } };
    },
  },
]);
