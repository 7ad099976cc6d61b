/**
 * The loop `skiff tap` and `skiff top` share: read a tap stream, hand each record to the view,
 * and tell the person at the terminal (stderr) what the stream says about itself: what was not
 * granted (hello notes), records lost (dropped), sidecars joining or failing (source).
 */
import type { Writable } from 'node:stream';
import { SkiffError, ErrorCodes } from '../errors.ts';
import { eventStream } from './client.ts';
import type { Endpoint } from './client.ts';
import { clean } from './format.ts';
import { normalizeRecord } from './record.ts';
import type { TapDropped, TapHello, TapRecord, TapSource } from './record.ts';

export interface TapLoop {
  ep: Endpoint;
  path: string;
  query: URLSearchParams;
  /** Aborted to stop (max reached, duration over, SIGINT). */
  signal: AbortSignal;
  stderr: Writable;
  /** Prefix of stderr lines (`skiff tap`). */
  name: string;
  /** Called with every record, in order; may wait (backpressure). */
  onRecord(r: TapRecord): void | Promise<void>;
  /** Called with every drop notice (after it was reported on stderr, unless `quietDrops`). */
  onDropped?(d: TapDropped): void;
  /** Drop notices are not written to stderr (a full-screen view shows them itself). */
  quietDrops?: boolean;
}

function parse(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    return undefined;
  }
}

/** Runs until `signal` aborts (resolves) or the stream fails or ends by itself (throws). */
export async function runTapLoop(o: TapLoop): Promise<void> {
  const say = (line: string): void => void o.stderr.write(`${o.name}: ${line}\n`);
  for await (const m of eventStream(o.ep, o.path, o.query, o.signal)) {
    if (o.signal.aborted) return;
    if (m.event === 'message') {
      const r = normalizeRecord(parse(m.data));
      if (r) await o.onRecord(r);
    } else if (m.event === 'hello') {
      const h = parse(m.data) as Partial<TapHello> | undefined;
      const notes: unknown[] = Array.isArray(h?.notes) ? h.notes : [];
      for (const note of notes) say(`note: ${clean(String(note))}`);
    } else if (m.event === 'dropped') {
      const d = parse(m.data) as TapDropped | undefined;
      if (typeof d?.count !== 'number') continue;
      const where = d.pod ? ` by ${clean(d.pod)}` : '';
      const why = d.reason === 'rate' ? 'over the rate limit (--rate)' : 'while this client read too slowly';
      if (!o.quietDrops) say(`${d.count} records dropped${where} ${why}; ${d.total} in all`);
      o.onDropped?.(d);
    } else if (m.event === 'source') {
      const s = parse(m.data) as TapSource | undefined;
      if (typeof s?.pod !== 'string') continue;
      const who = `${clean(s.namespace)}/${clean(s.service)} pod ${clean(s.pod)}`;
      if (s.state === 'failed') say(`cannot tap ${who}: ${clean(s.message ?? 'failed')}`);
      else if (s.state === 'disconnected') say(`${who} left${s.message ? ` (${clean(s.message)})` : ''}`);
    }
  }
  if (o.signal.aborted) return;
  throw new SkiffError(ErrorCodes.DASHBOARD_UNREACHABLE, `${o.ep.label} ended the tap stream (shutting down?)`);
}

/** An AbortSignal for `shutdown`, `--duration` and the caller's own stop (e.g. `--max` reached). */
export function stopSignal(shutdown: AbortSignal, durationMs: number | undefined): { signal: AbortSignal; stop(): void; dispose(): void } {
  const ctrl = new AbortController();
  const onShutdown = (): void => ctrl.abort('shutdown');
  if (shutdown.aborted) ctrl.abort('shutdown');
  else shutdown.addEventListener('abort', onShutdown, { once: true });
  const timer = durationMs !== undefined && durationMs > 0 ? setTimeout(() => ctrl.abort('duration'), durationMs) : undefined;
  return {
    signal: ctrl.signal,
    stop: () => ctrl.abort('done'),
    dispose: () => {
      clearTimeout(timer);
      shutdown.removeEventListener('abort', onShutdown);
    },
  };
}

/** Writes to stdout and waits when it is full, so a slow pipe slows our reading (not the mesh). */
export async function writeOut(out: Writable, text: string): Promise<void> {
  if (out.write(text)) return;
  await new Promise<void>((resolve) => {
    const done = (): void => {
      out.off('drain', done);
      out.off('close', done);
      out.off('error', done);
      resolve();
    };
    out.once('drain', done);
    out.once('close', done);
    out.once('error', done);
  });
}
