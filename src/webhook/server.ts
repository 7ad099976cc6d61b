/**
 * The admission webhook's HTTPS server (TLS only: the API server calls webhooks over HTTPS).
 *
 *   POST /mutate   AdmissionReview v1 in (application/json), AdmissionReview out; 400 + reason
 *                  for a malformed review, 413 above the body limit, 415 for other media types
 *   GET  /healthz  200 "ok" (readiness and liveness probes)
 *
 * Bounded: request bodies (Kubernetes objects are at most ~1.5 MiB in etcd), header and request
 * timeouts, and connections. Logs one line per review, never the object or its values.
 */
import { X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { HostPort } from '../config/options.ts';
import { ErrorCodes, SkiffError, describeError } from '../errors.ts';
import type { InjectOptions } from '../inject/inject.ts';
import type { Logger } from '../log.ts';
import { review } from './review.ts';

export interface WebhookServerOptions {
  listen: HostPort;
  /** Paths of the PEM certificate (chain) and private key. */
  certFile: string;
  keyFile: string;
  inject: InjectOptions;
  log: Logger;
  maxBodyBytes?: number;
  /** How often the certificate files are checked for a rotated pair (a Secret update). */
  reloadIntervalMs?: number;
}

export interface WebhookServer {
  address: AddressInfo;
  close(): Promise<void>;
}

const DEFAULT_MAX_BODY = 4 * 1024 * 1024;

async function readPair(certFile: string, keyFile: string): Promise<{ cert: string; key: string }> {
  try {
    const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
    return { cert, key };
  } catch (err) {
    throw new SkiffError(ErrorCodes.TLS, `cannot read the TLS certificate or key: ${describeError(err)}`, { cause: err });
  }
}

function send(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8', extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), ...extra });
  res.end(body);
}

function readBody(req: IncomingMessage, max: number): Promise<Buffer | 'too-large'> {
  return new Promise((ok, fail) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > max) {
      req.resume();
      ok('too-large');
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        req.removeAllListeners('data');
        req.resume();
        ok('too-large');
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => ok(Buffer.concat(chunks)));
    req.on('error', fail);
  });
}

/**
 * Starts the webhook. Resolves once it listens; `close()` stops accepting and waits for
 * in-flight reviews.
 *
 * @example
 * const server = await createWebhookServer({ listen: { host: '0.0.0.0', port: 8443 }, certFile, keyFile, inject: defaultInjectOptions, log });
 */
export async function createWebhookServer(options: WebhookServerOptions): Promise<WebhookServer> {
  const { log } = options;
  const max = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const pair = await readPair(options.certFile, options.keyFile);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pair.cert);
  } catch (err) {
    throw new SkiffError(ErrorCodes.TLS, `${options.certFile} is not a PEM certificate: ${describeError(err)}`, { cause: err });
  }
  const expiresInDays = (new Date(cert.validTo).getTime() - Date.now()) / 86_400_000;
  if (expiresInDays < 30) {
    log.warn('the serving certificate expires soon: re-run `skiff install` to rotate it', { days: Math.floor(expiresInDays) });
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed\n', undefined, { allow: 'GET, HEAD' });
      return send(res, 200, 'ok\n');
    }
    if (path !== '/mutate') return send(res, 404, 'not found: the webhook serves POST /mutate and GET /healthz\n');
    if (req.method !== 'POST') return send(res, 405, 'method not allowed: POST an AdmissionReview\n', undefined, { allow: 'POST' });
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json') return send(res, 415, 'unsupported media type: send application/json\n');
    const body = await readBody(req, max);
    if (body === 'too-large') return send(res, 413, `the review is larger than ${max} bytes\n`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch (err) {
      log.info('review rejected', { reason: 'invalid JSON' });
      return send(res, 400, `invalid JSON: ${describeError(err)}\n`);
    }
    const answer = review(parsed, options.inject);
    if (typeof answer.body === 'string') {
      log.info('review rejected', { reason: answer.body });
      return send(res, answer.status, `${answer.body}\n`);
    }
    log.info('review', { result: answer.summary });
    send(res, 200, JSON.stringify(answer.body), 'application/json');
  };

  const server = createServer({ cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error('review failed', { error: describeError(err) });
      if (!res.headersSent) send(res, 500, 'internal error\n');
      else res.destroy();
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  server.keepAliveTimeout = 30_000;
  server.maxConnections = 1024;
  server.on('tlsClientError', (err) => log.debug('TLS handshake failed', { error: describeError(err) }));

  // A rotated Secret shows up as new files: pick the pair up without a restart.
  let lastMtime = (await stat(options.certFile)).mtimeMs;
  const reload = setInterval(() => {
    void (async () => {
      try {
        const m = (await stat(options.certFile)).mtimeMs;
        if (m === lastMtime) return;
        const next = await readPair(options.certFile, options.keyFile);
        server.setSecureContext({ cert: next.cert, key: next.key, minVersion: 'TLSv1.2' });
        lastMtime = m;
        log.info('serving certificate reloaded');
      } catch (err) {
        log.warn('serving certificate reload failed; keeping the current one', { error: describeError(err) });
      }
    })();
  }, options.reloadIntervalMs ?? 60_000);
  reload.unref();

  await new Promise<void>((ok, fail) => {
    server.once('error', (err) => fail(new SkiffError(ErrorCodes.LISTEN_FAILED, `cannot listen on ${options.listen.host}:${options.listen.port}: ${describeError(err)}`, { cause: err })));
    server.listen(options.listen.port, options.listen.host, ok);
  });
  const address = server.address() as AddressInfo;
  log.info('webhook listening', { listen: `${address.address}:${address.port}` });
  return {
    address,
    close: () =>
      new Promise<void>((ok) => {
        clearInterval(reload);
        server.close(() => ok());
        server.closeIdleConnections();
      }),
  };
}
