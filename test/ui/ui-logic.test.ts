// The UI's pure modules (formatting, health and ordering, routes, chart columns, the graph
// model), run in Node: what the browser tests cannot pin down cheaply, such as "no data is
// never shown as 0%" and the order rows take.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Edge, RouteRow, SeriesPoint, ServiceSummary } from '../../src/dashboard/api-types.ts';
import {
  NO_DATA,
  formatAgo,
  formatBytes,
  formatCores,
  formatCount,
  formatMs,
  formatPercent,
  formatRps,
  fractionOf,
} from '../../src/dashboard/web/src/format.ts';
import { DEFAULT_SERVICE_SORT, healthOf, sortRoutes, sortServices, totals } from '../../src/dashboard/web/src/health.ts';
import { parseRoute, parseWindow, servicePath, serviceApiPath, withWindow } from '../../src/dashboard/web/src/routes.ts';
import { chartColumns, statusRows } from '../../src/dashboard/web/src/series.ts';
import { bounds, buildGraph, layoutGraph, linkEnds } from '../../src/dashboard/web/src/graph-model.ts';

function svc(name: string, over: Partial<ServiceSummary> = {}): ServiceSummary {
  return {
    name,
    namespace: 'default',
    pods: 1,
    requests: 100,
    rps: 1,
    successRate: 1,
    latencyMs: { p50: 1, p95: 2, p99: 3 },
    requestBytes: { p50: 0, p99: 0 },
    responseBytes: { p50: 10, p99: 20 },
    errors: {},
    ...over,
  };
}

void describe('format', () => {
  void it('shows "no data" for null, never 0', () => {
    for (const f of [formatRps, formatPercent, formatMs, formatBytes, formatCores, formatCount]) {
      assert.equal(f(null), NO_DATA);
      assert.equal(f(undefined), NO_DATA);
      assert.equal(f(Number.NaN), NO_DATA);
    }
    assert.equal(formatPercent(0), '0%');
  });

  void it('formats rps with sensible precision', () => {
    assert.equal(formatRps(0), '0');
    assert.equal(formatRps(0.003333), '0.0033');
    assert.equal(formatRps(0.42), '0.42');
    assert.equal(formatRps(3.456), '3.46');
    assert.equal(formatRps(12.34), '12.3');
    assert.equal(formatRps(1234.4), '1,234');
  });

  void it('truncates success rates so that only a perfect record reads 100%', () => {
    assert.equal(formatPercent(1), '100%');
    assert.equal(formatPercent(0.99996), '99.99%');
    assert.equal(formatPercent(0.995), '99.50%');
    assert.equal(formatPercent(0.9449), '94.4%');
    assert.equal(formatPercent(0.5), '50.0%');
  });

  void it('formats latency in ms and s', () => {
    assert.equal(formatMs(0), '0 ms');
    assert.equal(formatMs(0.4242), '0.42 ms');
    assert.equal(formatMs(4.24), '4.2 ms');
    assert.equal(formatMs(42.4), '42 ms');
    assert.equal(formatMs(1234), '1.23 s');
    assert.equal(formatMs(75_000), '75.0 s');
    assert.equal(formatMs(600_000), '10.0 min');
  });

  void it('formats sizes in binary units', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(1023), '1023 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(20 * 1024), '20 KiB');
    assert.equal(formatBytes(3.25 * 1024 * 1024), '3.3 MiB');
    assert.equal(formatBytes(2 * 1024 ** 3), '2.0 GiB');
  });

  void it('formats cores, ages and shares of a limit', () => {
    assert.equal(formatCores(0.0123), '12m');
    assert.equal(formatCores(1.5), '1.50');
    assert.equal(formatAgo(1000, 4000), '3s ago');
    assert.equal(formatAgo(0, 125_000), '2m ago');
    assert.equal(fractionOf(50, 200), 0.25);
    assert.equal(fractionOf(50, null), null);
    assert.equal(fractionOf(null, 10), null);
    assert.equal(fractionOf(300, 200), 1);
  });
});

void describe('health and order', () => {
  void it('calls a service unhealthy below 95% or with proxy errors, idle without traffic', () => {
    assert.equal(healthOf(svc('a')), 'healthy');
    assert.equal(healthOf(svc('a', { successRate: 0.949 })), 'unhealthy');
    assert.equal(healthOf(svc('a', { successRate: 0.95 })), 'healthy');
    assert.equal(healthOf(svc('a', { errors: { upstream_refused: 1 } })), 'unhealthy');
    assert.equal(healthOf(svc('a', { successRate: null, requests: 0 })), 'idle');
  });

  void it('puts the worst first by default, then keeps a stable name order', () => {
    const rows = [
      svc('zeta'),
      svc('idle', { successRate: null }),
      svc('bad80', { successRate: 0.8 }),
      svc('alpha'),
      svc('bad90', { successRate: 0.9 }),
      svc('refused', { successRate: 1, errors: { upstream_refused: 2 } }),
    ];
    const names = sortServices(rows, DEFAULT_SERVICE_SORT).map((s) => s.name);
    assert.deepEqual(names, ['bad80', 'bad90', 'refused', 'alpha', 'zeta', 'idle']);
  });

  void it('sorts numbers either way with "no data" always last', () => {
    const rows = [svc('a', { latencyMs: { p50: 5, p95: 9, p99: 10 } }), svc('b', { latencyMs: { p50: null, p95: null, p99: null } }), svc('c', { latencyMs: { p50: 1, p95: 2, p99: 50 } })];
    assert.deepEqual(sortServices(rows, { key: 'p99', dir: 'desc' }).map((s) => s.name), ['c', 'a', 'b']);
    assert.deepEqual(sortServices(rows, { key: 'p99', dir: 'asc' }).map((s) => s.name), ['a', 'c', 'b']);
    assert.deepEqual(sortServices(rows, { key: 'name', dir: 'desc' }).map((s) => s.name), ['c', 'b', 'a']);
  });

  void it('sorts routes by requests, then by route', () => {
    const r = (route: string, requests: number): RouteRow => ({
      method: 'GET',
      route,
      requests,
      rps: requests / 300,
      successRate: 1,
      latencyMs: { p50: 1, p95: 1, p99: 1 },
      requestBytes: { p50: 0, p99: 0 },
      responseBytes: { p50: 0, p99: 0 },
    });
    assert.deepEqual(sortRoutes([r('/b', 5), r('/a', 5), r('/c', 9)], { key: 'requests', dir: 'desc' }).map((x) => x.route), ['/c', '/a', '/b']);
  });

  void it('sums the header figures', () => {
    assert.deepEqual(totals([svc('a', { rps: 1.5, pods: 2 }), svc('b', { rps: 2, successRate: 0.5 })]), { rps: 3.5, unhealthy: 1, pods: 3 });
  });
});

void describe('routes', () => {
  void it('parses the four pages and rejects the rest', () => {
    assert.deepEqual(parseRoute('/'), { page: 'overview' });
    assert.deepEqual(parseRoute('/graph/'), { page: 'graph' });
    assert.deepEqual(parseRoute('/live'), { page: 'live' });
    assert.deepEqual(parseRoute('/services/prod/web%2Fapi'), { page: 'service', namespace: 'prod', name: 'web/api' });
    assert.deepEqual(parseRoute('/services/prod/%E0%A4%A'), { page: 'not-found', path: '/services/prod/%E0%A4%A' });
    assert.deepEqual(parseRoute('/nope'), { page: 'not-found', path: '/nope' });
  });

  void it('round-trips service names through the path', () => {
    const name = '<b>&"x y';
    const parsed = parseRoute(servicePath('ns', name));
    assert.deepEqual(parsed, { page: 'service', namespace: 'ns', name });
    assert.equal(serviceApiPath('ns', 'a b', '1h'), '/api/services/ns/a%20b?window=1h');
  });

  void it('keeps the window in the query, leaving the default out', () => {
    assert.equal(parseWindow('?window=24h'), '24h');
    assert.equal(parseWindow('?window=13m'), '5m');
    assert.equal(parseWindow(''), '5m');
    assert.equal(withWindow('/graph', '5m'), '/graph');
    assert.equal(withWindow('/graph', '7d'), '/graph?window=7d');
  });
});

void describe('chart columns', () => {
  void it('sorts by time, uses seconds, and keeps nulls as gaps', () => {
    const p = (t: number, successRate: number | null): SeriesPoint => ({
      t,
      requests: successRate === null ? 0 : 10,
      rps: successRate === null ? 0 : 1,
      successRate,
      latencyMs: { p50: successRate === null ? null : 1, p95: null, p99: null },
      requestBytes: { p50: null, p99: null },
      responseBytes: { p50: null, p99: null },
    });
    const cols = chartColumns([p(20_000, 0.5), p(10_000, null)]);
    assert.deepEqual(cols.x, [10, 20]);
    assert.deepEqual(cols.successPct, [null, 50]);
    assert.deepEqual(cols.p50, [null, 1]);
    assert.deepEqual(cols.rps, [0, 1]);
  });

  void it('orders status codes and names the no-response bucket', () => {
    const rows = statusRows({ '503': 1, '200': 3, '0': 0, '404': 0 });
    assert.deepEqual(rows.map((r) => [r.label, r.klass, r.share]), [['200', '2xx', 0.75], ['503', '5xx', 0.25]]);
    assert.equal(statusRows({ '0': 2 })[0]?.label, 'no response');
  });
});

void describe('graph model', () => {
  const edge = (source: string, destination: string, successRate: number | null = 1): Edge => ({
    source,
    sourceNamespace: 'default',
    destination,
    requests: 10,
    rps: 1,
    successRate,
    latencyMs: { p50: 1, p95: 2, p99: 3 },
  });

  void it('links known services, adds outside destinations, and sets self-calls apart', () => {
    const g = buildGraph([svc('web'), svc('api')], [edge('web', 'api'), edge('api', 'db', 0.5), edge('api', 'api')]);
    assert.deepEqual(g.nodes.map((n) => n.id), ['?/db', 'default/api', 'default/web']);
    assert.deepEqual(g.links.map((l) => [l.id, l.health]), [['default/web→default/api', 'healthy'], ['default/api→?/db', 'unhealthy']]);
    assert.equal(g.selfCalls.length, 1);
    assert.equal(g.nodes.find((n) => n.id === '?/db')?.namespace, null);
  });

  void it('lays out deterministically, without overlaps, and keeps positions across refreshes', () => {
    const make = (): ReturnType<typeof buildGraph> =>
      buildGraph([svc('web'), svc('api'), svc('auth'), svc('db')], [edge('web', 'api'), edge('api', 'auth'), edge('api', 'db')]);
    const a = make();
    const b = make();
    layoutGraph(a, new Map());
    layoutGraph(b, new Map());
    assert.deepEqual(a.nodes.map((n) => [n.x, n.y]), b.nodes.map((n) => [n.x, n.y]));
    for (const n of a.nodes) {
      for (const m of a.nodes) {
        if (n === m) continue;
        const d = Math.hypot((n.x ?? 0) - (m.x ?? 0), (n.y ?? 0) - (m.y ?? 0));
        assert.ok(d > n.radius + m.radius, `${n.id} overlaps ${m.id}`);
      }
    }
    const previous = new Map(a.nodes.map((n) => [n.id, { x: n.x ?? 0, y: n.y ?? 0 }]));
    const c = make();
    layoutGraph(c, previous);
    for (const n of c.nodes) {
      const p = previous.get(n.id)!;
      assert.ok(Math.hypot((n.x ?? 0) - p.x, (n.y ?? 0) - p.y) < 20, `${n.id} jumped on refresh`);
    }
    const box = bounds(c.nodes);
    for (const n of c.nodes) assert.ok((n.x ?? 0) > box.x && (n.x ?? 0) < box.x + box.width);
    const ends = linkEnds(c.links[0]!);
    assert.ok(Number.isFinite(ends.x1) && Number.isFinite(ends.y2));
  });
});
