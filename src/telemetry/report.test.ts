import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateReport, buildReport, MAX_REPORT_SERIES } from './report.ts';
import { Sketch } from './sketch.ts';
import type { ReportV1 } from './report-format.ts';

function sketchOf(values: number[]): ReturnType<Sketch['toJSON']> {
  const s = new Sketch();
  for (const v of values) s.add(v);
  return s.toJSON();
}

function validReport(): ReportV1 {
  return buildReport({
    sidecarId: 'a1b2c3d4e5f6',
    seq: 7,
    start: 1_700_000_000_000,
    end: 1_700_000_005_000,
    identity: { service: 'reviews', namespace: 'default', pod: 'reviews-v1-7d9f8c6b5-x2x7k' },
    resources: { source: 'cgroup2', cpuSecondsTotal: 12.5, cpuLimitCores: 0.5, memoryBytes: 50_000_000, memoryLimitBytes: 134_217_728 },
    requests: [
      {
        direction: 'inbound',
        peer: '',
        method: 'GET',
        route: '/users/{id}',
        statusCode: 200,
        error: '',
        count: 3,
        requestBytesTotal: 0,
        responseBytesTotal: 300,
        latencyMs: sketchOf([1, 2, 3]),
        requestBytes: sketchOf([0, 0, 0]),
        responseBytes: sketchOf([100, 100, 100]),
      },
      {
        direction: 'outbound',
        peer: 'ratings',
        method: 'POST',
        route: '/ratings',
        statusCode: 0,
        error: 'upstream_refused',
        count: 1,
        requestBytesTotal: 10,
        responseBytesTotal: 0,
        latencyMs: sketchOf([0.4]),
        requestBytes: sketchOf([10]),
        responseBytes: sketchOf([0]),
      },
    ],
    tcp: [{ direction: 'inbound', peer: '', protocol: 'http', opened: 2, closed: 1, bytesIn: 500, bytesOut: 900, errors: { client_abort: 1 } }],
    droppedReports: 0,
  });
}

/** Deep copy through JSON (what the wire does), then let the case break one thing. */
function mutated(change: (r: Record<string, unknown> & { requests: Record<string, unknown>[]; tcp: Record<string, unknown>[] }) => void): unknown {
  const r = JSON.parse(JSON.stringify(validReport())) as Parameters<typeof change>[0];
  change(r);
  return r;
}

void test('a valid report passes and round-trips through JSON unchanged', () => {
  const original = validReport();
  const r = validateReport(JSON.parse(JSON.stringify(original)));
  assert.ok(r.ok, r.ok ? '' : r.reason);
  assert.deepEqual(r.report, JSON.parse(JSON.stringify(original)));
});

void test('the validated report holds only known fields', () => {
  const r = validateReport(mutated((x) => {
    x.extra = 'x'.repeat(1000);
    x.requests[0]!.note = 'hi';
    (x.identity as Record<string, unknown>).secret = 'token';
  }));
  assert.ok(r.ok);
  assert.equal('extra' in r.report, false);
  assert.equal('note' in r.report.requests[0]!, false);
  assert.equal('secret' in r.report.identity, false);
});

void test('resources may be null and tcp errors may be empty', () => {
  const r = validateReport(mutated((x) => {
    x.resources = null;
    x.tcp[0]!.errors = {};
  }));
  assert.ok(r.ok);
});

const invalid: [string, (r: Parameters<Parameters<typeof mutated>[0]>[0]) => void, RegExp][] = [
  ['version 2', (r) => (r.version = 2), /^version: unsupported version 2; supported: 1$/],
  ['version missing', (r) => delete r.version, /^version: unsupported version undefined; supported: 1/],
  ['version as string', (r) => (r.version = '1'), /^version: unsupported version "1"/],
  ['sidecarId empty', (r) => (r.sidecarId = ''), /^sidecarId: /],
  ['sidecarId with slash', (r) => (r.sidecarId = 'a/b'), /^sidecarId: /],
  ['sidecarId too long', (r) => (r.sidecarId = 'a'.repeat(129)), /^sidecarId: /],
  ['seq 0', (r) => (r.seq = 0), /^seq: must be a positive safe integer/],
  ['seq fractional', (r) => (r.seq = 1.5), /^seq: /],
  ['seq unsafe', (r) => (r.seq = 2 ** 53), /^seq: /],
  ['start after end', (r) => (r.start = (r.end as number) + 1), /^end: must be after start/],
  ['start equal to end', (r) => (r.start = r.end), /^end: must be after start/],
  ['start negative', (r) => (r.start = -1), /^start: /],
  ['end string', (r) => (r.end = '2024'), /^end: /],
  ['identity missing', (r) => delete r.identity, /^identity: must be an object/],
  ['identity.service empty', (r) => ((r.identity as Record<string, unknown>).service = ''), /^identity\.service: must not be empty/],
  ['identity.pod too long', (r) => ((r.identity as Record<string, unknown>).pod = 'p'.repeat(257)), /^identity\.pod: longer than 256/],
  ['identity.namespace control char', (r) => ((r.identity as Record<string, unknown>).namespace = 'a\nb'), /^identity\.namespace: contains control characters/],
  ['resources.source unknown', (r) => ((r.resources as Record<string, unknown>).source = 'vm'), /^resources\.source: /],
  ['resources.cpuLimitCores 0', (r) => ((r.resources as Record<string, unknown>).cpuLimitCores = 0), /^resources\.cpuLimitCores: /],
  ['resources.memoryBytes negative', (r) => ((r.resources as Record<string, unknown>).memoryBytes = -5), /^resources\.memoryBytes: /],
  ['requests not an array', (r) => ((r as Record<string, unknown>).requests = {}), /^requests: must be an array/],
  ['request series is null', (r) => ((r.requests as unknown[])[1] = null), /^requests\[1\]: must be an object/],
  ['direction unknown', (r) => (r.requests[1]!.direction = 'sideways'), /^requests\[1\]\.direction: /],
  ['method empty', (r) => (r.requests[0]!.method = ''), /^requests\[0\]\.method: must not be empty/],
  ['method too long', (r) => (r.requests[0]!.method = 'M'.repeat(300)), /^requests\[0\]\.method: longer than 256/],
  ['route too long', (r) => (r.requests[0]!.route = '/' + 'r'.repeat(512)), /^requests\[0\]\.route: longer than 512/],
  ['route with DEL', (r) => (r.requests[0]!.route = '/a\u007f'), /^requests\[0\]\.route: contains control/],
  ['route with C1 control', (r) => (r.requests[0]!.route = '/a\u0085'), /^requests\[0\]\.route: contains control/],
  ['peer with tab', (r) => (r.requests[1]!.peer = 'rat\tings'), /^requests\[1\]\.peer: contains control/],
  ['peer number', (r) => (r.requests[1]!.peer = 5), /^requests\[1\]\.peer: must be a string/],
  ['statusCode 1000', (r) => (r.requests[0]!.statusCode = 1000), /^requests\[0\]\.statusCode: must be an integer from 0 to 999/],
  ['statusCode float', (r) => (r.requests[0]!.statusCode = 200.5), /^requests\[0\]\.statusCode: /],
  ['statusCode negative', (r) => (r.requests[0]!.statusCode = -1), /^requests\[0\]\.statusCode: /],
  ['error unknown', (r) => (r.requests[0]!.error = 'oops'), /^requests\[0\]\.error: must be one of/],
  ['error null', (r) => (r.requests[0]!.error = null), /^requests\[0\]\.error: /],
  ['count negative', (r) => (r.requests[0]!.count = -3), /^requests\[0\]\.count: /],
  ['requestBytesTotal float', (r) => (r.requests[0]!.requestBytesTotal = 1.5), /^requests\[0\]\.requestBytesTotal: /],
  ['responseBytesTotal huge', (r) => (r.requests[0]!.responseBytesTotal = 2 ** 60), /^requests\[0\]\.responseBytesTotal: /],
  ['latency sketch missing', (r) => delete r.requests[0]!.latencyMs, /^requests\[0\]\.latencyMs: not an object/],
  ['latency bins negative', (r) => ((r.requests[0]!.latencyMs as { bins: number[] }).bins[0] = -1), /^requests\[0\]\.latencyMs\.bins: /],
  ['latency bins do not add up', (r) => (r.requests[0]!.latencyMs as { bins: number[] }).bins.push(5), /^requests\[0\]\.latencyMs\.bins: bin counts/],
  ['latency offset huge', (r) => ((r.requests[0]!.latencyMs as { offset: number }).offset = 1e9), /^requests\[0\]\.latencyMs\.offset: /],
  ['latency sum infinite', (r) => ((r.requests[0]!.latencyMs as { sum: unknown }).sum = 'Infinity'), /^requests\[0\]\.latencyMs\.sum: /],
  [
    'sketch count differs from series count',
    (r) => (r.requests[0]!.count = 4),
    /^requests\[0\]\.latencyMs\.count: 3 differs from the series count 4/,
  ],
  [
    'responseBytes sketch count differs',
    (r) => {
      const s = r.requests[0]!.responseBytes as { count: number; zero: number };
      s.count += 1;
      s.zero += 1;
    },
    /^requests\[0\]\.responseBytes\.count: 4 differs/,
  ],
  ['duplicate request series', (r) => r.requests.push(r.requests[0]!), /^requests\[2\]: same series as requests\[0\]/],
  ['tcp protocol unknown', (r) => (r.tcp[0]!.protocol = 'udp'), /^tcp\[0\]\.protocol: /],
  ['tcp errors unknown code', (r) => (r.tcp[0]!.errors = { nope: 1 }), /^tcp\[0\]\.errors: unknown error code "nope"/],
  ['tcp errors empty code', (r) => (r.tcp[0]!.errors = { '': 1 }), /^tcp\[0\]\.errors: unknown error code ""/],
  ['tcp errors negative', (r) => (r.tcp[0]!.errors = { client_abort: -1 }), /^tcp\[0\]\.errors\.client_abort: /],
  ['tcp errors array', (r) => (r.tcp[0]!.errors = [1]), /^tcp\[0\]\.errors: must be an object/],
  ['tcp opened float', (r) => (r.tcp[0]!.opened = 0.5), /^tcp\[0\]\.opened: /],
  ['tcp bytesOut missing', (r) => delete r.tcp[0]!.bytesOut, /^tcp\[0\]\.bytesOut: /],
  ['duplicate tcp series', (r) => r.tcp.push(r.tcp[0]!), /^tcp\[1\]: same series as tcp\[0\]/],
  ['droppedReports negative', (r) => (r.droppedReports = -1), /^droppedReports: /],
];

for (const [name, change, reason] of invalid) {
  void test(`rejects: ${name}`, () => {
    const r = validateReport(mutated(change));
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.reason, reason);
  });
}

void test('rejects non-objects at the top', () => {
  for (const v of [null, 1, 'report', [], undefined]) {
    const r = validateReport(v);
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.reason, /^report: must be a JSON object/);
  }
});

void test('at most 10,000 series of each kind', () => {
  const base = validReport();
  const make = (n: number): unknown => ({
    ...base,
    tcp: [],
    requests: Array.from({ length: n }, (_, i) => ({ ...base.requests[0]!, route: `/r${i}` })),
  });
  assert.ok(validateReport(make(MAX_REPORT_SERIES)).ok);
  const r = validateReport(make(MAX_REPORT_SERIES + 1));
  assert.equal(r.ok, false);
  if (!r.ok) assert.match(r.reason, /^requests: more than 10000 entries/);
  const t = validateReport({ ...base, tcp: Array.from({ length: MAX_REPORT_SERIES + 1 }, () => base.tcp[0]) });
  assert.equal(t.ok, false);
  if (!t.ok) assert.match(t.reason, /^tcp: more than 10000/);
});

void test('a request series with count 0 and empty sketches is valid', () => {
  const r = validateReport(mutated((x) => {
    x.requests = [{ ...x.requests[0]!, count: 0, latencyMs: sketchOf([]), requestBytes: sketchOf([]), responseBytes: sketchOf([]) }];
  }));
  assert.ok(r.ok);
});

void test('the example report in docs/reporting.md is valid', async () => {
  const { readFileSync } = await import('node:fs');
  const doc = readFileSync(new URL('../../docs/reporting.md', import.meta.url), 'utf8');
  const json = /## Example[\s\S]*?```json\n([\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(json, 'no example found');
  const r = validateReport(JSON.parse(json));
  assert.ok(r.ok, r.ok ? '' : r.reason);
});
