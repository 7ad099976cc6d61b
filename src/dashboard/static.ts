/**
 * Serves the web UI bundle (`npm run build:ui` → dist/web/): files by extension with their
 * content type, hashed assets cached for a year (`immutable`: their name changes when they do),
 * everything else revalidated, and index.html for client-side routes (`/services/default/web`).
 * Paths are confined to the bundle's directory.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BASE_HEADERS, htmlHeaders } from './http.ts';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

/** Vite names built assets `name-HASH.ext` with an 8+ character hash. */
const HASHED = /-[A-Za-z0-9_-]{8,}\.[a-z0-9]+$/;

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>skiff dashboard</title></head>
<body><h1>skiff dashboard</h1>
<p>The web UI is not built. Run <code>npm run build:ui</code> in the skiff checkout, then reload.</p>
<p>The API works without it: see docs/api.md.</p></body></html>
`;

async function fileSize(path: string): Promise<number | null> {
  try {
    const s = await stat(path);
    return s.isFile() ? s.size : null;
  } catch {
    return null;
  }
}

function send(req: IncomingMessage, res: ServerResponse, status: number, headers: Record<string, string | number>, body: string): void {
  res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** Answers a GET or HEAD for `pathname` (already authenticated) from the bundle in `root`. */
export async function serveStatic(req: IncomingMessage, res: ServerResponse, pathname: string, root: string): Promise<void> {
  const base = resolve(root);
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    send(req, res, 400, { ...BASE_HEADERS, 'content-type': 'text/plain; charset=utf-8' }, 'bad path\n');
    return;
  }
  const candidate = decoded.includes('\u0000') ? null : resolve(base, '.' + decoded);
  const inside = candidate !== null && (candidate === base || candidate.startsWith(base + sep));
  let file = inside ? candidate : join(base, 'index.html');
  let size = inside && candidate !== base ? await fileSize(candidate) : null;
  if (size === null) {
    // A missing file with an extension is a 404; anything else is a client route of the app.
    if (!inside || (extname(decoded) !== '' && extname(decoded) !== '.html')) {
      send(req, res, 404, { ...BASE_HEADERS, 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }, 'not found\n');
      return;
    }
    file = join(base, 'index.html');
    size = await fileSize(file);
    if (size === null) {
      send(req, res, 503, { ...htmlHeaders(), 'cache-control': 'no-store' }, NOT_BUILT);
      return;
    }
  }
  const ext = extname(file);
  const type = TYPES[ext] ?? 'application/octet-stream';
  const headers: Record<string, string | number> = {
    ...(ext === '.html' ? htmlHeaders() : BASE_HEADERS),
    'content-type': type,
    'content-length': size,
    'cache-control': HASHED.test(file) && ext !== '.html' ? 'private, max-age=31536000, immutable' : 'no-cache',
  };
  res.writeHead(200, headers);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const stream = createReadStream(file);
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}
