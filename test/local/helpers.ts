/**
 * Helpers for the local-mesh end-to-end tests: start `skiff up` / `skiff run` as real
 * processes (the way a user does), read their state, query the dashboard, and make sure
 * nothing they started outlives the test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { groupMembers, pidAlive, signalGroup } from '../../src/local/process-group.ts';
import { PINNED_NODE, SKIFF_ENTRY } from '../../src/local/runtime.ts';
import type { UpState } from '../../src/local/mesh.ts';

export const NODE = PINNED_NODE;
export const FIXTURES = join(import.meta.dirname, 'fixtures');

/** Waits until `cond` returns a truthy value, polling; fails with `what` after `timeoutMs`. */
export async function eventually<T>(what: string, cond: () => T | Promise<T>, timeoutMs = 30_000, everyMs = 100): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export interface Proc {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (128+N for a signal). */
  readonly exited: Promise<number>;
}

/** Runs `skiff ARGS…` as a real process with its own pipes; environment without proxies or tokens. */
export function skiff(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Proc {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(https?_proxy|no_proxy|all_proxy|node_use_env_proxy|skiff_.*)$/i.test(k)) env[k] = v;
  }
  const child = spawn(NODE, [SKIFF_ENTRY, ...args], { cwd: options.cwd ?? FIXTURES, env: { ...env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? (signal === 'SIGINT' ? 130 : signal === 'SIGKILL' ? 137 : 143)));
  });
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** GET over a fresh connection; status 0 when nothing answered. */
export function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 15_000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ status: 0, body }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ status: 0, body: '' }));
  });
}

export interface Up extends Proc {
  readonly dir: string;
  readonly dashboard: { url: string; token: string };
  /** DATA/up.json as it is now. */
  state(): UpState;
  api<T>(path: string): Promise<T>;
  /** Every pid `skiff up` has reported, for the orphan checks. */
  readonly seenPids: Set<number>;
  /** Kills whatever is left (test clean-up): the up process and every group it started. */
  cleanup(): Promise<void>;
}

/** Writes `yaml` to a temp dir as skiff.yaml, runs `skiff up` on it and waits until it is running. */
export async function startUp(yaml: string, timeoutMs = 90_000): Promise<Up> {
  // The real path: it is compared with /proc/PID/cwd.
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'skiff-up-')));
  writeFileSync(join(dir, 'skiff.yaml'), yaml);
  const proc = skiff(['up', '-f', join(dir, 'skiff.yaml'), '--color', 'never'], { cwd: dir });
  const seenPids = new Set<number>();
  const statePath = join(dir, '.skiff', 'up.json');
  const state = (): UpState => {
    const s = JSON.parse(readFileSync(statePath, 'utf8')) as UpState;
    if (s.dashboard.pid) seenPids.add(s.dashboard.pid);
    for (const svc of Object.values(s.services)) {
      for (const r of svc.replicas) {
        if (r.app.pid) seenPids.add(r.app.pid);
        if (r.sidecar.pid) seenPids.add(r.sidecar.pid);
      }
    }
    return s;
  };
  const cleanup = async (): Promise<void> => {
    if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
    await proc.exited;
    for (const pid of seenPids) signalGroup(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  let login: RegExpExecArray;
  try {
    login = await eventually(
      'skiff up to print the dashboard URL',
      () => {
        if (proc.child.exitCode !== null) throw new Error(`skiff up exited with ${proc.child.exitCode}: ${proc.stderr()}`);
        return /(http:\/\/127\.0\.0\.1:\d+)\/login\?token=(\S+)/.exec(proc.stdout());
      },
      timeoutMs,
    );
  } catch (err) {
    await cleanup();
    throw err;
  }
  const dashboard = { url: login[1]!, token: decodeURIComponent(login[2]!) };
  state();
  return {
    ...proc,
    dir,
    dashboard,
    state,
    seenPids,
    cleanup,
    async api<T>(path: string): Promise<T> {
      const res = await fetch(`${dashboard.url}${path}`, { headers: { authorization: `Bearer ${dashboard.token}` } });
      if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
      return (await res.json()) as T;
    },
  };
}

/** Pids of `pids` still running, and members of their process groups. */
export function survivors(pids: Iterable<number>): number[] {
  const left = new Set<number>();
  for (const pid of pids) {
    if (pidAlive(pid)) left.add(pid);
    for (const m of groupMembers(pid)) left.add(m);
  }
  return [...left];
}

/**
 * Pids of processes whose working directory is `dir` (Linux /proc): every process `skiff up`
 * starts for a file runs in the file's directory, so this finds leftovers without knowing pids.
 */
export function processesIn(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/cwd`) === dir && pidAlive(Number(entry))) pids.push(Number(entry));
    } catch {
      // Gone meanwhile, or not ours to inspect.
    }
  }
  return pids;
}
