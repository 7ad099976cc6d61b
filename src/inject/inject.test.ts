import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { InjectOptions } from './inject.ts';
import { defaultInjectOptions, formatMessage, formatReport, inject, injectAll, uninject, uninjectAll, workloadKinds } from './inject.ts';
import { DEFAULT_IMAGE, VERSION } from './sidecar.ts';
import { validateObject } from './testdata/validate.ts';

type Obj = Record<string, unknown>;
const o = (v: unknown): Obj => v as Obj;
const at = (v: unknown, ...path: (string | number)[]): unknown => path.reduce<unknown>((x, k) => (x as Obj | undefined)?.[k], v);

function podSpec(extra: Obj = {}): Obj {
  return {
    containers: [
      {
        name: 'web',
        image: 'example/web:1',
        ports: [{ name: 'http', containerPort: 8080 }],
        readinessProbe: { httpGet: { path: '/healthz', port: 'http' } },
        livenessProbe: { tcpSocket: { port: 8080 } },
      },
    ],
    ...extra,
  };
}

function template(labels: Obj = { app: 'web' }, spec: Obj = podSpec()): Obj {
  return { metadata: { labels }, spec };
}

function workload(kind: string, name = 'web'): Obj {
  const tpl = template();
  switch (kind) {
    case 'Pod':
      return { apiVersion: 'v1', kind, metadata: { name, labels: { app: 'web' } }, spec: podSpec() };
    case 'CronJob':
      return { apiVersion: 'batch/v1', kind, metadata: { name }, spec: { schedule: '*/5 * * * *', jobTemplate: { spec: { template: { ...tpl, spec: podSpec({ restartPolicy: 'OnFailure' }) } } } } };
    case 'Job':
      return { apiVersion: 'batch/v1', kind, metadata: { name }, spec: { template: { ...tpl, spec: podSpec({ restartPolicy: 'Never' }) } } };
    case 'ReplicationController':
      return { apiVersion: 'v1', kind, metadata: { name }, spec: { replicas: 1, selector: { app: 'web' }, template: tpl } };
    case 'DeploymentConfig':
      return { apiVersion: 'apps.openshift.io/v1', kind, metadata: { name }, spec: { replicas: 1, selector: { app: 'web' }, template: tpl } };
    default:
      return { apiVersion: 'apps/v1', kind, metadata: { name }, spec: { selector: { matchLabels: { app: 'web' } }, template: tpl } };
  }
}

function podOf(obj: unknown): Obj {
  const kind = String(o(obj).kind);
  if (kind === 'Pod') return o(obj);
  if (kind === 'CronJob') return o(at(obj, 'spec', 'jobTemplate', 'spec', 'template'));
  return o(at(obj, 'spec', 'template'));
}

function sidecarOf(obj: unknown): Obj | undefined {
  const spec = o(podOf(obj).spec);
  const all = [...((spec.initContainers as Obj[] | undefined) ?? []), ...((spec.containers as Obj[] | undefined) ?? [])];
  return all.find((c) => c.name === 'skiff-proxy');
}

const service = (extra: Obj = {}, ports: Obj[] = [{ name: 'http', port: 80, targetPort: 8080 }]): Obj => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'web' },
  spec: { selector: { app: 'web' }, ports },
  ...extra,
});

/** Exact round trip: deep equality and the same key order everywhere. */
function assertRestored(back: unknown, original: unknown): void {
  assert.deepEqual(back, original);
  assert.equal(JSON.stringify(back), JSON.stringify(original));
}

void describe('inject: every workload kind', () => {
  for (const kind of workloadKinds) {
    void test(`${kind}: native sidecar first in initContainers, valid, idempotent, uninject restores`, () => {
      const input = workload(kind);
      const frozen = structuredClone(input);
      const { object, reports } = inject(input);
      assert.deepEqual(input, frozen, 'the input object is not modified');
      assert.deepEqual(reports.map(formatReport), [`${kind.toLowerCase()}/web injected`]);
      const spec = o(podOf(object).spec);
      const init = spec.initContainers as Obj[];
      assert.equal(init[0]?.name, 'skiff-proxy');
      assert.equal(init[0]?.restartPolicy, 'Always');
      assert.equal((spec.containers as Obj[]).length, 1);
      // initContainers sits right before containers, where people read it.
      assert.deepEqual(Object.keys(spec).slice(0, 2), ['initContainers', 'containers']);
      validateObject(object);
      const again = inject(object);
      assert.deepEqual(again.object, object);
      assert.deepEqual(again.reports.map(formatReport), [`${kind.toLowerCase()}/web skipped (already injected)`]);
      assertRestored(uninject(object).object, input);
    });

    void test(`${kind}: --native-sidecar=false appends a classic container`, () => {
      const input = workload(kind);
      const { object, messages } = inject(input, { ...defaultInjectOptions, nativeSidecar: false });
      const spec = o(podOf(object).spec);
      assert.equal(spec.initContainers, undefined);
      const containers = spec.containers as Obj[];
      assert.deepEqual(containers.map((c) => c.name), ['web', 'skiff-proxy']);
      assert.equal(containers[1]!.restartPolicy, undefined);
      validateObject(object);
      const jobNote = messages.find((m) => m.level === 'note' && /never completes/.test(m.text));
      assert.equal(jobNote !== undefined, kind === 'Job' || kind === 'CronJob', `Job note for ${kind}`);
      assertRestored(uninject(object).object, input);
    });
  }

  void test('a List: its items are injected and Services among them retargeted', () => {
    const list = { apiVersion: 'v1', kind: 'List', items: [service({}, [{ port: 80, targetPort: 8081 }]), workload('Deployment'), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }] };
    // Port 8081 is the app's (unnamed) port: the Service must follow it to the sidecar.
    o(o(o(list.items[1]).spec).template).spec = podSpec({ containers: [{ name: 'web', image: 'w', ports: [{ containerPort: 8081 }] }] });
    const { object, reports } = inject(list);
    assert.deepEqual(reports.map(formatReport), ['service/web retargeted', 'deployment/web injected', 'configmap/x skipped']);
    assert.equal(at(object, 'items', 0, 'spec', 'ports', 0, 'targetPort'), 15001);
    validateObject(object);
    assertRestored(uninject(object).object, list);
  });

  void test('other kinds pass through untouched and are reported skipped', () => {
    for (const obj of [
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, data: { a: 'b' } },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'sa' } },
      { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'in' }, spec: {} },
    ]) {
      const { object, reports } = inject(obj);
      assert.deepEqual(object, obj);
      assert.deepEqual(reports.map(formatReport), [`${obj.kind.toLowerCase()}/${obj.metadata.name} skipped`]);
    }
  });
});

void describe('inject: the sidecar container', () => {
  void test('image, pull policy, args, Downward API env, Secret refs, ports, probes, resources, security', () => {
    const sidecar = sidecarOf(inject(workload('Deployment')).object)!;
    assert.equal(sidecar.image, DEFAULT_IMAGE);
    assert.match(DEFAULT_IMAGE, new RegExp(`^ghcr\\.io/skiff-mesh/skiff:${VERSION.replace(/\./g, '\\.')}$`));
    assert.equal(sidecar.imagePullPolicy, 'IfNotPresent');
    assert.deepEqual(sidecar.args, ['proxy', '--listen', '0.0.0.0:15001', '--app', '127.0.0.1:8080', '--admin', '0.0.0.0:15000']);
    assert.deepEqual(sidecar.env, [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'SKIFF_SERVICE', value: 'web' },
      { name: 'SKIFF_DASHBOARD', valueFrom: { secretKeyRef: { name: 'skiff-dashboard', key: 'url', optional: true } } },
      { name: 'SKIFF_TOKEN', valueFrom: { secretKeyRef: { name: 'skiff-dashboard', key: 'token', optional: true } } },
    ]);
    // The app's port name moved onto the sidecar's inbound port.
    assert.deepEqual(sidecar.ports, [
      { name: 'http', containerPort: 15001, protocol: 'TCP' },
      { name: 'skiff-admin', containerPort: 15000, protocol: 'TCP' },
    ]);
    assert.deepEqual(at(sidecar, 'readinessProbe', 'httpGet'), { path: '/readyz', port: 15000 });
    assert.deepEqual(at(sidecar, 'livenessProbe', 'httpGet'), { path: '/livez', port: 15000 });
    assert.deepEqual(at(sidecar, 'startupProbe', 'httpGet'), { path: '/livez', port: 15000 });
    assert.deepEqual(sidecar.resources, { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '1', memory: '256Mi' } });
    assert.deepEqual(sidecar.securityContext, {
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
  });

  void test('options: image, literal dashboard, no Secret, OpenShift, other ports', () => {
    const options: InjectOptions = { image: 'localhost/skiff:dev', nativeSidecar: true, dashboard: 'http://dash:8080', openshift: true, inboundPort: 16001, adminPort: 16000 };
    const sidecar = sidecarOf(inject(workload('Deployment'), options).object)!;
    assert.equal(sidecar.image, 'localhost/skiff:dev');
    assert.deepEqual(sidecar.args, ['proxy', '--listen', '0.0.0.0:16001', '--app', '127.0.0.1:8080', '--admin', '0.0.0.0:16000']);
    const env = sidecar.env as Obj[];
    assert.deepEqual(env.find((e) => e.name === 'SKIFF_DASHBOARD'), { name: 'SKIFF_DASHBOARD', value: 'http://dash:8080' });
    assert.equal(env.find((e) => e.name === 'SKIFF_TOKEN'), undefined, 'no Secret: no token reference');
    const sc = o(sidecar.securityContext);
    assert.equal(sc.runAsUser, undefined, 'OpenShift assigns the uid');
    assert.equal(sc.runAsGroup, undefined);
    assert.equal(sc.runAsNonRoot, true);
    assert.deepEqual(at(sidecar, 'readinessProbe', 'httpGet'), { path: '/readyz', port: 16000 });
  });

  void test('service name: app label, else app.kubernetes.io/name, else the workload name', () => {
    const service = (labels: Obj): unknown => {
      const d = workload('Deployment', 'reviews-v1');
      o(o(d.spec).template).metadata = { labels };
      return (sidecarOf(inject(d).object)!.env as Obj[]).find((e) => e.name === 'SKIFF_SERVICE')?.value;
    };
    assert.equal(service({ app: 'reviews', 'app.kubernetes.io/name': 'other' }), 'reviews');
    assert.equal(service({ 'app.kubernetes.io/name': 'ratings' }), 'ratings');
    assert.equal(service({ tier: 'x' }), 'reviews-v1');
  });

  void test('a pod with no declared port: the proxy keeps its default app port, readiness uses /livez, a note says so', () => {
    const d = workload('Deployment');
    o(o(o(d.spec).template).spec).containers = [{ name: 'curl', image: 'curl', command: ['sleep', 'infinity'] }];
    const { object, messages } = inject(d);
    const sidecar = sidecarOf(object)!;
    assert.ok(!(sidecar.args as string[]).includes('--app'));
    assert.deepEqual(at(sidecar, 'readinessProbe', 'httpGet'), { path: '/livez', port: 15000 });
    assert.ok(messages.some((m) => /no container port is declared/.test(m.text)));
  });
});

void describe('inject: routing without privileges', () => {
  void test('a named app port moves to the sidecar; probes that named it now use the number; the Service is untouched', () => {
    const svc = service({}, [{ name: 'http', port: 80, targetPort: 'http' }]);
    const d = workload('Deployment');
    const { objects, reports, messages } = injectAll([svc, d]);
    assert.deepEqual(objects[0], svc, 'a Service targeting the name needs no change');
    assert.deepEqual(reports.map(formatReport), ['service/web skipped', 'deployment/web injected']);
    const web = (o(podOf(objects[1]).spec).containers as Obj[])[0]!;
    assert.deepEqual(web.ports, [{ name: 'skiff-app', containerPort: 8080 }]);
    assert.deepEqual(at(web, 'readinessProbe', 'httpGet'), { path: '/healthz', port: 8080 }, 'the kubelet still probes the app');
    assert.deepEqual(at(web, 'livenessProbe', 'tcpSocket'), { port: 8080 });
    assert.equal((sidecarOf(objects[1])!.ports as Obj[])[0]!.name, 'http');
    assert.deepEqual(messages, [], 'the Service in the input covers it: no note');
    const back = uninjectAll(objects);
    assertRestored(back.objects[1], d);
    assert.deepEqual(back.reports.map(formatReport), ['service/web skipped', 'deployment/web uninjected']);
  });

  void test('a Service targeting the app port by number (or by default) is retargeted and restored', () => {
    const d = workload('Deployment');
    const explicit = service({ metadata: { name: 'a' } }, [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'other', port: 81, targetPort: 9999 }]);
    const implicit = service({ metadata: { name: 'b', annotations: { team: 'x' } } }, [{ port: 8080 }]);
    const { objects, reports } = injectAll([explicit, implicit, d]);
    assert.deepEqual(reports.map(formatReport), ['service/a retargeted', 'service/b retargeted', 'deployment/web injected']);
    assert.deepEqual(at(objects[0], 'spec', 'ports'), [{ name: 'http', port: 80, targetPort: 15001 }, { name: 'other', port: 81, targetPort: 9999 }]);
    assert.deepEqual(at(objects[1], 'spec', 'ports'), [{ port: 8080, targetPort: 15001 }]);
    assert.equal(typeof at(objects[1], 'metadata', 'annotations', 'skiff.io/retargeted'), 'string');
    for (const obj of objects) validateObject(obj);
    const again = injectAll(objects);
    assert.deepEqual(again.objects, objects, 'injecting twice changes nothing');
    assert.deepEqual(again.reports.map(formatReport), ['service/a skipped (already retargeted)', 'service/b skipped (already retargeted)', 'deployment/web skipped (already injected)']);
    const back = uninjectAll(objects);
    assert.deepEqual(back.reports.map(formatReport), ['service/a restored', 'service/b restored', 'deployment/web uninjected']);
    back.objects.forEach((obj, i) => assertRestored(obj, [explicit, implicit, d][i]));
  });

  void test('a Service is not retargeted across namespaces, nor when it also selects a pod that is not injected', () => {
    const d = workload('Deployment');
    const elsewhere = service({ metadata: { name: 'web', namespace: 'other' } }, [{ port: 80, targetPort: 8080 }]);
    const optedOut = workload('Deployment', 'canary');
    o(o(o(optedOut.spec).template).metadata).annotations = { 'skiff.io/inject': 'disabled' };
    const shared = service({ metadata: { name: 'shared' } }, [{ port: 80, targetPort: 8080 }]);
    const { objects, reports, messages } = injectAll([elsewhere, shared, d, optedOut]);
    assert.deepEqual(reports.map(formatReport), ['service/web skipped', 'service/shared skipped', 'deployment/web injected', 'deployment/canary skipped (skiff.io/inject: disabled)']);
    assert.deepEqual(objects[0], elsewhere);
    assert.deepEqual(objects[1], shared);
    assert.ok(messages.some((m) => m.level === 'warning' && m.ref === 'service/shared' && /deployment\/canary/.test(m.text)), messages.map(formatMessage).join('\n'));
    assert.deepEqual(objects[3], optedOut);
  });

  void test('with no Service in the input, a note says what the user must change', () => {
    const numeric = workload('Deployment', 'num');
    o(o(o(numeric.spec).template).spec).containers = [{ name: 'a', image: 'a', ports: [{ containerPort: 9080 }, { containerPort: 9090, protocol: 'UDP' }, { containerPort: 9443 }] }];
    const { messages } = injectAll([numeric, workload('Deployment', 'named')]);
    const texts = messages.map(formatMessage);
    assert.ok(texts.includes('note: deployment/num: no Service in this input targets port 9080: Services must target port 15001 (targetPort: 15001) for traffic to go through the sidecar'), texts.join('\n'));
    assert.ok(texts.some((t) => t.startsWith('note: deployment/named: Services that target port "http" by name now reach the sidecar; those that target 8080 by number must target 15001')));
    assert.ok(texts.includes('note: deployment/num: only port 9080 goes through the sidecar; 9443 stays direct (skiff.io/app-port picks the port)'));
  });
});

void describe('inject: annotations', () => {
  const annotated = (annotations: Obj, on: 'template' | 'workload' = 'template'): Obj => {
    const d = workload('Deployment');
    if (on === 'template') o(o(o(d.spec).template).metadata).annotations = annotations;
    else o(d.metadata).annotations = annotations;
    return d;
  };

  void test('skiff.io/inject: disabled on the template or on the workload opts out', () => {
    for (const on of ['template', 'workload'] as const) {
      const d = annotated({ 'skiff.io/inject': 'disabled' }, on);
      const { object, reports } = inject(d);
      assert.deepEqual(object, d);
      assert.deepEqual(reports.map(formatReport), ['deployment/web skipped (skiff.io/inject: disabled)']);
    }
    // The template wins over the workload.
    const both = annotated({ 'skiff.io/inject': 'disabled' }, 'workload');
    o(o(o(both.spec).template).metadata).annotations = { 'skiff.io/inject': 'enabled' };
    assert.deepEqual(inject(both).reports.map(formatReport), ['deployment/web injected']);
  });

  void test('app port, resources, dashboard and image annotations', () => {
    const d = annotated({
      'skiff.io/app-port': '9090',
      'skiff.io/proxy-cpu-request': '100m',
      'skiff.io/proxy-memory-limit': '512Mi',
      'skiff.io/proxy-cpu-limit': '',
      'skiff.io/dashboard': 'https://dash.example:8443',
      'skiff.io/proxy-image': 'registry.example/skiff:pinned',
    });
    const sidecar = sidecarOf(inject(d).object)!;
    assert.deepEqual(sidecar.args, ['proxy', '--listen', '0.0.0.0:15001', '--app', '127.0.0.1:9090', '--admin', '0.0.0.0:15000']);
    assert.deepEqual(sidecar.resources, { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '512Mi' } });
    assert.deepEqual((sidecar.env as Obj[]).find((e) => e.name === 'SKIFF_DASHBOARD'), { name: 'SKIFF_DASHBOARD', value: 'https://dash.example:8443' });
    assert.equal(sidecar.image, 'registry.example/skiff:pinned');
    // Port 9090 is not declared: the app's port 8080 keeps its name.
    assert.equal((sidecar.ports as Obj[])[0]!.name, 'skiff-inbound');
    const named = sidecarOf(inject(annotated({ 'skiff.io/app-port': 'http' })).object)!;
    assert.ok((named.args as string[]).includes('127.0.0.1:8080'));
  });

  void test('an unknown skiff.io/ annotation is a warning, never silently ignored', () => {
    const { reports, messages } = inject(annotated({ 'skiff.io/inejct': 'disabled', 'other.io/x': 'y' }));
    assert.deepEqual(reports.map(formatReport), ['deployment/web injected']);
    const warnings = messages.filter((m) => m.level === 'warning');
    assert.equal(warnings.length, 1);
    assert.match(formatMessage(warnings[0]!), /^warning: deployment\/web: unknown annotation skiff\.io\/inejct is ignored \(known: inject, app-port, /);
  });

  void test('bad annotation values are errors', () => {
    for (const [anns, reason] of [
      [{ 'skiff.io/inject': 'yes' }, /must be "enabled" or "disabled"/],
      [{ 'skiff.io/app-port': 'grpc' }, /no container port is named "grpc"/],
      [{ 'skiff.io/app-port': '70000' }, /not a port number/],
      [{ 'skiff.io/proxy-memory-limit': 'lots' }, /not a Kubernetes quantity/],
      [{ 'skiff.io/dashboard': 'dash:8080' }, /not an http\(s\) URL/],
    ] as const) {
      const outcome = injectAll([annotated(anns)]);
      assert.equal(outcome.problems.length, 1, JSON.stringify(anns));
      assert.match(outcome.problems[0]!.reason, reason);
      assert.equal(outcome.problems[0]!.pointer, '/spec/template/metadata/annotations');
      assert.throws(() => inject(annotated(anns)), { code: 'SKIFF_ERR_MANIFEST_INVALID' });
    }
  });

  void test('the injected status and a short restore record are written on the pod template', () => {
    const anns = o(at(inject(workload('Deployment')).object, 'spec', 'template', 'metadata', 'annotations'));
    assert.deepEqual(anns, { 'skiff.io/injected': VERSION, 'skiff.io/restore': 'readinessProbe' });
    // Nothing to record when no handler named the port: no restore annotation at all.
    const plain = workload('Deployment');
    o(o(o(plain.spec).template).spec).containers = [{ name: 'a', image: 'a', ports: [{ containerPort: 80 }] }];
    assert.deepEqual(at(inject(plain).object, 'spec', 'template', 'metadata', 'annotations'), { 'skiff.io/injected': VERSION });
  });

  void test('explicitly empty fields are recorded, so they come back empty', () => {
    const d = workload('Deployment', 'bare');
    const tpl = o(o(d.spec).template);
    tpl.metadata = {};
    o(tpl.spec).initContainers = [];
    const web = workload('Deployment');
    const svc = service({ metadata: { name: 'web', annotations: {} } }, [{ port: 8080 }]);
    const { objects } = injectAll([svc, web, d]);
    assert.equal(at(objects[2], 'spec', 'template', 'metadata', 'annotations', 'skiff.io/restore'), 'readinessProbe,empty:metadata,empty:initContainers');
    assert.equal(at(objects[0], 'metadata', 'annotations', 'skiff.io/retargeted'), '8080:-,empty:annotations');
    const back = uninjectAll(objects);
    assertRestored(back.objects[0], svc);
    assertRestored(back.objects[1], web);
    assertRestored(back.objects[2], d);
  });
});

void describe('inject: what it refuses or leaves alone', () => {
  void test('a workload with no containers, no template, or objects that are not Kubernetes objects', () => {
    const empty = workload('Deployment');
    o(o(o(empty.spec).template).spec).containers = [];
    const noTemplate = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: {} };
    const outcome = injectAll([empty, noTemplate, { hello: 'world' }, 'text', null]);
    assert.deepEqual(
      outcome.problems.map((p) => [p.index, p.pointer, p.reason]),
      [
        [0, '/spec/template/spec', 'has no containers'],
        [1, '/spec/template', 'has no pod template'],
        [2, '', 'not a Kubernetes object (it needs apiVersion and kind)'],
        [3, '', 'not a Kubernetes object (it needs apiVersion and kind)'],
      ],
    );
  });

  void test('hostNetwork pods are skipped', () => {
    const d = workload('Deployment');
    o(o(o(d.spec).template).spec).hostNetwork = true;
    const { object, reports } = inject(d);
    assert.deepEqual(object, d);
    assert.match(formatReport(reports[0]!), /^deployment\/web skipped \(hostNetwork/);
  });

  void test("an app already using the sidecar's port is an error", () => {
    const d = workload('Deployment');
    o(o(o(d.spec).template).spec).containers = [{ name: 'a', image: 'a', ports: [{ containerPort: 15000 }] }];
    assert.match(injectAll([d]).problems[0]!.reason, /port 15000 is the app's/);
  });

  void test('a pod made by a controller (as the webhook sees it): generateName, no annotations', () => {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'web-7d9c8b-', labels: { app: 'web' } }, spec: podSpec() };
    const { object, reports } = inject(pod);
    assert.deepEqual(reports.map(formatReport), ['pod/web-7d9c8b- injected']);
    validateObject(object);
    assertRestored(uninject(object).object, pod);
  });

  void test('a template without metadata, and existing init containers', () => {
    const job = { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'j' }, spec: { template: { spec: podSpec({ restartPolicy: 'Never', initContainers: [{ name: 'migrate', image: 'm' }] }) } } };
    const { object } = inject(job);
    assert.deepEqual(Object.keys(o(at(object, 'spec', 'template'))), ['metadata', 'spec']);
    assert.deepEqual((at(object, 'spec', 'template', 'spec', 'initContainers') as Obj[]).map((c) => c.name), ['skiff-proxy', 'migrate']);
    validateObject(object);
    assertRestored(uninject(object).object, job);
  });

  void test('uninject of a hand-made sidecar (no record) removes it and tidies up', () => {
    const d = workload('Deployment');
    o(o(o(d.spec).template).spec).initContainers = [{ name: 'skiff-proxy', image: 'x', restartPolicy: 'Always' }];
    const { object, reports } = uninject(d);
    assert.deepEqual(reports.map(formatReport), ['deployment/web uninjected']);
    assert.equal(at(object, 'spec', 'template', 'spec', 'initContainers'), undefined);
    assert.deepEqual(uninject(workload('Deployment')).reports.map(formatReport), ['deployment/web skipped (not injected)']);
  });

  void test('uninject refuses a damaged restore record', () => {
    const injected = inject(workload('Deployment')).object;
    o(at(injected, 'spec', 'template', 'metadata', 'annotations'))['skiff.io/restore'] = '{not json';
    assert.throws(() => uninject(injected), /skiff\.io\/restore is not a record skiff wrote/);
  });
});

void test('annotations skiff.io/tap-headers and skiff.io/tap-bodies switch the live tap options on, per workload', () => {
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', labels: { app: 'web' }, annotations: { 'skiff.io/tap-headers': 'true', 'skiff.io/tap-bodies': 'true' } }, spec: podSpec() };
  const { object, messages } = inject(pod, defaultInjectOptions);
  const sidecar = (at(object, 'spec', 'initContainers') as Obj[]).find((c) => c.name === 'skiff-proxy')!;
  assert.ok((sidecar.args as string[]).includes('--tap-headers'));
  assert.ok((sidecar.args as string[]).includes('--tap-bodies'));
  assert.equal(messages.filter((m) => m.level === 'warning').length, 0, 'known annotations, no warning');
  assert.deepEqual(uninject(object).object, pod);
  const off = inject({ ...pod, metadata: { name: 'web', labels: { app: 'web' } } }, defaultInjectOptions).object;
  const offArgs = (at(off, 'spec', 'initContainers') as Obj[]).find((c) => c.name === 'skiff-proxy')!.args as string[];
  assert.ok(!offArgs.includes('--tap-bodies'), 'off by default');
  assert.throws(() => inject({ ...pod, metadata: { name: 'web', annotations: { 'skiff.io/tap-bodies': 'yes' } } }, defaultInjectOptions), /tap-bodies: "yes" must be "true" or "false"/);
});
