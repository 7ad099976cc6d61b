/**
 * A running local mesh: the dashboard, then every service replica as an app and its sidecar,
 * started callees-first, each supervised (restarted with backoff when it crashes), and stopped
 * in the reverse order: callers before callees, each app before its sidecar (so the sidecar
 * flushes a last report with everything the app did), the dashboard last.
 *
 * State for tools and tests (pids, ports, URLs) is kept in DATA/up.json while the mesh runs.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { ErrorCodes, SkiffError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { loadToken } from '../dashboard/auth.ts';
import { createBalancer, type Balancer } from './balancer.ts';
import { handleLeftovers, type RecordedProcess } from './leftovers.ts';
import type { UpConfig } from './config.ts';
import { createPrefixer } from './lines.ts';
import { HOST, appEnv, calleesOf, planMesh, sidecarArgs, skiffEnv, type MeshPlan, type ReplicaPlan } from './plan.ts';
import { bindProblem, freePorts, tryBind } from './ports.ts';
import { waitReady } from './ready.ts';
import { selfPid } from './process-group.ts';
import type { Runtime } from './runtime.ts';
import { DEFAULT_BACKOFF, ManagedProcess, SpawnError, type Backoff, type ExitInfo } from './supervisor.ts';

/** The dashboard's port when skiff.yaml does not set one (that of `skiff dashboard`); a free port if taken. */
export const DEFAULT_DASHBOARD_PORT = 15080;

export interface MeshDeps {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly runtime: Runtime;
  readonly log: Logger;
  /** Where the processes' output goes, one prefixed line at a time. */
  readonly output: Writable;
  readonly colour: boolean;
  readonly backoff?: Backoff;
  /** How long a sidecar (or the dashboard) may take to become ready before we say so. */
  readonly readyTimeoutMs?: number;
}

interface ReplicaProcs {
  readonly plan: ReplicaPlan;
  readonly app: ManagedProcess;
  readonly sidecar: ManagedProcess;
}

/** What DATA/up.json holds. */
export interface UpState {
  /** The `skiff up` process. */
  pid: number;
  file: string;
  namespace: string;
  dashboard: { url: string; port: number; pid: number | null };
  services: Record<
    string,
    {
      /** Where callers reach the service (its sidecar, or the round-robin port for several replicas). */
      address: string;
      replicas: {
        pod: string;
        app: { pid: number | null; port: number; restarts: number };
        sidecar: { pid: number | null; listen: number; admin: number; outbound: number; restarts: number };
      }[];
    }
  >;
  /** Every running process with its argv: what a later `skiff up` checks (see leftovers.ts). */
  processes: RecordedProcess[];
}

export class Mesh {
  readonly config: UpConfig;
  readonly plan: MeshPlan;
  readonly token: string;
  readonly dashboardUrl: string;
  readonly #deps: MeshDeps;
  readonly #dashboard: ManagedProcess;
  readonly #replicas = new Map<string, ReplicaProcs[]>();
  readonly #balancers: Balancer[] = [];
  #stopping = false;
  #stopped: Promise<void> | undefined;

  private constructor(config: UpConfig, plan: MeshPlan, token: string, deps: MeshDeps) {
    this.config = config;
    this.plan = plan;
    this.token = token;
    this.#deps = deps;
    this.dashboardUrl = `http://${HOST}:${plan.dashboardPort}`;
    const { runtime, env } = deps;
    const labels = plan.services.flatMap((s) => s.replicas.map((r) => r.pod.length));
    const prefixer = createPrefixer({ colour: deps.colour, width: Math.min(24, Math.max(9, ...labels)) });
    const backoff = deps.backoff ?? DEFAULT_BACKOFF;
    const events = {
      onLine: (label: string, line: string): void => prefixer.write(deps.output, label, line, { dim: label.endsWith(' proxy') }),
      onStart: (label: string, pid: number, restarts: number): void => {
        if (restarts > 0) deps.log.info(`${label} restarted`, { pid, restarts });
        this.#writeState();
      },
      onExit: (label: string, exit: ExitInfo, restartInMs: number | undefined): void => {
        if (this.#stopping) return;
        const how = exit.signal ? { signal: exit.signal } : { code: exit.code ?? undefined };
        if (restartInMs === undefined) deps.log.warn(`${label} exited`, { ...how, restart: 'no' });
        else deps.log.warn(`${label} exited`, { ...how, restart_in: `${restartInMs}ms` });
        this.#writeState();
      },
      onSpawnError: (label: string, message: string): void => deps.log.error(`${label} cannot restart`, { reason: message }),
    };
    const skiffChildEnv = skiffEnv(env, token);
    this.#dashboard = new ManagedProcess(
      {
        label: 'dashboard',
        argv: [...runtime.skiff, 'dashboard', '--listen', `${HOST}:${plan.dashboardPort}`, '--data', join(config.dashboard.data, 'dashboard'), '--log-level', 'warn'],
        env: skiffChildEnv,
        cwd: config.dir,
        restart: 'always',
        stopTimeoutMs: 10_000,
      },
      events,
      backoff,
    );
    for (const service of plan.services) {
      const procs = service.replicas.map((r): ReplicaProcs => {
        const callees = calleesOf(plan, r);
        const app = new ManagedProcess(
          {
            label: r.pod,
            argv: service.config.argv,
            env: appEnv(env, {
              service: r.service,
              pod: r.pod,
              appPort: r.ports.app,
              outbound: r.ports.outbound,
              callees,
              nodeDir: runtime.nodeDir,
              extra: service.config.env,
            }),
            cwd: service.config.cwd,
            restart: service.config.restart,
            stopTimeoutMs: 5000,
          },
          events,
          backoff,
        );
        const sidecar = new ManagedProcess(
          {
            label: `${r.pod} proxy`,
            argv: [
              ...runtime.skiff,
              ...sidecarArgs({
                service: r.service,
                namespace: config.namespace,
                pod: r.pod,
                listen: r.ports.listen,
                app: r.ports.app,
                admin: r.ports.admin,
                outbound: r.ports.outbound,
                callees,
                dashboardUrl: this.dashboardUrl,
                reportInterval: config.sidecar.reportInterval,
                logLevel: config.sidecar.logLevel,
                drainTimeout: '5s',
                extraArgs: config.sidecar.args,
              }),
            ],
            env: skiffChildEnv,
            cwd: config.dir,
            restart: 'always',
            stopTimeoutMs: 10_000,
          },
          events,
          backoff,
        );
        return { plan: r, app, sidecar };
      });
      this.#replicas.set(service.config.name, procs);
    }
  }

  /**
   * Chooses ports (fixed ones must be free; the rest are picked free), resolves the dashboard
   * token (SKIFF_TOKEN, else DATA/dashboard/token, else a new one) and builds the mesh, not started.
   */
  static async prepare(config: UpConfig, deps: MeshDeps): Promise<Mesh> {
    await handleLeftovers(join(config.dashboard.data, 'up.json'), config.file, deps.log);
    const fixed: { port: number; where: string }[] = [];
    for (const s of config.services) {
      for (const key of ['port', 'listen'] as const) {
        const first = s[key];
        if (first !== undefined) for (let i = 0; i < s.replicas; i++) fixed.push({ port: first + i, where: `services.${s.name}.${key}` });
      }
    }
    if (config.dashboard.port) fixed.push({ port: config.dashboard.port, where: 'dashboard.port' });
    for (const f of fixed) {
      const problem = await tryBind(HOST, f.port);
      if (problem) throw new SkiffError(ErrorCodes.LISTEN_FAILED, `${config.file}: ${f.where}: ${bindProblem(problem, f.port)}`);
    }
    const taken = new Set(fixed.map((f) => f.port));
    let dashboardPort = config.dashboard.port ?? DEFAULT_DASHBOARD_PORT;
    if (config.dashboard.port === undefined && (taken.has(dashboardPort) || (await tryBind(HOST, dashboardPort)))) {
      deps.log.info(`port ${dashboardPort} is taken: the dashboard gets a free port (set dashboard.port to choose one)`);
      dashboardPort = 0;
    }
    // A dry run counts the free ports the plan needs; then the real plan takes them in order.
    let needed = 0;
    planMesh(config, { dashboard: 0, pick: () => ++needed });
    const pool = await freePorts(HOST, needed + (dashboardPort === 0 ? 1 : 0), taken);
    if (dashboardPort === 0) dashboardPort = pool.pop()!;
    let next = 0;
    const plan = planMesh(config, { dashboard: dashboardPort, pick: () => pool[next++]! });

    mkdirSync(config.dashboard.data, { recursive: true, mode: 0o700 });
    const token = await loadToken(join(config.dashboard.data, 'dashboard'), deps.env);
    return new Mesh(config, plan, token.token, deps);
  }

  /** The login link that opens the dashboard signed in. */
  get loginUrl(): string {
    return `${this.dashboardUrl}/login?token=${encodeURIComponent(this.token)}`;
  }

  /** Every managed process, for tests and diagnostics. */
  processes(): { label: string; pid: number | undefined }[] {
    const out = [{ label: 'dashboard', pid: this.#dashboard.pid }];
    for (const procs of this.#replicas.values()) {
      for (const r of procs) out.push({ label: r.app.spec.label, pid: r.app.pid }, { label: r.sidecar.spec.label, pid: r.sidecar.pid });
    }
    return out;
  }

  /**
   * Starts everything; resolves when every sidecar is ready (or has had its time: a service
   * that is not ready is reported and left to its supervisor). Returns early when `signal`
   * aborts; call `stop()` either way. Throws `SkiffError` when a command cannot be started.
   */
  async start(signal: AbortSignal): Promise<void> {
    const { log } = this.#deps;
    const readyTimeoutMs = this.#deps.readyTimeoutMs ?? 30_000;
    const all = [...this.#replicas.values()].flat();
    // The dashboard and every sidecar start at once: they call nobody at start (sidecars retry
    // their reports), and Node's start-up is most of the wait. Only the apps go callees-first.
    await this.#dashboard.start();
    const dashboardReady = waitReady(`${this.dashboardUrl}/healthz`, { timeoutMs: readyTimeoutMs, signal });
    for (const r of all) {
      try {
        await r.sidecar.start();
      } catch (err) {
        if (err instanceof SpawnError) throw new SkiffError(ErrorCodes.COMMAND_FAILED, `sidecar: ${err.message} (see --node)`, { cause: err });
        throw err;
      }
    }
    for (const service of this.plan.services) {
      if (service.balancerPort === undefined) continue;
      this.#balancers.push(
        await createBalancer({
          host: HOST,
          port: service.balancerPort,
          backends: service.replicas.map((r) => ({ host: HOST, port: r.ports.listen })),
        }),
      );
    }

    for (const level of this.plan.levels) {
      const started: ReplicaProcs[] = [];
      for (const name of level) {
        for (const r of this.#replicas.get(name) ?? []) {
          try {
            await r.app.start();
          } catch (err) {
            if (err instanceof SpawnError) {
              throw new SkiffError(ErrorCodes.COMMAND_FAILED, `${this.config.file}: services.${name}.command: ${err.message}`, { cause: err });
            }
            throw err;
          }
          started.push(r);
        }
      }
      // A sidecar is ready once it listens and its app accepts connections.
      const results = await Promise.all(
        started.map(async (r) => {
          const t0 = Date.now();
          const ok = await waitReady(`http://${HOST}:${r.plan.ports.admin}/readyz`, {
            timeoutMs: readyTimeoutMs,
            signal,
            // `sh -c` answers a missing command with 127 (POSIX); no point waiting for that app.
            stillWorthWaiting: () => r.app.lastExit?.exitCode !== 127,
          });
          return { r, ok, ms: Date.now() - t0 };
        }),
      );
      if (signal.aborted) return;
      for (const { r, ok, ms } of results) {
        if (r.app.lastExit?.exitCode === 127 && !ok) {
          throw new SkiffError(
            ErrorCodes.COMMAND_FAILED,
            `${this.config.file}: services.${r.plan.service}.command: the shell could not find the command (exit 127)`,
          );
        }
        if (ok) log.info(`${r.plan.pod} ready`, { listen: `${HOST}:${r.plan.ports.listen}`, app_port: r.plan.ports.app, ms });
        else log.warn(`${r.plan.pod} not ready`, { waited_ms: ms, hint: `is the app listening on PORT=${r.plan.ports.app}?` });
      }
    }
    if (!(await dashboardReady) && !signal.aborted) {
      log.warn('dashboard not ready; sidecars keep their reports queued and retry', { url: this.dashboardUrl });
    }
    this.#writeState();
  }

  /** Stops everything (idempotent): callers first, each app before its sidecar, the dashboard last. */
  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    this.#stopping = true;
    for (const level of [...this.plan.levels].reverse()) {
      const procs = level.flatMap((name) => this.#replicas.get(name) ?? []);
      await Promise.all(procs.map((r) => r.app.stop()));
      await Promise.all(procs.map((r) => r.sidecar.stop()));
    }
    await Promise.all(this.#balancers.map((b) => b.close()));
    await this.#dashboard.stop();
    rmSync(this.#statePath, { force: true });
  }

  get #statePath(): string {
    return join(this.config.dashboard.data, 'up.json');
  }

  state(): UpState {
    const services: UpState['services'] = {};
    for (const s of this.plan.services) {
      services[s.config.name] = {
        address: `${HOST}:${s.address}`,
        replicas: (this.#replicas.get(s.config.name) ?? []).map((r) => ({
          pod: r.plan.pod,
          app: { pid: r.app.pid ?? null, port: r.plan.ports.app, restarts: r.app.restarts },
          sidecar: {
            pid: r.sidecar.pid ?? null,
            listen: r.plan.ports.listen,
            admin: r.plan.ports.admin,
            outbound: r.plan.ports.outbound,
            restarts: r.sidecar.restarts,
          },
        })),
      };
    }
    const processes: RecordedProcess[] = [];
    const record = (p: ManagedProcess): void => {
      if (p.pid !== undefined) processes.push({ label: p.spec.label, pid: p.pid, argv: [...p.spec.argv] });
    };
    record(this.#dashboard);
    for (const procs of this.#replicas.values()) {
      for (const r of procs) {
        record(r.app);
        record(r.sidecar);
      }
    }
    return {
      pid: selfPid(),
      file: this.config.file,
      namespace: this.config.namespace,
      dashboard: { url: this.dashboardUrl, port: this.plan.dashboardPort, pid: this.#dashboard.pid ?? null },
      services,
      processes,
    };
  }

  #writeState(): void {
    if (this.#stopping) return;
    try {
      // Written whole and renamed into place: a reader never sees half a file.
      const tmp = `${this.#statePath}.tmp`;
      writeFileSync(tmp, JSON.stringify(this.state(), null, 2) + '\n', { mode: 0o600 });
      renameSync(tmp, this.#statePath);
    } catch (err) {
      this.#deps.log.debug('cannot write up.json', { reason: (err as Error).message });
    }
  }
}
