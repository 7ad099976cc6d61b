/**
 * What `skiff install` prints: everything a cluster needs, as plain objects (a pure function of
 * its options and the secrets generated for it, so it can be tested and diffed).
 *
 *   Namespace            skiff (Pod Security "restricted"; never injected itself)
 *   ServiceAccounts      one per component, no API token mounted: neither talks to the API server
 *   RBAC                 none: the webhook answers the API server, it never calls it
 *   Dashboard            Secret (token, url), PVC (SQLite), Deployment (1 replica, Recreate), Service
 *   Webhook              Secret (TLS), Deployment (2 replicas), PodDisruptionBudget, Service,
 *                        MutatingWebhookConfiguration (caBundle, failurePolicy Ignore,
 *                        reinvocationPolicy IfNeeded, namespaces labelled skiff.io/inject=enabled)
 *   OpenShift            a Route to the dashboard (edge TLS); no fixed user ids (restricted-v2 SCC)
 */
import type { WebhookCertificates } from './certs.ts';
import { DEFAULT_SECRET, PROXY_UID } from './sidecar.ts';

export interface InstallOptions {
  namespace: string;
  image: string;
  openshift: boolean;
  /** Size of the dashboard's volume (a Kubernetes quantity). */
  storage: string;
  storageClass?: string | undefined;
  webhookReplicas: number;
}

export interface InstallSecrets {
  /** The dashboard's API token (sidecars send it; users log in with it). */
  token: string;
  certs: WebhookCertificates;
}

export const DASHBOARD_PORT = 15080;
export const WEBHOOK_PORT = 8443;

type Obj = Record<string, unknown>;

/** Namespaces the webhook never sees: the control plane's and skiff's own. */
export function excludedNamespaces(namespace: string): string[] {
  return ['kube-system', 'kube-public', 'kube-node-lease', namespace];
}

/** The DNS names the API server may use for the webhook Service (the SANs of its certificate). */
export function webhookDnsNames(namespace: string): string[] {
  const svc = 'skiff-webhook';
  return [svc, `${svc}.${namespace}`, `${svc}.${namespace}.svc`, `${svc}.${namespace}.svc.cluster.local`];
}

export function dashboardUrl(namespace: string): string {
  return `http://skiff-dashboard.${namespace}.svc:${DASHBOARD_PORT}`;
}

function labels(component: string): Obj {
  return { 'app.kubernetes.io/name': `skiff-${component}`, 'app.kubernetes.io/part-of': 'skiff' };
}

function metadata(name: string, o: InstallOptions, component: string): Obj {
  return { name, namespace: o.namespace, labels: labels(component) };
}

/** The restricted Pod Security profile, and then some (read-only root, no token). */
function podSecurity(o: InstallOptions): Obj {
  return {
    runAsNonRoot: true,
    // OpenShift's restricted-v2 SCC assigns the user and fsGroup from the namespace's range.
    ...(o.openshift ? {} : { runAsUser: PROXY_UID, runAsGroup: PROXY_UID, fsGroup: PROXY_UID }),
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

const containerSecurity: Obj = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
};

function dashboard(o: InstallOptions, s: InstallSecrets): Obj[] {
  const name = 'skiff-dashboard';
  const http = { path: '/healthz', port: 'http' };
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: metadata(name, o, 'dashboard'), automountServiceAccountToken: false },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      // Sidecars read `url` and `token` from a Secret of this name in their own namespace
      // (`skiff inject --secret`): copy it there (docs/injection.md).
      metadata: metadata(DEFAULT_SECRET, o, 'dashboard'),
      type: 'Opaque',
      stringData: { token: s.token, url: dashboardUrl(o.namespace) },
    },
    {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: metadata(`${name}-data`, o, 'dashboard'),
      spec: {
        accessModes: ['ReadWriteOnce'],
        ...(o.storageClass ? { storageClassName: o.storageClass } : {}),
        resources: { requests: { storage: o.storage } },
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: metadata(name, o, 'dashboard'),
      spec: {
        replicas: 1,
        // One SQLite writer on a ReadWriteOnce volume: the old pod stops before the new one starts.
        strategy: { type: 'Recreate' },
        selector: { matchLabels: { 'app.kubernetes.io/name': name } },
        template: {
          metadata: { labels: labels('dashboard'), annotations: { 'skiff.io/inject': 'disabled' } },
          spec: {
            serviceAccountName: name,
            automountServiceAccountToken: false,
            securityContext: podSecurity(o),
            containers: [
              {
                name: 'dashboard',
                image: o.image,
                imagePullPolicy: 'IfNotPresent',
                args: ['dashboard', '--listen', `0.0.0.0:${DASHBOARD_PORT}`, '--data', '/var/lib/skiff'],
                env: [{ name: 'SKIFF_TOKEN', valueFrom: { secretKeyRef: { name: DEFAULT_SECRET, key: 'token' } } }],
                ports: [{ name: 'http', containerPort: DASHBOARD_PORT, protocol: 'TCP' }],
                readinessProbe: { httpGet: http, periodSeconds: 5 },
                livenessProbe: { httpGet: http, periodSeconds: 10 },
                resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '1Gi' } },
                securityContext: containerSecurity,
                volumeMounts: [
                  { name: 'data', mountPath: '/var/lib/skiff' },
                  { name: 'tmp', mountPath: '/tmp' },
                ],
                terminationMessagePolicy: 'FallbackToLogsOnError',
              },
            ],
            volumes: [
              { name: 'data', persistentVolumeClaim: { claimName: `${name}-data` } },
              { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: metadata(name, o, 'dashboard'),
      spec: {
        selector: { 'app.kubernetes.io/name': name },
        ports: [{ name: 'http', port: DASHBOARD_PORT, targetPort: 'http', protocol: 'TCP' }],
      },
    },
    ...(o.openshift
      ? [
          {
            apiVersion: 'route.openshift.io/v1',
            kind: 'Route',
            metadata: metadata(name, o, 'dashboard'),
            spec: {
              to: { kind: 'Service', name, weight: 100 },
              port: { targetPort: 'http' },
              tls: { termination: 'edge', insecureEdgeTerminationPolicy: 'Redirect' },
            },
          },
        ]
      : []),
  ];
}

function webhook(o: InstallOptions, s: InstallSecrets): Obj[] {
  const name = 'skiff-webhook';
  const b64 = (text: string): string => Buffer.from(text).toString('base64');
  const https = { path: '/healthz', port: 'https', scheme: 'HTTPS' };
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: metadata(name, o, 'webhook'), automountServiceAccountToken: false },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: metadata(`${name}-tls`, o, 'webhook'),
      type: 'kubernetes.io/tls',
      data: { 'tls.crt': b64(s.certs.cert), 'tls.key': b64(s.certs.key) },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: metadata(name, o, 'webhook'),
      spec: {
        replicas: o.webhookReplicas,
        selector: { matchLabels: { 'app.kubernetes.io/name': name } },
        template: {
          metadata: { labels: labels('webhook'), annotations: { 'skiff.io/inject': 'disabled' } },
          spec: {
            serviceAccountName: name,
            automountServiceAccountToken: false,
            securityContext: podSecurity(o),
            affinity: {
              podAntiAffinity: {
                preferredDuringSchedulingIgnoredDuringExecution: [
                  { weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { 'app.kubernetes.io/name': name } } } },
                ],
              },
            },
            containers: [
              {
                name: 'webhook',
                image: o.image,
                imagePullPolicy: 'IfNotPresent',
                args: [
                  'webhook',
                  '--listen', `0.0.0.0:${WEBHOOK_PORT}`,
                  '--tls-cert', '/etc/skiff/tls/tls.crt',
                  '--tls-key', '/etc/skiff/tls/tls.key',
                  '--image', o.image,
                  ...(o.openshift ? ['--openshift'] : []),
                ],
                ports: [{ name: 'https', containerPort: WEBHOOK_PORT, protocol: 'TCP' }],
                readinessProbe: { httpGet: https, periodSeconds: 5 },
                livenessProbe: { httpGet: https, periodSeconds: 10 },
                resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
                securityContext: containerSecurity,
                volumeMounts: [{ name: 'tls', mountPath: '/etc/skiff/tls', readOnly: true }],
                terminationMessagePolicy: 'FallbackToLogsOnError',
              },
            ],
            volumes: [{ name: 'tls', secret: { secretName: `${name}-tls`, defaultMode: 0o440 } }],
          },
        },
      },
    },
    {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: metadata(name, o, 'webhook'),
      spec: { maxUnavailable: 1, selector: { matchLabels: { 'app.kubernetes.io/name': name } } },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: metadata(name, o, 'webhook'),
      spec: {
        selector: { 'app.kubernetes.io/name': name },
        ports: [{ name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' }],
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'skiff-injector', labels: labels('webhook') },
      webhooks: [
        {
          name: 'inject.skiff.io',
          admissionReviewVersions: ['v1'],
          clientConfig: {
            service: { name, namespace: o.namespace, path: '/mutate', port: 443 },
            caBundle: b64(s.certs.caCert),
          },
          rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
          namespaceSelector: {
            matchExpressions: [
              { key: 'skiff.io/inject', operator: 'In', values: ['enabled'] },
              { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: excludedNamespaces(o.namespace) },
            ],
          },
          // A pod is never refused because the webhook is down: it starts without a sidecar.
          failurePolicy: 'Ignore',
          // Run again if a later webhook changes the pod; a second pass patches nothing.
          reinvocationPolicy: 'IfNeeded',
          matchPolicy: 'Equivalent',
          sideEffects: 'None',
          timeoutSeconds: 5,
        },
      ],
    },
  ];
}

export function installManifests(o: InstallOptions, s: InstallSecrets): Obj[] {
  return [
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {
        name: o.namespace,
        labels: {
          'app.kubernetes.io/part-of': 'skiff',
          'pod-security.kubernetes.io/enforce': 'restricted',
          'pod-security.kubernetes.io/enforce-version': 'latest',
        },
      },
    },
    ...dashboard(o, s),
    ...webhook(o, s),
  ];
}
