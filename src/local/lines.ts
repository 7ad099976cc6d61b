/**
 * Child output as prefixed lines: `reviews-2 │ listening on 3002`. Lines are split as they
 * arrive (a chunk may hold half a line or many) and a line longer than `maxLine` is cut, so one
 * child printing a megabyte without a newline cannot grow our memory.
 */
import type { Readable, Writable } from 'node:stream';

export const MAX_LINE_BYTES = 8192;

/** Calls `onLine` for every complete line of `stream` (without its `\n`), and for the tail at end. */
export function forEachLine(stream: Readable, onLine: (line: string) => void, maxLine = MAX_LINE_BYTES): void {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    let text = pending + chunk;
    let nl = text.indexOf('\n');
    while (nl !== -1) {
      onLine(text.slice(0, nl).replace(/\r$/, ''));
      text = text.slice(nl + 1);
      nl = text.indexOf('\n');
    }
    while (text.length > maxLine) {
      onLine(text.slice(0, maxLine) + ' …');
      text = text.slice(maxLine);
    }
    pending = text;
  });
  stream.on('end', () => {
    if (pending) onLine(pending);
    pending = '';
  });
}

// Colours that read on dark and light terminals; red is kept for errors.
const PALETTE = [36, 33, 35, 32, 34, 96, 93, 95, 92, 94] as const;

export interface Prefixer {
  /** Writes `line` to `out` prefixed with `label`, padded to the widest label seen so far. */
  write(out: Writable, label: string, line: string, opts?: { dim?: boolean }): void;
  /** The colour (an ANSI SGR number) for a label, stable for the session. */
  colourOf(label: string): number | undefined;
}

/**
 * Builds a prefixer. Labels of one service share a colour (`reviews-1`, `reviews-2`, and the
 * sidecars' `reviews-1 proxy`), so a glance tells services apart.
 */
export function createPrefixer(options: { colour: boolean; width?: number }): Prefixer {
  const colours = new Map<string, number>();
  let width = options.width ?? 0;
  const colourOf = (label: string): number | undefined => {
    if (!options.colour) return undefined;
    const service = label.replace(/-\d+( .*)?$/, '');
    let c = colours.get(service);
    if (c === undefined) {
      c = PALETTE[colours.size % PALETTE.length]!;
      if (colours.size < 1000) colours.set(service, c);
    }
    return c;
  };
  return {
    colourOf,
    write(out, label, line, opts) {
      width = Math.max(width, Math.min(label.length, 32));
      const padded = label.padEnd(width);
      const c = colourOf(label);
      if (c === undefined) {
        out.write(`${padded} │ ${line}\n`);
        return;
      }
      const body = opts?.dim ? `\x1b[2m${line}\x1b[0m` : line;
      out.write(`\x1b[${c}m${padded} │\x1b[0m ${body}\n`);
    },
  };
}

/** Whether to colour output on `stream`: FORCE_COLOR and NO_COLOR (no-color.org) win over TTY detection. */
export function wantsColour(stream: Writable, env: Readonly<Record<string, string | undefined>>, mode = 'auto'): boolean {
  if (mode === 'always') return true;
  if (mode === 'never') return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return (stream as Writable & { isTTY?: boolean }).isTTY === true && env.TERM !== 'dumb';
}
