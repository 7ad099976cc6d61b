/**
 * ratings: the leaf of the shop. Fast (a few ms) with a long tail: 1% of calls take ~300 ms
 * (a cold cache), and 2% fail with 503 (an overloaded store), so its callers see both.
 *
 *   GET /ratings/{productId} → { productId, average, count }
 */
import { between, chance, serve } from './lib.ts';

serve('ratings', [
  {
    method: 'GET',
    path: /^\/ratings\/(\d+)$/,
    handler: (_req, m) => {
      const productId = Number(m[1]);
      if (chance(0.02)) return { status: 503, body: { error: 'ratings store overloaded' }, delayMs: between(1, 5) };
      const delayMs = chance(0.01) ? between(250, 350) : between(2, 8);
      const count = (productId * 37) % 500;
      return { body: { productId, average: Math.round((3 + ((productId * 7) % 20) / 10) * 10) / 10, count }, delayMs };
    },
  },
]);
