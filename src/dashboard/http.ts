/**
 * Small HTTP helpers shared by the dashboard's handlers: JSON answers, API errors, bounded
 * body reading, and the security headers every answer carries.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApiError } from './api-types.ts';

/** Headers on every answer: no MIME sniffing (a JSON body must never run as a script), no referrers. */
export const BASE_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/**
 * Headers on HTML: nothing but our own files may load, and no page may frame us (clickjacking).
 * `extraStyle` allows one inline style block by its hash (the login page has no stylesheet file).
 */
export function htmlHeaders(extraStyle?: string): Record<string, string> {
  const style = extraStyle ? `; style-src 'self' '${extraStyle}'` : '';
  return {
    ...BASE_HEADERS,
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': `default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'${style}`,
    'x-frame-options': 'DENY',
  };
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...BASE_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export function sendError(res: ServerResponse, status: number, error: string, message: string, headers: Record<string, string> = {}): void {
  const body: ApiError = { error, message };
  sendJson(res, status, body, headers);
}

export class BodyTooLarge extends Error {
  override name = 'BodyTooLarge';
}

/**
 * Reads a request body up to `limit` bytes. Rejects with BodyTooLarge as soon as the declared
 * or received length passes the limit (the rest is not read), so a huge body costs nothing.
 */
export function readBody(req: IncomingMessage, limit: number, timeoutMs = 30_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > limit) {
      reject(new BodyTooLarge(`body of ${declared} bytes is larger than the limit of ${limit}`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const timer = setTimeout(() => finish(new Error('body not received in time')), timeoutMs);
    const finish = (err: Error | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      if (err) {
        // Stop reading: the reply is sent and the connection closed by the caller.
        req.resume();
        reject(err);
      } else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) finish(new BodyTooLarge(`body is larger than the limit of ${limit} bytes`));
      else chunks.push(chunk);
    };
    const onEnd = (): void => finish(null);
    const onError = (err: Error): void => finish(err);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/** The media type of a request, lower case and without parameters (`application/json`). */
export function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}
