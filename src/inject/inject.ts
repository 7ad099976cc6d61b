/**
 * The injector: pure functions over parsed Kubernetes objects. They know nothing of files,
 * YAML text or HTTP; `skiff inject`/`uninject` (command.ts) and the admission webhook
 * (src/webhook/) are thin adapters around them.
 *
 * Routing needs no privileges (no iptables, no NET_ADMIN, fine under OpenShift's restricted
 * SCC): the sidecar listens on its own port and forwards to the app on 127.0.0.1. What sends
 * traffic to the sidecar is the Service: one in the input that targets the app's port is
 * retargeted to the sidecar's port, and a *named* app port has its name moved onto the sidecar's
 * port, so Services that target it by name follow without being touched. Probes that named the
 * port are rewritten to its number, so the kubelet keeps probing the app itself.
 *
 * Everything inject changes besides adding the container is recorded in annotations, so that
 * uninject restores the input exactly; injecting twice changes nothing.
 */
import { ErrorCodes, SkiffError } from '../errors.ts';
import { isPlainObject, toPointer } from './patch.ts';
import {
  APP_PORT_NAME,
  Annotations,
  DEFAULT_ADMIN_PORT,
  DEFAULT_IMAGE,
  DEFAULT_INBOUND_PORT,
  DEFAULT_RESOURCES,
  DEFAULT_SECRET,
  SIDECAR_NAME,
  VERSION,
  knownAnnotations,
  sidecarContainer,
} from './sidecar.ts';

export interface InjectOptions {
  /** The proxy image (default `ghcr.io/skiff-mesh/skiff:<version>`). */
  image: string;
  /** Native sidecar (an init container with `restartPolicy: Always`, Kubernetes ≥ 1.29) or a classic container. */
  nativeSidecar: boolean;
  /** A dashboard URL written into the pod; when unset the URL comes from `secret`. */
  dashboard?: string | undefined;
  /** A Secret in the workload's namespace with keys `url` and `token` ('' or unset: none). */
  secret?: string | undefined;
  /** OpenShift's restricted SCC assigns user ids: leave `runAsUser` out. */
  openshift: boolean;
  inboundPort: number;
  adminPort: number;
}

export const defaultInjectOptions: Readonly<InjectOptions> = {
  image: DEFAULT_IMAGE,
  nativeSidecar: true,
  secret: DEFAULT_SECRET,
  openshift: false,
  inboundPort: DEFAULT_INBOUND_PORT,
  adminPort: DEFAULT_ADMIN_PORT,
};

export type Action = 'injected' | 'uninjected' | 'retargeted' | 'restored' | 'skipped';

/** One line of the per-object report: `deployment/reviews-v1 injected`. */
export interface ObjectReport {
  /** Index of the top-level object (document) it belongs to. */
  index: number;
  /** Where it sits inside that object ('' itself, `/items/3` in a List). */
  pointer: string;
  ref: string;
  action: Action;
  reason?: string;
}

export interface Message {
  level: 'warning' | 'note';
  ref: string;
  text: string;
}

/** A reason the input cannot be processed (the command exits 1 and prints nothing). */
export interface Problem {
  index: number;
  /** JSON pointer inside the top-level object, as precise as known (for line numbers). */
  pointer: string;
  ref: string;
  reason: string;
}

export interface Outcome {
  /** The output objects, one per input object, in order (unchanged ones deep-equal the input). */
  objects: unknown[];
  reports: ObjectReport[];
  messages: Message[];
  problems: Problem[];
}

export function formatReport(r: ObjectReport): string {
  return `${r.ref} ${r.action}${r.reason ? ` (${r.reason})` : ''}`;
}

export function formatMessage(m: Message): string {
  return `${m.level}: ${m.ref}: ${m.text}`;
}

type Obj = Record<string, unknown>;

/** Where each workload kind keeps its pod template ([] = the object is the pod). */
const templatePaths: Readonly<Record<string, readonly string[]>> = {
  Pod: [],
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
  // OpenShift (apps.openshift.io/v1, formerly v1).
  DeploymentConfig: ['spec', 'template'],
};

export const workloadKinds: readonly string[] = Object.keys(templatePaths);

interface Entry {
  index: number;
  tokens: string[];
  obj: Obj;
  kind: string;
  ref: string;
}

/**
 * Restore tokens (`skiff.io/restore`, comma-separated): what uninject cannot read back from the
 * pod itself. Everything else is derived: the sidecar's args give the app and inbound ports,
 * its first port's name is the name moved off the app's port (now `skiff-app`), and what inject
 * created (`initContainers`, `annotations`, `metadata`) is removed when it is empty again.
 * Kept short on purpose: annotation values stay small (podman 4.3 even refuses those over 63
 * characters, containers/podman#21663).
 *
 *   readinessProbe, livenessProbe, startupProbe, postStart, preStop: that handler of the app's
 *     container named the moved port; inject made it the number
 *   empty:metadata, empty:annotations, empty:initContainers: that field was there, empty
 */
const HANDLERS: Readonly<Record<string, readonly string[]>> = {
  startupProbe: ['startupProbe'],
  readinessProbe: ['readinessProbe'],
  livenessProbe: ['livenessProbe'],
  postStart: ['lifecycle', 'postStart'],
  preStop: ['lifecycle', 'preStop'],
};
const EMPTY_FIELDS = ['metadata', 'annotations', 'initContainers'] as const;
const restoreTokens: ReadonlySet<string> = new Set([...Object.keys(HANDLERS), ...EMPTY_FIELDS.map((f) => `empty:${f}`)]);

/** What an injected pod's sidecar says about how it was injected. */
interface SidecarFacts {
  appPort?: number;
  inboundPort: number;
  /** The name moved from the app's port onto the sidecar's inbound port. */
  portName?: string;
}

/** What the injector decided for one workload (used to retarget Services and write notes). */
interface Plan {
  entry: Entry;
  state: 'injected' | 'already' | 'not';
  namespace: string;
  labels: Obj;
  appPort?: number;
  inboundPort: number;
  portName?: string;
  otherPorts: number[];
  covered: boolean;
}

function asObj(v: unknown): Obj | undefined {
  return isPlainObject(v) ? v : undefined;
}

function kindRef(obj: Obj): string {
  const kind = typeof obj.kind === 'string' ? obj.kind.toLowerCase() : 'object';
  const md = asObj(obj.metadata);
  const name = typeof md?.name === 'string' && md.name ? md.name : typeof md?.generateName === 'string' ? md.generateName : '(unnamed)';
  return `${kind}/${name}`;
}

function isKubeObject(v: unknown): v is Obj & { apiVersion: string; kind: string } {
  return isPlainObject(v) && typeof v.apiVersion === 'string' && v.apiVersion !== '' && typeof v.kind === 'string' && v.kind !== '';
}

function getAt(root: unknown, tokens: readonly string[]): unknown {
  let v = root;
  for (const t of tokens) {
    if (Array.isArray(v)) v = v[Number(t)];
    else if (isPlainObject(v)) v = v[t];
    else return undefined;
  }
  return v;
}

/** Sets `obj[key]` at position `index` among its keys (rebuilding the order in place). */
function setKeyAt(obj: Obj, key: string, value: unknown, index: number): void {
  if (Object.hasOwn(obj, key)) {
    obj[key] = value;
    return;
  }
  const entries = Object.entries(obj);
  entries.splice(Math.min(Math.max(index, 0), entries.length), 0, [key, value]);
  for (const k of Object.keys(obj)) Reflect.deleteProperty(obj, k);
  for (const [k, v] of entries) obj[k] = v;
}

function insertKeyBefore(obj: Obj, key: string, value: unknown, before: string): void {
  const at = Object.keys(obj).indexOf(before);
  setKeyAt(obj, key, value, at === -1 ? Object.keys(obj).length : at);
}

function flatten(objects: unknown[], problems: Problem[]): Entry[] {
  const entries: Entry[] = [];
  objects.forEach((o, index) => {
    if (o === null || o === undefined) return; // an empty document: passed through
    if (!isKubeObject(o)) {
      problems.push({ index, pointer: '', ref: 'document', reason: 'not a Kubernetes object (it needs apiVersion and kind)' });
      return;
    }
    if (o.kind === 'List') {
      if (!Array.isArray(o.items)) {
        problems.push({ index, pointer: '', ref: kindRef(o), reason: 'a List needs an items array' });
        return;
      }
      o.items.forEach((item, j) => {
        if (!isKubeObject(item)) {
          problems.push({ index, pointer: `/items/${j}`, ref: `list item ${j}`, reason: 'not a Kubernetes object (it needs apiVersion and kind)' });
        } else entries.push({ index, tokens: ['items', String(j)], obj: item, kind: item.kind, ref: kindRef(item) });
      });
      return;
    }
    entries.push({ index, tokens: [], obj: o, kind: o.kind, ref: kindRef(o) });
  });
  return entries;
}

function annotationsOf(o: unknown): Obj {
  return asObj(asObj(asObj(o)?.metadata)?.annotations) ?? {};
}

function warnUnknownAnnotations(ref: string, anns: Obj, messages: Message[], seen: Set<string>): void {
  for (const k of Object.keys(anns)) {
    if (k.startsWith('skiff.io/') && !knownAnnotations.has(k) && !seen.has(k)) {
      seen.add(k);
      messages.push({ level: 'warning', ref, text: `unknown annotation ${k} is ignored (known: ${[...knownAnnotations].map((a) => a.slice('skiff.io/'.length)).join(', ')})` });
    }
  }
}

// Kubernetes resource quantities (k8s.io/apimachinery resource.Quantity), the common forms.
const quantity = /^(\d+(\.\d+)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|e\d+)?$/;

function containersOf(spec: Obj, key: 'containers' | 'initContainers'): Obj[] {
  const list = spec[key];
  return Array.isArray(list) ? list.filter(isPlainObject) : [];
}

function hasSidecar(spec: Obj): boolean {
  return [...containersOf(spec, 'containers'), ...containersOf(spec, 'initContainers')].some((c) => c.name === SIDECAR_NAME);
}

interface Ctx {
  options: InjectOptions;
  problems: Problem[];
  messages: Message[];
}

function problem(ctx: Ctx, entry: Entry, rel: string, reason: string): void {
  ctx.problems.push({ index: entry.index, pointer: toPointer(entry.tokens) + rel, ref: entry.ref, reason });
}

function portOfArg(args: unknown[], flag: string): number | undefined {
  const i = args.indexOf(flag);
  const value = i === -1 ? undefined : args[i + 1];
  const m = typeof value === 'string' ? /:(\d+)$/.exec(value) : null;
  return m ? Number(m[1]) : undefined;
}

function sidecarFacts(spec: Obj): SidecarFacts | undefined {
  const sidecar = [...containersOf(spec, 'initContainers'), ...containersOf(spec, 'containers')].find((c) => c.name === SIDECAR_NAME);
  if (!sidecar) return undefined;
  const args = Array.isArray(sidecar.args) ? sidecar.args : [];
  const appPort = portOfArg(args, '--app');
  const first = Array.isArray(sidecar.ports) ? asObj(sidecar.ports[0]) : undefined;
  const name = first?.name;
  return {
    ...(appPort !== undefined ? { appPort } : {}),
    inboundPort: portOfArg(args, '--listen') ?? DEFAULT_INBOUND_PORT,
    ...(typeof name === 'string' && name !== 'skiff-inbound' ? { portName: name } : {}),
  };
}

/** The restore tokens, or undefined when the annotation is not something inject wrote. */
function parseTokens(text: unknown): string[] | undefined {
  if (text === undefined) return [];
  if (typeof text !== 'string') return undefined;
  const tokens = text.split(',').map((t) => t.trim()).filter(Boolean);
  return tokens.every((t) => restoreTokens.has(t)) ? tokens : undefined;
}

/** Ensures `root.metadata.annotations` exists, noting fields that were there but empty. */
function ensureAnnotations(root: Obj, tokens: string[]): Obj {
  let md = asObj(root.metadata);
  if (!md) {
    md = {};
    // Keep `metadata` ahead of `spec`, where people expect it.
    insertKeyBefore(root, 'metadata', md, 'spec');
  } else if (Object.keys(md).length === 0) tokens.push('empty:metadata');
  let anns = asObj(md.annotations);
  if (!anns) {
    anns = {};
    md.annotations = anns;
  } else if (Object.keys(anns).length === 0) tokens.push('empty:annotations');
  return anns;
}

/** Removes skiff's annotations, then whatever inject created and is empty again. */
function dropAnnotations(root: Obj, keys: readonly string[], tokens: readonly string[]): void {
  const md = asObj(root.metadata);
  const anns = asObj(md?.annotations);
  if (!md || !anns) return;
  for (const k of keys) Reflect.deleteProperty(anns, k);
  if (Object.keys(anns).length === 0 && !tokens.includes('empty:annotations')) Reflect.deleteProperty(md, 'annotations');
  if (Object.keys(md).length === 0 && !tokens.includes('empty:metadata')) Reflect.deleteProperty(root, 'metadata');
}

function workloadService(template: Obj, workload: Obj): string | undefined {
  const labels = asObj(asObj(template.metadata)?.labels) ?? {};
  for (const k of ['app', 'app.kubernetes.io/name']) {
    if (typeof labels[k] === 'string' && labels[k] !== '') return labels[k];
  }
  const md = asObj(workload.metadata);
  if (typeof md?.name === 'string' && md.name) return md.name;
  if (typeof md?.generateName === 'string' && md.generateName) return md.generateName.replace(/-+$/, '');
  return undefined;
}

function tcpPorts(spec: Obj): { ci: number; pi: number; port: Obj; number: number }[] {
  const out: { ci: number; pi: number; port: Obj; number: number }[] = [];
  containersOf(spec, 'containers').forEach((c, ci) => {
    const ports = Array.isArray(c.ports) ? c.ports : [];
    ports.forEach((port, pi) => {
      if (isPlainObject(port) && typeof port.containerPort === 'number' && (port.protocol ?? 'TCP') === 'TCP') {
        out.push({ ci, pi, port, number: port.containerPort });
      }
    });
  });
  return out;
}

function injectWorkload(entry: Entry, ctx: Ctx, reports: Map<Entry, ObjectReport>): Plan | undefined {
  const path = templatePaths[entry.kind]!;
  const template = asObj(getAt(entry.obj, path));
  const tplPointer = toPointer(path);
  const md = asObj(entry.obj.metadata);
  const namespace = typeof md?.namespace === 'string' ? md.namespace : '';
  if (!template) {
    problem(ctx, entry, tplPointer, 'has no pod template');
    return undefined;
  }
  const spec = asObj(template.spec);
  if (!spec) {
    problem(ctx, entry, `${tplPointer}/spec`, 'has no pod spec');
    return undefined;
  }
  if (containersOf(spec, 'containers').length === 0) {
    problem(ctx, entry, `${tplPointer}/spec`, 'has no containers');
    return undefined;
  }
  const labels = asObj(asObj(template.metadata)?.labels) ?? {};
  const { options } = ctx;
  const plan: Plan = { entry, state: 'not', namespace, labels, inboundPort: options.inboundPort, otherPorts: [], covered: false };
  const skip = (reason: string): Plan => {
    reports.set(entry, { index: entry.index, pointer: toPointer(entry.tokens), ref: entry.ref, action: 'skipped', reason });
    return plan;
  };
  // The pod template's annotations win over the workload's own.
  const anns: Obj = { ...annotationsOf(entry.obj), ...annotationsOf(template) };
  const annPointer = `${tplPointer}/metadata/annotations`;

  const mode = anns[Annotations.inject];
  if (mode !== undefined && mode !== 'enabled' && mode !== 'disabled') {
    problem(ctx, entry, annPointer, `${Annotations.inject} must be "enabled" or "disabled", not ${JSON.stringify(mode)}`);
    return undefined;
  }
  if (mode === 'disabled') return skip(`${Annotations.inject}: disabled`);
  if (annotationsOf(template)[Annotations.injected] !== undefined || hasSidecar(spec)) {
    const facts = sidecarFacts(spec);
    if (facts) {
      plan.state = 'already';
      plan.inboundPort = facts.inboundPort;
      if (facts.appPort !== undefined) plan.appPort = facts.appPort;
      if (facts.portName !== undefined) plan.portName = facts.portName;
      plan.covered = true; // notes were given when it was injected
    }
    return skip('already injected');
  }
  if (spec.hostNetwork === true) return skip("hostNetwork: the sidecar's ports would be the node's");

  // Which port is the app's: the annotation (a number or a container port's name), else the
  // first TCP port declared. The proxy has one inbound listener, so one port per pod.
  const ports = tcpPorts(spec);
  const wanted = anns[Annotations.appPort];
  let appPort: number | undefined;
  if (wanted !== undefined) {
    const text = typeof wanted === 'string' || typeof wanted === 'number' ? String(wanted) : '';
    if (/^\d+$/.test(text)) {
      appPort = Number(text);
      if (appPort < 1 || appPort > 65535) {
        problem(ctx, entry, annPointer, `${Annotations.appPort}: ${text} is not a port number`);
        return undefined;
      }
    } else {
      appPort = ports.find((p) => p.port.name === text)?.number;
      if (appPort === undefined) {
        problem(ctx, entry, annPointer, `${Annotations.appPort}: no container port is named "${text}"`);
        return undefined;
      }
    }
  } else appPort = ports[0]?.number;

  for (const [what, port] of [['inbound', options.inboundPort], ['admin', options.adminPort]] as const) {
    const clash = ports.find((p) => p.number === port);
    if (clash || appPort === port) {
      problem(ctx, entry, `${tplPointer}/spec`, `port ${port} is the app's; the sidecar's ${what} port must differ (--${what}-port)`);
      return undefined;
    }
  }

  const resources = {
    requests: { ...DEFAULT_RESOURCES.requests } as Record<string, string>,
    limits: { ...DEFAULT_RESOURCES.limits } as Record<string, string>,
  };
  const resourceAnnotations = [
    [Annotations.cpuRequest, 'requests', 'cpu'],
    [Annotations.memoryRequest, 'requests', 'memory'],
    [Annotations.cpuLimit, 'limits', 'cpu'],
    [Annotations.memoryLimit, 'limits', 'memory'],
  ] as const;
  for (const [ann, group, res] of resourceAnnotations) {
    const v = anns[ann];
    if (v === undefined) continue;
    // An empty value removes the default (for example no CPU limit, to avoid throttling).
    if (v === '') Reflect.deleteProperty(resources[group], res);
    else if (typeof v === 'string' && quantity.test(v)) resources[group][res] = v;
    else {
      problem(ctx, entry, annPointer, `${ann}: ${JSON.stringify(v)} is not a Kubernetes quantity (e.g. 100m, 128Mi)`);
      return undefined;
    }
  }
  let dashboard = options.dashboard;
  const dashAnn = anns[Annotations.dashboard];
  if (dashAnn !== undefined) {
    if (typeof dashAnn !== 'string' || !/^https?:\/\/[^\s/]+/.test(dashAnn)) {
      problem(ctx, entry, annPointer, `${Annotations.dashboard}: ${JSON.stringify(dashAnn)} is not an http(s) URL`);
      return undefined;
    }
    dashboard = dashAnn;
  }
  const imageAnn = anns[Annotations.image];
  if (imageAnn !== undefined && (typeof imageAnn !== 'string' || imageAnn.trim() === '')) {
    problem(ctx, entry, annPointer, `${Annotations.image} must name an image`);
    return undefined;
  }

  const tap: { tapHeaders?: boolean; tapBodies?: boolean } = {};
  for (const [key, ann] of [['tapHeaders', Annotations.tapHeaders], ['tapBodies', Annotations.tapBodies]] as const) {
    const v = anns[ann];
    if (v === undefined) continue;
    if (v !== 'true' && v !== 'false') {
      problem(ctx, entry, annPointer, `${ann}: ${JSON.stringify(v)} must be "true" or "false"`);
      return undefined;
    }
    if (v === 'true') tap[key] = true;
  }

  // --- from here on the template changes ---
  const tokens: string[] = [];
  const appDecl = appPort === undefined ? undefined : ports.find((p) => p.number === appPort);
  let portName: string | undefined;
  if (appDecl && typeof appDecl.port.name === 'string' && appDecl.port.name !== '') {
    // Port names are unique in a pod: the name moves to the sidecar's inbound port, so a
    // Service with `targetPort: <name>` now reaches the sidecar, unchanged.
    portName = appDecl.port.name;
    if (ports.some((p) => p.port.name === APP_PORT_NAME)) {
      problem(ctx, entry, `${tplPointer}/spec`, `a container port is already named ${APP_PORT_NAME}, the name inject gives the app's port`);
      return undefined;
    }
    appDecl.port.name = APP_PORT_NAME;
    // The kubelet resolves a probe's named port in the probe's own container: probes (and
    // lifecycle hooks) that used the name now use the number, so they keep reaching the app.
    const c = containersOf(spec, 'containers')[appDecl.ci]!;
    for (const [token, at] of Object.entries(HANDLERS)) {
      for (const kind of ['httpGet', 'tcpSocket']) {
        const action = asObj(asObj(getAt(c, at))?.[kind]);
        if (action?.port === portName) {
          action.port = appPort;
          tokens.push(token);
        }
      }
    }
  }
  const annotations = ensureAnnotations(template, tokens);
  const service = workloadService(template, entry.obj);
  const sidecar = sidecarContainer({
    ...tap,
    image: typeof imageAnn === 'string' ? imageAnn : options.image,
    native: options.nativeSidecar,
    inboundPort: options.inboundPort,
    adminPort: options.adminPort,
    ...(portName !== undefined ? { inboundPortName: portName } : {}),
    ...(appPort !== undefined ? { appPort } : {}),
    ...(service !== undefined ? { service } : {}),
    ...(dashboard ? { dashboard } : {}),
    ...(options.secret ? { secret: options.secret } : {}),
    openshift: options.openshift,
    resources,
  });
  if (options.nativeSidecar) {
    if (Array.isArray(spec.initContainers)) {
      if (spec.initContainers.length === 0) tokens.push('empty:initContainers');
      spec.initContainers.unshift(sidecar);
    } else insertKeyBefore(spec, 'initContainers', [sidecar], 'containers');
  } else {
    (spec.containers as unknown[]).push(sidecar);
    const restartPolicy = spec.restartPolicy ?? (entry.kind === 'Job' || entry.kind === 'CronJob' ? 'Never' : 'Always');
    if (entry.kind === 'Job' || entry.kind === 'CronJob' || restartPolicy !== 'Always') {
      ctx.messages.push({
        level: 'note',
        ref: entry.ref,
        text:
          'with a classic sidecar (--native-sidecar=false) the proxy keeps running after the app exits, so this ' +
          `${entry.kind === 'Pod' ? 'pod never succeeds' : 'Job never completes'} (and activeDeadlineSeconds fails it). ` +
          `Use native sidecars (Kubernetes >= 1.29), or annotate the pod template ${Annotations.inject}: disabled`,
      });
    }
  }
  annotations[Annotations.injected] = VERSION;
  if (tokens.length > 0) annotations[Annotations.restore] = tokens.join(',');

  plan.state = 'injected';
  if (appPort !== undefined) plan.appPort = appPort;
  if (portName !== undefined) plan.portName = portName;
  plan.otherPorts = [...new Set(ports.map((p) => p.number).filter((n) => n !== appPort))];
  reports.set(entry, { index: entry.index, pointer: toPointer(entry.tokens), ref: entry.ref, action: 'injected' });
  return plan;
}

function selects(selector: Obj, labels: Obj): boolean {
  const keys = Object.keys(selector);
  return keys.length > 0 && keys.every((k) => labels[k] === selector[k]);
}

function retargetService(entry: Entry, plans: readonly Plan[], ctx: Ctx): ObjectReport {
  const base = { index: entry.index, pointer: toPointer(entry.tokens), ref: entry.ref };
  const svc = entry.obj;
  if (annotationsOf(svc)[Annotations.retargeted] !== undefined) return { ...base, action: 'skipped', reason: 'already retargeted' };
  const spec = asObj(svc.spec);
  const selector = asObj(spec?.selector);
  const md = asObj(svc.metadata);
  const namespace = typeof md?.namespace === 'string' ? md.namespace : '';
  if (!spec || !selector || !Array.isArray(spec.ports)) return { ...base, action: 'skipped' };
  const selected = plans.filter((p) => p.namespace === namespace && selects(selector, p.labels));
  if (selected.length === 0) return { ...base, action: 'skipped' };
  const meshed = selected.filter((p) => p.state !== 'not');
  const bypass = selected.filter((p) => p.state === 'not');
  const originals: string[] = [];
  spec.ports.forEach((port) => {
    if (!isPlainObject(port) || (port.protocol ?? 'TCP') !== 'TCP') return;
    const target = port.targetPort ?? port.port;
    if (typeof target === 'string') {
      for (const p of meshed) if (p.portName === target) p.covered = true;
      return;
    }
    const hits = meshed.filter((p) => p.appPort === target);
    if (hits.length === 0) return;
    if (bypass.length > 0 || hits.length !== meshed.length || hits.some((h) => h.inboundPort !== hits[0]!.inboundPort)) {
      ctx.messages.push({
        level: 'warning',
        ref: entry.ref,
        text:
          `port ${String(target)} left unchanged: it also selects ` +
          [...bypass, ...meshed.filter((p) => !hits.includes(p))].map((p) => `${p.entry.ref} (not injected the same way)`).join(', '),
      });
      return;
    }
    // Recorded as PORT:TARGET ("-" when targetPort was left to default to the port).
    originals.push(`${String(port.port)}:${typeof port.targetPort === 'number' ? port.targetPort : '-'}`);
    port.targetPort = hits[0]!.inboundPort;
    for (const h of hits) h.covered = true;
  });
  if (originals.length === 0) return { ...base, action: 'skipped' };
  const tokens: string[] = [];
  const annotations = ensureAnnotations(svc, tokens);
  annotations[Annotations.retargeted] = [...originals, ...tokens].join(',');
  return { ...base, action: 'retargeted' };
}

function notesFor(plan: Plan, ctx: Ctx): void {
  if (plan.state !== 'injected') return;
  const { ref } = plan.entry;
  const inbound = plan.inboundPort;
  if (plan.appPort === undefined) {
    ctx.messages.push({
      level: 'note',
      ref,
      text: `no container port is declared: the sidecar forwards inbound traffic to 127.0.0.1:8080; set ${Annotations.appPort} if the app listens elsewhere`,
    });
  } else if (!plan.covered) {
    ctx.messages.push({
      level: 'note',
      ref,
      text: plan.portName
        ? `Services that target port "${plan.portName}" by name now reach the sidecar; those that target ${plan.appPort} by number must target ${inbound} instead (no such Service in this input)`
        : `no Service in this input targets port ${plan.appPort}: Services must target port ${inbound} (targetPort: ${inbound}) for traffic to go through the sidecar`,
    });
  }
  if (plan.otherPorts.length > 0) {
    ctx.messages.push({
      level: 'note',
      ref,
      text: `only port ${plan.appPort} goes through the sidecar; ${plan.otherPorts.join(', ')} stay${plan.otherPorts.length === 1 ? 's' : ''} direct (${Annotations.appPort} picks the port)`,
    });
  }
}

/**
 * Injects the sidecar into every workload among `objects` (documents of one input; `List`s are
 * walked) and retargets the Services among them that send to an injected app's port.
 * Inputs are not modified. Injecting an injected object changes nothing.
 *
 * @example
 * const { objects, reports } = injectAll(docs, defaultInjectOptions);
 * for (const r of reports) console.error(formatReport(r)); // deployment/reviews-v1 injected
 */
export function injectAll(objects: readonly unknown[], options: InjectOptions = defaultInjectOptions): Outcome {
  const out = objects.map((o) => structuredClone(o));
  const problems: Problem[] = [];
  const messages: Message[] = [];
  const ctx: Ctx = { options, problems, messages };
  const entries = flatten(out, problems);
  const reports = new Map<Entry, ObjectReport>();
  const plans: Plan[] = [];
  for (const entry of entries) {
    const seen = new Set<string>();
    warnUnknownAnnotations(entry.ref, annotationsOf(entry.obj), messages, seen);
    const path = templatePaths[entry.kind];
    if (path && path.length > 0) warnUnknownAnnotations(entry.ref, annotationsOf(getAt(entry.obj, path)), messages, seen);
    if (path) {
      const plan = injectWorkload(entry, ctx, reports);
      if (plan) plans.push(plan);
    }
  }
  for (const entry of entries) {
    if (entry.kind === 'Service') reports.set(entry, retargetService(entry, plans, ctx));
    else if (!reports.has(entry) && !templatePaths[entry.kind]) {
      reports.set(entry, { index: entry.index, pointer: toPointer(entry.tokens), ref: entry.ref, action: 'skipped' });
    }
  }
  for (const plan of plans) notesFor(plan, ctx);
  return { objects: out, reports: entries.flatMap((e) => reports.get(e) ?? []), messages, problems: inOrder(problems) };
}

/** Removes what inject added, restoring each object exactly as it was before inject. */
export function uninjectAll(objects: readonly unknown[]): Outcome {
  const out = objects.map((o) => structuredClone(o));
  const problems: Problem[] = [];
  const messages: Message[] = [];
  const reports: ObjectReport[] = [];
  for (const entry of flatten(out, problems)) {
    const base = { index: entry.index, pointer: toPointer(entry.tokens), ref: entry.ref };
    const seen = new Set<string>();
    warnUnknownAnnotations(entry.ref, annotationsOf(entry.obj), messages, seen);
    const path = templatePaths[entry.kind];
    if (path && path.length > 0) warnUnknownAnnotations(entry.ref, annotationsOf(getAt(entry.obj, path)), messages, seen);
    if (path) {
      const template = asObj(getAt(entry.obj, path));
      const spec = asObj(template?.spec);
      const anns = annotationsOf(template);
      if (!template || !spec || (anns[Annotations.injected] === undefined && !hasSidecar(spec))) {
        reports.push({ ...base, action: 'skipped', reason: 'not injected' });
        continue;
      }
      const tokens = parseTokens(anns[Annotations.restore]);
      if (!tokens) {
        problems.push({ ...base, pointer: `${base.pointer}${toPointer(path)}/metadata/annotations`, reason: `${Annotations.restore} is not a record skiff wrote` });
        continue;
      }
      const facts = sidecarFacts(spec);
      for (const key of ['initContainers', 'containers'] as const) {
        if (Array.isArray(spec[key])) spec[key] = spec[key].filter((c) => !(isPlainObject(c) && c.name === SIDECAR_NAME));
      }
      if (Array.isArray(spec.initContainers) && spec.initContainers.length === 0 && !tokens.includes('empty:initContainers')) {
        Reflect.deleteProperty(spec, 'initContainers');
      }
      if (facts?.portName !== undefined) {
        // The app's port gets its name back, and the handlers that named it name it again.
        for (const c of containersOf(spec, 'containers')) {
          const port = (Array.isArray(c.ports) ? c.ports : []).map(asObj).find((p) => p?.name === APP_PORT_NAME);
          if (!port) continue;
          port.name = facts.portName;
          for (const token of tokens) {
            const at = HANDLERS[token];
            if (!at) continue;
            for (const kind of ['httpGet', 'tcpSocket']) {
              const action = asObj(asObj(getAt(c, at))?.[kind]);
              if (action && action.port === port.containerPort) action.port = facts.portName;
            }
          }
        }
      }
      dropAnnotations(template, [Annotations.injected, Annotations.restore], tokens);
      reports.push({ ...base, action: 'uninjected' });
    } else if (entry.kind === 'Service' && annotationsOf(entry.obj)[Annotations.retargeted] !== undefined) {
      const text = annotationsOf(entry.obj)[Annotations.retargeted];
      const items = typeof text === 'string' ? text.split(',').map((t) => t.trim()).filter(Boolean) : [];
      const ports = Array.isArray(asObj(entry.obj.spec)?.ports) ? (asObj(entry.obj.spec)!.ports as unknown[]).map(asObj) : [];
      const restores = items.filter((t) => t !== 'empty:annotations').map((t) => /^(\d+):(-|\d+)$/.exec(t));
      const targets = restores.map((m) => (m ? ports.find((p) => p && (p.protocol ?? 'TCP') === 'TCP' && p.port === Number(m[1])) : undefined));
      if (items.length === 0 || restores.some((m) => !m) || targets.some((p) => !p)) {
        problems.push({ ...base, pointer: `${base.pointer}/metadata/annotations`, reason: `${Annotations.retargeted} is not a record skiff wrote (or the Service's ports changed)` });
        continue;
      }
      restores.forEach((m, i) => {
        const port = targets[i]!;
        if (m![2] === '-') Reflect.deleteProperty(port, 'targetPort');
        else port.targetPort = Number(m![2]);
      });
      dropAnnotations(entry.obj, [Annotations.retargeted], items);
      reports.push({ ...base, action: 'restored' });
    } else {
      reports.push({ ...base, action: 'skipped' });
    }
  }
  return { objects: out, reports, messages, problems: inOrder(problems) };
}

/** Problems in input order (by document, then position), as a reader goes through the file. */
function inOrder(problems: Problem[]): Problem[] {
  return problems.sort((a, b) => a.index - b.index || (a.pointer < b.pointer ? -1 : a.pointer > b.pointer ? 1 : 0));
}

export interface InjectResult {
  object: unknown;
  reports: ObjectReport[];
  messages: Message[];
}

function single(outcome: Outcome): InjectResult {
  const first = outcome.problems[0];
  if (first) {
    throw new SkiffError(ErrorCodes.MANIFEST_INVALID, `${first.ref}: ${first.reason}`);
  }
  return { object: outcome.objects[0], reports: outcome.reports, messages: outcome.messages };
}

/**
 * Injects one object (a workload, a `List`, or anything else, which passes through).
 * Throws `SkiffError` (SKIFF_ERR_MANIFEST_INVALID) when the object cannot be injected.
 *
 * @example
 * const { object } = inject(deployment, { ...defaultInjectOptions, nativeSidecar: false });
 */
export function inject(object: unknown, options: InjectOptions = defaultInjectOptions): InjectResult {
  return single(injectAll([object], options));
}

/** Removes the sidecar from one object; `uninject(inject(x).object).object` deep-equals `x`. */
export function uninject(object: unknown): InjectResult {
  return single(uninjectAll([object]));
}
