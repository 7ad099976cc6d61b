/**
 * What a previous `skiff up` of the same file left: DATA/up.json names its own pid and every
 * process it started (pid and argv). On start, skiff up reads it:
 * - the recorded `skiff up` is still running → refuse (two meshes would share ports and store);
 * - it is gone but some of its processes live on (it was SIGKILLed) → stop them first.
 * A recorded pid counts only if it still leads its process group with the very same argv, so a
 * pid reused by an unrelated process is never touched.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCodes, SkiffError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { commandLine, groupAlive, isGroupLeader, pidAlive, selfPid, signalGroup } from './process-group.ts';

export interface RecordedProcess {
  readonly label: string;
  readonly pid: number;
  readonly argv: readonly string[];
}

export interface Recorded {
  /** Pid of the `skiff up` that wrote the file. */
  readonly pid: number;
  readonly processes: readonly RecordedProcess[];
}

function sameArgv(a: readonly string[] | undefined, b: readonly string[]): boolean {
  return a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
}

function stillOurs(p: RecordedProcess): boolean {
  return pidAlive(p.pid) && isGroupLeader(p.pid) && sameArgv(commandLine(p.pid), p.argv);
}

function read(path: string): Recorded | undefined {
  try {
    const data = JSON.parse(readFileSync(path, 'utf8')) as { pid?: unknown; processes?: unknown };
    if (typeof data.pid !== 'number' || !Array.isArray(data.processes)) return undefined;
    const processes = (data.processes as Partial<RecordedProcess>[]).filter(
      (p): p is RecordedProcess => typeof p.pid === 'number' && Array.isArray(p.argv) && p.argv.every((a) => typeof a === 'string'),
    );
    return { pid: data.pid, processes };
  } catch {
    return undefined;
  }
}

/** Refuses when the mesh of this state file is running; stops what a killed run left behind. */
export async function handleLeftovers(statePath: string, file: string, log: Logger): Promise<void> {
  const recorded = read(statePath);
  if (!recorded) return;
  const alive = recorded.processes.filter(stillOurs);
  if (alive.length === 0) return;
  if (recorded.pid !== selfPid() && pidAlive(recorded.pid) && (commandLine(recorded.pid) ?? []).some((a) => a.includes('skiff') || a.includes('start.ts'))) {
    throw new SkiffError(
      ErrorCodes.LISTEN_FAILED,
      `${file}: this mesh is already running (skiff up, pid ${recorded.pid}); stop it first (Ctrl-C in its terminal, or kill -INT ${recorded.pid})`,
    );
  }
  log.warn('stopping processes left by a previous skiff up that did not stop cleanly', { count: alive.length });
  for (const p of alive) signalGroup(p.pid, 'SIGTERM');
  const deadline = Date.now() + 5000;
  while (alive.some((p) => groupAlive(p.pid)) && Date.now() < deadline) await sleep(50);
  for (const p of alive) if (groupAlive(p.pid)) signalGroup(p.pid, 'SIGKILL');
}
