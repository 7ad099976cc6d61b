import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  renderMetrics,
  parseExposition,
  escapeLabelValue,
  formatNumber,
  bucketIndex,
  resourceFamilies,
  BYTES_BUCKETS,
  OVERHEAD_BUCKETS_SECONDS,
} from './prometheus.ts';

void test('exact text for a counter, a gauge and a histogram', () => {
  const text = renderMetrics(
    [
      { name: 'skiff_things_total', help: 'Things.', type: 'counter', samples: [{ labels: { kind: 'a' }, value: 3 }] },
      { name: 'skiff_open', help: 'Open now.', type: 'gauge', samples: [{ labels: {}, value: 2 }] },
      {
        name: 'skiff_wait_seconds',
        help: 'Waits.',
        type: 'histogram',
        samples: [{ labels: { route: '/a' }, bounds: [0.1, 1], counts: [2, 1, 4], sum: 12.5 }],
      },
      { name: 'skiff_empty_total', help: 'Nothing yet.', type: 'counter', samples: [] },
    ],
    { service: 'web', namespace: 'prod' },
  );
  assert.equal(
    text,
    [
      '# HELP skiff_things_total Things.',
      '# TYPE skiff_things_total counter',
      'skiff_things_total{service="web",namespace="prod",kind="a"} 3',
      '# HELP skiff_open Open now.',
      '# TYPE skiff_open gauge',
      'skiff_open{service="web",namespace="prod"} 2',
      '# HELP skiff_wait_seconds Waits.',
      '# TYPE skiff_wait_seconds histogram',
      'skiff_wait_seconds_bucket{service="web",namespace="prod",route="/a",le="0.1"} 2',
      'skiff_wait_seconds_bucket{service="web",namespace="prod",route="/a",le="1"} 3',
      'skiff_wait_seconds_bucket{service="web",namespace="prod",route="/a",le="+Inf"} 7',
      'skiff_wait_seconds_sum{service="web",namespace="prod",route="/a"} 12.5',
      'skiff_wait_seconds_count{service="web",namespace="prod",route="/a"} 7',
      '# HELP skiff_empty_total Nothing yet.',
      '# TYPE skiff_empty_total counter',
      '',
    ].join('\n'),
  );
  const parsed = parseExposition(text);
  assert.equal(parsed.families.get('skiff_wait_seconds')?.type, 'histogram');
  assert.equal(parsed.samples.length, 7);
});

void test('label values escape backslash, quote and newline, and parse back to the original', () => {
  const nasty = 'a\\b"c\nd</script>{}=,';
  assert.equal(escapeLabelValue(nasty), 'a\\\\b\\"c\\nd</script>{}=,');
  const text = renderMetrics([{ name: 'x_total', help: 'help with \\ and\nnewline', type: 'counter', samples: [{ labels: { route: nasty }, value: 1 }] }]);
  assert.match(text, /^# HELP x_total help with \\\\ and\\nnewline$/m);
  const parsed = parseExposition(text);
  assert.equal(parsed.samples[0]!.labels.route, nasty);
  assert.equal(parsed.families.get('x_total')?.help, 'help with \\ and\nnewline');
});

void test('numbers: bounds without exponents, special values', () => {
  assert.equal(formatNumber(0.00001), '0.00001');
  assert.equal(formatNumber(0.000025), '0.000025');
  assert.equal(formatNumber(0.0005), '0.0005');
  assert.equal(formatNumber(1073741824), '1073741824');
  assert.equal(formatNumber(Infinity), '+Inf');
  assert.equal(formatNumber(NaN), 'NaN');
  assert.equal(formatNumber(1.5), '1.5');
  for (const b of [...OVERHEAD_BUCKETS_SECONDS, ...BYTES_BUCKETS]) assert.equal(Number(formatNumber(b)), b);
});

void test('bucketIndex: values on a bound belong to it (le is inclusive)', () => {
  const bounds = [0, 64, 256];
  assert.equal(bucketIndex(bounds, 0), 0);
  assert.equal(bucketIndex(bounds, 1), 1);
  assert.equal(bucketIndex(bounds, 64), 1);
  assert.equal(bucketIndex(bounds, 65), 2);
  assert.equal(bucketIndex(bounds, 257), 3);
});

void test('resource families omit limit series when unlimited', () => {
  const text = renderMetrics(resourceFamilies({ source: 'cgroup2', cpuSecondsTotal: 1.5, cpuLimitCores: null, memoryBytes: 1000, memoryLimitBytes: 4096 }));
  assert.match(text, /^skiff_pod_cpu_seconds_total\{source="cgroup2"\} 1\.5$/m);
  assert.doesNotMatch(text, /^skiff_pod_cpu_limit_cores[{ ]/m);
  assert.match(text, /^skiff_pod_memory_limit_bytes\{source="cgroup2"\} 4096$/m);
  assert.doesNotMatch(renderMetrics(resourceFamilies(null)), /^skiff_pod_\w+[{ ]/m);
});

void test('the parser rejects malformed exposition text', () => {
  const bad = [
    'no_newline_at_end 1',
    '# TYPE a counter\na{x="1} 1\n',
    '# TYPE a counter\na{x="1",x="2"} 1\n',
    '# TYPE a counter\na 1 2 3\n',
    '# TYPE a counter\na one\n',
    'undeclared 1\n',
    '# TYPE a bogus\n',
    '# TYPE a counter\na 1\n# TYPE a counter\n',
    '# TYPE a counter\na{x="a\nb"} 1\n',
  ];
  for (const t of bad) assert.throws(() => parseExposition(t), Error, JSON.stringify(t));
});
