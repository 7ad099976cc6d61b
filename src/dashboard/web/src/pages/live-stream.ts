/**
 * The Live page's connection to `GET /api/tap`: a fetch whose body is read as server-sent
 * events (fetch rather than EventSource, to tell a signed-out session, which goes to the login
 * page, from a refused filter, which is shown, from a lost connection, which is retried with a
 * backoff). Records are batched into one state update every BATCH_MS, so a busy service costs
 * a few renders per second, not one per request. Everything stays bounded (rows, sources).
 */
import { useEffect, useState } from 'preact/hooks';
import type { ApiError } from '../../../api-types.ts';
import type { TapDropped, TapSource } from '../../../../live/record.ts';
import { normalizeRecord } from '../../../../live/record.ts';
import { SseParser } from '../../../../live/sse.ts';
import { redirectToLogin } from '../api.ts';
import { addRows, applySource } from './live-model.ts';
import type { LiveRow } from './live-model.ts';

const BATCH_MS = 150;
const RETRY_MS = [1000, 2000, 5000, 10_000];

export interface TapState {
  /** connecting: first attempt; live: the stream is open; retrying: lost, reconnecting; refused: will not retry (bad filter). */
  status: 'connecting' | 'live' | 'retrying' | 'refused';
  /** Why the last attempt failed (shown as text). */
  message: string | undefined;
  /** Newest first, bounded. */
  rows: LiveRow[];
  received: number;
  /** Records the stream said it dropped (rate limit or slow reading, anywhere on the way). */
  dropped: number;
  sources: Map<string, TapSource>;
}

const INITIAL: TapState = { status: 'connecting', message: undefined, rows: [], received: 0, dropped: 0, sources: new Map() };

let nextSeq = 1;

function isApiError(v: unknown): v is ApiError {
  return typeof v === 'object' && v !== null && typeof (v as ApiError).message === 'string';
}

/** Follows the tap at `path` (an /api/tap URL) until `path` changes or the page goes away. */
export function useTapStream(path: string): TapState {
  const [state, setState] = useState<TapState>(INITIAL);

  useEffect(() => {
    setState(INITIAL);
    let stopped = false;
    let ctrl: AbortController | undefined;
    let retryTimer: number | undefined;
    let flushTimer: number | undefined;
    let attempt = 0;
    let pendingRows: LiveRow[] = [];
    let pendingDropped = 0;
    let pendingSources: TapSource[] = [];

    const flush = (): void => {
      flushTimer = undefined;
      if (stopped) return;
      const rows = pendingRows;
      const dropped = pendingDropped;
      const sources = pendingSources;
      pendingRows = [];
      pendingDropped = 0;
      pendingSources = [];
      setState((s) => ({
        ...s,
        rows: addRows(s.rows, rows),
        received: s.received + rows.length,
        dropped: s.dropped + dropped,
        sources: sources.reduce((m, src) => applySource(m, src), s.sources),
      }));
    };
    const schedule = (): void => {
      flushTimer ??= window.setTimeout(flush, BATCH_MS);
    };
    const onEvent = (event: string, data: string): void => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(data);
      } catch {
        return;
      }
      if (event === 'message') {
        const record = normalizeRecord(parsed);
        if (!record) return;
        pendingRows.push({ seq: nextSeq++, record });
        // Never hold more than a screenful: the rest would drop off anyway.
        if (pendingRows.length > 1000) pendingRows = pendingRows.slice(-500);
      } else if (event === 'dropped') {
        const d = parsed as Partial<TapDropped>;
        if (typeof d.count === 'number' && d.count > 0) pendingDropped += d.count;
      } else if (event === 'source') {
        const s = parsed as TapSource;
        if (typeof s.pod === 'string' && typeof s.service === 'string') pendingSources.push(s);
      } else return;
      schedule();
    };

    const retry = (message: string): void => {
      if (stopped) return;
      const delay = RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)]!;
      attempt++;
      setState((s) => ({ ...s, status: 'retrying', message }));
      retryTimer = window.setTimeout(() => void connect(), delay);
    };

    const connect = async (): Promise<void> => {
      ctrl = new AbortController();
      let res: Response;
      try {
        res = await fetch(path, { credentials: 'same-origin', headers: { accept: 'text/event-stream' }, signal: ctrl.signal });
      } catch {
        if (!stopped) retry('the dashboard is unreachable');
        return;
      }
      if (res.status === 401) {
        redirectToLogin();
        return;
      }
      if (!res.ok || !res.body) {
        const body: unknown = await res.json().catch(() => null);
        const message = isApiError(body) ? body.message : `the dashboard answered ${res.status}`;
        if (res.status === 400) {
          if (!stopped) setState((s) => ({ ...s, status: 'refused', message }));
        } else retry(message);
        return;
      }
      attempt = 0;
      setState((s) => ({ ...s, status: 'live', message: undefined }));
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      const parser = new SseParser();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          for (const m of parser.push(value)) onEvent(m.event, m.data);
        }
      } catch {
        // aborted (page left) or the connection broke: decided below
      }
      if (!stopped) retry('the live stream was interrupted');
    };

    void connect();
    return () => {
      stopped = true;
      ctrl?.abort();
      window.clearTimeout(retryTimer);
      window.clearTimeout(flushTimer);
    };
  }, [path]);

  return state;
}
