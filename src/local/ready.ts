/**
 * Readiness probes for local processes: poll an HTTP endpoint (a sidecar's /readyz, the
 * dashboard's /healthz) until it answers 200, the deadline passes, or the wait is aborted.
 * Plain node:http with a per-try timeout: fetch would follow proxy variables we do not want here.
 */
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

/** One GET; resolves with the status code, or 0 when nothing answered in time. */
export function probe(url: string, timeoutMs = 1000): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'GET', timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

export interface WaitOptions {
  readonly timeoutMs: number;
  readonly intervalMs?: number;
  readonly signal?: AbortSignal;
  /** Stop early (false) when this says the process behind the URL is gone for good. */
  readonly stillWorthWaiting?: () => boolean;
}

/** True once `url` answers 200; false on timeout, abort, or when it is no longer worth waiting. */
export async function waitReady(url: string, options: WaitOptions): Promise<boolean> {
  const deadline = Date.now() + options.timeoutMs;
  const interval = options.intervalMs ?? 100;
  while (Date.now() < deadline) {
    if (options.signal?.aborted) return false;
    if ((await probe(url, Math.min(1000, Math.max(100, deadline - Date.now())))) === 200) return true;
    if (options.stillWorthWaiting && !options.stillWorthWaiting()) return false;
    await sleep(interval);
  }
  return false;
}
