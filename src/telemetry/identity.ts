/**
 * Who this sidecar speaks for: service, namespace and pod. Explicit options (`--service`, or
 * `SKIFF_SERVICE` through the option table) win; in Kubernetes the injector sets `POD_NAME` and
 * `POD_NAMESPACE` through the Downward API; outside Kubernetes the hostname stands in.
 */
import { UsageError } from '../errors.ts';
import type { Identity } from './model.ts';
import { MAX_LABEL_LENGTH } from './report.ts';

export interface IdentityOptions {
  service?: string | undefined;
  namespace?: string | undefined;
  pod?: string | undefined;
}

// Generated name parts use the "safe" alphabet of k8s.io/apimachinery rand.SafeEncodeString:
// consonants without y, and digits (vowels removed so that no words appear). So a part with a
// vowel is a word a person chose (`my-api-server`), not a hash. Old clusters used decimal
// pod-template hashes, so every digit is accepted.
const SAFE = '[b-df-hj-np-tv-xz0-9]';
// Deployment pods: <name>-<pod-template-hash: 5–10>-<suffix: 5>.
const DEPLOYMENT_POD = new RegExp(`^(.+)-${SAFE}{5,10}-${SAFE}{5}$`);
// StatefulSet pods: <name>-<ordinal>.
const STATEFULSET_POD = /^(.+)-\d+$/;
// DaemonSet and Job pods (and bare ReplicaSets): <name>-<suffix: 5>.
const SUFFIXED_POD = new RegExp(`^(.+)-${SAFE}{5}$`);

/**
 * The service a pod belongs to, from its name: the workload name without the generated suffixes.
 *
 * @example
 * serviceFromPodName('reviews-v1-7d9f8c6b5-x2x7k') // 'reviews-v1'
 * serviceFromPodName('db-0') // 'db'
 * serviceFromPodName('fluentd-x2x7k') // 'fluentd'
 */
export function serviceFromPodName(pod: string): string | null {
  return DEPLOYMENT_POD.exec(pod)?.[1] ?? STATEFULSET_POD.exec(pod)?.[1] ?? SUFFIXED_POD.exec(pod)?.[1] ?? null;
}

function nonEmpty(v: string | undefined): string | undefined {
  const t = v?.trim();
  return t ? t : undefined;
}

/**
 * Resolves the identity: explicit values, else the Downward API env, else the hostname.
 * Throws UsageError when a value could not be a label (over 256 characters, control characters).
 *
 * @example
 * resolveIdentity({}, { POD_NAME: 'reviews-v1-7d9f8c6b5-x2x7k', POD_NAMESPACE: 'shop' }, 'ignored')
 * // { service: 'reviews-v1', namespace: 'shop', pod: 'reviews-v1-7d9f8c6b5-x2x7k' }
 */
export function resolveIdentity(opts: IdentityOptions, env: Readonly<Record<string, string | undefined>>, hostname: string): Identity {
  const host = nonEmpty(hostname) ?? 'localhost';
  const podFromEnv = nonEmpty(env.POD_NAME);
  const pod = nonEmpty(opts.pod) ?? podFromEnv ?? host;
  const namespace = nonEmpty(opts.namespace) ?? nonEmpty(env.POD_NAMESPACE) ?? 'default';
  // Only a name Kubernetes generated (the pod's, or a hostname that is the pod's) has suffixes
  // to strip; a laptop's hostname is not a pod name, but stripping is harmless when it is not.
  const service = nonEmpty(opts.service) ?? serviceFromPodName(pod) ?? host;
  // Every report carries these as labels: a value the dashboard would refuse must stop the
  // sidecar at start (a usage error), not make every report bounce later.
  for (const [name, value] of [['service', service], ['namespace', namespace], ['pod', pod]] as const) {
    if (value.length > MAX_LABEL_LENGTH || /[\u0000-\u001f\u007f-\u009f]/.test(value)) {
      throw new UsageError(`--${name} must be at most ${MAX_LABEL_LENGTH} characters, without control characters`);
    }
  }
  return { service, namespace, pod };
}
