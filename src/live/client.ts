/**
 * How the live CLI views reach their data: the dashboard's API (`--dashboard` /
 * `SKIFF_DASHBOARD`, token from `SKIFF_TOKEN`), or one sidecar's admin port directly
 * (`--admin HOST:PORT`, no dashboard needed). Every failure becomes one line a user can act on:
 * unreachable, refused token, or what the server said.
 */
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import { SkiffError, ErrorCodes, UsageError, describeError } from '../errors.ts';
import { formatHostPort, parseHostPort } from '../config/options.ts';
import { SseParser } from './sse.ts';
import type { SseMessage } from './sse.ts';

export const DEFAULT_DASHBOARD = 'http://127.0.0.1:15080';
/** Connecting and receiving the response head; a stream then has its own silence limit. */
const HEAD_TIMEOUT_MS = 10_000;
/** Servers ping every 15 s: this long without a byte is a dead stream. */
const STREAM_SILENCE_MS = 45_000;
const MAX_ERROR_BODY = 4096;
const MAX_JSON_BODY = 32 << 20;

/** Where a live view gets its data. */
export interface Endpoint {
  kind: 'dashboard' | 'sidecar';
  /** Base URL without a trailing slash. */
  base: string;
  token: string | undefined;
  /** For messages: "the dashboard at http://…" or "the sidecar at 127.0.0.1:15000". */
  label: string;
}

/** The dashboard endpoint from `--dashboard`/`SKIFF_DASHBOARD` and `SKIFF_TOKEN`. */
export function dashboardEndpoint(url: string, env: Readonly<Record<string, string | undefined>>): Endpoint {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--dashboard "${url}" is not a URL (example: http://127.0.0.1:15080)`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new UsageError(`--dashboard must be an http:// or https:// URL, not "${url}"`);
  const base = `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`;
  return { kind: 'dashboard', base, token: env.SKIFF_TOKEN?.trim() || undefined, label: `the dashboard at ${base}` };
}

/** A sidecar's admin port from `--admin HOST:PORT` (the token, if it has one, from SKIFF_TOKEN). */
export function sidecarEndpoint(hostPort: string, env: Readonly<Record<string, string | undefined>>): Endpoint {
  let hp;
  try {
    hp = parseHostPort(hostPort, '127.0.0.1');
  } catch (err) {
    throw new UsageError(`--admin: ${(err as Error).message}`);
  }
  const host = hp.host === '0.0.0.0' ? '127.0.0.1' : hp.host === '::' ? '::1' : hp.host;
  const shown = formatHostPort({ host, port: hp.port });
  return { kind: 'sidecar', base: `http://${shown}`, token: env.SKIFF_TOKEN?.trim() || undefined, label: `the sidecar at ${shown}` };
}

function request(ep: Endpoint, path: string, query: URLSearchParams, accept: string, signal: AbortSignal): Promise<IncomingMessage> {
  const qs = query.toString();
  const url = new URL(`${ep.base}${path}${qs ? `?${qs}` : ''}`);
  const headers: Record<string, string> = { accept };
  if (ep.token) headers.authorization = `Bearer ${ep.token}`;
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.get(url, { headers, signal, timeout: HEAD_TIMEOUT_MS }, (res) => {
      req.setTimeout(0);
      resolve(res);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${HEAD_TIMEOUT_MS / 1000}s`)));
    req.on('error', (err) => {
      if (signal.aborted) reject(err);
      else reject(new SkiffError(ErrorCodes.DASHBOARD_UNREACHABLE, `cannot reach ${ep.label}: ${describeError(err)}`, { cause: err }));
    });
  });
}

async function readText(res: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      res.destroy();
      break;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Turns a non-2xx answer into one line (the API's `message`, or the body's first line). */
async function failure(ep: Endpoint, res: IncomingMessage): Promise<SkiffError> {
  const status = res.statusCode ?? 0;
  const text = await readText(res, MAX_ERROR_BODY).catch(() => '');
  let message = text.split('\n')[0]!.trim();
  try {
    const body = JSON.parse(text) as { message?: unknown };
    if (typeof body.message === 'string') message = body.message;
  } catch {
    // not JSON: the first line is the message
  }
  if (status === 401 || status === 403) {
    const what = ep.token ? 'refused the token in SKIFF_TOKEN' : 'needs a token: set SKIFF_TOKEN';
    return new SkiffError(ErrorCodes.DASHBOARD_AUTH, `${ep.label} ${what} (${status})`);
  }
  // Control characters from a server never reach the terminal.
  const clean = message.replace(/[\x00-\x1f\x7f-\x9f]/g, ' ').slice(0, 300);
  return new SkiffError(ErrorCodes.COMMAND_FAILED, `${ep.label} answered ${status}${clean ? `: ${clean}` : ''}`);
}

/** GET a JSON document from the endpoint. */
export async function getJson<T>(ep: Endpoint, path: string, query: URLSearchParams, signal: AbortSignal): Promise<T> {
  const res = await request(ep, path, query, 'application/json', signal);
  if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) >= 300) throw await failure(ep, res);
  const text = await readText(res, MAX_JSON_BODY);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new SkiffError(ErrorCodes.COMMAND_FAILED, `${ep.label} sent an answer that is not JSON`);
  }
}

/**
 * Opens an event stream and yields its events as they arrive. Reading is pulled by the
 * consumer: while it awaits (stdout full), nothing more is read, and the server drops and
 * counts instead of queueing. Ends when the server ends the stream; throws on silence.
 */
export async function* eventStream(ep: Endpoint, path: string, query: URLSearchParams, signal: AbortSignal): AsyncGenerator<SseMessage> {
  const res = await request(ep, path, query, 'text/event-stream', signal);
  if (res.statusCode !== 200) throw await failure(ep, res);
  if (!(res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
    res.destroy();
    throw new SkiffError(ErrorCodes.COMMAND_FAILED, `${ep.label} did not answer with an event stream (is it a skiff ${ep.kind}?)`);
  }
  res.setEncoding('utf8');
  const silence = setTimeout(() => res.destroy(new Error(`no data for ${STREAM_SILENCE_MS / 1000}s`)), STREAM_SILENCE_MS);
  const parser = new SseParser();
  try {
    for await (const chunk of res as AsyncIterable<string>) {
      silence.refresh();
      for (const m of parser.push(chunk)) yield m;
    }
  } catch (err) {
    if (signal.aborted) return;
    throw new SkiffError(ErrorCodes.DASHBOARD_UNREACHABLE, `lost ${ep.label}: ${describeError(err)}`, { cause: err });
  } finally {
    clearTimeout(silence);
    res.destroy();
  }
}
