/**
 * Runs the real CLI (`node bin/skiff.ts …`) as a child process, for tests of what a user runs.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';

export const ROOT = join(import.meta.dirname, '..', '..');
export const NODE = join(ROOT, 'node_modules', '.bin', 'node');
export const SKIFF = join(ROOT, 'bin', 'skiff.ts');

export interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the first stderr line matching `re` (or rejects on exit/timeout). */
  waitForLine(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

export function runSkiff(args: string[], opts: { env?: Record<string, string | undefined>; cwd?: string } = {}): Running {
  const child = spawn(NODE, [SKIFF, ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => {
    err += c.toString();
    for (const w of [...waiters]) {
      const m = w.re.exec(err);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    kill: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    waitForLine(re, timeoutMs = 10_000) {
      const m = re.exec(err);
      if (m) return Promise.resolve(m);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timeout waiting for ${String(re)}; stderr:\n${err}`)), timeoutMs);
        void exited.then(({ code }) => {
          clearTimeout(t);
          reject(new Error(`process exited (${code}) before ${String(re)}; stderr:\n${err}`));
        });
        waiters.push({
          re,
          resolve: (mm) => {
            clearTimeout(t);
            resolve(mm);
          },
        });
      });
    },
  };
}

/** Runs the CLI to completion. */
export async function runSkiffToEnd(args: string[], opts: { env?: Record<string, string | undefined>; cwd?: string; input?: string } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(NODE, [SKIFF, ...args], { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin.end(opts.input ?? '');
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  return { code, stdout, stderr };
}

/** Starts `skiff proxy` on free loopback ports and returns them once it logged "ready". */
export async function startProxyProcess(appPort: number, extra: string[] = [], env: Record<string, string | undefined> = {}): Promise<Running & { port: number; adminPort: number }> {
  const r = runSkiff(['proxy', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--app', `127.0.0.1:${appPort}`, '--service', 'test', ...extra], { env });
  const m = await r.waitForLine(/ready .*inbound=127\.0\.0\.1:(\d+) .*admin=127\.0\.0\.1:(\d+)/);
  return Object.assign(r, { port: Number(m[1]), adminPort: Number(m[2]) });
}

export function rssKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  // /proc is Linux-only, which is where these tests run.
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

