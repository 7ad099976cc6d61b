/**
 * The OS adapter of the local mesh: spawn a command as the leader of its own process group,
 * signal the whole group, and tell when a group is empty.
 *
 * Why groups: an app started as `sh -c "npm run dev"` is a tree (sh → npm → node), and killing
 * only the pid we spawned leaves the rest running with the port still bound. Each child gets its
 * own group (`detached`), so the supervisor signals the tree in the order it chooses (callers
 * before callees, apps before their sidecars, the dashboard last) instead of the terminal's
 * Ctrl-C hitting every process at once.
 *
 * This module is the one place in src/local/ that uses the `process` global, and only for what
 * `ChildProcess` cannot do: signal a group (`kill(-pgid)`) and a last-resort SIGKILL of every
 * group still alive when this process exits (e.g. on a second Ctrl-C), so no child outlives us.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import process from 'node:process';

export interface SpawnOptions {
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
}

/** Groups started here and not yet seen empty; SIGKILLed if this process exits first. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const pgid of liveGroups) signalGroup(pgid, 'SIGKILL');
  });
}

/**
 * Starts `argv` as the leader of a new process group, stdin closed, stdout/stderr piped.
 * A missing or non-executable command surfaces as the child's `error` event (ENOENT, EACCES).
 */
export function spawnGroup(argv: readonly string[], options: SpawnOptions): ChildProcess {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error('empty command');
  installExitHook();
  const child = spawn(file, args, {
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pgid = child.pid;
  if (pgid !== undefined) {
    liveGroups.add(pgid);
    child.once('exit', () => {
      if (!groupAlive(pgid)) liveGroups.delete(pgid);
    });
  }
  return child;
}

/** Sends `signal` to every process of group `pgid`; false when the group no longer exists. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  // kill(-1) would signal every process we may signal, kill(-0) our own group: never.
  if (!Number.isInteger(pgid) || pgid <= 1) return false;
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    liveGroups.delete(pgid);
    return false;
  }
}

interface ProcStat {
  pid: number;
  state: string;
  pgid: number;
}

function readStat(pid: string): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may itself hold spaces or parentheses (proc(5)).
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { pid: Number(pid), state: fields[0] ?? '', pgid: Number(fields[2]) };
  } catch {
    return undefined;
  }
}

const hasProc = ((): boolean => {
  try {
    readdirSync('/proc/self');
    return true;
  } catch {
    return false;
  }
})();

/**
 * The pids still running in group `pgid` (zombies excluded: they hold no port and are only
 * waiting to be reaped). Without /proc (macOS), the group itself stands for its members.
 */
export function groupMembers(pgid: number): number[] {
  if (!Number.isInteger(pgid) || pgid <= 1) return [];
  if (!hasProc) {
    try {
      process.kill(-pgid, 0);
      return [pgid];
    } catch {
      return [];
    }
  }
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(entry);
    if (stat && stat.pgid === pgid && stat.state !== 'Z' && stat.state !== 'X') pids.push(stat.pid);
  }
  return pids;
}

export function groupAlive(pgid: number): boolean {
  const alive = groupMembers(pgid).length > 0;
  if (!alive) liveGroups.delete(pgid);
  return alive;
}

/** True when a process with this pid exists and is not a zombie. */
export function pidAlive(pid: number): boolean {
  if (hasProc) {
    const stat = readStat(String(pid));
    return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** This process's pid (recorded in up.json, so a second `skiff up` can tell it is running). */
export function selfPid(): number {
  return process.pid;
}

/** The argv of a running process (Linux /proc), or undefined when unknown or gone. */
export function commandLine(pid: number): string[] | undefined {
  if (!hasProc || !Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').slice(0, -1);
  } catch {
    return undefined;
  }
}

/** True when `pid` leads its own process group (how every process skiff starts runs). */
export function isGroupLeader(pid: number): boolean {
  return hasProc ? readStat(String(pid))?.pgid === pid : pidAlive(pid);
}

/** The shell convention for a process killed by a signal: 128 + its number (SIGINT → 130). */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const n = signal ? constants.signals[signal] : undefined;
  return n === undefined ? 1 : 128 + n;
}
