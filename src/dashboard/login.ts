/**
 * The login page and its three doors:
 * - GET  /login                 the form (or straight on when the session is already valid);
 * - GET  /login?token=…&next=…  the URL `skiff dashboard` prints: sets the session, then
 *                               redirects, so the token leaves the address bar at once;
 * - POST /login                 the form's submit (application/x-www-form-urlencoded);
 * - POST /logout                clears the session.
 * Redirects are 303 See Other (RFC 9110 §15.4.4: the next request is a GET) and only ever to a
 * path on this server (`safeNext`), never to another origin.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Auth } from './auth.ts';
import { clearedSessionCookie, sessionCookie } from './auth.ts';
import { BodyTooLarge, htmlHeaders, mediaType, readBody, sendError } from './http.ts';

const STYLE = `body{font:16px/1.4 system-ui,sans-serif;background:#0f172a;color:#e2e8f0;display:grid;place-items:center;min-height:100vh;margin:0}
form{background:#1e293b;padding:2rem;border-radius:8px;width:min(22rem,90vw)}h1{font-size:1.25rem;margin:0 0 1rem}
label{display:block;margin-bottom:.5rem}input{width:100%;box-sizing:border-box;padding:.5rem;margin-bottom:1rem;border-radius:4px;border:1px solid #475569;background:#0f172a;color:inherit}
button{padding:.5rem 1rem;border:0;border-radius:4px;background:#38bdf8;color:#0f172a;font-weight:600;cursor:pointer}.error{color:#fca5a5}`;
const STYLE_HASH = `sha256-${createHash('sha256').update(STYLE).digest('base64')}`;

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

/** A redirect target on this server: a path, not `//host` or `/\host` (which browsers treat as another origin). */
export function safeNext(next: string | null | undefined): string {
  if (!next || next.length > 2048 || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
  if (/[\u0000-\u001f\u007f]/.test(next) || next.startsWith('/login')) return '/';
  return next;
}

export function loginPage(next: string, error?: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>skiff dashboard: log in</title><style>${STYLE}</style></head>
<body><form method="post" action="/login">
<h1>skiff dashboard</h1>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
<label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<input type="hidden" name="next" value="${escapeHtml(next)}">
<button type="submit">Log in</button>
<p><small>The token is in SKIFF_TOKEN, or in the file <code>token</code> of the dashboard's data directory.</small></p>
</form></body></html>
`;
}

function sendPage(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, { ...htmlHeaders(STYLE_HASH), 'cache-control': 'no-store', 'content-length': Buffer.byteLength(html) });
  res.end(html);
}

function isHttps(req: IncomingMessage): boolean {
  // Behind a TLS-terminating proxy the socket is plain; the proxy says so in X-Forwarded-Proto.
  return (req.socket as { encrypted?: boolean }).encrypted === true || req.headers['x-forwarded-proto'] === 'https';
}

function redirect(res: ServerResponse, location: string, cookie?: string): void {
  res.writeHead(303, { location, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer', ...(cookie ? { 'set-cookie': cookie } : {}) });
  res.end();
}

export function handleLoginGet(req: IncomingMessage, res: ServerResponse, url: URL, auth: Auth): void {
  const next = safeNext(url.searchParams.get('next'));
  const token = url.searchParams.get('token');
  if (token !== null) {
    if (auth.checkToken(token)) redirect(res, next, sessionCookie(auth.newSession(), isHttps(req)));
    else sendPage(res, 401, loginPage(next, 'That token is not right.'));
    return;
  }
  if (auth.checkCookie(req.headers.cookie)) {
    redirect(res, next);
    return;
  }
  sendPage(res, 200, loginPage(next));
}

export async function handleLoginPost(req: IncomingMessage, res: ServerResponse, auth: Auth): Promise<void> {
  if (mediaType(req) !== 'application/x-www-form-urlencoded') {
    sendError(res, 415, 'unsupported_media_type', 'log in with the form (application/x-www-form-urlencoded)');
    req.resume();
    return;
  }
  let body: Buffer;
  try {
    body = await readBody(req, 8192);
  } catch (err) {
    if (err instanceof BodyTooLarge) sendError(res, 413, 'too_large', 'the login form is larger than 8 KiB', { connection: 'close' });
    else sendError(res, 400, 'bad_request', 'could not read the form', { connection: 'close' });
    return;
  }
  const form = new URLSearchParams(body.toString('utf8'));
  const next = safeNext(form.get('next'));
  if (auth.checkToken(form.get('token') ?? '')) redirect(res, next, sessionCookie(auth.newSession(), isHttps(req)));
  else sendPage(res, 401, loginPage(next, 'That token is not right.'));
}

export function handleLogout(req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  redirect(res, '/login', clearedSessionCookie(isHttps(req)));
}
