// Real pods: manifests that `skiff inject` wrote, run by podman (`podman kube play`), with
// real traffic through the sidecar and its /metrics read from inside the pod.
//
//   1. The original series' two-container pod: a web server, plus the sidecar `skiff inject`
//      adds. Requests to the sidecar's port (where the Service sends them) are counted exactly,
//      and the app still answers its probe.
//   2. A Bookinfo-like mesh: productpage → details, productpage → reviews → ratings, small Node
//      services from the same image calling each other by pod name. Every hop is counted.
//
// Podman stands in for Kubernetes, with two differences the test works around, openly:
// - `--native-sidecar=false`: podman 4.3 has no native sidecars (an init container with
//   `restartPolicy: Always`, KEP-753) and stalls on init containers (about 20 s, often
//   "container state improper"), so the classic sidecar container is what it can run.
// - forPodman() adapts the injected manifest in two ways that do not touch routing: podman 4.3
//   cannot fill an env var from `fieldRef: metadata.namespace` (it has no namespaces), so that
//   reference becomes the value "default"; and it publishes every `containerPort` on the host's
//   0.0.0.0 (Kubernetes does not), which would make pods with the same ports collide, so the
//   `ports` lists go (traffic is sent to the pod IPs).
// - No Services (no kube-proxy): the callers use the port each Service's targetPort names after
//   injection (the sidecar's, 15001), and pod names resolve through hostAliases to the static IPs
//   given with `kube play --ip` (podman's CNI networks here have no DNS plugin).
//
// Needs root and podman (apt-get install podman runc catatonit; scripts/podman-setup.sh). It
// fails, never skips, without them. It restores net.ipv4.ip_forward and removes the firewall
// chains, bridges, networks, pods and images it caused (but the build cache of
// scripts/build-image.sh, one image).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseAllDocuments, stringify } from 'yaml';
import type { HostState } from './host.ts';
import { restoreHost, snapshotHost } from './host.ts';

type Obj = Record<string, unknown>;

const root = join(import.meta.dirname, '..', '..');
const apps = join(import.meta.dirname, 'apps');
const node = process.execPath;
const id = `${process.pid}`;
const tag = `localhost/skiff-e2e:${id}`;
const network = `skiff-e2e-${id}`;

const HOW_TO_INSTALL =
  'podman is not installed, and the real-pod tests need it: on Debian/Ubuntu run `apt-get install -y podman runc catatonit`, then ' +
  '`sudo scripts/podman-setup.sh` (it configures podman only if its smoke run fails); .ci/run does both';

function sh(cmd: string, args: string[], options: { input?: string; timeout?: number; allowFail?: boolean } = {}): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', input: options.input, timeout: options.timeout ?? 120_000 });
  const out = { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(cmd === 'podman' ? HOW_TO_INSTALL : `${cmd} is not installed`);
  if (out.status !== 0 && !options.allowFail) throw new Error(`${cmd} ${args.join(' ')} failed (${out.status}):\n${out.stderr}${out.stdout}`);
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function httpGet(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.text() };
}

async function waitFor(what: string, url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const r = await httpGet(url);
      if (r.status === 200) return;
      last = `HTTP ${r.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(200);
  }
  throw new Error(`${what} (${url}) not ready after ${timeoutMs} ms: ${last}`);
}

/** The sidecar's /metrics, read from inside the pod (its admin port, as Prometheus would). */
function metricsFromInside(pod: string): string {
  const script = "fetch('http://127.0.0.1:15000/metrics').then(r=>r.text()).then(t=>process.stdout.write(t))";
  return sh('podman', ['exec', `${pod}-skiff-proxy`, '/usr/local/bin/node', '-e', script]).stdout;
}

/** Sum of skiff_requests_total over the series whose labels include all of `labels`. */
function requestsTotal(metrics: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of metrics.split('\n')) {
    const m = /^skiff_requests_total\{(.*)\} (\S+)$/.exec(line);
    if (!m) continue;
    if (Object.entries(labels).every(([k, v]) => m[1]!.includes(`${k}="${v}"`))) sum += Number(m[2]);
  }
  return sum;
}

function inject(manifest: string, args: string[]): { yaml: string; stderr: string; objects: Obj[] } {
  const r = sh(node, ['bin/skiff.ts', 'inject', '-f', '-', ...args], { input: manifest });
  const objects = parseAllDocuments(r.stdout).flatMap((d) => (Array.isArray(d) ? [] : [d.toJS() as Obj]));
  return { yaml: r.stdout, stderr: r.stderr, objects };
}

/** The injected manifest as podman 4.3 can run it (see the top of this file). */
function forPodman(yaml: string): string {
  const docs = parseAllDocuments(yaml).flatMap((d) => (Array.isArray(d) ? [] : [d.toJS() as Obj]));
  let replaced = 0;
  for (const doc of docs) {
    const spec = doc.kind === 'Pod' ? (doc.spec as Obj) : undefined;
    for (const c of [...((spec?.containers as Obj[] | undefined) ?? []), ...((spec?.initContainers as Obj[] | undefined) ?? [])]) {
      Reflect.deleteProperty(c, 'ports');
      for (const e of (c.env as Obj[] | undefined) ?? []) {
        if (((e.valueFrom as Obj | undefined)?.fieldRef as Obj | undefined)?.fieldPath === 'metadata.namespace') {
          Reflect.deleteProperty(e, 'valueFrom');
          e.value = 'default';
          replaced += 1;
        }
      }
    }
  }
  assert.ok(replaced > 0, 'the injected pods take their namespace from the Downward API');
  return docs.map((d) => stringify(d)).join('---\n');
}

/** A free /24 for this run's network (podman refuses overlapping subnets). */
function freeSubnet(): string {
  const used = sh('podman', ['network', 'ls', '--format', '{{range .Subnets}}{{.Subnet}} {{end}}']).stdout;
  for (let i = 0; i < 200; i += 1) {
    const third = (Number(id) + i) % 200 + 20;
    if (!used.includes(`10.213.${third}.`)) return `10.213.${third}`;
  }
  throw new Error('no free 10.213.x.0/24 subnet for the test network');
}

function appContainer(name: string, env: Record<string, string>, extra: Obj = {}): Obj {
  return {
    name,
    image: tag,
    imagePullPolicy: 'Never',
    command: ['/usr/local/bin/node', '/apps/service.ts'],
    env: Object.entries(env).map(([k, v]) => ({ name: k, value: v })),
    volumeMounts: [{ name: 'apps', mountPath: '/apps', readOnly: true }],
    ...extra,
  };
}

const appsVolume = { name: 'apps', hostPath: { path: apps, type: 'Directory' } };

void describe('real pods (podman kube play)', { timeout: 240_000 }, () => {
  let host: HostState | undefined;
  let dir = '';
  let imagesBefore = new Set<string>();
  let prefix = '';
  const played: string[] = [];

  before(() => {
    sh('podman', ['--version']); // throws with HOW_TO_INSTALL when podman is missing
    if (process.getuid?.() !== 0) {
      throw new Error('the real-pod tests need root: rootful podman gives each pod an IP this host can reach (CI runs them as root through .ci/run)');
    }
    const help = sh(node, ['bin/skiff.ts', 'proxy', '--help'], { allowFail: true });
    if (help.status !== 0) throw new Error(`the sidecar is not runnable (skiff proxy --help failed): ${help.stderr.trim()}`);
    host = snapshotHost();
    imagesBefore = new Set(sh('podman', ['images', '-q', '--no-trunc']).stdout.split('\n').filter(Boolean));
    dir = mkdtempSync(join(tmpdir(), 'skiff-pods-'));
    // One image per run, built by the project's own script (cached by content hash: stripping
    // the types of the whole tree takes a while on a busy machine).
    assert.equal(sh('scripts/build-image.sh', [tag], { timeout: 180_000 }).stdout.trim(), tag);
    prefix = freeSubnet();
    sh('podman', ['network', 'create', '--subnet', `${prefix}.0/24`, network]);
  });

  after(() => {
    const problems: string[] = [];
    for (const file of played.reverse()) {
      const r = sh('podman', ['kube', 'down', file], { allowFail: true });
      if (r.status !== 0) problems.push(`kube down ${file}: ${r.stderr.trim()}`);
    }
    sh('podman', ['network', 'rm', '-f', network], { allowFail: true });
    sh('podman', ['rmi', tag], { allowFail: true });
    // Images this run created (podman's pause image, say) go too, except the content-hash build
    // cache of scripts/build-image.sh (it keeps one, and removes older ones itself).
    const now = sh('podman', ['images', '--no-trunc', '--format', '{{.ID}} {{.Repository}}:{{.Tag}}'], { allowFail: true }).stdout.split('\n');
    for (const line of now) {
      const [image, name] = line.split(' ');
      if (image && !imagesBefore.has(image) && !name?.startsWith('localhost/skiff-build:')) sh('podman', ['rmi', '-f', image], { allowFail: true });
    }
    if (host) problems.push(...restoreHost(host));
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (problems.length > 0) throw new Error(`cleanup: ${problems.join('; ')}`);
  });

  function play(name: string, yaml: string, ips: string[]): void {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, forPodman(yaml));
    played.push(file);
    sh('podman', ['kube', 'play', '--network', network, ...ips.flatMap((ip) => ['--ip', ip]), file], { timeout: 120_000 });
  }

  void test('the two-container pod: traffic through the sidecar is counted exactly; the app still answers its probe', async () => {
    const pod = `skiff-e2e-web-${id}`;
    const ip = `${prefix}.10`;
    const input = [
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 'http' }] } },
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: pod, labels: { app: 'web' } },
        spec: {
          containers: [
            appContainer('web', { NAME: 'web', PORT: '8080' }, {
              ports: [{ name: 'http', containerPort: 8080 }],
              readinessProbe: { httpGet: { path: '/healthz', port: 'http' } },
            }),
          ],
          volumes: [appsVolume],
        },
      },
    ]
      .map((o) => stringify(o))
      .join('---\n');
    const injected = inject(input, ['--native-sidecar=false', '--image', tag, '--secret=']);
    assert.equal(injected.stderr, `service/web skipped\npod/${pod} injected\n`, 'the Service targets the name "http", which moved to the sidecar');
    const podObj = injected.objects.find((o) => o.kind === 'Pod')!;
    const containers = (podObj.spec as Obj).containers as Obj[];
    assert.deepEqual(containers.map((c) => c.name), ['web', 'skiff-proxy']);
    const sidecarPorts = containers[1]!.ports as Obj[];
    assert.deepEqual(sidecarPorts[0], { name: 'http', containerPort: 15001, protocol: 'TCP' }, 'the Service port now lands on the sidecar');
    const probe = (containers[0]!.readinessProbe as Obj).httpGet as Obj;
    assert.equal(probe.port, 8080, 'the probe names the app port by number');

    play('web', injected.yaml, [ip]);
    const inspect = JSON.parse(sh('podman', ['pod', 'inspect', pod]).stdout) as Obj | Obj[];
    const info = Array.isArray(inspect) ? inspect[0]! : inspect;
    const names = ((info.Containers as Obj[] | undefined) ?? []).map((c) => String(c.Name)).sort();
    assert.deepEqual(names.filter((n) => !n.endsWith('-infra')), [`${pod}-skiff-proxy`, `${pod}-web`]);

    // /readyz is 200 only once the app's port accepts connections.
    await waitFor('the sidecar', `http://${ip}:15000/readyz`);
    const N = 37;
    for (let i = 0; i < N; i += 1) {
      const r = await httpGet(`http://${ip}:15001/`);
      assert.equal(r.status, 200);
      assert.equal((JSON.parse(r.body) as Obj).name, 'web');
    }
    // The kubelet probes the app itself, at the pod IP and the probe's port: it bypasses the sidecar.
    const health = await httpGet(`http://${ip}:${String(probe.port)}${String(probe.path)}`);
    assert.deepEqual(health, { status: 200, body: 'ok\n' });
    assert.equal((await httpGet(`http://${ip}:15000/livez`)).status, 200);
    const metrics = metricsFromInside(pod);
    assert.equal(requestsTotal(metrics, { direction: 'inbound' }), N, metrics.split('\n').filter((l) => l.startsWith('skiff_requests_total')).join('\n'));
    assert.equal(requestsTotal(metrics, { direction: 'inbound', service: 'web', status_code: '200', route: '/' }), N);
  });

  void test('a Bookinfo-like mesh: productpage → details, reviews → ratings, every hop counted', async () => {
    const services = ['productpage', 'details', 'reviews', 'ratings'] as const;
    const podName = (s: string): string => `bi-${s}-${id}`;
    const ips = Object.fromEntries(services.map((s, i) => [s, `${prefix}.${20 + i}`])) as Record<(typeof services)[number], string>;
    // Where each Service sends its traffic once injected: the sidecar's port (asserted below).
    const url = (s: string): string => `http://${podName(s)}:15001/`;
    const calls: Record<string, string[]> = { productpage: [url('details'), url('reviews')], reviews: [url('ratings')], details: [], ratings: [] };
    const hostAliases = services.map((s) => ({ ip: ips[s], hostnames: [podName(s)] }));
    const input = services
      .flatMap((s) => [
        { apiVersion: 'v1', kind: 'Service', metadata: { name: s, labels: { app: s } }, spec: { selector: { app: s }, ports: [{ name: 'http', port: 9080 }] } },
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: podName(s), labels: { app: s, version: 'v1' } },
          spec: {
            hostAliases,
            containers: [appContainer(s, { NAME: s, PORT: '9080', CALLS: calls[s]!.join(',') }, { ports: [{ containerPort: 9080 }] })],
            volumes: [appsVolume],
          },
        },
      ])
      .map((o) => stringify(o))
      .join('---\n');
    const injected = inject(input, ['--native-sidecar=false', '--image', tag, '--secret=']);
    for (const s of services) {
      assert.match(injected.stderr, new RegExp(`^service/${s} retargeted$`, 'm'));
      assert.match(injected.stderr, new RegExp(`^pod/${podName(s)} injected$`, 'm'));
      const svc = injected.objects.find((o) => o.kind === 'Service' && (o.metadata as Obj).name === s)!;
      assert.deepEqual((svc.spec as Obj).ports, [{ name: 'http', port: 9080, targetPort: 15001 }]);
    }
    play('bookinfo', injected.yaml, services.map((s) => ips[s]));
    for (const s of services) await waitFor(`${s}'s sidecar`, `http://${ips[s]}:15000/readyz`);

    const M = 20;
    for (let i = 0; i < M; i += 1) {
      const r = await httpGet(`http://${ips.productpage}:15001/`);
      assert.equal(r.status, 200, r.body);
      assert.deepEqual(JSON.parse(r.body), { name: 'productpage', calls: [200, 200] });
    }
    for (const s of services) {
      const metrics = metricsFromInside(podName(s));
      assert.equal(requestsTotal(metrics, { direction: 'inbound', service: s, status_code: '200' }), M, `${s}:\n${metrics.split('\n').filter((l) => l.startsWith('skiff_requests_total')).join('\n')}`);
    }
  });
});
