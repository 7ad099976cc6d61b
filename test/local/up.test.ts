/**
 * `skiff up` end to end, as a user runs it: a three-service mesh (a → b → c, c with two
 * replicas) behind real sidecars reporting to a real dashboard. Traffic is driven at a, and
 * the dashboard's API must show every service and every edge with exact counts; killing b's
 * app must show errors on a → b and b must come back; SIGINT must leave no process behind.
 * The tests share one mesh and run in order.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { EdgesResponse, ServicesResponse } from '../../src/dashboard/api-types.ts';
import { FIXTURES, NODE, eventually, get, processesIn, startUp, survivors, type Up } from './helpers.ts';

const HOP = join(FIXTURES, 'hop.ts');
const YAML = `
namespace: e2e
dashboard: { port: 0 }
sidecar: { report-interval: 500ms }
services:
  a:
    command: [${JSON.stringify(NODE)}, ${JSON.stringify(HOP)}]
    env: { CALLS: b }
    calls: [b]
  b:
    command: [${JSON.stringify(NODE)}, ${JSON.stringify(HOP)}]
    env: { CALLS: c }
    calls: [c]
  c:
    command: [${JSON.stringify(NODE)}, ${JSON.stringify(HOP)}]
    replicas: 2
`;

let up: Up;
before(async () => {
  up = await startUp(YAML);
});
after(async () => {
  await up.cleanup();
});

interface Counts {
  services: Record<string, number>;
  edges: Record<string, number>;
}

async function counts(): Promise<Counts> {
  const s = await up.api<ServicesResponse>('/api/services?window=5m');
  const e = await up.api<EdgesResponse>('/api/edges?window=5m');
  return {
    services: Object.fromEntries(s.services.filter((x) => x.namespace === 'e2e').map((x) => [x.name, x.requests])),
    edges: Object.fromEntries(e.edges.map((x) => [`${x.source}→${x.destination}`, x.requests])),
  };
}

/** Waits for the counts to reach `expected`, then checks they are exactly that and stay so. */
async function expectCounts(expected: Counts): Promise<void> {
  await eventually(`counts ${JSON.stringify(expected)}`, async () => JSON.stringify(await counts()) === JSON.stringify(expected), 30_000, 250).catch(
    async (err: unknown) => {
      assert.deepEqual(await counts(), expected, String(err));
    },
  );
  // Two more report intervals: a retried or duplicated report would show up as extra counts.
  await new Promise((r) => setTimeout(r, 1200));
  assert.deepEqual(await counts(), expected);
}

let sent = 0;

void test('every service and every edge appears with exact counts (HTTP_PROXY and declared upstream ports)', async () => {
  const a = Number(up.state().services.a!.address.split(':')[1]);
  for (let i = 0; i < 24; i++) assert.equal((await get(a, '/chain')).status, 200, `request ${i}`);
  // a calls b through its declared upstream port (SKIFF_UPSTREAM_B) instead of HTTP_PROXY.
  for (let i = 0; i < 6; i++) assert.equal((await get(a, '/upstream')).status, 200, `upstream request ${i}`);
  sent = 30;
  await expectCounts({
    services: { a: 30, b: 30, c: 30 },
    edges: { 'a→b': 30, 'b→c': 30 },
  });
  const services = await up.api<ServicesResponse>('/api/services?window=5m');
  for (const s of services.services) assert.equal(s.successRate, 1, `${s.name} success rate`);
  assert.equal(services.services.find((s) => s.name === 'c')?.namespace, 'e2e');
});

void test('killing an app shows errors on its callers\' edge, and the app is restarted', async () => {
  const before = up.state().services.b!.replicas[0]!;
  const a = Number(up.state().services.a!.address.split(':')[1]);
  process.kill(-before.app.pid!, 'SIGKILL');
  let ok = 0;
  let failed = 0;
  // Requests while b is down fail (b's sidecar answers 503); keep going until b answers again.
  await eventually(
    'b to fail and then recover',
    async () => {
      const r = await get(a, '/chain');
      if (r.status === 200) ok += 1;
      else failed += 1;
      return failed > 0 && r.status === 200;
    },
    60_000,
    25,
  );
  const after = await eventually('up.json to show the restart', () => {
    const r = up.state().services.b!.replicas[0]!;
    return r.app.pid !== before.app.pid && r.app.restarts === 1 ? r : undefined;
  });
  assert.notEqual(after.app.pid, before.app.pid);
  assert.equal(after.sidecar.pid, before.sidecar.pid, 'the sidecar stayed up');
  assert.match(up.stderr(), /b-1 exited signal=SIGKILL restart_in=\d+ms/);
  assert.match(up.stderr(), /b-1 restarted pid=\d+ restarts=1/);

  const total = sent + ok + failed;
  const reached = sent + ok; // requests that got through b to c
  await expectCounts({
    services: { a: total, b: total, c: reached },
    edges: { 'a→b': total, 'b→c': reached },
  });
  const edges = await up.api<EdgesResponse>('/api/edges?window=5m');
  const ab = edges.edges.find((e) => e.source === 'a' && e.destination === 'b')!;
  assert.ok(ab.successRate !== null && ab.successRate < 1, 'a → b shows the failures');
  assert.equal(Math.round(ab.successRate * total), reached, 'exactly the failed calls are errors');
  const bc = edges.edges.find((e) => e.source === 'b' && e.destination === 'c')!;
  assert.equal(bc.successRate, 1, 'b → c never failed');
  const services = await up.api<ServicesResponse>('/api/services?window=5m');
  const b = services.services.find((s) => s.name === 'b')!;
  const proxyErrors = Object.values(b.errors).reduce((x, y) => x + y, 0);
  assert.equal(proxyErrors, failed, `b's sidecar recorded each failed call as a proxy error: ${JSON.stringify(b.errors)}`);
});

void test('Ctrl-C (SIGINT) stops everything: apps, sidecars and dashboard, and no process is left', async () => {
  up.state();
  const pids = [...up.seenPids];
  assert.ok(pids.length >= 9, `expected at least 9 processes (4 apps, 4 sidecars, dashboard), saw ${pids.length}`);
  assert.ok(survivors(pids).length >= 9, 'they are running before the signal');
  assert.ok(processesIn(up.dir).length >= 9, 'and run in the directory of skiff.yaml');
  up.child.kill('SIGINT');
  const code = await up.exited;
  assert.equal(code, 0, up.stderr());
  assert.deepEqual(survivors(pids), [], 'no process of the mesh is left');
  assert.deepEqual(processesIn(up.dir), [], 'nothing runs in the directory of skiff.yaml');
  assert.equal(existsSync(join(up.dir, '.skiff', 'up.json')), false, 'up.json is removed');
  assert.match(up.stderr(), /up stopped/);
});
