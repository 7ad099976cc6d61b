import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseUpConfig } from './config.ts';
import { SkiffError } from '../errors.ts';

const DIR = '/srv/mesh';

function errorOf(text: string): string {
  try {
    parseUpConfig(text, 'skiff.yaml', DIR);
  } catch (err) {
    assert.ok(err instanceof SkiffError, `expected a SkiffError, got ${String(err)}`);
    assert.equal(err.code, 'SKIFF_ERR_CONFIG_INVALID');
    assert.ok(!err.message.includes('\n'), 'one line');
    return err.message;
  }
  assert.fail('expected the config to be rejected');
}

void test('a full file parses into plain data with defaults and paths relative to the file', () => {
  const c = parseUpConfig(
    [
      'namespace: shop',
      'dashboard: { port: 9000, data: state }',
      'sidecar: { report-interval: 2s, log-level: info, args: [--tap-headers] }',
      'services:',
      '  web:',
      '    command: node web.ts --flag',
      '    port: 3000',
      '    listen: 8000',
      '    env: { GREETING: hi, WORKERS: 4, DEBUG: true }',
      '    replicas: 2',
      '    calls: [api, api]',
      '    cwd: web',
      '    restart: on-failure',
      '  api:',
      '    command: [python3, -m, http.server]',
    ].join('\n'),
    'skiff.yaml',
    DIR,
  );
  assert.equal(c.namespace, 'shop');
  assert.deepEqual(c.dashboard, { port: 9000, data: '/srv/mesh/state' });
  assert.deepEqual(c.sidecar, { reportInterval: '2s', logLevel: 'info', args: ['--tap-headers'] });
  const [web, api] = c.services;
  assert.deepEqual(web, {
    name: 'web',
    argv: ['/bin/sh', '-c', 'node web.ts --flag'],
    port: 3000,
    listen: 8000,
    env: { GREETING: 'hi', WORKERS: '4', DEBUG: 'true' },
    replicas: 2,
    calls: ['api'],
    cwd: '/srv/mesh/web',
    restart: 'on-failure',
  });
  assert.deepEqual(api, {
    name: 'api',
    argv: ['python3', '-m', 'http.server'],
    port: undefined,
    listen: undefined,
    env: {},
    replicas: 1,
    calls: [],
    cwd: DIR,
    restart: 'always',
  });
});

void test('defaults: namespace "default", data .skiff beside the file, 1s reports, sidecars at warn', () => {
  const c = parseUpConfig('services:\n  a: { command: "true" }\n', 'skiff.yaml', DIR);
  assert.equal(c.namespace, 'default');
  assert.deepEqual(c.dashboard, { port: undefined, data: '/srv/mesh/.skiff' });
  assert.deepEqual(c.sidecar, { reportInterval: '1s', logLevel: 'warn', args: [] });
});

void test('errors name the file, the line and the path of what is wrong', () => {
  const cases: [string, string][] = [
    ['services:\n  reviews:\n    command: x\n    port: 70000\n', 'skiff.yaml:4: services.reviews.port: must be an integer 1-65535'],
    ['services:\n  reviews:\n    command: x\n    port: "80"\n', 'skiff.yaml:4: services.reviews.port: must be an integer 1-65535'],
    ['services:\n  a:\n    command: x\n    prot: 80\n', 'skiff.yaml:4: services.a.prot: unknown key (expected one of: command, port, listen, env, replicas, calls, cwd, restart)'],
    ['servics: {}\n', 'skiff.yaml:1: servics: unknown key (expected one of: namespace, dashboard, sidecar, services)'],
    ['namespace: x\n', 'skiff.yaml: services: is required: the services to start'],
    ['services:\n  a:\n    port: 80\n', 'skiff.yaml:3: services.a.command: is required'],
    ['services:\n  a:\n    command: []\n', 'skiff.yaml:3: services.a.command: must not be empty'],
    ['services:\n  a:\n    command: x\n    calls: [b]\n', 'skiff.yaml:4: services.a.calls[0]: calls "b", which is not a service in this file'],
    ['services:\n  a: { command: x, port: 3000 }\n  b: { command: y, port: 3000 }\n', 'skiff.yaml:3: services.b.port: port 3000 is also used by services.a.port'],
    ['services:\n  a: { command: x, port: 3000, replicas: 3 }\n  b: { command: y, listen: 3002 }\n', 'skiff.yaml:3: services.b.listen: port 3002 is also used by services.a.port (replica 3)'],
    ['dashboard: { port: 8000 }\nservices:\n  a: { command: x, listen: 8000 }\n', 'skiff.yaml:3: services.a.listen: port 8000 is also used by dashboard.port'],
    ['services:\n  Web_1: { command: x }\n', 'skiff.yaml:2: services.Web_1: a service name must be lower-case letters, digits and "-" (a DNS label: apps call http://NAME/)'],
    ['services:\n  a: { command: x, replicas: 0 }\n', 'skiff.yaml:2: services.a.replicas: must be an integer 1-20'],
    ['services:\n  a: { command: x, restart: sometimes }\n', 'skiff.yaml:2: services.a.restart: must be one of: always, on-failure, never'],
    ['services:\n  a: { command: x, env: { 1BAD: x } }\n', 'skiff.yaml:2: services.a.env.1BAD: is not a valid environment variable name'],
    ['services:\n  a: { command: x, env: { A: [1] } }\n', 'skiff.yaml:2: services.a.env.A: must be a string, number or boolean'],
    ['sidecar: { report-interval: soon }\nservices:\n  a: { command: x }\n', 'skiff.yaml:1: sidecar.report-interval: "soon" is not a duration (examples: 500ms, 5s, 2m, 1h, 7d)'],
    ['services:\n  a: { command: x, port: 65535, replicas: 2 }\n', 'skiff.yaml:2: services.a.port: with 2 replicas the ports 65535-65536 go past 65535'],
    ['services: [a, b]\n', 'skiff.yaml:1: services: must be a map of service name to its settings, with at least one service'],
    ['- just\n- a list\n', 'skiff.yaml: must be a map with a `services` key'],
  ];
  for (const [text, expected] of cases) assert.equal(errorOf(text), expected, text);
});

void test('YAML syntax errors and duplicate keys are reported with their line', () => {
  assert.match(errorOf('services:\n  a: { command: x\n'), /^skiff\.yaml:\d+: not valid YAML: /);
  assert.match(errorOf('services:\n  a: { command: x }\n  a: { command: y }\n'), /^skiff\.yaml:3: not valid YAML: .*[Uu]nique/);
});

void test('the demo shop file is valid and describes the documented mesh', () => {
  const dir = join(import.meta.dirname, '..', '..', 'examples', 'shop');
  const c = parseUpConfig(readFileSync(join(dir, 'skiff.yaml'), 'utf8'), 'examples/shop/skiff.yaml', dir);
  assert.deepEqual(
    c.services.map((s) => [s.name, s.calls.join(',')]),
    [['frontend', 'catalog,reviews'], ['catalog', ''], ['reviews', 'ratings'], ['ratings', ''], ['loadgen', 'frontend']],
  );
  assert.ok(c.services.length >= 4);
  assert.equal(c.services.find((s) => s.name === 'reviews')?.replicas, 2);
});
