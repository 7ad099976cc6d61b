/**
 * A small structured logger: one line per event on stderr (stdout is for data).
 * `2026-11-29T13:20:00.000Z info  proxy listening listen=0.0.0.0:15001`
 * Never log bodies, tokens or header values: callers pass only what is safe.
 */
import type { Writable } from 'node:stream';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
const rank: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  error(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
  child(component: string): Logger;
}

export function isLogLevel(v: string): v is LogLevel {
  return Object.hasOwn(rank, v);
}

function formatValue(v: string | number | boolean | null | undefined): string {
  const s = String(v);
  return /[\s"=]/.test(s) || s === '' ? JSON.stringify(s) : s;
}

export function createLogger(stream: Writable, level: LogLevel = 'info', component = 'skiff'): Logger {
  const max = rank[level];
  const write = (lvl: LogLevel, msg: string, fields?: LogFields): void => {
    if (rank[lvl] > max) return;
    let line = `${new Date().toISOString()} ${lvl.padEnd(5)} ${component} ${msg}`;
    if (fields) {
      for (const [k, v] of Object.entries(fields)) if (v !== undefined) line += ` ${k}=${formatValue(v)}`;
    }
    stream.write(line + '\n');
  };
  return {
    error: (m, f) => write('error', m, f),
    warn: (m, f) => write('warn', m, f),
    info: (m, f) => write('info', m, f),
    debug: (m, f) => write('debug', m, f),
    child: (c) => createLogger(stream, level, c),
  };
}

/** A logger that drops everything (tests). */
export const silentLogger: Logger = {
  error: () => undefined,
  warn: () => undefined,
  info: () => undefined,
  debug: () => undefined,
  child: () => silentLogger,
};
