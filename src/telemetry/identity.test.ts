import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveIdentity, serviceFromPodName } from './identity.ts';

const names: [string, string | null][] = [
  ['reviews-v1-7d9f8c6b5-x2x7k', 'reviews-v1'], // Deployment
  ['productpage-v1-6b746f74dc-9stvs', 'productpage-v1'],
  ['nginx-deployment-66b6c48dd5-4jw2p', 'nginx-deployment'],
  ['web-1234567890-bcdfg', 'web'], // old decimal pod-template hash
  ['db-0', 'db'], // StatefulSet
  ['kafka-broker-12', 'kafka-broker'],
  ['fluentd-x2x7k', 'fluentd'], // DaemonSet
  ['backup-28374652-9xk2p', 'backup'], // CronJob's Job pod: name-<schedule>-<suffix>
  ['my-api-server', null], // words, not hashes
  ['frontend', null],
  ['web-stack', null],
];

for (const [pod, want] of names) {
  void test(`serviceFromPodName(${pod}) → ${String(want)}`, () => {
    assert.equal(serviceFromPodName(pod), want);
  });
}

void test('explicit values win over the environment', () => {
  const id = resolveIdentity({ service: 'svc', namespace: 'ns', pod: 'p' }, { POD_NAME: 'reviews-v1-7d9f8c6b5-x2x7k', POD_NAMESPACE: 'shop' }, 'host');
  assert.deepEqual(id, { service: 'svc', namespace: 'ns', pod: 'p' });
});

void test('the Downward API env: pod name, namespace, and the service from the pod name', () => {
  const id = resolveIdentity({}, { POD_NAME: 'reviews-v1-7d9f8c6b5-x2x7k', POD_NAMESPACE: 'shop' }, 'ignored-host');
  assert.deepEqual(id, { service: 'reviews-v1', namespace: 'shop', pod: 'reviews-v1-7d9f8c6b5-x2x7k' });
});

void test('outside Kubernetes: the hostname, namespace "default"', () => {
  assert.deepEqual(resolveIdentity({}, {}, 'devbox'), { service: 'devbox', namespace: 'default', pod: 'devbox' });
  // A pod's hostname is its name: the service still comes out right without POD_NAME.
  assert.deepEqual(resolveIdentity({}, {}, 'db-0'), { service: 'db', namespace: 'default', pod: 'db-0' });
});

void test('empty values count as unset', () => {
  assert.deepEqual(resolveIdentity({ service: '', namespace: ' ' }, { POD_NAME: '', POD_NAMESPACE: '' }, 'h'), { service: 'h', namespace: 'default', pod: 'h' });
  assert.equal(resolveIdentity({}, {}, '').pod, 'localhost');
});

void test('values that cannot be labels are a usage error', () => {
  assert.throws(() => resolveIdentity({ service: 'a\nb' }, {}, 'h'), { code: 'SKIFF_ERR_USAGE', message: /--service/ });
  assert.throws(() => resolveIdentity({}, { POD_NAMESPACE: 'n'.repeat(300) }, 'h'), { code: 'SKIFF_ERR_USAGE', message: /--namespace/ });
});
