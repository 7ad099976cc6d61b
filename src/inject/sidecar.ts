/**
 * What the injector adds to a pod: the `skiff-proxy` container, and the names it uses
 * (annotations, ports, defaults). Pure data; see inject.ts for where it goes.
 */
import { readFileSync } from 'node:fs';

export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** Where release images are published; `--image` overrides it (and `skiff.io/proxy-image`). */
export const DEFAULT_IMAGE = `ghcr.io/skiff-mesh/skiff:${VERSION}`;
export const SIDECAR_NAME = 'skiff-proxy';
/**
 * The app's port, when its name moves to the sidecar, is renamed to this (port names are unique
 * in a pod). Renaming rather than removing keeps the line, and any comment on it, in the YAML.
 */
export const APP_PORT_NAME = 'skiff-app';
export const DEFAULT_INBOUND_PORT = 15001;
export const DEFAULT_ADMIN_PORT = 15000;
/** The user id of the image's non-root user (Containerfile, scripts/build-image.sh). */
export const PROXY_UID = 65532;
/** The Secret (in the workload's namespace) that holds the dashboard's `url` and `token`. */
export const DEFAULT_SECRET = 'skiff-dashboard';

/** Every annotation skiff reads or writes. Anything else under `skiff.io/` is a warning. */
export const Annotations = {
  inject: 'skiff.io/inject',
  appPort: 'skiff.io/app-port',
  image: 'skiff.io/proxy-image',
  cpuRequest: 'skiff.io/proxy-cpu-request',
  cpuLimit: 'skiff.io/proxy-cpu-limit',
  memoryRequest: 'skiff.io/proxy-memory-request',
  memoryLimit: 'skiff.io/proxy-memory-limit',
  dashboard: 'skiff.io/dashboard',
  /** `"true"` lets live taps see headers (sensitive ones redacted): the proxy's --tap-headers. */
  tapHeaders: 'skiff.io/tap-headers',
  /** `"true"` lets token holders sample bodies in live taps (capped, redacted): --tap-bodies. */
  tapBodies: 'skiff.io/tap-bodies',
  /** Written by inject: the skiff version that injected the pod. */
  injected: 'skiff.io/injected',
  /** Written by inject: what it changed besides adding the container, so uninject can undo it. */
  restore: 'skiff.io/restore',
  /** Written on a Service whose targetPort inject changed: the original values. */
  retargeted: 'skiff.io/retargeted',
} as const;

export const knownAnnotations: ReadonlySet<string> = new Set(Object.values(Annotations));

/** Defaults sized for one Node.js process (about 50 MiB resident at rest). */
export const DEFAULT_RESOURCES = {
  requests: { cpu: '50m', memory: '64Mi' },
  limits: { cpu: '1', memory: '256Mi' },
} as const;

export interface SidecarSpec {
  image: string;
  native: boolean;
  inboundPort: number;
  adminPort: number;
  /** The port name moved from the app's port onto the sidecar's inbound port, if any. */
  inboundPortName?: string;
  appPort?: number;
  service?: string;
  /** A literal dashboard URL; when unset, the URL comes from `secret` (key `url`) if that is set. */
  dashboard?: string;
  secret?: string;
  openshift: boolean;
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  tapHeaders?: boolean;
  tapBodies?: boolean;
}

/** The `skiff-proxy` container (key order is the order users read it in). */
export function sidecarContainer(s: SidecarSpec): Record<string, unknown> {
  const env: Record<string, unknown>[] = [
    // Downward API: the proxy labels its telemetry with the pod it runs in.
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
  ];
  if (s.service) env.push({ name: 'SKIFF_SERVICE', value: s.service });
  if (s.dashboard) env.push({ name: 'SKIFF_DASHBOARD', value: s.dashboard });
  else if (s.secret) env.push({ name: 'SKIFF_DASHBOARD', valueFrom: { secretKeyRef: { name: s.secret, key: 'url', optional: true } } });
  // optional: the pod still starts (and proxies, and serves /metrics) without the Secret.
  if (s.secret) {
    env.push({ name: 'SKIFF_TOKEN', valueFrom: { secretKeyRef: { name: s.secret, key: 'token', optional: true } } });
  }
  const admin = { port: s.adminPort };
  const securityContext: Record<string, unknown> = {
    runAsNonRoot: true,
    // Under OpenShift's restricted SCC the namespace assigns the user id: a fixed one is refused.
    ...(s.openshift ? {} : { runAsUser: PROXY_UID, runAsGroup: PROXY_UID }),
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
  return {
    name: SIDECAR_NAME,
    image: s.image,
    imagePullPolicy: 'IfNotPresent',
    // KEP-753: an init container that keeps running is a native sidecar (Kubernetes ≥ 1.29):
    // it starts before the app containers, stops after them, and does not block Job completion.
    ...(s.native ? { restartPolicy: 'Always' } : {}),
    args: [
      'proxy',
      '--listen', `0.0.0.0:${s.inboundPort}`,
      ...(s.appPort !== undefined ? ['--app', `127.0.0.1:${s.appPort}`] : []),
      // On the pod IP, not loopback: the kubelet's probes and Prometheus come from outside the pod.
      '--admin', `0.0.0.0:${s.adminPort}`,
      ...(s.tapHeaders ? ['--tap-headers'] : []),
      ...(s.tapBodies ? ['--tap-bodies'] : []),
    ],
    env,
    ports: [
      { name: s.inboundPortName ?? 'skiff-inbound', containerPort: s.inboundPort, protocol: 'TCP' },
      { name: 'skiff-admin', containerPort: s.adminPort, protocol: 'TCP' },
    ],
    resources: s.resources,
    // A native sidecar's startup probe holds the app containers back until the proxy listens.
    startupProbe: { httpGet: { path: '/livez', ...admin }, periodSeconds: 1, failureThreshold: 30 },
    // /readyz is 200 only while the app's port accepts connections: the pod is Ready when both are.
    readinessProbe: { httpGet: { path: s.appPort !== undefined ? '/readyz' : '/livez', ...admin }, periodSeconds: 5 },
    livenessProbe: { httpGet: { path: '/livez', ...admin }, periodSeconds: 10 },
    securityContext,
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}
