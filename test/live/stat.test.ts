// `skiff stat` against a real mesh: a `skiff dashboard` process fed by `skiff proxy` sidecars
// (reporting every second) in front of node:http apps, with a known traffic mix.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { runSkiffToEnd } from '../helpers/process.ts';
import { Mesh, eventually, sendRequests } from '../ui/harness.ts';
import type { Dashboard } from '../ui/harness.ts';
import type { ServicesResponse } from '../../src/dashboard/api-types.ts';
import { formatMs, formatPercent } from '../../src/live/format.ts';

const mesh = new Mesh();
let dash: Dashboard;

async function services(): Promise<ServicesResponse> {
  const res = await fetch(`${dash.url}/api/services?window=5m`, { headers: { authorization: `Bearer ${dash.token}` } });
  assert.equal(res.status, 200);
  return (await res.json()) as ServicesResponse;
}

before(async () => {
  dash = await mesh.dashboard();
  const app = await mesh.app((req, res) => {
    req.resume();
    req.on('end', () => {
      const fail = req.url?.startsWith('/fail') === true;
      res.writeHead(fail ? 500 : 200).end('x'.repeat(fail ? 10 : 100));
    });
  });
  const web = await mesh.sidecar({ service: 'web', app, dashboard: dash });
  const api = await mesh.sidecar({ service: 'api', namespace: 'shop', app, dashboard: dash });
  await sendRequests(web.port, [{ path: '/ok', count: 20 }, { path: '/fail', count: 5 }]);
  await sendRequests(api.port, [{ path: '/ok', count: 10 }]);
  await eventually(async () => {
    const s = await services();
    assert.equal(s.services.find((x) => x.name === 'web')?.requests, 25);
    assert.equal(s.services.find((x) => x.name === 'api')?.requests, 10);
  }, 30_000);
});

after(async () => {
  await mesh.close();
});

const env = (): Record<string, string> => ({ SKIFF_TOKEN: dash.token, SKIFF_DASHBOARD: dash.url });

void test('stat prints every service as a table with the API numbers', async () => {
  const r = await runSkiffToEnd(['stat'], { env: env() });
  assert.equal(r.code, 0, r.stderr);
  const api = await services();
  const lines = r.stdout.trim().split('\n');
  assert.deepEqual(lines[0]!.split(/\s{2,}/), ['SERVICE', 'NAMESPACE', 'PODS', 'REQUESTS', 'RPS', 'SUCCESS', 'P50', 'P95', 'P99', 'REQ P50/P99', 'RESP P50/P99', 'ERRORS']);
  const rows = lines.slice(1).map((l) => l.split(/\s+/));
  assert.deepEqual(rows.map((x) => x.slice(0, 4)), [
    ['web', 'default', '1', '25'],
    ['api', 'shop', '1', '10'],
  ]);
  const web = api.services.find((s) => s.name === 'web')!;
  assert.equal(rows[0]![5], '80.0%');
  assert.equal(rows[0]![5], formatPercent(web.successRate));
  assert.equal(rows[0]![6], formatMs(web.latencyMs.p50));
  assert.equal(rows[0]![8], formatMs(web.latencyMs.p99));
  assert.equal(rows[0]![10], '100B/100B');
  assert.equal(rows[1]![5], '100%');
});

void test('stat SERVICE -o json prints the API objects', async () => {
  const r = await runSkiffToEnd(['stat', 'web', '-o', 'json', '--window', '5m'], { env: env() });
  assert.equal(r.code, 0, r.stderr);
  const got = JSON.parse(r.stdout) as ServicesResponse;
  const api = await services();
  assert.equal(got.window, '5m');
  assert.deepEqual(got.services, api.services.filter((s) => s.name === 'web'));
  const ns = await runSkiffToEnd(['stat', 'shop/api', '-o', 'json'], { env: env() });
  assert.deepEqual((JSON.parse(ns.stdout) as ServicesResponse).services.map((s) => s.name), ['api']);
});

void test('stat errors: unknown service and bad token (1), bad window (2)', async () => {
  const unknown = await runSkiffToEnd(['stat', 'nope'], { env: env() });
  assert.equal(unknown.code, 1);
  assert.equal(unknown.stderr, `skiff stat: no service "nope" has reported to the dashboard at ${dash.url} in the last 5m\n`);
  const bad = await runSkiffToEnd(['stat'], { env: { ...env(), SKIFF_TOKEN: 'wrong' } });
  assert.equal(bad.code, 1);
  assert.equal(bad.stderr, `skiff stat: the dashboard at ${dash.url} refused the token in SKIFF_TOKEN (401)\n`);
  const win = await runSkiffToEnd(['stat', '--window', 'forever'], { env: env() });
  assert.equal(win.code, 2);
  assert.match(win.stderr, /^skiff stat: --window: "forever" is not a duration/);
});
