/**
 * The UI's only door to the dashboard: GET JSON from /api/… with the session cookie, and a
 * polling hook that refreshes in place. Types come from the API contract (api-types.ts).
 *
 * Refresh without flicker: while a new answer is on its way the previous one stays on screen;
 * a failed refresh keeps the last data and shows a banner, it never blanks the page.
 */
import { useEffect, useState } from 'preact/hooks';
import type { ApiError } from '../../api-types.ts';

export const REFRESH_MS = 5000;
/** A request that takes longer than this is abandoned (and retried at the next tick). */
const REQUEST_TIMEOUT_MS = 15_000;

export class ApiFailure extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiFailure';
    this.status = status;
    this.code = code;
  }
}

function isApiError(v: unknown): v is ApiError {
  return typeof v === 'object' && v !== null && typeof (v as ApiError).error === 'string' && typeof (v as ApiError).message === 'string';
}

/** Sends the user to the login page, coming back here afterwards. */
export function redirectToLogin(): void {
  const next = window.location.pathname + window.location.search;
  window.location.assign(`/login?next=${encodeURIComponent(next)}`);
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, { credentials: 'same-origin', headers: { accept: 'application/json' }, signal });
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new ApiFailure(0, 'unreachable', 'the dashboard is unreachable');
  }
  if (res.status === 401) {
    redirectToLogin();
    throw new ApiFailure(401, 'unauthorized', 'signed out: log in again');
  }
  const body: unknown = await res.json().catch(() => null);
  if (!res.ok) {
    if (isApiError(body)) throw new ApiFailure(res.status, body.error, body.message);
    throw new ApiFailure(res.status, 'http_error', `the dashboard answered ${res.status}`);
  }
  if (body === null) throw new ApiFailure(res.status, 'bad_json', 'the dashboard sent an unreadable answer');
  return body as T;
}

export interface Poll<T> {
  /** The latest successful answer (kept through failed refreshes). */
  data: T | undefined;
  /** The path `data` was fetched from (differs from the current path while a new one loads). */
  dataPath: string | undefined;
  /** The last refresh failed with this; cleared by the next success. */
  error: ApiFailure | undefined;
  /** When the last successful answer arrived (ms since epoch). */
  updatedAt: number | undefined;
}

function toFailure(err: unknown): ApiFailure {
  if (err instanceof ApiFailure) return err;
  return new ApiFailure(0, 'unreachable', err instanceof Error ? err.message : String(err));
}

/**
 * Fetches `path` now and every `intervalMs` after each answer (never two in flight). Pauses
 * while the tab is hidden and catches up as soon as it is visible again. `path` null: idle.
 */
export function usePoll<T>(path: string | null, intervalMs = REFRESH_MS): Poll<T> {
  const [state, setState] = useState<Poll<T>>({ data: undefined, dataPath: undefined, error: undefined, updatedAt: undefined });

  useEffect(() => {
    if (path === null) return;
    let stopped = false;
    let timer: number | undefined;
    let inflight: AbortController | undefined;
    let waitingForVisible = false;

    const tick = async (): Promise<void> => {
      const ctrl = new AbortController();
      inflight = ctrl;
      const timeout = window.setTimeout(() => ctrl.abort(), REQUEST_TIMEOUT_MS);
      try {
        const data = await getJson<T>(path, ctrl.signal);
        if (!stopped) setState({ data, dataPath: path, error: undefined, updatedAt: Date.now() });
      } catch (err) {
        if (!stopped) {
          const failure = ctrl.signal.aborted ? new ApiFailure(0, 'timeout', 'the dashboard did not answer in time') : toFailure(err);
          setState((s) => ({ ...s, error: failure }));
        }
      } finally {
        window.clearTimeout(timeout);
        inflight = undefined;
        if (!stopped) schedule();
      }
    };
    const schedule = (): void => {
      timer = window.setTimeout(() => {
        if (document.hidden) waitingForVisible = true;
        else void tick();
      }, intervalMs);
    };
    const onVisibility = (): void => {
      if (!document.hidden && waitingForVisible) {
        waitingForVisible = false;
        void tick();
      }
    };
    document.addEventListener('visibilitychange', onVisibility);
    void tick();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
      inflight?.abort();
      document.removeEventListener('visibilitychange', onVisibility);
    };
  }, [path, intervalMs]);

  return state;
}
