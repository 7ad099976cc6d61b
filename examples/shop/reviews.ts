/**
 * reviews: product reviews, with the rating from the ratings service. It runs as two replicas
 * in the demo. It calls ratings through a declared upstream port (SKIFF_UPSTREAM_RATINGS, a
 * plain http://127.0.0.1:PORT that the sidecar forwards), the way an app that ignores
 * HTTP_PROXY joins the mesh; frontend shows the other way (HTTP_PROXY and service names).
 * When ratings fails, reviews still answers, without the rating (graceful degradation).
 * 3% of calls fail with 500 (a flaky database).
 *
 *   GET /reviews/{productId} → { productId, rating, reviews: [...] } (0-8 reviews, ~0.3-6 KB)
 */
import { between, call, chance, json, lorem, serve } from './lib.ts';

const ratings = process.env.SKIFF_UPSTREAM_RATINGS ?? 'http://ratings';

serve('reviews', [
  {
    method: 'GET',
    path: /^\/reviews\/(\d+)$/,
    handler: async (_req, m) => {
      const productId = Number(m[1]);
      if (chance(0.03)) return { status: 500, body: { error: 'reviews database timed out' }, delayMs: between(50, 120) };
      const r = await call(`${ratings}/ratings/${productId}`, { timeoutMs: 2000 });
      const rating = r.status === 200 ? json<{ average: number; count: number } | null>(r.body, null) : null;
      const n = productId % 9;
      const reviews = Array.from({ length: n }, (_, i) => ({
        author: `customer-${(productId * 31 + i) % 997}`,
        stars: 1 + ((productId + i) % 5),
        text: lorem(productId * 10 + i, 200 + ((productId * 13 + i * 17) % 500)),
      }));
      return { body: { productId, rating, reviews }, delayMs: between(8, 25) };
    },
  },
]);
