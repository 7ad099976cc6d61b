/**
 * A small HTTP service for the real-pod tests, run from the skiff image with the test
 * directory mounted (hostPath). GET /healthz is its probe; any other request first calls every
 * URL in CALLS, one after the other (Bookinfo's productpage → details, reviews → ratings), and
 * answers 200 with their statuses, or 502 if one failed.
 *
 * Env: NAME (in the answer), PORT (default 9080), CALLS (comma-separated URLs).
 */
import { createServer } from 'node:http';

const name = process.env.NAME ?? 'app';
const port = Number(process.env.PORT ?? 9080);
const calls = (process.env.CALLS ?? '').split(',').filter((u) => u !== '');

async function callAll(): Promise<number[]> {
  const statuses: number[] = [];
  for (const url of calls) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
      await res.arrayBuffer();
      statuses.push(res.status);
    } catch {
      statuses.push(0);
    }
  }
  return statuses;
}

const server = createServer((req, res) => {
  if (req.url === '/healthz') {
    res.end('ok\n');
    return;
  }
  void callAll().then((statuses) => {
    const body = JSON.stringify({ name, calls: statuses });
    res.writeHead(statuses.every((s) => s === 200) ? 200 : 502, { 'content-type': 'application/json' });
    res.end(body);
  });
});
server.listen(port, '0.0.0.0');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
