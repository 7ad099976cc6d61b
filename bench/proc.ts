/**
 * Child processes of the benchmark and what the kernel says about them.
 *
 * Every process the bench starts goes through one `Supervisor`, which starts it as the leader of
 * its own process group, so that stopping it also stops what it forked (nginx's worker) and so
 * that a Ctrl-C in the terminal reaches only the bench, which then stops its children in order.
 * `killAllSync()` is the last resort for the `exit` handler: no child may outlive the run.
 *
 * CPU and memory come from procfs (proc(5)): `utime + stime` of `/proc/PID/stat` (clock ticks,
 * summed over all threads of the process) and `VmHWM` (peak resident set) of `/proc/PID/status`.
 */
import { spawn, execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

/** Most bytes of a child's stdout or stderr kept (the tail): enough for wrk's summary or an error. */
const OUTPUT_TAIL_BYTES = 64 * 1024;

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Child {
  readonly name: string;
  readonly pid: number;
  readonly process: ChildProcess;
  /** Settles when the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  /** `undefined` while it runs. */
  exitInfo(): ExitInfo | undefined;
  stdout(): string;
  stderr(): string;
}

export interface SpawnOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** 'pipe' lets a child notice that the bench died (its stdin closes); default 'ignore'. */
  stdin?: 'pipe' | 'ignore';
}

function tailBuffer(): { push(chunk: Buffer): void; text(): string } {
  let chunks: Buffer[] = [];
  let size = 0;
  return {
    push(chunk) {
      chunks.push(chunk);
      size += chunk.length;
      if (size > OUTPUT_TAIL_BYTES * 2) {
        const all = Buffer.concat(chunks);
        chunks = [all.subarray(all.length - OUTPUT_TAIL_BYTES)];
        size = OUTPUT_TAIL_BYTES;
      }
    },
    text() {
      const all = Buffer.concat(chunks);
      return all.subarray(Math.max(0, all.length - OUTPUT_TAIL_BYTES)).toString('utf8');
    },
  };
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Signals a whole process group; a group that is already gone is not an error. */
function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: nothing left in the group.
  }
}

export class Supervisor {
  readonly #children = new Set<Child>();

  /** Starts `command` in a new process group; throws only if it cannot be started at all. */
  async spawn(name: string, command: string, args: readonly string[], options: SpawnOptions = {}): Promise<Child> {
    const cp = spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
      // A new session and process group: `kill(-pid)` reaches the child's own children too,
      // and the terminal's SIGINT reaches only the bench, which stops children in order.
      detached: true,
    });
    const out = tailBuffer();
    const err = tailBuffer();
    cp.stdout?.on('data', (c: Buffer) => out.push(c));
    cp.stderr?.on('data', (c: Buffer) => err.push(c));
    let info: ExitInfo | undefined;
    const exited = new Promise<ExitInfo>((resolve) => {
      cp.once('exit', (code, signal) => {
        info = { code, signal };
        resolve(info);
      });
      cp.once('error', () => {
        info ??= { code: null, signal: null };
        resolve(info);
      });
    });
    // `spawn` reports a missing binary asynchronously: wait for either 'spawn' or 'error'.
    await new Promise<void>((resolve, reject) => {
      cp.once('spawn', resolve);
      cp.once('error', (e) => reject(new Error(`cannot start ${name} (${command}): ${e.message}`)));
    });
    const child: Child = {
      name,
      pid: cp.pid!,
      process: cp,
      exited,
      exitInfo: () => info,
      stdout: () => out.text(),
      stderr: () => err.text(),
    };
    this.#children.add(child);
    void exited.then(() => {
      // The leader is gone; sweep the rest of its group (a worker it forked) and forget it.
      killGroup(child.pid, 'SIGKILL');
      this.#children.delete(child);
    });
    return child;
  }

  /** SIGTERM to the group, then SIGKILL after `graceMs`; resolves when the leader has exited. */
  async stop(child: Child, graceMs = 2000): Promise<ExitInfo> {
    if (child.exitInfo()) return child.exitInfo()!;
    killGroup(child.pid, 'SIGTERM');
    const timer = delay(graceMs).then(() => 'timeout' as const);
    if ((await Promise.race([child.exited, timer])) === 'timeout') killGroup(child.pid, 'SIGKILL');
    return child.exited;
  }

  async stopAll(graceMs = 2000): Promise<void> {
    await Promise.all([...this.#children].map((c) => this.stop(c, graceMs)));
  }

  /** For `process.on('exit')`, where nothing asynchronous runs any more. */
  killAllSync(): void {
    for (const c of this.#children) killGroup(c.pid, 'SIGKILL');
    this.#children.clear();
  }

  get running(): number {
    return this.#children.size;
  }
}

/** Waits for `child` to exit, at most `timeoutMs`; `undefined` on timeout. */
export async function waitExit(child: Child, timeoutMs: number): Promise<ExitInfo | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), timeoutMs);
  });
  try {
    return await Promise.race([child.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// ---- procfs -----------------------------------------------------------------------------------

export interface ProcStat {
  ppid: number;
  /** user + system CPU time of all threads, in clock ticks. */
  cpuTicks: number;
}

/**
 * Parses a `/proc/PID/stat` line. The command name (field 2) is in parentheses and may contain
 * spaces or parentheses itself, so fields are counted from the last ')' (proc(5)).
 */
export function parseProcStat(text: string): ProcStat {
  const end = text.lastIndexOf(')');
  if (end < 0) throw new Error('not a /proc/PID/stat line');
  // After ')': field 3 (state) is index 0, so field N is index N - 3.
  const f = text.slice(end + 2).trim().split(/\s+/);
  const num = (field: number): number => {
    const v = Number(f[field - 3]);
    if (!Number.isFinite(v)) throw new Error(`/proc/PID/stat field ${field} is not a number`);
    return v;
  };
  return { ppid: num(4), cpuTicks: num(14) + num(15) };
}

/** A `kB` line of `/proc/PID/status` (`VmHWM:	  8120 kB`) in bytes; `undefined` if absent. */
export function parseStatusKb(text: string, key: string): number | undefined {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(text);
  return m ? Number(m[1]) * 1024 : undefined;
}

export function readProcStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Peak resident set size (`VmHWM`) in bytes, or `undefined` when the process is gone. */
export function readPeakRss(pid: number): number | undefined {
  try {
    return parseStatusKb(readFileSync(`/proc/${pid}/status`, 'utf8'), 'VmHWM');
  } catch {
    return undefined;
  }
}

/** Direct children of `pid`, by scanning procfs (works without CONFIG_PROC_CHILDREN). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const st = readProcStat(Number(entry));
    if (st?.ppid === pid) out.push(Number(entry));
  }
  return out;
}

/** `pid` and all its descendants. */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length && out.length < 256; i++) out.push(...childrenOf(out[i]!));
  return out;
}

let ticksPerSecond: number | undefined;

/** `getconf CLK_TCK` (USER_HZ), the unit of utime/stime; 100 on every Linux we know of. */
export function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** CPU seconds (user + system) used so far by the given processes together. */
export function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) ticks += readProcStat(pid)?.cpuTicks ?? 0;
  return ticks / clockTicksPerSecond();
}

/** Whether a process with this pid exists (signal 0 probes without signalling). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Kills what an earlier bench left behind when it was itself killed outright (SIGKILL, OOM),
 * which no handler can catch. Every child runs with its working directory inside the bench's
 * temporary directory, named after the bench's pid (`<tmp>/skiff-bench-<pid>-…`): a process whose
 * cwd is there while that pid is gone is an orphan. Returns how many were killed.
 */
export function sweepOrphans(tmpRoot: string): number {
  const prefix = join(tmpRoot, 'skiff-bench-');
  let killed = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cwd: string;
    try {
      cwd = readlinkSync(`/proc/${entry}/cwd`);
    } catch {
      continue;
    }
    if (!cwd.startsWith(prefix)) continue;
    const owner = Number(/^(\d+)-/.exec(cwd.slice(prefix.length))?.[1]);
    if (!Number.isInteger(owner) || isAlive(owner)) continue;
    try {
      process.kill(Number(entry), 'SIGKILL');
      killed++;
    } catch {
      // already gone
    }
  }
  return killed;
}
