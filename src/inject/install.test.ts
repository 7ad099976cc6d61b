import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import type { CliIO } from '../cli/io.ts';
import { silentLogger } from '../log.ts';
import { createWebhookServer } from '../webhook/server.ts';
import { defaultInjectOptions } from './inject.ts';
import { installCommand, toYamlStream } from './install-command.ts';
import type { InstallOptions } from './install.ts';
import { installManifests } from './install.ts';
import { validateObject } from './testdata/validate.ts';

type Obj = Record<string, unknown>;
const UPDATE = process.env.SKIFF_UPDATE_GOLDEN === '1';

async function runInstall(args: string[]): Promise<{ code: number; stdout: string; objects: Obj[] }> {
  const out = new PassThrough();
  let stdout = '';
  out.on('data', (c: Buffer) => (stdout += c.toString()));
  const io: CliIO = { argv: args, env: {}, stdin: new PassThrough(), stdout: out, stderr: new PassThrough(), cwd: process.cwd(), shutdown: new AbortController().signal };
  const code = await installCommand.run(io, args);
  const objects = parseAllDocuments(stdout).flatMap((d) => (Array.isArray(d) ? [] : [d.toJS() as Obj])).filter((o) => o !== null);
  return { code, stdout, objects };
}

const find = (objects: Obj[], kind: string, name?: string): Obj => {
  const found = objects.find((o) => o.kind === kind && (name === undefined || (o.metadata as Obj).name === name));
  assert.ok(found, `${kind}/${name ?? '*'} is in the output`);
  return found;
};

function podSpecs(objects: Obj[]): Obj[] {
  return objects.filter((o) => o.kind === 'Deployment').map((d) => ((d.spec as Obj).template as Obj).spec as Obj);
}

void describe('skiff install', () => {
  void test('golden output (with fixed secrets), for Kubernetes and OpenShift', () => {
    const base: InstallOptions = { namespace: 'skiff', image: 'ghcr.io/skiff-mesh/skiff:0.1.0', openshift: false, storage: '1Gi', webhookReplicas: 2 };
    const secrets = { token: 'TOKEN', certs: { caCert: 'CA CERTIFICATE\n', cert: 'SERVING CERTIFICATE\n', key: 'PRIVATE KEY\n' } };
    for (const [file, options] of [
      ['install.golden.yaml', base],
      ['install-openshift.golden.yaml', { ...base, openshift: true }],
    ] as const) {
      const text = toYamlStream(installManifests(options, secrets), '# golden: skiff install with fixed secrets\n');
      const path = new URL(`./testdata/${file}`, import.meta.url);
      if (UPDATE) writeFileSync(path, text);
      assert.equal(text, readFileSync(path, 'utf8'), `${file} differs: review the change, then SKIFF_UPDATE_GOLDEN=1`);
    }
  });

  void test('every object is valid; the webhook configuration is what the API server needs', async () => {
    const { code, objects } = await runInstall([]);
    assert.equal(code, 0);
    for (const o of objects) validateObject(o);
    assert.deepEqual(
      objects.map((o) => `${String(o.kind)}/${String((o.metadata as Obj).name)}`),
      [
        'Namespace/skiff',
        'ServiceAccount/skiff-dashboard',
        'Secret/skiff-dashboard',
        'PersistentVolumeClaim/skiff-dashboard-data',
        'Deployment/skiff-dashboard',
        'Service/skiff-dashboard',
        'ServiceAccount/skiff-webhook',
        'Secret/skiff-webhook-tls',
        'Deployment/skiff-webhook',
        'PodDisruptionBudget/skiff-webhook',
        'Service/skiff-webhook',
        'MutatingWebhookConfiguration/skiff-injector',
      ],
    );
    const mwc = find(objects, 'MutatingWebhookConfiguration');
    const hook = (mwc.webhooks as Obj[])[0]!;
    assert.equal(hook.failurePolicy, 'Ignore');
    assert.equal(hook.reinvocationPolicy, 'IfNeeded');
    assert.equal(hook.sideEffects, 'None');
    assert.deepEqual(hook.admissionReviewVersions, ['v1']);
    assert.deepEqual(hook.rules, [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }]);
    assert.deepEqual(hook.namespaceSelector, {
      matchExpressions: [
        { key: 'skiff.io/inject', operator: 'In', values: ['enabled'] },
        { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'kube-public', 'kube-node-lease', 'skiff'] },
      ],
    });
    assert.deepEqual((hook.clientConfig as Obj).service, { name: 'skiff-webhook', namespace: 'skiff', path: '/mutate', port: 443 });
    // The token is generated, long, and differs from run to run.
    const token = ((find(objects, 'Secret', 'skiff-dashboard').stringData as Obj).token) as string;
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    const again = await runInstall([]);
    assert.notEqual(((find(again.objects, 'Secret', 'skiff-dashboard').stringData as Obj).token), token);
  });

  void test('the caBundle is a CA that signed the serving certificate, for the Service names, with its key', async () => {
    const { objects } = await runInstall(['--namespace', 'mesh']);
    const caPem = Buffer.from(String(((find(objects, 'MutatingWebhookConfiguration').webhooks as Obj[])[0]!.clientConfig as Obj).caBundle), 'base64').toString();
    const tls = find(objects, 'Secret', 'skiff-webhook-tls').data as Obj;
    const certPem = Buffer.from(String(tls['tls.crt']), 'base64').toString();
    const keyPem = Buffer.from(String(tls['tls.key']), 'base64').toString();
    const ca = new X509Certificate(caPem);
    const cert = new X509Certificate(certPem);
    assert.ok(ca.ca);
    assert.ok(cert.checkIssued(ca));
    assert.ok(cert.verify(ca.publicKey));
    assert.equal(cert.checkHost('skiff-webhook.mesh.svc'), 'skiff-webhook.mesh.svc');
    const signature = sign('sha256', Buffer.from('x'), createPrivateKey(keyPem));
    assert.ok(verify('sha256', Buffer.from('x'), createPublicKey(certPem), signature), 'the key belongs to the certificate');
    assert.deepEqual(
      (((find(objects, 'MutatingWebhookConfiguration').webhooks as Obj[])[0]!.namespaceSelector as Obj).matchExpressions as Obj[])[1]!.values,
      ['kube-system', 'kube-public', 'kube-node-lease', 'mesh'],
    );

    // And the webhook serves with exactly that pair, trusted through exactly that caBundle.
    const dir = mkdtempSync(join(tmpdir(), 'skiff-install-'));
    writeFileSync(join(dir, 'tls.crt'), certPem);
    writeFileSync(join(dir, 'tls.key'), keyPem);
    const server = await createWebhookServer({ listen: { host: '127.0.0.1', port: 0 }, certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), inject: defaultInjectOptions, log: silentLogger });
    try {
      const status = await new Promise<number>((ok, fail) => {
        request({ host: '127.0.0.1', port: server.address.port, path: '/healthz', servername: 'skiff-webhook.mesh.svc', ca: caPem }, (res) => {
          res.resume();
          ok(res.statusCode ?? 0);
        })
          .on('error', fail)
          .end();
      });
      assert.equal(status, 200);
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void test('least privilege: no RBAC, no API tokens, restricted pods, never injected themselves', async () => {
    const { objects } = await runInstall([]);
    assert.ok(!objects.some((o) => /Role/.test(String(o.kind))), 'no Role, ClusterRole or bindings');
    for (const sa of objects.filter((o) => o.kind === 'ServiceAccount')) assert.equal(sa.automountServiceAccountToken, false);
    for (const spec of podSpecs(objects)) {
      assert.equal(spec.automountServiceAccountToken, false);
      assert.deepEqual(spec.securityContext, { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } });
      for (const c of spec.containers as Obj[]) {
        assert.deepEqual(c.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
        assert.equal(c.image, 'ghcr.io/skiff-mesh/skiff:0.1.0');
      }
    }
    for (const d of objects.filter((o) => o.kind === 'Deployment')) {
      assert.equal((((d.spec as Obj).template as Obj).metadata as Obj).annotations && ((((d.spec as Obj).template as Obj).metadata as Obj).annotations as Obj)['skiff.io/inject'], 'disabled');
    }
    const ns = find(objects, 'Namespace');
    assert.equal(((ns.metadata as Obj).labels as Obj)['pod-security.kubernetes.io/enforce'], 'restricted');
    // The dashboard reads its token from the Secret; the webhook's args carry the image.
    const dash = podSpecs(objects)[0]!;
    assert.deepEqual(((dash.containers as Obj[])[0]!.env as Obj[])[0], { name: 'SKIFF_TOKEN', valueFrom: { secretKeyRef: { name: 'skiff-dashboard', key: 'token' } } });
  });

  void test('--openshift: a Route to the dashboard, no fixed user ids, the webhook injects for OpenShift', async () => {
    const { objects } = await runInstall(['--openshift', '--image', 'quay.io/me/skiff:1']);
    for (const o of objects) validateObject(o);
    const route = find(objects, 'Route', 'skiff-dashboard');
    assert.equal(route.apiVersion, 'route.openshift.io/v1');
    assert.deepEqual((route.spec as Obj).tls, { termination: 'edge', insecureEdgeTerminationPolicy: 'Redirect' });
    for (const spec of podSpecs(objects)) {
      assert.deepEqual(spec.securityContext, { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    }
    const args = (podSpecs(objects)[1]!.containers as Obj[])[0]!.args as string[];
    assert.ok(args.includes('--openshift'));
    assert.deepEqual(args.slice(args.indexOf('--image'), args.indexOf('--image') + 2), ['--image', 'quay.io/me/skiff:1']);
  });

  void test('bad options are usage errors', async () => {
    await assert.rejects(runInstall(['--namespace', 'Not_A_Name']), { code: 'SKIFF_ERR_USAGE' });
    await assert.rejects(runInstall(['--storage', 'big']), { code: 'SKIFF_ERR_USAGE' });
    await assert.rejects(runInstall(['--webhook-replicas', '0']), { code: 'SKIFF_ERR_USAGE' });
  });
});
