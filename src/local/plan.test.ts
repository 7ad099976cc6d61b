import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseUpConfig } from './config.ts';
import { appEnv, calleesOf, planMesh, sidecarArgs, skiffEnv, startLevels, upstreamEnvName } from './plan.ts';

const svc = (name: string, calls: string[] = []): { name: string; calls: string[] } => ({ name, calls });

void test('start levels: callees first, file order within a level', () => {
  assert.deepEqual(
    startLevels([svc('loadgen', ['frontend']), svc('frontend', ['catalog', 'reviews']), svc('catalog'), svc('reviews', ['ratings']), svc('ratings')]),
    [['catalog', 'ratings'], ['reviews'], ['frontend'], ['loadgen']],
  );
});

void test('start levels: a cycle starts together, and what calls into it starts after it', () => {
  assert.deepEqual(startLevels([svc('a', ['b']), svc('b', ['a', 'c']), svc('c'), svc('d', ['a'])]), [['c'], ['a', 'b'], ['d']]);
  assert.deepEqual(startLevels([svc('self', ['self'])]), [['self']]);
  assert.deepEqual(startLevels([svc('x'), svc('y')]), [['x', 'y']]);
});

void test('upstream env names are upper snake case', () => {
  assert.equal(upstreamEnvName('reviews'), 'SKIFF_UPSTREAM_REVIEWS');
  assert.equal(upstreamEnvName('order-history'), 'SKIFF_UPSTREAM_ORDER_HISTORY');
});

const config = parseUpConfig(
  [
    'namespace: shop',
    'services:',
    '  web: { command: node web.ts, calls: [api], env: { PORT: "9999", EXTRA: x } }',
    '  api: { command: node api.ts, replicas: 2, port: 4000 }',
  ].join('\n'),
  'skiff.yaml',
  '/srv',
);

function plan(): ReturnType<typeof planMesh> {
  let next = 20000;
  return planMesh(config, { dashboard: 15080, pick: () => next++ });
}

void test('the plan gives each replica its ports, and several replicas a round-robin address', () => {
  const p = plan();
  const [web, api] = p.services;
  assert.deepEqual(web!.replicas.map((r) => [r.pod, r.ports]), [['web-1', { app: 20000, listen: 20001, admin: 20002, outbound: 20003, upstreams: [20004] }]]);
  assert.equal(web!.balancerPort, undefined);
  assert.equal(web!.address, 20001);
  assert.deepEqual(
    api!.replicas.map((r) => [r.pod, r.ports.app, r.ports.listen]),
    [['api-1', 4000, 20005], ['api-2', 4001, 20008]],
  );
  assert.equal(api!.balancerPort, 20011);
  assert.equal(api!.address, 20011);
  assert.deepEqual(p.levels, [['api'], ['web']]);
  assert.deepEqual(calleesOf(p, web!.replicas[0]!), [{ name: 'api', port: 20011, upstreamPort: 20004 }]);
});

void test('sidecar arguments: loopback listeners, identity, where each callee is, reporting', () => {
  const args = sidecarArgs({
    service: 'web',
    namespace: 'shop',
    pod: 'web-1',
    listen: 1,
    app: 2,
    admin: 3,
    outbound: 4,
    callees: [{ name: 'api', port: 5, upstreamPort: 6 }],
    dashboardUrl: 'http://127.0.0.1:15080',
    reportInterval: '1s',
    logLevel: 'warn',
    drainTimeout: '5s',
    extraArgs: ['--tap-headers'],
  });
  assert.deepEqual(args, [
    'proxy',
    '--listen', '127.0.0.1:1',
    '--app', '127.0.0.1:2',
    '--admin', '127.0.0.1:3',
    '--outbound', '127.0.0.1:4',
    '--service', 'web',
    '--namespace', 'shop',
    '--pod', 'web-1',
    '--log-level', 'warn',
    '--drain-timeout', '5s',
    '--resolve', 'api=127.0.0.1:5',
    '--upstream', 'api=127.0.0.1:6@127.0.0.1:5',
    '--dashboard', 'http://127.0.0.1:15080',
    '--report-interval', '1s',
    '--tap-headers',
  ]);
});

void test('app env: PORT, both proxy spellings, loopback bypass, upstream URLs; no token, no foreign proxy; the file has the last word', () => {
  const parent = {
    PATH: '/usr/bin',
    HOME: '/home/me',
    SKIFF_TOKEN: 'secret',
    HTTPS_PROXY: 'http://corp:3128',
    https_proxy: 'http://corp:3128',
    UNSET: undefined,
  };
  const env = appEnv(parent, {
    service: 'web',
    pod: 'web-1',
    appPort: 3000,
    outbound: 3001,
    callees: [{ name: 'order-history', port: 5, upstreamPort: 3002 }],
    nodeDir: '/opt/node/bin',
    extra: { PORT: '9999', EXTRA: 'x' },
  });
  assert.deepEqual(env, {
    PATH: '/opt/node/bin:/usr/bin',
    HOME: '/home/me',
    PORT: '9999',
    HTTP_PROXY: 'http://127.0.0.1:3001',
    http_proxy: 'http://127.0.0.1:3001',
    NO_PROXY: 'localhost,127.0.0.1,::1',
    no_proxy: 'localhost,127.0.0.1,::1',
    NODE_USE_ENV_PROXY: '1',
    SKIFF_SERVICE: 'web',
    SKIFF_POD: 'web-1',
    SKIFF_UPSTREAM_ORDER_HISTORY: 'http://127.0.0.1:3002',
    EXTRA: 'x',
  });
});

void test('skiff processes get the token and none of the proxy variables', () => {
  const env = skiffEnv({ PATH: '/bin', HTTP_PROXY: 'http://x', NODE_USE_ENV_PROXY: '1', SKIFF_TOKEN: 'old' }, 'tok');
  assert.deepEqual(env, { PATH: '/bin', SKIFF_TOKEN: 'tok' });
});
