/**
 * Test helper: validates Kubernetes objects against the OpenAPI schemas of `kubernetes-models`
 * (a dev dependency, so nothing outside tests may import this file).
 *
 * OpenShift kinds have no schema here (`@kubernetes-models/openshift` is not installed): a
 * DeploymentConfig's pod template is validated with the core PodTemplateSpec schema (the part
 * the injector changes) and its own fields are checked by hand; a Route is checked by hand.
 */
import { MutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1/MutatingWebhookConfiguration';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ReplicaSet } from 'kubernetes-models/apps/v1/ReplicaSet';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Pod } from 'kubernetes-models/v1/Pod';
import { PodTemplate } from 'kubernetes-models/v1/PodTemplate';
import { ReplicationController } from 'kubernetes-models/v1/ReplicationController';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';

interface Validatable {
  validate(): void;
}
type Ctor = new (data: never) => Validatable;

const models: Record<string, Ctor> = {
  'v1/Pod': Pod,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'v1/Namespace': Namespace,
  'v1/Secret': Secret,
  'v1/ConfigMap': ConfigMap,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'v1/ReplicationController': ReplicationController,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'apps/v1/DaemonSet': DaemonSet,
  'apps/v1/ReplicaSet': ReplicaSet,
  'batch/v1/Job': Job,
  'batch/v1/CronJob': CronJob,
  'admissionregistration.k8s.io/v1/MutatingWebhookConfiguration': MutatingWebhookConfiguration,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Throws with the schema's reason when `obj` is not a valid object of its kind. */
export function validateObject(obj: unknown): void {
  if (obj === null || obj === undefined) return;
  if (!isObj(obj) || typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string') throw new Error('not a Kubernetes object');
  const key = `${obj.apiVersion}/${obj.kind}`;
  const name = isObj(obj.metadata) ? String(obj.metadata.name) : '?';
  try {
    if (obj.kind === 'List') {
      if (!Array.isArray(obj.items)) throw new Error('List without items');
      obj.items.forEach(validateObject);
      return;
    }
    if (key === 'apps.openshift.io/v1/DeploymentConfig' || key === 'v1/DeploymentConfig') {
      const spec = obj.spec;
      if (!isObj(spec) || !isObj(spec.template)) throw new Error('DeploymentConfig needs spec.template');
      if (spec.replicas !== undefined && !Number.isInteger(spec.replicas)) throw new Error('spec.replicas must be an integer');
      if (spec.selector !== undefined && !isObj(spec.selector)) throw new Error('spec.selector must be a map');
      new PodTemplate({ metadata: { name: 'x' }, template: spec.template }).validate();
      return;
    }
    if (key === 'route.openshift.io/v1/Route') {
      const spec = obj.spec;
      if (!isObj(spec) || !isObj(spec.to) || spec.to.kind !== 'Service' || typeof spec.to.name !== 'string') throw new Error('Route needs spec.to (a Service)');
      if (spec.tls !== undefined && (!isObj(spec.tls) || !['edge', 'passthrough', 'reencrypt'].includes(String(spec.tls.termination)))) throw new Error('Route spec.tls.termination');
      return;
    }
    const Model = models[key];
    if (!Model) throw new Error(`no schema known for ${key}`);
    new Model(obj as never).validate();
  } catch (err) {
    throw new Error(`${key} ${name}: ${(err as Error).message}`, { cause: err });
  }
}
