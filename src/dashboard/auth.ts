/**
 * The dashboard's one secret, the token, and the two ways to present it:
 * - `Authorization: Bearer TOKEN` (RFC 6750 §2.1): sidecars, scripts, the CLI views;
 * - the `skiff_session` cookie set by the login page: the web UI. The cookie holds an expiry
 *   and an HMAC of it keyed by the token, never the token itself, so a leaked cookie expires
 *   and changing the token signs everyone out.
 *
 * Comparisons are constant-time (both sides hashed to a fixed length first, so not even the
 * token's length leaks through timing).
 *
 * Token source: `SKIFF_TOKEN` (env only: a flag would show in `ps`), else `DATA/token`, else a
 * new random token is written there (mode 0600) and reported as `generated`.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SkiffError, ErrorCodes } from '../errors.ts';

export const TOKEN_FILE = 'token';
export const SESSION_COOKIE = 'skiff_session';
export const SESSION_TTL_MS = 7 * 24 * 3600 * 1000;

export interface TokenSource {
  token: string;
  /** Where it came from: the environment, the token file, or generated just now into it. */
  origin: 'env' | 'file' | 'generated';
  file: string;
}

/** Resolves the token (see the module comment). Creates `dataDir` (0700) when needed. */
export async function loadToken(dataDir: string, env: Readonly<Record<string, string | undefined>>): Promise<TokenSource> {
  const file = join(dataDir, TOKEN_FILE);
  const fromEnv = env.SKIFF_TOKEN?.trim();
  if (fromEnv) return { token: fromEnv, origin: 'env', file };
  try {
    const existing = (await readFile(file, 'utf8')).trim();
    if (existing) {
      // A token readable by others is a token shared with them: tighten it.
      if (((await stat(file)).mode & 0o077) !== 0) await chmod(file, 0o600);
      return { token: existing, origin: 'file', file };
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new SkiffError(ErrorCodes.FILE_READ, `cannot read the token file ${file}: ${(err as Error).message}`, { cause: err });
    }
  }
  const token = randomBytes(32).toString('base64url');
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    // `wx`: never overwrite a token another process wrote in the meantime.
    await writeFile(file, token + '\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadToken(dataDir, env);
    throw new SkiffError(ErrorCodes.STORE, `cannot write the token file ${file}: ${(err as Error).message}`, { cause: err });
  }
  return { token, origin: 'generated', file };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Constant-time equality of two strings of any length. */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

export class Auth {
  readonly #token: string;
  readonly #clock: () => number;

  constructor(token: string, clock: () => number = Date.now) {
    if (!token) throw new Error('the dashboard token must not be empty');
    this.#token = token;
    this.#clock = clock;
  }

  /** True when `candidate` is the token. */
  checkToken(candidate: string): boolean {
    return safeEqual(candidate, this.#token);
  }

  /** True for `Authorization: Bearer <token>` (scheme case-insensitive, RFC 9110 §11.1). */
  checkBearer(header: string | undefined): boolean {
    if (!header) return false;
    const m = /^bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    return m !== null && this.checkToken(m[1]!);
  }

  /** A new session cookie value: `expiry.hmac(expiry)`. */
  newSession(): string {
    const expires = this.#clock() + SESSION_TTL_MS;
    return `${expires}.${this.#sign(expires)}`;
  }

  /** True when the Cookie header holds a session this token signed and that has not expired. */
  checkCookie(header: string | undefined): boolean {
    const value = readCookie(header, SESSION_COOKIE);
    if (!value) return false;
    const m = /^(\d{1,16})\.([A-Za-z0-9_-]{43})$/.exec(value);
    if (!m) return false;
    const expires = Number(m[1]);
    if (expires <= this.#clock()) return false;
    return safeEqual(m[2]!, this.#sign(expires));
  }

  #sign(expires: number): string {
    return createHmac('sha256', this.#token).update(`skiff-session-v1:${expires}`).digest('base64url');
  }
}

/** The value of cookie `name` in a Cookie header (RFC 6265 §5.4), or undefined. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i !== -1 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

/** Set-Cookie for a session: HttpOnly (no script can read it), SameSite=Strict (no CSRF). */
export function sessionCookie(value: string, secure: boolean): string {
  return `${SESSION_COOKIE}=${value}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${SESSION_TTL_MS / 1000}${secure ? '; Secure' : ''}`;
}

export function clearedSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0${secure ? '; Secure' : ''}`;
}
