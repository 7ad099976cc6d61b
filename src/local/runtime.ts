/**
 * How the local mesh starts skiff itself (sidecars, the dashboard): the same Node that skiff is
 * pinned to, running this checkout's `bin/skiff.ts`.
 *
 * Commands only get `io`, not `process.execPath`, so the Node binary is chosen explicitly:
 * `--node PATH` (or `SKIFF_NODE`), else the pinned `node_modules/.bin/node` of this skiff
 * install (package.json pins Node 24 as a dependency), else `node` on PATH.
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');

/** Absolute path of the `skiff` entry point (bin/skiff.ts) of this checkout. */
export const SKIFF_ENTRY = join(root, 'bin', 'skiff.ts');

/** The pinned Node of this install, when it has one. */
export const PINNED_NODE = join(root, 'node_modules', '.bin', 'node');

export interface Runtime {
  /** The Node binary that runs sidecars and the dashboard. */
  readonly node: string;
  /** Its directory, put first on apps' PATH so `node` in their commands is the same Node; undefined for a bare `node`. */
  readonly nodeDir: string | undefined;
  /** argv prefix that runs `skiff`: `[node, …/bin/skiff.ts]`. */
  readonly skiff: readonly string[];
}

export function resolveRuntime(explicit: string | undefined, cwd: string): Runtime {
  let node: string;
  if (explicit) node = isAbsolute(explicit) || explicit.includes('/') ? resolve(cwd, explicit) : explicit;
  else node = existsSync(PINNED_NODE) ? PINNED_NODE : 'node';
  return { node, nodeDir: node.includes('/') ? dirname(node) : undefined, skiff: [node, SKIFF_ENTRY] };
}
