/**
 * The pure core of `skiff up` and `skiff run`: from a validated config and the ports chosen for
 * it, the exact argv and environment of every process, and the order to start them in.
 * Nothing here touches sockets or processes, so all of it is tested in process.
 */
import type { ServiceConfig, UpConfig } from './config.ts';

export interface ReplicaPorts {
  /** The app's own port (its PORT). */
  readonly app: number;
  /** The sidecar's inbound listener: where callers of this replica connect. */
  readonly listen: number;
  readonly admin: number;
  /** The sidecar's outbound HTTP proxy (the app's HTTP_PROXY). */
  readonly outbound: number;
  /** Declared local upstream ports, one per called service, in `calls` order. */
  readonly upstreams: readonly number[];
}

export interface ReplicaPlan {
  readonly service: string;
  /** 1-based. */
  readonly index: number;
  /** `NAME-INDEX`: the pod name the dashboard shows. */
  readonly pod: string;
  readonly ports: ReplicaPorts;
}

export interface ServicePlan {
  readonly config: ServiceConfig;
  readonly replicas: readonly ReplicaPlan[];
  /**
   * Where callers reach the service: its one replica's sidecar, or with several replicas the
   * supervisor's round-robin port in front of their sidecars.
   */
  readonly address: number;
  /** Set when the service has more than one replica: the round-robin port. */
  readonly balancerPort: number | undefined;
}

export interface MeshPlan {
  readonly config: UpConfig;
  readonly services: readonly ServicePlan[];
  readonly dashboardPort: number;
  /** Services grouped by start order: every group after the first calls only earlier groups (or its own members, in a cycle). */
  readonly levels: readonly (readonly string[])[];
}

/** The loopback host every local process binds to: nothing of a dev mesh is exposed on the network. */
export const HOST = '127.0.0.1';

/**
 * Start order: callees before callers, so that a caller's first request finds its callee up.
 * Services in a cycle (a calls b, b calls a) are started together (Tarjan's strongly connected
 * components, then levels of the condensed graph). Within a level, file order is kept.
 */
export function startLevels(services: readonly { name: string; calls: readonly string[] }[]): string[][] {
  const byName = new Map(services.map((s) => [s.name, s]));
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const component = new Map<string, number>();
  const components: string[][] = [];
  let counter = 0;
  const visit = (name: string): void => {
    index.set(name, counter);
    low.set(name, counter);
    counter += 1;
    stack.push(name);
    onStack.add(name);
    for (const callee of byName.get(name)?.calls ?? []) {
      if (!byName.has(callee)) continue;
      if (!index.has(callee)) {
        visit(callee);
        low.set(name, Math.min(low.get(name)!, low.get(callee)!));
      } else if (onStack.has(callee)) {
        low.set(name, Math.min(low.get(name)!, index.get(callee)!));
      }
    }
    if (low.get(name) === index.get(name)) {
      const members: string[] = [];
      let m: string;
      do {
        m = stack.pop()!;
        onStack.delete(m);
        component.set(m, components.length);
        members.push(m);
      } while (m !== name);
      components.push(members);
    }
  };
  for (const s of services) if (!index.has(s.name)) visit(s.name);
  // Tarjan emits components callees-first, so one pass gives each its level.
  const level: number[] = [];
  components.forEach((members, c) => {
    let l = 0;
    for (const m of members) {
      for (const callee of byName.get(m)?.calls ?? []) {
        const cc = component.get(callee);
        if (cc !== undefined && cc !== c) l = Math.max(l, level[cc]! + 1);
      }
    }
    level[c] = l;
  });
  const levels: string[][] = [];
  for (const s of services) {
    const l = level[component.get(s.name)!]!;
    (levels[l] ??= []).push(s.name);
  }
  return levels.filter((l) => l.length > 0);
}

/** `my-svc` → `SKIFF_UPSTREAM_MY_SVC`: the env var an app reads for a declared upstream port. */
export function upstreamEnvName(service: string): string {
  return `SKIFF_UPSTREAM_${service.replace(/-/g, '_').toUpperCase()}`;
}

/** What a sidecar needs to know about the services its app calls. */
export interface CalleeAddress {
  readonly name: string;
  /** Port on HOST where the callee is reached (its sidecar, or its round-robin port). */
  readonly port: number;
  /** Local declared upstream port on this sidecar that forwards to the callee. */
  readonly upstreamPort: number;
}

export interface SidecarArgsInput {
  readonly service: string;
  readonly namespace: string;
  readonly pod: string;
  readonly listen: number;
  readonly app: number;
  readonly admin: number;
  readonly outbound: number;
  readonly callees: readonly CalleeAddress[];
  /** Dashboard base URL; no reporting when undefined. */
  readonly dashboardUrl: string | undefined;
  readonly reportInterval: string;
  readonly logLevel: string;
  readonly drainTimeout: string;
  readonly extraArgs: readonly string[];
}

/** The `skiff proxy …` arguments (after the node binary and the skiff entry point). */
export function sidecarArgs(input: SidecarArgsInput): string[] {
  const args = [
    'proxy',
    '--listen', `${HOST}:${input.listen}`,
    '--app', `${HOST}:${input.app}`,
    '--admin', `${HOST}:${input.admin}`,
    '--outbound', `${HOST}:${input.outbound}`,
    '--service', input.service,
    '--namespace', input.namespace,
    '--pod', input.pod,
    '--log-level', input.logLevel,
    '--drain-timeout', input.drainTimeout,
  ];
  for (const c of input.callees) {
    args.push('--resolve', `${c.name}=${HOST}:${c.port}`);
    // TARGET spelled out, so the declared port does not depend on how NAME is resolved.
    args.push('--upstream', `${c.name}=${HOST}:${c.upstreamPort}@${HOST}:${c.port}`);
  }
  if (input.dashboardUrl !== undefined) args.push('--dashboard', input.dashboardUrl, '--report-interval', input.reportInterval);
  args.push(...input.extraArgs);
  return args;
}

/** Variables that would point an app's (or a sidecar's) HTTP clients at some other proxy. */
const PROXY_VARS = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy', 'NODE_USE_ENV_PROXY'];

/** Strips what must not leak into a child: proxy settings and the dashboard token. */
function baseEnv(env: Readonly<Record<string, string | undefined>>, keepToken: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined || PROXY_VARS.includes(k)) continue;
    if (!keepToken && k === 'SKIFF_TOKEN') continue;
    out[k] = v;
  }
  return out;
}

export interface AppEnvInput {
  readonly service: string;
  readonly pod: string;
  readonly appPort: number;
  readonly outbound: number;
  readonly callees: readonly CalleeAddress[];
  /** Directory put first on PATH so that `node` in a command is the Node that runs skiff. */
  readonly nodeDir: string | undefined;
  /** The service's own `env:` from skiff.yaml (applied last: the user has the final word). */
  readonly extra: Readonly<Record<string, string>>;
}

/**
 * The app's environment: the user's, minus the dashboard token and any proxy settings, plus
 * `PORT`, the outbound proxy (both spellings: curl reads only the lower-case `http_proxy`),
 * `NO_PROXY` for loopback (so declared upstream ports and local tools are reached directly),
 * `NODE_USE_ENV_PROXY=1` (Node 24's http and fetch honour the proxy variables only with it),
 * and `SKIFF_UPSTREAM_<NAME>` for every called service.
 */
export function appEnv(parent: Readonly<Record<string, string | undefined>>, input: AppEnvInput): Record<string, string> {
  const env = baseEnv(parent, false);
  const proxy = `http://${HOST}:${input.outbound}`;
  env.PORT = String(input.appPort);
  env.HTTP_PROXY = proxy;
  env.http_proxy = proxy;
  env.NO_PROXY = 'localhost,127.0.0.1,::1';
  env.no_proxy = env.NO_PROXY;
  env.NODE_USE_ENV_PROXY = '1';
  env.SKIFF_SERVICE = input.service;
  env.SKIFF_POD = input.pod;
  for (const c of input.callees) env[upstreamEnvName(c.name)] = `http://${HOST}:${c.upstreamPort}`;
  if (input.nodeDir !== undefined) {
    const pathKey = Object.keys(env).find((k) => k.toUpperCase() === 'PATH') ?? 'PATH';
    env[pathKey] = env[pathKey] ? `${input.nodeDir}:${env[pathKey]}` : input.nodeDir;
  }
  Object.assign(env, input.extra);
  return env;
}

/** The sidecar's (and the dashboard's) environment: the user's, with the token, without proxy settings. */
export function skiffEnv(parent: Readonly<Record<string, string | undefined>>, token: string | undefined): Record<string, string> {
  const env = baseEnv(parent, false);
  if (token !== undefined) env.SKIFF_TOKEN = token;
  return env;
}

/** Builds the plan from a config and a port chooser (`pick(fixed)` returns fixed or a free port). */
export function planMesh(config: UpConfig, ports: { readonly dashboard: number; pick(): number }): MeshPlan {
  const services: ServicePlan[] = config.services.map((s) => {
    const replicas: ReplicaPlan[] = [];
    for (let i = 1; i <= s.replicas; i++) {
      replicas.push({
        service: s.name,
        index: i,
        pod: `${s.name}-${i}`,
        ports: {
          app: s.port === undefined ? ports.pick() : s.port + i - 1,
          listen: s.listen === undefined ? ports.pick() : s.listen + i - 1,
          admin: ports.pick(),
          outbound: ports.pick(),
          upstreams: s.calls.map(() => ports.pick()),
        },
      });
    }
    const balancerPort = s.replicas > 1 ? ports.pick() : undefined;
    return { config: s, replicas, balancerPort, address: balancerPort ?? replicas[0]!.ports.listen };
  });
  return { config, services, dashboardPort: ports.dashboard, levels: startLevels(config.services) };
}

/** The callees of one replica, with the addresses from the plan. */
export function calleesOf(plan: MeshPlan, replica: ReplicaPlan): CalleeAddress[] {
  const service = plan.services.find((s) => s.config.name === replica.service)!;
  return service.config.calls.map((name, i) => {
    const callee = plan.services.find((s) => s.config.name === name)!;
    return { name, port: callee.address, upstreamPort: replica.ports.upstreams[i]! };
  });
}
