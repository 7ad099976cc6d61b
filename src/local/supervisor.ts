/**
 * One supervised process: started as its own process group, its output turned into lines,
 * restarted with exponential backoff when it exits unexpectedly, stopped as a whole tree
 * (SIGTERM, then SIGKILL after a grace period).
 *
 * A restart waits until the old group is empty, so the new process never finds its port still
 * held by a grandchild of the old one.
 */
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeError } from '../errors.ts';
import { forEachLine } from './lines.ts';
import { exitCodeOf, groupAlive, signalGroup, spawnGroup } from './process-group.ts';

export type RestartPolicy = 'always' | 'on-failure' | 'never';

export interface ProcessSpec {
  /** Shown in logs: `reviews-2`, `reviews-2 proxy`, `dashboard`. */
  readonly label: string;
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  readonly restart: RestartPolicy;
  /** Grace between SIGTERM and SIGKILL when stopping. */
  readonly stopTimeoutMs: number;
}

export interface Backoff {
  readonly baseMs: number;
  readonly maxMs: number;
  /** A run at least this long resets the backoff: the crash is not a crash loop. */
  readonly stableMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { baseMs: 500, maxMs: 30_000, stableMs: 10_000 };

/** Delay before restart number `attempt` (0-based): base · 2^attempt, capped. */
export function restartDelay(attempt: number, backoff: Backoff = DEFAULT_BACKOFF): number {
  return Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.min(attempt, 30));
}

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** The shell's view: the code, or 128 + the signal number. */
  readonly exitCode: number;
  readonly uptimeMs: number;
}

export interface ProcessEvents {
  onLine?(label: string, line: string, stream: 'stdout' | 'stderr'): void;
  onStart?(label: string, pid: number, restarts: number): void;
  /** `restartInMs` is set when a restart is scheduled. */
  onExit?(label: string, exit: ExitInfo, restartInMs: number | undefined): void;
  /** A restart failed to spawn (the command vanished, say); another attempt follows. */
  onSpawnError?(label: string, message: string): void;
}

/** A command that could not be started at all (ENOENT, EACCES…), with a one-line reason. */
export class SpawnError extends Error {
  readonly errno: string | undefined;
  constructor(message: string, errno: string | undefined, cause: unknown) {
    super(message, { cause });
    this.name = 'SpawnError';
    this.errno = errno;
  }
}

function spawnMessage(file: string, err: unknown): SpawnError {
  const code = (err as NodeJS.ErrnoException).code;
  const reason =
    code === 'ENOENT' ? 'command not found' : code === 'EACCES' ? 'permission denied' : describeError(err);
  return new SpawnError(`cannot start "${file}": ${reason}`, code, err);
}

export class ManagedProcess {
  readonly spec: ProcessSpec;
  readonly #events: ProcessEvents;
  readonly #backoff: Backoff;
  #child: ChildProcess | undefined;
  #pgid: number | undefined;
  #startedAt = 0;
  #attempt = 0;
  #restarts = 0;
  #stopping = false;
  #timer: NodeJS.Timeout | undefined;
  #spawning: Promise<number> | undefined;
  #exitWaiters: ((e: ExitInfo) => void)[] = [];
  #lastExit: ExitInfo | undefined;

  constructor(spec: ProcessSpec, events: ProcessEvents = {}, backoff: Backoff = DEFAULT_BACKOFF) {
    this.spec = spec;
    this.#events = events;
    this.#backoff = backoff;
  }

  /** Pid (and process group id) of the running process, if any. */
  get pid(): number | undefined {
    return this.#child ? this.#pgid : undefined;
  }
  get restarts(): number {
    return this.#restarts;
  }
  get lastExit(): ExitInfo | undefined {
    return this.#lastExit;
  }

  /** Spawns the process; rejects with `SpawnError` when the command cannot be started. */
  async start(): Promise<number> {
    this.#stopping = false;
    return this.#spawn();
  }

  /** Resolves at the next exit of the process (restarted or not). */
  nextExit(): Promise<ExitInfo> {
    return new Promise((resolve) => this.#exitWaiters.push(resolve));
  }

  /** Sends a signal to the whole process group (signal forwarding); false when not running. */
  signal(signal: NodeJS.Signals): boolean {
    return this.#pgid !== undefined && this.#child !== undefined && signalGroup(this.#pgid, signal);
  }

  /**
   * Stops for good: no more restarts; SIGTERM (or `signal`) to the group, SIGKILL after the
   * grace period. Resolves once every process of the group is gone.
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<ExitInfo | undefined> {
    this.#stopping = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    // A spawn in flight would otherwise produce a process nobody stops.
    if (this.#spawning) await this.#spawning.catch(() => undefined);
    const child = this.#child;
    const pgid = this.#pgid;
    if (child === undefined || pgid === undefined) return this.#lastExit;
    const exited = this.nextExit();
    signalGroup(pgid, signal);
    if (!(await this.#waitGroupGone(pgid, this.spec.stopTimeoutMs))) {
      signalGroup(pgid, 'SIGKILL');
      await this.#waitGroupGone(pgid, 5000);
    }
    // The leader's `exit` event follows its death closely; don't hang if it was missed.
    return Promise.race([exited, sleep(2000).then(() => this.#lastExit)]);
  }

  async #waitGroupGone(pgid: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (groupAlive(pgid)) {
      if (Date.now() >= deadline) return false;
      await sleep(25);
    }
    return true;
  }

  #spawn(): Promise<number> {
    const spawning = this.#spawnOnce();
    this.#spawning = spawning;
    const clear = (): void => {
      if (this.#spawning === spawning) this.#spawning = undefined;
    };
    spawning.then(clear, clear);
    return spawning;
  }

  #spawnOnce(): Promise<number> {
    const { spec } = this;
    return new Promise((resolve, reject) => {
      let child: ChildProcess;
      try {
        child = spawnGroup(spec.argv, { env: spec.env, cwd: spec.cwd });
      } catch (err) {
        reject(spawnMessage(spec.argv[0] ?? '', err));
        return;
      }
      child.once('error', (err) => {
        // Only a failure to spawn lands here before `spawn`; later errors (a failed kill) are moot.
        if (child.pid === undefined) reject(spawnMessage(spec.argv[0] ?? '', err));
      });
      child.once('spawn', () => {
        const pid = child.pid!;
        this.#child = child;
        this.#pgid = pid;
        this.#startedAt = Date.now();
        if (child.stdout) forEachLine(child.stdout, (l) => this.#events.onLine?.(spec.label, l, 'stdout'));
        if (child.stderr) forEachLine(child.stderr, (l) => this.#events.onLine?.(spec.label, l, 'stderr'));
        child.once('exit', (code, sig) => void this.#onExit(child, code, sig));
        this.#events.onStart?.(spec.label, pid, this.#restarts);
        resolve(pid);
      });
    });
  }

  async #onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    const uptimeMs = Date.now() - this.#startedAt;
    const exit: ExitInfo = { code, signal, exitCode: exitCodeOf(code, signal), uptimeMs };
    const pgid = this.#pgid;
    if (this.#child === child) this.#child = undefined;
    this.#lastExit = exit;
    const restart =
      !this.#stopping &&
      (this.spec.restart === 'always' || (this.spec.restart === 'on-failure' && exit.exitCode !== 0));
    let delay: number | undefined;
    if (restart) {
      if (uptimeMs >= this.#backoff.stableMs) this.#attempt = 0;
      delay = restartDelay(this.#attempt, this.#backoff);
      this.#attempt += 1;
    }
    this.#events.onExit?.(this.spec.label, exit, delay);
    for (const w of this.#exitWaiters.splice(0)) w(exit);
    if (delay === undefined || pgid === undefined) return;
    // What the leader left behind in its group would hold its port: clear it before restarting.
    if (groupAlive(pgid)) {
      signalGroup(pgid, 'SIGTERM');
      if (!(await this.#waitGroupGone(pgid, this.spec.stopTimeoutMs))) signalGroup(pgid, 'SIGKILL');
    }
    this.#scheduleRestart(delay);
  }

  #scheduleRestart(delay: number): void {
    if (this.#stopping) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#stopping) return;
      this.#restarts += 1;
      this.#spawn().catch((err: unknown) => {
        this.#events.onSpawnError?.(this.spec.label, describeError(err));
        const next = restartDelay(this.#attempt, this.#backoff);
        this.#attempt += 1;
        this.#scheduleRestart(next);
      });
    }, delay);
  }
}
